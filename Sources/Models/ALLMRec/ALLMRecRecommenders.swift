import Foundation
import Numerics
import Tokenizers

/// A-LLMRec in ranking mode: every candidate's answer ("title" and the end of sequence) is scored
/// by its log-likelihood after the shared prompt (user vector, history and candidates as soft
/// tokens), the prompt's KV cache computed once per case. Needs stage 2 and the LM.
///
/// A prompt that does not fit the LM's context (`DecoderError.contextFull`) scores every candidate
/// −∞: the case counts as a miss rather than stopping an evaluation of thousands of cases.
///
/// A-LLMRec re-ranks the template's number of candidates (20). Given more (the 100-negative and
/// full-catalog protocols, the daemon's recommendations), SASRec shortlists that many first
/// (`ALLMRecModel.shortlisted`).
public struct ALLMRecRanker: SequentialRecommender {
    public let name: String
    public let model: ALLMRecModel
    /// Without soft tokens: the LM alone reading the same words (the LM-only baseline).
    public let softTokens: Bool

    public init(model: ALLMRecModel, softTokens: Bool = true) throws(ALLMRecError) {
        guard model.languageModel != nil else { throw .invalidBundle("ranking needs an LM") }
        guard !softTokens || model.projectors != nil else { throw .invalidBundle("A-LLMRec ranking needs stage-2 weights (llmrec train project)") }
        self.model = model
        self.softTokens = softTokens
        name = softTokens ? "allmrec-rank" : "lm-only"
    }

    public var preferredBatchSize: Int { 1 }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        model.shortlisted(history: history, candidates: candidates) { rerank(history: history, candidates: $0) }
    }

    /// LM scores of at most the template's number of candidates, starting from `promptCache` (the
    /// previous prompt of the same session: its user and history part is reused when unchanged)
    /// and leaving this prompt there. Returns the scores and the prompt positions reused.
    public func scores(history: [Int32], candidates: [Int32], promptCache: inout PromptCache?) -> (scores: [Float], reused: Int) {
        precondition(candidates.count <= model.manifest.template.candidateCount, "more candidates than the prompt holds")
        return rerank(history: history, candidates: candidates, promptCache: &promptCache)
    }

    /// LM scores of at most the template's number of candidates.
    func rerank(history: [Int32], candidates: [Int32]) -> [Float] {
        var unused: PromptCache?
        return rerank(history: history, candidates: candidates, promptCache: &unused).scores
    }

    private func rerank(history: [Int32], candidates: [Int32], promptCache: inout PromptCache?) -> (scores: [Float], reused: Int) {
        let lm = model.languageModel!
        let builder = model.promptBuilder!
        let order = ALLMRecModel.promptOrder(history: history, candidates: candidates)
        let shown = order.map { candidates[$0] }
        let user = softTokens ? model.sasrec.userRepresentations([history])[0] : []
        let example = model.example(builder: builder, history: history, candidates: shown, answer: nil, user: user, softTokens: softTokens)
        let soft = softTokens
            ? model.projectors!.softInputs(
                sequence: example.sequence, user: user, historyLatents: example.historyLatents, candidateLatents: example.candidateLatents
            ).vectors : [:]
        let answers = candidates.map { builder.answerTokens(model.titles[Int($0)]) }
        let generator = TextGenerator(decoder: lm.decoder)
        guard let likelihoods = try? generator.score(
            prefix: example.sequence.tokens, continuations: answers, inputEmbeddings: soft, reusing: &promptCache)
        else {
            return ([Float](repeating: -.infinity, count: candidates.count), 0)
        }
        return (likelihoods.scores.map(Float.init), likelihoods.reused)
    }
}

