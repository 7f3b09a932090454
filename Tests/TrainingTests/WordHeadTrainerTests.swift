import Checkpoints
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
        let columns = ["Comedy", "Drama", "Horror", "1970s", "1990s"]
        let features = Self.features(count: 5, e: e, items: items, generator: &generator)
        let itemVectors = (0..<((items + 1) * size)).map { _ in Float(Initialization.normal(&generator)) * 0.1 }
        // Items 1...12 have one, two or no columns.
        let itemColumns: [[Int]] = [[]] + (1...items).map { item in item % 4 == 0 ? [] : item % 3 == 0 ? [item % 5] : [item % 5, (item + 2) % 5].sorted() }
        let head = try RetrievalWordHead(
            columns: columns, weight: (0..<(columns.count * e)).map { _ in Float(Initialization.normal(&generator)) * 0.3 },
            bias: (0..<columns.count).map { _ in Float(Initialization.normal(&generator)) * 0.3 })
        let rows = [0, 2, 3, 4]
        let analytic = WordHeadTrainer.loss(
            of: features, rows: rows, head: head, itemVectors: itemVectors, itemColumns: itemColumns, temperature: temperature, gradients: true)
        func lossAt(weight: [Float], bias: [Float]) throws -> Double {
            Double(
                WordHeadTrainer.loss(
                    of: features, rows: rows, head: try RetrievalWordHead(columns: columns, weight: weight, bias: bias), itemVectors: itemVectors,
                    itemColumns: itemColumns, temperature: temperature
                ).loss)
        }
        let step: Float = temperature == nil ? 1e-2 : 1e-3
        var checked = 0
        for index in stride(from: 1, to: head.weight.count, by: 3) {
            var plus = head.weight
            var minus = head.weight
            plus[index] += step
            minus[index] -= step
            let numeric = (try lossAt(weight: plus, bias: head.bias) - (try lossAt(weight: minus, bias: head.bias))) / Double(2 * step)
            #expect(abs(numeric - Double(analytic.weight[index])) <= 2e-3 + 2e-2 * abs(numeric), "weight[\(index)]: \(numeric) vs \(analytic.weight[index])")
            checked += 1
        }
        for index in 0..<columns.count {
            var plus = head.bias
            var minus = head.bias
            plus[index] += step
            minus[index] -= step
            let numeric = (try lossAt(weight: head.weight, bias: plus) - (try lossAt(weight: head.weight, bias: minus))) / Double(2 * step)
            #expect(abs(numeric - Double(analytic.bias[index])) <= 2e-3 + 2e-2 * abs(numeric), "bias[\(index)]: \(numeric) vs \(analytic.bias[index])")
        }
        #expect(checked > 8)
        #expect(analytic.weight.contains { abs($0) > 1e-4 })
        // A head of zeros leaves the loss that of the user head's vectors alone.
        let zero = WordHeadTrainer.loss(
            of: features, rows: rows, head: RetrievalWordHead(columns: columns, embeddingSize: e), itemVectors: itemVectors,
            itemColumns: itemColumns, temperature: temperature)
        #expect(zero.loss.isFinite && zero.loss != analytic.loss)
        #expect(zero.ranks.count == rows.count && zero.ranks.allSatisfy { (0..<4).contains($0) })
    }

    /// On the real MovieLens-100K and SmolLM2 (retrieval weights seeded, not trained): the samples
    /// are wish samples split by user, kept and read back from the features file, training lowers
    /// the loss, the columns are the catalog's genres and decades, and the model with the kept head
    /// keeps its user vectors and adds the words' preferences for an item's columns only when
    /// there are words.
    @Test func trainsOnWishSamplesAndAddsPreferencesOnlyWithWords() throws {
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
            model: model, itemVectors: itemVectors, catalog: dataset.catalog, training: features.training, validation: features.validation,
            options: options)
        #expect(trainer.head.columns.prefix(3) == ["Action", "Adventure", "Animation"] && trainer.head.columns.last == "1990s")
        let kolya = try #require(dataset.catalog.items.first { $0.title == "Kolya" })
        #expect(trainer.itemColumns[Int(kolya.id)].map { trainer.head.columns[$0] } == ["Comedy", "1990s"])
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
        #expect(listening.itemColumns[Int(kolya.id)] == trainer.itemColumns[Int(kolya.id)])
        let history = [Int32(1), 50, 181].map(model.entry)
        // The user vector is the model's own, with words or without; only words give preferences.
        let readings = try listening.userReadings(entries: [history, history], wishes: [nil, "something funny"])
        let plain = try model.userReadings(entries: [history, history], wishes: [nil, "something funny"])
        #expect(readings.map(\.vector) == plain.map(\.vector))
        #expect(readings[0].preferences == nil && plain[1].preferences == nil)
        let read = try model.userFeatures([model.builder.userPrompt(entries: history, wishes: "something funny")])
        let preferences = try #require(readings[1].preferences)
        #expect(zip(preferences, trainer.best.head.forward(read.words, rows: 1)).allSatisfy { abs($0 - $1) < 1e-5 })
        // An item's score: cosine plus τ times its columns' preferences, and the cosine alone without words.
        let table = itemVectors
        let dot = (0..<size).reduce(Float(0)) { $0 + readings[1].vector[$1] * table[Int(kolya.id) * size + $1] }
        let lift = listening.itemColumns[Int(kolya.id)].reduce(Float(0)) { $0 + preferences[$1] }
        let scored = table.withUnsafeBufferPointer {
            listening.score(readings[1], itemVector: $0.baseAddress! + Int(kolya.id) * size, itemColumns: listening.itemColumns[Int(kolya.id)])
        }
        #expect(abs(scored - (dot + 0.07 * lift)) < 1e-5 && lift != 0)
        let unworded = table.withUnsafeBufferPointer {
            listening.score(readings[0], itemVector: $0.baseAddress! + Int(kolya.id) * size, itemColumns: listening.itemColumns[Int(kolya.id)])
        }
        #expect(abs(unworded - (0..<size).reduce(Float(0)) { $0 + readings[0].vector[$1] * table[Int(kolya.id) * size + $1] }) < 1e-5)
    }

    /// The head's file keeps its columns; a file without them, or with a tensor of another shape,
    /// is a clear error, not a head that reads the wrong facets.
    @Test func theHeadFileKeepsItsColumns() throws {
        var generator = SplitMix64(seed: 5)
        let columns = ["Comedy", "Horror", "1970s"]
        let head = try RetrievalWordHead(
            columns: columns, weight: (0..<(3 * 4)).map { _ in Float(Initialization.normal(&generator)) }, bias: [0.5, -0.5, 0.25])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("word-head-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try head.save(to: directory + "/words.safetensors", metadata: ["epoch": "3"])
        #expect(try RetrievalWordHead.load(directory + "/words.safetensors") == head)
        #expect(head.columns(facets: ["Horror", "Western", "Comedy"], decade: "1970s") == [0, 1, 2])
        try SafetensorsFile.write(
            tensors: [
                (RetrievalWordHead.weightName, Tensor(shape: [3, 4], storage: head.weight)),
                (RetrievalWordHead.biasName, Tensor(shape: [3], storage: head.bias)),
            ], metadata: [:], to: directory + "/bare.safetensors")
        #expect(throws: RetrievalError.invalidFile(directory + "/bare.safetensors: no 'columns' list in its metadata")) {
            try RetrievalWordHead.load(directory + "/bare.safetensors")
        }
        try SafetensorsFile.write(
            tensors: [
                (RetrievalWordHead.weightName, Tensor(shape: [2, 6], storage: head.weight)),
                (RetrievalWordHead.biasName, Tensor(shape: [3], storage: head.bias)),
            ], metadata: ["columns": "[\"Comedy\", \"Horror\", \"1970s\"]"], to: directory + "/shape.safetensors")
        #expect(throws: RetrievalError.shapeMismatch(name: RetrievalWordHead.weightName, expected: [3, 6], got: [2, 6])) {
            try RetrievalWordHead.load(directory + "/shape.safetensors")
        }
    }
}
