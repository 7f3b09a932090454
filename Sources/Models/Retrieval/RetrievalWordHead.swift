import Checkpoints
import Numerics

/// The path from the user's words to the user vector (not in LLM-SRec): a linear map from the
/// mean final state of the words' segment of the user prompt (`RetrievalPrompt.wordPositions`,
/// the same LM pass that yields `[UserOut]`'s state) to a vector added to the user head's output
/// before scoring. The LM reads the words in context; this head only learns which directions of the
/// item space they point to (`llmrec train words`). A prompt without words does not use it, so the
/// model ranks as before when the user says nothing.
///
/// `weight` is [128 · embeddingSize] (PyTorch's [out, in] layout), `bias` [128]. Immutable.
public struct RetrievalWordHead: Sendable, Equatable {
    public static let fileName = "words.safetensors"
    public static let weightName = "pred_words.weight"
    public static let biasName = "pred_words.bias"

    public var weight: [Float]
    public var bias: [Float]

    /// A head that adds nothing: training starts here, from the model as it is.
    public init(embeddingSize: Int) {
        weight = [Float](repeating: 0, count: RetrievalWeights.vectorSize * embeddingSize)
        bias = [Float](repeating: 0, count: RetrievalWeights.vectorSize)
    }

    public init(weight: [Float], bias: [Float]) throws(RetrievalError) {
        let size = RetrievalWeights.vectorSize
        guard bias.count == size else { throw .shapeMismatch(name: Self.biasName, expected: [size], got: [bias.count]) }
        guard !weight.isEmpty, weight.count % size == 0 else {
            throw .shapeMismatch(name: Self.weightName, expected: [size, weight.count / size], got: [weight.count])
        }
        self.weight = weight
        self.bias = bias
    }

    public var embeddingSize: Int { weight.count / RetrievalWeights.vectorSize }

    /// The head's output [rows · 128] for pooled word states [rows · embeddingSize].
    public func forward(_ pooled: [Float], rows: Int) -> [Float] {
        precondition(pooled.count == rows * embeddingSize, "pooled states must be [rows · embeddingSize]")
        var out = [Float](repeating: 0, count: rows * RetrievalWeights.vectorSize)
        guard rows > 0 else { return out }
        Linear.forward(
            out: &out, x: pooled, weight: weight, bias: bias, rows: rows, inFeatures: embeddingSize, outFeatures: RetrievalWeights.vectorSize)
        return out
    }

    /// Reads a file written by `save`; a missing tensor or a wrong shape is a typed error.
    public static func load(_ path: String) throws -> RetrievalWordHead {
        let file = try SafetensorsFile(path: path)
        guard file.names.contains(weightName) else { throw RetrievalError.missingTensor(weightName) }
        guard file.names.contains(biasName) else { throw RetrievalError.missingTensor(biasName) }
        let weight = try file.tensor(named: weightName)
        let bias = try file.tensor(named: biasName)
        guard weight.shape.count == 2, weight.shape[0] == RetrievalWeights.vectorSize else {
            throw RetrievalError.shapeMismatch(name: weightName, expected: [RetrievalWeights.vectorSize, weight.shape.last ?? 0], got: weight.shape)
        }
        return try RetrievalWordHead(weight: weight.storage, bias: bias.storage)
    }

    public func save(to path: String, metadata: [String: String]) throws {
        try SafetensorsFile.write(
            tensors: [
                (Self.weightName, Tensor(shape: [RetrievalWeights.vectorSize, embeddingSize], storage: weight)),
                (Self.biasName, Tensor(shape: [RetrievalWeights.vectorSize], storage: bias)),
            ], metadata: metadata, to: path)
    }
}
