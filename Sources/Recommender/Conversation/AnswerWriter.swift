import Datasets
import Foundation
import JSON
import Models
import Synchronization
import Tokenizers

/// The LM's answer to one turn and what producing it cost.
public struct Answer: Sendable, Equatable {
    public var text: String
    /// The tokens of the sentence the LM chose (after the daemon's opening).
    public var tokens: [Int32]
    /// How many: the LM scored them rather than sampled them, so nothing it says is its own.
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

/// What an answer may say about the top pick besides its catalog entry: why it was ranked.
public struct AnswerGrounds: Sendable, Equatable {
    /// The history item the pick's vector is closest to (what it resembles), if any.
    public var resembles: CatalogItem?
    /// Facets the user asked for that the pick has (catalog spelling).
    public var matchedFacets: [String]

    public init(resembles: CatalogItem? = nil, matchedFacets: [String] = []) {
        self.resembles = resembles
        self.matchedFacets = matchedFacets
    }
}

/// Writes the answer to a turn so that it never invents: every sentence is built from the catalog
/// (title, year, facets, description) and the session (the history item the pick resembles, the
/// facets asked for), and the LM chooses among them. The daemon opens with the top pick ("How
/// about Toy Story (1995)?", streamed at once); the LM, reading the conversation (ChatML for
/// instruct models), scores each grounded sentence that could follow and the likeliest per token
/// is sent; a runner-up closes the answer ("Or Babe, a children's, comedy and drama movie."). A
/// small LM such as SmolLM2-135M, left to finish a sentence itself, writes claims nobody made
/// ("It's a favorite among my team"). Each session keeps its conversation's keys and values
/// (`SessionCacheStore`), so a second turn runs only the tokens the first did not.
public struct AnswerWriter: Sendable {
    public let languageModel: LanguageModel
    /// "movie", "game", "item": how the system prompt and the sentences name what is recommended.
    public let itemNoun: String
    let caches: SessionCacheStore<PromptCache>

    /// Tokens one session's conversation may hold before its oldest turns are left out.
    let tokensPerSession: Int

    public init(models: ConversationModels, languageModel: LanguageModel, itemNoun: String) {
        self.languageModel = languageModel
        self.itemNoun = itemNoun
        caches = models.chatCaches
        tokensPerSession = models.chatCacheTokens
    }

    /// Room kept beyond this turn's longest choice (its scoring branches and headroom).
    static let reservedTokens = 16

    /// The system prompt of every conversation.
    public var systemPrompt: String {
        "You are a friendly \(itemNoun) recommender. Answer in one or two short sentences."
    }

    /// The item's facets in reading order, lowercased ("animation", "children's").
    static func facets(of item: CatalogItem) -> [String] {
        item.facets.map { $0.lowercased() }
    }

    /// "a", "b and c", "a, b and c".
    static func listed(_ words: [String]) -> String {
        words.count <= 1 ? words.first ?? "" : words.dropLast().joined(separator: ", ") + " and " + words.last!
    }

    /// "an animation, children's and comedy movie" (nil without facets).
    func kind(of item: CatalogItem) -> String? {
        let facets = Self.facets(of: item)
        guard !facets.isEmpty else { return nil }
        let listed = Self.listed(facets)
        return ("aeiou".contains(listed.first ?? "x") ? "an " : "a ") + listed + " " + itemNoun
    }

    /// The first sentence of the item's description when it says more than its year and facets.
    static func describing(_ item: CatalogItem) -> String? {
        let text = item.description.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.hasPrefix("Year:"), !text.hasPrefix("Genres:") else { return nil }
        let end = text.firstIndex { ".!?".contains($0) }.map { text.index(after: $0) } ?? text.endIndex
        let sentence = String(text[..<end]).trimmingCharacters(in: .whitespaces)
        guard sentence.split(separator: " ").count >= 4, sentence.count <= 200 else { return nil }
        return ".!?".contains(sentence.last ?? "x") ? sentence : sentence + "."
    }

