import Checkpoints
import Datasets
import Foundation
import Models
import Numerics

/// Settings of retrieval training (LLM-SRec: Adam lr 1e-4, betas (0.9, 0.98), batch 20, target =
/// the last training item, 3 random negatives); the rest are what the paper leaves open.
public struct RetrievalOptions: TrainerOptions {
    /// Which positions of a user's training sequence are targets.
    public enum Targets: Sendable, Equatable, CustomStringConvertible {
        /// The last training item (LLM-SRec).
        case last
        /// The last K training items, each with the history before it.
        case lastPositions(Int)

        public var description: String {
            switch self {
            case .last: return "last"
            case .lastPositions(let count): return "last\(count)"
            }
        }
    }

    /// Where a sample's negatives come from.
    public enum Negatives: String, Sendable, CaseIterable {
        /// Uniform draws among the items the user never interacted with (LLM-SRec).
        case sampled
        /// The sampled ones, plus every other candidate of the batch.
        case inBatch = "in-batch"
        /// Draws from SASRec's 50 best-scored items the user never interacted with.
        case hard
    }

    /// One epoch of 8 samples a step at Adam 1e-4.
    public var schedule = TrainingSchedule(epochs: 1, batchSize: 8, learningRate: 1e-4)
    public var targets = Targets.last
    public var negatives = Negatives.sampled
    /// Negatives drawn per sample (3 in LLM-SRec).
    public var negativeCount = 3
    /// Chance that a candidate's prompt leaves its collaborative token out, so that items without
    /// interactions (read by title alone) get trained vectors too.
    public var cfDropout: Float = 0.1
    /// Train on a seeded sample of at most this many users per epoch (all when nil).
    public var maxUsers: Int?
    /// Cosine scores / τ instead of LLM-SRec's dot products (`RetrievalObjective.Options.temperature`).
    public var temperature: Float?
    /// Share of samples whose user prompt carries words made from the data (`WishMaker`), so that
    /// the model learns to listen: words that fit the target pull it up against the user's best items
    /// without that facet, a facet it lacks moves the positive to an item that has it, "no more X"
    /// pushes items with X down (`TrainingWish.Kind`). These samples leave out the distillation term:
    /// SASRec's vector never reads the words. 0: none (LLM-SRec).
    public var wishes: Float = 0
    /// Weight of the distillation term that pulls the user vector towards SASRec's
    /// (`RetrievalObjective.Options.distillationWeight`; 1 in LLM-SRec, 0 leaves the LM path to learn
    /// its own user vector from the targets alone).
    public var distillationWeight: Float = 1

    public init() {}

    /// What identifies a run in its state file.
    public var identity: String {
        "batch=\(batchSize) lr=\(learningRate) betas=\(beta1),\(beta2) seed=\(seed) targets=\(targets) "
            + "negatives=\(negatives.rawValue)x\(negativeCount) cfDropout=\(cfDropout) users=\(maxUsers.map(String.init) ?? "all") "
            + "score=\(temperature.map { "cosine/\($0)" } ?? "dot")" + (wishes > 0 ? " wishes=\(wishes)" : "")
            + (distillationWeight != 1 ? " distillation=\(distillationWeight)" : "")
    }
}

/// Retrieval through the frozen LM (LLM-SRec): every epoch visits the (user, target) samples in a
/// seeded shuffle; each is the user prompt of the history before the target, SASRec's user vector
/// of that history (the distillation teacher's input), the target and its negatives.
public final class RetrievalTrainer: Trainer {
    public let options: RetrievalOptions
    public let decoder: CausalDecoder
    public let sasrec: SASRecModel
    public let builder: RetrievalPromptBuilder
    public private(set) var weights: RetrievalWeights
    public private(set) var optimizer: Adam
    public private(set) var epochsDone = 0
    /// Samples of the current epoch already trained (a resumed run skips them).
    public private(set) var position = 0
    let itemEmbeddings: [Float]
    /// The item prompts' text, run once per item.
    let prefixes: PrefixStore
    /// What each epoch's samples and their examples are.
    public let sampler: RetrievalSampler
    /// The words of wish samples (with `options.wishes`).
    public var wishMaker: WishMaker { sampler.wishMaker }

    /// `decoder` should hold training weights (`trainingWeights(_:)`): the backward pass multiplies by them.
    public init(
        decoder: CausalDecoder, sasrec: SASRecModel, builder: RetrievalPromptBuilder, dataset: PreparedDataset, options: RetrievalOptions
    ) {
        self.options = options
        self.decoder = decoder
        self.sasrec = sasrec
        self.builder = builder
        itemEmbeddings = sasrec.itemEmbeddings
        prefixes = PrefixStore(decoder: decoder)
        sampler = RetrievalSampler(sasrec: sasrec, builder: builder, dataset: dataset, options: options)
        var generator = SplitMix64(seed: options.seed)
        let c = decoder.configuration
        let sampleRows = (0..<4096).map { _ in Int(generator.next() % UInt64(c.vocabularySize)) }
        let table = sampleRows.flatMap { decoder.weights.tokenEmbeddings.row($0, columns: c.embeddingSize) }
        weights = RetrievalWeights(
            cfSize: sasrec.configuration.hiddenUnits, embeddingSize: c.embeddingSize, tokenEmbeddings: table, userToken: builder.template.userToken,
            generator: &generator)
        optimizer = Adam(sizes: weights.parameterSizes, learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2)
    }

