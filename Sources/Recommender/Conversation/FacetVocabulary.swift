import Datasets
import Foundation
import JSON

/// The catalog's facets (genres, categories: every string-array metadata field, e.g. ML-100K's
/// `class`, Amazon's `categories`) and the words a user may say for them.
///
/// A phrase matches a facet when it contains the facet's normalised name ("Children's" is
/// "children", "Sci-Fi" is "sci fi") or one of its everyday words from a small built-in lexicon
/// ("funny" and "lighter" say comedy, "scary" says horror, "ten-year-old" says children). Lexicon
/// entries whose facet the catalog lacks are dropped, so the lexicon never invents facets.
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

    /// The normalised facets `phrase` names, in order of first mention, without repeats.
    public func facets(in phrase: String) -> [String] {
        let words = Self.normalise(phrase).split(separator: " ").map(String.init)
        var found: [String] = []
        // Longest cue first at each position: "science fiction" before "fiction".
        var index = 0
        while index < words.count {
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

    /// Facets ruled out by the audience that `facets` name (children rule out horror).
    public func impliedExclusions(of facets: [String]) -> [String] {
        facets.flatMap { audienceExclusions[$0] ?? [] }
    }

    /// The catalog's spelling of a normalised facet.
    public func displayName(_ facet: String) -> String { names[facet] ?? facet }

    /// Lower case, letters and digits only, words separated by one space, a possessive "'s" dropped
    /// ("Children's" → "children", "Sci-Fi" → "sci fi", "don't" → "dont").
    public static func normalise(_ text: String) -> String {
        let characters = Array(text.lowercased().replacingOccurrences(of: "\u{2019}", with: "'"))
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
