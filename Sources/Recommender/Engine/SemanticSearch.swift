import Datasets
import Models
import Numerics

/// Catalog search by meaning: the query and every item are embedded with the same sentence
/// encoder and ranked by cosine similarity; items whose title equals the query (ignoring case)
/// come first with score 2. Immutable after construction; any thread.
public struct SemanticSearch: Sendable {
    public let encoder: SentenceEncoder
    /// Unit-length item vectors, [itemCount, dim] (item id i is row i − 1).
    private let table: [Float]
    private let titles: [String]
    private let catalog: Catalog

    /// - embeddings: [itemCount + 1, dim] as `CatalogEmbeddings` returns them (row 0 unused).
    public init(encoder: SentenceEncoder, catalog: Catalog, embeddings: [Float]) {
        self.encoder = encoder
        self.catalog = catalog
        table = VectorMath.unitRows(Array(embeddings.dropFirst(encoder.dimension)), width: encoder.dimension)
        titles = catalog.items.map { $0.title.lowercased() }
    }

    public func search(_ query: String, limit: Int) -> [(item: CatalogItem, score: Double)] {
        let normalised = query.lowercased().trimmingCharacters(in: " \t\n")
        guard !normalised.isEmpty, limit > 0, catalog.count > 0 else { return [] }
        let dim = encoder.dimension
        var vector = encoder.embed([query])[0]
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { for index in vector.indices { vector[index] /= norm } }
        var similarities = [Float](repeating: 0, count: catalog.count)
        table.withUnsafeBufferPointer { items in
            vector.withUnsafeBufferPointer { queryVector in
                similarities.withUnsafeMutableBufferPointer { out in
                    BLAS.gemm(
                        transposeB: true, m: 1, n: catalog.count, k: dim, a: queryVector.baseAddress!, lda: dim,
                        b: items.baseAddress!, ldb: dim, c: out.baseAddress!, ldc: catalog.count)
                }
            }
        }
        var scored = (0..<catalog.count).map { index in
            (index: index, score: titles[index] == normalised ? 2 : Double(similarities[index]))
        }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
        return scored.prefix(limit).map { (catalog.items[$0.index], $0.score) }
    }
}
