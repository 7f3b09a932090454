import Foundation
import JSON

/// Accumulates ranking metrics over test cases.
///
/// A case contributes its 0-based `rank` (the number of candidates scored strictly above the target
/// plus the number of other candidates tied with it: ties count against the target, so a model that
/// scores everything equally gets no credit). Hit@k = mean(rank < k); NDCG@k = mean(1 / log2(rank + 2)
/// when rank < k, else 0), the single-relevant-item form; MRR = mean(1 / (rank + 1)).
public struct RankingMetrics: Sendable, Equatable {
    public static let cutoffs = [1, 5, 10, 20]

    public private(set) var cases = 0
    private var hits = [Double](repeating: 0, count: cutoffs.count)
    private var ndcg = [Double](repeating: 0, count: cutoffs.count)
    private var reciprocalRanks = 0.0

    public init() {}

    public mutating func add(rank: Int) {
        cases += 1
        for (index, k) in Self.cutoffs.enumerated() where rank < k {
            hits[index] += 1
            ndcg[index] += 1 / log2(Double(rank) + 2)
        }
        reciprocalRanks += 1 / Double(rank + 1)
    }

    public func hit(at k: Int) -> Double { mean(hits, k) }
    public func ndcg(at k: Int) -> Double { mean(ndcg, k) }
    public var mrr: Double { cases > 0 ? reciprocalRanks / Double(cases) : 0 }

    private func mean(_ sums: [Double], _ k: Int) -> Double {
        guard cases > 0, let index = Self.cutoffs.firstIndex(of: k) else { return 0 }
        return sums[index] / Double(cases)
    }

    /// The rank of `scores[target]` among `scores`, ties counted against the target.
    public static func rank(of target: Int, in scores: [Float]) -> Int {
        let value = scores[target]
        var rank = 0
        for (index, score) in scores.enumerated() where index != target && (score >= value || score.isNaN) {
            rank += 1
        }
        return value.isNaN ? scores.count - 1 : rank
    }

    public var json: JSONValue {
        var object: JSONObject = ["cases": .integer(cases)]
        for k in Self.cutoffs { object["hit@\(k)"] = .number(hit(at: k)) }
        for k in Self.cutoffs where k > 1 { object["ndcg@\(k)"] = .number(ndcg(at: k)) }
        object["mrr"] = .number(mrr)
        return .object(object)
    }
}
