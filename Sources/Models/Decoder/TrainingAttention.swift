import Foundation
import Numerics

/// Query rows per block of the causal attention products: a block's rows attend to the keys up to
/// the block's last row only, so the products skip most of the masked upper triangle (a 281-token
/// prompt computes 56% of the full square's products) while each stays a matrix product.
private let causalBlockRows = 32

/// One layer's attention over packed segments as items (one per segment and head) that threads
/// claim in turn. Every pointer is into a buffer its owner keeps alive and unmoved until the run
/// returns; items write disjoint parts of the outputs.
private struct AttentionItems: @unchecked Sendable {
    let heads, headDim, hidden, keyValueWidth, group: Int
    let scale: Float
    let segments: [PackedSegment]
    /// Per segment: where its probabilities start, and where its prefix keys/values start in the
    /// gathered prefix buffers ([kvHead, prefixLength, headDim] per segment).
    let probabilityOffsets, prefixOffsets: [Int]
    let query, key, value, prefixKeys, prefixValues: UnsafePointer<Float>

    var count: Int { segments.count * heads }

    /// Where one item's operands lie: its segment's rows, the head's columns of the queries and of
    /// [rows, hidden] outputs, its key/value head's keys and values (own and frozen prefix's), and
    /// its first probability.
    struct Operands {
        let count, prefix, width: Int
        /// Offset of the head's first value in [rows, hidden] buffers (queries, attended, their gradients).
        let headOffset: Int
        let scoreOffset: Int
        let ownKeys, ownValues, keysBefore, valuesBefore: UnsafePointer<Float>
    }

    func operands(_ item: Int) -> Operands {
        let (index, head) = item.quotientAndRemainder(dividingBy: heads)
        let segment = segments[index]
        let (prefix, kvHead) = (segment.prefixLength, head / group)
        let width = prefix + segment.count
        let ownOffset = segment.start * keyValueWidth + kvHead * headDim
        let prefixOffset = prefixOffsets[index] + kvHead * prefix * headDim
        return Operands(
            count: segment.count, prefix: prefix, width: width, headOffset: segment.start * hidden + head * headDim,
            scoreOffset: probabilityOffsets[index] + head * segment.count * width, ownKeys: key + ownOffset, ownValues: value + ownOffset,
            keysBefore: prefixKeys + prefixOffset, valuesBefore: prefixValues + prefixOffset)
    }

    /// c[rows, prefix + end] = alpha · a[rows, headDim] · [before; own[0..<end]]ᵀ, the frozen prefix's
    /// columns first (`a` rows `hidden` apart, `c` rows `o.width` apart).
    func timesTransposed(
        _ a: UnsafePointer<Float>, rows: Int, end: Int, before: UnsafePointer<Float>, own: UnsafePointer<Float>, alpha: Float = 1,
        into c: UnsafeMutablePointer<Float>, _ o: Operands
    ) {
        if o.prefix > 0 {
            BLAS.gemm(
                transposeB: true, m: rows, n: o.prefix, k: headDim, alpha: alpha, a: a, lda: hidden, b: before, ldb: headDim, c: c, ldc: o.width)
        }
        BLAS.gemm(
            transposeB: true, m: rows, n: end, k: headDim, alpha: alpha, a: a, lda: hidden, b: own, ldb: keyValueWidth, c: c + o.prefix,
            ldc: o.width)
    }

    /// c[rows, headDim] = s[rows, prefix + end] · [before; own[0..<end]] (`s` rows `o.width` apart, `c`
    /// rows `hidden` apart).
    func times(
        _ s: UnsafePointer<Float>, rows: Int, end: Int, before: UnsafePointer<Float>, own: UnsafePointer<Float>,
        into c: UnsafeMutablePointer<Float>, _ o: Operands
    ) {
        if o.prefix > 0 {
            BLAS.gemm(m: rows, n: headDim, k: o.prefix, a: s, lda: o.width, b: before, ldb: headDim, c: c, ldc: hidden)
        }
        BLAS.gemm(
            m: rows, n: headDim, k: end, a: s + o.prefix, lda: o.width, b: own, ldb: keyValueWidth, beta: o.prefix > 0 ? 1 : 0, c: c,
            ldc: hidden)
    }

