import Foundation

/// Parameter initialisers with PyTorch's definitions, drawn from a seeded generator.
public enum Initialization {
    /// `torch.nn.init.xavier_normal_`: N(0, 2 / (fanIn + fanOut)), where for a weight of shape
    /// [out, in, rest...] fanIn = in · Π rest and fanOut = out · Π rest.
    public static func xavierNormal(shape: [Int], generator: inout SplitMix64) -> [Float] {
        precondition(shape.count >= 2, "xavier init needs at least 2 dimensions")
        let receptive = shape.dropFirst(2).reduce(1, *)
        let fanIn = shape[1] * receptive
        let fanOut = shape[0] * receptive
        let std = (2.0 / Double(fanIn + fanOut)).squareRoot()
        return (0..<shape.reduce(1, *)).map { _ in Float(std * normal(&generator)) }
    }

    /// U(−bound, bound).
    public static func uniform(count: Int, bound: Float, generator: inout SplitMix64) -> [Float] {
        (0..<count).map { _ in Float.random(in: -bound...bound, using: &generator) }
    }

    /// A standard normal sample (Box–Muller).
    public static func normal(_ generator: inout SplitMix64) -> Double {
        let u1 = max(Double.random(in: 0..<1, using: &generator), .leastNonzeroMagnitude)
        let u2 = Double.random(in: 0..<1, using: &generator)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
