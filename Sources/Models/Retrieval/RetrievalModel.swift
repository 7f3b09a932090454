import Checkpoints
import Datasets
import Foundation
import Numerics

/// A trained retrieval-through-the-LM model (LLM-SRec) on its dataset: SASRec (frozen; its item
/// embeddings feed the soft tokens), the trained weights, the LM and the prompt builder.
/// Immutable; safe to share between threads (each LM call makes its own KV cache).
public struct RetrievalModel: Sendable {
    public let manifest: ALLMRecManifest
    public let sasrec: SASRecModel
    public let weights: RetrievalWeights
    /// How the user's words move items by their facets (`llmrec train words`); nil: words reach the
    /// scores through `[UserOut]` alone.
    public let wordHead: RetrievalWordHead?
    /// With a word head, the head's columns each dataset item has, [items + 1] (empty otherwise).
    public let itemColumns: [[Int]]
    public let languageModel: LanguageModel
    public let builder: RetrievalPromptBuilder
    /// SASRec's item table, [(items + 1) · cf].
    public let itemEmbeddings: [Float]
    /// Items with no interaction in the training split: their SASRec rows never trained, so their
    /// prompts leave the soft token out and they are read by title alone.
    public let itemsWithoutInteractions: Set<Int32>

    /// Loads `bundle` (its manifest must name retrieval weights) against `dataset`; `languageModel`
    /// overrides the manifest's LM path, `loaded` is an LM already in memory (its path or the
    /// manifest's is then not read again); `wordHead` false leaves the bundle's word head unread
    /// (training a new one).
    public static func load(
        bundle: String, dataset: PreparedDataset, languageModel lmPath: String? = nil, loaded: LanguageModel? = nil, wordHead readsWordHead: Bool = true
    ) throws -> RetrievalModel {
        let manifest = try ALLMRecManifest.read(directory: bundle)
        guard manifest.datasetFingerprint == dataset.fingerprint, manifest.itemCount == dataset.itemCount else {
            throw RetrievalError.invalidBundle(
                "\(bundle) was trained on dataset \(manifest.datasetFingerprint) (\(manifest.itemCount) items), not on \(dataset.directory) (\(dataset.fingerprint), \(dataset.itemCount) items)")
        }
        guard let weightsPath = manifest.retrieval, let template = manifest.retrievalTemplate else {
            throw RetrievalError.invalidBundle("\(bundle) has no retrieval model yet (llmrec train retrieval)")
        }
        let languageModel: LanguageModel
        if let loaded {
            languageModel = loaded
        } else {
            guard let path = lmPath ?? manifest.languageModel.map({ ALLMRecManifest.resolve($0, in: bundle) }) else {
                throw RetrievalError.invalidBundle("\(bundle) names no LM")
            }
            languageModel = try LanguageModel.load(path)
        }
        let sasrec = try SASRecCheckpoint.load(ALLMRecManifest.resolve(manifest.sasrec, in: bundle))
        let weights = try RetrievalWeights.load(ALLMRecManifest.resolve(weightsPath, in: bundle))
        let wordHead = try manifest.retrievalWords.flatMap { path throws in
            readsWordHead ? try RetrievalWordHead.load(ALLMRecManifest.resolve(path, in: bundle)) : nil
        }
        return try RetrievalModel(
            manifest: manifest, sasrec: sasrec, weights: weights, wordHead: wordHead, languageModel: languageModel, template: template,
            dataset: dataset)
    }

