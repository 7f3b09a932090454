/// A decoder-only LM's dimensions (`allmrec-spec.md` §6 for OPT; Llama: RMSNorm, RoPE, SwiGLU, GQA).
public struct DecoderConfiguration: Sendable, Equatable {
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

    public init(
        vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, keyValueHeads: Int,
        ropeTheta: Float, rmsNormEpsilon: Float, maxPositions: Int
    ) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.keyValueHeads = keyValueHeads
        self.ropeTheta = ropeTheta
        self.rmsNormEpsilon = rmsNormEpsilon
        self.maxPositions = maxPositions
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
