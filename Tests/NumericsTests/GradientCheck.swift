import Numerics
import Testing

/// Finite-difference gradient checking for layers written as forward/backward pairs.
///
/// The scalar checked is L = Σ out ⊙ w for fixed random weights w, so dL/dout = w. Central
/// differences in Float32 with step h = 1e-2 have an error of order h² · f''' plus 1e-7 / h
/// rounding: a tolerance of 2e-3 relative (1e-3 absolute) separates a right gradient from a wrong one.
struct GradientCheck {
    var generator = SplitMix64(seed: 1234)

    mutating func random(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in Float(Initialization.normal(&generator)) * scale }
    }

    /// Compares the analytic gradient with central differences for every element of `input`.
    /// - forward: maps the input to the output (fresh array).
    /// - backward: given dout, returns dinput.
    static func check(
        input: [Float], outputWeights: [Float], step: Float = 1e-2, tolerance: Float = 2e-3,
        forward: ([Float]) -> [Float], backward: ([Float]) -> [Float], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let analytic = backward(outputWeights)
        func loss(_ x: [Float]) -> Double {
            zip(forward(x), outputWeights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        var worst: (index: Int, analytic: Float, numeric: Float)?
        for index in input.indices {
            var plus = input
            plus[index] += step
            var minus = input
            minus[index] -= step
            let numeric = Float((loss(plus) - loss(minus)) / Double(2 * step))
            let error = abs(numeric - analytic[index])
            if error > tolerance * max(1, abs(numeric)) && error > 1e-3 {
                if worst == nil || error > abs(worst!.numeric - worst!.analytic) {
                    worst = (index, analytic[index], numeric)
                }
            }
        }
        #expect(worst == nil, "gradient mismatch at \(worst.map { "\($0.index): analytic \($0.analytic), numeric \($0.numeric)" } ?? "")", sourceLocation: sourceLocation)
    }
}
