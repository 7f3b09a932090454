import Datasets
import Foundation
import Models
import Numerics
import Testing
@testable import Training

/// The word head (`RetrievalWordHead`) and its training (`WordHeadTrainer`).
@Suite struct WordHeadTrainerTests {
    /// Random features: `count` samples of 4 candidates over `items` items, embedding size `e`.
    static func features(count: Int, e: Int, items: Int, generator: inout SplitMix64) -> WordHeadTrainer.Features {
        let size = RetrievalWeights.vectorSize
        return WordHeadTrainer.Features(
            headed: (0..<(count * size)).map { _ in Float(Initialization.normal(&generator)) },
            words: (0..<(count * e)).map { _ in Float(Initialization.normal(&generator)) },
            candidates: (0..<count).map { _ in (0..<4).map { _ in Int32(generator.next() % UInt64(items)) + 1 } },
            kinds: Array(repeating: .facet, count: count))
    }

    /// The analytic gradients of the mean loss match central differences of the loss (in Double),
    /// under cosine scores with a temperature and under LLM-SRec's dot product.
    @Test(arguments: [Float(0.07), nil])
    func gradientsMatchFiniteDifferences(temperature: Float?) throws {
        var generator = SplitMix64(seed: 21)
        let (e, items, size) = (8, 12, RetrievalWeights.vectorSize)
        let features = Self.features(count: 5, e: e, items: items, generator: &generator)
        let itemVectors = (0..<((items + 1) * size)).map { _ in Float(Initialization.normal(&generator)) * 0.1 }
        let head = try RetrievalWordHead(
            weight: (0..<(size * e)).map { _ in Float(Initialization.normal(&generator)) * 0.3 },
            bias: (0..<size).map { _ in Float(Initialization.normal(&generator)) * 0.3 })
        let rows = [0, 2, 3, 4]
        let analytic = WordHeadTrainer.loss(
            of: features, rows: rows, head: head, itemVectors: itemVectors, temperature: temperature, gradients: true)
        func lossAt(weight: [Float], bias: [Float]) throws -> Double {
            Double(
                WordHeadTrainer.loss(
                    of: features, rows: rows, head: try RetrievalWordHead(weight: weight, bias: bias), itemVectors: itemVectors,
                    temperature: temperature
                ).loss)
        }
        let step: Float = temperature == nil ? 1e-2 : 1e-3
        var checked = 0
        for index in stride(from: 3, to: head.weight.count, by: 97) {
            var plus = head.weight
            var minus = head.weight
            plus[index] += step
            minus[index] -= step
            let numeric = (try lossAt(weight: plus, bias: head.bias) - (try lossAt(weight: minus, bias: head.bias))) / Double(2 * step)
            #expect(abs(numeric - Double(analytic.weight[index])) <= 2e-3 + 2e-2 * abs(numeric), "weight[\(index)]: \(numeric) vs \(analytic.weight[index])")
            checked += 1
        }
        for index in stride(from: 1, to: size, by: 17) {
            var plus = head.bias
            var minus = head.bias
            plus[index] += step
            minus[index] -= step
            let numeric = (try lossAt(weight: head.weight, bias: plus) - (try lossAt(weight: head.weight, bias: minus))) / Double(2 * step)
            #expect(abs(numeric - Double(analytic.bias[index])) <= 2e-3 + 2e-2 * abs(numeric), "bias[\(index)]: \(numeric) vs \(analytic.bias[index])")
        }
        #expect(checked > 8)
        #expect(analytic.weight.contains { abs($0) > 1e-4 })
        // Without a head the loss is that of the user head's vectors alone.
        let zero = WordHeadTrainer.loss(
            of: features, rows: rows, head: RetrievalWordHead(embeddingSize: e), itemVectors: itemVectors, temperature: temperature)
        #expect(zero.loss.isFinite && zero.loss != analytic.loss)
        #expect(zero.ranks.count == rows.count && zero.ranks.allSatisfy { (0..<4).contains($0) })
    }

