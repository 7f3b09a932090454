import JSON

/// `session/get`: a session's state.
public enum SessionGet {
    public static let method = "session/get"

    public struct Params: Sendable {
        public var sessionId: String

        public init(_ params: JSONValue?) throws(InvalidParams) {
            sessionId = try SessionIdentifier.read(try ParamsReader(params))
        }
    }

    public static func result(
        sessionId: String, history: [Int32], events: [(itemId: Int32, kind: String)], rejected: [Int32],
        createdAt: Double, updatedAt: Double
    ) -> JSONValue {
        [
            "sessionId": .string(sessionId),
            "history": .array(history.map { .integer($0) }),
            "events": .array(events.map { ["itemId": .integer($0.itemId), "kind": .string($0.kind)] }),
            "rejected": .array(rejected.map { .integer($0) }),
            "createdAt": .number(createdAt), "updatedAt": .number(updatedAt),
        ]
    }
}

/// `session/close`: ends a session.
public enum SessionClose {
    public static let method = "session/close"

    public static func result(sessionId: String) -> JSONValue {
        ["sessionId": .string(sessionId), "closed": true]
    }
}
