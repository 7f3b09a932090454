import Datasets
import Foundation
import JSON
import Numerics

/// What a training sample's user says, made from the catalog's own data, and how it changes the
/// sample's candidates.
public struct TrainingWish: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// A facet the target has ("something comedy"): the target stays the positive, and the
        /// negatives are the user's best items (by SASRec) without it, which only the words set apart.
        case facet
        /// The target's decade ("something from the 1970s"): as `facet`, with items of other decades.
        case era
        /// A facet the target lacks: the positive becomes the user's best item (by SASRec) with
        /// that facet, and the target a negative.
        case wrongFacet
        /// "No more X" for a facet X the target lacks: the target stays the positive, and the
        /// negatives are the user's best items (by SASRec) with X.
        case negated
    }

    public var kind: Kind
    /// The words, as the user prompt's wishes slot holds them.
    public var text: String
    /// The facet (catalog spelling) or decade the words name.
    public var subject: String
}

/// Makes training wishes from the catalog: facets are every string-array metadata field's values
/// (ML-100K's genres, Amazon's categories), an era is the decade of the item's year (a
/// `release_year` or `year` field, else "Year: NNNN" in the description). Phrasings come from
/// fixed templates that name the facet itself; everyday paraphrases are left to the LM (the
/// listening test holds paraphrases no template has). Immutable.
public struct WishMaker: Sendable {
    /// Facets of each item, [items + 1] (index 0 empty).
    public let facets: [[String]]
    /// Decades of each item ("1970s"), [items + 1].
    public let decades: [String?]
    /// Every facet of the catalog, sorted.
    public let allFacets: [String]
    /// Items having each facet.
    public let itemsWithFacet: [String: Set<Int32>]
    public let noun: String

    /// Share of wish samples of each kind (facet, era, wrong facet, negated), summing to 1.
    static let kindShares: [(TrainingWish.Kind, Double)] = [(.facet, 0.45), (.era, 0.15), (.wrongFacet, 0.25), (.negated, 0.15)]

    static let facetPhrasings = [
        "something {f}", "I'd like a {f} {noun}", "I'm in the mood for {f}", "any good {f} {noun}s?", "show me {f}",
        "I want {f} tonight", "a {f} {noun}, please", "more {f}", "how about some {f}", "looking for {f}", "{f}", "a {f} one",
        "give me a {f} {noun}", "what about {f}?", "I feel like {f}",
    ]
    static let eraPhrasings = [
        "something from the {d}", "a {noun} from the {d}", "a {d} {noun}", "an older one, from the {d}", "made in the {d}",
        "I'd like something from the {d}",
    ]
    static let negatedPhrasings = [
        "no more {f}", "nothing {f}", "not {f} this time", "I'm tired of {f}", "anything but {f}", "skip the {f}", "no {f} please",
    ]

    public init(catalog: Catalog, noun: String) {
        var facets: [[String]] = [[]]
        var decades: [String?] = [nil]
        var byFacet: [String: Set<Int32>] = [:]
        for item in catalog.items {
            let unique = item.facets
            facets.append(unique)
            for value in unique { byFacet[value, default: []].insert(item.id) }
            decades.append(item.decade)
        }
        self.facets = facets
        self.decades = decades
        itemsWithFacet = byFacet
        allFacets = byFacet.keys.sorted()
        self.noun = noun
    }

    /// Whether `item` has what `wish` names: its facet, or for an era its decade.
    public func item(_ item: Int32, has wish: TrainingWish) -> Bool {
        wish.kind == .era ? decades[Int(item)] == wish.subject : itemsWithFacet[wish.subject]?.contains(item) ?? false
    }

    /// How a facet reads inside a sentence ("Sci-Fi" → "sci-fi").
    func spoken(_ facet: String) -> String { facet.lowercased() }

    private func phrase(_ templates: [String], _ slot: String, _ value: String, generator: inout SplitMix64) -> String {
        let template = templates[Int(generator.next() % UInt64(templates.count))]
        return template.replacingOccurrences(of: slot, with: value).replacingOccurrences(of: "{noun}", with: noun)
    }

    /// A wish for a sample whose target is `target`, or nil when the catalog gives none of the
    /// drawn kind for it (an item without facets or year).
    public func wish(for target: Int32, generator: inout SplitMix64) -> TrainingWish? {
        let draw = Double(generator.next() >> 11) / Double(1 << 53)
        var kind = TrainingWish.Kind.facet
        var cumulative = 0.0
        for (candidate, share) in Self.kindShares {
            cumulative += share
            if draw < cumulative {
                kind = candidate
                break
            }
        }
        let own = facets[Int(target)]
        let lacking = allFacets.filter { !own.contains($0) }
        switch kind {
        case .facet:
            guard !own.isEmpty else { return nil }
            let facet = own[Int(generator.next() % UInt64(own.count))]
            return TrainingWish(kind: kind, text: phrase(Self.facetPhrasings, "{f}", spoken(facet), generator: &generator), subject: facet)
        case .era:
            guard let decade = decades[Int(target)] else { return nil }
            return TrainingWish(kind: kind, text: phrase(Self.eraPhrasings, "{d}", decade, generator: &generator), subject: decade)
        case .wrongFacet, .negated:
            guard !lacking.isEmpty else { return nil }
            let facet = lacking[Int(generator.next() % UInt64(lacking.count))]
            let templates = kind == .negated ? Self.negatedPhrasings : Self.facetPhrasings
            return TrainingWish(kind: kind, text: phrase(templates, "{f}", spoken(facet), generator: &generator), subject: facet)
        }
    }
}
