import Foundation
import JSON

/// One item of a prepared dataset's catalog (a line of `catalog.jsonl`).
public struct CatalogItem: Sendable, Equatable {
    /// Dense 1-based item id (0 is padding everywhere in the project).
    public var id: Int32
    /// The id in the source data (ASIN, MovieLens id, ...).
    public var originalId: String
    public var title: String
    public var description: String
    /// Source-specific fields (brand, price, categories, year, genres, ...).
    public var metadata: JSONObject

    public init(id: Int32, originalId: String, title: String, description: String, metadata: JSONObject) {
        self.id = id
        self.originalId = originalId
        self.title = title
        self.description = description
        self.metadata = metadata
    }

    /// The values of its string-array metadata fields (ML-100K's genres, Amazon's categories), by
    /// field name, without repeats, empty strings or "unknown".
    public var facets: [String] {
        var unique: [String] = []
        for key in metadata.keys.sorted() {
            for value in metadata[key]?.arrayValue?.compactMap(\.stringValue) ?? []
            where !value.isEmpty && value.lowercased() != "unknown" && !unique.contains(value) {
                unique.append(value)
            }
        }
        return unique
    }

    /// The item's year: a `release_year` or `year` metadata field, else "Year: NNNN" in its
    /// description; nil when none is between 1800 and 2100.
    public var year: Int? {
        for key in ["release_year", "year"] {
            if let value = metadata[key] {
                if let number = value.intValue, (1800...2100).contains(number) { return Int(number) }
                if let text = value.stringValue, let number = Int(text.prefix(4)), (1800...2100).contains(number) { return number }
            }
        }
        guard let range = description.range(of: "Year: ") else { return nil }
        let digits = description[range.upperBound...].prefix(4)
        guard digits.count == 4, let number = Int(digits), (1800...2100).contains(number) else { return nil }
        return number
    }

    /// The decade of its year ("1970s"), nil without a year.
    public var decade: String? { year.map { "\($0 / 10 * 10)s" } }

    /// The item as a line of `catalog.jsonl` (`{"id", "originalId", "title", "description", "metadata"}`).
    public var json: JSONValue {
        [
            "id": .integer(id), "originalId": .string(originalId), "title": .string(title),
            "description": .string(description), "metadata": .object(metadata),
        ]
    }

    /// Reads a line of `catalog.jsonl`; nil when a required field is missing or the id is not positive.
    public init?(json: JSONValue) {
        guard let id = json["id"]?.intValue, id > 0, id <= Int64(Int32.max),
            let originalId = json["originalId"]?.stringValue, let title = json["title"]?.stringValue,
            let description = json["description"]?.stringValue
        else { return nil }
        self.init(
            id: Int32(id), originalId: originalId, title: title, description: description,
            metadata: json["metadata"]?.objectValue ?? JSONObject())
    }
}

/// The items of a prepared dataset, indexed by dense id.
public struct Catalog: Sendable {
    /// `items[id - 1]` is the item with dense id `id`.
    public let items: [CatalogItem]
    private let byOriginalId: [String: Int32]

    public init(items: [CatalogItem]) {
        self.items = items
        var map: [String: Int32] = [:]
        for item in items { map[item.originalId] = item.id }
        byOriginalId = map
    }

    public var count: Int { items.count }

    /// The item with dense id `id`, or nil when out of range.
    public subscript(id: Int32) -> CatalogItem? {
        id >= 1 && Int(id) <= items.count ? items[Int(id) - 1] : nil
    }

    /// The dense id of an item known by its source id.
    public func id(forOriginalId originalId: String) -> Int32? { byOriginalId[originalId] }
}
