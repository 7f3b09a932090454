import Datasets
import Models
import Numerics
import Synchronization

/// Retrieval through the LM (LLM-SRec) for the conversation: one LM pass over the session's prompt
/// gives the user vector, scored by dot products with item vectors of the whole live catalog. The
/// prepared items' vectors are computed once when the model set loads; an added item's comes from
/// its title (no soft token: it has no interactions) when it is added. Any thread.
public final class RetrievalPath: Sendable {
    public let model: RetrievalModel
    /// Prepared items' vectors, [(items + 1) · 128] (row 0 unused).
    let preparedVectors: [Float]
    private let addedVectors = Mutex<[Int32: (item: CatalogItem, vector: [Float])]>([:])
    private let userReadings = Mutex<[Key: RetrievalModel.UserReading]>([:])

    private struct Key: Hashable {
        var history: [RetrievalPromptBuilder.Entry]
        var wishes: String?
    }

    /// User vectors kept between turns (a turn that changes neither history nor words reuses its
    /// vector); all are dropped when full, as the evaluator's memo does.
    static let keptUserVectors = 256

    /// - preparedVectors: `model.catalogVectors()` (or its cache), [(items + 1) · 128].
    public init(model: RetrievalModel, preparedVectors: [Float]) throws(RetrievalError) {
        let expected = [model.builder.titles.count, RetrievalWeights.vectorSize]
        guard preparedVectors.count == expected[0] * expected[1] else {
            throw .shapeMismatch(name: "catalog vectors", expected: expected, got: [preparedVectors.count])
        }
        self.model = model
        self.preparedVectors = preparedVectors
    }

    /// Whether the model was trained to read the user's words (`llmrec train retrieval --wishes`, or
    /// a word head from `llmrec train words`): only then do a session's words go into its prompt.
    public var listens: Bool { (model.manifest.retrievalWishes ?? 0) > 0 || model.wordHead != nil }

    /// How a live-catalog item appears in a prompt: a prepared item as in training, an added item by
    /// its title alone; nil for an id the catalog does not hold.
    func entry(_ id: Int32, in catalog: LiveCatalog) -> RetrievalPromptBuilder.Entry? {
        if catalog.isPrepared(id) { return model.entry(id) }
        return catalog[id].map { RetrievalPromptBuilder.Entry(title: $0.title, softItem: nil, facets: $0.facets) }
    }

    /// The vector of an added item: one LM pass over its item prompt on first use, then kept (an id
    /// given again to another item after an addition was taken back does not reuse it). Nil when
    /// the LM pass fails.
    func vector(ofAdded item: CatalogItem) -> [Float]? {
        if let kept = addedVectors.withLock({ $0[item.id] }), kept.item == item { return kept.vector }
        guard let vector = try? model.itemVectors(entries: [RetrievalPromptBuilder.Entry(title: item.title, softItem: nil, facets: item.facets)]) else { return nil }
        addedVectors.withLock { $0[item.id] = (item, vector) }
        return vector
    }

    /// The vector of a live-catalog item (prepared: computed at load; added: `vector(ofAdded:)`).
    func itemVector(_ id: Int32, in catalog: LiveCatalog) -> [Float]? {
        let size = RetrievalWeights.vectorSize
        if catalog.isPrepared(id) { return Array(preparedVectors[(Int(id) * size)..<((Int(id) + 1) * size)]) }
        return catalog[id].flatMap(vector(ofAdded:))
    }

    /// The session's reading (user vector and, with a word head and words, the words' facet
    /// preferences), from the last items of `history` (oldest first) and, when given, the user's
    /// words; nil when the LM pass fails.
    func userReading(history: [Int32], wishes: String?, in catalog: LiveCatalog) -> RetrievalModel.UserReading? {
        let key = Key(history: Array(history.compactMap { entry($0, in: catalog) }.suffix(model.builder.template.historyCount)), wishes: wishes)
        if let kept = userReadings.withLock({ $0[key] }) { return kept }
        guard let reading = try? model.userReadings(entries: [key.history], wishes: [wishes]).first else { return nil }
        userReadings.withLock { kept in
            if kept.count >= Self.keptUserVectors { kept.removeAll() }
            kept[key] = reading
        }
        return reading
    }

    /// Scores of `pool` (live-catalog ids) for the session (`RetrievalModel.score`: user vector ·
    /// item vector, plus what the words add through the item's facets); nil when an LM pass fails.
    /// An added item whose vector cannot be computed scores 0.
    func scores(history: [Int32], wishes: String?, pool: [Int32], in catalog: LiveCatalog) -> [Float]? {
        guard let reading = userReading(history: history, wishes: wishes, in: catalog) else { return nil }
        let size = RetrievalWeights.vectorSize
        return pool.map { id in
            if catalog.isPrepared(id) {
                return preparedVectors.withUnsafeBufferPointer {
                    model.score(reading, itemVector: $0.baseAddress! + Int(id) * size, itemColumns: model.columns(ofItem: id))
                }
            }
            guard let item = catalog[id], let vector = vector(ofAdded: item) else { return 0 }
            return vector.withUnsafeBufferPointer { model.score(reading, itemVector: $0.baseAddress!, itemColumns: model.wordHead?.columns(of: item) ?? []) }
        }
    }
}