    /// Softmax of the causal scores and the probability-weighted values of one segment and head.
    func forward(_ item: Int, probabilities: UnsafeMutablePointer<Float>, attended: UnsafeMutablePointer<Float>) {
        let o = operands(item)
        let scores = probabilities + o.scoreOffset
        let headQuery = query + o.headOffset
        let headOut = attended + o.headOffset
        for first in stride(from: 0, to: o.count, by: causalBlockRows) {
            let end = min(first + causalBlockRows, o.count)
            let rows = end - first
            let blockScores = scores + first * o.width
            timesTransposed(
                headQuery + first * hidden, rows: rows, end: end, before: o.keysBefore, own: o.ownKeys, alpha: scale, into: blockScores, o)
            for row in first..<end {
                let line = scores + row * o.width
                VectorMath.softmaxInPlace(line, count: o.prefix + row + 1)
                for column in (o.prefix + row + 1)..<o.width { line[column] = 0 }
            }
            times(blockScores, rows: rows, end: end, before: o.valuesBefore, own: o.ownValues, into: headOut + first * hidden, o)
        }
    }

    /// One segment and head's share of the attention gradient: its query gradient straight into
    /// `dQuery`'s columns of the head, its key and value gradients into the item's own
    /// [count, headDim] blocks of `dKeys`/`dValues` (at `keyValueOffset`, zeroed), which the
    /// caller sums over the heads of a key/value head; `dScores` holds `causalBlockRows` rows of
    /// the segment's width.
    func backward(
        _ item: Int, probabilities: UnsafePointer<Float>, dAttended: UnsafePointer<Float>, dQuery: UnsafeMutablePointer<Float>,
        dKeys: UnsafeMutablePointer<Float>, dValues: UnsafeMutablePointer<Float>, keyValueOffset: Int, dScores: UnsafeMutablePointer<Float>
    ) {
        let o = operands(item)
        let probability = probabilities + o.scoreOffset
        let dHead = dAttended + o.headOffset
        let headQuery = query + o.headOffset
        let dHeadQuery = dQuery + o.headOffset
        let dOwnKeys = dKeys + keyValueOffset
        let dOwnValues = dValues + keyValueOffset
        for first in stride(from: 0, to: o.count, by: causalBlockRows) {
            let end = min(first + causalBlockRows, o.count)
            let rows = end - first
            let blockDOut = dHead + first * hidden
            let blockProbabilities = probability + first * o.width
            // dP = dOut · [Vp; V]ᵀ; dV += P_ownᵀ · dOut.
            timesTransposed(blockDOut, rows: rows, end: end, before: o.valuesBefore, own: o.ownValues, into: dScores, o)
            BLAS.gemm(
                transposeA: true, m: end, n: headDim, k: rows, a: blockProbabilities + o.prefix, lda: o.width, b: blockDOut, ldb: hidden,
                beta: 1, c: dOwnValues, ldc: headDim)
            // Softmax backward, then the score scale.
            for offset in 0..<rows {
                let line = dScores + offset * o.width
                let probabilitiesOfRow = blockProbabilities + offset * o.width
                let last = o.prefix + first + offset
                var dot: Float = 0
                for column in 0...last { dot += line[column] * probabilitiesOfRow[column] }
                for column in 0...last { line[column] = probabilitiesOfRow[column] * (line[column] - dot) * scale }
                for column in (last + 1)..<(o.prefix + end) { line[column] = 0 }
            }
            // dQ = dS · [Kp; K]; dK += dS_ownᵀ · Q.
            times(dScores, rows: rows, end: end, before: o.keysBefore, own: o.ownKeys, into: dHeadQuery + first * hidden, o)
            BLAS.gemm(
                transposeA: true, m: end, n: headDim, k: rows, a: dScores + o.prefix, lda: o.width, b: headQuery + first * hidden,
                ldb: hidden, beta: 1, c: dOwnKeys, ldc: headDim)
        }
    }
}

