#include "CKernels.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ggml block layouts (ggml-common.h): 32 elements per block. */
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;           /* x = d * q */
typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;          /* x = d * (q - 8); low nibbles 0..15, high 16..31 */
typedef struct { uint16_t d; uint16_t m; uint8_t qs[16]; } block_q4_1; /* x = d * q + m */

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exponent = 127 - 15 + 1;
            while ((mantissa & 0x400) == 0) { mantissa <<= 1; exponent--; }
            mantissa &= 0x3FF;
            bits = sign | (exponent << 23) | (mantissa << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* float32 -> IEEE half, round to nearest even (finite inputs in half range: quantiser scales). */
static uint16_t float_to_half(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t sign = (bits >> 16) & 0x8000;
    int32_t exponent = (int32_t)((bits >> 23) & 0xFF) - 127 + 15;
    uint32_t mantissa = bits & 0x7FFFFF;
    if (exponent <= 0) {
        if (exponent < -10) return (uint16_t)sign;
        mantissa |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exponent);
        uint32_t half = mantissa >> shift;
        uint32_t remainder = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (remainder > halfway || (remainder == halfway && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    if (exponent >= 31) return (uint16_t)(sign | 0x7C00);
    uint32_t half = sign | ((uint32_t)exponent << 10) | (mantissa >> 13);
    uint32_t remainder = mantissa & 0x1FFF;
    if (remainder > 0x1000 || (remainder == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

static float bf16_to_float(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

size_t llmrec_row_bytes(llmrec_weight_type type, size_t columns) {
    switch (type) {
    case LLMREC_WEIGHTS_F16:
    case LLMREC_WEIGHTS_BF16: return columns * 2;
    case LLMREC_WEIGHTS_Q8_0: return columns % 32 ? 0 : columns / 32 * sizeof(block_q8_0);
    case LLMREC_WEIGHTS_Q4_0: return columns % 32 ? 0 : columns / 32 * sizeof(block_q4_0);
    case LLMREC_WEIGHTS_Q4_1: return columns % 32 ? 0 : columns / 32 * sizeof(block_q4_1);
    }
    return 0;
}

/* Dequantises one row into out[columns]. */
static void dequantize_row(llmrec_weight_type type, const uint8_t *row, size_t columns, float *out) {
    switch (type) {
    case LLMREC_WEIGHTS_F16:
        for (size_t i = 0; i < columns; i++) { uint16_t h; memcpy(&h, row + 2 * i, 2); out[i] = half_to_float(h); }
        break;
    case LLMREC_WEIGHTS_BF16:
        for (size_t i = 0; i < columns; i++) { uint16_t b; memcpy(&b, row + 2 * i, 2); out[i] = bf16_to_float(b); }
        break;
    case LLMREC_WEIGHTS_Q8_0:
        for (size_t b = 0; b < columns / 32; b++) {
            const block_q8_0 *block = (const block_q8_0 *)row + b;
            float d = half_to_float(block->d);
            for (int i = 0; i < 32; i++) out[b * 32 + i] = d * block->qs[i];
        }
        break;
    case LLMREC_WEIGHTS_Q4_0:
        for (size_t b = 0; b < columns / 32; b++) {
            const block_q4_0 *block = (const block_q4_0 *)row + b;
            float d = half_to_float(block->d);
            for (int i = 0; i < 16; i++) {
                out[b * 32 + i] = d * ((block->qs[i] & 0x0F) - 8);
                out[b * 32 + i + 16] = d * ((block->qs[i] >> 4) - 8);
            }
        }
        break;
    case LLMREC_WEIGHTS_Q4_1:
        for (size_t b = 0; b < columns / 32; b++) {
            const block_q4_1 *block = (const block_q4_1 *)row + b;
            float d = half_to_float(block->d), m = half_to_float(block->m);
            for (int i = 0; i < 16; i++) {
                out[b * 32 + i] = d * (block->qs[i] & 0x0F) + m;
                out[b * 32 + i + 16] = d * (block->qs[i] >> 4) + m;
            }
        }
        break;
    }
}

/* Portable dot products. */
static float dot_portable(llmrec_weight_type type, const uint8_t *row, size_t columns, const float *x) {
    float sum = 0;
    switch (type) {
    case LLMREC_WEIGHTS_Q8_0:
        for (size_t b = 0; b < columns / 32; b++) {
            const block_q8_0 *block = (const block_q8_0 *)row + b;
            float partial = 0;
            for (int i = 0; i < 32; i++) partial += block->qs[i] * x[b * 32 + i];
            sum += half_to_float(block->d) * partial;
        }
        return sum;
    case LLMREC_WEIGHTS_Q4_0:
        for (size_t b = 0; b < columns / 32; b++) {
            const block_q4_0 *block = (const block_q4_0 *)row + b;
            float partial = 0;
            for (int i = 0; i < 16; i++) {
                partial += ((block->qs[i] & 0x0F) - 8) * x[b * 32 + i] + ((block->qs[i] >> 4) - 8) * x[b * 32 + i + 16];
            }
            sum += half_to_float(block->d) * partial;
        }
        return sum;
    case LLMREC_WEIGHTS_Q4_1:
        for (size_t b = 0; b < columns / 32; b++) {
            const block_q4_1 *block = (const block_q4_1 *)row + b;
            float partial = 0, xsum = 0;
            for (int i = 0; i < 16; i++) {
                partial += (block->qs[i] & 0x0F) * x[b * 32 + i] + (block->qs[i] >> 4) * x[b * 32 + i + 16];
                xsum += x[b * 32 + i] + x[b * 32 + i + 16];
            }
            sum += half_to_float(block->d) * partial + half_to_float(block->m) * xsum;
        }
        return sum;
    case LLMREC_WEIGHTS_F16:
        for (size_t i = 0; i < columns; i++) { uint16_t h; memcpy(&h, row + 2 * i, 2); sum += half_to_float(h) * x[i]; }
        return sum;
    case LLMREC_WEIGHTS_BF16:
        for (size_t i = 0; i < columns; i++) { uint16_t b; memcpy(&b, row + 2 * i, 2); sum += bf16_to_float(b) * x[i]; }
        return sum;
    }
    return 0;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c")))
static inline float horizontal_sum(__m256 v) {
    __m128 low = _mm256_castps256_ps128(v), high = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(low, high);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma,f16c")))
static inline float half_avx(uint16_t h) { return _cvtsh_ss(h); }

/* Eight int8 or nibble values widened to float32. */
__attribute__((target("avx2,fma,f16c")))
static inline __m256 bytes_to_float(const uint8_t *bytes, int is_signed) {
    __m128i raw = _mm_loadl_epi64((const __m128i *)bytes);
    __m256i widened = is_signed ? _mm256_cvtepi8_epi32(raw) : _mm256_cvtepu8_epi32(raw);
    return _mm256_cvtepi32_ps(widened);
}

__attribute__((target("avx2,fma,f16c")))
static float dot_avx2(llmrec_weight_type type, const uint8_t *row, size_t columns, const float *x) {
    __m256 total = _mm256_setzero_ps();
    switch (type) {
    case LLMREC_WEIGHTS_Q8_0:
        for (size_t b = 0; b < columns / 32; b++) {
            const block_q8_0 *block = (const block_q8_0 *)row + b;
            const float *xs = x + b * 32;
            __m256 acc = _mm256_setzero_ps();
            for (int i = 0; i < 32; i += 8) {
                acc = _mm256_fmadd_ps(bytes_to_float((const uint8_t *)block->qs + i, 1), _mm256_loadu_ps(xs + i), acc);
            }
            total = _mm256_fmadd_ps(_mm256_set1_ps(half_avx(block->d)), acc, total);
        }
        break;
    case LLMREC_WEIGHTS_Q4_0:
    case LLMREC_WEIGHTS_Q4_1: {
        const __m256i low_mask = _mm256_set1_epi32(0x0F);
        for (size_t b = 0; b < columns / 32; b++) {
            const uint8_t *qs;
            float d, m = 0;
            if (type == LLMREC_WEIGHTS_Q4_0) {
                const block_q4_0 *block = (const block_q4_0 *)row + b;
                qs = block->qs; d = half_avx(block->d);
            } else {
                const block_q4_1 *block = (const block_q4_1 *)row + b;
                qs = block->qs; d = half_avx(block->d); m = half_avx(block->m);
            }
            const float *xs = x + b * 32;
            __m256 acc = _mm256_setzero_ps(), xsum = _mm256_setzero_ps();
            for (int i = 0; i < 16; i += 8) {
                __m256i packed = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qs + i)));
                __m256 low = _mm256_cvtepi32_ps(_mm256_and_si256(packed, low_mask));
                __m256 high = _mm256_cvtepi32_ps(_mm256_srli_epi32(packed, 4));
                __m256 x_low = _mm256_loadu_ps(xs + i), x_high = _mm256_loadu_ps(xs + i + 16);
                if (type == LLMREC_WEIGHTS_Q4_0) {
                    const __m256 eight = _mm256_set1_ps(8);
                    low = _mm256_sub_ps(low, eight);
                    high = _mm256_sub_ps(high, eight);
                }
                acc = _mm256_fmadd_ps(low, x_low, acc);
                acc = _mm256_fmadd_ps(high, x_high, acc);
                xsum = _mm256_add_ps(xsum, _mm256_add_ps(x_low, x_high));
            }
            total = _mm256_fmadd_ps(_mm256_set1_ps(d), acc, total);
            if (type == LLMREC_WEIGHTS_Q4_1) total = _mm256_fmadd_ps(_mm256_set1_ps(m), xsum, total);
        }
        break;
    }
    case LLMREC_WEIGHTS_F16: {
        size_t i = 0;
        for (; i + 8 <= columns; i += 8) {
            __m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
            total = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + i), total);
        }
        float rest = 0;
        for (; i < columns; i++) { uint16_t h; memcpy(&h, row + 2 * i, 2); rest += half_avx(h) * x[i]; }
        return horizontal_sum(total) + rest;
    }
    case LLMREC_WEIGHTS_BF16: {
        size_t i = 0;
        for (; i + 8 <= columns; i += 8) {
            __m256i bits = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * i))), 16);
            total = _mm256_fmadd_ps(_mm256_castsi256_ps(bits), _mm256_loadu_ps(x + i), total);
        }
        float rest = 0;
        for (; i < columns; i++) { uint16_t b; memcpy(&b, row + 2 * i, 2); rest += bf16_to_float(b) * x[i]; }
        return horizontal_sum(total) + rest;
    }
    }
    return horizontal_sum(total);
}
#endif

