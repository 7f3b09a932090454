import Foundation

/// Where one tensor lies in a safetensors file, as its header entry says.
public struct TensorInfo: Sendable, Equatable {
    public let dtype: DType
    /// Row-major shape; `[]` for a scalar.
    public let shape: [Int]
    /// The header's `data_offsets`: a byte range relative to the start of the data section (the bytes
    /// after the 8-byte length and the header), of length `product(shape) * dtype.byteCount`.
    public let dataOffsets: Range<Int>
}

/// The parsed and validated header of a safetensors file.
///
/// Layout: an unsigned 64-bit little-endian header length `n`, `n` bytes of UTF-8 JSON (an object
/// mapping each tensor name to `{"dtype", "shape", "data_offsets"}`, plus an optional `__metadata__`
/// object of strings; writers pad it with spaces), then the data section.
struct SafetensorsHeader {
    /// Headers longer than this are rejected as corrupt, as the reference implementation does.
    static let maximumLength = 100_000_000
    static let metadataKey = "__metadata__"

    /// Byte offset of the data section from the start of the file.
    let dataStart: Int
    let infos: [String: TensorInfo]
    /// Names ordered by where their data lies (then by name, for empty tensors at the same offset).
    let names: [String]
    let metadata: [String: String]

    /// Validates the length field, the JSON, every entry, that byte ranges do not overlap, and that
    /// every range lies inside the file.
    init(file bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        guard bytes.count >= 8 else { throw .truncated(path: path, expected: 8, got: bytes.count) }
        let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard length <= UInt64(Self.maximumLength) else {
            // The length itself is not echoed: for a file that is not safetensors it is its first 8 bytes.
            throw .malformedHeader(path: path, reason: "not a safetensors file (its header length field exceeds \(Self.maximumLength) bytes)")
        }
        let headerLength = Int(length)
        guard 8 + headerLength <= bytes.count else {
            throw .truncated(path: path, expected: 8 + headerLength, got: bytes.count)
        }
        dataStart = 8 + headerLength
        let json = Data(bytes[8..<dataStart])
        guard json.first == UInt8(ascii: "{") else {
            throw .malformedHeader(path: path, reason: "header does not start with '{'")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: json) } catch {
            throw .malformedHeader(path: path, reason: "header is not valid JSON")
        }
        guard let entries = object as? [String: Any] else {
            throw .malformedHeader(path: path, reason: "header is not a JSON object")
        }

        var infos: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in entries {
            if name == Self.metadataKey {
                metadata = try Self.metadata(value, path: path)
            } else {
                infos[name] = try Self.info(name: name, value, path: path)
            }
        }

        let names = infos.keys.sorted { a, b in
            let (ra, rb) = (infos[a]!.dataOffsets, infos[b]!.dataOffsets)
            return (ra.lowerBound, ra.upperBound, a) < (rb.lowerBound, rb.upperBound, b)
        }
        var end = 0
        var endName = ""
        for name in names {
            let range = infos[name]!.dataOffsets
            guard range.lowerBound >= end else {
                throw .malformedHeader(path: path, reason: "data of tensors '\(endName)' and '\(name)' overlap")
            }
            (end, endName) = (range.upperBound, name)
        }
        let dataSize = bytes.count - dataStart
        guard end <= dataSize else { throw .truncated(path: path, expected: dataStart + end, got: bytes.count) }
        self.infos = infos
        self.names = names
        self.metadata = metadata
    }

    private static func metadata(_ value: Any, path: String) throws(CheckpointError) -> [String: String] {
        guard let object = value as? [String: Any] else {
            throw .malformedHeader(path: path, reason: "\(metadataKey) is not an object")
        }
        var metadata: [String: String] = [:]
        for (key, entry) in object {
            guard let string = entry as? String else {
                throw .malformedHeader(path: path, reason: "\(metadataKey) value for '\(key)' is not a string")
            }
            metadata[key] = string
        }
        return metadata
    }

    private static func info(name: String, _ value: Any, path: String) throws(CheckpointError) -> TensorInfo {
        func malformed(_ reason: String) -> CheckpointError { .malformedHeader(path: path, reason: "tensor '\(name)': \(reason)") }
        guard let entry = value as? [String: Any] else { throw malformed("entry is not an object") }
        guard let dtypeName = entry["dtype"] as? String else { throw malformed("missing dtype") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw .unsupportedDType(name: name, dtype: dtypeName, path: path)
        }
        guard let shapeValues = entry["shape"] as? [Any] else { throw malformed("missing shape") }
        var shape: [Int] = []
        for value in shapeValues {
            guard let dim = integer(value), dim >= 0 else { throw malformed("shape \(shapeValues) is not a list of sizes") }
            shape.append(dim)
        }
        guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
              let begin = integer(offsets[0]), let end = integer(offsets[1]), 0 <= begin, begin <= end
        else { throw malformed("data_offsets is not [begin, end] with 0 <= begin <= end") }
        guard let count = ElementLayout.elementCount(shape),
              case let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteCount), !overflow,
              bytes == end - begin
        else {
            throw malformed("shape \(shape) of \(dtype.rawValue) does not fit data_offsets [\(begin), \(end)]")
        }
        return TensorInfo(dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// A JSON integer as Int: rejects booleans, fractions, exponent forms and values beyond Int.
    private static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        let kind = String(cString: number.objCType)
        guard ["i", "l", "q", "s", "I", "L", "Q", "S"].contains(kind) else { return nil }
        return value as? Int
    }
}
