import Datasets
import Models
import Numerics
import Testing
import Training

/// Every trainer has one shape (`Trainer`): a run stopped after its first report and continued
/// from its `state` in a fresh trainer ends exactly where an unbroken run ends.
@Suite struct TrainerShapeTests {
    /// Runs `make()` unbroken, and again stopped after the first report then restored into a
    /// second `make()`; returns both final states.
    static func unbrokenAndResumed<T: Trainer>(_ make: () throws -> T) throws -> (unbroken: T.State, resumed: T.State, reports: Int) {
        let unbroken = try make()
        var reports = 0
        try unbroken.train(shouldStop: { false }) { _ in reports += 1 }

        let first = try make()
        var stop = false
        try first.train(shouldStop: { stop }) { _ in stop = true }
        let second = try make()
        try second.restore(first.state)
        try second.train(shouldStop: { false }) { _ in }
        return (unbroken.state, second.state, reports)
    }

    @Test func sasrecResumesWhereItStopped() throws {
        let dataset = try EvaluatorTests.movieLens()
        var options = SASRecTrainingOptions()
        options.schedule = TrainingSchedule(epochs: 3, batchSize: 128, learningRate: 1e-3, seed: 5)
        options.validateEvery = 0
        let configuration = SASRecConfiguration(itemCount: dataset.itemCount, hiddenUnits: 16, blocks: 1)
        let (unbroken, resumed, reports) = try Self.unbrokenAndResumed {
            try SASRecTrainer(dataset: dataset, configuration: configuration, options: options)
        }
        #expect(reports == 3, "one report an epoch")
        #expect(unbroken.epochsDone == 3)
        #expect(resumed.epochsDone == 3)
        #expect(resumed.weights == unbroken.weights)
        #expect(resumed.secondMoments == unbroken.secondMoments)
    }

    @Test func stage1ResumesWhereItStopped() throws {
        let dataset = try EvaluatorTests.movieLens()
        var generator = SplitMix64(seed: 11)
        let sasrec = SASRecModel(parameters: SASRecParameters(
            initializing: SASRecConfiguration(itemCount: dataset.itemCount, hiddenUnits: 16, blocks: 1), generator: &generator))
        let textDim = 24
        let texts = (0..<((dataset.itemCount + 1) * textDim)).map { _ in Float(generator.next() % 2001) / 1000 - 1 }
        var options = Stage1Options()
        options.schedule = TrainingSchedule(epochs: 2, batchSize: 64, learningRate: 1e-3, seed: 3)
        let (unbroken, resumed, reports) = try Self.unbrokenAndResumed {
            Stage1Trainer(dataset: dataset, sasrec: sasrec, textEmbeddings: texts, textDim: textDim, options: options)
        }
        #expect(reports == 2, "one report an epoch")
        #expect(resumed.epochsDone == 2 && unbroken.epochsDone == 2)
        #expect(resumed.step == unbroken.step)
        #expect(resumed.firstMoments == unbroken.firstMoments)
        #expect(resumed.secondMoments == unbroken.secondMoments)
    }

    @Test func theScheduleIsWhatTheOptionsRead() {
        var options = RetrievalOptions()
        #expect(options.schedule == TrainingSchedule(epochs: 1, batchSize: 8, learningRate: 1e-4))
        options.epochs = 4
        options.seed = 9
        #expect(options.schedule.epochs == 4 && options.schedule.seed == 9)
        #expect(Stage2Options().schedule == TrainingSchedule(epochs: 1, batchSize: 2, learningRate: 1e-4))
        #expect(SASRecTrainingOptions().schedule == TrainingSchedule(epochs: 200, batchSize: 128, learningRate: 1e-3))
        #expect(Stage1Options().schedule == TrainingSchedule(epochs: 10, batchSize: 32, learningRate: 1e-4))
    }
}
