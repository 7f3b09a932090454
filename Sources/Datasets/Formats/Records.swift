import JSON

/// The input formats `prepare` reads.
public enum DatasetFormat: String, CaseIterable, Sendable {
    /// Amazon Reviews 2023 (McAuley lab): reviews with `user_id`, `parent_asin`, `rating`,
    /// `timestamp` (ms); metadata with `parent_asin`, `title`, `description`, `features`, ...
    case amazon2023
    /// Amazon Review Data 2018: reviews with `reviewerID`, `asin`, `overall`, `unixReviewTime` (s);
    /// metadata with `asin`, `title`, `description`, `brand`, `price`, `category`.
    case amazon2018
    /// RecBole atomic files: a `.inter` file (`user_id`, `item_id`, `rating`, `timestamp` columns)
    /// and an optional `.item` file, tab-separated with a typed header (`name:token`).
    case recbole
}

/// One interaction as read from a reviews file, before any filtering or re-indexing.
public struct RawInteraction: Sendable, Equatable {
    public var userKey: String
    public var itemKey: String
    /// The rating, when the file has one (Amazon: 1-5 stars).
    public var rating: Float?
    /// Milliseconds since the Unix epoch, UTC.
    public var timestampMs: Int64
}

/// One item's metadata as read from a metadata file, before cleaning.
public struct RawItem: Sendable, Equatable {
    public var itemKey: String
    public var title: String?
    /// Description paragraphs, in file order; joined and cleaned later.
    public var descriptionParts: [String]
    /// Further fields kept in the catalog (brand, price, categories, ...), already cleaned of nulls.
    public var metadata: JSONObject
}

/// What one input line turned out to be.
public enum ParsedLine<Record> {
    case record(Record)
    /// Not data and not an error: blank lines, the typed header of a RecBole file.
    case ignored
    /// A line that cannot be used; `reason` says why (shown with its line number in stats.json).
    case malformed(reason: String)
}

/// Parses lines of a reviews (interactions) file. Stateful only for RecBole, whose first line
/// declares the columns; use one parser per file.
public struct InteractionParser {
    public let format: DatasetFormat
    private var header: AtomicHeader?

    public init(format: DatasetFormat) { self.format = format }

    public mutating func parse(_ line: UnsafeRawBufferPointer) -> ParsedLine<RawInteraction> {
        if isBlank(line) { return .ignored }
        switch format {
        case .amazon2023: return parseJSONLine(line, parseAmazon2023Review)
        case .amazon2018: return parseJSONLine(line, parseAmazon2018Review)
        case .recbole:
            guard let header else {
                switch AtomicHeader.parse(line) {
                case .success(let parsed):
                    header = parsed
                    return .ignored
                case .failure(let error): return .malformed(reason: error.reason)
                }
            }
            return header.interaction(line)
        }
    }
}

/// Parses lines of a metadata (items) file; one parser per file.
public struct ItemParser {
    public let format: DatasetFormat
    private var header: AtomicHeader?

    public init(format: DatasetFormat) { self.format = format }

    public mutating func parse(_ line: UnsafeRawBufferPointer) -> ParsedLine<RawItem> {
        if isBlank(line) { return .ignored }
        switch format {
        case .amazon2023: return parseJSONLine(line, parseAmazon2023Meta)
        case .amazon2018: return parseJSONLine(line, parseAmazon2018Meta)
        case .recbole:
            guard let header else {
                switch AtomicHeader.parse(line) {
                case .success(let parsed):
                    header = parsed
                    return .ignored
                case .failure(let error): return .malformed(reason: error.reason)
                }
            }
            return header.item(line)
        }
    }
}

private func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
    line.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
}

/// Parses `line` as one JSON object and hands its root to `extract`; a parse failure or a
/// non-object becomes `.malformed` with jansson's message.
func parseJSONLine<Record>(
    _ line: UnsafeRawBufferPointer, _ extract: (JSONNode) -> ParsedLine<Record>
) -> ParsedLine<Record> {
    do {
        let document = try JSONDocument(bytes: line)
        return document.withRoot { root in
            guard root.isObject else {
                return .malformed(reason: "not a JSON object")
            }
            return extract(root)
        }
    } catch {
        return .malformed(reason: "invalid JSON: \(error.message)")
    }
}

extension JSONNode {
    /// A string member, or a number member written as text (ids are sometimes numeric); nil otherwise.
    func key(_ name: String) -> String? {
        guard let member = self[name] else { return nil }
        if let text = member.string { return text.isEmpty ? nil : text }
        if let number = member.int { return String(number) }
        return nil
    }

    /// A list of strings from either a string member or an array of strings (other elements skipped).
    func strings(_ name: String) -> [String] {
        guard let member = self[name] else { return [] }
        if let text = member.string { return [text] }
        return member.elements?.compactMap(\.string) ?? []
    }
}
