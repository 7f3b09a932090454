import Datasets
import Foundation
import JSON
import Models
import Numerics
import Support

/// The result of evaluating one model under one protocol.
public struct EvaluationReport: Sendable {
    public var model: String
    public var evaluationProtocol: EvaluationProtocol
    public var split: EvaluationSplit
    public var seed: UInt64
    public var thresholds: ColdWarmThresholds
    public var overall = RankingMetrics()
    public var cold = RankingMetrics()
    public var warm = RankingMetrics()
    public var seconds: Double = 0
    /// False when the model knows items only by their interactions (`SequentialRecommender`).
    public var scoresItemsWithoutInteractions = true

    /// One JSON object with every metric, overall / cold / warm, and the number of cases.
    public var json: JSONValue {
        [
            "model": .string(model), "protocol": .string(evaluationProtocol.description),
            "split": .string(split.rawValue), "seed": .int(Int64(bitPattern: seed)),
            "cases": .integer(overall.cases),
            "coldWarm": [
                "coldAtMost": .integer(thresholds.coldAtMost), "warmAtLeast": .integer(thresholds.warmAtLeast),
                "countedIn": "training split",
            ],
            "overall": overall.json, "cold": cold.json, "warm": warm.json,
            "seconds": .number((seconds * 1000).rounded() / 1000),
            "scoresItemsWithoutInteractions": .bool(scoresItemsWithoutInteractions),
        ]
    }
}

/// Runs the evaluation protocols over a prepared dataset for any `SequentialRecommender`.
///
/// Every user with a target in the chosen split is one case (optionally a seeded sample of at most
/// `maxUsers`). Negatives come from a per-user generator derived from `seed`, so the same seed gives
/// every model the same candidates whatever the evaluation order.
public struct Evaluator: Sendable {
    public var dataset: PreparedDataset
    public var split: EvaluationSplit
    public var seed: UInt64
    public var thresholds: ColdWarmThresholds
    public var maxUsers: Int?
    /// Only the cases whose target is in this popularity group (all cases when nil); applied before
    /// the `maxUsers` sample.
    public var only: ItemGroup?
    public var showProgress: Bool

    /// A popularity group of targets under `thresholds`.
    public enum ItemGroup: String, Sendable, CaseIterable {
        case cold
        case warm
    }

    private let trainingCounts: [Int]

    public init(
        dataset: PreparedDataset, split: EvaluationSplit = .test, seed: UInt64 = 7,
        thresholds: ColdWarmThresholds = .init(), maxUsers: Int? = nil, only: ItemGroup? = nil, showProgress: Bool = true
    ) {
        self.only = only
        self.dataset = dataset
        self.split = split
        self.seed = seed
        self.thresholds = thresholds
        self.maxUsers = maxUsers
        self.showProgress = showProgress
        trainingCounts = dataset.trainingItemCounts
        timelines = dataset.coldItems.isEmpty ? [] : ((try? dataset.timelines()) ?? [])
    }

    /// Every user's interactions with held-out items included (empty without held-out items).
    private let timelines: [[Int32]]

    /// Errors of a protocol that does not fit the dataset.
    public enum ProtocolError: Error, Sendable, CustomStringConvertible {
        case noHeldOutItems(String, split: EvaluationSplit)

        public var description: String {
            switch self {
            case .noHeldOutItems(let directory, .test):
                return "\(directory) holds no items out (prepare it with --cold-items FRACTION for the cold20 protocol)"
            case .noHeldOutItems(let directory, .valid):
                return "\(directory) holds no items out for validation (prepare it with --cold-validation-items FRACTION for cold20 on the validation split)"
            }
        }
    }

    /// Checks that `evaluationProtocol` can run on this dataset.
    public func check(_ evaluationProtocol: EvaluationProtocol) throws {
        if case .heldOutItems = evaluationProtocol, heldOutTargets.isEmpty { throw ProtocolError.noHeldOutItems(dataset.directory, split: split) }
    }

    /// The held-out items this split's cold-start cases draw their targets and negatives from.
    private var heldOutTargets: Set<Int32> {
        split == .valid ? dataset.coldValidationItems : dataset.coldItems.subtracting(dataset.coldValidationItems)
    }

    /// The cold-start case of `user` among `targets`: the target and the history of items not held
    /// out before it, or nil.
    private func heldOutCase(user: Int32, minimumHistory: Int, targets: Set<Int32>) -> (target: Int32, history: [Int32])? {
        guard Int(user) < timelines.count else { return nil }
        var history: [Int32] = []
        for item in timelines[Int(user)] {
            if targets.contains(item) {
                if history.count >= minimumHistory { return (item, history) }
            } else if !dataset.coldItems.contains(item) {
                history.append(item)
            }
        }
        return nil
    }

    /// The users evaluated under `evaluationProtocol`, ascending.
    public func users(for evaluationProtocol: EvaluationProtocol) -> [Int32] {
        guard case .heldOutItems(_, let minimumHistory) = evaluationProtocol else { return users() }
        let targets = heldOutTargets
        let all = (1...max(dataset.userCount, 1)).compactMap { user -> Int32? in
            guard user <= dataset.userCount, let found = heldOutCase(user: Int32(user), minimumHistory: minimumHistory, targets: targets)
            else { return nil }
            switch only {
            case .cold: return trainingCounts[Int(found.target)] <= thresholds.coldAtMost ? Int32(user) : nil
            case .warm: return trainingCounts[Int(found.target)] >= thresholds.warmAtLeast ? Int32(user) : nil
            case nil: return Int32(user)
            }
        }
        guard let maxUsers, all.count > maxUsers else { return all }
        var generator = SplitMix64(seed: seed, stream: 0xC0FFEE)
        return Array(all.shuffled(using: &generator).prefix(maxUsers)).sorted()
    }

