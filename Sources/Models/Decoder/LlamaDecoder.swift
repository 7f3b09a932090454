import Foundation
import Numerics

/// Llama-family weights in Float32 under Hugging Face's layout (q/k rows in the rotate-half order;
/// a GGUF reader must undo llama.cpp's permutation first).
public struct LlamaWeights: Sendable {
    public struct Layer: Sendable {
        public var attentionNorm: [Float]
        /// [heads · headDim, hidden], [kvHeads · headDim, hidden] ×2, [hidden, heads · headDim].
        public var query, key, value, output: [Float]
        public var feedForwardNorm: [Float]
        /// [intermediate, hidden] ×2 and [hidden, intermediate].
        public var gate, up, down: [Float]

        public init(
            attentionNorm: [Float], query: [Float], key: [Float], value: [Float], output: [Float], feedForwardNorm: [Float],
            gate: [Float], up: [Float], down: [Float]
        ) {
            self.attentionNorm = attentionNorm
            self.query = query
            self.key = key
            self.value = value
            self.output = output
            self.feedForwardNorm = feedForwardNorm
            self.gate = gate
            self.up = up
            self.down = down
        }
    }

    /// [vocabulary, hidden].
    public var tokenEmbeddings: [Float]
    public var layers: [Layer]
    public var finalNorm: [Float]
    /// [vocabulary, hidden]; nil when tied to `tokenEmbeddings`.
    public var outputHead: [Float]?

    public init(tokenEmbeddings: [Float], layers: [Layer], finalNorm: [Float], outputHead: [Float]?) {
        self.tokenEmbeddings = tokenEmbeddings
        self.layers = layers
        self.finalNorm = finalNorm
        self.outputHead = outputHead
    }
}

/// Keys and values of the positions seen so far, per layer: [maxPositions, kvHeads · headDim] each.
public struct KVCache: Sendable {
    public let capacity: Int
    public private(set) var count = 0
    var keys: [[Float]]
    var values: [[Float]]

    public init(configuration: DecoderConfiguration, capacity: Int) {
        self.capacity = capacity
        let size = capacity * configuration.keyValueWidth
        keys = [[Float]](repeating: [Float](repeating: 0, count: size), count: configuration.layers)
        values = keys
    }

    /// Forgets every position from `length` on (to reuse a shared prefix).
    public mutating func truncate(to length: Int) { count = min(count, max(0, length)) }

    mutating func advance(by positions: Int) { count += positions }
}

/// A Llama-architecture decoder (RMSNorm, rotary positions with the rotate-half convention,
/// grouped-query attention, SwiGLU, optionally tied head) in Float32, with a KV cache.
/// Immutable; concurrent calls need separate caches.
public struct LlamaDecoder: Sendable {
    public let configuration: DecoderConfiguration
    public let weights: LlamaWeights
    /// cos/sin of every position and rotation pair: [maxPositions, headDim / 2].
    private let cosines: [Float]
    private let sines: [Float]

