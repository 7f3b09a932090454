import Numerics

/// Activation buffers for one batch shape, allocated once and reused every step (llm.c style).
/// Not thread-safe: one workspace per thread.
public final class SASRecWorkspace {
    public let configuration: SASRecConfiguration
    public let batch: Int
    let rows: Int
    let attentionShape: CausalAttention.Shape

    private var allocations: [UnsafeMutablePointer<Float>] = []

    // Inputs, [rows] each.
    /// Input item ids, [batch, maxLength], left-padded with 0.
    public let sequence: UnsafeMutablePointer<Int32>
    let positions: UnsafeMutablePointer<Int32>
    let mask: UnsafeMutablePointer<Float>
    // Embedding stage.
    let embedded: UnsafeMutablePointer<Float>
    let embeddingDropMask: UnsafeMutablePointer<Float>
    // Per block, [rows, d] unless noted; `blockInput[blocks]` is the input of the last LayerNorm.
    let blockInput: [UnsafeMutablePointer<Float>]
    let query: [UnsafeMutablePointer<Float>]
    let attentionNormMean: [UnsafeMutablePointer<Float>]
    let attentionNormRstd: [UnsafeMutablePointer<Float>]
    let q: [UnsafeMutablePointer<Float>]
    let k: [UnsafeMutablePointer<Float>]
    let v: [UnsafeMutablePointer<Float>]
    let probabilities: [UnsafeMutablePointer<Float>]
    let droppedProbabilities: [UnsafeMutablePointer<Float>]
    let probabilityMask: [UnsafeMutablePointer<Float>]
    let attended: [UnsafeMutablePointer<Float>]
    let projected: [UnsafeMutablePointer<Float>]
    let residual: [UnsafeMutablePointer<Float>]
    let normed: [UnsafeMutablePointer<Float>]
    let forwardNormMean: [UnsafeMutablePointer<Float>]
    let forwardNormRstd: [UnsafeMutablePointer<Float>]
    let hidden: [UnsafeMutablePointer<Float>]
    let hiddenDropped: [UnsafeMutablePointer<Float>]
    let hiddenMask: [UnsafeMutablePointer<Float>]
    let activated: [UnsafeMutablePointer<Float>]
    let output: [UnsafeMutablePointer<Float>]
    let outputDropped: [UnsafeMutablePointer<Float>]
    let outputMask: [UnsafeMutablePointer<Float>]
    /// The model's output, [rows, d].
    public let logFeatures: UnsafeMutablePointer<Float>
    let lastNormMean: UnsafeMutablePointer<Float>
    let lastNormRstd: UnsafeMutablePointer<Float>
    // Backward scratch, [rows, d] each, plus [length, length].
    let gradient: UnsafeMutablePointer<Float>
    let gradientB: UnsafeMutablePointer<Float>
    let gradientC: UnsafeMutablePointer<Float>
    let gradientQ: UnsafeMutablePointer<Float>
    let gradientK: UnsafeMutablePointer<Float>
    let gradientV: UnsafeMutablePointer<Float>
    let attentionScratch: UnsafeMutablePointer<Float>

    public init(configuration: SASRecConfiguration, batch: Int) {
        self.configuration = configuration
        self.batch = batch
        let length = configuration.maxLength
        let d = configuration.hiddenUnits
        rows = batch * length
        attentionShape = CausalAttention.Shape(
            batch: batch, length: length, heads: configuration.heads, headDim: d / configuration.heads)
        let rowsTimesD = rows * d
        var allocations: [UnsafeMutablePointer<Float>] = []
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            allocations.append(pointer)
            return pointer
        }
        func perBlock(_ count: Int, extra: Int = 0) -> [UnsafeMutablePointer<Float>] {
            (0..<(configuration.blocks + extra)).map { _ in buffer(count) }
        }
        sequence = .allocate(capacity: rows)
        positions = .allocate(capacity: rows)
        for row in 0..<rows { positions[row] = Int32(row % length) }
        mask = buffer(rows)
        embedded = buffer(rowsTimesD)
        embeddingDropMask = buffer(rowsTimesD)
        blockInput = perBlock(rowsTimesD, extra: 1)
        query = perBlock(rowsTimesD)
        attentionNormMean = perBlock(rows)
        attentionNormRstd = perBlock(rows)
        q = perBlock(rowsTimesD)
        k = perBlock(rowsTimesD)
        v = perBlock(rowsTimesD)
        probabilities = perBlock(attentionShape.probabilityCount)
        droppedProbabilities = perBlock(attentionShape.probabilityCount)
        probabilityMask = perBlock(attentionShape.probabilityCount)
        attended = perBlock(rowsTimesD)
        projected = perBlock(rowsTimesD)
        residual = perBlock(rowsTimesD)
        normed = perBlock(rowsTimesD)
        forwardNormMean = perBlock(rows)
        forwardNormRstd = perBlock(rows)
        hidden = perBlock(rowsTimesD)
        hiddenDropped = perBlock(rowsTimesD)
        hiddenMask = perBlock(rowsTimesD)
        activated = perBlock(rowsTimesD)
        output = perBlock(rowsTimesD)
        outputDropped = perBlock(rowsTimesD)
        outputMask = perBlock(rowsTimesD)
        logFeatures = buffer(rowsTimesD)
        lastNormMean = buffer(rows)
        lastNormRstd = buffer(rows)
        gradient = buffer(rowsTimesD)
        gradientB = buffer(rowsTimesD)
        gradientC = buffer(rowsTimesD)
        gradientQ = buffer(rowsTimesD)
        gradientK = buffer(rowsTimesD)
        gradientV = buffer(rowsTimesD)
        attentionScratch = buffer(length * length)
        self.allocations = allocations
    }

    deinit {
        for pointer in allocations { pointer.deallocate() }
        sequence.deallocate()
        positions.deallocate()
    }
}

