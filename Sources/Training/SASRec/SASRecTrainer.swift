import Datasets
import Foundation
import Models
import Numerics

/// How `llmrec train sasrec` trains; defaults are A-LLMRec's (ghdtjr/A-LLMRec `pre_train/sasrec/main.py`).
public struct SASRecTrainingOptions: TrainerOptions {
    /// 200 epochs of batches of 128 users at Adam 1e-3.
    public var schedule = TrainingSchedule(epochs: 200, batchSize: 128, learningRate: 1e-3)
    public var l2Embedding: Float = 0
    /// Evaluate on the validation split (100 negatives, NDCG@10) every this many epochs; 0 never.
    public var validateEvery = 20
    /// Users evaluated per validation (a seeded sample when there are more).
    public var validationUsers = 10_000
    /// Threads that share each batch (data-parallel shards, each running single-threaded BLAS);
    /// results are deterministic for a given seed and thread count.
    public var threads = 1

    public init() {}
}

/// One epoch's outcome, for progress and the caller's bookkeeping.
public struct SASRecEpochReport: Sendable {
    public var epoch: Int
    public var meanLoss: Float
    public var seconds: Double
    /// NDCG@10 and Hit@10 on the validation split (100 negatives), when validated this epoch.
    public var validationNDCG10: Double?
    public var validationHit10: Double?
}

/// The complete state of a training run: enough to resume it exactly.
public struct SASRecTrainingState: Sendable {
    public var weights: [Float]
    public var firstMoments: [Float]
    public var secondMoments: [Float]
    public var step: Int
    public var epochsDone: Int
    public var generatorState: UInt64
    public var bestValidationNDCG10: Double
    public var bestWeights: [Float]?

    public init(
        weights: [Float], firstMoments: [Float], secondMoments: [Float], step: Int, epochsDone: Int, generatorState: UInt64,
        bestValidationNDCG10: Double, bestWeights: [Float]?
    ) {
        self.weights = weights
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
        self.step = step
        self.epochsDone = epochsDone
        self.generatorState = generatorState
        self.bestValidationNDCG10 = bestValidationNDCG10
        self.bestWeights = bestWeights
    }
}

/// Trains SASRec with BCE and one sampled negative per position, as the original: each step draws
/// `batchSize` users uniformly with replacement (users with at most one training item are redrawn),
/// builds their left-padded sequence, next-item targets and negatives (uniform over items the user
/// never had in training, never a held-out item), and takes one Adam step. An epoch is `users / batchSize` steps.
public final class SASRecTrainer: Trainer {
    public let dataset: PreparedDataset
    public let configuration: SASRecConfiguration
    public let options: SASRecTrainingOptions
    public private(set) var state: SASRecTrainingState
    private let layout: ParameterLayout
    private let eligibleUsers: [Int32]
    /// Per user: what negatives are never drawn from (the user's training items and the held-out items).
    private let excludedFromNegatives: [Set<Int32>]

    public init(dataset: PreparedDataset, configuration: SASRecConfiguration, options: SASRecTrainingOptions) throws {
        guard configuration.hiddenUnits % configuration.heads == 0 else {
            throw SASRecError.invalidConfiguration("hidden units \(configuration.hiddenUnits) not divisible by \(configuration.heads) heads")
        }
        self.dataset = dataset
        self.configuration = configuration
        self.options = options
        layout = ParameterLayout(names: SASRecParameters.names(blocks: configuration.blocks), shapes: SASRecParameters.shapes(configuration))
        eligibleUsers = (1...max(dataset.userCount, 1)).compactMap { user in
            user <= dataset.userCount && dataset.train[user].count > 1 ? Int32(user) : nil
        }
        guard !eligibleUsers.isEmpty else {
            throw SASRecError.invalidConfiguration("no user has two or more training interactions")
        }
        excludedFromNegatives = dataset.train.map(dataset.excludedFromNegatives)
        var generator = SplitMix64(seed: options.seed)
        let parameters = SASRecParameters(initializing: configuration, generator: &generator)
        let zeros = [Float](repeating: 0, count: layout.totalCount)
        state = SASRecTrainingState(
            weights: layout.pack(parameters.tensors), firstMoments: zeros, secondMoments: zeros, step: 0, epochsDone: 0,
            generatorState: generator.state, bestValidationNDCG10: -1, bestWeights: nil)
    }

