import Checkpoints
import Datasets
import Foundation
import Models
import Numerics
import Testing
import Training

/// A recorded training step holds everything needed to run it again elsewhere: the retrieval
/// objective run on what the file holds (weights, item table, prompts, candidates) gives the
/// recorded loss and gradients exactly. `scripts/bench-training.py` reads the same layout.
@Suite struct StepRecordTests {
    @Test func aRecordedRetrievalStepReplaysFromTheFileAlone() throws {
        let (dataset, lm, sasrec) = try TrainingWishesTests.movieLensWithSmolLM2()
        let decoder = lm.decoder.trainingWeights()
        let builder = RetrievalPromptBuilder(
            template: RetrievalTemplate.builtIn["movies"]!, tokenizer: lm.tokenizer, titles: ["No Title"] + dataset.catalog.items.map(\.title))
        var options = RetrievalOptions()
        options.schedule = TrainingSchedule(epochs: 1, batchSize: 2, learningRate: 1e-3, seed: 4)
        options.maxUsers = 2
        options.negatives = .inBatch
        options.temperature = 0.07
        let trainer = RetrievalTrainer(decoder: decoder, sasrec: sasrec, builder: builder, dataset: dataset, options: options)
        var record = StepRecord(retrieval: trainer)
        try trainer.train { record.add($0, of: trainer) }
        let path = NSTemporaryDirectory() + "llmrec-step-record-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try record.write(to: path)

        let file = try SafetensorsFile(path: path)
        #expect(file.metadata["recipe"] == "retrieval" && file.metadata["steps"] == "1" && file.metadata["in_batch"] == "1")
        #expect(file.metadata["temperature"] == "0.07")
        func integers(_ name: String) throws -> [Int] { try file.tensor(named: name).storage.map { Int($0) } }
        var tensors: [String: Tensor] = [:]
        for name in file.names where !name.hasPrefix("step") && !name.hasPrefix("expected.") && !name.hasPrefix("grad.") && name != "items" {
            tensors[name] = try file.tensor(named: name)
        }
        let weights = try RetrievalWeights(tensors: tensors)
        func prompt(_ prefix: String, items: [Int]) throws -> RetrievalPrompt {
            RetrievalPrompt(
                tokens: try integers(prefix + "tokens").map { Int32($0) },
                softTokens: zip(try integers(prefix + "soft_positions"), items).map { ($0, Int32($1)) })
        }
        var candidates: [RetrievalCandidate] = []
        var prompts: [RetrievalCandidate: RetrievalPrompt] = [:]
        while file.names.contains("step0.candidate\(candidates.count).tokens") {
            let prefix = "step0.candidate\(candidates.count)."
            let item = try integers(prefix + "item")[0]
            let positions = try integers(prefix + "soft_positions")
            let candidate = RetrievalCandidate(item: Int32(item), softToken: !positions.isEmpty)
            prompts[candidate] = try prompt(prefix, items: positions.map { _ in item })
            candidates.append(candidate)
        }
        let batch = try (0..<2).map { user in
            let prefix = "step0.user\(user)."
            return RetrievalExample(
                userPrompt: try prompt(prefix, items: try integers(prefix + "soft_items")),
                teacherInput: try file.tensor(named: prefix + "teacher").storage,
                candidates: try integers(prefix + "candidates").map { candidates[$0] },
                interacted: Set(try integers(prefix + "interacted").map { Int32($0) }), distils: try integers(prefix + "distils") == [1])
        }
        #expect(batch.allSatisfy { $0.candidates.count == 1 + options.negativeCount })
        let replayed = try RetrievalObjective.evaluate(
            decoder: decoder, weights: weights, itemEmbeddings: try file.tensor(named: "items").storage, batch: batch,
            options: trainer.objectiveOptions, prefixes: PrefixStore(decoder: decoder)
        ) { prompts[$0]! }
        #expect([replayed.loss] == (try file.tensor(named: "expected.loss").storage))
        #expect([replayed.retrieval] == (try file.tensor(named: "expected.ce").storage))
        let names = ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
        let groups: [(String, SoftPromptProjector.Gradients)] = [
            ("item_proj.", replayed.gradients.itemProjector), ("pred_user.", replayed.gradients.userHead),
            ("pred_item.", replayed.gradients.itemHead), ("pred_user_cf.", replayed.gradients.teacherHead),
        ]
        for (group, gradients) in groups {
            for (name, values) in zip(names, gradients.values) {
                #expect(values == (try file.tensor(named: "grad." + group + name).storage), "grad.\(group)\(name)")
            }
        }
        #expect(replayed.gradients.userOut == (try file.tensor(named: "grad.user_out").storage))
        #expect(replayed.gradients.itemOut == (try file.tensor(named: "grad.item_out").storage))
    }
}
