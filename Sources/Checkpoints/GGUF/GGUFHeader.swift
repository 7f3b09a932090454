/// The parsed and validated header of a GGUF file (versions 2 and 3): everything before the data section.
///
/// Layout, all little-endian: the magic "GGUF"; u32 version; u64 tensor count; u64 metadata count; the
/// metadata entries (a string key, a u32 `GGUFValueType`, the value); the tensor infos (a string name,
/// u32 dimension count, that many u64 `ne`, u32 `GGMLType`, u64 offset into the data section); zero
/// padding up to a multiple of `general.alignment` (default 32); the data section. A string is a u64
/// byte count and that many UTF-8 bytes; an array is a u32 element type, a u64 count and the elements.
/// Version 1 (32-bit counts) and big-endian files are rejected.
struct GGUFHeader {
    static let defaultAlignment = 32
    static let alignmentKey = "general.alignment"
    /// ggml's GGML_MAX_DIMS.
    static let maximumDimensions = 4
    /// Caps that keep a corrupt count from allocating far more memory than the file holds; real files
    /// stay far below them (a tokenizer vocabulary has a few hundred thousand entries).
    static let maximumArrayCount = 1 << 24
    static let maximumNesting = 8

    let version: Int
    let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    let metadataKeys: [String]
    /// Tensor infos in file order.
    let tensors: [GGUFTensorInfo]
    let indexByName: [String: Int]
    let alignment: Int
    /// Byte offset of the data section from the start of the file.
    let dataStart: Int

    /// Reads and validates the header: magic, version, every metadata value, every tensor info (known
    /// type, at most 4 dimensions, row length a whole number of blocks, size without overflow, offset a
    /// multiple of the alignment), that names and keys are unique, that tensor data do not overlap, and
    /// that every tensor's data lies inside the file.
    init(file bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        func malformed(_ reason: String) -> CheckpointError { .malformedGGUF(path: path, reason: reason) }
        let magic = Array("GGUF".utf8)
        let head = min(magic.count, bytes.count)
        guard bytes[0..<head].elementsEqual(magic[0..<head]) else {
            throw malformed("not a GGUF file (it does not start with \"GGUF\")")
        }
        var cursor = Cursor(bytes: bytes, path: path)
        _ = try cursor.take(magic.count)
        let version = try cursor.u32()
        guard version == 2 || version == 3 else {
            if version == 1 { throw malformed("GGUF version 1 (32-bit counts) is not supported") }
            if version.byteSwapped == 2 || version.byteSwapped == 3 {
                throw malformed("big-endian GGUF files are not supported")
            }
            throw malformed("unsupported GGUF version \(version)")
        }
        self.version = Int(version)
        let tensorCount = try cursor.count(try cursor.u64(), "tensor count")
        let metadataCount = try cursor.count(try cursor.u64(), "metadata count")

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<metadataCount {
            let key = try cursor.string()
            guard metadata[key] == nil else { throw malformed("metadata key '\(key)' appears twice") }
            let type = try cursor.valueType(context: "metadata '\(key)'")
            metadata[key] = try cursor.value(type, depth: 0, key: key)
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = Self.defaultAlignment
        if let value = metadata[Self.alignmentKey] {
            guard let stated = value.intValue else {
                throw malformed("\(Self.alignmentKey) has type \(value.type), not an integer type")
            }
            guard stated > 0, stated & (stated - 1) == 0 else {
                throw malformed("\(Self.alignmentKey) \(stated) is not a power of two")
            }
            alignment = stated
        }
        self.alignment = alignment

        var tensors: [GGUFTensorInfo] = []
        var indexByName: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let info = try cursor.tensorInfo(alignment: alignment)
            guard indexByName[info.name] == nil else { throw malformed("tensor name '\(info.name)' appears twice") }
            indexByName[info.name] = tensors.count
            tensors.append(info)
        }
        self.tensors = tensors
        self.indexByName = indexByName

        let (padded, overflow) = cursor.offset.addingReportingOverflow(alignment - 1)
        guard !overflow else { throw malformed("the tensor table ends beyond any file") }
        dataStart = padded / alignment * alignment
        try Self.checkPlacement(tensors, dataStart: dataStart, fileSize: bytes.count, path: path)
    }

    /// Checks that non-empty tensors do not overlap and that all data lie inside the file.
    private static func checkPlacement(_ tensors: [GGUFTensorInfo], dataStart: Int, fileSize: Int,
                                       path: String) throws(CheckpointError) {
        guard !tensors.isEmpty else { return }
        var end = 0
        var endName = ""
        let placed = tensors.filter { $0.byteCount > 0 }.sorted { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        for info in placed {
            guard info.offset >= end else {
                throw .malformedGGUF(path: path, reason: "data of tensors '\(endName)' and '\(info.name)' overlap")
            }
            let (tensorEnd, overflow) = info.offset.addingReportingOverflow(info.byteCount)
            guard !overflow else {
                throw .malformedGGUF(path: path, reason: "tensor '\(info.name)' ends beyond any file")
            }
            (end, endName) = (tensorEnd, info.name)
        }
        let (required, overflow) = dataStart.addingReportingOverflow(end)
        guard !overflow else { throw .malformedGGUF(path: path, reason: "tensor '\(endName)' ends beyond any file") }
        // Even with only empty tensors, the data section must start inside the file (or at its end).
        guard required <= fileSize else { throw .truncated(path: path, expected: required, got: fileSize) }
    }
}

/// A bounds-checked cursor over a GGUF header whose overruns are `.truncated` with the byte count the
/// failed read needed.
private struct Cursor {
    var reader: ByteReader
    let path: String

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.path = path
        reader = ByteReader(bytes) { offset in .truncated(path: path, expected: offset + 1, got: bytes.count) }
    }

