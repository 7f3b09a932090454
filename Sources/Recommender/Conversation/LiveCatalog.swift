import Datasets
import JSON
import Synchronization

/// An item to add while the daemon runs: text only, no interactions (a cold item).
public struct NewItem: Sendable, Equatable {
    public var title: String
    public var description: String
    /// Facets and other fields, as in a prepared catalog (`{"class": ["Comedy"]}`).
    public var metadata: JSONObject
    /// The id in the caller's system; defaults to "added-N".
    public var originalId: String?

    public init(title: String, description: String = "", metadata: JSONObject = [:], originalId: String? = nil) {
        self.title = title
        self.description = description
        self.metadata = metadata
        self.originalId = originalId
    }
}

/// Errors of adding items.
public enum LiveCatalogError: Error, Sendable, Equatable, CustomStringConvertible {
    case duplicateOriginalId(String)
    case wrongId(expected: Int32, got: Int32)

    public var description: String {
        switch self {
        case .duplicateOriginalId(let id): return "an item with originalId '\(id)' is already in the catalog"
        case .wrongId(let expected, let got): return "item id \(got) does not follow the catalog (next id is \(expected))"
        }
    }
}

/// The prepared catalog plus the items added at run time, which take the next dense ids
/// (catalog count + 1, + 2, ...). Added items outlive model swaps: the catalog belongs to the
/// daemon, not to a model set. Thread-safe (a mutex around the additions); reads are cheap.
public final class LiveCatalog: Sendable {
    public let base: Catalog
    private let state: Mutex<State>

    private struct State {
        var added: [CatalogItem] = []
        var originalIds: Set<String>
        var vocabulary: FacetVocabulary
    }

    public init(base: Catalog) {
        self.base = base
        state = Mutex(State(originalIds: Set(base.items.map(\.originalId)), vocabulary: FacetVocabulary(catalog: base)))
    }

    /// Items in all: prepared and added.
    public var count: Int { base.count + state.withLock { $0.added.count } }

    /// Items added at run time, in id order.
    public var added: [CatalogItem] { state.withLock { $0.added } }

    /// Facets of every item, including added ones.
    public var vocabulary: FacetVocabulary { state.withLock { $0.vocabulary } }

    /// Whether `id` is a prepared item (one the collaborative model knows).
    public func isPrepared(_ id: Int32) -> Bool { id >= 1 && Int(id) <= base.count }

    public subscript(id: Int32) -> CatalogItem? {
        if let item = base[id] { return item }
        let index = Int(id) - base.count - 1
        return state.withLock { index >= 0 && index < $0.added.count ? $0.added[index] : nil }
    }

    /// The item as answers describe it: an added item without facet metadata gets the facets its
    /// text names (`FacetVocabulary.add`) under `"facets"`, so that "an animated adventure" is
    /// presented as Animation and Adventure.
    public func describedItem(_ id: Int32) -> CatalogItem? {
        guard var item = self[id] else { return nil }
        guard !isPrepared(id), !item.metadata.keys.contains(where: { item.metadata[$0]?.arrayValue != nil }) else { return item }
        let vocabulary = vocabulary
        let facets = vocabulary.facets(ofItem: id).map(vocabulary.displayName)
        if !facets.isEmpty { item.metadata["facets"] = .array(facets.map { .string($0) }) }
        return item
    }

    /// Whether an item (prepared or added) has this `originalId`.
    public func containsOriginalId(_ originalId: String) -> Bool { state.withLock { $0.originalIds.contains(originalId) } }

    /// Ids in `ids` that are not in the catalog, in order, without repeats.
    public func unknownItems(_ ids: [Int32]) -> [Int32] {
        let total = count
        var seen = Set<Int32>()
        return ids.filter { !($0 >= 1 && Int($0) <= total) && seen.insert($0).inserted }
    }

    /// Adds items with the next ids; all or nothing.
    /// - Parameter ids: the ids they must get (journal replay); nil assigns the next ones.
    public func add(_ items: [NewItem], ids: [Int32]? = nil) throws(LiveCatalogError) -> [CatalogItem] {
        try state.withLock { state throws(LiveCatalogError) -> [CatalogItem] in
            var originalIds = state.originalIds
            var created: [CatalogItem] = []
            for (offset, item) in items.enumerated() {
                let id = Int32(base.count + state.added.count + offset + 1)
                if let wanted = ids?[offset], wanted != id { throw .wrongId(expected: id, got: wanted) }
                let originalId = item.originalId ?? "added-\(id)"
                guard originalIds.insert(originalId).inserted else { throw .duplicateOriginalId(originalId) }
                created.append(CatalogItem(
                    id: id, originalId: originalId, title: item.title, description: item.description, metadata: item.metadata))
            }
            state.originalIds = originalIds
            state.added += created
            for item in created { state.vocabulary.add(item) }
            return created
        }
    }

    /// Takes back the items of the latest `add` (when it could not be made durable), so that their
    /// ids are given again; items that are not the latest added are left alone.
    /// - Returns: whether they were withdrawn.
    @discardableResult
    public func withdraw(_ items: [CatalogItem]) -> Bool {
        state.withLock { state in
            let ids = items.map(\.id)
            guard !ids.isEmpty, state.added.count >= ids.count, Array(state.added.suffix(ids.count).map(\.id)) == ids else { return false }
            state.added.removeLast(ids.count)
            for item in items { state.originalIds.remove(item.originalId) }
            var vocabulary = FacetVocabulary(catalog: base)
            for item in state.added { vocabulary.add(item) }
            state.vocabulary = vocabulary
            return true
        }
    }
}
