import Datasets
import Foundation
import Models
import Support
import Testing
import Tokenizers

/// A-LLMRec's prompt (ghdtjr/A-LLMRec `models/a_llmrec_model.py` `pre_train_phase2`) with the real SmolLM2 tokenizer: the words are
/// the original's byte for byte, soft slots sit after each title, whitespace next to a slot is
/// stripped as transformers 4.32 did, and each text segment is tokenized on its own.
@Suite struct PromptBuilderTests {
    static func builder(_ template: PromptTemplate = PromptTemplate.builtIn["movies"]!) throws -> PromptBuilder {
        let path = AssetCache.asset("smollm2-135m") + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        try #require(FileManager.default.fileExists(atPath: path), "run scripts/fetch-assets.sh smollm2")
        let model = try LanguageModel.load(path)
        return PromptBuilder(template: template, tokenizer: model.tokenizer, endOfSequence: model.endOfSequence)
    }

    @Test func softPromptSegmentsAreTheOriginalWordsTokenizedApart() throws {
        let builder = try Self.builder()
        let encode = { (text: String) in builder.tokenizer.encode(text, addSpecialTokens: false, parseSpecialTokens: false) }
        let sequence = builder.sequence(history: ["A", "B"], candidates: ["C", "B2", "D"], answer: "C")
        let segments = [
            " is a user representation.This user has watched \"A\"", ",\"B\"",
            "in the previous. Recommend one next movie for this user to watch next from the following movie title set, \"C\"",
            ",\"B2\"", ",\"D\"", ". The recommendation is ",
        ]
        var expected: [Int32] = [0] + builder.tokenizer.prefixIDs
        var slots: [Int] = [0]
        for (index, segment) in segments.enumerated() {
            expected += encode(segment)
            if index < 5 {
                slots.append(expected.count)
                expected.append(0)
            }
        }
        let answerStart = expected.count
        expected += encode("\"C\"") + [builder.endOfSequence!]
        #expect(sequence.tokens == expected)
        #expect(sequence.answerStart == answerStart)
        #expect(sequence.slots.map(\.position) == slots)
        #expect(sequence.slots.map(\.slot) == [.user, .history(0), .history(1), .candidate(0), .candidate(1), .candidate(2)])
        #expect(sequence.prompt == Array(expected[..<answerStart]))
    }

    @Test func withoutStrippingTheSpaceBeforeInTheStays() throws {
        var template = PromptTemplate.builtIn["movies"]!
        template.stripAroundSlots = false
        let builder = try Self.builder(template)
        let sequence = builder.sequence(history: ["A"], candidates: ["C"], answer: nil)
        let spaced = builder.tokenizer.encode(
            " in the previous. Recommend one next movie for this user to watch next from the following movie title set, \"C\"",
            addSpecialTokens: false, parseSpecialTokens: false)
        #expect(Array(sequence.tokens[(sequence.slots[1].position + 1)...].prefix(spaced.count)) == spaced)
        #expect(sequence.answerStart == sequence.tokens.count)
    }

    @Test func theLanguageModelOnlyPromptHasNoSoftTokens() throws {
        let builder = try Self.builder()
        let sequence = builder.sequence(history: ["A", "B"], candidates: ["C"], answer: "C", softTokens: false)
        #expect(sequence.slots.isEmpty)
        let text = "This user has watched \"A\",\"B\" in the previous. Recommend one next movie for this user to watch next from the following movie title set, \"C\". The recommendation is "
        #expect(sequence.prompt == builder.tokenizer.prefixIDs + builder.tokenizer.encode(text, addSpecialTokens: false, parseSpecialTokens: false))
    }

    @Test func templatesLoadFromJSONWithClearErrors() throws {
        let directory = NSTemporaryDirectory() + "llmrec-template-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let good = directory + "/books.json"
        try #"{"historyIntro": "This user has read ", "candidatesIntro": " before. Pick one book: ", "historyCount": 5}"#
            .write(toFile: good, atomically: true, encoding: .utf8)
        let template = try PromptTemplate.named(good)
        #expect(template.historyIntro == "This user has read ")
        #expect(template.historyCount == 5)
        #expect(template.answerIntro == ". The recommendation is ")
        #expect(try PromptTemplate(jsonObject: template.jsonObject, source: "round trip") == template)
        let unknown = directory + "/unknown.json"
        try #"{"historyIntr": "x"}"#.write(toFile: unknown, atomically: true, encoding: .utf8)
        #expect(throws: ALLMRecError.invalidTemplate("\(unknown): unknown key 'historyIntr'")) { try PromptTemplate.named(unknown) }
        let wrongType = directory + "/count.json"
        try #"{"historyCount": "ten"}"#.write(toFile: wrongType, atomically: true, encoding: .utf8)
        #expect(throws: ALLMRecError.invalidTemplate("\(wrongType): 'historyCount' must be a positive integer")) {
            try PromptTemplate.named(wrongType)
        }
        #expect(throws: ALLMRecError.self) { try PromptTemplate.named("/nonexistent/template.json") }
    }
}
