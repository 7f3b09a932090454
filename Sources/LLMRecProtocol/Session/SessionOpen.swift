import JSON
import JSONRPC

/// `session/open`: starts a session, optionally with a history and a client-chosen id.
public enum SessionOpen {
    public struct Request: LLMRecRequest, Equatable {
        public static let method = "session/open"
        public typealias Response = SessionOpen.Response

        public var history: [Int32]
        /// The id to give the session; nil lets the daemon choose one.
        public var sessionId: String?

        public init(history: [Int32] = [], sessionId: String? = nil) {
            self.history = history
            self.sessionId = sessionId
        }

        public init(params: JSONValue?, limits: ProtocolLimits) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            history = try reader.optionalItemIds("history", count: 0...limits.maxHistory) ?? []
            sessionId = try reader.optionalString("sessionId")
            if let sessionId { try SessionIdentifier.validate(sessionId) }
        }

        public var params: JSONValue? {
            var writer = ParamsWriter()
            writer.set("history", itemIds: history)
            writer.set("sessionId", sessionId)
            return writer.params
        }
    }

    public struct Response: WireCodable, Equatable {
        public var sessionId: String
        public var historyLength: Int

        public init(sessionId: String, historyLength: Int) {
            self.sessionId = sessionId
            self.historyLength = historyLength
        }

        public var json: JSONValue { ["sessionId": .string(sessionId), "historyLength": .integer(historyLength)] }

        public init(json: JSONValue) throws(WireDecodingError) {
            let reader = try WireReader(json)
            sessionId = try reader.string("sessionId")
            historyLength = try reader.int("historyLength")
        }
    }
}

/// Session ids: 1-128 characters of `A-Za-z0-9._:-`.
public enum SessionIdentifier {
    public static func validate(_ id: String, field: String = "sessionId") throws(InvalidParams) {
        let allowed = id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x3A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
        guard (1...128).contains(id.utf8.count), allowed else {
            let shown = id.count > 40 ? String(id.prefix(40)) + "…" : id
            throw InvalidParams(
                field: field, message: "\(field) must be 1-128 characters of A-Z a-z 0-9 . _ : -, got \"\(shown)\"")
        }
    }

    /// Reads and validates the `sessionId` field.
    public static func read(_ reader: ParamsReader) throws(InvalidParams) -> String {
        let id = try reader.string("sessionId")
        try validate(id)
        return id
    }
}
