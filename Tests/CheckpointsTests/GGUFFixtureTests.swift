import Checkpoints
import Foundation
import Numerics
import Testing

/// Reading the generated GGUF fixtures (`scripts/make-gguf-fixtures.py`; see `GGUFSupport`): every
/// metadata type, every element of every tensor type, alignment and version 2, rows, raw blocks, and the
/// Llama q/k un-permutation.
@Suite struct GGUFFixtureTests {
    static func open(_ name: String) throws -> GGUFFile { try GGUFFile(path: Support.fixture(name)) }

    @Test func readsEveryTensorOfEveryTypeExactly() throws {
        for fileName in ["every_type.gguf", "aligned64_v2.gguf", "kquants.gguf"] {
            let file = try Self.open(fileName)
            let expected = try GGUFSupport.expected(fileName)
            #expect(file.version == expected.version)
            #expect(file.alignment == expected.alignment)
            #expect(file.dataStart == expected.dataStart)
            #expect(file.names == expected.tensors.map(\.name))
            for tensor in expected.tensors {
                let info = try file.info(named: tensor.name)
                #expect(info.type.rawValue == tensor.typeID && info.type.description == tensor.type, "\(tensor.name)")
                #expect(info.ne == tensor.ne && info.shape == tensor.shape, "\(tensor.name): \(info.ne) \(info.shape)")
                #expect(info.offset == tensor.offset && info.byteCount == tensor.byteCount, "\(tensor.name)")
                #expect(info.elementCount == tensor.floatBits.count, "\(tensor.name)")
                let values = try file.tensor(named: tensor.name)
                #expect(values.shape == tensor.shape, "\(tensor.name)")
                let wrong = zip(values.storage.map(\.bitPattern), tensor.floatBits).enumerated().filter { $0.element.0 != $0.element.1 }
                #expect(values.count == tensor.floatBits.count && wrong.isEmpty,
                        "\(fileName) \(tensor.name): \(wrong.count) elements differ, first \(wrong.prefix(3))")
            }
        }
    }

    @Test func everyMetadataType() throws {
        let file = try Self.open("every_type.gguf")
        #expect(file.metadataKeys.count == 33)
        #expect(file.metadataKeys.first == "general.architecture" && file.metadataKeys.last == "llama.attention.head_count_kv")
        #expect(file.string("general.architecture") == "llama")
        #expect(file.string("general.name") == "fixture ✨ \"quoted\"")
        #expect(file.metadata["test.uint8"] == .uint8(200))
        #expect(file.metadata["test.int8"] == .int8(-100))
        #expect(file.metadata["test.uint16"] == .uint16(60000))
        #expect(file.metadata["test.int16"] == .int16(-30000))
        #expect(file.metadata["test.uint32"] == .uint32(4_000_000_000))
        #expect(file.metadata["test.int32"] == .int32(-2_000_000_000))
        #expect(file.metadata["test.uint64"] == .uint64(18_000_000_000_000_000_000))
        #expect(file.metadata["test.int64"] == .int64(-9_000_000_000_000_000_000))
        #expect(file.metadata["test.float32"] == .float32(0.1))
        #expect(file.metadata["test.float64"] == .float64(0.1))
        #expect(file.metadata["test.true"] == .bool(true) && file.bool("test.false") == false)
        #expect(file.string("test.empty_string") == "")

        // Accessors convert between widths but never between kinds.
        #expect(file.int("test.uint8") == 200 && file.int("test.int32") == -2_000_000_000)
        #expect(file.int("test.uint32") == 4_000_000_000 && file.int("test.int64") == -9_000_000_000_000_000_000)
        #expect(file.int("test.uint64") == nil, "beyond Int.max")
        #expect(file.float("test.float32") == 0.1 && file.double("test.float32") == Double(Float(0.1)))
        #expect(file.double("test.float64") == 0.1 && file.float("test.float64") == 0.1)
        #expect(file.int("test.float32") == nil && file.float("test.uint8") == nil && file.string("test.uint8") == nil)
        #expect(file.bool("general.name") == nil && file.int("no.such.key") == nil)
        #expect(file.metadata["test.uint16"]?.type == .uint16)

        #expect(file.intArray("test.array.uint8") == [1, 2, 255])
        #expect(file.metadata["test.array.uint8"] == .array(.uint8, [.uint8(1), .uint8(2), .uint8(255)]))
        #expect(file.intArray("test.array.int8") == [-128, 127])
        #expect(file.intArray("test.array.uint16") == [65535])
        #expect(file.intArray("test.array.int16") == [-1, 2])
        #expect(file.intArray("test.array.uint32") == [7, 4_000_000_000])
        #expect(file.intArray("test.array.int32") == [-5, 0, 5])
        #expect(file.intArray("test.array.uint64") == nil, "2^64-1 does not fit in Int")
        #expect(file.metadata["test.array.uint64"] == .array(.uint64, [.uint64(.max)]))
        #expect(file.intArray("test.array.int64") == [Int.min, Int.max])
        #expect(file.floatArray("test.array.float32") == [0.5, -1.25])
        #expect(file.metadata["test.array.float64"] == .array(.float64, [.float64(1e300), .float64(-0.0)]))
        #expect(file.floatArray("test.array.float64")?.first == .infinity, "1e300 rounds to Float infinity")
        #expect(file.metadata["test.array.bool"] == .array(.bool, [.bool(true), .bool(false), .bool(true)]))
        #expect(file.intArray("test.array.bool") == nil && file.floatArray("test.array.int32") == nil)
        #expect(file.stringArray("test.array.string") == ["a", "", "üß"])
        #expect(file.stringArray("test.array.int32") == nil)
        #expect(file.metadata["test.array.empty"] == .array(.int32, []))
        #expect(file.intArray("test.array.empty") == [])
        #expect(file.metadata["test.array.nested"] == .array(.array, [
            .array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3)]), .array(.int32, []),
        ]))
        #expect(file.metadata["test.array.nested_strings"]?.arrayValue?.map(\.stringArrayValue) == [["x", "y"], ["z"]])
        #expect(file.metadata["test.array.deep"] == .array(.array, [.array(.array, [.array(.uint8, [.uint8(9)])])]))
        #expect(file.int("llama.attention.head_count") == 4 && file.int("llama.attention.head_count_kv") == 2)
    }

    @Test func usesTheStatedAlignmentAndReadsVersion2() throws {
        let file = try Self.open("aligned64_v2.gguf")
        #expect(file.version == 2 && file.alignment == 64 && file.int("general.alignment") == 64)
        #expect(file.dataStart % 64 == 0)
        #expect(file.tensors.map(\.offset) == [0, 64, 128])
        #expect(try file.tensor(named: "a") == Tensor(shape: [3], storage: [1.5, -2.0, 3.25]))
        #expect(try file.tensor(named: "c") == Tensor(shape: [5], storage: [0.5, 0.25, -4, 8, 1]))
        let defaulted = try Self.open("every_type.gguf")
        #expect(defaulted.alignment == 32 && defaulted.metadata["general.alignment"] == nil)
    }

    @Test func readsRowsOfEveryTypeWithoutTheRest() throws {
        let file = try Self.open("every_type.gguf")
        for info in file.tensors {
            let whole = try file.tensor(named: info.name)
            let rows = whole.rows
            for range in [0..<rows, 0..<1, rows - 1..<rows, rows / 2..<rows, 1..<1] where range.upperBound <= rows {
                let part = try file.rows(named: info.name, range: range)
                let width = whole.rowWidth
                #expect(part.shape == [range.count] + whole.shape.dropFirst(), "\(info.name) \(range)")
                #expect(part.storage.map(\.bitPattern)
                        == whole.storage[range.lowerBound * width..<range.upperBound * width].map(\.bitPattern),
                        "\(info.name) \(range)")
            }
        }
        // The rows of a 1-D tensor are single elements, which lie inside blocks: a hand-made Q8_0 vector
        // of two blocks (d = 0.5 and 2 as f16, q = -16...15 then 0...31), read across the block boundary.
        var builder = GGUFBuilder()
        builder.tensors = [.init(name: "v", ne: [64], type: 8, offset: 0)]
        builder.data = [0x00, 0x38] + (-16..<16).map { UInt8(bitPattern: Int8($0)) } + [0x00, 0x40] + (0..<32).map { UInt8($0) }
        let vector = try GGUFFile(path: Support.write(builder.bytes(), to: Support.scratchDirectory(), name: "v.gguf"))
        let all = (-16..<16).map { Float($0) * 0.5 } + (0..<32).map { Float($0) * 2 }
        #expect(try vector.tensor(named: "v") == Tensor(shape: [64], storage: all))
        #expect(try vector.rows(named: "v", range: 5..<40) == Tensor(shape: [35], storage: Array(all[5..<40])))
        #expect(try vector.rows(named: "v", range: 33..<34) == Tensor(shape: [1], storage: [2]))
        #expect(throws: CheckpointError.shapeMismatch(name: "q8_0.matrix", expected: [4, 64], got: [3, 64], path: file.path)) {
            try file.rows(named: "q8_0.matrix", range: 2..<4)
        }
        #expect(throws: CheckpointError.shapeMismatch(name: "q8_0.matrix", expected: [1, 64], got: [3, 64], path: file.path)) {
            try file.rows(named: "q8_0.matrix", range: -1..<1)
        }
        #expect(throws: CheckpointError.missingTensor(name: "nope", path: file.path)) { try file.rows(named: "nope", range: 0..<1) }
    }

    @Test func exposesRawBlocks() throws {
        let file = try Self.open("every_type.gguf")
        let bytes = Support.fixtureBytes("every_type.gguf")
        for info in file.tensors {
            let raw = try file.rawBytes(named: info.name)
            let start = file.dataStart + info.offset
            #expect(raw.count == info.byteCount)
            #expect(Array(raw) == Array(bytes[start..<start + info.byteCount]), "\(info.name)")
            #expect(Int(bitPattern: raw.baseAddress) % file.alignment == 0, "mmap keeps the file's alignment")
        }
        // Q4_1 block 0 of row 0 is constant 3.0: d = 0, m = 3 (f16 0x4200), nibbles 0.
        let q41 = try file.rawBytes(named: "q4_1.matrix")
        #expect(Array(q41[0..<4]) == [0x00, 0x00, 0x00, 0x42] && q41[4..<20].allSatisfy { $0 == 0 })
        #expect(try file.info(named: "q4_1.matrix").byteCount == 5 * 3 * 20)
    }

    @Test func checksShapesAndRejectsTypesItCannotDequantise() throws {
        let file = try Self.open("every_type.gguf")
        #expect(throws: CheckpointError.shapeMismatch(name: "q4_0.matrix", expected: [64, 4], got: [4, 64], path: file.path)) {
            try file.tensor(named: "q4_0.matrix", shape: [64, 4])
        }
        #expect(try file.tensor(named: "q4_0.matrix", shape: [4, 64]) == file.tensor(named: "q4_0.matrix"))

        // A Q3_K tensor parses (its size is known) but does not dequantise.
        var builder = GGUFBuilder()
        builder.tensors = [.init(name: "q3", ne: [256, 2], type: 11, offset: 0)]
        builder.data = [UInt8](repeating: 0, count: 2 * 110)
        let path = Support.write(builder.bytes(), to: Support.scratchDirectory(), name: "q3.gguf")
        let q3 = try GGUFFile(path: path)
        #expect(try q3.info(named: "q3").type == .q3_k && q3.tensors[0].byteCount == 220)
        #expect(try q3.rawBytes(named: "q3").count == 220)
        #expect(throws: CheckpointError.unsupportedDType(name: "q3", dtype: "Q3_K", path: path)) { try q3.tensor(named: "q3") }
    }

    @Test func namesAndSizesEveryGGMLType() {
        #expect(GGMLType.allCases.count == 34)
        #expect(GGMLType(rawValue: 30) == .bf16 && GGMLType.bf16.description == "BF16")
        #expect(GGMLType(rawValue: 4) == nil && GGMLType(rawValue: 31) == nil)
        #expect(GGMLType.q4_0.blockSize == 32 && GGMLType.q4_0.blockBytes == 18)
        #expect(GGMLType.q4_1.blockBytes == 20 && GGMLType.q8_0.blockBytes == 34)
        #expect(GGMLType.q4_k.blockSize == 256 && GGMLType.q4_k.blockBytes == 144)
        #expect(GGMLType.q6_k.blockBytes == 210 && GGMLType.f16.blockBytes == 2)
        #expect(GGMLType.allCases.filter(\.dequantises) == [
            .f32, .f16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_k, .q5_k, .q6_k, .q8_k, .f64, .bf16,
        ])
        for type in GGMLType.allCases {
            #expect(type.blockSize > 0 && type.blockBytes > 0 && !type.description.isEmpty)
        }
    }

    @Test func unpermutesLlamaQueryAndKeyRows() throws {
        let file = try Self.open("every_type.gguf")
        let expected = try GGUFSupport.expected("every_type.gguf")
        for name in ["blk.0.attn_q.weight", "blk.0.attn_k.weight"] {
            let entry = try #require(expected.tensors.first { $0.name == name })
            let heads = try #require(entry.heads)
            let stored = try file.tensor(named: name)
            let restored = GGUFFile.unpermuteLlamaQK(stored, heads: heads)
            #expect(restored.shape == stored.shape)
            #expect(restored.storage.map(\.bitPattern) == entry.hfFloatBits, "\(name)")
            #expect(stored.storage.map(\.bitPattern) != entry.hfFloatBits, "\(name) is stored permuted")
        }
        #expect(file.int("llama.attention.head_count") == 4 && file.int("llama.attention.head_count_kv") == 2)
    }

    @Test func unpermutationMovesWholeRowsWithinEachHead() {
        // Rows numbered by their stored index; 2 heads of head_dim 6, rows of 2 elements.
        let plain = Tensor(shape: [12, 2], storage: (0..<12).flatMap { [Float($0), Float($0) + 0.5] })
        let restored = GGUFFile.unpermuteLlamaQK(plain, heads: 2)
        // Within a head, stored rows 0,2,4 are the first half and 1,3,5 the second.
        #expect(restored.storage.enumerated().filter { $0.offset % 2 == 0 }.map { Int($0.element) }
                == [0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11])
        #expect(restored.storage.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
                == [0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11].map { Float($0) + 0.5 })
        // One head of two rows: nothing to undo. A 1-D tensor permutes its elements.
        let pair = Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6])
        #expect(GGUFFile.unpermuteLlamaQK(pair, heads: 1) == pair)
        #expect(GGUFFile.unpermuteLlamaQK(Tensor(shape: [4], storage: [0, 1, 2, 3]), heads: 1).storage == [0, 2, 1, 3])
    }
}
