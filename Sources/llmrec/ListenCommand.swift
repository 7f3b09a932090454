import ArgumentParser
import Datasets
import Foundation
import JSON
import Models
import Numerics
import Recommender
import Training

struct ListenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "The listening test: does retrieval through the LM follow the user's words?",
        discussion: """
            Ranks every case of the split (20 candidates, seeded negatives as eval's candidates20) with the \
            bundle's retrieval model five ways: no words; "I'd like something F" for a facet F the target \
            has, and for one it lacks; and, where --paraphrases has those facets, an everyday paraphrase \
            of each that no training phrase holds. Facets are drawn per case with --seed. Prints Hit@1, \
            Hit@5, NDCG@10 and MRR per condition on the cases that have all five (and all cases that \
            have each), or one JSON line with --json.
            """
    )

    @Option(help: "Prepared dataset directory.") var data: String
    @Option(help: "Bundle directory with a retrieval model (llmrec train retrieval).") var bundle: String
    @Option(help: "Held-out paraphrases of facets, {\"facets\": {\"FACET\": [\"paraphrase\", ...]}} (the repository's Evaluation/listening-paraphrases.json for MovieLens genres).")
    var paraphrases: String?
    @Option(help: "Split: test (target = test item) or valid.") var split: EvaluationSplit = .test
    @Option(help: "Seed for negatives and the facets drawn.") var seed: UInt64 = 7
    @Option(help: "Evaluate a seeded sample of at most this many users.") var maxUsers: Int?
    @Option(help: "OpenBLAS threads.") var blasThreads = 2
    @Flag(help: "One JSON line instead of the table.") var json = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard blasThreads >= 1, maxUsers.map({ $0 >= 1 }) ?? true else { throw ValidationError("--blas-threads and --max-users must be positive") }
    }

    func run() throws {
        BLAS.setThreads(blasThreads)
        do {
            let dataset = try PreparedDataset(directory: data)
            let phrases = try paraphrases.map { path throws in try FacetParaphrases(path: path) } ?? FacetParaphrases(byFacet: [:])
            let retrieval = try BlendSignals.retrieval(bundle: bundle, dataset: dataset, showProgress: !quiet)
            let evaluator = Evaluator(dataset: dataset, split: split, seed: seed, maxUsers: maxUsers, showProgress: !quiet)
            let test = ListeningTest(model: retrieval.model, itemVectors: retrieval.itemVectors, evaluator: evaluator, paraphrases: phrases)
            let outcome = try test.run()
            if json {
                var object = outcome.json.objectValue ?? [:]
                object["bundle"] = .string(bundle)
                object["split"] = .string(split.rawValue)
                object["seed"] = .integer(Int64(seed))
                object["trainedWithWishes"] = .number(Double(retrieval.model.manifest.retrievalWishes ?? 0))
                print(JSONWriter.compact(.object(object)))
                return
            }
            print("Listening test: \(bundle) on \(data), split \(split.rawValue), seed \(seed), 20 candidates; trained with words on \(Int((retrieval.model.manifest.retrievalWishes ?? 0) * 100))% of samples.\n")
            for (title, metrics) in [("Cases with every condition", outcome.paired), ("All cases with the condition", outcome.metrics)] {
                print("\(title):\n")
                print("| words | cases | Hit@1 | Hit@5 | NDCG@10 | MRR |")
                print("|---|---:|---:|---:|---:|---:|")
                for condition in ListeningTest.Condition.allCases {
                    guard let m = metrics[condition] else { continue }
                    print("| \(condition.rawValue) | \(m.cases) | " + String(format: "%.4f | %.4f | %.4f | %.4f |", m.hit(at: 1), m.hit(at: 5), m.ndcg(at: 10), m.mrr))
                }
                print("")
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}
