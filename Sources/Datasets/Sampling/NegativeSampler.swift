import Numerics
/// Draws negative items for evaluation: uniformly from 1...itemCount, without replacement, never
/// an item in `excluded`. When fewer than `count` items are eligible, all eligible ones are
/// returned (in random order).
///
/// Deterministic for a given generator state; callers derive one generator per user from the run's
/// seed (`SplitMix64(seed:stream:)`) so that every model is evaluated on the same candidates.
public enum NegativeSampler {
    public static func sample(
        count: Int, itemCount: Int, excluded: Set<Int32>, using generator: inout SplitMix64
    ) -> [Int32] {
        let eligible = itemCount - excluded.count(where: { $0 >= 1 && Int($0) <= itemCount })
        let wanted = min(count, max(eligible, 0))
        guard wanted > 0 else { return [] }
        if wanted * 4 > eligible {
            // Dense case: shuffle the eligible items and take a prefix (rejection would crawl).
            var pool = (1...Int32(itemCount)).filter { !excluded.contains($0) }
            pool.shuffle(using: &generator)
            return Array(pool.prefix(wanted))
        }
        var chosen: [Int32] = []
        var taken = Set<Int32>()
        chosen.reserveCapacity(wanted)
        while chosen.count < wanted {
            let item = Int32.random(in: 1...Int32(itemCount), using: &generator)
            if excluded.contains(item) || taken.contains(item) { continue }
            taken.insert(item)
            chosen.append(item)
        }
        return chosen
    }
}
