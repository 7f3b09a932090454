@testable import Checkpoints
import Numerics
import Testing

/// Damaged and random pickle programs run straight through `Unpickler`, without the archive and its
/// CRC-32 checks in front: each must return or throw, never trap or read outside its buffers.
@Suite struct UnpicklerFuzzTests {
    /// Runs `program` against the storages of `state_dict.pth`; true when it returned a value.
    static func runs(_ program: [UInt8], storages: [String: Range<Int>], file: UnsafeRawBufferPointer) -> Bool {
        program.withUnsafeBytes { bytes in
            var unpickler = Unpickler(program: bytes, path: "fuzz.pth") { (key) throws(CheckpointError) in
                guard let range = storages[key] else { throw .notAPyTorchCheckpoint(path: "fuzz.pth", reason: "no \(key)") }
                return UnsafeRawBufferPointer(rebasing: file[range])
            }
            return (try? unpickler.run()) != nil
        }
    }

    @Test func neverTrapsOnTruncatedFlippedOrRandomPrograms() throws {
        let fixture = Support.fixtureBytes("state_dict.pth")
        let pickle = Array(fixture[try #require(Support.entryRange("state_dict/data.pkl", in: fixture))])
        var storages: [String: Range<Int>] = [:]
        for key in 0..<40 {
            if let range = Support.entryRange("state_dict/data/\(key)", in: fixture) { storages["\(key)"] = range }
        }
        fixture.withUnsafeBytes { file in
            #expect(Self.runs(pickle, storages: storages, file: file))
            let truncated = (0..<pickle.count).filter { Self.runs(Array(pickle[..<$0]), storages: storages, file: file) }
            #expect(truncated.isEmpty, "truncated programs read: \(truncated.prefix(5))")
            for offset in pickle.indices {
                for mask: UInt8 in [0xFF, 0x80, 0x04, 0x01] {
                    var damaged = pickle
                    damaged[offset] ^= mask
                    _ = Self.runs(damaged, storages: storages, file: file)
                }
            }
            // Programs over the supported opcodes with small arguments reach deep paths quickly.
            let alphabet: [UInt8] = [
                0x28, 0x29, 0x2E, 0x30, 0x47, 0x4A, 0x4B, 0x4D, 0x4E, 0x51, 0x52, 0x58, 0x5D, 0x61, 0x62, 0x63, 0x64,
                0x65, 0x68, 0x6C, 0x71, 0x73, 0x74, 0x75, 0x7D, 0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x93,
                0x94, 0x0A, 0x00, 0x01, 0x02,
            ]
            var generator = SplitMix64(seed: 7)
            for _ in 0..<20_000 {
                let length = Int.random(in: 1...60, using: &generator)
                _ = Self.runs([0x80, 0x02] + (0..<length).map { _ in alphabet.randomElement(using: &generator)! },
                              storages: storages, file: file)
            }
        }
    }
}

/// Truncated and damaged archives read from memory (`PyTorchCheckpoint.root(of:path:)`), so that every
/// offset of a fixture can be tried without a file per case.
@Suite struct CheckpointArchiveFuzzTests {
    static func reads(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { (try? PyTorchCheckpoint.root(of: $0, path: "fuzz.pth")) != nil }
    }

    @Test func throwsForEveryTruncation() {
        let bytes = Support.fixtureBytes("state_dict.pth")
        #expect(Self.reads(bytes))
        let read = (0..<bytes.count).filter { Self.reads(Array(bytes[..<$0])) }
        #expect(read.isEmpty, "truncated archives read: \(read.prefix(10))")
    }

    @Test func rejectsEveryFlippedByteInsideAnEntry() throws {
        let bytes = Support.fixtureBytes("state_dict.pth")
        // Every byte of an entry's data is covered by its CRC-32, so damage there must be reported;
        // damage in the zip structures must be reported or be harmless (a date, an unused field).
        var covered = Set<Int>()
        for entry in ["data.pkl", "byteorder"] + (0..<40).map({ "data/\($0)" }) {
            if let range = Support.entryRange("state_dict/" + entry, in: bytes) { covered.formUnion(range) }
        }
        #expect(covered.count > 2000)
        var undetected: [Int] = []
        for offset in bytes.indices {
            for mask: UInt8 in [0x20, 0x01] {
                var damaged = bytes
                damaged[offset] ^= mask
                if Self.reads(damaged), covered.contains(offset) { undetected.append(offset) }
            }
        }
        #expect(undetected.isEmpty, "damage read without error at \(undetected.prefix(10))")
    }

    /// Each damaged copy must be read or rejected; the test fails only by trapping.
    @Test func survivesEveryFlippedByteOfAZip64Archive() {
        let bytes = Support.fixtureBytes("zip64.pth")
        #expect(Self.reads(bytes))
        for offset in bytes.indices {
            for mask: UInt8 in [0xFF, 0x01] {
                var damaged = bytes
                damaged[offset] ^= mask
                _ = Self.reads(damaged)
            }
        }
    }
}
