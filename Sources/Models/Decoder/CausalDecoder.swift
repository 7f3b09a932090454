import Foundation
import Numerics

/// A decoder's weights in Float32, Hugging Face layout (Llama q/k rows in rotate-half order; a GGUF
/// reader must undo llama.cpp's permutation first). Optional members are what one family lacks.
public struct DecoderWeights: Sendable {
    /// RMSNorm when `bias` is nil (Llama), LayerNorm otherwise (OPT).
    public struct Norm: Sendable {
        public var weight: [Float]
        public var bias: [Float]?

        public init(weight: [Float], bias: [Float]? = nil) {
            self.weight = weight
            self.bias = bias
        }
    }

    public struct Layer: Sendable {
        public var attentionNorm: Norm
        /// [heads · headDim, hidden], [kvHeads · headDim, hidden] ×2, [hidden, heads · headDim].
        public var query, key, value, output: WeightMatrix
        public var queryBias, keyBias, valueBias, outputBias: [Float]?
        public var feedForwardNorm: Norm
        /// Llama's SwiGLU gate, [intermediate, hidden]; nil for OPT's ReLU FFN.
        public var gate: WeightMatrix?
        /// [intermediate, hidden] (Llama up_proj, OPT fc1) and [hidden, intermediate] (down_proj, fc2).
        public var up, down: WeightMatrix
        public var upBias, downBias: [Float]?

        public init(
            attentionNorm: Norm, query: WeightMatrix, key: WeightMatrix, value: WeightMatrix, output: WeightMatrix,
            queryBias: [Float]? = nil, keyBias: [Float]? = nil, valueBias: [Float]? = nil, outputBias: [Float]? = nil,
            feedForwardNorm: Norm, gate: WeightMatrix?, up: WeightMatrix, down: WeightMatrix, upBias: [Float]? = nil,
            downBias: [Float]? = nil
        ) {
            self.attentionNorm = attentionNorm
            self.query = query
            self.key = key
            self.value = value
            self.output = output
            self.queryBias = queryBias
            self.keyBias = keyBias
            self.valueBias = valueBias
            self.outputBias = outputBias
            self.feedForwardNorm = feedForwardNorm
            self.gate = gate
            self.up = up
            self.down = down
            self.upBias = upBias
            self.downBias = downBias
        }
    }

    /// [vocabulary, embeddingSize].
    public var tokenEmbeddings: WeightMatrix
    /// OPT's learned positions, [maxPositions + 2, hidden] (row = position + 2); nil for Llama.
    public var positionEmbeddings: [Float]?
    /// OPT-350m: [hidden, embeddingSize] and [embeddingSize, hidden].
    public var projectIn: [Float]?
    public var projectOut: [Float]?
    public var layers: [Layer]
    /// Absent for post-LN OPT.
    public var finalNorm: Norm?
    /// [vocabulary, embeddingSize]; nil when tied to `tokenEmbeddings`.
    public var outputHead: WeightMatrix?

    public init(
        tokenEmbeddings: WeightMatrix, positionEmbeddings: [Float]? = nil, projectIn: [Float]? = nil, projectOut: [Float]? = nil,
        layers: [Layer], finalNorm: Norm?, outputHead: WeightMatrix?
    ) {
        self.tokenEmbeddings = tokenEmbeddings
        self.positionEmbeddings = positionEmbeddings
        self.projectIn = projectIn
        self.projectOut = projectOut
        self.layers = layers
        self.finalNorm = finalNorm
        self.outputHead = outputHead
    }
}

/// Keys and values of the positions seen so far, per layer, head-major: [kvHeads, capacity, headDim]
/// each, so that one head's attention reads its positions as one stream.
public struct KVCache: Sendable {
    public let capacity: Int
    public private(set) var count = 0
    let headDim: Int
    let keyValueHeads: Int
    var keys: [[Float]]
    var values: [[Float]]

    public init(configuration: DecoderConfiguration, capacity: Int) {
        self.capacity = capacity
        headDim = configuration.headDim
        keyValueHeads = configuration.keyValueHeads
        let size = capacity * configuration.keyValueWidth
        keys = [[Float]](repeating: [Float](repeating: 0, count: size), count: configuration.layers)
        values = keys
    }

