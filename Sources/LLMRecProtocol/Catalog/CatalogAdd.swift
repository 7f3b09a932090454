import JSON
import JSONRPC

/// `catalog/add`: items known by their text only (cold items), recommendable at once through the
/// text path.
public enum CatalogAdd {
    /// One item to add, as sent.
    public struct NewItem: Sendable, Equatable {
        public var title: String
        public var description: String
        public var metadata: JSONObject
        public var originalId: String?

        public init(title: String, description: String = "", metadata: JSONObject = [:], originalId: String? = nil) {
            self.title = title
            self.description = description
            self.metadata = metadata
            self.originalId = originalId
        }

        var json: JSONValue {
            var writer = ParamsWriter()
            writer.set("title", title)
            writer.set("description", description)
            if !metadata.isEmpty { writer.set("metadata", .object(metadata)) }
            writer.set("originalId", originalId)
            return .object(writer.object)
        }
    }

    public struct Request: LLMRecRequest, Equatable {
        public static let method = "catalog/add"
        public typealias Response = CatalogAdd.Response

        public var items: [NewItem]

        public init(items: [NewItem]) {
            self.items = items
        }

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            let objects = try reader.objects("items", count: 1...100)
            items = []
            for (index, object) in objects.enumerated() {
                let field = "items[\(index)]"
                let inner = try ParamsReader(.object(object))
                if let unknown = inner.unknownFields(["title", "description", "metadata", "originalId"]).first {
                    throw InvalidParams(field: "\(field).\(unknown)", message: "\(field) has an unknown field '\(unknown)'")
                }
                do throws(InvalidParams) {
                    let title = try inner.string("title", length: 1...500)
                    guard title.contains(where: { !$0.isWhitespace }) else {
                        throw InvalidParams(field: "title", message: "title must hold more than white space")
                    }
                    let originalId = try inner.has("originalId") ? inner.string("originalId", length: 1...200) : nil
                    items.append(NewItem(
                        title: title, description: try inner.has("description") ? inner.string("description", length: 0...20_000) : "",
                        metadata: try inner.optionalObject("metadata") ?? [:], originalId: originalId))
                } catch {
                    throw InvalidParams(field: "\(field).\(error.field)", message: "\(field).\(error.message)")
                }
            }
        }

        public var params: JSONValue? { ["items": .array(items.map(\.json))] }
    }

    public struct Response: WireCodable, Equatable {
        /// The items as stored, with the ids they were given.
        public var items: [CatalogEntry]
        public var catalogSize: Int

        public init(items: [CatalogEntry], catalogSize: Int) {
            self.items = items
            self.catalogSize = catalogSize
        }

        public var json: JSONValue { ["items": .array(items.map(\.json)), "catalogSize": .integer(catalogSize)] }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            items = try reader.array("items", of: CatalogEntry.self)
            catalogSize = try reader.int("catalogSize")
        }
    }
}
