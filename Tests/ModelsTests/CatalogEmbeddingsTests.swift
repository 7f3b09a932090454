import Checkpoints
import Datasets
import Foundation
import Models
import Support
import Testing

/// The catalog embedding cache with the real all-MiniLM-L6-v2 on the Amazon 2023 fixture catalog.
@Suite struct CatalogEmbeddingsTests {
    static func fixtureDataset() throws -> PreparedDataset {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DatasetsTests/Fixtures").path
        let directory = NSTemporaryDirectory() + "llmrec-embeddings-\(UUID().uuidString)"
        _ = try DatasetPreparer.run(PrepareOptions(
            format: .amazon2023, reviewsPath: fixtures + "/amazon2023_reviews.jsonl", metaPath: fixtures + "/amazon2023_meta.jsonl",
            outputDirectory: directory, showProgress: false))
        return try PreparedDataset(directory: directory)
    }

    static func encoder() throws -> SentenceEncoder {
        let directory = AssetCache.asset("minilm-l6-v2")
        try #require(FileManager.default.fileExists(atPath: directory + "/model.safetensors"), "run scripts/fetch-assets.sh minilm")
        return try SentenceEncoder(directory: directory)
    }

    @Test func computesOnceThenReusesAndExtendsAfterAnInterruption() throws {
        let dataset = try Self.fixtureDataset()
        let encoder = try Self.encoder()
        let first = try CatalogEmbeddings.embeddings(dataset: dataset, encoder: encoder, field: .text)
        #expect(first.computed == 5 && first.reused == 0)
        #expect(first.embeddings.count == 6 * 384)
        #expect(first.embeddings[0..<384].allSatisfy { $0 == 0 }, "row 0 is the padding item")
        // Each row is what embedding the item's text alone gives.
        let direct = encoder.embed([CatalogEmbeddings.text(of: dataset.catalog[3]!, field: .text)])[0]
        let cosine = zip(direct, first.embeddings[(3 * 384)..<(4 * 384)]).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        #expect(cosine > 0.9999)

        let second = try CatalogEmbeddings.embeddings(dataset: dataset, encoder: encoder, field: .text)
        #expect(second.computed == 0 && second.reused == 5)
        #expect(second.embeddings == first.embeddings)

        // A cache that stopped after 2 items (an interrupted run) is completed, not redone.
        let path = CatalogEmbeddings.cachePath(datasetDirectory: dataset.directory, encoder: encoder, field: .text)
        let file = try SafetensorsFile(path: path)
        var metadata = file.metadata
        metadata["items"] = "2"
        metadata["itemKeys"] = CatalogEmbeddings.itemKeyDigest(dataset: dataset, count: 2)
        let partial = try file.tensor(named: "embeddings")
        try SafetensorsFile.write(tensors: [("embeddings", partial)], metadata: metadata, to: path)
        let resumed = try CatalogEmbeddings.embeddings(dataset: dataset, encoder: encoder, field: .text)
        #expect(resumed.reused == 2 && resumed.computed == 3)
        for (a, b) in zip(resumed.embeddings, first.embeddings) { #expect(abs(a - b) < 1e-5) }
    }

    @Test func batchesStayWithinTheMemoryBudget() {
        let lengths = (0..<500).map { ($0 * 37) % 256 + 1 }
        let batches = SentenceEncoder.batches(lengths: lengths)
        #expect(Set(batches.flatMap { $0 }) == Set(0..<500), "every text exactly once")
        #expect(batches.flatMap { $0 }.count == 500)
        for batch in batches {
            let length = batch.map { lengths[$0] }.max()!
            #expect(batch.count * length <= SentenceEncoder.tokensPerBatch || batch.count == 1)
        }
    }

    @Test func longTextsAreTruncatedNotFatal() throws {
        let encoder = try Self.encoder()
        let long = String(repeating: "moisturising cream for very dry skin ", count: 400)
        let vectors = encoder.embed([long, "short"])
        #expect(vectors.count == 2)
        #expect(abs(vectors[0].reduce(0) { $0 + $1 * $1 } - 1) < 1e-4, "normalised")
    }
}
