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

struct TrainAlignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "align",
        abstract: "A-LLMRec stage 1: align SASRec's item embeddings with the items' text embeddings.",
        discussion: """
            Trains the item MLP (d -> 128 -> d, sigmoid latent) and the text MLP (encoder dim -> 128 -> \
            encoder dim) with the four losses of the paper (recommendation, matching, item and text \
            reconstruction with weights 1, 1, 0.5, 0.2), one negative per user, the original's batch (32), \
            epochs (10), Adam lr 1e-4 betas (0.9, 0.98). By default the text encoder is frozen: the items' \
            '"title, description"' embeddings come from the catalog cache (computed once, with progress). \
            With --fine-tune-layers N the encoder's top N layers train with the MLPs (the original \
            fine-tunes all of it) and the fine-tuned encoder is written to BUNDLE/encoder. \
            Writes BUNDLE/manifest.json, BUNDLE/sasrec.safetensors (a copy) and BUNDLE/stage1.safetensors; \
            the state after every epoch goes to BUNDLE/stage1.training.safetensors and a rerun resumes \
            from it unless --restart. Prints one JSON summary line.
            """
    )

    @OptionGroup var training: TrainingRunOptions<Stage1Options>

    @Option(help: "Trained SASRec checkpoint (llmrec train sasrec, or the original's .pth).") var sasrec: String
    @Option(help: "Sentence-transformers directory (all-MiniLM-L6-v2, nq-distilbert-base-v1, ...).") var encoder: String
    @Option(help: "Bundle directory to write.") var bundle: String
    @Option(help: "Prompt template for stage 2 and inference: movies, games, items, plain, or a JSON file.") var template = "movies"
    @Flag(inversion: .prefixedNo, help: "Compute user vectors with SASRec's dropout active (the original's train mode).")
    var sasrecDropout = true
    @Flag(help: "Score with the dot product instead of the original's mean over dimensions.") var dotScore = false
    @Option(help: "Fine-tune the encoder's top N layers (0: frozen encoder, embeddings from the catalog cache).") var fineTuneLayers = 0
    @Option(help: "Threads for embedding the catalog.") var embeddingThreads = 1

    func validate() throws {
        guard embeddingThreads >= 1 else { throw ValidationError("--embedding-threads must be positive") }
        guard fineTuneLayers >= 0 else { throw ValidationError("--fine-tune-layers must be 0 or more") }
    }

    func run() throws {
        BLAS.setThreads(1)
        do {
            let started = Date()
            let dataset = try PreparedDataset(directory: training.data)
            let promptTemplate = try PromptTemplate.named(template)
            let model = try SASRecCheckpoint.load(sasrec)
            guard model.configuration.itemCount == dataset.itemCount else {
                throw ModelSpecificationError.catalogMismatch(path: sasrec, modelItems: model.configuration.itemCount, datasetItems: dataset.itemCount)
            }
            let sentenceEncoder = try SentenceEncoder(directory: encoder)
            var texts: (embeddings: [Float], reused: Int, computed: Int) = ([], 0, 0)
            var tower: Stage1TextTower?
            if fineTuneLayers > 0 {
                tower = Stage1TextTower(encoder: sentenceEncoder, dataset: dataset, trainableLayers: fineTuneLayers)
            } else {
                let meter = ProgressMeter(label: "embed item texts", total: Int64(dataset.catalog.count), unit: .items("items"), enabled: !training.quiet)
                texts = try CatalogEmbeddings.embeddings(dataset: dataset, encoder: sentenceEncoder, field: .text, threads: embeddingThreads) {
                    done, _ in meter.update(Int64(done))
                }
                meter.finish(Int64(dataset.catalog.count))
            }
            var options = Stage1Options()
            options.schedule = training.schedule
            options.sasrecDropout = sasrecDropout
            options.meanScore = !dotScore
            options.fineTuneLayers = fineTuneLayers
            let trainer = Stage1Trainer(
                dataset: dataset, sasrec: model, textEmbeddings: texts.embeddings, textDim: sentenceEncoder.dimension, tower: tower,
                options: options)
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            let statePath = bundle + "/stage1.training.safetensors"
            let identity = Stage1StateFile.identity(
                dataset: dataset.fingerprint, sasrec: try fileDigest(sasrec), textEmbeddings: sentenceEncoder.fingerprint, options: options)
            let layerTemplate = tower.map { Array($0.weights.layers[$0.firstTrainable...]) }
            if !training.restart, let saved = try Stage1StateFile.load(from: statePath, identity: identity, template: layerTemplate) {
                trainer.restore(saved)
                if !training.quiet { FileHandle.standardError.write(Data("train align: resuming after epoch \(saved.epochsDone)\n".utf8)) }
            }
            installInterruptHandlers()
            let firstEpoch = trainer.epochsDone
            let trainStarted = Date()
            var last: Stage1Trainer.EpochReport?
            try trainer.train(shouldStop: { interruptRequested.load(ordering: .relaxed) }) { report in
                last = report
                try Stage1StateFile.save(trainer.state, identity: identity, to: statePath)
                if !training.quiet {
                    let remaining = Double(training.epochs - report.epoch) * Date().timeIntervalSince(trainStarted) / Double(report.epoch - firstEpoch)
                    let line = String(
                        format: "train align: epoch %d/%d loss %.4f (rec %.4f match %.4f item %.4f text %.4f) %.2fs ETA %.0fs\n", report.epoch,
                        training.epochs, report.total, report.recommendation, report.matching, report.itemReconstruction, report.textReconstruction,
                        report.seconds, remaining)
                    FileHandle.standardError.write(Data(line.utf8))
                }
            }
            let interrupted = interruptRequested.load(ordering: .relaxed)
            try SASRecCheckpoint.save(model, to: bundle + "/sasrec.safetensors", metadata: ["dataset": dataset.fingerprint])
            try ALLMRecWeights.saveStage1(
                item: trainer.item, text: trainer.text, to: bundle + "/stage1.safetensors",
                metadata: ["dataset": dataset.fingerprint, "epochs": String(trainer.epochsDone), "encoder": sentenceEncoder.fingerprint])
            if let tuned = trainer.tower {
                try SentenceEncoder.writeDirectory(
                    from: encoder, weights: tuned.weights, configuration: tuned.configuration, to: bundle + "/encoder")
            }
            var manifest = ALLMRecManifest.withSASRec(
                existing: try? ALLMRecManifest.read(directory: bundle), dataset: dataset, hiddenUnits: model.configuration.hiddenUnits,
                template: promptTemplate)
            manifest.recordStage1(
                trainer, template: promptTemplate,
                encoder: trainer.tower == nil ? URL(fileURLWithPath: encoder).standardizedFileURL.path : "encoder",
                textDimension: sentenceEncoder.dimension, finalLoss: last?.total)
            try manifest.write(directory: bundle)
            let summary: JSONValue = [
                "bundle": .string(bundle), "epochs": .integer(trainer.epochsDone), "epochsThisRun": .integer(trainer.epochsDone - firstEpoch),
                "loss": .number(last?.total ?? .nan), "embeddedItems": .integer(texts.computed), "seconds": .number(Date().timeIntervalSince(started)),
                "trainingSeconds": .number(Date().timeIntervalSince(trainStarted)), "peakRSSBytes": .integer(peakResidentBytes()),
                "interrupted": .bool(interrupted),
            ]
            print(JSONWriter.compact(summary))
            if interrupted { throw ExitCode(130) }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }
}