    public init(
        manifest: ALLMRecManifest, sasrec: SASRecModel, weights: RetrievalWeights, wordHead: RetrievalWordHead? = nil,
        languageModel: LanguageModel, template: RetrievalTemplate, dataset: PreparedDataset
    ) throws {
        let c = languageModel.decoder.configuration
        guard weights.embeddingSize == c.embeddingSize else {
            throw RetrievalError.shapeMismatch(name: "user_out", expected: [c.embeddingSize], got: [weights.embeddingSize])
        }
        if let wordHead, wordHead.embeddingSize != c.embeddingSize {
            throw RetrievalError.shapeMismatch(
                name: RetrievalWordHead.weightName, expected: [wordHead.columns.count, c.embeddingSize],
                got: [wordHead.columns.count, wordHead.embeddingSize])
        }
        guard template.userToken == (weights.userProjector != nil) else {
            throw RetrievalError.invalidBundle(
                template.userToken
                    ? "the template reads SASRec's user vector (userToken) but the weights have no user projector (user_proj.*)"
                    : "the weights have a user projector (user_proj.*) but the template does not read SASRec's user vector (userToken)")
        }
        guard weights.cfSize == sasrec.configuration.hiddenUnits else {
            throw RetrievalError.shapeMismatch(
                name: "item_proj.0.weight", expected: [weights.itemProjector.hiddenSize, sasrec.configuration.hiddenUnits],
                got: [weights.itemProjector.hiddenSize, weights.cfSize])
        }
        self.manifest = manifest
        self.sasrec = sasrec
        self.weights = weights
        self.wordHead = wordHead
        itemColumns = wordHead?.itemColumns(of: dataset.catalog) ?? []
        self.languageModel = languageModel
        builder = RetrievalPromptBuilder(template: template, tokenizer: languageModel.tokenizer, catalog: dataset.catalog)
        itemEmbeddings = sasrec.itemEmbeddings
        itemsWithoutInteractions = dataset.itemsWithoutTrainingInteractions
    }

    /// The final states of the prompts' output tokens, with their soft tokens and `output` in
    /// place, and the mean final state of their words' segments (a zero row for a prompt without
    /// words), in one pass: each [prompts.count · e].
    func finalStates(_ prompts: [RetrievalPrompt], output: [Float]) throws(DecoderError) -> (last: [Float], words: [Float]) {
        let cf = weights.cfSize
        let e = weights.embeddingSize
        let softRows = prompts.flatMap { $0.softTokens.flatMap { itemEmbeddings[(Int($0.item) * cf)..<((Int($0.item) + 1) * cf)] } }
        let projected = weights.itemProjector.forward(softRows, rows: softRows.count / cf).output
        let userSlots = prompts.compactMap(\.userSlot)
        precondition(userSlots.isEmpty || weights.userProjector != nil, "user prompts with a user-vector token need a user projector")
        let userProjected = userSlots.isEmpty ? [] : weights.userProjector?.forward(userSlots.flatMap(\.vector), rows: userSlots.count).output ?? []
        var row = 0
        var slotRow = 0
        let sequences = prompts.map { prompt in
            var vectors: [Int: [Float]] = [prompt.outputPosition: output]
            for soft in prompt.softTokens {
                vectors[soft.position] = Array(projected[(row * e)..<((row + 1) * e)])
                row += 1
            }
            if let slot = prompt.userSlot {
                vectors[slot.position] = Array(userProjected[(slotRow * e)..<((slotRow + 1) * e)])
                slotRow += 1
            }
            return (prompt.tokens, vectors)
        }
        let states = try languageModel.decoder.finalStates(of: sequences, pooling: prompts.map(\.wordPositions))
        return (states.last, states.pooled)
    }

    /// User vectors [histories.count · 128] of histories (oldest first) with, when given, the
    /// user's words; unit length when the model was trained on cosine scores. One LM pass for all.
    public func userVectors(histories: [[Int32]], wishes: String? = nil) throws(DecoderError) -> [Float] {
        try userVectors(entries: histories.map { $0.map(entry) }, wishes: Array(repeating: wishes, count: histories.count))
    }

    /// User vectors [histories.count · 128] of histories given as prompt entries (items added at
    /// run time among them, by title), each with its own words (`wishes[i]`, nil for none), as
    /// `userVectors(histories:wishes:)`.
    public func userVectors(entries histories: [[RetrievalPromptBuilder.Entry]], wishes: [String?]) throws(DecoderError) -> [Float] {
        try userReadings(entries: histories, wishes: wishes).flatMap(\.vector)
    }

    /// What one LM pass reads from a user prompt: the user vector [128] (unit length under cosine
    /// scores) and, when the prompt has words and the model a word head, the words' preference for
    /// each of the head's columns.
    public struct UserReading: Sendable, Hashable {
        public var vector: [Float]
        public var preferences: [Float]?

        public init(vector: [Float], preferences: [Float]? = nil) {
            self.vector = vector
            self.preferences = preferences
        }
    }

