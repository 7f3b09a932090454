#ifndef LLMREC_CKERNELS_H
#define LLMREC_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Quantised and 16-bit matrix-vector products over ggml's block layouts, with runtime CPU dispatch
/// (AVX2+FMA+F16C when the CPU has them, portable C otherwise).
///
/// y[r] = dot(row r of W, x) for r in 0..<rows, where W is stored row-major in `type`'s layout with
/// `columns` elements per row (a multiple of 32 for Q4_0 to Q8_0, of 256 for the K-quants), x is
/// float32[columns] and y is float32[rows]. Activations stay float32: blocks are dequantised on the fly.
/// The values are ggml's `ggml_type` ids; the kernels keep one table of formats (kernels.c).
typedef enum {
    LLMREC_WEIGHTS_F16 = 1,
    LLMREC_WEIGHTS_Q4_0 = 2,
    LLMREC_WEIGHTS_Q4_1 = 3,
    LLMREC_WEIGHTS_Q5_0 = 6,
    LLMREC_WEIGHTS_Q5_1 = 7,
    LLMREC_WEIGHTS_Q8_0 = 8,
    LLMREC_WEIGHTS_Q4_K = 12,
    LLMREC_WEIGHTS_Q5_K = 13,
    LLMREC_WEIGHTS_Q6_K = 14,
    LLMREC_WEIGHTS_BF16 = 30,
} llmrec_weight_type;

/// What the CPU offers the kernels, as bits of `llmrec_cpu_features()`.
enum {
    LLMREC_CPU_AVX2_FMA = 1,
    LLMREC_CPU_F16C = 2,
    LLMREC_CPU_AVX512_VNNI = 4,
    LLMREC_CPU_AVX512_BF16 = 8,
    /// AVX-512 F, CD, BW, DQ and VL: what OpenBLAS's SkylakeX kernels need.
    LLMREC_CPU_AVX512_CORE = 16,
};

/// The CPU features every kernel dispatches on, probed once (the one probe of CKernels); 0 off x86-64.
unsigned llmrec_cpu_features(void);

/// OpenBLAS, opened on first use (blas.c): when OPENBLAS_CORETYPE is unset it is first set to the
/// core `llmrec_cpu_features` supports (SkylakeX with AVX-512, Haswell with AVX2 and FMA), since
/// Debian's OpenBLAS 0.3.21 falls back to SSE3 kernels on CPUs its table lacks. Row-major CBLAS
/// sgemm (C = alpha · op(A) · op(B) + beta · C) and sgemv (y = alpha · op(A) · x + beta · y, unit
/// strides); a transpose flag is 0 or 1. A missing library aborts with a message. Thread-safe.
void llmrec_sgemm(int transpose_a, int transpose_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
                  float beta, float *c, int ldc);
void llmrec_sgemv(int transpose, int m, int n, float alpha, const float *a, int lda, const float *x, float beta, float *y);
/// OpenBLAS's thread count (process-wide).
void llmrec_blas_set_threads(int count);
/// The name of the kernels OpenBLAS chose ("SkylakeX", "Haswell", ...).
const char *llmrec_blas_core(void);
/// The kernels named to OpenBLAS when OPENBLAS_CORETYPE is unset ("SkylakeX", "Haswell"); NULL
/// leaves the choice to OpenBLAS.
const char *llmrec_blas_core_for_this_cpu(void);

/// glibc's allocator keeps freed blocks of up to 32 MiB in its heap and never trims the heap (no
/// effect elsewhere); see `AllocatorTuning` in Numerics.
void llmrec_keep_large_blocks_in_heap(void);

/// Bytes one row of `columns` elements takes in `type`; 0 for an unsupported type or a column
/// count that is not a multiple of the block size.
size_t llmrec_row_bytes(llmrec_weight_type type, size_t columns);

/// y = W x for rows [row_begin, row_end). Returns 0, or -1 for an unsupported type.
int llmrec_gemv(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin, size_t row_end,
                const float *x, float *y);

