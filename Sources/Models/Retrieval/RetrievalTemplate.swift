import Checkpoints
import Datasets
import Foundation
import Numerics
import Tokenizers

/// The words of LLM-SRec's two prompts (Sein-Kim/LLM-SRec `models/seqllm_model.py`), in the
/// nouns of a domain. The LM reads
///
///     user: historyIntro + "T₁"[cf₁] + separator + "T₂"[cf₂] + … + historyOutro + [user] + [UserOut]
///     item: itemIntro + "T" + " (F₁, F₂)" + itemOutro + [cf][ItemOut]
///
/// where `[cfᵢ]` is one soft token (the item's SASRec embedding through the item projector; left
/// out for an item without interactions), `[user]` SASRec's user vector of the whole history
/// through the user projector when `userToken` is on (not in LLM-SRec: A-LLMRec's stage-2 prompt
/// carries this user representation; absent otherwise), ` (F₁, F₂)` the item's facets (`CatalogItem.facets`) when
/// `itemFacets` is on (not in LLM-SRec: it lets words and items without interactions meet on them) and `[UserOut]`/`[ItemOut]` are learnt input vectors whose
/// last-layer states become the user and item vectors. The user's words of a session, when there
/// are any, go between the history and `historyOutro`, after `wishesIntro`. An item's words all
/// come before its trainable inputs, so in training their keys and values are computed once per
/// item and reused (no gradient reaches them).
///
/// JSON form (every key optional, missing keys take the `movies` values): `{"historyIntro": …,
/// "historyOutro": …, "wishesIntro": …, "itemIntro": …, "itemOutro": …, "separator": …,
/// "quote": …, "historyCount": 10, "noun": "movie", "itemFacets": false, "userToken": false}` (`itemFacets`
/// and `userToken` written only when on, so templates without them keep their fingerprints).
public struct RetrievalTemplate: Sendable, Equatable {
    public var historyIntro: String
    public var historyOutro: String
    public var wishesIntro: String
    public var itemIntro: String
    public var itemOutro: String
    public var separator = ", "
    public var quote = "\""
    /// Most recent history items shown (10 in LLM-SRec).
    public var historyCount = 10
    /// What the domain calls an item ("movie"), for answers and prompts.
    public var noun: String
    /// Whether item prompts name the item's facets after its title.
    public var itemFacets = false
    /// Whether user prompts carry SASRec's user vector as a soft token before `[UserOut]`.
    public var userToken = false

    public init(historyIntro: String, historyOutro: String, wishesIntro: String, itemIntro: String, itemOutro: String, noun: String) {
        self.historyIntro = historyIntro
        self.historyOutro = historyOutro
        self.wishesIntro = wishesIntro
        self.itemIntro = itemIntro
        self.itemOutro = itemOutro
        self.noun = noun
    }

    private static func domain(verb: String, noun: String) -> RetrievalTemplate {
        RetrievalTemplate(
            historyIntro: "This user has \(verb) the following \(noun)s in this order: ",
            historyOutro: ". Based on this sequence, the user representation is",
            wishesIntro: ". The user now says: ",
            itemIntro: "The \(noun) ", itemOutro: ", as an item representation, is", noun: noun)
    }

    /// The A-LLMRec domains' nouns (`Movies_and_TV`, `Video_Games`, other Amazon categories,
    /// anything else) under the names `movies`, `games`, `items`, `plain`.
    public static let builtIn: [String: RetrievalTemplate] = [
        "movies": domain(verb: "watched", noun: "movie"),
        "games": domain(verb: "played", noun: "game"),
        "items": domain(verb: "bought", noun: "item"),
        "plain": RetrievalTemplate(historyIntro: "", historyOutro: "", wishesIntro: " ", itemIntro: "", itemOutro: "", noun: "item"),
    ]

