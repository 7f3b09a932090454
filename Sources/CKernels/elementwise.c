#include "CKernels.h"

#include <math.h>

#include "vector_math.h"

/* erf by Numerical Recipes' Chebyshev fit of erfc (fractional error below 1.2e-7), the same fit as
   the Swift `GELU.erf`. */
static float erf_portable(float x) {
    const float z = fabsf(x), t = 1 / (1 + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    const float complement = t * expf(-z * z - 1.26551223f + t * p);
    return x < 0 ? complement - 1 : 1 - complement;
}

#if defined(__x86_64__)
__attribute__((target(LLMREC_AVX2_TARGET)))
static __m256 erf8(__m256 x) {
    const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
    const __m256 z = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1), _mm256_fmadd_ps(_mm256_set1_ps(0.5f), z, _mm256_set1_ps(1)));
    __m256 p = _mm256_set1_ps(0.17087277f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
    const __m256 exponent = _mm256_fmadd_ps(t, p, _mm256_fnmadd_ps(z, z, _mm256_set1_ps(-1.26551223f)));
    const __m256 complement = _mm256_mul_ps(t, llmrec_exp8(exponent));
    return _mm256_or_ps(sign, _mm256_sub_ps(_mm256_set1_ps(1), complement));
}

/* GELU over whole groups of eight; returns how many values it wrote. */
__attribute__((target(LLMREC_AVX2_TARGET)))
static size_t gelu_avx2(const float *x, float *out, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 value = _mm256_loadu_ps(x + i);
        const __m256 erf = erf8(_mm256_mul_ps(value, _mm256_set1_ps(0.70710677f)));
        const __m256 cdf = _mm256_fmadd_ps(_mm256_set1_ps(0.5f), erf, _mm256_set1_ps(0.5f));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(value, cdf));
    }
    return i;
}
#endif

void llmrec_gelu(const float *x, float *out, size_t count) {
    size_t i = 0;
#if defined(__x86_64__)
    if (llmrec_has_avx2_fma()) i = gelu_avx2(x, out, count);
#endif
    for (; i < count; i++) out[i] = 0.5f * x[i] * (1 + erf_portable(x[i] * 0.70710677f));
}

void llmrec_softmax(float *row, size_t count) {
    if (count == 0) return;
#if defined(__x86_64__)
    if (llmrec_has_avx2_fma()) {
        llmrec_softmax_avx2(row, count);
        return;
    }
#endif
    float maximum = row[0];
    for (size_t i = 1; i < count; i++) maximum = row[i] > maximum ? row[i] : maximum;
    float sum = 0;
    for (size_t i = 0; i < count; i++) {
        row[i] = expf(row[i] - maximum);
        sum += row[i];
    }
    for (size_t i = 0; i < count; i++) row[i] /= sum;
}

#if defined(__x86_64__)
/* One row of LayerNorm (two passes: mean, then the centred squares), eight lanes at a time. */
__attribute__((target(LLMREC_AVX2_TARGET)))
static void layer_norm_row_avx2(const float *x, const float *gamma, const float *beta, size_t dim, float eps, float *out, float *mean,
                                float *rstd) {
    __m256 sums = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) sums = _mm256_add_ps(sums, _mm256_loadu_ps(x + i));
    float sum = llmrec_sum_lanes(sums);
    for (; i < dim; i++) sum += x[i];
    const float mu = sum / (float)dim;
    const __m256 centre = _mm256_set1_ps(mu);
    __m256 squares = _mm256_setzero_ps();
    for (i = 0; i + 8 <= dim; i += 8) {
        const __m256 centred = _mm256_sub_ps(_mm256_loadu_ps(x + i), centre);
        squares = _mm256_fmadd_ps(centred, centred, squares);
    }
    float variance = llmrec_sum_lanes(squares);
    for (; i < dim; i++) variance += (x[i] - mu) * (x[i] - mu);
    const float inverse = 1 / sqrtf(variance / (float)dim + eps);
    *mean = mu;
    *rstd = inverse;
    const __m256 scale = _mm256_set1_ps(inverse);
    for (i = 0; i + 8 <= dim; i += 8) {
        const __m256 normed = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), centre), scale);
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(normed, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
    }
    for (; i < dim; i++) out[i] = (x[i] - mu) * inverse * gamma[i] + beta[i];
}
#endif

void llmrec_layer_norm(const float *x, const float *gamma, const float *beta, size_t rows, size_t dim, float eps, float *out, float *mean,
                       float *rstd) {
    for (size_t row = 0; row < rows; row++) {
        const float *line = x + row * dim;
        float *target = out + row * dim;
#if defined(__x86_64__)
        if (llmrec_has_avx2_fma()) {
            layer_norm_row_avx2(line, gamma, beta, dim, eps, target, mean + row, rstd + row);
            continue;
        }
#endif
        float sum = 0;
        for (size_t i = 0; i < dim; i++) sum += line[i];
        const float mu = sum / (float)dim;
        float variance = 0;
        for (size_t i = 0; i < dim; i++) variance += (line[i] - mu) * (line[i] - mu);
        const float inverse = 1 / sqrtf(variance / (float)dim + eps);
        mean[row] = mu;
        rstd[row] = inverse;
        for (size_t i = 0; i < dim; i++) target[i] = (line[i] - mu) * inverse * gamma[i] + beta[i];
    }
}
