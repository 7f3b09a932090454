import Checkpoints
import Foundation
import Numerics
import Tokenizers

/// The words around A-LLMRec's soft tokens (ghdtjr/A-LLMRec `models/a_llmrec_model.py` `pre_train_phase2`), as one value that a JSON file
/// can hold. The prompt the LM reads is
///
///     [user vector] userSuffix + historyIntro + H₁[slot],H₂[slot],… + candidatesIntro
///                   + C₁[slot],C₂[slot],… + answerIntro
///
/// where each Hᵢ/Cⱼ is `quote + title + quote` and `[slot]` is one soft token (the item's projected
/// stage-1 latent). The answer is `quote + title + quote` then the LM's end of sequence.
///
/// JSON form (every key optional; missing keys take the `movies` values except the two intros,
/// which default to empty): `{"userSuffix": …, "historyIntro": …, "candidatesIntro": …,
/// "answerIntro": …, "separator": …, "quote": …, "historyCount": 10, "candidateCount": 20,
/// "stripAroundSlots": true}`.
public struct PromptTemplate: Sendable, Equatable {
    public var userSuffix = " is a user representation."
    /// The original's A phrase ("This user has watched ").
    public var historyIntro: String
    /// The original's B phrase (" in the previous. Recommend one next movie …, ").
    public var candidatesIntro: String
    public var answerIntro = ". The recommendation is "
    public var separator = ","
    public var quote = "\""
    /// Most recent history items shown (10 in the original).
    public var historyCount = 10
    /// Candidates shown, the target among them (20 in the original).
    public var candidateCount = 20
    /// Strip whitespace on both sides of each soft token before tokenizing, as transformers 4.32's
    /// slow tokenizer did around A-LLMRec's added tokens (transformers 4.32's `GPT2Tokenizer`, which the original uses): " in the
    /// previous" after the last history slot is read as "in the previous".
    public var stripAroundSlots = true

    public init(historyIntro: String, candidatesIntro: String) {
        self.historyIntro = historyIntro
        self.candidatesIntro = candidatesIntro
    }

    /// The original's four phrasings (`Movies_and_TV`, `Video_Games`, `Luxury_Beauty`/`Toys_and_Games`,
    /// anything else) under the names `movies`, `games`, `items`, `plain`.
    public static let builtIn: [String: PromptTemplate] = [
        "movies": PromptTemplate(
            historyIntro: "This user has watched ",
            candidatesIntro: " in the previous. Recommend one next movie for this user to watch next from the following movie title set, "),
        "games": PromptTemplate(
            historyIntro: "This user has played ",
            candidatesIntro: " in the previous. Recommend one next game for this user to play next from the following game title set, "),
        "items": PromptTemplate(
            historyIntro: "This user has bought ",
            candidatesIntro: " in the previous. Recommend one next item for this user to buy next from the following item title set, "),
        "plain": PromptTemplate(historyIntro: "", candidatesIntro: ""),
    ]

    /// A built-in name or the path of a JSON template file.
    public static func named(_ nameOrPath: String) throws(ALLMRecError) -> PromptTemplate {
        if let template = builtIn[nameOrPath] { return template }
        guard let data = try? ModelFile.contents(of: nameOrPath) else {
            throw .invalidTemplate("'\(nameOrPath)' is neither a built-in template (\(builtIn.keys.sorted().joined(separator: ", "))) nor a readable file")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidTemplate("\(nameOrPath) is not a JSON object")
        }
        return try PromptTemplate(jsonObject: object, source: nameOrPath)
    }

    /// A template from its JSON object (`source` names it in errors).
    public init(jsonObject object: [String: Any], source nameOrPath: String) throws(ALLMRecError) {
        var template = PromptTemplate(historyIntro: "", candidatesIntro: "")
        let known: Set<String> = [
            "userSuffix", "historyIntro", "candidatesIntro", "answerIntro", "separator", "quote", "historyCount", "candidateCount",
            "stripAroundSlots",
        ]
        if let unknown = object.keys.first(where: { !known.contains($0) }) {
            throw .invalidTemplate("\(nameOrPath): unknown key '\(unknown)'")
        }
        func string(_ key: String, _ target: inout String) throws(ALLMRecError) {
            guard let value = object[key] else { return }
            guard let text = value as? String else { throw .invalidTemplate("\(nameOrPath): '\(key)' must be a string") }
            target = text
        }
        func count(_ key: String, _ target: inout Int) throws(ALLMRecError) {
            guard let value = object[key] else { return }
            guard let number = value as? Int, number >= 1 else { throw .invalidTemplate("\(nameOrPath): '\(key)' must be a positive integer") }
            target = number
        }
        try string("userSuffix", &template.userSuffix)
        try string("historyIntro", &template.historyIntro)
        try string("candidatesIntro", &template.candidatesIntro)
        try string("answerIntro", &template.answerIntro)
        try string("separator", &template.separator)
        try string("quote", &template.quote)
        try count("historyCount", &template.historyCount)
        try count("candidateCount", &template.candidateCount)
        if let value = object["stripAroundSlots"] {
            guard let flag = value as? Bool else { throw .invalidTemplate("\(nameOrPath): 'stripAroundSlots' must be true or false") }
            template.stripAroundSlots = flag
        }
        self = template
    }

