import Foundation
import Numerics
import Testing

/// The C attention kernel against attention written out in Swift with Foundation's `exp`, on a
/// random cache with grouped-query heads, a shared prefix followed by a branch's own rows, and head
/// ranges split as threads split them. Heads of 76 values take every column path of the kernel
/// (64 at once, 8 at once, single); the spans cover a lone row, a whole sequence, a branch after a
/// prefix and a branch without one.
@Suite struct CachedAttentionTests {
    static let (heads, keyValueHeads, headDim) = (6, 2, 76)

    /// softmax(q·Kᵀ/√d)·V per head over the rows `span` names, in Double.
    static func reference(query: [Float], keys: [Float], values: [Float], span: CachedAttention.Span) -> [Float] {
        let width = keyValueHeads * headDim
        let rows = (0..<span.visible).map { $0 < span.prefix ? $0 : span.own + $0 - span.prefix }
        var out = [Float](repeating: 0, count: heads * headDim)
        for head in 0..<heads {
            let column = head / (heads / keyValueHeads) * headDim
            let scores = rows.map { row in
                (0..<headDim).reduce(0.0) { $0 + Double(query[head * headDim + $1]) * Double(keys[row * width + column + $1]) }
                    / Double(headDim).squareRoot()
            }
            let maximum = scores.max()!
            let weights = scores.map { exp($0 - maximum) }
            let total = weights.reduce(0, +)
            for index in 0..<headDim {
                let mixed = zip(rows, weights).reduce(0.0) { $0 + $1.1 * Double(values[$1.0 * width + column + index]) }
                out[head * headDim + index] = Float(mixed / total)
            }
        }
        return out
    }

    /// The kernel reads the cache laid out as rows of [kvHeads · headDim] or head-major; the
    /// reference always reads rows.
    @Test(arguments: [
        CachedAttention.Span(prefix: 1, own: 1, visible: 1),
        CachedAttention.Span(prefix: 37, own: 37, visible: 37),
        CachedAttention.Span(prefix: 30, own: 41, visible: 34),
        CachedAttention.Span(prefix: 0, own: 5, visible: 9),
    ], [false, true])
    func matchesAttentionWrittenOut(span: CachedAttention.Span, headMajor: Bool) {
        var generator = SplitMix64(seed: UInt64(span.prefix * 100 + span.visible))
        let cacheRows = 50
        let width = Self.keyValueHeads * Self.headDim
        func random(_ count: Int, scale: Float) -> [Float] { (0..<count).map { _ in Float.random(in: -scale...scale, using: &generator) } }
        let keys = random(cacheRows * width, scale: 3)
        let values = random(cacheRows * width, scale: 1)
        let query = random(Self.heads * Self.headDim, scale: 3)
        let expected = Self.reference(query: query, keys: keys, values: values, span: span)
        // [kvHeads, cacheRows, headDim] from rows.
        func byHead(_ rows: [Float]) -> [Float] {
            (0..<(cacheRows * width)).map { index in
                let (head, position, column) = (index / (cacheRows * Self.headDim), index / Self.headDim % cacheRows, index % Self.headDim)
                return rows[position * width + head * Self.headDim + column]
            }
        }
        let layout = headMajor
            ? CachedAttention.Layout.headMajor(headDim: Self.headDim, capacity: cacheRows)
            : CachedAttention.Layout(headDim: Self.headDim, positionStride: width, headStride: Self.headDim)
        let (cacheKeys, cacheValues) = headMajor ? (byHead(keys), byHead(values)) : (keys, values)
        var actual = [Float](repeating: .nan, count: Self.heads * Self.headDim)
        var scores = [Float](repeating: 0, count: span.visible)
        for heads in [0..<4, 4..<Self.heads] {
            CachedAttention.row(
                query: query, keys: cacheKeys, values: cacheValues, out: &actual, heads: heads, group: Self.heads / Self.keyValueHeads,
                layout: layout, span: span, scores: &scores)
        }
        for index in actual.indices {
            #expect(abs(actual[index] - expected[index]) <= 1e-5, "[\(index)] \(actual[index]) vs \(expected[index])")
        }
    }

    /// Scores far below the largest (200 apart here) underflow to zero weight instead of producing NaN
    /// or infinity.
    @Test func farSmallerScoresGetNoWeight() {
        let width = Self.keyValueHeads * Self.headDim
        let keys: [Float] = (0..<(12 * width)).map { $0 % Self.headDim == 0 ? Float($0 / width) * 20 * Float(Self.headDim).squareRoot() : 0 }
        let values: [Float] = (0..<(12 * width)).map { Float($0 / width) }
        var query = [Float](repeating: 0, count: Self.heads * Self.headDim)
        for head in 0..<Self.heads { query[head * Self.headDim] = 10 }
        var out = [Float](repeating: .nan, count: query.count)
        var scores = [Float](repeating: 0, count: 12)
        CachedAttention.row(
            query: query, keys: keys, values: values, out: &out, heads: 0..<Self.heads, group: Self.heads / Self.keyValueHeads,
            layout: .init(headDim: Self.headDim, positionStride: width, headStride: Self.headDim),
            span: .init(prefix: 12, own: 12, visible: 12), scores: &scores)
        #expect(out.allSatisfy { abs($0 - 11) < 1e-4 }, "all weight on the last row: \(out.prefix(3))")
    }
}
