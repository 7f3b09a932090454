/// SASRec item rows predicted from item text embeddings: a ridge regression (a linear map with an
/// intercept, fitted on the items that have training interactions) from an item's text embedding to
/// its row of SASRec's item table. An item without interactions has an untrained row; the predicted
/// one places it where items with similar texts sit, so SASRec can rank it.
///
/// The ridge strength is chosen by k-fold cross-validation over the fitted items (mean squared error
/// of the held-out rows), so only training data decides it; the same folds give every fitted item a
/// row predicted without it (`heldOutRows`), which is how such an item would look without interactions.
public struct ItemRowsFromText: Sendable {
    /// Width of the text embeddings.
    public let textDimension: Int
    /// Width of SASRec's rows.
    public let rowDimension: Int
    /// The ridge strength chosen, relative to the mean diagonal of the centred Gram matrix.
    public let ridge: Double
    /// Held-out mean squared error per row value at each ridge strength tried.
    public let crossValidation: [(ridge: Double, error: Double)]
    /// Every fitted item's row as predicted by the fold that did not see it, by item id.
    public let heldOutRows: [Int32: [Float]]
    /// The map fitted on every item at the chosen strength.
    private let map: LinearMap

    /// Ridge strengths tried, relative to the mean diagonal of the centred Gram matrix.
    public static let ridgeGrid: [Double] = [0.003, 0.01, 0.03, 0.1, 0.3, 1, 3]

    /// Fits on `items` (ids into both tables): `texts` is [(items + 1) · textDimension] and `rows`
    /// [(items + 1) · rowDimension], both flat by item id. Needs at least 2 items; fewer than `folds`
    /// items make as many folds as items.
    public init(texts: [Float], textDimension: Int, rows: UnsafePointer<Float>, rowDimension: Int, items: [Int32], folds: Int = 5) {
        precondition(items.count >= 2 && folds >= 2, "at least 2 fitted items and 2 folds")
        let folds = min(folds, items.count)
        self.textDimension = textDimension
        self.rowDimension = rowDimension
        let text = { (item: Int32) in (0..<textDimension).map { Double(texts[Int(item) * textDimension + $0]) } }
        let row = { (item: Int32) in (0..<rowDimension).map { Double(rows[Int(item) * rowDimension + $0]) } }
        let fold = { (index: Int) in index % folds }
        var best: (ridge: Double, error: Double)?
        var tried: [(ridge: Double, error: Double)] = []
        // Each fold's normal equations once; every ridge strength reuses them.
        let systems = (0..<folds).map { held in
            RidgeSystem(pairs: items.indices.filter { fold($0) != held }.map { (text(items[$0]), row(items[$0])) })
        }
        for ridge in Self.ridgeGrid {
            var squared = 0.0
            for held in 0..<folds {
                let map = systems[held].solve(ridge: ridge)
                for index in items.indices where fold(index) == held {
                    let predicted = map.predict(text(items[index]))
                    for (value, target) in zip(predicted, row(items[index])) { squared += (value - target) * (value - target) }
                }
            }
            let error = squared / Double(items.count * rowDimension)
            tried.append((ridge, error))
            if best.map({ error < $0.error }) ?? true { best = (ridge, error) }
        }
        ridge = best!.ridge
        crossValidation = tried
        var heldOut: [Int32: [Float]] = [:]
        for held in 0..<folds {
            let map = systems[held].solve(ridge: ridge)
            for index in items.indices where fold(index) == held { heldOut[items[index]] = map.predict(text(items[index])).map { Float($0) } }
        }
        heldOutRows = heldOut
        map = RidgeSystem(pairs: items.map { (text($0), row($0)) }).solve(ridge: ridge)
    }

    /// The predicted row [rowDimension] of a text embedding [textDimension].
    public func row(forText embedding: UnsafePointer<Float>) -> [Float] {
        map.predict((0..<textDimension).map { Double(embedding[$0]) }).map { Float($0) }
    }
}

/// y = ȳ + (x − x̄) · C, C [inputs · outputs].
private struct LinearMap: Sendable {
    let coefficients: [Double]
    let inputMean: [Double]
    let outputMean: [Double]
    let outputs: Int

    func predict(_ x: [Double]) -> [Double] {
        var y = outputMean
        for (i, value) in x.enumerated() {
            let centred = value - inputMean[i]
            for j in 0..<outputs { y[j] += centred * coefficients[i * outputs + j] }
        }
        return y
    }
}

/// The centred normal equations of a least-squares fit: XᵀX and XᵀY over centred pairs.
private struct RidgeSystem {
    let inputs: Int
    let outputs: Int
    let gram: [Double]  // [inputs · inputs]
    let cross: [Double]  // [inputs · outputs]
    let inputMean: [Double]
    let outputMean: [Double]

