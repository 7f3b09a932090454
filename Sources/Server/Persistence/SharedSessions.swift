import JSON
import RedisClient
import Recommender

/// Sessions kept in Redis, so that any of several daemons sharing it serves any session.
///
/// Each session is one Redis list, `llmrec:session:ID`, of its records (`SessionRecords`, as in the
/// local journal), with the session's time-to-live as the key's expiry, renewed on use by any
/// daemon. The daemon's `SessionStore` is a cache of those lists: for each cached session it knows
/// how many records it has applied (its version) and the list's first record (which tells this
/// session from one closed and opened again under the same id). A request that reads a session
/// first brings the cache up to date (`refresh`, one round trip: the records past the version); a
/// change to a cached session is appended by a Lua script that also returns the records other
/// daemons appended since that version, atomically (`append`, one round trip): the cache replays
/// them before its own, so two daemons changing one session at once both keep every event, in the
/// order Redis took them. A change is answered only after Redis has taken it (with `appendfsync
/// always`, after Redis's fsync).
///
/// Loop thread only (one blocking connection, short timeouts).
final class SharedSessions {
    /// The cached session is another incarnation than the one in Redis (closed and opened again
    /// elsewhere): nothing was appended and the cached copy is dropped; the request is retried.
    struct StaleCache: Error {
        var id: String
    }

    private struct Cached {
        /// Records applied to the cache.
        var version: Int
        /// The list's first record, as stored.
        var opening: String
    }

    /// What became of queued changes.
    enum FlushOutcome {
        /// Redis took them on top of what the cache held: the answers made with them stand.
        case stored
        /// Redis took them after changes from other daemons, and the cached session was rebuilt in
        /// Redis's order: answers describing the session are made again from it.
        case rebuilt
        case failed(Error)
    }

    /// Changes to one session waiting for the next `flush`, in the order they were made.
    private struct QueuedChanges {
        /// The cached session before the first of them.
        var before: Session
        /// The cache's version and first record when the first was made.
        var base: Cached
        var records: [JSONValue] = []
        /// Called once each, after the flush: nil when Redis took the changes.
        var completions: [(FlushOutcome) -> Void] = []
    }

    let connection: RedisConnection
    /// The sessions' idle time-to-live, in milliseconds (`PEXPIRE`).
    let timeToLiveMilliseconds: Int
    /// How far the expiry may run down before a read renews it: 1% of the time-to-live, at most a minute.
    let renewalSlackMilliseconds: Int
    private var cached: [String: Cached] = [:]
    private var queued: [String: QueuedChanges] = [:]
    /// Sessions with queued changes, in the order of their first.
    private var queueOrder: [String] = []

    init(connection: RedisConnection, timeToLiveSeconds: Double) {
        self.connection = connection
        timeToLiveMilliseconds = max(1, Int((timeToLiveSeconds * 1000).rounded()))
        renewalSlackMilliseconds = min(60_000, timeToLiveMilliseconds / 100)
    }

    /// Whether `id` is in the cache with a known version (a change can then be appended without
    /// reading the session first: the append returns what it missed).
    func isCached(_ id: String) -> Bool { cached[id] != nil }

    static func key(_ id: String) -> String { "llmrec:session:" + id }

    /// `{from, records past from}`, or false when the session does not exist; `from` is 0 (the whole
    /// list) when the first record is not ARGV[4]. Renews the expiry (ARGV[2]) only when it has run
    /// down by more than ARGV[3] milliseconds, so that a read is not a write (which Redis would
    /// append to its log and, with `appendfsync always`, sync).
    private static let syncScript = """
        local remaining = redis.call('PTTL', KEYS[1])
        if remaining == -2 then return false end
        if remaining >= 0 and remaining < tonumber(ARGV[2]) - tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        local from = tonumber(ARGV[1])
        if ARGV[4] == '' or redis.call('LINDEX', KEYS[1], 0) ~= ARGV[4] then from = 0 end
        return {from, redis.call('LRANGE', KEYS[1], from, -1)}
        """

    /// Appends ARGV[4...] to the session whose first record is ARGV[3]; returns the records past
    /// version ARGV[1] that were there before, false (nothing appended) when the session does not
    /// exist, or 0 (nothing appended) when its first record differs.
    private static let appendScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return false end
        if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[3] then return 0 end
        local missed = redis.call('LRANGE', KEYS[1], ARGV[1], -1)
        for i = 4, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
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
    /// loads it when it is not cached (or is another incarnation), removes it from the cache when
    /// Redis no longer has it (closed or expired elsewhere), and renews its expiry when due.
    func refresh(_ id: String, in store: inout SessionStore) throws(RedisError) {
        _ = try refresh([id], in: &store)
    }

