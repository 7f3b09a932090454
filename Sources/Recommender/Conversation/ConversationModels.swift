import Datasets
import Foundation
import JSON
import Models
import Numerics
import Synchronization

/// Everything a conversation turn uses, loaded together and swapped together (`model/load`): the
/// collaborative recommender, the sentence encoder and the catalog's text vectors, the A-LLMRec
/// bundle (stage-1 MLPs for the text path, stage-2 projectors and LM for ranking), and the LM that
/// writes answers. Immutable apart from two caches that are safe to share: the text vectors of
/// items added at run time, and the sessions' LM prefix caches. Any thread.
public final class ConversationModels: Sendable {
    /// Where the parts came from, for `model/status`.
    public struct Source: Sendable, Equatable {
        public var bundle: String?
        public var languageModel: String?
        public var encoder: String?

        public init(bundle: String? = nil, languageModel: String? = nil, encoder: String? = nil) {
            self.bundle = bundle
            self.languageModel = languageModel
            self.encoder = encoder
        }
    }

    public let engine: RecommendationEngine
    public let source: Source
    /// A-LLMRec: stage 1 always, stage 2 and its LM when the bundle has them.
    public let allmrec: ALLMRecModel?
    /// A-LLMRec ranking of a shortlist (needs stage 2 and the LM).
    public let ranker: ALLMRecRanker?
    /// The LM that writes answers (the bundle's, or one named on its own).
    public let languageModel: LanguageModel?
    /// Retrieval through the LM, when the bundle has a retrieval model (it shares the LM above).
    public let retrieval: RetrievalPath?
    /// The weights a request starts from: the bundle's tuned blend when it has one.
    public let defaultWeights: BlendWeights
    /// Unit-length text vectors of the prepared items, [(items + 1) · dim] (row 0 zero).
    let itemTextVectors: [Float]
    /// Unit-length stage-1 latents of the prepared items (the collaborative side), [(items + 1) · 128].
    let itemLatents: [Float]
    let chatCaches: SessionCacheStore<PromptCache>
    let rankingCaches: SessionCacheStore<PromptCache>
    /// Tokens one session's cached conversation may hold.
    let chatCacheTokens: Int
    private let addedVectors = Mutex<[Int32: ItemVectors]>([:])

    /// Vectors of one item for the text path.
    struct ItemVectors: Sendable {
        /// Unit-length sentence embedding of the item's text.
        var text: [Float]
        /// Unit-length stage-1 latent (text MLP for added items), or empty without stage 1.
        var latent: [Float]
        /// For an added item: the prepared items whose texts are closest to its text, closest first
        /// (what stands in for its collaborative score). Empty for prepared items.
        var neighbours: [Int32] = []
        /// For an added item: the item the vectors were embedded from (an id given again to another
        /// item, after an addition was taken back, does not reuse them).
        var item: CatalogItem?
    }

    /// Prepared items that stand in for an added item's collaborative score.
    static let neighbourCount = 10

    /// - itemTextEmbeddings: the encoder's embeddings of every prepared item's text,
    ///   [(items + 1) · dim] as `CatalogEmbeddings` returns them; required with an encoder.
    public init(
        engine: RecommendationEngine, source: Source, allmrec: ALLMRecModel?, languageModel: LanguageModel?,
        itemTextEmbeddings: [Float]?, retrieval: RetrievalPath? = nil, defaultWeights: BlendWeights = BlendWeights(),
        chatCacheSessions: Int = 8, chatCacheTokens: Int = 1024
    ) throws(ALLMRecError) {
        self.engine = engine
        self.retrieval = retrieval
        self.defaultWeights = defaultWeights
        self.source = source
        self.allmrec = allmrec
        self.languageModel = languageModel
        ranker = allmrec.flatMap { $0.projectors != nil && $0.languageModel != nil ? try? ALLMRecRanker(model: $0) : nil }
        let rows = engine.catalog.count + 1
        if let encoder = engine.semanticSearch?.encoder, let itemTextEmbeddings {
            guard itemTextEmbeddings.count == rows * encoder.dimension else {
                throw .shapeMismatch(name: "item text embeddings", expected: [rows, encoder.dimension], got: [itemTextEmbeddings.count])
            }
            itemTextVectors = VectorMath.unitRows(itemTextEmbeddings, width: encoder.dimension)
        } else {
            itemTextVectors = []
        }
        itemLatents = allmrec.map { VectorMath.unitRows($0.itemLatents, width: TwoLayerMLP.latentSize) } ?? []
        chatCaches = SessionCacheStore(sessions: chatCacheSessions)
        rankingCaches = SessionCacheStore(sessions: chatCacheSessions)
        self.chatCacheTokens = chatCacheTokens
    }

