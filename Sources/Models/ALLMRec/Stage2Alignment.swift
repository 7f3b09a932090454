import Dispatch
import Numerics

/// One stage-2 example (ghdtjr/A-LLMRec `models/a_llmrec_model.py` `pre_train_phase2`, `models/llm4rec.py`): the tokenized prompt with its answer, the
/// user's SASRec representation ([cfDim]) and the stage-1 latents of the items behind the history
/// and candidate slots ([count, 128] each, in prompt order).
public struct Stage2Example: Sendable {
    public var sequence: PromptSequence
    public var user: [Float]
    public var historyLatents: [Float]
    public var candidateLatents: [Float]

    public init(sequence: PromptSequence, user: [Float], historyLatents: [Float], candidateLatents: [Float]) {
        self.sequence = sequence
        self.user = user
        self.historyLatents = historyLatents
        self.candidateLatents = candidateLatents
    }
}

/// The two stage-2 projectors: F_U for the user vector, F_I for item latents.
public struct Stage2Projectors: Sendable {
    public var user: SoftPromptProjector
    public var item: SoftPromptProjector

    public init(user: SoftPromptProjector, item: SoftPromptProjector) {
        self.user = user
        self.item = item
    }

    /// Fresh projectors for a user vector of `userSize` into an LM with `embeddingSize`-wide inputs.
    public init(userSize: Int, embeddingSize: Int, generator: inout SplitMix64) {
        user = SoftPromptProjector(inputSize: userSize, outputSize: embeddingSize, activation: .leakyReLU, generator: &generator)
        item = SoftPromptProjector(
            inputSize: TwoLayerMLP.latentSize, outputSize: embeddingSize, activation: .gelu, generator: &generator)
    }

    /// The soft vectors of an example by position in its sequence (`embeddingSize` values each),
    /// with the traces `backward` needs.
    public func softInputs(
        sequence: PromptSequence, user userVector: [Float]?, historyLatents: [Float], candidateLatents: [Float]
    ) -> (vectors: [Int: [Float]], userTrace: SoftPromptProjector.Trace?, itemTrace: SoftPromptProjector.Trace, itemRows: [Int]) {
        let d = item.outputSize
        let latent = TwoLayerMLP.latentSize
        var latents: [Float] = []
        var itemRows: [Int] = []
        var userPosition: Int?
        for (position, slot) in sequence.slots {
            switch slot {
            case .user: userPosition = position
            case .history(let index):
                latents += historyLatents[(index * latent)..<((index + 1) * latent)]
                itemRows.append(position)
            case .candidate(let index):
                latents += candidateLatents[(index * latent)..<((index + 1) * latent)]
                itemRows.append(position)
            }
        }
        let projected = item.forward(latents, rows: itemRows.count)
        var vectors: [Int: [Float]] = [:]
        for (row, position) in itemRows.enumerated() { vectors[position] = Array(projected.output[(row * d)..<((row + 1) * d)]) }
        var userTrace: SoftPromptProjector.Trace?
        if let userPosition, let userVector {
            let projectedUser = user.forward(userVector, rows: 1)
            vectors[userPosition] = projectedUser.output
            userTrace = projectedUser.trace
        }
        return (vectors, userTrace, projected.trace, itemRows)
    }

    public struct Gradients: Sendable {
        public var user: SoftPromptProjector.Gradients
        public var item: SoftPromptProjector.Gradients

        public init(of projectors: Stage2Projectors) {
            user = .init(of: projectors.user)
            item = .init(of: projectors.item)
        }
    }

    public var parameterSizes: [Int] { user.parameterSizes + item.parameterSizes }

    /// One Adam step (the optimiser made with `parameterSizes`, its step already begun).
    public mutating func apply(_ gradients: Gradients, optimizer: inout Adam) {
        user.apply(gradients.user, optimizer: &optimizer, offset: 0)
        item.apply(gradients.item, optimizer: &optimizer, offset: user.parameterSizes.count)
    }
}

/// The stage-2 loss of a batch and its gradients: next-token cross-entropy on the answer tokens
/// only (the title and the end of sequence), averaged over every answer token of the batch (Hugging
/// Face's token-level mean), back-propagated through the frozen LM to the soft inputs and from there
/// into F_U and F_I.
public enum Stage2Objective {
    public struct Result: Sendable {
        public var loss: Float
        public var answerTokens: Int
        public var gradients: Stage2Projectors.Gradients
        /// Wall time in the LM's forward and backward passes (the rest is projectors and the loss).
        public var forwardSeconds, backwardSeconds: Double
    }

    public static func evaluate(
        decoder: CausalDecoder, projectors: Stage2Projectors, batch: [Stage2Example]
    ) throws(DecoderError) -> Result {
        let vocabulary = decoder.configuration.vocabularySize
        let e = decoder.configuration.embeddingSize
        let totalAnswerTokens = batch.reduce(0) { $0 + $1.sequence.tokens.count - $1.sequence.answerStart }
        var gradients = Stage2Projectors.Gradients(of: projectors)
        var loss: Float = 0
        var forwardSeconds = 0.0
        var backwardSeconds = 0.0
        for example in batch {
            let sequence = example.sequence
            let answerCount = sequence.tokens.count - sequence.answerStart
            guard answerCount > 0, sequence.answerStart > 0 else { continue }
            let soft = projectors.softInputs(
                sequence: sequence, user: example.user, historyLatents: example.historyLatents, candidateLatents: example.candidateLatents)
            let outputRows = Array((sequence.answerStart - 1)..<(sequence.tokens.count - 1))
            let forwardStart = DispatchTime.now().uptimeNanoseconds
            let (logits, trace) = try decoder.forwardForTraining(
                tokens: sequence.tokens, inputEmbeddings: soft.vectors, outputRows: outputRows)
            let backwardStart = DispatchTime.now().uptimeNanoseconds
            forwardSeconds += Double(backwardStart - forwardStart) / 1e9
            let targets = Array(sequence.tokens[sequence.answerStart...])
            var dLogits = [Float](repeating: 0, count: logits.count)
            let share = Float(answerCount) / Float(totalAnswerTokens)
            loss += share * Loss.crossEntropy(
                logits: logits, targets: targets, rows: answerCount, classes: vocabulary, dlogits: &dLogits, scale: share)
            let dInputs = decoder.inputGradients(trace, dLogits: dLogits)
            backwardSeconds += Double(DispatchTime.now().uptimeNanoseconds - backwardStart) / 1e9
            var dItems = [Float]()
            dItems.reserveCapacity(soft.itemRows.count * e)
            for position in soft.itemRows { dItems += dInputs[(position * e)..<((position + 1) * e)] }
            projectors.item.backward(soft.itemTrace, dOutput: dItems, into: &gradients.item)
            if let userTrace = soft.userTrace, let position = sequence.slots.first(where: { $0.slot == .user })?.position {
                projectors.user.backward(userTrace, dOutput: Array(dInputs[(position * e)..<((position + 1) * e)]), into: &gradients.user)
            }
        }
        return Result(
            loss: loss, answerTokens: totalAnswerTokens, gradients: gradients, forwardSeconds: forwardSeconds,
            backwardSeconds: backwardSeconds)
    }
}
