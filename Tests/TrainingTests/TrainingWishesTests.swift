import Datasets
import Foundation
import Models
import Numerics
import Support
import Testing
@testable import Training

/// The words of wish samples, made from the real MovieLens-100K catalog, and the held-out
/// paraphrases of the listening test.
@Suite struct TrainingWishesTests {
    static let paraphrasesPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Evaluation/listening-paraphrases.json").path

    /// The real MovieLens-100K, the real SmolLM2-135M-Instruct and a SASRec seeded but not trained.
    static func movieLensWithSmolLM2() throws -> (PreparedDataset, LanguageModel, SASRecModel) {
        let dataset = try EvaluatorTests.movieLens()
        let path = AssetCache.asset("smollm2-135m") + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        try #require(FileManager.default.fileExists(atPath: path), "run scripts/fetch-assets.sh smollm2")
        var generator = SplitMix64(seed: 3)
        let sasrec = SASRecModel(parameters: SASRecParameters(initializing: SASRecConfiguration(itemCount: dataset.itemCount), generator: &generator))
        return (dataset, try LanguageModel.load(path), sasrec)
    }

    @Test func facetsAndDecadesComeFromTheCatalog() throws {
        let dataset = try EvaluatorTests.movieLens()
        let maker = WishMaker(catalog: dataset.catalog, noun: "movie")
        let kolya = try #require(dataset.catalog.items.first { $0.title == "Kolya" })
        #expect(maker.facets[Int(kolya.id)] == ["Comedy"])
        #expect(maker.decades[Int(kolya.id)] == "1990s")
        let confidential = try #require(dataset.catalog.items.first { $0.title == "L.A. Confidential" })
        #expect(maker.facets[Int(confidential.id)] == ["Crime", "Film-Noir", "Mystery", "Thriller"])
        // The 18 genres; the "unknown" placeholder is no facet a user would ask for.
        #expect(maker.allFacets.count == 18 && !maker.allFacets.contains("unknown"))
        #expect(maker.itemsWithFacet["Film-Noir"]?.count == 24)
        let casablanca = try #require(dataset.catalog.items.first { $0.title == "Casablanca" })
        #expect(maker.decades[Int(casablanca.id)] == "1940s")
    }