    /// Bytes of keys and values allocated (all of `capacity`, used or not).
    public var byteCount: Int { (keys.reduce(0) { $0 + $1.count } + values.reduce(0) { $0 + $1.count }) * MemoryLayout<Float>.size }

    /// Where a head's position is.
    var layout: CachedAttention.Layout { .headMajor(headDim: headDim, capacity: capacity) }

    /// Stores `rows` positions from `position` on for `layer`, from rows of [kvHeads · headDim]
    /// keys and values.
    mutating func store(layer: Int, keys newKeys: [Float], values newValues: [Float], rows: Int, at position: Int) {
        let (hd, width) = (headDim, keyValueHeads * headDim)
        for head in 0..<keyValueHeads {
            for row in 0..<rows {
                let target = (head * capacity + position + row) * hd
                let source = row * width + head * hd
                keys[layer].replaceSubrange(target..<(target + hd), with: newKeys[source..<(source + hd)])
                values[layer].replaceSubrange(target..<(target + hd), with: newValues[source..<(source + hd)])
            }
        }
    }

    /// A cache of `capacity` positions holding this one's first `min(count, capacity)` positions.
    func resized(capacity newCapacity: Int, configuration: DecoderConfiguration) -> KVCache {
        var resized = KVCache(configuration: configuration, capacity: newCapacity)
        let kept = min(count, newCapacity)
        for layer in keys.indices {
            for head in 0..<keyValueHeads {
                let (source, target, span) = (head * capacity * headDim, head * newCapacity * headDim, kept * headDim)
                resized.keys[layer].replaceSubrange(target..<(target + span), with: keys[layer][source..<(source + span)])
                resized.values[layer].replaceSubrange(target..<(target + span), with: values[layer][source..<(source + span)])
            }
        }
        resized.count = kept
        return resized
    }

    /// Forgets every position from `length` on (to reuse a shared prefix).
    public mutating func truncate(to length: Int) { count = min(count, max(0, length)) }

    mutating func advance(by positions: Int) { count += positions }
}

/// One decoder-only transformer with switches for the two families A-LLMRec and the daemon
/// use: Llama (RMSNorm, rotate-half RoPE, grouped-query attention, SwiGLU, optionally
/// tied head) and OPT (LayerNorm, learned positions with offset 2, ReLU, biases, tied head, pre-LN or
/// post-LN with project_in/out). Float32, with a KV cache. Immutable; concurrent calls need separate
/// caches.
public struct CausalDecoder: Sendable {
    public let configuration: DecoderConfiguration
    public internal(set) var weights: DecoderWeights
    /// Threads for single-token steps over quantised weights (decode is bandwidth-bound; two cores
    /// pull more memory bandwidth than one).
    public var threads = 1
    /// Single-token steps over Q4_0/Q4_1/Q8_0 weights quantise the activations to 8 bits and use
    /// integer dot products (llama.cpp's decode path): faster, not bit-comparable with a Float32
    /// reference. Off by default; `LanguageModel` turns it on for GGUF models.
    public var integerActivations = false
    /// RoPE cos/sin of every position and rotation pair: [maxPositions, headDim / 2] (Llama only).
    private let cosines: [Float]
    private let sines: [Float]

    /// Bytes of every weight as held in memory (quantised matrices at their block size).
    public var weightBytes: Int {
        func bytes(_ matrix: WeightMatrix) -> Int {
            switch matrix {
            case .dense(let values): return values.count * 4
            case .quantized(let quantized): return quantized.bytes.count
            case .bfloat16(let matrix, let transposed): return matrix.byteCount + transposed.byteCount
            }
        }
        func vector(_ values: [Float]?) -> Int { (values?.count ?? 0) * 4 }
        var total = bytes(weights.tokenEmbeddings) + (weights.outputHead.map(bytes) ?? 0) + vector(weights.positionEmbeddings)
            + vector(weights.projectIn) + vector(weights.projectOut) + vector(weights.finalNorm?.weight) + vector(weights.finalNorm?.bias)
        for layer in weights.layers {
            total += [layer.query, layer.key, layer.value, layer.output, layer.up, layer.down].map(bytes).reduce(0, +)
            total += layer.gate.map(bytes) ?? 0
            total += [layer.queryBias, layer.keyBias, layer.valueBias, layer.outputBias, layer.upBias, layer.downBias].map(vector).reduce(0, +)
            total += vector(layer.attentionNorm.weight) + vector(layer.attentionNorm.bias) + vector(layer.feedForwardNorm.weight)
                + vector(layer.feedForwardNorm.bias)
        }
        return total
    }

