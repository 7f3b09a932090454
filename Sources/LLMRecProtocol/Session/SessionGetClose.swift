import JSON
import JSONRPC

/// A request whose only parameter is the session it is about.
public protocol SessionRequest: LLMRecRequest {
    var sessionId: String { get }
    init(sessionId: String)
}

extension SessionRequest {
    public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
        self.init(sessionId: try SessionIdentifier.read(try ParamsReader(params)))
    }

    public var params: JSONValue? { ["sessionId": .string(sessionId)] }
}

/// `session/get`: a session's state.
public enum SessionGet {
    public struct Request: SessionRequest, Equatable {
        public static let method = "session/get"
        public typealias Response = SessionGet.Response

        public var sessionId: String

        public init(sessionId: String) {
            self.sessionId = sessionId
        }
    }

    public struct Response: WireCodable, Equatable {
        public var sessionId: String
        /// Items in the order they entered the history.
        public var history: [Int32]
        public var events: [SessionObserve.Event]
        public var rejected: [Int32]
        /// Seconds since 1970.
        public var createdAt: Double
        public var updatedAt: Double

        public init(
            sessionId: String, history: [Int32], events: [SessionObserve.Event], rejected: [Int32], createdAt: Double,
            updatedAt: Double
        ) {
            self.sessionId = sessionId
            self.history = history
            self.events = events
            self.rejected = rejected
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }

        public var json: JSONValue {
            [
                "sessionId": .string(sessionId), "history": history.json, "events": .array(events.map(\.json)),
                "rejected": rejected.json, "createdAt": .number(createdAt), "updatedAt": .number(updatedAt),
            ]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            sessionId = try reader.string("sessionId")
            history = try reader.itemIds("history")
            events = try reader.array("events", of: SessionObserve.Event.self)
            rejected = try reader.itemIds("rejected")
            createdAt = try reader.double("createdAt")
            updatedAt = try reader.double("updatedAt")
        }
    }
}

/// `session/close`: ends a session.
public enum SessionClose {
    public struct Request: SessionRequest, Equatable {
        public static let method = "session/close"
        public typealias Response = SessionClose.Response

        public var sessionId: String

        public init(sessionId: String) {
            self.sessionId = sessionId
        }
    }

    public struct Response: WireCodable, Equatable {
        public var sessionId: String

        public init(sessionId: String) {
            self.sessionId = sessionId
        }

        public var json: JSONValue { ["sessionId": .string(sessionId), "closed": true] }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            sessionId = try reader.string("sessionId")
            guard try reader.bool("closed") else { throw WireDecodingError(path: "closed", message: "expected true") }
        }
    }
}
