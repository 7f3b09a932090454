/// A small, fast, seedable random number generator (SplitMix64, Steele et al. 2014). The same seed
/// gives the same sequence on every machine, which is what makes candidate sets and training
/// runs reproducible. A value type: copying it forks the stream.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The whole generator state: saving it and `init(seed: state)` later resumes the same stream.
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one element of a family of independent streams, e.g. one stream per user
    /// under a run's seed, so that results do not depend on the order users are visited in.
    public init(seed: UInt64, stream: UInt64) {
        var mixer = SplitMix64(seed: seed ^ 0x5851_F42D_4C95_7F2D)
        let base = mixer.next()
        state = base ^ (stream &* 0x9E37_79B9_7F4A_7C15)
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
