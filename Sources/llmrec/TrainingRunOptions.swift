import ArgumentParser
import Training

/// A trainer's options type, as the defaults of its command's `TrainingRunOptions`: the schedule
/// the command starts from is the trainer's own (that of its options as initialised).
protocol ScheduleDefaults: TrainerOptions {
    init()
    /// What one step takes a batch of ("Users", "Samples").
    static var batchUnit: String { get }
}

extension ScheduleDefaults {
    static var defaultSchedule: TrainingSchedule { Self().schedule }
}

/// What every `llmrec train` command takes: the data, the trainer's schedule (its defaults shown
/// in each command's help), whether a saved state is resumed, and whether progress is shown.
struct TrainingRunOptions<Defaults: ScheduleDefaults>: ParsableArguments {
    @Option(help: "Prepared dataset directory.")
    var data: String

    @Option(help: "Epochs.")
    var epochs = Defaults.defaultSchedule.epochs

    @Option(help: ArgumentHelp("\(Defaults.batchUnit) per step."))
    var batchSize = Defaults.defaultSchedule.batchSize

    @Option(name: .customLong("lr"), help: "Adam learning rate.")
    var learningRate = Defaults.defaultSchedule.learningRate

    @Option(help: "Seed for initialisation, sample order, negatives and dropout.")
    var seed = Defaults.defaultSchedule.seed

    @Flag(help: "Ignore a saved training state and start over.")
    var restart = false

    @Flag(help: "No progress on stderr.")
    var quiet = false

    /// The schedule these options ask for (Adam's betas as the trainer's defaults).
    var schedule: TrainingSchedule {
        var schedule = Defaults.defaultSchedule
        schedule.epochs = epochs
        schedule.batchSize = batchSize
        schedule.learningRate = learningRate
        schedule.seed = seed
        return schedule
    }

    func validate() throws {
        guard epochs >= 1, batchSize >= 1 else { throw ValidationError("--epochs and --batch-size must be positive") }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--lr must be a positive number") }
    }
}

extension SASRecTrainingOptions: ScheduleDefaults {
    static var batchUnit: String { "Users" }
}

extension Stage1Options: ScheduleDefaults {
    static var batchUnit: String { "Users" }
}

extension Stage2Options: ScheduleDefaults {
    static var batchUnit: String { "Users" }
}

extension RetrievalOptions: ScheduleDefaults {
    static var batchUnit: String { "Samples" }
}
