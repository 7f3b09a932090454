import Datasets
import Foundation
import Models
import Synchronization

/// One session's conversation with the LM, kept between turns: the KV cache of every token so
/// far (system prompt, earlier turns and answers), so that a new turn only runs its own tokens.
struct ChatCache: SessionCacheable {
    var cache: KVCache
    /// Tokens produced but not yet run (the last generated token, the end-of-turn markers): the
    /// next turn runs them first.
    var pending: [Int32] = []

    var byteCount: Int { cache.byteCount }
}

/// The LM's answer to one turn and what producing it cost.
public struct Answer: Sendable, Equatable {
    public var text: String
    /// The LM's tokens (after the daemon's opening), the stop token included when it ended there.
    public var tokens: [Int32]
    public var generatedTokens: Int
    /// Tokens of this turn's prompt that were run (the rest came from the session's cache).
    public var promptTokens: Int
    /// Tokens already in the session's cache when the turn started.
    public var reusedTokens: Int
    /// From the start of answering to the first token, and to the last.
    public var firstTokenMilliseconds: Double
    public var totalMilliseconds: Double
    /// False when cancellation stopped it between tokens.
    public var finished: Bool
}

/// Writes the answer to a turn with the LM (ChatML for instruct models). The user's words are the
/// user's message; the assistant's reply is opened by the daemon with the top pick and its facets
/// (`opening(items:)`) and the LM finishes the sentence. The opening keeps the answer about the ranked items: a small LM such as
/// SmolLM2-135M, asked to write the whole answer from a list, echoes the list or invents films.
/// The answer streams piece by piece, opening first. Each session keeps its conversation's KV
/// cache (`SessionCacheStore`), so a second turn runs only its new tokens; a conversation that
/// outgrows the cache starts over from the system prompt.
public struct AnswerWriter: Sendable {
    public let languageModel: LanguageModel
    /// "movie", "game", "item": how the system prompt names what is recommended.
    public let itemNoun: String
    let caches: SessionCacheStore<ChatCache>

    /// Tokens one session's conversation may hold before it starts over.
    let tokensPerSession: Int

    public init(models: ConversationModels, languageModel: LanguageModel, itemNoun: String) {
        self.languageModel = languageModel
        self.itemNoun = itemNoun
        caches = models.chatCaches
        tokensPerSession = models.chatCacheTokens
    }

    /// The system prompt of every conversation.
    public var systemPrompt: String {
        "You are a friendly \(itemNoun) recommender. Answer in one or two short sentences."
    }

