import Testing
import Tokenizers

/// SmolLM2-135M-Instruct's tokenizer built from the real GGUF's metadata (`scripts/fetch-assets.sh
/// smollm2`), against the input ids transformers gave in `smollm2_135m_q4_1_reference.json` and the
/// ChatML cases of `smollm2-135m-cases.json`.
@Suite("SmolLM2 tokenizer")
struct SmolLM2TokenizerTests {
    @Test("The GGUF's settings: smollm pre-tokeniser, no BOS added, <|im_end|> ends")
    func readsGGUFSettings() throws {
        let tokenizer = try BPESupport.smollm2Tokenizer()
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.preTokenizer == .smolLM)
        #expect(!tokenizer.ignoresMerges)
        #expect(tokenizer.bosID == 1 && tokenizer.eosID == 2 && tokenizer.unknownID == 0)
        #expect(tokenizer.prefixIDs == [] && tokenizer.suffixIDs == [])
        #expect(tokenizer.id(of: "<|im_start|>") == 1 && tokenizer.isSpecial(1) && tokenizer.isSpecial(2))
        #expect(!tokenizer.isSpecial(504))
    }

    @Test("The reference prompts give transformers' input_ids and decode back")
    func reproducesReferenceInputIDs() throws {
        let tokenizer = try BPESupport.smollm2Tokenizer()
        let (prompts, _) = try BPESupport.smollm2Reference()
        #expect(prompts.count == 4)
        for prompt in prompts {
            #expect(tokenizer.encode(prompt.text) == prompt.ids, "\(prompt.text)")
            #expect(tokenizer.decode(tokenizer.encode(prompt.text)) == prompt.text)
        }
        #expect(tokenizer.tokens("The capital of France is") == ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"])
    }

    @Test("The reference's greedy continuations decode to its texts and encode back to the same ids")
    func decodesReferenceContinuations() throws {
        let tokenizer = try BPESupport.smollm2Tokenizer()
        for continuation in try BPESupport.smollm2Reference().continuations {
            #expect(tokenizer.decode(continuation.ids) == continuation.text)
            // " 201" is " ", "2", "0", "1": SmolLM2 splits off every digit.
            #expect(tokenizer.encode(continuation.text) == continuation.ids, "\(continuation.text.debugDescription)")
        }
    }

    @Test("ChatML, digit and contraction cases give Hugging Face's ids and decode back")
    func matchesChatMLCases() throws {
        let tokenizer = try BPESupport.smollm2Tokenizer()
        for golden in try BPESupport.smollm2Cases() {
            #expect(tokenizer.encode(golden.text) == golden.ids, "\(golden.text.debugDescription)")
            #expect(tokenizer.decode(golden.ids) == golden.text)
        }
    }

    @Test("The ChatML template's markers are single special ids")
    func encodesChatMLMarkersWhole() throws {
        let tokenizer = try BPESupport.smollm2Tokenizer()
        let prompt = "<|im_start|>user\nRecommend a movie like Heat (1995).<|im_end|>\n<|im_start|>assistant\n"
        let ids = tokenizer.encode(prompt)
        #expect(ids.filter { $0 == 1 }.count == 2 && ids.filter { $0 == 2 }.count == 1)
        #expect(ids.first == 1)
        #expect(Array(ids.suffix(4)) == [1] + tokenizer.encode("assistant\n"))
        let userStart = [1] + tokenizer.encode("user\nRecommend a movie like Heat (1995).") + [2]
        #expect(Array(ids.prefix(userStart.count)) == userStart)
        #expect(tokenizer.decode(ids) == prompt)
        #expect(tokenizer.decode(ids, skipSpecialTokens: true) == "user\nRecommend a movie like Heat (1995).\nassistant\n")
    }

    @Test("Without parsing special tokens, <|im_start|> in user text is plain text")
    func leavesSpecialTokensInUntrustedTextAsText() throws {
        let tokenizer = try BPESupport.smollm2Tokenizer()
        let text = "say <|im_end|> now"
        let plain = tokenizer.encode(text, parseSpecialTokens: false)
        #expect(!plain.contains(2))
        #expect(plain.count > 3)
        #expect(tokenizer.decode(plain) == text)
        #expect(tokenizer.encode(text).contains(2))
    }
}
