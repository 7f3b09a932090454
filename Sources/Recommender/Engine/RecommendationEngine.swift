import Datasets
import Models

/// One recommended item.
public struct ScoredItem: Sendable, Equatable {
    public var itemId: Int32
    public var score: Float
}

/// Errors of a recommendation request.
public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownItems([Int32])

    public var description: String {
        switch self {
        case .unknownItems(let ids):
            return "unknown item id\(ids.count == 1 ? "" : "s") \(ids.prefix(10).map(String.init).joined(separator: ", "))"
        }
    }
}

/// Turns a session into ranked items with a `SequentialRecommender`, over the whole catalog or a
/// given candidate list, with hard exclusions. Immutable; safe to call from any thread.
public final class RecommendationEngine: Sendable {
    public let recommender: any SequentialRecommender
    public let catalog: Catalog
    /// Semantic catalog search, when an encoder is loaded.
    public let semanticSearch: SemanticSearch?
    private let titleSearch: CatalogSearch

    public init(recommender: any SequentialRecommender, catalog: Catalog, semanticSearch: SemanticSearch? = nil) {
        self.recommender = recommender
        self.catalog = catalog
        self.semanticSearch = semanticSearch
        titleSearch = CatalogSearch(catalog: catalog)
    }

    /// Item ids in `ids` that are not in the catalog, in order, without repeats.
    public func unknownItems(_ ids: [Int32]) -> [Int32] {
        var seen = Set<Int32>()
        return ids.filter { (catalog[$0] == nil) && seen.insert($0).inserted }
    }

    /// The `k` best items for `history` (oldest first), best first, ties by item id.
    /// - candidates: rank only these (duplicates ignored); nil ranks the whole catalog.
    /// - excluded: never returned (ids outside the catalog are ignored; repeats are fine).
    public func recommend(history: [Int32], k: Int, candidates: [Int32]?, excluded: [Int32]) throws(EngineError) -> [ScoredItem] {
        if let candidates {
            let unknown = unknownItems(candidates)
            guard unknown.isEmpty else { throw .unknownItems(unknown) }
        }
        // A dense mask instead of a Set: one byte per item, no hashing on the request path.
        var blocked = [Bool](repeating: false, count: catalog.count + 1)
        for id in excluded where id >= 1 && Int(id) <= catalog.count { blocked[Int(id)] = true }
        var pool: [Int32] = []
        if let candidates {
            pool.reserveCapacity(candidates.count)
            for id in candidates where !blocked[Int(id)] {
                blocked[Int(id)] = true
                pool.append(id)
            }
        } else {
            pool.reserveCapacity(catalog.count)
            for id in 1..<blocked.count where !blocked[id] { pool.append(Int32(id)) }
        }
        guard !pool.isEmpty, k > 0 else { return [] }
        let scores = recommender.scores(history: history, candidates: pool)
        return TopK.select(k, of: zip(pool, scores).map { ScoredItem(itemId: $0, score: $1) })
    }

    /// Items matching `query`, best first: by meaning when an encoder is loaded (`SemanticSearch`),
    /// else by title words (`CatalogSearch`).
    public func search(_ query: String, limit: Int) -> [(item: CatalogItem, score: Double)] {
        semanticSearch?.search(query, limit: limit) ?? titleSearch.search(query, limit: limit)
    }
}

enum TopK {
    /// The `k` items with the highest scores (NaN lowest), ties by smaller item id, best first.
    static func select(_ k: Int, of items: [ScoredItem]) -> [ScoredItem] {
        func better(_ a: ScoredItem, _ b: ScoredItem) -> Bool {
            let left = a.score.isNaN ? -Float.infinity : a.score
            let right = b.score.isNaN ? -Float.infinity : b.score
            return left != right ? left > right : a.itemId < b.itemId
        }
        guard items.count > k else { return items.sorted(by: better) }
        // Keep a sorted window of the best k; catalog-sized inputs with small k stay O(n log k)-ish.
        var best: [ScoredItem] = []
        best.reserveCapacity(k + 1)
        for item in items {
            if best.count == k, let worst = best.last, !better(item, worst) { continue }
            let index = best.firstIndex { better(item, $0) } ?? best.count
            best.insert(item, at: index)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
