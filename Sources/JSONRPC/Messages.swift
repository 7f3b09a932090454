import JSON

/// A JSON-RPC request id: an integer or a string (the spec also allows null, which only appears in
/// error responses to requests whose id could not be read).
public enum RequestID: Hashable, Sendable, CustomStringConvertible {
    case int(Int64)
    case string(String)

    public init?(json: JSONValue) {
        switch json {
        case .int(let value): self = .int(value)
        case .string(let value): self = .string(value)
        case .double(let value) where value.rounded() == value && abs(value) < 9e15: self = .int(Int64(value))
        default: return nil
        }
    }

    public var json: JSONValue {
        switch self {
        case .int(let value): return .int(value)
        case .string(let value): return .string(value)
        }
    }

    public var description: String {
        switch self {
        case .int(let value): return String(value)
        case .string(let value): return "\"\(value)\""
        }
    }
}

/// A JSON-RPC error object.
public struct ResponseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var json: JSONValue {
        var object: JSONObject = ["code": .integer(code), "message": .string(message)]
        if let data { object["data"] = data }
        return .object(object)
    }

    public var description: String { "\(code): \(message)" }

    // JSON-RPC 2.0
    public static let parseErrorCode = -32700
    public static let invalidRequestCode = -32600
    public static let methodNotFoundCode = -32601
    public static let invalidParamsCode = -32602
    public static let internalErrorCode = -32603
    // LSP
    public static let serverNotInitializedCode = -32002
    public static let requestCancelledCode = -32800

    public static func parseError(_ message: String) -> ResponseError { .init(code: parseErrorCode, message: message) }
    public static func invalidRequest(_ message: String) -> ResponseError { .init(code: invalidRequestCode, message: message) }
    public static func methodNotFound(_ method: String) -> ResponseError {
        .init(code: methodNotFoundCode, message: "unknown method '\(method)'", data: ["method": .string(method)])
    }
    public static func internalError(_ message: String) -> ResponseError { .init(code: internalErrorCode, message: message) }
    public static let serverNotInitialized = ResponseError(
        code: serverNotInitializedCode, message: "server not initialized: send 'initialize' first")
    public static let requestCancelled = ResponseError(code: requestCancelledCode, message: "request cancelled")
}

/// One message read from a client, classified.
public enum IncomingMessage: Sendable {
    case request(id: RequestID, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    /// A response to something the server sent (the server sends no requests today; ignored).
    case response(id: RequestID?)
    /// Not a valid JSON-RPC 2.0 message; `id` is set when it could be read, so the error can name it.
    case invalid(id: RequestID?, error: ResponseError)

    /// Classifies one element of a message (a batch's elements are classified one by one).
    public init(json: JSONValue) {
        guard let object = json.objectValue else {
            self = .invalid(id: nil, error: .invalidRequest("a request must be a JSON object, got \(json.kindName)"))
            return
        }
        let rawID = object["id"]
        let id = rawID.flatMap(RequestID.init(json:))
        guard object["jsonrpc"] == .string("2.0") else {
            self = .invalid(id: id, error: .invalidRequest("\"jsonrpc\" must be \"2.0\""))
            return
        }
        if let rawID, rawID != .null, id == nil {
            self = .invalid(id: nil, error: .invalidRequest("\"id\" must be an integer or a string"))
            return
        }
        guard let methodValue = object["method"] else {
            if object["result"] != nil || object["error"] != nil {
                self = .response(id: id)
            } else {
                self = .invalid(id: id, error: .invalidRequest("missing \"method\""))
            }
            return
        }
        guard let method = methodValue.stringValue else {
            self = .invalid(id: id, error: .invalidRequest("\"method\" must be a string"))
            return
        }
        let params = object["params"]
        if let params, params.objectValue == nil, params.arrayValue == nil {
            self = .invalid(id: id, error: .invalidRequest("\"params\" must be an object or an array"))
            return
        }
        if let id {
            self = .request(id: id, method: method, params: params)
        } else if rawID == .null {
            self = .invalid(id: nil, error: .invalidRequest("\"id\" must not be null"))
        } else {
            self = .notification(method: method, params: params)
        }
    }
}

/// Builders for what the server writes.
public enum OutgoingMessage {
    public static func response(id: RequestID?, result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id?.json ?? .null, "result": result]
    }

    public static func error(id: RequestID?, _ error: ResponseError) -> JSONValue {
        ["jsonrpc": "2.0", "id": id?.json ?? .null, "error": error.json]
    }

    public static func notification(method: String, params: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "method": .string(method), "params": params]
    }
}