    /// A catalog title as a sentence reads it: MovieLens's "Sword in the Stone, The" is "The Sword
    /// in the Stone" (the same words).
    static func readable(_ title: String) -> String {
        for article in ["The", "A", "An"] where title.hasSuffix(", " + article) {
            return article + " " + title.dropLast(article.count + 2)
        }
        return title
    }

    /// The daemon's opening of the answer: the top pick and its year ("How about Toy Story (1995)?").
    public func opening(items: [CatalogItem]) -> String {
        guard let first = items.first else { return "" }
        return "How about \(Self.readable(first.title))" + (first.year.map { " (\($0))" } ?? "") + "?"
    }

    /// The grounded sentences that may follow the opening, the LM choosing one. Each gives the
    /// strongest reason there is: the facets asked for, else the history item the pick resembles,
    /// else what the catalog says it is.
    public func choices(items: [CatalogItem], grounds: AnswerGrounds) -> [String] {
        guard let first = items.first else { return [] }
        let kind = kind(of: first)
        let matched = Self.listed(grounds.matchedFacets.map { $0.lowercased() })
        let resembles = grounds.resembles.map { Self.readable($0.title) }
        var choices: [String] = []
        if !matched.isEmpty {
            choices.append("It has the \(matched) you asked for.")
            if let kind { choices.append("It's \(kind), with the \(matched) you asked for.") }
            if let resembles { choices.append("It has the \(matched) you asked for, and it is close to \(resembles).") }
            choices.append("You asked for \(matched), and this one has it.")
        } else if let resembles {
            if let kind { choices.append("It's \(kind), close to \(resembles) from your history.") }
            choices.append("It is close to \(resembles), from your history.")
            choices.append("If you liked \(resembles), this one is close to it.")
        } else {
            if let kind { choices.append("It's \(kind).") }
            if let year = first.year { choices.append("It came out in \(year).") }
        }
        if let description = Self.describing(first) { choices.append(description) }
        return choices
    }

    /// The closing sentence naming the runner-up ("Or Babe, a children's, comedy and drama movie."), nil with one item.
    public func runnerUp(items: [CatalogItem]) -> String? {
        guard items.count > 1 else { return nil }
        let second = items[1]
        return "Or \(Self.readable(second.title))" + (kind(of: second).map { ", \($0)" } ?? "") + "."
    }

    /// The tokens that start every conversation (the system prompt).
    public var systemTokens: [Int32] {
        let system = languageModel.usesChatML ? "<|im_start|>system\n\(systemPrompt)<|im_end|>\n" : systemPrompt + "\n"
        return languageModel.tokenizer.encode(system, addSpecialTokens: true)
    }

    /// The tokens of one turn: the user's message and the assistant's opening.
    public func turnTokens(userText: String, items: [CatalogItem]) -> [Int32] {
        let user = ConversationMemory.readable(userText)
        let text = (languageModel.usesChatML ? "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n" : user + "\n") + opening(items: items)
        return languageModel.tokenizer.encode(text, addSpecialTokens: false)
    }

    /// The tokens of an earlier turn rebuilt from what the session remembers (the user's words and
    /// the answer's text), closed as a finished turn.
    public func earlierTurnTokens(userText: String, answer: String) -> [Int32] {
        let user = ConversationMemory.readable(userText)
        let text = languageModel.usesChatML
            ? "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n\(answer)<|im_end|>\n" : "\(user)\n\(answer)\n"
        return languageModel.tokenizer.encode(text, addSpecialTokens: false)
    }

