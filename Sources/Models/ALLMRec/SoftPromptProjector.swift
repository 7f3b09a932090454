import Numerics

/// The projection network both papers use: Linear(in, hidden) → LayerNorm(hidden, eps 1e-5) →
/// activation → Linear(hidden, out).
///
/// A-LLMRec's stage-2 projectors (ghdtjr/A-LLMRec `models/a_llmrec_model.py`: `log_emb_proj`,
/// `item_emb_proj`) have hidden = out = the LM's embedding width (before OPT's project_in): F_U
/// takes SASRec's user representation with LeakyReLU(0.01), F_I the frozen stage-1 item latent
/// (128) with exact GELU. LLM-SRec (Sein-Kim/LLM-SRec `models/seqllm4rec.py`) uses the same shape
/// for its item projector and, with hidden ≠ out, for its output heads. Parameters in PyTorch's
/// `nn.Sequential` layout, named by their index there (`0.weight`, `1.bias`, `3.weight`, …).
public struct SoftPromptProjector: Sendable {
    public enum Activation: String, Sendable {
        case leakyReLU
        case gelu
    }

    public let inputSize: Int
    /// Width of the first Linear and the LayerNorm.
    public let hiddenSize: Int
    public let outputSize: Int
    public let activation: Activation
    /// [hiddenSize, inputSize], [hiddenSize], LayerNorm γ and β [hiddenSize], [outputSize, hiddenSize], [outputSize].
    public var inputWeight, inputBias, normWeight, normBias, outputWeight, outputBias: [Float]
    /// A fixed factor on the output (not trained; 1 in the original). `llmrec train project
    /// --match-embedding-scale` sets it so that soft tokens start at the norm of the LM's own token
    /// embeddings. Saved as the tensor `scale` when it is not 1.
    public var outputScale: Float = 1

    /// The original's initialisation: Xavier-normal matrices, PyTorch's default U(±1/√fan_in) biases,
    /// LayerNorm γ = 1 and β = 0.
    /// `hiddenSize` defaults to `outputSize` (A-LLMRec's projectors).
    public init(inputSize: Int, hiddenSize: Int? = nil, outputSize: Int, activation: Activation, generator: inout SplitMix64) {
        let hidden = hiddenSize ?? outputSize
        self.inputSize = inputSize
        self.hiddenSize = hidden
        self.outputSize = outputSize
        self.activation = activation
        inputWeight = Initialization.xavierNormal(shape: [hidden, inputSize], generator: &generator)
        inputBias = Initialization.uniform(count: hidden, bound: 1 / Float(inputSize).squareRoot(), generator: &generator)
        normWeight = [Float](repeating: 1, count: hidden)
        normBias = [Float](repeating: 0, count: hidden)
        outputWeight = Initialization.xavierNormal(shape: [outputSize, hidden], generator: &generator)
        outputBias = Initialization.uniform(count: outputSize, bound: 1 / Float(hidden).squareRoot(), generator: &generator)
    }

    /// A projector from named tensors (`0.weight` … `3.bias`, as `state_dict()` of the original's
    /// `nn.Sequential`); shapes are checked against each other.
    public init(tensors: [String: Tensor], activation: Activation) throws(ALLMRecError) {
        func tensor(_ name: String) throws(ALLMRecError) -> Tensor {
            guard let value = tensors[name] else { throw .missingTensor(name) }
            return value
        }
        let first = try tensor("0.weight")
        let last = try tensor("3.weight")
        guard first.shape.count == 2 else { throw .shapeMismatch(name: "0.weight", expected: [-1, -1], got: first.shape) }
        guard last.shape.count == 2 else { throw .shapeMismatch(name: "3.weight", expected: [-1, first.shape[0]], got: last.shape) }
        let (d, input, out) = (first.shape[0], first.shape[1], last.shape[0])
        let expected: [(String, [Int])] = [("0.bias", [d]), ("1.weight", [d]), ("1.bias", [d]), ("3.weight", [out, d]), ("3.bias", [out])]
        for (name, shape) in expected {
            let value = try tensor(name)
            guard value.shape == shape else { throw .shapeMismatch(name: name, expected: shape, got: value.shape) }
        }
        inputSize = input
        hiddenSize = d
        outputSize = out
        self.activation = activation
        inputWeight = first.storage
        inputBias = try tensor("0.bias").storage
        normWeight = try tensor("1.weight").storage
        normBias = try tensor("1.bias").storage
        outputWeight = try tensor("3.weight").storage
        outputBias = try tensor("3.bias").storage
        if let scale = tensors["scale"] {
            guard scale.shape == [1] else { throw .shapeMismatch(name: "scale", expected: [1], got: scale.shape) }
            outputScale = scale.storage[0]
        }
    }

    /// The parameters by their `nn.Sequential` names, in the order `parameterSizes` and Adam use.
    public var namedParameters: [(name: String, values: [Float], shape: [Int])] {
        [
            ("0.weight", inputWeight, [hiddenSize, inputSize]), ("0.bias", inputBias, [hiddenSize]),
            ("1.weight", normWeight, [hiddenSize]), ("1.bias", normBias, [hiddenSize]),
            ("3.weight", outputWeight, [outputSize, hiddenSize]), ("3.bias", outputBias, [outputSize]),
        ]
    }

    /// What `forward` keeps for `backward`.
    public struct Trace: Sendable {
        public let rows: Int
        let input, linear, mean, rstd, normed, activated: [Float]
    }

