import JSON
import RedisClient
import Recommender

/// Sessions kept in Redis, so that any of several daemons sharing it serves any session.
///
/// Each session is one Redis list, `llmrec:session:ID`, of its records (`SessionRecords`, as in the
/// local journal), with the session's time-to-live as the key's expiry, renewed on every use by
/// any daemon. The daemon's `SessionStore` is a cache of those lists: for each cached session it
/// knows how many records it has applied (the session's version). Every request on a session first
/// brings the cache up to date (`refresh`, one round trip: the records past the known version), and
/// every change is appended by a Lua script that also returns the records other daemons appended
/// since that version, atomically: the cache replays them before its own, so two daemons changing
/// one session at once both keep every event, in the order Redis took them. A change is answered
/// only after Redis has taken it (with `appendfsync always`, after Redis's fsync).
///
/// Loop thread only (one blocking connection, short timeouts).
final class SharedSessions {
    let connection: RedisConnection
    /// The sessions' idle time-to-live, in milliseconds (`PEXPIRE`).
    let timeToLiveMilliseconds: Int
    /// Records applied to the cache, per cached session.
    private var versions: [String: Int] = [:]

    init(connection: RedisConnection, timeToLiveSeconds: Double) {
        self.connection = connection
        timeToLiveMilliseconds = max(1, Int((timeToLiveSeconds * 1000).rounded()))
    }

    static func key(_ id: String) -> String { "llmrec:session:" + id }

    /// Returns true if the session exists in Redis (and renews its expiry); appends nothing.
    private static let syncScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return false end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return redis.call('LRANGE', KEYS[1], ARGV[1], -1)
        """

    /// Appends ARGV[3...] to an existing session; returns the records past version ARGV[1] that
    /// were there before, or false (nothing appended) when the session does not exist.
    private static let appendScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return false end
        local missed = redis.call('LRANGE', KEYS[1], ARGV[1], -1)
        for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return missed
        """

    /// Creates a session from ARGV[2...]; 0 (nothing written) when it exists already.
    private static let openScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        for i = 2, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        return 1
        """

    /// Brings the cached session `id` up to date with Redis: appends what other daemons added,
    /// loads it when it is not cached, removes it from the cache when Redis no longer has it
    /// (closed or expired elsewhere), and renews its expiry.
    func refresh(_ id: String, in store: inout SessionStore) throws(RedisError) {
        let known = versions[id] ?? 0
        if known == 0 { try? store.close(id: id) }
        let reply = try evaluate(Self.syncScript, key: id, arguments: [String(known), String(timeToLiveMilliseconds)])
        guard let records = reply.elements else {
            forget(id, in: &store)
            return
        }
        apply(records, to: id, from: known, in: &store)
    }

    /// Stores a session just opened in the cache; false when Redis already has one with that id
    /// (the cache keeps it; the caller removes it).
    func create(_ session: Session) throws(RedisError) -> Bool {
        let records = SessionRecords.opening(session).map { JSONWriter.compact($0) }
        let reply = try evaluate(Self.openScript, key: session.id, arguments: [String(timeToLiveMilliseconds)] + records)
        guard reply.integer == 1 else { return false }
        versions[session.id] = records.count
        return true
    }

    /// Appends a change already applied to the cache (`before` is the session as it was). When
    /// other daemons appended meanwhile, the cached session is rebuilt: `before`, their records, then
    /// these. Throws `SessionError.notFound` (after dropping the cached copy) when Redis no longer
    /// has the session.
    func append(_ records: [JSONValue], to id: String, before: Session, in store: inout SessionStore) throws -> Void {
        let known = versions[id] ?? 0
        let encoded = records.map { JSONWriter.compact($0) }
        let reply = try evaluate(Self.appendScript, key: id, arguments: [String(known), String(timeToLiveMilliseconds)] + encoded)
        guard let missed = reply.elements else {
            forget(id, in: &store)
            throw SessionError.notFound(id: id)
        }
        guard !missed.isEmpty else {
            versions[id] = known + records.count
            return
        }
        store.restore(before)
        apply(missed + encoded.map { .bulk(Array($0.utf8)) }, to: id, from: known, in: &store)
    }

    /// Deletes the session in Redis; false when it was not there.
    func delete(_ id: String, in store: inout SessionStore) throws(RedisError) -> Bool {
        let removed = try connection.command(["DEL", Self.key(id)]).integer ?? 0
        forget(id, in: &store)
        return removed > 0
    }

    /// Drops the cached copy (evicted or idle here; Redis keeps the session for other daemons).
    func forget(_ id: String, in store: inout SessionStore) {
        versions[id] = nil
        try? store.close(id: id)
    }

    /// Drops the versions of sessions the cache no longer holds.
    func forgetAll(_ ids: [String]) {
        for id in ids { versions[id] = nil }
    }

    private func apply(_ records: [RedisReply], to id: String, from known: Int, in store: inout SessionStore) {
        for reply in records {
            guard let text = reply.text, let record = try? JSONValue.parse(text), record["id"]?.stringValue == id else { continue }
            _ = SessionRecords.apply(record, to: &store)
        }
        versions[id] = known + records.count
    }

    private func evaluate(_ script: String, key id: String, arguments: [String]) throws(RedisError) -> RedisReply {
        try connection.command(["EVAL", script, "1", Self.key(id)] + arguments)
    }
}
