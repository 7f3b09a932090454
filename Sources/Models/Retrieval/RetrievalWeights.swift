import Checkpoints
import Numerics

/// What LLM-SRec trains (Sein-Kim/LLM-SRec `models/seqllm4rec.py`); the LM and SASRec stay frozen.
/// - `itemProjector`: SASRec item embedding [cf] → LM input [e] (Linear, LayerNorm, LeakyReLU, Linear);
/// - `userOut`, `itemOut`: the learnt `[UserOut]`/`[ItemOut]` input vectors [e];
/// - `userHead`, `itemHead`: the LM's final state at those tokens [e] → [128] (Linear to 2048,
///   LayerNorm, LeakyReLU, Linear);
/// - `teacherHead`: SASRec's last-position user vector [cf] → [128] (Linear, LayerNorm, GELU, Linear),
///   the distillation target;
/// - `userProjector` (templates with `userToken` only; not in LLM-SRec, A-LLMRec's `user_proj`): that
///   same user vector [cf] → the LM input [e] of the user prompt's user-vector token (Linear,
///   LayerNorm, LeakyReLU, Linear).
public struct RetrievalWeights: Sendable {
    public static let vectorSize = 128

    public var itemProjector: SoftPromptProjector
    public var userOut: [Float]
    public var itemOut: [Float]
    public var userHead: SoftPromptProjector
    public var itemHead: SoftPromptProjector
    public var teacherHead: SoftPromptProjector
    public var userProjector: SoftPromptProjector?

    /// Fresh weights: the projector and heads as `SoftPromptProjector` initialises them, the two
    /// learnt tokens from a normal with the mean and standard deviation of `tokenEmbeddings`
    /// (rows of the LM's input table, [rows · embeddingSize]), as LLM-SRec; `headHiddenSize` is
    /// LLM-SRec's 2048 unless a test asks for less; `userToken` adds the user projector (drawn last,
    /// so the other weights are those of the same seed without it).
    public init(
        cfSize: Int, embeddingSize e: Int, tokenEmbeddings: [Float], headHiddenSize: Int = 2048, userToken: Bool = false,
        generator: inout SplitMix64
    ) {
        itemProjector = SoftPromptProjector(inputSize: cfSize, outputSize: e, activation: .leakyReLU, generator: &generator)
        userHead = SoftPromptProjector(
            inputSize: e, hiddenSize: headHiddenSize, outputSize: Self.vectorSize, activation: .leakyReLU, generator: &generator)
        itemHead = SoftPromptProjector(
            inputSize: e, hiddenSize: headHiddenSize, outputSize: Self.vectorSize, activation: .leakyReLU, generator: &generator)
        teacherHead = SoftPromptProjector(
            inputSize: cfSize, hiddenSize: Self.vectorSize, outputSize: Self.vectorSize, activation: .gelu, generator: &generator)
        var sum = 0.0
        var squares = 0.0
        for value in tokenEmbeddings {
            sum += Double(value)
            squares += Double(value) * Double(value)
        }
        let count = Double(max(1, tokenEmbeddings.count))
        let mean = sum / count
        let deviation = max(0, squares / count - mean * mean).squareRoot()
        userOut = (0..<e).map { _ in Float(mean + deviation * Initialization.normal(&generator)) }
        itemOut = (0..<e).map { _ in Float(mean + deviation * Initialization.normal(&generator)) }
        userProjector = userToken ? SoftPromptProjector(inputSize: cfSize, outputSize: e, activation: .leakyReLU, generator: &generator) : nil
    }

    public var embeddingSize: Int { userOut.count }
    public var cfSize: Int { itemProjector.inputSize }

    /// Every tensor under its file name (`item_proj.0.weight`, `user_out`, `pred_user.3.bias`,
    /// `user_proj.0.weight` with a user projector, …).
    public var namedTensors: [(name: String, tensor: Tensor)] {
        func group(_ projector: SoftPromptProjector, _ prefix: String) -> [(name: String, tensor: Tensor)] {
            projector.namedParameters.map { (prefix + $0.name, Tensor(shape: $0.shape, storage: $0.values)) }
        }
        return group(itemProjector, "item_proj.") + [
            ("user_out", Tensor(shape: [userOut.count], storage: userOut)), ("item_out", Tensor(shape: [itemOut.count], storage: itemOut)),
        ] + group(userHead, "pred_user.") + group(itemHead, "pred_item.") + group(teacherHead, "pred_user_cf.")
            + (userProjector.map { group($0, "user_proj.") } ?? [])
    }

