import Checkpoints
import Foundation

/// What a language-model file holds, read from its header without loading the weights (`llmrec lm
/// info`): the architecture, its dimensions, the parameter count, the context length, and the mix of
/// element types with the bytes each takes.
public struct LanguageModelInfo: Sendable {
    /// One element type of the file: how many tensors and parameters use it and their bytes.
    public struct TypeShare: Sendable {
        public var type: String
        public var tensors: Int
        public var parameters: Int
        public var bytes: Int
    }

    public var path: String
    /// "GGUF v3" or "Hugging Face directory".
    public var container: String
    /// `general.architecture` ("llama", "qwen2", ...) or config.json's `model_type`.
    public var architecture: String
    public var name: String?
    public var parameters: Int
    public var contextLength: Int?
    public var layers: Int?
    public var hiddenSize: Int?
    public var heads: Int?
    public var keyValueHeads: Int?
    public var vocabularySize: Int?
    /// Element types by bytes taken, largest first.
    public var types: [TypeShare]
    /// Bytes of tensor data (the file's size for GGUF less its header).
    public var tensorBytes: Int
    /// Why this engine cannot run it, or nil when it can.
    public var unsupported: String?

    /// Reads the header of a GGUF file or a Hugging Face directory's `config.json` and tensor headers.
    public static func read(_ path: String) throws -> LanguageModelInfo {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CheckpointError.fileNotFound(path: path) }
        return isDirectory.boolValue ? try huggingFace(path) : try gguf(path)
    }

    private static func gguf(_ path: String) throws -> LanguageModelInfo {
        let file = try GGUFFile(path: path)
        let architecture = file.string("general.architecture") ?? "unknown"
        func key(_ suffix: String) -> Int? { file.int(architecture + "." + suffix) }
        var shares: [String: TypeShare] = [:]
        for tensor in file.tensors {
            let name = tensor.type.description
            var share = shares[name] ?? TypeShare(type: name, tensors: 0, parameters: 0, bytes: 0)
            share.tensors += 1
            share.parameters += tensor.elementCount
            share.bytes += tensor.byteCount
            shares[name] = share
        }
        let unreadable = file.tensors.filter { !$0.type.dequantises }.map(\.type.description)
        var unsupported: String?
        if architecture != "llama" && architecture != "qwen2" {
            unsupported = "architecture '\(architecture)' (this engine runs llama and qwen2 GGUF files)"
        } else if let type = unreadable.first {
            unsupported = "element type \(type) (\(Set(unreadable).count) type(s) this engine cannot read)"
        }
        return LanguageModelInfo(
            path: path, container: "GGUF v\(file.version)", architecture: architecture, name: file.string("general.name"),
            parameters: file.tensors.reduce(0) { $0 + $1.elementCount }, contextLength: key("context_length"),
            layers: key("block_count"), hiddenSize: key("embedding_length"), heads: key("attention.head_count"),
            keyValueHeads: key("attention.head_count_kv"),
            vocabularySize: key("vocab_size") ?? file.stringArray("tokenizer.ggml.tokens")?.count,
            types: shares.values.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.type < $1.type },
            tensorBytes: file.tensors.reduce(0) { $0 + $1.byteCount }, unsupported: unsupported)
    }

    private static func huggingFace(_ directory: String) throws -> LanguageModelInfo {
        let configPath = directory + "/config.json"
        guard let config = (try? JSONSerialization.jsonObject(with: ModelFile.contents(of: configPath))) as? [String: Any] else {
            throw CheckpointError.unreadable(path: configPath, reason: "missing or not a JSON object")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var shares: [String: TypeShare] = [:]
        var parameters = 0
        for name in names.sorted() where name.hasSuffix(".safetensors") {
            let file = try SafetensorsFile(path: directory + "/" + name)
            for tensor in file.names {
                let info = try file.info(named: tensor)
                let count = info.shape.reduce(1, *)
                var share = shares[info.dtype.rawValue] ?? TypeShare(type: info.dtype.rawValue, tensors: 0, parameters: 0, bytes: 0)
                share.tensors += 1
                share.parameters += count
                share.bytes += info.dataOffsets.count
                shares[info.dtype.rawValue] = share
                parameters += count
            }
        }
        let architecture = config["model_type"] as? String ?? "unknown"
        return LanguageModelInfo(
            path: directory, container: "Hugging Face directory", architecture: architecture,
            name: (config["_name_or_path"] as? String).flatMap { $0.isEmpty ? nil : $0 }, parameters: parameters,
            contextLength: config["max_position_embeddings"] as? Int, layers: config["num_hidden_layers"] as? Int,
            hiddenSize: config["hidden_size"] as? Int, heads: config["num_attention_heads"] as? Int,
            keyValueHeads: config["num_key_value_heads"] as? Int, vocabularySize: config["vocab_size"] as? Int,
            types: shares.values.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.type < $1.type },
            tensorBytes: shares.values.reduce(0) { $0 + $1.bytes },
            unsupported: ["llama", "qwen2", "opt"].contains(architecture) ? nil : "architecture '\(architecture)' (this engine runs Llama, Qwen2 and OPT)")
    }
}