    /// `refresh` for several sessions in one pipelined round trip.
    /// - Returns: the ids of those that Redis does not have.
    func refresh(_ ids: [String], in store: inout SessionStore) throws(RedisError) -> Set<String> {
        guard !ids.isEmpty else { return [] }
        let commands = try ids.map { id throws(RedisError) in
            let known = cached[id]
            return try connection.scriptCall(
                Self.syncScript, keys: [Self.key(id)],
                arguments: [String(known?.version ?? 0), String(timeToLiveMilliseconds), String(renewalSlackMilliseconds), known?.opening ?? ""])
        }
        let replies = try connection.pipeline(commands)
        for case .error(let message) in replies {
            if message.hasPrefix("NOSCRIPT") { connection.forgetScripts() }
            throw .server(message)
        }
        var absent = Set<String>()
        for (id, reply) in zip(ids, replies) where !applySync(reply, to: id, in: &store) { absent.insert(id) }
        return absent
    }

    /// Applies a reply of the sync script; false when the session does not exist.
    private func applySync(_ reply: RedisReply, to id: String, in store: inout SessionStore) -> Bool {
        guard let parts = reply.elements, parts.count == 2, let from = parts[0].integer, let records = parts[1].elements else {
            forget(id, in: &store)
            return false
        }
        if from == 0 {
            forget(id, in: &store)
            guard let opening = records.first?.text else { return false }
            cached[id] = Cached(version: 0, opening: opening)
        }
        apply(records, to: id, in: &store)
        if from == 0 { forgetAll(store.evictBeyondCapacity()) }
        return true
    }

    /// Stores a session just opened in the cache; false when Redis already has one with that id
    /// (the cache keeps it; the caller removes it).
    func create(_ session: Session) throws(RedisError) -> Bool {
        let records = SessionRecords.opening(session).map { JSONWriter.compact($0) }
        let reply = try evaluate(Self.openScript, key: session.id, arguments: [String(timeToLiveMilliseconds)] + records)
        guard reply.integer == 1 else { return false }
        cached[session.id] = Cached(version: records.count, opening: records[0])
        return true
    }