    /// The weights from named tensors (as `namedTensors` writes them), shapes checked together.
    public init(tensors: [String: Tensor]) throws {
        func group(_ prefix: String) -> [String: Tensor] {
            var selected: [String: Tensor] = [:]
            for (name, tensor) in tensors where name.hasPrefix(prefix) { selected[String(name.dropFirst(prefix.count))] = tensor }
            return selected
        }
        itemProjector = try SoftPromptProjector(tensors: group("item_proj."), activation: .leakyReLU)
        userHead = try SoftPromptProjector(tensors: group("pred_user."), activation: .leakyReLU)
        itemHead = try SoftPromptProjector(tensors: group("pred_item."), activation: .leakyReLU)
        teacherHead = try SoftPromptProjector(tensors: group("pred_user_cf."), activation: .gelu)
        let userProjectorTensors = group("user_proj.")
        userProjector = userProjectorTensors.isEmpty ? nil : try SoftPromptProjector(tensors: userProjectorTensors, activation: .leakyReLU)
        guard let user = tensors["user_out"] else { throw RetrievalError.missingTensor("user_out") }
        guard let item = tensors["item_out"] else { throw RetrievalError.missingTensor("item_out") }
        let e = itemProjector.outputSize
        for (name, tensor) in [("user_out", user), ("item_out", item)] where tensor.shape != [e] {
            throw RetrievalError.shapeMismatch(name: name, expected: [e], got: tensor.shape)
        }
        guard userHead.inputSize == e, itemHead.inputSize == e else {
            throw RetrievalError.shapeMismatch(name: "pred_user.0.weight", expected: [userHead.hiddenSize, e], got: [userHead.hiddenSize, userHead.inputSize])
        }
        guard userHead.outputSize == Self.vectorSize, userHead.outputSize == itemHead.outputSize, teacherHead.outputSize == userHead.outputSize,
            teacherHead.inputSize == itemProjector.inputSize
        else {
            throw RetrievalError.shapeMismatch(
                name: "pred_user_cf.3.weight", expected: [userHead.outputSize, teacherHead.hiddenSize],
                got: [teacherHead.outputSize, teacherHead.hiddenSize])
        }
        if let userProjector, userProjector.inputSize != itemProjector.inputSize {
            throw RetrievalError.shapeMismatch(
                name: "user_proj.0.weight", expected: [userProjector.hiddenSize, itemProjector.inputSize],
                got: [userProjector.hiddenSize, userProjector.inputSize])
        }
        if let userProjector, userProjector.outputSize != e {
            throw RetrievalError.shapeMismatch(
                name: "user_proj.3.weight", expected: [e, userProjector.hiddenSize], got: [userProjector.outputSize, userProjector.hiddenSize])
        }
        userOut = user.storage
        itemOut = item.storage
    }

    /// Reads a weights file written by `save`.
    public static func load(_ path: String) throws -> RetrievalWeights {
        let file = try SafetensorsFile(path: path)
        var tensors: [String: Tensor] = [:]
        for name in file.names { tensors[name] = try file.tensor(named: name) }
        return try RetrievalWeights(tensors: tensors)
    }

    public func save(to path: String, metadata: [String: String]) throws {
        try SafetensorsFile.write(tensors: namedTensors, metadata: metadata, to: path)
    }

    /// Gradients, shaped as the weights.
    public struct Gradients: Sendable {
        public var itemProjector, userHead, itemHead, teacherHead: SoftPromptProjector.Gradients
        public var userProjector: SoftPromptProjector.Gradients?
        public var userOut, itemOut: [Float]

        public init(of weights: RetrievalWeights) {
            itemProjector = .init(of: weights.itemProjector)
            userHead = .init(of: weights.userHead)
            itemHead = .init(of: weights.itemHead)
            teacherHead = .init(of: weights.teacherHead)
            userProjector = weights.userProjector.map { .init(of: $0) }
            userOut = [Float](repeating: 0, count: weights.userOut.count)
            itemOut = userOut
        }

        /// In the order of `RetrievalWeights.parameterSizes`.
        public var values: [[Float]] {
            itemProjector.values + [userOut, itemOut] + userHead.values + itemHead.values + teacherHead.values + (userProjector?.values ?? [])
        }
    }

    /// Sizes of the trained tensors, in the order Adam and the state file use (the user projector's
    /// last, so states without it keep their layout).
    public var parameterSizes: [Int] {
        itemProjector.parameterSizes + [userOut.count, itemOut.count] + userHead.parameterSizes + itemHead.parameterSizes
            + teacherHead.parameterSizes + (userProjector?.parameterSizes ?? [])
    }

    /// One Adam step (the optimiser made with `parameterSizes`, its step already begun).
    public mutating func apply(_ gradients: Gradients, optimizer: inout Adam) {
        var offset = 0
        itemProjector.apply(gradients.itemProjector, optimizer: &optimizer, offset: offset)
        offset += itemProjector.parameterSizes.count
        optimizer.update(offset, parameter: &userOut, gradient: gradients.userOut, count: userOut.count)
        optimizer.update(offset + 1, parameter: &itemOut, gradient: gradients.itemOut, count: itemOut.count)
        offset += 2
        userHead.apply(gradients.userHead, optimizer: &optimizer, offset: offset)
        offset += userHead.parameterSizes.count
        itemHead.apply(gradients.itemHead, optimizer: &optimizer, offset: offset)
        offset += itemHead.parameterSizes.count
        teacherHead.apply(gradients.teacherHead, optimizer: &optimizer, offset: offset)
        offset += teacherHead.parameterSizes.count
        if let gradient = gradients.userProjector { userProjector?.apply(gradient, optimizer: &optimizer, offset: offset) }
    }
}
