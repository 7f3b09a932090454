import Checkpoints
import Datasets
import Foundation
import Models
import Numerics

/// Settings of stage 1 (`allmrec-spec.md` §3.4); the defaults are the original's.
public struct Stage1Options: Sendable {
    public var epochs = 10
    /// Users per step (the original's batch_size1).
    public var batchSize = 32
    public var learningRate: Float = 1e-4
    public var beta1: Float = 0.9
    public var beta2: Float = 0.98
    /// Seeds initialisation, negatives and SASRec's dropout masks.
    public var seed: UInt64 = 42
    /// Compute x_u with SASRec's dropout active, as the original (SASRec left in train mode).
    public var sasrecDropout = true
    /// Score with the mean over dimensions (the original) rather than the dot product.
    public var meanScore = true

    public init() {}
}

/// Stage 1 with a frozen text encoder (item text embeddings precomputed, e.g. from the catalog
/// embedding cache): every epoch walks users 1…N in order (the original does not shuffle) in
/// batches; each user contributes x_u = SASRec(train[:-1]) at the last slot, the positive
/// train[-1], one uniform negative outside the user's training items, and the two items' text
/// embeddings. Users with fewer than two training items are skipped (the original feeds them as
/// item 0, "No Title"). Deterministic for a seed: negatives and dropout come from per-(epoch, batch)
/// streams of it.
public final class Stage1Trainer {
    public let options: Stage1Options
    public private(set) var item: TwoLayerMLP
    public private(set) var text: TwoLayerMLP
    public private(set) var optimizer: Adam
    public private(set) var epochsDone = 0
    let dataset: PreparedDataset
    let sasrec: SASRecModel
    let itemEmbeddings: [Float]
    let textEmbeddings: [Float]
    let textDim: Int
    let users: [Int]

    /// - textEmbeddings: [(items + 1) · textDim], row i the sentence embedding of item i's text.
    public init(dataset: PreparedDataset, sasrec: SASRecModel, textEmbeddings: [Float], textDim: Int, options: Stage1Options) {
        self.options = options
        self.dataset = dataset
        self.sasrec = sasrec
        self.textEmbeddings = textEmbeddings
        self.textDim = textDim
        itemEmbeddings = sasrec.itemEmbeddings
        var generator = SplitMix64(seed: options.seed)
        item = TwoLayerMLP(dim: sasrec.configuration.hiddenUnits, generator: &generator)
        text = TwoLayerMLP(dim: textDim, generator: &generator)
        optimizer = Adam(
            sizes: item.parameterSizes + text.parameterSizes, learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2)
        users = (1...max(1, dataset.userCount)).filter { $0 < dataset.train.count && dataset.train[$0].count >= 2 }
    }

    /// Restores a saved state (from `Stage1StateFile`).
    public func restore(_ state: Stage1StateFile.State) {
        item = state.item
        text = state.text
        optimizer.restore(step: state.step, firstMoments: state.firstMoments, secondMoments: state.secondMoments)
        epochsDone = state.epochsDone
    }

    public var state: Stage1StateFile.State {
        Stage1StateFile.State(
            item: item, text: text, step: optimizer.step, epochsDone: epochsDone, firstMoments: optimizer.firstMoments,
            secondMoments: optimizer.secondMoments)
    }

    public var stepsPerEpoch: Int { (users.count + options.batchSize - 1) / options.batchSize }

    /// Mean losses of one epoch.
    public struct EpochReport: Sendable {
        public var epoch: Int
        public var recommendation, matching, itemReconstruction, textReconstruction, total: Double
        public var seconds: Double
    }

