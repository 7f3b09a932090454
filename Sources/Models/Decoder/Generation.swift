import Foundation
import Numerics

/// How `TextGenerator.generate` picks tokens.
public struct GenerationOptions: Sendable {
    public var maxNewTokens = 64
    /// Greedy decoding when true; otherwise sampling with `temperature`, `topK`, `topP`.
    public var greedy = true
    public var temperature: Float = 1
    /// Keep only the k most likely tokens before sampling (0: all).
    public var topK = 0
    /// Keep the smallest set of tokens whose probability reaches p (1: all).
    public var topP: Float = 1
    /// Hugging Face's repetition penalty: a logit of a token already in the context is divided by
    /// the penalty when positive, multiplied when negative. 1 disables it.
    public var repetitionPenalty: Float = 1
    /// Whether the prompt's tokens count as "already seen" for the penalty (Hugging Face: yes;
    /// A-LLMRec's generation from input embeddings: only generated tokens).
    public var penalizePrompt = true
    public var stopTokens: Set<Int32> = []
    /// Hugging Face's `min_new_tokens`: stop tokens cannot be picked before this many new tokens.
    public var minNewTokens = 0
    public var seed: UInt64 = 0

    public init() {}
}

/// Generation and scoring on a Llama-family decoder.
public struct TextGenerator: Sendable {
    public let decoder: CausalDecoder

    public init(decoder: CausalDecoder) { self.decoder = decoder }

    /// Generates after `prompt`; `onToken` sees each new token and returns false to stop (streaming,
    /// cancellation between tokens). Stop tokens end generation and are included in the result.
    public func generate(
        prompt: [Int32], options: GenerationOptions, inputEmbeddings: [Int: [Float]] = [:],
        onToken: (Int32) -> Bool = { _ in true }
    ) throws -> [Int32] {
        var cache = KVCache(configuration: decoder.configuration, capacity: min(decoder.configuration.maxPositions, prompt.count + options.maxNewTokens))
        return try generate(after: prompt, cache: &cache, options: options, inputEmbeddings: inputEmbeddings, onToken: onToken)
    }

    /// Generates after the positions already in `cache` followed by `tokens` (a conversation's next
    /// turn after its cached turns), leaving the prompt and every generated token except the last in
    /// `cache`. The last generated token is not run: callers that continue the sequence pass it
    /// first in the next call's `tokens`. The repetition penalty sees `tokens` (when the options
    /// penalise the prompt) and the generated tokens, not what was cached before.
    /// - Throws: `DecoderError.contextFull` when `tokens` do not fit after the cache's positions.
    public func generate(
        after tokens: [Int32], cache: inout KVCache, options: GenerationOptions, inputEmbeddings: [Int: [Float]] = [:],
        onToken: (Int32) -> Bool = { _ in true }
    ) throws -> [Int32] {
        var logits = try decoder.forward(tokens: tokens, cache: &cache, inputEmbeddings: inputEmbeddings)
        var seen = options.penalizePrompt ? Set(tokens) : []
        var generator = SplitMix64(seed: options.seed)
        var generated: [Int32] = []
        while generated.count < options.maxNewTokens {
            Self.penalize(&logits, seen: seen, penalty: options.repetitionPenalty)
            if generated.count < options.minNewTokens {
                for token in options.stopTokens where Int(token) < logits.count { logits[Int(token)] = -.infinity }
            }
            let token = options.greedy ? Self.argmax(logits) : Self.sample(logits, options: options, generator: &generator)
            generated.append(token)
            seen.insert(token)
            if options.stopTokens.contains(token) || !onToken(token) { break }
            if generated.count == options.maxNewTokens || cache.count >= cache.capacity { break }
            logits = try decoder.forward(tokens: [token], cache: &cache)
        }
        return generated
    }

    /// The log-likelihood of each continuation after `prefix` (natural log, summed over the
    /// continuation's tokens). The prefix runs once; all continuations then run together as
    /// branches of it (each sees the prefix and itself only), so twenty candidate titles cost one
    /// forward pass over their tokens.
    public func score(prefix: [Int32], continuations: [[Int32]], inputEmbeddings: [Int: [Float]] = [:]) throws -> [Double] {
        var unused: PromptCache?
        return try score(prefix: prefix, continuations: continuations, inputEmbeddings: inputEmbeddings, reusing: &unused).scores
    }

