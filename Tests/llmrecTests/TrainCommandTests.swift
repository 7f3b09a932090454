import Foundation
import JSON
import Testing

/// `llmrec train sasrec` end to end on the Amazon 2023 fixture: train, resume, evaluate, serve.
@Suite struct TrainCommandTests {
    static func prepareFixture() throws -> String {
        let out = NSTemporaryDirectory() + "llmrec-train-\(UUID().uuidString)"
        let fixtures = CommandLineTests.fixturesDirectory()
        let prepared = try CommandLineTests.run([
            "prepare", "--format", "amazon2023", "--reviews", fixtures + "/amazon2023_reviews.jsonl",
            "--meta", fixtures + "/amazon2023_meta.jsonl", "--out", out, "--quiet",
        ])
        try #require(prepared.status == 0, "\(prepared.stderr)")
        return out
    }

    static let small = ["--hidden-units", "8", "--max-length", "5", "--batch-size", "4", "--validate-every", "1", "--quiet"]

    @Test func trainsResumesAndIsUsableByEvalAndServe() throws {
        let data = try Self.prepareFixture()
        let model = data + "/sasrec.safetensors"
        let first = try CommandLineTests.run(["train", "sasrec", "--data", data, "--out", model, "--epochs", "3"] + Self.small)
        #expect(first.status == 0, "\(first.stderr)")
        let firstSummary = try JSONValue.parse(first.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(firstSummary["epochs"] == 3)
        #expect(firstSummary["epochsThisRun"] == 3)
        #expect(FileManager.default.fileExists(atPath: model + ".training.safetensors"))

        // Asking for more epochs resumes after the finished ones instead of starting over.
        let resumed = try CommandLineTests.run(["train", "sasrec", "--data", data, "--out", model, "--epochs", "5"] + Self.small)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let summary = try JSONValue.parse(resumed.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(summary["epochs"] == 5)
        #expect(summary["epochsThisRun"] == 2)

        // The same run from scratch for 5 epochs gives the same weights: resuming loses nothing.
        let straight = data + "/straight.safetensors"
        let direct = try CommandLineTests.run(["train", "sasrec", "--data", data, "--out", straight, "--epochs", "5"] + Self.small)
        #expect(direct.status == 0)
        let resumedBytes = try Data(contentsOf: URL(fileURLWithPath: model + ".training.safetensors"))
        let straightBytes = try Data(contentsOf: URL(fileURLWithPath: straight + ".training.safetensors"))
        #expect(resumedBytes == straightBytes, "same weights, moments and generator state after 5 epochs either way")

        let evaluated = try CommandLineTests.run(["eval", "--data", data, "--model", "sasrec:" + model, "--json", "--quiet"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let report = try JSONValue.parse(evaluated.stdout.split(separator: "\n")[0].description)
        #expect(report["model"] == "sasrec")
        #expect(report["cases"] == 3)

        let recommended = try CommandLineTests.run(["recommend", "--data", data, "--history", "1,2", "--k", "2", "--recommender", "sasrec:" + model])
        #expect(recommended.status == 0, "\(recommended.stderr)")
        let answer = try JSONValue.parse(recommended.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(answer["recommender"] == "sasrec")
        #expect(answer["items"]?.arrayValue?.count == 2)
    }

    @Test func refusesAModelTrainedOnAnotherCatalog() throws {
        let data = try Self.prepareFixture()
        let model = data + "/sasrec.safetensors"
        _ = try CommandLineTests.run(["train", "sasrec", "--data", data, "--out", model, "--epochs", "1"] + Self.small)
        let fixtures = CommandLineTests.fixturesDirectory()
        let other = NSTemporaryDirectory() + "llmrec-other-\(UUID().uuidString)"
        _ = try CommandLineTests.run([
            "prepare", "--format", "amazon2018", "--reviews", fixtures + "/amazon2018_reviews.json", "--out", other, "--quiet",
        ])
        let evaluated = try CommandLineTests.run(["eval", "--data", other, "--model", "sasrec:" + model, "--quiet"])
        #expect(evaluated.status == 1)
        #expect(evaluated.stderr.contains("the model knows 5 items, the dataset has 4"))
        let missing = try CommandLineTests.run(["eval", "--data", other, "--model", "sasrec:/nonexistent.safetensors", "--quiet"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("/nonexistent.safetensors"))
    }
}
