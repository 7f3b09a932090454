import Checkpoints
import Datasets
import Foundation
import JSON
import Support
import Testing

/// `llmrec train align`, `train project`, `import allmrec` and the A-LLMRec evaluation modes end to
/// end on the Amazon 2023 fixture with the real all-MiniLM-L6-v2 and SmolLM2-135M-Instruct.
@Suite(.serialized) struct ALLMRecCommandTests {
    static let encoder = AssetCache.asset("minilm-l6-v2")
    static let lm = AssetCache.asset("smollm2-135m") + "/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// A prepared fixture with a small trained SASRec.
    static func prepared() throws -> (data: String, sasrec: String) {
        try #require(FileManager.default.fileExists(atPath: lm), "run scripts/fetch-assets.sh smollm2 minilm")
        let data = try TrainCommandTests.prepareFixture()
        let sasrec = data + "/sasrec.safetensors"
        let trained = try CommandLineTests.run(["train", "sasrec", "--data", data, "--out", sasrec, "--epochs", "3"] + TrainCommandTests.small)
        try #require(trained.status == 0, "\(trained.stderr)")
        return (data, sasrec)
    }

    static func summary(_ result: CommandLineTests.Result) throws -> JSONValue {
        try JSONValue.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test func trainsBothStagesResumesAndEvaluatesEveryMode() throws {
        let (data, sasrec) = try Self.prepared()
        let bundle = data + "/bundle"
        // Five candidates in the prompt: evaluating with more makes SASRec shortlist five first.
        let template = data + "/template.json"
        try #"{"historyIntro": "This user has bought ", "candidatesIntro": " before. Pick one of ", "candidateCount": 5}"#
            .write(toFile: template, atomically: true, encoding: .utf8)
        let align = ["train", "align", "--data", data, "--sasrec", sasrec, "--encoder", Self.encoder, "--bundle", bundle, "--quiet",
                     "--template", template]
        let first = try CommandLineTests.run(align + ["--epochs", "2"])
        try #require(first.status == 0, "\(first.stderr)")
        #expect(try Self.summary(first)["epochsThisRun"] == 2)
        let resumed = try CommandLineTests.run(align + ["--epochs", "3"])
        #expect(try Self.summary(resumed)["epochsThisRun"] == 1, "resumes after the finished epochs")
        let straightBundle = data + "/straight"
        let straight = try CommandLineTests.run(
            ["train", "align", "--data", data, "--sasrec", sasrec, "--encoder", Self.encoder, "--bundle", straightBundle, "--quiet", "--epochs", "3",
             "--template", template])
        #expect(straight.status == 0)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: bundle + "/stage1.training.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: straightBundle + "/stage1.training.safetensors")),
            "stage 1 resumed equals stage 1 straight")

        let project = ["train", "project", "--data", data, "--bundle", bundle, "--lm", Self.lm, "--max-users", "2", "--batch-size", "1",
                       "--checkpoint-every", "1", "--quiet"]
        let projected = try CommandLineTests.run(project + ["--epochs", "1"])
        try #require(projected.status == 0, "\(projected.stderr)")
        let projectSummary = try Self.summary(projected)
        #expect(projectSummary["steps"] == 2)
        #expect((projectSummary["samplesPerSecond"]?.doubleValue ?? 0) > 0)
        #expect((projectSummary["meanLoss"]?.doubleValue ?? 0) > 0)
        let more = try CommandLineTests.run(project + ["--epochs", "2"])
        #expect(try Self.summary(more)["samplesThisRun"] == 2, "the second epoch only")
        // The same two epochs in one run from the same stage 1 leave the same state.
        try FileManager.default.removeItem(atPath: straightBundle)
        try FileManager.default.copyItem(atPath: bundle, toPath: straightBundle)
        let again = try CommandLineTests.run(
            ["train", "project", "--data", data, "--bundle", straightBundle, "--lm", Self.lm, "--max-users", "2", "--batch-size", "1",
             "--quiet", "--epochs", "2", "--restart"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: bundle + "/stage2.training.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: straightBundle + "/stage2.training.safetensors")),
            "stage 2 resumed equals stage 2 straight")

        let manifest = try JSONValue.parse(String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8))
        #expect(manifest["stage2"] == "stage2.safetensors")
        #expect(manifest["dimensions"]?["lm"] == 576)
        #expect(manifest["dimensions"]?["text"] == 384)

        #expect(manifest["template"]?["candidateCount"] == 5)
        let evaluated = try CommandLineTests.run(
            ["eval", "--data", data, "--json", "--quiet", "--protocol", "candidates4", "--protocol", "candidates20"]
                + ["allmrec", "allmrec-generate", "lm-only", "stage1"].flatMap { ["--model", $0 + ":" + bundle] })
        try #require(evaluated.status == 0, "\(evaluated.stderr)")
        let reports = try evaluated.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(reports.compactMap { $0["model"]?.stringValue } == ["allmrec-rank", "allmrec-rank", "allmrec-generate", "allmrec-generate", "lm-only", "lm-only", "stage1", "stage1"])
        let inspected = try CommandLineTests.run(["inspect", "--data", data, "--bundle", bundle, "--users", "2"])
        #expect(inspected.status == 0, "\(inspected.stderr)")
        let cases = try inspected.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(cases.count == 2)
        for shown in cases {
            let count = shown["candidates"]?.arrayValue?.count ?? 0
            #expect((1...5).contains(count))
            #expect(shown["generated"]?.stringValue != nil)
            #expect((1...Int64(count)).contains(shown["targetRankByLikelihood"]?.intValue ?? 0))
        }
        // The daemon's engine path: the whole catalog, SASRec's shortlist re-ranked by the LM.
        let recommended = try CommandLineTests.run(
            ["recommend", "--data", data, "--history", "1,2", "--k", "3", "--recommender", "allmrec:" + bundle])
        #expect(recommended.status == 0, "\(recommended.stderr)")
        let answer = try Self.summary(recommended)
        #expect(answer["recommender"] == "allmrec-rank")
        #expect(answer["items"]?.arrayValue?.count == 3)
        for report in reports {
            #expect(report["cases"] == 3)
            let hit1 = report["overall"]?["hit@1"]?.doubleValue ?? -1
            #expect((0...1).contains(hit1), "\(report)")
        }
    }

