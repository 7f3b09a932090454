import CJansson

/// Why a byte sequence is not the JSON that was expected.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// jansson's explanation ("'[' or '{' expected near 'x'", "invalid UTF-8 string", ...).
    public var message: String
    /// 1-based line and column of the error inside the parsed text; 0 when unknown.
    public var line: Int
    public var column: Int
    /// Byte offset of the error inside the parsed text.
    public var position: Int

    public var description: String { "\(message) (line \(line), column \(column))" }
}

/// Parsing options shared by the whole project.
public struct JSONParseOptions: Sendable {
    /// Reject objects that repeat a key (JSON-RPC wants this; data files tolerate duplicates).
    public var rejectDuplicateKeys: Bool

    public init(rejectDuplicateKeys: Bool = false) {
        self.rejectDuplicateKeys = rejectDuplicateKeys
    }

    var janssonFlags: Int {
        // Any top-level value; NUL characters inside strings are kept (lengths are explicit).
        var flags = 0x4 /* JSON_DECODE_ANY */ | 0x10 /* JSON_ALLOW_NUL */
        if rejectDuplicateKeys { flags |= 0x1 /* JSON_REJECT_DUPLICATES */ }
        return flags
    }
}

/// A parsed JSON document held by jansson, read lazily: only the members a caller asks for become
/// Swift values. Used where whole records would be wasteful (review dumps with long review texts).
///
/// The document owns the jansson tree; `JSONNode`s handed to `withRoot` borrow it and must not
/// escape the closure. Not thread-safe; confine a document to one thread.
public final class JSONDocument {
    private let root: UnsafeMutablePointer<json_t>
    /// Whether the text held an integer outside Int64 and was read with every number as a double.
    private let integersAsReals: Bool

    /// Parses `bytes` (UTF-8, checked by jansson) into a document.
    ///
    /// JSON puts no bound on integers; jansson refuses those outside Int64 ("too big integer"). Such
    /// a text is valid JSON, so it is read again with every number as a double: integral values up
    /// to 2^53 come back as `.int`, the rest as `.double` (so a field that wants an integer sees a
    /// number out of its range rather than a parse error).
    public init(bytes: UnsafeRawBufferPointer, options: JSONParseOptions = .init()) throws(JSONParseError) {
        var error = json_error_t()
        if let parsed = Self.load(bytes, flags: options.janssonFlags, error: &error) {
            root = parsed
            integersAsReals = false
            return
        }
        let first = JSONParseError(janssonError: error)
        guard first.message.hasPrefix("too big"),
            let parsed = Self.load(bytes, flags: options.janssonFlags | 0x8 /* JSON_DECODE_INT_AS_REAL */, error: &error)
        else { throw first }
        root = parsed
        integersAsReals = true
    }

    private static func load(_ bytes: UnsafeRawBufferPointer, flags: Int, error: inout json_error_t) -> UnsafeMutablePointer<json_t>? {
        if let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self) {
            return json_loadb(base, bytes.count, flags, &error)
        }
        return json_loads("", flags, &error)
    }

    deinit { json_decref(root) }

    /// Calls `body` with the root node. The node and everything reached from it are valid only
    /// during the call.
    public func withRoot<R, E: Error>(_ body: (JSONNode) throws(E) -> R) throws(E) -> R {
        try body(JSONNode(raw: root, integersAsReals: integersAsReals))
    }

    /// The whole document as a `JSONValue`.
    public var value: JSONValue { JSONNode(raw: root, integersAsReals: integersAsReals).value }
}

extension JSONParseError {
    init(janssonError error: json_error_t) {
        let text = withUnsafeBytes(of: error.text) { raw -> String in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
        self.init(message: text, line: Int(error.line), column: Int(error.column), position: Int(error.position))
    }
}

/// A borrowed view of one value inside a `JSONDocument`. Valid only while the document's
/// `withRoot` closure runs.
public struct JSONNode {
    let raw: UnsafeMutablePointer<json_t>
    /// Set when the document was read with every number as a double (see `JSONDocument.init`).
    var integersAsReals = false

