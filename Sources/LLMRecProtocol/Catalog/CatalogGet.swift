import JSON
import JSONRPC

/// `catalog/get`: items by id.
public enum CatalogGet {
    public struct Request: LLMRecRequest, Equatable {
        public static let method = "catalog/get"
        public typealias Response = CatalogGet.Response

        public var itemIds: [Int32]

        public init(itemIds: [Int32]) {
            self.itemIds = itemIds
        }

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
            itemIds = try ParamsReader(params).itemIds("itemIds", count: 1...1000)
        }

        public var params: JSONValue? { ["itemIds": itemIds.json] }
    }

    public struct Response: WireCodable, Equatable {
        public var items: [CatalogEntry]

        public init(items: [CatalogEntry]) {
            self.items = items
        }

        public var json: JSONValue { ["items": .array(items.map(\.json))] }

        public init(json: JSONValue) throws(WireDecodingError) {
            items = try WireReader(json).array("items", of: CatalogEntry.self)
        }
    }
}
