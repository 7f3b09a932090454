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
        // transformers: log p(" Paris" | prompt) = -0.2581 (shared/assets/golden/smollm2_135m_q4_1_reference.json).
        #expect(abs((lines.first?["logLikelihood"]?.doubleValue ?? 0) + 0.2581) < 2e-3)
    }

    @Test func greedyGenerationStreamsTheReferenceContinuation() throws {
        let generated = try CommandLineTests.run([
            "lm", "generate", "--prompt", "The capital of France is", "--greedy", "--repetition-penalty", "1", "--max-tokens", "12",
        ])
        try #require(generated.status == 0, "\(generated.stderr)")
        #expect(generated.stdout == " Paris.\n\nThe answer is: 201\n")
        #expect(generated.stderr.contains("\"generatedTokens\":12"))
    }

    @Test func aMissingModelIsOneClearError() throws {
        let missing = try CommandLineTests.run(["lm", "generate", "--model", "/nonexistent.gguf", "--prompt", "x"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "llmrec: error: /nonexistent.gguf: no such file\n")
    }
}
