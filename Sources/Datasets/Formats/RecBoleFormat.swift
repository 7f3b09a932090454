import Foundation
import JSON

/// The typed header of a RecBole atomic file (`user_id:token\titem_id:token\trating:float...`) and
/// the column lookups it allows. Columns are tab-separated; types are `token`, `token_seq`
/// (space-separated tokens), `float` and `float_seq`.
struct AtomicHeader {
    struct Column {
        var name: String
        var type: String
    }

    var columns: [Column]

    struct Malformed: Error {
        var reason: String
    }

    static func parse(_ line: UnsafeRawBufferPointer) -> Result<AtomicHeader, Malformed> {
        let fields = String(decoding: line, as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
        var columns: [Column] = []
        for field in fields {
            let parts = field.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { return .failure(Malformed(reason: "header field '\(field)' is not name:type")) }
            columns.append(Column(name: String(parts[0]), type: String(parts[1])))
        }
        return .success(AtomicHeader(columns: columns))
    }

    private func index(_ names: String...) -> Int? {
        columns.firstIndex { names.contains($0.name) }
    }

    func interaction(_ line: UnsafeRawBufferPointer) -> ParsedLine<RawInteraction> {
        let fields = String(decoding: line, as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
        guard fields.count == columns.count else {
            return .malformed(reason: "expected \(columns.count) tab-separated fields, got \(fields.count)")
        }
        guard let user = index("user_id"), let item = index("item_id") else {
            return .malformed(reason: "header has no user_id or item_id column")
        }
        guard !fields[user].isEmpty, !fields[item].isEmpty else { return .malformed(reason: "empty user_id or item_id") }
        var timestampMs: Int64 = 0
        if let column = index("timestamp") {
            guard let seconds = Double(fields[column]), seconds.isFinite else {
                return .malformed(reason: "timestamp '\(fields[column])' is not a number")
            }
            timestampMs = Int64((seconds * 1000).rounded())
        }
        var rating: Float?
        if let column = index("rating") {
            guard let value = Float(fields[column]) else { return .malformed(reason: "rating '\(fields[column])' is not a number") }
            rating = value
        }
        return .record(RawInteraction(
            userKey: String(fields[user]), itemKey: String(fields[item]), rating: rating, timestampMs: timestampMs))
    }

    /// An item row: the title comes from `title`, `movie_title` or `name`; a `description` column is
    /// the description when present; every other column goes to metadata (sequences as arrays), and
    /// when there is no description column the metadata is written out as one ("Year: 1995. Genres:
    /// Animation, Children's, Comedy.") so that catalog text carries it.
    func item(_ line: UnsafeRawBufferPointer) -> ParsedLine<RawItem> {
        let fields = String(decoding: line, as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
        guard fields.count == columns.count else {
            return .malformed(reason: "expected \(columns.count) tab-separated fields, got \(fields.count)")
        }
        guard let itemColumn = index("item_id") else { return .malformed(reason: "header has no item_id column") }
        guard !fields[itemColumn].isEmpty else { return .malformed(reason: "empty item_id") }
        let titleColumn = index("title", "movie_title", "name")
        let descriptionColumn = index("description")
        var metadata = JSONObject()
        var sentences: [String] = []
        for (position, column) in columns.enumerated()
        where position != itemColumn && position != titleColumn && position != descriptionColumn {
            let raw = String(fields[position])
            guard !raw.isEmpty else { continue }
            let label = Self.label(for: column.name)
            switch column.type {
            case "token_seq", "float_seq":
                let tokens = raw.split(separator: " ").map(String.init)
                metadata[column.name] = .array(tokens.map { .string($0) })
                sentences.append("\(label): \(tokens.joined(separator: ", ")).")
            case "float":
                metadata[column.name] = Double(raw).map { .double($0) } ?? .string(raw)
                sentences.append("\(label): \(raw).")
            default:
                metadata[column.name] = .string(raw)
                sentences.append("\(label): \(raw).")
            }
        }
        let description = descriptionColumn.map { [String(fields[$0])] } ?? [sentences.joined(separator: " ")]
        return .record(RawItem(
            itemKey: String(fields[itemColumn]), title: titleColumn.map { String(fields[$0]) },
            descriptionParts: description, metadata: metadata))
    }

    /// A readable label for a column name: known MovieLens names get their meaning, others are
    /// capitalised with spaces ("release_year" -> "Year", "class" -> "Genres", "brand_name" -> "Brand name").
    static func label(for column: String) -> String {
        switch column {
        case "release_year", "year": return "Year"
        case "class", "genre", "genres": return "Genres"
        default:
            let spaced = column.replacingOccurrences(of: "_", with: " ")
            return spaced.prefix(1).uppercased() + spaced.dropFirst()
        }
    }
}