    /// Member lookup on an object; nil for a missing key or a non-object.
    public subscript(key: String) -> JSONNode? {
        guard raw.pointee.type == JSON_OBJECT, let member = json_object_get(raw, key) else { return nil }
        return JSONNode(raw: member, integersAsReals: integersAsReals)
    }

    public var isNull: Bool { raw.pointee.type == JSON_NULL }

    public var isObject: Bool { raw.pointee.type == JSON_OBJECT }

    /// The string payload, or nil for any other kind.
    public var string: String? {
        guard raw.pointee.type == JSON_STRING, let chars = json_string_value(raw) else { return nil }
        let count = json_string_length(raw)
        return chars.withMemoryRebound(to: UInt8.self, capacity: count) {
            String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
        }
    }

    /// Any number as a `Double`, or nil for any other kind.
    public var double: Double? {
        switch raw.pointee.type {
        case JSON_INTEGER: return Double(json_integer_value(raw))
        case JSON_REAL: return json_real_value(raw)
        default: return nil
        }
    }

    /// An integer, or a real with no fractional part, as `Int64`; nil otherwise.
    public var int: Int64? {
        switch raw.pointee.type {
        case JSON_INTEGER: return Int64(json_integer_value(raw))
        case JSON_REAL:
            let real = json_real_value(raw)
            return real.rounded() == real && abs(real) < 9.2e18 ? Int64(real) : nil
        default: return nil
        }
    }

    /// Elements of an array, or nil for any other kind.
    public var elements: [JSONNode]? {
        guard raw.pointee.type == JSON_ARRAY else { return nil }
        return (0..<json_array_size(raw)).compactMap { json_array_get(raw, $0).map { JSONNode(raw: $0, integersAsReals: integersAsReals) } }
    }

    /// The value converted to plain Swift data (recursively).
    public var value: JSONValue {
        switch raw.pointee.type {
        case JSON_NULL: return .null
        case JSON_TRUE: return .bool(true)
        case JSON_FALSE: return .bool(false)
        case JSON_INTEGER: return .int(Int64(json_integer_value(raw)))
        case JSON_REAL:
            let number = json_real_value(raw)
            if integersAsReals, number.rounded() == number, abs(number) <= 9_007_199_254_740_992 { return .int(Int64(number)) }
            return .double(number)
        case JSON_STRING: return .string(string ?? "")
        case JSON_ARRAY: return .array(elements?.map(\.value) ?? [])
        case JSON_OBJECT:
            var object = JSONObject()
            var iterator = json_object_iter(raw)
            while let current = iterator {
                if let key = json_object_iter_key(current), let member = json_object_iter_value(current) {
                    object[String(cString: key)] = JSONNode(raw: member, integersAsReals: integersAsReals).value
                }
                iterator = json_object_iter_next(raw, current)
            }
            return .object(object)
        default: return .null
        }
    }
}

extension JSONValue {
    /// Parses UTF-8 JSON text into a value.
    public static func parse(_ bytes: UnsafeRawBufferPointer, options: JSONParseOptions = .init())
        throws(JSONParseError) -> JSONValue
    {
        try JSONDocument(bytes: bytes, options: options).value
    }

    /// Parses UTF-8 JSON text into a value.
    public static func parse(_ text: String, options: JSONParseOptions = .init()) throws(JSONParseError) -> JSONValue {
        var text = text
        let result = text.withUTF8 { utf8 in
            Result { () throws(JSONParseError) -> JSONValue in try parse(UnsafeRawBufferPointer(utf8), options: options) }
        }
        return try result.get()
    }

    /// Parses UTF-8 JSON bytes into a value.
    public static func parse(_ bytes: [UInt8], options: JSONParseOptions = .init()) throws(JSONParseError) -> JSONValue {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) -> JSONValue in try parse(raw, options: options) }
        }
        return try result.get()
    }
}
