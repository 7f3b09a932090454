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
