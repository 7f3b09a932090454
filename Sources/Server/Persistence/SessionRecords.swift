import JSON
import Recommender

/// The records a session's changes are stored as, in the local journal (`SessionJournal`, one per
/// line) and in Redis (`SharedSessions`, one per list element): JSON objects with an `op`:
/// `{"op":"open","id":..,"at":..,"history":[]}`, `{"op":"observe","id":..,"at":..,"events":[[item,"kind"],..]}`,
/// `{"op":"message","id":..,"at":..,"text":..,"understood":{..}}` (a conversation turn),
/// `{"op":"answer","id":..,"turn":..,"text":..}` (the LM's answer to a turn),
/// `{"op":"conversation","id":..,"memory":{..}}` (a whole conversation memory, in snapshots) and
/// `{"op":"close","id":..}`. Replaying a session's records in order rebuilds it exactly.
enum SessionRecords {
    /// The open record alone (a history is stored as an observe record after it).
    static func open(_ session: Session) -> JSONValue {
        ["op": "open", "id": .string(session.id), "at": .number(session.createdAt), "history": []]
    }

    /// The records of a newly opened session: the open, and its history when it has one.
    static func opening(_ session: Session) -> [JSONValue] {
        session.events.isEmpty ? [open(session)] : [open(session), observe(session.id, session.events, at: session.updatedAt)]
    }

    static func observe(_ id: String, _ events: [SessionEvent], at time: Double) -> JSONValue {
        [
            "op": "observe", "id": .string(id), "at": .number(time),
            "events": .array(events.map { [.integer($0.itemId), .string($0.kind.rawValue)] }),
        ]
    }

    static func message(_ id: String, turn: ConversationMemory.Turn, at time: Double) -> JSONValue {
        ["op": "message", "id": .string(id), "at": .number(time), "text": .string(turn.text), "understood": turn.understood.journalJSON]
    }

    static func answer(_ id: String, turn: Int, text: String) -> JSONValue {
        ["op": "answer", "id": .string(id), "turn": .integer(turn), "text": .string(text)]
    }

    static func close(_ id: String) -> JSONValue { ["op": "close", "id": .string(id)] }

    /// Applies one record to `store`; false when it cannot be read (the store is unchanged then).
    static func apply(_ record: JSONValue, to store: inout SessionStore) -> Bool {
        guard let op = record["op"]?.stringValue, let id = record["id"]?.stringValue else { return false }
        let time = record["at"]?.doubleValue ?? 0
        switch op {
        case "open":
            let history = record["history"]?.arrayValue?.compactMap { $0.intValue.map { Int32($0) } } ?? []
            store.restore(Session(id: id, createdAt: time))
            if !history.isEmpty {
                _ = try? store.observe(id: id, events: history.map { SessionEvent(itemId: $0, kind: .viewed) }, at: time)
            }
        case "observe":
            guard let raw = record["events"]?.arrayValue else { return false }
            var events: [SessionEvent] = []
            for pair in raw {
                guard let item = pair.arrayValue?.first?.intValue, let kindName = pair.arrayValue?.last?.stringValue,
                    let kind = InteractionKind(rawValue: kindName)
                else { return false }
                events.append(SessionEvent(itemId: Int32(item), kind: kind))
            }
            _ = try? store.observe(id: id, events: events, at: time)
        case "message":
            guard let text = record["text"]?.stringValue, let understood = record["understood"].flatMap(Understanding.init(journalJSON:)) else {
                return false
            }
            _ = try? store.converse(id: id, turn: .init(text: text, understood: understood), at: time)
        case "answer":
            guard let text = record["text"]?.stringValue, let turn = record["turn"]?.intValue else { return false }
            store.recordAnswer(id: id, turn: Int(turn), text: text)
        case "conversation":
            guard let memory = record["memory"].flatMap(ConversationMemory.init(journalJSON:)) else { return false }
            store.restoreConversation(id: id, memory)
        case "close":
            try? store.close(id: id)
        default:
            return false
        }
        return true
    }
}
