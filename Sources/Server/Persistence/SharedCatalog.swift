import Datasets
import Foundation
import JSON
import RedisClient
import Recommender
import Synchronization

/// Errors of the catalog shared through Redis.
enum SharedCatalogError: Error, Sendable, CustomStringConvertible {
    /// The Redis database serves another prepared dataset; item ids would not mean the same thing.
    case otherDataset(stored: String, served: String)
    case duplicateOriginalId(String)

    var description: String {
        switch self {
        case .otherDataset(let stored, let served):
            return "this Redis database holds the live items of dataset \(stored), and this daemon serves \(served): "
                + "use another database (redis://HOST:PORT/DB) for another dataset"
        case .duplicateOriginalId(let id): return "an item with originalId '\(id)' is already in the catalog"
        }
    }
}

/// The items added at run time, shared by every daemon on one Redis through a stream.
///
/// `catalog/add` runs one Lua script that, atomically, checks the new items' `originalId`s against
/// every one added so far (`llmrec:{catalog}:originals`, a set), takes the next positions from a
/// counter (`llmrec:{catalog}:count`) and appends one stream entry (`llmrec:{catalog}:stream`:
/// `first`, the position of its first item, and `items`, their JSON). Positions are given in
/// stream order, so every daemon that applies the stream in order gives an item the same id:
/// prepared items + position. No two daemons ever give one id to two items.
///
/// Each daemon applies the whole stream at start, and then follows it on a thread of its own
/// (`XREAD BLOCK`), so an item added anywhere is in every catalog within one round trip of its
/// addition. The daemon that adds an item also applies the stream up to its entry before
/// answering, so its answer's ids are usable at once. Which daemon applies an entry does not
/// matter: an entry already applied is skipped.
///
/// `add` and `attach` run on the loop thread; the follower on its own thread.
final class SharedCatalog: Sendable {
    /// One hash tag, `{catalog}`, for all four keys: the addition script touches three of them, which
    /// Redis Cluster allows only within one slot.
    static let streamKey = "llmrec:{catalog}:stream"
    static let counterKey = "llmrec:{catalog}:count"
    static let originalsKey = "llmrec:{catalog}:originals"
    static let datasetKey = "llmrec:{catalog}:dataset"

