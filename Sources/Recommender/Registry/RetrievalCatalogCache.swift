import Checkpoints
import Datasets
import Foundation
import Models
import Numerics
import Support

/// A retrieval model's catalog vectors, computed once (one LM pass per item) and kept in
/// `BUNDLE/retrieval.items.safetensors` under a key of the weights file, the LM and the dataset, so
/// that a second evaluation or a daemon start reads them instead.
public enum RetrievalCatalogCache {
    public static let fileName = "retrieval.items.safetensors"

    /// [(items + 1) · 128]: read from the cache when its key matches, computed otherwise, and then
    /// written only with `store` (evaluation and tuning; a serving daemon writes nothing there).
    public static func vectors(model: RetrievalModel, bundle: String, showProgress: Bool, store: Bool = true) throws -> [Float] {
        guard let weightsPath = model.manifest.retrieval else { throw RetrievalError.invalidBundle("\(bundle) has no retrieval model") }
        guard let data = FileManager.default.contents(atPath: ALLMRecManifest.resolve(weightsPath, in: bundle)) else {
            throw CheckpointError.fileNotFound(path: ALLMRecManifest.resolve(weightsPath, in: bundle))
        }
        var hash = FNV1a64()
        hash.combine(data)
        hash.combine(Data((model.manifest.languageModel ?? "").utf8))
        hash.combine(Data(model.manifest.datasetFingerprint.utf8))
        hash.combine(Data(model.builder.template.fingerprint.utf8))
        let key = hash.hex
        let path = bundle + "/" + fileName
        let items = model.builder.titles.count - 1
        let expected = [items + 1, RetrievalWeights.vectorSize]
        if let file = try? SafetensorsFile(path: path), file.metadata["key"] == key, let tensor = try? file.tensor(named: "vectors"),
            tensor.shape == expected
        {
            return tensor.storage
        }
        let meter = ProgressMeter(label: "retrieval: item vectors", total: Int64(items), unit: .items("items"), enabled: showProgress)
        let vectors = try model.catalogVectors { meter.update(Int64($0)) }
        meter.finish(Int64(items))
        if store { try SafetensorsFile.write(tensors: [("vectors", Tensor(shape: expected, storage: vectors))], metadata: ["key": key], to: path) }
        return vectors
    }
}
