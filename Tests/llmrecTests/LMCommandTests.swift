import Foundation
import JSON
import Testing

/// `llmrec lm` with the real SmolLM2-135M-Instruct (fetched by `scripts/fetch-assets.sh smollm2`).
@Suite struct LMCommandTests {
    @Test func scoreRanksContinuationsByLikelihood() throws {
        let scored = try CommandLineTests.run([
            "lm", "score", "--prompt", "The capital of France is", "--continuation", " Berlin", "--continuation", " Paris",
        ])
        try #require(scored.status == 0, "\(scored.stderr)")
        let lines = try scored.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(lines.first?["continuation"] == " Paris")
        // transformers: log p(" Paris" | prompt) = -0.2581 (ModelsTests/Fixtures/smollm2_135m_q4_1_reference.json).
        #expect(abs((lines.first?["logLikelihood"]?.doubleValue ?? 0) + 0.2581) < 2e-3)
    }

    @Test func greedyGenerationStreamsTheReferenceContinuation() throws {
        let generated = try CommandLineTests.run(["lm", "generate", "--prompt", "The capital of France is", "--greedy", "--max-tokens", "12"])
        try #require(generated.status == 0, "\(generated.stderr)")
        #expect(generated.stdout == " Paris.\n\nThe answer is: 201\n")
        #expect(generated.stderr.contains("\"generatedTokens\":12"))
    }

    /// `--greedy` is argmax, with no repetition penalty unless asked: on a prompt that repeats a
    /// word, transformers and llama.cpp continue " a movie"; a penalty of 1.1 turns it into " a classic".
    @Test func greedyMeansArgmaxUnlessAPenaltyIsAsked() throws {
        let prompt = "A good movie for a rainy Sunday afternoon is"
        let plain = try CommandLineTests.run(["lm", "generate", "--prompt", prompt, "--greedy", "--max-tokens", "3"])
        let explicit = try CommandLineTests.run(["lm", "generate", "--prompt", prompt, "--greedy", "--repetition-penalty", "1", "--max-tokens", "3"])
        let penalised = try CommandLineTests.run(["lm", "generate", "--prompt", prompt, "--greedy", "--repetition-penalty", "1.1", "--max-tokens", "3"])
        try #require(plain.status == 0 && explicit.status == 0 && penalised.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.hasPrefix(" a movie"), "\(plain.stdout)")
        #expect(plain.stdout == explicit.stdout)
        #expect(penalised.stdout.hasPrefix(" a classic"), "\(penalised.stdout)")
    }

    @Test func infoReadsSmolLM2sDimensionsAndItsQuantisationMix() throws {
        let info = try CommandLineTests.run(["lm", "info", "--json"])
        try #require(info.status == 0, "\(info.stderr)")
        let json = try JSONValue.parse(info.stdout)
        // SmolLM2-135M's config.json: 30 layers of width 576, 9 heads, 3 key/value heads, 8192 positions, 49152 tokens.
        #expect(json["architecture"] == "llama" && json["layers"] == 30 && json["hiddenSize"] == 576)
        #expect(json["heads"] == 9 && json["keyValueHeads"] == 3 && json["contextLength"] == 8192 && json["vocabularySize"] == 49152)
        #expect(json["supported"] == true)
        let types = json["types"]?.arrayValue?.compactMap { $0["type"]?.stringValue }
        #expect(types == ["Q4_1", "Q8_0", "F32"], "the wheel's file: Q4_1 layers, a Q8_0 embedding, F32 norms")
        let parameters = json["types"]?.arrayValue?.compactMap { $0["parameters"]?.intValue }.reduce(0, +)
        #expect(parameters == json["parameters"]?.intValue && (134_000_000...135_000_000).contains(Int(parameters ?? 0)))
    }

    @Test func infoCountsEveryKQuantTensorOfTheFixture() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CheckpointsTests/Fixtures").path
        let info = try CommandLineTests.run(["lm", "info", "--json", "--model", fixture + "/kquants.gguf"])
        try #require(info.status == 0, "\(info.stderr)")
        let json = try JSONValue.parse(info.stdout)
        // gguf_expected.json (written with gguf-py) gives each tensor's type and bytes.
        let expected = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: fixture + "/gguf_expected.json"))))
        let tensors = expected["kquants.gguf"]?["tensors"]?.arrayValue ?? []
        var bytes: [String: Int64] = [:]
        for tensor in tensors { bytes[tensor["type"]?.stringValue ?? "", default: 0] += tensor["byte_count"]?.intValue ?? 0 }
        let reported = Dictionary(uniqueKeysWithValues: (json["types"]?.arrayValue ?? []).map {
            ($0["type"]?.stringValue ?? "", $0["bytes"]?.intValue ?? 0)
        })
        #expect(reported == bytes && bytes.count == 6)
        #expect(json["supported"] == true, "Q5_0, Q5_1 and the K-quants are read")
    }

    @Test func aMissingModelIsOneClearError() throws {
        let missing = try CommandLineTests.run(["lm", "generate", "--model", "/nonexistent.gguf", "--prompt", "x"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "llmrec: error: /nonexistent.gguf: no such file\n")
    }
}
