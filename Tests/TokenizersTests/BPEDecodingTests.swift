import Testing
import Tokenizers

/// Decoding ids to text: whole, and streaming, where a character split over several byte tokens must
/// come out once and whole.
@Suite("Byte-level BPE decoding")
struct BPEDecodingTests {
    @Test("Streaming one id at a time gives decode's text, and never half a character")
    func streamsGoldenCasesWithoutBrokenCharacters() throws {
        let tokenizer = try BPESupport.gpt2Tokenizer()
        for (index, golden) in try BPESupport.goldenCases().enumerated() {
            var pending: [UInt8] = []
            var streamed = ""
            for id in golden.ids {
                let piece = tokenizer.decodeIncrementally([id], pending: &pending)
                #expect(!piece.unicodeScalars.contains("\u{FFFD}"), "case \(index)")
                streamed += piece
            }
            #expect(pending.isEmpty, "case \(index)")
            streamed += tokenizer.finishIncrementalDecoding(&pending)
            #expect(streamed == golden.text, "case \(index)")
        }
    }

    @Test("An emoji over three byte tokens is held back until its last byte")
    func holdsBackAnUnfinishedCharacter() throws {
        let tokenizer = try BPESupport.gpt2Tokenizer()
        let rocket = tokenizer.encode("🚀")
        #expect(rocket == [8582, 248, 222])
        var pending: [UInt8] = []
        #expect(tokenizer.decodeIncrementally([8582], pending: &pending) == "")
        #expect(pending == [0xF0, 0x9F])
        #expect(tokenizer.decodeIncrementally([248], pending: &pending) == "")
        #expect(tokenizer.decodeIncrementally([222, 995], pending: &pending) == "🚀 world")
        #expect(pending.isEmpty)
    }

    @Test("A stream cut inside a character ends in U+FFFD, as decode gives")
    func finishesAnUnfinishedCharacterLossily() throws {
        let tokenizer = try BPESupport.gpt2Tokenizer()
        var pending: [UInt8] = []
        #expect(tokenizer.decodeIncrementally([15496, 8582], pending: &pending) == "Hello")
        #expect(tokenizer.finishIncrementalDecoding(&pending) == "\u{FFFD}")
        #expect(pending.isEmpty)
        #expect(tokenizer.decode([15496, 8582]) == "Hello\u{FFFD}")
    }

    @Test("Bytes that can never start a character are let through at once, as U+FFFD")
    func doesNotHoldBackInvalidBytes() throws {
        let tokenizer = try BPESupport.gpt2Tokenizer()
        let invalid = try #require(tokenizer.id(of: BPESupport.byteSpellings[0xFF]))
        let continuation = try #require(tokenizer.id(of: BPESupport.byteSpellings[0x80]))
        var pending: [UInt8] = []
        #expect(tokenizer.decodeIncrementally([invalid], pending: &pending) == "\u{FFFD}")
        #expect(tokenizer.decodeIncrementally([continuation], pending: &pending) == "\u{FFFD}")
        // E0 followed by 80 can never be valid (E0 needs A0...BF next).
        let e0 = try #require(tokenizer.id(of: BPESupport.byteSpellings[0xE0]))
        #expect(tokenizer.decodeIncrementally([e0], pending: &pending) == "")
        #expect(tokenizer.decodeIncrementally([continuation], pending: &pending) == "\u{FFFD}\u{FFFD}")
        #expect(pending.isEmpty)
    }

    @Test("Ids outside the vocabulary are skipped; special tokens only when asked")
    func skipsUnknownIDsAndOptionallySpecialTokens() throws {
        let tokenizer = try BPESupport.gpt2Tokenizer()
        #expect(tokenizer.decode([15496, -1, 50257, 995]) == "Hello world")
        #expect(tokenizer.decode([50256, 15496, 50256]) == "<|endoftext|>Hello<|endoftext|>")
        #expect(tokenizer.decode([50256, 15496, 50256], skipSpecialTokens: true) == "Hello")
        var pending: [UInt8] = []
        #expect(tokenizer.decodeIncrementally([50256, 15496], pending: &pending, skipSpecialTokens: true) == "Hello")
    }

    @Test("Token spellings and ids are the vocabulary's")
    func looksUpTokens() throws {
        let tokenizer = try BPESupport.gpt2Tokenizer()
        #expect(tokenizer.vocabularySize == 50257)
        #expect(tokenizer.tokens("Hello world") == ["Hello", "Ġworld"])
        #expect(tokenizer.id(of: "Ġworld") == 995)
        #expect(tokenizer.token(for: 995) == "Ġworld")
        #expect(tokenizer.token(for: 50257) == nil && tokenizer.token(for: -1) == nil)
        #expect(tokenizer.isSpecial(50256) && !tokenizer.isSpecial(995))
    }
}
