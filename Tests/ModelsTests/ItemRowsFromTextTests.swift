import Foundation
import Models
import Numerics
import Testing

/// Ridge regression from text embeddings to SASRec rows: recovers an exact linear map with its
/// intercept, falls back to shrinkage when the texts say nothing, and replaces only the rows of
/// items without interactions.
@Suite struct ItemRowsFromTextTests {
    static let items = 60, textDimension = 8, rowDimension = 4

    /// Texts [(items + 1) · 8] and rows [(items + 1) · 4] with row = text · W + b for every item
    /// (plus `noise` times a standard normal draw), row 0 zero.
    static func data(seed: UInt64, noise: Float = 0, linear: Bool = true) -> (texts: [Float], rows: [Float]) {
        var generator = SplitMix64(seed: seed)
        func normal() -> Float {
            let u = Float.random(in: Float.ulpOfOne..<1, using: &generator), v = Float.random(in: 0..<1, using: &generator)
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let map = (0..<(textDimension * rowDimension)).map { _ in normal() }
        let intercept = (0..<rowDimension).map { _ in normal() }
        var texts = [Float](repeating: 0, count: (items + 1) * textDimension)
        var rows = [Float](repeating: 0, count: (items + 1) * rowDimension)
        for item in 1...items {
            for i in 0..<textDimension { texts[item * textDimension + i] = normal() }
            for j in 0..<rowDimension {
                var value = linear ? intercept[j] : 0
                if linear { for i in 0..<textDimension { value += texts[item * textDimension + i] * map[i * rowDimension + j] } }
                rows[item * rowDimension + j] = value + noise * normal()
            }
        }
        return (texts, rows)
    }

    static func fit(_ texts: [Float], _ rows: [Float], items: [Int32]) -> ItemRowsFromText {
        rows.withUnsafeBufferPointer {
            ItemRowsFromText(texts: texts, textDimension: textDimension, rows: $0.baseAddress!, rowDimension: rowDimension, items: items)
        }
    }

    @Test func recoversAnExactLinearMapForNewAndHeldOutItems() {
        let (texts, rows) = Self.data(seed: 1)
        let fitted = (1...50).map { Int32($0) }
        let model = Self.fit(texts, rows, items: fitted)
        #expect(model.ridge == ItemRowsFromText.ridgeGrid.min())
        #expect(model.crossValidation.count == ItemRowsFromText.ridgeGrid.count)
        texts.withUnsafeBufferPointer { buffer in
            for item in 51...Self.items {
                let predicted = model.row(forText: buffer.baseAddress! + item * Self.textDimension)
                for j in 0..<Self.rowDimension { #expect(abs(predicted[j] - rows[item * Self.rowDimension + j]) < 0.05, "item \(item)") }
            }
        }
        // Each held-out row comes from a fold fitted on 40 items, so shrinks a little more.
        #expect(Set(model.heldOutRows.keys) == Set(fitted))
        for item in fitted {
            for j in 0..<Self.rowDimension { #expect(abs(model.heldOutRows[item]![j] - rows[Int(item) * Self.rowDimension + j]) < 0.1) }
        }
    }

    @Test func textsThatSayNothingAreShrunkToTheMeanRow() {
        let (texts, rows) = Self.data(seed: 2, noise: 1, linear: false)
        let model = Self.fit(texts, rows, items: (1...50).map { Int32($0) })
        #expect(model.ridge >= 1, "cross-validation errors \(model.crossValidation)")
        let errors = model.crossValidation.map(\.error)
        #expect(errors.last! < errors.first!)
    }

    @Test func onlyItemsWithoutInteractionsGetPredictedRows() {
        let configuration = SASRecConfiguration(itemCount: Self.items, hiddenUnits: Self.rowDimension, blocks: 1, heads: 1, maxLength: 5, dropout: 0)
        var generator = SplitMix64(seed: 3)
        let trained = SASRecModel(parameters: SASRecParameters(initializing: configuration, generator: &generator))
        let (texts, rows) = Self.data(seed: 4)
        var linearRows: [Int32: [Float]] = [:]
        for item in 1...Self.items { linearRows[Int32(item)] = Array(rows[(item * Self.rowDimension)..<((item + 1) * Self.rowDimension)]) }
        let sasrec = trained.replacingRows(linearRows.filter { $0.key <= 50 })
        let without = Set((51...Self.items).map { Int32($0) })
        let model = SASRecWithTextRows(sasrec: sasrec, texts: texts, textDimension: Self.textDimension, itemsWithoutInteractions: without)
        #expect(model.scoresItemsWithoutInteractions)
        let (before, after, texted) = (
            sasrec.withItemRows { Array(UnsafeBufferPointer(start: $0, count: (Self.items + 1) * Self.rowDimension)) },
            model.model.withItemRows { Array(UnsafeBufferPointer(start: $0, count: (Self.items + 1) * Self.rowDimension)) },
            model.readingTextsOnly().model.withItemRows { Array(UnsafeBufferPointer(start: $0, count: (Self.items + 1) * Self.rowDimension)) })
        for item in 1...Self.items {
            for j in 0..<Self.rowDimension {
                let index = item * Self.rowDimension + j
                if item <= 50 {
                    #expect(after[index] == before[index])
                    #expect(abs(texted[index] - rows[index]) < 0.1)
                } else {
                    #expect(abs(after[index] - rows[index]) < 0.05)
                    #expect(texted[index] == after[index])
                }
            }
        }
        // Scores are SASRec's dot products with the rows in place.
        let user = model.model.userRepresentations([[1, 2, 3]])[0]
        let scores = model.scores(history: [1, 2, 3], candidates: [10, 55])
        for (score, item) in zip(scores, [10, 55]) {
            let expected = (0..<Self.rowDimension).reduce(Float(0)) { $0 + user[$1] * after[item * Self.rowDimension + $1] }
            #expect(abs(score - expected) < 1e-5)
        }
    }
}
