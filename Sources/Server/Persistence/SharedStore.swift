import JSONRPC
import LLMRecProtocol
import RedisClient
import Recommender

/// What several daemons share through one Redis: the sessions (`SharedSessions`) and the items added
/// at run time (`SharedCatalog`). Per-daemon caches (the LM's prompt caches, added items' vectors)
/// stay in each daemon and are rebuilt on a miss. Loop thread only, except the catalog's follower.
final class SharedStore {
    let endpoint: RedisEndpoint
    /// The loop thread's connection (sessions, additions).
    let connection: RedisConnection
    let sessions: SharedSessions
    let catalog: SharedCatalog

    private init(endpoint: RedisEndpoint, connection: RedisConnection, sessions: SharedSessions, catalog: SharedCatalog) {
        self.endpoint = endpoint
        self.connection = connection
        self.sessions = sessions
        self.catalog = catalog
    }

    /// Connects, checks that the database serves this dataset, and applies the items added so far.
    /// - Returns: the store and the number of unreadable stream entries skipped.
    static func open(
        _ endpoint: RedisEndpoint, catalog: LiveCatalog, datasetFingerprint: String, timeToLiveSeconds: Double
    ) throws(DaemonError) -> (store: SharedStore, skippedEntries: Int) {
        let connection = RedisConnection(endpoint: endpoint, timeout: 2)
        let shared = SharedCatalog(endpoint: endpoint, catalog: catalog)
        do {
            let skipped = try shared.attach(datasetFingerprint: datasetFingerprint, using: connection)
            let sessions = SharedSessions(connection: connection, timeToLiveSeconds: timeToLiveSeconds)
            return (SharedStore(endpoint: endpoint, connection: connection, sessions: sessions, catalog: shared), skipped)
        } catch {
            throw .cannotLoad("the session store \(endpoint): \(error)")
        }
    }

    /// The `-32014` answer for a failure of this store.
    func unavailable(_ error: RedisError) -> ResponseError {
        LLMRecError.storeUnavailable(store: endpoint.description, reason: error.description)
    }
}
