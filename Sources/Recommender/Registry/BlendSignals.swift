import Datasets
import Foundation
import Models
import Support

/// The signals of a bundle's blend, built as evaluated models.
public enum BlendSignals {
    /// The requested signals of `bundle` on `dataset`: SASRec (the bundle's), co-occurrence (fitted
    /// on `data`), the text path (the manifest's encoder), retrieval (the manifest's weights) and
    /// SASRec with rows predicted from text for items without training interactions.
    public static func build(
        _ signals: Set<BlendSignal>, bundle: String, dataset: PreparedDataset, using data: ModelSpecification.FitData, showProgress: Bool
    ) throws -> [BlendSignal: any SequentialRecommender] {
        let manifest = try ALLMRecManifest.read(directory: bundle)
        var built: [BlendSignal: any SequentialRecommender] = [:]
        for signal in BlendSignal.allCases where signals.contains(signal) {
            switch signal {
            case .sasrec:
                built[signal] = try ModelSpecification.sasrec(path: ALLMRecManifest.resolve(manifest.sasrec, in: bundle)).build(on: dataset)
            case .cooccurrence:
                built[signal] = try ModelSpecification.cooccurrence.build(on: dataset, using: data)
            case .text:
                guard let encoder = manifest.encoder else { throw ALLMRecError.invalidBundle("\(bundle) names no sentence encoder") }
                built[signal] = try text(encoder: ALLMRecManifest.resolve(encoder, in: bundle), dataset: dataset, showProgress: showProgress)
            case .retrieval:
                built[signal] = try retrieval(bundle: bundle, dataset: dataset, showProgress: showProgress, storeCache: data == .trainingSplit)
            case .sasrecText:
                built[signal] = try sasrecWithTextRows(bundle: bundle, dataset: dataset, showProgress: showProgress)
            }
        }
        return built
    }

    /// The text path with the encoder at `encoder` (item texts embedded once, cached with the dataset).
    public static func text(encoder path: String, dataset: PreparedDataset, showProgress: Bool) throws -> TextSimilarityRecommender {
        let texts = try textEmbeddings(encoder: path, dataset: dataset, showProgress: showProgress)
        return TextSimilarityRecommender(embeddings: texts.embeddings, dimension: texts.dimension)
    }

    /// The catalog's text embeddings with the encoder at `path`, [(items + 1) · dimension] by item id
    /// (embedded once, cached with the dataset).
    public static func textEmbeddings(encoder path: String, dataset: PreparedDataset, showProgress: Bool) throws -> (embeddings: [Float], dimension: Int) {
        let encoder = try SentenceEncoder(directory: path)
        let meter = ProgressMeter(label: "embed item texts", total: Int64(dataset.catalog.count), unit: .items("items"), enabled: showProgress)
        let texts = try CatalogEmbeddings.embeddings(dataset: dataset, encoder: encoder, field: .text) { done, _ in meter.update(Int64(done)) }
        meter.finish(Int64(dataset.catalog.count))
        return (texts.embeddings, encoder.dimension)
    }

    /// The bundle's SASRec with the rows of `dataset`'s items without training interactions
    /// predicted from their text with the bundle's sentence encoder (`SASRecWithTextRows`). Fitted
    /// once per process for a bundle, dataset, encoder and SASRec checkpoint.
    public static func sasrecWithTextRows(bundle: String, dataset: PreparedDataset, showProgress: Bool) throws -> SASRecWithTextRows {
        let manifest = try ALLMRecManifest.read(directory: bundle)
        guard let encoder = manifest.encoder else { throw ALLMRecError.invalidBundle("\(bundle) names no sentence encoder") }
        let encoderPath = ALLMRecManifest.resolve(encoder, in: bundle)
        let sasrecPath = ALLMRecManifest.resolve(manifest.sasrec, in: bundle)
        // A checkpoint written again (a new training into the same bundle) is fitted again.
        let written = (try? FileManager.default.attributesOfItem(atPath: sasrecPath)[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let key = [bundle, dataset.fingerprint, encoderPath, sasrecPath, String(written)].joined(separator: "\u{0}")
        return try loadedSASRecWithTextRows.model(key: key) {
            let sasrec = try ModelSpecification.sasrecModel(path: sasrecPath, for: dataset)
            let without = dataset.itemsWithoutTrainingInteractions
            guard dataset.itemCount - without.count >= 2 else {
                throw ALLMRecError.invalidBundle("predicting SASRec rows from text needs at least two items with training interactions")
            }
            let texts = try textEmbeddings(encoder: encoderPath, dataset: dataset, showProgress: showProgress)
            return SASRecWithTextRows(sasrec: sasrec, texts: texts.embeddings, textDimension: texts.dimension, itemsWithoutInteractions: without)
        }
    }

    /// The bundle's retrieval model with its catalog vectors (cached in the bundle). Loaded once
    /// per process and bundle, so that `retrieval:` and `blend:` in one evaluation share the LM and
    /// the user vectors already computed. `storeCache` false (serving) never writes into the bundle.
    public static func retrieval(
        bundle: String, dataset: PreparedDataset, showProgress: Bool, storeCache: Bool = true, wordHead: Bool = true
    ) throws -> RetrievalRecommender {
        try loadedRetrieval.model(key: bundle + "\u{0}" + dataset.fingerprint + (wordHead ? "" : "\u{0}no word head")) {
            let model = try RetrievalModel.load(bundle: bundle, dataset: dataset, wordHead: wordHead)
            return RetrievalRecommender(
                model: model,
                itemVectors: try RetrievalCatalogCache.vectors(model: model, bundle: bundle, showProgress: showProgress, store: storeCache))
        }
    }

    private static let loadedRetrieval = LoadedModels<RetrievalRecommender>()
    private static let loadedSASRecWithTextRows = LoadedModels<SASRecWithTextRows>()
}

/// Models loaded by this process, by a key naming what they were built from.
private final class LoadedModels<Model>: @unchecked Sendable {
    private let lock = NSLock()
    private var models: [String: Model] = [:]

    func model(key: String, load: () throws -> Model) throws -> Model {
        lock.lock()
        defer { lock.unlock() }
        if let model = models[key] { return model }
        let model = try load()
        models[key] = model
        return model
    }
}