    /// Continues from a saved state (`SASRecTrainingStateFile`); refuses one of another shape.
    public func restore(_ saved: SASRecTrainingState) throws {
        guard saved.weights.count == layout.totalCount else {
            throw SASRecError.invalidConfiguration("the saved training state does not match this configuration")
        }
        state = saved
    }

    /// The model with the current weights.
    public var currentModel: SASRecModel { SASRecModel(configuration: configuration, layout: layout, weights: state.weights) }

    /// The best validated model so far, or the current one when no validation ran.
    public var bestModel: SASRecModel {
        SASRecModel(configuration: configuration, layout: layout, weights: state.bestWeights ?? state.weights)
    }

    /// Runs the remaining epochs; `onProgress` sees each epoch's report (and may save `state`).
    /// Returns when all epochs are done or `shouldStop` turns true between steps (the epoch in
    /// progress is then discarded: `state` still holds the last finished epoch).
    public func train(shouldStop: () -> Bool = { false }, onProgress: (SASRecEpochReport) throws -> Void) throws {
        let batch = options.batchSize
        let length = configuration.maxLength
        let stepsPerEpoch = max(1, dataset.userCount / batch)
        let shardCount = max(1, min(options.threads, batch))
        let shards = (0..<shardCount).map { shard in
            Shard(
                configuration: configuration, layout: layout, firstUser: shard * batch / shardCount,
                users: (shard + 1) * batch / shardCount - shard * batch / shardCount)
        }
        var sequences = [Int32](repeating: 0, count: batch * length)
        var positives = [Int32](repeating: 0, count: batch * length)
        var negatives = [Int32](repeating: 0, count: batch * length)

        while state.epochsDone < options.epochs {
            let started = Date()
            var weights = state.weights
            var adam = Adam(
                sizes: [layout.totalCount], learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2,
                epsilon: 1e-8)
            adam.restore(step: state.step, firstMoments: [state.firstMoments], secondMoments: [state.secondMoments])
            var generator = SplitMix64(seed: state.generatorState)
            var lossSum: Float = 0
            for _ in 0..<stepsPerEpoch {
                if shouldStop() { return }
                sample(sequences: &sequences, positives: &positives, negatives: &negatives, generator: &generator)
                let validPositions = positives.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
                for shard in shards {
                    shard.load(sequences: sequences, positives: positives, negatives: negatives, dropoutSeed: generator.next())
                }
                let l2Embedding = options.l2Embedding
                weights.withUnsafeBufferPointer { buffer in
                    let context = StepContext(weights: buffer.baseAddress!, shards: shards)
                    DispatchQueue.concurrentPerform(iterations: shardCount) { index in
                        context.shards[index].run(
                            weights: context.weights, validPositionsInBatch: validPositions,
                            l2Embedding: index == 0 ? l2Embedding : 0)
                    }
                }
                let gradients = shards[0].gradients
                for shard in shards.dropFirst() {
                    for index in 0..<layout.totalCount { gradients[index] += shard.gradients[index] }
                }
                lossSum += shards.reduce(0) { $0 + $1.loss }
                adam.beginStep()
                weights.withUnsafeMutableBufferPointer { buffer in
                    adam.update(0, parameter: buffer.baseAddress!, gradient: gradients, count: layout.totalCount)
                }
            }
            state.weights = weights
            state.firstMoments = adam.firstMoments[0]
            state.secondMoments = adam.secondMoments[0]
            state.step = adam.step
            state.generatorState = generator.state
            state.epochsDone += 1
            var report = SASRecEpochReport(
                epoch: state.epochsDone, meanLoss: lossSum / Float(stepsPerEpoch), seconds: Date().timeIntervalSince(started))
            let validate = options.validateEvery > 0
                && (state.epochsDone % options.validateEvery == 0 || state.epochsDone == options.epochs)
            if validate {
                let evaluator = Evaluator(
                    dataset: dataset, split: .valid, seed: options.seed, maxUsers: options.validationUsers, showProgress: false)
                let metrics = evaluator.evaluate(currentModel, evaluationProtocol: .candidates(negatives: 100)).overall
                report.validationNDCG10 = metrics.ndcg(at: 10)
                report.validationHit10 = metrics.hit(at: 10)
                if metrics.ndcg(at: 10) > state.bestValidationNDCG10 {
                    state.bestValidationNDCG10 = metrics.ndcg(at: 10)
                    state.bestWeights = state.weights
                }
            }
            try onProgress(report)
        }
    }

