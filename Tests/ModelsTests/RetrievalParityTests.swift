import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// Retrieval through the LM (LLM-SRec's losses) against PyTorch on the tiny Llama. Fixture:
/// Tests/ModelsTests/Fixtures/retrieval (`python3 scripts/make-retrieval-fixtures.py
/// Tests/ModelsTests/Fixtures`); references computed in float64.
@Suite struct RetrievalParityTests {
    static let path = Bundle.module.resourcePath! + "/Fixtures/retrieval/llmsrec_llama.safetensors"
    /// The user-vector token's weights, positions and references (same inputs otherwise).
    static let userTokenPath = Bundle.module.resourcePath! + "/Fixtures/retrieval/llmsrec_usertoken_llama.safetensors"

    struct Fixture {
        /// The inputs, and the references without a user-vector token.
        let file: SafetensorsFile
        /// Where `expectReference` reads the expected losses and gradients (`file`, or the user-token
        /// file after `withUserToken()`).
        private(set) var references: SafetensorsFile
        let decoder: CausalDecoder
        private(set) var weights: RetrievalWeights
        private(set) var batch: [RetrievalExample]
        let prompts: [RetrievalCandidate: RetrievalPrompt]

        init() throws {
            file = try SafetensorsFile(path: RetrievalParityTests.path)
            references = file
            decoder = try CausalDecoder.load(huggingFaceDirectory: Bundle.module.resourcePath! + "/Fixtures/llama_tiny")
            var tensors: [String: Tensor] = [:]
            let weightNames = ["item_proj.", "pred_user.", "pred_item.", "pred_user_cf.", "user_out", "item_out"]
            for name in file.names where weightNames.contains(where: { name.hasPrefix($0) }) { tensors[name] = try file.tensor(named: name) }
            weights = try RetrievalWeights(tensors: tensors)
            let file = file
            func ints(_ name: String) throws -> [Int] { try file.int64Values(named: name).values.map { Int($0) } }
            func prompt(_ prefix: String, items: [Int]) throws -> RetrievalPrompt {
                var tokens = try ints(prefix + ".tokens").map { Int32($0) }
                let positions = try ints(prefix + ".soft_positions")
                for position in positions { tokens[position] = 0 }
                tokens[tokens.count - 1] = 0
                return RetrievalPrompt(tokens: tokens, softTokens: zip(positions, items).map { ($0, Int32($1)) })
            }
            var candidates: [RetrievalCandidate] = []
            var prompts: [RetrievalCandidate: RetrievalPrompt] = [:]
            for index in 0..<5 {
                let item = try ints("candidate\(index).item")[0]
                let positions = try ints("candidate\(index).soft_positions")
                let candidate = RetrievalCandidate(item: Int32(item), softToken: !positions.isEmpty)
                candidates.append(candidate)
                prompts[candidate] = try prompt("candidate\(index)", items: positions.map { _ in item })
            }
            self.prompts = prompts
            batch = try (0..<2).map { user in
                RetrievalExample(
                    userPrompt: try prompt("user\(user)", items: try ints("user\(user).soft_items")),
                    teacherInput: try file.tensor(named: "user\(user).teacher").storage,
                    candidates: try ints("user\(user).candidates").map { candidates[$0] },
                    interacted: Set(try ints("user\(user).interacted").map { Int32($0) }))
            }
        }

        /// The same batch with a user-vector token in each user prompt (at `user{b}.user_position`,
        /// carrying the user's teacher input) and the weights with the fixture's user projector.
        func withUserToken() throws -> Fixture {
            var copy = self
            copy.references = try SafetensorsFile(path: RetrievalParityTests.userTokenPath)
            var tensors: [String: Tensor] = [:]
            for (name, tensor) in weights.namedTensors { tensors[name] = tensor }
            for name in copy.references.names where name.hasPrefix("user_proj.") { tensors[name] = try copy.references.tensor(named: name) }
            copy.weights = try RetrievalWeights(tensors: tensors)
            for user in copy.batch.indices {
                let position = Int(try copy.references.int64Values(named: "user\(user).user_position").values[0])
                copy.batch[user].userPrompt.userSlot = RetrievalPrompt.UserSlot(position: position, vector: copy.batch[user].teacherInput)
            }
            return copy
        }