/// SASRec as A-LLMRec uses it (pmixer/SASRec.pytorch `model.py` @ 30c43cf, copied as
/// ghdtjr/A-LLMRec `pre_train/sasrec/model.py`: `log2feats`), as a
/// forward and a backward over flat buffers. Quirks kept on purpose: item embeddings scaled by √d,
/// positions are slot indices (padding slots get them too, then are zeroed), only the attention
/// query is layer-normed and the residual adds the normed query, no key-padding mask, LayerNorm
/// eps 1e-8, FFN order conv1 → dropout → ReLU → conv2 → dropout.
public enum SASRecNetwork {
    /// Runs the network on `workspace.sequence` ([batch, maxLength], left-padded item ids); the
    /// result is `workspace.logFeatures`. With `training`, dropout draws from `generator`.
    public static func forward(
        weights: UnsafePointer<Float>, layout: ParameterLayout, workspace w: SASRecWorkspace, training: Bool,
        generator: inout SplitMix64
    ) {
        let c = w.configuration
        let d = c.hiddenUnits
        let rows = w.rows
        let count = rows * d
        let p: Float = training ? c.dropout : 0
        func parameter(_ name: String) -> UnsafePointer<Float> { weights + layout.offset(name) }

        Embedding.forward(
            out: w.embedded, ids: w.sequence, table: parameter("item_emb.weight"), count: rows, dim: d,
            scale: Float(d).squareRoot())
        let positional = parameter("pos_emb.weight")
        for row in 0..<rows {
            let target = w.embedded + row * d
            let source = positional + Int(w.positions[row]) * d
            for column in 0..<d { target[column] += source[column] }
            w.mask[row] = w.sequence[row] != 0 ? 1 : 0
        }
        Dropout.forward(
            out: w.blockInput[0], mask: w.embeddingDropMask, x: w.embedded, count: count, probability: p,
            generator: &generator)
        applyMask(w.blockInput[0], mask: w.mask, rows: rows, dim: d)

        for block in 0..<c.blocks {
            let x = w.blockInput[block]
            LayerNorm.forward(
                out: w.query[block], mean: w.attentionNormMean[block], rstd: w.attentionNormRstd[block], x: x,
                gamma: parameter("attention_layernorms.\(block).weight"), beta: parameter("attention_layernorms.\(block).bias"),
                rows: rows, dim: d, eps: SASRecConfiguration.layerNormEpsilon)
            let inWeight = parameter("attention_layers.\(block).in_proj_weight")
            let inBias = parameter("attention_layers.\(block).in_proj_bias")
            Linear.forward(out: w.q[block], x: w.query[block], weight: inWeight, bias: inBias, rows: rows, inFeatures: d, outFeatures: d)
            Linear.forward(out: w.k[block], x: x, weight: inWeight + d * d, bias: inBias + d, rows: rows, inFeatures: d, outFeatures: d)
            Linear.forward(
                out: w.v[block], x: x, weight: inWeight + 2 * d * d, bias: inBias + 2 * d, rows: rows, inFeatures: d, outFeatures: d)
            CausalAttention.forward(
                out: w.attended[block], probabilities: w.probabilities[block], dropped: w.droppedProbabilities[block],
                dropMask: w.probabilityMask[block], q: w.q[block], k: w.k[block], v: w.v[block], shape: w.attentionShape,
                dropout: p, generator: &generator)
            Linear.forward(
                out: w.projected[block], x: w.attended[block], weight: parameter("attention_layers.\(block).out_proj.weight"),
                bias: parameter("attention_layers.\(block).out_proj.bias"), rows: rows, inFeatures: d, outFeatures: d)
            for index in 0..<count { w.residual[block][index] = w.query[block][index] + w.projected[block][index] }
            LayerNorm.forward(
                out: w.normed[block], mean: w.forwardNormMean[block], rstd: w.forwardNormRstd[block], x: w.residual[block],
                gamma: parameter("forward_layernorms.\(block).weight"), beta: parameter("forward_layernorms.\(block).bias"),
                rows: rows, dim: d, eps: SASRecConfiguration.layerNormEpsilon)
            Linear.forward(
                out: w.hidden[block], x: w.normed[block], weight: parameter("forward_layers.\(block).conv1.weight"),
                bias: parameter("forward_layers.\(block).conv1.bias"), rows: rows, inFeatures: d, outFeatures: d)
            Dropout.forward(
                out: w.hiddenDropped[block], mask: w.hiddenMask[block], x: w.hidden[block], count: count, probability: p,
                generator: &generator)
            ReLU.forward(out: w.activated[block], x: w.hiddenDropped[block], count: count)
            Linear.forward(
                out: w.output[block], x: w.activated[block], weight: parameter("forward_layers.\(block).conv2.weight"),
                bias: parameter("forward_layers.\(block).conv2.bias"), rows: rows, inFeatures: d, outFeatures: d)
            Dropout.forward(
                out: w.outputDropped[block], mask: w.outputMask[block], x: w.output[block], count: count, probability: p,
                generator: &generator)
            let next = w.blockInput[block + 1]
            for index in 0..<count { next[index] = w.normed[block][index] + w.outputDropped[block][index] }
            applyMask(next, mask: w.mask, rows: rows, dim: d)
        }
        LayerNorm.forward(
            out: w.logFeatures, mean: w.lastNormMean, rstd: w.lastNormRstd, x: w.blockInput[c.blocks],
            gamma: parameter("last_layernorm.weight"), beta: parameter("last_layernorm.bias"), rows: rows, dim: d,
            eps: SASRecConfiguration.layerNormEpsilon)
    }

