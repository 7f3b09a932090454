import Dispatch
import Foundation
import Numerics

/// One item as a training candidate: its dense id, and whether its prompt carries the
/// collaborative soft token (false under CF-token dropout).
public struct RetrievalCandidate: Sendable, Hashable {
    public var item: Int32
    public var softToken: Bool

    public init(item: Int32, softToken: Bool) {
        self.item = item
        self.softToken = softToken
    }
}

/// One training sample of retrieval through the LM: the user prompt, SASRec's user vector for the
/// same history (the distillation teacher's input, [cf]), the candidates with the target first,
/// the items the user interacted with (never used as this user's in-batch negatives), and whether
/// the distillation term applies (false where the prompt carries words the teacher never reads).
public struct RetrievalExample: Sendable {
    public var userPrompt: RetrievalPrompt
    public var teacherInput: [Float]
    public var candidates: [RetrievalCandidate]
    public var interacted: Set<Int32>
    public var distils: Bool

    public init(
        userPrompt: RetrievalPrompt, teacherInput: [Float], candidates: [RetrievalCandidate], interacted: Set<Int32>, distils: Bool = true
    ) {
        self.userPrompt = userPrompt
        self.teacherInput = teacherInput
        self.candidates = candidates
        self.interacted = interacted
        self.distils = distils
    }
}

/// LLM-SRec's loss of a batch and its gradients (Sein-Kim/LLM-SRec `models/seqllm4rec.py`):
/// - retrieval: cross-entropy of the target over the user·item dot products of its candidates
///   (labels follow the item: the target is the candidate list's first entry, wherever the
///   prompt order puts it);
/// - distillation: mean squared difference of the L2-normalised user vector and the L2-normalised
///   teacher vector (SASRec's user vector through `teacherHead`), over the 128 dimensions and the batch
///   (a user whose example does not distil adds zero and still counts in the mean);
/// - uniformity of the normalised user vectors and of the normalised teacher vectors: mean over
///   pairs of exp(−2 · squared distance) (`uniformity(user_outputs) + uniformity(log_emb)` there).
/// Gradients flow through the frozen LM into the soft tokens, the learnt output tokens, the
/// projectors (the user projector through user prompts' user-vector tokens) and the heads.
public enum RetrievalObjective {
    public struct Options: Sendable {
        /// Every candidate of the batch is a negative for every user (except the items that user
        /// interacted with); otherwise each user's own candidates only (LLM-SRec).
        public var inBatchNegatives = false
        /// nil: scores are raw dot products (LLM-SRec). A value τ: cosine similarity / τ, which
        /// starts near chance instead of at the heads' random scale (dot products of two random
        /// 128-wide head outputs spread over about ±11), and so needs far fewer steps.
        public var temperature: Float?
        public var distillationWeight: Float = 1
        public var uniformityWeight: Float = 1
        /// Sequences are packed into matrix products of at most this many rows.
        public var packedRows = 256
        /// Run the text before a prompt's first trainable input (soft or output token) once,
        /// without gradient (none flows into it), and train on the rest attending to its keys and
        /// values; item prompts' prefixes are kept in the `PrefixStore` across steps.
        public var frozenPrefixes = true

        public init() {}
    }

    public struct Result: Sendable {
        public var loss, retrieval, distillation, uniformity: Float
        public var gradients: RetrievalWeights.Gradients
        /// Tokens of the prompts (user and item), and of those the rows that were trained (after
        /// their frozen prefixes).
        public var tokens, trainedTokens: Int
        /// Wall time of the LM's forward and backward passes.
        public var forwardSeconds, backwardSeconds: Double
    }