    /// Starts from trained weights (another run's `retrieval.safetensors`) instead of the seeded
    /// initialisation; Adam starts afresh. Before training only.
    public func start(from trained: RetrievalWeights) throws(RetrievalError) {
        guard trained.parameterSizes == weights.parameterSizes else {
            throw .shapeMismatch(name: "retrieval weights", expected: weights.parameterSizes, got: trained.parameterSizes)
        }
        weights = trained
    }

    public func restore(_ state: RetrievalStateFile.State) {
        weights = state.weights
        optimizer.restore(step: state.step, firstMoments: state.firstMoments, secondMoments: state.secondMoments)
        epochsDone = state.epochsDone
        position = state.position
    }

    public var state: RetrievalStateFile.State {
        RetrievalStateFile.State(
            weights: weights, step: optimizer.step, epochsDone: epochsDone, position: position, firstMoments: optimizer.firstMoments,
            secondMoments: optimizer.secondMoments)
    }

    /// The samples of `epoch` in training order.
    public func samples(epoch: Int) -> [RetrievalSampler.Sample] { sampler.samples(epoch: epoch) }

    /// The training examples of `samples` in `epoch` (deterministic).
    public func examples(_ samples: [RetrievalSampler.Sample], epoch: Int) -> [RetrievalExample] {
        sampler.examples(samples, epoch: epoch)
    }

    /// The training examples of `samples` in `epoch` with the wish each carries (nil for none).
    public func labelledExamples(_ samples: [RetrievalSampler.Sample], epoch: Int) -> [(example: RetrievalExample, wish: TrainingWish?)] {
        sampler.labelledExamples(samples, epoch: epoch)
    }

    /// What one step reports.
    public struct StepReport: Sendable {
        /// Epoch, optimiser step, samples of the epoch done, samples in the epoch, samples in this step.
        public var epoch, step, done, total, samples: Int
        public var loss, retrieval, distillation, uniformity: Float
        public var tokens: Int
        public var seconds: Double
        /// Of `seconds`: the LM's forward and backward passes.
        public var forwardSeconds, backwardSeconds: Double
        /// The step's examples and the gradients it applied (with the weights before the step).
        public var batch: [RetrievalExample]
        public var gradients: RetrievalWeights.Gradients
    }

    /// The objective's settings that the options imply.
    public var objectiveOptions: RetrievalObjective.Options {
        var objective = RetrievalObjective.Options()
        objective.inBatchNegatives = options.negatives == .inBatch
        objective.temperature = options.temperature
        objective.distillationWeight = options.distillationWeight
        return objective
    }

    /// Trains the remaining epochs; `onProgress` runs after every step (save state there every so
    /// often); `shouldStop` is polled between steps.
    public func train(shouldStop: () -> Bool = { false }, onProgress: (StepReport) throws -> Void) throws {
        let objective = objectiveOptions
        while epochsDone < options.epochs {
            let epoch = epochsDone + 1
            let order = samples(epoch: epoch)
            while position < order.count {
                if shouldStop() { return }
                let started = Date()
                let members = Array(order[position..<min(position + options.batchSize, order.count)])
                let batch = examples(members, epoch: epoch)
                let result = try RetrievalObjective.evaluate(
                    decoder: decoder, weights: weights, itemEmbeddings: itemEmbeddings, batch: batch, options: objective, prefixes: prefixes
                ) { [builder] in builder.itemPrompt($0.item, softToken: $0.softToken) }
                optimizer.beginStep()
                weights.apply(result.gradients, optimizer: &optimizer)
                position += members.count
                try onProgress(
                    StepReport(
                        epoch: epoch, step: optimizer.step, done: position, total: order.count, samples: members.count, loss: result.loss,
                        retrieval: result.retrieval, distillation: result.distillation, uniformity: result.uniformity, tokens: result.tokens,
                        seconds: Date().timeIntervalSince(started), forwardSeconds: result.forwardSeconds, backwardSeconds: result.backwardSeconds,
                        batch: batch, gradients: result.gradients))
            }
            epochsDone = epoch
            position = 0
        }
    }
}

/// Retrieval training's resumable state (`BUNDLE/retrieval.training.safetensors`): the weights,
/// Adam's moments, and in the metadata the step, epochs done, position in the current epoch and
/// the run's identity.
public enum RetrievalStateFile {
    public struct State: Sendable {
        public var weights: RetrievalWeights
        public var step, epochsDone, position: Int
        public var firstMoments, secondMoments: [[Float]]
    }

    public static func save(_ state: State, identity: String, to path: String) throws {
        try StepStateFile.save(
            tensors: state.weights.namedTensors, firstMoments: state.firstMoments, secondMoments: state.secondMoments,
            progress: TrainingProgress(step: state.step, epochsDone: state.epochsDone, position: state.position), identity: identity, to: path)
    }

    /// The saved state when `path` holds one of the same run; nil otherwise.
    public static func load(from path: String, identity: String) throws -> State? {
        guard let (file, progress) = try StepStateFile.open(path, identity: identity) else { return nil }
        var tensors: [String: Tensor] = [:]
        for name in file.names where !name.hasPrefix("adam.") { tensors[name] = try file.tensor(named: name) }
        let weights = try RetrievalWeights(tensors: tensors)
        let moments = try AdamMomentTensors.read(from: file, count: weights.parameterSizes.count)
        return State(
            weights: weights, step: progress.step, epochsDone: progress.epochsDone, position: progress.position,
            firstMoments: moments.first, secondMoments: moments.second)
    }
}
