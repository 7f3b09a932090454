/* Vector helpers shared by the kernels' AVX2 paths (internal to CKernels). */
#ifndef LLMREC_VECTOR_MATH_H
#define LLMREC_VECTOR_MATH_H

#include <math.h>
#include <stddef.h>

#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LLMREC_AVX2_TARGET "avx2,fma"

__attribute__((target(LLMREC_AVX2_TARGET)))
static inline float llmrec_sum_lanes(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* e^x in eight lanes for x ≤ 88 (Cephes' expf: x = n ln 2 + r with |r| ≤ ln 2 / 2, a polynomial for
   e^r, 2^n through the exponent bits); relative error below 2e-7. Lanes under -87.3 (e^x below
   FLT_MIN) give 0. */
__attribute__((target(LLMREC_AVX2_TARGET)))
static inline __m256 llmrec_exp8(__m256 x) {
    const __m256 floor_value = _mm256_set1_ps(-87.3f);
    const __m256 underflow = _mm256_cmp_ps(x, floor_value, _CMP_LT_OQ);
    x = _mm256_max_ps(x, floor_value);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1)));
    const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(exponent)));
}

/* In place: row[0..<count] = softmax(row[0..<count]) (count ≥ 1). */
__attribute__((target(LLMREC_AVX2_TARGET)))
static inline void llmrec_softmax_avx2(float *row, size_t count) {
    __m256 maxima = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) maxima = _mm256_max_ps(maxima, _mm256_loadu_ps(row + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(maxima), _mm256_extractf128_ps(maxima, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    float maximum = _mm_cvtss_f32(m4);
    for (; i < count; i++) maximum = row[i] > maximum ? row[i] : maximum;
    const __m256 shift = _mm256_set1_ps(maximum);
    __m256 total = _mm256_setzero_ps();
    for (i = 0; i + 8 <= count; i += 8) {
        const __m256 e = llmrec_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), shift));
        _mm256_storeu_ps(row + i, e);
        total = _mm256_add_ps(total, e);
    }
    float sum = llmrec_sum_lanes(total);
    for (; i < count; i++) {
        row[i] = expf(row[i] - maximum);
        sum += row[i];
    }
    const __m256 inverse = _mm256_set1_ps(1 / sum);
    for (i = 0; i + 8 <= count; i += 8) _mm256_storeu_ps(row + i, _mm256_mul_ps(inverse, _mm256_loadu_ps(row + i)));
    for (; i < count; i++) row[i] *= 1 / sum;
}

/* 1 when the CPU has AVX2 and FMA (from the one probe, llmrec_cpu_features). */
static inline int llmrec_has_avx2_fma(void) { return (llmrec_cpu_features() & LLMREC_CPU_AVX2_FMA) != 0; }
#endif

#endif
