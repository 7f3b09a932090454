import Datasets
import Foundation
import Models
import Numerics

/// How much each signal counts in a blended ranking. Each signal is standardised over the items
/// it scores (z-scores), so the weights compare like with like.
public struct BlendWeights: Sendable, Equatable {
    /// The collaborative model (SASRec) reading the session's history.
    public var collaborative: Float = 1
    /// The text path: the user's words against item texts (sentence encoder) and against items'
    /// stage-1 latents.
    public var text: Float = 1
    /// Per stated facet an item has ("comedy" for a comedy), times the facet's recency weight.
    public var facet: Float = 0.75
    /// The LM's signal. With a retrieval model (LLM-SRec), its score of every pooled item (one LM
    /// pass for the session); the bundle's tuned weight is the default (`ConversationModels.defaultWeights`).
    /// Otherwise A-LLMRec's likelihood ranking of the shortlist, small by default: with
    /// SmolLM2-135M it ranks at chance (`llmrec eval --model allmrec:BUNDLE`, README), so it only
    /// breaks near-ties.
    public var languageModel: Float = 0.1

    public init() {}

    public init(collaborative: Float, text: Float, facet: Float, languageModel: Float) {
        self.collaborative = collaborative
        self.text = text
        self.facet = facet
        self.languageModel = languageModel
    }
}

/// What a blended ranking is asked for.
public struct BlendRequest: Sendable {
    /// Viewed and bought items, oldest first (added items among them are skipped by the
    /// collaborative model, which does not know them).
    public var history: [Int32]
    public var memory: ConversationMemory
    /// Never returned: rejected, seen (when asked), and the caller's exclusions.
    public var excluded: [Int32]
    /// Rank only these; nil ranks the whole live catalog.
    public var candidates: [Int32]?
    public var k: Int
    public var weights: BlendWeights
    /// The session, whose A-LLMRec prompt is cached between turns (nil: no cache).
    public var sessionId: String?

    public init(
        history: [Int32], memory: ConversationMemory, excluded: [Int32], candidates: [Int32]?, k: Int, weights: BlendWeights,
        sessionId: String? = nil
    ) {
        self.sessionId = sessionId
        self.history = history
        self.memory = memory
        self.excluded = excluded
        self.candidates = candidates
        self.k = k
        self.weights = weights
    }
}

/// One item of a blended ranking, with its score broken down. Components are z-scores (nil when
/// that signal did not score the item: the text path without stated preferences, the LM outside
/// its shortlist). An added item's collaborative component is imputed: the mean of its nearest
/// prepared items by text (`ConversationModels.neighbourCount`), nil without an encoder.
public struct RankedItem: Sendable, Equatable {
    public var itemId: Int32
    public var score: Float
    public var collaborative: Float?
    public var text: Float?
    public var languageModel: Float?
    /// Stated facets the item has (catalog spelling).
    public var matchedFacets: [String]
}

/// A blended ranking and what it cost.
public struct BlendOutcome: Sendable {
    public var items: [RankedItem]
    /// Items left out because of what the user said (excluded facets and titles).
    public var excludedByStatement: Int
    /// Items the LM ranked (the whole pool through retrieval, else the shortlist), 0 when it did not run.
    public var languageModelRanked: Int
    /// Positions of the A-LLMRec prompt taken from the session's cache (its user and history part
    /// when they did not change since the last turn).
    public var languageModelReusedTokens = 0
    public var retrievalMilliseconds: Double
    public var languageModelMilliseconds: Double
    /// The pool the retrieval path scored with the user's words in its prompt, and those scores
    /// (raw dot products); nil when it read no words. `ConversationRanker.wordShift` compares them
    /// with the scores without the words.
    public var listened: (pool: [Int32], scores: [Float])?
}

/// What the user's words did to the retrieval path's ranking: the items of the pool whose LM
/// z-score the words raised most and lowered most (live-catalog ids, largest change first).
public struct WordShift: Sendable, Equatable {
    public var lifted: [Int32]
    public var lowered: [Int32]
}

/// The conversation's ranking (README, "The conversation"): retrieval from the whole live catalog by
/// the collaborative model and by the text path, blended with stated facets, hard exclusions
/// (rejected, seen, excluded facets and titles), then the LM: retrieval through it over the whole
/// pool when the bundle has a retrieval model, else A-LLMRec's ranking of the shortlist.
/// Stateless; any thread (the daemon runs it on the model lane).
public struct ConversationRanker: Sendable {
    public let models: ConversationModels
    public let catalog: LiveCatalog

    public init(models: ConversationModels, catalog: LiveCatalog) {
        self.models = models
        self.catalog = catalog
    }

