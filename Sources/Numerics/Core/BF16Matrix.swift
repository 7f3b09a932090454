import CKernels

/// A Float32 weight matrix in PyTorch's Linear layout ([outFeatures, inFeatures]) packed once as
/// bfloat16 for the C kernel `llmrec_bf16_gemm`: products with Float32 inputs rounded to bfloat16
/// and Float32 sums, on AVX-512 BF16 (`vdpbf16ps`), about 1.7–1.9× the rate of OpenBLAS's sgemm on
/// one core of this machine. Inputs and weights keep 8 significant bits, so a product's relative
/// error is about 2⁻⁸/√inFeatures of its terms' size. Immutable.
public struct BF16Matrix: Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    private let packed: [UInt16]

    /// Whether this CPU has the instructions (AVX-512 BF16).
    public static var supported: Bool { llmrec_bf16_gemm_supported() != 0 }

    /// Packs `weight` [outFeatures, inFeatures]; nil when the CPU lacks AVX-512 BF16.
    public init?(weight: [Float], outFeatures: Int, inFeatures: Int) {
        guard Self.supported, weight.count == outFeatures * inFeatures else { return nil }
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        var packed = [UInt16](repeating: 0, count: llmrec_bf16_packed_count(outFeatures, inFeatures))
        weight.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { llmrec_bf16_pack_weights(w.baseAddress, outFeatures, inFeatures, $0.baseAddress) }
        }
        self.packed = packed
    }

    /// out[rows, outFeatures] = x[rows, inFeatures] · Wᵀ + bias, on the calling thread.
    public func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, rows: Int) {
        let status = packed.withUnsafeBufferPointer { llmrec_bf16_gemm(x, rows, inFeatures, $0.baseAddress, outFeatures, bias, out) }
        precondition(status == 0, "bf16 products failed (scratch allocation)")
    }
}
