import JSON

/// `session/observe`: appends events (viewed, bought, rejected) to a session.
public enum SessionObserve {
    public static let method = "session/observe"
    public static let kinds = ["viewed", "bought", "rejected"]

    public struct Event: Sendable, Equatable {
        public var itemId: Int32
        public var kind: String

        public init(itemId: Int32, kind: String) {
            self.itemId = itemId
            self.kind = kind
        }
    }

    public struct Params: Sendable {
        public var sessionId: String
        public var events: [Event]

        public init(_ params: JSONValue?, maxEvents: Int) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            sessionId = try SessionIdentifier.read(reader)
            events = []
            for (index, object) in try reader.objects("events", count: 1...maxEvents).enumerated() {
                let field = "events[\(index)]"
                let id = try InvalidParams.itemId(object["itemId"], field: "\(field).itemId")
                guard let kind = object["kind"]?.stringValue, SessionObserve.kinds.contains(kind) else {
                    throw InvalidParams(field: "\(field).kind", message: "\(field).kind must be one of viewed, bought, rejected")
                }
                events.append(Event(itemId: id, kind: kind))
            }
        }
    }

    public static func result(sessionId: String, historyLength: Int, rejectedCount: Int) -> JSONValue {
        ["sessionId": .string(sessionId), "historyLength": .integer(historyLength), "rejectedCount": .integer(rejectedCount)]
    }
}
