/// What a `MessageFramer` found in the byte stream.
public enum FramingEvent: Equatable, Sendable {
    /// One complete message body (the bytes after the header block).
    case message([UInt8])
    /// A body of `length` bytes larger than the limit was announced; it is skipped unread. The framing
    /// survives, so the connection can go on.
    case oversized(length: Int)
    /// The header block cannot be understood; the stream can no longer be split into messages.
    case framingError(String)
}

/// Splits a byte stream into messages framed as in the LSP base protocol:
/// `Content-Length: N\r\n[Content-Type: ...\r\n]\r\n` followed by N bytes of body.
///
/// Incremental: feed bytes as they arrive, in any chunking, and get back the events they complete.
/// Header names are case-insensitive, unknown headers are ignored, bare `\n` line ends are tolerated.
/// After a `.framingError` the framer stays failed and ignores further input. Memory: the partial
/// message in progress, at most `maxHeaderBytes + maxMessageBytes`.
public struct MessageFramer: Sendable {
    public let maxMessageBytes: Int
    public let maxHeaderBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var expectedBody: Int?
    private var skipping = 0
    public private(set) var failed = false

    public init(maxMessageBytes: Int = 4 << 20, maxHeaderBytes: Int = 8 << 10) {
        self.maxMessageBytes = maxMessageBytes
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// Bytes received but not yet part of a complete message.
    public var bufferedBytes: Int { buffer.count - start }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [FramingEvent] {
        guard !failed else { return [] }
        var input = bytes[...]
        if skipping > 0 {
            let skipped = min(skipping, input.count)
            skipping -= skipped
            input = input.dropFirst(skipped)
        }
        buffer.append(contentsOf: input)
        var events: [FramingEvent] = []
        while !failed {
            if skipping > 0 {
                let skipped = min(skipping, buffer.count - start)
                skipping -= skipped
                start += skipped
                if skipping > 0 { break }
            }
            if let length = expectedBody {
                guard buffer.count - start >= length else { break }
                events.append(.message(Array(buffer[start..<(start + length)])))
                start += length
                expectedBody = nil
                continue
            }
            guard let header = parseHeader() else { break }
            switch header {
            case .success(let length):
                if length > maxMessageBytes {
                    events.append(.oversized(length: length))
                    skipping = length
                } else {
                    expectedBody = length
                }
            case .failure(let error):
                failed = true
                events.append(.framingError(error.reason))
            }
        }
        compact()
        return events
    }

    private struct HeaderError: Error {
        var reason: String
    }

    /// Parses a complete header block at `start`, consuming it; nil when it is not complete yet.
    private mutating func parseHeader() -> Result<Int, HeaderError>? {
        let available = buffer.count - start
        guard available > 0 else { return nil }
        // Find the blank line that ends the header block: "\r\n\r\n" or "\n\n" (or a mix).
        var index = start
        var lineStart = start
        var lines: [ArraySlice<UInt8>] = []
        var end: Int?
        while index < buffer.count {
            if buffer[index] == UInt8(ascii: "\n") {
                var line = buffer[lineStart..<index]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                if line.isEmpty {
                    end = index + 1
                    break
                }
                lines.append(line)
                lineStart = index + 1
            }
            index += 1
            if index - start > maxHeaderBytes {
                return .failure(HeaderError(reason: "header block longer than \(maxHeaderBytes) bytes"))
            }
        }
        guard let end else { return nil }
        start = end
        var length: Int?
        for line in lines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                return .failure(HeaderError(reason: "header line without ':' (\(Self.preview(line)))"))
            }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces()
            switch name {
            case "content-length":
                // Decimal digits only: no sign, no spaces inside, as RFC 9110 writes the field.
                guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                    let parsed = Int(value)
                else {
                    return .failure(HeaderError(reason: "invalid Content-Length '\(value)'"))
                }
                length = parsed
            case "content-type":
                let lowered = value.lowercased()
                if let charset = lowered.split(separator: ";").dropFirst().first(where: { $0.contains("charset") }) {
                    let name = charset.split(separator: "=").last.map { String($0).trimmingSpaces() } ?? ""
                    guard name == "utf-8" || name == "utf8" else {
                        return .failure(HeaderError(reason: "unsupported charset '\(name)'"))
                    }
                }
            default: continue
            }
        }
        guard let length else { return .failure(HeaderError(reason: "missing Content-Length header")) }
        return .success(length)
    }

    /// Drops consumed bytes; a drained buffer that grew past 64 KiB (a large message) is released
    /// rather than kept at its peak for the connection's lifetime.
    private mutating func compact() {
        if start > 0 && start == buffer.count && buffer.capacity > 1 << 16 {
            buffer = []
            start = 0
        } else if start > 0 && (start == buffer.count || start > 1 << 16) {
            buffer.removeFirst(start)
            start = 0
        }
    }

    private static func preview(_ line: ArraySlice<UInt8>) -> String {
        let text = String(decoding: line.prefix(40), as: UTF8.self)
        return line.count > 40 ? text + "…" : text
    }

    /// The header block for a body of `count` bytes.
    public static func header(forBodyOf count: Int) -> [UInt8] {
        Array("Content-Length: \(count)\r\n\r\n".utf8)
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