    /// The template as the JSON object `named(_:)` reads.
    public var jsonObject: [String: Any] {
        [
            "userSuffix": userSuffix, "historyIntro": historyIntro, "candidatesIntro": candidatesIntro, "answerIntro": answerIntro,
            "separator": separator, "quote": quote, "historyCount": historyCount, "candidateCount": candidateCount,
            "stripAroundSlots": stripAroundSlots,
        ]
    }

    /// FNV-1a of the template's JSON (sorted keys): identifies the wording a model was trained with.
    public var fingerprint: String {
        let data = (try? JSONSerialization.data(withJSONObject: jsonObject, options: [.sortedKeys])) ?? Data()
        var hash = FNV1a64()
        hash.combine(data)
        return hash.hex
    }

    /// The answer text for a title.
    public func answer(_ title: String) -> String { quote + title + quote }
}

/// Where a soft vector goes in a prompt.
public enum SoftSlot: Sendable, Equatable {
    /// SASRec's user representation through F_U.
    case user
    /// The k-th history item (oldest first) through F_I.
    case history(Int)
    /// The k-th candidate in prompt order through F_I.
    case candidate(Int)
}

/// One tokenized A-LLMRec prompt, with or without its answer.
public struct PromptSequence: Sendable, Equatable {
    /// Token ids; soft positions hold a placeholder id (0) that the soft vector replaces.
    public var tokens: [Int32]
    /// Soft positions (offsets into `tokens`) and what goes there.
    public var slots: [(position: Int, slot: SoftSlot)]
    /// Offset of the first answer token (== tokens.count when there is no answer).
    public var answerStart: Int

    public init(tokens: [Int32], slots: [(position: Int, slot: SoftSlot)], answerStart: Int) {
        self.tokens = tokens
        self.slots = slots
        self.answerStart = answerStart
    }

    public static func == (a: PromptSequence, b: PromptSequence) -> Bool {
        a.tokens == b.tokens && a.answerStart == b.answerStart && a.slots.map(\.position) == b.slots.map(\.position)
            && a.slots.map(\.slot) == b.slots.map(\.slot)
    }

    /// The prompt part (everything before the answer).
    public var prompt: [Int32] { Array(tokens[..<answerStart]) }
}

/// Builds `PromptSequence`s with an LM's tokenizer.
public struct PromptBuilder: Sendable {
    public let template: PromptTemplate
    public let tokenizer: ByteLevelBPETokenizer
    /// Appended after an answer's title (the LM's end of sequence).
    public let endOfSequence: Int32?

    public init(template: PromptTemplate, tokenizer: ByteLevelBPETokenizer, endOfSequence: Int32?) {
        self.template = template
        self.tokenizer = tokenizer
        self.endOfSequence = endOfSequence
    }

    private enum Piece {
        case text(String)
        case slot(SoftSlot)
    }

    /// The A-LLMRec prompt: `softTokens` puts the user vector first and a soft token after every
    /// title; without it (the LM-only baseline) the same words with titles only. `answer`, when
    /// given, is appended with the end of sequence.
    public func sequence(history: [String], candidates: [String], answer: String?, softTokens: Bool = true) -> PromptSequence {
        let t = template
        var pieces: [Piece] = []
        var text = ""
        func flush() {
            if !text.isEmpty { pieces.append(.text(text)) }
            text = ""
        }
        func slot(_ value: SoftSlot) {
            flush()
            pieces.append(.slot(value))
        }
        text += softTokens ? t.userSuffix + t.historyIntro : t.historyIntro
        for (index, title) in history.enumerated() {
            if index > 0 { text += t.separator }
            text += t.answer(title)
            if softTokens { slot(.history(index)) }
        }
        text += t.candidatesIntro
        for (index, title) in candidates.enumerated() {
            if index > 0 { text += t.separator }
            text += t.answer(title)
            if softTokens { slot(.candidate(index)) }
        }
        text += t.answerIntro
        flush()

        var tokens: [Int32] = []
        var slots: [(Int, SoftSlot)] = []
        if softTokens {
            slots.append((0, .user))
            tokens.append(0)
        }
        tokens += tokenizer.prefixIDs
        for (index, piece) in pieces.enumerated() {
            switch piece {
            case .slot(let value):
                slots.append((tokens.count, value))
                tokens.append(0)
            case .text(var segment):
                if t.stripAroundSlots {
                    if index > 0, case .slot = pieces[index - 1] { segment = String(segment.drop { $0.isWhitespace }) }
                    if index + 1 < pieces.count, case .slot = pieces[index + 1] {
                        while let last = segment.last, last.isWhitespace { segment.removeLast() }
                    }
                }
                tokens += tokenizer.encode(segment, addSpecialTokens: false, parseSpecialTokens: false)
            }
        }
        let answerStart = tokens.count
        if let answer {
            tokens += answerTokens(answer)
        }
        return PromptSequence(tokens: tokens, slots: slots, answerStart: answerStart)
    }

    /// A title as the answer's tokens: quoted, then the end of sequence.
    public func answerTokens(_ title: String) -> [Int32] {
        tokenizer.encode(template.answer(title), addSpecialTokens: false, parseSpecialTokens: false) + (endOfSequence.map { [$0] } ?? [])
    }
}
