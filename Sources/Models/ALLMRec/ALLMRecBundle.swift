import Checkpoints
import Foundation
import Numerics

/// An A-LLMRec model directory: `manifest.json` plus the weights it names. Written by `llmrec train
/// align` (SASRec copy, stage 1), completed by `llmrec train project` (stage 2, LM) or by `llmrec
/// import allmrec`; read by `eval` and `serve`.
///
/// manifest.json:
///
///     {"format": "llmrec-allmrec", "version": 1,
///      "dataset": {"fingerprint": "…", "items": 1682},
///      "dimensions": {"cf": 50, "text": 384, "latent": 128, "lm": 576},
///      "sasrec": "sasrec.safetensors", "stage1": "stage1.safetensors", "stage2": "stage2.safetensors",
///      "encoder": "/abs/path/minilm", "lm": "/abs/path/smollm2.gguf",
///      "template": {…PromptTemplate JSON…}, "training": {"stage1": {…}, "stage2": {…}},
///      "retrieval": "retrieval.safetensors", "retrievalTemplate": {…RetrievalTemplate JSON…},
///      "retrievalWords": "words.safetensors",
///      "blend": {"sasrec": 1, "cooccurrence": 0.5, "text": 0.25, "retrieval": 1},
///      "blendWithoutLM": {"sasrec": 1, "cooccurrence": 0.5, "text": 0.25},
///      "blendItemsWithoutInteractions": {"sasrec-text": 1, "text": 0.5, "retrieval": 1},
///      "blendItemsWithoutInteractionsWithoutLM": {"sasrec-text": 1, "text": 0.5}}
///
/// Relative paths are relative to the bundle directory. `stage2` and `lm` are absent until stage 2;
/// `retrieval` (LLM-SRec's weights, `llmrec train retrieval`) until that training, which needs
/// neither stage; `retrievalWords` until `llmrec train words`. `blend` and `blendWithoutLM` are
/// the z-score blend weights `llmrec tune` chose on the validation split, with and without the
/// retrieval path; `blendItemsWithoutInteractions` those of the signals that can score an item
/// without training interactions (SASRec with rows predicted from text, text, retrieval), for lists
/// made only of such items, chosen with every validation candidate read as such an item;
/// `blendItemsWithoutInteractionsWithoutLM` the same without retrieval.
public struct ALLMRecManifest: Sendable {
    public static let fileName = "manifest.json"
    public static let format = "llmrec-allmrec"
    public static let version = 1

    public var datasetFingerprint: String
    public var itemCount: Int
    public var dimensions: [String: Int]
    public var sasrec: String
    public var stage1: String?
    public var stage2: String?
    public var encoder: String?
    public var languageModel: String?
    public var template: PromptTemplate
    /// LLM-SRec's trained weights (`RetrievalWeights`) and the template they were trained with.
    public var retrieval: String?
    public var retrievalTemplate: RetrievalTemplate?
    /// The retrieval model's scores: cosine similarity / τ when set (vectors are then unit length),
    /// dot products otherwise.
    public var retrievalTemperature: Float?
    /// Share of retrieval training samples that carried the user's words (0 or nil: the model was
    /// never taught to listen, so serving leaves the words out of its prompt).
    public var retrievalWishes: Float?
    /// The word head (`RetrievalWordHead`, `llmrec train words`): how the user's words move items by
    /// their facets and decade. Nil: words reach the scores through `[UserOut]` alone.
    public var retrievalWords: String?
    /// Blend weights by signal name (`BlendSignal`), tuned on validation.
    public var blend: [String: Float]?
    public var blendWithoutLM: [String: Float]?
    /// Weights of the signals that score items without training interactions, for candidate lists
    /// made only of such items (`ZScoreBlend.componentsForItemsWithoutInteractions`).
    public var blendItemsWithoutInteractions: [String: Float]?
    /// The same without the LM path (what `blend-cf` uses for such lists).
    public var blendItemsWithoutInteractionsWithoutLM: [String: Float]?
    /// Free-form training records per stage (settings, times, losses), as JSON-compatible values.
    public var training: [String: [String: String]]

