import Datasets
import Foundation
import Models
import Recommender
import Training

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
        var encoderDirectory = request.encoder
        let recommender: any SequentialRecommender
        if let bundle = request.bundle {
            let model = try ModelSetLoadError.naming("bundle") {
                try ALLMRecModel.load(
                    bundle: bundle, dataset: dataset, loadLanguageModel: true, languageModel: request.languageModel,
                    denseLanguageModel: false)
            }
            allmrec = model
            recommender = model.sasrec
            if encoderDirectory == nil, let named = model.manifest.encoder {
                encoderDirectory = ALLMRecManifest.resolve(named, in: bundle)
            }
        } else {
            recommender = try ModelSetLoadError.naming("recommender") { try request.recommender.build(on: dataset, using: .everything) }
        }
        var semantic: SemanticSearch?
        var textEmbeddings: [Float]?
        if let encoderDirectory {
            let encoder = try ModelSetLoadError.naming("encoder") {
                try SentenceEncoder(directory: encoderDirectory, precision: configuration.encoderPrecision)
            }
            // Progress only for items that need embedding: a cached catalog loads silently.
            let meter = ProgressMeter(label: "llmrec serve: embedding the catalog", total: Int64(dataset.catalog.count), unit: .items("items"))
            let embedded = try ModelSetLoadError.naming("encoder") {
                try CatalogEmbeddings.embeddings(
                dataset: dataset, encoder: encoder, field: .text, threads: configuration.embeddingThreads
                ) { done, total in if done < total { meter.update(Int64(done)) } }
            }
            if embedded.computed > 0 { meter.finish(Int64(dataset.catalog.count)) }
            semantic = SemanticSearch(encoder: encoder, catalog: dataset.catalog, embeddings: embedded.embeddings)
            textEmbeddings = embedded.embeddings
        }
        var languageModel = allmrec?.languageModel
        var languageModelPath = allmrec?.manifest.languageModel.map { ALLMRecManifest.resolve($0, in: request.bundle!) }
        if let path = request.languageModel {
            languageModelPath = path
            if languageModel == nil { languageModel = try ModelSetLoadError.naming("languageModel") { try LanguageModel.load(path) } }
        }
        if var model = languageModel {
            model.decoder.threads = configuration.languageModelThreads
            languageModel = model
        }
        let engine = RecommendationEngine(recommender: recommender, catalog: dataset.catalog, semanticSearch: semantic)
        return try ModelSetLoadError.naming(request.bundle != nil ? "bundle" : "recommender") {
            try ConversationModels(
            engine: engine, source: .init(bundle: request.bundle, languageModel: languageModelPath, encoder: encoderDirectory),
            allmrec: allmrec.map { $0.withLanguageModelThreads(configuration.languageModelThreads) }, languageModel: languageModel,
            itemTextEmbeddings: textEmbeddings, chatCacheSessions: configuration.chatCacheSessions,
            chatCacheTokens: configuration.chatCacheTokens)
        }
    }
}
