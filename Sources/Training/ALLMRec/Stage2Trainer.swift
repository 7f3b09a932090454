import Checkpoints
import Datasets
import Foundation
import Models
import Numerics

/// Settings of stage 2 (ghdtjr/A-LLMRec `main.py` and `models/a_llmrec_model.py`); defaults are the original's except the epoch
/// count, which a CPU run chooses (the original trains 10 and keeps epoch 5).
public struct Stage2Options: TrainerOptions {
    /// One epoch of 2 users a step (the original's batch_size2) at Adam 1e-4.
    public var schedule = TrainingSchedule(epochs: 1, batchSize: 2, learningRate: 1e-4)
    /// Compute x_u with SASRec's dropout active, as the original.
    public var sasrecDropout = true
    /// Train on a seeded sample of at most this many users per epoch (all when nil).
    public var maxUsers: Int?
    /// Negatives drawn before the candidates are cut to the template's count (the original draws 50).
    public var negativePool = 50
    /// Scale both projectors' outputs (a fixed factor) so that soft tokens start at the mean norm
    /// of the LM's token embeddings; off in the original, whose soft tokens can be far larger.
    public var matchEmbeddingScale = false

    public init() {}
}

/// Stage 2: F_U and F_I learn to put the user and items into the frozen LM's input space so that
/// it writes the right title. Every epoch visits the users (with at least two training items) in
/// a seeded shuffle; each contributes the prompt of its history window train[:-1] (last 50 items,
/// the template's count shown), its target train[-1] among negatives from outside the window
/// (the original's sampler: 50 uniform draws outside the window, 19 kept, target added, shuffled).
public final class Stage2Trainer: Trainer {
    public let options: Stage2Options
    public let model: ALLMRecModel
    public private(set) var projectors: Stage2Projectors
    public private(set) var optimizer: Adam
    public private(set) var epochsDone = 0
    /// Users of the current epoch already trained (a resumed run skips them).
    public private(set) var position = 0
    let dataset: PreparedDataset
    let builder: PromptBuilder

    public init(model: ALLMRecModel, dataset: PreparedDataset, options: Stage2Options) throws(ALLMRecError) {
        guard let lm = model.languageModel, let builder = model.promptBuilder else { throw .invalidBundle("stage 2 needs an LM") }
        self.options = options
        self.model = model
        self.dataset = dataset
        self.builder = builder
        var generator = SplitMix64(seed: options.seed)
        projectors = Stage2Projectors(
            userSize: model.sasrec.configuration.hiddenUnits, embeddingSize: lm.decoder.configuration.embeddingSize, generator: &generator)
        if options.matchEmbeddingScale {
            let initial = ALLMRecModel(
                manifest: model.manifest, sasrec: model.sasrec, itemMLP: model.itemMLP, textMLP: model.textMLP, projectors: projectors,
                languageModel: lm, dataset: dataset)
            let users = (1...min(200, dataset.userCount)).map { Array(dataset.train[$0].dropLast()) }
            if let scale = initial.softTokenScale(users: model.sasrec.userRepresentations(users)), scale.item > 0, scale.user > 0 {
                projectors.item.outputScale = scale.tokens / scale.item
                projectors.user.outputScale = scale.tokens / scale.user
            }
        }
        optimizer = Adam(sizes: projectors.parameterSizes, learningRate: options.learningRate, beta1: options.beta1, beta2: options.beta2)
    }

    public func restore(_ state: Stage2StateFile.State) {
        projectors = state.projectors
        optimizer.restore(step: state.step, firstMoments: state.firstMoments, secondMoments: state.secondMoments)
        epochsDone = state.epochsDone
        position = state.position
    }

    public var state: Stage2StateFile.State {
        Stage2StateFile.State(
            projectors: projectors, step: optimizer.step, epochsDone: epochsDone, position: position, firstMoments: optimizer.firstMoments,
            secondMoments: optimizer.secondMoments)
    }

    /// The users of `epoch` in training order.
    public func users(epoch: Int) -> [Int] {
        var users = (1...max(1, dataset.userCount)).filter { $0 < dataset.train.count && dataset.train[$0].count >= 2 }
        var generator = SplitMix64(seed: options.seed, stream: UInt64(epoch))
        users.shuffle(using: &generator)
        if let maxUsers = options.maxUsers { users = Array(users.prefix(maxUsers)) }
        return users
    }

