/// Builds a minimal zip archive of stored (uncompressed) entries, as `torch.save` lays them out, so
/// that tests can wrap hand-written or damaged pickles in a valid archive.
enum ZipBuilder {
    /// An entry with its CRC-32, computed once (the tests run unoptimised, where CRC is slow).
    struct Entry {
        let name: String
        let data: [UInt8]
        let crc: UInt32

        init(_ name: String, _ data: [UInt8]) {
            (self.name, self.data, crc) = (name, data, ZipBuilder.crc32(data))
        }
    }

    static func archive(_ entries: [Entry]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            let (data, crc) = (entry.data, entry.crc)
            let offset = out.count
            let nameBytes = Array(entry.name.utf8)
            out += le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + le32(crc)
                + le32(UInt32(data.count)) + le32(UInt32(data.count)) + le16(UInt16(nameBytes.count)) + le16(0)
                + nameBytes + data
            central += le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + le32(crc)
                + le32(UInt32(data.count)) + le32(UInt32(data.count)) + le16(UInt16(nameBytes.count)) + le16(0) + le16(0)
                + le16(0) + le16(0) + le32(0) + le32(UInt32(offset)) + nameBytes
        }
        let directoryOffset = out.count
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(UInt16(entries.count)) + le16(UInt16(entries.count))
            + le32(UInt32(central.count)) + le32(UInt32(directoryOffset)) + le16(0)
        return out
    }

    /// The `archive/data/<key>` entries of a checkpoint.
    static func storageEntries(_ storages: [String: [UInt8]]) -> [Entry] {
        storages.keys.sorted().map { Entry("archive/data/\($0)", storages[$0]!) }
    }

    /// A checkpoint archive named `archive` holding `pickle` as data.pkl and the given storage entries.
    static func checkpoint(pickle: [UInt8], storages: [Entry] = []) -> [UInt8] {
        archive([Entry("archive/data.pkl", pickle), Entry("archive/byteorder", Array("little".utf8))] + storages)
    }

    /// The plain bitwise CRC-32 (polynomial 0xEDB88320), independent of the reader's table version.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xFF) } }
}