    /// The loss and gradients of `batch`; `itemEmbeddings` is SASRec's item table, [(items + 1) · cf];
    /// `itemPrompt` gives a candidate's prompt (`RetrievalPromptBuilder.itemPrompt`).
    public static func evaluate(
        decoder: CausalDecoder, weights: RetrievalWeights, itemEmbeddings: [Float], batch: [RetrievalExample],
        options: Options = Options(), prefixes: PrefixStore? = nil, itemPrompt: (RetrievalCandidate) -> RetrievalPrompt
    ) throws(DecoderError) -> Result {
        let e = weights.embeddingSize
        let cf = weights.cfSize
        let vectorSize = RetrievalWeights.vectorSize
        let users = batch.count
        var gradients = RetrievalWeights.Gradients(of: weights)

        // Unique candidates of the batch and each user's list (indices into it, target first).
        var entries: [RetrievalCandidate] = []
        var entryIndex: [RetrievalCandidate: Int] = [:]
        var own: [[Int]] = []
        for example in batch {
            own.append(
                example.candidates.map { candidate in
                    if let index = entryIndex[candidate] { return index }
                    entryIndex[candidate] = entries.count
                    entries.append(candidate)
                    return entries.count - 1
                })
        }
        let lists: [[Int]] = batch.indices.map { user in
            guard options.inBatchNegatives else { return own[user] }
            let target = own[user][0]
            return [target] + entries.indices.filter { $0 != target && !batch[user].interacted.contains(entries[$0].item) }
        }

        // Every prompt, users first, and the projector over every soft token of the batch.
        let prompts = batch.map(\.userPrompt) + entries.map(itemPrompt)
        var cfRows: [Float] = []
        for prompt in prompts {
            for soft in prompt.softTokens { cfRows += itemEmbeddings[(Int(soft.item) * cf)..<((Int(soft.item) + 1) * cf)] }
        }
        let softCount = cfRows.count / cf
        let projected = weights.itemProjector.forward(cfRows, rows: softCount)
        // SASRec's user vectors of the user prompts that carry one, through the user projector.
        let userSlots = prompts.prefix(users).compactMap(\.userSlot)
        precondition(userSlots.isEmpty || weights.userProjector != nil, "user prompts with a user-vector token need a user projector")
        let userProjection = userSlots.isEmpty ? nil : weights.userProjector?.forward(userSlots.flatMap(\.vector), rows: userSlots.count)
        var slotIndex: [Int?] = []
        var slotRow = 0
        var sequences: [TrainingSequence] = []
        var frozen: [Int] = []
        var softRow = 0
        let prefixStart = DispatchTime.now().uptimeNanoseconds
        for (index, prompt) in prompts.enumerated() {
            let split = options.frozenPrefixes ? prompt.frozenPrefixLength : 0
            var prefix: KVCache?
            if split > 0 {
                let text = Array(prompt.tokens[..<split])
                if index >= users, let prefixes {
                    prefix = try prefixes.cache(of: text)
                } else {
                    var cache = KVCache(configuration: decoder.configuration, capacity: split)
                    try decoder.prefill(tokens: text, cache: &cache)
                    prefix = cache
                }
            }
            var vectors: [Int: [Float]] = [:]
            for soft in prompt.softTokens {
                vectors[soft.position - split] = Array(projected.output[(softRow * e)..<((softRow + 1) * e)])
                softRow += 1
            }
            if let slot = prompt.userSlot, let userProjection {
                vectors[slot.position - split] = Array(userProjection.output[(slotRow * e)..<((slotRow + 1) * e)])
                slotIndex.append(slotRow)
                slotRow += 1
            } else {
                slotIndex.append(nil)
            }
            vectors[prompt.outputPosition - split] = index < users ? weights.userOut : weights.itemOut
            frozen.append(split)
            sequences.append(
                TrainingSequence(
                    tokens: Array(prompt.tokens[split...]), inputEmbeddings: vectors, outputRows: [prompt.outputPosition - split], prefix: prefix))
        }

        // The LM forward, packed.
        var packs: [Range<Int>] = []
        var packStart = 0
        var packRows = 0
        for (index, sequence) in sequences.enumerated() {
            if packRows > 0 && packRows + sequence.tokens.count > options.packedRows {
                packs.append(packStart..<index)
                packStart = index
                packRows = 0
            }
            packRows += sequence.tokens.count
        }
        if packStart < sequences.count { packs.append(packStart..<sequences.count) }
        let forwardStart = prefixStart
        var states = [Float]()
        states.reserveCapacity(sequences.count * e)
        var traces: [DecoderTrace] = []
        for pack in packs {
            let (packStates, trace) = try decoder.finalStatesForTraining(Array(sequences[pack]))
            states += packStates
            traces.append(trace)
        }
        let forwardSeconds = Double(DispatchTime.now().uptimeNanoseconds - forwardStart) / 1e9

        // Heads and losses.
        let userHead = weights.userHead.forward(Array(states[..<(users * e)]), rows: users)
        let itemHead = weights.itemHead.forward(Array(states[(users * e)...]), rows: entries.count)
        let teacher = weights.teacherHead.forward(batch.flatMap(\.teacherInput), rows: users)
        let u = userHead.output
        let v = itemHead.output
        let (userUnit, userNorms) = normalizedRows(u, width: vectorSize)
        let (itemUnit, itemNorms) = normalizedRows(v, width: vectorSize)
        var dU = [Float](repeating: 0, count: u.count)
        var dV = [Float](repeating: 0, count: v.count)
        var dUserUnit = [Float](repeating: 0, count: u.count)
        var dItemUnit = [Float](repeating: 0, count: v.count)
        // Scores over raw vectors, or over unit vectors / τ (their gradients go through the norms below).
        let (left, right, scale) = options.temperature.map { (userUnit, itemUnit, 1 / $0) } ?? (u, v, 1)
        var retrieval: Float = 0
        for user in 0..<users {
            let list = lists[user]
            var logits = list.map { entry in
                var dot: Float = 0
                for k in 0..<vectorSize { dot += left[user * vectorSize + k] * right[entry * vectorSize + k] }
                return dot * scale
            }
            let maximum = logits.max() ?? 0
            var total: Float = 0
            for index in logits.indices {
                logits[index] = Foundation.exp(logits[index] - maximum)
                total += logits[index]
            }
            retrieval -= Foundation.log(logits[0] / total) / Float(users)
            for (position, entry) in list.enumerated() {
                let g = scale * (logits[position] / total - (position == 0 ? 1 : 0)) / Float(users)
                for k in 0..<vectorSize {
                    if options.temperature == nil {
                        dU[user * vectorSize + k] += g * v[entry * vectorSize + k]
                        dV[entry * vectorSize + k] += g * u[user * vectorSize + k]
                    } else {
                        dUserUnit[user * vectorSize + k] += g * itemUnit[entry * vectorSize + k]
                        dItemUnit[entry * vectorSize + k] += g * userUnit[user * vectorSize + k]
                    }
                }
            }
        }
        let (teacherUnit, teacherNorms) = normalizedRows(teacher.output, width: vectorSize)
        var dTeacherUnit = [Float](repeating: 0, count: u.count)
        var distillation: Float = 0
        let meanScale = 1 / Float(users * vectorSize)
        for index in userUnit.indices where batch[index / vectorSize].distils {
            let difference = userUnit[index] - teacherUnit[index]
            distillation += difference * difference * meanScale
            let gradient = options.distillationWeight * 2 * difference * meanScale
            dUserUnit[index] += gradient
            dTeacherUnit[index] = -gradient
        }
        let uniformity =
            uniformityLoss(userUnit, width: vectorSize, scale: options.uniformityWeight, gradient: &dUserUnit)
            + uniformityLoss(teacherUnit, width: vectorSize, scale: options.uniformityWeight, gradient: &dTeacherUnit)
        normalizeBackward(dUnit: dUserUnit, unit: userUnit, norms: userNorms, width: vectorSize, into: &dU)
        normalizeBackward(dUnit: dItemUnit, unit: itemUnit, norms: itemNorms, width: vectorSize, into: &dV)
        var dTeacher = [Float](repeating: 0, count: u.count)
        normalizeBackward(dUnit: dTeacherUnit, unit: teacherUnit, norms: teacherNorms, width: vectorSize, into: &dTeacher)
        weights.teacherHead.backward(teacher.trace, dOutput: dTeacher, into: &gradients.teacherHead)
        let dUserStates = weights.userHead.backward(userHead.trace, dOutput: dU, into: &gradients.userHead, inputGradient: true)!
        let dItemStates = weights.itemHead.backward(itemHead.trace, dOutput: dV, into: &gradients.itemHead, inputGradient: true)!
        let dStates = dUserStates + dItemStates

        // The LM backward, pack by pack, into the soft tokens and the output tokens.
        let backwardStart = DispatchTime.now().uptimeNanoseconds
        var dSoft = [Float](repeating: 0, count: softCount * e)
        var dUserSlots = [Float](repeating: 0, count: userSlots.count * e)
        var softOffsets: [Int] = []
        var running = 0
        for prompt in prompts {
            softOffsets.append(running)
            running += prompt.softTokens.count
        }
        for (pack, trace) in zip(packs, traces) {
            let dInputs = decoder.inputGradients(trace, dStates: Array(dStates[(pack.lowerBound * e)..<(pack.upperBound * e)]))
            var rowStart = 0
            for index in pack {
                let prompt = prompts[index]
                for (k, soft) in prompt.softTokens.enumerated() {
                    let source = (rowStart + soft.position - frozen[index]) * e
                    let target = (softOffsets[index] + k) * e
                    for column in 0..<e { dSoft[target + column] += dInputs[source + column] }
                }
                if let slot = prompt.userSlot, let row = slotIndex[index] {
                    let source = (rowStart + slot.position - frozen[index]) * e
                    for column in 0..<e { dUserSlots[row * e + column] += dInputs[source + column] }
                }
                let source = (rowStart + prompt.outputPosition - frozen[index]) * e
                if index < users {
                    for column in 0..<e { gradients.userOut[column] += dInputs[source + column] }
                } else {
                    for column in 0..<e { gradients.itemOut[column] += dInputs[source + column] }
                }
                rowStart += sequences[index].tokens.count
            }
        }
        if softCount > 0 { weights.itemProjector.backward(projected.trace, dOutput: dSoft, into: &gradients.itemProjector) }
        if let userProjection, let projector = weights.userProjector {
            projector.backward(userProjection.trace, dOutput: dUserSlots, into: &gradients.userProjector!)
        }
        let backwardSeconds = Double(DispatchTime.now().uptimeNanoseconds - backwardStart) / 1e9
        let loss = retrieval + options.distillationWeight * distillation + uniformity
        return Result(
            loss: loss, retrieval: retrieval, distillation: distillation, uniformity: uniformity, gradients: gradients,
            tokens: prompts.reduce(0) { $0 + $1.tokens.count }, trainedTokens: sequences.reduce(0) { $0 + $1.tokens.count },
            forwardSeconds: forwardSeconds, backwardSeconds: backwardSeconds)
    }

