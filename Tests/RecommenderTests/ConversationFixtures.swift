import Datasets
import JSON
import Models
import Recommender

/// A recommender whose score is the item id, so that collaborative rankings are obvious.
struct IdentityScores: SequentialRecommender {
    let name = "identity"
    func scores(history: [Int32], candidates: [Int32]) -> [Float] { candidates.map { Float($0) } }
}

/// A small movie catalog with ML-100K's metadata layout (`class`: genres).
enum MovieFixture {
    static let movies: [(title: String, genres: [String])] = [
        ("Toy Story", ["Animation", "Children's", "Comedy"]),
        ("Scream", ["Horror", "Thriller"]),
        ("Clueless", ["Comedy", "Romance"]),
        ("Star Wars", ["Action", "Adventure", "Sci-Fi"]),
        ("The Shining", ["Horror"]),
        ("Heat", ["Action", "Crime", "Thriller"]),
        ("Babe", ["Children's", "Comedy", "Drama"]),
        ("Star Trek: Generations", ["Action", "Adventure", "Sci-Fi"]),
    ]

    static let catalog = Catalog(items: movies.enumerated().map { index, movie in
        CatalogItem(
            id: Int32(index + 1), originalId: "m\(index + 1)", title: movie.title,
            description: "Genres: \(movie.genres.joined(separator: ", ")).",
            metadata: ["class": .array(movie.genres.map { .string($0) })])
    })

    static func id(_ title: String) -> Int32 { Int32(movies.firstIndex { $0.title == title }! + 1) }
}