static int use_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return cached;
#else
    return 0;
#endif
}

int llmrec_kernels_vectorized(void) { return use_avx2(); }

int llmrec_quantize_q8_0(const float *x, size_t rows, size_t columns, void *out) {
    if (columns % 32) return -1;
    block_q8_0 *blocks = (block_q8_0 *)out;
    for (size_t r = 0; r < rows; r++) {
        for (size_t b = 0; b < columns / 32; b++) {
            const float *values = x + r * columns + b * 32;
            float amax = 0;
            for (int i = 0; i < 32; i++) { float a = values[i] < 0 ? -values[i] : values[i]; if (a > amax) amax = a; }
            float d = amax / 127.0f;
            float inverse = d != 0 ? 1.0f / d : 0;
            block_q8_0 *block = blocks + r * (columns / 32) + b;
            block->d = float_to_half(d);
            for (int i = 0; i < 32; i++) {
                float scaled = values[i] * inverse;
                block->qs[i] = (int8_t)(scaled < 0 ? scaled - 0.5f : scaled + 0.5f);
            }
        }
    }
    return 0;
}

static int supported(llmrec_weight_type type) {
    return type == LLMREC_WEIGHTS_F16 || type == LLMREC_WEIGHTS_BF16 || type == LLMREC_WEIGHTS_Q8_0 ||
           type == LLMREC_WEIGHTS_Q4_0 || type == LLMREC_WEIGHTS_Q4_1;
}