    /// Rows of `values` ([rows, width]) divided by their L2 norms (floored at 1e-12, as
    /// `torch.nn.functional.normalize`), with the norms.
    public static func normalizedRows(_ values: [Float], width: Int) -> (unit: [Float], norms: [Float]) {
        let rows = values.count / width
        var unit = values
        var norms = [Float](repeating: 0, count: rows)
        for row in 0..<rows {
            var squares: Float = 0
            for k in 0..<width { squares += values[row * width + k] * values[row * width + k] }
            norms[row] = max(squares.squareRoot(), 1e-12)
            for k in 0..<width { unit[row * width + k] /= norms[row] }
        }
        return (unit, norms)
    }

    /// Adds d loss / d x to `gradient` given d loss / d (x / ‖x‖) per row.
    static func normalizeBackward(dUnit: [Float], unit: [Float], norms: [Float], width: Int, into gradient: inout [Float]) {
        for row in norms.indices {
            var dot: Float = 0
            for k in 0..<width { dot += dUnit[row * width + k] * unit[row * width + k] }
            for k in 0..<width { gradient[row * width + k] += (dUnit[row * width + k] - unit[row * width + k] * dot) / norms[row] }
        }
    }

    /// `scale` · mean over pairs i < j of exp(−2‖xᵢ − xⱼ‖²) of the rows of `unit`; its gradient
    /// is added to `gradient`. Zero with fewer than two rows.
    static func uniformityLoss(_ unit: [Float], width: Int, scale: Float, gradient: inout [Float]) -> Float {
        let rows = unit.count / width
        guard rows >= 2, scale != 0 else { return 0 }
        let pairs = Float(rows * (rows - 1) / 2)
        var loss: Float = 0
        for i in 0..<rows {
            for j in (i + 1)..<rows {
                var distance: Float = 0
                for k in 0..<width {
                    let difference = unit[i * width + k] - unit[j * width + k]
                    distance += difference * difference
                }
                let term = Foundation.exp(-2 * distance)
                loss += term / pairs
                let factor = scale * term / pairs * -4
                for k in 0..<width {
                    let difference = unit[i * width + k] - unit[j * width + k]
                    gradient[i * width + k] += factor * difference
                    gradient[j * width + k] -= factor * difference
                }
            }
        }
        return scale * loss
    }
}

/// Keys and values of frozen prompt prefixes (the text of item prompts), computed once per
/// distinct text by the decoder's forward and kept. Used by one training thread at a time.
public final class PrefixStore: @unchecked Sendable {
    public let decoder: CausalDecoder
    private var entries: [[Int32]: KVCache] = [:]

    public init(decoder: CausalDecoder) { self.decoder = decoder }

    /// The cache of exactly `tokens` (from position 0).
    public func cache(of tokens: [Int32]) throws(DecoderError) -> KVCache {
        if let cached = entries[tokens] { return cached }
        var cache = KVCache(configuration: decoder.configuration, capacity: tokens.count)
        try decoder.prefill(tokens: tokens, cache: &cache)
        entries[tokens] = cache
        return cache
    }

    /// Bytes held.
    public var byteCount: Int { entries.values.reduce(0) { $0 + $1.byteCount } }
}