    public var encoder: SentenceEncoder? { engine.semanticSearch?.encoder }

    /// What the bundle's domain calls an item ("movie"), from its retrieval template; nil without one.
    public var itemNoun: String? { retrieval?.model.builder.template.noun }

    /// Whether the text path can score (an encoder is loaded).
    public var hasTextPath: Bool { encoder != nil }

    /// Bytes of the LM's weights and of the text path's tables (the large parts; the process's
    /// resident memory is in `server/status`).
    public var residentModelBytes: Int {
        let lm = languageModel ?? allmrec?.languageModel
        return (itemTextVectors.count + itemLatents.count + (retrieval?.preparedVectors.count ?? 0)) * 4 + (lm?.decoder.weightBytes ?? 0)
    }

    /// Sessions holding an LM cache (conversation or ranking prompt), and the bytes they take.
    public var chatCacheUsage: (sessions: Int, bytes: Int) {
        let (chat, ranking) = (chatCaches.usage, rankingCaches.usage)
        return (max(chat.sessions, ranking.sessions), chat.bytes + ranking.bytes)
    }

    /// Forgets a session's LM caches (the session ended).
    public func dropChatCache(session: String) {
        chatCaches.drop(session)
        rankingCaches.drop(session)
    }

    /// The unit-length sentence embedding and stage-1 text latent of a query text.
    func queryVectors(_ text: String) -> ItemVectors? {
        guard let encoder else { return nil }
        let embedding = encoder.embed([text])[0]
        return ItemVectors(text: VectorMath.unitRows(embedding, width: embedding.count), latent: textLatent(embedding))
    }

    /// Cosine similarities of `query` with every prepared item's text and, with stage 1, latent:
    /// one matrix-vector product each, [items + 1] indexed by item id (index 0 unused); `latent` is
    /// nil without stage 1 on both sides. Zeros without the catalog's text vectors.
    func preparedSimilarities(to query: ItemVectors) -> (text: [Float], latent: [Float]?) {
        let rows = engine.catalog.count + 1
        func products(_ table: [Float], _ vector: [Float]) -> [Float] {
            var result = [Float](repeating: 0, count: rows)
            guard !vector.isEmpty, table.count == rows * vector.count else { return result }
            table.withUnsafeBufferPointer { matrix in
                vector.withUnsafeBufferPointer { x in
                    result.withUnsafeMutableBufferPointer { out in
                        BLAS.gemm(
                            transposeB: true, m: 1, n: rows, k: vector.count, a: x.baseAddress!, lda: vector.count, b: matrix.baseAddress!,
                            ldb: vector.count, c: out.baseAddress!, ldc: rows)
                    }
                }
            }
            return result
        }
        let latent = query.latent.isEmpty || itemLatents.isEmpty ? nil : products(itemLatents, query.latent)
        return (products(itemTextVectors, query.text), latent)
    }

    /// Text vectors of an added item: embedded on first use and kept.
    func vectors(ofAdded item: CatalogItem) -> ItemVectors? {
        guard let encoder else { return nil }
        if let cached = addedVectors.withLock({ $0[item.id] }), cached.item == item { return cached }
        let embedding = encoder.embed([Self.text(ofAdded: item)])[0]
        let unit = VectorMath.unitRows(embedding, width: encoder.dimension)
        var vectors = ItemVectors(text: unit, latent: textLatent(embedding), item: item)
        let similarities = preparedSimilarities(to: vectors).text.dropFirst()
        vectors.neighbours = similarities.indices.sorted { similarities[$0] != similarities[$1] ? similarities[$0] > similarities[$1] : $0 < $1 }
            .prefix(Self.neighbourCount).map { Int32($0) }
        addedVectors.withLock { $0[item.id] = vectors }
        return vectors
    }