    /// On the real MovieLens-100K and SmolLM2 (retrieval weights seeded, not trained): the samples
    /// are wish samples split by user, training lowers the loss, and the model with the kept head
    /// moves the user vector only when there are words, by exactly the head's output.
    @Test func trainsOnWishSamplesAndMovesOnlyWordedUserVectors() throws {
        let (dataset, lm, sasrec) = try TrainingWishesTests.movieLensWithSmolLM2()
        var generator = SplitMix64(seed: 4)
        let e = lm.decoder.configuration.embeddingSize
        let weights = RetrievalWeights(
            cfSize: sasrec.configuration.hiddenUnits, embeddingSize: e, tokenEmbeddings: [Float](repeating: 0.01, count: e), headHiddenSize: 64,
            generator: &generator)
        var manifest = ALLMRecManifest(
            datasetFingerprint: dataset.fingerprint, itemCount: dataset.itemCount, sasrec: "sasrec.safetensors",
            template: PromptTemplate.builtIn["movies"]!)
        manifest.retrievalTemperature = 0.07
        let template = RetrievalTemplate.builtIn["movies"]!
        let model = try RetrievalModel(manifest: manifest, sasrec: sasrec, weights: weights, languageModel: lm, template: template, dataset: dataset)
        let size = RetrievalWeights.vectorSize
        let itemVectors = RetrievalObjective.normalizedRows(
            (0..<((dataset.itemCount + 1) * size)).map { _ in Float(Initialization.normal(&generator)) }, width: size
        ).unit
        var options = WordHeadOptions()
        options.maxSamples = 24
        options.validationShare = 0.3
        options.epochs = 30
        options.batchSize = 8
        options.learningRate = 1e-2
        var reported: [Int] = []
        let features = try WordHeadTrainer.features(model: model, dataset: dataset, options: options) { done, total in
            reported.append(done)
            #expect(total == 24)
        }
        #expect(reported.last == 24)
        // The features file gives them back under their key only; anything else is computed again.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("words-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try WordFeaturesFile.save(training: features.training, validation: features.validation, key: "k1", to: path)
        let loaded = try #require(WordFeaturesFile.load(from: path, key: "k1"))
        #expect(loaded.training.words == features.training.words && loaded.training.headed == features.training.headed)
        #expect(loaded.validation.candidates == features.validation.candidates && loaded.training.kinds == features.training.kinds)
        #expect(WordFeaturesFile.load(from: path, key: "k2") == nil)
        try Data("not safetensors".utf8).write(to: URL(fileURLWithPath: path))
        #expect(WordFeaturesFile.load(from: path, key: "k1") == nil)
        let trainer = WordHeadTrainer(
            model: model, itemVectors: itemVectors, training: features.training, validation: features.validation, options: options)
        #expect(trainer.training.count + trainer.validation.count == 24)
        #expect(trainer.training.count > 0 && trainer.validation.count > 0)
        #expect(trainer.training.candidates.allSatisfy { $0.count == 20 })
        #expect(trainer.training.words.count == trainer.training.count * e && trainer.training.words.contains { $0 != 0 })
        var losses: [Float] = []
        try trainer.train { losses.append($0.trainingLoss) }
        #expect(losses.count == 30)
        #expect(losses.last! < losses.first! * 0.8, "\(losses)")
        #expect((1...30).contains(trainer.best.epoch))

        let listening = try RetrievalModel(
            manifest: manifest, sasrec: sasrec, weights: weights, wordHead: trainer.best.head, languageModel: lm, template: template,
            dataset: dataset)
        let history: [Int32] = [1, 50, 181]
        #expect(try listening.userVectors(histories: [history]) == (try model.userVectors(histories: [history])))
        let worded = try listening.userVectors(histories: [history], wishes: "something funny")
        let read = try model.userFeatures([model.builder.userPrompt(entries: history.map(model.entry), wishes: "something funny")])
        let moved = trainer.best.head.forward(read.words, rows: 1)
        let expected = RetrievalObjective.normalizedRows(zip(read.headed, moved).map(+), width: size).unit
        #expect(zip(worded, expected).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(worded != (try model.userVectors(histories: [history], wishes: "something funny")))
    }
}