int llmrec_gemv(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin, size_t row_end,
                const float *x, float *y) {
    size_t stride = llmrec_row_bytes(type, columns);
    if (!supported(type) || stride == 0) return -1;
    const uint8_t *base = (const uint8_t *)weights;
#if defined(__x86_64__)
    if (use_avx2()) {
        for (size_t r = row_begin; r < row_end; r++) y[r] = dot_avx2(type, base + r * stride, columns, x);
        return 0;
    }
#endif
    for (size_t r = row_begin; r < row_end; r++) y[r] = dot_portable(type, base + r * stride, columns, x);
    return 0;
}

int llmrec_dequantize_rows(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin,
                           size_t row_end, float *out) {
    size_t stride = llmrec_row_bytes(type, columns);
    if (!supported(type) || stride == 0) return -1;
    const uint8_t *base = (const uint8_t *)weights;
    for (size_t r = row_begin; r < row_end; r++) dequantize_row(type, base + r * stride, columns, out + (r - row_begin) * columns);
    return 0;
}

/* ---- Integer products against quantised activations (decode) ---- */

int llmrec_quantize_activation(const float *x, size_t columns, llmrec_q8_activation *out) {
    if (columns % 32) return -1;
    for (size_t b = 0; b < columns / 32; b++) {
        const float *values = x + b * 32;
        float amax = 0;
        for (int i = 0; i < 32; i++) { float a = values[i] < 0 ? -values[i] : values[i]; if (a > amax) amax = a; }
        float d = amax / 127.0f;
        float inverse = d != 0 ? 1.0f / d : 0;
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) {
            float scaled = values[i] * inverse;
            int8_t q = (int8_t)(scaled < 0 ? scaled - 0.5f : scaled + 0.5f);
            out[b].qs[i] = q;
            sum += q;
        }
        out[b].d = d;
        out[b].sum = sum;
    }
    return 0;
}

