#include "CKernels.h"

#include "vector_math.h"

/* The cache row that slot `slot` of a query row reads: the shared prefix [0, prefix), then the row's
   own positions from `own` on. */
static inline size_t cache_row(size_t slot, size_t prefix, size_t own) { return slot < prefix ? slot : own + slot - prefix; }

static void attention_portable(const float *q, const float *keys, const float *values, size_t position_stride, size_t head_stride,
                               size_t head_dim, size_t group, size_t prefix, size_t own, size_t visible, size_t head_begin, size_t head_end,
                               float scale, float *scores, float *out) {
    for (size_t head = head_begin; head < head_end; head++) {
        const size_t offset = head / group * head_stride;
        const float *query = q + head * head_dim;
        for (size_t slot = 0; slot < visible; slot++) {
            const float *key = keys + cache_row(slot, prefix, own) * position_stride + offset;
            float dot = 0;
            for (size_t i = 0; i < head_dim; i++) dot += query[i] * key[i];
            scores[slot] = dot * scale;
        }
        llmrec_softmax(scores, visible);
        float *target = out + head * head_dim;
        for (size_t i = 0; i < head_dim; i++) target[i] = 0;
        for (size_t slot = 0; slot < visible; slot++) {
            const float *value = values + cache_row(slot, prefix, own) * position_stride + offset;
            for (size_t i = 0; i < head_dim; i++) target[i] += scores[slot] * value[i];
        }
    }
}

#if defined(__x86_64__)
/* Four scores at once: the dots of `query` with four key rows (independent accumulators, one
   horizontal reduction for the four), each times `scale`. */
__attribute__((target(LLMREC_AVX2_TARGET)))
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
    __attribute__((target(LLMREC_AVX2_TARGET)))                                                              \
    static void NAME(const float *values, size_t position_stride, size_t column, size_t prefix, size_t own, size_t visible, \
                     const float *weights, float *target) {                                                \
        __m256 sum[VECTORS];                                                                              \
        for (int v = 0; v < VECTORS; v++) sum[v] = _mm256_setzero_ps();                                   \
        for (size_t slot = 0; slot < visible; slot++) {                                                   \
            const float *value = values + cache_row(slot, prefix, own) * position_stride + column;              \
            const __m256 weight = _mm256_set1_ps(weights[slot]);                                          \
            for (int v = 0; v < VECTORS; v++) sum[v] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(value + 8 * v), sum[v]); \
        }                                                                                                 \
        for (int v = 0; v < VECTORS; v++) _mm256_storeu_ps(target + 8 * v, sum[v]);                       \
    }
DEFINE_WEIGHTED_SUM(weighted_sum64, 8)
DEFINE_WEIGHTED_SUM(weighted_sum8, 1)

__attribute__((target(LLMREC_AVX2_TARGET)))
static void attention_avx2(const float *q, const float *keys, const float *values, size_t position_stride, size_t head_stride,
                           size_t head_dim, size_t group, size_t prefix, size_t own, size_t visible, size_t head_begin, size_t head_end,
                           float scale, float *scores, float *out) {
    for (size_t head = head_begin; head < head_end; head++) {
        const size_t offset = head / group * head_stride;
        const float *query = q + head * head_dim;
        const float *base = keys + offset;
        size_t slot = 0;
        for (; slot + 4 <= visible; slot += 4) {
            four_scores(query, base + cache_row(slot, prefix, own) * position_stride,
                        base + cache_row(slot + 1, prefix, own) * position_stride,
                        base + cache_row(slot + 2, prefix, own) * position_stride,
                        base + cache_row(slot + 3, prefix, own) * position_stride, head_dim, scale, scores + slot);
        }
        for (; slot < visible; slot++) {
            const float *key = base + cache_row(slot, prefix, own) * position_stride;
            float dot = 0;
            for (size_t i = 0; i < head_dim; i++) dot += query[i] * key[i];
            scores[slot] = dot * scale;
        }
        llmrec_softmax_avx2(scores, visible);
        float *target = out + head * head_dim;
        size_t column = 0;
        for (; column + 64 <= head_dim; column += 64) {
            weighted_sum64(values, position_stride, offset + column, prefix, own, visible, scores, target + column);
        }
        for (; column + 8 <= head_dim; column += 8) {
            weighted_sum8(values, position_stride, offset + column, prefix, own, visible, scores, target + column);
        }
        for (; column < head_dim; column++) {
            float sum = 0;
            for (slot = 0; slot < visible; slot++) {
                sum += scores[slot] * values[cache_row(slot, prefix, own) * position_stride + offset + column];
            }
            target[column] = sum;
        }
    }
}

#endif

void llmrec_attention_row(const float *q, const float *keys, const float *values, size_t position_stride, size_t head_stride,
                          size_t head_dim, size_t group, size_t prefix, size_t own, size_t visible, size_t head_begin, size_t head_end,
                          float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (llmrec_has_avx2_fma()) {
        attention_avx2(q, keys, values, position_stride, head_stride, head_dim, group, prefix, own, visible, head_begin, head_end, scale,
                       scores, out);
        return;
    }
#endif
    attention_portable(q, keys, values, position_stride, head_stride, head_dim, group, prefix, own, visible, head_begin, head_end, scale,
                       scores, out);
}
