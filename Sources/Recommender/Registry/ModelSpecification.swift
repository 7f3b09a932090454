import Datasets
import Models

/// Errors naming a model on the command line.
public enum ModelSpecificationError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownModel(String)
    case catalogMismatch(path: String, modelItems: Int, datasetItems: Int)

    public var description: String {
        switch self {
        case .unknownModel(let name):
            return "unknown model '\(name)' (known: \(ModelSpecification.knownNames.joined(separator: ", ")))"
        case .catalogMismatch(let path, let modelItems, let datasetItems):
            return "\(path): the model knows \(modelItems) items, the dataset has \(datasetItems); was it trained on this dataset?"
        }
    }
}

/// A model named on the command line (`--model popularity`, `--model sasrec:FILE`), built against a
/// prepared dataset.
public enum ModelSpecification: Sendable, Equatable {
    case popularity
    case cooccurrence
    /// A trained SASRec checkpoint (`llmrec train sasrec`, or the original's weights as safetensors).
    case sasrec(path: String)
    /// An A-LLMRec bundle in one of its evaluation modes.
    case allmrec(mode: ALLMRecMode, bundle: String)
    /// SASRec blended with A-LLMRec's ranking at this LM weight (`allmrec-blend[@W]:BUNDLE`, W 0.1 by default).
    case blend(weight: Float, bundle: String)
    /// Retrieval through the LM (LLM-SRec) alone (`retrieval:BUNDLE`).
    case retrieval(bundle: String)
    /// The history's item texts against each candidate's with a sentence encoder (`text:ENCODER_DIR`).
    case text(encoder: String)
    /// The bundle's SASRec with the rows of items without training interactions predicted from their
    /// text (`sasrec-text:BUNDLE`).
    case sasrecText(bundle: String)
    /// The bundle's tuned z-score blend (`llmrec tune`): with the retrieval path (`blend:BUNDLE`) or
    /// the best blend without it (`blend-cf:BUNDLE`).
    case tunedBlend(bundle: String, withLanguageModel: Bool)

    /// How an A-LLMRec bundle is evaluated.
    public enum ALLMRecMode: String, Sendable, CaseIterable {
        /// Log-likelihood of every candidate's title after the soft-token prompt (`allmrec:`).
        case ranking = "allmrec"
        /// Greedy generation, title matched in the output, as the original (`allmrec-generate:`).
        case generation = "allmrec-generate"
        /// The LM alone on the same words without soft tokens, ranking by likelihood (`lm-only:`).
        case languageModelOnly = "lm-only"
        /// Stage-1 text latent of the history against item latents (`stage1:`).
        case stage1Retrieval = "stage1"
    }

    public static let knownNames =
        ["popularity", "cooccurrence", "sasrec:FILE"] + ALLMRecMode.allCases.map { $0.rawValue + ":BUNDLE" } + ["allmrec-blend[@W]:BUNDLE", "retrieval:BUNDLE", "text:ENCODER_DIR", "sasrec-text:BUNDLE", "blend:BUNDLE", "blend-cf:BUNDLE"]

    public init(parsing text: String) throws(ModelSpecificationError) {
        switch text {
        case "popularity", "pop": self = .popularity
        case "cooccurrence", "co-occurrence", "cooc": self = .cooccurrence
        case _ where text.hasPrefix("sasrec:") && text.count > "sasrec:".count:
            self = .sasrec(path: String(text.dropFirst("sasrec:".count)))
        case _ where text.hasPrefix("retrieval:") && text.count > "retrieval:".count:
            self = .retrieval(bundle: String(text.dropFirst("retrieval:".count)))
        case _ where text.hasPrefix("sasrec-text:") && text.count > "sasrec-text:".count:
            self = .sasrecText(bundle: String(text.dropFirst("sasrec-text:".count)))
        case _ where text.hasPrefix("text:") && text.count > "text:".count:
            self = .text(encoder: String(text.dropFirst("text:".count)))
        case _ where text.hasPrefix("blend:") && text.count > "blend:".count:
            self = .tunedBlend(bundle: String(text.dropFirst("blend:".count)), withLanguageModel: true)
        case _ where text.hasPrefix("blend-cf:") && text.count > "blend-cf:".count:
            self = .tunedBlend(bundle: String(text.dropFirst("blend-cf:".count)), withLanguageModel: false)
        case _ where text.hasPrefix("allmrec-blend"):
            let rest = text.dropFirst("allmrec-blend".count)
            guard let colon = rest.firstIndex(of: ":"), rest.index(after: colon) < rest.endIndex else { throw .unknownModel(text) }
            var weight: Float = 0.1
            if rest.first == "@" {
                guard let parsed = Float(rest[rest.index(after: rest.startIndex)..<colon]), parsed.isFinite, parsed >= 0 else {
                    throw .unknownModel(text)
                }
                weight = parsed
            } else if colon != rest.startIndex {
                throw .unknownModel(text)
            }
            self = .blend(weight: weight, bundle: String(rest[rest.index(after: colon)...]))
        default:
            for mode in ALLMRecMode.allCases where text.hasPrefix(mode.rawValue + ":") && text.count > mode.rawValue.count + 1 {
                self = .allmrec(mode: mode, bundle: String(text.dropFirst(mode.rawValue.count + 1)))
                return
            }
            throw .unknownModel(text)
        }
    }