extension CausalDecoder {
    /// Threads of the training attention's heads: `threads` when the layer products are bfloat16
    /// (then OpenBLAS runs one thread and each head's products run whole on one of ours), one
    /// otherwise (Float32 products are parallel inside OpenBLAS).
    private var attentionThreads: Int {
        if case .bfloat16 = weights.layers.first?.query { return threads }
        return 1
    }

    /// The frozen prefixes' keys and values of `layer`, segment after segment ([kvHead,
    /// prefixLength, headDim] each: a prefix cache is exactly full), and where each segment's start.
    private func gatheredPrefixes(layer: Int, segments: [PackedSegment]) -> (keys: [Float], values: [Float], offsets: [Int]) {
        var keys: [Float] = []
        var values: [Float] = []
        var offsets: [Int] = []
        for segment in segments {
            offsets.append(keys.count)
            guard let prefix = segment.prefix else { continue }
            keys += prefix.keys[layer]
            values += prefix.values[layer]
        }
        return (keys, values, offsets)
    }

    /// Where each segment's probabilities start in a layer's [heads, count, prefix + count] blocks.
    private func probabilityOffsets(_ segments: [PackedSegment]) -> [Int] {
        var offsets: [Int] = []
        var offset = 0
        for segment in segments {
            offsets.append(offset)
            offset += configuration.heads * segment.count * (segment.prefixLength + segment.count)
        }
        return offsets
    }

    /// Where each backward item (segment and head, in order) keeps its key and value gradients
    /// ([count, headDim] each) and its score rows (`causalBlockRows` of the segment's width).
    private func backwardLayout(_ segments: [PackedSegment]) -> (keyValueOffsets: [Int], scoreOffsets: [Int], keyValueSize: Int, scoreSize: Int) {
        var keyValueOffsets: [Int] = []
        var scoreOffsets: [Int] = []
        var (keyValueSize, scoreSize) = (0, 0)
        for segment in segments {
            for _ in 0..<configuration.heads {
                keyValueOffsets.append(keyValueSize)
                scoreOffsets.append(scoreSize)
                keyValueSize += segment.count * configuration.headDim
                scoreSize += min(causalBlockRows, segment.count) * (segment.prefixLength + segment.count)
            }
        }
        return (keyValueOffsets, scoreOffsets, keyValueSize, scoreSize)
    }

    /// `body` with the items of one layer's attention over `segments` (its inputs and the frozen
    /// prefixes' keys and values gathered), valid only inside `body`.
    private func withAttentionItems(
        layer: Int, query: [Float], key: [Float], value: [Float], segments: [PackedSegment], _ body: (AttentionItems) -> Void
    ) {
        let c = configuration
        let prefixes = gatheredPrefixes(layer: layer, segments: segments)
        query.withUnsafeBufferPointer { q in
            key.withUnsafeBufferPointer { k in
                value.withUnsafeBufferPointer { v in
                    prefixes.keys.withUnsafeBufferPointer { pk in
                        prefixes.values.withUnsafeBufferPointer { pv in
                            // Without prefixes their pointers are never read; the query's stands in.
                            body(
                                AttentionItems(
                                    heads: c.heads, headDim: c.headDim, hidden: c.hiddenSize, keyValueWidth: c.keyValueWidth,
                                    group: c.heads / c.keyValueHeads, scale: 1 / Float(c.headDim).squareRoot(), segments: segments,
                                    probabilityOffsets: probabilityOffsets(segments), prefixOffsets: prefixes.offsets,
                                    query: q.baseAddress!, key: k.baseAddress!, value: v.baseAddress!,
                                    prefixKeys: pk.baseAddress ?? q.baseAddress!, prefixValues: pv.baseAddress ?? q.baseAddress!))
                        }
                    }
                }
            }
        }
    }

