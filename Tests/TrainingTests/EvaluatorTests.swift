import Datasets
import Foundation
import JSON
import Models
import Support
import Testing
import Training

/// Evaluation on the real MovieLens-100K. Reference numbers: `python3 scripts/reference-ml100k-popularity.py`,
/// an independent plain-Python implementation of the split, the popularity baseline and full ranking.
@Suite struct EvaluatorTests {
    static func movieLens() throws -> PreparedDataset {
        let inter = AssetCache.movieLens100KInteractions
        try #require(FileManager.default.fileExists(atPath: inter), "run scripts/fetch-assets.sh ml100k")
        let directory = NSTemporaryDirectory() + "llmrec-eval-\(UUID().uuidString)"
        _ = try DatasetPreparer.run(PrepareOptions(
            format: .recbole, reviewsPath: inter, metaPath: AssetCache.movieLens100KItems, outputDirectory: directory,
            showProgress: false))
        return try PreparedDataset(directory: directory)
    }

    @Test func popularityFullRankingMatchesThePythonReference() throws {
        let dataset = try Self.movieLens()
        let evaluator = Evaluator(dataset: dataset, showProgress: false)
        let model = PopularityRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount)
        let report = evaluator.evaluate(model, evaluationProtocol: .full)
        #expect(report.overall.cases == 943)
        #expect(abs(report.overall.hit(at: 1) - 0.0137857900) < 1e-9)
        #expect(abs(report.overall.hit(at: 10) - 0.0837751856) < 1e-9)
        #expect(abs(report.overall.ndcg(at: 10) - 0.0432110439) < 1e-9)
        #expect(abs(report.overall.mrr - 0.0400746156) < 1e-9)
        #expect(report.cold.cases == 55)
        #expect(abs(report.cold.mrr - 0.0009167740) < 1e-9)
        #expect(report.warm.cases == 888)
        #expect(abs(report.warm.ndcg(at: 10) - 0.0458874036) < 1e-9)
    }

    @Test func candidateSetsFollowTheA_LLMRecProtocol() throws {
        let dataset = try Self.movieLens()
        let evaluator = Evaluator(dataset: dataset, seed: 7, showProgress: false)
        for user in evaluator.users().prefix(100) {
            let testCase = evaluator.makeCase(user: user, evaluationProtocol: .candidates(negatives: 19))
            #expect(testCase.candidates.count == 20)
            #expect(testCase.candidates[0] == dataset.test[Int(user)])
            #expect(testCase.history == dataset.train[Int(user)] + [dataset.valid[Int(user)]])
            let seen = Set(dataset.train[Int(user)] + [dataset.valid[Int(user)], dataset.test[Int(user)]])
            #expect(testCase.candidates.dropFirst().allSatisfy { !seen.contains($0) })
            #expect(Set(testCase.candidates).count == 20)
        }
    }

    @Test func theSeedFixesCandidatesForEveryModelAndOrder() throws {
        let dataset = try Self.movieLens()
        let first = Evaluator(dataset: dataset, seed: 7, showProgress: false)
        let users = first.users()
        let forward = users.map { first.makeCase(user: $0, evaluationProtocol: .candidates(negatives: 99)).candidates }
        let backward = users.reversed().map { first.makeCase(user: $0, evaluationProtocol: .candidates(negatives: 99)).candidates }
        #expect(forward == Array(backward.reversed()))
        let otherSeed = Evaluator(dataset: dataset, seed: 8, showProgress: false)
        #expect(otherSeed.makeCase(user: 1, evaluationProtocol: .candidates(negatives: 99)).candidates != forward[0])
    }

    @Test func popularityAndCoOccurrenceOnTheA_LLMRecProtocol() throws {
        // An independent PyTorch run measured popularity Hit@1 ≈ 0.24 on this protocol (README's table: 0.2545).
        let dataset = try Self.movieLens()
        let evaluator = Evaluator(dataset: dataset, seed: 7, showProgress: false)
        let popularity = evaluator.evaluate(
            PopularityRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount),
            evaluationProtocol: .candidates(negatives: 19))
        #expect((0.21...0.29).contains(popularity.overall.hit(at: 1)))
        #expect(popularity.cold.cases + popularity.warm.cases == 943)
        let cooccurrence = evaluator.evaluate(
            CoOccurrenceRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount),
            evaluationProtocol: .candidates(negatives: 19))
        #expect(cooccurrence.overall.hit(at: 1) > popularity.overall.hit(at: 1) + 0.1)
        #expect(cooccurrence.cold.hit(at: 1) > popularity.cold.hit(at: 1))
    }

    /// `eval --write-scores`: one line per case with the scores the metrics were computed from.
    @Test func theScoreFileHoldsWhatTheMetricsCameFrom() throws {
        let dataset = try Self.movieLens()
        let evaluator = Evaluator(dataset: dataset, seed: 7, maxUsers: 60, showProgress: false)
        let model = CoOccurrenceRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount)
        var file = ScoreFile()
        let report = evaluator.evaluate(model, evaluationProtocol: .candidates(negatives: 19)) { testCase, scores in
            file.add(model: model.name, evaluationProtocol: .candidates(negatives: 19), split: .test, testCase: testCase, scores: scores)
        }
        let path = NSTemporaryDirectory() + "llmrec-scores-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try file.write(to: path)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(lines.count == report.overall.cases)
        var hits = 0
        for line in lines {
            let candidates = try #require(line["candidates"]?.arrayValue).compactMap { $0.doubleValue.map(Int32.init) }
            let scores = try #require(line["scores"]?.arrayValue).compactMap { $0.doubleValue.map(Float.init) }
            #expect(candidates.count == 20 && scores.count == 20 && candidates.first == line["target"]?.doubleValue.map(Int32.init))
            #expect(line["model"] == JSONValue.string(model.name) && line["protocol"] == JSONValue.string("candidates20") && line["split"] == JSONValue.string("test"))
            if RankingMetrics.rank(of: 0, in: scores) == 0 { hits += 1 }
        }
        #expect(Double(hits) / Double(lines.count) == report.overall.hit(at: 1))
    }

    @Test func sampledUsersAreASeededSubset() throws {
        let dataset = try Self.movieLens()
        let sampled = Evaluator(dataset: dataset, seed: 3, maxUsers: 100, showProgress: false).users()
        #expect(sampled.count == 100)
        #expect(sampled == Evaluator(dataset: dataset, seed: 3, maxUsers: 100, showProgress: false).users())
        #expect(sampled != Evaluator(dataset: dataset, seed: 4, maxUsers: 100, showProgress: false).users())
    }

    /// `only: .cold` keeps exactly the cases the full run counts as cold, with the same ranks.
    @Test func onlyColdKeepsTheColdCasesOfTheFullRun() throws {
        let dataset = try Self.movieLens()
        let model = CoOccurrenceRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount)
        let full = Evaluator(dataset: dataset, seed: 7, showProgress: false).evaluate(model, evaluationProtocol: .candidates(negatives: 19))
        let cold = Evaluator(dataset: dataset, seed: 7, only: .cold, showProgress: false)
            .evaluate(model, evaluationProtocol: .candidates(negatives: 19))
        #expect(cold.overall.cases == full.cold.cases)
        #expect(cold.cold.cases == full.cold.cases && cold.warm.cases == 0)
        #expect(cold.overall.hit(at: 1) == full.cold.hit(at: 1))
        let warm = Evaluator(dataset: dataset, seed: 7, maxUsers: 50, only: .warm, showProgress: false).users()
        #expect(warm.count == 50)
    }
}
