import ArgumentParser
import Datasets
import Foundation
import JSON
import Models
import Numerics
import Recommender
import Support
import Training

struct TrainWordsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "words",
        abstract: "Teach a trained retrieval model to follow the user's words (the word head).",
        discussion: """
            The user's words sit in the retrieval prompt between the history and [UserOut]; the word head \
            maps the mean final state of that segment (the same LM pass) to a vector added to the user \
            vector, so that "something funny" moves it towards comedies. Its samples are retrieval \
            training's wish samples (a facet or decade the target has against the user's best items \
            without it, a facet it lacks that moves the positive, "no more X"), phrased by fixed \
            templates; everyday paraphrases are left to the LM (llmrec listen holds some no template \
            has). Each sample's prompt runs once through the LM, forward only; then the head trains over \
            those features with the retrieval loss against the catalog's item vectors, everything else \
            frozen, and the epoch with the lowest loss on --validation-share of the users is kept. The \
            LM passes are kept in BUNDLE/words.features.safetensors, so a rerun with other epochs, --lr \
            or --weight-decay takes seconds (--restart computes them again). \
            Writes BUNDLE/words.safetensors and names it in the manifest (retraining retrieval drops \
            it). Prints one JSON summary line.
            """
    )

    @OptionGroup var training: TrainingRunOptions<WordHeadOptions>

    @Option(help: "Bundle directory with a retrieval model (llmrec train retrieval).") var bundle: String
    @Option(help: "Draws of every user's samples, each with its own words and negatives.") var rounds = WordHeadOptions().rounds
    @Option(help: "Targets per user and draw: the last K training positions.") var targetsPerUser = WordHeadOptions().targetsPerUser
    @Option(help: "Negatives per sample.") var negativeCount = WordHeadOptions().negativeCount
    @Option(help: "Adam's L2 penalty on the head.") var weightDecay = WordHeadOptions().weightDecay
    @Option(help: "Share of users held out to choose the epoch.") var validationShare = WordHeadOptions().validationShare
    @Option(help: "At most this many samples.") var maxSamples: Int?
    @Option(help: "OpenBLAS threads.") var blasThreads = 2

    func validate() throws {
        guard blasThreads >= 1, rounds >= 1, targetsPerUser >= 1, negativeCount >= 1, maxSamples.map({ $0 >= 1 }) ?? true else {
            throw ValidationError("--blas-threads, --rounds, --targets-per-user, --negative-count and --max-samples must be positive")
        }
        guard (0..<1).contains(validationShare) else { throw ValidationError("--validation-share must be in [0, 1)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must not be negative") }
    }

    func run() throws {
        BLAS.setThreads(blasThreads)
        do {
            let started = Date()
            let dataset = try PreparedDataset(directory: training.data)
            var manifest = try ALLMRecManifest.read(directory: bundle)
            guard !RetrievalWordHead.columns(of: dataset.catalog).isEmpty else {
                throw RetrievalError.invalidBundle("\(training.data): its catalog has no facets (string-array metadata) and no years for words to name")
            }
            let retrieval = try BlendSignals.retrieval(bundle: bundle, dataset: dataset, showProgress: !training.quiet, wordHead: false)
            var options = WordHeadOptions()
            options.schedule = training.schedule
            options.rounds = rounds
            options.targetsPerUser = targetsPerUser
            options.negativeCount = negativeCount
            options.weightDecay = weightDecay
            options.validationShare = validationShare
            options.maxSamples = maxSamples
            let featuresPath = bundle + "/" + WordFeaturesFile.fileName
            let key = "data=\(dataset.fingerprint) retrieval=\(try fileDigest(ALLMRecManifest.resolve(manifest.retrieval ?? "", in: bundle))) "
                + "lm=\(manifest.languageModel ?? "") template=\(retrieval.model.builder.template.fingerprint) "
                + WordHeadTrainer.samplesIdentity(options)
            var samplesPerSecond: Double?
            let features: (training: WordHeadTrainer.Features, validation: WordHeadTrainer.Features)
            if !training.restart, let saved = WordFeaturesFile.load(from: featuresPath, key: key) {
                features = saved
                if !training.quiet {
                    FileHandle.standardError.write(
                        Data("train words: reusing the LM passes of \(saved.training.count + saved.validation.count) samples in \(featuresPath)\n".utf8))
                }
            } else {
                var meter: ProgressMeter?
                let featuresStarted = Date()
                features = try WordHeadTrainer.features(model: retrieval.model, dataset: dataset, options: options) { done, total in
                    if meter == nil {
                        meter = ProgressMeter(label: "train words: LM passes", total: Int64(total), unit: .items("samples"), enabled: !training.quiet)
                    }
                    meter?.update(Int64(done))
                }
                let samples = features.training.count + features.validation.count
                meter?.finish(Int64(samples))
                samplesPerSecond = Double(samples) / max(Date().timeIntervalSince(featuresStarted), 1e-9)
                try WordFeaturesFile.save(training: features.training, validation: features.validation, key: key, to: featuresPath)
            }
            let trainer = WordHeadTrainer(
                model: retrieval.model, itemVectors: retrieval.itemVectors, catalog: dataset.catalog, training: features.training,
                validation: features.validation, options: options)
            var reports: [WordHeadTrainer.EpochReport] = []
            try trainer.train { report in
                reports.append(report)
                if !training.quiet {
                    FileHandle.standardError.write(
                        Data(
                            String(
                                format: "train words: epoch %d/%d loss %.4f valid loss %.4f valid Hit@1 %.4f (without words' head %.4f)\n",
                                report.epoch, options.epochs, report.trainingLoss, report.validationLoss, report.validationHit1,
                                report.validationHit1WithoutWords
                            ).utf8))
                }
            }
            try trainer.best.head.save(
                to: bundle + "/" + RetrievalWordHead.fileName,
                metadata: ["dataset": dataset.fingerprint, "epoch": String(trainer.best.epoch), "retrieval": manifest.retrieval ?? ""])
            manifest.recordWords(trainer)
            try manifest.write(directory: bundle)
            let kept = reports.first { $0.epoch == trainer.best.epoch }
            let summary: JSONValue = [
                "bundle": .string(bundle), "trainingSamples": .integer(trainer.training.count),
                "validationSamples": .integer(trainer.validation.count), "keptEpoch": .integer(trainer.best.epoch),
                "validationLoss": .number(Double(trainer.best.loss)), "validationHit1": .number(kept?.validationHit1 ?? 0),
                "validationHit1WithoutWordHead": .number(kept?.validationHit1WithoutWords ?? 0),
                "lmSamplesPerSecond": samplesPerSecond.map { .number($0) } ?? .null, "seconds": .number(Date().timeIntervalSince(started)),
                "peakRSSBytes": .integer(peakResidentBytes()),
            ]
            print(JSONWriter.compact(summary))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}

extension WordHeadOptions: ScheduleDefaults {
    static var batchUnit: String { "Samples" }
}
