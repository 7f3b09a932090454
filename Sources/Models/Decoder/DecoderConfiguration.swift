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
    public var rmsNormEpsilon: Float
    public var maxPositions: Int
    /// Width of the token embeddings (OPT's word_embed_proj_dim; the hidden size otherwise).
    public var embeddingSize: Int
    /// OPT: LayerNorm before attention and FFN (true) or after the residual (false, opt-350m).
    public var normalizeBefore: Bool

    public init(
        family: Family = .llama, vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int,
        keyValueHeads: Int, ropeTheta: Float = 10_000, rmsNormEpsilon: Float = 1e-5, maxPositions: Int,
        embeddingSize: Int? = nil, normalizeBefore: Bool = true
    ) {
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
