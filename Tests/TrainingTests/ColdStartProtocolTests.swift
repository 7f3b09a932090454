import Datasets
import Foundation
import Models
import Support
import Testing
import Training

/// Strict cold start on the real MovieLens-100K: `prepare --cold-items --cold-validation-items`,
/// `eval --protocol cold20` on both splits, and training that never meets a held-out item.
@Suite struct ColdStartProtocolTests {
    static func prepared(fraction: Double, validationFraction: Double = 0, seed: UInt64) throws -> PreparedDataset {
        let inter = AssetCache.movieLens100KInteractions
        try #require(FileManager.default.fileExists(atPath: inter), "run scripts/fetch-assets.sh ml100k")
        let directory = NSTemporaryDirectory() + "llmrec-cold-\(UUID().uuidString)"
        var options = PrepareOptions(
            format: .recbole, reviewsPath: inter, metaPath: AssetCache.movieLens100KItems, outputDirectory: directory, showProgress: false)
        options.coldItemFraction = fraction
        options.coldValidationItemFraction = validationFraction
        options.coldItemSeed = seed
        _ = try DatasetPreparer.run(options)
        return try PreparedDataset(directory: directory)
    }

    @Test func heldOutItemsLeaveEverySplitButStayInTheCatalog() throws {
        let plain = try EvaluatorTests.movieLens()
        let dataset = try Self.prepared(fraction: 0.2, seed: 3)
        #expect(dataset.coldItems.count == 336)
        #expect(dataset.itemCount == plain.itemCount && dataset.catalog.count == plain.catalog.count)
        for user in 1...dataset.userCount {
            #expect(!dataset.train[user].contains(where: dataset.coldItems.contains))
            #expect(!dataset.coldItems.contains(dataset.valid[user]) && !dataset.coldItems.contains(dataset.test[user]))
        }
        // The timelines still hold every interaction, in the plain dataset's order.
        let timelines = try dataset.timelines()
        let plainTimelines = try plain.timelines()
        #expect(timelines == plainTimelines)
        #expect(timelines.reduce(0) { $0 + $1.count } == 100_000)
        // The split is leave-one-out over the kept interactions.
        for user in 1...dataset.userCount {
            let kept = timelines[user].filter { !dataset.coldItems.contains($0) }
            guard kept.count >= 3 else { continue }
            #expect(dataset.train[user] == Array(kept.dropLast(2)))
            #expect(dataset.valid[user] == kept[kept.count - 2] && dataset.test[user] == kept[kept.count - 1])
        }
        #expect(try Self.prepared(fraction: 0.2, seed: 3).coldItems == dataset.coldItems)
        #expect(try Self.prepared(fraction: 0.2, seed: 4).coldItems != dataset.coldItems)
        #expect(dataset.fingerprint != plain.fingerprint)
    }

    @Test func cold20CasesFollowTheProtocol() throws {
        let dataset = try Self.prepared(fraction: 0.2, seed: 3)
        let evaluator = Evaluator(dataset: dataset, seed: 7, showProgress: false)
        try evaluator.check(.coldStart)
        try Self.expectCold20Cases(evaluator, drawingOn: dataset.coldItems, minimumCases: 500)
        #expect(throws: Evaluator.ProtocolError.self) { try Evaluator(dataset: try EvaluatorTests.movieLens(), showProgress: false).check(.coldStart) }
        // Without items held out for validation, the validation split has no cold20 cases.
        let validation = Evaluator(dataset: dataset, split: .valid, seed: 7, showProgress: false)
        #expect(throws: Evaluator.ProtocolError.self) { try validation.check(.coldStart) }
        #expect(validation.users(for: .coldStart).isEmpty)
    }

    /// Every cold20 case of `evaluator`: its target and negatives among `items`, its history the
    /// items before the target that no split holds out, no earlier item of `items` with five of those.
    static func expectCold20Cases(_ evaluator: Evaluator, drawingOn items: Set<Int32>, minimumCases: Int) throws {
        let dataset = evaluator.dataset
        let timelines = try dataset.timelines()
        let users = evaluator.users(for: .coldStart)
        #expect(users.count > minimumCases)
        for user in users {
            let testCase = evaluator.makeCase(user: user, evaluationProtocol: .coldStart)
            let timeline = timelines[Int(user)]
            let position = try #require(timeline.firstIndex(of: testCase.target))
            #expect(items.contains(testCase.target))
            #expect(testCase.history == timeline[..<position].filter { !dataset.coldItems.contains($0) })
            #expect(testCase.history.count >= 5)
            // No item of the split before the target had five kept items before it.
            for (index, item) in timeline[..<position].enumerated() where items.contains(item) {
                #expect(timeline[..<index].filter { !dataset.coldItems.contains($0) }.count < 5)
            }
            #expect(testCase.candidates.count == 20 && Set(testCase.candidates).count == 20)
            for negative in testCase.candidates.dropFirst() {
                #expect(items.contains(negative) && !timeline.contains(negative))
            }
        }
    }