    /// A built-in name or the path of a JSON template file.
    public static func named(_ nameOrPath: String) throws(RetrievalError) -> RetrievalTemplate {
        if let template = builtIn[nameOrPath] { return template }
        guard let data = try? ModelFile.contents(of: nameOrPath) else {
            throw .invalidTemplate(
                "'\(nameOrPath)' is neither a built-in template (\(builtIn.keys.sorted().joined(separator: ", "))) nor a readable file")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidTemplate("\(nameOrPath) is not a JSON object")
        }
        return try RetrievalTemplate(jsonObject: object, source: nameOrPath)
    }

    /// A template from its JSON object (`source` names it in errors).
    public init(jsonObject object: [String: Any], source: String) throws(RetrievalError) {
        var template = Self.builtIn["movies"]!
        let strings: [(String, WritableKeyPath<RetrievalTemplate, String>)] = [
            ("historyIntro", \.historyIntro), ("historyOutro", \.historyOutro), ("wishesIntro", \.wishesIntro), ("itemIntro", \.itemIntro),
            ("itemOutro", \.itemOutro), ("separator", \.separator), ("quote", \.quote), ("noun", \.noun),
        ]
        let known = Set(strings.map(\.0) + ["historyCount", "itemFacets", "userToken"])
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidTemplate("\(source): unknown key '\(unknown)'")
        }
        for (key, path) in strings {
            guard let value = object[key] else { continue }
            guard let text = value as? String else { throw .invalidTemplate("\(source): '\(key)' must be a string") }
            template[keyPath: path] = text
        }
        if let value = object["historyCount"] {
            guard let count = value as? Int, count >= 1 else { throw .invalidTemplate("\(source): 'historyCount' must be a positive integer") }
            template.historyCount = count
        }
        for (key, path) in [("itemFacets", \RetrievalTemplate.itemFacets), ("userToken", \.userToken)] {
            guard let value = object[key] else { continue }
            guard let flag = value as? Bool else { throw .invalidTemplate("\(source): '\(key)' must be true or false") }
            template[keyPath: path] = flag
        }
        self = template
    }

    /// The template as the JSON object `init(jsonObject:source:)` reads.
    public var jsonObject: [String: Any] {
        var object: [String: Any] = [
            "historyIntro": historyIntro, "historyOutro": historyOutro, "wishesIntro": wishesIntro, "itemIntro": itemIntro,
            "itemOutro": itemOutro, "separator": separator, "quote": quote, "historyCount": historyCount, "noun": noun,
        ]
        if itemFacets { object["itemFacets"] = true }
        if userToken { object["userToken"] = true }
        return object
    }

    /// FNV-1a of the template's JSON (sorted keys): identifies the wording a model was trained with.
    public var fingerprint: String {
        let data = (try? JSONSerialization.data(withJSONObject: jsonObject, options: [.sortedKeys])) ?? Data()
        var hash = FNV1a64()
        hash.combine(data)
        return hash.hex
    }
}

/// One tokenized retrieval prompt: token ids (soft positions hold a placeholder 0), the positions
/// of the items' collaborative soft tokens in prompt order with the dense item id behind each, and
/// the output position (the last token: `[UserOut]` or `[ItemOut]`), and in a user prompt of a
/// template with `userToken` the slot of SASRec's user vector.
public struct RetrievalPrompt: Sendable, Equatable {
    public var tokens: [Int32]
    public var softTokens: [(position: Int, item: Int32)]
    /// Where SASRec's user vector of the history ([cf], before the user projector) goes.
    public struct UserSlot: Sendable, Equatable {
        public var position: Int
        public var vector: [Float]

