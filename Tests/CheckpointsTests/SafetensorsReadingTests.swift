import Checkpoints
import Foundation
import Numerics
import Testing

/// Reading `mixed.safetensors` (written by `safetensors.torch.save_file`; see `Support`).
@Suite struct SafetensorsReadingTests {
    @Test func readsEveryTensorOfEveryDTypeExactly() throws {
        let file = try SafetensorsFile(path: Support.fixture("mixed.safetensors"))
        let expected = try Support.expected("mixed.safetensors")
        #expect(file.names == expected.tensors.map(\.name))
        for tensor in expected.tensors {
            let info = try file.info(named: tensor.name)
            #expect(info.dtype.rawValue == tensor.dtype, "\(tensor.name)")
            #expect(info.shape == tensor.shape, "\(tensor.name)")
            if let bits = tensor.floatBits {
                #expect(try file.tensor(named: tensor.name).storage.map(\.bitPattern) == bits, "\(tensor.name)")
                #expect(throws: CheckpointError.unsupportedDType(name: tensor.name, dtype: tensor.dtype, path: file.path)) {
                    try file.int64Values(named: tensor.name)
                }
            } else {
                let values = try file.int64Values(named: tensor.name)
                #expect(values.shape == tensor.shape && values.values == tensor.integers, "\(tensor.name)")
                #expect(throws: CheckpointError.unsupportedDType(name: tensor.name, dtype: tensor.dtype, path: file.path)) {
                    try file.tensor(named: tensor.name)
                }
            }
        }
    }

    @Test func exposesMetadataAndRawBytes() throws {
        let file = try SafetensorsFile(path: Support.fixture("mixed.safetensors"))
        #expect(file.metadata == (try Support.expected("mixed.safetensors").metadata))
        #expect(file.metadata["note"] == "fixture ✨ \"quoted\"")
        let info = try file.info(named: "i64")
        let raw = try file.rawBytes(named: "i64")
        #expect(raw.count == info.dataOffsets.count && raw.count == 5 * 8)
        #expect(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: Int64.self)) == -1)
        #expect(try file.info(named: "empty").shape == [0, 4])
        #expect(try file.tensor(named: "empty") == Tensor(shape: [0, 4], storage: []))
        #expect(try file.tensor(named: "scalar") == Tensor(shape: [], storage: [-0.75]))
    }

    @Test func checksNamesAndShapesOnRequest() throws {
        let file = try SafetensorsFile(path: Support.fixture("mixed.safetensors"))
        #expect(throws: CheckpointError.missingTensor(name: "nope", path: file.path)) { try file.tensor(named: "nope") }
        #expect(throws: CheckpointError.shapeMismatch(name: "f32", expected: [3, 2], got: [2, 3], path: file.path)) {
            try file.tensor(named: "f32", shape: [3, 2])
        }
        #expect(try file.tensor(named: "f32", shape: [2, 3]) == file.tensor(named: "f32"))
    }

    @Test func reportsMissingAndUnreadableFiles() {
        #expect(throws: CheckpointError.fileNotFound(path: "/nonexistent/x.safetensors")) {
            try SafetensorsFile(path: "/nonexistent/x.safetensors")
        }
        #expect(throws: CheckpointError.unreadable(path: "/tmp", reason: "not a regular file")) {
            try SafetensorsFile(path: "/tmp")
        }
    }
}
