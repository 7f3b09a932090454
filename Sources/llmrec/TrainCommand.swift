import ArgumentParser
import Datasets
import Foundation
import Models
import Numerics
import Synchronization
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a model.", subcommands: [TrainSASRecCommand.self, TrainAlignCommand.self, TrainProjectCommand.self, TrainRetrievalCommand.self, TrainWordsCommand.self])
}

/// Set by SIGINT/SIGTERM while training: the loop stops between steps and the last finished epoch is kept.
let interruptRequested = Atomic<Bool>(false)

struct TrainSASRecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sasrec",
        abstract: "Train SASRec (A-LLMRec's collaborative-filtering model) on a prepared dataset.",
        discussion: """
            Defaults are A-LLMRec's: d=50, 2 blocks, 1 head, maxlen 50, dropout 0.5, Adam lr 1e-3 betas \
            (0.9, 0.98), batch 128, BCE with one sampled negative per position, 200 epochs. The state is \
            saved after every epoch to OUT.training.safetensors and the run resumes from it (same data and \
            settings) unless --restart; Ctrl-C stops after the current step, keeping finished epochs. OUT \
            receives the best weights by validation NDCG@10 (100 negatives), or the last ones without \
            validation. Prints one JSON summary line on stdout.
            """
    )

    @OptionGroup var training: TrainingRunOptions<SASRecTrainingOptions>

    @Option(help: "Output checkpoint (safetensors).") var out: String
    @Option(help: "Hidden units d.") var hiddenUnits = 50
    @Option(help: "Transformer blocks.") var blocks = 2
    @Option(help: "Attention heads.") var heads = 1
    @Option(help: "Sequence length (most recent items kept).") var maxLength = 50
    @Option(help: "Dropout rate.") var dropout: Float = 0.5
    @Option(help: "L2 weight on the item-embedding norm (the original's l2_emb).") var l2Embedding: Float = 0
    @Option(help: "Validate every N epochs (0: never).") var validateEvery = 20
    @Option(help: "Threads sharing each batch (OpenBLAS itself runs single-threaded in each).") var batchThreads = 1

    func validate() throws {
        guard hiddenUnits >= 1, blocks >= 1, heads >= 1, maxLength >= 2, batchThreads >= 1 else {
            throw ValidationError("sizes and --batch-threads must be positive (max length at least 2)")
        }
        guard hiddenUnits % heads == 0 else { throw ValidationError("--hidden-units must be divisible by --heads") }
        guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must be in [0, 1)") }
    }

    func run() throws {
        BLAS.setThreads(1)
        do {
            let dataset = try PreparedDataset(directory: training.data)
            let configuration = SASRecConfiguration(
                itemCount: dataset.itemCount, hiddenUnits: hiddenUnits, blocks: blocks, heads: heads, maxLength: maxLength,
                dropout: dropout)
            var options = SASRecTrainingOptions()
            options.schedule = training.schedule
            options.l2Embedding = l2Embedding
            options.validateEvery = validateEvery
            options.threads = batchThreads
            let statePath = SASRecTrainingStateFile.path(forOutput: out)
            let identity = SASRecTrainingStateFile.identity(dataset: dataset.fingerprint, configuration: configuration, options: options)
            let saved = training.restart ? nil : try SASRecTrainingStateFile.load(from: statePath, identity: identity)
            if let saved, !training.quiet {
                FileHandle.standardError.write(Data("train sasrec: resuming after epoch \(saved.epochsDone) from \(statePath)\n".utf8))
            }
            let trainer = try SASRecTrainer(dataset: dataset, configuration: configuration, options: options)
            if let saved { try trainer.restore(saved) }
            let firstEpoch = trainer.state.epochsDone
            installInterruptHandlers()
            var epochSeconds: [Double] = []
            var lastPrinted = Date.distantPast
            try trainer.train(shouldStop: { interruptRequested.load(ordering: .relaxed) }) { report in
                epochSeconds.append(report.seconds)
                try SASRecTrainingStateFile.save(trainer.state, identity: identity, to: statePath)
                // A line per epoch on a terminal; otherwise every 5 s, at validations and at the end.
                let due = isatty(2) != 0 || report.validationNDCG10 != nil || report.epoch == training.epochs
                    || Date().timeIntervalSince(lastPrinted) >= 5
                if !training.quiet && due {
                    lastPrinted = Date()
                    var line = "train sasrec: epoch \(report.epoch)/\(training.epochs) loss \(String(format: "%.4f", report.meanLoss))"
                    line += " \(String(format: "%.2f", report.seconds))s"
                    if let ndcg = report.validationNDCG10, let hit = report.validationHit10 {
                        line += " valid NDCG@10 \(String(format: "%.4f", ndcg)) Hit@10 \(String(format: "%.4f", hit))"
                    }
                    let remaining = Double(training.epochs - report.epoch) * epochSeconds.reduce(0, +) / Double(epochSeconds.count)
                    line += " ETA \(Int(remaining.rounded()))s\n"
                    FileHandle.standardError.write(Data(line.utf8))
                }
            }
            let interrupted = interruptRequested.load(ordering: .relaxed)
            let model = trainer.bestModel
            try SASRecCheckpoint.save(
                model, to: out,
                metadata: [
                    "dataset": dataset.fingerprint, "epochs": String(trainer.state.epochsDone),
                    "bestValidationNDCG10": String(trainer.state.bestValidationNDCG10),
                ])
            let sorted = epochSeconds.sorted()
            let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
            print(
                "{\"out\":\"\(out)\",\"epochs\":\(trainer.state.epochsDone),\"epochsThisRun\":\(trainer.state.epochsDone - firstEpoch),"
                    + "\"secondsPerEpoch\":\(median),\"bestValidationNDCG10\":\(trainer.state.bestValidationNDCG10),"
                    + "\"peakRSSBytes\":\(peakResidentBytes()),\"interrupted\":\(interrupted)}")
            if interrupted { throw ExitCode(130) }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }
}

/// Peak resident set size of this process (getrusage), in bytes.
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

func installInterruptHandlers() {
    signal(SIGINT) { _ in interruptRequested.store(true, ordering: .relaxed) }
    signal(SIGTERM) { _ in interruptRequested.store(true, ordering: .relaxed) }
}
