#include "CKernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* The cache row that slot `slot` of a query row reads: the shared prefix [0, prefix), then the row's
   own positions from `own` on. */
static inline size_t cache_row(size_t slot, size_t prefix, size_t own) { return slot < prefix ? slot : own + slot - prefix; }

static void attention_portable(const float *q, const float *keys, const float *values, size_t kv_width, size_t head_dim,
                               size_t group, size_t prefix, size_t own, size_t visible, size_t head_begin, size_t head_end,
                               float scale, float *scores, float *out) {
    for (size_t head = head_begin; head < head_end; head++) {
        const size_t offset = head / group * head_dim;
        const float *query = q + head * head_dim;
        float maximum = -INFINITY;
        for (size_t slot = 0; slot < visible; slot++) {
            const float *key = keys + cache_row(slot, prefix, own) * kv_width + offset;
            float dot = 0;
            for (size_t i = 0; i < head_dim; i++) dot += query[i] * key[i];
            scores[slot] = dot * scale;
            if (scores[slot] > maximum) maximum = scores[slot];
        }
        float sum = 0;
        for (size_t slot = 0; slot < visible; slot++) {
            scores[slot] = expf(scores[slot] - maximum);
            sum += scores[slot];
        }
        float *target = out + head * head_dim;
        for (size_t i = 0; i < head_dim; i++) target[i] = 0;
        for (size_t slot = 0; slot < visible; slot++) {
            const float *value = values + cache_row(slot, prefix, own) * kv_width + offset;
            const float weight = scores[slot] / sum;
            for (size_t i = 0; i < head_dim; i++) target[i] += weight * value[i];
        }
    }
}

#if defined(__x86_64__)
#define ATTENTION_TARGET "avx2,fma"

__attribute__((target(ATTENTION_TARGET)))
static inline float sum_lanes(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* e^x for x ≤ 0 in eight lanes (Cephes' expf: x = n ln 2 + r with |r| ≤ ln 2 / 2, a degree-5
   polynomial for e^r, 2^n through the exponent bits); relative error below 2e-7. Lanes under
   -87.3 (e^x below FLT_MIN) give 0. */
__attribute__((target(ATTENTION_TARGET)))
static inline __m256 exp_nonpositive(__m256 x) {
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

/* Softmax numerators e^(s - max) in place over `count` scores; returns their sum. */
__attribute__((target(ATTENTION_TARGET)))
static float exponentiate(float *scores, size_t count, float maximum) {
    const __m256 shift = _mm256_set1_ps(maximum);
    __m256 total = _mm256_setzero_ps();
    size_t slot = 0;
    for (; slot + 8 <= count; slot += 8) {
        const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(scores + slot), shift));
        _mm256_storeu_ps(scores + slot, e);
        total = _mm256_add_ps(total, e);
    }
    float sum = sum_lanes(total);
    for (; slot < count; slot++) {
        scores[slot] = expf(scores[slot] - maximum);
        sum += scores[slot];
    }
    return sum;
}

__attribute__((target(ATTENTION_TARGET)))
static float dot_avx2(const float *a, const float *b, size_t count) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= count; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = sum_lanes(_mm256_add_ps(s0, s1));
    for (; i < count; i++) sum += a[i] * b[i];
    return sum;
}

/* target[0..<count] += weight · value[0..<count]. */
__attribute__((target(ATTENTION_TARGET)))
static inline void add_scaled(float *target, const float *value, float weight, size_t count) {
    const __m256 w = _mm256_set1_ps(weight);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(target + i, _mm256_fmadd_ps(w, _mm256_loadu_ps(value + i), _mm256_loadu_ps(target + i)));
    for (; i < count; i++) target[i] += weight * value[i];
}

__attribute__((target(ATTENTION_TARGET)))
static void attention_avx2(const float *q, const float *keys, const float *values, size_t kv_width, size_t head_dim,
                           size_t group, size_t prefix, size_t own, size_t visible, size_t head_begin, size_t head_end,
                           float scale, float *scores, float *out) {
    for (size_t head = head_begin; head < head_end; head++) {
        const size_t offset = head / group * head_dim;
        const float *query = q + head * head_dim;
        float maximum = -INFINITY;
        for (size_t slot = 0; slot < visible; slot++) {
            const float score = dot_avx2(query, keys + cache_row(slot, prefix, own) * kv_width + offset, head_dim) * scale;
            scores[slot] = score;
            maximum = score > maximum ? score : maximum;
        }
        const float inverse = 1 / exponentiate(scores, visible, maximum);
        float *target = out + head * head_dim;
        for (size_t i = 0; i < head_dim; i++) target[i] = 0;
        for (size_t slot = 0; slot < visible; slot++) {
            add_scaled(target, values + cache_row(slot, prefix, own) * kv_width + offset, scores[slot], head_dim);
        }
        const __m256 normaliser = _mm256_set1_ps(inverse);
        size_t i = 0;
        for (; i + 8 <= head_dim; i += 8) _mm256_storeu_ps(target + i, _mm256_mul_ps(normaliser, _mm256_loadu_ps(target + i)));
        for (; i < head_dim; i++) target[i] *= inverse;
    }
}

static int attention_vectorized(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#endif

void llmrec_attention_row(const float *q, const float *keys, const float *values, size_t kv_width, size_t head_dim,
                          size_t group, size_t prefix, size_t own, size_t visible, size_t head_begin, size_t head_end,
                          float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (attention_vectorized()) {
        attention_avx2(q, keys, values, kv_width, head_dim, group, prefix, own, visible, head_begin, head_end, scale, scores, out);
        return;
    }
#endif
    attention_portable(q, keys, values, kv_width, head_dim, group, prefix, own, visible, head_begin, head_end, scale, scores, out);
}
