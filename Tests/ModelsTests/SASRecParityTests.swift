import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// The Swift SASRec against PyTorch (pmixer/SASRec.pytorch @ 30c43cf as A-LLMRec uses it) on fixed
/// weights and inputs. Fixtures: Tests/ModelsTests/Fixtures (regenerate with
/// `python3 scripts/make-sasrec-fixtures.py Tests/ModelsTests/Fixtures`). The references were computed
/// in float64; our float32 forward and backward must agree to 1e-5 (absolute, or relative for
/// values above 1).
@Suite struct SASRecParityTests {
    static let fixtures = ["sasrec_tiny", "sasrec_heads2"]
    static let heads = ["sasrec_tiny": 1, "sasrec_heads2": 2]

    static func folder(_ name: String) -> String { Bundle.module.resourcePath! + "/Fixtures/" + name }

    struct Reference {
        let model: SASRecModel
        let file: SafetensorsFile
        let batch: Int

        init(_ name: String) throws {
            var model = try SASRecCheckpoint.load(folder(name) + "/model.safetensors", heads: heads[name]!)
            var configuration = model.configuration
            configuration.dropout = 0
            model = SASRecModel(configuration: configuration, layout: model.layout, weights: model.weights)
            self.model = model
            file = try SafetensorsFile(path: folder(name) + "/reference.safetensors")
            batch = try file.info(named: "input.seq").shape[0]
        }

        func ids(_ name: String) throws -> [Int32] { try file.int64Values(named: name).values.map { Int32($0) } }
        func floats(_ name: String) throws -> [Float] { try file.tensor(named: name).storage }
    }

    static func expectClose(_ actual: [Float], _ expected: [Float], _ what: String, tolerance: Float = 1e-5) {
        #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)")
        var worst: (Int, Float)?
        for (index, (a, e)) in zip(actual, expected).enumerated() {
            let error = abs(a - e) / max(1, abs(e))
            if error > tolerance, error > (worst?.1 ?? 0) { worst = (index, error) }
        }
        #expect(worst == nil, "\(what)[\(worst?.0 ?? -1)]: \(worst.map { "\(actual[$0.0]) vs \(expected[$0.0])" } ?? "")")
    }

    @Test(arguments: fixtures)
    func forwardBackwardAndLossMatchPyTorch(name: String) throws {
        let reference = try Reference(name)
        let model = reference.model
        let configuration = model.configuration
        let workspace = SASRecWorkspace(configuration: configuration, batch: reference.batch)
        let sequence = try reference.ids("input.seq")
        for (index, item) in sequence.enumerated() { workspace.sequence[index] = item }
        let rows = reference.batch * configuration.maxLength
        var gradients = [Float](repeating: 0, count: model.layout.totalCount)
        var dFeatures = [Float](repeating: 0, count: rows * configuration.hiddenUnits)
        var generator = SplitMix64(seed: 0)
        let positives = try reference.ids("input.pos")
        let negatives = try reference.ids("input.neg")
        let result = model.weights.withUnsafeBufferPointer { weights in
            SASRecNetwork.forward(weights: weights.baseAddress!, layout: model.layout, workspace: workspace, training: true, generator: &generator)
            let result = SASRecLoss.forwardBackward(
                weights: weights.baseAddress!, gradients: &gradients, layout: model.layout, workspace: workspace,
                positives: positives, negatives: negatives, dLogFeatures: &dFeatures)
            SASRecNetwork.backward(
                dLogFeatures: &dFeatures, weights: weights.baseAddress!, gradients: &gradients, layout: model.layout, workspace: workspace)
            return result
        }
        let logFeatures = Array(UnsafeBufferPointer(start: workspace.logFeatures, count: rows * configuration.hiddenUnits))
        Self.expectClose(logFeatures, try reference.floats("expected.log_feats"), "\(name) log_feats")
        let valid = positives.map { $0 != 0 }
        let expectedPositive = try reference.floats("expected.pos_logits")
        let expectedNegative = try reference.floats("expected.neg_logits")
        Self.expectClose(
            zip(result.positiveLogits, valid).filter(\.1).map(\.0), zip(expectedPositive, valid).filter(\.1).map(\.0), "\(name) pos_logits")
        Self.expectClose(
            zip(result.negativeLogits, valid).filter(\.1).map(\.0), zip(expectedNegative, valid).filter(\.1).map(\.0), "\(name) neg_logits")
        Self.expectClose([result.loss], try reference.floats("expected.loss"), "\(name) loss")
        let unpacked = model.layout.unpack(gradients)
        for parameter in model.layout.names {
            Self.expectClose(unpacked[parameter]!.storage, try reference.floats("grad." + parameter), "\(name) grad.\(parameter)")
        }
    }

    @Test(arguments: fixtures)
    func inferenceMatchesPyTorch(name: String) throws {
        let reference = try Reference(name)
        let model = reference.model
        let length = model.configuration.maxLength
        let sequence = try reference.ids("input.seq")
        let histories = (0..<reference.batch).map { row in
            Array(sequence[(row * length)..<((row + 1) * length)]).filter { $0 != 0 }
        }
        let users = model.userRepresentations(histories)
        Self.expectClose(users.flatMap { $0 }, try reference.floats("expected.user_repr"), "\(name) user_repr")
        let candidates = try reference.ids("input.candidates")
        let width = candidates.count / reference.batch
        var scores: [Float] = []
        for row in 0..<reference.batch {
            scores += model.scores(history: histories[row], candidates: Array(candidates[(row * width)..<((row + 1) * width)]))
        }
        Self.expectClose(scores, try reference.floats("expected.candidate_scores"), "\(name) candidate_scores")
        let batched = model.scores(batch: (0..<reference.batch).map { row in
            (histories[row], Array(candidates[(row * width)..<((row + 1) * width)]))
        })
        Self.expectClose(batched.flatMap { $0 }, try reference.floats("expected.candidate_scores"), "\(name) batched candidate_scores")
    }

    @Test func checkpointsRoundTripThroughSafetensors() throws {
        let original = try SASRecCheckpoint.load(Self.folder("sasrec_heads2") + "/model.safetensors", heads: 2)
        let path = NSTemporaryDirectory() + "sasrec-\(UUID().uuidString).safetensors"
        try SASRecCheckpoint.save(original, to: path, metadata: ["note": "test"])
        let reloaded = try SASRecCheckpoint.load(path)
        #expect(reloaded.configuration == original.configuration, "the configuration travels in the metadata (heads included)")
        #expect(reloaded.weights == original.weights)
    }

    @Test(arguments: fixtures)
    func readsTheOriginalCodesPthCheckpoints(name: String) throws {
        let fromPth = try SASRecCheckpoint.load(Self.folder(name) + "/model.pth")
        let fromSafetensors = try SASRecCheckpoint.load(Self.folder(name) + "/model.safetensors", heads: Self.heads[name]!)
        #expect(fromPth.configuration.heads == Self.heads[name]!, "num_heads comes from kwargs['args']")
        #expect(fromPth.configuration.dropout == 0.5)
        #expect(fromPth.configuration.itemCount == fromSafetensors.configuration.itemCount)
        #expect(fromPth.weights == fromSafetensors.weights)
    }

    @Test func refusesCheckpointsThatAreNotSASRec() throws {
        let path = NSTemporaryDirectory() + "not-sasrec-\(UUID().uuidString).safetensors"
        try SafetensorsFile.write(tensors: [("something.else", Tensor(shape: [2], storage: [1, 2]))], to: path)
        #expect(throws: SASRecError.missingParameter("item_emb.weight")) { try SASRecCheckpoint.load(path) }
    }
}
