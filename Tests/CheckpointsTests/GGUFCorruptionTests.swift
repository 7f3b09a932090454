import Checkpoints
import Foundation
import Numerics
import Testing

/// Damaged and hand-written GGUF files: each must throw the matching typed error, and no damage may
/// crash the reader or make it read outside the file.
@Suite struct GGUFCorruptionTests {
    static func write(_ bytes: [UInt8], _ label: String = #function) -> String {
        Support.write(bytes, to: Support.scratchDirectory(label), name: "x.gguf")
    }

    /// The outcome of opening `bytes`: the reason of a `.malformedGGUF`, or a description of anything else.
    static func outcome(_ bytes: [UInt8]) -> String {
        do {
            _ = try GGUFFile(path: write(bytes))
            return "opened"
        } catch {
            if case .malformedGGUF(_, let reason) = error { return reason }
            return "\(error)"
        }
    }

    static let f32Type: UInt32 = 0

    @Test func opensAMinimalHandWrittenFile() throws {
        let path = Self.write(GGUFBuilder.oneTensor([1, 2, 3, 4, 5, 6], ne: [3, 2]).bytes())
        let file = try GGUFFile(path: path)
        #expect(file.names == ["w"] && file.dataStart == 128)
        #expect(try file.tensor(named: "w") == Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6]))
        #expect(try file.info(named: "w").ne == [3, 2])

        // No tensors: the data section may start past the end of the file.
        var empty = GGUFBuilder()
        empty.metadata = [("k", GGUFBuilder.stringValue("v"))]
        var bytes = empty.bytes()
        while bytes.last == 0 { bytes.removeLast() }
        let header = try GGUFFile(path: Self.write(bytes))
        #expect(header.tensors.isEmpty && header.string("k") == "v")
    }