    /// The readings of histories given as prompt entries, each with its own words (`wishes[i]`, nil
    /// for none). One LM pass for all.
    public func userReadings(entries histories: [[RetrievalPromptBuilder.Entry]], wishes: [String?]) throws(DecoderError) -> [UserReading] {
        precondition(wishes.count == histories.count, "one wish (or nil) per history")
        let userVectors = builder.template.userToken ? sasrecUserVectors(histories) : nil
        let prompts = histories.indices.map { builder.userPrompt(entries: histories[$0], wishes: wishes[$0], userVector: userVectors?[$0]) }
        let features = try userFeatures(prompts)
        let vectors = scored(features.headed)
        let preferences = wordHead.map { $0.forward(features.words, rows: prompts.count) }
        let size = RetrievalWeights.vectorSize
        let columns = wordHead?.columns.count ?? 0
        return prompts.indices.map { row in
            UserReading(
                vector: Array(vectors[(row * size)..<((row + 1) * size)]),
                preferences: prompts[row].wordPositions == nil ? nil : preferences.map { Array($0[(row * columns)..<((row + 1) * columns)]) })
        }
    }

    /// SASRec's user vectors [cf] of histories given as prompt entries: over the entries that have a
    /// soft item (items added at run time have no SASRec row), their last `maxLength`, as training
    /// reads them.
    func sasrecUserVectors(_ histories: [[RetrievalPromptBuilder.Entry]]) -> [[Float]] {
        let windows = histories.map { Array($0.compactMap(\.softItem).suffix(sasrec.configuration.maxLength)) }
        return sasrec.userRepresentations(windows)
    }

    /// How much a preference of 1 adds to a score: the cosine temperature (scores are cosines, the
    /// head was trained on cosines / τ), 1 under dot products.
    public var wordScale: Float { manifest.retrievalTemperature ?? 1 }

    /// The word head's columns dataset item `item` has (empty without a head).
    public func columns(ofItem item: Int32) -> [Int] {
        itemColumns.isEmpty ? [] : itemColumns[Int(item)]
    }

    /// An item's score for a reading: user vector · `itemVector` (pointing at 128 floats), plus, with
    /// words, `wordScale` · the preferences of the item's columns (`columns(ofItem:)`, or for an
    /// added item `wordHead.columns(of:)`).
    public func score(_ reading: UserReading, itemVector: UnsafePointer<Float>, itemColumns columns: [Int]) -> Float {
        let dot = reading.vector.withUnsafeBufferPointer { VectorMath.dot($0.baseAddress!, itemVector, count: RetrievalWeights.vectorSize) }
        guard let preferences = reading.preferences else { return dot }
        return dot + wordScale * RetrievalWordHead.lift(preferences[...], itemColumns: columns)
    }

    /// What the word head reads, for user prompts (with or without words): the user head's output
    /// before scoring (`[UserOut]` alone) and the words' mean final state, [prompts.count · 128]
    /// and [prompts.count · e]. One LM pass for all.
    public func userFeatures(_ prompts: [RetrievalPrompt]) throws(DecoderError) -> (headed: [Float], words: [Float]) {
        let states = try finalStates(prompts, output: weights.userOut)
        return (weights.userHead.forward(states.last, rows: prompts.count).output, states.words)
    }

    /// Item vectors [items.count · 128] (an item without interactions is read by title alone, and
    /// every item when `titlesOnly`, as if none had interactions); unit length when the model was
    /// trained on cosine scores. One LM pass for all.
    public func itemVectors(_ items: [Int32], titlesOnly: Bool = false) throws(DecoderError) -> [Float] {
        try itemVectors(entries: items.map { titlesOnly ? titleEntry($0) : entry($0) })
    }

    /// Item vectors [entries.count · 128] of items given as prompt entries (an item added at run
    /// time: its title, no soft token), as `itemVectors(_:)`.
    public func itemVectors(entries: [RetrievalPromptBuilder.Entry]) throws(DecoderError) -> [Float] {
        let prompts = entries.map(builder.itemPrompt)
        return scored(weights.itemHead.forward(try finalStates(prompts, output: weights.itemOut).last, rows: prompts.count).output)
    }

    /// A dataset item as prompts show it: by title alone when it has no training interactions.
    public func entry(_ item: Int32) -> RetrievalPromptBuilder.Entry {
        itemsWithoutInteractions.contains(item) ? titleEntry(item) : RetrievalPromptBuilder.Entry(
            title: builder.titles[Int(item)], softItem: item, facets: builder.facets(of: item))
    }

