import Numerics

/// A safetensors file, memory-mapped read-only and validated on open.
///
/// Opening reads only the header; tensors are converted when asked for. The mapping is released when
/// the object is deallocated. Immutable after `init`, so any thread may call any method.
public final class SafetensorsFile: Sendable {
    public let path: String
    /// Tensor names in the order their data lies in the file.
    public let names: [String]
    /// The header's `__metadata__` object (empty when absent).
    public let metadata: [String: String]

    private let file: MappedFile
    private let header: SafetensorsHeader

    /// Maps `path` and validates its header (see `SafetensorsHeader`).
    /// - Throws: `.fileNotFound`, `.unreadable`, `.truncated` (the header or a tensor's data runs past
    ///   the end of the file), `.malformedHeader`, `.unsupportedDType` (a dtype this reader does not know).
    public init(path: String) throws(CheckpointError) {
        self.path = path
        file = try MappedFile(path: path)
        header = try SafetensorsHeader(file: file.bytes, path: path)
        names = header.names
        metadata = header.metadata
    }

    /// The header entry of tensor `name`.
    public func info(named name: String) throws(CheckpointError) -> TensorInfo {
        guard let info = header.infos[name] else { throw .missingTensor(name: name, path: path) }
        return info
    }

    /// Tensor `name` converted to Float32 (from F32, F16, BF16 or F64; F64 rounds to nearest).
    /// - Throws: `.missingTensor`, `.unsupportedDType` for integer, boolean and 8-bit float tensors.
    public func tensor(named name: String) throws(CheckpointError) -> Tensor {
        let info = try info(named: name)
        guard let values = ElementDecoding.floats(try rawBytes(named: name), dtype: info.dtype,
                                                  layout: ElementLayout(contiguous: info.shape))
        else { throw .unsupportedDType(name: name, dtype: info.dtype.rawValue, path: path) }
        return Tensor(shape: info.shape, storage: values)
    }

    /// Releases the memory-mapped pages holding tensor `name`'s bytes from the resident set (see
    /// `MappedFile.releasePages`); the tensor stays readable.
    public func releasePages(named name: String) throws(CheckpointError) {
        let range = try info(named: name).dataOffsets
        let start = header.dataStart + range.lowerBound
        file.releasePages(start..<(start + range.count))
    }

    /// Tensor `name` as `tensor(named:)` reads it, after checking that its shape is `shape`; a model's
    /// loader calls this with the shape its configuration implies.
    /// - Throws: `.shapeMismatch` besides the errors of `tensor(named:)`.
    public func tensor(named name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        let info = try info(named: name)
        guard info.shape == shape else { throw .shapeMismatch(name: name, expected: shape, got: info.shape, path: path) }
        return try tensor(named: name)
    }

    /// An index tensor's values widened to Int64 (from I64, I32, I16, I8, U32, U16, U8 or BOOL), row-major.
    /// - Throws: `.missingTensor`, `.unsupportedDType` for floating-point and U64 tensors.
    public func int64Values(named name: String) throws(CheckpointError) -> (shape: [Int], values: [Int64]) {
        let info = try info(named: name)
        guard let values = ElementDecoding.integers(try rawBytes(named: name), dtype: info.dtype,
                                                    layout: ElementLayout(contiguous: info.shape))
        else { throw .unsupportedDType(name: name, dtype: info.dtype.rawValue, path: path) }
        return (info.shape, values)
    }

    /// The stored bytes of tensor `name` (little-endian, row-major, `info(named:).dtype` elements),
    /// pointing into the mapping: valid only while this object lives, and never to be written through.
    /// Not aligned to the element size in general; read with `loadUnaligned`.
    public func rawBytes(named name: String) throws(CheckpointError) -> UnsafeRawBufferPointer {
        let range = try info(named: name).dataOffsets
        let start = header.dataStart + range.lowerBound
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<start + range.count])
    }
}