    let endpoint: RedisEndpoint
    let catalog: LiveCatalog
    /// The id of the last stream entry applied ("0-0" before the first).
    private let applied = Mutex<String>("0-0")
    private let stopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)
    private let followerStarted = Atomic<Bool>(false)

    private static let addScript = """
        local base = tonumber(ARGV[1])
        local first = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
        local count = #ARGV - 2
        local originals = {}
        local seen = {}
        for i = 1, count do
          local id = ARGV[i + 2]
          if id == '' then id = 'added-' .. (base + first + i - 1) end
          if seen[id] or redis.call('SISMEMBER', KEYS[2], id) == 1 then return redis.error_reply('DUPLICATE ' .. id) end
          seen[id] = true
          originals[i] = id
        end
        for i = 1, count do redis.call('SADD', KEYS[2], originals[i]) end
        redis.call('SET', KEYS[1], first + count - 1)
        return {first, redis.call('XADD', KEYS[3], '*', 'first', first, 'items', ARGV[2])}
        """

    init(endpoint: RedisEndpoint, catalog: LiveCatalog) {
        self.endpoint = endpoint
        self.catalog = catalog
    }

    /// Claims the Redis database for `fingerprint` (or checks that it serves that dataset) and
    /// applies every entry of the stream. Returns the number of entries that could not be read.
    func attach(datasetFingerprint fingerprint: String, using connection: RedisConnection) throws -> Int {
        try connection.command(["SET", Self.datasetKey, fingerprint, "NX"])
        let stored = try connection.command(["GET", Self.datasetKey]).text ?? fingerprint
        guard stored == fingerprint else { throw SharedCatalogError.otherDataset(stored: stored, served: fingerprint) }
        return try catchUp(through: nil, using: connection)
    }

    /// Adds items for every daemon; returns them with their ids (loop thread).
    func add(_ items: [NewItem], using connection: RedisConnection) throws -> [CatalogItem] {
        for item in items {
            if let original = item.originalId, catalog.containsOriginalId(original) { throw SharedCatalogError.duplicateOriginalId(original) }
        }
        let encoded = JSONWriter.compact(.array(items.map(Self.json)))
        let appliedBefore = catalog.count - catalog.base.count
        let reply: RedisReply
        do {
            reply = try connection.evaluate(
                Self.addScript, keys: [Self.counterKey, Self.originalsKey, Self.streamKey],
                arguments: [String(catalog.base.count), encoded] + items.map { $0.originalId ?? "" })
        } catch {
            guard case .server(let message) = error, message.hasPrefix("DUPLICATE ") else { throw error }
            throw SharedCatalogError.duplicateOriginalId(String(message.dropFirst("DUPLICATE ".count)))
        }
        guard let parts = reply.elements, parts.count == 2, let first = parts[0].integer, let entry = parts[1].text else {
            throw RedisError.protocolViolation("unexpected reply to the catalog script")
        }
        guard first > appliedBefore else {
            // Positions this daemon has already given: Redis lost additions (restarted without its
            // append-only file). Their ids would mean two items; this daemon must be restarted.
            throw RedisError.server("Redis holds fewer added items than this daemon (did it lose its data?)")
        }
        _ = try catchUp(through: entry, using: connection)
        let base = Int64(catalog.base.count)
        return (0..<Int64(items.count)).compactMap { catalog[Int32(base + first + $0)] }
    }

    /// Follows the stream on a thread of its own until `stop`, reconnecting after failures.
    func startFollowing(log: @escaping @Sendable (String) -> Void) {
        guard !followerStarted.exchange(true, ordering: .relaxed) else { return }
        let thread = Thread { [self] in
            let connection = RedisConnection(endpoint: endpoint, timeout: 2)
            var failing = false
            while !stopping.load(ordering: .relaxed) {
                do {
                    let since = applied.withLock { $0 }
                    let reply = try connection.command(["XREAD", "COUNT", "100", "BLOCK", "500", "STREAMS", Self.streamKey, since])
                    if failing { log("shared catalog: following \(endpoint) again") }
                    failing = false
                    guard let streams = reply.elements, let entries = streams.first?.elements?.last?.elements else { continue }
                    apply(entries)
                } catch {
                    if !failing { log("shared catalog: \(error); retrying") }
                    failing = true
                    usleep(250_000)
                }
            }
            stopped.signal()
        }
        thread.name = "llmrec-catalog-follower"
        thread.start()
    }

    /// Stops the follower and waits for it (at most one blocking read, half a second).
    func stop() {
        stopping.store(true, ordering: .relaxed)
        if followerStarted.load(ordering: .relaxed) { stopped.wait() }
    }

    /// Applies the stream's entries after the last applied one, up to `last` (inclusive) or to the
    /// end; returns the number of unreadable entries skipped.
    private func catchUp(through last: String?, using connection: RedisConnection) throws(RedisError) -> Int {
        var skipped = 0
        while true {
            let since = applied.withLock { $0 }
            let reply = try connection.command(["XRANGE", Self.streamKey, "(" + since, last ?? "+", "COUNT", "1000"])
            guard let entries = reply.elements, !entries.isEmpty else { return skipped }
            skipped += apply(entries)
            if let last, entries.last?.elements?.first?.text == last { return skipped }
        }
    }

    /// Applies stream entries in order, skipping those already applied; returns how many could
    /// not be read.
    @discardableResult
    private func apply(_ entries: [RedisReply]) -> Int {
        applied.withLock { applied in
            var skipped = 0
            for entry in entries {
                guard let parts = entry.elements, parts.count == 2, let id = parts[0].text, let fields = parts[1].elements else { continue }
                guard Self.streamID(id, isAfter: applied) else { continue }
                applied = id
                var values: [String: String] = [:]
                for index in stride(from: 0, to: fields.count - 1, by: 2) {
                    if let name = fields[index].text, let value = fields[index + 1].text { values[name] = value }
                }
                guard let first = values["first"].flatMap(Int.init), let text = values["items"],
                    let raw = (try? JSONValue.parse(text))?.arrayValue
                else {
                    skipped += 1
                    continue
                }
                let items = raw.compactMap(Self.newItem)
                let next = catalog.count - catalog.base.count + 1
                guard first >= next else { continue }
                guard first == next, items.count == raw.count,
                    (try? catalog.add(items, ids: (0..<items.count).map { Int32(catalog.base.count + first + $0) })) != nil
                else {
                    skipped += 1
                    continue
                }
            }
            return skipped
        }
    }

    private static func streamID(_ id: String, isAfter other: String) -> Bool {
        func parts(_ text: String) -> (UInt64, UInt64) {
            let pieces = text.split(separator: "-")
            return (UInt64(pieces.first ?? "0") ?? 0, UInt64(pieces.last ?? "0") ?? 0)
        }
        let (a, b) = (parts(id), parts(other))
        return a.0 != b.0 ? a.0 > b.0 : a.1 > b.1
    }

    private static func json(_ item: NewItem) -> JSONValue {
        var object: JSONObject = [
            "title": .string(item.title), "description": .string(item.description), "metadata": .object(item.metadata),
        ]
        if let original = item.originalId { object["originalId"] = .string(original) }
        return .object(object)
    }

    private static func newItem(_ json: JSONValue) -> NewItem? {
        guard let title = json["title"]?.stringValue else { return nil }
        return NewItem(
            title: title, description: json["description"]?.stringValue ?? "", metadata: json["metadata"]?.objectValue ?? [:],
            originalId: json["originalId"]?.stringValue)
    }
}
