import Checkpoints
import Datasets
import Foundation
import Models
import Numerics
import Tokenizers

/// Settings of stage 1 (ghdtjr/A-LLMRec `main.py` and `models/a_llmrec_model.py`); the defaults are the original's.
public struct Stage1Options: TrainerOptions {
    /// 10 epochs of 32 users a step (the original's batch_size1) at Adam 1e-4; the seed draws
    /// initialisation, negatives and SASRec's dropout masks.
    public var schedule = TrainingSchedule(epochs: 10, batchSize: 32, learningRate: 1e-4)
    /// Compute x_u with SASRec's dropout active, as the original (SASRec left in train mode).
    public var sasrecDropout = true
    /// Score with the mean over dimensions (the original) rather than the dot product.
    public var meanScore = true
    /// Fine-tune this many top layers of the text encoder (the original fine-tunes all of it);
    /// 0 keeps it frozen and reads the text embeddings from the catalog cache.
    public var fineTuneLayers = 0

    public init() {}
}

/// The text side of stage 1 when the encoder is fine-tuned: the encoder's weights (the top layers
/// changing), its pooling, and every item's stage-1 text as token ids.
public struct Stage1TextTower: Sendable {
    public let configuration: EncoderConfiguration
    public internal(set) var weights: EncoderWeights
    public let pooling: SentencePooling
    public let trainableLayers: Int
    /// Token ids of item i's `"title, description"` text (index 0 unused).
    let itemTokens: [[Int32]]

    public init(encoder: SentenceEncoder, dataset: PreparedDataset, trainableLayers: Int) {
        configuration = encoder.encoder.configuration
        weights = encoder.encoder.weights
        pooling = encoder.pooling
        self.trainableLayers = min(max(trainableLayers, 0), configuration.layers)
        itemTokens = [[]] + dataset.catalog.items.map {
            encoder.tokenizer.encode(CatalogEmbeddings.text(of: $0, field: .text), addSpecialTokens: true, maxLength: encoder.maxSequenceLength)
        }
    }

    /// Index of the first trainable layer.
    public var firstTrainable: Int { configuration.layers - trainableLayers }

    /// Sentence vectors of `items` ([items.count · dim]) and the trace for `backward`.
    func forward(_ items: [Int]) -> (vectors: [Float], trace: EncoderTrace, lengths: [Int32], length: Int) {
        let length = items.map { itemTokens[$0].count }.max() ?? 1
        var ids = [Int32](repeating: 0, count: items.count * length)
        var lengths = [Int32](repeating: 0, count: items.count)
        for (row, item) in items.enumerated() {
            for (column, id) in itemTokens[item].enumerated() { ids[row * length + column] = id }
            lengths[row] = Int32(itemTokens[item].count)
        }
        let encoder = TransformerEncoder(configuration: configuration, weights: weights)
        let trace = encoder.forwardForTraining(ids: ids, lengths: lengths, batch: items.count, length: length, trainableLayers: trainableLayers)
        let vectors = pooling.pool(hidden: trace.hidden, lengths: lengths, batch: items.count, length: length, dim: configuration.hiddenSize)
        return (vectors.flatMap { $0 }, trace, lengths, length)
    }

    /// Adam over the trainable layers from d loss / d vectors (optimiser indices from `offset`).
    mutating func update(
        dVectors: [Float], forward: (vectors: [Float], trace: EncoderTrace, lengths: [Int32], length: Int), optimizer: inout Adam, offset: Int
    ) {
        let dHidden = pooling.backward(
            dPooled: dVectors, hidden: forward.trace.hidden, lengths: forward.lengths, batch: forward.lengths.count, length: forward.length,
            dim: configuration.hiddenSize)
        let encoder = TransformerEncoder(configuration: configuration, weights: weights)
        let gradients = encoder.backward(forward.trace, dHidden: dHidden).layers
        for (index, layerGradients) in gradients.enumerated() {
            weights.layers[firstTrainable + index].apply(layerGradients, optimizer: &optimizer, offset: offset + 16 * index)
        }
    }

    var parameterSizes: [Int] { weights.layers[firstTrainable...].flatMap(\.parameterSizes) }
}

/// Stage 1 with a frozen text encoder (item text embeddings precomputed, e.g. from the catalog
/// embedding cache): every epoch walks users 1…N in order (the original does not shuffle) in
/// batches; each user contributes x_u = SASRec(train[:-1]) at the last slot, the positive
/// train[-1], one uniform negative outside the user's training items, and the two items' text
/// embeddings. Users with fewer than two training items are skipped (the original feeds them as
/// item 0, "No Title"). Deterministic for a seed: negatives and dropout come from per-(epoch, batch)
/// streams of it.
public final class Stage1Trainer: Trainer {
    public let options: Stage1Options
    public private(set) var item: TwoLayerMLP
    public private(set) var text: TwoLayerMLP
    public private(set) var optimizer: Adam
    public private(set) var epochsDone = 0
    let dataset: PreparedDataset
    let sasrec: SASRecModel
    let itemEmbeddings: [Float]
    let textEmbeddings: [Float]
    let textDim: Int
    let users: [Int]
    /// Set when the encoder is fine-tuned (then `textEmbeddings` is unused).
    public private(set) var tower: Stage1TextTower?