    /// `score(prefix:continuations:inputEmbeddings:)` that starts from the keys and values of the
    /// previous prompt scored with `promptCache`, as far as the two prompts agree (same tokens, and
    /// the same input embeddings at the same positions), and leaves this prompt's there for the next
    /// call. Returns the scores and how many prompt positions were reused.
    public func score(
        prefix: [Int32], continuations: [[Int32]], inputEmbeddings: [Int: [Float]] = [:], reusing promptCache: inout PromptCache?
    ) throws -> (scores: [Double], reused: Int) {
        precondition(!prefix.isEmpty, "scoring needs a non-empty prefix")
        let branchTokens = continuations.reduce(0) { $0 + max(0, $1.count - 1) }
        var reused = 0
        var cache: KVCache
        let needed = prefix.count + branchTokens
        if var previous = promptCache {
            reused = min(previous.agreement(with: prefix, inputEmbeddings: inputEmbeddings), prefix.count - 1)
            previous.cache.truncate(to: reused)
            cache = previous.cache.capacity >= needed
                ? previous.cache : previous.cache.resized(capacity: needed + PromptCache.headroom, configuration: decoder.configuration)
        } else {
            cache = KVCache(configuration: decoder.configuration, capacity: needed + PromptCache.headroom)
        }
        promptCache = nil
        var remaining: [Int: [Float]] = [:]
        for (position, vector) in inputEmbeddings where position >= reused { remaining[position - reused] = vector }
        let prefixLogits = try decoder.forward(tokens: Array(prefix[reused...]), cache: &cache, inputEmbeddings: remaining)
        let branches = continuations.filter { $0.count > 1 }.map { Array($0.dropLast()) }
        let logits = branches.isEmpty ? [] : try decoder.forwardBranches(branches, cache: &cache)
        cache.truncate(to: prefix.count)
        promptCache = PromptCache(cache: cache, tokens: prefix, inputEmbeddings: inputEmbeddings)
        let vocabulary = decoder.configuration.vocabularySize
        var row = 0
        let scores = continuations.map { continuation -> Double in
            guard let first = continuation.first else { return 0 }
            var total = Self.logSoftmax(prefixLogits, at: first)
            for token in continuation.dropFirst() {
                total += Self.logSoftmax(Array(logits[(row * vocabulary)..<((row + 1) * vocabulary)]), at: token)
                row += 1
            }
            return total
        }
        return (scores, reused)
    }

    static func penalize(_ logits: inout [Float], seen: Set<Int32>, penalty: Float) {
        guard penalty != 1 else { return }
        for token in seen where Int(token) < logits.count {
            let value = logits[Int(token)]
            logits[Int(token)] = value > 0 ? value / penalty : value * penalty
        }
    }

    /// The highest logit's index; ties go to the smaller id (as torch.argmax).
    static func argmax(_ logits: [Float]) -> Int32 {
        var best = 0
        for index in logits.indices where logits[index] > logits[best] { best = index }
        return Int32(best)
    }

    static func sample(_ logits: [Float], options: GenerationOptions, generator: inout SplitMix64) -> Int32 {
        let temperature = max(options.temperature, 1e-5)
        var candidates = logits.indices.map { (index: $0, logit: logits[$0] / temperature) }
        candidates.sort { $0.logit > $1.logit }
        if options.topK > 0 { candidates = Array(candidates.prefix(options.topK)) }
        let maximum = candidates[0].logit
        var probabilities = candidates.map { Double(Foundation.exp($0.logit - maximum)) }
        let total = probabilities.reduce(0, +)
        probabilities = probabilities.map { $0 / total }
        if options.topP < 1 {
            var cumulative = 0.0
            var keep = 0
            while keep < probabilities.count {
                cumulative += probabilities[keep]
                keep += 1
                if cumulative >= Double(options.topP) { break }
            }
            candidates = Array(candidates.prefix(keep))
            probabilities = Array(probabilities.prefix(keep))
            let kept = probabilities.reduce(0, +)
            probabilities = probabilities.map { $0 / kept }
        }
        var draw = Double.random(in: 0..<1, using: &generator)
        for (index, probability) in probabilities.enumerated() {
            draw -= probability
            if draw < 0 { return Int32(candidates[index].index) }
        }
        return Int32(candidates[candidates.count - 1].index)
    }

    /// log softmax(logits)[token], in Double.
    static func logSoftmax(_ logits: [Float], at token: Int32) -> Double {
        let maximum = logits.max() ?? 0
        let sum = logits.reduce(0.0) { $0 + Foundation.exp(Double($1 - maximum)) }
        return Double(logits[Int(token)] - maximum) - Foundation.log(sum)
    }
}

/// The keys and values of the last prompt `TextGenerator.score` ran, with what it was, so that a
/// next prompt sharing its beginning (a session's next turn: same user, same history) runs only
/// what differs. One per caller; not shared between concurrent calls.
public struct PromptCache: Sendable {
    /// Positions allocated beyond the prompt and its branches, so that a slightly longer next
    /// prompt still fits.
    static let headroom = 64

    var cache: KVCache
    var tokens: [Int32]
    var inputEmbeddings: [Int: [Float]]

    /// Bytes of keys and values held.
    public var byteCount: Int { cache.byteCount }

    /// How many leading positions of a new prompt are the same as this one's.
    func agreement(with prefix: [Int32], inputEmbeddings other: [Int: [Float]]) -> Int {
        var length = 0
        while length < min(tokens.count, prefix.count), tokens[length] == prefix[length], inputEmbeddings[length] == other[length] {
            length += 1
        }
        return length
    }
}
