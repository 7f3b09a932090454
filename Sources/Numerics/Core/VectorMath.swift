import CKernels
import Foundation

/// Small vector helpers: e^x and SwiGLU on 8 lanes in plain arithmetic (no library calls, so they
/// vectorise on baseline x86-64), dot products, softmax (through the C kernel), standardising.
public enum VectorMath {
    /// e^x per lane, relative error about 2e-7 (Cephes' expf: Cody–Waite reduction by ln 2 and a
    /// degree-6 polynomial). Inputs are clamped to [-87.3, 88.3]; exp(-87.3) ≈ 1.2e-38 stands in for 0.
    @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let low = SIMD8<Float>(repeating: -87.3)
        let high = SIMD8<Float>(repeating: 88.3)
        let clamped = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
        // n = round(x / ln 2) by the 1.5·2^23 trick: adding it rounds to an integer in the low
        // mantissa bits, which also give n as an integer without a conversion instruction.
        let magic: Float = 12_582_912
        let shifted = clamped * 1.442_695_04 + magic
        let nFloat = shifted - magic
        let n = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let r = clamped - nFloat * 0.693_359_375 + nFloat * 2.121_944_4e-4
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        let result = p * (r * r) + r + 1
        let scale = unsafeBitCast((n &+ 127) &<< 23, to: SIMD8<Float>.self)
        return result * scale
    }

    /// Σ a[i]·b[i] over the shorter of the two arrays.
    public static func dot(_ a: [Float], _ b: [Float]) -> Float {
        let count = min(a.count, b.count)
        guard count > 0 else { return 0 }
        return a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in dot(x.baseAddress!, y.baseAddress!, count: count) } }
    }

    /// Σ a[i]·b[i] over `count` floats, 16 lanes at a time with four partial sums (the order of a
    /// plain loop is not kept: it would forbid vectorising the reduction).
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var s0 = SIMD16<Float>(repeating: 0)
        var s1 = s0
        var index = 0
        while index + 32 <= count {
            s0 += UnsafeRawPointer(a + index).loadUnaligned(as: SIMD16<Float>.self) * UnsafeRawPointer(b + index).loadUnaligned(as: SIMD16<Float>.self)
            s1 += UnsafeRawPointer(a + index + 16).loadUnaligned(as: SIMD16<Float>.self)
                * UnsafeRawPointer(b + index + 16).loadUnaligned(as: SIMD16<Float>.self)
            index += 32
        }
        var total = (s0 + s1).sum()
        while index < count {
            total += a[index] * b[index]
            index += 1
        }
        return total
    }

    /// SwiGLU in place: gate[i] = silu(gate[i]) · up[i], silu(g) = g / (1 + e^−g), 8 lanes at a time.
    public static func siluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        var index = 0
        while index + 8 <= count {
            let g = UnsafeRawPointer(gate + index).loadUnaligned(as: SIMD8<Float>.self)
            let u = UnsafeRawPointer(up + index).loadUnaligned(as: SIMD8<Float>.self)
            let result = g / (1 + exp(-g)) * u
            UnsafeMutableRawPointer(gate + index).storeBytes(of: result, as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            gate[index] = gate[index] / (1 + Foundation.exp(-gate[index])) * up[index]
            index += 1
        }
    }

    /// SwiGLU's backward, for out[i] = silu(gate[i]) · up[i]: dUp[i] = dOut[i] · silu(gate[i]) and
    /// dGate[i] = dOut[i] · up[i] · σ(gate[i]) · (1 + gate[i] · (1 − σ(gate[i]))), σ the logistic
    /// function; 8 lanes at a time. Every buffer holds `count` floats; the outputs are overwritten.
    public static func siluMultiplyBackward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, dOut: UnsafePointer<Float>, dGate: UnsafeMutablePointer<Float>,
        dUp: UnsafeMutablePointer<Float>, count: Int
    ) {
        var index = 0
        while index + 8 <= count {
            let g = UnsafeRawPointer(gate + index).loadUnaligned(as: SIMD8<Float>.self)
            let u = UnsafeRawPointer(up + index).loadUnaligned(as: SIMD8<Float>.self)
            let d = UnsafeRawPointer(dOut + index).loadUnaligned(as: SIMD8<Float>.self)
            let sigma = 1 / (1 + exp(-g))
            UnsafeMutableRawPointer(dUp + index).storeBytes(of: d * g * sigma, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(dGate + index).storeBytes(of: d * u * sigma * (1 + g * (1 - sigma)), as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            let g = gate[index]
            let sigma = 1 / (1 + Foundation.exp(-g))
            dUp[index] = dOut[index] * g * sigma
            dGate[index] = dOut[index] * up[index] * sigma * (1 + g * (1 - sigma))
            index += 1
        }
    }

    /// In place: row[0..<count] = softmax(row[0..<count]), in the C kernel (`llmrec_softmax`).
    public static func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, count: Int) {
        llmrec_softmax(row, count)
    }

    /// Mean and (population) standard deviation of the finite values; zeros when there are none.
    public static func moments(_ values: [Float]) -> (mean: Float, deviation: Float) {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return (0, 0) }
        let mean = finite.reduce(0, +) / Float(finite.count)
        return (mean, (finite.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(finite.count)).squareRoot())
    }

    /// (x − mean) / standard deviation over the finite values; all zeros when they do not vary.
    /// A non-finite value (a prompt that did not fit) becomes the lowest z-score minus one.
    public static func standardised(_ values: [Float]) -> [Float] {
        let (mean, deviation) = moments(values)
        guard deviation > 1e-12 else { return values.map { $0.isFinite ? 0 : -1 } }
        let z = values.map { $0.isFinite ? ($0 - mean) / deviation : Float.nan }
        let floor = (z.filter(\.isFinite).min() ?? 0) - 1
        return z.map { $0.isFinite ? $0 : floor }
    }

    /// Each row of `values` ([rows · width]) scaled to unit length (zero rows stay zero).
    public static func unitRows(_ values: [Float], width: Int) -> [Float] {
        var result = values
        guard width > 0 else { return result }
        for row in 0..<(values.count / width) {
            var norm: Float = 0
            for column in 0..<width { norm += values[row * width + column] * values[row * width + column] }
            guard norm > 0 else { continue }
            let scale = 1 / norm.squareRoot()
            for column in 0..<width { result[row * width + column] *= scale }
        }
        return result
    }
}
