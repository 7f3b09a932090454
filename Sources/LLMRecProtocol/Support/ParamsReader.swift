import JSON
import JSONRPC

/// A parameter that is missing, of the wrong type or out of range: `-32602` with
/// `data: {"field": ...}`. An item id that is a well-formed positive integer beyond any id the
/// catalog can hold (above Int32.max) is not malformed but unknown: `-32011` with `data: {"itemIds"}`.
public struct InvalidParams: Error, Sendable, Equatable {
    public var field: String
    public var message: String
    /// Set for well-formed item ids that no catalog can hold.
    public var unknownItemIds: [Int64]?

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    /// Item ids in `field` beyond the range of catalog ids.
    public static func unknownItems(field: String, ids: [Int64]) -> InvalidParams {
        var error = InvalidParams(field: field, message: "unknown item ids")
        error.unknownItemIds = ids
        return error
    }

    public var responseError: ResponseError {
        if let ids = unknownItemIds { return LLMRecError.itemNotFound(ids) }
        return ResponseError(
            code: ResponseError.invalidParamsCode, message: "invalid params: \(message)", data: ["field": .string(field)])
    }

    /// Reads one item id: a JSON integer (not `1.0`, not `1e2`) of at least 1. Ids above Int32.max
    /// are `unknownItems`.
    static func itemId(_ value: JSONValue?, field: String) throws(InvalidParams) -> Int32 {
        guard case .int(let number)? = value, number >= 1 else {
            let shown = value.map(JSONWriter.compact) ?? "nothing"
            throw InvalidParams(field: field, message: "\(field) must be a positive integer item id, got \(shown)")
        }
        guard let id = Int32(exactly: number) else { throw unknownItems(field: field, ids: [number]) }
        return id
    }
}

/// Reads typed fields out of a request's `params` object, with errors that name the field.
public struct ParamsReader {
    private let object: JSONObject

    /// `params` must be an object or absent (absent reads as `{}`).
    public init(_ params: JSONValue?) throws(InvalidParams) {
        switch params {
        case nil, .null?: object = JSONObject()
        case .object(let object)?: self.object = object
        case let other?: throw InvalidParams(field: "params", message: "params must be an object, got \(other.kindName)")
        }
    }

    public func has(_ field: String) -> Bool { object[field] != nil && object[field] != .null }

    public func string(_ field: String) throws(InvalidParams) -> String {
        guard let value = object[field], value != .null else { throw missing(field) }
        guard let text = value.stringValue else { throw wrongType(field, "a string", value) }
        return text
    }

    public func optionalString(_ field: String) throws(InvalidParams) -> String? {
        has(field) ? try string(field) : nil
    }

    public func int(_ field: String, in range: ClosedRange<Int>) throws(InvalidParams) -> Int {
        guard let value = object[field], value != .null else { throw missing(field) }
        guard case .int(let number) = value, let int = Int(exactly: number) else { throw wrongType(field, "an integer", value) }
        guard range.contains(int) else {
            throw InvalidParams(field: field, message: "\(field) must be in \(range.lowerBound)...\(range.upperBound), got \(int)")
        }
        return int
    }

    public func int(_ field: String, default fallback: Int, in range: ClosedRange<Int>) throws(InvalidParams) -> Int {
        has(field) ? try int(field, in: range) : fallback
    }

    public func bool(_ field: String, default fallback: Bool) throws(InvalidParams) -> Bool {
        guard has(field), let value = object[field] else { return fallback }
        guard let flag = value.boolValue else { throw wrongType(field, "a boolean", value) }
        return flag
    }

    /// A number (integer or not) in a range, or `fallback` when absent.
    public func number(_ field: String, default fallback: Double, in range: ClosedRange<Double>) throws(InvalidParams) -> Double {
        guard has(field), let value = object[field] else { return fallback }
        guard let number = value.doubleValue, number.isFinite else { throw wrongType(field, "a number", value) }
        guard range.contains(number) else {
            throw InvalidParams(field: field, message: "\(field) must be in \(range.lowerBound)...\(range.upperBound), got \(number)")
        }
        return number
    }

    /// A string whose length (in characters) is in `range`.
    public func string(_ field: String, length range: ClosedRange<Int>) throws(InvalidParams) -> String {
        let text = try string(field)
        guard range.contains(text.count) else {
            throw InvalidParams(field: field, message: "\(field) must be \(range.lowerBound)...\(range.upperBound) characters long, got \(text.count)")
        }
        return text
    }

    /// An object field, or nil when absent.
    public func optionalObject(_ field: String) throws(InvalidParams) -> JSONObject? {
        guard has(field), let value = object[field] else { return nil }
        guard let object = value.objectValue else { throw wrongType(field, "an object", value) }
        return object
    }

    /// Fields of the params that are not in `known` (for methods that refuse unknown fields).
    public func unknownFields(_ known: Set<String>) -> [String] { object.keys.filter { !known.contains($0) }.sorted() }

    /// An array of item ids (positive integers), with a bound on its length.
    public func itemIds(_ field: String, count range: ClosedRange<Int>) throws(InvalidParams) -> [Int32] {
        guard let value = object[field], value != .null else { throw missing(field) }
        guard let elements = value.arrayValue else { throw wrongType(field, "an array of item ids", value) }
        guard range.contains(elements.count) else {
            throw InvalidParams(
                field: field, message: "\(field) must hold \(range.lowerBound)...\(range.upperBound) ids, got \(elements.count)")
        }
        var ids: [Int32] = []
        ids.reserveCapacity(elements.count)
        var outOfRange: [Int64] = []
        for (index, element) in elements.enumerated() {
            do {
                ids.append(try InvalidParams.itemId(element, field: "\(field)[\(index)]"))
            } catch let error where error.unknownItemIds != nil {
                outOfRange += error.unknownItemIds ?? []
            }
        }
        guard outOfRange.isEmpty else { throw InvalidParams.unknownItems(field: field, ids: outOfRange) }
        return ids
    }

    public func optionalItemIds(_ field: String, count range: ClosedRange<Int>) throws(InvalidParams) -> [Int32]? {
        has(field) ? try itemIds(field, count: range) : nil
    }

    /// The raw value of an array field, checked to be an array of objects.
    public func objects(_ field: String, count range: ClosedRange<Int>) throws(InvalidParams) -> [JSONObject] {
        guard let value = object[field], value != .null else { throw missing(field) }
        guard let elements = value.arrayValue else { throw wrongType(field, "an array", value) }
        guard range.contains(elements.count) else {
            throw InvalidParams(
                field: field, message: "\(field) must hold \(range.lowerBound)...\(range.upperBound) entries, got \(elements.count)")
        }
        var objects: [JSONObject] = []
        for (index, element) in elements.enumerated() {
            guard let object = element.objectValue else { throw wrongType("\(field)[\(index)]", "an object", element) }
            objects.append(object)
        }
        return objects
    }

    /// A `workDoneToken`: a string or an integer.
    public func progressToken(_ field: String = "workDoneToken") throws(InvalidParams) -> JSONValue? {
        guard has(field), let value = object[field] else { return nil }
        switch value {
        case .string, .int: return value
        default: throw wrongType(field, "a string or an integer", value)
        }
    }

    private func missing(_ field: String) -> InvalidParams {
        InvalidParams(field: field, message: "missing required parameter '\(field)'")
    }

    private func wrongType(_ field: String, _ expected: String, _ value: JSONValue) -> InvalidParams {
        InvalidParams(field: field, message: "\(field) must be \(expected), got \(value.kindName)")
    }
}
