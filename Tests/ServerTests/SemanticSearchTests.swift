import Foundation
import JSON
import Testing

/// `serve --encoder`: catalog/search by meaning with the real all-MiniLM-L6-v2 (fetched by
/// `scripts/fetch-assets.sh minilm`) on the Amazon 2023 fixture catalog.
@Suite struct SemanticSearchTests {
    static var minilm: String {
        let home = ProcessInfo.processInfo.environment["LLMREC_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.cache/llmrec")
        return home + "/assets/minilm-l6-v2"
    }

    @Test func searchRanksByMeaningAndPutsExactTitlesFirst() throws {
        try #require(FileManager.default.fileExists(atPath: Self.minilm + "/model.safetensors"), "run scripts/fetch-assets.sh minilm")
        let dataset = try DaemonHarness.prepareFixtureDataset()
        let daemon = try DaemonHarness(dataset: dataset, extraArguments: ["--encoder", Self.minilm])
        let channel = daemon.channel
        channel.request(1, "initialize")
        let loaded = channel.response(to: 1).response?["result"]?["loaded"]
        #expect(loaded?["encoder"]?.stringValue?.isEmpty == false)

        // No title word is "perfume", but "Rose & Oud Eau de Parfum" means one.
        channel.request(2, "catalog/search", ["query": "perfume", "limit": 2])
        let hits = channel.response(to: 2).response?["result"]?["items"]?.arrayValue ?? []
        #expect(hits.count == 2)
        #expect(hits.first?["item"]?["originalId"] == "B0PARENT01", "\(hits.map { $0["item"]?["title"] ?? nil })")
        let score = hits.first?["score"]?.doubleValue ?? 0
        #expect(score > 0 && score < 1)
        channel.request(4, "catalog/search", ["query": "skin lotion from Japan", "limit": 1])
        let lotion = channel.response(to: 4).response?["result"]?["items"]?.arrayValue?.first
        #expect(lotion?["item"]?["originalId"] == "B0PARENT04")

        channel.request(3, "catalog/search", ["query": "GENTLE CLEANSER 200 ML", "limit": 1])
        let exact = channel.response(to: 3).response?["result"]?["items"]?.arrayValue?.first
        #expect(exact?["item"]?["originalId"] == "B0PARENT02")
        #expect(exact?["score"] == 2.0)

        // The catalog embeddings were cached in the dataset directory for the next start.
        let caches = try FileManager.default.contentsOfDirectory(atPath: dataset + "/embeddings")
        #expect(caches.count == 1 && caches[0].hasSuffix("-text.safetensors"))
    }
}
