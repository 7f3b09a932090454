import JSON
import JSONRPC

/// `catalog/search`: items by title text (by meaning when the daemon has an encoder).
public enum CatalogSearch {
    public struct Request: LLMRecRequest, Equatable {
        public static let method = "catalog/search"
        public typealias Response = CatalogSearch.Response

        public var query: String
        public var limit: Int

        public init(query: String, limit: Int = 10) {
            self.query = query
            self.limit = limit
        }

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            query = try reader.string("query")
            guard !query.isEmpty, query.utf8.count <= 1000 else {
                throw InvalidParams(field: "query", message: "query must be 1-1000 bytes")
            }
            limit = try reader.int("limit", default: 10, in: 1...100)
        }

        public var params: JSONValue? { ["query": .string(query), "limit": .integer(limit)] }
    }

    /// One item found, with its score (higher is closer).
    public struct Match: WireCodable, Equatable {
        public var item: CatalogEntry
        public var score: Double

        public init(item: CatalogEntry, score: Double) {
            self.item = item
            self.score = score
        }

        public var json: JSONValue { ["item": item.json, "score": .number(score)] }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            item = try reader.decode("item")
            score = try reader.double("score")
        }
    }

    public struct Response: WireCodable, Equatable {
        public var items: [Match]

        public init(items: [Match]) {
            self.items = items
        }

        public var json: JSONValue { ["items": .array(items.map(\.json))] }

        public init(json: JSONValue) throws(WireDecodingError) {
            items = try WireReader(json).array("items", of: Match.self)
        }
    }
}