    /// The same decoder with every Float32 matrix (embeddings, projections, FFN, head) quantised to
    /// Q8_0 at load: a quarter of the memory, for models that would not fit otherwise (OPT-6.7B in
    /// 24 GB). Matrices whose rows are not whole 32-element blocks stay Float32.
    public func quantizedToQ8_0() -> CausalDecoder {
        let c = configuration
        let (h, i, e, kv) = (c.hiddenSize, c.intermediateSize, c.embeddingSize, c.keyValueWidth)
        var quantized = weights
        quantized.tokenEmbeddings = weights.tokenEmbeddings.quantizedToQ8_0(rows: c.vocabularySize, columns: e)
        quantized.outputHead = weights.outputHead?.quantizedToQ8_0(rows: c.vocabularySize, columns: e)
        quantized.layers = weights.layers.map { layer in
            var layer = layer
            layer.query = layer.query.quantizedToQ8_0(rows: h, columns: h)
            layer.key = layer.key.quantizedToQ8_0(rows: kv, columns: h)
            layer.value = layer.value.quantizedToQ8_0(rows: kv, columns: h)
            layer.output = layer.output.quantizedToQ8_0(rows: h, columns: h)
            layer.gate = layer.gate?.quantizedToQ8_0(rows: i, columns: h)
            layer.up = layer.up.quantizedToQ8_0(rows: i, columns: h)
            layer.down = layer.down.quantizedToQ8_0(rows: h, columns: i)
            return layer
        }
        var decoder = self
        decoder.weights = quantized
        return decoder
    }

