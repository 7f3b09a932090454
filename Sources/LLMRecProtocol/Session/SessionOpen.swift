import JSON

/// `session/open`: starts a session, optionally with a history and a client-chosen id.
public enum SessionOpen {
    public static let method = "session/open"

    public struct Params: Sendable {
        public var history: [Int32]
        public var sessionId: String?

        public init(_ params: JSONValue?, maxHistory: Int) throws(InvalidParams) {
            let reader = try ParamsReader(params)
            history = try reader.optionalItemIds("history", count: 0...maxHistory) ?? []
            sessionId = try reader.optionalString("sessionId")
            if let sessionId { try SessionIdentifier.validate(sessionId) }
        }
    }

    public static func result(sessionId: String, historyLength: Int) -> JSONValue {
        ["sessionId": .string(sessionId), "historyLength": .integer(historyLength)]
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
