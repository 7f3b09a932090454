import Foundation

/// Checks that an answer claims nothing beyond its facts: every word of it is a word of the facts
/// given (the titles, years, facets and descriptions of the items it names, the session's history
/// titles, the user's words) or one of the few connectives that join them. Kept apart from the
/// answers' phrasings on purpose, so that a phrasing that adds a claim ("a favorite among
/// critics") fails the check too.
public enum Grounding {
    /// Words that join facts without adding any.
    public static let connectives: Set<String> = [
        "a", "an", "the", "and", "or", "how", "about", "it", "it's", "is", "has", "you", "asked", "for", "with", "close", "to",
        "from", "your", "history", "if", "liked", "this", "one", "came", "out", "in",
    ]

    /// Lowercased words (letters, digits, apostrophes and hyphens inside a word).
    public static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber || $0 == "'" || $0 == "-") }
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'-")) }.filter { !$0.isEmpty }
    }

    /// The words of `answer` found neither in `facts` nor among the connectives, in order.
    public static func unsupportedWords(in answer: String, facts: [String]) -> [String] {
        let known = Set(facts.flatMap(words)).union(connectives)
        return words(answer).filter { !known.contains($0) }
    }
}