int llmrec_gemv_q8_supports(llmrec_weight_type type) {
    return type == LLMREC_WEIGHTS_Q4_0 || type == LLMREC_WEIGHTS_Q4_1 || type == LLMREC_WEIGHTS_Q8_0;
}

/* One row: Σ_blocks scale · Σ_i w_i a_i, with w_i as stored (Q8_0: signed; Q4: 0..15, the offset or
   minimum folded in through the activation block's sum). */
static float dot_q8_portable(llmrec_weight_type type, const uint8_t *row, size_t columns, const llmrec_q8_activation *x) {
    float total = 0;
    for (size_t b = 0; b < columns / 32; b++) {
        const llmrec_q8_activation *a = x + b;
        int32_t sum = 0;
        switch (type) {
        case LLMREC_WEIGHTS_Q8_0: {
            const block_q8_0 *block = (const block_q8_0 *)row + b;
            for (int i = 0; i < 32; i++) sum += block->qs[i] * a->qs[i];
            total += half_to_float(block->d) * a->d * (float)sum;
            break;
        }
        case LLMREC_WEIGHTS_Q4_0: {
            const block_q4_0 *block = (const block_q4_0 *)row + b;
            for (int i = 0; i < 16; i++) sum += (block->qs[i] & 0x0F) * a->qs[i] + (block->qs[i] >> 4) * a->qs[i + 16];
            total += half_to_float(block->d) * a->d * (float)(sum - 8 * a->sum);
            break;
        }
        case LLMREC_WEIGHTS_Q4_1: {
            const block_q4_1 *block = (const block_q4_1 *)row + b;
            for (int i = 0; i < 16; i++) sum += (block->qs[i] & 0x0F) * a->qs[i] + (block->qs[i] >> 4) * a->qs[i + 16];
            total += half_to_float(block->d) * a->d * (float)sum + half_to_float(block->m) * a->d * (float)a->sum;
            break;
        }
        default: break;
        }
    }
    return total;
}

#if defined(__x86_64__)
/* The 32 weights of a block as bytes in activation order: Q4 nibbles widened (low = elements 0..15,
   high = 16..31), Q8_0 as is. */
__attribute__((target("avx2,fma,f16c")))
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m128i mask = _mm_set1_epi8(0x0F);
    __m128i low = _mm_and_si128(raw, mask);
    __m128i high = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    return _mm256_set_m128i(high, low);
}

/* Σ u_i s_i in eight int32 lanes, u unsigned bytes, s signed bytes (AVX2: maddubs then madd; no
   overflow for |u| ≤ 128, |s| ≤ 127). */
__attribute__((target("avx2,fma,f16c")))
static inline __m256i dot_u8s8_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

__attribute__((target("avx512vnni,avx512vl,avx2,fma,f16c")))
static inline __m256i dot_u8s8_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

/* The product of one weight block with one activation block, as eight int32 lanes, and the block's
   float terms: `scale` multiplies the lanes' sum; `extra` is added as is (the Q4 offset or minimum
   through the activation block's sum). */