    /// The conversation the LM reads for this turn: the system prompt, as many of `earlierTurns`
    /// (oldest first) as fit with room for `reserve` more tokens, and this turn.
    func conversationTokens(userText: String, items: [CatalogItem], earlierTurns: [(userText: String, answer: String)], reserve: Int) throws
        -> [Int32]
    {
        let capacity = min(tokensPerSession, languageModel.decoder.configuration.maxPositions)
        let turn = turnTokens(userText: userText, items: items)
        var history: [Int32] = []
        for earlier in earlierTurns.reversed() {
            let tokens = earlierTurnTokens(userText: earlier.userText, answer: earlier.answer)
            guard systemTokens.count + tokens.count + history.count + turn.count + reserve <= capacity else { break }
            history = tokens + history
        }
        let tokens = systemTokens + history + turn
        guard tokens.count + reserve <= capacity else { throw DecoderError.contextFull(limit: capacity) }
        return tokens
    }

    /// Answers a turn of session `session`: the opening goes to `onText` at once, then the LM's
    /// choice among `choices(items:grounds:)` that fit `maxTokens`, then the runner-up; `onText`
    /// returns false to stop (cancellation). The LM reads the conversation rebuilt from
    /// `earlierTurns` (oldest first; the oldest are left out when they do not fit); the session's
    /// cached keys and values cover what the previous turn ran, so only the rest runs. With
    /// `remember` false (an explanation aside), the turn neither uses nor changes the cache.
    public func answer(
        session: String, userText: String, items: [CatalogItem], grounds: AnswerGrounds = AnswerGrounds(), maxTokens: Int,
        earlierTurns: [(userText: String, answer: String)] = [], remember: Bool = true, onText: (String) -> Bool
    ) throws -> Answer {
        let started = DispatchTime.now().uptimeNanoseconds
        let tokenizer = languageModel.tokenizer
        let opening = opening(items: items)
        let candidates = choices(items: items, grounds: grounds).map { (text: $0, tokens: tokenizer.encode(" " + $0, addSpecialTokens: false)) }
            .filter { $0.tokens.count <= maxTokens }
        let reserve = (candidates.map(\.tokens.count).max() ?? 0) + Self.reservedTokens
        let prompt = try conversationTokens(userText: userText, items: items, earlierTurns: earlierTurns, reserve: reserve)
        let firstPiece = DispatchTime.now().uptimeNanoseconds
        guard onText(opening) else {
            return Answer(
                text: opening, tokens: [], generatedTokens: 0, promptTokens: 0, reusedTokens: 0,
                firstTokenMilliseconds: Double(firstPiece - started) / 1e6, totalMilliseconds: Double(firstPiece - started) / 1e6, finished: false)
        }
        var text = opening
        var chosen: [Int32] = []
        var promptTokens = 0
        var reused = 0
        var finished = true
        if !candidates.isEmpty {
            var cache = remember ? caches.take(session) : nil
            let scored = try TextGenerator(decoder: languageModel.decoder).score(
                prefix: prompt, continuations: candidates.map(\.tokens), reusing: &cache)
            if remember, let cache { caches.put(session, cache) }
            reused = scored.reused
            promptTokens = prompt.count - reused
            // The likeliest per token, so that a longer sentence is not penalised for its length;
            // ties go to the earlier (stronger) reason.
            var best = 0
            for index in candidates.indices.dropFirst()
            where scored.scores[index] / Double(candidates[index].tokens.count) > scored.scores[best] / Double(candidates[best].tokens.count) {
                best = index
            }
            chosen = candidates[best].tokens
            text += " " + candidates[best].text
            finished = onText(" " + candidates[best].text)
        }
        if finished, let closing = runnerUp(items: items) {
            text += " " + closing
            finished = onText(" " + closing)
        }
        let now = DispatchTime.now().uptimeNanoseconds
        return Answer(
            text: text, tokens: chosen, generatedTokens: chosen.count, promptTokens: promptTokens, reusedTokens: reused,
            firstTokenMilliseconds: Double(firstPiece - started) / 1e6, totalMilliseconds: Double(now - started) / 1e6, finished: finished)
    }
}