    /// Back-propagates `dLogFeatures` ([rows, d], consumed) through the network of the last
    /// `forward`, accumulating into `gradients` (same layout as the weights; callers zero it).
    public static func backward(
        dLogFeatures: UnsafeMutablePointer<Float>, weights: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>,
        layout: ParameterLayout, workspace w: SASRecWorkspace
    ) {
        let c = w.configuration
        let d = c.hiddenUnits
        let rows = w.rows
        let count = rows * d
        func parameter(_ name: String) -> UnsafePointer<Float> { weights + layout.offset(name) }
        func gradientOf(_ name: String) -> UnsafeMutablePointer<Float> { gradients + layout.offset(name) }
        func zero(_ pointer: UnsafeMutablePointer<Float>) { pointer.update(repeating: 0, count: count) }

        // dX: gradient with respect to the current block's output (starts at the last LayerNorm's input).
        let dX = w.gradient
        zero(dX)
        LayerNorm.backward(
            dx: dX, dgamma: gradientOf("last_layernorm.weight"), dbeta: gradientOf("last_layernorm.bias"), dout: dLogFeatures,
            x: w.blockInput[c.blocks], mean: w.lastNormMean, rstd: w.lastNormRstd, gamma: parameter("last_layernorm.weight"),
            rows: rows, dim: d)

        for block in stride(from: c.blocks - 1, through: 0, by: -1) {
            applyMask(dX, mask: w.mask, rows: rows, dim: d)
            // next = normed + dropout(conv2(relu(dropout(conv1(normed))))): dNormed starts as dX.
            let dNormed = w.gradientB
            dNormed.update(from: dX, count: count)
            let dHidden = w.gradientC
            zero(dHidden)
            Dropout.backward(dx: dHidden, dout: dX, mask: w.outputMask[block], count: count)  // d(output)
            let dActivated = w.gradientQ
            zero(dActivated)
            Linear.backward(
                dx: dActivated, dweight: gradientOf("forward_layers.\(block).conv2.weight"),
                dbias: gradientOf("forward_layers.\(block).conv2.bias"), dout: dHidden, x: w.activated[block],
                weight: parameter("forward_layers.\(block).conv2.weight"), rows: rows, inFeatures: d, outFeatures: d)
            zero(dHidden)
            ReLU.backward(dx: dHidden, dout: dActivated, x: w.hiddenDropped[block], count: count)  // d(hiddenDropped)
            zero(dActivated)
            Dropout.backward(dx: dActivated, dout: dHidden, mask: w.hiddenMask[block], count: count)  // d(hidden)
            Linear.backward(
                dx: dNormed, dweight: gradientOf("forward_layers.\(block).conv1.weight"),
                dbias: gradientOf("forward_layers.\(block).conv1.bias"), dout: dActivated, x: w.normed[block],
                weight: parameter("forward_layers.\(block).conv1.weight"), rows: rows, inFeatures: d, outFeatures: d)
            // normed = LN_fwd(residual); residual = query + projected.
            let dResidual = w.gradientC
            zero(dResidual)
            LayerNorm.backward(
                dx: dResidual, dgamma: gradientOf("forward_layernorms.\(block).weight"),
                dbeta: gradientOf("forward_layernorms.\(block).bias"), dout: dNormed, x: w.residual[block],
                mean: w.forwardNormMean[block], rstd: w.forwardNormRstd[block], gamma: parameter("forward_layernorms.\(block).weight"),
                rows: rows, dim: d)
            let dQuery = w.gradientB
            dQuery.update(from: dResidual, count: count)
            let dAttended = w.gradientQ
            zero(dAttended)
            Linear.backward(
                dx: dAttended, dweight: gradientOf("attention_layers.\(block).out_proj.weight"),
                dbias: gradientOf("attention_layers.\(block).out_proj.bias"), dout: dResidual, x: w.attended[block],
                weight: parameter("attention_layers.\(block).out_proj.weight"), rows: rows, inFeatures: d, outFeatures: d)
            let dq = w.gradientC
            zero(dq)
            zero(w.gradientK)
            zero(w.gradientV)
            CausalAttention.backward(
                dq: dq, dk: w.gradientK, dv: w.gradientV, dout: dAttended, probabilities: w.probabilities[block],
                dropped: w.droppedProbabilities[block], dropMask: w.probabilityMask[block], q: w.q[block], k: w.k[block],
                v: w.v[block], shape: w.attentionShape, scratch: w.attentionScratch)
            let inWeight = parameter("attention_layers.\(block).in_proj_weight")
            let dInWeight = gradientOf("attention_layers.\(block).in_proj_weight")
            let dInBias = gradientOf("attention_layers.\(block).in_proj_bias")
            let x = w.blockInput[block]
            // The block input feeds k, v and (through the LayerNorm) q: dX is rebuilt from them.
            zero(dX)
            Linear.backward(
                dx: dQuery, dweight: dInWeight, dbias: dInBias, dout: dq, x: w.query[block], weight: inWeight, rows: rows,
                inFeatures: d, outFeatures: d)
            Linear.backward(
                dx: dX, dweight: dInWeight + d * d, dbias: dInBias + d, dout: w.gradientK, x: x, weight: inWeight + d * d,
                rows: rows, inFeatures: d, outFeatures: d)
            Linear.backward(
                dx: dX, dweight: dInWeight + 2 * d * d, dbias: dInBias + 2 * d, dout: w.gradientV, x: x,
                weight: inWeight + 2 * d * d, rows: rows, inFeatures: d, outFeatures: d)
            LayerNorm.backward(
                dx: dX, dgamma: gradientOf("attention_layernorms.\(block).weight"),
                dbeta: gradientOf("attention_layernorms.\(block).bias"), dout: dQuery, x: x, mean: w.attentionNormMean[block],
                rstd: w.attentionNormRstd[block], gamma: parameter("attention_layernorms.\(block).weight"), rows: rows, dim: d)
        }
        // blockInput[0] = dropout(embedded) · mask; embedded = item_emb[seq] · √d + pos_emb[slot].
        applyMask(dX, mask: w.mask, rows: rows, dim: d)
        let dEmbedded = w.gradientB
        zero(dEmbedded)
        Dropout.backward(dx: dEmbedded, dout: dX, mask: w.embeddingDropMask, count: count)
        Embedding.backward(
            dtable: gradientOf("item_emb.weight"), dout: dEmbedded, ids: w.sequence, count: rows, dim: d,
            scale: Float(d).squareRoot(), paddingIndex: 0)
        Embedding.backward(dtable: gradientOf("pos_emb.weight"), dout: dEmbedded, ids: w.positions, count: rows, dim: d)
    }

    private static func applyMask(_ x: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>, rows: Int, dim: Int) {
        for row in 0..<rows where mask[row] == 0 {
            (x + row * dim).update(repeating: 0, count: dim)
        }
    }
}
