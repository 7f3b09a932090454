import Datasets
import JSON

extension CatalogItem {
    /// The wire form of an item: `{itemId, originalId, title, description, metadata}`.
    public var wireJSON: JSONValue {
        [
            "itemId": .integer(id), "originalId": .string(originalId), "title": .string(title),
            "description": .string(description), "metadata": .object(metadata),
        ]
    }
}
