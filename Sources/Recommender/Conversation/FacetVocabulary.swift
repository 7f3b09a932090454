import Datasets
import Foundation
import JSON

/// The catalog's facets (genres, categories: every string-array metadata field, e.g. ML-100K's
/// `class`, Amazon's `categories`) and the words a user may say for them.
///
/// A phrase matches a facet when it contains the facet's normalised name ("Children's" is
/// "children", "Sci-Fi" is "sci fi") or one of its everyday words from a small built-in lexicon
/// ("funny" and "lighter" say comedy, "scary" says horror, "ten-year-old" says children). Lexicon
/// entries whose facet the catalog lacks are dropped, so the lexicon never invents facets. A
/// catalog title of several words that holds a cue, written capitalised ("Star Wars", "Return of
/// the Jedi"), names the item, not a facet: its words are passed over.
/// Immutable; any thread.
public struct FacetVocabulary: Sendable {
    /// Facet display names as the catalog spells them, by normalised name.
    public let names: [String: String]
    /// Normalised facets of every item, by dense id (index 0 unused).
    private var itemFacets: [[String]]
    /// Everyday word or phrase (normalised) → normalised facets it stands for.
    private let cues: [String: [String]]
    /// Facets that a stated audience rules out (a child's film is not a horror film).
    private let audienceExclusions: [String: [String]]
    /// Normalised catalog titles of two or more words that hold a cue and are not cues themselves
    /// ("star wars"; "english patient" and "the english patient" for "English Patient, The").
    private let titlePhrases: Set<String>
    /// Words of the longest of `titlePhrases`.
    private let longestTitlePhrase: Int

    /// Builds the vocabulary from every string-array metadata field of `catalog`.
    public init(catalog: Catalog) {
        var names: [String: String] = [:]
        var itemFacets: [[String]] = [[]]
        itemFacets.reserveCapacity(catalog.count + 1)
        for item in catalog.items {
            let facets = Self.facets(of: item)
            for facet in facets { names[Self.normalise(facet)] = facet }
            itemFacets.append(facets.map(Self.normalise))
        }
        self.names = names
        self.itemFacets = itemFacets
        var cues: [String: [String]] = [:]
        for name in names.keys { cues[name, default: []].append(name) }
        for (word, facets) in Self.lexicon {
            let known = facets.filter { names[$0] != nil }
            if !known.isEmpty { cues[word, default: []] += known }
        }
        self.cues = cues
        var titlePhrases: Set<String> = []
        for item in catalog.items {
            for phrase in Self.titleForms(item.title) where cues[phrase] == nil {
                let words = phrase.split(separator: " ").map(String.init)
                if words.count >= 2, words.contains(where: { cues[$0] != nil || cues[Self.singular($0)] != nil }) { titlePhrases.insert(phrase) }
            }
        }
        self.titlePhrases = titlePhrases
        longestTitlePhrase = titlePhrases.map { $0.split(separator: " ").count }.max() ?? 0
        audienceExclusions = names["children"] != nil && names["horror"] != nil ? ["children": ["horror"]] : [:]
    }

    /// Registers the facets of an item added at run time (a cold item): its metadata's, or, when it
    /// has none, those its title and description name ("an animated adventure" is Animation and
    /// Adventure), so that an item known only by its text still matches what users ask for.
    public mutating func add(_ item: CatalogItem) {
        let index = Int(item.id)
        if itemFacets.count <= index { itemFacets += [[String]](repeating: [], count: index + 1 - itemFacets.count) }
        let declared = Self.facets(of: item).map(Self.normalise)
        itemFacets[index] = declared.isEmpty ? facets(in: item.title + " " + item.description) : declared
    }

    /// The normalised facets of item `id` (empty when unknown).
    public func facets(ofItem id: Int32) -> [String] {
        Int(id) >= 0 && Int(id) < itemFacets.count ? itemFacets[Int(id)] : []
    }

    /// The catalog titles (normalised, of several words holding a cue) that `message` writes
    /// capitalised ("like Star Wars"): text that has lost its case (a clause the interpreter
    /// normalised) skips them with `facets(in:besides:)`.
    public func writtenTitles(in message: String) -> Set<String> {
        let words = Self.normalise(message).split(separator: " ").map(String.init)
        let written = Self.normalise(message, lowercasing: false).split(separator: " ")
        guard written.count == words.count else { return [] }
        var titles: Set<String> = []
        var index = 0
        while index < words.count {
            if let length = titleLength(at: index, words: words, written: written) {
                titles.insert(words[index..<(index + length)].joined(separator: " "))
                index += length
            } else {
                index += 1
            }
        }
        return titles
    }

    /// The normalised facets `phrase` names, in order of first mention, without repeats; a catalog
    /// title written capitalised in it, or one of `titles` (`writtenTitles(in:)` of the text it
    /// came from), names none.
    public func facets(in phrase: String, besides titles: Set<String> = []) -> [String] {
        let words = Self.normalise(phrase).split(separator: " ").map(String.init)
        let written = Self.normalise(phrase, lowercasing: false).split(separator: " ")
        var found: [String] = []
        // Longest cue first at each position: "science fiction" before "fiction".
        var index = 0
        while index < words.count {
            if written.count == words.count, let length = titleLength(at: index, words: words, written: written) {
                index += length
                continue
            }
            if let length = stride(from: min(longestTitlePhrase, words.count - index), through: 2, by: -1).first(where: {
                titles.contains(words[index..<(index + $0)].joined(separator: " "))
            }) {
                index += length
                continue
            }
            var matched = false
            for length in stride(from: min(3, words.count - index), through: 1, by: -1) {
                let candidate = words[index..<(index + length)].joined(separator: " ")
                if let facets = cues[candidate] ?? cues[Self.singular(candidate)] {
                    for facet in facets where !found.contains(facet) { found.append(facet) }
                    index += length
                    matched = true
                    break
                }
            }
            if !matched { index += 1 }
        }
        return found
    }

