import Datasets
import JSON

/// `catalog/add`: items known by their text only (cold items), recommendable at once through the
/// text path.
public enum CatalogAdd {
    public static let method = "catalog/add"

    /// One item to add, as sent.
    public struct NewItem: Sendable, Equatable {
        public var title: String
        public var description: String
        public var metadata: JSONObject
        public var originalId: String?
    }

    public struct Params: Sendable {
        public var items: [NewItem]

        public init(_ params: JSONValue?) throws(InvalidParams) {
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
    }

    public static func result(items: [CatalogItem], catalogSize: Int) -> JSONValue {
        ["items": .array(items.map(\.wireJSON)), "catalogSize": .integer(catalogSize)]
    }
}
