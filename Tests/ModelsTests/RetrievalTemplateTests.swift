import Datasets
import Foundation
import JSON
import Models
import Support
import Testing
import Tokenizers

/// The retrieval prompts' wording (`RetrievalTemplate`, `RetrievalPromptBuilder`) with the real
/// SmolLM2-135M-Instruct tokenizer.
@Suite struct RetrievalTemplateTests {
    static func tokenizer() throws -> ByteLevelBPETokenizer {
        let path = AssetCache.asset("smollm2-135m") + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        try #require(FileManager.default.fileExists(atPath: path), "run scripts/fetch-assets.sh smollm2")
        return try LanguageModel.load(path).tokenizer
    }

    static let catalog = Catalog(items: [
        CatalogItem(
            id: 1, originalId: "1", title: "Toy Story (1995)", description: "",
            metadata: ["genres": ["Animation", "Children's", "Comedy"], "year": 1995]),
        CatalogItem(id: 2, originalId: "2", title: "Unknown Film (1996)", description: "", metadata: ["genres": ["unknown"]]),
    ])

    /// With `itemFacets` the item prompt names the facets between the title and `itemOutro`; without
    /// it, or for an item without facets, it reads as LLM-SRec's.
    @Test func itemFacetsFollowTheTitleOnlyWhenOn() throws {
        let tokenizer = try Self.tokenizer()
        var template = RetrievalTemplate.builtIn["movies"]!
        let plain = RetrievalPromptBuilder(template: template, tokenizer: tokenizer, catalog: Self.catalog)
        template.itemFacets = true
        let faceted = RetrievalPromptBuilder(template: template, tokenizer: tokenizer, catalog: Self.catalog)
        func expected(_ text: String) -> [Int32] {
            tokenizer.prefixIDs + tokenizer.encode(text, addSpecialTokens: false, parseSpecialTokens: false) + [0, 0]
        }
        let withFacets = faceted.itemPrompt(1, softToken: true)
        #expect(withFacets.tokens == expected("The movie \"Toy Story (1995)\" (Animation, Children's, Comedy), as an item representation, is"))
        #expect(withFacets.softTokens.map(\.position) == [withFacets.tokens.count - 2] && withFacets.softTokens.map(\.item) == [1])
        #expect(plain.itemPrompt(1, softToken: true).tokens == expected("The movie \"Toy Story (1995)\", as an item representation, is"))
        #expect(faceted.itemPrompt(2, softToken: true).tokens == expected("The movie \"Unknown Film (1996)\", as an item representation, is"))
        // An added item (no dense id) shows the facets it is given; the user prompt never shows facets.
        let added = faceted.itemPrompt(.init(title: "Toy Story (1995)", softItem: nil, facets: ["Animation", "Children's", "Comedy"]))
        #expect(added.tokens == withFacets.tokens.dropLast(2) + [0] && added.softTokens.isEmpty)
        #expect(faceted.userPrompt(history: [1]) == plain.userPrompt(history: [1]))
    }