    /// - textEmbeddings: [(items + 1) · textDim], row i the sentence embedding of item i's text
    ///   (frozen encoder); or `tower` to embed the texts with the encoder as it is fine-tuned.
    public init(
        dataset: PreparedDataset, sasrec: SASRecModel, textEmbeddings: [Float], textDim: Int, tower: Stage1TextTower? = nil,
        options: Stage1Options
    ) {
        self.options = options
        self.dataset = dataset
        self.sasrec = sasrec
        self.textEmbeddings = textEmbeddings
        self.textDim = textDim
        self.tower = tower
        itemEmbeddings = sasrec.itemEmbeddings
        var generator = SplitMix64(seed: options.seed)
        item = TwoLayerMLP(dim: sasrec.configuration.hiddenUnits, generator: &generator)
        text = TwoLayerMLP(dim: textDim, generator: &generator)
        optimizer = Adam(
            sizes: item.parameterSizes + text.parameterSizes + (tower?.parameterSizes ?? []), learningRate: options.learningRate,
            beta1: options.beta1, beta2: options.beta2)
        users = (1...max(1, dataset.userCount)).filter { $0 < dataset.train.count && dataset.train[$0].count >= 2 }
    }

    /// Restores a saved state (from `Stage1StateFile`).
    public func restore(_ state: Stage1StateFile.State) {
        item = state.item
        text = state.text
        if let layers = state.encoderLayers, tower != nil {
            for (index, layer) in layers.enumerated() { tower!.weights.layers[tower!.firstTrainable + index] = layer }
        }
        optimizer.restore(step: state.step, firstMoments: state.firstMoments, secondMoments: state.secondMoments)
        epochsDone = state.epochsDone
    }

    public var state: Stage1StateFile.State {
        Stage1StateFile.State(
            item: item, text: text, encoderLayers: tower.map { Array($0.weights.layers[$0.firstTrainable...]) }, step: optimizer.step,
            epochsDone: epochsDone, firstMoments: optimizer.firstMoments, secondMoments: optimizer.secondMoments)
    }

    public var stepsPerEpoch: Int { (users.count + options.batchSize - 1) / options.batchSize }

    /// Mean losses of one epoch.
    public struct EpochReport: Sendable {
        public var epoch: Int
        public var recommendation, matching, itemReconstruction, textReconstruction, total: Double
        public var seconds: Double
    }

    /// Trains the remaining epochs; `onProgress` runs after each (save state there). `shouldStop`
    /// is polled between steps; an interrupted epoch is not counted (it reruns on resume).
    public func train(shouldStop: () -> Bool = { false }, onProgress: (EpochReport) throws -> Void) throws {
        var weights = Stage1Objective.Weights()
        weights.meanScore = options.meanScore
        let cf = item.dim
        while epochsDone < options.epochs {
            let started = Date()
            let epoch = epochsDone + 1
            var sums = [Double](repeating: 0, count: 5)
            var steps = 0
            for (batchIndex, start) in stride(from: 0, to: users.count, by: options.batchSize).enumerated() {
                if shouldStop() { return }
                let members = Array(users[start..<min(start + options.batchSize, users.count)])
                var generator = SplitMix64(seed: options.seed, stream: UInt64(epoch) << 32 | UInt64(batchIndex))
                let histories = members.map { Array(dataset.train[$0].dropLast()) }
                let representations = sasrec.userRepresentations(
                    histories, dropoutSeed: options.sasrecDropout ? generator.next() : nil)
                var batch = Stage1Batch(
                    rows: members.count, users: representations.flatMap { $0 }, positiveItems: [], negativeItems: [], positiveTexts: [],
                    negativeTexts: [])
                var pairs: [(positive: Int, negative: Int)] = []
                for user in members {
                    let train = dataset.train[user]
                    let positive = Int(train[train.count - 1])
                    let negative = Int(
                        NegativeSampler.sample(count: 1, itemCount: dataset.itemCount, excluded: dataset.excludedFromNegatives(train), using: &generator).first ?? 0)
                    pairs.append((positive, negative))
                    batch.positiveItems += itemEmbeddings[(positive * cf)..<((positive + 1) * cf)]
                    batch.negativeItems += itemEmbeddings[(negative * cf)..<((negative + 1) * cf)]
                    if tower == nil {
                        batch.positiveTexts += textEmbeddings[(positive * textDim)..<((positive + 1) * textDim)]
                        batch.negativeTexts += textEmbeddings[(negative * textDim)..<((negative + 1) * textDim)]
                    }
                }
                // Fine-tuning: positives and negatives through the encoder as one batch.
                let encoded = tower?.forward(pairs.map(\.positive) + pairs.map(\.negative))
                if let encoded {
                    batch.positiveTexts = Array(encoded.vectors[..<(members.count * textDim)])
                    batch.negativeTexts = Array(encoded.vectors[(members.count * textDim)...])
                }
                let result = Stage1Objective.evaluate(item: item, text: text, batch: batch, weights: weights)
                optimizer.beginStep()
                item.apply(result.itemGradients, optimizer: &optimizer, offset: 0)
                text.apply(result.textGradients, optimizer: &optimizer, offset: 4)
                if let encoded {
                    tower!.update(dVectors: result.dPositiveTexts + result.dNegativeTexts, forward: encoded, optimizer: &optimizer, offset: 8)
                }
                for (index, value) in [
                    result.recommendation, result.matching, result.itemReconstruction, result.textReconstruction, result.total,
                ].enumerated() {
                    sums[index] += Double(value)
                }
                steps += 1
            }
            epochsDone = epoch
            let mean = sums.map { $0 / Double(max(steps, 1)) }
            try onProgress(
                EpochReport(
                    epoch: epoch, recommendation: mean[0], matching: mean[1], itemReconstruction: mean[2], textReconstruction: mean[3],
                    total: mean[4], seconds: Date().timeIntervalSince(started)))
        }
    }
}

