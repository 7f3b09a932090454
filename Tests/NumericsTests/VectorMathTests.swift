import Foundation
import Numerics
import Testing

@Suite struct VectorMathTests {
    @Test func standardisedHasZeroMeanAndUnitDeviation() {
        let z = VectorMath.standardised([1, 2, 3, 4])
        let (mean, deviation) = VectorMath.moments(z)
        #expect(abs(mean) < 1e-6 && abs(deviation - 1) < 1e-6)
        #expect(abs(z[0] + 1.3416408) < 1e-6)
    }

    @Test func nonFiniteValuesGoBelowTheRest() {
        let z = VectorMath.standardised([1, -.infinity, 3, .nan])
        #expect(z[0] == -1 && z[2] == 1)
        #expect(z[1] == -2 && z[3] == -2)
    }

    @Test func constantOrSingleValuesStandardiseToZero() {
        #expect(VectorMath.standardised([5, 5, 5]) == [0, 0, 0])
        #expect(VectorMath.standardised([7]) == [0])
        #expect(VectorMath.standardised([-.infinity, 2]) == [-1, 0])
    }

    @Test func unitRowsScalesEachRowAndKeepsZeroRows() {
        let rows = VectorMath.unitRows([3, 4, 0, 0, 0, 2], width: 2)
        #expect(rows == [0.6, 0.8, 0, 0, 0, 1])
    }

    /// SwiGLU's backward against its derivative in Float64 and against central differences of
    /// `siluMultiply`, on values from −30 to 30 (both lane loops: 8 lanes and the rest).
    @Test func siluMultiplyBackwardIsTheDerivativeOfSiluMultiply() {
        var generator = SystemRandomNumberGenerator()
        let count = 8 * 5 + 3
        let gate = (0..<count).map { _ in Float.random(in: -30...30, using: &generator) }
        let up = (0..<count).map { _ in Float.random(in: -2...2, using: &generator) }
        let dOut = (0..<count).map { _ in Float.random(in: -1...1, using: &generator) }
        var dGate = [Float](repeating: .nan, count: count)
        var dUp = dGate
        VectorMath.siluMultiplyBackward(gate: gate, up: up, dOut: dOut, dGate: &dGate, dUp: &dUp, count: count)
        func swiglu(_ g: Double, _ u: Double) -> Double { g / (1 + Foundation.exp(-g)) * u }
        for i in 0..<count {
            let (g, u, d) = (Double(gate[i]), Double(up[i]), Double(dOut[i]))
            let sigma = 1 / (1 + Foundation.exp(-g))
            let expectedUp = d * g * sigma
            let expectedGate = d * u * sigma * (1 + g * (1 - sigma))
            #expect(abs(Double(dUp[i]) - expectedUp) <= 1e-5 * max(1, abs(expectedUp)), "dUp[\(i)]")
            #expect(abs(Double(dGate[i]) - expectedGate) <= 1e-5 * max(1, abs(expectedGate)), "dGate[\(i)]")
            let h = 1e-4
            let numericGate = d * (swiglu(g + h, u) - swiglu(g - h, u)) / (2 * h)
            #expect(abs(numericGate - expectedGate) <= 1e-6 * max(1, abs(expectedGate)), "central difference at \(i)")
        }
    }

    @Test func arrayDotUsesTheShorterArray() {
        #expect(VectorMath.dot([1, 2, 3], [4, 5]) == 14)
        #expect(VectorMath.dot([], [1]) == 0)
    }
}
