import Foundation
import JSON
import Recommender

/// Errors of the session journal.
public enum JournalError: Error, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "\(path): cannot open session journal (\(reason))"
        case .cannotWrite(let path, let reason): return "\(path): cannot write session journal (\(reason))"
        }
    }
}

/// An append-only log of session changes in `DIR/sessions.journal`, one JSON object per line:
/// `{"op":"open","id":..,"at":..,"history":[..]}`, `{"op":"observe","id":..,"at":..,"events":[[item,"kind"],..]}`,
/// `{"op":"message","id":..,"at":..,"text":..,"understood":{..}}` (a conversation turn),
/// `{"op":"answer","id":..,"turn":..,"text":..}` (the LM's answer to a turn),
/// `{"op":"conversation","id":..,"memory":{..}}` (a session's whole conversation memory, in
/// snapshots), `{"op":"close","id":..}`. Records are written by a `JournalWriter` (group commit off
/// the loop thread): each `record…` returns the record's sequence number, and the daemon answers
/// the request only once the writer reports that number durable, so whatever the daemon
/// acknowledged survives SIGKILL. On open the journal is replayed (a torn last line from a crash is
/// skipped and reported) and rewritten compactly: one open and one observe per live session.
///
/// Loop thread only.
final class SessionJournal {
    let path: String
    let writer: JournalWriter
    /// Lines appended since the last compaction.
    private var appendedSinceCompaction = 0

    /// Opens (creating if needed) the journal in `directory`, replays it into a store, and starts
    /// its writer, which hands every outcome to `report` (on the writer's thread).
    /// - Returns: the journal and the sessions it held, plus the number of unreadable lines skipped.
    static func open(
        directory: String, into store: inout SessionStore, now: Double, report: @escaping @Sendable (JournalOutcome) -> Void
    ) throws(JournalError) -> (journal: SessionJournal, skippedLines: Int) {
        let (path, skipped) = try JournalFile.replay(directory: directory, name: "sessions.journal") { SessionRecords.apply($0, to: &store) }
        _ = store.expire(at: now)
        try JournalFile.replace(path, with: Self.snapshot(store))
        let writer = JournalWriter(
            kind: .sessions, path: path, descriptor: try JournalFile.openForAppending(path, create: false), report: report)
        return (SessionJournal(path: path, writer: writer), skipped)
    }

    private init(path: String, writer: JournalWriter) {
        self.path = path
        self.writer = writer
    }

    /// The open and, when the session starts with a history, its events; the sequence of the last.
    func recordOpen(_ session: Session) -> UInt64 {
        let opened = append(SessionRecords.open(session))
        guard !session.events.isEmpty else { return opened }
        return append(SessionRecords.observe(session.id, session.events, at: session.updatedAt))
    }

    func recordObserve(id: String, events: [SessionEvent], at time: Double) -> UInt64 {
        append(SessionRecords.observe(id, events, at: time))
    }

    func recordMessage(id: String, turn: ConversationMemory.Turn, at time: Double) -> UInt64 {
        append(SessionRecords.message(id, turn: turn, at: time))
    }

    @discardableResult
    func recordAnswer(id: String, turn: Int, text: String) -> UInt64 {
        append(SessionRecords.answer(id, turn: turn, text: text))
    }

    @discardableResult
    func recordClose(id: String) -> UInt64 {
        append(SessionRecords.close(id))
    }

    /// Queues a rewrite of the journal as a snapshot of `store` when it has grown well past the
    /// live data (the snapshot holds exactly the changes submitted before it).
    func compactIfLarge(_ store: SessionStore) {
        guard appendedSinceCompaction > 4 * store.count + 10_000 else { return }
        writer.replace(with: Self.snapshot(store))
        appendedSinceCompaction = 0
    }

    private func append(_ record: JSONValue) -> UInt64 {
        appendedSinceCompaction += 1
        return writer.submit(Array((JSONWriter.compact(record) + "\n").utf8))
    }

    /// One open + one observe (+ one conversation) record per session, oldest first.
    private static func snapshot(_ store: SessionStore) -> [UInt8] {
        var text = ""
        for session in store.all.sorted(by: { $0.createdAt != $1.createdAt ? $0.createdAt < $1.createdAt : $0.id < $1.id }) {
            text += JSONWriter.compact(SessionRecords.open(session)) + "\n"
            if !session.events.isEmpty {
                text += JSONWriter.compact(SessionRecords.observe(session.id, session.events, at: session.updatedAt)) + "\n"
            }
            if !session.conversation.isEmpty {
                let record: JSONValue = ["op": "conversation", "id": .string(session.id), "memory": session.conversation.journalJSON]
                text += JSONWriter.compact(record) + "\n"
            }
        }
        return Array(text.utf8)
    }
}

extension Understanding {
    var journalJSON: JSONValue {
        [
            "preferences": .array(preferences.map { .string($0) }), "exclusions": .array(exclusions.map { .string($0) }),
            "wantedFacets": .array(wantedFacets.map { .string($0) }), "excludedFacets": .array(excludedFacets.map { .string($0) }),
            "reference": reference.map { .string($0.rawValue) } ?? .null,
        ]
    }

    init?(journalJSON json: JSONValue) {
        func strings(_ key: String) -> [String]? { json[key]?.arrayValue?.compactMap(\.stringValue) }
        guard let preferences = strings("preferences"), let exclusions = strings("exclusions"), let wanted = strings("wantedFacets"),
            let excluded = strings("excludedFacets")
        else { return nil }
        self.init(
            preferences: preferences, exclusions: exclusions, wantedFacets: wanted, excludedFacets: excluded,
            reference: json["reference"]?.stringValue.flatMap(Reference.init(rawValue:)))
    }
}

extension ConversationMemory {
    var journalJSON: JSONValue {
        [
            "turns": .array(turns.map {
                [
                    "text": .string($0.text), "understood": $0.understood.journalJSON, "answer": $0.answer.map { .string($0) } ?? .null,
                    "number": .integer($0.number),
                ]
            }),
            "exclusions": .array(exclusions.map { .string($0) }), "excludedFacets": .array(excludedFacets.map { .string($0) }),
            "turnCount": .integer(turnCount),
        ]
    }

    init?(journalJSON json: JSONValue) {
        guard let rawTurns = json["turns"]?.arrayValue else { return nil }
        var turns: [Turn] = []
        for raw in rawTurns {
            guard let text = raw["text"]?.stringValue, let understood = raw["understood"].flatMap(Understanding.init(journalJSON:)) else {
                return nil
            }
            turns.append(Turn(
                text: text, understood: understood, answer: raw["answer"]?.stringValue, number: Int(raw["number"]?.intValue ?? 0)))
        }
        self.init(
            turns: turns, exclusions: json["exclusions"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            excludedFacets: json["excludedFacets"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            turnCount: json["turnCount"]?.intValue.map(Int.init))
    }
}