    /// The daemon's opening of the assistant's reply: the top pick, what it is by its facets, and
    /// the start of a sentence about it for the LM to finish ("How about Toy Story, an animation,
    /// children's and comedy movie? It's").
    public func opening(items: [CatalogItem]) -> String {
        guard let first = items.first else { return "" }
        let facets = first.metadata.keys.sorted().flatMap { first.metadata[$0]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            .map { $0.lowercased() }
        guard !facets.isEmpty else { return "How about \(first.title)? It's" }
        let listed = facets.count == 1 ? facets[0] : facets.dropLast().joined(separator: ", ") + " and " + facets.last!
        let article = "aeiou".contains(listed.first ?? "x") ? "an" : "a"
        return "How about \(first.title), \(article) \(listed) \(itemNoun)? It's"
    }

    /// The tokens that start every conversation (the system prompt).
    public var systemTokens: [Int32] {
        let system = languageModel.usesChatML ? "<|im_start|>system\n\(systemPrompt)<|im_end|>\n" : systemPrompt + "\n"
        return languageModel.tokenizer.encode(system, addSpecialTokens: true)
    }

    /// Characters of the user's message the LM reads (a long message is cut: the answer needs its
    /// gist, and the conversation cache has room for a few turns).
    public static let maxUserCharacters = 1000

    /// The tokens of one turn: the user's message and the assistant's opening.
    public func turnTokens(userText: String, items: [CatalogItem]) -> [Int32] {
        let user = String(userText.trimmingCharacters(in: .whitespacesAndNewlines).prefix(Self.maxUserCharacters))
        let text = (languageModel.usesChatML ? "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n" : user + "\n") + opening(items: items)
        return languageModel.tokenizer.encode(text, addSpecialTokens: false)
    }

    /// Tokens that close a turn whose answer ended with `answer` (run first by the next turn).
    public func closingTokens(after answer: [Int32]) -> [Int32] {
        guard languageModel.usesChatML else { return [] }
        let ended = answer.last.map { languageModel.stopTokens.contains($0) } ?? false
        return (ended ? [] : languageModel.tokenizer.encode("<|im_end|>", addSpecialTokens: false))
            + languageModel.tokenizer.encode("\n", addSpecialTokens: false)
    }

    /// The tokens of an earlier turn rebuilt from what the session remembers (the user's words and
    /// the answer's text), closed as a finished turn.
    public func earlierTurnTokens(userText: String, answer: String) -> [Int32] {
        let user = String(userText.trimmingCharacters(in: .whitespacesAndNewlines).prefix(Self.maxUserCharacters))
        let text = languageModel.usesChatML
            ? "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n\(answer)<|im_end|>\n" : "\(user)\n\(answer)\n"
        return languageModel.tokenizer.encode(text, addSpecialTokens: false)
    }

    /// Answers a turn of session `session`; `onText` receives each new piece of text and returns
    /// false to stop (cancellation). Without the session's cache (its first turn, or after eviction
    /// or a restart) the conversation is rebuilt from `earlierTurns` (oldest first; the oldest are
    /// left out when they do not fit), so the LM always reads it; with the cache only this turn runs.
    /// With `remember` false (an explanation aside), the turn neither uses nor changes the cache.
    public func answer(
        session: String, userText: String, items: [CatalogItem], maxTokens: Int,
        earlierTurns: [(userText: String, answer: String)] = [], remember: Bool = true, onText: (String) -> Bool
    ) throws -> Answer {
        let started = DispatchTime.now().uptimeNanoseconds
        let tokenizer = languageModel.tokenizer
        let configuration = languageModel.decoder.configuration
        let capacity = min(tokensPerSession, configuration.maxPositions)
        let opening = opening(items: items)
        let turnTokens = turnTokens(userText: userText, items: items)
        var chat = (remember ? caches.take(session) : nil) ?? ChatCache(cache: KVCache(configuration: configuration, capacity: capacity))
        var runTokens = chat.pending + turnTokens
        if chat.cache.count == 0 || chat.cache.count + runTokens.count + maxTokens > capacity {
            chat = ChatCache(cache: KVCache(configuration: configuration, capacity: capacity))
            var history: [Int32] = []
            for turn in earlierTurns.reversed() {
                let tokens = earlierTurnTokens(userText: turn.userText, answer: turn.answer)
                guard systemTokens.count + tokens.count + history.count + turnTokens.count + maxTokens <= capacity else { break }
                history = tokens + history
            }
            runTokens = systemTokens + history + turnTokens
            guard runTokens.count + 1 < capacity else {
                throw DecoderError.contextFull(limit: capacity)
            }
        }
        let reused = chat.cache.count
        var options = GenerationOptions()
        options.maxNewTokens = max(1, min(maxTokens, capacity - chat.cache.count - runTokens.count))
        options.greedy = true
        options.repetitionPenalty = 1.2
        options.penalizePrompt = false
        options.minNewTokens = 3
        options.stopTokens = languageModel.stopTokens
        var pendingBytes: [UInt8] = []
        var text = opening
        var firstToken: UInt64?
        var stopped = false
        var continuation = ""
        let generated = try TextGenerator(decoder: languageModel.decoder).generate(
            after: runTokens, cache: &chat.cache, options: options
        ) { token in
            if firstToken == nil {
                firstToken = DispatchTime.now().uptimeNanoseconds
                if !onText(opening) {
                    stopped = true
                    return false
                }
            }
            let piece = tokenizer.decodeIncrementally([token], pending: &pendingBytes, skipSpecialTokens: true)
            text += piece
            continuation += piece
            if !piece.isEmpty && !onText(piece) {
                stopped = true
                return false
            }
            return !Self.endsSentence(continuation)
        }
        let rest = tokenizer.finishIncrementalDecoding(&pendingBytes)
        if !rest.isEmpty {
            text += rest
            if !stopped { _ = onText(rest) }
        }
        chat.pending = Array(generated.suffix(1)) + closingTokens(after: generated)
        if remember { caches.put(session, chat) }
        let now = DispatchTime.now().uptimeNanoseconds
        return Answer(
            text: text.trimmingCharacters(in: .whitespacesAndNewlines), tokens: generated, generatedTokens: generated.count,
            promptTokens: runTokens.count, reusedTokens: reused,
            firstTokenMilliseconds: Double((firstToken ?? now) - started) / 1e6, totalMilliseconds: Double(now - started) / 1e6,
            finished: !stopped)
    }
}

extension AnswerWriter {
    /// Whether the LM's continuation has finished a sentence: at least a few words, ending in a
    /// terminator or holding a line break.
    static func endsSentence(_ text: String) -> Bool {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.count >= 12 else { return false }
        return text.contains("\n") || trimmed.last.map { ".!?".contains($0) } == true
    }
}