#define Q8_0_BLOCK(DOT, row, b, a, activation, products, scale, extra)                                   \
    do {                                                                                                  \
        const block_q8_0 *block_ = (const block_q8_0 *)(row) + (b);                                       \
        __m256i w_ = _mm256_loadu_si256((const __m256i *)block_->qs);                                     \
        products = DOT(_mm256_sign_epi8(w_, w_), _mm256_sign_epi8(activation, w_));                      \
        scale = _cvtsh_ss(block_->d) * (a)->d;                                                            \
    } while (0)
#define Q4_0_BLOCK(DOT, row, b, a, activation, products, scale, extra)                                   \
    do {                                                                                                  \
        const block_q4_0 *block_ = (const block_q4_0 *)(row) + (b);                                       \
        products = DOT(unpack_nibbles(block_->qs), activation);                                           \
        scale = _cvtsh_ss(block_->d) * (a)->d;                                                            \
        extra -= 8 * scale * (float)(a)->sum;                                                             \
    } while (0)
#define Q4_1_BLOCK(DOT, row, b, a, activation, products, scale, extra)                                   \
    do {                                                                                                  \
        const block_q4_1 *block_ = (const block_q4_1 *)(row) + (b);                                       \
        products = DOT(unpack_nibbles(block_->qs), activation);                                           \
        scale = _cvtsh_ss(block_->d) * (a)->d;                                                            \
        extra += _cvtsh_ss(block_->m) * (a)->d * (float)(a)->sum;                                         \
    } while (0)

/* Four rows at once (the activation block loaded once for them; four independent accumulators in
   registers), and one row for the tail. While it reads block b of its rows, the four-row kernel
   prefetches block b of the rows `ahead` bytes further on (the next four rows; 0 for the last group):
   the interleaved streams of four rows defeat the hardware prefetcher, and with the prefetch a
   decode step's output head (30 MB of Q8_0) streams at twice the speed. */
#define DEFINE_ROWS(NAME1, NAME4, TARGET, DOT, BLOCK)                                                      \
    __attribute__((target(TARGET)))                                                                       \
    static void NAME4(const uint8_t *base, size_t stride, size_t ahead, size_t blocks, const llmrec_q8_activation *x, float *y) { \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;                         \
        float extra0 = 0, extra1 = 0, extra2 = 0, extra3 = 0;                                             \
        const uint8_t *row0 = base, *row1 = base + stride, *row2 = base + 2 * stride, *row3 = base + 3 * stride; \
        const size_t block_bytes = stride / blocks;                                                        \
        for (size_t b = 0; b < blocks; b++) {                                                              \
            const llmrec_q8_activation *a = x + b;                                                         \
            __m256i activation = _mm256_loadu_si256((const __m256i *)a->qs);                               \
            _mm_prefetch((const char *)(row0 + ahead + b * block_bytes), _MM_HINT_T0);                     \
            _mm_prefetch((const char *)(row1 + ahead + b * block_bytes), _MM_HINT_T0);                     \
            _mm_prefetch((const char *)(row2 + ahead + b * block_bytes), _MM_HINT_T0);                     \
            _mm_prefetch((const char *)(row3 + ahead + b * block_bytes), _MM_HINT_T0);                     \
            __m256i p0, p1, p2, p3;                                                                        \
            float s0, s1, s2, s3;                                                                          \
            BLOCK(DOT, row0, b, a, activation, p0, s0, extra0);                                            \
            BLOCK(DOT, row1, b, a, activation, p1, s1, extra1);                                            \
            BLOCK(DOT, row2, b, a, activation, p2, s2, extra2);                                            \
            BLOCK(DOT, row3, b, a, activation, p3, s3, extra3);                                            \
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(s0), _mm256_cvtepi32_ps(p0), acc0);                    \
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(s1), _mm256_cvtepi32_ps(p1), acc1);                    \
            acc2 = _mm256_fmadd_ps(_mm256_set1_ps(s2), _mm256_cvtepi32_ps(p2), acc2);                    \
            acc3 = _mm256_fmadd_ps(_mm256_set1_ps(s3), _mm256_cvtepi32_ps(p3), acc3);                    \
        }                                                                                                  \
        y[0] = horizontal_sum(acc0) + extra0;                                                              \
        y[1] = horizontal_sum(acc1) + extra1;                                                              \
        y[2] = horizontal_sum(acc2) + extra2;                                                              \
        y[3] = horizontal_sum(acc3) + extra3;                                                              \
    }                                                                                                      \
    __attribute__((target(TARGET)))                                                                       \
    static float NAME1(const uint8_t *row, size_t blocks, const llmrec_q8_activation *x) {               \
        __m256 acc = _mm256_setzero_ps();                                                                  \
        float extra = 0;                                                                                   \
        for (size_t b = 0; b < blocks; b++) {                                                              \
            const llmrec_q8_activation *a = x + b;                                                         \
            __m256i activation = _mm256_loadu_si256((const __m256i *)a->qs);                               \
            __m256i p;                                                                                     \
            float s;                                                                                       \
            BLOCK(DOT, row, b, a, activation, p, s, extra);                                                \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(s), _mm256_cvtepi32_ps(p), acc);                         \
        }                                                                                                  \
        return horizontal_sum(acc) + extra;                                                                \
    }

