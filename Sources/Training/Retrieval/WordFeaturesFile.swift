import Checkpoints
import Foundation
import Models
import Numerics

/// The word head's training features kept between runs (`BUNDLE/words.features.safetensors`), so
/// that a rerun with other epochs, learning rate or weight decay skips the LM passes: per split the
/// user head's outputs, the words' mean states, the candidates (item ids, exact in Float32) and the
/// wishes' kinds, under a key (in the metadata) that names what they were computed from.
public enum WordFeaturesFile {
    public static let fileName = "words.features.safetensors"

    public static func save(training: WordHeadTrainer.Features, validation: WordHeadTrainer.Features, key: String, to path: String) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        for (name, features) in [("training", training), ("validation", validation)] {
            let count = features.count
            let e = count > 0 ? features.words.count / count : 0
            let width = features.candidates.first?.count ?? 0
            guard features.candidates.allSatisfy({ $0.count == width }) else {
                throw RetrievalError.invalidFile("word features: samples with different candidate counts")
            }
            let candidates = features.candidates.flatMap { $0.map(Float.init) }
            let kinds = features.kinds.map { Float(TrainingWish.Kind.allCases.firstIndex(of: $0) ?? 0) }
            tensors.append((name + ".headed", Tensor(shape: [count, RetrievalWeights.vectorSize], storage: features.headed)))
            tensors.append((name + ".words", Tensor(shape: [count, e], storage: features.words)))
            tensors.append((name + ".candidates", Tensor(shape: [count, width], storage: candidates)))
            tensors.append((name + ".kinds", Tensor(shape: [count], storage: kinds)))
        }
        try SafetensorsFile.write(tensors: tensors, metadata: ["key": key], to: path)
    }

    /// The features in `path` when it holds them under `key`; nil when it is missing, holds other
    /// features, or cannot be read as features (they are then computed again).
    public static func load(from path: String, key: String) -> (training: WordHeadTrainer.Features, validation: WordHeadTrainer.Features)? {
        guard FileManager.default.fileExists(atPath: path), let file = try? SafetensorsFile(path: path), file.metadata["key"] == key else {
            return nil
        }
        func split(_ name: String) -> WordHeadTrainer.Features? {
            guard let headed = try? file.tensor(named: name + ".headed"), let words = try? file.tensor(named: name + ".words"),
                let candidates = try? file.tensor(named: name + ".candidates"), let kinds = try? file.tensor(named: name + ".kinds"),
                candidates.shape.count == 2, kinds.shape == [candidates.shape[0]], headed.shape == [candidates.shape[0], RetrievalWeights.vectorSize],
                words.shape.count == 2, words.shape[0] == candidates.shape[0]
            else { return nil }
            let width = candidates.shape[1]
            let all = TrainingWish.Kind.allCases
            guard kinds.storage.allSatisfy({ Int($0) >= 0 && Int($0) < all.count }) else { return nil }
            return WordHeadTrainer.Features(
                headed: headed.storage, words: words.storage,
                candidates: (0..<candidates.shape[0]).map { row in candidates.storage[(row * width)..<((row + 1) * width)].map { Int32($0) } },
                kinds: kinds.storage.map { all[Int($0)] })
        }
        guard let training = split("training"), let validation = split("validation") else { return nil }
        return (training, validation)
    }
}
