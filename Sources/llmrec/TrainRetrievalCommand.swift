import ArgumentParser
import Datasets
import Foundation
import JSON
import Models
import Numerics
import Recommender
import Support
import Synchronization
import Training

extension RetrievalOptions.Negatives: ExpressibleByArgument {}

struct TrainRetrievalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieval",
        abstract: "Retrieval through the LM (LLM-SRec): user and item vectors read from the frozen LM.",
        discussion: """
            The LM reads the user's last 10 titles, each followed by a soft token (the item's SASRec \
            embedding through a projector), and a learnt [UserOut] token whose final state becomes the \
            user vector through a head; each item is read the same way (title, soft token, [ItemOut]; \
            the title's keys and values are computed once per item). Score: cosine / --temperature \
            (0.07), or LLM-SRec's dot product with --temperature 0. Losses (weights 1): cross-entropy \
            of the target against its negatives, distillation of SASRec's user vector (normalised MSE) \
            and uniformity of the user and teacher vectors. The LM and SASRec stay \
            frozen; the projector, the two learnt tokens and the three heads train, back-propagated \
            through the LM (GGUF weights are dequantised to Float32, or packed in bfloat16 with --precision bf16, or where faster with auto). SASRec comes from the bundle \
            (llmrec train align writes it, or --sasrec here). State is saved every --checkpoint-every \
            steps to BUNDLE/retrieval.training.safetensors and a rerun resumes (also with more --epochs) \
            unless --restart. Prints one JSON summary line with samples/s.
            """
    )

    @OptionGroup var training: TrainingRunOptions<RetrievalOptions>

    @Option(help: "Bundle directory (created when --sasrec is given).") var bundle: String
    @Option(help: "The LM: a GGUF file or a Hugging Face directory.") var lm: String
    @Option(help: "SASRec checkpoint to copy into a new bundle (default: the bundle's).") var sasrec: String?
    @Option(help: "Prompt template: movies, games, items, plain, or a JSON file (default: the bundle's, else movies).") var template: String?
    @Option(help: "Targets per user: 'last' (LLM-SRec) or 'lastK' for the last K training positions (e.g. last3).") var targets = "last"
    @Option(help: "Negatives: sampled (LLM-SRec), in-batch, or hard (from SASRec's top 50).") var negatives: RetrievalOptions.Negatives = .sampled
    @Option(help: "Negatives drawn per sample.") var negativeCount = 3
    @Option(help: "Chance that a candidate is read by title alone (no collaborative token).") var cfDropout: Float = 0.1
    @Option(help: "Score with cosine similarity / T instead of LLM-SRec's dot product (e.g. 0.07; 0 keeps the dot product).")
    var temperature: Float = 0.07
    @Flag(help: "Item prompts name the item's facets after its title (its string-array metadata: genres, categories), which words and items without interactions can meet on (not in LLM-SRec).")
    var itemFacets = false
    @Flag(help: "User prompts carry SASRec's user vector of the whole history as a soft token before [UserOut], through a user projector (A-LLMRec's user representation; not in LLM-SRec).")
    var userToken = false
    @Option(help: "Share of samples whose prompt carries words made from the target's training.data (a facet or decade it has, a facet it lacks that moves the positive, 'no more X'), so that the model learns to listen (0: LLM-SRec).")
    var wishes: Float = 0
    @Option(help: "Weight of the distillation term that pulls the user vector towards SASRec's (1: LLM-SRec; 0: the LM path learns its user vector from the targets alone).")
    var distillationWeight: Float = 1
    @Option(help: "Start from these trained retrieval weights (another bundle's retrieval.safetensors) instead of a fresh initialisation; a rerun resumes from the saved state.")
    var from: String?
    @Option(help: "Train on a seeded sample of at most this many users per epoch.") var maxUsers: Int?
    @Option(help: "Stop (state saved) after this many seconds of training; a rerun resumes.") var maxSeconds: Double?
    @Option(help: "Save the training state every N steps.") var checkpointEvery = 10
    @OptionGroup var frozenLM: FrozenLMTrainingOptions
    @Option(help: ArgumentHelp("Write this run's steps (the starting weights, every step's samples, the first step's loss and gradients) to FILE, for scripts/bench-training.py; the first \(StepRecord.stepLimit) steps.", valueName: "file"))
    var record: String?

    func parsedTargets() throws -> RetrievalOptions.Targets {
        if targets == "last" { return .last }
        guard targets.hasPrefix("last"), let count = Int(targets.dropFirst(4)), count >= 1 else {
            throw ValidationError("--targets must be 'last' or 'lastK' with K ≥ 1 (e.g. last3), not '\(targets)'")
        }
        return .lastPositions(count)
    }

    func validate() throws {
        guard checkpointEvery >= 1, negativeCount >= 1, maxUsers.map({ $0 >= 1 }) ?? true else {
            throw ValidationError("--checkpoint-every, --negative-count and --max-users must be positive")
        }
        guard maxSeconds.map({ $0 > 0 }) ?? true else { throw ValidationError("--max-seconds must be positive") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be 0 (dot product) or positive") }
        guard (0...1).contains(cfDropout) else { throw ValidationError("--cf-dropout must be between 0 and 1") }
        guard (0...1).contains(wishes) else { throw ValidationError("--wishes must be between 0 and 1") }
        guard distillationWeight >= 0, distillationWeight.isFinite else { throw ValidationError("--distillation-weight must be a non-negative number") }
        _ = try parsedTargets()
    }

    func run() throws {
        let arithmetic = frozenLM.prepare()
        AllocatorTuning.keepLargeBlocksInTheHeap()
        do {
            let started = Date()
            let dataset = try PreparedDataset(directory: training.data)
            var manifest: ALLMRecManifest
            if let sasrec {
                let model = try SASRecCheckpoint.load(sasrec)
                guard model.configuration.itemCount == dataset.itemCount else {
                    throw ModelSpecificationError.catalogMismatch(path: sasrec, modelItems: model.configuration.itemCount, datasetItems: dataset.itemCount)
                }
                try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
                try SASRecCheckpoint.save(model, to: bundle + "/sasrec.safetensors", metadata: ["dataset": dataset.fingerprint])
                manifest = ALLMRecManifest.withSASRec(
                    existing: try? ALLMRecManifest.read(directory: bundle), dataset: dataset, hiddenUnits: model.configuration.hiddenUnits,
                    template: PromptTemplate.builtIn["movies"]!)
            } else {
                manifest = try ALLMRecManifest.read(directory: bundle)
            }
            guard manifest.datasetFingerprint == dataset.fingerprint else {
                throw RetrievalError.invalidBundle("\(bundle) was made for dataset \(manifest.datasetFingerprint), not \(dataset.fingerprint)")
            }
            var retrievalTemplate = try template.map { name throws in try RetrievalTemplate.named(name) }
                ?? manifest.retrievalTemplate ?? RetrievalTemplate.builtIn["movies"]!
            if itemFacets { retrievalTemplate.itemFacets = true }
            if userToken { retrievalTemplate.userToken = true }
            let sasrecModel = try SASRecCheckpoint.load(ALLMRecManifest.resolve(manifest.sasrec, in: bundle))
            let lmPath = URL(fileURLWithPath: lm).standardizedFileURL.path
            let meterLoad = ProgressMeter(label: "load LM", total: 1, unit: .items("models"), enabled: !training.quiet)
            var languageModel = try LanguageModel.load(lmPath)
            languageModel.decoder = arithmetic.trainingDecoder(languageModel.decoder)
            meterLoad.finish(1)
            var options = RetrievalOptions()
            options.schedule = training.schedule
            options.targets = try parsedTargets()
            options.negatives = negatives
            options.negativeCount = negativeCount
            options.cfDropout = cfDropout
            options.maxUsers = maxUsers
            options.temperature = temperature > 0 ? temperature : nil
            options.wishes = wishes
            options.distillationWeight = distillationWeight
            let builder = RetrievalPromptBuilder(template: retrievalTemplate, tokenizer: languageModel.tokenizer, catalog: dataset.catalog)
            let trainer = RetrievalTrainer(
                decoder: languageModel.decoder, sasrec: sasrecModel, builder: builder, dataset: dataset, options: options)
            let statePath = bundle + "/retrieval.training.safetensors"
            let identity = "data=\(dataset.fingerprint) sasrec=\(try fileDigest(ALLMRecManifest.resolve(manifest.sasrec, in: bundle))) "
                + "lm=\(lmPath) template=\(retrievalTemplate.fingerprint) \(options.identity)"
                + (from == nil ? "" : " warm-start")
            if let from { try trainer.start(from: try RetrievalWeights.load(from)) }
            if !training.restart, let saved = try RetrievalStateFile.load(from: statePath, identity: identity) {
                trainer.restore(saved)
                if !training.quiet {
                    FileHandle.standardError.write(
                        Data("train retrieval: resuming at epoch \(saved.epochsDone + 1), sample \(saved.position)\n".utf8))
                }
            }
            var recorder = record.map { _ in StepRecord(retrieval: trainer) }
            let perEpoch = trainer.samples(epoch: 1).count
            let meter = ProgressMeter(
                label: "train retrieval", total: Int64(perEpoch * training.epochs), unit: .items("samples"),
                startingAt: Int64(trainer.epochsDone * perEpoch + trainer.position), enabled: !training.quiet)
            installInterruptHandlers()
            let trainStarted = Date()
            var (samples, tokens, forward, backward, steps) = (0, 0, 0.0, 0.0, 0)
            var recent: [(Float, Float, Float)] = []
            let deadline = maxSeconds.map { Date().addingTimeInterval($0) }
            var timedOut = false
            let shouldStop = {
                if let deadline, Date() >= deadline { timedOut = true }
                return timedOut || interruptRequested.load(ordering: .relaxed)
            }
            try trainer.train(shouldStop: shouldStop) { report in
                recorder?.add(report, of: trainer)
                samples += report.samples
                tokens += report.tokens
                forward += report.forwardSeconds
                backward += report.backwardSeconds
                steps += 1
                recent = Array((recent + [(report.retrieval, report.distillation, report.uniformity)]).suffix(20))
                let mean = { (pick: ((Float, Float, Float)) -> Float) in recent.map(pick).reduce(0, +) / Float(recent.count) }
                meter.label = String(
                    format: "train retrieval (epoch %d, ce %.3f, distil %.4f, uniform %.3f)", report.epoch, mean { $0.0 }, mean { $0.1 },
                    mean { $0.2 })
                meter.update(Int64((report.epoch - 1) * perEpoch + report.done))
                if steps % checkpointEvery == 0 { try RetrievalStateFile.save(trainer.state, identity: identity, to: statePath) }
            }
            meter.finish(Int64(trainer.epochsDone * perEpoch + trainer.position))
            if let record, let recorder { try recorder.write(to: record) }
            try RetrievalStateFile.save(trainer.state, identity: identity, to: statePath)
            let interrupted = interruptRequested.load(ordering: .relaxed)
            let seconds = Date().timeIntervalSince(trainStarted)
            try trainer.weights.save(
                to: bundle + "/retrieval.safetensors",
                metadata: ["dataset": dataset.fingerprint, "epochs": String(trainer.epochsDone), "steps": String(trainer.optimizer.step)])
            manifest.recordRetrieval(
                trainer, template: retrievalTemplate, languageModel: lmPath, embeddingSize: languageModel.decoder.configuration.embeddingSize,
                warmStart: from, samplesPerSecond: Double(samples) / max(seconds, 1e-9))
            try manifest.write(directory: bundle)
            let summary: JSONValue = [
                "bundle": .string(bundle), "epochs": .integer(trainer.epochsDone), "steps": .integer(trainer.optimizer.step),
                "samplesThisRun": .integer(samples), "samplesPerSecond": .number(Double(samples) / max(seconds, 1e-9)),
                "kernels": arithmetic.kernels,
                "tokensPerSample": .number(samples > 0 ? Double(tokens) / Double(samples) : 0), "lmForwardSeconds": .number(forward),
                "lmBackwardSeconds": .number(backward), "otherSeconds": .number(seconds - forward - backward),
                "samplesDone": .integer(trainer.epochsDone * perEpoch + trainer.position), "samplesTotal": .integer(perEpoch * training.epochs),
                "stoppedAtTimeLimit": .bool(timedOut),
                "seconds": .number(Date().timeIntervalSince(started)), "peakRSSBytes": .integer(peakResidentBytes()),
                "interrupted": .bool(interrupted),
            ]
            if !training.quiet {
                let done = trainer.epochsDone * perEpoch + trainer.position
                let state = done >= perEpoch * training.epochs ? "all \(training.epochs) epoch(s) done" : timedOut || interrupted ? "stopped; a rerun continues" : "done"
                FileHandle.standardError.write(
                    Data("train retrieval: \(done) of \(perEpoch * training.epochs) samples trained (\(perEpoch) an epoch), \(state)\n".utf8))
            }
            print(JSONWriter.compact(summary))
            if interrupted { throw ExitCode(130) }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }
}