extension ALLMRecModel {
    /// Scores `candidates` with `score` when they fit the prompt (the template's candidate count);
    /// otherwise SASRec shortlists that many, `score` ranks them, and every other candidate gets a
    /// score below all of theirs, in SASRec's order.
    func shortlisted(history: [Int32], candidates: [Int32], score: ([Int32]) -> [Float]) -> [Float] {
        let limit = manifest.template.candidateCount
        guard candidates.count > limit else { return score(candidates) }
        let retrieval = sasrec.scores(history: history, candidates: candidates)
        let top = Array(candidates.indices.sorted { retrieval[$0] != retrieval[$1] ? retrieval[$0] > retrieval[$1] : $0 < $1 }.prefix(limit))
        let shortlist = score(top.map { candidates[$0] })
        let floor = (shortlist.min() ?? 0) - 1
        let (lowest, highest) = (retrieval.min() ?? 0, retrieval.max() ?? 0)
        var result = retrieval.map { floor - 1 - (highest - $0) / max(highest - lowest, 1e-6) }
        for (rank, index) in top.enumerated() { result[index] = shortlist[rank] }
        return result
    }
}

/// SASRec and A-LLMRec's ranking blended, as the daemon's conversation blends them without words:
/// z-scored SASRec scores plus `weight` times z-scored LM log-likelihoods, over the template's
/// number of candidates (SASRec shortlists beyond it). For choosing the LM's weight on the
/// validation split.
public struct ALLMRecBlend: SequentialRecommender {
    public let name: String
    public let ranker: ALLMRecRanker
    public let weight: Float

    public init(model: ALLMRecModel, weight: Float) throws(ALLMRecError) {
        ranker = try ALLMRecRanker(model: model)
        self.weight = weight
        name = "allmrec-blend@\(weight)"
    }

    public var preferredBatchSize: Int { 1 }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        let model = ranker.model
        return model.shortlisted(history: history, candidates: candidates) { shortlist in
            let collaborative = VectorMath.standardised(model.sasrec.scores(history: history, candidates: shortlist))
            let language = VectorMath.standardised(ranker.rerank(history: history, candidates: shortlist))
            return zip(collaborative, language).map { $0 + weight * $1 }
        }
    }
}

/// A-LLMRec in generation mode, as the original evaluates it (ghdtjr/A-LLMRec `models/a_llmrec_model.py` `generate`, `eval.py`): greedy
/// decoding with repetition penalty 1.5 on generated tokens, then the text between the first and
/// last double quote, lower-cased; a candidate scores when its lower-cased title is contained in
/// it (longer matching titles score higher, so "Toy Story 2" beats "Toy Story"); everything else
/// scores 0, so a generation naming no candidate ranks the target last among ties.
public struct ALLMRecGenerator: SequentialRecommender {
    public let name = "allmrec-generate"
    public let model: ALLMRecModel
    /// The original allows 512 new tokens; a title needs a few dozen.
    public let maxNewTokens: Int
    /// Tokens whose text holds a line break: generation stops there, since only the first line
    /// counts (the original's eval.py reads the output line by line).
    let newlineTokens: Set<Int32>

    public init(model: ALLMRecModel, maxNewTokens: Int = 64) throws(ALLMRecError) {
        guard model.languageModel != nil, model.projectors != nil else {
            throw .invalidBundle("generation needs stage-2 weights and an LM (llmrec train project)")
        }
        self.model = model
        self.maxNewTokens = maxNewTokens
        let tokenizer = model.languageModel!.tokenizer
        newlineTokens = Set((0..<Int32(tokenizer.vocabularySize)).filter { tokenizer.decode([$0]).contains("\n") })
    }

    public var preferredBatchSize: Int { 1 }

