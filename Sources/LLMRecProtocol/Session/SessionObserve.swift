import JSON
import JSONRPC

/// `session/observe`: appends events (viewed, bought, rejected) to a session.
public enum SessionObserve {
    /// What the user did with an item.
    public enum Kind: String, Sendable, CaseIterable {
        case viewed, bought, rejected
    }

    /// One event: an item and what the user did with it.
    public struct Event: WireCodable, Equatable {
        public var itemId: Int32
        public var kind: Kind

        public init(itemId: Int32, kind: Kind) {
            self.itemId = itemId
            self.kind = kind
        }

        public var json: JSONValue { ["itemId": .integer(itemId), "kind": .string(kind.rawValue)] }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            itemId = try reader.int32("itemId")
            guard let kind = Kind(rawValue: try reader.string("kind")) else {
                throw WireDecodingError(path: "kind", message: "expected one of viewed, bought, rejected")
            }
            self.kind = kind
        }
    }

    public struct Request: LLMRecRequest, Equatable {
        public static let method = "session/observe"
        public typealias Response = SessionObserve.Response

        public var sessionId: String
        public var events: [Event]

        public init(sessionId: String, events: [Event]) {
            self.sessionId = sessionId
            self.events = events
        }

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            sessionId = try SessionIdentifier.read(reader)
            events = []
            for (index, object) in try reader.objects("events", count: 1...limits.maxEventsPerObserve).enumerated() {
                let field = "events[\(index)]"
                let id = try InvalidParams.itemId(object["itemId"], field: "\(field).itemId")
                guard let kind = object["kind"]?.stringValue.flatMap(Kind.init(rawValue:)) else {
                    throw InvalidParams(field: "\(field).kind", message: "\(field).kind must be one of viewed, bought, rejected")
                }
                events.append(Event(itemId: id, kind: kind))
            }
        }

        public var params: JSONValue? { ["sessionId": .string(sessionId), "events": .array(events.map(\.json))] }
    }

    public struct Response: WireCodable, Equatable {
        public var sessionId: String
        public var historyLength: Int
        public var rejectedCount: Int

        public init(sessionId: String, historyLength: Int, rejectedCount: Int) {
            self.sessionId = sessionId
            self.historyLength = historyLength
            self.rejectedCount = rejectedCount
        }

        public var json: JSONValue {
            ["sessionId": .string(sessionId), "historyLength": .integer(historyLength), "rejectedCount": .integer(rejectedCount)]
        }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            sessionId = try reader.string("sessionId")
            historyLength = try reader.int("historyLength")
            rejectedCount = try reader.int("rejectedCount")
        }
    }
}