    /// Which interactions a model is fitted on.
    public enum FitData: Sendable {
        /// The training split only: for evaluation, so held-out items stay unseen.
        case trainingSplit
        /// Every interaction: for serving.
        case everything
    }

    /// Fits the model on the dataset (baselines), or loads it (trained models, whose fit is fixed).
    /// `showProgress` reports long preparations (a retrieval model's catalog vectors) on stderr.
    public func build(on dataset: PreparedDataset, using data: FitData = .trainingSplit, showProgress: Bool = false) throws -> any SequentialRecommender {
        let sequences = data == .trainingSplit ? dataset.train : dataset.allSequences
        switch self {
        case .popularity: return PopularityRecommender(trainingSequences: sequences, itemCount: dataset.itemCount)
        case .cooccurrence: return CoOccurrenceRecommender(trainingSequences: sequences, itemCount: dataset.itemCount)
        case .sasrec(let path):
            return try Self.sasrecModel(path: path, for: dataset)
        case .retrieval(let bundle):
            return try BlendSignals.retrieval(bundle: bundle, dataset: dataset, showProgress: showProgress, storeCache: data == .trainingSplit)
        case .text(let encoder):
            return try BlendSignals.text(encoder: encoder, dataset: dataset, showProgress: showProgress)
        case .sasrecText(let bundle):
            return try BlendSignals.sasrecWithTextRows(bundle: bundle, dataset: dataset, showProgress: showProgress)
        case .tunedBlend(let bundle, let withLanguageModel):
            let manifest = try ALLMRecManifest.read(directory: bundle)
            guard let weights = withLanguageModel ? manifest.blend : manifest.blendWithoutLM else {
                throw ALLMRecError.invalidBundle("\(bundle) has no tuned blend yet (llmrec tune)")
            }
            // Lists of items without training interactions: the tuned weighting of the signals that
            // read items by their text, with or without the LM path (a bundle tuned before the latter
            // existed: the text path alone).
            let tunedCold = manifest.blendItemsWithoutInteractions ?? [:]
            let textAlone = tunedCold.keys.contains(BlendSignal.text.rawValue) ? [BlendSignal.text.rawValue: Float(1)] : [:]
            let coldWeights = withLanguageModel ? tunedCold : (manifest.blendItemsWithoutInteractionsWithoutLM ?? textAlone)
            let signals = try BlendSignals.build(
                Set(weights.merging(coldWeights) { max($0, $1) }.filter { $0.value != 0 }.keys.compactMap(BlendSignal.init)), bundle: bundle,
                dataset: dataset, using: data, showProgress: showProgress)
            func components(_ weights: [String: Float]) -> [ZScoreBlend.Component] {
                signals.compactMap { signal in weights[signal.key.rawValue].map { ZScoreBlend.Component(recommender: signal.value, weight: $0) } }
            }
            return ZScoreBlend(
                name: name, components: components(weights), componentsForItemsWithoutInteractions: components(coldWeights),
                interactedItems: Set(sequences.joined()))
        case .blend(let weight, let bundle):
            return try ALLMRecBlend(model: try ALLMRecModel.load(bundle: bundle, dataset: dataset), weight: weight)
        case .allmrec(let mode, let bundle):
            let needsLM = mode != .stage1Retrieval
            let model = try ALLMRecModel.load(bundle: bundle, dataset: dataset, loadLanguageModel: needsLM)
            switch mode {
            case .ranking: return try ALLMRecRanker(model: model)
            case .generation: return try ALLMRecGenerator(model: model)
            case .languageModelOnly: return try ALLMRecRanker(model: model, softTokens: false)
            case .stage1Retrieval:
                guard let encoderPath = model.manifest.encoder else { throw ALLMRecError.invalidBundle("\(bundle) names no text encoder") }
                let encoder = try SentenceEncoder(directory: ALLMRecManifest.resolve(encoderPath, in: bundle))
                let texts = try CatalogEmbeddings.embeddings(dataset: dataset, encoder: encoder, field: .text)
                return try Stage1Retriever(model: model, textEmbeddings: texts.embeddings)
            }
        }
    }

    /// The model's name on the command line and in reports.
    /// The SASRec checkpoint at `path`, refused unless it knows `dataset`'s catalog.
    public static func sasrecModel(path: String, for dataset: PreparedDataset) throws -> SASRecModel {
        let model = try SASRecCheckpoint.load(path)
        guard model.configuration.itemCount == dataset.itemCount else {
            throw ModelSpecificationError.catalogMismatch(path: path, modelItems: model.configuration.itemCount, datasetItems: dataset.itemCount)
        }
        return model
    }

    public var name: String {
        switch self {
        case .popularity: return "popularity"
        case .cooccurrence: return "cooccurrence"
        case .sasrec: return "sasrec"
        case .blend(let weight, _): return "allmrec-blend@\(weight)"
        case .retrieval: return "retrieval"
        case .text: return "text"
        case .sasrecText: return "sasrec-text"
        case .tunedBlend(_, let withLanguageModel): return withLanguageModel ? "blend" : "blend-cf"
        case .allmrec(let mode, _):
            switch mode {
            case .ranking: return "allmrec-rank"
            case .generation: return "allmrec-generate"
            case .languageModelOnly: return "lm-only"
            case .stage1Retrieval: return "stage1"
            }
        }
    }
}
