import Checkpoints
import Foundation
import Numerics
import Testing

/// Damaged and hand-written safetensors files: each must throw the matching typed error, and no
/// damage may crash the reader or make it read outside the file.
@Suite struct SafetensorsCorruptionTests {
    /// A safetensors file from a header text and data bytes.
    static func file(header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        return withUnsafeBytes(of: (length ?? UInt64(json.count)).littleEndian) { Array($0) } + json + data
    }

    static func open(_ bytes: [UInt8], _ label: String = #function) throws(CheckpointError) -> SafetensorsFile {
        try SafetensorsFile(path: Support.write(bytes, to: Support.scratchDirectory(label), name: "x.safetensors"))
    }

    /// The reason of the `.malformedHeader` that opening `bytes` throws; nil for any other outcome.
    static func malformedReason(_ bytes: [UInt8]) -> String? {
        do {
            _ = try open(bytes)
            return nil
        } catch {
            if case .malformedHeader(_, let reason) = error { return reason }
            return nil
        }
    }

    static let f32Entry = #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#

    @Test func rejectsFilesShorterThanTheirLengthFields() throws {
        let directory = Support.scratchDirectory()
        let short = Support.write([1, 0, 0], to: directory, name: "short.safetensors")
        #expect(throws: CheckpointError.truncated(path: short, expected: 8, got: 3)) { try SafetensorsFile(path: short) }
        let long = Support.write(Self.file(header: "{}", length: 1000), to: directory, name: "long.safetensors")
        #expect(throws: CheckpointError.truncated(path: long, expected: 1008, got: 10)) { try SafetensorsFile(path: long) }
        let data = Support.write(Self.file(header: "{\(Self.f32Entry)}", data: [0, 0, 0, 0]), to: directory, name: "data.safetensors")
        let headerLength = "{\(Self.f32Entry)}".utf8.count
        #expect(throws: CheckpointError.truncated(path: data, expected: 8 + headerLength + 8, got: 8 + headerLength + 4)) {
            try SafetensorsFile(path: data)
        }
    }

    @Test func rejectsMalformedHeaders() {
        #expect(Self.malformedReason(Self.file(header: "{}", length: 200_000_000))?.contains("exceeds") == true)
        #expect(Self.malformedReason(Self.file(header: "[1, 2]")) == "header does not start with '{'")
        #expect(Self.malformedReason(Self.file(header: "{\"a\": ")) == "header is not valid JSON")
        let cases: [(header: String, data: Int, reason: String)] = [
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "does not fit"),
            (#"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, 4, "not a list of sizes"),
            (#"{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, 4, "not a list of sizes"),
            (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, "not a list of sizes"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, 4, "data_offsets"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, 4, "data_offsets"),
            (#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, 4, "missing dtype"),
            (#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, 4, "missing shape"),
            (#"{"a":[1]}"#, 0, "entry is not an object"),
            (#"{"__metadata__":{"k":1}}"#, 0, "is not a string"),
            (#"{"__metadata__":[]}"#, 0, "is not an object"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
             12, "overlap"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]}}"#,
             4, "overlap"),
        ]
        for (header, data, reason) in cases {
            let got = Self.malformedReason(Self.file(header: header, data: [UInt8](repeating: 0, count: data)))
            #expect(got?.contains(reason) == true, "\(header): \(got ?? "no malformedHeader")")
        }
    }

    @Test func rejectsUnknownDTypesByName() throws {
        let bytes = Self.file(header: #"{"packed":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#, data: [0])
        let path = Support.write(bytes, to: Support.scratchDirectory(), name: "f4.safetensors")
        #expect(throws: CheckpointError.unsupportedDType(name: "packed", dtype: "F4", path: path)) {
            try SafetensorsFile(path: path)
        }
    }

    @Test func readsUnalignedOffsetsAndPaddedHeaders() throws {
        // A U8 first puts the F32 at an odd offset; trailing spaces pad the header.
        let header = #"{"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}}   "#
        let file = try Self.open(Self.file(header: header, data: [7] + withUnsafeBytes(of: Float(2.5).bitPattern.littleEndian) { Array($0) }))
        #expect(file.names == ["b", "f"])
        #expect(try file.tensor(named: "f").storage == [2.5])
        #expect(try file.int64Values(named: "b").values == [7])
    }

    @Test func throwsTruncatedForEveryPrefixOfAValidFile() {
        let bytes = Support.fixtureBytes("mixed.safetensors")
        let directory = Support.scratchDirectory()
        var wrong: [Int] = []
        for length in 0..<bytes.count {
            let path = Support.write(Array(bytes[..<length]), to: directory, name: "prefix.safetensors")
            do {
                _ = try SafetensorsFile(path: path)
                wrong.append(length)
            } catch {
                if case .truncated = error {} else { wrong.append(length) }
            }
        }
        #expect(wrong.isEmpty, "prefixes not reported as truncated: \(wrong.prefix(10))")
    }

    @Test func survivesEveryFlippedByte() {
        let bytes = Support.fixtureBytes("mixed.safetensors")
        let directory = Support.scratchDirectory()
        var opened = 0
        for offset in bytes.indices {
            for mask: UInt8 in [0xFF, 0x01] {
                var damaged = bytes
                damaged[offset] ^= mask
                let path = Support.write(damaged, to: directory, name: "flipped.safetensors")
                guard let file = try? SafetensorsFile(path: path) else { continue }
                opened += 1
                // Whatever the header now says, reading every tensor stays inside the file.
                for name in file.names {
                    _ = try? file.tensor(named: name)
                    _ = try? file.int64Values(named: name)
                }
            }
        }
        // Flips in tensor data (and some in the JSON) leave a valid file.
        #expect(opened > 0)
    }
}