        public init(position: Int, vector: [Float]) {
            self.position = position
            self.vector = vector
        }
    }
    /// nil: no user-vector token (LLM-SRec's prompts, and every item prompt).
    public var userSlot: UserSlot?
    public var outputPosition: Int { tokens.count - 1 }
    /// Tokens before the first trainable input (a soft token, the user-vector token or the output token): text whose
    /// keys and values no gradient reaches.
    public var frozenPrefixLength: Int { softTokens.first?.position ?? userSlot?.position ?? outputPosition }
    /// In a user prompt with the user's words: the position of the first token of the words'
    /// segment (the wishes intro, the words, the history outro); nil without words.
    public var wordsStart: Int?
    /// The words' segment, up to the user-vector token or else the output token: the positions whose
    /// final states the word head reads (`RetrievalWordHead`); nil without words.
    public var wordPositions: Range<Int>? { wordsStart.map { $0..<(userSlot?.position ?? outputPosition) } }

    public init(tokens: [Int32], softTokens: [(position: Int, item: Int32)], wordsStart: Int? = nil, userSlot: UserSlot? = nil) {
        self.tokens = tokens
        self.softTokens = softTokens
        self.wordsStart = wordsStart
        self.userSlot = userSlot
    }

    public static func == (a: RetrievalPrompt, b: RetrievalPrompt) -> Bool {
        a.tokens == b.tokens && a.softTokens.map(\.position) == b.softTokens.map(\.position) && a.softTokens.map(\.item) == b.softTokens.map(\.item)
            && a.wordsStart == b.wordsStart && a.userSlot == b.userSlot
    }
}

/// Builds `RetrievalPrompt`s with an LM's tokenizer. Text between soft tokens is tokenized piece by
/// piece, so a title reads the same in every prompt.
public struct RetrievalPromptBuilder: Sendable {
    public let template: RetrievalTemplate
    public let tokenizer: ByteLevelBPETokenizer
    /// Item titles by dense id (index 0 unused).
    public let titles: [String]
    /// Item facets by dense id (index 0 unused; empty when not given), for templates with `itemFacets`.
    public let facets: [[String]]

    public init(template: RetrievalTemplate, tokenizer: ByteLevelBPETokenizer, titles: [String], facets: [[String]] = []) {
        self.template = template
        self.tokenizer = tokenizer
        self.titles = titles
        self.facets = facets
    }

    /// A builder over `catalog`'s titles and facets (dense ids).
    public init(template: RetrievalTemplate, tokenizer: ByteLevelBPETokenizer, catalog: Catalog) {
        self.init(
            template: template, tokenizer: tokenizer, titles: ["No Title"] + catalog.items.map(\.title), facets: [[]] + catalog.items.map(\.facets))
    }

    /// The facets of dense item `item` (empty when the builder has none for it).
    public func facets(of item: Int32) -> [String] { Int(item) < facets.count ? facets[Int(item)] : [] }

    private enum Piece {
        case text(String)
        case soft(Int32)
        /// Text that starts the user's words' segment (tokenized with the text around it).
        case words(String)
        /// SASRec's user vector [cf].
        case user([Float])
    }

    /// One item as a prompt shows it: its title, the item whose SASRec row becomes its soft token
    /// (nil: read by title alone, as an item without interactions or one added at run time), and its
    /// facets (item prompts show them with `RetrievalTemplate.itemFacets`).
    public struct Entry: Sendable, Hashable {
        public var title: String
        public var softItem: Int32?
        public var facets: [String]

        public init(title: String, softItem: Int32?, facets: [String] = []) {
            self.title = title
            self.softItem = softItem
            self.facets = facets
        }
    }

    /// The user prompt over the template's count of most recent `history` items (oldest first);
    /// items in `withoutSoftToken` appear by title only. `wishes`, when not empty, is what the user
    /// said this session. `userVector` is SASRec's user vector of the history [cf]: required with a
    /// `userToken` template, ignored otherwise.
    public func userPrompt(history: [Int32], wishes: String? = nil, withoutSoftToken: Set<Int32> = [], userVector: [Float]? = nil) -> RetrievalPrompt {
        userPrompt(
            entries: history.map { Entry(title: titles[Int($0)], softItem: withoutSoftToken.contains($0) ? nil : $0) }, wishes: wishes,
            userVector: userVector)
    }