#define AVX2_TARGET "avx2,fma,f16c"
#define VNNI_TARGET "avx512vnni,avx512vl,avx2,fma,f16c"
DEFINE_ROWS(q8_0_row_avx2, q8_0_rows4_avx2, AVX2_TARGET, dot_u8s8_avx2, Q8_0_BLOCK)
DEFINE_ROWS(q4_0_row_avx2, q4_0_rows4_avx2, AVX2_TARGET, dot_u8s8_avx2, Q4_0_BLOCK)
DEFINE_ROWS(q4_1_row_avx2, q4_1_rows4_avx2, AVX2_TARGET, dot_u8s8_avx2, Q4_1_BLOCK)
DEFINE_ROWS(q8_0_row_vnni, q8_0_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q8_0_BLOCK)
DEFINE_ROWS(q4_0_row_vnni, q4_0_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q4_0_BLOCK)
DEFINE_ROWS(q4_1_row_vnni, q4_1_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q4_1_BLOCK)

typedef void (*rows4_kernel)(const uint8_t *, size_t, size_t, size_t, const llmrec_q8_activation *, float *);
typedef float (*row_kernel)(const uint8_t *, size_t, const llmrec_q8_activation *);

/* The kernels for a weight type at the CPU's level (2: VNNI, 1: AVX2). */
static void select_kernels(llmrec_weight_type type, int level, rows4_kernel *four, row_kernel *one) {
    switch (type) {
    case LLMREC_WEIGHTS_Q8_0:
        *four = level == 2 ? q8_0_rows4_vnni : q8_0_rows4_avx2; *one = level == 2 ? q8_0_row_vnni : q8_0_row_avx2; break;
    case LLMREC_WEIGHTS_Q4_0:
        *four = level == 2 ? q4_0_rows4_vnni : q4_0_rows4_avx2; *one = level == 2 ? q4_0_row_vnni : q4_0_row_avx2; break;
    default:
        *four = level == 2 ? q4_1_rows4_vnni : q4_1_rows4_avx2; *one = level == 2 ? q4_1_row_vnni : q4_1_row_avx2; break;
    }
}
#endif

int llmrec_integer_kernel_level(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = !use_avx2() ? 0 : (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) ? 2 : 1;
    }
    return cached;
#else
    return 0;
#endif
}

int llmrec_gemv_q8(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin, size_t row_end,
                   const llmrec_q8_activation *x, float *y) {
    size_t stride = llmrec_row_bytes(type, columns);
    if (!llmrec_gemv_q8_supports(type) || stride == 0) return -1;
    const uint8_t *base = (const uint8_t *)weights;
#if defined(__x86_64__)
    int level = llmrec_integer_kernel_level();
    if (level > 0) {
        rows4_kernel four;
        row_kernel one;
        select_kernels(type, level, &four, &one);
        size_t blocks = columns / 32, r = row_begin;
        for (; r + 4 <= row_end; r += 4) four(base + r * stride, stride, r + 8 <= row_end ? 4 * stride : 0, blocks, x, y + r);
        for (; r < row_end; r++) y[r] = one(base + r * stride, blocks, x);
        return 0;
    }
#endif
    for (size_t r = row_begin; r < row_end; r++) y[r] = dot_q8_portable(type, base + r * stride, columns, x);
    return 0;
}
