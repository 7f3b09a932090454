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
    public let languageModel: LanguageModel
    public let builder: RetrievalPromptBuilder
    /// SASRec's item table, [(items + 1) · cf].
    public let itemEmbeddings: [Float]
    /// Items with no interaction in the training split: their SASRec rows never trained, so their
    /// prompts leave the soft token out and they are read by title alone.
    public let itemsWithoutInteractions: Set<Int32>

    /// Loads `bundle` (its manifest must name retrieval weights) against `dataset`; `languageModel`
    /// overrides the manifest's LM path.
    public static func load(bundle: String, dataset: PreparedDataset, languageModel lmPath: String? = nil) throws -> RetrievalModel {
        let manifest = try ALLMRecManifest.read(directory: bundle)
        guard manifest.datasetFingerprint == dataset.fingerprint, manifest.itemCount == dataset.itemCount else {
            throw RetrievalError.invalidBundle(
                "\(bundle) was trained on dataset \(manifest.datasetFingerprint) (\(manifest.itemCount) items), not on \(dataset.directory) (\(dataset.fingerprint), \(dataset.itemCount) items)")
        }
        guard let weightsPath = manifest.retrieval, let template = manifest.retrievalTemplate else {
            throw RetrievalError.invalidBundle("\(bundle) has no retrieval model yet (llmrec train retrieval)")
        }
        guard let path = lmPath ?? manifest.languageModel.map({ ALLMRecManifest.resolve($0, in: bundle) }) else {
            throw RetrievalError.invalidBundle("\(bundle) names no LM")
        }
        let sasrec = try SASRecCheckpoint.load(ALLMRecManifest.resolve(manifest.sasrec, in: bundle))
        let weights = try RetrievalWeights.load(ALLMRecManifest.resolve(weightsPath, in: bundle))
        let languageModel = try LanguageModel.load(path)
        return try RetrievalModel(
            manifest: manifest, sasrec: sasrec, weights: weights, languageModel: languageModel, template: template, dataset: dataset)
    }

    public init(
        manifest: ALLMRecManifest, sasrec: SASRecModel, weights: RetrievalWeights, languageModel: LanguageModel, template: RetrievalTemplate,
        dataset: PreparedDataset
    ) throws {
        let c = languageModel.decoder.configuration
        guard weights.embeddingSize == c.embeddingSize else {
            throw RetrievalError.shapeMismatch(name: "user_out", expected: [c.embeddingSize], got: [weights.embeddingSize])
        }
        guard weights.cfSize == sasrec.configuration.hiddenUnits else {
            throw RetrievalError.shapeMismatch(
                name: "item_proj.0.weight", expected: [weights.itemProjector.hiddenSize, sasrec.configuration.hiddenUnits],
                got: [weights.itemProjector.hiddenSize, weights.cfSize])
        }
        self.manifest = manifest
        self.sasrec = sasrec
        self.weights = weights
        self.languageModel = languageModel
        builder = RetrievalPromptBuilder(
            template: template, tokenizer: languageModel.tokenizer, titles: ["No Title"] + dataset.catalog.items.map(\.title))
        itemEmbeddings = sasrec.itemEmbeddings
        var seen = Set<Int32>()
        for sequence in dataset.train { seen.formUnion(sequence) }
        itemsWithoutInteractions = Set((1...max(1, dataset.itemCount)).map { Int32($0) }.filter { !seen.contains($0) })
    }

    /// The final state of `prompt`'s output token with its soft tokens and `output` in place, [e].
    private func finalState(_ prompt: RetrievalPrompt, output: [Float]) throws(DecoderError) -> [Float] {
        let decoder = languageModel.decoder
        let cf = weights.cfSize
        let e = weights.embeddingSize
        var vectors: [Int: [Float]] = [prompt.outputPosition: output]
        if !prompt.softTokens.isEmpty {
            let rows = prompt.softTokens.flatMap { itemEmbeddings[(Int($0.item) * cf)..<((Int($0.item) + 1) * cf)] }
            let projected = weights.itemProjector.forward(rows, rows: prompt.softTokens.count).output
            for (k, soft) in prompt.softTokens.enumerated() { vectors[soft.position] = Array(projected[(k * e)..<((k + 1) * e)]) }
        }
        var cache = KVCache(configuration: decoder.configuration, capacity: prompt.tokens.count)
        return try decoder.lastFinalState(tokens: prompt.tokens, cache: &cache, inputEmbeddings: vectors)
    }

    /// The user vector [128] of a history (oldest first) and, when given, the user's words; unit
    /// length when the model was trained on cosine scores.
    public func userVector(history: [Int32], wishes: String? = nil) throws(DecoderError) -> [Float] {
        let prompt = builder.userPrompt(history: history, wishes: wishes, withoutSoftToken: itemsWithoutInteractions)
        return scored(weights.userHead.forward(try finalState(prompt, output: weights.userOut), rows: 1).output)
    }

    /// The item vector [128] of a catalog item (read by title alone when it has no interactions);
    /// unit length when the model was trained on cosine scores.
    public func itemVector(_ item: Int32) throws(DecoderError) -> [Float] {
        let prompt = builder.itemPrompt(item, softToken: !itemsWithoutInteractions.contains(item))
        return scored(weights.itemHead.forward(try finalState(prompt, output: weights.itemOut), rows: 1).output)
    }

    /// A head's output as scores use it: normalised under cosine scoring.
    private func scored(_ vector: [Float]) -> [Float] {
        guard manifest.retrievalTemperature != nil else { return vector }
        return RetrievalObjective.normalizedRows(vector, width: vector.count).unit
    }

    /// Every catalog item's vector, [(items + 1) · 128] (row 0 zero); `progress(done)` after each item.
    public func catalogVectors(progress: (Int) -> Void = { _ in }) throws(DecoderError) -> [Float] {
        let size = RetrievalWeights.vectorSize
        let items = builder.titles.count - 1
        var vectors = [Float](repeating: 0, count: (items + 1) * size)
        for item in 1...max(1, items) where item <= items {
            let vector = try itemVector(Int32(item))
            for k in 0..<size { vectors[item * size + k] = vector[k] }
            progress(item)
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
    public let itemVectors: [Float]
    private let users = UserVectorMemo()

    public init(model: RetrievalModel, itemVectors: [Float]) {
        self.model = model
        self.itemVectors = itemVectors
    }

    public var preferredBatchSize: Int { 8 }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        let size = RetrievalWeights.vectorSize
        guard let user = users.vector(for: history, compute: { try? model.userVector(history: history) }) else {
            return [Float](repeating: 0, count: candidates.count)
        }
        return candidates.map { item in
            var dot: Float = 0
            for k in 0..<size { dot += user[k] * itemVectors[Int(item) * size + k] }
            return dot
        }
    }
}

/// User vectors by history, behind a lock (the evaluator and the daemon call from one thread at a
/// time, but the recommender is `Sendable`).
final class UserVectorMemo: @unchecked Sendable {
    private let lock = NSLock()
    private var vectors: [[Int32]: [Float]] = [:]

    func vector(for history: [Int32], compute: () -> [Float]?) -> [Float]? {
        lock.lock()
        let known = vectors[history]
        lock.unlock()
        if let known { return known }
        guard let vector = compute() else { return nil }
        lock.lock()
        if vectors.count >= 100_000 { vectors.removeAll() }
        vectors[history] = vector
        lock.unlock()
        return vector
    }
}