    public init(configuration: DecoderConfiguration, weights: DecoderWeights) throws(DecoderError) {
        guard configuration.heads % configuration.keyValueHeads == 0, configuration.hiddenSize % configuration.heads == 0 else {
            throw .invalidConfiguration(
                "\(configuration.heads) heads, \(configuration.keyValueHeads) key/value heads, hidden \(configuration.hiddenSize)")
        }
        guard weights.layers.count == configuration.layers else {
            throw .invalidConfiguration("\(weights.layers.count) layers of weights for \(configuration.layers) layers")
        }
        if configuration.family == .opt && weights.positionEmbeddings == nil {
            throw .invalidConfiguration("OPT needs learned position embeddings")
        }
        self.configuration = configuration
        self.weights = weights
        let half = configuration.headDim / 2
        var cosines: [Float] = []
        var sines: [Float] = []
        if configuration.family == .llama {
            cosines = [Float](repeating: 0, count: configuration.maxPositions * half)
            sines = cosines
            for position in 0..<configuration.maxPositions {
                for pair in 0..<half {
                    let frequency = configuration.ropeInverseFrequency(pair: pair)
                    let angle = Double(position) * frequency
                    cosines[position * half + pair] = Float(cos(angle))
                    sines[position * half + pair] = Float(sin(angle))
                }
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Runs `tokens` after the positions already in `cache` (prefill when many, a decode step when
    /// one) and returns the logits of the last position ([vocabulary]); with `allLogits`, of every
    /// new position ([tokens.count · vocabulary]). `inputEmbeddings` replaces the token embedding at
    /// given offsets of `tokens` (soft prompts), each of `embeddingSize` values.
    public func forward(
        tokens: [Int32], cache: inout KVCache, allLogits: Bool = false, inputEmbeddings: [Int: [Float]] = [:]
    ) throws(DecoderError) -> [Float] {
        let hidden = try run(tokens: tokens, branchStarts: nil, cache: &cache, inputEmbeddings: inputEmbeddings)
        let outputRows = allLogits ? tokens.count : 1
        return outputLogits(hidden: Array(hidden[((tokens.count - outputRows) * configuration.hiddenSize)...]), rows: outputRows)
    }

    /// Runs `tokens` after the positions in `cache` only to extend the cache (no logits).
    public func prefill(tokens: [Int32], cache: inout KVCache, inputEmbeddings: [Int: [Float]] = [:]) throws(DecoderError) {
        _ = try run(tokens: tokens, branchStarts: nil, cache: &cache, inputEmbeddings: inputEmbeddings)
    }

    /// Runs `tokens` after the positions in `cache`, as `forward`, and returns the final state of
    /// the last position (after the final norm: what the head would read), [embeddingSize]: the
    /// vector retrieval models read at an output token.
    public func lastFinalState(
        tokens: [Int32], cache: inout KVCache, inputEmbeddings: [Int: [Float]] = [:]
    ) throws(DecoderError) -> [Float] {
        let hidden = try run(tokens: tokens, branchStarts: nil, cache: &cache, inputEmbeddings: inputEmbeddings)
        return finalStates(hidden: Array(hidden[((tokens.count - 1) * configuration.hiddenSize)...]), rows: 1)
    }

    /// Runs independent sequences in one pass (each from position 0, attending only to itself, as
    /// branches of an empty prefix) and returns the final state of each one's last position, as
    /// `lastFinalState` would one at a time: [sequences.count · embeddingSize]. `inputEmbeddings`
    /// are by offset within their sequence.
    public func lastFinalStates(of sequences: [(tokens: [Int32], inputEmbeddings: [Int: [Float]])]) throws(DecoderError) -> [Float] {
        try finalStates(of: sequences, pooling: Array(repeating: nil, count: sequences.count)).last
    }

    /// As `lastFinalStates(of:)`, and in the same pass the mean of the final states over
    /// `pooling[i]` (offsets within sequence i; nil or empty: a zero row): `last` and `pooled` are
    /// each [sequences.count · embeddingSize]. Empty sequences give no rows.
    public func finalStates(
        of sequences: [(tokens: [Int32], inputEmbeddings: [Int: [Float]])], pooling: [Range<Int>?]
    ) throws(DecoderError) -> (last: [Float], pooled: [Float]) {
        precondition(pooling.count == sequences.count, "one pooling range (or nil) per sequence")
        var starts: [Int] = []
        var tokens: [Int32] = []
        var embeddings: [Int: [Float]] = [:]
        var lastRows: [Int] = []
        var pooledRows: [Range<Int>] = []
        for (sequence, range) in zip(sequences, pooling) where !sequence.tokens.isEmpty {
            let start = tokens.count
            for (offset, vector) in sequence.inputEmbeddings { embeddings[start + offset] = vector }
            starts += [Int](repeating: start, count: sequence.tokens.count)
            tokens += sequence.tokens
            lastRows.append(tokens.count - 1)
            let clamped = range.map { $0.clamped(to: 0..<sequence.tokens.count) } ?? 0..<0
            pooledRows.append((start + clamped.lowerBound)..<(start + clamped.upperBound))
        }
        guard !tokens.isEmpty else { return ([], []) }
        var cache = KVCache(configuration: configuration, capacity: tokens.count)
        let hidden = try run(tokens: tokens, branchStarts: starts, cache: &cache, inputEmbeddings: embeddings)
        let (h, e) = (configuration.hiddenSize, configuration.embeddingSize)
        let last = finalStates(hidden: lastRows.flatMap { hidden[($0 * h)..<(($0 + 1) * h)] }, rows: lastRows.count)
        let pooledSource = pooledRows.flatMap { $0 }
        guard !pooledSource.isEmpty else { return (last, [Float](repeating: 0, count: lastRows.count * e)) }
        let states = finalStates(hidden: pooledSource.flatMap { hidden[($0 * h)..<(($0 + 1) * h)] }, rows: pooledSource.count)
        var pooled = [Float](repeating: 0, count: lastRows.count * e)
        var row = 0
        for (index, range) in pooledRows.enumerated() {
            for _ in range {
                for k in 0..<e { pooled[index * e + k] += states[row * e + k] }
                row += 1
            }
            if !range.isEmpty { for k in 0..<e { pooled[index * e + k] /= Float(range.count) } }
        }
        return (last, pooled)
    }

    /// Runs several independent continuations of the sequence in `cache` in one pass: each branch
    /// sees the cached prefix and its own earlier tokens, never another branch, and its positions
    /// continue the prefix's. Returns the logits of every branch token, branches concatenated
    /// ([Σ branch lengths · vocabulary]). The branches' keys and values stay in `cache` after the
    /// prefix; truncate it to reuse the prefix.
    public func forwardBranches(_ branches: [[Int32]], cache: inout KVCache) throws(DecoderError) -> [Float] {
        var starts: [Int] = []
        for branch in branches { starts += [Int](repeating: starts.count, count: branch.count) }
        let rows = starts.count
        return outputLogits(hidden: try run(tokens: branches.flatMap { $0 }, branchStarts: starts, cache: &cache, inputEmbeddings: [:]), rows: rows)
    }

    /// The forward pass, returning the last layer's hidden states of every new row [rows,
    /// hiddenSize]; `branchStarts[row]`, when given, is the offset of the first row of that row's
    /// branch (rows of one branch are contiguous).
    private func run(
        tokens: [Int32], branchStarts: [Int]?, cache: inout KVCache, inputEmbeddings: [Int: [Float]]
    ) throws(DecoderError) -> [Float] {
        let c = configuration
        let rows = tokens.count
        let start = cache.count
        let longest = branchStarts.map { starts in starts.indices.map { $0 - starts[$0] + 1 }.max() ?? 0 } ?? rows
        guard start + rows <= cache.capacity, start + longest <= c.maxPositions else {
            throw .contextFull(limit: min(cache.capacity, c.maxPositions))
        }
        let positions = (0..<rows).map { start + $0 - (branchStarts?[$0] ?? 0) }
        var x = try embed(tokens: tokens, inputEmbeddings: inputEmbeddings, positions: positions)
        var scratch = LayerScratch(configuration: c, rows: rows)
        for (index, layer) in weights.layers.enumerated() {
            _ = runLayer(layer, x: &x, rows: rows, positions: positions, scratch: &scratch, integerActivations: integerActivations) { s in
                cache.store(layer: index, keys: s.k, values: s.v, rows: rows, at: start)
                // Prompts take the matrix path; decode rows and branches the row kernel.
                if branchStarts == nil && rows >= Self.matrixAttentionRows {
                    matrixAttention(keys: cache.keys[index], values: cache.values[index], layout: cache.layout, start: start, rows: rows, scratch: &s)
                } else {
                    rowAttention(
                        keys: cache.keys[index], values: cache.values[index], layout: cache.layout, start: start, rows: rows,
                        branchStarts: branchStarts, scratch: &s)
                }
            }
        }
        cache.advance(by: rows)
        return x
    }

    /// Logits [rows, vocabulary] of final hidden states [rows, hiddenSize]: `finalStates`, then
    /// the (tied or separate) head.
    func outputLogits(hidden: [Float], rows: Int) -> [Float] {
        let c = configuration
        var logits = [Float](repeating: 0, count: rows * c.vocabularySize)
        (weights.outputHead ?? weights.tokenEmbeddings).forward(
            out: &logits, x: finalStates(hidden: hidden, rows: rows), bias: nil, rows: rows, inFeatures: c.embeddingSize,
            outFeatures: c.vocabularySize, threads: threads, integerActivations: integerActivations)
        return logits
    }

    /// The final norm and OPT-350m's project_out over last-layer hidden states [rows, hiddenSize]:
    /// what the head reads, [rows, embeddingSize].
    func finalStates(hidden: [Float], rows: Int) -> [Float] {
        let c = configuration
        let (h, e) = (c.hiddenSize, c.embeddingSize)
        var final = hidden
        if let norm = weights.finalNorm {
            Self.normalize(out: &final, x: hidden, norm: norm, rows: rows, dim: h, eps: normEpsilon)
        }
        if let projectOut = weights.projectOut {
            var projected = [Float](repeating: 0, count: rows * e)
            Linear.forward(out: &projected, x: final, weight: projectOut, bias: nil, rows: rows, inFeatures: h, outFeatures: e)
            final = projected
        }
        return final
    }

    /// The first hidden states of `tokens` at `positions` (one per token): token embeddings (or the
    /// soft vectors of `inputEmbeddings`, by offset, `embeddingSize` values each), through OPT-350m's
    /// project_in, plus OPT's learned positions. [tokens.count, hiddenSize].
    func embed(tokens: [Int32], inputEmbeddings: [Int: [Float]], positions: [Int]) throws(DecoderError) -> [Float] {
        let c = configuration
        let (h, e) = (c.hiddenSize, c.embeddingSize)
        let rows = tokens.count
        var embedded = [Float](repeating: 0, count: rows * e)
        for (row, token) in tokens.enumerated() {
            if let soft = inputEmbeddings[row], soft.count == e {
                for column in 0..<e { embedded[row * e + column] = soft[column] }
                continue
            }
            guard token >= 0, Int(token) < c.vocabularySize else { throw .unknownToken(token) }
            let values = weights.tokenEmbeddings.row(Int(token), columns: e)
            for column in 0..<e { embedded[row * e + column] = values[column] }
        }
        var x: [Float]
        if let projectIn = weights.projectIn {
            x = [Float](repeating: 0, count: rows * h)
            Linear.forward(out: &x, x: embedded, weight: projectIn, bias: nil, rows: rows, inFeatures: e, outFeatures: h)
        } else {
            x = embedded
        }
        if let table = weights.positionEmbeddings {
            for row in 0..<rows {
                let base = (positions[row] + 2) * h
                for column in 0..<h { x[row * h + column] += table[base + column] }
            }
        }
        return x
    }

    /// Buffers of one forward call, sized for its rows.
    /// Buffers one layer forward works in, reused across layers: sized for `rows` rows.
    struct LayerScratch {
        var normed, q, k, v, attended, projected, gate, up: [Float]

        init(configuration c: DecoderConfiguration, rows: Int) {
            normed = [Float](repeating: 0, count: rows * c.hiddenSize)
            q = normed
            attended = normed
            projected = normed
            k = [Float](repeating: 0, count: rows * c.keyValueWidth)
            v = k
            gate = [Float](repeating: 0, count: rows * c.intermediateSize)
            up = gate
        }
    }

    var normEpsilon: Float { configuration.family == .opt ? 1e-5 : configuration.rmsNormEpsilon }

    /// One layer over `rows` rows of `x` (updated in place) at `positions`: the one layer forward
    /// of inference and training. The attention norm, q/k/v (with RoPE), `attend` (which reads
    /// `s.q`, `s.k` and `s.v` and fills `s.attended`: over the KV cache when serving, within packed
    /// sequences when training), the output projection and its residual, then the feed-forward
    /// block and its residual, each norm where the family puts it. With `keep`, returns what the
    /// backward pass needs (`probabilities` left for `attend`'s caller to fill); `integerActivations`
    /// lets quantised single rows use the integer kernels.
    func runLayer(
        _ layer: DecoderWeights.Layer, x: inout [Float], rows: Int, positions: [Int], scratch s: inout LayerScratch,
        integerActivations: Bool, keep: Bool = false, attend: (inout LayerScratch) -> Void
    ) -> DecoderLayerTrace? {
        let c = configuration
        let (h, inter, kvWidth) = (c.hiddenSize, c.intermediateSize, c.keyValueWidth)
        let preNorm = c.family == .llama || c.normalizeBefore
        let input = keep ? x : []
        // Attention block.
        if preNorm {
            Self.normalize(out: &s.normed, x: x, norm: layer.attentionNorm, rows: rows, dim: h, eps: normEpsilon)
        } else {
            s.normed = x
        }
        let attentionInput = keep ? s.normed : []
        layer.query.forward(
            out: &s.q, x: s.normed, bias: layer.queryBias, rows: rows, inFeatures: h, outFeatures: h, threads: threads,
            integerActivations: integerActivations)
        layer.key.forward(
            out: &s.k, x: s.normed, bias: layer.keyBias, rows: rows, inFeatures: h, outFeatures: kvWidth, threads: threads,
            integerActivations: integerActivations)
        layer.value.forward(
            out: &s.v, x: s.normed, bias: layer.valueBias, rows: rows, inFeatures: h, outFeatures: kvWidth, threads: threads,
            integerActivations: integerActivations)
        if c.family == .llama {
            for row in 0..<rows {
                rotate(&s.q, row: row, width: h, heads: c.heads, position: positions[row])
                rotate(&s.k, row: row, width: kvWidth, heads: c.keyValueHeads, position: positions[row])
            }
        }
        attend(&s)
        layer.output.forward(
            out: &s.projected, x: s.attended, bias: layer.outputBias, rows: rows, inFeatures: h, outFeatures: h, threads: threads,
            integerActivations: integerActivations)
        for offset in 0..<(rows * h) { x[offset] += s.projected[offset] }
        let attentionSum = keep ? x : []
        if !preNorm {
            let residual = x
            Self.normalize(out: &x, x: residual, norm: layer.attentionNorm, rows: rows, dim: h, eps: normEpsilon)
        }
        // Feed-forward block.
        if preNorm {
            Self.normalize(out: &s.normed, x: x, norm: layer.feedForwardNorm, rows: rows, dim: h, eps: normEpsilon)
        } else {
            s.normed = x
        }
        layer.up.forward(
            out: &s.up, x: s.normed, bias: layer.upBias, rows: rows, inFeatures: h, outFeatures: inter, threads: threads,
            integerActivations: integerActivations)
        var gatePreActivations: [Float]?
        if let gateWeight = layer.gate {
            gateWeight.forward(
                out: &s.gate, x: s.normed, bias: nil, rows: rows, inFeatures: h, outFeatures: inter, threads: threads,
                integerActivations: integerActivations)
            if keep { gatePreActivations = s.gate }
            VectorMath.siluMultiply(&s.gate, s.up, count: rows * inter)
        } else {
            for offset in 0..<(rows * inter) { s.gate[offset] = max(s.up[offset], 0) }
        }
        layer.down.forward(
            out: &s.projected, x: s.gate, bias: layer.downBias, rows: rows, inFeatures: inter, outFeatures: h, threads: threads,
            integerActivations: integerActivations)
        for offset in 0..<(rows * h) { x[offset] += s.projected[offset] }
        var feedForwardSum: [Float]?
        if !preNorm {
            if keep { feedForwardSum = x }
            let residual = x
            Self.normalize(out: &x, x: residual, norm: layer.feedForwardNorm, rows: rows, dim: h, eps: normEpsilon)
        }
        guard keep else { return nil }
        return DecoderLayerTrace(
            input: input, attentionInput: attentionInput, query: s.q, key: s.k, value: s.v, probabilities: [], attended: s.attended,
            attentionSum: attentionSum, feedForwardInput: s.normed, gate: gatePreActivations, up: s.up, activated: s.gate,
            feedForwardSum: feedForwardSum)
    }

    /// Rows at or above which a prompt's attention runs as matrix products (BLAS) per head.
    static let matrixAttentionRows = 16

    /// Attention of `rows` new rows one at a time: row r sees the cached prefix [0, start) and its
    /// own branch's rows up to itself (the whole sequence so far without branches). Fills
    /// `scratch.attended` from `scratch.q` and the cache.
    private func rowAttention(
        keys: [Float], values: [Float], layout: CachedAttention.Layout, start: Int, rows: Int, branchStarts: [Int]?, scratch s: inout LayerScratch
    ) {
        let c = configuration
        let h = c.hiddenSize
        keys.withUnsafeBufferPointer { keys in
            values.withUnsafeBufferPointer { values in
                s.q.withUnsafeBufferPointer { q in
                    s.attended.withUnsafeMutableBufferPointer { attended in
                        for row in 0..<rows {
                            let own = start + (branchStarts?[row] ?? 0)
                            let visible = start + (start + row - own) + 1
                            let task = HeadAttention(
                                configuration: c, layout: layout, keys: keys.baseAddress!, values: values.baseAddress!,
                                query: q.baseAddress! + row * h,
                                out: attended.baseAddress! + row * h, start: start, own: own, visible: visible)
                            // A long single decode row splits its heads over the decoding threads.
                            let parts = rows == 1 && threads > 1 && visible >= 128 ? min(threads, c.heads) : 1
                            WorkerPool.shared.run(parts: parts) { part in
                                task.run(heads: (part * c.heads / parts)..<((part + 1) * c.heads / parts))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Causal attention of a block of new rows as matrix products per head: scores = Q·Kᵀ over every
    /// cached and new position, masked above the diagonal, softmax, then P·V.
    private func matrixAttention(
        keys: [Float], values: [Float], layout: CachedAttention.Layout, start: Int, rows: Int, scratch s: inout LayerScratch
    ) {
        let c = configuration
        let (h, hd) = (c.hiddenSize, c.headDim)
        let group = c.heads / c.keyValueHeads
        let total = start + rows
        var scores = [Float](repeating: 0, count: rows * total)
        keys.withUnsafeBufferPointer { k in
            values.withUnsafeBufferPointer { v in
                s.q.withUnsafeBufferPointer { q in
                    s.attended.withUnsafeMutableBufferPointer { out in
                        scores.withUnsafeMutableBufferPointer { p in
                            for head in 0..<c.heads {
                                let kvHead = head / group
                                BLAS.gemm(
                                    transposeB: true, m: rows, n: total, k: hd, alpha: 1 / Float(hd).squareRoot(), a: q.baseAddress! + head * hd,
                                    lda: h, b: k.baseAddress! + kvHead * layout.headStride, ldb: layout.positionStride, c: p.baseAddress!, ldc: total)
                                for row in 0..<rows {
                                    let line = p.baseAddress! + row * total
                                    let visible = start + row + 1
                                    VectorMath.softmaxInPlace(line, count: visible)
                                    (line + visible).update(repeating: 0, count: total - visible)
                                }
                                BLAS.gemm(
                                    m: rows, n: hd, k: total, a: p.baseAddress!, lda: total, b: v.baseAddress! + kvHead * layout.headStride,
                                    ldb: layout.positionStride,
                                    c: out.baseAddress! + head * hd, ldc: h)
                            }
                        }
                    }
                }
            }
        }
    }

    /// HF rotate-half RoPE in place on one row of `heads` heads: pairs (i, i + headDim/2); with
    /// `inverse`, the opposite rotation (what a gradient goes through on the way back).
    func rotate(_ buffer: inout [Float], row: Int, width: Int, heads: Int, position: Int, inverse: Bool = false) {
        let hd = configuration.headDim
        let half = hd / 2
        for head in 0..<heads {
            let base = row * width + head * hd
            for pair in 0..<half {
                let cosine = cosines[position * half + pair]
                let sine = inverse ? -sines[position * half + pair] : sines[position * half + pair]
                let first = buffer[base + pair]
                let second = buffer[base + pair + half]
                buffer[base + pair] = first * cosine - second * sine
                buffer[base + pair + half] = second * cosine + first * sine
            }
        }
    }

    /// RMSNorm (no bias) or LayerNorm (with bias), per row.
    static func normalize(out: inout [Float], x: [Float], norm: DecoderWeights.Norm, rows: Int, dim: Int, eps: Float) {
        if let bias = norm.bias {
            var mean = [Float](repeating: 0, count: rows)
            var rstd = mean
            LayerNorm.forward(out: &out, mean: &mean, rstd: &rstd, x: x, gamma: norm.weight, beta: bias, rows: rows, dim: dim, eps: eps)
            return
        }
        for row in 0..<rows {
            var sum: Float = 0
            for column in 0..<dim { sum += x[row * dim + column] * x[row * dim + column] }
            let inverse = 1 / (sum / Float(dim) + eps).squareRoot()
            for column in 0..<dim { out[row * dim + column] = x[row * dim + column] * inverse * norm.weight[column] }
        }
    }
}

/// One row's attention over some heads, on raw buffers (shared read-only but for each head's own
/// output slice): row r sees cache positions [0, start) and [own, own + visible − start).
private struct HeadAttention: @unchecked Sendable {
    let configuration: DecoderConfiguration
    let layout: CachedAttention.Layout
    let keys: UnsafePointer<Float>
    let values: UnsafePointer<Float>
    let query: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
    let start: Int
    let own: Int
    let visible: Int

    func run(heads: Range<Int>) {
        let c = configuration
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: visible)
        defer { scores.deallocate() }
        CachedAttention.row(
            query: query, keys: keys, values: values, out: out, heads: heads, group: c.heads / c.keyValueHeads, layout: layout,
            span: .init(prefix: start, own: own, visible: visible), scores: scores)
    }
}
