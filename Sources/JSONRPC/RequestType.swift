import JSON

/// A value with one wire form, both ways: `json` writes it and `init(json:)` reads it back, so that
/// reading what `json` wrote gives an equal value.
public protocol WireCodable: Sendable {
    var json: JSONValue { get }
    init(json: JSONValue) throws(WireDecodingError)
}

/// A request type, as sourcekit-lsp's: the method's name, its params (the value itself, as
/// `params` writes them) and the type of its result. Clients send one and get its `Response`;
/// servers read one and answer with its `Response`.
public protocol RequestType: Sendable {
    associatedtype Response: WireCodable
    static var method: String { get }
    /// The `params` member the request is sent with; nil sends none.
    var params: JSONValue? { get }
}

/// A message that does not have its type's shape: where (`items[2].itemId`, empty for the value
/// itself) and what was wrong.
public struct WireDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// The same error seen from one level up: `key` is prepended to the path.
    func inside(_ key: String) -> WireDecodingError {
        WireDecodingError(path: path.isEmpty ? key : (path.hasPrefix("[") ? key + path : key + "." + path), message: message)
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// The result of a request that is answered with `null` (`shutdown`).
public struct NullResponse: WireCodable, Equatable {
    public init() {}

    public var json: JSONValue { .null }

    public init(json: JSONValue) throws(WireDecodingError) {
        guard json == .null else { throw WireDecodingError(path: "", message: "expected null, got \(json.kindName)") }
    }
}

/// Reads the members of one received object, with errors that name the member's path. Members
/// that are `null` read as absent.
public struct WireReader {
    private let object: JSONObject
    /// The path of this object in the value being read ("" for the value itself).
    private let prefix: String

    public init(_ value: JSONValue) throws(WireDecodingError) {
        try self.init(value, prefix: "")
    }

    private init(_ value: JSONValue, prefix: String) throws(WireDecodingError) {
        guard let object = value.objectValue else {
            throw WireDecodingError(path: prefix, message: "expected an object, got \(value.kindName)")
        }
        self.object = object
        self.prefix = prefix
    }

    /// A reader of the member `key`, an object; its errors name their path from here.
    public func reader(_ key: String) throws(WireDecodingError) -> WireReader {
        guard let raw = value(key) else { throw missing(key) }
        return try WireReader(raw, prefix: path(key))
    }

    /// The member's raw value; nil when absent or null.
    public func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    public func has(_ key: String) -> Bool { value(key) != nil }

    public func string(_ key: String) throws(WireDecodingError) -> String {
        try required(key) { $0.stringValue }
    }

    public func optionalString(_ key: String) throws(WireDecodingError) -> String? {
        has(key) ? try string(key) : nil
    }

    public func int(_ key: String) throws(WireDecodingError) -> Int {
        try required(key) { $0.intValue.flatMap { Int(exactly: $0) } }
    }

    public func int32(_ key: String) throws(WireDecodingError) -> Int32 {
        try required(key) { $0.intValue.flatMap { Int32(exactly: $0) } }
    }

    public func optionalInt(_ key: String) throws(WireDecodingError) -> Int? {
        has(key) ? try int(key) : nil
    }

    public func double(_ key: String) throws(WireDecodingError) -> Double {
        try required(key) { $0.doubleValue }
    }

    public func float(_ key: String) throws(WireDecodingError) -> Float { Float(try double(key)) }

    public func optionalFloat(_ key: String) throws(WireDecodingError) -> Float? {
        has(key) ? try float(key) : nil
    }

    public func bool(_ key: String) throws(WireDecodingError) -> Bool {
        try required(key) { $0.boolValue }
    }

    public func object(_ key: String) throws(WireDecodingError) -> JSONObject {
        try required(key) { $0.objectValue }
    }

    /// A member read as `T`.
    public func decode<T: WireCodable>(_ key: String, as type: T.Type = T.self) throws(WireDecodingError) -> T {
        guard let raw = value(key) else { throw missing(key) }
        do { return try T(json: raw) } catch { throw error.inside(path(key)) }
    }

    public func optionalDecode<T: WireCodable>(_ key: String, as type: T.Type = T.self) throws(WireDecodingError) -> T? {
        has(key) ? try decode(key, as: type) : nil
    }

    /// A member that is an array, each element read by `element`.
    public func array<T>(_ key: String, _ element: (JSONValue) throws(WireDecodingError) -> T) throws(WireDecodingError) -> [T] {
        let elements = try required(key) { $0.arrayValue }
        var values: [T] = []
        values.reserveCapacity(elements.count)
        for (index, raw) in elements.enumerated() {
            do { values.append(try element(raw)) } catch { throw error.inside("\(path(key))[\(index)]") }
        }
        return values
    }

    /// A member that is an array of `T`.
    public func array<T: WireCodable>(_ key: String, of type: T.Type) throws(WireDecodingError) -> [T] {
        try array(key) { (raw: JSONValue) throws(WireDecodingError) -> T in try T(json: raw) }
    }

    public func strings(_ key: String) throws(WireDecodingError) -> [String] {
        try array(key) { (raw: JSONValue) throws(WireDecodingError) -> String in
            guard let text = raw.stringValue else { throw WireDecodingError(path: "", message: "expected string, got \(raw.kindName)") }
            return text
        }
    }

    public func itemIds(_ key: String) throws(WireDecodingError) -> [Int32] {
        try array(key) { (raw: JSONValue) throws(WireDecodingError) -> Int32 in
            guard let id = raw.intValue.flatMap({ Int32(exactly: $0) }) else {
                throw WireDecodingError(path: "", message: "expected an item id, got \(JSONWriter.compact(raw))")
            }
            return id
        }
    }

    private func required<T>(_ key: String, _ read: (JSONValue) -> T?) throws(WireDecodingError) -> T {
        guard let raw = value(key) else { throw missing(key) }
        guard let value = read(raw) else {
            throw WireDecodingError(path: path(key), message: "unexpected \(raw.kindName) \(JSONWriter.compact(raw).prefix(40))")
        }
        return value
    }

    private func missing(_ key: String) -> WireDecodingError { WireDecodingError(path: path(key), message: "missing") }

    private func path(_ key: String) -> String { prefix.isEmpty ? key : prefix + "." + key }
}