        func evaluate(
            inBatch: Bool, packedRows: Int, frozenPrefixes: Bool, temperature: Float? = nil, distillationWeight: Float = 1,
            distilling: Set<Int> = [0, 1], precision: TrainingPrecision = .float32
        ) throws -> RetrievalObjective.Result {
            let decoder = decoder.trainingWeights(precision, threads: 2)
            var options = RetrievalObjective.Options()
            options.temperature = temperature
            options.distillationWeight = distillationWeight
            options.inBatchNegatives = inBatch
            options.packedRows = packedRows
            options.frozenPrefixes = frozenPrefixes
            let prompts = prompts
            var batch = batch
            for user in batch.indices { batch[user].distils = distilling.contains(user) }
            return try RetrievalObjective.evaluate(
                decoder: decoder, weights: weights, itemEmbeddings: try file.tensor(named: "items").storage, batch: batch, options: options,
                prefixes: PrefixStore(decoder: decoder)
            ) { prompts[$0]! }
        }
    }

    /// The three losses and every gradient (projector, learnt tokens, heads), with each user's own
    /// candidates and with in-batch negatives; sequences packed one per product and all in one,
    /// each whole or continuing its frozen text prefix.
    @Test(arguments: [false, true], [(8, false), (256, false), (8, true), (256, true)])
    func lossesAndGradientsMatchPyTorch(inBatch: Bool, packing: (rows: Int, frozenPrefixes: Bool)) throws {
        let fixture = try Fixture()
        try Self.expectReference(
            fixture.evaluate(inBatch: inBatch, packedRows: packing.rows, frozenPrefixes: packing.frozenPrefixes), fixture: fixture,
            prefix: inBatch ? "inbatch." : "")
    }

