import Datasets
import Foundation
import Numerics

/// A loaded A-LLMRec bundle on its dataset: SASRec, the stage-1 MLPs, the stage-2 projectors and
/// the LM, with what every prompt needs precomputed (item titles, every item's stage-1 latent).
/// Immutable; safe to share between threads (each LM call makes its own KV cache).
public struct ALLMRecModel: Sendable {
    public let manifest: ALLMRecManifest
    public let sasrec: SASRecModel
    public let itemMLP: TwoLayerMLP
    /// Nil when the bundle was imported from an item MLP alone.
    public let textMLP: TwoLayerMLP?
    /// Nil before stage 2.
    public let projectors: Stage2Projectors?
    /// Nil before stage 2 or when not requested. Its decoder holds Float32 weights (BLAS prefill,
    /// and the backward pass of stage 2) unless loaded for serving.
    public private(set) var languageModel: LanguageModel?
    /// Item titles by dense id; index 0 is the original's "No Title".
    public let titles: [String]
    /// sigmoid(fc1(E_i)) for every item, [(items + 1) · 128] (the frozen stage-1 encoder output that
    /// F_I projects).
    public let itemLatents: [Float]

    /// Loads `bundle` against `dataset` (whose fingerprint must match the manifest's). `languageModel`
    /// overrides the manifest's LM path (stage-2 training names it before the manifest has one);
    /// without `loadStage2` the projectors are left out (stage-2 training makes its own). With
    /// `trainingPrecision` (training needs it) the LM's weights are made ready for training in that
    /// arithmetic on `trainingThreads` threads (`CausalDecoder.trainingWeights`); with nil they stay as the file has them
    /// (serving: less memory, faster decoding).
    public static func load(
        bundle: String, dataset: PreparedDataset, loadLanguageModel: Bool = true, languageModel lmPath: String? = nil,
        loadStage2: Bool = true, trainingPrecision: TrainingPrecision? = .float32,
        trainingThreads: Int = 1
    ) throws -> ALLMRecModel {
        let manifest = try ALLMRecManifest.read(directory: bundle)
        guard manifest.datasetFingerprint == dataset.fingerprint, manifest.itemCount == dataset.itemCount else {
            throw ALLMRecError.invalidBundle(
                "\(bundle) was trained on dataset \(manifest.datasetFingerprint) (\(manifest.itemCount) items), not on \(dataset.directory) (\(dataset.fingerprint), \(dataset.itemCount) items)")
        }
        let sasrec = try SASRecCheckpoint.load(ALLMRecManifest.resolve(manifest.sasrec, in: bundle))
        guard let stage1 = manifest.stage1 else { throw ALLMRecError.invalidBundle("\(bundle) has no stage-1 weights yet (llmrec train align)") }
        let (itemMLP, textMLP) = try ALLMRecWeights.loadStage1(ALLMRecManifest.resolve(stage1, in: bundle))
        guard itemMLP.dim == sasrec.configuration.hiddenUnits else {
            throw ALLMRecError.shapeMismatch(name: "item.fc1.weight", expected: [128, sasrec.configuration.hiddenUnits], got: [128, itemMLP.dim])
        }
        let projectors = try manifest.stage2.flatMap { loadStage2 ? $0 : nil }.map { try ALLMRecWeights.loadStage2(ALLMRecManifest.resolve($0, in: bundle)) }
        var languageModel: LanguageModel?
        if loadLanguageModel, let path = lmPath ?? manifest.languageModel.map({ ALLMRecManifest.resolve($0, in: bundle) }) {
            var model = try LanguageModel.load(path)
            if let trainingPrecision { model.decoder = model.decoder.trainingWeights(trainingPrecision, threads: trainingThreads) }
            if let projectors, projectors.item.outputSize != model.decoder.configuration.embeddingSize {
                throw ALLMRecError.shapeMismatch(
                    name: "item_proj.3.weight", expected: [model.decoder.configuration.embeddingSize], got: [projectors.item.outputSize])
            }
            languageModel = model
        }
        return ALLMRecModel(
            manifest: manifest, sasrec: sasrec, itemMLP: itemMLP, textMLP: textMLP, projectors: projectors, languageModel: languageModel,
            dataset: dataset)
    }