    /// Trains the remaining epochs; `onEpoch` runs after each (save state there). `shouldStop` is
    /// polled between steps; an interrupted epoch is not counted (it reruns on resume).
    public func train(shouldStop: () -> Bool = { false }, onEpoch: (EpochReport) throws -> Void) throws {
        var weights = Stage1Objective.Weights()
        weights.meanScore = options.meanScore
        let cf = item.dim
        while epochsDone < options.epochs {
            let started = Date()
            let epoch = epochsDone + 1
            var sums = [Double](repeating: 0, count: 5)
            var steps = 0
            for (batchIndex, start) in stride(from: 0, to: users.count, by: options.batchSize).enumerated() {
                if shouldStop() { return }
                let members = Array(users[start..<min(start + options.batchSize, users.count)])
                var generator = SplitMix64(seed: options.seed, stream: UInt64(epoch) << 32 | UInt64(batchIndex))
                let histories = members.map { Array(dataset.train[$0].dropLast()) }
                let representations = sasrec.userRepresentations(
                    histories, dropoutSeed: options.sasrecDropout ? generator.next() : nil)
                var batch = Stage1Batch(
                    rows: members.count, users: representations.flatMap { $0 }, positiveItems: [], negativeItems: [], positiveTexts: [],
                    negativeTexts: [])
                for user in members {
                    let train = dataset.train[user]
                    let positive = Int(train[train.count - 1])
                    let negative = Int(
                        NegativeSampler.sample(count: 1, itemCount: dataset.itemCount, excluded: Set(train), using: &generator).first ?? 0)
                    batch.positiveItems += itemEmbeddings[(positive * cf)..<((positive + 1) * cf)]
                    batch.negativeItems += itemEmbeddings[(negative * cf)..<((negative + 1) * cf)]
                    batch.positiveTexts += textEmbeddings[(positive * textDim)..<((positive + 1) * textDim)]
                    batch.negativeTexts += textEmbeddings[(negative * textDim)..<((negative + 1) * textDim)]
                }
                let result = Stage1Objective.evaluate(item: item, text: text, batch: batch, weights: weights)
                optimizer.beginStep()
                item.apply(result.itemGradients, optimizer: &optimizer, offset: 0)
                text.apply(result.textGradients, optimizer: &optimizer, offset: 4)
                for (index, value) in [
                    result.recommendation, result.matching, result.itemReconstruction, result.textReconstruction, result.total,
                ].enumerated() {
                    sums[index] += Double(value)
                }
                steps += 1
            }
            epochsDone = epoch
            let mean = sums.map { $0 / Double(max(steps, 1)) }
            try onEpoch(
                EpochReport(
                    epoch: epoch, recommendation: mean[0], matching: mean[1], itemReconstruction: mean[2], textReconstruction: mean[3],
                    total: mean[4], seconds: Date().timeIntervalSince(started)))
        }
    }
}

/// Stage 1's resumable state (`BUNDLE/stage1.training.safetensors`): both MLPs, Adam's moments,
/// and in the metadata the step, epochs done and the run's identity.
public enum Stage1StateFile {
    public struct State: Sendable {
        public var item, text: TwoLayerMLP
        public var step, epochsDone: Int
        public var firstMoments, secondMoments: [[Float]]
    }

    public static func save(_ state: State, identity: String, to path: String) throws {
        var tensors = state.item.namedTensors.map { ("item." + $0.name, $0.tensor) } + state.text.namedTensors.map { ("text." + $0.name, $0.tensor) }
        for (index, (first, second)) in zip(state.firstMoments, state.secondMoments).enumerated() {
            tensors.append(("adam.m.\(index)", Tensor(shape: [first.count], storage: first)))
            tensors.append(("adam.v.\(index)", Tensor(shape: [second.count], storage: second)))
        }
        try SafetensorsFile.write(
            tensors: tensors, metadata: ["identity": identity, "step": String(state.step), "epochsDone": String(state.epochsDone)], to: path)
    }

    /// The saved state when `path` exists and belongs to the same run; nil otherwise.
    public static func load(from path: String, identity: String) throws -> State? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafetensorsFile(path: path)
        guard file.metadata["identity"] == identity, let step = file.metadata["step"].flatMap(Int.init),
            let epochs = file.metadata["epochsDone"].flatMap(Int.init)
        else { return nil }
        var item: [String: Tensor] = [:]
        var text: [String: Tensor] = [:]
        var first: [[Float]] = []
        var second: [[Float]] = []
        for name in file.names {
            if name.hasPrefix("item.") { item[String(name.dropFirst(5))] = try file.tensor(named: name) }
            if name.hasPrefix("text.") { text[String(name.dropFirst(5))] = try file.tensor(named: name) }
        }
        for index in 0..<8 {
            first.append(try file.tensor(named: "adam.m.\(index)").storage)
            second.append(try file.tensor(named: "adam.v.\(index)").storage)
        }
        return State(
            item: try TwoLayerMLP(tensors: item), text: try TwoLayerMLP(tensors: text), step: step, epochsDone: epochs, firstMoments: first,
            secondMoments: second)
    }

    public static func identity(dataset: String, sasrec: String, textEmbeddings: String, options: Stage1Options) -> String {
        "data=\(dataset) sasrec=\(sasrec) text=\(textEmbeddings) batch=\(options.batchSize) lr=\(options.learningRate) "
            + "betas=\(options.beta1),\(options.beta2) seed=\(options.seed) dropout=\(options.sasrecDropout) mean=\(options.meanScore)"
    }
}
