import Checkpoints
import Foundation
import Numerics

/// Reading and writing SASRec weights.
///
/// The file format is safetensors with the original PyTorch state-dict names (so the original
/// code, or `safetensors.torch.load_file`, reads our checkpoints) and the configuration in the
/// header metadata under `sasrec.config` (JSON). Files without that metadata (exported from PyTorch)
/// get their configuration from the tensor shapes; the head count, which shapes cannot tell, then
/// comes from the caller (A-LLMRec uses 1). The original code's `.pth` checkpoints are read too.
public enum SASRecCheckpoint {
    public static let configurationKey = "sasrec.config"

    /// Writes `model` to `path` (atomically), adding `metadata` to the header.
    public static func save(_ model: SASRecModel, to path: String, metadata: [String: String] = [:]) throws {
        let parameters = model.parameters
        var header = metadata
        header[configurationKey] = encode(model.configuration)
        try SafetensorsFile.write(
            tensors: parameters.names.map { ($0, parameters.tensors[$0]!) }, metadata: header, to: path)
    }

    /// Reads a SASRec checkpoint: one written by `save`, a safetensors export of the original's state
    /// dict, or the original code's own `torch.save([kwargs, state_dict])` `.pth` file, whose
    /// `kwargs['args']` namespace gives the head count and dropout (detected from the content, not
    /// the name: PyTorch zip files start with "PK").
    public static func load(_ path: String, heads: Int = 1) throws -> SASRecModel {
        if try isZipFile(path) {
            let checkpoint = try PyTorchCheckpoint(path: path)
            var tensors: [String: Tensor] = [:]
            for entry in try checkpoint.stateDict() { tensors[entry.name] = entry.tensor }
            let arguments = checkpoint.kwargs?["args"]
            var configuration = try inferConfiguration(tensors, heads: arguments?["num_heads"]?.intValue ?? heads)
            if let dropout = arguments?["dropout_rate"]?.doubleValue { configuration.dropout = Float(dropout) }
            return SASRecModel(parameters: try SASRecParameters(configuration: configuration, tensors: tensors))
        }
        let file = try SafetensorsFile(path: path)
        var tensors: [String: Tensor] = [:]
        for name in file.names { tensors[name] = try file.tensor(named: name) }
        let present = try inferConfiguration(tensors, heads: heads)
        guard let stored = file.metadata[configurationKey].flatMap(decode) else {
            return SASRecModel(parameters: try SASRecParameters(configuration: present, tensors: tensors))
        }
        try check(stored, against: present)
        return SASRecModel(parameters: try SASRecParameters(configuration: stored, tensors: tensors))
    }

    private static func isZipFile(_ path: String) throws -> Bool {
        try ModelFile.prefix(of: path, count: 2) == [0x50, 0x4B]
    }

    /// The configuration the tensor shapes imply.
    static func inferConfiguration(_ tensors: [String: Tensor], heads: Int) throws -> SASRecConfiguration {
        guard let items = tensors["item_emb.weight"], items.shape.count == 2 else {
            throw SASRecError.missingParameter("item_emb.weight")
        }
        guard let positions = tensors["pos_emb.weight"], positions.shape.count == 2 else {
            throw SASRecError.missingParameter("pos_emb.weight")
        }
        var blocks = 0
        while tensors["attention_layers.\(blocks).in_proj_weight"] != nil { blocks += 1 }
        guard heads >= 1, items.shape[1] % heads == 0 else {
            throw SASRecError.invalidConfiguration("\(heads) heads do not divide hidden size \(items.shape[1])")
        }
        return SASRecConfiguration(
            itemCount: items.shape[0] - 1, hiddenUnits: items.shape[1], blocks: blocks, heads: heads,
            maxLength: positions.shape[0])
    }

    /// Refuses a stored configuration that the tensors present do not bear out (before anything is
    /// sized from it): sizes must equal those the shapes imply, and the heads must divide the width.
    static func check(_ stored: SASRecConfiguration, against present: SASRecConfiguration) throws {
        let pairs = [
            ("itemCount", stored.itemCount, present.itemCount), ("hiddenUnits", stored.hiddenUnits, present.hiddenUnits),
            ("blocks", stored.blocks, present.blocks), ("maxLength", stored.maxLength, present.maxLength),
        ]
        for (key, claimed, actual) in pairs where claimed != actual {
            throw SASRecError.invalidConfiguration("the checkpoint's configuration says \(key) \(claimed), its tensors hold \(actual)")
        }
        guard stored.heads >= 1, stored.hiddenUnits % stored.heads == 0 else {
            throw SASRecError.invalidConfiguration("\(stored.heads) heads do not divide hidden size \(stored.hiddenUnits)")
        }
        guard stored.dropout >= 0, stored.dropout < 1 else {
            throw SASRecError.invalidConfiguration("dropout \(stored.dropout) is outside [0, 1)")
        }
    }

    /// The configuration as the compact JSON stored in checkpoint metadata.
    public static func encode(_ configuration: SASRecConfiguration) -> String {
        "{\"itemCount\":\(configuration.itemCount),\"hiddenUnits\":\(configuration.hiddenUnits),\"blocks\":\(configuration.blocks),"
            + "\"heads\":\(configuration.heads),\"maxLength\":\(configuration.maxLength),\"dropout\":\(configuration.dropout)}"
    }

    static func decode(_ text: String) -> SASRecConfiguration? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let items = object["itemCount"] as? Int, let hidden = object["hiddenUnits"] as? Int,
            let blocks = object["blocks"] as? Int, let heads = object["heads"] as? Int,
            let length = object["maxLength"] as? Int
        else { return nil }
        let dropout = (object["dropout"] as? Double).map(Float.init) ?? 0.5
        return SASRecConfiguration(
            itemCount: items, hiddenUnits: hidden, blocks: blocks, heads: heads, maxLength: length, dropout: dropout)
    }
}
