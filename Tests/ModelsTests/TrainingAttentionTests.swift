import Checkpoints
import Foundation
import Models
import Numerics
import Testing

/// The training forward and its input gradients on prompts long enough that the causal attention
/// runs in several blocks of query rows, against PyTorch in float64 on the tiny Llama. Fixture:
/// Tests/ModelsTests/Fixtures/decoder_training (`python3 scripts/make-training-attention-fixtures.py
/// Tests/ModelsTests/Fixtures`).
@Suite struct TrainingAttentionTests {
    static let path = Bundle.module.resourcePath! + "/Fixtures/decoder_training/long_llama.safetensors"

    struct Prompt {
        let tokens: [Int32]
        let softVectors: [Int: [Float]]
        let outputs: [Int]
        let states: [Float]
        /// d loss / d input row, every row.
        let gradient: [Float]
    }

    let file: SafetensorsFile
    let decoder: CausalDecoder
    let prompts: [Prompt]
    /// d loss / d outputs, [A's outputs then B's, embeddingSize].
    let weights: [Float]

    init() throws {
        file = try SafetensorsFile(path: Self.path)
        decoder = try CausalDecoder.load(huggingFaceDirectory: Bundle.module.resourcePath! + "/Fixtures/llama_tiny").trainingWeights()
        let e = decoder.configuration.embeddingSize
        let file = file
        prompts = try ["A", "B"].map { name in
            func ints(_ suffix: String) throws -> [Int] { try file.int64Values(named: "\(name).\(suffix)").values.map { Int($0) } }
            let vectors = try file.tensor(named: "\(name).soft_vectors").storage
            var soft: [Int: [Float]] = [:]
            for (index, position) in try ints("soft_positions").enumerated() { soft[position] = Array(vectors[(index * e)..<((index + 1) * e)]) }
            return Prompt(
                tokens: try ints("tokens").map { Int32($0) }, softVectors: soft, outputs: try ints("outputs"),
                states: try file.tensor(named: "\(name).states").storage, gradient: try file.tensor(named: "\(name).grad").storage)
        }
        weights = try file.tensor(named: "weights").storage
    }

    /// Both prompts packed into one forward (A after a frozen prefix of `prefixA` tokens): the
    /// outputs, and the input gradients of every row after the prefix, prompts in order.
    func run(_ decoder: CausalDecoder, prefixA: Int = 0) throws -> (states: [Float], gradients: [Float]) {
        var sequences: [TrainingSequence] = []
        for (index, prompt) in prompts.enumerated() {
            let split = index == 0 ? prefixA : 0
            var prefix: KVCache?
            if split > 0 {
                var cache = KVCache(configuration: decoder.configuration, capacity: split)
                try decoder.prefill(tokens: Array(prompt.tokens[..<split]), cache: &cache, inputEmbeddings: prompt.softVectors.filter { $0.key < split })
                prefix = cache
            }
            var shifted: [Int: [Float]] = [:]
            for (position, vector) in prompt.softVectors where position >= split { shifted[position - split] = vector }
            sequences.append(
                TrainingSequence(tokens: Array(prompt.tokens[split...]), inputEmbeddings: shifted, outputRows: prompt.outputs.map { $0 - split }, prefix: prefix))
        }
        let (states, trace) = try decoder.finalStatesForTraining(sequences)
        return (states, decoder.inputGradients(trace, dStates: weights))
    }

    func expected(prefixA: Int = 0) -> (states: [Float], gradients: [Float]) {
        let e = decoder.configuration.embeddingSize
        return (prompts.flatMap(\.states), Array(prompts[0].gradient[(prefixA * e)...]) + prompts[1].gradient)
    }

    @Test(arguments: [0, 4])
    func longPromptsMatchPyTorch(frozenPrefix: Int) throws {
        let (states, gradients) = try run(decoder, prefixA: frozenPrefix)
        let reference = expected(prefixA: frozenPrefix)
        SASRecParityTests.expectClose(states, reference.states, "outputs after a prefix of \(frozenPrefix)", tolerance: 1e-4)
        SASRecParityTests.expectClose(gradients, reference.gradients, "input gradients after a prefix of \(frozenPrefix)", tolerance: 1e-4)
    }

    /// With bfloat16 products the heads run on several threads: the same numbers as on one, and
    /// within 5% (relative L2) of PyTorch's float64. On a CPU without AVX-512 BF16 both run in Float32.
    @Test func headsOnSeveralThreadsGiveWhatOneGives() throws {
        let one = try run(decoder.trainingWeights(.bfloat16, threads: 1), prefixA: 4)
        let two = try run(decoder.trainingWeights(.bfloat16, threads: 2), prefixA: 4)
        #expect(one.states == two.states)
        #expect(one.gradients == two.gradients)
        let reference = expected(prefixA: 4)
        func relativeError(_ actual: [Float], _ expected: [Float]) -> Float {
            let difference = zip(actual, expected).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            return (difference / expected.reduce(0) { $0 + $1 * $1 }).squareRoot()
        }
        #expect(relativeError(two.states, reference.states) < 0.05)
        #expect(relativeError(two.gradients, reference.gradients) < 0.05)
    }
}
