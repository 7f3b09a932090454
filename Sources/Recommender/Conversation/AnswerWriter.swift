import Datasets
import Foundation
import Models
import Synchronization

/// One session's conversation with the LM, kept between turns: the KV cache of every token so
/// far (system prompt, earlier turns and answers), so that a new turn only runs its own tokens.
struct ChatCache: Sendable {
    var cache: KVCache
    /// Tokens whose keys and values are in `cache`.
    var cachedTokens: Int { cache.count }
    /// Tokens produced but not yet run (the last generated token, the end-of-turn markers): the
    /// next turn runs them first.
    var pending: [Int32] = []
    var lastUse: UInt64 = 0
}

/// The sessions' chat caches, least recently used evicted beyond `sessions`. A cache is taken out
/// while a turn uses it and put back after, so two turns of one session never share one.
final class ChatCacheStore: Sendable {
    let sessions: Int
    let tokensPerSession: Int
    private let state = Mutex<(caches: [String: ChatCache], clock: UInt64)>(([:], 0))

    init(sessions: Int, tokensPerSession: Int) {
        self.sessions = sessions
        self.tokensPerSession = tokensPerSession
    }

    func take(_ session: String) -> ChatCache? {
        state.withLock { $0.caches.removeValue(forKey: session) }
    }

    func put(_ session: String, _ cache: ChatCache) {
        guard sessions > 0 else { return }
        state.withLock { state in
            state.clock += 1
            var cache = cache
            cache.lastUse = state.clock
            state.caches[session] = cache
            while state.caches.count > sessions, let oldest = state.caches.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                state.caches[oldest] = nil
            }
        }
    }

    func drop(_ session: String) { _ = state.withLock { $0.caches.removeValue(forKey: session) } }

    /// Sessions with a cache, and the bytes their caches hold.
    var usage: (sessions: Int, bytes: Int) {
        state.withLock { state in (state.caches.count, state.caches.values.reduce(0) { $0 + $1.cache.byteCount }) }
    }
}

/// The LM's answer to one turn and what producing it cost.
public struct Answer: Sendable, Equatable {
    public var text: String
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

/// Writes the LM's natural-language answer to a turn (ChatML for instruct models): the user's
/// words and the ranked items go in as the user's message, the answer streams token by token.
/// Each session keeps its conversation's KV cache (`ChatCacheStore`), so a second turn runs only
/// its new tokens; a conversation that outgrows the cache starts over from the system prompt.
public struct AnswerWriter: Sendable {
    public let languageModel: LanguageModel
    /// "movie", "game", "item": how the system prompt names what is recommended.
    public let itemNoun: String
    let caches: ChatCacheStore

    public init(models: ConversationModels, languageModel: LanguageModel, itemNoun: String) {
        self.languageModel = languageModel
        self.itemNoun = itemNoun
        caches = models.chatCaches
    }

    /// The system prompt of every conversation.
    public var systemPrompt: String {
        "You are a friendly \(itemNoun) recommender. Recommend from the numbered list only, by title, in one or two short sentences, and say why they fit what the user asked."
    }

    /// The user's message for one turn: their words and the items to talk about.
    public static func turnMessage(userText: String, items: [CatalogItem], noun: String) -> String {
        var message = userText.trimmingCharacters(in: .whitespacesAndNewlines)
        message += "\n\nThe \(noun)s to recommend:"
        for (rank, item) in items.enumerated() {
            let facets = item.description.isEmpty ? "" : " — \(item.description.prefix(120))"
            message += "\n\(rank + 1). \(item.title)\(facets)"
        }
        return message
    }

    /// Answers a turn of session `session`; `onText` receives each new piece of text and returns
    /// false to stop (cancellation).
    public func answer(
        session: String, userText: String, items: [CatalogItem], maxTokens: Int, onText: (String) -> Bool
    ) throws -> Answer {
        let started = DispatchTime.now().uptimeNanoseconds
        let tokenizer = languageModel.tokenizer
        let configuration = languageModel.decoder.configuration
        let capacity = min(caches.tokensPerSession, configuration.maxPositions)
        let turn = Self.turnMessage(userText: userText, items: items, noun: itemNoun)
        let turnText = languageModel.usesChatML ? "<|im_start|>user\n\(turn)<|im_end|>\n<|im_start|>assistant\n" : turn + "\n"
        let turnTokens = tokenizer.encode(turnText, addSpecialTokens: false)
        var chat = caches.take(session) ?? ChatCache(cache: KVCache(configuration: configuration, capacity: capacity))
        var runTokens = chat.pending + turnTokens
        if chat.cache.count == 0 || chat.cache.count + runTokens.count + maxTokens > capacity {
            chat = ChatCache(cache: KVCache(configuration: configuration, capacity: capacity))
            let system = languageModel.usesChatML ? "<|im_start|>system\n\(systemPrompt)<|im_end|>\n" : systemPrompt + "\n"
            runTokens = tokenizer.encode(system, addSpecialTokens: true) + turnTokens
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
        options.stopTokens = languageModel.stopTokens
        var pendingBytes: [UInt8] = []
        var text = ""
        var firstToken: UInt64?
        var stopped = false
        let generated = try TextGenerator(decoder: languageModel.decoder).generate(
            after: runTokens, cache: &chat.cache, options: options
        ) { token in
            if firstToken == nil { firstToken = DispatchTime.now().uptimeNanoseconds }
            let piece = tokenizer.decodeIncrementally([token], pending: &pendingBytes, skipSpecialTokens: true)
            text += piece
            if !piece.isEmpty && !onText(piece) {
                stopped = true
                return false
            }
            return true
        }
        let rest = tokenizer.finishIncrementalDecoding(&pendingBytes)
        if !rest.isEmpty {
            text += rest
            if !stopped { _ = onText(rest) }
        }
        let ended = generated.last.map { options.stopTokens.contains($0) } ?? false
        var pending = Array(generated.suffix(1))
        if !ended, languageModel.usesChatML { pending += tokenizer.encode("<|im_end|>", addSpecialTokens: false) }
        if languageModel.usesChatML { pending += tokenizer.encode("\n", addSpecialTokens: false) }
        chat.pending = pending
        caches.put(session, chat)
        let now = DispatchTime.now().uptimeNanoseconds
        return Answer(
            text: text.trimmingCharacters(in: .whitespacesAndNewlines), generatedTokens: generated.count,
            promptTokens: runTokens.count, reusedTokens: reused,
            firstTokenMilliseconds: Double((firstToken ?? now) - started) / 1e6, totalMilliseconds: Double(now - started) / 1e6,
            finished: !stopped)
    }
}
