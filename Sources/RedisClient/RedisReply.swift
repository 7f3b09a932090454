/// One reply of the Redis serialization protocol (RESP2).
public indirect enum RedisReply: Sendable, Equatable {
    /// `+OK`
    case status(String)
    /// `-ERR ...`: the server refused the command; the connection stays usable.
    case error(String)
    case integer(Int64)
    /// A bulk string; nil is the null bulk string (`$-1`).
    case bulk([UInt8]?)
    /// nil is the null array (`*-1`).
    case array([RedisReply]?)

    /// The bulk string as UTF-8 text (invalid bytes replaced); nil for anything else.
    public var text: String? {
        switch self {
        case .bulk(let bytes?): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        default: return nil
        }
    }

    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        if case .bulk(let bytes?) = self { return Int64(String(decoding: bytes, as: UTF8.self)) }
        return nil
    }

    /// The elements of a non-null array.
    public var elements: [RedisReply]? {
        if case .array(let elements?) = self { return elements }
        return nil
    }

    /// Whether this is a null bulk string or a null array.
    public var isNull: Bool {
        switch self {
        case .bulk(nil), .array(nil): return true
        default: return false
        }
    }
}

/// Reads RESP2 replies from bytes that arrive in pieces.
///
/// `parse` consumes one complete reply from the front of the buffer, or returns nil (and consumes
/// nothing) when the reply is not complete yet. Not thread-safe.
struct RedisReplyParser {
    private(set) var buffer: [UInt8] = []
    private var start = 0

    /// Nesting beyond this is refused: no server reply used here nests deeper than a few levels.
    static let maxDepth = 32
    /// One bulk string or array may not announce more than this (Redis's own `proto-max-bulk-len`).
    static let maxLength = 512 << 20

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func parse() throws(RedisError) -> RedisReply? {
        var cursor = start
        guard let reply = try Self.reply(in: buffer, at: &cursor, depth: 0) else { return nil }
        start = cursor
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        }
        return reply
    }

    private static func reply(in buffer: [UInt8], at cursor: inout Int, depth: Int) throws(RedisError) -> RedisReply? {
        guard depth <= maxDepth else { throw .protocolViolation("replies nested deeper than \(maxDepth)") }
        guard cursor < buffer.count, let line = try line(in: buffer, from: cursor + 1) else { return nil }
        let kind = buffer[cursor]
        let text = String(decoding: buffer[(cursor + 1)..<line.end], as: UTF8.self)
        var next = line.next
        switch kind {
        case UInt8(ascii: "+"):
            cursor = next
            return .status(text)
        case UInt8(ascii: "-"):
            cursor = next
            return .error(text)
        case UInt8(ascii: ":"):
            guard let value = Int64(text) else { throw .protocolViolation("integer reply '\(text.prefix(32))'") }
            cursor = next
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let length = Int(text), length >= -1, length <= maxLength else { throw .protocolViolation("bulk length '\(text.prefix(32))'") }
            if length == -1 {
                cursor = next
                return .bulk(nil)
            }
            guard buffer.count >= next + length + 2 else { return nil }
            guard buffer[next + length] == 13, buffer[next + length + 1] == 10 else { throw .protocolViolation("bulk string not ended by CRLF") }
            let bytes = Array(buffer[next..<(next + length)])
            cursor = next + length + 2
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            guard let count = Int(text), count >= -1, count <= maxLength else { throw .protocolViolation("array length '\(text.prefix(32))'") }
            if count == -1 {
                cursor = next
                return .array(nil)
            }
            var elements: [RedisReply] = []
            elements.reserveCapacity(min(count, 4096))
            for _ in 0..<count {
                guard let element = try reply(in: buffer, at: &next, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            cursor = next
            return .array(elements)
        default:
            throw .protocolViolation("unknown reply type byte \(kind)")
        }
    }

    /// The end of the line that starts at `from` (index of its CR) and the index after its LF.
    private static func line(in buffer: [UInt8], from: Int) throws(RedisError) -> (end: Int, next: Int)? {
        var index = from
        while index + 1 < buffer.count {
            if buffer[index] == 13 {
                guard buffer[index + 1] == 10 else { throw .protocolViolation("CR without LF") }
                return (index, index + 2)
            }
            index += 1
            if index - from > 64 << 10 { throw .protocolViolation("a reply line longer than 64 KiB") }
        }
        return nil
    }
}

/// Encodes commands as RESP arrays of bulk strings.
enum RedisCommandEncoder {
    static func encode(_ arguments: [[UInt8]], into output: inout [UInt8]) {
        output += Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            output += Array("$\(argument.count)\r\n".utf8)
            output += argument
            output += [13, 10]
        }
    }
}