/// `llmrec_gemv` with the vector path allowed only when `level` > 0 (0: portable C), for tests that
/// compare the paths on one host.
int llmrec_gemv_at_level(int level, llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin,
                         size_t row_end, const float *x, float *y);

/// Dequantises rows [row_begin, row_end) into `out` (float32, row-major, `columns` per row), equal bit
/// for bit to ggml's `dequantize_row_*`. Returns 0, or -1 for an unsupported type.
int llmrec_dequantize_rows(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin,
                           size_t row_end, float *out);

/// Quantises rows of float32 (`columns` a multiple of 32) to Q8_0 as ggml's reference quantiser does:
/// per block of 32, d = max|x| / 127 (stored as f16), q = round(x / d). `out` holds
/// rows * llmrec_row_bytes(Q8_0, columns) bytes. Returns 0, or -1 when columns is not a multiple of 32.
int llmrec_quantize_q8_0(const float *x, size_t rows, size_t columns, void *out);

/// Activations quantised for the integer products: per block of 32 values, the scale d (x ≈ d · q),
/// the sum of the 32 q, and the q themselves (as llama.cpp's Q8_1). 40 bytes per block.
typedef struct {
    float d;
    int32_t sum;
    int8_t qs[32];
} llmrec_q8_activation;

/// Quantises `columns` floats (a multiple of 32) into columns / 32 activation blocks with
/// d = max|x| / 127 and q = round(x / d). Returns 0, or -1 when columns is not a multiple of 32.
int llmrec_quantize_activation(const float *x, size_t columns, llmrec_q8_activation *out);

/// y = W x for rows [row_begin, row_end) with x given as quantised activations: the block products
/// are integer dot products (AVX-512 VNNI, else AVX2, else portable C), scaled per block of 32 (per
/// 16 for Q6_K). Every block type (not F16 or BF16). Returns 0, or -1 for another type.
int llmrec_gemv_q8(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin, size_t row_end,
                   const llmrec_q8_activation *x, float *y);

/// `llmrec_gemv_q8` at `level` (0: portable C, 1: AVX2, 2: AVX-512 VNNI), lowered to the CPU's level;
/// for tests that compare the paths on one host.
int llmrec_gemv_q8_at_level(int level, llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin,
                            size_t row_end, const llmrec_q8_activation *x, float *y);

/// y[i · ldy + r] = Σ_k x[i · columns + k] · W[r, k] for the m rows of x and the weight rows
/// [row_begin, row_end), with Float32 activations: each weight row is dequantised once (as
/// `llmrec_dequantize_rows`) and multiplied with every row of x (AVX2: two weight rows against four
/// activation rows at a time). For prompts of a few rows, where dequantising tiles for a GEMM costs
/// as much as the products. Returns 0, or -1 for a type it cannot read or when memory runs out.
int llmrec_gemm_rows(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin, size_t row_end,
                     const float *x, size_t m, float *y, size_t ldy);

/// `llmrec_gemm_rows` with the AVX2 products at `level` 1 (where the CPU has AVX2) or the portable C
/// ones at 0; for tests that compare the paths on one host.
int llmrec_gemm_rows_at_level(int level, llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin,
                              size_t row_end, const float *x, size_t m, float *y, size_t ldy);

/// 1 when `llmrec_gemv_q8` supports `type`.
int llmrec_gemv_q8_supports(llmrec_weight_type type);

/// 2 when the integer products use AVX-512 VNNI, 1 for AVX2, 0 for portable C.
int llmrec_integer_kernel_level(void);