    public init(configuration: DecoderConfiguration, weights: LlamaWeights) throws(DecoderError) {
        guard configuration.heads % configuration.keyValueHeads == 0, configuration.hiddenSize % configuration.heads == 0 else {
            throw .invalidConfiguration("\(configuration.heads) heads, \(configuration.keyValueHeads) key/value heads, hidden \(configuration.hiddenSize)")
        }
        guard weights.layers.count == configuration.layers else {
            throw .invalidConfiguration("\(weights.layers.count) layers of weights for \(configuration.layers) layers")
        }
        self.configuration = configuration
        self.weights = weights
        let half = configuration.headDim / 2
        var cosines = [Float](repeating: 0, count: configuration.maxPositions * half)
        var sines = cosines
        for position in 0..<configuration.maxPositions {
            for pair in 0..<half {
                let frequency = 1 / pow(Double(configuration.ropeTheta), Double(2 * pair) / Double(configuration.headDim))
                let angle = Double(position) * frequency
                cosines[position * half + pair] = Float(cos(angle))
                sines[position * half + pair] = Float(sin(angle))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Runs `tokens` after the positions already in `cache` (prefill when many, a decode step when
    /// one) and returns the logits of the last position ([vocabulary]); with `allLogits`, of every
    /// new position ([tokens.count · vocabulary]). `inputEmbeddings` optionally replaces the token
    /// embedding at given offsets of `tokens` (soft prompts), each of `hiddenSize` values.
    public func forward(
        tokens: [Int32], cache: inout KVCache, allLogits: Bool = false, inputEmbeddings: [Int: [Float]] = [:]
    ) throws(DecoderError) -> [Float] {
        let c = configuration
        let (h, inter, hd) = (c.hiddenSize, c.intermediateSize, c.headDim)
        let rows = tokens.count
        let start = cache.count
        guard start + rows <= cache.capacity, start + rows <= c.maxPositions else {
            throw .contextFull(limit: min(cache.capacity, c.maxPositions))
        }
        var x = [Float](repeating: 0, count: rows * h)
        for (row, token) in tokens.enumerated() {
            if let soft = inputEmbeddings[row], soft.count == h {
                for column in 0..<h { x[row * h + column] = soft[column] }
                continue
            }
            guard token >= 0, Int(token) < c.vocabularySize else { throw .unknownToken(token) }
            for column in 0..<h { x[row * h + column] = weights.tokenEmbeddings[Int(token) * h + column] }
        }
        var normed = [Float](repeating: 0, count: rows * h)
        var q = [Float](repeating: 0, count: rows * h)
        var k = [Float](repeating: 0, count: rows * c.keyValueWidth)
        var v = k
        var attended = [Float](repeating: 0, count: rows * h)
        var projected = [Float](repeating: 0, count: rows * h)
        var gate = [Float](repeating: 0, count: rows * inter)
        var up = gate
        var scores = [Float](repeating: 0, count: start + rows)
        let group = c.heads / c.keyValueHeads
        let scale = 1 / Float(hd).squareRoot()

        for (index, layer) in weights.layers.enumerated() {
            Self.rmsNorm(out: &normed, x: x, weight: layer.attentionNorm, rows: rows, dim: h, eps: c.rmsNormEpsilon)
            Linear.forward(out: &q, x: normed, weight: layer.query, bias: nil, rows: rows, inFeatures: h, outFeatures: h)
            Linear.forward(out: &k, x: normed, weight: layer.key, bias: nil, rows: rows, inFeatures: h, outFeatures: c.keyValueWidth)
            Linear.forward(out: &v, x: normed, weight: layer.value, bias: nil, rows: rows, inFeatures: h, outFeatures: c.keyValueWidth)
            for row in 0..<rows {
                rotate(&q, row: row, width: h, heads: c.heads, position: start + row)
                rotate(&k, row: row, width: c.keyValueWidth, heads: c.keyValueHeads, position: start + row)
            }
            let base = start * c.keyValueWidth
            for offset in 0..<(rows * c.keyValueWidth) {
                cache.keys[index][base + offset] = k[offset]
                cache.values[index][base + offset] = v[offset]
            }
            for row in 0..<rows {
                let visible = start + row + 1
                for head in 0..<c.heads {
                    let kvHead = head / group
                    let query = row * h + head * hd
                    var maximum = -Float.infinity
                    for position in 0..<visible {
                        let key = position * c.keyValueWidth + kvHead * hd
                        var dot: Float = 0
                        for d in 0..<hd { dot += q[query + d] * cache.keys[index][key + d] }
                        scores[position] = dot * scale
                        maximum = max(maximum, scores[position])
                    }
                    var sum: Float = 0
                    for position in 0..<visible {
                        scores[position] = Foundation.exp(scores[position] - maximum)
                        sum += scores[position]
                    }
                    for d in 0..<hd { attended[query + d] = 0 }
                    for position in 0..<visible {
                        let weight = scores[position] / sum
                        let value = position * c.keyValueWidth + kvHead * hd
                        for d in 0..<hd { attended[query + d] += weight * cache.values[index][value + d] }
                    }
                }
            }
            Linear.forward(out: &projected, x: attended, weight: layer.output, bias: nil, rows: rows, inFeatures: h, outFeatures: h)
            for offset in 0..<(rows * h) { x[offset] += projected[offset] }
            Self.rmsNorm(out: &normed, x: x, weight: layer.feedForwardNorm, rows: rows, dim: h, eps: c.rmsNormEpsilon)
            Linear.forward(out: &gate, x: normed, weight: layer.gate, bias: nil, rows: rows, inFeatures: h, outFeatures: inter)
            Linear.forward(out: &up, x: normed, weight: layer.up, bias: nil, rows: rows, inFeatures: h, outFeatures: inter)
            for offset in 0..<(rows * inter) {
                let g = gate[offset]
                gate[offset] = g / (1 + Foundation.exp(-g)) * up[offset]
            }
            Linear.forward(out: &projected, x: gate, weight: layer.down, bias: nil, rows: rows, inFeatures: inter, outFeatures: h)
            for offset in 0..<(rows * h) { x[offset] += projected[offset] }
        }
        cache.advance(by: rows)

        let outputRows = allLogits ? rows : 1
        let firstRow = rows - outputRows
        var final = [Float](repeating: 0, count: outputRows * h)
        Self.rmsNorm(
            out: &final, x: Array(x[(firstRow * h)...]), weight: weights.finalNorm, rows: outputRows, dim: h, eps: c.rmsNormEpsilon)
        var logits = [Float](repeating: 0, count: outputRows * c.vocabularySize)
        Linear.forward(
            out: &logits, x: final, weight: weights.outputHead ?? weights.tokenEmbeddings, bias: nil, rows: outputRows,
            inFeatures: h, outFeatures: c.vocabularySize)
        return logits
    }

    /// HF rotate-half RoPE in place on one row of `heads` heads: pairs (i, i + headDim/2).
    private func rotate(_ buffer: inout [Float], row: Int, width: Int, heads: Int, position: Int) {
        let hd = configuration.headDim
        let half = hd / 2
        for head in 0..<heads {
            let base = row * width + head * hd
            for pair in 0..<half {
                let cosine = cosines[position * half + pair]
                let sine = sines[position * half + pair]
                let first = buffer[base + pair]
                let second = buffer[base + pair + half]
                buffer[base + pair] = first * cosine - second * sine
                buffer[base + pair + half] = second * cosine + first * sine
            }
        }
    }

    /// out = x / rms(x) · weight, per row.
    static func rmsNorm(out: inout [Float], x: [Float], weight: [Float], rows: Int, dim: Int, eps: Float) {
        for row in 0..<rows {
            var sum: Float = 0
            for column in 0..<dim { sum += x[row * dim + column] * x[row * dim + column] }
            let inverse = 1 / (sum / Float(dim) + eps).squareRoot()
            for column in 0..<dim { out[row * dim + column] = x[row * dim + column] * inverse * weight[column] }
        }
    }
}