/// Stage 1's resumable state (`BUNDLE/stage1.training.safetensors`): both MLPs, the fine-tuned
/// encoder layers when there are any, Adam's moments, and in the metadata the step, epochs done,
/// the number of moment tensors and the run's identity.
public enum Stage1StateFile {
    public struct State: Sendable {
        public var item, text: TwoLayerMLP
        /// The trainable encoder layers (bottom first) when the encoder is fine-tuned.
        public var encoderLayers: [EncoderWeights.Layer]?
        public var step, epochsDone: Int
        public var firstMoments, secondMoments: [[Float]]
    }

    public static func save(_ state: State, identity: String, to path: String) throws {
        var tensors = state.item.namedTensors.map { ("item." + $0.name, $0.tensor) } + state.text.namedTensors.map { ("text." + $0.name, $0.tensor) }
        for (index, layer) in (state.encoderLayers ?? []).enumerated() {
            for (field, values) in layer.parameterValues.enumerated() {
                tensors.append(("encoder.\(index).\(field)", Tensor(shape: [values.count], storage: values)))
            }
        }
        tensors += AdamMomentTensors.tensors(first: state.firstMoments, second: state.secondMoments)
        try SafetensorsFile.write(
            tensors: tensors,
            metadata: [
                "identity": identity, "step": String(state.step), "epochsDone": String(state.epochsDone),
                "moments": String(state.firstMoments.count), "encoderLayers": String(state.encoderLayers?.count ?? 0),
            ], to: path)
    }

    /// The saved state when `path` exists and belongs to the same run; nil otherwise.
    public static func load(from path: String, identity: String, template: [EncoderWeights.Layer]? = nil) throws -> State? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafetensorsFile(path: path)
        guard file.metadata["identity"] == identity, let step = file.metadata["step"].flatMap(Int.init),
            let epochs = file.metadata["epochsDone"].flatMap(Int.init), let moments = file.metadata["moments"].flatMap(Int.init),
            let encoderLayers = file.metadata["encoderLayers"].flatMap(Int.init), encoderLayers == (template?.count ?? 0)
        else { return nil }
        var item: [String: Tensor] = [:]
        var text: [String: Tensor] = [:]
        for name in file.names {
            if name.hasPrefix("item.") { item[String(name.dropFirst(5))] = try file.tensor(named: name) }
            if name.hasPrefix("text.") { text[String(name.dropFirst(5))] = try file.tensor(named: name) }
        }
        var layers: [EncoderWeights.Layer]?
        if let template {
            layers = try template.enumerated().map { index, shape in
                var layer = shape
                try layer.setParameterValues((0..<16).map { try file.tensor(named: "encoder.\(index).\($0)").storage })
                return layer
            }
        }
        let adam = try AdamMomentTensors.read(from: file, count: moments)
        return State(
            item: try TwoLayerMLP(tensors: item), text: try TwoLayerMLP(tensors: text), encoderLayers: layers, step: step, epochsDone: epochs,
            firstMoments: adam.first, secondMoments: adam.second)
    }

    public static func identity(dataset: String, sasrec: String, textEmbeddings: String, options: Stage1Options) -> String {
        "data=\(dataset) sasrec=\(sasrec) text=\(textEmbeddings) batch=\(options.batchSize) lr=\(options.learningRate) "
            + "betas=\(options.beta1),\(options.beta2) seed=\(options.seed) dropout=\(options.sasrecDropout) mean=\(options.meanScore) "
            + "finetune=\(options.fineTuneLayers)"
    }
}
