import Datasets
import Foundation
import JSON
import Recommender

/// An append-only log of the items added at run time, `DIR/catalog.journal`: one line
/// `{"op":"add","items":[item as in catalog.jsonl,..]}` per `catalog/add`,
/// flushed with `fdatasync` before the daemon answers. Replayed at start-up into the live catalog
/// (a torn or unreadable line, or one whose ids do not follow, is skipped and counted).
///
/// Loop thread only.
final class CatalogJournal {
    let path: String
    private let fd: Int32

    /// Opens (creating if needed) the journal in `directory` and replays it into `catalog`.
    static func open(directory: String, into catalog: LiveCatalog) throws(JournalError) -> (journal: CatalogJournal, skippedLines: Int) {
        let (path, skipped) = try JournalFile.replay(directory: directory, name: "catalog.journal") { Self.replay($0, into: catalog) }
        let fd = try JournalFile.openForAppending(path, create: true)
        return (CatalogJournal(path: path, fd: fd), skipped)
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// Appends and syncs one addition (on the calling thread: additions are rare and embed their
    /// items on the model lane before the answer anyway); a failed append leaves the file as it was.
    func recordAdd(_ items: [CatalogItem]) throws(JournalError) {
        let record: JSONValue = ["op": "add", "items": .array(items.map(\.json))]
        try JournalFile.append(Array((JSONWriter.compact(record) + "\n").utf8), to: fd, path: path)
    }

    private static func replay(_ record: JSONValue, into catalog: LiveCatalog) -> Bool {
        guard record["op"]?.stringValue == "add", let raw = record["items"]?.arrayValue, !raw.isEmpty else { return false }
        let entries = raw.compactMap(CatalogItem.init(json:))
        guard entries.count == raw.count else { return false }
        let ids = entries.map(\.id)
        let items = entries.map { NewItem(title: $0.title, description: $0.description, metadata: $0.metadata, originalId: $0.originalId) }
        return (try? catalog.add(items, ids: ids)) != nil
    }
}
