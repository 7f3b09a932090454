import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// A-LLMRec's two training stages against PyTorch on tiny models, and the import of the original
/// code's checkpoint files. Fixtures: Tests/ModelsTests/Fixtures/allmrec (`python3
/// scripts/make-allmrec-fixtures.py Tests/ModelsTests/Fixtures`); references computed in float64.
@Suite struct ALLMRecParityTests {
    static let folder = Bundle.module.resourcePath! + "/Fixtures/allmrec"

    static func tensors(_ file: SafetensorsFile, prefix: String) throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for name in file.names where name.hasPrefix(prefix) { result[String(name.dropFirst(prefix.count))] = try file.tensor(named: name) }
        return result
    }

    /// Stage 1 with the text encoder's last layer fine-tuned: pooled texts, the four losses, the
    /// MLP gradients, the gradient into the text embeddings and on into the encoder's last layer.
    @Test func stage1LossesAndGradientsMatchPyTorch() throws {
        let file = try SafetensorsFile(path: Self.folder + "/stage1.safetensors")
        func floats(_ name: String) throws -> [Float] { try file.tensor(named: name).storage }
        let encoderFolder = Bundle.module.resourcePath! + "/Fixtures/distilbert_tiny"
        let configuration = try EncoderConfiguration(contentsOf: encoderFolder + "/config.json")
        let encoder = TransformerEncoder(
            configuration: configuration,
            weights: try EncoderWeights(file: try SafetensorsFile(path: encoderFolder + "/model.safetensors"), configuration: configuration))
        let dim = configuration.hiddenSize
        // Positives and negatives as one batch of 8 rows.
        let positive = try file.int64Values(named: "positive_ids")
        let (rows, length) = (positive.shape[0], positive.shape[1])
        let ids = (positive.values + (try file.int64Values(named: "negative_ids").values)).map { Int32($0) }
        let lengths = (try file.int64Values(named: "positive_lengths").values + (try file.int64Values(named: "negative_lengths").values))
            .map { Int32($0) }
        let trace = encoder.forwardForTraining(ids: ids, lengths: lengths, batch: 2 * rows, length: length, trainableLayers: 1)
        let pooled = SentencePooling(mode: .mean).pool(hidden: trace.hidden, lengths: lengths, batch: 2 * rows, length: length, dim: dim)
            .flatMap { $0 }
        SASRecParityTests.expectClose(Array(pooled[..<(rows * dim)]), try floats("expected.positive_texts"), "positive texts")
        SASRecParityTests.expectClose(Array(pooled[(rows * dim)...]), try floats("expected.negative_texts"), "negative texts")

        let item = try TwoLayerMLP(tensors: try Self.tensors(file, prefix: "item."))
        let text = try TwoLayerMLP(tensors: try Self.tensors(file, prefix: "text."))
        let batch = Stage1Batch(
            rows: rows, users: try floats("users"), positiveItems: try floats("positive_items"), negativeItems: try floats("negative_items"),
            positiveTexts: Array(pooled[..<(rows * dim)]), negativeTexts: Array(pooled[(rows * dim)...]))
        let result = Stage1Objective.evaluate(item: item, text: text, batch: batch)
        for (name, value) in [
            ("rec", result.recommendation), ("match", result.matching), ("item", result.itemReconstruction), ("text", result.textReconstruction),
            ("total", result.total),
        ] {
            SASRecParityTests.expectClose([value], try floats("expected.loss_" + name), "loss \(name)")
        }
        let gradients: [(String, [Float])] = [
            ("item.fc1.weight", result.itemGradients.fc1Weight), ("item.fc1.bias", result.itemGradients.fc1Bias),
            ("item.fc2.weight", result.itemGradients.fc2Weight), ("item.fc2.bias", result.itemGradients.fc2Bias),
            ("text.fc1.weight", result.textGradients.fc1Weight), ("text.fc1.bias", result.textGradients.fc1Bias),
            ("text.fc2.weight", result.textGradients.fc2Weight), ("text.fc2.bias", result.textGradients.fc2Bias),
            ("positive_texts", result.dPositiveTexts), ("negative_texts", result.dNegativeTexts),
        ]
        for (name, actual) in gradients {
            SASRecParityTests.expectClose(actual, try floats("grad." + name), "grad \(name)", tolerance: 1e-5)
        }
        // On into the encoder's last layer, through mean pooling.
        let dHidden = SentencePooling(mode: .mean).backward(
            dPooled: result.dPositiveTexts + result.dNegativeTexts, hidden: trace.hidden, lengths: lengths, batch: 2 * rows, length: length,
            dim: dim)
        let layer = encoder.backward(trace, dHidden: dHidden).layers[0]
        let prefix = "grad.encoder.transformer.layer.1."
        let encoderGradients: [(String, [Float])] = [
            ("attention.q_lin.weight", layer.query), ("attention.q_lin.bias", layer.queryBias), ("attention.k_lin.weight", layer.key),
            ("attention.v_lin.weight", layer.value), ("attention.v_lin.bias", layer.valueBias), ("attention.out_lin.weight", layer.attentionOutput),
            ("attention.out_lin.bias", layer.attentionOutputBias), ("sa_layer_norm.weight", layer.attentionNormWeight),
            ("sa_layer_norm.bias", layer.attentionNormBias), ("ffn.lin1.weight", layer.intermediate), ("ffn.lin1.bias", layer.intermediateBias),
            ("ffn.lin2.weight", layer.output), ("ffn.lin2.bias", layer.outputBias), ("output_layer_norm.weight", layer.outputNormWeight),
            ("output_layer_norm.bias", layer.outputNormBias),
        ]
        // Encoder gradients are ~1e-3..6e-3 in size: compare with an absolute tolerance well below that.
        for (name, actual) in encoderGradients {
            SASRecParityTests.expectClose(actual, try floats(prefix + name), "grad encoder \(name)", tolerance: 2e-7)
        }
    }

    /// Stage 2 on tiny OPT and Llama decoders: the answer-token loss over two samples, every
    /// projector gradient, the logits of the soft-prompted sequences and the gradient of the loss
    /// with respect to the whole input-embedding matrix (the decoder's backward pass alone).
    @Test(arguments: [("opt", "opt_tiny"), ("llama", "llama_tiny")])
    func stage2LossAndGradientsMatchPyTorch(family: String, decoderFixture: String) throws {
        let file = try SafetensorsFile(path: Self.folder + "/stage2_\(family).safetensors")
        func floats(_ name: String) throws -> [Float] { try file.tensor(named: name).storage }
        let decoder = try CausalDecoder.load(huggingFaceDirectory: Bundle.module.resourcePath! + "/Fixtures/" + decoderFixture)
        let projectors = Stage2Projectors(
            user: try SoftPromptProjector(tensors: try Self.tensors(file, prefix: "user_proj."), activation: .leakyReLU),
            item: try SoftPromptProjector(tensors: try Self.tensors(file, prefix: "item_proj."), activation: .gelu))
        var examples: [Stage2Example] = []
        for b in 0..<2 {
            let tokens = try file.int64Values(named: "sample\(b).tokens").values.map { Int32($0) }
            let slotPositions = try file.int64Values(named: "sample\(b).slot_positions").values.map { Int($0) + 1 }
            let labelStart = Int(try file.int64Values(named: "sample\(b).label_start").values[0]) + 1
            var tokenRow = [Int32(0)] + tokens
            for position in slotPositions { tokenRow[position] = 0 }
            let slots: [(position: Int, slot: SoftSlot)] = [(0, .user)] + slotPositions.enumerated().map { ($0.element, .history($0.offset)) }
            examples.append(
                Stage2Example(
                    sequence: PromptSequence(tokens: tokenRow, slots: slots, answerStart: labelStart), user: try floats("sample\(b).user"),
                    historyLatents: try floats("sample\(b).slot_latents"), candidateLatents: []))
        }
        let result = try Stage2Objective.evaluate(decoder: decoder, projectors: projectors, batch: examples)
        SASRecParityTests.expectClose([result.loss], try floats("expected.loss"), "\(family) loss")
        #expect(result.answerTokens == 7)
        for (prefix, gradients) in [("user_proj.", result.gradients.user), ("item_proj.", result.gradients.item)] {
            for (name, actual) in zip(["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"], gradients.values) {
                SASRecParityTests.expectClose(actual, try floats("grad." + prefix + name), "\(family) grad \(prefix)\(name)", tolerance: 2e-5)
            }
        }
        // The decoder alone: logits of every position and d loss / d inputs_embeds.
        let vocabulary = decoder.configuration.vocabularySize
        for (b, example) in examples.enumerated() {
            let soft = projectors.softInputs(
                sequence: example.sequence, user: example.user, historyLatents: example.historyLatents, candidateLatents: [])
            let rows = example.sequence.tokens.count
            let (logits, trace) = try decoder.forwardForTraining(
                tokens: example.sequence.tokens, inputEmbeddings: soft.vectors, outputRows: Array(0..<rows))
            SASRecParityTests.expectClose(logits, try floats("expected.sample\(b).logits"), "\(family) sample \(b) logits", tolerance: 1e-4)
            var dLogits = [Float](repeating: 0, count: rows * vocabulary)
            let targets = (0..<rows).map { row in row + 1 >= example.sequence.answerStart && row + 1 < rows ? example.sequence.tokens[row + 1] : -1 }
            _ = Loss.crossEntropy(
                logits: logits, targets: targets, rows: rows, classes: vocabulary, dlogits: &dLogits,
                scale: Float(rows - example.sequence.answerStart) / 7)
            let dInputs = decoder.inputGradients(trace, dLogits: dLogits)
            SASRecParityTests.expectClose(dInputs, try floats("grad.sample\(b).inputs_embeds"), "\(family) sample \(b) d inputs", tolerance: 2e-5)
        }
    }

    /// The original code's `*_mlp.pt`, `*_log_proj.pt` and `*_item_proj.pt` state dicts.
    @Test func originalCheckpointsImport() throws {
        let expected = try SafetensorsFile(path: Self.folder + "/original/expected.safetensors")
        let mlp = try TwoLayerMLP(
            tensors: try ALLMRecWeights.loadOriginalStateDict(Self.folder + "/original/ml-100k_sasrec_10_mlp.pt"))
        for (name, tensor) in mlp.namedTensors {
            #expect(tensor == (try expected.tensor(named: "mlp." + name)), "mlp.\(name)")
        }
        for (kind, activation) in [("log_proj", SoftPromptProjector.Activation.leakyReLU), ("item_proj", .gelu)] {
            let projector = try SoftPromptProjector(
                tensors: try ALLMRecWeights.loadOriginalStateDict(Self.folder + "/original/ml-100k_sasrec_10_opt_5_\(kind).pt"),
                activation: activation)
            for parameter in projector.namedParameters {
                #expect(parameter.values == (try expected.tensor(named: kind + "." + parameter.name)).storage, "\(kind).\(parameter.name)")
            }
        }
        // A state dict of the wrong module is a typed error, not a crash.
        #expect(throws: ALLMRecError.missingTensor("0.weight")) {
            try SoftPromptProjector(
                tensors: try ALLMRecWeights.loadOriginalStateDict(Self.folder + "/original/ml-100k_sasrec_10_mlp.pt"), activation: .gelu)
        }
    }

    /// A fixed output scale multiplies the outputs and every parameter gradient, and survives a save
    /// and load of the stage-2 file.
    @Test func outputScaleScalesOutputsAndGradientsAndIsSaved() throws {
        var generator = SplitMix64(seed: 9)
        var projector = SoftPromptProjector(inputSize: 6, outputSize: 8, activation: .gelu, generator: &generator)
        let x = (0..<12).map { _ in Float(Initialization.normal(&generator)) }
        let dOutput = (0..<16).map { _ in Float(Initialization.normal(&generator)) }
        let plain = projector.forward(x, rows: 2)
        var plainGradients = SoftPromptProjector.Gradients(of: projector)
        projector.backward(plain.trace, dOutput: dOutput, into: &plainGradients)
        projector.outputScale = 0.25
        let scaled = projector.forward(x, rows: 2)
        var scaledGradients = SoftPromptProjector.Gradients(of: projector)
        projector.backward(scaled.trace, dOutput: dOutput, into: &scaledGradients)
        SASRecParityTests.expectClose(scaled.output, plain.output.map { $0 * 0.25 }, "scaled output")
        for (a, b) in zip(scaledGradients.values, plainGradients.values) {
            SASRecParityTests.expectClose(a, b.map { $0 * 0.25 }, "scaled gradients")
        }
        let path = NSTemporaryDirectory() + "stage2-\(UUID().uuidString).safetensors"
        try ALLMRecWeights.saveStage2(Stage2Projectors(user: projector, item: projector), to: path, metadata: [:])
        #expect(try ALLMRecWeights.loadStage2(path).user.outputScale == 0.25)
    }
}
