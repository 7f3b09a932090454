import ArgumentParser
import Datasets
import Foundation
import JSON
import Models
import Numerics
import Recommender
import Training

extension EvaluationSplit: ExpressibleByArgument {}
extension Evaluator.ItemGroup: ExpressibleByArgument {}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate recommenders on a prepared dataset.",
        discussion: """
            Every model is evaluated on the same cases: per user, the target is the held-out item, the \
            history everything before it, and the negatives are drawn from a per-user stream of --seed. \
            Output: a Markdown table, or with --json one JSON object per model and protocol (one per line).
            """
    )

    @Option(help: "Prepared dataset directory (from `llmrec prepare`).")
    var data: String

    @Option(name: .customLong("model"), help: "Model to evaluate (repeatable): \(ModelSpecification.knownNames.joined(separator: ", ")).")
    var models: [String] = ["popularity"]

    @Option(name: .customLong("protocol"), help: "candidates20 (A-LLMRec), candidates100, full, candidatesN, or cold20 (strict cold start, on a dataset prepared with --cold-items) (repeatable).")
    var protocols: [String] = ["candidates20"]

    @Option(help: "Seed for the negative candidates.")
    var seed: UInt64 = 7

    @Option(help: "Which held-out item is the target: test or valid.")
    var split: EvaluationSplit = .test

    @Option(help: "Evaluate a seeded sample of at most this many users.")
    var maxUsers: Int?

    @Option(help: "Only the cases whose target is cold or warm (before --max-users).")
    var only: Evaluator.ItemGroup?

    @Option(help: "Cold cases: target has at most this many training interactions.")
    var coldAtMost = ColdWarmThresholds().coldAtMost

    @Option(help: "Warm cases: target has at least this many training interactions.")
    var warmAtLeast = ColdWarmThresholds().warmAtLeast

    @Flag(help: "Print JSON (one object per model and protocol) instead of a table.")
    var json = false

    @Option(help: "Write the evaluation cases (user, history, target, candidates) of the first --protocol as JSONL to this file and exit, so that other tools score exactly the same cases.")
    var writeCases: String?

    @Option(help: "Also write every model's score of every candidate of every case as JSONL to this file (model, protocol, split, user, target, candidates with the target first, scores).")
    var writeScores: String?

    @Option(help: "OpenBLAS threads (1 suits the small products of SASRec and the baselines; 2 speeds up an LM's prompts).")
    var blasThreads = 1

    @Flag(help: "No progress on stderr.")
    var quiet = false

    func run() throws {
        guard blasThreads >= 1 else { throw ValidationError("--blas-threads must be positive") }
        BLAS.setThreads(blasThreads)
        let specifications: [ModelSpecification]
        let parsedProtocols: [EvaluationProtocol]
        do {
            specifications = try models.map { name throws(ModelSpecificationError) in try ModelSpecification(parsing: name) }
            parsedProtocols = try protocols.map { name in
                guard let parsed = EvaluationProtocol(name: name) else {
                    throw ValidationError("unknown protocol '\(name)' (candidates20, candidates100, full, candidatesN, cold20)")
                }
                return parsed
            }
        } catch let error as ValidationError { throw error } catch { throw fail(error) }
        guard maxUsers.map({ $0 > 0 }) ?? true else { throw ValidationError("--max-users must be positive") }
        if let writeScores {
            // Refused before the evaluation, not after it: the file is written once, at the end.
            let directory = URL(fileURLWithPath: writeScores).deletingLastPathComponent().path
            guard FileManager.default.isWritableFile(atPath: directory) else {
                throw ValidationError("--write-scores: cannot write into \(directory)")
            }
        }

        let dataset: PreparedDataset
        do { dataset = try PreparedDataset(directory: data) } catch { throw fail(error) }
        let evaluator = Evaluator(
            dataset: dataset, split: split, seed: seed,
            thresholds: ColdWarmThresholds(coldAtMost: coldAtMost, warmAtLeast: warmAtLeast),
            maxUsers: maxUsers, only: only, showProgress: !quiet)
        do { for evaluationProtocol in parsedProtocols { try evaluator.check(evaluationProtocol) } } catch { throw fail(error) }
        if let writeCases {
            do { try CaseFile.write(evaluator: evaluator, evaluationProtocol: parsedProtocols[0], to: writeCases) } catch {
                throw fail(error)
            }
            return
        }
        var reports: [EvaluationReport] = []
        var scoreFile = ScoreFile()
        for specification in specifications {
            let model: any SequentialRecommender
            do { model = try specification.build(on: dataset, showProgress: !quiet) } catch { throw fail(error) }
            for evaluationProtocol in parsedProtocols {
                let report = evaluator.evaluate(model, evaluationProtocol: evaluationProtocol) { testCase, scores in
                    guard writeScores != nil else { return }
                    scoreFile.add(model: model.name, evaluationProtocol: evaluationProtocol, split: split, testCase: testCase, scores: scores)
                }
                if json { print(JSONWriter.compact(report.json)) }
                reports.append(report)
            }
        }
        if let writeScores {
            do { try scoreFile.write(to: writeScores) } catch { throw fail(error) }
        }
        if !json {
            print("Dataset \(data): \(dataset.userCount) users, \(dataset.itemCount) items; split \(split.rawValue), seed \(seed); cold <= \(coldAtMost) < warm >= \(warmAtLeast) training interactions of the target.\n")
            print(ReportTable.markdown(reports))
        }
    }
}
