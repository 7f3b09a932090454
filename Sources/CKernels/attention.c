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

/* Four scores at once: the dots of `query` with four key rows (independent accumulators, one
   horizontal reduction for the four), each times `scale`. */
__attribute__((target(ATTENTION_TARGET)))
static void four_scores(const float *query, const float *k0, const float *k1, const float *k2, const float *k3, size_t head_dim,
                        float scale, float *scores) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 8 <= head_dim; i += 8) {
        const __m256 q = _mm256_loadu_ps(query + i);
        a0 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k0 + i), a0);
        a1 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k1 + i), a1);
        a2 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k2 + i), a2);
        a3 = _mm256_fmadd_ps(q, _mm256_loadu_ps(k3 + i), a3);
    }
    /* [a0 a1 a2 a3] lane sums: two rounds of pairwise adds, then the two 128-bit halves. */
    const __m256 pairs = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m128 sums = _mm_add_ps(_mm256_castps256_ps128(pairs), _mm256_extractf128_ps(pairs, 1));
    float rest[4] = {0, 0, 0, 0};
    for (; i < head_dim; i++) {
        rest[0] += query[i] * k0[i];
        rest[1] += query[i] * k1[i];
        rest[2] += query[i] * k2[i];
        rest[3] += query[i] * k3[i];
    }
    sums = _mm_add_ps(sums, _mm_loadu_ps(rest));
    _mm_storeu_ps(scores, _mm_mul_ps(sums, _mm_set1_ps(scale)));
}

/* target[0..<8·VECTORS] = Σ_slot weights[slot] · (value row of slot)[column..<column + 8·VECTORS], the
   sums held in registers across all slots. */
#define DEFINE_WEIGHTED_SUM(NAME, VECTORS)                                                                  \
    __attribute__((target(ATTENTION_TARGET)))                                                              \
    static void NAME(const float *values, size_t kv_width, size_t column, size_t prefix, size_t own, size_t visible, \
                     const float *weights, float *target) {                                                \
        __m256 sum[VECTORS];                                                                              \
        for (int v = 0; v < VECTORS; v++) sum[v] = _mm256_setzero_ps();                                   \
        for (size_t slot = 0; slot < visible; slot++) {                                                   \
            const float *value = values + cache_row(slot, prefix, own) * kv_width + column;              \
            const __m256 weight = _mm256_set1_ps(weights[slot]);                                          \
            for (int v = 0; v < VECTORS; v++) sum[v] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(value + 8 * v), sum[v]); \
        }                                                                                                 \
        for (int v = 0; v < VECTORS; v++) _mm256_storeu_ps(target + 8 * v, sum[v]);                       \
    }
DEFINE_WEIGHTED_SUM(weighted_sum64, 8)
DEFINE_WEIGHTED_SUM(weighted_sum8, 1)

__attribute__((target(ATTENTION_TARGET)))
static void attention_avx2(const float *q, const float *keys, const float *values, size_t kv_width, size_t head_dim,
                           size_t group, size_t prefix, size_t own, size_t visible, size_t head_begin, size_t head_end,
                           float scale, float *scores, float *out) {
    for (size_t head = head_begin; head < head_end; head++) {
        const size_t offset = head / group * head_dim;
        const float *query = q + head * head_dim;
        const float *base = keys + offset;
        size_t slot = 0;
        for (; slot + 4 <= visible; slot += 4) {
            four_scores(query, base + cache_row(slot, prefix, own) * kv_width, base + cache_row(slot + 1, prefix, own) * kv_width,
                        base + cache_row(slot + 2, prefix, own) * kv_width, base + cache_row(slot + 3, prefix, own) * kv_width, head_dim,
                        scale, scores + slot);
        }
        for (; slot < visible; slot++) {
            const float *key = base + cache_row(slot, prefix, own) * kv_width;
            float dot = 0;
            for (size_t i = 0; i < head_dim; i++) dot += query[i] * key[i];
            scores[slot] = dot * scale;
        }
        float maximum = -INFINITY;
        for (slot = 0; slot < visible; slot++) maximum = scores[slot] > maximum ? scores[slot] : maximum;
        const float inverse = 1 / exponentiate(scores, visible, maximum);
        for (slot = 0; slot < visible; slot++) scores[slot] *= inverse;
        float *target = out + head * head_dim;
        size_t column = 0;
        for (; column + 64 <= head_dim; column += 64) weighted_sum64(values, kv_width, offset + column, prefix, own, visible, scores, target + column);
        for (; column + 8 <= head_dim; column += 8) weighted_sum8(values, kv_width, offset + column, prefix, own, visible, scores, target + column);
        for (; column < head_dim; column++) {
            float sum = 0;
            for (slot = 0; slot < visible; slot++) sum += scores[slot] * values[cache_row(slot, prefix, own) * kv_width + offset + column];
            target[column] = sum;
        }
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