    /// Ranks for `request`; `isCancelled` is checked between stages (nil result when it fires).
    public func rank(_ request: BlendRequest, isCancelled: () -> Bool = { false }) -> BlendOutcome? {
        let started = DispatchTime.now().uptimeNanoseconds
        let vocabulary = catalog.vocabulary
        let total = catalog.count
        let memory = request.memory
        var blocked = [Bool](repeating: false, count: total + 1)
        for id in request.excluded where id >= 1 && Int(id) <= total { blocked[Int(id)] = true }
        let titleExclusions = memory.exclusions.filter { vocabulary.facets(in: $0).isEmpty }.map { " \($0) " }
        let excludedFacets = Set(memory.excludedFacets)
        var pool: [Int32] = []
        var excludedByStatement = 0
        for id in request.candidates ?? (1...max(total, 1)).map(Int32.init) where Int(id) <= total && !blocked[Int(id)] {
            blocked[Int(id)] = true
            guard let item = catalog[id] else { continue }
            if !excludedFacets.isEmpty, vocabulary.facets(ofItem: id).contains(where: excludedFacets.contains) {
                excludedByStatement += 1
                continue
            }
            if !titleExclusions.isEmpty {
                let title = " \(FacetVocabulary.normalise(item.title)) "
                if titleExclusions.contains(where: title.contains) {
                    excludedByStatement += 1
                    continue
                }
            }
            pool.append(id)
        }
        guard !pool.isEmpty, request.k > 0 else {
            return BlendOutcome(
                items: [], excludedByStatement: excludedByStatement, languageModelRanked: 0, retrievalMilliseconds: 0,
                languageModelMilliseconds: 0)
        }
        let weights = request.weights
        let warmHistory = request.history.filter(catalog.isPrepared)

        // Collaborative signal over the prepared items of the pool, standardised over them. An added
        // item, which the model does not know, takes the mean of its nearest prepared items by text.
        var collaborative = [Float?](repeating: nil, count: pool.count)
        let warmIndices = pool.indices.filter { catalog.isPrepared(pool[$0]) }
        if weights.collaborative != 0, !warmIndices.isEmpty {
            let coldNeighbours = pool.indices.filter { !catalog.isPrepared(pool[$0]) }.map { index in
                (index, catalog[pool[index]].flatMap { models.vectors(ofAdded: $0) }?.neighbours ?? [])
            }
            let scored = warmIndices.map { pool[$0] } + coldNeighbours.flatMap(\.1)
            let raw = models.engine.recommender.scores(history: warmHistory, candidates: scored)
            let (mean, deviation) = VectorMath.moments(Array(raw[..<warmIndices.count]))
            let z = raw.map { deviation > 1e-12 && $0.isFinite ? ($0 - mean) / deviation : 0 }
            for (offset, index) in warmIndices.enumerated() { collaborative[index] = z[offset] }
            var offset = warmIndices.count
            for (index, neighbours) in coldNeighbours where !neighbours.isEmpty {
                collaborative[index] = z[offset..<(offset + neighbours.count)].reduce(0, +) / Float(neighbours.count)
                offset += neighbours.count
            }
        }
        if isCancelled() { return nil }

        // Text signal: the stated preferences (recent ones weigh more) against every pooled item.
        var preferences = memory.weightedPreferences.map { (text: $0.phrase + " " + $0.facets.map(vocabulary.displayName).joined(separator: " "), weight: $0.weight) }
        if memory.turns.last?.understood.reference == .similarToLast, let last = request.history.last, let item = catalog[last] {
            preferences.append((CatalogEmbeddings.text(of: item, field: .text), 1))
        }
        var text = [Float?](repeating: nil, count: pool.count)
        if weights.text != 0, models.hasTextPath, !preferences.isEmpty {
            text = textScores(pool: pool, preferences: preferences).map { $0 }
        }
        if isCancelled() { return nil }

        // Stated facets, and a push away from the last item's facets when asked for something different.
        let wanted = memory.weightedFacets
        var avoided: Set<String> = []
        if memory.turns.last?.understood.reference == .differentFromLast, let last = request.history.last {
            avoided = Set(vocabulary.facets(ofItem: last)).subtracting(wanted.keys)
        }
        var blended = [Float](repeating: 0, count: pool.count)
        var matched = [[String]](repeating: [], count: pool.count)
        for index in pool.indices {
            let facets = vocabulary.facets(ofItem: pool[index])
            var bonus: Float = 0
            for facet in facets {
                if let weight = wanted[facet] {
                    bonus += weight
                    matched[index].append(vocabulary.displayName(facet))
                }
                if avoided.contains(facet) { bonus -= 0.5 }
            }
            blended[index] = weights.collaborative * (collaborative[index] ?? 0) + weights.text * (text[index] ?? 0) + weights.facet * bonus
        }
        let retrieved = DispatchTime.now().uptimeNanoseconds

        // With a retrieval model, the LM scores the whole pool; otherwise A-LLMRec's LM re-ranks the
        // best prepared items (the prompt needs their collaborative embeddings).
        var languageModel = [Float?](repeating: nil, count: pool.count)
        var shortlistCount = 0
        var reusedTokens = 0
        var listened: (pool: [Int32], scores: [Float])?
        if weights.languageModel != 0, let retrieval = models.retrieval {
            let words = retrieval.listens ? memory.recentWords : nil
            if let raw = retrieval.scores(history: request.history, wishes: words, pool: pool, in: catalog) {
                if words != nil { listened = (pool, raw) }
                for (index, value) in VectorMath.standardised(raw).enumerated() {
                    languageModel[index] = value
                    blended[index] += weights.languageModel * value
                }
                shortlistCount = pool.count
            }
        } else if weights.languageModel != 0, let ranker = models.ranker {
            let shortlistSize = ranker.model.manifest.template.candidateCount
            let shortlist = warmIndices.sorted { blended[$0] != blended[$1] ? blended[$0] > blended[$1] : pool[$0] < pool[$1] }
                .prefix(shortlistSize)
            if shortlist.count > 1 {
                var promptCache = request.sessionId.flatMap(models.rankingCaches.take)
                let (raw, reused) = ranker.scores(history: warmHistory, candidates: shortlist.map { pool[$0] }, promptCache: &promptCache)
                if let sessionId = request.sessionId, let promptCache { models.rankingCaches.put(sessionId, promptCache) }
                reusedTokens = reused
                for (index, value) in zip(shortlist, VectorMath.standardised(raw)) {
                    languageModel[index] = value
                    blended[index] += weights.languageModel * value
                }
                shortlistCount = shortlist.count
            }
        }
        let finished = DispatchTime.now().uptimeNanoseconds
        let best = TopK.select(request.k, of: pool.indices.map { ScoredItem(itemId: Int32($0), score: blended[$0]) })
        let items = best.map { entry -> RankedItem in
            let index = Int(entry.itemId)
            return RankedItem(
                itemId: pool[index], score: entry.score, collaborative: collaborative[index], text: text[index],
                languageModel: languageModel[index], matchedFacets: matched[index])
        }
        return BlendOutcome(
            items: items, excludedByStatement: excludedByStatement, languageModelRanked: shortlistCount,
            languageModelReusedTokens: reusedTokens, retrievalMilliseconds: Double(retrieved - started) / 1e6,
            languageModelMilliseconds: Double(finished - retrieved) / 1e6, listened: listened)
    }

