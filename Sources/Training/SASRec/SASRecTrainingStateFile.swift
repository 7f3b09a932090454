import Checkpoints
import Foundation
import Models
import Numerics

/// The resumable state of a SASRec training run, saved after every epoch next to the output file
/// (`OUT.training.safetensors`): weights, Adam moments, the best validated weights, and in the
/// metadata the step, epochs done, generator state, best metric and the run's identity (dataset
/// fingerprint and configuration), so that a changed run is not resumed by mistake.
public enum SASRecTrainingStateFile {
    public static func path(forOutput output: String) -> String { output + ".training.safetensors" }

    public static func save(_ state: SASRecTrainingState, identity: String, to path: String) throws {
        var tensors: [(name: String, tensor: Tensor)] = [
            ("weights", Tensor(shape: [state.weights.count], storage: state.weights)),
            ("adam.first_moment", Tensor(shape: [state.firstMoments.count], storage: state.firstMoments)),
            ("adam.second_moment", Tensor(shape: [state.secondMoments.count], storage: state.secondMoments)),
        ]
        if let best = state.bestWeights { tensors.append(("best_weights", Tensor(shape: [best.count], storage: best))) }
        try SafetensorsFile.write(
            tensors: tensors,
            metadata: [
                "identity": identity, "step": String(state.step), "epochsDone": String(state.epochsDone),
                "generatorState": String(state.generatorState), "bestValidationNDCG10": String(state.bestValidationNDCG10),
            ], to: path)
    }

    /// The saved state when `path` exists and belongs to the same run (`identity`); nil otherwise.
    public static func load(from path: String, identity: String) throws -> SASRecTrainingState? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafetensorsFile(path: path)
        guard file.metadata["identity"] == identity, let step = file.metadata["step"].flatMap(Int.init),
            let epochs = file.metadata["epochsDone"].flatMap(Int.init),
            let generator = file.metadata["generatorState"].flatMap(UInt64.init),
            let best = file.metadata["bestValidationNDCG10"].flatMap(Double.init)
        else { return nil }
        return SASRecTrainingState(
            weights: try file.tensor(named: "weights").storage,
            firstMoments: try file.tensor(named: "adam.first_moment").storage,
            secondMoments: try file.tensor(named: "adam.second_moment").storage, step: step, epochsDone: epochs,
            generatorState: generator, bestValidationNDCG10: best,
            bestWeights: file.names.contains("best_weights") ? try file.tensor(named: "best_weights").storage : nil)
    }

    /// What identifies a run: data, architecture and optimisation settings (not the epoch count, so
    /// a finished run can be extended).
    public static func identity(dataset: String, configuration: SASRecConfiguration, options: SASRecTrainingOptions) -> String {
        SASRecCheckpoint.encode(configuration)
            + " data=\(dataset) batch=\(options.batchSize) lr=\(options.learningRate) betas=\(options.beta1),\(options.beta2)"
            + " l2=\(options.l2Embedding) seed=\(options.seed)"
    }
}
