import Foundation

/// The key-value metadata of a GGUF file (versions 2 and 3, little-endian), just enough for the
/// tokenizer tests: the reader stops before the tensor descriptions. The project's real GGUF reader
/// lives in Checkpoints, which Tokenizers must not depend on.
struct GGUFMetadata {
    enum Value {
        case integer(Int64)
        case float(Double)
        case bool(Bool)
        case string(String)
        case integers([Int64])
        case strings([String])
        /// Arrays of floats, booleans or arrays: kept as a count only.
        case otherArray(count: Int)
    }

    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    let version: UInt32
    let values: [String: Value]

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        (version, values) = try data.withUnsafeBytes { bytes in
            var cursor = Cursor(bytes: bytes, path: path)
            guard try cursor.read(UInt32.self) == 0x4655_4747 else { throw FormatError(description: "\(path): not a GGUF file") }
            let version = try cursor.read(UInt32.self)
            guard version == 2 || version == 3 else { throw FormatError(description: "\(path): GGUF version \(version)") }
            _ = try cursor.read(UInt64.self)  // tensor count
            let count = try cursor.read(UInt64.self)
            var values: [String: Value] = [:]
            for _ in 0..<count {
                let key = try cursor.string()
                values[key] = try cursor.value(ofType: try cursor.read(UInt32.self))
            }
            return (version, values)
        }
    }

    func string(_ key: String) -> String? {
        if case .string(let value) = values[key] { return value }
        return nil
    }

    func strings(_ key: String) -> [String]? {
        if case .strings(let value) = values[key] { return value }
        return nil
    }

    func integer(_ key: String) -> Int64? {
        if case .integer(let value) = values[key] { return value }
        return nil
    }

    func integers(_ key: String) -> [Int64]? {
        if case .integers(let value) = values[key] { return value }
        return nil
    }

    func bool(_ key: String) -> Bool? {
        if case .bool(let value) = values[key] { return value }
        return nil
    }

    private struct Cursor {
        let bytes: UnsafeRawBufferPointer
        let path: String
        var offset = 0

        init(bytes: UnsafeRawBufferPointer, path: String) {
            self.bytes = bytes
            self.path = path
        }

        mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard offset + size <= bytes.count else {
                throw FormatError(description: "\(path): truncated at byte \(offset)")
            }
            defer { offset += size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }

        mutating func string() throws -> String {
            let length = Int(try read(UInt64.self))
            guard length <= bytes.count - offset else { throw FormatError(description: "\(path): string past the end at \(offset)") }
            defer { offset += length }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]), as: UTF8.self)
        }

        /// GGUF value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array,
        /// 10 u64, 11 i64, 12 f64.
        mutating func value(ofType type: UInt32) throws -> Value {
            switch type {
            case 0: return .integer(Int64(try read(UInt8.self)))
            case 1: return .integer(Int64(try read(Int8.self)))
            case 2: return .integer(Int64(try read(UInt16.self)))
            case 3: return .integer(Int64(try read(Int16.self)))
            case 4: return .integer(Int64(try read(UInt32.self)))
            case 5: return .integer(Int64(try read(Int32.self)))
            case 6: return .float(Double(Float(bitPattern: try read(UInt32.self))))
            case 7: return .bool(try read(UInt8.self) != 0)
            case 8: return .string(try string())
            case 10: return .integer(Int64(bitPattern: try read(UInt64.self)))
            case 11: return .integer(try read(Int64.self))
            case 12: return .float(Double(bitPattern: try read(UInt64.self)))
            case 9:
                let elementType = try read(UInt32.self)
                let count = Int(try read(UInt64.self))
                switch elementType {
                case 8:
                    var strings: [String] = []
                    strings.reserveCapacity(count)
                    for _ in 0..<count { strings.append(try string()) }
                    return .strings(strings)
                case 0...5, 10, 11:
                    var integers: [Int64] = []
                    integers.reserveCapacity(count)
                    for _ in 0..<count {
                        guard case .integer(let value) = try value(ofType: elementType) else { continue }
                        integers.append(value)
                    }
                    return .integers(integers)
                default:
                    for _ in 0..<count { _ = try value(ofType: elementType) }
                    return .otherArray(count: count)
                }
            default:
                throw FormatError(description: "\(path): unknown value type \(type) at byte \(offset)")
            }
        }
    }
}
