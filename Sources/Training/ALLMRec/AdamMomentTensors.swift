import Foundation
import Checkpoints
import Numerics

/// Adam's moment buffers in a training-state file: `adam.m.K` and `adam.v.K` for the K-th parameter
/// tensor the optimiser updates (the A-LLMRec stages' state files).
enum AdamMomentTensors {
    static func tensors(first: [[Float]], second: [[Float]]) -> [(name: String, tensor: Tensor)] {
        zip(first, second).enumerated().flatMap { index, moments in
            [
                ("adam.m.\(index)", Tensor(shape: [moments.0.count], storage: moments.0)),
                ("adam.v.\(index)", Tensor(shape: [moments.1.count], storage: moments.1)),
            ]
        }
    }

    /// The first `count` pairs of `file`.
    static func read(from file: SafetensorsFile, count: Int) throws -> (first: [[Float]], second: [[Float]]) {
        (
            try (0..<count).map { try file.tensor(named: "adam.m.\($0)").storage },
            try (0..<count).map { try file.tensor(named: "adam.v.\($0)").storage }
        )
    }
}

/// Where a step-wise trainer stands, as its state file records it.
public struct TrainingProgress: Sendable, Equatable {
    public var step, epochsDone, position: Int

    public init(step: Int, epochsDone: Int, position: Int) {
        self.step = step
        self.epochsDone = epochsDone
        self.position = position
    }
}

/// The state file of a step-wise trainer (A-LLMRec stage 2, retrieval): its trained tensors, Adam's
/// moments (`AdamMomentTensors`) and, in the metadata, the run's identity and its progress. A file
/// of another run (identity differs) is ignored, so a changed setting starts over.
enum StepStateFile {
    static func save(
        tensors: [(name: String, tensor: Tensor)], firstMoments: [[Float]], secondMoments: [[Float]], progress: TrainingProgress,
        identity: String, to path: String
    ) throws {
        try SafetensorsFile.write(
            tensors: tensors + AdamMomentTensors.tensors(first: firstMoments, second: secondMoments),
            metadata: [
                "identity": identity, "step": String(progress.step), "epochsDone": String(progress.epochsDone),
                "position": String(progress.position),
            ], to: path)
    }

    /// The file and its progress when `path` holds a state of the run `identity`; nil when there is
    /// none or it is another run's.
    static func open(_ path: String, identity: String) throws -> (file: SafetensorsFile, progress: TrainingProgress)? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafetensorsFile(path: path)
        guard file.metadata["identity"] == identity, let step = file.metadata["step"].flatMap(Int.init),
            let epochs = file.metadata["epochsDone"].flatMap(Int.init), let position = file.metadata["position"].flatMap(Int.init)
        else { return nil }
        return (file, TrainingProgress(step: step, epochsDone: epochs, position: position))
    }
}
