import Datasets
import Foundation
import JSON
import Models
import Numerics
import Support

/// Everyday paraphrases of catalog facets, from a JSON file `{"facets": {"Comedy": ["a funny one",
/// ...], ...}}` kept apart from training (`Evaluation/listening-paraphrases.json`).
public struct FacetParaphrases: Sendable {
    public let byFacet: [String: [String]]

    public init(byFacet: [String: [String]]) {
        self.byFacet = byFacet
    }

    /// Reads `path`; a file that is not this shape is a typed error naming it.
    public init(path: String) throws(RetrievalError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .invalidFile("\(path) does not exist or cannot be read")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let facets = object["facets"] as? [String: [String]]
        else {
            throw .invalidFile("\(path): expected {\"facets\": {\"FACET\": [\"paraphrase\", ...], ...}}")
        }
        byFacet = facets.filter { !$0.value.isEmpty }
    }
}

/// Whether retrieval through the LM listens (the user's words in its prompt): every case of a
/// split (20 candidates, the evaluator's seeded negatives) is ranked with no words, with words for
/// a facet the target has, and with words for a facet it lacks, phrased as training phrases them
/// ("something comedy") and, where the paraphrase file has the facet, as nobody trained on ("a
/// funny one"). The facets are drawn per case with the evaluator's seed.
public struct ListeningTest {
    public enum Condition: String, Sendable, CaseIterable {
        case none
        case rightFacet = "right-facet"
        case wrongFacet = "wrong-facet"
        case rightParaphrase = "right-paraphrase"
        case wrongParaphrase = "wrong-paraphrase"
    }

    public let model: RetrievalModel
    /// [(items + 1) · 128].
    public let itemVectors: [Float]
    public let evaluator: Evaluator
    public let facets: WishMaker
    public let paraphrases: FacetParaphrases

    public init(model: RetrievalModel, itemVectors: [Float], evaluator: Evaluator, paraphrases: FacetParaphrases) {
        self.model = model
        self.itemVectors = itemVectors
        self.evaluator = evaluator
        self.paraphrases = paraphrases
        facets = WishMaker(catalog: evaluator.dataset.catalog, noun: model.builder.template.noun)
    }

    /// One case's words under each condition it has (a target without facets has only `none`).
    func words(target: Int32, user: Int32) -> [Condition: String] {
        var generator = SplitMix64(seed: evaluator.seed ^ 0x4C49_5354_454E, stream: UInt64(user))
        let own = facets.facets[Int(target)]
        let lacking = facets.allFacets.filter { !own.contains($0) }
        var words: [Condition: String] = [.none: ""]
        guard !own.isEmpty, !lacking.isEmpty else { return words }
        let right = own[Int(generator.next() % UInt64(own.count))]
        let wrong = lacking[Int(generator.next() % UInt64(lacking.count))]
        words[.rightFacet] = "I'd like something \(facets.spoken(right))"
        words[.wrongFacet] = "I'd like something \(facets.spoken(wrong))"
        if let phrases = paraphrases.byFacet[right] { words[.rightParaphrase] = phrases[Int(generator.next() % UInt64(phrases.count))] }
        if let phrases = paraphrases.byFacet[wrong] { words[.wrongParaphrase] = phrases[Int(generator.next() % UInt64(phrases.count))] }
        return words
    }

    /// Ranking metrics per condition over the cases that have it, and the paired count of cases
    /// (those with all five conditions) in `paired`.
    public struct Outcome: Sendable {
        public var metrics: [Condition: RankingMetrics] = [:]
        /// Metrics over the cases that have every condition, so that conditions compare on the same cases.
        public var paired: [Condition: RankingMetrics] = [:]
        public var seconds: Double = 0

        public var json: JSONValue {
            func table(_ values: [Condition: RankingMetrics]) -> JSONValue {
                var object = JSONObject()
                for condition in Condition.allCases { if let value = values[condition] { object[condition.rawValue] = value.json } }
                return .object(object)
            }
            return ["all": table(metrics), "paired": table(paired), "seconds": .number(seconds)]
        }
    }

    /// Runs every case; one LM pass per batch of prompts (`batchSize` cases' conditions together).
    public func run(batchSize: Int = 4) throws(DecoderError) -> Outcome {
        let started = Date()
        let users = evaluator.users(for: .candidates(negatives: 19))
        let meter = ProgressMeter(label: "listen", total: Int64(users.count), unit: .items("users"), enabled: evaluator.showProgress)
        var outcome = Outcome()
        let size = RetrievalWeights.vectorSize
        for start in stride(from: 0, to: users.count, by: batchSize) {
            let cases = users[start..<min(start + batchSize, users.count)].map { evaluator.makeCase(user: $0, evaluationProtocol: .candidates(negatives: 19)) }
            var prompts: [(caseIndex: Int, condition: Condition, wish: String?)] = []
            for (index, testCase) in cases.enumerated() {
                for (condition, text) in words(target: testCase.target, user: testCase.user).sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                    prompts.append((index, condition, text.isEmpty ? nil : text))
                }
            }
            let readings = try model.userReadings(
                entries: prompts.map { cases[$0.caseIndex].history.map(model.entry) }, wishes: prompts.map(\.wish))
            var ranks: [[Condition: Int]] = Array(repeating: [:], count: cases.count)
            for (row, prompt) in prompts.enumerated() {
                let scores = cases[prompt.caseIndex].candidates.map { item in
                    itemVectors.withUnsafeBufferPointer { table in
                        model.score(
                            readings[row], itemVector: table.baseAddress! + Int(item) * size,
                            itemColumns: model.columns(ofItem: item))
                    }
                }
                ranks[prompt.caseIndex][prompt.condition] = RankingMetrics.rank(of: 0, in: scores)
            }
            for caseRanks in ranks {
                for (condition, rank) in caseRanks { outcome.metrics[condition, default: RankingMetrics()].add(rank: rank) }
                if caseRanks.count == Condition.allCases.count {
                    for (condition, rank) in caseRanks { outcome.paired[condition, default: RankingMetrics()].add(rank: rank) }
                }
            }
            meter.update(Int64(start + cases.count))
        }
        meter.finish(Int64(users.count))
        outcome.seconds = Date().timeIntervalSince(started)
        return outcome
    }
}