struct TrainProjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project",
        abstract: "A-LLMRec stage 2: project the user and item latents into the LM's input space.",
        discussion: """
            Trains F_U (SASRec user vector -> LM width: Linear, LayerNorm, LeakyReLU, Linear) and F_I \
            (stage-1 item latent -> LM width: Linear, LayerNorm, GELU, Linear) with the next-token loss on \
            the target title, back-propagated through the frozen LM (OPT or Llama family; GGUF weights are \
            dequantised to Float32 for the backward pass) to the soft tokens. The prompt: the user vector \
            before the text, the last 10 history titles each followed by its item's soft token, 20 \
            candidates likewise, in the bundle's template. Original defaults: batch 2, Adam lr 1e-4 \
            betas (0.9, 0.98); --epochs and --max-users size the run to the machine. State is saved every \
            --checkpoint-every steps to BUNDLE/stage2.training.safetensors and a rerun resumes mid-epoch \
            unless --restart. Prints one JSON summary line with samples/s and where the time went.
            """
    )

    @OptionGroup var training: TrainingRunOptions<Stage2Options>

    @Option(help: "Bundle directory (from llmrec train align).") var bundle: String
    @Option(help: "The LM: a GGUF file or a Hugging Face directory.") var lm: String
    @Option(help: "Prompt template (movies, games, items, plain, or a JSON file); default: the bundle's.") var template: String?
    @Option(help: "Train on a seeded sample of at most this many users per epoch.") var maxUsers: Int?
    @Flag(inversion: .prefixedNo, help: "Compute user vectors with SASRec's dropout active (the original's train mode).")
    var sasrecDropout = true
    @Flag(help: "Scale the projectors' outputs so that soft tokens start at the norm of the LM's token embeddings (not in the original).")
    var matchEmbeddingScale = false
    @Option(help: "Save the training state every N steps.") var checkpointEvery = 10
    @OptionGroup var frozenLM: FrozenLMTrainingOptions
    @Option(help: ArgumentHelp("Write this run's steps (the starting weights, every step's samples, the first step's loss and gradients) to FILE, for scripts/bench-training.py; the first \(StepRecord.stepLimit) steps.", valueName: "file"))
    var record: String?

    func validate() throws {
        guard checkpointEvery >= 1, maxUsers.map({ $0 >= 1 }) ?? true else {
            throw ValidationError("--checkpoint-every and --max-users must be positive")
        }
    }

    func run() throws {
        let arithmetic = frozenLM.prepare()
        AllocatorTuning.keepLargeBlocksInTheHeap()
        do {
            let started = Date()
            let dataset = try PreparedDataset(directory: training.data)
            var manifest = try ALLMRecManifest.read(directory: bundle)
            if let template { manifest.template = try PromptTemplate.named(template) }
            try manifest.write(directory: bundle)
            let lmPath = URL(fileURLWithPath: lm).standardizedFileURL.path
            let model = try ALLMRecModel.load(
                bundle: bundle, dataset: dataset, languageModel: lmPath, loadStage2: false, trainingPrecision: arithmetic.precision,
                trainingThreads: arithmetic.threads)
            var options = Stage2Options()
            options.schedule = training.schedule
            options.sasrecDropout = sasrecDropout
            options.maxUsers = maxUsers
            options.matchEmbeddingScale = matchEmbeddingScale
            let trainer = try Stage2Trainer(model: model, dataset: dataset, options: options)
            let statePath = bundle + "/stage2.training.safetensors"
            let identity = Stage2StateFile.identity(bundle: manifest, languageModel: lmPath, options: options)
            if !training.restart, let saved = try Stage2StateFile.load(from: statePath, identity: identity) {
                trainer.restore(saved)
                if !training.quiet {
                    FileHandle.standardError.write(
                        Data("train project: resuming at epoch \(saved.epochsDone + 1), user \(saved.position)\n".utf8))
                }
            }
            var recorder = record.map { _ in StepRecord(stage2: trainer) }
            let perEpoch = trainer.users(epoch: 1).count
            let total = Int64(perEpoch * training.epochs)
            let meter = ProgressMeter(
                label: "train project", total: total, unit: .items("samples"),
                startingAt: Int64(trainer.epochsDone * perEpoch + trainer.position), enabled: !training.quiet)
            installInterruptHandlers()
            let trainStarted = Date()
            var (samples, tokens, forward, backward, lossSum, steps) = (0, 0, 0.0, 0.0, 0.0, 0)
            var recentLoss: [Float] = []
            try trainer.train(shouldStop: { interruptRequested.load(ordering: .relaxed) }) { report in
                recorder?.add(report, of: trainer)
                samples += report.samples
                tokens += report.tokens
                forward += report.forwardSeconds
                backward += report.backwardSeconds
                lossSum += Double(report.loss)
                steps += 1
                recentLoss = Array((recentLoss + [report.loss]).suffix(20))
                meter.label = String(format: "train project (epoch %d, loss %.3f)", report.epoch, recentLoss.reduce(0, +) / Float(recentLoss.count))
                meter.update(Int64((report.epoch - 1) * perEpoch + report.done))
                if steps % checkpointEvery == 0 { try Stage2StateFile.save(trainer.state, identity: identity, to: statePath) }
            }
            meter.finish(Int64((trainer.epochsDone) * perEpoch + trainer.position))
            if let record, let recorder { try recorder.write(to: record) }
            try Stage2StateFile.save(trainer.state, identity: identity, to: statePath)
            let interrupted = interruptRequested.load(ordering: .relaxed)
            let seconds = Date().timeIntervalSince(trainStarted)
            try ALLMRecWeights.saveStage2(
                trainer.projectors, to: bundle + "/stage2.safetensors",
                metadata: ["dataset": dataset.fingerprint, "epochs": String(trainer.epochsDone), "steps": String(trainer.optimizer.step)])
            manifest.recordStage2(
                trainer, languageModel: lmPath, embeddingSize: model.languageModel!.decoder.configuration.embeddingSize,
                samplesPerSecond: Double(samples) / max(seconds, 1e-9))
            let trained = ALLMRecModel(
                manifest: manifest, sasrec: model.sasrec, itemMLP: model.itemMLP, textMLP: model.textMLP, projectors: trainer.projectors,
                languageModel: model.languageModel, dataset: dataset)
            let scale = trained.softTokenScale(
                users: model.sasrec.userRepresentations(trainer.users(epoch: 1).prefix(200).map { Array(dataset.train[$0].dropLast()) }))
            try manifest.write(directory: bundle)
            let summary: JSONValue = [
                "bundle": .string(bundle), "epochs": .integer(trainer.epochsDone), "steps": .integer(trainer.optimizer.step),
                "samplesThisRun": .integer(samples), "meanLoss": .number(steps > 0 ? lossSum / Double(steps) : .nan),
                "samplesPerSecond": .number(Double(samples) / max(seconds, 1e-9)), "kernels": arithmetic.kernels,
                "tokensPerSample": .number(samples > 0 ? Double(tokens) / Double(samples) : 0), "lmForwardSeconds": .number(forward),
                "lmBackwardSeconds": .number(backward), "otherSeconds": .number(seconds - forward - backward),
                "softTokenNorms": [
                    "item": .number(Double(scale?.item ?? 0)), "user": .number(Double(scale?.user ?? 0)),
                    "lmTokenEmbedding": .number(Double(scale?.tokens ?? 0)),
                ],
                "seconds": .number(Date().timeIntervalSince(started)), "peakRSSBytes": .integer(peakResidentBytes()),
                "interrupted": .bool(interrupted),
            ]
            print(JSONWriter.compact(summary))
            if interrupted { throw ExitCode(130) }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }
}