    /// Words of the catalog title (of `titlePhrases`) that starts at `index`, written with its first
    /// word and at least one more capitalised; nil when none does.
    private func titleLength(at index: Int, words: [String], written: [Substring]) -> Int? {
        guard longestTitlePhrase >= 2, written[index].first?.isUppercase == true else { return nil }
        for length in stride(from: min(longestTitlePhrase, words.count - index), through: 2, by: -1)
        where titlePhrases.contains(words[index..<(index + length)].joined(separator: " ")) {
            if written[(index + 1)..<(index + length)].contains(where: { $0.first?.isUppercase == true }) { return length }
        }
        return nil
    }

    /// A title as a message may say it, normalised: a trailing "(…)" left out, and a trailing
    /// article ("English Patient, The") said first and also left out.
    public static func titleForms(_ title: String) -> [String] {
        var text = title.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix(")"), let open = text.lastIndex(of: "(") { text = String(text[..<open]).trimmingCharacters(in: .whitespaces) }
        let normalised = normalise(text)
        for article in ["the", "a", "an"] where normalised.hasSuffix(" " + article) && text.lowercased().hasSuffix(", " + article) {
            let rest = String(normalised.dropLast(article.count + 1))
            return [article + " " + rest, rest]
        }
        return [normalised]
    }

    /// Facets ruled out by the audience that `facets` name (children rule out horror).
    public func impliedExclusions(of facets: [String]) -> [String] {
        facets.flatMap { audienceExclusions[$0] ?? [] }
    }

    /// The catalog's spelling of a normalised facet.
    public func displayName(_ facet: String) -> String { names[facet] ?? facet }

    /// Lower case, letters and digits only, words separated by one space, a possessive "'s" dropped
    /// ("Children's" → "children", "Sci-Fi" → "sci fi", "don't" → "dont").
    public static func normalise(_ text: String) -> String { normalise(text, lowercasing: true) }

    /// `normalise`, with the words keeping their case when `lowercasing` is false (for reading capitals).
    private static func normalise(_ text: String, lowercasing: Bool) -> String {
        let characters = Array((lowercasing ? text.lowercased() : text).replacingOccurrences(of: "\u{2019}", with: "'"))
        var words: [String] = []
        var current = ""
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if character == "'" {
                let next = index + 1 < characters.count ? characters[index + 1] : " "
                let after = index + 2 < characters.count ? characters[index + 2] : " "
                if next == "s" && !(after.isLetter || after.isNumber) { index += 1 }
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
            index += 1
        }
        if !current.isEmpty { words.append(current) }
        return words.joined(separator: " ")
    }

    private static func singular(_ word: String) -> String {
        if word.hasSuffix("ies") && word.count > 4 { return String(word.dropLast(3)) + "y" }
        if word.hasSuffix("s") && !word.hasSuffix("ss") && word.count > 3 { return String(word.dropLast()) }
        return word
    }

    private static func facets(of item: CatalogItem) -> [String] {
        item.metadata.keys.sorted().flatMap { key -> [String] in
            guard let values = item.metadata[key]?.arrayValue else { return [] }
            return values.compactMap { $0.stringValue.flatMap { $0.isEmpty ? nil : $0 } }
        }
    }

    /// Everyday words for common genres (normalised → normalised facet names).
    private static let lexicon: [String: [String]] = [
        "funny": ["comedy"], "fun": ["comedy"], "light": ["comedy"], "lighter": ["comedy"], "lighthearted": ["comedy"],
        "light hearted": ["comedy"], "cheerful": ["comedy"], "feel good": ["comedy"], "laugh": ["comedy"], "hilarious": ["comedy"],
        "comedies": ["comedy"], "happy": ["comedy"],
        "scary": ["horror"], "spooky": ["horror"], "frightening": ["horror"], "creepy": ["horror"], "slasher": ["horror"],
        "kid": ["children", "animation"], "kids": ["children", "animation"], "child": ["children", "animation"],
        "year old": ["children", "animation"], "family": ["children"], "cartoon": ["animation"], "animated": ["animation"],
        "romantic": ["romance"], "love story": ["romance"], "date night": ["romance"],
        "science fiction": ["sci fi"], "scifi": ["sci fi"], "space": ["sci fi"], "aliens": ["sci fi"], "alien": ["sci fi"],
        "futuristic": ["sci fi"], "robot": ["sci fi"],
        "cowboy": ["western"], "cowboys": ["western"], "songs": ["musical"], "singing": ["musical"],
        "gangster": ["crime"], "mafia": ["crime"], "heist": ["crime"], "detective": ["mystery"], "whodunit": ["mystery"],
        "suspense": ["thriller"], "suspenseful": ["thriller"], "tense": ["thriller"], "magic": ["fantasy"], "dragons": ["fantasy"],
        "explosions": ["action"], "fights": ["action"], "fighting": ["action"], "serious": ["drama"], "moving": ["drama"],
        "noir": ["film noir"], "true story": ["documentary"], "soldiers": ["war"],
    ]
}
