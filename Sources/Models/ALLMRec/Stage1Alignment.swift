import Numerics

/// A-LLMRec's `two_layer_mlp` (ghdtjr/A-LLMRec `models/a_llmrec_model.py`): latent h = sigmoid(fc1 x) ([rows, 128]),
/// reconstruction r = fc2 h ([rows, dim]). PyTorch layout: fc1.weight [128, dim], fc2.weight [dim, 128].
public struct TwoLayerMLP: Sendable {
    public static let latentSize = 128
    public let dim: Int
    public var fc1Weight, fc1Bias, fc2Weight, fc2Bias: [Float]

    /// PyTorch's default Linear initialisation: U(±1/√fan_in) for weights and biases.
    public init(dim: Int, generator: inout SplitMix64) {
        self.dim = dim
        let latent = Self.latentSize
        let bound1 = 1 / Float(dim).squareRoot()
        let bound2 = 1 / Float(latent).squareRoot()
        fc1Weight = Initialization.uniform(count: latent * dim, bound: bound1, generator: &generator)
        fc1Bias = Initialization.uniform(count: latent, bound: bound1, generator: &generator)
        fc2Weight = Initialization.uniform(count: dim * latent, bound: bound2, generator: &generator)
        fc2Bias = Initialization.uniform(count: dim, bound: bound2, generator: &generator)
    }

    /// What `forward` saved for `backward`.
    public struct Trace: Sendable {
        public let rows: Int
        public let input: [Float]
        /// sigmoid(fc1 x), [rows, 128].
        public let latent: [Float]
        /// fc2 latent, [rows, dim].
        public let reconstruction: [Float]
    }

    public func forward(_ x: [Float], rows: Int) -> Trace {
        let latent = TwoLayerMLP.latentSize
        var pre = [Float](repeating: 0, count: rows * latent)
        Linear.forward(out: &pre, x: x, weight: fc1Weight, bias: fc1Bias, rows: rows, inFeatures: dim, outFeatures: latent)
        var h = pre
        Sigmoid.forward(out: &h, x: pre, count: rows * latent)
        var r = [Float](repeating: 0, count: rows * dim)
        Linear.forward(out: &r, x: h, weight: fc2Weight, bias: fc2Bias, rows: rows, inFeatures: latent, outFeatures: dim)
        return Trace(rows: rows, input: x, latent: h, reconstruction: r)
    }

    /// Gradients of the four parameter tensors (same layout as the parameters).
    public struct Gradients: Sendable {
        public var fc1Weight, fc1Bias, fc2Weight, fc2Bias: [Float]

        init(dim: Int) {
            let latent = TwoLayerMLP.latentSize
            fc1Weight = [Float](repeating: 0, count: latent * dim)
            fc1Bias = [Float](repeating: 0, count: latent)
            fc2Weight = [Float](repeating: 0, count: dim * latent)
            fc2Bias = [Float](repeating: 0, count: dim)
        }
    }

    /// Accumulates into `gradients` and returns d(input), from the gradients of the latent and the
    /// reconstruction.
    public func backward(_ trace: Trace, dLatent: [Float], dReconstruction: [Float], into gradients: inout Gradients) -> [Float] {
        let latent = TwoLayerMLP.latentSize
        var dH = dLatent
        Linear.backward(
            dx: &dH, dweight: &gradients.fc2Weight, dbias: &gradients.fc2Bias, dout: dReconstruction, x: trace.latent,
            weight: fc2Weight, rows: trace.rows, inFeatures: latent, outFeatures: dim)
        var dPre = [Float](repeating: 0, count: trace.rows * latent)
        Sigmoid.backward(dx: &dPre, dout: dH, y: trace.latent, count: trace.rows * latent)
        var dInput = [Float](repeating: 0, count: trace.rows * dim)
        Linear.backward(
            dx: &dInput, dweight: &gradients.fc1Weight, dbias: &gradients.fc1Bias, dout: dPre, x: trace.input,
            weight: fc1Weight, rows: trace.rows, inFeatures: dim, outFeatures: latent)
        return dInput
    }
}

/// One stage-1 batch (ghdtjr/A-LLMRec `models/a_llmrec_model.py` `pre_train_phase1`), rows = users: SASRec's user representations and the
/// raw item embeddings of each user's positive and sampled negative item ([rows, cfDim] each), and
/// the sentence embeddings of those items' texts ([rows, textDim] each).
public struct Stage1Batch: Sendable {
    public var rows: Int
    public var users, positiveItems, negativeItems: [Float]
    public var positiveTexts, negativeTexts: [Float]

    public init(rows: Int, users: [Float], positiveItems: [Float], negativeItems: [Float], positiveTexts: [Float], negativeTexts: [Float]) {
        self.rows = rows
        self.users = users
        self.positiveItems = positiveItems
        self.negativeItems = negativeItems
        self.positiveTexts = positiveTexts
        self.negativeTexts = negativeTexts
    }
}