    /// What the words did in `outcome` (ranked for `request`): the `count` items they lifted and
    /// lowered most, comparing the retrieval path's z-scores over the pool with and without them.
    /// Costs one LM pass over the prompt without the words when the session's history changed
    /// (kept afterwards), so callers run it after the answer; nil when no words were read or the
    /// pass fails.
    public func wordShift(of outcome: BlendOutcome, request: BlendRequest, count: Int = 3) -> WordShift? {
        guard let listened = outcome.listened, let retrieval = models.retrieval,
            let plain = retrieval.scores(history: request.history, wishes: nil, pool: listened.pool, in: catalog)
        else { return nil }
        let change = zip(VectorMath.standardised(listened.scores), VectorMath.standardised(plain)).map { $0 - $1 }
        let order = change.indices.sorted { change[$0] != change[$1] ? change[$0] > change[$1] : listened.pool[$0] < listened.pool[$1] }
        return WordShift(
            lifted: order.prefix(count).filter { change[$0] > 0 }.map { listened.pool[$0] },
            lowered: order.reversed().prefix(count).filter { change[$0] < 0 }.map { listened.pool[$0] })
    }

    /// Weighted cosine of each preference with each pooled item, standardised; with stage 1, the
    /// mean of the sentence-embedding and the stage-1 latent z-scores.
    private func textScores(pool: [Int32], preferences: [(text: String, weight: Float)]) -> [Float] {
        let queries = preferences.compactMap { preference in models.queryVectors(preference.text).map { ($0, preference.weight) } }
        var semantic = [Float](repeating: 0, count: pool.count)
        var latent = [Float](repeating: 0, count: pool.count)
        var hasLatent = true
        let totalWeight = queries.reduce(0) { $0 + $1.1 }
        for (query, weight) in queries {
            let share = weight / totalWeight
            let prepared = models.preparedSimilarities(to: query)
            if prepared.latent == nil { hasLatent = false }
            for (index, id) in pool.enumerated() {
                if catalog.isPrepared(id) {
                    semantic[index] += share * prepared.text[Int(id)]
                    latent[index] += share * (prepared.latent?[Int(id)] ?? 0)
                } else if let vectors = catalog[id].flatMap(models.vectors(ofAdded:)) {
                    semantic[index] += share * VectorMath.dot(query.text, vectors.text)
                    latent[index] += share * VectorMath.dot(query.latent, vectors.latent)
                }
            }
        }
        let semanticZ = VectorMath.standardised(semantic)
        guard hasLatent else { return semanticZ }
        return zip(semanticZ, VectorMath.standardised(latent)).map { ($0 + $1) / 2 }
    }
}
