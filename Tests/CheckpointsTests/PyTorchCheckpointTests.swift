import Checkpoints
import Foundation
import Numerics
import Testing

/// Reading the `torch.save` fixtures (see `Support` for the generator).
@Suite struct PyTorchCheckpointTests {
    static func expectStateDict(_ file: String, matches expectedFile: String? = nil) throws {
        let checkpoint = try PyTorchCheckpoint(path: Support.fixture(file))
        let expected = try Support.expected(expectedFile ?? file).tensors
        let tensors = try checkpoint.stateDict()
        #expect(tensors.map(\.name) == expected.map(\.name))
        for ((name, tensor), reference) in zip(tensors, expected) {
            #expect(Support.matches(tensor, reference), "\(file): \(name) \(tensor.shape) \(tensor.storage.prefix(6))")
            if let integers = reference.integers {
                #expect(checkpoint.root[name] == .integerTensor(shape: reference.shape, values: integers), "\(file): \(name)")
            }
        }
    }

    @Test func readsEveryTensorOfAStateDictExactly() throws {
        try Self.expectStateDict("state_dict.pth")
    }

    @Test func readsPickleProtocolFive() throws {
        try Self.expectStateDict("state_dict_protocol5.pth")
    }

    @Test func readsZip64Archives() throws {
        try Self.expectStateDict("zip64.pth", matches: "state_dict.pth")
    }

    @Test func readsViewsWithTheirStridesAndOffsets() throws {
        let root = try PyTorchCheckpoint(path: Support.fixture("state_dict.pth")).root
        let base = (0..<12).map { Float($0) / 8 }
        #expect(root["extra.transposed"] == .tensor(Tensor(shape: [4, 3], storage: [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11].map { base[$0] })))
        #expect(root["extra.shared_row"] == .tensor(Tensor(shape: [4], storage: Array(base[4..<8]))))
        #expect(root["extra.expanded"] == .tensor(Tensor(shape: [3, 2], storage: [1.5, -2, 1.5, -2, 1.5, -2])))
        #expect(root["extra.scalar"] == .tensor(Tensor(shape: [], storage: [3.25])))
        #expect(root["extra.empty"] == .tensor(Tensor(shape: [0, 3], storage: [])))
        #expect(root["norm.num_batches_tracked"] == .integerTensor(shape: [], values: [0]))
    }

    @Test func readsTheSASRecKwargsLayout() throws {
        let checkpoint = try PyTorchCheckpoint(path: Support.fixture("sasrec_kwargs.pth"))
        try Self.expectStateDict("sasrec_kwargs.pth")
        let kwargs = try #require(checkpoint.kwargs)
        #expect(kwargs["user_num"]?.intValue == 9)
        #expect(kwargs["item_num"]?.intValue == 7)
        // The argparse.Namespace, as the dict of its attributes in definition order.
        #expect(kwargs["args"] == .dict([
            (.string("dataset"), .string("Movies_and_TV")), (.string("batch_size"), .int(128)),
            (.string("lr"), .double(0.001)), (.string("maxlen"), .int(5)), (.string("hidden_units"), .int(4)),
            (.string("num_blocks"), .int(1)), (.string("num_epochs"), .int(200)), (.string("num_heads"), .int(1)),
            (.string("dropout_rate"), .double(0.5)), (.string("l2_emb"), .double(0)), (.string("device"), .string("cpu")),
            (.string("inference_only"), .bool(false)), (.string("state_dict_path"), .none),
        ]))
        #expect(kwargs.entries?.map(\.key) == [.string("user_num"), .string("item_num"), .string("args")])
        #expect(kwargs["args"]?["lr"]?.doubleValue == 0.001)
        #expect(kwargs["args"]?["device"]?.stringValue == "cpu")
        #expect(kwargs["args"]?["inference_only"]?.boolValue == false)
        #expect(try PyTorchCheckpoint(path: Support.fixture("state_dict.pth")).kwargs == nil)
    }

    @Test func keepsUnsupportedStorageTypesAsObjects() throws {
        let checkpoint = try PyTorchCheckpoint(path: Support.fixture("complex.pth"))
        #expect(checkpoint.root["real"] == .tensor(Tensor(shape: [2], storage: [0.5, 2])))
        guard case .object(let className, let args, _)? = checkpoint.root["complex"] else {
            Issue.record("complex tensor is \(String(describing: checkpoint.root["complex"]))")
            return
        }
        #expect(className == "torch._utils._rebuild_tensor_v2")
        #expect(args.first == .object(className: "torch.ComplexFloatStorage", args: [.string("1"), .string("cpu"), .int(2)], state: nil))
        #expect(args.dropFirst().first == .int(0))
        #expect(args.dropFirst(2).first == .tuple([.int(2)]))
        #expect(throws: CheckpointError.unsupportedDType(name: "complex", dtype: "torch.ComplexFloatStorage", path: checkpoint.path)) {
            try checkpoint.stateDict()
        }
    }

    @Test func explainsFilesItDoesNotRead() {
        let deflated = Support.fixture("deflated.pth")
        #expect(throws: CheckpointError.compressedEntry(path: deflated, entry: "state_dict/byteorder", method: 8)) {
            try PyTorchCheckpoint(path: deflated)
        }
        #expect(CheckpointError.compressedEntry(path: deflated, entry: "e", method: 8).description.contains(deflated))
        for (file, reason) in [("legacy.pth", "legacy torch.save format"), ("mixed.safetensors", "not a zip archive")] {
            do {
                _ = try PyTorchCheckpoint(path: Support.fixture(file))
                Issue.record("\(file) was read")
            } catch {
                guard case .notAPyTorchCheckpoint(let path, let got) = error else {
                    Issue.record("\(file): \(error)")
                    continue
                }
                #expect(path == Support.fixture(file) && got.contains(reason), "\(got)")
            }
        }
        #expect(throws: CheckpointError.fileNotFound(path: "/nonexistent.pth")) { try PyTorchCheckpoint(path: "/nonexistent.pth") }
    }

    @Test func detectsDamagedStorageBytes() throws {
        var bytes = Support.fixtureBytes("state_dict.pth")
        let data = try #require(Support.entryRange("state_dict/data/0", in: bytes))
        bytes[data.lowerBound] ^= 0x01
        let path = Support.write(bytes, to: Support.scratchDirectory(), name: "damaged.pth")
        #expect(throws: CheckpointError.checksumMismatch(path: path, entry: "state_dict/data/0")) {
            try PyTorchCheckpoint(path: path)
        }
    }
}
