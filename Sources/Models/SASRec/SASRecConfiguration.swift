import Numerics

/// SASRec's hyper-parameters; defaults are A-LLMRec's (`pre_train/sasrec/main.py`).
public struct SASRecConfiguration: Sendable, Equatable {
    /// Number of items; ids run 1...itemCount, 0 is padding (the embedding table has itemCount + 1 rows).
    public var itemCount: Int
    public var hiddenUnits = 50
    public var blocks = 2
    public var heads = 1
    /// Sequence slots; sequences are left-padded to this length, keeping the most recent items.
    public var maxLength = 50
    public var dropout: Float = 0.5

    public init(itemCount: Int, hiddenUnits: Int = 50, blocks: Int = 2, heads: Int = 1, maxLength: Int = 50, dropout: Float = 0.5) {
        self.itemCount = itemCount
        self.hiddenUnits = hiddenUnits
        self.blocks = blocks
        self.heads = heads
        self.maxLength = maxLength
        self.dropout = dropout
    }

    /// LayerNorm epsilon of the original code.
    public static let layerNormEpsilon: Float = 1e-8
}

/// SASRec's parameters, named as the original PyTorch state dict names them.
public struct SASRecParameters: Sendable {
    public let configuration: SASRecConfiguration
    /// name -> tensor.
    public var tensors: [String: Tensor]

    /// Parameter names in a fixed order (also the optimiser's order).
    public var names: [String] { Self.names(blocks: configuration.blocks) }

    public static func names(blocks: Int) -> [String] {
        var names = ["item_emb.weight", "pos_emb.weight"]
        for block in 0..<blocks {
            names += [
                "attention_layernorms.\(block).weight", "attention_layernorms.\(block).bias",
                "attention_layers.\(block).in_proj_weight", "attention_layers.\(block).in_proj_bias",
                "attention_layers.\(block).out_proj.weight", "attention_layers.\(block).out_proj.bias",
                "forward_layernorms.\(block).weight", "forward_layernorms.\(block).bias",
                "forward_layers.\(block).conv1.weight", "forward_layers.\(block).conv1.bias",
                "forward_layers.\(block).conv2.weight", "forward_layers.\(block).conv2.bias",
            ]
        }
        return names + ["last_layernorm.weight", "last_layernorm.bias"]
    }

    /// The shape each parameter must have.
    public static func shapes(_ configuration: SASRecConfiguration) -> [String: [Int]] {
        let d = configuration.hiddenUnits
        var shapes: [String: [Int]] = [
            "item_emb.weight": [configuration.itemCount + 1, d], "pos_emb.weight": [configuration.maxLength, d],
            "last_layernorm.weight": [d], "last_layernorm.bias": [d],
        ]
        for block in 0..<configuration.blocks {
            shapes["attention_layernorms.\(block).weight"] = [d]
            shapes["attention_layernorms.\(block).bias"] = [d]
            shapes["attention_layers.\(block).in_proj_weight"] = [3 * d, d]
            shapes["attention_layers.\(block).in_proj_bias"] = [3 * d]
            shapes["attention_layers.\(block).out_proj.weight"] = [d, d]
            shapes["attention_layers.\(block).out_proj.bias"] = [d]
            shapes["forward_layernorms.\(block).weight"] = [d]
            shapes["forward_layernorms.\(block).bias"] = [d]
            shapes["forward_layers.\(block).conv1.weight"] = [d, d, 1]
            shapes["forward_layers.\(block).conv1.bias"] = [d]
            shapes["forward_layers.\(block).conv2.weight"] = [d, d, 1]
            shapes["forward_layers.\(block).conv2.bias"] = [d]
        }
        return shapes
    }

    /// The original initialisation: xavier-normal for every tensor of 2 or more dimensions
    /// (including the padding row of the item table), LayerNorm γ = 1, β = 0, attention biases 0,
    /// convolution biases U(±1/√d).
    public init(initializing configuration: SASRecConfiguration, generator: inout SplitMix64) {
        self.configuration = configuration
        let shapes = Self.shapes(configuration)
        var tensors: [String: Tensor] = [:]
        let bound = 1 / Float(configuration.hiddenUnits).squareRoot()
        for name in Self.names(blocks: configuration.blocks) {
            let shape = shapes[name]!
            let values: [Float]
            if shape.count >= 2 {
                values = Initialization.xavierNormal(shape: shape, generator: &generator)
            } else if name.contains("layernorm") && name.hasSuffix(".weight") {
                values = [Float](repeating: 1, count: shape[0])
            } else if name.contains(".conv") {
                values = Initialization.uniform(count: shape[0], bound: bound, generator: &generator)
            } else {
                values = [Float](repeating: 0, count: shape[0])
            }
            tensors[name] = Tensor(shape: shape, storage: values)
        }
        self.tensors = tensors
    }

    /// Parameters from named tensors (a checkpoint), checking every name and shape.
    public init(configuration: SASRecConfiguration, tensors: [String: Tensor]) throws(SASRecError) {
        self.configuration = configuration
        let shapes = Self.shapes(configuration)
        for name in Self.names(blocks: configuration.blocks) {
            guard let tensor = tensors[name] else { throw .missingParameter(name) }
            guard tensor.shape == shapes[name]! else {
                throw .shapeMismatch(name: name, expected: shapes[name]!, got: tensor.shape)
            }
        }
        self.tensors = tensors.filter { shapes[$0.key] != nil }
    }

    /// Zero tensors with the same names and shapes (gradient buffers).
    public func zeros() -> [String: Tensor] {
        tensors.mapValues { Tensor(zeros: $0.shape) }
    }
}

/// Errors building or loading SASRec.
public enum SASRecError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingParameter(String)
    case shapeMismatch(name: String, expected: [Int], got: [Int])
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .missingParameter(let name): return "SASRec checkpoint has no tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let got): return "SASRec tensor '\(name)' has shape \(got), expected \(expected)"
        case .invalidConfiguration(let reason): return "invalid SASRec configuration: \(reason)"
        }
    }
}
