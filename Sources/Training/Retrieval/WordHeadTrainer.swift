import Datasets
import Foundation
import Models
import Numerics
import Support

/// Settings of word-head training (`llmrec train words`). The samples are retrieval training's wish
/// samples (`RetrievalSampler` with every sample carrying words, `TrainingWish.Kind`), over
/// `rounds` draws of the users' last `targetsPerUser` training positions.
public struct WordHeadOptions: TrainerOptions {
    /// 40 passes over the features, 64 samples a step, Adam 1e-3.
    public var schedule = TrainingSchedule(epochs: 40, batchSize: 64, learningRate: 1e-3, beta1: 0.9, beta2: 0.999)
    /// Draws of every user's samples (each with its own words and negatives).
    public var rounds = 2
    /// Targets per user and round: the last K positions of the training sequence.
    public var targetsPerUser = 2
    /// Negatives per sample (the listening test and eval's candidates20 rank 20 candidates).
    public var negativeCount = 19
    /// Adam's L2 penalty on the head.
    public var weightDecay: Float = 1e-4
    /// Share of users whose samples are held out to choose the epoch (by validation loss).
    public var validationShare = 0.1
    /// At most this many samples (all when nil).
    public var maxSamples: Int?

    public init() {}

    /// The sampler's options: every sample with words, `negativeCount` sampled negatives.
    var samplerOptions: RetrievalOptions {
        var options = RetrievalOptions()
        options.seed = seed
        options.targets = .lastPositions(targetsPerUser)
        options.negatives = .sampled
        options.negativeCount = negativeCount
        options.cfDropout = 0
        options.wishes = 1
        return options
    }
}

/// Trains the word head (`RetrievalWordHead`) of a trained retrieval model, everything else
/// frozen: each wish sample's user prompt (history and words) runs once through the LM, forward
/// only, for the user head's output and the words' mean final state; then the head learns, over
/// those features, the retrieval loss (cross-entropy of the positive against the sample's
/// negatives, scored against the catalog's item vectors as the model scores them). The epoch
/// with the lowest loss on held-out users' samples is kept. Not thread-safe: one caller drives it.
public final class WordHeadTrainer: Trainer {
    public let options: WordHeadOptions
    public let model: RetrievalModel
    /// The catalog's item vectors as the model scores them, [(items + 1) · 128].
    public let itemVectors: [Float]
    public private(set) var head: RetrievalWordHead
    /// The head's columns each catalog item has, [items + 1].
    public let itemColumns: [[Int]]
    /// The head with the lowest validation loss so far, and that loss.
    public private(set) var best: (head: RetrievalWordHead, loss: Float, epoch: Int)
    public private(set) var optimizer: Adam
    public private(set) var epochsDone = 0
    /// The samples' features, split into training and validation.
    public let training: Features
    public let validation: Features

    /// The features of wish samples: per sample the user head's output [128], the words' mean
    /// final state [e], the wish's kind and the candidates (positive first).
    public struct Features: Sendable {
        public var headed: [Float] = []
        public var words: [Float] = []
        public var candidates: [[Int32]] = []
        public var kinds: [TrainingWish.Kind] = []
        public var count: Int { candidates.count }

        public init() {}

        /// Features given directly (tests): `headed` [count · 128], `words` [count · e].
        public init(headed: [Float], words: [Float], candidates: [[Int32]], kinds: [TrainingWish.Kind]) {
            self.headed = headed
            self.words = words
            self.candidates = candidates
            self.kinds = kinds
        }
    }

    /// What an epoch reports: the training loss over its steps, the validation loss and Hit@1 with
    /// the head, and (constant) the validation Hit@1 without it.
    public struct EpochReport: Sendable {
        public var epoch: Int
        public var trainingLoss, validationLoss: Float
        public var validationHit1, validationHit1WithoutWords: Double
    }

    /// A trainer over features already computed (`features(model:dataset:options:progress:)`, or
    /// a `WordFeaturesFile`): the head's columns are `catalog`'s, and it starts at zero, i.e. at
    /// the model as it is.
    public init(
        model: RetrievalModel, itemVectors: [Float], catalog: Catalog, training: Features, validation: Features, options: WordHeadOptions
    ) {
        self.options = options
        self.model = model
        self.itemVectors = itemVectors
        self.training = training
        self.validation = validation
        head = RetrievalWordHead(columns: RetrievalWordHead.columns(of: catalog), embeddingSize: model.weights.embeddingSize)
        itemColumns = head.itemColumns(of: catalog)
        best = (head, .infinity, 0)
        optimizer = Adam(
            sizes: [head.weight.count, head.bias.count], learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2,
            weightDecay: options.weightDecay)
    }