/// The stage-1 losses and their gradients: L = L_rec + L_match + 0.5·L_item + 0.2·L_text, with
/// s± = mean_k(x_u[k] · Ê±[k]) (a mean, not a dot: the original's quirk, an option here),
/// L_rec = BCE(s+, 1) + BCE(s-, 0), L_match = MSE(e±, q±), L_item = MSE(Ê±, E±),
/// L_text = MSE(Q̂±, Q± detached). Gradients reach both MLPs and the text embeddings (through
/// L_match and the input side of L_text), never SASRec.
public enum Stage1Objective {
    public struct Weights: Sendable {
        public var item: Float = 0.5
        public var text: Float = 0.2
        /// Score with the mean over dimensions (the original) instead of the dot product.
        public var meanScore = true

        public init() {}
    }

    public struct Result: Sendable {
        public var recommendation, matching, itemReconstruction, textReconstruction, total: Float
        public var itemGradients: TwoLayerMLP.Gradients
        public var textGradients: TwoLayerMLP.Gradients
        /// d total / d positiveTexts and d negativeTexts: what flows into the text encoder.
        public var dPositiveTexts, dNegativeTexts: [Float]
    }

    public static func evaluate(
        item: TwoLayerMLP, text: TwoLayerMLP, batch b: Stage1Batch, weights w: Weights = .init()
    ) -> Result {
        let latent = TwoLayerMLP.latentSize
        let cf = item.dim
        let positiveItem = item.forward(b.positiveItems, rows: b.rows)
        let negativeItem = item.forward(b.negativeItems, rows: b.rows)
        let positiveText = text.forward(b.positiveTexts, rows: b.rows)
        let negativeText = text.forward(b.negativeTexts, rows: b.rows)
        var itemGradients = TwoLayerMLP.Gradients(dim: cf)
        var textGradients = TwoLayerMLP.Gradients(dim: text.dim)

        // L_rec on scores of the reconstructed item embeddings.
        let scale: Float = w.meanScore ? 1 / Float(cf) : 1
        func scores(_ reconstruction: [Float]) -> [Float] {
            (0..<b.rows).map { row in
                var sum: Float = 0
                for k in 0..<cf { sum += b.users[row * cf + k] * reconstruction[row * cf + k] }
                return sum * scale
            }
        }
        var dPositiveScore = [Float](repeating: 0, count: b.rows)
        var dNegativeScore = dPositiveScore
        let recommendation = Loss.binaryCrossEntropyWithLogits(
            logits: scores(positiveItem.reconstruction), targets: [Float](repeating: 1, count: b.rows), weights: nil, count: b.rows,
            dlogits: &dPositiveScore)
            + Loss.binaryCrossEntropyWithLogits(
                logits: scores(negativeItem.reconstruction), targets: [Float](repeating: 0, count: b.rows), weights: nil,
                count: b.rows, dlogits: &dNegativeScore)
        var dPositiveReconstruction = [Float](repeating: 0, count: b.rows * cf)
        var dNegativeReconstruction = dPositiveReconstruction
        for row in 0..<b.rows {
            for k in 0..<cf {
                dPositiveReconstruction[row * cf + k] = dPositiveScore[row] * scale * b.users[row * cf + k]
                dNegativeReconstruction[row * cf + k] = dNegativeScore[row] * scale * b.users[row * cf + k]
            }
        }
        // L_match between item and text latents (both sides get gradients).
        var dPositiveItemLatent = [Float](repeating: 0, count: b.rows * latent)
        var dNegativeItemLatent = dPositiveItemLatent
        let matching = Loss.meanSquaredError(
            x: positiveItem.latent, target: positiveText.latent, count: b.rows * latent, dx: &dPositiveItemLatent)
            + Loss.meanSquaredError(x: negativeItem.latent, target: negativeText.latent, count: b.rows * latent, dx: &dNegativeItemLatent)
        let dPositiveTextLatent = dPositiveItemLatent.map { -$0 }
        let dNegativeTextLatent = dNegativeItemLatent.map { -$0 }
        // Reconstructions against their (detached) inputs.
        var dPositiveItemReconstruction = [Float](repeating: 0, count: b.rows * cf)
        var dNegativeItemReconstruction = dPositiveItemReconstruction
        let itemReconstruction = Loss.meanSquaredError(
            x: positiveItem.reconstruction, target: b.positiveItems, count: b.rows * cf, dx: &dPositiveItemReconstruction, scale: w.item)
            + Loss.meanSquaredError(
                x: negativeItem.reconstruction, target: b.negativeItems, count: b.rows * cf, dx: &dNegativeItemReconstruction,
                scale: w.item)
        var dPositiveTextReconstruction = [Float](repeating: 0, count: b.rows * text.dim)
        var dNegativeTextReconstruction = dPositiveTextReconstruction
        let textReconstruction = Loss.meanSquaredError(
            x: positiveText.reconstruction, target: b.positiveTexts, count: b.rows * text.dim, dx: &dPositiveTextReconstruction,
            scale: w.text)
            + Loss.meanSquaredError(
                x: negativeText.reconstruction, target: b.negativeTexts, count: b.rows * text.dim, dx: &dNegativeTextReconstruction,
                scale: w.text)

        for index in dPositiveReconstruction.indices {
            dPositiveReconstruction[index] += dPositiveItemReconstruction[index]
            dNegativeReconstruction[index] += dNegativeItemReconstruction[index]
        }
        // Item embeddings are SASRec's (frozen): their input gradients are dropped.
        _ = item.backward(positiveItem, dLatent: dPositiveItemLatent, dReconstruction: dPositiveReconstruction, into: &itemGradients)
        _ = item.backward(negativeItem, dLatent: dNegativeItemLatent, dReconstruction: dNegativeReconstruction, into: &itemGradients)
        // The text target is detached: only the input path carries gradient to the encoder.
        let dPositiveTexts = text.backward(
            positiveText, dLatent: dPositiveTextLatent, dReconstruction: dPositiveTextReconstruction, into: &textGradients)
        let dNegativeTexts = text.backward(
            negativeText, dLatent: dNegativeTextLatent, dReconstruction: dNegativeTextReconstruction, into: &textGradients)
        let total = recommendation + matching + w.item * itemReconstruction + w.text * textReconstruction
        return Result(
            recommendation: recommendation, matching: matching, itemReconstruction: itemReconstruction,
            textReconstruction: textReconstruction, total: total, itemGradients: itemGradients, textGradients: textGradients,
            dPositiveTexts: dPositiveTexts, dNegativeTexts: dNegativeTexts)
    }
}