    @Test func rejectsShortFilesAsTruncated() {
        for (bytes, expected) in [([UInt8](), 4), (Array("GG".utf8), 4), (Array("GGUF".utf8) + [3, 0], 8),
                                  (Array("GGUF".utf8) + GGUFBuilder.u32(3) + [1], 16)] {
            let path = Self.write(bytes)
            #expect(throws: CheckpointError.truncated(path: path, expected: expected, got: bytes.count)) {
                try GGUFFile(path: path)
            }
        }
        let missingData = GGUFBuilder.oneTensor([1, 2], ne: [4]).bytes()
        let path = Self.write(missingData)
        #expect(throws: CheckpointError.truncated(path: path, expected: missingData.count + 8, got: missingData.count)) {
            try GGUFFile(path: path)
        }
    }

    @Test func rejectsBadMagicAndVersions() {
        var builder = GGUFBuilder.oneTensor([1], ne: [1])
        builder.magic = Array("GGML".utf8)
        #expect(Self.outcome(builder.bytes()).contains("not a GGUF file"))
        #expect(Self.outcome(Array("PK\u{3}\u{4}".utf8)).contains("not a GGUF file"))
        for (version, reason) in [(UInt32(1), "version 1"), (0x0300_0000, "big-endian"), (4, "unsupported GGUF version 4"),
                                  (0, "unsupported GGUF version 0")] {
            builder = GGUFBuilder.oneTensor([1], ne: [1])
            builder.version = version
            #expect(Self.outcome(builder.bytes()).contains(reason), "version \(version)")
        }
    }

    @Test func rejectsMalformedMetadata() {
        typealias B = GGUFBuilder
        func nested(_ depth: Int) -> [UInt8] {
            // `depth` arrays, each holding the next; the innermost holds one uint8.
            var payload = B.u32(0) + B.u64(1) + [7]
            for _ in 1..<depth { payload = B.u32(9) + B.u64(1) + payload }
            return B.typed(9, payload)
        }
        let cases: [(metadata: [(String, [UInt8])], reason: String)] = [
            ([("k", B.typed(13, B.u32(0)))], "unknown value type 13"),
            ([("k", B.arrayValue(42, count: 1, [0]))], "array in metadata 'k' has unknown value type 42"),
            ([("k", B.typed(7, [2]))], "neither 0 nor 1"),
            ([("k", B.uint32Value(1)), ("k", B.uint32Value(2))], "metadata key 'k' appears twice"),
            ([("k", B.arrayValue(0, count: 1 << 25, []))], "exceeds"),
            ([("k", B.arrayValue(8, count: .max, []))], "out of range"),
            ([("k", B.typed(8, B.u64(.max)))], "string length"),
            ([("k", nested(9))], "nest deeper than 8"),
            ([("general.alignment", B.uint32Value(48))], "not a power of two"),
            ([("general.alignment", B.uint32Value(0))], "not a power of two"),
            ([("general.alignment", B.stringValue("32"))], "has type string, not an integer type"),
        ]
        for (metadata, reason) in cases {
            var builder = GGUFBuilder()
            builder.metadata = metadata
            let got = Self.outcome(builder.bytes())
            #expect(got.contains(reason), "\(reason): \(got)")
        }
        var deepest = GGUFBuilder()
        deepest.metadata = [("k", nested(8))]
        #expect(Self.outcome(deepest.bytes()) == "opened")
        var u64Alignment = GGUFBuilder()
        u64Alignment.metadata = [("general.alignment", B.typed(10, B.u64(64)))]
        #expect(Self.outcome(u64Alignment.bytes()) == "opened")
    }

    @Test func rejectsCountsAndLengthsBeyondTheFile() {
        var builder = GGUFBuilder()
        builder.metadata = [("k", GGUFBuilder.arrayValue(4, count: 1000, GGUFBuilder.u32(1)))]
        #expect(Self.outcome(builder.bytes()).contains("truncated"))
        builder = GGUFBuilder()
        builder.metadata = [("k", GGUFBuilder.typed(8, GGUFBuilder.u64(1 << 40)))]
        #expect(Self.outcome(builder.bytes()).contains("truncated"))
        builder = GGUFBuilder.oneTensor([1], ne: [1])
        builder.tensorCount = 1 << 40
        #expect(Self.outcome(builder.bytes()).contains("truncated"))
        builder = GGUFBuilder.oneTensor([1], ne: [1])
        builder.metadataCount = .max
        #expect(Self.outcome(builder.bytes()).contains("out of range"))
    }

    @Test func rejectsMalformedTensorInfos() throws {
        typealias Entry = GGUFBuilder.TensorEntry
        let cases: [(tensors: [Entry], data: Int, reason: String)] = [
            ([Entry(name: "w", ne: [1, 1, 1, 1, 1], type: 0, offset: 0)], 4, "5 dimensions, more than ggml's 4"),
            ([Entry(name: "w", ne: [16], type: 2, offset: 0)], 18, "ne[0] = 16 is not a multiple of Q4_0's block of 32"),
            ([Entry(name: "w", ne: [], type: 8, offset: 0)], 34, "not a multiple of Q8_0's block of 32"),
            ([Entry(name: "w", ne: [1], type: 0, offset: 4)], 8, "data offset 4 is not a multiple of the alignment 32"),
            ([Entry(name: "w", ne: [1 << 40, 1 << 40], type: 0, offset: 0)], 4, "overflows"),
            ([Entry(name: "w", ne: [1 << 61], type: 0, offset: 0)], 4, "overflow"),
            ([Entry(name: "w", ne: [0, 1 << 32, 1 << 32], type: 0, offset: 0)], 4, "overflows"),
            ([Entry(name: "w", ne: [.max], type: 0, offset: 0)], 4, "out of range"),
            ([Entry(name: "w", ne: [1], type: 0, offset: .max - 31)], 4, "out of range"),
            ([Entry(name: "w", ne: [1], type: 0, offset: UInt64(Int.max) - 31)], 4, "ends beyond any file"),
            ([Entry(name: "w", ne: [4], type: 0, offset: 0), Entry(name: "w", ne: [4], type: 0, offset: 32)], 64,
             "tensor name 'w' appears twice"),
            ([Entry(name: "a", ne: [16], type: 0, offset: 0), Entry(name: "b", ne: [4], type: 0, offset: 32)], 64,
             "data of tensors 'a' and 'b' overlap"),
        ]
        for (tensors, data, reason) in cases {
            var builder = GGUFBuilder()
            builder.tensors = tensors
            builder.data = [UInt8](repeating: 0, count: data)
            let got = Self.outcome(builder.bytes())
            #expect(got.contains(reason), "\(reason): \(got)")
        }
        // Empty tensors may share an offset with anything.
        var builder = GGUFBuilder()
        builder.tensors = [Entry(name: "a", ne: [4], type: 0, offset: 0), Entry(name: "e", ne: [0, 3], type: 2, offset: 0)]
        builder.data = [UInt8](repeating: 0, count: 16)
        let path = Self.write(builder.bytes())
        let file = try GGUFFile(path: path)
        #expect(file.tensors.map(\.byteCount) == [16, 0])
        #expect(try file.tensor(named: "e") == Tensor(shape: [3, 0], storage: []))
    }

    @Test func reportsUnknownTensorTypesByID() {
        var builder = GGUFBuilder.oneTensor([1], ne: [1])
        builder.tensors[0].type = 4
        let path = Self.write(builder.bytes())
        #expect(throws: CheckpointError.unsupportedDType(name: "w", dtype: "GGML type 4", path: path)) { try GGUFFile(path: path) }
    }

    @Test func reportsMissingAndUnreadableFiles() {
        #expect(throws: CheckpointError.fileNotFound(path: "/nonexistent/x.gguf")) { try GGUFFile(path: "/nonexistent/x.gguf") }
        #expect(throws: CheckpointError.unreadable(path: "/tmp", reason: "not a regular file")) { try GGUFFile(path: "/tmp") }
        #expect(CheckpointError.malformedGGUF(path: "m.gguf", reason: "bad").description == "m.gguf: malformed GGUF file: bad")
    }

    /// Reads everything `file` offers; none of it may trap, whatever the file says.
    static func exercise(_ file: GGUFFile) {
        for info in file.tensors {
            _ = try? file.tensor(named: info.name)
            _ = try? file.rows(named: info.name, range: 0..<min(1, info.shape.first ?? 1))
            _ = try? file.rawBytes(named: info.name).reduce(0, &+)
        }
        for key in file.metadataKeys { _ = file.metadata[key]?.stringArrayValue }
    }

    /// Every prefix that cuts into the header or tensor data is `.truncated`; one that cuts only the
    /// padding after the last tensor (aligned64_v2.gguf has 54 such bytes) is a complete file.
    @Test(arguments: ["every_type.gguf", "aligned64_v2.gguf", "kquants.gguf"])
    func throwsTruncatedForEveryPrefixOfAValidFile(_ fixture: String) throws {
        let bytes = Support.fixtureBytes(fixture)
        let full = try GGUFFile(path: Support.fixture(fixture))
        let end = full.dataStart + full.tensors.map { $0.offset + $0.byteCount }.max()!
        let directory = Support.scratchDirectory()
        var wrong: [Int] = []
        for length in 0..<bytes.count {
            let path = Support.write(Array(bytes[..<length]), to: directory, name: "prefix.gguf")
            do {
                let file = try GGUFFile(path: path)
                for info in file.tensors where try file.tensor(named: info.name) != full.tensor(named: info.name) {
                    wrong.append(length)
                }
                if length < end { wrong.append(length) }
            } catch {
                if case .truncated(_, let expected, let got) = error, got == length, expected > length {} else { wrong.append(length) }
            }
        }
        #expect(wrong.isEmpty, "prefixes not reported as truncated: \(wrong.prefix(10))")
    }

    @Test func survivesEveryFlippedByte() {
        let bytes = Support.fixtureBytes("every_type.gguf")
        let directory = Support.scratchDirectory()
        var opened = 0
        for offset in bytes.indices {
            for mask: UInt8 in [0xFF, 0x01] {
                var damaged = bytes
                damaged[offset] ^= mask
                let path = Support.write(damaged, to: directory, name: "flipped.gguf")
                guard let file = try? GGUFFile(path: path) else { continue }
                opened += 1
                Self.exercise(file)
            }
        }
        // Flips in tensor data and padding (and some in metadata) leave a valid file.
        #expect(opened > bytes.count)
    }

    @Test func survivesRandomOverwrites() {
        let bytes = Support.fixtureBytes("every_type.gguf")
        let header = 2_000  // the tensor table ends before this offset, where the damage matters most
        let directory = Support.scratchDirectory()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11
        }
        var opened = 0
        for _ in 0..<3_000 {
            var damaged = bytes
            let width = [1, 2, 4, 8][Int(next() % 4)]
            let offset = Int(next() % UInt64(header - width))
            for i in 0..<width { damaged[offset + i] = UInt8(truncatingIfNeeded: next()) }
            guard let file = try? GGUFFile(path: Support.write(damaged, to: directory, name: "random.gguf")) else { continue }
            opened += 1
            Self.exercise(file)
        }
        #expect(opened > 0)
    }
}
