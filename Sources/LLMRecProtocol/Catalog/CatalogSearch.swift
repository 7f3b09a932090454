import Datasets
import JSON

/// `catalog/search`: items by title text.
public enum CatalogSearchMethod {
    public static let method = "catalog/search"

    public struct Params: Sendable {
        public var query: String
        public var limit: Int

        public init(_ params: JSONValue?) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            query = try reader.string("query")
            guard !query.isEmpty, query.utf8.count <= 1000 else {
                throw InvalidParams(field: "query", message: "query must be 1-1000 bytes")
            }
            limit = try reader.int("limit", default: 10, in: 1...100)
        }
    }

    public static func result(_ matches: [(item: CatalogItem, score: Double)]) -> JSONValue {
        ["items": .array(matches.map { ["item": $0.item.wireJSON, "score": .number($0.score)] })]
    }
}