    public init(datasetFingerprint: String, itemCount: Int, sasrec: String, template: PromptTemplate) {
        self.datasetFingerprint = datasetFingerprint
        self.itemCount = itemCount
        self.sasrec = sasrec
        self.template = template
        dimensions = [:]
        training = [:]
    }

    /// Reads `directory/manifest.json`.
    public static func read(directory: String) throws(ALLMRecError) -> ALLMRecManifest {
        let path = directory + "/" + fileName
        guard let data = try? ModelFile.contents(of: path) else { throw .invalidBundle("\(path) does not exist or cannot be read") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidBundle("\(path) is not a JSON object")
        }
        guard object["format"] as? String == format else { throw .invalidBundle("\(path): format is not '\(format)'") }
        guard let version = object["version"] as? Int, version <= Self.version else {
            throw .invalidBundle("\(path): unsupported version \(object["version"] ?? "none")")
        }
        guard let dataset = object["dataset"] as? [String: Any], let fingerprint = dataset["fingerprint"] as? String,
            let items = dataset["items"] as? Int
        else { throw .invalidBundle("\(path): missing dataset.fingerprint or dataset.items") }
        guard let sasrec = object["sasrec"] as? String else { throw .invalidBundle("\(path): missing 'sasrec'") }
        var template = PromptTemplate.builtIn["movies"]!
        if let templateObject = object["template"] {
            guard let templateJSON = templateObject as? [String: Any] else { throw .invalidBundle("\(path): 'template' is not an object") }
            template = try PromptTemplate(jsonObject: templateJSON, source: path + " template")
        }
        var manifest = ALLMRecManifest(datasetFingerprint: fingerprint, itemCount: items, sasrec: sasrec, template: template)
        manifest.stage1 = object["stage1"] as? String
        manifest.stage2 = object["stage2"] as? String
        manifest.encoder = object["encoder"] as? String
        manifest.languageModel = object["lm"] as? String
        manifest.dimensions = object["dimensions"] as? [String: Int] ?? [:]
        manifest.training = object["training"] as? [String: [String: String]] ?? [:]
        manifest.retrieval = object["retrieval"] as? String
        manifest.retrievalTemperature = (object["retrievalTemperature"] as? Double).map { Float($0) }
        manifest.retrievalWishes = (object["retrievalWishes"] as? Double).map { Float($0) }
        manifest.retrievalWords = object["retrievalWords"] as? String
        func weights(_ key: String) throws(ALLMRecError) -> [String: Float]? {
            guard let value = object[key] else { return nil }
            guard let weights = value as? [String: Double], weights.keys.allSatisfy({ BlendSignal(rawValue: $0) != nil }) else {
                throw .invalidBundle("\(path): '\(key)' must map signal names (\(BlendSignal.allCases.map(\.rawValue).joined(separator: ", "))) to numbers")
            }
            return weights.mapValues { Float($0) }
        }
        manifest.blend = try weights("blend")
        manifest.blendWithoutLM = try weights("blendWithoutLM")
        manifest.blendItemsWithoutInteractions = try weights("blendItemsWithoutInteractions")
        manifest.blendItemsWithoutInteractionsWithoutLM = try weights("blendItemsWithoutInteractionsWithoutLM")
        if let templateObject = object["retrievalTemplate"] {
            guard let templateJSON = templateObject as? [String: Any] else { throw .invalidBundle("\(path): 'retrievalTemplate' is not an object") }
            do {
                manifest.retrievalTemplate = try RetrievalTemplate(jsonObject: templateJSON, source: path + " retrievalTemplate")
            } catch {
                throw .invalidBundle(error.description)
            }
        }
        return manifest
    }