    /// One evaluation case: what the model sees and what it should rank first.
    public struct Case: Sendable {
        public var user: Int32
        public var history: [Int32]
        public var target: Int32
        public var candidates: [Int32]
    }

    /// The users evaluated, ascending.
    public func users() -> [Int32] {
        let all = (1...max(dataset.userCount, 1)).compactMap { user -> Int32? in
            guard user <= dataset.userCount else { return nil }
            let item = target(of: Int32(user))
            guard item != 0 else { return nil }
            switch only {
            case .cold: return trainingCounts[Int(item)] <= thresholds.coldAtMost ? Int32(user) : nil
            case .warm: return trainingCounts[Int(item)] >= thresholds.warmAtLeast ? Int32(user) : nil
            case nil: return Int32(user)
            }
        }
        guard let maxUsers, all.count > maxUsers else { return all }
        var generator = SplitMix64(seed: seed, stream: 0xC0FFEE)
        return Array(all.shuffled(using: &generator).prefix(maxUsers)).sorted()
    }

    private func target(of user: Int32) -> Int32 {
        split == .test ? dataset.test[Int(user)] : dataset.valid[Int(user)]
    }

    /// The case for `user` under `evaluationProtocol`; the target is always `candidates[0]`.
    public func makeCase(user: Int32, evaluationProtocol: EvaluationProtocol) -> Case {
        let index = Int(user)
        if case .heldOutItems(let negatives, let minimumHistory) = evaluationProtocol {
            let targets = heldOutTargets
            let found = heldOutCase(user: user, minimumHistory: minimumHistory, targets: targets) ?? (0, [])
            let touched = Set(timelines[index])
            let pool = targets.filter { !touched.contains($0) }.sorted()
            var generator = SplitMix64(seed: seed, stream: UInt64(user) | 0xC01D << 32)
            let drawn = pool.shuffled(using: &generator).prefix(negatives)
            return Case(user: user, history: found.history, target: found.target, candidates: [found.target] + drawn)
        }
        var history = dataset.train[index]
        if split == .test, dataset.valid[index] != 0 { history.append(dataset.valid[index]) }
        let target = target(of: user)
        var candidates = [target]
        switch evaluationProtocol {
        case .candidates(let negatives):
            var everything = Set(dataset.train[index])
            everything.insert(dataset.valid[index])
            everything.insert(dataset.test[index])
            var generator = SplitMix64(seed: seed, stream: UInt64(user))
            candidates += NegativeSampler.sample(
                count: negatives, itemCount: dataset.itemCount, excluded: everything, using: &generator)
        case .heldOutItems:
            break
        case .full:
            let seen = Set(history)
            for item in 1...Int32(dataset.itemCount) where item != target && !seen.contains(item) {
                candidates.append(item)
            }
        }
        return Case(user: user, history: history, target: target, candidates: candidates)
    }

    /// Evaluates `model`; cases are scored in order on the calling thread. `scored`, when given,
    /// sees every case with the model's scores of its candidates (target first), in case order.
    public func evaluate(
        _ model: some SequentialRecommender, evaluationProtocol: EvaluationProtocol, scored: (Case, [Float]) -> Void = { _, _ in }
    ) -> EvaluationReport {
        var report = EvaluationReport(
            model: model.name, evaluationProtocol: evaluationProtocol, split: split, seed: seed, thresholds: thresholds)
        report.scoresItemsWithoutInteractions = model.scoresItemsWithoutInteractions
        let started = Date()
        let users = users(for: evaluationProtocol)
        let meter = ProgressMeter(
            label: "eval \(model.name) \(evaluationProtocol)", total: Int64(users.count), unit: .items("users"),
            enabled: showProgress)
        var done = 0
        let batch = max(1, model.preferredBatchSize)
        for start in stride(from: 0, to: users.count, by: batch) {
            let cases = users[start..<min(start + batch, users.count)].map {
                makeCase(user: $0, evaluationProtocol: evaluationProtocol)
            }
            let allScores = model.scores(batch: cases.map { ($0.history, $0.candidates) })
            for (testCase, scores) in zip(cases, allScores) {
                precondition(
                    scores.count == testCase.candidates.count,
                    "\(model.name) returned \(scores.count) scores for \(testCase.candidates.count) candidates")
                scored(testCase, scores)
                let rank = RankingMetrics.rank(of: 0, in: scores)
                report.overall.add(rank: rank)
                let popularity = trainingCounts[Int(testCase.target)]
                if popularity <= thresholds.coldAtMost { report.cold.add(rank: rank) }
                if popularity >= thresholds.warmAtLeast { report.warm.add(rank: rank) }
            }
            done += cases.count
            meter.update(Int64(done))
        }
        meter.finish(Int64(users.count))
        report.seconds = Date().timeIntervalSince(started)
        return report
    }
}
