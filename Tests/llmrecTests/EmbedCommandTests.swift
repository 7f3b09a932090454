import Foundation
import JSON
import Testing

/// `llmrec embed --text` with the real all-MiniLM-L6-v2 in both precisions, against the vectors
/// sentence-transformers computed for the same sentences (ModelsTests' copy of the golden file):
/// tokenizer, encoder, pooling and normalisation end to end.
@Suite struct EmbedCommandTests {
    static func reference() -> [[String: Any]] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/minilm_l6_v2_reference.json").path
        let object = try? JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: path) ?? Data()) as? [String: Any]
        return object?["cases"] as? [[String: Any]] ?? []
    }

    @Test(arguments: ["f32", "bf16"])
    func textsEmbedAsSentenceTransformersDoes(precision: String) throws {
        let reference = Self.reference()
        try #require(!reference.isEmpty, "the MiniLM reference fixture is missing")
        let texts = reference.map { $0["text"] as! String }
        let result = try CommandLineTests.run(["embed", "--precision", precision] + texts.flatMap { ["--text", $0] })
        try #require(result.status == 0, "\(result.stderr)")
        let lines = try result.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(lines.count == texts.count)
        for (line, item) in zip(lines, reference) {
            #expect(line["text"]?.stringValue == item["text"] as? String)
            let vector = line["embedding"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            let expected = item["embedding"] as! [Double]
            try #require(vector.count == expected.count)
            let cosine = zip(vector, expected).reduce(0) { $0 + $1.0 * $1.1 }
            #expect(cosine > 0.9999, "\(precision) \(item["text"]!): cosine \(cosine)")
        }
        let summary = try JSONValue.parse(String(result.stderr.split(separator: "\n").last ?? ""))
        let inEffect = summary["precision"]?.stringValue
        #expect(inEffect == precision || (precision == "bf16" && inEffect == "f32"), "precision in effect: \(inEffect ?? "none")")
    }

    @Test func anUnknownPrecisionIsRefused() throws {
        let result = try CommandLineTests.run(["embed", "--precision", "int8", "--text", "x"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--precision"))
    }
}
