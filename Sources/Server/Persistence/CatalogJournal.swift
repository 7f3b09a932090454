import Datasets
import Foundation
import JSON
import Recommender

/// An append-only log of the items added at run time, `DIR/catalog.journal`: one line
/// `{"op":"add","items":[{"id","originalId","title","description","metadata"},..]}` per `catalog/add`,
/// flushed with `fdatasync` before the daemon answers. Replayed at start-up into the live catalog
/// (a torn or unreadable line, or one whose ids do not follow, is skipped and counted).
///
/// Loop thread only.
final class CatalogJournal {
    let path: String
    private let fd: Int32

    /// Opens (creating if needed) the journal in `directory` and replays it into `catalog`.
    static func open(directory: String, into catalog: LiveCatalog) throws(JournalError) -> (journal: CatalogJournal, skippedLines: Int) {
        let path = directory + "/catalog.journal"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotOpen(path: path, reason: error.localizedDescription)
        }
        var skipped = 0
        if let data = FileManager.default.contents(atPath: path) {
            for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                guard let record = try? JSONValue.parse(Array(line)), Self.replay(record, into: catalog) else {
                    skipped += 1
                    continue
                }
            }
        }
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        return (CatalogJournal(path: path, fd: fd), skipped)
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// Appends and syncs one addition.
    func recordAdd(_ items: [CatalogItem]) throws(JournalError) {
        let record: JSONValue = ["op": "add", "items": .array(items.map(\.journalJSON))]
        let line = Array((JSONWriter.compact(record) + "\n").utf8)
        var offset = 0
        while offset < line.count {
            let written = line.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            offset += written
        }
        guard fdatasync(fd) == 0 else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
    }

    private static func replay(_ record: JSONValue, into catalog: LiveCatalog) -> Bool {
        guard record["op"]?.stringValue == "add", let raw = record["items"]?.arrayValue, !raw.isEmpty else { return false }
        var ids: [Int32] = []
        var items: [NewItem] = []
        for entry in raw {
            guard let id = entry["id"]?.intValue, let title = entry["title"]?.stringValue else { return false }
            ids.append(Int32(truncatingIfNeeded: id))
            items.append(NewItem(
                title: title, description: entry["description"]?.stringValue ?? "", metadata: entry["metadata"]?.objectValue ?? [:],
                originalId: entry["originalId"]?.stringValue))
        }
        return (try? catalog.add(items, ids: ids)) != nil
    }
}

extension CatalogItem {
    var journalJSON: JSONValue {
        [
            "id": .integer(id), "originalId": .string(originalId), "title": .string(title), "description": .string(description),
            "metadata": .object(metadata),
        ]
    }
}