    /// The user prompt over the template's count of most recent `entries` (oldest first).
    public func userPrompt(entries: [Entry], wishes: String? = nil, userVector: [Float]? = nil) -> RetrievalPrompt {
        precondition(!template.userToken || userVector != nil, "a userToken template needs SASRec's user vector")
        let t = template
        var pieces: [Piece] = [.text(t.historyIntro)]
        for (index, entry) in entries.suffix(t.historyCount).enumerated() {
            pieces.append(.text((index > 0 ? t.separator : "") + t.quote + entry.title + t.quote))
            if let item = entry.softItem { pieces.append(.soft(item)) }
        }
        if let wishes, !wishes.isEmpty { pieces.append(.words(t.wishesIntro + wishes)) }
        pieces.append(.text(t.historyOutro))
        if t.userToken, let userVector { pieces.append(.user(userVector)) }
        return build(pieces)
    }

    /// The item prompt; `softToken` false leaves the collaborative token out (an item without
    /// interactions, or CF-token dropout in training).
    public func itemPrompt(_ item: Int32, softToken: Bool) -> RetrievalPrompt {
        itemPrompt(Entry(title: titles[Int(item)], softItem: softToken ? item : nil, facets: facets(of: item)))
    }

    /// The item prompt of `entry` (title, its facets with `itemFacets`, then its soft token when it has one).
    public func itemPrompt(_ entry: Entry) -> RetrievalPrompt {
        let t = template
        let shown = t.itemFacets && !entry.facets.isEmpty ? " (" + entry.facets.joined(separator: ", ") + ")" : ""
        var pieces: [Piece] = [.text(t.itemIntro + t.quote + entry.title + t.quote + shown + t.itemOutro)]
        if let item = entry.softItem { pieces.append(.soft(item)) }
        return build(pieces)
    }

    private func build(_ pieces: [Piece]) -> RetrievalPrompt {
        var tokens = tokenizer.prefixIDs
        var soft: [(Int, Int32)] = []
        var wordsStart: Int?
        var userSlot: RetrievalPrompt.UserSlot?
        var text = ""
        func flush() {
            if !text.isEmpty { tokens += tokenizer.encode(text, addSpecialTokens: false, parseSpecialTokens: false) }
            text = ""
        }
        for piece in pieces {
            switch piece {
            case .text(let segment): text += segment
            case .words(let segment):
                // Where the pending text's own tokens end; a merge across the boundary moves it by one.
                wordsStart = tokens.count + (text.isEmpty ? 0 : tokenizer.encode(text, addSpecialTokens: false, parseSpecialTokens: false).count)
                text += segment
            case .soft(let item):
                flush()
                soft.append((tokens.count, item))
                tokens.append(0)
            case .user(let vector):
                flush()
                userSlot = RetrievalPrompt.UserSlot(position: tokens.count, vector: vector)
                tokens.append(0)
            }
        }
        flush()
        tokens.append(0)
        return RetrievalPrompt(tokens: tokens, softTokens: soft, wordsStart: wordsStart, userSlot: userSlot)
    }
}

/// Errors of retrieval models, their files and inputs.
public enum RetrievalError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidTemplate(String)
    case invalidBundle(String)
    /// A file the retrieval tools read (paraphrases, ...) is missing or malformed.
    case invalidFile(String)
    case missingTensor(String)
    case shapeMismatch(name: String, expected: [Int], got: [Int])

    public var description: String {
        switch self {
        case .invalidTemplate(let reason): return "invalid retrieval template: \(reason)"
        case .invalidBundle(let reason): return "invalid retrieval bundle: \(reason)"
        case .invalidFile(let reason): return reason
        case .missingTensor(let name): return "retrieval weights have no tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let got): return "retrieval tensor '\(name)' has shape \(got), expected \(expected)"
        }
    }
}
