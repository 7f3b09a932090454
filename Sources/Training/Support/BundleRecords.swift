import Datasets
import Foundation
import Models
import Numerics

/// What each trainer writes into a bundle's manifest when it has run: the files it made, the
/// dimensions they fit, and a record of the run (`training[stage]`). The commands save the
/// weights; the manifest's content is decided here, next to the trainers.
extension ALLMRecManifest {
    /// The manifest of the bundle whose SASRec (hidden size `hiddenUnits`) is its
    /// `sasrec.safetensors`: `existing` when there is one, else a new one with `template`; either
    /// way for `dataset`.
    public static func withSASRec(
        existing: ALLMRecManifest?, dataset: PreparedDataset, hiddenUnits: Int, template: PromptTemplate
    ) -> ALLMRecManifest {
        var manifest = existing
            ?? ALLMRecManifest(
                datasetFingerprint: dataset.fingerprint, itemCount: dataset.itemCount, sasrec: "sasrec.safetensors", template: template)
        manifest.datasetFingerprint = dataset.fingerprint
        manifest.itemCount = dataset.itemCount
        manifest.sasrec = "sasrec.safetensors"
        manifest.dimensions["cf"] = hiddenUnits
        return manifest
    }

    /// Stage 1 wrote `stage1.safetensors` with `trainer`'s MLPs for `template`; the encoder is
    /// `encoder` (a path, or `encoder` inside the bundle when it was fine-tuned). Stage 2's
    /// projectors, trained on other latents, no longer fit and are dropped.
    public mutating func recordStage1(
        _ trainer: Stage1Trainer, template: PromptTemplate, encoder: String, textDimension: Int, finalLoss: Double?
    ) {
        let options = trainer.options
        stage1 = "stage1.safetensors"
        stage2 = nil
        training["stage2"] = nil
        self.template = template
        self.encoder = encoder
        dimensions["text"] = textDimension
        dimensions["latent"] = TwoLayerMLP.latentSize
        training["stage1"] = [
            "epochs": String(trainer.epochsDone), "batchSize": String(options.batchSize), "learningRate": String(options.learningRate),
            "seed": String(options.seed), "sasrecDropout": String(options.sasrecDropout), "meanScore": String(options.meanScore),
            "encoderMode": options.fineTuneLayers > 0 ? "fine-tune top \(options.fineTuneLayers)" : "frozen",
            "finalLoss": finalLoss.map { String(format: "%.5f", $0) } ?? "",
        ]
    }

    /// Stage 2 wrote `stage2.safetensors` with `trainer`'s projectors into the LM at
    /// `languageModel` (input width `embeddingSize`), at `samplesPerSecond` in its last run.
    public mutating func recordStage2(_ trainer: Stage2Trainer, languageModel: String, embeddingSize: Int, samplesPerSecond: Double) {
        let options = trainer.options
        stage2 = "stage2.safetensors"
        self.languageModel = languageModel
        dimensions["lm"] = embeddingSize
        training["stage2"] = [
            "epochs": String(trainer.epochsDone), "steps": String(trainer.optimizer.step), "batchSize": String(options.batchSize),
            "learningRate": String(options.learningRate), "seed": String(options.seed), "maxUsers": options.maxUsers.map(String.init) ?? "all",
            "sasrecDropout": String(options.sasrecDropout), "matchEmbeddingScale": String(options.matchEmbeddingScale),
            "samplesPerSecond": String(format: "%.3f", samplesPerSecond),
        ]
    }

    /// Retrieval wrote `retrieval.safetensors` with `trainer`'s weights for `template` and the LM
    /// at `languageModel` (input width `embeddingSize`), started from `warmStart` when given, at
    /// `samplesPerSecond` in its last run.
    public mutating func recordRetrieval(
        _ trainer: RetrievalTrainer, template: RetrievalTemplate, languageModel: String, embeddingSize: Int, warmStart: String?,
        samplesPerSecond: Double
    ) {
        let options = trainer.options
        retrieval = "retrieval.safetensors"
        retrievalTemplate = template
        retrievalTemperature = options.temperature
        retrievalWishes = options.wishes > 0 ? options.wishes : nil
        // A word head was fitted to the retrieval weights it read; new weights need a new one.
        retrievalWords = nil
        training["words"] = nil
        self.languageModel = languageModel
        dimensions["lm"] = embeddingSize
        training["retrieval"] = [
            "epochs": String(trainer.epochsDone), "position": String(trainer.position), "steps": String(trainer.optimizer.step),
            "batchSize": String(options.batchSize), "learningRate": String(options.learningRate), "seed": String(options.seed),
            "targets": options.targets.description, "negatives": "\(options.negatives.rawValue) x\(options.negativeCount)",
            "cfDropout": String(options.cfDropout), "maxUsers": options.maxUsers.map(String.init) ?? "all",
            "wishes": String(options.wishes), "from": warmStart ?? "", "samplesPerSecond": String(format: "%.3f", samplesPerSecond),
        ]
    }

    /// Records the word head `trainer` kept (written to `RetrievalWordHead.fileName`).
    public mutating func recordWords(_ trainer: WordHeadTrainer) {
        let options = trainer.options
        retrievalWords = RetrievalWordHead.fileName
        training["words"] = [
            "epochs": String(trainer.epochsDone), "keptEpoch": String(trainer.best.epoch), "rounds": String(options.rounds),
            "targets": "last\(options.targetsPerUser)", "negatives": "sampled x\(options.negativeCount)",
            "trainingSamples": String(trainer.training.count), "validationSamples": String(trainer.validation.count),
            "batchSize": String(options.batchSize), "learningRate": String(options.learningRate), "weightDecay": String(options.weightDecay),
            "seed": String(options.seed), "validationLoss": String(format: "%.4f", trainer.best.loss),
        ]
    }
}