    /// The text an added item is embedded from: as for prepared items, plus its facets (genres,
    /// categories) when its description does not already name them, since prepared descriptions
    /// carry them ("Genres: Comedy.").
    static func text(ofAdded item: CatalogItem) -> String {
        let text = CatalogEmbeddings.text(of: item, field: .text)
        let facets = item.facets.filter { !item.description.localizedCaseInsensitiveContains($0) }
        return facets.isEmpty ? text : text + " " + facets.joined(separator: ", ") + "."
    }

    /// `catalog/search` over the live catalog: the engine's search of the prepared items, merged
    /// with the added items scored the same way (by meaning with an encoder: cosine, an exact title
    /// 2; else by title words), best first, ties by item id.
    public func search(_ query: String, in catalog: LiveCatalog, limit: Int) -> [(item: CatalogItem, score: Double)] {
        let prepared = engine.search(query, limit: limit)
        let added = catalog.added
        let title = query.lowercased().trimmingCharacters(in: .whitespacesAndNewlines)
        guard !added.isEmpty, limit > 0, !title.isEmpty else { return prepared }
        let extra: [(item: CatalogItem, score: Double)]
        if let wanted = queryVectors(query) {
            extra = added.map { item in
                if item.title.lowercased() == title { return (item, 2) }
                return (item, vectors(ofAdded: item).map { Double(VectorMath.dot(wanted.text, $0.text)) } ?? 0)
            }
        } else {
            extra = CatalogSearch(catalog: Catalog(items: added)).search(query, limit: limit)
        }
        return Array((prepared + extra).sorted { $0.score != $1.score ? $0.score > $1.score : $0.item.id < $1.item.id }.prefix(limit))
    }

    /// What an answer about `item` may give as its reasons: the facets asked for that it has, and
    /// the item among the last ten of `history` closest to it by the retrieval model's item vectors,
    /// else by text vectors (none without either).
    public func grounds(of item: RankedItem, history: [Int32], in catalog: LiveCatalog) -> AnswerGrounds {
        var grounds = AnswerGrounds(matchedFacets: item.matchedFacets)
        func vector(_ id: Int32) -> [Float]? {
            if let retrieval { return retrieval.itemVector(id, in: catalog) }
            guard !itemTextVectors.isEmpty else { return nil }
            if catalog.isPrepared(id), let encoder {
                return Array(itemTextVectors[(Int(id) * encoder.dimension)..<((Int(id) + 1) * encoder.dimension)])
            }
            return catalog[id].flatMap { vectors(ofAdded: $0)?.text }
        }
        guard let target = vector(item.itemId) else { return grounds }
        var best: (id: Int32, similarity: Float)?
        for id in history.suffix(10) where id != item.itemId {
            guard let other = vector(id), other.count == target.count else { continue }
            let similarity = VectorMath.dot(target, other)
            if best.map({ similarity > $0.similarity }) ?? true { best = (id, similarity) }
        }
        grounds.resembles = best.flatMap { catalog[$0.id] }
        return grounds
    }

    /// Embeds added items now, and reads them through the LM when retrieval is loaded (so that the
    /// first turn that meets them does not pay for it).
    public func prepare(added items: [CatalogItem]) {
        for item in items {
            _ = vectors(ofAdded: item)
            _ = retrieval?.vector(ofAdded: item)
        }
    }

    /// sigmoid(fc1_T(embedding)), unit length; empty without stage 1's text MLP.
    private func textLatent(_ embedding: [Float]) -> [Float] {
        guard let textMLP = allmrec?.textMLP, textMLP.dim == embedding.count else { return [] }
        return VectorMath.unitRows(textMLP.latents(embedding, rows: 1), width: TwoLayerMLP.latentSize)
    }
}
