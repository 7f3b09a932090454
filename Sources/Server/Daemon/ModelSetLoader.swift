import Datasets
import Foundation
import Models
import Recommender
import Support

/// What to load as one model set: the A-LLMRec bundle (which brings SASRec, stage 1, stage 2, and
/// names its encoder and LM), or a recommender with an encoder and an LM named on their own.
struct ModelSetRequest: Sendable {
    var recommender: ModelSpecification
    var bundle: String?
    var languageModel: String?
    var encoder: String?
}

/// A model set that could not be loaded: which part failed, and the whole reason. The reason names
/// files and may quote their content, so it goes to the daemon's log; a client is told `summary`.
struct ModelSetLoadError: Error, CustomStringConvertible {
    /// The part of the request that failed: "bundle", "languageModel", "encoder" or "recommender".
    var component: String
    var reason: String

    var description: String { "\(component): \(reason)" }

    /// What a client may learn: the part that failed, not whether a file exists or what it holds.
    var summary: String {
        let kind = switch component {
        case "bundle": "an A-LLMRec bundle"
        case "languageModel": "a language model (GGUF file or Hugging Face directory)"
        case "encoder": "a sentence-transformers encoder directory"
        default: "a recommender checkpoint"
        }
        return "cannot load this model: the \(component) is missing, unreadable or not \(kind)"
    }

    /// Runs `body`, naming `component` in any error it throws.
    static func naming<T>(_ component: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as ModelSetLoadError { throw error } catch {
            throw ModelSetLoadError(component: component, reason: "\(error)")
        }
    }
}

/// Loads a `ConversationModels` (start-up and `model/load`; on a thread of its own for a swap).
/// Errors are `ModelSetLoadError`s.
enum ModelSetLoader {
    static func load(
        _ request: ModelSetRequest, dataset: PreparedDataset, configuration: DaemonConfiguration
    ) throws -> ConversationModels {
        var allmrec: ALLMRecModel?
        var manifest: ALLMRecManifest?
        var encoderDirectory = request.encoder
        var sasrec: (any SequentialRecommender)?
        var languageModelPath = request.languageModel
        if let bundle = request.bundle {
            let read = try ModelSetLoadError.naming("bundle") { try ALLMRecManifest.read(directory: bundle) }
            manifest = read
            // A bundle holds A-LLMRec (stage 1, maybe stage 2), a retrieval model, or both.
            if read.stage1 != nil {
                let model = try ModelSetLoadError.naming("bundle") {
                    try ALLMRecModel.load(
                        bundle: bundle, dataset: dataset, loadLanguageModel: true, languageModel: request.languageModel,
                        trainingPrecision: nil)
                }
                allmrec = model
                sasrec = model.sasrec
            } else if read.retrieval == nil {
                throw ModelSetLoadError(component: "bundle", reason: "\(bundle) has neither stage-1 weights nor a retrieval model")
            } else {
                sasrec = try ModelSetLoadError.naming("bundle") {
                    try ModelSpecification.sasrec(path: ALLMRecManifest.resolve(read.sasrec, in: bundle)).build(on: dataset, using: .everything)
                }
            }
            if encoderDirectory == nil, let named = read.encoder { encoderDirectory = ALLMRecManifest.resolve(named, in: bundle) }
            if languageModelPath == nil, let named = read.languageModel { languageModelPath = ALLMRecManifest.resolve(named, in: bundle) }
        }
        let recommender = try sasrec ?? ModelSetLoadError.naming("recommender") { try request.recommender.build(on: dataset, using: .everything) }
        var semantic: SemanticSearch?
        var textEmbeddings: [Float]?
        if let encoderDirectory {
            let loaded = try ModelSetLoadError.naming("encoder") {
                try SentenceEncoder(directory: encoderDirectory, precision: configuration.encoderPrecision)
            }
            // Progress only for items that need embedding: a cached catalog loads silently.
            let meter = ProgressMeter(label: "llmrec serve: embedding the catalog", total: Int64(dataset.catalog.count), unit: .items("items"))
            let embedded = try ModelSetLoadError.naming("encoder") {
                try CatalogEmbeddings.embeddings(
                dataset: dataset, encoder: loaded, field: .text, threads: configuration.embeddingThreads
                ) { done, total in if done < total { meter.update(Int64(done)) } }
            }
            if embedded.computed > 0 { meter.finish(Int64(dataset.catalog.count)) }
            semantic = SemanticSearch(encoder: loaded, catalog: dataset.catalog, embeddings: embedded.embeddings)
            textEmbeddings = embedded.embeddings
        }
        var languageModel = allmrec?.languageModel
        if languageModel == nil, let path = languageModelPath, request.languageModel != nil || manifest?.retrieval != nil {
            languageModel = try ModelSetLoadError.naming("languageModel") { try LanguageModel.load(path) }
        }
        if var model = languageModel {
            model.decoder.threads = configuration.languageModelThreads
            languageModel = model
        }
        var retrieval: RetrievalPath?
        if let bundle = request.bundle, manifest?.retrieval != nil, let languageModel {
            retrieval = try ModelSetLoadError.naming("bundle") {
                let model = try RetrievalModel.load(bundle: bundle, dataset: dataset, loaded: languageModel)
                let vectors = try RetrievalCatalogCache.vectors(model: model, bundle: bundle, showProgress: true, store: false)
                return try RetrievalPath(model: model, preparedVectors: vectors)
            }
        }
        let engine = RecommendationEngine(recommender: recommender, catalog: dataset.catalog, semanticSearch: semantic)
        return try ModelSetLoadError.naming(request.bundle != nil ? "bundle" : "recommender") {
            try ConversationModels(
            engine: engine, source: .init(bundle: request.bundle, languageModel: languageModel == nil ? nil : languageModelPath, encoder: encoderDirectory),
            allmrec: allmrec.map { $0.withLanguageModelThreads(configuration.languageModelThreads) }, languageModel: languageModel,
            itemTextEmbeddings: textEmbeddings, retrieval: retrieval, defaultWeights: servedBlend(manifest: manifest, retrieval: retrieval != nil),
            chatCacheSessions: configuration.chatCacheSessions, chatCacheTokens: configuration.chatCacheTokens)
        }
    }

    /// The collaborative model and default weights a bundle's tuned blend (`llmrec tune`) gives:
    /// SASRec, with the LM's weight at the tuned ratio of retrieval to SASRec. The blend's other
    /// signals (co-occurrence, the history's texts) are not served: tuned on 20 candidates, their
    /// z-scores over the whole catalog have tails that drown the user's words (a scripted
    /// conversation asking for romance lost it). Without a tuned blend, `BlendWeights()`.
    static func servedBlend(manifest: ALLMRecManifest?, retrieval: Bool) -> BlendWeights {
        var weights = BlendWeights()
        guard retrieval, let tuned = manifest?.blend else { return weights }
        let sasrec = tuned[BlendSignal.sasrec.rawValue] ?? 0
        let others = BlendSignal.allCases.filter { $0 != .retrieval }.reduce(Float(0)) { $0 + (tuned[$1.rawValue] ?? 0) }
        let scale = sasrec > 0 ? sasrec : others
        guard scale > 0 else { return weights }
        weights.languageModel = (tuned[BlendSignal.retrieval.rawValue] ?? 0) / scale
        return weights
    }
}