    /// Projects x [rows, inputSize] to [rows, outputSize].
    public func forward(_ x: [Float], rows: Int) -> (output: [Float], trace: Trace) {
        let d = hiddenSize
        var linear = [Float](repeating: 0, count: rows * d)
        Linear.forward(out: &linear, x: x, weight: inputWeight, bias: inputBias, rows: rows, inFeatures: inputSize, outFeatures: d)
        var mean = [Float](repeating: 0, count: rows)
        var rstd = mean
        var normed = linear
        LayerNorm.forward(out: &normed, mean: &mean, rstd: &rstd, x: linear, gamma: normWeight, beta: normBias, rows: rows, dim: d, eps: 1e-5)
        var activated = normed
        switch activation {
        case .leakyReLU: LeakyReLU.forward(out: &activated, x: normed, count: rows * d)
        case .gelu: GELU.forward(out: &activated, x: normed, count: rows * d)
        }
        var output = [Float](repeating: 0, count: rows * outputSize)
        Linear.forward(out: &output, x: activated, weight: outputWeight, bias: outputBias, rows: rows, inFeatures: d, outFeatures: outputSize)
        if outputScale != 1 { for index in output.indices { output[index] *= outputScale } }
        return (output, Trace(rows: rows, input: x, linear: linear, mean: mean, rstd: rstd, normed: normed, activated: activated))
    }

    /// Gradients in the order of `namedParameters`.
    public struct Gradients: Sendable {
        public var inputWeight, inputBias, normWeight, normBias, outputWeight, outputBias: [Float]

        public init(of projector: SoftPromptProjector) {
            let (d, input, out) = (projector.hiddenSize, projector.inputSize, projector.outputSize)
            inputWeight = [Float](repeating: 0, count: d * input)
            inputBias = [Float](repeating: 0, count: d)
            normWeight = inputBias
            normBias = inputBias
            outputWeight = [Float](repeating: 0, count: out * d)
            outputBias = [Float](repeating: 0, count: out)
        }

        /// In the order of `namedParameters`.
        public var values: [[Float]] { [inputWeight, inputBias, normWeight, normBias, outputWeight, outputBias] }
    }

    /// Accumulates the parameter gradients of d loss / d output ([rows, outputSize]) into
    /// `gradients`; returns d loss / d input ([rows, inputSize]) when `inputGradient` is asked.
    @discardableResult
    public func backward(_ trace: Trace, dOutput: [Float], into gradients: inout Gradients, inputGradient: Bool = false) -> [Float]? {
        let (d, rows) = (hiddenSize, trace.rows)
        let dScaled = outputScale == 1 ? dOutput : dOutput.map { $0 * outputScale }
        var dActivated = [Float](repeating: 0, count: rows * d)
        Linear.backward(
            dx: &dActivated, dweight: &gradients.outputWeight, dbias: &gradients.outputBias, dout: dScaled, x: trace.activated,
            weight: outputWeight, rows: rows, inFeatures: d, outFeatures: outputSize)
        var dNormed = [Float](repeating: 0, count: rows * d)
        switch activation {
        case .leakyReLU: LeakyReLU.backward(dx: &dNormed, dout: dActivated, x: trace.normed, count: rows * d)
        case .gelu: GELU.backward(dx: &dNormed, dout: dActivated, x: trace.normed, count: rows * d)
        }
        var dLinear = [Float](repeating: 0, count: rows * d)
        LayerNorm.backward(
            dx: &dLinear, dgamma: &gradients.normWeight, dbeta: &gradients.normBias, dout: dNormed, x: trace.linear, mean: trace.mean,
            rstd: trace.rstd, gamma: normWeight, rows: rows, dim: d)
        guard inputGradient else {
            Linear.backward(
                dx: nil, dweight: &gradients.inputWeight, dbias: &gradients.inputBias, dout: dLinear, x: trace.input, weight: inputWeight,
                rows: rows, inFeatures: inputSize, outFeatures: d)
            return nil
        }
        var dInput = [Float](repeating: 0, count: rows * inputSize)
        Linear.backward(
            dx: &dInput, dweight: &gradients.inputWeight, dbias: &gradients.inputBias, dout: dLinear, x: trace.input, weight: inputWeight,
            rows: rows, inFeatures: inputSize, outFeatures: d)
        return dInput
    }

    /// One Adam step over the six tensors; `optimizer` was made with `parameterSizes`, and
    /// `offset` is the index of this projector's first tensor in it.
    public mutating func apply(_ gradients: Gradients, optimizer: inout Adam, offset: Int) {
        func update(_ index: Int, _ parameter: inout [Float], _ gradient: [Float]) {
            optimizer.update(offset + index, parameter: &parameter, gradient: gradient, count: parameter.count)
        }
        update(0, &inputWeight, gradients.inputWeight)
        update(1, &inputBias, gradients.inputBias)
        update(2, &normWeight, gradients.normWeight)
        update(3, &normBias, gradients.normBias)
        update(4, &outputWeight, gradients.outputWeight)
        update(5, &outputBias, gradients.outputBias)
    }

    public var parameterSizes: [Int] { namedParameters.map(\.values.count) }
}

/// Errors of the A-LLMRec model files and inputs.
public enum ALLMRecError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingTensor(String)
    case shapeMismatch(name: String, expected: [Int], got: [Int])
    case invalidBundle(String)
    case invalidTemplate(String)

    public var description: String {
        switch self {
        case .missingTensor(let name): return "A-LLMRec weights have no tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let got): return "A-LLMRec tensor '\(name)' has shape \(got), expected \(expected)"
        case .invalidBundle(let reason): return "invalid A-LLMRec bundle: \(reason)"
        case .invalidTemplate(let reason): return "invalid prompt template: \(reason)"
        }
    }
}
