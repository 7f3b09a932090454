/// Errors reading or writing a checkpoint file (safetensors or a PyTorch `torch.save` archive).
///
/// Every case names the file; a tensor name is the name inside that file (a state-dict key or a
/// safetensors header key).
public enum CheckpointError: Error, Sendable, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    /// The file exists but cannot be opened, mapped or written (permissions, a directory, disk full).
    case unreadable(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    /// The file is shorter than its own header says: `expected` bytes at least, `got` on disk.
    case truncated(path: String, expected: Int, got: Int)
    /// The safetensors header is not the JSON the format prescribes, or its offsets do not fit.
    case malformedHeader(path: String, reason: String)
    /// The tensor's element type is one this reader cannot convert to what was asked for.
    case unsupportedDType(name: String, dtype: String, path: String)
    case missingTensor(name: String, path: String)
    case shapeMismatch(name: String, expected: [Int], got: [Int], path: String)
    /// A name the writer cannot store: empty, repeated, or the reserved `__metadata__`.
    case invalidTensorName(name: String, path: String)
    /// Not a zip archive as `torch.save` writes it, or its layout (`data.pkl`, `data/<key>`) is broken.
    case notAPyTorchCheckpoint(path: String, reason: String)
    /// A zip entry the reader needs is compressed or encrypted; `torch.save` stores entries uncompressed.
    case compressedEntry(path: String, entry: String, method: Int)
    /// A zip entry's bytes do not match its CRC-32: the file was damaged after it was written.
    case checksumMismatch(path: String, entry: String)
    /// A pickle opcode outside the subset that state dicts use; `offset` is within `data.pkl`.
    case unsupportedPickle(path: String, opcode: UInt8, offset: Int)
    /// The pickle program is inconsistent (stack underflow, unknown memo key, truncated argument, ...).
    case malformedPickle(path: String, reason: String, offset: Int)
    /// The checkpoint holds no dictionary of tensors where `stateDict()` looks for one.
    case noStateDict(path: String, reason: String)
    /// A GGUF file's header, metadata or tensor table breaks the format (bad magic or version, an
    /// unknown value type, a misaligned or overlapping tensor, ...); a short file is `.truncated` instead.
    case malformedGGUF(path: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "\(path): no such file"
        case .unreadable(let path, let reason): return "\(path): cannot read (\(reason))"
        case .writeFailed(let path, let reason): return "\(path): cannot write (\(reason))"
        case .truncated(let path, let expected, let got):
            return "\(path): truncated file: its header needs \(expected) bytes, the file has \(got)"
        case .malformedHeader(let path, let reason): return "\(path): malformed safetensors header: \(reason)"
        case .unsupportedDType(let name, let dtype, let path):
            return "\(path): tensor '\(name)' has element type \(dtype), which cannot be read as requested"
        case .missingTensor(let name, let path): return "\(path): no tensor named '\(name)'"
        case .shapeMismatch(let name, let expected, let got, let path):
            return "\(path): tensor '\(name)' has shape \(got), expected \(expected)"
        case .invalidTensorName(let name, let path):
            return "\(path): cannot store tensor name '\(name)' (empty, repeated or reserved)"
        case .notAPyTorchCheckpoint(let path, let reason): return "\(path): not a PyTorch checkpoint: \(reason)"
        case .compressedEntry(let path, let entry, let method):
            return "\(path): zip entry \(entry) is compressed or encrypted (method \(method)); "
                + "torch.save stores entries uncompressed, so re-save the checkpoint with torch.save"
        case .checksumMismatch(let path, let entry):
            return "\(path): zip entry \(entry) fails its CRC-32 check; the file is damaged"
        case .unsupportedPickle(let path, let opcode, let offset):
            return "\(path): data.pkl uses pickle opcode 0x\(String(opcode, radix: 16)) at offset \(offset), "
                + "which this reader does not support"
        case .malformedPickle(let path, let reason, let offset):
            return "\(path): malformed data.pkl at offset \(offset): \(reason)"
        case .noStateDict(let path, let reason): return "\(path): no state dict found: \(reason)"
        case .malformedGGUF(let path, let reason): return "\(path): malformed GGUF file: \(reason)"
        }
    }
}