    init(pairs: [([Double], [Double])]) {
        inputs = pairs[0].0.count
        outputs = pairs[0].1.count
        let count = Double(pairs.count)
        var inputMean = [Double](repeating: 0, count: inputs), outputMean = [Double](repeating: 0, count: outputs)
        for (x, y) in pairs {
            for i in 0..<inputs { inputMean[i] += x[i] / count }
            for j in 0..<outputs { outputMean[j] += y[j] / count }
        }
        var gram = [Double](repeating: 0, count: inputs * inputs), cross = [Double](repeating: 0, count: inputs * outputs)
        for (x, y) in pairs {
            let cx = zip(x, inputMean).map { $0 - $1 }, cy = zip(y, outputMean).map { $0 - $1 }
            for a in 0..<inputs {
                for b in a..<inputs { gram[a * inputs + b] += cx[a] * cx[b] }
                for j in 0..<outputs { cross[a * outputs + j] += cx[a] * cy[j] }
            }
        }
        for a in 0..<inputs { for b in 0..<a { gram[a * inputs + b] = gram[b * inputs + a] } }
        self.gram = gram
        self.cross = cross
        self.inputMean = inputMean
        self.outputMean = outputMean
    }

    /// C = (XᵀX + λ·mean(diag XᵀX)·I)⁻¹ XᵀY by Cholesky.
    func solve(ridge: Double) -> LinearMap {
        let n = inputs
        var trace = 0.0
        for a in 0..<n { trace += gram[a * n + a] }
        let shift = max(ridge * trace / Double(n), 1e-12)
        var lower = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = gram[i * n + j] + (i == j ? shift : 0)
                for k in 0..<j { sum -= lower[i * n + k] * lower[j * n + k] }
                lower[i * n + j] = i == j ? sum.squareRoot() : sum / lower[j * n + j]
            }
        }
        var solution = cross
        for column in 0..<outputs {
            for i in 0..<n {
                var sum = solution[i * outputs + column]
                for k in 0..<i { sum -= lower[i * n + k] * solution[k * outputs + column] }
                solution[i * outputs + column] = sum / lower[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var sum = solution[i * outputs + column]
                for k in (i + 1)..<n { sum -= lower[k * n + i] * solution[k * outputs + column] }
                solution[i * outputs + column] = sum / lower[i * n + i]
            }
        }
        return LinearMap(coefficients: solution, inputMean: inputMean, outputMean: outputMean, outputs: outputs)
    }
}

extension SASRecModel {
    /// This model with the rows of `items` replaced by `rows` (each [hiddenUnits]).
    public func replacingRows(_ rows: [Int32: [Float]]) -> SASRecModel {
        let d = configuration.hiddenUnits
        let table = layout.offset("item_emb.weight")
        var weights = self.weights
        for (item, row) in rows {
            precondition(row.count == d && item >= 1 && Int(item) <= configuration.itemCount, "a row of \(d) for a catalog item")
            for j in 0..<d { weights[table + Int(item) * d + j] = row[j] }
        }
        return SASRecModel(configuration: configuration, layout: layout, weights: weights)
    }

    /// The item table's rows, [(itemCount + 1) · hiddenUnits], for `body`.
    public func withItemRows<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try weights.withUnsafeBufferPointer { try body($0.baseAddress! + layout.offset("item_emb.weight")) }
    }
}

/// SASRec scoring items without training interactions by rows predicted from their text
/// (`ItemRowsFromText`, fitted on the items with interactions); every other row as trained.
public struct SASRecWithTextRows: SequentialRecommender {
    public let name = "sasrec-text"
    /// SASRec with the predicted rows in place.
    public let model: SASRecModel
    public let rows: ItemRowsFromText

    /// `texts`: the catalog's text embeddings, [(itemCount + 1) · textDimension] by item id; at
    /// least 2 items must have interactions.
    public init(sasrec: SASRecModel, texts: [Float], textDimension: Int, itemsWithoutInteractions: Set<Int32>) {
        let fitted = (1...sasrec.configuration.itemCount).map { Int32($0) }.filter { !itemsWithoutInteractions.contains($0) }
        let rows = sasrec.withItemRows { ItemRowsFromText(texts: texts, textDimension: textDimension, rows: $0, rowDimension: sasrec.configuration.hiddenUnits, items: fitted) }
        var predicted: [Int32: [Float]] = [:]
        texts.withUnsafeBufferPointer { buffer in
            for item in itemsWithoutInteractions { predicted[item] = rows.row(forText: buffer.baseAddress! + Int(item) * textDimension) }
        }
        self.init(model: sasrec.replacingRows(predicted), rows: rows)
    }

    private init(model: SASRecModel, rows: ItemRowsFromText) {
        self.model = model
        self.rows = rows
    }

    /// Every item read as if it had no interactions: an item with interactions by the row its
    /// cross-validation fold predicted without it, the others as here.
    public func readingTextsOnly() -> SASRecWithTextRows {
        SASRecWithTextRows(model: model.replacingRows(rows.heldOutRows), rows: rows)
    }

    public var scoresItemsWithoutInteractions: Bool { true }

    public func scores(history: [Int32], candidates: [Int32]) -> [Float] {
        model.scores(history: history, candidates: candidates)
    }

    public func scores(batch: [(history: [Int32], candidates: [Int32])]) -> [[Float]] {
        model.scores(batch: batch)
    }
}
