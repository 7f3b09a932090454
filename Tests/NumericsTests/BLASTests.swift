import Foundation
import Numerics
import Testing

/// OpenBLAS is opened with the kernels this CPU supports: Debian's 0.3.21 would otherwise pick its
/// SSE3 kernels on CPUs its table lacks. A product through the wrappers is checked too.
@Suite struct BLASTests {
    @Test func openBLASRunsTheKernelsThisCPUSupports() {
        let requested = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].flatMap { $0.isEmpty ? nil : $0 } ?? BLAS.coreForThisCPU
        guard let requested else { return }
        #expect(BLAS.core.lowercased() == requested.lowercased(), "OpenBLAS runs \(BLAS.core), not \(requested)")
        #expect(BLAS.core.lowercased() != "prescott")
    }

    @Test func productsAndSingleRowsMatchTheWrittenOutSums() {
        let (m, n, k) = (3, 5, 7)
        let a = (0..<(m * k)).map { Float($0 % 5) - 2 }
        let b = (0..<(k * n)).map { Float($0 % 3) - 1 }
        var c = [Float](repeating: 1, count: m * n)
        BLAS.gemm(m: m, n: n, k: k, alpha: 2, a: a, lda: k, b: b, ldb: n, beta: 0.5, c: &c, ldc: n)
        var row = [Float](repeating: 0, count: n)
        BLAS.gemm(m: 1, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &row, ldc: n)
        for i in 0..<m {
            for j in 0..<n {
                let sum = (0..<k).reduce(Float(0)) { $0 + a[i * k + $1] * b[$1 * n + j] }
                #expect(c[i * n + j] == 2 * sum + 0.5)
                if i == 0 { #expect(row[j] == sum) }
            }
        }
    }
}
