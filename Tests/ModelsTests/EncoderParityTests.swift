import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// Tiny random BERT and DistilBERT encoders against transformers (forward, mean pooling, and the
/// backward pass through the top layer used for fine-tuning). Fixtures: Tests/ModelsTests/Fixtures,
/// made by `python3 scripts/make-encoder-fixtures.py`.
@Suite struct EncoderParityTests {
    static let fixtures = ["bert_tiny", "distilbert_tiny"]

    struct Reference {
        let encoder: TransformerEncoder
        let file: SafetensorsFile
        let ids: [Int32]
        let lengths: [Int32]
        let batch: Int
        let length: Int
        let prefix: String

        init(_ name: String) throws {
            let folder = Bundle.module.resourcePath! + "/Fixtures/" + name
            let configuration = try EncoderConfiguration(contentsOf: folder + "/config.json")
            encoder = TransformerEncoder(
                configuration: configuration,
                weights: try EncoderWeights(file: try SafetensorsFile(path: folder + "/model.safetensors"), configuration: configuration))
            file = try SafetensorsFile(path: folder + "/reference.safetensors")
            let input = try file.int64Values(named: "input.ids")
            ids = input.values.map { Int32($0) }
            batch = input.shape[0]
            length = input.shape[1]
            lengths = try file.int64Values(named: "input.lengths").values.map { Int32($0) }
            prefix = configuration.family == .bert ? "encoder.layer.1." : "transformer.layer.1."
        }

        func floats(_ name: String) throws -> [Float] { try file.tensor(named: name).storage }

        /// Only the real (unpadded) rows of a [batch · length, dim] buffer.
        func realRows(_ values: [Float], dim: Int) -> [Float] {
            (0..<batch).flatMap { b in values[(b * length * dim)..<((b * length + Int(lengths[b])) * dim)] }
        }
    }

    @Test(arguments: fixtures)
    func forwardAndPoolingMatchTransformers(name: String) throws {
        let reference = try Reference(name)
        let dim = reference.encoder.configuration.hiddenSize
        let hidden = reference.encoder.forward(
            ids: reference.ids, lengths: reference.lengths, batch: reference.batch, length: reference.length).hidden
        SASRecParityTests.expectClose(
            reference.realRows(hidden, dim: dim), reference.realRows(try reference.floats("expected.hidden"), dim: dim),
            "\(name) hidden", tolerance: 1e-5)
        let pooled = SentencePooling(mode: .mean).pool(
            hidden: hidden, lengths: reference.lengths, batch: reference.batch, length: reference.length, dim: dim)
        SASRecParityTests.expectClose(pooled.flatMap { $0 }, try reference.floats("expected.mean_pooled"), "\(name) mean_pooled")
    }

    @Test(arguments: fixtures)
    func topLayerGradientsMatchTransformers(name: String) throws {
        let reference = try Reference(name)
        let c = reference.encoder.configuration
        let dim = c.hiddenSize
        let trace = reference.encoder.forwardForTraining(
            ids: reference.ids, lengths: reference.lengths, batch: reference.batch, length: reference.length, trainableLayers: 1)
        // loss = Σ_b Σ_d mean_pooled[b, d] · W[b, d]  ⇒  dHidden[b, t, d] = W[b, d] / length_b for real t.
        let weights = try reference.floats("input.pool_weights")
        var dHidden = [Float](repeating: 0, count: reference.batch * reference.length * dim)
        for b in 0..<reference.batch {
            for t in 0..<Int(reference.lengths[b]) {
                for d in 0..<dim { dHidden[(b * reference.length + t) * dim + d] = weights[b * dim + d] / Float(reference.lengths[b]) }
            }
        }
        let (layers, dInput) = reference.encoder.backward(trace, dHidden: dHidden)
        #expect(layers.count == 1)
        let g = layers[0]
        let names: [(String, [Float])] = c.family == .bert
            ? [
                ("attention.self.query.weight", g.query), ("attention.self.query.bias", g.queryBias),
                ("attention.self.key.weight", g.key), ("attention.self.value.weight", g.value),
                ("attention.self.value.bias", g.valueBias), ("attention.output.dense.weight", g.attentionOutput),
                ("attention.output.dense.bias", g.attentionOutputBias), ("attention.output.LayerNorm.weight", g.attentionNormWeight),
                ("attention.output.LayerNorm.bias", g.attentionNormBias), ("intermediate.dense.weight", g.intermediate),
                ("intermediate.dense.bias", g.intermediateBias), ("output.dense.weight", g.output), ("output.dense.bias", g.outputBias),
                ("output.LayerNorm.weight", g.outputNormWeight), ("output.LayerNorm.bias", g.outputNormBias),
            ]
            : [
                ("attention.q_lin.weight", g.query), ("attention.q_lin.bias", g.queryBias), ("attention.k_lin.weight", g.key),
                ("attention.v_lin.weight", g.value), ("attention.v_lin.bias", g.valueBias),
                ("attention.out_lin.weight", g.attentionOutput), ("attention.out_lin.bias", g.attentionOutputBias),
                ("sa_layer_norm.weight", g.attentionNormWeight), ("sa_layer_norm.bias", g.attentionNormBias),
                ("ffn.lin1.weight", g.intermediate), ("ffn.lin1.bias", g.intermediateBias), ("ffn.lin2.weight", g.output),
                ("ffn.lin2.bias", g.outputBias), ("output_layer_norm.weight", g.outputNormWeight),
                ("output_layer_norm.bias", g.outputNormBias),
            ]
        for (suffix, actual) in names {
            SASRecParityTests.expectClose(actual, try reference.floats("grad." + reference.prefix + suffix), "\(name) grad \(suffix)")
        }
        // The key bias cannot change a softmax row: its gradient is zero.
        #expect(g.keyBias.allSatisfy { abs($0) < 1e-5 })
        SASRecParityTests.expectClose(
            reference.realRows(dInput, dim: dim), reference.realRows(try reference.floats("expected.grad_input_last_layer"), dim: dim),
            "\(name) grad of the last layer's input")
    }
}

/// The gradient of every pooling mode, with and without normalisation, against central differences.
@Suite struct SentencePoolingGradientTests {
    @Test(arguments: [SentencePooling.Mode.mean, .cls, .max], [false, true])
    func backwardMatchesFiniteDifferences(mode: SentencePooling.Mode, normalize: Bool) {
        let (batch, length, dim) = (2, 3, 4)
        let lengths: [Int32] = [3, 2]
        var generator = SplitMix64(seed: 11)
        let hidden = (0..<(batch * length * dim)).map { _ in Float(Initialization.normal(&generator)) }
        let weights = (0..<(batch * dim)).map { _ in Float(Initialization.normal(&generator)) }
        let pooling = SentencePooling(mode: mode, normalize: normalize)
        func loss(_ values: [Float]) -> Double {
            let pooled = pooling.pool(hidden: values, lengths: lengths, batch: batch, length: length, dim: dim).flatMap { $0 }
            return zip(pooled, weights).reduce(0) { $0 + Double($1.0 * $1.1) }
        }
        let analytic = pooling.backward(dPooled: weights, hidden: hidden, lengths: lengths, batch: batch, length: length, dim: dim)
        for index in hidden.indices {
            var plus = hidden
            var minus = hidden
            plus[index] += 1e-2
            minus[index] -= 1e-2
            let numeric = (loss(plus) - loss(minus)) / 2e-2
            #expect(abs(numeric - Double(analytic[index])) < 2e-3, "\(mode) normalize \(normalize) [\(index)]: \(numeric) vs \(analytic[index])")
        }
    }
}
