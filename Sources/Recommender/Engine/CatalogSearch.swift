import Datasets

/// Title search over a catalog, case-insensitive: an exact title match scores 3, a title that starts
/// with the query 2, otherwise the fraction of the query's words that occur among the title's words
/// (0-1). Zero-score items are left out; ties go to the smaller item id. Immutable.
struct CatalogSearch: Sendable {
    private let titles: [String]
    private let words: [Set<Substring>]
    private let catalog: Catalog

    init(catalog: Catalog) {
        self.catalog = catalog
        titles = catalog.items.map { $0.title.lowercased() }
        words = titles.map { Set(Self.words(of: $0)) }
    }

    func search(_ query: String, limit: Int) -> [(item: CatalogItem, score: Double)] {
        let normalised = query.lowercased().trimmingCharacters(in: " \t\n")
        let queryWords = Self.words(of: normalised)
        guard !normalised.isEmpty, limit > 0 else { return [] }
        var scored: [(index: Int, score: Double)] = []
        for (index, title) in titles.enumerated() {
            let score: Double
            if title == normalised {
                score = 3
            } else if title.hasPrefix(normalised) {
                score = 2
            } else if !queryWords.isEmpty {
                let found = queryWords.filter { words[index].contains($0) }.count
                score = Double(found) / Double(queryWords.count)
            } else {
                score = 0
            }
            if score > 0 { scored.append((index, score)) }
        }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
        return scored.prefix(limit).map { (catalog.items[$0.index], $0.score) }
    }

    private static func words(of text: String) -> [Substring] {
        text.split { !$0.isLetter && !$0.isNumber }
    }
}

extension String {
    /// The string without leading and trailing characters from `set` (no Foundation needed).
    func trimmingCharacters(in set: String) -> String {
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view.removeFirst() }
        while let last = view.last, set.contains(last) { view.removeLast() }
        return String(view)
    }
}