    /// Causal attention within each segment: its row r attends to the segment's frozen prefix and
    /// to its rows 0...r. Fills `probabilities` (per segment [heads, count, prefix + count], prefix
    /// columns first, zero above the diagonal) and `attended` [rows, hidden].
    func attentionForward(
        layer: Int, query: [Float], key: [Float], value: [Float], segments: [PackedSegment], probabilities: inout [Float],
        attended: inout [Float]
    ) {
        let threads = attentionThreads
        withAttentionItems(layer: layer, query: query, key: key, value: value, segments: segments) { items in
            probabilities.withUnsafeMutableBufferPointer { p in
                attended.withUnsafeMutableBufferPointer { out in
                    let pass = ForwardPass(items: items, probabilities: p.baseAddress!, attended: out.baseAddress!)
                    WorkerPool.bulk.run(items: items.count, threads: threads) { pass.run($0) }
                }
            }
        }
    }

    /// Accumulates into dQuery [rows, hidden], dKey and dValue [rows, kvWidth] (zeroed by the
    /// caller); the frozen prefixes get no gradient.
    func attentionBackward(
        layer: Int, trace t: DecoderLayerTrace, dAttended: [Float], segments: [PackedSegment], dQuery: inout [Float], dKey: inout [Float],
        dValue: inout [Float]
    ) {
        let c = configuration
        let (hd, kvWidth) = (c.headDim, c.keyValueWidth)
        let threads = attentionThreads
        let layout = backwardLayout(segments)
        var dKeys = [Float](repeating: 0, count: layout.keyValueSize)
        var dValues = [Float](repeating: 0, count: layout.keyValueSize)
        var dScores = [Float](repeating: 0, count: layout.scoreSize)
        withAttentionItems(layer: layer, query: t.query, key: t.key, value: t.value, segments: segments) { items in
            t.probabilities.withUnsafeBufferPointer { p in
                dAttended.withUnsafeBufferPointer { dOut in
                    dQuery.withUnsafeMutableBufferPointer { dq in
                        dKeys.withUnsafeMutableBufferPointer { dk in
                            dValues.withUnsafeMutableBufferPointer { dv in
                                dScores.withUnsafeMutableBufferPointer { ds in
                                    let pass = BackwardPass(
                                        items: items, probabilities: p.baseAddress!, dAttended: dOut.baseAddress!, dQuery: dq.baseAddress!,
                                        dKeys: dk.baseAddress!, dValues: dv.baseAddress!, dScores: ds.baseAddress!,
                                        keyValueOffsets: layout.keyValueOffsets, scoreOffsets: layout.scoreOffsets)
                                    WorkerPool.bulk.run(items: items.count, threads: threads) { pass.run($0) }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Sum the heads' key and value gradients into their key/value head's columns.
        var item = 0
        for segment in segments {
            for head in 0..<c.heads {
                let column = (head / (c.heads / c.keyValueHeads)) * hd
                let base = layout.keyValueOffsets[item]
                for row in 0..<segment.count {
                    let target = (segment.start + row) * kvWidth + column
                    let source = base + row * hd
                    for offset in 0..<hd {
                        dKey[target + offset] += dKeys[source + offset]
                        dValue[target + offset] += dValues[source + offset]
                    }
                }
                item += 1
            }
        }
    }
}

/// One forward run over a layer's attention items: the outputs they write disjoint parts of.
private struct ForwardPass: @unchecked Sendable {
    let items: AttentionItems
    let probabilities, attended: UnsafeMutablePointer<Float>

    func run(_ item: Int) { items.forward(item, probabilities: probabilities, attended: attended) }
}

/// One backward run over a layer's attention items: what they read, the query gradient they write
/// disjoint columns of, and each item's own key/value gradient blocks and score rows.
private struct BackwardPass: @unchecked Sendable {
    let items: AttentionItems
    let probabilities, dAttended: UnsafePointer<Float>
    let dQuery, dKeys, dValues, dScores: UnsafeMutablePointer<Float>
    let keyValueOffsets, scoreOffsets: [Int]

    func run(_ item: Int) {
        items.backward(
            item, probabilities: probabilities, dAttended: dAttended, dQuery: dQuery, dKeys: dKeys, dValues: dValues,
            keyValueOffset: keyValueOffsets[item], dScores: dScores + scoreOffsets[item])
    }
}