    /// bfloat16 products (AVX-512 BF16): the losses within 1% of PyTorch's float64 and every gradient
    /// within 5% (relative L2) of it; they differ from the Float32 path's, so the bfloat16 kernels
    /// ran. Without AVX-512 BF16 the same request falls back to Float32 and matches it exactly.
    @Test func bfloat16ProductsStayCloseToPyTorch() throws {
        let fixture = try Fixture()
        let float32 = try fixture.evaluate(inBatch: false, packedRows: 256, frozenPrefixes: true, temperature: 0.07)
        let bfloat16 = try fixture.evaluate(inBatch: false, packedRows: 256, frozenPrefixes: true, temperature: 0.07, precision: .bfloat16)
        guard BF16Matrix.supported else {
            #expect(bfloat16.loss == float32.loss && bfloat16.gradients.values == float32.gradients.values)
            return
        }
        #expect(bfloat16.gradients.values != float32.gradients.values, "the bfloat16 kernels ran")
        func expected(_ name: String) throws -> [Float] { try fixture.file.tensor(named: "cosine." + name).storage }
        func relativeError(_ actual: [Float], _ reference: [Float]) -> Double {
            let difference = zip(actual, reference).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            let norm = reference.reduce(0.0) { $0 + Double($1) * Double($1) }
            return (difference / max(norm, 1e-30)).squareRoot()
        }
        #expect(relativeError([bfloat16.loss], try expected("expected.loss")) < 0.01)
        let names = ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
        let groups: [(String, SoftPromptProjector.Gradients)] = [
            ("item_proj.", bfloat16.gradients.itemProjector), ("pred_user.", bfloat16.gradients.userHead),
            ("pred_item.", bfloat16.gradients.itemHead), ("pred_user_cf.", bfloat16.gradients.teacherHead),
        ]
        var errors: [(String, Double)] = [
            ("user_out", relativeError(bfloat16.gradients.userOut, try expected("grad.user_out"))),
            ("item_out", relativeError(bfloat16.gradients.itemOut, try expected("grad.item_out"))),
        ]
        for (group, gradients) in groups {
            for (name, actual) in zip(names, gradients.values) { errors.append((group + name, relativeError(actual, try expected("grad." + group + name)))) }
        }
        for (name, error) in errors { #expect(error < 0.05, "grad \(name): relative error \(error)") }
    }

    /// A user whose example does not distil (its prompt carries words) adds nothing to the distillation
    /// term: with neither user distilling, the gradients are those of a zero distillation weight, and
    /// the two users' terms alone add up to the whole (each still counts in the mean).
    @Test func examplesThatDoNotDistilLeaveOutTheirTerm() throws {
        let fixture = try Fixture()
        let full = try fixture.evaluate(inBatch: true, packedRows: 256, frozenPrefixes: true)
        let none = try fixture.evaluate(inBatch: true, packedRows: 256, frozenPrefixes: true, distilling: [])
        let weightless = try fixture.evaluate(inBatch: true, packedRows: 256, frozenPrefixes: true, distillationWeight: 0)
        #expect(none.distillation == 0 && weightless.distillation == full.distillation)
        #expect(none.gradients.values == weightless.gradients.values)
        #expect(none.loss == weightless.loss)
        let first = try fixture.evaluate(inBatch: true, packedRows: 256, frozenPrefixes: true, distilling: [0])
        let second = try fixture.evaluate(inBatch: true, packedRows: 256, frozenPrefixes: true, distilling: [1])
        SASRecParityTests.expectClose([first.distillation + second.distillation], [full.distillation], "the two users' shares")
        #expect(first.distillation > 0 && second.distillation > 0)
    }

    /// The word head reads the mean final state of a range of each prompt, from the same pass as
    /// the output token's state: each pooled row is the mean of the training forward's states at
    /// those rows, a prompt without a range gets a zero row, and the last states are unchanged.
    @Test func pooledStatesAreTheMeanOfTheirRowsStates() throws {
        let fixture = try Fixture()
        let e = fixture.decoder.configuration.embeddingSize
        let prompts = fixture.batch.map(\.userPrompt)
        let sequences = prompts.map { prompt in
            var vectors: [Int: [Float]] = [prompt.outputPosition: fixture.weights.userOut]
            for soft in prompt.softTokens { vectors[soft.position] = fixture.weights.itemOut.map { $0 * Float(soft.item) } }
            return (tokens: prompt.tokens, inputEmbeddings: vectors)
        }
        let ranges: [Range<Int>?] = [2..<(prompts[0].outputPosition), nil]
        let states = try fixture.decoder.finalStates(of: sequences, pooling: ranges)
        #expect(states.last == (try fixture.decoder.lastFinalStates(of: sequences)))
        let rows = Array(ranges[0]!)
        let training = try fixture.decoder.finalStatesForTraining([
            TrainingSequence(tokens: sequences[0].tokens, inputEmbeddings: sequences[0].inputEmbeddings, outputRows: rows)
        ]).states
        let mean = (0..<e).map { k in rows.indices.reduce(Float(0)) { $0 + training[$1 * e + k] } / Float(rows.count) }
        SASRecParityTests.expectClose(Array(states.pooled[..<e]), mean, "pooled rows")
        #expect(states.pooled[e...].allSatisfy { $0 == 0 })
        #expect(mean.contains { $0 != 0 })
    }

    /// Inference reads the same final states as training: several prompts as branches of one pass,
    /// one prompt with a KV cache, and the packed training forward with and without frozen prefixes.
    @Test func inferenceStatesMatchTheTrainingForward() throws {
        let fixture = try Fixture()
        let e = fixture.decoder.configuration.embeddingSize
        let prompts = fixture.batch.map(\.userPrompt) + fixture.prompts.values.sorted { $0.tokens.count < $1.tokens.count }
        let sequences = prompts.map { prompt in
            var vectors: [Int: [Float]] = [prompt.outputPosition: fixture.weights.userOut]
            for soft in prompt.softTokens { vectors[soft.position] = fixture.weights.itemOut.map { $0 * Float(soft.item) } }
            return (tokens: prompt.tokens, inputEmbeddings: vectors)
        }
        let branched = try fixture.decoder.lastFinalStates(of: sequences)
        let training = try fixture.decoder.finalStatesForTraining(
            sequences.map { TrainingSequence(tokens: $0.tokens, inputEmbeddings: $0.inputEmbeddings, outputRows: [$0.tokens.count - 1]) }).states
        SASRecParityTests.expectClose(branched, training, "branched inference vs training forward")
        for (index, sequence) in sequences.enumerated() {
            var cache = KVCache(configuration: fixture.decoder.configuration, capacity: sequence.tokens.count)
            let alone = try fixture.decoder.lastFinalState(tokens: sequence.tokens, cache: &cache, inputEmbeddings: sequence.inputEmbeddings)
            SASRecParityTests.expectClose(alone, Array(training[(index * e)..<((index + 1) * e)]), "prompt \(index) alone")
            let split = prompts[index].frozenPrefixLength
            var prefix = KVCache(configuration: fixture.decoder.configuration, capacity: split)
            try fixture.decoder.prefill(tokens: Array(sequence.tokens[..<split]), cache: &prefix)
            var shifted: [Int: [Float]] = [:]
            for (offset, vector) in sequence.inputEmbeddings { shifted[offset - split] = vector }
            let continued = try fixture.decoder.finalStatesForTraining([
                TrainingSequence(
                    tokens: Array(sequence.tokens[split...]), inputEmbeddings: shifted, outputRows: [sequence.tokens.count - 1 - split],
                    prefix: prefix)
            ]).states
            SASRecParityTests.expectClose(continued, alone, "prompt \(index) after its frozen prefix")
        }
    }

    /// Cosine similarity / τ instead of the dot product.
    @Test func cosineScoresMatchPyTorch() throws {
        let fixture = try Fixture()
        try Self.expectReference(
            fixture.evaluate(inBatch: false, packedRows: 256, frozenPrefixes: true, temperature: 0.07), fixture: fixture, prefix: "cosine.")
    }

    /// A user-vector token in each user prompt (`train retrieval --user-token`): SASRec's user
    /// vector through the user projector, just before `[UserOut]`; in-batch negatives, cosine / τ,
    /// packed and alone, with and without frozen prefixes. The user projector's gradients too.
    @Test(arguments: [(8, false), (256, true)])
    func userTokenMatchesPyTorch(packing: (rows: Int, frozenPrefixes: Bool)) throws {
        let fixture = try Fixture().withUserToken()
        let result = try fixture.evaluate(inBatch: true, packedRows: packing.rows, frozenPrefixes: packing.frozenPrefixes, temperature: 0.07)
        #expect(result.gradients.userProjector != nil)
        try Self.expectReference(result, fixture: fixture, prefix: "usertoken.")
    }

    static func expectReference(_ result: RetrievalObjective.Result, fixture: Fixture, prefix: String) throws {
        func expected(_ name: String) throws -> [Float] { try fixture.references.tensor(named: prefix + name).storage }
        SASRecParityTests.expectClose([result.loss], try expected("expected.loss"), "loss")
        SASRecParityTests.expectClose([result.retrieval], try expected("expected.ce"), "cross-entropy")
        SASRecParityTests.expectClose([result.distillation], try expected("expected.distil"), "distillation")
        SASRecParityTests.expectClose([result.uniformity], try expected("expected.uniform"), "uniformity")
        let names = ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
        let groups: [(String, SoftPromptProjector.Gradients)] = [
            ("item_proj.", result.gradients.itemProjector), ("pred_user.", result.gradients.userHead), ("pred_item.", result.gradients.itemHead),
            ("pred_user_cf.", result.gradients.teacherHead),
        ]
        for (group, gradients) in groups {
            for (name, actual) in zip(names, gradients.values) {
                SASRecParityTests.expectClose(actual, try expected("grad." + group + name), "grad \(group)\(name)", tolerance: 2e-5)
            }
        }
        if let userProjector = result.gradients.userProjector {
            for (name, actual) in zip(names, userProjector.values) {
                SASRecParityTests.expectClose(actual, try expected("grad.user_proj." + name), "grad user_proj.\(name)", tolerance: 2e-5)
            }
        }
        SASRecParityTests.expectClose(result.gradients.userOut, try expected("grad.user_out"), "grad user_out", tolerance: 2e-5)
        SASRecParityTests.expectClose(result.gradients.itemOut, try expected("grad.item_out"), "grad item_out", tolerance: 2e-5)
    }
}
