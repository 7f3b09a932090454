import Datasets
import Foundation
import JSON
import Recommender

/// An append-only log of the items added at run time, `DIR/catalog.journal`: one line
/// `{"op":"add","items":[item as in catalog.jsonl,..]}` per `catalog/add`,
/// written by a `JournalWriter` (group commit off the loop thread) and durable before the daemon
/// answers. Replayed at start-up into the live catalog (a torn or unreadable line, or one whose ids
/// do not follow, is skipped and counted).
///
/// Loop thread only.
final class CatalogJournal {
    let path: String
    let writer: JournalWriter

    /// Opens (creating if needed) the journal in `directory`, replays it into `catalog` and starts
    /// its writer, which hands every outcome to `report` (on the writer's thread).
    static func open(
        directory: String, into catalog: LiveCatalog, report: @escaping @Sendable (JournalOutcome) -> Void
    ) throws(JournalError) -> (journal: CatalogJournal, skippedLines: Int) {
        let (path, skipped) = try JournalFile.replay(directory: directory, name: "catalog.journal") { Self.replay($0, into: catalog) }
        let writer = JournalWriter(kind: .catalog, path: path, descriptor: try JournalFile.openForAppending(path, create: true), report: report)
        return (CatalogJournal(path: path, writer: writer), skipped)
    }

    private init(path: String, writer: JournalWriter) {
        self.path = path
        self.writer = writer
    }

    /// Queues one addition; returns the record's sequence number (see `JournalWriter`).
    func recordAdd(_ items: [CatalogItem]) -> UInt64 {
        let record: JSONValue = ["op": "add", "items": .array(items.map(\.json))]
        return writer.submit(Array((JSONWriter.compact(record) + "\n").utf8))
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