    /// Builds the wish samples and runs their prompts through the LM (the long part: one pass per
    /// 8 prompts, `progress(done, total)` after each); a user's samples all go to training or all
    /// to validation.
    public static func features(
        model: RetrievalModel, dataset: PreparedDataset, options: WordHeadOptions, progress: (Int, Int) -> Void = { _, _ in }
    ) throws(DecoderError) -> (training: Features, validation: Features) {
        let sampler = RetrievalSampler(sasrec: model.sasrec, builder: model.builder, dataset: dataset, options: options.samplerOptions)
        var labelled: [(example: RetrievalExample, wish: TrainingWish, user: Int)] = []
        for round in 1...max(1, options.rounds) {
            let samples = sampler.samples(epoch: round)
            for (sample, pair) in zip(samples, sampler.labelledExamples(samples, epoch: round)) {
                if let wish = pair.wish { labelled.append((pair.example, wish, sample.user)) }
            }
        }
        if let maxSamples = options.maxSamples { labelled = Array(labelled.prefix(maxSamples)) }
        let e = model.weights.embeddingSize
        let size = RetrievalWeights.vectorSize
        var training = Features()
        var validation = Features()
        let batch = 8
        for start in stride(from: 0, to: labelled.count, by: batch) {
            let chunk = labelled[start..<min(start + batch, labelled.count)]
            let features = try model.userFeatures(chunk.map(\.example.userPrompt))
            for (row, sample) in chunk.enumerated() {
                var user = SplitMix64(seed: options.seed ^ 0x574F_5244, stream: UInt64(sample.user))
                let held = Double(user.next() >> 11) / Double(1 << 53) < options.validationShare
                func add(to target: inout Features) {
                    target.headed += features.headed[(row * size)..<((row + 1) * size)]
                    target.words += features.words[(row * e)..<((row + 1) * e)]
                    target.candidates.append(sample.example.candidates.map(\.item))
                    target.kinds.append(sample.wish.kind)
                }
                if held { add(to: &validation) } else { add(to: &training) }
            }
            progress(min(start + batch, labelled.count), labelled.count)
        }
        return (training, validation)
    }

    /// What identifies the features' samples (with the model's and the dataset's identity, the
    /// key of a `WordFeaturesFile`).
    public static func samplesIdentity(_ options: WordHeadOptions) -> String {
        "seed=\(options.seed) rounds=\(options.rounds) targets=last\(options.targetsPerUser) negatives=\(options.negativeCount) "
            + "validation=\(options.validationShare) samples=\(options.maxSamples.map(String.init) ?? "all")"
    }

    /// The head, its optimiser and the epochs done.
    public struct State: Sendable {
        public var head: RetrievalWordHead
        public var best: RetrievalWordHead
        public var bestLoss: Float
        public var bestEpoch: Int
        public var step, epochsDone: Int
        public var firstMoments, secondMoments: [[Float]]
    }

    public var state: State {
        State(
            head: head, best: best.head, bestLoss: best.loss, bestEpoch: best.epoch, step: optimizer.step, epochsDone: epochsDone,
            firstMoments: optimizer.firstMoments, secondMoments: optimizer.secondMoments)
    }

    public func restore(_ state: State) {
        head = state.head
        best = (state.best, state.bestLoss, state.bestEpoch)
        optimizer.restore(step: state.step, firstMoments: state.firstMoments, secondMoments: state.secondMoments)
        epochsDone = state.epochsDone
    }

    /// The mean loss of the samples `rows` of `features` under `head`, as this trainer scores.
    func loss(
        of features: Features, rows: [Int], head: RetrievalWordHead, gradients: Bool = false
    ) -> (loss: Float, ranks: [Int], weight: [Float], bias: [Float]) {
        Self.loss(
            of: features, rows: rows, head: head, itemVectors: itemVectors, itemColumns: itemColumns,
            temperature: model.manifest.retrievalTemperature, gradients: gradients)
    }

