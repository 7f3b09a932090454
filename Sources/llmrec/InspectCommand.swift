import ArgumentParser
import Datasets
import Foundation
import JSON
import Models
import Numerics
import Training

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what an A-LLMRec bundle does for a few evaluation cases.",
        discussion: """
            For a seeded sample of --users test cases (the evaluator's cases: same history, target and 20 \\
            candidates as `llmrec eval`), prints one JSON object per case: the history's last titles, the \\
            target, the candidates in prompt order, the generated answer (greedy, as `allmrec-generate`), \\
            the candidate it names, and the top 5 by likelihood (as `allmrec`) with the target's rank.
            """
    )

    @Option(help: "Prepared dataset directory.") var data: String
    @Option(help: "Bundle directory.") var bundle: String
    @Option(help: "Cases to show.") var users = 5
    @Option(help: "Only cold or warm targets.") var only: Evaluator.ItemGroup?
    @Option(help: "Seed of the evaluation (candidates) and of the sample.") var seed: UInt64 = 7
    @Option(help: "OpenBLAS threads.") var blasThreads = 2

    func run() throws {
        BLAS.setThreads(blasThreads)
        do {
            let dataset = try PreparedDataset(directory: data)
            let model = try ALLMRecModel.load(bundle: bundle, dataset: dataset)
            let ranker = try ALLMRecRanker(model: model)
            let generator = try ALLMRecGenerator(model: model)
            let evaluator = Evaluator(dataset: dataset, seed: seed, maxUsers: users, only: only, showProgress: false)
            for user in evaluator.users() {
                let testCase = evaluator.makeCase(user: user, evaluationProtocol: .candidates(negatives: 19))
                let shown = ALLMRecModel.promptOrder(history: testCase.history, candidates: testCase.candidates).map { testCase.candidates[$0] }
                let answer = generator.generate(history: testCase.history, candidates: testCase.candidates)
                let generationScores = generator.scores(generated: answer, candidates: testCase.candidates)
                let named = generationScores.indices.max { generationScores[$0] < generationScores[$1] }
                    .flatMap { generationScores[$0] > 0 ? testCase.candidates[$0] : nil }
                let likelihoods = ranker.scores(history: testCase.history, candidates: testCase.candidates)
                let order = likelihoods.indices.sorted { likelihoods[$0] > likelihoods[$1] }
                let title = { (item: Int32) in JSONValue.string(model.titles[Int(item)]) }
                let line: JSONValue = [
                    "user": .integer(Int(user)), "history": .array(model.promptHistory(testCase.history).map(title)),
                    "target": title(testCase.target), "candidates": .array(shown.map(title)), "generated": .string(answer),
                    "generatedNames": named.map(title) ?? .null, "generatedHit": .bool(named == testCase.target),
                    "top5ByLikelihood": .array(order.prefix(5).map { title(testCase.candidates[$0]) }),
                    "targetRankByLikelihood": .integer(RankingMetrics.rank(of: 0, in: likelihoods) + 1),
                ]
                print(JSONWriter.compact(line))
            }
        } catch {
            throw fail(error)
        }
    }
}