    /// A dataset item by its text alone (title and facets, no soft token), as an item without
    /// interactions is shown.
    public func titleEntry(_ item: Int32) -> RetrievalPromptBuilder.Entry {
        RetrievalPromptBuilder.Entry(title: builder.titles[Int(item)], softItem: nil, facets: builder.facets(of: item))
    }

    /// Head outputs as scores use them: rows normalised under cosine scoring.
    private func scored(_ vectors: [Float]) -> [Float] {
        guard manifest.retrievalTemperature != nil else { return vectors }
        return RetrievalObjective.normalizedRows(vectors, width: RetrievalWeights.vectorSize).unit
    }

    /// Item prompts run together in one LM pass when the catalog is embedded.
    static let itemsPerPass = 32

    /// Every catalog item's vector, [(items + 1) · 128] (row 0 zero), every item read by its text
    /// alone when `titlesOnly`; `progress(done)` after each pass.
    public func catalogVectors(titlesOnly: Bool = false, progress: (Int) -> Void = { _ in }) throws(DecoderError) -> [Float] {
        let size = RetrievalWeights.vectorSize
        let items = builder.titles.count - 1
        var vectors = [Float](repeating: 0, count: (items + 1) * size)
        for start in stride(from: 1, through: items, by: Self.itemsPerPass) {
            let chunk = (start..<min(start + Self.itemsPerPass, items + 1)).map { Int32($0) }
            let computed = try itemVectors(chunk, titlesOnly: titlesOnly)
            for index in 0..<(chunk.count * size) { vectors[start * size + index] = computed[index] }
            progress(start + chunk.count - 1)
        }
        return vectors
    }
}

/// Retrieval through the LM as an evaluated model: one LM pass per distinct history for the user
/// vector (kept, so that several protocols on the same cases pay it once), dot products with the
/// catalog's item vectors (computed once).
public struct RetrievalRecommender: SequentialRecommender {
    public let name = "retrieval"
    public let model: RetrievalModel
    /// [(items + 1) · 128].
    public private(set) var itemVectors: [Float]
    private let users = UserVectorMemo()

    public init(model: RetrievalModel, itemVectors: [Float]) {
        self.model = model
        self.itemVectors = itemVectors
    }

    /// The same model scoring with other catalog vectors ([(items + 1) · 128], e.g. every item read
    /// by its text alone); the user vectors already computed are shared.
    public func scoring(itemVectors: [Float]) -> RetrievalRecommender {
        var copy = self
        copy.itemVectors = itemVectors
        return copy
    }

    public var preferredBatchSize: Int { 8 }
    /// Items without interactions are read by their title alone.
    public var scoresItemsWithoutInteractions: Bool { true }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        scores(batch: [(history, candidates)])[0]
    }

    /// The batch's new histories in one LM pass; a failed pass scores its cases 0 throughout.
    public func scores(batch: [(history: [Int32], candidates: [Int32])]) -> [[Float]] {
        let size = RetrievalWeights.vectorSize
        let missing = Array(Set(batch.map(\.history).filter { users.known($0) == nil }))
        if !missing.isEmpty, let computed = try? model.userVectors(histories: missing) {
            for (index, history) in missing.enumerated() { users.store(Array(computed[(index * size)..<((index + 1) * size)]), for: history) }
        }
        return batch.map { testCase in
            guard let user = users.known(testCase.history) else { return [Float](repeating: 0, count: testCase.candidates.count) }
            return testCase.candidates.map { item in
                var dot: Float = 0
                for k in 0..<size { dot += user[k] * itemVectors[Int(item) * size + k] }
                return dot
            }
        }
    }
}

/// User vectors by history, behind a lock (the evaluator and the daemon call from one thread at a
/// time, but the recommender is `Sendable`).
final class UserVectorMemo: @unchecked Sendable {
    private let lock = NSLock()
    private var vectors: [[Int32]: [Float]] = [:]

    func known(_ history: [Int32]) -> [Float]? {
        lock.lock()
        defer { lock.unlock() }
        return vectors[history]
    }

    func store(_ vector: [Float], for history: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        if vectors.count >= 100_000 { vectors.removeAll() }
        vectors[history] = vector
    }
}
