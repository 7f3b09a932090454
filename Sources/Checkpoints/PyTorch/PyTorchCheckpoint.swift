import Numerics

/// A checkpoint written by `torch.save` in its default zip format (PyTorch 1.6 and later), read whole.
///
/// The archive holds `<archive>/data.pkl`, a pickle of the saved object whose tensors refer to storages
/// by key, and `<archive>/data/<key>`, each storage's raw little-endian bytes; every entry is stored
/// uncompressed. `init` maps the file, checks every entry it reads against its CRC-32, runs the pickle
/// (see `Unpickler`) and copies every tensor out, so the value owns its data and the file is unmapped
/// when `init` returns. The legacy pre-1.6 format and TorchScript archives are not read.
public struct PyTorchCheckpoint: Sendable {
    public let path: String
    /// The object passed to `torch.save`.
    public let root: PickleValue

    /// - Throws: `.fileNotFound`, `.unreadable`, `.notAPyTorchCheckpoint` (not a zip, no `data.pkl`, a
    ///   missing storage, big-endian storages), `.truncated`, `.compressedEntry`, `.checksumMismatch`,
    ///   `.unsupportedPickle`, `.malformedPickle`.
    public init(path: String) throws(CheckpointError) {
        self.path = path
        let file = try MappedFile(path: path)
        root = try Self.root(of: file.bytes, path: path)
        withExtendedLifetime(file) {}
    }

    /// The saved object of the checkpoint archive `bytes`, read from `path`; throws as `init` does.
    static func root(of bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) -> PickleValue {
        let archive = try ZipArchive(bytes, path: path)
        guard let pickle = archive.entries.first(where: { entry in
            entry.name.hasSuffix("/data.pkl") && entry.name.filter { $0 == "/" }.count == 1
        }) else {
            throw .notAPyTorchCheckpoint(path: path, reason: "no <archive>/data.pkl entry")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        if let order = try archive.data(prefix + "byteorder") {
            let byteOrder = String(decoding: order, as: UTF8.self)
            guard byteOrder == "little" else {
                throw .notAPyTorchCheckpoint(path: path, reason: "storages are \(byteOrder)-endian; only little-endian is read")
            }
        }
        let program = try archive.data(pickle.name) ?? UnsafeRawBufferPointer(start: nil, count: 0)
        var unpickler = Unpickler(program: program, path: path) { (key) throws(CheckpointError) in
            guard let data = try archive.data(prefix + "data/" + key) else {
                throw .notAPyTorchCheckpoint(path: path, reason: "storage \(prefix)data/\(key) is missing")
            }
            return data
        }
        return try unpickler.run()
    }

    /// The first element of a root list or tuple: the constructor arguments in the
    /// `torch.save([kwargs, state_dict])` layout that SASRec uses in A-LLMRec (a dict whose `args`
    /// entry is the training `argparse.Namespace`, itself read as a dict). nil for any other root.
    public var kwargs: PickleValue? { root.elements?.first }

    /// The state dict as (name, tensor) pairs in saved order: the root when it is a dictionary of
    /// tensors, otherwise the last dictionary of tensors among the elements of a root list or tuple.
    ///
    /// Integer tensors are converted to Float32, exact up to 2^24 in magnitude; read `root` for their
    /// Int64 values.
    /// - Throws: `.noStateDict` when there is no such dictionary, `.unsupportedDType` for a tensor of a
    ///   storage type this reader does not convert (complex, quantised, float8).
    public func stateDict() throws(CheckpointError) -> [(name: String, tensor: Tensor)] {
        let candidates: [PickleValue]
        switch root {
        case .dict: candidates = [root]
        case .list(let items), .tuple(let items): candidates = items.reversed()
        default: throw .noStateDict(path: path, reason: "the saved object is neither a dict nor a list or tuple")
        }
        guard let entries = candidates.lazy.compactMap({ Self.tensorEntries($0) }).first else {
            throw .noStateDict(path: path, reason: "no dict whose keys are all strings and whose values are all tensors")
        }
        var tensors: [(name: String, tensor: Tensor)] = []
        tensors.reserveCapacity(entries.count)
        for (name, value) in entries {
            switch value {
            case .tensor(let tensor): tensors.append((name, tensor))
            case .integerTensor(let shape, let values):
                tensors.append((name, Tensor(shape: shape, storage: values.map(Float.init))))
            default:
                // An unconverted tensor: `_rebuild_tensor_v2` of an object named after its storage type.
                var storageType = "unknown"
                if case .object(_, let args, _) = value, case .object(let type, _, _)? = args.first { storageType = type }
                throw .unsupportedDType(name: name, dtype: storageType, path: path)
            }
        }
        return tensors
    }

    /// The entries of a dict with string keys and only tensor values (tensors of unconverted storage
    /// types included); nil for any other value.
    private static func tensorEntries(_ value: PickleValue) -> [(String, PickleValue)]? {
        guard case .dict(let entries) = value else { return nil }
        var result: [(String, PickleValue)] = []
        for (key, item) in entries {
            guard case .string(let name) = key else { return nil }
            switch item {
            case .tensor, .integerTensor: break
            case .object(let className, _, _) where className.hasPrefix("torch._utils._rebuild_tensor"): break
            default: return nil
            }
            result.append((name, item))
        }
        return result
    }
}