/// FNV-1a of a file's bytes (identifies a checkpoint in a training state).
func fileDigest(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw InputError.fileNotFound(path: path) }
    var hash = FNV1a64()
    hash.combine(data)
    return hash.hex
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import models trained elsewhere.", subcommands: [ImportALLMRecCommand.self])
}

struct ImportALLMRecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allmrec",
        abstract: "Build a bundle from the original A-LLMRec code's checkpoints.",
        discussion: """
            Reads the original's files: SASRec (`SASRec.epoch=…pth`, or safetensors), stage 1 \
            (`{data}_sasrec_{epoch}_mlp.pt`, and `…_mlp2.pt` for the text side), stage 2 \
            (`{data}_sasrec_10_opt_{epoch}_log_proj.pt` and `…_item_proj.pt`), checks that their \
            dimensions fit together and the dataset, and writes BUNDLE (manifest, sasrec.safetensors, \
            stage1.safetensors, stage2.safetensors) for `eval` and `serve`.
            """
    )

    @Option(help: "Prepared dataset directory the models were trained on.") var data: String
    @Option(help: "SASRec checkpoint (.pth from the original, or safetensors).") var sasrec: String
    @Option(help: "Stage-1 item MLP (`*_mlp.pt`).") var mlp: String
    @Option(help: "Stage-1 text MLP (`*_mlp2.pt`), for stage-1 retrieval.") var mlp2: String?
    @Option(help: "Stage-2 user projector (`*_log_proj.pt`).") var logProj: String?
    @Option(help: "Stage-2 item projector (`*_item_proj.pt`).") var itemProj: String?
    @Option(help: "The LM the projectors were trained for (GGUF file or Hugging Face directory).") var lm: String?
    @Option(help: "The sentence encoder of stage 1 (directory).") var encoder: String?
    @Option(help: "Prompt template: movies, games, items, plain, or a JSON file.") var template = "movies"
    @Option(help: "Bundle directory to write.") var bundle: String

    func validate() throws {
        guard (logProj == nil) == (itemProj == nil) else { throw ValidationError("give both --log-proj and --item-proj, or neither") }
    }

    func run() throws {
        do {
            let dataset = try PreparedDataset(directory: data)
            let model = try SASRecCheckpoint.load(sasrec)
            guard model.configuration.itemCount == dataset.itemCount else {
                throw ModelSpecificationError.catalogMismatch(path: sasrec, modelItems: model.configuration.itemCount, datasetItems: dataset.itemCount)
            }
            let d = model.configuration.hiddenUnits
            let item = try TwoLayerMLP(tensors: try ALLMRecWeights.loadOriginalStateDict(mlp))
            guard item.dim == d else { throw ALLMRecError.shapeMismatch(name: "\(mlp) fc1.weight", expected: [128, d], got: [128, item.dim]) }
            let text = try mlp2.map { try TwoLayerMLP(tensors: try ALLMRecWeights.loadOriginalStateDict($0)) }
            var manifest = ALLMRecManifest(
                datasetFingerprint: dataset.fingerprint, itemCount: dataset.itemCount, sasrec: "sasrec.safetensors",
                template: try PromptTemplate.named(template))
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            try SASRecCheckpoint.save(model, to: bundle + "/sasrec.safetensors", metadata: ["dataset": dataset.fingerprint, "importedFrom": sasrec])
            try ALLMRecWeights.saveStage1(item: item, text: text, to: bundle + "/stage1.safetensors", metadata: ["importedFrom": mlp])
            manifest.stage1 = "stage1.safetensors"
            manifest.dimensions = ["cf": d, "latent": TwoLayerMLP.latentSize]
            if let text { manifest.dimensions["text"] = text.dim }
            if let logProj, let itemProj {
                let projectors = Stage2Projectors(
                    user: try SoftPromptProjector(tensors: try ALLMRecWeights.loadOriginalStateDict(logProj), activation: .leakyReLU),
                    item: try SoftPromptProjector(tensors: try ALLMRecWeights.loadOriginalStateDict(itemProj), activation: .gelu))
                guard projectors.user.inputSize == d else {
                    throw ALLMRecError.shapeMismatch(name: "\(logProj) 0.weight", expected: [projectors.user.outputSize, d], got: [projectors.user.outputSize, projectors.user.inputSize])
                }
                guard projectors.item.inputSize == TwoLayerMLP.latentSize, projectors.item.outputSize == projectors.user.outputSize else {
                    throw ALLMRecError.shapeMismatch(
                        name: "\(itemProj) 0.weight", expected: [projectors.user.outputSize, TwoLayerMLP.latentSize],
                        got: [projectors.item.outputSize, projectors.item.inputSize])
                }
                try ALLMRecWeights.saveStage2(projectors, to: bundle + "/stage2.safetensors", metadata: ["importedFrom": logProj + " " + itemProj])
                manifest.stage2 = "stage2.safetensors"
                manifest.dimensions["lm"] = projectors.user.outputSize
            }
            manifest.languageModel = lm.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            manifest.encoder = encoder.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            manifest.training["import"] = ["sasrec": sasrec, "mlp": mlp, "mlp2": mlp2 ?? "", "logProj": logProj ?? "", "itemProj": itemProj ?? ""]
            try manifest.write(directory: bundle)
            var dimensions = JSONObject()
            for (name, value) in manifest.dimensions.sorted(by: { $0.key < $1.key }) { dimensions[name] = .integer(value) }
            print(JSONWriter.compact(["bundle": .string(bundle), "stage2": .bool(manifest.stage2 != nil), "dimensions": .object(dimensions)]))
        } catch {
            throw fail(error)
        }
    }
}
