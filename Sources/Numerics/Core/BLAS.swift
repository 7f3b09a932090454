import CKernels

/// Thin, row-major wrappers over OpenBLAS, which CKernels opens on first use with the kernels this
/// CPU supports (`llmrec_sgemm`). Debian's OpenBLAS 0.3.21 runs `sgemm` with one row at a tenth of
/// `sgemv`'s speed, so `gemm` forwards single-row products to `sgemv`.
public enum BLAS {
    /// C[m, n] = alpha · op(A) · op(B) + beta · C, row-major.
    /// op(A) is [m, k]: A is stored [m, k] (lda ≥ k), or [k, m] when `transposeA` (lda ≥ m).
    /// op(B) is [k, n]: B is stored [k, n] (ldb ≥ n), or [n, k] when `transposeB` (ldb ≥ k).
    @inlinable
    public static func gemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for row in 0..<m { for column in 0..<n { c[row * ldc + column] *= beta } }
            return
        }
        if m == 1 && !transposeA {
            // y[n] = alpha · op(B)ᵀ-shaped product with the single row of A.
            if transposeB {
                llmrec_sgemv(0, Int32(n), Int32(k), alpha, b, Int32(ldb), a, beta, c)
            } else {
                llmrec_sgemv(1, Int32(k), Int32(n), alpha, b, Int32(ldb), a, beta, c)
            }
            return
        }
        llmrec_sgemm(
            transposeA ? 1 : 0, transposeB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Sets OpenBLAS's thread count; process-wide, call once before any BLAS work.
    public static func setThreads(_ count: Int) {
        llmrec_blas_set_threads(Int32(max(1, count)))
    }

    /// The kernels OpenBLAS runs on this host ("SkylakeX", "Haswell", ...), for benchmark reports.
    public static var core: String { String(cString: llmrec_blas_core()) }

    /// The kernels CKernels names to OpenBLAS for this CPU when OPENBLAS_CORETYPE is unset; nil
    /// leaves OpenBLAS's own choice.
    public static var coreForThisCPU: String? { llmrec_blas_core_for_this_cpu().map { String(cString: $0) } }
}
