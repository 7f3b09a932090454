import Foundation
import JSON
import Support
import Testing

/// `llmrec tune` on MovieLens-100K prepared with items held out for validation: the weighting for
/// lists of items without interactions is chosen on the validation split's cold20 cases, and
/// `eval --split valid --protocol cold20` of the tuned blend reads the same cases and numbers.
@Suite struct TuneCommandTests {
    @Test func choosesTheWeightingForItemsWithoutInteractionsOnHeldOutValidationItems() throws {
        let inter = AssetCache.movieLens100KInteractions
        try #require(FileManager.default.fileExists(atPath: inter), "run scripts/fetch-assets.sh ml100k minilm")
        let data = NSTemporaryDirectory() + "llmrec-tune-\(UUID().uuidString)"
        let prepared = try CommandLineTests.run([
            "prepare", "--format", "recbole", "--reviews", inter, "--meta", AssetCache.movieLens100KItems, "--out", data,
            "--cold-items", "0.2", "--cold-validation-items", "0.1", "--quiet",
        ])
        try #require(prepared.status == 0, "\(prepared.stderr)")
        #expect(prepared.stderr.contains("held out of every split: 336 items for the test split's cold20 cases, 168 for the validation split's"))
        let bundle = data + "/bundle"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        let trained = try CommandLineTests.run(
            ["train", "sasrec", "--data", data, "--out", bundle + "/sasrec.safetensors", "--epochs", "2"] + TrainCommandTests.small)
        try #require(trained.status == 0, "\(trained.stderr)")
        let dataset = try JSONValue.parse(String(contentsOfFile: data + "/dataset.json", encoding: .utf8))
        let fingerprint = try #require(dataset["fingerprint"]?.stringValue)
        #expect(dataset["coldItems"]?["count"] == 504 && dataset["coldItems"]?["validationCount"] == 168)
        try #"{"format": "llmrec-allmrec", "version": 1, "dataset": {"fingerprint": "\#(fingerprint)", "items": 1682}, "sasrec": "sasrec.safetensors"}"#
            .write(toFile: bundle + "/manifest.json", atomically: true, encoding: .utf8)

        let tuned = try CommandLineTests.run(
            ["tune", "--data", data, "--bundle", bundle, "--encoder", ALLMRecCommandTests.encoder, "--max-users", "80", "--quiet"])
        try #require(tuned.status == 0, "\(tuned.stderr)")
        let tuning = try ALLMRecCommandTests.summary(tuned)
        #expect(tuning["itemsWithoutInteractionsTunedOn"] == "cold20 validation cases")
        #expect(tuning["itemsWithoutInteractionsCases"] == 80)
        #expect(Set(tuning["signalsReadWithoutInteractions"]?.objectValue?.keys ?? []) == ["sasrec-text", "text"])

        let evaluated = try CommandLineTests.run(
            ["eval", "--data", data, "--split", "valid", "--protocol", "cold20", "--max-users", "80", "--json", "--quiet",
             "--model", "text:" + ALLMRecCommandTests.encoder, "--model", "blend-cf:" + bundle])
        try #require(evaluated.status == 0, "\(evaluated.stderr)")
        let reports = try evaluated.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(reports.map { $0["cases"] } == [80, 80] && reports.map { $0["split"] } == ["valid", "valid"])
        #expect(reports[0]["overall"]?["hit@1"] == tuning["signalsReadWithoutInteractions"]?["text"]?["hit1"])
        #expect(reports[1]["overall"]?["hit@1"] == tuning["blendItemsWithoutInteractionsWithoutLM"]?["hit1"])
    }
}