    public init(
        manifest: ALLMRecManifest, sasrec: SASRecModel, itemMLP: TwoLayerMLP, textMLP: TwoLayerMLP?, projectors: Stage2Projectors?,
        languageModel: LanguageModel?, dataset: PreparedDataset
    ) {
        self.manifest = manifest
        self.sasrec = sasrec
        self.itemMLP = itemMLP
        self.textMLP = textMLP
        self.projectors = projectors
        self.languageModel = languageModel
        titles = ["No Title"] + dataset.catalog.items.map(\.title)
        itemLatents = itemMLP.latents(sasrec.itemEmbeddings, rows: dataset.itemCount + 1)
    }

    /// The same model with its LM's single-token steps on `threads` threads.
    public func withLanguageModelThreads(_ threads: Int) -> ALLMRecModel {
        var copy = self
        copy.languageModel?.decoder.threads = threads
        return copy
    }

    public var promptBuilder: PromptBuilder? {
        languageModel.map {
            PromptBuilder(template: manifest.template, tokenizer: $0.tokenizer, endOfSequence: $0.endOfSequence)
        }
    }

    /// Mean L2 norms of what the LM reads: F_I's soft tokens over every item, F_U's over `users`
    /// SASRec vectors, and the LM's own token embeddings (a seeded sample of 2,000 rows) — whether
    /// the projectors put soft tokens on the scale of real ones.
    public func softTokenScale(users: [[Float]]) -> (item: Float, user: Float, tokens: Float)? {
        guard let projectors, let languageModel else { return nil }
        func meanNorm(_ values: [Float], width: Int) -> Float {
            let rows = values.count / width
            guard rows > 0 else { return 0 }
            var total: Float = 0
            for row in 0..<rows { total += values[(row * width)..<((row + 1) * width)].reduce(0) { $0 + $1 * $1 }.squareRoot() }
            return total / Float(rows)
        }
        let d = projectors.item.outputSize
        let items = projectors.item.forward(Array(itemLatents[TwoLayerMLP.latentSize...]), rows: titles.count - 1).output
        let projectedUsers = projectors.user.forward(users.flatMap { $0 }, rows: users.count).output
        let c = languageModel.decoder.configuration
        var generator = SplitMix64(seed: 1)
        let sample = (0..<2000).flatMap { _ in
            languageModel.decoder.weights.tokenEmbeddings.row(Int(generator.next() % UInt64(c.vocabularySize)), columns: c.embeddingSize)
        }
        return (meanNorm(items, width: d), meanNorm(projectedUsers, width: d), meanNorm(sample, width: c.embeddingSize))
    }

    /// The stage-1 latents of `items`, [items.count · 128].
    public func latents(of items: [Int32]) -> [Float] {
        let latent = TwoLayerMLP.latentSize
        return items.flatMap { itemLatents[(Int($0) * latent)..<((Int($0) + 1) * latent)] }
    }

    /// The prompt's history: the template's count of most recent items, oldest first.
    public func promptHistory(_ history: [Int32]) -> [Int32] { Array(history.suffix(manifest.template.historyCount)) }

    /// A stage-2 example (or, without `answer`, a prompt to score or generate from) for a user with
    /// SASRec representation `user`, history items and candidates in prompt order.
    public func example(
        builder: PromptBuilder, history: [Int32], candidates: [Int32], answer: Int32?, user: [Float], softTokens: Bool = true
    ) -> Stage2Example {
        let shown = promptHistory(history)
        let sequence = builder.sequence(
            history: shown.map { titles[Int($0)] }, candidates: candidates.map { titles[Int($0)] }, answer: answer.map { titles[Int($0)] },
            softTokens: softTokens)
        return Stage2Example(sequence: sequence, user: user, historyLatents: latents(of: shown), candidateLatents: latents(of: candidates))
    }

    /// A fixed, seed-free shuffle of a case's candidates for the prompt (the evaluator puts the
    /// target first): indices into `candidates`, determined by the case itself.
    public static func promptOrder(history: [Int32], candidates: [Int32]) -> [Int] {
        var hash = FNV1a64()
        for item in history + candidates { withUnsafeBytes(of: item.littleEndian) { hash.combine($0) } }
        var generator = SplitMix64(seed: hash.value)
        return Array(candidates.indices).shuffled(using: &generator)
    }
}

extension SASRecModel {
    /// The raw item embedding table `item_emb.weight`, [(items + 1) · hiddenUnits].
    public var itemEmbeddings: [Float] {
        let offset = layout.offset("item_emb.weight")
        return Array(weights[offset..<(offset + (configuration.itemCount + 1) * configuration.hiddenUnits)])
    }
}
