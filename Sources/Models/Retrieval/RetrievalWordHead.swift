import Checkpoints
import Datasets
import Foundation
import Numerics

/// The path from the user's words to the catalog's facets (not in LLM-SRec): a linear map from the
/// mean final state of the words' segment of the user prompt (`RetrievalPrompt.wordPositions`, the
/// same LM pass that yields `[UserOut]`'s state) to a preference for each of the catalog's facets
/// and decades (its `columns`). With words, an item's score is
///
///     user vector · item vector + τ · Σ preference[c] over the columns c the item has
///
/// (τ the model's cosine temperature, 1 under dot products), so "something that makes me laugh"
/// lifts comedies and "no more horror" lowers horror, whatever the history; without words the
/// score is the model's own. The LM reads the words in context (everyday paraphrases reach the
/// facets through it, not through a word list); this head only learns which facets its states name
/// (`llmrec train words`). Items added at run time meet it through their own facets and year.
///
/// `weight` is [columns · embeddingSize] (PyTorch's [out, in] layout), `bias` [columns]. Immutable.
public struct RetrievalWordHead: Sendable, Equatable {
    public static let fileName = "words.safetensors"
    public static let weightName = "pred_words.weight"
    public static let biasName = "pred_words.bias"

    /// The facets (catalog spelling) and decades ("1970s") the words can move, in column order.
    public let columns: [String]
    public var weight: [Float]
    public var bias: [Float]
    private let columnIndex: [String: Int]

    /// The columns of a catalog: its facets (`CatalogItem.facets`), then its decades, each sorted.
    public static func columns(of catalog: Catalog) -> [String] {
        Set(catalog.items.flatMap(\.facets)).sorted() + Set(catalog.items.compactMap(\.decade)).sorted()
    }

    /// A head that moves nothing: training starts here, from the model as it is.
    public init(columns: [String], embeddingSize: Int) {
        self.columns = columns
        weight = [Float](repeating: 0, count: columns.count * embeddingSize)
        bias = [Float](repeating: 0, count: columns.count)
        columnIndex = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public init(columns: [String], weight: [Float], bias: [Float]) throws(RetrievalError) {
        guard !columns.isEmpty, Set(columns).count == columns.count else {
            throw .invalidFile("a word head needs distinct columns, got \(columns.count) (\(Set(columns).count) distinct)")
        }
        guard bias.count == columns.count else { throw .shapeMismatch(name: Self.biasName, expected: [columns.count], got: [bias.count]) }
        guard !weight.isEmpty, weight.count % columns.count == 0 else {
            throw .shapeMismatch(name: Self.weightName, expected: [columns.count, weight.count / columns.count], got: [weight.count])
        }
        self.init(columns: columns, embeddingSize: weight.count / columns.count)
        self.weight = weight
        self.bias = bias
    }

    public var embeddingSize: Int { weight.count / max(1, columns.count) }

    public static func == (a: RetrievalWordHead, b: RetrievalWordHead) -> Bool {
        a.columns == b.columns && a.weight == b.weight && a.bias == b.bias
    }

    /// The columns each item of `catalog` has, by dense id: [items + 1], row 0 empty.
    public func itemColumns(of catalog: Catalog) -> [[Int]] {
        [[]] + catalog.items.map(columns(of:))
    }

    /// The columns an item has: its facets and its decade, where the head has them.
    public func columns(of item: CatalogItem) -> [Int] {
        columns(facets: item.facets, decade: item.decade)
    }

    /// The columns of `facets` and `decade` that the head has, in column order.
    public func columns(facets: [String], decade: String?) -> [Int] {
        (facets + (decade.map { [$0] } ?? [])).compactMap { columnIndex[$0] }.sorted()
    }

    /// Preferences [rows · columns] for pooled word states [rows · embeddingSize].
    public func forward(_ pooled: [Float], rows: Int) -> [Float] {
        precondition(pooled.count == rows * embeddingSize, "pooled states must be [rows · embeddingSize]")
        var out = [Float](repeating: 0, count: rows * columns.count)
        guard rows > 0 else { return out }
        Linear.forward(out: &out, x: pooled, weight: weight, bias: bias, rows: rows, inFeatures: embeddingSize, outFeatures: columns.count)
        return out
    }

    /// What the words add to the score of an item with `itemColumns`, for one row of preferences,
    /// before the temperature: Σ preference[c].
    public static func lift(_ preferences: ArraySlice<Float>, itemColumns: [Int]) -> Float {
        let base = preferences.startIndex
        return itemColumns.reduce(0) { $0 + preferences[base + $1] }
    }

    /// Reads a file written by `save`; a missing tensor, a wrong shape or missing columns is a typed error.
    public static func load(_ path: String) throws -> RetrievalWordHead {
        let file = try SafetensorsFile(path: path)
        guard file.names.contains(weightName) else { throw RetrievalError.missingTensor(weightName) }
        guard file.names.contains(biasName) else { throw RetrievalError.missingTensor(biasName) }
        guard let listed = file.metadata["columns"], let data = listed.data(using: .utf8),
            let columns = (try? JSONSerialization.jsonObject(with: data)) as? [String]
        else { throw RetrievalError.invalidFile("\(path): no 'columns' list in its metadata") }
        let weight = try file.tensor(named: weightName)
        let bias = try file.tensor(named: biasName)
        guard weight.shape.count == 2, weight.shape[0] == columns.count else {
            throw RetrievalError.shapeMismatch(name: weightName, expected: [columns.count, weight.shape.last ?? 0], got: weight.shape)
        }
        return try RetrievalWordHead(columns: columns, weight: weight.storage, bias: bias.storage)
    }

    /// Writes the head; `metadata` is kept beside the columns.
    public func save(to path: String, metadata: [String: String]) throws {
        let listed = String(decoding: try JSONSerialization.data(withJSONObject: columns), as: UTF8.self)
        try SafetensorsFile.write(
            tensors: [
                (Self.weightName, Tensor(shape: [columns.count, embeddingSize], storage: weight)),
                (Self.biasName, Tensor(shape: [columns.count], storage: bias)),
            ], metadata: metadata.merging(["columns": listed]) { _, new in new }, to: path)
    }
}