    /// `itemFacets` reads back from JSON, a wrong type is a clear error, and a template without it
    /// keeps the fingerprint it had before the key existed (no key written).
    @Test func itemFacetsInJSON() throws {
        let movies = RetrievalTemplate.builtIn["movies"]!
        #expect(movies.jsonObject["itemFacets"] == nil)
        var on = movies
        on.itemFacets = true
        #expect(try RetrievalTemplate(jsonObject: on.jsonObject, source: "t.json") == on)
        #expect(on.fingerprint != movies.fingerprint)
        #expect(throws: RetrievalError.invalidTemplate("t.json: 'itemFacets' must be true or false")) {
            try RetrievalTemplate(jsonObject: ["itemFacets": "yes"], source: "t.json")
        }
    }

    /// The user's words keep the tokens they always had (one piece with the text around them), and
    /// the prompt marks where their segment starts: from there to the output token it reads
    /// wishesIntro + words + historyOutro. Without words there is no segment.
    @Test func theWordsSegmentIsMarked() throws {
        let tokenizer = try Self.tokenizer()
        let builder = RetrievalPromptBuilder(template: RetrievalTemplate.builtIn["movies"]!, tokenizer: tokenizer, catalog: Self.catalog)
        let prompt = builder.userPrompt(history: [1, 2], wishes: "something funny")
        let before = "This user has watched the following movies in this order: \"Toy Story (1995)\""
        let after = ", \"Unknown Film (1996)\""
        let segment = ". The user now says: something funny. Based on this sequence, the user representation is"
        func encode(_ text: String) -> [Int32] { tokenizer.encode(text, addSpecialTokens: false, parseSpecialTokens: false) }
        #expect(prompt.tokens == tokenizer.prefixIDs + encode(before) + [0] + encode(after) + [0] + encode(segment) + [0])
        let start = try #require(prompt.wordsStart)
        #expect(start == prompt.softTokens[1].position + 1)
        #expect(prompt.wordPositions == start..<prompt.outputPosition)
        #expect(Array(prompt.tokens[start..<prompt.outputPosition]) == encode(segment))
        // A title read without its soft token: the segment starts after the title's own tokens.
        let titled = builder.userPrompt(history: [1, 2], wishes: "something funny", withoutSoftToken: [2])
        let titledStart = try #require(titled.wordsStart)
        #expect(tokenizer.decode(Array(titled.tokens[titledStart..<titled.outputPosition])).hasSuffix("something funny. Based on this sequence, the user representation is"))
        #expect(builder.userPrompt(history: [1, 2]).wordsStart == nil && builder.userPrompt(history: [1, 2], wishes: "").wordPositions == nil)
    }

    /// With `userToken` the user prompt gains one slot for SASRec's user vector just before the
    /// output token, after the history outro; the words' segment ends before it, item prompts and
    /// templates without the flag are unchanged, and the flag reads back from JSON.
    @Test func theUserVectorTokenPrecedesTheOutputToken() throws {
        let tokenizer = try Self.tokenizer()
        let movies = RetrievalTemplate.builtIn["movies"]!
        var template = movies
        template.userToken = true
        let plain = RetrievalPromptBuilder(template: movies, tokenizer: tokenizer, catalog: Self.catalog)
        let slotted = RetrievalPromptBuilder(template: template, tokenizer: tokenizer, catalog: Self.catalog)
        let vector: [Float] = [0.5, -1, 2]
        let prompt = slotted.userPrompt(history: [1, 2], wishes: "something funny", userVector: vector)
        let without = plain.userPrompt(history: [1, 2], wishes: "something funny", userVector: vector)
        #expect(without.userSlot == nil)
        #expect(prompt.tokens == without.tokens + [0])
        #expect(prompt.userSlot == RetrievalPrompt.UserSlot(position: prompt.outputPosition - 1, vector: vector))
        #expect(prompt.softTokens.map(\.position) == without.softTokens.map(\.position))
        #expect(prompt.wordPositions == without.wordPositions)
        #expect(prompt != without)
        #expect(slotted.itemPrompt(1, softToken: true) == plain.itemPrompt(1, softToken: true))
        // Without a history's soft tokens the slot is the first trainable input.
        let titled = slotted.userPrompt(history: [1], withoutSoftToken: [1], userVector: vector)
        #expect(titled.frozenPrefixLength == titled.outputPosition - 1)
        #expect(movies.jsonObject["userToken"] == nil && template.fingerprint != movies.fingerprint)
        #expect(try RetrievalTemplate(jsonObject: template.jsonObject, source: "t.json") == template)
        #expect(throws: RetrievalError.invalidTemplate("t.json: 'userToken' must be true or false")) {
            try RetrievalTemplate(jsonObject: ["userToken": 1], source: "t.json")
        }
    }
}
