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

    @Test func arrayDotUsesTheShorterArray() {
        #expect(VectorMath.dot([1, 2, 3], [4, 5]) == 14)
        #expect(VectorMath.dot([], [1]) == 0)
    }
}
