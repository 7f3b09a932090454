/// The entries of a zip archive as `torch.save` writes it: every entry stored uncompressed (method 0),
/// ZIP64 records where the archive needs them.
///
/// Reads the end-of-central-directory record (and the ZIP64 one when its locator is present), then
/// the central directory. Every offset and size is checked against the file, so a truncated or damaged
/// archive throws (`.notAPyTorchCheckpoint`, or `.truncated` when an entry's data runs past the end)
/// rather than reading outside `bytes`. The bytes must outlive the archive and every buffer it returns.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: Int
        let flags: Int
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
    }

    let path: String
    /// Entries in central-directory order.
    let entries: [Entry]
    private let index: [String: Int]
    private let bytes: UnsafeRawBufferPointer

    private static let localHeaderSignature: UInt32 = 0x0403_4B50
    private static let centralHeaderSignature: UInt32 = 0x0201_4B50
    private static let endSignature: UInt32 = 0x0605_4B50
    private static let zip64EndSignature: UInt32 = 0x0606_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50

    init(_ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        self.path = path
        self.bytes = bytes
        func corrupt(_ reason: String) -> CheckpointError { .notAPyTorchCheckpoint(path: path, reason: reason) }
        let overrun = { (offset: Int) in corrupt("zip structure runs past the end of the file at offset \(offset)") }

        guard bytes.count >= 4, bytes.loadUnaligned(as: UInt32.self) == Self.localHeaderSignature.littleEndian else {
            if bytes.first == 0x80 {
                throw corrupt("a pickle, not a zip archive: the legacy torch.save format (before PyTorch 1.6) is not "
                    + "supported; re-save it with torch.save(obj, path) from a current PyTorch")
            }
            throw corrupt("not a zip archive")
        }
        let end = try Self.findEnd(bytes, corrupt: corrupt)
        var reader = ByteReader(bytes, offset: end + 10, overrun: overrun)
        var count = Int(try reader.u16())
        _ = try reader.u32()  // central directory size; the entries carry their own lengths
        var directoryOffset = Int(try reader.u32())

        if end >= 20, bytes.loadUnaligned(fromByteOffset: end - 20, as: UInt32.self) == Self.zip64LocatorSignature.littleEndian {
            var locator = ByteReader(bytes, offset: end - 20 + 8, overrun: overrun)
            let recordOffset = try locator.u64()
            guard recordOffset < UInt64(end) else { throw corrupt("ZIP64 end record offset \(recordOffset) is out of range") }
            var record = ByteReader(bytes, offset: Int(recordOffset), overrun: overrun)
            guard try record.u32() == Self.zip64EndSignature else { throw corrupt("no ZIP64 end record where its locator points") }
            _ = try record.take(8 + 2 + 2 + 4 + 4 + 8)  // record size, versions, disk numbers, entries on this disk
            let total = try record.u64()
            _ = try record.u64()  // central directory size
            let offset = try record.u64()
            guard total < UInt64(bytes.count), offset < UInt64(bytes.count) else {
                throw corrupt("ZIP64 end record counts are out of range")
            }
            (count, directoryOffset) = (Int(total), Int(offset))
        }

        var entries: [Entry] = []
        var index: [String: Int] = [:]
        var directory = ByteReader(bytes, offset: directoryOffset, overrun: overrun)
        for _ in 0..<count {
            let entry = try Self.centralEntry(&directory, corrupt: corrupt)
            index[entry.name] = entries.count
            entries.append(entry)
        }
        self.entries = entries
        self.index = index
    }

    /// The bytes of entry `name`, after checking that it is stored uncompressed, lies inside the file
    /// and matches its CRC-32. Returns nil when there is no such entry.
    func data(_ name: String) throws(CheckpointError) -> UnsafeRawBufferPointer? {
        guard let position = index[name] else { return nil }
        let entry = entries[position]
        func corrupt(_ reason: String) -> CheckpointError {
            .notAPyTorchCheckpoint(path: path, reason: "zip entry \(name): \(reason)")
        }
        guard entry.method == 0, entry.flags & 1 == 0 else {
            throw .compressedEntry(path: path, entry: name, method: entry.method)
        }
        guard entry.compressedSize == entry.uncompressedSize else { throw corrupt("stored entry sizes differ") }
        var local = ByteReader(bytes, offset: entry.localHeaderOffset) { _ in
            corrupt("local header runs past the end of the file")
        }
        guard try local.u32() == Self.localHeaderSignature else {
            throw corrupt("no local header at offset \(entry.localHeaderOffset)")
        }
        _ = try local.take(22)  // version, flags, method, time, date, CRC and sizes (the central directory's are used)
        let nameLength = Int(try local.u16())
        let extraLength = Int(try local.u16())
        _ = try local.take(nameLength + extraLength)
        let dataStart = local.offset
        guard entry.compressedSize <= bytes.count - dataStart else {
            throw .truncated(path: path, expected: dataStart + entry.compressedSize, got: bytes.count)
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<dataStart + entry.compressedSize])
        guard CRC32.checksum(data) == entry.crc32 else { throw .checksumMismatch(path: path, entry: name) }
        return data
    }

    /// Offset of the end-of-central-directory record: the last signature whose comment ends the file.
    private static func findEnd(
        _ bytes: UnsafeRawBufferPointer, corrupt: (String) -> CheckpointError
    ) throws(CheckpointError) -> Int {
        let fixed = 22
        guard bytes.count >= fixed else { throw corrupt("\(bytes.count) bytes are too few for a zip archive") }
        let lowest = max(0, bytes.count - fixed - 0xFFFF)
        var candidate = bytes.count - fixed
        while candidate >= lowest {
            if bytes.loadUnaligned(fromByteOffset: candidate, as: UInt32.self) == endSignature.littleEndian {
                let commentLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: candidate + 20, as: UInt16.self)))
                if candidate + fixed + commentLength == bytes.count { return candidate }
            }
            candidate -= 1
        }
        throw corrupt("no end-of-central-directory record (the file is truncated or not a zip archive)")
    }

    private static func centralEntry(
        _ reader: inout ByteReader, corrupt: @escaping (String) -> CheckpointError
    ) throws(CheckpointError) -> Entry {
        guard try reader.u32() == centralHeaderSignature else {
            throw corrupt("bad central directory entry at offset \(reader.offset - 4)")
        }
        _ = try reader.take(4)  // versions
        let flags = Int(try reader.u16())
        let method = Int(try reader.u16())
        _ = try reader.take(4)  // time, date
        let crc = try reader.u32()
        var compressed = UInt64(try reader.u32())
        var uncompressed = UInt64(try reader.u32())
        let nameLength = Int(try reader.u16())
        let extraLength = Int(try reader.u16())
        let commentLength = Int(try reader.u16())
        _ = try reader.take(8)  // disk, internal and external attributes
        var localOffset = UInt64(try reader.u32())
        let name = String(decoding: try reader.take(nameLength), as: UTF8.self)
        var extra = ByteReader(try reader.take(extraLength), overrun: { _ in corrupt("entry \(name): truncated extra field") })
        _ = try reader.take(commentLength)

        while extra.remaining >= 4 {
            let id = try extra.u16()
            let length = Int(try extra.u16())
            var field = ByteReader(try extra.take(length)) { _ in corrupt("entry \(name): truncated ZIP64 field") }
            guard id == 0x0001 else { continue }
            // Present only for the fields saturated in the fixed header, in this order.
            if uncompressed == 0xFFFF_FFFF { uncompressed = try field.u64() }
            if compressed == 0xFFFF_FFFF { compressed = try field.u64() }
            if localOffset == 0xFFFF_FFFF { localOffset = try field.u64() }
        }
        let limit = UInt64(Int.max)
        guard compressed <= limit, uncompressed <= limit, localOffset <= limit else {
            throw corrupt("entry \(name): sizes out of range")
        }
        return Entry(name: name, method: method, flags: flags, crc32: crc, compressedSize: Int(compressed),
                     uncompressedSize: Int(uncompressed), localHeaderOffset: Int(localOffset))
    }
}
