import JSON
import JSONRPC

/// An item as the protocol carries it: `{itemId, originalId, title, description, metadata}`.
public struct CatalogEntry: WireCodable, Equatable {
    public var itemId: Int32
    public var originalId: String
    public var title: String
    public var description: String
    public var metadata: JSONObject

    public init(itemId: Int32, originalId: String, title: String, description: String, metadata: JSONObject) {
        self.itemId = itemId
        self.originalId = originalId
        self.title = title
        self.description = description
        self.metadata = metadata
    }

    public var json: JSONValue {
        [
            "itemId": .integer(itemId), "originalId": .string(originalId), "title": .string(title),
            "description": .string(description), "metadata": .object(metadata),
        ]
    }

    public init(json: JSONValue) throws(WireDecodingError) {
        let reader = try WireReader(json)
        itemId = try reader.int32("itemId")
        originalId = try reader.string("originalId")
        title = try reader.string("title")
        description = try reader.string("description")
        metadata = try reader.object("metadata")
    }
}
