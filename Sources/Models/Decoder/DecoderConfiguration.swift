import Foundation

/// A decoder-only LM's dimensions and family switches (OPT as transformers' `modeling_opt.py`; Llama:
/// RMSNorm, RoPE, SwiGLU, grouped-query attention).
public struct DecoderConfiguration: Sendable, Equatable {
    public enum Family: String, Sendable {
        /// RMSNorm, rotary positions (rotate-half), SwiGLU, no biases, grouped-query attention.
        case llama
        /// LayerNorm with bias, learned positions with offset 2, ReLU FFN, biases everywhere; pre-LN,
        /// or post-LN with project_in/out (opt-350m).
        case opt
    }

    public var family: Family
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    /// Key/value heads (grouped-query attention); equals `heads` without GQA.
    public var keyValueHeads: Int
    public var ropeTheta: Float
    /// Per rotation pair ([headDim / 2]), what RoPE's inverse frequency is divided by: Llama 3.x's
    /// scaling (config.json `rope_scaling`, GGUF `rope_freqs`) or linear scaling; nil for none.
    public var ropeFrequencyDivisors: [Double]?
    public var rmsNormEpsilon: Float
    public var maxPositions: Int
    /// Width of the token embeddings (OPT's word_embed_proj_dim; the hidden size otherwise).
    public var embeddingSize: Int
    /// OPT: LayerNorm before attention and FFN (true) or after the residual (false, opt-350m).
    public var normalizeBefore: Bool

    public init(
        family: Family = .llama, vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int,
        keyValueHeads: Int, ropeTheta: Float = 10_000, ropeFrequencyDivisors: [Double]? = nil, rmsNormEpsilon: Float = 1e-5,
        maxPositions: Int, embeddingSize: Int? = nil, normalizeBefore: Bool = true
    ) {
        self.ropeFrequencyDivisors = ropeFrequencyDivisors
        self.family = family
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.keyValueHeads = keyValueHeads
        self.ropeTheta = ropeTheta
        self.rmsNormEpsilon = rmsNormEpsilon
        self.maxPositions = maxPositions
        self.embeddingSize = embeddingSize ?? hiddenSize
        self.normalizeBefore = normalizeBefore
    }

    public var headDim: Int { hiddenSize / heads }
    public var keyValueWidth: Int { keyValueHeads * headDim }

    /// RoPE's inverse frequency of rotation pair `pair`: theta^(-2·pair / headDim), divided by the
    /// scaling's divisor.
    public func ropeInverseFrequency(pair: Int) -> Double {
        let base = 1 / pow(Double(ropeTheta), Double(2 * pair) / Double(headDim))
        return base / (ropeFrequencyDivisors?[pair] ?? 1)
    }

    /// The divisors for a config.json `rope_scaling` (or `rope_parameters`) object: nil for none or
    /// `"default"`; `"linear"`: every frequency divided by `factor`; `"llama3"` (Llama 3.1-3.3):
    /// wavelengths shorter than `original_max_position_embeddings / high_freq_factor` kept, longer
    /// than `.../ low_freq_factor` divided by `factor`, and those between interpolated smoothly, as
    /// transformers' `_compute_llama3_parameters` does. Other kinds (dynamic, yarn, longrope) are
    /// refused rather than run wrong.
    public static func ropeFrequencyDivisors(
        scaling: [String: Any]?, theta: Double, headDim: Int
    ) throws(DecoderError) -> [Double]? {
        guard let scaling, let kind = (scaling["rope_type"] as? String) ?? (scaling["type"] as? String), kind != "default" else {
            return nil
        }
        func number(_ key: String) throws(DecoderError) -> Double {
            guard let value = (scaling[key] as? Double) ?? (scaling[key] as? Int).map(Double.init) else {
                throw .invalidConfiguration("rope_scaling \(kind) needs \(key)")
            }
            return value
        }
        let half = headDim / 2
        switch kind {
        case "linear":
            let factor = try number("factor")
            return [Double](repeating: factor, count: half)
        case "llama3":
            let factor = try number("factor")
            let low = try number("low_freq_factor")
            let high = try number("high_freq_factor")
            let original = try number("original_max_position_embeddings")
            guard factor > 0, high > low else { throw .invalidConfiguration("rope_scaling llama3 needs factor > 0 and high_freq_factor > low_freq_factor") }
            return (0..<half).map { pair in
                let inverse = 1 / pow(theta, Double(2 * pair) / Double(headDim))
                let wavelength = 2 * Double.pi / inverse
                if wavelength < original / high { return 1 }
                if wavelength > original / low { return factor }
                let smooth = (original / wavelength - low) / (high - low)
                return inverse / ((1 - smooth) * inverse / factor + smooth * inverse)
            }
        default:
            throw .invalidConfiguration("rope_scaling \(kind) is not supported (default, linear, llama3)")
        }
    }
}

/// Errors loading or running a decoder.
public enum DecoderError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingWeight(String)
    case shapeMismatch(name: String, expected: [Int], got: [Int])
    case invalidConfiguration(String)
    case contextFull(limit: Int)
    case unknownToken(Int32)

    public var description: String {
        switch self {
        case .missingWeight(let name): return "LM checkpoint has no tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let got): return "LM tensor '\(name)' has shape \(got), expected \(expected)"
        case .invalidConfiguration(let reason): return "invalid LM configuration: \(reason)"
        case .contextFull(let limit): return "the context is full (\(limit) tokens)"
        case .unknownToken(let id): return "token id \(id) is outside the vocabulary"
        }
    }
}