    /// The training example of `user` in `epoch` (deterministic).
    public func example(user: Int, epoch: Int) -> Stage2Example {
        let train = dataset.train[user]
        let window = Array(train.dropLast().suffix(model.sasrec.configuration.maxLength))
        let target = train[train.count - 1]
        var generator = SplitMix64(seed: options.seed ^ 0x5354_4147_4532, stream: UInt64(epoch) << 32 | UInt64(user))
        let excluded = dataset.excludedFromNegatives(window)
        var pool: [Int32] = []
        let eligible = dataset.itemCount - excluded.count
        while pool.count < min(options.negativePool, max(0, eligible)) {
            let draw = Int32(generator.next() % UInt64(dataset.itemCount)) + 1
            if !excluded.contains(draw) && !pool.contains(draw) { pool.append(draw) }
        }
        pool.shuffle(using: &generator)
        var candidates = [target] + pool.prefix(model.manifest.template.candidateCount - 1)
        candidates.shuffle(using: &generator)
        let user = model.sasrec.userRepresentations([window], dropoutSeed: options.sasrecDropout ? generator.next() : nil)[0]
        return model.example(builder: builder, history: window, candidates: candidates, answer: target, user: user)
    }

    /// What one step reports.
    public struct StepReport: Sendable {
        /// Epoch, optimiser step, users of the epoch done, users in the epoch, users in this step.
        public var epoch, step, done, total, samples: Int
        public var loss: Float
        public var tokens: Int
        public var seconds: Double
        /// Of `seconds`: the LM's forward and backward passes.
        public var forwardSeconds, backwardSeconds: Double
        /// The step's examples and the gradients it applied (with the projectors before the step).
        public var batch: [Stage2Example]
        public var gradients: Stage2Projectors.Gradients
    }

    /// Trains the remaining epochs; `onProgress` runs after every step (save state there every so
    /// often); `shouldStop` is polled between steps.
    public func train(shouldStop: () -> Bool = { false }, onProgress: (StepReport) throws -> Void) throws {
        let decoder = model.languageModel!.decoder
        while epochsDone < options.epochs {
            let epoch = epochsDone + 1
            let order = users(epoch: epoch)
            while position < order.count {
                if shouldStop() { return }
                let started = Date()
                let members = order[position..<min(position + options.batchSize, order.count)]
                let batch = members.map { example(user: $0, epoch: epoch) }
                let result = try Stage2Objective.evaluate(decoder: decoder, projectors: projectors, batch: batch)
                optimizer.beginStep()
                projectors.apply(result.gradients, optimizer: &optimizer)
                position += members.count
                try onProgress(
                    StepReport(
                        epoch: epoch, step: optimizer.step, done: position, total: order.count, samples: members.count, loss: result.loss, tokens: batch.reduce(0) {
                            $0 + $1.sequence.tokens.count
                        }, seconds: Date().timeIntervalSince(started), forwardSeconds: result.forwardSeconds,
                        backwardSeconds: result.backwardSeconds, batch: batch, gradients: result.gradients))
            }
            epochsDone = epoch
            position = 0
        }
    }
}

/// Stage 2's resumable state (`BUNDLE/stage2.training.safetensors`): projectors, Adam's moments,
/// and in the metadata the step, epochs done, position in the current epoch and the run's identity.
public enum Stage2StateFile {
    public struct State: Sendable {
        public var projectors: Stage2Projectors
        public var step, epochsDone, position: Int
        public var firstMoments, secondMoments: [[Float]]
    }

    public static func save(_ state: State, identity: String, to path: String) throws {
        try StepStateFile.save(
            tensors: ALLMRecWeights.stage2Tensors(state.projectors), firstMoments: state.firstMoments, secondMoments: state.secondMoments,
            progress: TrainingProgress(step: state.step, epochsDone: state.epochsDone, position: state.position), identity: identity, to: path)
    }

    public static func load(from path: String, identity: String) throws -> State? {
        guard let (file, progress) = try StepStateFile.open(path, identity: identity) else { return nil }
        let projectors = try ALLMRecWeights.loadStage2(path)
        let moments = try AdamMomentTensors.read(from: file, count: projectors.parameterSizes.count)
        return State(
            projectors: projectors, step: progress.step, epochsDone: progress.epochsDone, position: progress.position,
            firstMoments: moments.first, secondMoments: moments.second)
    }

    public static func identity(bundle: ALLMRecManifest, languageModel: String, options: Stage2Options) -> String {
        "data=\(bundle.datasetFingerprint) stage1=\(bundle.stage1 ?? "") lm=\(languageModel) batch=\(options.batchSize) "
            + "lr=\(options.learningRate) betas=\(options.beta1),\(options.beta2) seed=\(options.seed) dropout=\(options.sasrecDropout) "
            + "users=\(options.maxUsers.map(String.init) ?? "all") pool=\(options.negativePool) match=\(options.matchEmbeddingScale) template=\(bundle.template.fingerprint)"
    }
}