    /// `--cold-validation-items` holds a second share out, drawn after the test share (which stays
    /// the same items), and the validation split's cold20 cases draw on it alone.
    @Test func aShareHeldOutForValidationServesTheValidationSplit() throws {
        let testOnly = try Self.prepared(fraction: 0.2, seed: 3)
        let dataset = try Self.prepared(fraction: 0.2, validationFraction: 0.1, seed: 3)
        #expect(dataset.coldItems.count == 336 + 168 && dataset.coldValidationItems.count == 168)
        #expect(dataset.coldItems.subtracting(dataset.coldValidationItems) == testOnly.coldItems)
        for user in 1...dataset.userCount {
            #expect(!dataset.train[user].contains(where: dataset.coldItems.contains))
            #expect(!dataset.coldItems.contains(dataset.valid[user]) && !dataset.coldItems.contains(dataset.test[user]))
        }
        let validation = Evaluator(dataset: dataset, split: .valid, seed: 7, showProgress: false)
        try validation.check(.coldStart)
        try Self.expectCold20Cases(validation, drawingOn: dataset.coldValidationItems, minimumCases: 300)
        let test = Evaluator(dataset: dataset, seed: 7, showProgress: false)
        try Self.expectCold20Cases(test, drawingOn: testOnly.coldItems, minimumCases: 500)

        // A file from before the split column holds test items; an unknown split is refused.
        let path = dataset.directory + "/cold-items.tsv"
        try ("item\n" + dataset.coldItems.sorted().map { "\($0)\n" }.joined()).write(toFile: path, atomically: true, encoding: .utf8)
        let unsplit = try PreparedDataset(directory: dataset.directory)
        #expect(unsplit.coldItems == dataset.coldItems && unsplit.coldValidationItems.isEmpty)
        try "item\tsplit\n3\ttrain\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: DatasetError.self) { try PreparedDataset(directory: dataset.directory) }
    }

    /// SASRec training draws no held-out item as a negative: their rows get no gradient and stay as
    /// initialised, while the rows of items with training interactions move.
    @Test func sasrecTrainingNeverMeetsAHeldOutItem() throws {
        let dataset = try Self.prepared(fraction: 0.2, validationFraction: 0.1, seed: 3)
        var options = SASRecTrainingOptions()
        options.schedule = TrainingSchedule(epochs: 1, batchSize: 128, learningRate: 1e-3, seed: 5)
        options.validateEvery = 0
        let d = 16
        let trainer = try SASRecTrainer(
            dataset: dataset, configuration: SASRecConfiguration(itemCount: dataset.itemCount, hiddenUnits: d, blocks: 1), options: options)
        let initial = trainer.state.weights
        try trainer.train(shouldStop: { false }) { _ in }
        func row(_ weights: [Float], _ item: Int32) -> ArraySlice<Float> { weights[(Int(item) * d)..<(Int(item) * d + d)] }
        for item in dataset.coldItems { #expect(row(trainer.state.weights, item) == row(initial, item), "item \(item)") }
        let trained = Set(dataset.train.joined())
        #expect(trained.allSatisfy { row(trainer.state.weights, $0) != row(initial, $0) })
    }

    /// Retrieval training draws no held-out item as a negative, sampled, hard or against a wish.
    @Test func retrievalTrainingNeverMeetsAHeldOutItem() throws {
        let dataset = try Self.prepared(fraction: 0.2, validationFraction: 0.1, seed: 3)
        let (_, lm, sasrec) = try TrainingWishesTests.movieLensWithSmolLM2()
        let builder = RetrievalPromptBuilder(template: RetrievalTemplate.builtIn["movies"]!, tokenizer: lm.tokenizer, catalog: dataset.catalog)
        for negatives in [RetrievalOptions.Negatives.sampled, .hard] {
            var options = RetrievalOptions()
            options.negatives = negatives
            options.negativeCount = 40
            options.wishes = 0.5
            let sampler = RetrievalSampler(sasrec: sasrec, builder: builder, dataset: dataset, options: options)
            let samples = Array(sampler.samples(epoch: 1).prefix(48))
            let examples = sampler.labelledExamples(samples, epoch: 1)
            #expect(examples.contains { $0.wish != nil })
            for (example, _) in examples {
                #expect(example.candidates.count == 41)
                #expect(!example.candidates.contains { dataset.coldItems.contains($0.item) }, "\(negatives)")
            }
        }
    }

    @Test func modelsThatKnowItemsOnlyByInteractionsAreMarked() throws {
        let dataset = try Self.prepared(fraction: 0.2, seed: 3)
        let evaluator = Evaluator(dataset: dataset, seed: 7, showProgress: false)
        let popularity = evaluator.evaluate(
            PopularityRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount), evaluationProtocol: .coldStart)
        #expect(!popularity.scoresItemsWithoutInteractions)
        // Every held-out item has no training interaction: popularity ties them all, and ties count against the target.
        #expect(popularity.overall.hit(at: 1) == 0)
        #expect(ReportTable.markdown([popularity]).contains("† popularity cannot score an item without training interactions"))
        let text = TextSimilarityRecommender(embeddings: [Float](repeating: 1, count: (dataset.itemCount + 1) * 2), dimension: 2)
        #expect(evaluator.evaluate(text, evaluationProtocol: .coldStart).scoresItemsWithoutInteractions)
    }
}
