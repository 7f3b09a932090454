import Datasets
import JSON

/// `catalog/get`: items by id.
public enum CatalogGet {
    public static let method = "catalog/get"

    public struct Params: Sendable {
        public var itemIds: [Int32]

        public init(_ params: JSONValue?) throws(InvalidParams) {
            itemIds = try ParamsReader(params).itemIds("itemIds", count: 1...1000)
        }
    }

    public static func result(_ items: [CatalogItem]) -> JSONValue {
        ["items": .array(items.map(\.wireJSON))]
    }
}
