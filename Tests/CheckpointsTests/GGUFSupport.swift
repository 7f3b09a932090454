import Foundation
import Testing

/// Expected contents of the GGUF fixtures and a builder of hand-made GGUF files.
///
/// `every_type.gguf`, `aligned64_v2.gguf`, `kquants.gguf` and `gguf_expected.json` are written by
/// `scripts/make-gguf-fixtures.py` (numpy and gguf-py's reference quantisers); regenerate with
/// `python3 scripts/make-gguf-fixtures.py Tests/CheckpointsTests/Fixtures`.
enum GGUFSupport {
    /// One tensor as `gguf_expected.json` describes it.
    struct ExpectedTensor {
        let name: String
        let type: String
        let typeID: UInt32
        let ne: [Int]
        let shape: [Int]
        let offset: Int
        let byteCount: Int
        /// Float32 bit patterns of the dequantised elements, row-major.
        let floatBits: [UInt32]
        /// For the permuted q/k tensors: the rows before convert_hf_to_gguf.py permuted them.
        let hfFloatBits: [UInt32]?
        let heads: Int?
    }

    struct ExpectedFile {
        let version: Int
        let alignment: Int
        let dataStart: Int
        let tensors: [ExpectedTensor]
    }

    static func expected(_ file: String) throws -> ExpectedFile {
        let data = try #require(FileManager.default.contents(atPath: Support.fixture("gguf_expected.json")))
        let all = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let entry = try #require(all[file] as? [String: Any], "gguf_expected.json has no \(file)")
        let tensors = try #require(entry["tensors"] as? [[String: Any]])
        return ExpectedFile(
            version: try #require(entry["version"] as? Int), alignment: try #require(entry["alignment"] as? Int),
            dataStart: try #require(entry["data_start"] as? Int),
            tensors: try tensors.map { tensor in
                ExpectedTensor(
                    name: try #require(tensor["name"] as? String), type: try #require(tensor["type"] as? String),
                    typeID: try #require((tensor["type_id"] as? NSNumber)?.uint32Value),
                    ne: try #require(tensor["ne"] as? [Int]), shape: try #require(tensor["shape"] as? [Int]),
                    offset: try #require(tensor["offset"] as? Int), byteCount: try #require(tensor["byte_count"] as? Int),
                    floatBits: try #require((tensor["float32_bits"] as? [NSNumber])?.map(\.uint32Value)),
                    hfFloatBits: (tensor["hf_float32_bits"] as? [NSNumber])?.map(\.uint32Value),
                    heads: tensor["heads"] as? Int)
            })
    }
}

/// GGUF bytes written field by field, for files no generator would write.
struct GGUFBuilder {
    struct TensorEntry {
        var name: String
        var ne: [UInt64]
        var type: UInt32
        var offset: UInt64
    }

    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    /// Each entry's key and its encoded type tag plus value (see `value`).
    var metadata: [(key: String, typedValue: [UInt8])] = []
    var tensors: [TensorEntry] = []
    /// Bytes of the data section, placed after padding the header to `alignment`.
    var data: [UInt8] = []
    var alignment = 32
    /// Counts written in the header instead of the real ones.
    var tensorCount: UInt64?
    var metadataCount: UInt64?

    func bytes() -> [UInt8] {
        var out = magic + Self.u32(version) + Self.u64(tensorCount ?? UInt64(tensors.count))
            + Self.u64(metadataCount ?? UInt64(metadata.count))
        for (key, typedValue) in metadata { out += Self.string(key) + typedValue }
        for tensor in tensors {
            out += Self.string(tensor.name) + Self.u32(UInt32(tensor.ne.count)) + tensor.ne.flatMap(Self.u64)
                + Self.u32(tensor.type) + Self.u64(tensor.offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        return out + data
    }

    static func u32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func u64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func string(_ text: String) -> [UInt8] { u64(UInt64(text.utf8.count)) + Array(text.utf8) }
    static func floats(_ values: [Float]) -> [UInt8] { values.flatMap { u32($0.bitPattern) } }

    /// A metadata value with its type tag.
    static func typed(_ type: UInt32, _ payload: [UInt8]) -> [UInt8] { u32(type) + payload }
    static func uint32Value(_ value: UInt32) -> [UInt8] { typed(4, u32(value)) }
    static func stringValue(_ text: String) -> [UInt8] { typed(8, string(text)) }
    /// An array value: element type, count, and the elements' payloads (without their own tags).
    static func arrayValue(_ elementType: UInt32, count: UInt64, _ payload: [UInt8]) -> [UInt8] {
        typed(9, u32(elementType) + u64(count) + payload)
    }

    /// A file with one F32 tensor "w" of `ne` holding `values`.
    static func oneTensor(_ values: [Float], ne: [UInt64]) -> GGUFBuilder {
        var builder = GGUFBuilder()
        builder.metadata = [("general.architecture", stringValue("test"))]
        builder.tensors = [TensorEntry(name: "w", ne: ne, type: 0, offset: 0)]
        builder.data = floats(values)
        return builder
    }
}