    @Test func eachKindNamesWhatItShouldAndIsSeeded() throws {
        let dataset = try EvaluatorTests.movieLens()
        let maker = WishMaker(catalog: dataset.catalog, noun: "movie")
        var generator = SplitMix64(seed: 11)
        var kinds: [TrainingWish.Kind: Int] = [:]
        for draw in 0..<2000 {
            let target = Int32(draw % dataset.itemCount + 1)
            guard let wish = maker.wish(for: target, generator: &generator) else { continue }
            kinds[wish.kind, default: 0] += 1
            let own = maker.facets[Int(target)]
            switch wish.kind {
            case .facet: #expect(own.contains(wish.subject))
            case .era: #expect(maker.decades[Int(target)] == wish.subject)
            case .wrongFacet, .negated: #expect(!own.contains(wish.subject) && maker.allFacets.contains(wish.subject))
            }
            if wish.kind == .era {
                #expect(wish.text.contains(wish.subject))
            } else {
                #expect(wish.text.contains(wish.subject.lowercased()), "\(wish)")
            }
        }
        // Every kind is drawn, in about its share (0.45, 0.15, 0.25, 0.15).
        let total = Double(kinds.values.reduce(0, +))
        #expect(total > 1900)
        for (kind, share) in WishMaker.kindShares { #expect(abs(Double(kinds[kind] ?? 0) / total - share) < 0.05, "\(kind)") }
        var first = SplitMix64(seed: 5)
        var second = SplitMix64(seed: 5)
        #expect((1...50).map { maker.wish(for: Int32($0), generator: &first) } == (1...50).map { maker.wish(for: Int32($0), generator: &second) })
    }

    @Test func theHeldOutParaphrasesNeverNameTheirFacetNorMatchATrainingPhrase() throws {
        let dataset = try EvaluatorTests.movieLens()
        let maker = WishMaker(catalog: dataset.catalog, noun: "movie")
        let paraphrases = try FacetParaphrases(path: Self.paraphrasesPath)
        #expect(Set(paraphrases.byFacet.keys) == Set(maker.allFacets))
        let templates = WishMaker.facetPhrasings + WishMaker.negatedPhrasings + WishMaker.eraPhrasings
        for (facet, phrases) in paraphrases.byFacet {
            for phrase in phrases {
                #expect(!phrase.lowercased().contains(maker.spoken(facet)), "\(facet): \(phrase)")
                let trained = templates.map { $0.replacingOccurrences(of: "{f}", with: maker.spoken(facet)).replacingOccurrences(of: "{noun}", with: "movie") }
                #expect(!trained.contains(phrase))
            }
        }
        #expect(throws: RetrievalError.self) { try FacetParaphrases(path: NSTemporaryDirectory() + "no-such-paraphrases.json") }
    }

    /// Wish samples on the real catalog with the real SmolLM2 tokenizer and a seeded SASRec: the
    /// words sit in the user prompt, a facet or decade the target has takes the negatives from the
    /// user's best items without it, a wrong facet moves the positive to the user's best item with
    /// it (the target becomes a negative), "no more X" takes the negatives from items with X; wish
    /// samples leave out distillation.
    @Test func wishSamplesCarryTheWordsAndMoveTheirCandidates() throws {
        let (dataset, lm, sasrec) = try Self.movieLensWithSmolLM2()
        let builder = RetrievalPromptBuilder(
            template: RetrievalTemplate.builtIn["movies"]!, tokenizer: lm.tokenizer, titles: ["No Title"] + dataset.catalog.items.map(\.title))
        var options = RetrievalOptions()
        options.wishes = 1
        options.maxUsers = 300
        let trainer = RetrievalTrainer(decoder: lm.decoder, sasrec: sasrec, builder: builder, dataset: dataset, options: options)
        let samples = trainer.samples(epoch: 1)
        let labelled = trainer.labelledExamples(samples, epoch: 1)
        var kinds: [TrainingWish.Kind: Int] = [:]
        let trained = Set(dataset.train.joined())
        let withoutSoftToken = Set((1...Int32(dataset.itemCount)).filter { !trained.contains($0) })
        for (sample, (example, wish)) in zip(samples, labelled) {
            let sequence = dataset.train[sample.user]
            let target = sequence[sample.target]
            let history = Array(sequence[..<sample.target].suffix(sasrec.configuration.maxLength))
            #expect(example.userPrompt == builder.userPrompt(history: history, wishes: wish?.text, withoutSoftToken: withoutSoftToken))
            #expect(example.candidates.count == 1 + options.negativeCount)
            let items = example.candidates.map(\.item)
            #expect(example.distils == (wish == nil))
            guard let wish else {
                #expect(items[0] == target)
                continue
            }
            kinds[wish.kind, default: 0] += 1
            let having = trainer.wishMaker.itemsWithFacet[wish.subject] ?? []
            switch wish.kind {
            case .facet, .era:
                #expect(items[0] == target)
                #expect(trainer.wishMaker.item(target, has: wish))
                #expect(items.dropFirst().allSatisfy { !trainer.wishMaker.item($0, has: wish) && !sequence.contains($0) })
            case .wrongFacet:
                #expect(having.contains(items[0]) && !sequence.contains(items[0]))
                #expect(items[1] == target && !example.interacted.contains(target))
            case .negated:
                #expect(items[0] == target)
                #expect(items.dropFirst().allSatisfy(having.contains))
            }
        }
        #expect(TrainingWish.Kind.allCases.allSatisfy { (kinds[$0] ?? 0) > 10 }, "\(kinds)")
        // Without wishes, no sample carries words.
        let plain = RetrievalTrainer(decoder: lm.decoder, sasrec: sasrec, builder: builder, dataset: dataset, options: RetrievalOptions())
        #expect(plain.labelledExamples(Array(plain.samples(epoch: 1).prefix(50)), epoch: 1).allSatisfy { $0.wish == nil })
    }

    /// The listening test's words per case: a facet the target has, one it lacks, and their
    /// held-out paraphrases, drawn with the evaluator's seed.
    @Test func listeningCasesNameARightAndAWrongFacet() throws {
        let (dataset, lm, sasrec) = try Self.movieLensWithSmolLM2()
        var generator = SplitMix64(seed: 4)
        let weights = RetrievalWeights(
            cfSize: sasrec.configuration.hiddenUnits, embeddingSize: lm.decoder.configuration.embeddingSize,
            tokenEmbeddings: [Float](repeating: 0.01, count: lm.decoder.configuration.embeddingSize), generator: &generator)
        let manifest = ALLMRecManifest(
            datasetFingerprint: dataset.fingerprint, itemCount: dataset.itemCount, sasrec: "sasrec.safetensors", template: PromptTemplate.builtIn["movies"]!)
        let model = try RetrievalModel(
            manifest: manifest, sasrec: sasrec, weights: weights, languageModel: lm, template: RetrievalTemplate.builtIn["movies"]!, dataset: dataset)
        let paraphrases = try FacetParaphrases(path: Self.paraphrasesPath)
        let evaluator = Evaluator(dataset: dataset, seed: 7, showProgress: false)
        let test = ListeningTest(model: model, itemVectors: [], evaluator: evaluator, paraphrases: paraphrases)
        var paraphrased = 0
        for user in evaluator.users().prefix(200) {
            let target = evaluator.makeCase(user: user, evaluationProtocol: .candidates(negatives: 19)).target
            let words = test.words(target: target, user: user)
            let own = test.facets.facets[Int(target)]
            guard !own.isEmpty else {
                #expect(words.keys.sorted { $0.rawValue < $1.rawValue } == [.none])
                continue
            }
            let right = try #require(own.first { words[.rightFacet] == "I'd like something \(test.facets.spoken($0))" })
            let wrong = try #require(test.facets.allFacets.first { words[.wrongFacet] == "I'd like something \(test.facets.spoken($0))" })
            #expect(!own.contains(wrong))
            #expect(paraphrases.byFacet[right]?.contains(words[.rightParaphrase] ?? "") == true)
            #expect(paraphrases.byFacet[wrong]?.contains(words[.wrongParaphrase] ?? "") == true)
            paraphrased += 1
            #expect(test.words(target: target, user: user) == words, "seeded")
        }
        #expect(paraphrased > 150)
    }
}
