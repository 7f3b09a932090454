import Foundation
import Testing
import Training

@Suite struct RankingMetricsTests {
    @Test func tiesCountAgainstTheTarget() {
        #expect(RankingMetrics.rank(of: 0, in: [0.5, 0.1, 0.2]) == 0)
        #expect(RankingMetrics.rank(of: 0, in: [0.5, 0.5, 0.2]) == 1)
        #expect(RankingMetrics.rank(of: 0, in: [1, 1, 1, 1]) == 3)
        #expect(RankingMetrics.rank(of: 1, in: [0.9, 0.3, 0.3, 0.1]) == 2)
        #expect(RankingMetrics.rank(of: 0, in: [.nan, 0.1]) == 1, "a NaN target ranks last")
    }

    @Test func hitNdcgAndMrrFollowTheirDefinitions() {
        var metrics = RankingMetrics()
        for rank in [0, 1, 4, 9, 30] { metrics.add(rank: rank) }
        #expect(metrics.cases == 5)
        #expect(metrics.hit(at: 1) == 0.2)
        #expect(metrics.hit(at: 5) == 0.6)
        #expect(metrics.hit(at: 10) == 0.8)
        let ndcg10 = (1 + 1 / log2(3.0) + 1 / log2(6.0) + 1 / log2(11.0)) / 5
        #expect(abs(metrics.ndcg(at: 10) - ndcg10) < 1e-12)
        let mrr = (1 + 0.5 + 0.2 + 0.1 + 1.0 / 31) / 5
        #expect(abs(metrics.mrr - mrr) < 1e-12)
    }
}

@Suite struct EvaluationProtocolTests {
    @Test func parsesCommandLineNames() {
        #expect(EvaluationProtocol(name: "candidates20") == .candidates(negatives: 19))
        #expect(EvaluationProtocol(name: "candidates101") == .candidates(negatives: 100))
        #expect(EvaluationProtocol(name: "full") == .full)
        #expect(EvaluationProtocol(name: "candidates1") == nil)
        #expect(EvaluationProtocol(name: "top10") == nil)
        #expect(EvaluationProtocol.candidates(negatives: 99).description == "candidates100")
    }
}
