import Datasets
import Numerics
import Testing

@Suite struct NegativeSamplerTests {
    @Test func sameSeedAndStreamGiveTheSameNegatives() {
        var first = SplitMix64(seed: 7, stream: 42)
        var second = SplitMix64(seed: 7, stream: 42)
        var other = SplitMix64(seed: 7, stream: 43)
        let excluded: Set<Int32> = [1, 2, 3]
        let a = NegativeSampler.sample(count: 19, itemCount: 1682, excluded: excluded, using: &first)
        let b = NegativeSampler.sample(count: 19, itemCount: 1682, excluded: excluded, using: &second)
        let c = NegativeSampler.sample(count: 19, itemCount: 1682, excluded: excluded, using: &other)
        #expect(a == b)
        #expect(a != c)
    }

    @Test func neverReturnsExcludedOrRepeatedItems() {
        var generator = SplitMix64(seed: 1)
        for round in 0..<200 {
            let excluded = Set((1...Int32(40)).filter { ($0 + Int32(round)) % 3 == 0 })
            let negatives = NegativeSampler.sample(count: 19, itemCount: 50, excluded: excluded, using: &generator)
            #expect(negatives.count == 19)
            #expect(Set(negatives).count == 19)
            #expect(negatives.allSatisfy { !excluded.contains($0) && (1...50).contains($0) })
        }
    }

    @Test func returnsEveryEligibleItemWhenTooFewRemain() {
        var generator = SplitMix64(seed: 3)
        let negatives = NegativeSampler.sample(count: 19, itemCount: 10, excluded: [2, 4, 6], using: &generator)
        #expect(Set(negatives) == [1, 3, 5, 7, 8, 9, 10])
    }

    @Test func isUniformOverEligibleItems() {
        var generator = SplitMix64(seed: 11)
        var counts = [Int](repeating: 0, count: 21)
        for _ in 0..<20_000 {
            for item in NegativeSampler.sample(count: 1, itemCount: 20, excluded: [20], using: &generator) {
                counts[Int(item)] += 1
            }
        }
        #expect(counts[20] == 0)
        // 19 items, 20,000 draws: expected 1,052.6 each, standard deviation about 31.
        #expect(counts[1...19].allSatisfy { abs($0 - 1053) < 160 })
    }
}
