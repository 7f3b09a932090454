import Datasets
import Foundation
import Models
import Support
import Testing
import Training

/// Strict cold start on the real MovieLens-100K: `prepare --cold-items` and `eval --protocol cold20`.
@Suite struct ColdStartProtocolTests {
    static func prepared(fraction: Double, seed: UInt64) throws -> PreparedDataset {
        let inter = AssetCache.movieLens100KInteractions
        try #require(FileManager.default.fileExists(atPath: inter), "run scripts/fetch-assets.sh ml100k")
        let directory = NSTemporaryDirectory() + "llmrec-cold-\(UUID().uuidString)"
        var options = PrepareOptions(
            format: .recbole, reviewsPath: inter, metaPath: AssetCache.movieLens100KItems, outputDirectory: directory, showProgress: false)
        options.coldItemFraction = fraction
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
        let timelines = try dataset.timelines()
        let evaluator = Evaluator(dataset: dataset, seed: 7, showProgress: false)
        try evaluator.check(.coldStart)
        let users = evaluator.users(for: .coldStart)
        #expect(users.count > 500)
        for user in users {
            let testCase = evaluator.makeCase(user: user, evaluationProtocol: .coldStart)
            let timeline = timelines[Int(user)]
            let position = try #require(timeline.firstIndex(of: testCase.target))
            #expect(dataset.coldItems.contains(testCase.target))
            #expect(testCase.history == timeline[..<position].filter { !dataset.coldItems.contains($0) })
            #expect(testCase.history.count >= 5)
            // No held-out item before the target had five kept items before it.
            for (index, item) in timeline[..<position].enumerated() where dataset.coldItems.contains(item) {
                #expect(timeline[..<index].filter { !dataset.coldItems.contains($0) }.count < 5)
            }
            #expect(testCase.candidates.count == 20 && Set(testCase.candidates).count == 20)
            for negative in testCase.candidates.dropFirst() {
                #expect(dataset.coldItems.contains(negative) && !timeline.contains(negative))
            }
        }
        #expect(throws: Evaluator.ProtocolError.self) { try Evaluator(dataset: try EvaluatorTests.movieLens(), showProgress: false).check(.coldStart) }
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
