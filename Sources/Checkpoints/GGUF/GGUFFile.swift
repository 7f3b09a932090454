import Numerics

/// A GGUF file (llama.cpp's format, versions 2 and 3), memory-mapped read-only and validated on open.
///
/// Opening reads the header, every metadata value and the tensor table (see `GGUFHeader`); tensor data
/// are converted only when asked for. Shapes follow `Tensor`: row-major, `GGUFTensorInfo.shape` is
/// GGUF's `ne` reversed. Immutable after `init`, so any thread may call any method; the mapping is
/// released when the object is deallocated.
public final class GGUFFile: Sendable {
    public let path: String
    /// 2 or 3; the two lay files out alike.
    public let version: Int
    /// Every metadata entry by key (`general.architecture`, `llama.block_count`, `tokenizer.ggml.tokens`, ...).
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// The tensor table in file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment`, or 32 when the file does not set it: tensor offsets and the data section's
    /// start are multiples of it.
    public let alignment: Int
    /// Byte offset of the data section from the start of the file.
    public let dataStart: Int

    private let file: MappedFile
    private let indexByName: [String: Int]

    /// Maps `path` and validates its header.
    /// - Throws: `.fileNotFound`, `.unreadable`, `.truncated` (the header or a tensor's data runs past the
    ///   end of the file), `.malformedGGUF`, `.unsupportedDType` (a tensor type id that ggml does not
    ///   define, as "GGML type N").
    public init(path: String) throws(CheckpointError) {
        self.path = path
        file = try MappedFile(path: path)
        let header = try GGUFHeader(file: file.bytes, path: path)
        version = header.version
        metadata = header.metadata
        metadataKeys = header.metadataKeys
        tensors = header.tensors
        alignment = header.alignment
        dataStart = header.dataStart
        indexByName = header.indexByName
    }

    /// Tensor names in file order.
    public var names: [String] { tensors.map(\.name) }

    // MARK: Metadata

    /// Metadata `key` as a String; nil when absent or of another type.
    public func string(_ key: String) -> String? { metadata[key]?.stringValue }
    /// Metadata `key` of any integer type as Int; nil when absent, of another type, or beyond Int.
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }
    /// Metadata `key` stored as float32 (or float64, rounded); nil when absent or of another type.
    public func float(_ key: String) -> Float? { metadata[key]?.floatValue }
    /// Metadata `key` stored as float32 or float64, as Double; nil when absent or of another type.
    public func double(_ key: String) -> Double? { metadata[key]?.doubleValue }
    public func bool(_ key: String) -> Bool? { metadata[key]?.boolValue }
    /// Metadata `key` as an array of strings (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    public func stringArray(_ key: String) -> [String]? { metadata[key]?.stringArrayValue }
    /// Metadata `key` as an array of any integer type (`tokenizer.ggml.token_type`).
    public func intArray(_ key: String) -> [Int]? { metadata[key]?.intArrayValue }
    /// Metadata `key` as an array of float32 or float64 (`tokenizer.ggml.scores`).
    public func floatArray(_ key: String) -> [Float]? { metadata[key]?.floatArrayValue }

    // MARK: Tensors

    /// The tensor table entry of `name`.
    public func info(named name: String) throws(CheckpointError) -> GGUFTensorInfo {
        guard let index = indexByName[name] else { throw .missingTensor(name: name, path: path) }
        return tensors[index]
    }

    /// Tensor `name` dequantised to Float32, row-major with shape `info(named:).shape`.
    /// Converts the types `GGMLType.dequantises` names (see `GGUFDequantization`); F64 is rounded to nearest.
    /// - Throws: `.missingTensor`, `.unsupportedDType` for every other type (its ggml name).
    public func tensor(named name: String) throws(CheckpointError) -> Tensor {
        let info = try info(named: name)
        return Tensor(shape: info.shape, storage: try elements(of: info, 0..<info.elementCount))
    }

    /// Tensor `name` as `tensor(named:)` reads it, after checking that its row-major shape is `shape`.
    /// - Throws: `.shapeMismatch` besides the errors of `tensor(named:)`.
    public func tensor(named name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        let info = try info(named: name)
        guard info.shape == shape else { throw .shapeMismatch(name: name, expected: shape, got: info.shape, path: path) }
        return try tensor(named: name)
    }

    /// Rows `range` of tensor `name` (along the first dimension of `shape`), dequantised as
    /// `tensor(named:)` does; only the blocks that hold them are read, so an embedding lookup costs one
    /// row. The result has shape `[range.count] + shape.dropFirst()`; a scalar counts as one row of one
    /// element.
    /// - Throws: `.shapeMismatch` (with the shape `range` would need as `expected`) when `range` reaches
    ///   outside `0..<shape[0]`, besides the errors of `tensor(named:)`.
    public func rows(named name: String, range: Range<Int>) throws(CheckpointError) -> Tensor {
        let info = try info(named: name)
        let rows = info.shape.first ?? 1
        let inner = Array(info.shape.dropFirst())
        guard range.lowerBound >= 0, range.upperBound <= rows else {
            throw .shapeMismatch(name: name, expected: [range.upperBound] + inner, got: info.shape, path: path)
        }
        let width = inner.reduce(1, *)
        let values = try elements(of: info, range.lowerBound * width..<range.upperBound * width)
        return Tensor(shape: [range.count] + inner, storage: values)
    }

    /// The stored bytes of tensor `name` (`info(named:).byteCount` bytes of ggml blocks, rows of `ne[0]`
    /// elements one after another), pointing into the mapping: valid only while this object lives, and
    /// never to be written through. Aligned to `alignment` within the file, which the mapping keeps.
    public func rawBytes(named name: String) throws(CheckpointError) -> UnsafeRawBufferPointer {
        rawBytes(of: try info(named: name))
    }

    private func rawBytes(of info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataStart + info.offset
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<start + info.byteCount])
    }

    /// Elements `range` (row-major indices, inside `0..<info.elementCount`) as Float32. Decodes the whole
    /// blocks that cover the range and drops the elements outside it.
    private func elements(of info: GGUFTensorInfo, _ range: Range<Int>) throws(CheckpointError) -> [Float] {
        let type = info.type
        guard type.dequantises else { throw .unsupportedDType(name: info.name, dtype: type.description, path: path) }
        let size = type.blockSize
        let firstBlock = range.lowerBound / size
        let endBlock = (range.upperBound + size - 1) / size
        let raw = rawBytes(of: info)
        let source = UnsafeRawBufferPointer(rebasing: raw[firstBlock * type.blockBytes..<endBlock * type.blockBytes])
        let skip = range.lowerBound - firstBlock * size
        let decodedCount = (endBlock - firstBlock) * size
        if skip == 0 && decodedCount == range.count {
            return [Float](unsafeUninitializedCapacity: range.count) { buffer, initialized in
                _ = GGUFDequantization.decode(type, source, into: buffer)
                initialized = range.count
            }
        }
        var decoded = [Float](repeating: 0, count: decodedCount)
        _ = decoded.withUnsafeMutableBufferPointer { GGUFDequantization.decode(type, source, into: $0) }
        return Array(decoded[skip..<skip + range.count])
    }
}
