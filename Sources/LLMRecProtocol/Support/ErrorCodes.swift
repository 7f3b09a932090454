import JSON
import JSONRPC

/// LLMRec's application error codes (Protocol/spec.md, "Errors").
public enum LLMRecError {
    public static let overloadedCode = -32003
    public static let sessionNotFoundCode = -32010
    public static let itemNotFoundCode = -32011
    public static let modelNotLoadedCode = -32012
    public static let loadFailedCode = -32013
    public static let storeUnavailableCode = -32014

    public static func overloaded(lane: String, capacity: Int) -> ResponseError {
        ResponseError(
            code: overloadedCode, message: "overloaded: the \(lane) lane's queue is full (\(capacity)); retry later",
            data: ["lane": .string(lane), "capacity": .integer(capacity)])
    }

    public static func sessionNotFound(_ id: String) -> ResponseError {
        ResponseError(
            code: sessionNotFoundCode, message: "session '\(id)' not found (closed, expired, evicted or never opened)",
            data: ["sessionId": .string(id)])
    }

    public static func itemNotFound(_ ids: [Int32]) -> ResponseError { itemNotFound(ids.map(Int64.init)) }

    public static func itemNotFound(_ ids: [Int64]) -> ResponseError {
        ResponseError(
            code: itemNotFoundCode,
            message: "unknown item id\(ids.count == 1 ? "" : "s"): \(ids.prefix(10).map(String.init).joined(separator: ", "))",
            data: ["itemIds": .array(ids.map { .int($0) })])
    }

    public static func modelNotLoaded(_ what: String) -> ResponseError {
        ResponseError(code: modelNotLoadedCode, message: "model not loaded: \(what)")
    }

    /// `model/load` could not load what it was asked to (the models in use stay).
    public static func loadFailed(_ reason: String) -> ResponseError {
        ResponseError(code: loadFailedCode, message: reason)
    }

    /// The shared session store (Redis) could not take or give the session or item: nothing of the
    /// change is kept by this daemon; retry once the store is back.
    public static func storeUnavailable(store: String, reason: String) -> ResponseError {
        ResponseError(
            code: storeUnavailableCode, message: "the session store \(store) is unavailable: \(reason); retry later",
            data: ["store": .string(store)])
    }

    public static let shuttingDown = ResponseError.invalidRequest("server is shutting down")
}