/// Attention of one query row over a key/value cache, for query heads [head_begin, head_end):
/// out[head] = softmax(scale · q[head] · Kᵀ) · V over `visible` slots, where slot s reads cache
/// position s for s < prefix (a shared prefix) and position own + s − prefix after it (the row's own
/// positions, as in a branch of several continuations). Query head h reads kv head h / group, whose
/// `head_dim` values for position p start at (h / group) · head_stride + p · position_stride floats
/// into `keys` and `values` (float32; head-major caches: position_stride = head_dim, head_stride =
/// capacity · head_dim). q and out are float32 [heads · head_dim]; `scores` holds at least `visible`
/// floats of scratch. AVX2+FMA when the CPU has them (exponentials by polynomial, relative error
/// below 2e-7), portable C otherwise.
void llmrec_attention_row(const float *q, const float *keys, const float *values, size_t position_stride, size_t head_stride,
                          size_t head_dim, size_t group, size_t prefix, size_t own, size_t visible, size_t head_begin, size_t head_end,
                          float scale, float *scores, float *out);

/// Matrix products in bfloat16 with float32 sums (AVX-512 BF16 `vdpbf16ps`, twice the multiply rate
/// of float32 FMA): C[m, n] = A[m, k] · Wᵀ + bias, where W [n, k] is packed once by
/// `llmrec_bf16_pack_weights` and A is rounded to bf16 (nearest even) as it is read. Single-threaded.

/// uint16 elements the packed form of an [n, k] matrix takes.
size_t llmrec_bf16_packed_count(size_t n, size_t k);

/// Packs W [n, k] float32 row-major (PyTorch's Linear layout) into `packed`, rounding to bf16.
void llmrec_bf16_pack_weights(const float *w, size_t n, size_t k, uint16_t *packed);

/// out[0..<k] = row `row` of the packed [n, k] matrix, its bfloat16 values as float32.
void llmrec_bf16_unpack_row(const uint16_t *packed, size_t n, size_t k, size_t row, float *out);

/// 1 when the CPU has AVX-512 BF16 (without it `llmrec_bf16_gemm` refuses).
int llmrec_bf16_gemm_supported(void);

/// C[m, n] (row-major, overwritten) = A[m, k] · Wᵀ + bias (nil: none). Returns 0, or -1 when the CPU
/// lacks AVX-512 BF16 or scratch cannot be allocated.
int llmrec_bf16_gemm(const float *a, size_t m, size_t k, const uint16_t *packed, size_t n, const float *bias, float *c);

/// Packed panels (32 output columns each) of an [n, k] matrix.
size_t llmrec_bf16_panel_count(size_t n);

/// `llmrec_bf16_gemm` on the output columns of panels [first_panel, end_panel) only, so that threads
/// can share a product by panels; with `accumulate` the product (plus bias) is added to C's values
/// instead of replacing them.
int llmrec_bf16_gemm_panels(const float *a, size_t m, size_t k, const uint16_t *packed, size_t n, const float *bias, float *c,
                            int accumulate, size_t first_panel, size_t end_panel);

/// out[i] = GELU(x[i]) = x · (1 + erf(x / √2)) / 2, PyTorch's exact form, with erf from a Chebyshev
/// fit (absolute error below 4e-7); AVX2+FMA when the CPU has them. `out` may be `x`.
void llmrec_gelu(const float *x, float *out, size_t count);

/// In place: row[0..<count] = softmax(row[0..<count]), exponentials by polynomial on AVX2+FMA
/// (relative error below 2e-7).
void llmrec_softmax(float *row, size_t count);

/// LayerNorm per row of x [rows, dim]: out = (x − mean) · rstd · gamma + beta with the population
/// variance, rstd = 1 / √(variance + eps); mean and rstd [rows] are written for a backward pass.
/// `out` must not overlap `x`.
void llmrec_layer_norm(const float *x, const float *gamma, const float *beta, size_t rows, size_t dim, float eps, float *out, float *mean,
                       float *rstd);

/// A spin-wait hint to the CPU (x86 `pause`), for worker threads waiting on a flag.
static inline void llmrec_cpu_relax(void) {
#if defined(__x86_64__)
    __asm__ __volatile__("pause");
#endif
}

/// 1 when the vectorised path is in use (for benchmarks and logs).
int llmrec_kernels_vectorized(void);

#endif