    /// Writes `directory/manifest.json` atomically (creating the directory).
    public func write(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var object: [String: Any] = [
            "format": Self.format, "version": Self.version, "dataset": ["fingerprint": datasetFingerprint, "items": itemCount],
            "dimensions": dimensions, "sasrec": sasrec, "template": template.jsonObject, "training": training,
        ]
        object["stage1"] = stage1
        object["stage2"] = stage2
        object["encoder"] = encoder
        object["lm"] = languageModel
        object["retrieval"] = retrieval
        object["retrievalTemplate"] = retrievalTemplate?.jsonObject
        object["retrievalTemperature"] = retrievalTemperature.map { Double($0) }
        object["retrievalWishes"] = retrievalWishes.map { Double($0) }
        object["retrievalWords"] = retrievalWords
        object["blend"] = blend.map { $0.mapValues { Double($0) } }
        object["blendWithoutLM"] = blendWithoutLM.map { $0.mapValues { Double($0) } }
        object["blendItemsWithoutInteractions"] = blendItemsWithoutInteractions.map { $0.mapValues { Double($0) } }
        object["blendItemsWithoutInteractionsWithoutLM"] = blendItemsWithoutInteractionsWithoutLM.map { $0.mapValues { Double($0) } }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: directory + "/" + Self.fileName), options: .atomic)
    }

    /// `path` made absolute against the bundle directory.
    public static func resolve(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : directory + "/" + path
    }
}

/// Stage-1 and stage-2 weight files.
public enum ALLMRecWeights {
    /// Writes the stage-1 MLPs as `item.fc1.weight` … `text.fc2.bias` (the text MLP is optional:
    /// an import of the original's `*_mlp.pt` alone has only the item side, all stage 2 needs).
    public static func saveStage1(item: TwoLayerMLP, text: TwoLayerMLP?, to path: String, metadata: [String: String]) throws {
        let tensors = item.namedTensors.map { ("item." + $0.name, $0.tensor) } + (text?.namedTensors ?? []).map { ("text." + $0.name, $0.tensor) }
        try SafetensorsFile.write(tensors: tensors, metadata: metadata, to: path)
    }

    public static func loadStage1(_ path: String) throws -> (item: TwoLayerMLP, text: TwoLayerMLP?) {
        let groups = try grouped(path, prefixes: ["item.", "text."])
        return (try TwoLayerMLP(tensors: groups[0]), groups[1].isEmpty ? nil : try TwoLayerMLP(tensors: groups[1]))
    }

    /// Writes the projectors as `user_proj.0.weight` … `item_proj.3.bias`.
    public static func saveStage2(_ projectors: Stage2Projectors, to path: String, metadata: [String: String]) throws {
        try SafetensorsFile.write(tensors: stage2Tensors(projectors), metadata: metadata, to: path)
    }

    /// The projectors' tensors under their file names.
    public static func stage2Tensors(_ projectors: Stage2Projectors) -> [(name: String, tensor: Tensor)] {
        func tensors(_ projector: SoftPromptProjector, prefix: String) -> [(name: String, tensor: Tensor)] {
            projector.namedParameters.map { (prefix + $0.name, Tensor(shape: $0.shape, storage: $0.values)) }
                + (projector.outputScale == 1 ? [] : [(prefix + "scale", Tensor(shape: [1], storage: [projector.outputScale]))])
        }
        return tensors(projectors.user, prefix: "user_proj.") + tensors(projectors.item, prefix: "item_proj.")
    }

    public static func loadStage2(_ path: String) throws -> Stage2Projectors {
        let groups = try grouped(path, prefixes: ["user_proj.", "item_proj."])
        return Stage2Projectors(
            user: try SoftPromptProjector(tensors: groups[0], activation: .leakyReLU),
            item: try SoftPromptProjector(tensors: groups[1], activation: .gelu))
    }

    /// The original code's state dicts (`torch.save(module.state_dict())`): `*_mlp.pt`, `*_log_proj.pt`, `*_item_proj.pt`.
    public static func loadOriginalStateDict(_ path: String) throws -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for entry in try PyTorchCheckpoint(path: path).stateDict() { tensors[entry.name] = entry.tensor }
        return tensors
    }

    private static func grouped(_ path: String, prefixes: [String]) throws -> [[String: Tensor]] {
        let file = try SafetensorsFile(path: path)
        var groups = [[String: Tensor]](repeating: [:], count: prefixes.count)
        for name in file.names {
            guard let index = prefixes.firstIndex(where: { name.hasPrefix($0) }) else { continue }
            groups[index][String(name.dropFirst(prefixes[index].count))] = try file.tensor(named: name)
        }
        return groups
    }
}
