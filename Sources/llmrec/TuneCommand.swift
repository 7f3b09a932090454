import ArgumentParser
import Datasets
import Foundation
import JSON
import Models
import Numerics
import Recommender
import Support
import Training

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Choose a bundle's blend weights on the validation split.",
        discussion: """
            Scores the validation cases (target: each user's validation item; candidates20 with --seed) with \
            every signal the bundle has: SASRec, co-occurrence, the text path (the bundle's sentence encoder, \
            or --encoder) and retrieval through the LM (after llmrec train retrieval). Each signal is \
            z-scored per case; every weighting from --grid is ranked by Hit@1 (NDCG@10 breaks ties), with \
            and without the retrieval path, and, for lists of items without training interactions, among the \
            signals that read an item by its text (SASRec with rows predicted from text, text, retrieval), \
            with and without retrieval: on the validation split's cold20 cases when the dataset was prepared \
            with --cold-validation-items (items no model trained on), otherwise with every validation \
            candidate read as such an item (retrieval by its title alone, SASRec by the row predicted \
            without it). Writes the weightings to the bundle's \
            manifest (blend, blendWithoutLM, blendItemsWithoutInteractions, \
            blendItemsWithoutInteractionsWithoutLM), which `eval --model blend:BUNDLE` / `blend-cf:BUNDLE` \
            use; the daemon uses the first. \
            The test split is never read. Prints one JSON line.
            """
    )

    @Option(help: "Prepared dataset directory.") var data: String
    @Option(help: "Bundle directory.") var bundle: String
    @Option(help: "Sentence-transformers directory for the text path (stored in the bundle; default: the bundle's).") var encoder: String?
    @Option(help: "Seed for the validation negatives.") var seed: UInt64 = 7
    @Option(help: "Weights tried for each signal, comma-separated.") var grid = "0,0.25,0.5,1,2"
    @Option(help: "Tune on a seeded sample of at most this many validation users.") var maxUsers: Int?
    @Option(help: "OpenBLAS threads.") var blasThreads = 2
    @Flag(help: "No progress on stderr.") var quiet = false

    func parsedGrid() throws -> [Float] {
        let values = grid.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! >= 0 && $0!.isFinite }) else {
            throw ValidationError("--grid must be non-negative numbers separated by commas, not '\(grid)'")
        }
        return values.map { $0! }
    }

    func validate() throws {
        guard blasThreads >= 1, maxUsers.map({ $0 >= 1 }) ?? true else { throw ValidationError("--blas-threads and --max-users must be positive") }
        _ = try parsedGrid()
    }

    /// `signals` reading every catalog item as an item without training interactions: retrieval by
    /// its text alone, SASRec with text rows by the rows predicted without the item.
    func readAsItemsWithoutInteractions(_ signals: [BlendSignal: any SequentialRecommender]) throws -> [BlendSignal: any SequentialRecommender] {
        var signals = signals
        if let sasrec = signals[.sasrecText] as? SASRecWithTextRows { signals[.sasrecText] = sasrec.readingTextsOnly() }
        guard let retrieval = signals[.retrieval] as? RetrievalRecommender else { return signals }
        let items = retrieval.itemVectors.count / RetrievalWeights.vectorSize - 1
        let meter = ProgressMeter(label: "tune: catalog read by titles", total: Int64(items), unit: .items("items"), enabled: !quiet)
        let vectors = try retrieval.model.catalogVectors(titlesOnly: true) { meter.update(Int64($0)) }
        meter.finish(Int64(items))
        signals[.retrieval] = retrieval.scoring(itemVectors: vectors)
        return signals
    }

    func run() throws {
        BLAS.setThreads(blasThreads)
        do {
            let started = Date()
            let dataset = try PreparedDataset(directory: data)
            var manifest = try ALLMRecManifest.read(directory: bundle)
            guard manifest.datasetFingerprint == dataset.fingerprint else {
                throw ALLMRecError.invalidBundle("\(bundle) was made for dataset \(manifest.datasetFingerprint), not \(dataset.fingerprint)")
            }
            if let encoder { manifest.encoder = URL(fileURLWithPath: encoder).standardizedFileURL.path }
            var available: Set<BlendSignal> = [.sasrec, .cooccurrence]
            if manifest.encoder != nil { available.insert(.text) }
            if manifest.retrieval != nil { available.insert(.retrieval) }
            try manifest.write(directory: bundle)
            let signals = try BlendSignals.build(available, bundle: bundle, dataset: dataset, using: .trainingSplit, showProgress: !quiet)
            let evaluator = Evaluator(dataset: dataset, split: .valid, seed: seed, maxUsers: maxUsers, showProgress: false)
            let total = evaluator.users().count
            var meters: [BlendSignal: ProgressMeter] = [:]
            let tuner = BlendTuner(signals: signals, evaluator: evaluator, evaluationProtocol: .allLLMRec) { signal, done, count in
                let meter = meters[signal] ?? ProgressMeter(label: "tune: \(signal.rawValue) on validation", total: Int64(total), unit: .items("users"), enabled: !quiet)
                meters[signal] = meter
                if done == count { meter.finish(Int64(done)) } else { meter.update(Int64(done)) }
            }
            let grid = try parsedGrid()
            let ordered = BlendSignal.allCases.filter(available.contains)
            let withoutLM = ordered.filter { $0 != .retrieval }
            guard let best = tuner.best(of: ordered, grid: grid), let bestWithoutLM = tuner.best(of: withoutLM, grid: grid) else {
                throw ValidationError("--grid has no non-zero weight")
            }
            func names(_ weights: [BlendSignal: Float]) -> [String: Float] {
                Dictionary(uniqueKeysWithValues: weights.map { ($0.key.rawValue, $0.value) })
            }
            manifest.blend = names(best.weights)
            manifest.blendWithoutLM = names(bestWithoutLM.weights)
            // Lists of items without training interactions: the signals that read items by their text,
            // every validation candidate read as such an item.
            var textualSignals = signals.filter { $0.key.scoresItemsWithoutInteractions }
            if manifest.encoder != nil {
                textualSignals[.sasrecText] = try BlendSignals.sasrecWithTextRows(bundle: bundle, dataset: dataset, showProgress: !quiet)
            }
            let textual = BlendSignal.allCases.filter { textualSignals[$0] != nil }
            // Items held out for validation (prepare --cold-validation-items) are items no model trained on.
            let heldOutForValidation = !evaluator.users(for: .coldStart).isEmpty
            let itemsWithoutInteractionsTuner: BlendTuner?
            if textual.isEmpty {
                itemsWithoutInteractionsTuner = nil
            } else if heldOutForValidation {
                itemsWithoutInteractionsTuner = BlendTuner(signals: textualSignals, evaluator: evaluator, evaluationProtocol: .coldStart)
            } else {
                itemsWithoutInteractionsTuner = BlendTuner(
                    signals: try readAsItemsWithoutInteractions(textualSignals), evaluator: evaluator, evaluationProtocol: .allLLMRec)
            }
            let itemsWithoutInteractionsCases = heldOutForValidation ? "cold20 validation cases" : "validation cases, candidates read by their text"
            let bestForItemsWithoutInteractions = itemsWithoutInteractionsTuner?.best(of: textual, grid: grid)
            let bestForItemsWithoutInteractionsWithoutLM = itemsWithoutInteractionsTuner?.best(of: textual.filter { !$0.readsWithLanguageModel }, grid: grid)
            manifest.blendItemsWithoutInteractions = bestForItemsWithoutInteractions.map { names($0.weights) }
            manifest.blendItemsWithoutInteractionsWithoutLM = bestForItemsWithoutInteractionsWithoutLM.map { names($0.weights) }
            var record: [String: String] = [
                "seed": String(seed), "grid": grid.map { String($0) }.joined(separator: ","), "cases": String(tuner.cases),
                "itemsWithoutInteractionsTunedOn": itemsWithoutInteractionsCases, "itemsWithoutInteractionsCases": String(itemsWithoutInteractionsTuner?.cases ?? 0),
            ]
            func summary(_ metrics: RankingMetrics) -> String { String(format: "Hit@1 %.4f NDCG@10 %.4f", metrics.hit(at: 1), metrics.ndcg(at: 10)) }
            var singles = JSONObject()
            for signal in ordered {
                let metrics = tuner.metrics([signal: 1])
                record["valid.\(signal.rawValue)"] = summary(metrics)
                singles[signal.rawValue] = ["hit1": .number(metrics.hit(at: 1)), "ndcg10": .number(metrics.ndcg(at: 10))]
            }
            var readWithout = JSONObject()
            for signal in textual {
                guard let metrics = itemsWithoutInteractionsTuner?.metrics([signal: 1]) else { continue }
                record["valid.\(signal.rawValue).readWithoutInteractions"] = summary(metrics)
                readWithout[signal.rawValue] = ["hit1": .number(metrics.hit(at: 1)), "ndcg10": .number(metrics.ndcg(at: 10))]
            }
            record["valid.blend"] = summary(best.metrics)
            record["valid.blendWithoutLM"] = summary(bestWithoutLM.metrics)
            if let bestForItemsWithoutInteractions { record["valid.blendItemsWithoutInteractions"] = summary(bestForItemsWithoutInteractions.metrics) }
            if let bestForItemsWithoutInteractionsWithoutLM {
                record["valid.blendItemsWithoutInteractionsWithoutLM"] = summary(bestForItemsWithoutInteractionsWithoutLM.metrics)
            }
            manifest.training["tune"] = record
            try manifest.write(directory: bundle)
            func json(_ choice: BlendTuner.Choice) -> JSONValue {
                var weights = JSONObject()
                for signal in BlendSignal.allCases where choice.weights[signal] != nil || ordered.contains(signal) {
                    weights[signal.rawValue] = .number(Double(choice.weights[signal] ?? 0))
                }
                return ["weights": .object(weights), "hit1": .number(choice.metrics.hit(at: 1)), "ndcg10": .number(choice.metrics.ndcg(at: 10))]
            }
            let output: JSONValue = [
                "bundle": .string(bundle), "validationCases": .integer(tuner.cases), "signals": .object(singles),
                "signalsReadWithoutInteractions": .object(readWithout), "itemsWithoutInteractionsTunedOn": .string(itemsWithoutInteractionsCases),
                "itemsWithoutInteractionsCases": .integer(itemsWithoutInteractionsTuner?.cases ?? 0), "blend": json(best),
                "blendWithoutLM": json(bestWithoutLM), "blendItemsWithoutInteractions": bestForItemsWithoutInteractions.map(json) ?? .null,
                "blendItemsWithoutInteractionsWithoutLM": bestForItemsWithoutInteractionsWithoutLM.map(json) ?? .null,
                "seconds": .number(Date().timeIntervalSince(started)),
            ]
            print(JSONWriter.compact(output))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}