    @Test func stage2IsRefusedBeforeStage1AndEvaluationBeforeStage2() throws {
        let (data, sasrec) = try Self.prepared()
        let missing = try CommandLineTests.run(["train", "project", "--data", data, "--bundle", data + "/none", "--lm", Self.lm])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("manifest.json does not exist"), "\(missing.stderr)")
        let bundle = data + "/bundle"
        let aligned = try CommandLineTests.run(
            ["train", "align", "--data", data, "--sasrec", sasrec, "--encoder", Self.encoder, "--bundle", bundle, "--epochs", "1", "--quiet"])
        try #require(aligned.status == 0, "\(aligned.stderr)")
        let early = try CommandLineTests.run(["eval", "--data", data, "--model", "allmrec:" + bundle, "--quiet"])
        #expect(early.status == 1)
        #expect(early.stderr.contains("ranking needs an LM"), "\(early.stderr)")
    }

    /// The original code's files, in the shapes of the fixture's SASRec (d = 8) and a 32-wide LM.
    @Test func importsTheOriginalCheckpointsAndChecksTheirShapes() throws {
        let (data, sasrec) = try Self.prepared()
        let original = CommandLineTests.fixturesDirectory() + "/../../ModelsTests/Fixtures/allmrec/original/"
        let bundle = data + "/imported"
        let imported = try CommandLineTests.run([
            "import", "allmrec", "--data", data, "--sasrec", sasrec, "--mlp", original + "ml-100k_sasrec_10_mlp.pt",
            "--log-proj", original + "ml-100k_sasrec_10_opt_5_log_proj.pt", "--item-proj", original + "ml-100k_sasrec_10_opt_5_item_proj.pt",
            "--bundle", bundle,
        ])
        try #require(imported.status == 0, "\(imported.stderr)")
        let summary = try Self.summary(imported)
        #expect(summary["stage2"] == true)
        #expect(summary["dimensions"]?["lm"] == 32)
        #expect(summary["dimensions"]?["cf"] == 8)
        // A projector file given as the item MLP: a typed error naming the missing tensor.
        let wrong = try CommandLineTests.run([
            "import", "allmrec", "--data", data, "--sasrec", sasrec, "--mlp", original + "ml-100k_sasrec_10_opt_5_log_proj.pt",
            "--bundle", data + "/wrong",
        ])
        #expect(wrong.status == 1)
        #expect(wrong.stderr == "llmrec: error: A-LLMRec weights have no tensor 'fc1.weight'\n")
    }
}

extension ALLMRecCommandTests {
    /// Fine-tuning the encoder's top layer: only that layer changes, the run resumes exactly, and
    /// the written encoder directory serves stage-1 retrieval.
    @Test func fineTunesTheTopEncoderLayerResumesAndWritesTheEncoder() throws {
        let (data, sasrec) = try Self.prepared()
        let bundle = data + "/tuned"
        let align = ["train", "align", "--data", data, "--sasrec", sasrec, "--encoder", Self.encoder, "--bundle", bundle, "--quiet",
                     "--fine-tune-layers", "1", "--batch-size", "2"]
        let first = try CommandLineTests.run(align + ["--epochs", "1"])
        try #require(first.status == 0, "\(first.stderr)")
        let second = try CommandLineTests.run(align + ["--epochs", "2"])
        #expect(try Self.summary(second)["epochsThisRun"] == 1)
        let straight = data + "/tuned-straight"
        let direct = try CommandLineTests.run(
            ["train", "align", "--data", data, "--sasrec", sasrec, "--encoder", Self.encoder, "--bundle", straight, "--quiet",
             "--fine-tune-layers", "1", "--batch-size", "2", "--epochs", "2"])
        #expect(direct.status == 0, "\(direct.stderr)")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: bundle + "/stage1.training.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: straight + "/stage1.training.safetensors")))

        let tuned = try SafetensorsFile(path: bundle + "/encoder/model.safetensors")
        let original = try SafetensorsFile(path: Self.encoder + "/model.safetensors")
        let top = "encoder.layer.5.attention.self.query.weight"
        let bottom = "encoder.layer.0.attention.self.query.weight"
        #expect(try tuned.tensor(named: top) != original.tensor(named: top), "the top layer moved")
        #expect(try tuned.tensor(named: bottom) == original.tensor(named: bottom), "lower layers stay frozen")
        let manifest = try JSONValue.parse(String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8))
        #expect(manifest["encoder"] == "encoder")

        let evaluated = try CommandLineTests.run(["eval", "--data", data, "--model", "stage1:" + bundle, "--json", "--quiet"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
    }
}