    var offset: Int { reader.offset }

    func malformed(_ reason: String) -> CheckpointError { .malformedGGUF(path: path, reason: reason) }

    /// The error for a read of `count` bytes at the cursor that runs past the end of the file.
    func truncated(needing count: Int) -> CheckpointError {
        let (end, overflow) = reader.offset.addingReportingOverflow(count)
        if overflow { return malformed("a length of \(count) bytes at offset \(reader.offset) exceeds any file") }
        return .truncated(path: path, expected: end, got: reader.bytes.count)
    }

    mutating func take(_ count: Int) throws(CheckpointError) -> UnsafeRawBufferPointer {
        guard count <= reader.remaining else { throw truncated(needing: count) }
        return try reader.take(count)
    }

    mutating func u8() throws(CheckpointError) -> UInt8 { try take(1)[0] }

    mutating func u16() throws(CheckpointError) -> UInt16 {
        UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self))
    }

    mutating func u32() throws(CheckpointError) -> UInt32 {
        UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self))
    }

    mutating func u64() throws(CheckpointError) -> UInt64 {
        UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self))
    }

    /// A stored u64 count, length or offset as Int.
    func count(_ raw: UInt64, _ what: String) throws(CheckpointError) -> Int {
        guard let value = Int(exactly: raw) else { throw malformed("\(what) \(raw) at offset \(offset) is out of range") }
        return value
    }

    mutating func string() throws(CheckpointError) -> String {
        let length = try count(try u64(), "string length")
        return String(decoding: try take(length), as: UTF8.self)
    }

    mutating func valueType(context: String) throws(CheckpointError) -> GGUFValueType {
        let raw = try u32()
        guard let type = GGUFValueType(rawValue: raw) else {
            throw malformed("\(context) has unknown value type \(raw)")
        }
        return type
    }

    /// One metadata value of `type`; `depth` counts the arrays it lies in.
    mutating func value(_ type: GGUFValueType, depth: Int, key: String) throws(CheckpointError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try u8())
        case .int8: return .int8(Int8(bitPattern: try u8()))
        case .uint16: return .uint16(try u16())
        case .int16: return .int16(Int16(bitPattern: try u16()))
        case .uint32: return .uint32(try u32())
        case .int32: return .int32(Int32(bitPattern: try u32()))
        case .uint64: return .uint64(try u64())
        case .int64: return .int64(Int64(bitPattern: try u64()))
        case .float32: return .float32(Float(bitPattern: try u32()))
        case .float64: return .float64(Double(bitPattern: try u64()))
        case .bool:
            let byte = try u8()
            guard byte <= 1 else { throw malformed("metadata '\(key)': bool byte \(byte) is neither 0 nor 1") }
            return .bool(byte == 1)
        case .string: return .string(try string())
        case .array:
            guard depth < GGUFHeader.maximumNesting else {
                throw malformed("metadata '\(key)': arrays nest deeper than \(GGUFHeader.maximumNesting)")
            }
            let elementType = try valueType(context: "array in metadata '\(key)'")
            let count = try count(try u64(), "array length")
            guard count <= GGUFHeader.maximumArrayCount else {
                throw malformed("metadata '\(key)': array of \(count) elements exceeds \(GGUFHeader.maximumArrayCount)")
            }
            // Each element takes at least this many bytes, so a corrupt count fails before allocating.
            let minimum = count * elementType.minimumSize
            guard minimum <= reader.remaining else { throw truncated(needing: minimum) }
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try value(elementType, depth: depth + 1, key: key)) }
            return .array(elementType, elements)
        }
    }

    mutating func tensorInfo(alignment: Int) throws(CheckpointError) -> GGUFTensorInfo {
        let name = try string()
        func invalid(_ reason: String) -> CheckpointError { malformed("tensor '\(name)': \(reason)") }
        let rank = try u32()
        guard rank <= GGUFHeader.maximumDimensions else {
            throw invalid("\(rank) dimensions, more than ggml's \(GGUFHeader.maximumDimensions)")
        }
        var ne: [Int] = []
        for _ in 0..<rank { ne.append(try count(try u64(), "dimension of tensor '\(name)'")) }
        let rawType = try u32()
        guard let type = GGMLType(rawValue: rawType) else {
            throw .unsupportedDType(name: name, dtype: "GGML type \(rawType)", path: path)
        }
        let offset = try count(try u64(), "data offset of tensor '\(name)'")

        // Bounding the product of the non-zero sizes keeps every partial product in range, in any order
        // (an empty tensor may otherwise hide huge sizes behind a zero).
        guard let elementCount = ElementLayout.elementCount(ne), ElementLayout.elementCount(ne.map { max($0, 1) }) != nil
        else { throw invalid("ne \(ne) overflows") }
        let rowLength = ne.first ?? 1
        guard rowLength % type.blockSize == 0 else {
            throw invalid("row length ne[0] = \(rowLength) is not a multiple of \(type)'s block of \(type.blockSize)")
        }
        let (byteCount, overflow) = (elementCount / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
        guard !overflow else { throw invalid("\(type) data of ne \(ne) overflow") }
        guard offset % alignment == 0 else {
            throw invalid("data offset \(offset) is not a multiple of the alignment \(alignment)")
        }
        return GGUFTensorInfo(name: name, ne: ne, shape: ne.reversed(), type: type, offset: offset,
                              byteCount: byteCount, elementCount: elementCount)
    }
}
