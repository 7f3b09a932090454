import Checkpoints
import Foundation

/// Errors loading a text encoder.
public enum EncoderError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingFile(path: String)
    case malformedConfiguration(path: String, reason: String)
    case unsupportedArchitecture(path: String, modelType: String)
    case missingWeight(name: String, path: String)
    case shapeMismatch(name: String, expected: [Int], got: [Int])

    public var description: String {
        switch self {
        case .missingFile(let path): return "\(path): no such file (is this a sentence-transformers model directory?)"
        case .malformedConfiguration(let path, let reason): return "\(path): \(reason)"
        case .unsupportedArchitecture(let path, let type): return "\(path): model_type '\(type)' is not supported (bert, distilbert)"
        case .missingWeight(let name, let path): return "\(path): no tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let got): return "encoder tensor '\(name)' has shape \(got), expected \(expected)"
        }
    }
}

/// A BERT-family encoder's dimensions, read from its `config.json` (Hugging Face transformers' `BertConfig` / `DistilBertConfig` fields).
public struct EncoderConfiguration: Sendable, Equatable {
    public enum Family: String, Sendable {
        /// BERT (all-MiniLM-L6-v2): token-type embeddings, `encoder.layer.{i}.…` names.
        case bert
        /// DistilBERT (nq-distilbert-base-v1): no token types, `transformer.layer.{i}.…` names.
        case distilbert
    }

    public var family: Family
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabularySize: Int
    public var layerNormEpsilon: Float

    public init(
        family: Family, vocabularySize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int,
        maxPositions: Int, typeVocabularySize: Int, layerNormEpsilon: Float
    ) {
        self.family = family
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// Reads a Hugging Face `config.json` (`model_type` bert or distilbert; GELU activations only).
    public init(contentsOf path: String) throws(EncoderError) {
        let data: Data
        do { data = try ModelFile.contents(of: path) } catch .fileNotFound { throw .missingFile(path: path) } catch {
            throw .malformedConfiguration(path: path, reason: "\(error)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .malformedConfiguration(path: path, reason: "not a JSON object")
        }
        func integer(_ keys: String...) throws(EncoderError) -> Int {
            for key in keys { if let value = object[key] as? Int { return value } }
            throw .malformedConfiguration(path: path, reason: "missing \(keys.joined(separator: " or "))")
        }
        let type = object["model_type"] as? String ?? ""
        switch type {
        case "bert":
            family = .bert
            let activation = object["hidden_act"] as? String ?? "gelu"
            guard activation == "gelu" else {
                throw .malformedConfiguration(path: path, reason: "hidden_act '\(activation)' is not supported (gelu)")
            }
            hiddenSize = try integer("hidden_size")
            layers = try integer("num_hidden_layers")
            heads = try integer("num_attention_heads")
            intermediateSize = try integer("intermediate_size")
            typeVocabularySize = (object["type_vocab_size"] as? Int) ?? 2
            layerNormEpsilon = Float((object["layer_norm_eps"] as? Double) ?? 1e-12)
        case "distilbert":
            family = .distilbert
            let activation = object["activation"] as? String ?? "gelu"
            guard activation == "gelu" else {
                throw .malformedConfiguration(path: path, reason: "activation '\(activation)' is not supported (gelu)")
            }
            hiddenSize = try integer("dim")
            layers = try integer("n_layers")
            heads = try integer("n_heads")
            intermediateSize = try integer("hidden_dim")
            typeVocabularySize = 0
            layerNormEpsilon = 1e-12
        default:
            throw .unsupportedArchitecture(path: path, modelType: type)
        }
        vocabularySize = try integer("vocab_size")
        maxPositions = try integer("max_position_embeddings")
        guard hiddenSize % heads == 0 else {
            throw .malformedConfiguration(path: path, reason: "hidden size \(hiddenSize) not divisible by \(heads) heads")
        }
    }

    public var headDim: Int { hiddenSize / heads }
}
