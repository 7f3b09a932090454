import Checkpoints
import Foundation
import Numerics
import Testing

@Suite struct SafetensorsWritingTests {
    static let tensors: [(name: String, tensor: Tensor)] = [
        ("layer.0.weight", Tensor(shape: [2, 3], storage: [1, -2, 3.5, .infinity, -0.0, Float(bitPattern: 0x0001_1000)])),
        ("scalar", Tensor(shape: [], storage: [42])),
        ("empty", Tensor(shape: [0, 7], storage: [])),
        ("naïve \"quoted\"\n\\name", Tensor(shape: [4], storage: [0.25, 0.5, 0.75, 1])),
    ]

    @Test func roundTripsTensorsNamesAndMetadata() throws {
        let path = Support.scratchDirectory() + "/model.safetensors"
        let metadata = ["config": #"{"hidden": 64}"#, "note": "tab\there ✨"]
        try SafetensorsFile.write(tensors: Self.tensors, metadata: metadata, to: path)
        let file = try SafetensorsFile(path: path)
        #expect(file.names == Self.tensors.map(\.name))
        #expect(file.metadata == metadata)
        for (name, tensor) in Self.tensors {
            #expect(try file.info(named: name).dtype == .f32)
            #expect(try file.tensor(named: name).storage.map(\.bitPattern) == tensor.storage.map(\.bitPattern))
            #expect(try file.tensor(named: name).shape == tensor.shape)
        }
    }

    @Test func padsTheHeaderToEightBytesAndLeavesOutEmptyMetadata() throws {
        let path = Support.scratchDirectory() + "/model.safetensors"
        try SafetensorsFile.write(tensors: [("w", Tensor(shape: [1], storage: [1]))], to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let length = Int(bytes[0..<8].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        #expect(length % 8 == 0)
        #expect(bytes.count == 8 + length + 4)
        let header = String(decoding: bytes[8..<8 + length], as: UTF8.self)
        #expect(header.hasPrefix(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#))
        #expect(header.drop { $0 != "}" }.dropFirst(2).allSatisfy { $0 == " " })
        #expect(try SafetensorsFile(path: path).metadata.isEmpty)
    }

    @Test func replacesAnExistingFileAndLeavesNoTemporaryFile() throws {
        let directory = Support.scratchDirectory()
        let path = directory + "/model.safetensors"
        try SafetensorsFile.write(tensors: [("old", Tensor(shape: [1], storage: [1]))], to: path)
        let reader = try SafetensorsFile(path: path)
        try SafetensorsFile.write(tensors: [("new", Tensor(shape: [2], storage: [2, 3]))], to: path)
        // The old mapping stays readable after the rename.
        #expect(try reader.tensor(named: "old").storage == [1])
        #expect(try SafetensorsFile(path: path).names == ["new"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["model.safetensors"])
    }

    @Test func rejectsNamesItCannotStore() {
        let path = Support.scratchDirectory() + "/model.safetensors"
        let one = Tensor(shape: [1], storage: [1])
        for name in ["", "__metadata__"] {
            #expect(throws: CheckpointError.invalidTensorName(name: name, path: path)) {
                try SafetensorsFile.write(tensors: [(name, one)], to: path)
            }
        }
        #expect(throws: CheckpointError.invalidTensorName(name: "a", path: path)) {
            try SafetensorsFile.write(tensors: [("a", one), ("b", one), ("a", one)], to: path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func rejectsStorageThatDoesNotFitItsShape() {
        let path = Support.scratchDirectory() + "/model.safetensors"
        var tensor = Tensor(shape: [2, 2], storage: [1, 2, 3, 4])
        tensor.shape = [3, 2]
        #expect(throws: CheckpointError.shapeMismatch(name: "w", expected: [3, 2], got: [4], path: path)) {
            try SafetensorsFile.write(tensors: [("w", tensor)], to: path)
        }
    }

    @Test func reportsAnUnwritableDirectory() {
        let path = "/nonexistent-llmrec-dir/model.safetensors"
        #expect(throws: CheckpointError.writeFailed(path: path, reason: "No such file or directory")) {
            try SafetensorsFile.write(tensors: [("w", Tensor(shape: [1], storage: [1]))], to: path)
        }
    }
}