    /// Appends a change already applied to the cache (`before` is the session as it was), at once.
    /// When other daemons appended meanwhile, the cached session is rebuilt: `before`, their records,
    /// then these. Throws `SessionError.notFound` when Redis no longer has the session and
    /// `StaleCache` when it holds another incarnation (the cached copy is dropped in both cases).
    func append(_ records: [JSONValue], to id: String, before: Session, in store: inout SessionStore) throws {
        guard let base = cached[id] else { throw StaleCache(id: id) }
        let group = QueuedChanges(before: before, base: base, records: records)
        let encoded = records.map { JSONWriter.compact($0) }
        var reply = try connection.pipeline([try appendCommand(id, group, encoded)])[0]
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            connection.forgetScripts()
            reply = try connection.pipeline([try appendCommand(id, group, encoded)])[0]
        }
        switch settle(reply, of: group, id: id, encoded: encoded, in: &store) {
        case .stored, .rebuilt: return
        case .reopened: throw StaleCache(id: id)
        case .failed(let error): throw error
        }
    }

    /// Whether changes to `id` wait for the next `flush` (its cached copy already shows them).
    func hasQueuedChanges(_ id: String) -> Bool { queued[id] != nil }

    /// Whether any change waits for the next `flush`.
    var hasQueuedChanges: Bool { !queueOrder.isEmpty }

    /// Queues a change already applied to the cached session `id` (`before` is the session as it
    /// was) for the next `flush`, which appends every queued change in one pipelined write: Redis
    /// takes a group of changes with one log write and, with `appendfsync always`, one fsync.
    /// `completion` is called after that flush. The session must be cached.
    /// - Returns: true when the queue was empty before (the caller schedules a flush).
    func queue(_ records: [JSONValue], to id: String, before: Session, completion: @escaping (FlushOutcome) -> Void) -> Bool {
        let wasEmpty = queueOrder.isEmpty
        if queued[id] == nil, let base = cached[id] {
            queued[id] = QueuedChanges(before: before, base: base)
            queueOrder.append(id)
        }
        guard queued[id] != nil else {
            completion(.failed(StaleCache(id: id)))
            return false
        }
        queued[id]?.records += records
        queued[id]?.completions.append(completion)
        return wasEmpty && !queueOrder.isEmpty
    }

    /// Appends every queued change, one script per session, in one pipelined round trip, and brings
    /// the cache in line with what Redis answered: foreign records replayed in order, sessions closed
    /// elsewhere dropped, sessions opened again elsewhere reloaded and the changes appended to them.
    /// - Returns: the completions to call, with their outcome, in the order the changes were made.
    func flush(in store: inout SessionStore) -> [(completion: (FlushOutcome) -> Void, outcome: FlushOutcome)] {
        let order = queueOrder
        let groups = order.compactMap { queued[$0] }
        queued = [:]
        queueOrder = []
        guard !groups.isEmpty else { return [] }
        var outcomes: [(completion: (FlushOutcome) -> Void, outcome: FlushOutcome)] = []
        func finish(_ group: QueuedChanges, _ outcome: FlushOutcome) {
            outcomes += group.completions.map { ($0, outcome) }
        }
        let encoded = groups.map { $0.records.map { JSONWriter.compact($0) } }
        let replies: [RedisReply]
        do {
            let commands = try zip(order, zip(groups, encoded)).map { id, pair throws(RedisError) in try appendCommand(id, pair.0, pair.1) }
            replies = try connection.pipeline(commands)
        } catch {
            for (id, group) in zip(order, groups) {
                if cached[id] != nil { store.restore(group.before) }
                finish(group, .failed(error))
            }
            return outcomes
        }
        for ((id, group), (records, reply)) in zip(zip(order, groups), zip(encoded, replies)) {
            switch settle(reply, of: group, id: id, encoded: records, in: &store) {
            case .reopened: finish(group, retryOnReopened(id, group: group, in: &store).map(FlushOutcome.failed) ?? .rebuilt)
            case .stored: finish(group, .stored)
            case .rebuilt: finish(group, .rebuilt)
            case .failed(let error): finish(group, .failed(error))
            }
        }
        return outcomes
    }

    /// What an append script's reply means for the cache.
    private enum Settled {
        case stored, rebuilt, reopened
        case failed(Error)
    }

    /// The append script for `group`'s records (`encoded`), after the version and first record the
    /// cache had when they were made.
    private func appendCommand(_ id: String, _ group: QueuedChanges, _ encoded: [String]) throws(RedisError) -> [[UInt8]] {
        try connection.scriptCall(
            Self.appendScript, keys: [Self.key(id)],
            arguments: [String(group.base.version), String(timeToLiveMilliseconds), group.base.opening] + encoded)
    }

    /// Brings the cache in line with the append script's `reply` for `group`: its records on top of
    /// the cached version, or the session rebuilt with other daemons' records first; on an error
    /// reply the cached session goes back to `group.before`; a session gone from Redis is dropped.
    /// A cache that moved on meanwhile (evicted, reloaded) is dropped rather than patched.
    private func settle(
        _ reply: RedisReply, of group: QueuedChanges, id: String, encoded: [String], in store: inout SessionStore
    ) -> Settled {
        let stillCached = cached[id]?.version == group.base.version && cached[id]?.opening == group.base.opening
        switch reply {
        case .error(let message):
            if message.hasPrefix("NOSCRIPT") { connection.forgetScripts() }
            if stillCached { store.restore(group.before) }
            return .failed(RedisError.server(message))
        case .integer(0):
            forget(id, in: &store)
            return .reopened
        case .array(let missed?):
            if stillCached && missed.isEmpty {
                cached[id]?.version += encoded.count
                return .stored
            }
            guard stillCached else {
                if cached[id] != nil { forget(id, in: &store) }
                return .stored
            }
            store.restore(group.before)
            apply(missed + encoded.map { .bulk(Array($0.utf8)) }, to: id, in: &store)
            return .rebuilt
        default:
            forget(id, in: &store)
            return .failed(SessionError.notFound(id: id))
        }
    }

    /// Queued changes to a session that was closed and opened again elsewhere: loads the session
    /// as it is now and appends them to it (two round trips; rare).
    private func retryOnReopened(_ id: String, group: QueuedChanges, in store: inout SessionStore) -> Error? {
        var before: Session?
        do {
            try refresh(id, in: &store)
            before = try store.get(id: id, at: group.before.updatedAt)
            for record in group.records { _ = SessionRecords.apply(record, to: &store) }
            try append(group.records, to: id, before: before!, in: &store)
            return nil
        } catch {
            if let before, error is RedisError { store.restore(before) }
            return error
        }
    }

    /// Deletes the session in Redis; false when it was not there.
    func delete(_ id: String, in store: inout SessionStore) throws(RedisError) -> Bool {
        let removed = try connection.command(["DEL", Self.key(id)]).integer ?? 0
        forget(id, in: &store)
        return removed > 0
    }

    /// Drops the cached copy (evicted or idle here; Redis keeps the session for other daemons).
    func forget(_ id: String, in store: inout SessionStore) {
        cached[id] = nil
        try? store.close(id: id)
    }

    /// Drops what is known of sessions the cache no longer holds.
    func forgetAll(_ ids: [String]) {
        for id in ids { cached[id] = nil }
    }

    /// Applies records that follow the cached version, and advances it.
    private func apply(_ records: [RedisReply], to id: String, in store: inout SessionStore) {
        for reply in records {
            guard let text = reply.text, let record = try? JSONValue.parse(text), record["id"]?.stringValue == id else { continue }
            _ = SessionRecords.apply(record, to: &store)
        }
        cached[id]?.version += records.count
    }

    private func evaluate(_ script: String, key id: String, arguments: [String]) throws(RedisError) -> RedisReply {
        try connection.evaluate(script, keys: [Self.key(id)], arguments: arguments)
    }
}