    /// The generated answer for a case (prompt order from `ALLMRecModel.promptOrder`).
    public func generate(history: [Int32], candidates: [Int32]) -> String {
        let lm = model.languageModel!
        let builder = model.promptBuilder!
        let shown = ALLMRecModel.promptOrder(history: history, candidates: candidates).map { candidates[$0] }
        let user = model.sasrec.userRepresentations([history])[0]
        let example = model.example(builder: builder, history: history, candidates: shown, answer: nil, user: user)
        let soft = model.projectors!.softInputs(
            sequence: example.sequence, user: user, historyLatents: example.historyLatents, candidateLatents: example.candidateLatents)
        var options = GenerationOptions()
        options.maxNewTokens = maxNewTokens
        options.repetitionPenalty = 1.5
        options.penalizePrompt = false
        options.stopTokens = lm.stopTokens
        let generator = TextGenerator(decoder: lm.decoder)
        guard
            let tokens = try? generator.generate(
                prompt: example.sequence.tokens, options: options, inputEmbeddings: soft.vectors, onToken: { !newlineTokens.contains($0) })
        else { return "" }
        return lm.tokenizer.decode(tokens.filter { !lm.stopTokens.contains($0) }, skipSpecialTokens: true)
    }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        model.shortlisted(history: history, candidates: candidates) { shown in
            scores(generated: generate(history: history, candidates: shown), candidates: shown)
        }
    }

    /// The scores `scores(history:candidates:)` gives `candidates` for an already generated answer.
    public func scores(generated: String, candidates: [Int32]) -> [Float] {
        let prediction = Self.extractTitle(generated)
        return candidates.map { item in
            let title = model.titles[Int(item)].lowercased()
            return !title.isEmpty && prediction.contains(title) ? 1 + Float(title.count) / 10_000 : 0
        }
    }

    /// The original's `eval.py` extraction: first line, lower-cased, between the first and the last
    /// double quote when there are any.
    public static func extractTitle(_ generated: String) -> String {
        let line = generated.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let lowered = line.lowercased()
        guard let first = lowered.firstIndex(of: "\""), let last = lowered.lastIndex(of: "\"") else {
            return lowered.trimmingCharacters(in: .whitespaces)
        }
        guard first < last else { return "" }
        return String(lowered[lowered.index(after: first)..<last])
    }
}

/// Stage-1 retrieval: the user's query is the mean text latent (sigmoid(fc1_T(text embedding))) of
/// the prompt's history items; a candidate scores by the cosine between that query and its
/// collaborative latent (sigmoid(fc1_I(E_i))). What the text path of the conversation layer uses.
public struct Stage1Retriever: SequentialRecommender {
    public let name = "stage1"
    public let model: ALLMRecModel
    /// Text latents of every item, [(items + 1) · 128].
    public let textLatents: [Float]

    /// - textEmbeddings: the encoder's embeddings of every item's stage-1 text, [(items + 1) · textDim].
    public init(model: ALLMRecModel, textEmbeddings: [Float]) throws(ALLMRecError) {
        guard let textMLP = model.textMLP else { throw .invalidBundle("stage-1 retrieval needs the text MLP, which this bundle lacks") }
        guard textEmbeddings.count % textMLP.dim == 0 else {
            throw .shapeMismatch(name: "text embeddings", expected: [-1, textMLP.dim], got: [textEmbeddings.count])
        }
        self.model = model
        textLatents = textMLP.latents(textEmbeddings, rows: textEmbeddings.count / textMLP.dim)
    }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        let latent = TwoLayerMLP.latentSize
        var query = [Float](repeating: 0, count: latent)
        let shown = model.promptHistory(history)
        for item in shown {
            for k in 0..<latent { query[k] += textLatents[Int(item) * latent + k] / Float(max(shown.count, 1)) }
        }
        return candidates.map { item in
            Self.cosine(query, model.itemLatents[(Int(item) * latent)..<((Int(item) + 1) * latent)])
        }
    }

    static func cosine(_ a: [Float], _ b: ArraySlice<Float>) -> Float {
        var (dot, normA, normB): (Float, Float, Float) = (0, 0, 0)
        for (x, y) in zip(a, b) {
            dot += x * y
            normA += x * x
            normB += y * y
        }
        return dot / max((normA * normB).squareRoot(), 1e-12)
    }
}
