import Checkpoints
import Datasets
import Foundation
import Models
import Numerics
import Testing
@testable import Training

/// What retrieval training reads (`RetrievalSampler`) with a `userToken` template, and the model
/// reading the same user-vector token at inference, on the real MovieLens-100K and SmolLM2.
@Suite struct RetrievalSamplerTests {
    /// A run with another distillation weight is another run: its saved state is not resumed by
    /// one with LLM-SRec's weight, whose identity stays what it was before the option existed.
    @Test func theDistillationWeightIsPartOfARunsIdentity() {
        var options = RetrievalOptions()
        let llmsrec = options.identity
        #expect(!llmsrec.contains("distillation"))
        options.distillationWeight = 0
        #expect(options.identity == llmsrec + " distillation=0.0")
    }

    /// Every training prompt carries SASRec's user vector of its window (the teacher's input) just
    /// before `[UserOut]`; at inference a history's items beyond the last 10 titles reach the user
    /// vector only through that token; weights without the user projector are refused.
    @Test func theUserVectorTokenCarriesTheWholeHistory() throws {
        let (dataset, lm, sasrec) = try TrainingWishesTests.movieLensWithSmolLM2()
        var template = RetrievalTemplate.builtIn["movies"]!
        template.userToken = true
        let builder = RetrievalPromptBuilder(template: template, tokenizer: lm.tokenizer, catalog: dataset.catalog)
        let sampler = RetrievalSampler(sasrec: sasrec, builder: builder, dataset: dataset, options: RetrievalOptions())
        let samples = Array(sampler.samples(epoch: 1).prefix(4))
        for (sample, example) in zip(samples, sampler.examples(samples, epoch: 1)) {
            let window = Array(dataset.train[sample.user][..<sample.target].suffix(sasrec.configuration.maxLength))
            let slot = try #require(example.userPrompt.userSlot)
            #expect(slot.position == example.userPrompt.outputPosition - 1)
            #expect(slot.vector == sasrec.userRepresentations([window])[0])
            #expect(slot.vector == example.teacherInput)
        }

        let e = lm.decoder.configuration.embeddingSize
        func weights(userToken: Bool) -> RetrievalWeights {
            var generator = SplitMix64(seed: 5)
            return RetrievalWeights(
                cfSize: sasrec.configuration.hiddenUnits, embeddingSize: e, tokenEmbeddings: [Float](repeating: 0.01, count: e),
                headHiddenSize: 64, userToken: userToken, generator: &generator)
        }
        var manifest = ALLMRecManifest(
            datasetFingerprint: dataset.fingerprint, itemCount: dataset.itemCount, sasrec: "sasrec.safetensors",
            template: PromptTemplate.builtIn["movies"]!)
        manifest.retrievalTemperature = 0.07
        let plainTemplate = RetrievalTemplate.builtIn["movies"]!
        let slotted = try RetrievalModel(
            manifest: manifest, sasrec: sasrec, weights: weights(userToken: true), languageModel: lm, template: template, dataset: dataset)
        let plain = try RetrievalModel(
            manifest: manifest, sasrec: sasrec, weights: weights(userToken: false), languageModel: lm, template: plainTemplate, dataset: dataset)
        // Two histories that differ only before their last 10 items: the same prompt text.
        let history = Array(try #require(dataset.train.first { $0.count > 20 }))
        var changed = history
        changed[0] = try #require((1...Int32(dataset.itemCount)).first { !history.contains($0) })
        #expect(try plain.userVectors(histories: [history]) == (try plain.userVectors(histories: [changed])))
        #expect(try slotted.userVectors(histories: [history]) != (try slotted.userVectors(histories: [changed])))

        #expect(throws: RetrievalError.self) {
            try RetrievalModel(
                manifest: manifest, sasrec: sasrec, weights: weights(userToken: false), languageModel: lm, template: template, dataset: dataset)
        }
        #expect(throws: RetrievalError.self) {
            try RetrievalModel(
                manifest: manifest, sasrec: sasrec, weights: weights(userToken: true), languageModel: lm, template: plainTemplate, dataset: dataset)
        }
        // The projector is saved and read back with the other weights; a wrong input width is refused.
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in weights(userToken: true).namedTensors { tensors[name] = tensor }
        #expect(try RetrievalWeights(tensors: tensors).userProjector?.namedParameters.map(\.values)
            == weights(userToken: true).userProjector?.namedParameters.map(\.values))
        let projector = try #require(tensors["user_proj.0.weight"])
        tensors["user_proj.0.weight"] = Tensor(shape: [projector.shape[0], projector.shape[1] - 1], storage: Array(projector.storage.dropLast(projector.shape[0])))
        #expect(throws: RetrievalError.self) { try RetrievalWeights(tensors: tensors) }
    }
}
