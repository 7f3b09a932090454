/// How long and how fast a trainer learns: what every trainer's options share (A-LLMRec's and
/// LLM-SRec's trainers all use Adam over shuffled batches for a number of epochs).
public struct TrainingSchedule: Sendable, Equatable {
    public var epochs: Int
    /// Samples per optimiser step (users, or (user, target) samples for retrieval).
    public var batchSize: Int
    public var learningRate: Float
    /// Adam's moment decay rates.
    public var beta1: Float = 0.9
    public var beta2: Float = 0.98
    /// Seeds initialisation, sample order, negatives and dropout.
    public var seed: UInt64 = 42

    public init(epochs: Int, batchSize: Int, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.98, seed: UInt64 = 42) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.seed = seed
    }
}

/// A trainer's options: its schedule and what only it needs.
public protocol TrainerOptions: Sendable {
    var schedule: TrainingSchedule { get set }
}

extension TrainerOptions {
    public var epochs: Int {
        get { schedule.epochs }
        set { schedule.epochs = newValue }
    }

    public var batchSize: Int {
        get { schedule.batchSize }
        set { schedule.batchSize = newValue }
    }

    public var learningRate: Float {
        get { schedule.learningRate }
        set { schedule.learningRate = newValue }
    }

    public var beta1: Float { schedule.beta1 }

    public var beta2: Float { schedule.beta2 }

    public var seed: UInt64 {
        get { schedule.seed }
        set { schedule.seed = newValue }
    }
}

/// The one shape of every trainer (SASRec, A-LLMRec's stages 1 and 2, retrieval), as RecBole's
/// trainers share one: options built on a `TrainingSchedule`; a `state` that holds everything a
/// stopped run needs (weights, optimiser moments, epochs and samples done) and that `restore`
/// puts back, so that a rerun continues where the saved state ends; and one loop that reports
/// `Progress` and returns between steps when asked to stop. Not thread-safe: one caller drives it.
public protocol Trainer: AnyObject {
    associatedtype Options: TrainerOptions
    associatedtype State: Sendable
    /// What `train` reports: a step's or an epoch's outcome.
    associatedtype Progress: Sendable

    var options: Options { get }
    var state: State { get }

    /// Continues from `state` (what `state` returned in an earlier run of the same configuration).
    func restore(_ state: State) throws

    /// Runs what remains of the schedule; `onProgress` sees each report (and may save `state`).
    /// Returns when every epoch is done or when `shouldStop` turns true between steps.
    func train(shouldStop: () -> Bool, onProgress: (Progress) throws -> Void) throws
}
