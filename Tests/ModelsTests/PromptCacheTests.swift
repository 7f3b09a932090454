import Foundation
import Models
import Testing
import Tokenizers

/// Scoring that starts from the previous prompt's keys and values (`PromptCache`) on the real
/// SmolLM2-135M: the same scores as scoring from scratch, with the shared beginning reused.
@Suite struct PromptCacheTests {
    @Test func aSharedBeginningIsReusedAndScoresDoNotChange() throws {
        let (model, _) = try SmolLM2ReferenceTests.load()
        let generator = TextGenerator(decoder: model.decoder)
        let tokenizer = model.tokenizer
        let shared = tokenizer.encode("This user has watched Toy Story, Babe and Heat in the previous.", addSpecialTokens: false)
        let first = shared + tokenizer.encode(" Recommend one of Scream, Clueless.", addSpecialTokens: false)
        let second = shared + tokenizer.encode(" Recommend one of a long list: Star Wars, Star Trek, Jaws, Alien.", addSpecialTokens: false)
        let answers = ["Scream", "Star Wars", "Jaws"].map { tokenizer.encode(" \"\($0)\"", addSpecialTokens: false) }
        var cache: PromptCache?
        _ = try generator.score(prefix: first, continuations: answers, reusing: &cache)
        let reused = try generator.score(prefix: second, continuations: answers, reusing: &cache)
        let common = zip(first, second).prefix { $0 == $1 }.count
        #expect(common >= shared.count && reused.reused == common)
        let fresh = try generator.score(prefix: second, continuations: answers)
        for (a, b) in zip(reused.scores, fresh) { #expect(abs(a - b) < 1e-3, "\(a) vs \(b)") }
        // The same prompt again: everything but its last position comes from the cache.
        let again = try generator.score(prefix: second, continuations: answers, reusing: &cache)
        #expect(again.reused == second.count - 1)
        for (a, b) in zip(again.scores, fresh) { #expect(abs(a - b) < 1e-3) }
    }

    @Test func aDifferentInputEmbeddingEndsTheSharedPart() throws {
        let (model, _) = try SmolLM2ReferenceTests.load()
        let generator = TextGenerator(decoder: model.decoder)
        let prompt = model.tokenizer.encode("A user vector, then words about films.", addSpecialTokens: false)
        let width = model.decoder.configuration.embeddingSize
        let answers = [model.tokenizer.encode(" Heat", addSpecialTokens: false)]
        var cache: PromptCache?
        _ = try generator.score(prefix: prompt, continuations: answers, inputEmbeddings: [3: [Float](repeating: 0.01, count: width)], reusing: &cache)
        let changed = try generator.score(
            prefix: prompt, continuations: answers, inputEmbeddings: [3: [Float](repeating: 0.02, count: width)], reusing: &cache)
        #expect(changed.reused == 3)
    }
}
