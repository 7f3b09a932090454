import CKernels
import Foundation

/// Elementwise activations. Forward writes `out`; backward accumulates into `dx` from `dout` and the
/// forward input `x`. All buffers hold `count` elements.
public enum ReLU {
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        for index in 0..<count { out[index] = max(x[index], 0) }
    }

    public static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        for index in 0..<count where x[index] > 0 { dx[index] += dout[index] }
    }
}

/// GELU, exact (erf) form as PyTorch's default. erf comes from `GELU.erf`, a Chebyshev fit with
/// fractional error below 1.2e-7 in exact arithmetic (Numerical Recipes' erfc), about twice as fast as libm's `erff`.
public enum GELU {
    private static let inverseSqrt2: Float = 0.707_106_77

    /// erf(x) with absolute error below 3e-7 (the fit's 1.2e-7 plus float32 rounding).
    @inlinable public static func erf(_ x: Float) -> Float {
        let z = abs(x)
        let t = 1 / (1 + 0.5 * z)
        var polynomial: Float = 0.170_872_77
        polynomial = polynomial * t - 0.822_152_23
        polynomial = polynomial * t + 1.488_515_87
        polynomial = polynomial * t - 1.135_203_98
        polynomial = polynomial * t + 0.278_868_07
        polynomial = polynomial * t - 0.186_288_06
        polynomial = polynomial * t + 0.096_784_18
        polynomial = polynomial * t + 0.374_091_96
        polynomial = polynomial * t + 1.000_023_68
        let complement = t * Foundation.exp(-z * z - 1.265_512_23 + t * polynomial)
        return x >= 0 ? 1 - complement : complement - 1
    }

    /// out = GELU(x) in the C kernel (`llmrec_gelu`, the same erf fit, vectorised).
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        llmrec_gelu(x, out, count)
    }

    public static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        let inverseSqrt2Pi: Float = 0.398_942_28
        for index in 0..<count {
            let value = x[index]
            let cdf = 0.5 * (1 + Self.erf(value * inverseSqrt2))
            let pdf = inverseSqrt2Pi * exp(-0.5 * value * value)
            dx[index] += dout[index] * (cdf + value * pdf)
        }
    }
}

/// LeakyReLU with PyTorch's default slope 0.01.
public enum LeakyReLU {
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int, slope: Float = 0.01) {
        for index in 0..<count { out[index] = x[index] > 0 ? x[index] : slope * x[index] }
    }

    public static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, count: Int, slope: Float = 0.01
    ) {
        for index in 0..<count { dx[index] += x[index] > 0 ? dout[index] : slope * dout[index] }
    }
}

/// The logistic function. Backward uses the forward output `y`.
public enum Sigmoid {
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        for index in 0..<count { out[index] = logistic(x[index]) }
    }

    public static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, y: UnsafePointer<Float>, count: Int) {
        for index in 0..<count { dx[index] += dout[index] * y[index] * (1 - y[index]) }
    }

    @inlinable public static func logistic(_ value: Float) -> Float {
        value >= 0 ? 1 / (1 + exp(-value)) : exp(value) / (1 + exp(value))
    }
}

/// Inverted dropout with a seeded mask: kept elements are scaled by 1 / (1 - p).
/// - mask: [count], written by forward (0 or the scale), read by backward.
public enum Dropout {
    public static func forward(
        out: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int,
        probability: Float, generator: inout SplitMix64
    ) {
        guard probability > 0 else {
            for index in 0..<count { mask[index] = 1; out[index] = x[index] }
            return
        }
        let scale = 1 / (1 - probability)
        let threshold = UInt64(Double(probability) * Double(UInt64.max))
        for index in 0..<count {
            mask[index] = generator.next() < threshold ? 0 : scale
            out[index] = x[index] * mask[index]
        }
    }

    public static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, mask: UnsafePointer<Float>, count: Int) {
        for index in 0..<count { dx[index] += dout[index] * mask[index] }
    }
}
