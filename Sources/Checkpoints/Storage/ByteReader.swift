/// A bounds-checked little-endian cursor over borrowed bytes.
///
/// Every read checks the remaining length first and throws the error that `overrun` builds from the
/// offset of the failed read, so a parser never reads past `bytes`. The bytes must outlive the reader.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    /// Offset of the next byte to read, from the start of `bytes`.
    var offset: Int
    let overrun: (_ offset: Int) -> CheckpointError

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0, overrun: @escaping (_ offset: Int) -> CheckpointError) {
        self.bytes = bytes
        self.offset = offset
        self.overrun = overrun
    }

    var remaining: Int { bytes.count - offset }

    /// The next `count` bytes as a slice of `bytes`; the cursor moves past them.
    mutating func take(_ count: Int) throws(CheckpointError) -> UnsafeRawBufferPointer {
        guard count >= 0, offset >= 0, count <= bytes.count - offset else { throw overrun(offset) }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
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
}