    /// One batch as A-LLMRec's SASRec sampler draws it (`pre_train/sasrec/utils.py`): user drawn with
    /// replacement among eligible users; seq = train[:-1] (last maxLength), pos = the next item, neg
    /// uniform over items not in the user's training set (nor held out).
    private func sample(
        sequences sequence: inout [Int32], positives: inout [Int32], negatives: inout [Int32], generator: inout SplitMix64
    ) {
        let length = configuration.maxLength
        let itemCount = Int32(dataset.itemCount)
        for slot in 0..<options.batchSize {
            let user = eligibleUsers[Int.random(in: 0..<eligibleUsers.count, using: &generator)]
            let train = dataset.train[Int(user)]
            let excluded = excludedFromNegatives[Int(user)]
            let base = slot * length
            for index in 0..<length {
                sequence[base + index] = 0
                positives[base + index] = 0
                negatives[base + index] = 0
            }
            var next = train[train.count - 1]
            var position = length - 1
            for item in train.dropLast().reversed() {
                sequence[base + position] = item
                positives[base + position] = next
                var negative: Int32
                repeat { negative = Int32.random(in: 1...itemCount, using: &generator) } while excluded.contains(negative)
                negatives[base + position] = negative
                next = item
                position -= 1
                if position < 0 { break }
            }
        }
    }
}

/// One thread's share of a batch: its rows of the inputs, its activations and its gradients.
/// Used by one thread at a time (the step's concurrentPerform gives each shard to one iteration).
private final class Shard: @unchecked Sendable {
    let firstUser: Int
    let users: Int
    let workspace: SASRecWorkspace
    let layout: ParameterLayout
    let gradients: UnsafeMutablePointer<Float>
    let dLogFeatures: UnsafeMutablePointer<Float>
    var positives: [Int32]
    var negatives: [Int32]
    var dropoutSeed: UInt64 = 0
    var loss: Float = 0

    init(configuration: SASRecConfiguration, layout: ParameterLayout, firstUser: Int, users: Int) {
        self.firstUser = firstUser
        self.users = users
        self.layout = layout
        workspace = SASRecWorkspace(configuration: configuration, batch: users)
        gradients = .allocate(capacity: layout.totalCount)
        let rows = users * configuration.maxLength
        dLogFeatures = .allocate(capacity: rows * configuration.hiddenUnits)
        positives = [Int32](repeating: 0, count: rows)
        negatives = [Int32](repeating: 0, count: rows)
    }

    deinit {
        gradients.deallocate()
        dLogFeatures.deallocate()
    }

    /// Copies this shard's rows of the batch (on the calling thread, before the parallel part).
    func load(sequences: [Int32], positives batchPositives: [Int32], negatives batchNegatives: [Int32], dropoutSeed: UInt64) {
        let length = workspace.configuration.maxLength
        let start = firstUser * length
        for offset in 0..<(users * length) {
            workspace.sequence[offset] = sequences[start + offset]
            positives[offset] = batchPositives[start + offset]
            negatives[offset] = batchNegatives[start + offset]
        }
        self.dropoutSeed = dropoutSeed
    }

    /// Forward, loss and backward of this shard into its own gradient buffer.
    func run(weights: UnsafePointer<Float>, validPositionsInBatch: Int, l2Embedding: Float) {
        gradients.update(repeating: 0, count: layout.totalCount)
        var generator = SplitMix64(seed: dropoutSeed)
        SASRecNetwork.forward(weights: weights, layout: layout, workspace: workspace, training: true, generator: &generator)
        loss = SASRecLoss.forwardBackward(
            weights: weights, gradients: gradients, layout: layout, workspace: workspace, positives: positives,
            negatives: negatives, dLogFeatures: dLogFeatures, l2Embedding: l2Embedding,
            validPositionsInBatch: validPositionsInBatch
        ).loss
        SASRecNetwork.backward(
            dLogFeatures: dLogFeatures, weights: weights, gradients: gradients, layout: layout, workspace: workspace)
    }
}

/// What the parallel part of a step reads: the weights (unchanged during it) and the shards.
private struct StepContext: @unchecked Sendable {
    let weights: UnsafePointer<Float>
    let shards: [Shard]
}