    /// The mean retrieval loss of the samples `rows` of `features` under `head`: a candidate's
    /// logit is its score as `RetrievalModel.score` gives it, over the temperature: (user vector ·
    /// item vector) / τ under cosine scores (the user head's output normalised; dot products when
    /// `temperature` is nil, τ = 1), plus the head's preferences of the item's columns
    /// (`itemColumns[item]`); cross-entropy of candidate 0. Also each sample's rank of its
    /// positive (0 best) and, with `gradients`, the mean loss's gradient for the head's weight and
    /// bias (else empty). `itemVectors` is [(items + 1) · 128].
    public static func loss(
        of features: Features, rows: [Int], head: RetrievalWordHead, itemVectors: [Float], itemColumns: [[Int]], temperature: Float?,
        gradients: Bool = false
    ) -> (loss: Float, ranks: [Int], weight: [Float], bias: [Float]) {
        let size = RetrievalWeights.vectorSize
        let e = head.embeddingSize
        let width = head.columns.count
        let words = rows.flatMap { features.words[($0 * e)..<(($0 + 1) * e)] }
        let preferences = head.forward(words, rows: rows.count)
        let scale = 1 / (temperature ?? 1)
        var total: Float = 0
        var dPreferences = [Float](repeating: 0, count: rows.count * width)
        var ranks = [Int](repeating: 0, count: rows.count)
        for (index, row) in rows.enumerated() {
            var user = Array(features.headed[(row * size)..<((row + 1) * size)])
            if temperature != nil {
                let norm = max(1e-12, user.reduce(0) { $0 + $1 * $1 }.squareRoot())
                for k in 0..<size { user[k] /= norm }
            }
            let own = preferences[(index * width)..<((index + 1) * width)]
            let candidates = features.candidates[row]
            let logits = candidates.map { item in
                var dot: Float = 0
                for k in 0..<size { dot += user[k] * itemVectors[Int(item) * size + k] }
                return dot * scale + RetrievalWordHead.lift(own, itemColumns: itemColumns[Int(item)])
            }
            let top = logits.max() ?? 0
            let exps = logits.map { Foundation.exp($0 - top) }
            let sum = exps.reduce(0, +)
            total += Foundation.log(sum) + top - logits[0]
            ranks[index] = RankingMetrics.rank(of: 0, in: logits)
            guard gradients else { continue }
            for (j, item) in candidates.enumerated() {
                let weight = (exps[j] / sum - (j == 0 ? 1 : 0)) / Float(rows.count)
                for column in itemColumns[Int(item)] { dPreferences[index * width + column] += weight }
            }
        }
        var dWeight: [Float] = []
        var dBias: [Float] = []
        if gradients {
            dWeight = [Float](repeating: 0, count: head.weight.count)
            dBias = [Float](repeating: 0, count: head.bias.count)
            Linear.backward(
                dx: nil, dweight: &dWeight, dbias: &dBias, dout: dPreferences, x: words, weight: head.weight, rows: rows.count, inFeatures: e,
                outFeatures: width)
        }
        return (total / Float(max(1, rows.count)), ranks, dWeight, dBias)
    }

    /// Validation loss and Hit@1 of `head`.
    func validate(_ head: RetrievalWordHead) -> (loss: Float, hit1: Double) {
        guard validation.count > 0 else { return (0, 0) }
        let checked = loss(of: validation, rows: Array(0..<validation.count), head: head)
        return (checked.loss, Double(checked.ranks.filter { $0 == 0 }.count) / Double(validation.count))
    }

    /// Runs the remaining epochs over the training features; `onProgress` after each epoch.
    public func train(shouldStop: () -> Bool = { false }, onProgress: (EpochReport) throws -> Void) throws {
        let without = validate(RetrievalWordHead(columns: head.columns, embeddingSize: head.embeddingSize)).hit1
        while epochsDone < options.epochs {
            if shouldStop() { return }
            let epoch = epochsDone + 1
            var generator = SplitMix64(seed: options.seed, stream: UInt64(epoch))
            var order = Array(0..<training.count)
            order.shuffle(using: &generator)
            var lossSum: Float = 0
            var steps = 0
            for start in stride(from: 0, to: order.count, by: options.batchSize) {
                let rows = Array(order[start..<min(start + options.batchSize, order.count)])
                let step = loss(of: training, rows: rows, head: head, gradients: true)
                lossSum += step.loss
                steps += 1
                optimizer.beginStep()
                optimizer.update(0, parameter: &head.weight, gradient: step.weight, count: head.weight.count)
                optimizer.update(1, parameter: &head.bias, gradient: step.bias, count: head.bias.count)
            }
            epochsDone = epoch
            let checked = validate(head)
            if checked.loss < best.loss || validation.count == 0 { best = (head, checked.loss, epoch) }
            try onProgress(
                EpochReport(
                    epoch: epoch, trainingLoss: lossSum / Float(max(1, steps)), validationLoss: checked.loss, validationHit1: checked.hit1,
                    validationHit1WithoutWords: without))
        }
    }
}
