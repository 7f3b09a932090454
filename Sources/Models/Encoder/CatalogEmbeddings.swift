import Checkpoints
import Datasets
import Foundation
import Numerics

/// Sentence embeddings of a prepared catalog's items, cached in the dataset directory.
///
/// The cache is `DATA/embeddings/<model fingerprint>-<field>.safetensors`: one tensor `embeddings`
/// [items + 1, dim] (row 0, the padding item, is zero) and metadata naming the catalog (dataset
/// fingerprint), the model and how many leading items are done. It is written after every chunk
/// of items, so an interrupted run resumes where it stopped, and a catalog that grew is extended
/// from its first new item instead of being embedded again.
public enum CatalogEmbeddings {
    /// Which text of an item is embedded.
    public enum Field: String, Sendable, CaseIterable {
        /// The title alone.
        case title
        /// A-LLMRec's stage-1 text: `"title, description"`, with the literal quotes.
        case text
    }

    public static let chunkSize = 512

    public static func text(of item: CatalogItem, field: Field) -> String {
        switch field {
        case .title: return item.title
        case .text: return "\"" + item.title + ", " + item.description + "\""
        }
    }

    public static func cachePath(datasetDirectory: String, encoder: SentenceEncoder, field: Field) -> String {
        datasetDirectory + "/embeddings/\(encoder.fingerprint)-\(field.rawValue).safetensors"
    }

    /// Embeddings of every item ([itemCount + 1, dim], flat, row 0 zero), from the cache as far as it
    /// goes and computed for the rest. `progress` gets (items done, total).
    public static func embeddings(
        dataset: PreparedDataset, encoder: SentenceEncoder, field: Field, threads: Int = 1,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> (embeddings: [Float], reused: Int, computed: Int) {
        let dim = encoder.dimension
        let items = dataset.catalog.count
        let path = cachePath(datasetDirectory: dataset.directory, encoder: encoder, field: field)
        try FileManager.default.createDirectory(atPath: dataset.directory + "/embeddings", withIntermediateDirectories: true)
        var table = [Float](repeating: 0, count: (items + 1) * dim)
        var done = 0
        if FileManager.default.fileExists(atPath: path) {
            let file = try SafetensorsFile(path: path)
            if let cached = file.metadata["items"].flatMap(Int.init), cached <= items {
                let tensor = try file.tensor(named: "embeddings")
                if tensor.shape.count == 2, tensor.shape[1] == dim, tensor.shape[0] >= cached + 1,
                    sameItems(dataset: dataset, file: file, count: cached)
                {
                    for index in 0..<((cached + 1) * dim) { table[index] = tensor.storage[index] }
                    done = cached
                }
            }
        }
        let reused = done
        progress?(done, items)
        while done < items {
            let end = min(items, done + chunkSize)
            let texts = (done..<end).map { text(of: dataset.catalog.items[$0], field: field) }
            let vectors = encoder.embed(texts, threads: threads) { finished in progress?(done + finished, items) }
            for (offset, vector) in vectors.enumerated() {
                let row = done + offset + 1
                for column in 0..<dim { table[row * dim + column] = vector[column] }
            }
            done = end
            try save(table, dim: dim, items: done, dataset: dataset, encoder: encoder, field: field, to: path)
        }
        if reused == items && !FileManager.default.fileExists(atPath: path) {
            try save(table, dim: dim, items: items, dataset: dataset, encoder: encoder, field: field, to: path)
        }
        return (table, reused, items - reused)
    }

    private static func save(
        _ table: [Float], dim: Int, items: Int, dataset: PreparedDataset, encoder: SentenceEncoder, field: Field, to path: String
    ) throws {
        try SafetensorsFile.write(
            tensors: [("embeddings", Tensor(shape: [table.count / dim, dim], storage: table))],
            metadata: [
                "dataset": dataset.fingerprint, "model": encoder.fingerprint, "field": field.rawValue, "items": String(items),
                "itemKeys": itemKeyDigest(dataset: dataset, count: items),
            ], to: path)
    }

    /// The cache covers the same leading items when their original ids hash the same.
    private static func sameItems(dataset: PreparedDataset, file: SafetensorsFile, count: Int) -> Bool {
        file.metadata["itemKeys"] == itemKeyDigest(dataset: dataset, count: count)
    }

    /// Identifies the first `count` items (original ids and titles): a cache is valid for them when
    /// its `itemKeys` metadata equals this.
    public static func itemKeyDigest(dataset: PreparedDataset, count: Int) -> String {
        var hash = FNV1a64()
        for item in dataset.catalog.items.prefix(count) { hash.combine((item.originalId + "\u{1F}" + item.title + "\u{1E}").utf8) }
        return hash.hex
    }
}