extension TwoLayerMLP {
    /// An MLP from its `state_dict()` tensors (`fc1.weight` [128, dim], `fc1.bias`, `fc2.weight`
    /// [dim, 128], `fc2.bias`), as the original's `*_mlp.pt` files hold them.
    public init(tensors: [String: Tensor]) throws(ALLMRecError) {
        func tensor(_ name: String) throws(ALLMRecError) -> Tensor {
            guard let value = tensors[name] else { throw .missingTensor(name) }
            return value
        }
        let first = try tensor("fc1.weight")
        let latent = TwoLayerMLP.latentSize
        guard first.shape.count == 2, first.shape[0] == latent else {
            throw .shapeMismatch(name: "fc1.weight", expected: [latent, -1], got: first.shape)
        }
        let dim = first.shape[1]
        for (name, shape) in [("fc1.bias", [latent]), ("fc2.weight", [dim, latent]), ("fc2.bias", [dim])] {
            let value = try tensor(name)
            guard value.shape == shape else { throw .shapeMismatch(name: name, expected: shape, got: value.shape) }
        }
        self.dim = dim
        fc1Weight = first.storage
        fc1Bias = try tensor("fc1.bias").storage
        fc2Weight = try tensor("fc2.weight").storage
        fc2Bias = try tensor("fc2.bias").storage
    }

    /// The parameters under their `state_dict()` names.
    public var namedTensors: [(name: String, tensor: Tensor)] {
        let latent = TwoLayerMLP.latentSize
        return [
            ("fc1.weight", Tensor(shape: [latent, dim], storage: fc1Weight)), ("fc1.bias", Tensor(shape: [latent], storage: fc1Bias)),
            ("fc2.weight", Tensor(shape: [dim, latent], storage: fc2Weight)), ("fc2.bias", Tensor(shape: [dim], storage: fc2Bias)),
        ]
    }

    /// The encoder half alone: sigmoid(fc1 x), [rows, 128].
    public func latents(_ x: [Float], rows: Int) -> [Float] {
        let latent = TwoLayerMLP.latentSize
        var pre = [Float](repeating: 0, count: rows * latent)
        Linear.forward(out: &pre, x: x, weight: fc1Weight, bias: fc1Bias, rows: rows, inFeatures: dim, outFeatures: latent)
        var h = pre
        Sigmoid.forward(out: &h, x: pre, count: rows * latent)
        return h
    }

    /// One Adam update of the four tensors (indices offset ..< offset + 4 of the optimiser, in
    /// `namedTensors` order; the step already begun).
    public mutating func apply(_ gradients: Gradients, optimizer: inout Adam, offset: Int) {
        optimizer.update(offset, parameter: &fc1Weight, gradient: gradients.fc1Weight, count: fc1Weight.count)
        optimizer.update(offset + 1, parameter: &fc1Bias, gradient: gradients.fc1Bias, count: fc1Bias.count)
        optimizer.update(offset + 2, parameter: &fc2Weight, gradient: gradients.fc2Weight, count: fc2Weight.count)
        optimizer.update(offset + 3, parameter: &fc2Bias, gradient: gradients.fc2Bias, count: fc2Bias.count)
    }

    public var parameterSizes: [Int] { [fc1Weight.count, fc1Bias.count, fc2Weight.count, fc2Bias.count] }
}
