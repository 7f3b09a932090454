#include "CKernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ggml block layouts (ggml-common.h): 32 elements per block. */
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;           /* x = d * q */
typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;          /* x = d * (q - 8); low nibbles 0..15, high 16..31 */
typedef struct { uint16_t d; uint16_t m; uint8_t qs[16]; } block_q4_1; /* x = d * q + m */
/* Five-bit blocks: the nibbles as Q4_0, bit j of the little-endian qh the fifth bit of element j. */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;              /* x = d * (q - 16) */
typedef struct { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1;  /* x = d * q + m */
/* K-quants: 256 elements in eight sub-blocks of 32. Q4_K/Q5_K: six-bit scale and minimum per sub-block
   packed in `scales`; byte l of 32-byte chunk c holds element l of sub-block 2c (low nibble) and 2c + 1
   (high); Q5_K's qh[l] bit s is the fifth bit of element l of sub-block s. x = d·sc·q − dmin·m. */
typedef struct { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K;
typedef struct { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } block_q5_K;
/* Q6_K: two halves of 128; in half h, quarter k (32 elements) takes its low four bits from ql[64h + 32(k & 1)
   + l] (low nibble for k < 2, high otherwise) and its top two from bits 2k of qh[32h + l]; one signed
   scale per 16 elements (scales[8h + 2k + l / 16]). x = d · scale · (q − 32). */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } block_q6_K;

/* The layouts are ggml's byte for byte (ggml-common.h's sizes; gguf-py's GGML_QUANT_SIZES). */
_Static_assert(sizeof(block_q8_0) == 34, "Q8_0 block");
_Static_assert(sizeof(block_q4_0) == 18, "Q4_0 block");
_Static_assert(sizeof(block_q4_1) == 20, "Q4_1 block");
_Static_assert(sizeof(block_q5_0) == 22, "Q5_0 block");
_Static_assert(sizeof(block_q5_1) == 24, "Q5_1 block");
_Static_assert(sizeof(block_q4_K) == 144, "Q4_K block");
_Static_assert(sizeof(block_q5_K) == 176, "Q5_K block");
_Static_assert(sizeof(block_q6_K) == 210, "Q6_K block");
_Static_assert(sizeof(llmrec_q8_activation) == 40, "activation block");

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

/* The one table of weight formats: elements and bytes per block (1 and 2 for the 16-bit types).
   Returns 0 for a type the kernels do not know. */
static int block_shape(llmrec_weight_type type, size_t *elements, size_t *bytes) {
    switch (type) {
    case LLMREC_WEIGHTS_F16:
    case LLMREC_WEIGHTS_BF16: *elements = 1; *bytes = 2; return 1;
    case LLMREC_WEIGHTS_Q8_0: *elements = 32; *bytes = sizeof(block_q8_0); return 1;
    case LLMREC_WEIGHTS_Q4_0: *elements = 32; *bytes = sizeof(block_q4_0); return 1;
    case LLMREC_WEIGHTS_Q4_1: *elements = 32; *bytes = sizeof(block_q4_1); return 1;
    case LLMREC_WEIGHTS_Q5_0: *elements = 32; *bytes = sizeof(block_q5_0); return 1;
    case LLMREC_WEIGHTS_Q5_1: *elements = 32; *bytes = sizeof(block_q5_1); return 1;
    case LLMREC_WEIGHTS_Q4_K: *elements = 256; *bytes = sizeof(block_q4_K); return 1;
    case LLMREC_WEIGHTS_Q5_K: *elements = 256; *bytes = sizeof(block_q5_K); return 1;
    case LLMREC_WEIGHTS_Q6_K: *elements = 256; *bytes = sizeof(block_q6_K); return 1;
    }
    return 0;
}

size_t llmrec_row_bytes(llmrec_weight_type type, size_t columns) {
    size_t elements, bytes;
    if (!block_shape(type, &elements, &bytes) || columns % elements) return 0;
    return columns / elements * bytes;
}

/* The six-bit scale and minimum of sub-block j (0..<8) of a Q4_K or Q5_K block: sub-blocks 0-3 in the
   low six bits of bytes j and j + 4; sub-blocks 4-7 in the nibbles of byte j + 4 with their top two
   bits in the top bits of bytes j - 4 and j. */
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *scale, uint8_t *minimum) {
    if (j < 4) {
        *scale = q[j] & 63;
        *minimum = q[j + 4] & 63;
    } else {
        *scale = (uint8_t)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *minimum = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Dequantises one block (one element for the 16-bit types) into out, as ggml's dequantize_row_*: the
   products and sums are single float32 operations in ggml's order (this function is compiled without
   FMA), so the results equal ggml's and gguf-py's bit for bit. */
static void dequantize_block(llmrec_weight_type type, const uint8_t *bytes, float *out) {
    switch (type) {
    case LLMREC_WEIGHTS_F16: { uint16_t h; memcpy(&h, bytes, 2); out[0] = half_to_float(h); break; }
    case LLMREC_WEIGHTS_BF16: { uint16_t b; memcpy(&b, bytes, 2); out[0] = bf16_to_float(b); break; }
    case LLMREC_WEIGHTS_Q8_0: {
        const block_q8_0 *block = (const block_q8_0 *)bytes;
        float d = half_to_float(block->d);
        for (int i = 0; i < 32; i++) out[i] = block->qs[i] * d;
        break;
    }
    case LLMREC_WEIGHTS_Q4_0: {
        const block_q4_0 *block = (const block_q4_0 *)bytes;
        float d = half_to_float(block->d);
        for (int i = 0; i < 16; i++) {
            out[i] = ((block->qs[i] & 0x0F) - 8) * d;
            out[i + 16] = ((block->qs[i] >> 4) - 8) * d;
        }
        break;
    }
    case LLMREC_WEIGHTS_Q4_1: {
        const block_q4_1 *block = (const block_q4_1 *)bytes;
        float d = half_to_float(block->d), m = half_to_float(block->m);
        for (int i = 0; i < 16; i++) {
            out[i] = (block->qs[i] & 0x0F) * d + m;
            out[i + 16] = (block->qs[i] >> 4) * d + m;
        }
        break;
    }
    case LLMREC_WEIGHTS_Q5_0:
    case LLMREC_WEIGHTS_Q5_1: {
        int has_minimum = type == LLMREC_WEIGHTS_Q5_1;
        const uint8_t *qh = has_minimum ? ((const block_q5_1 *)bytes)->qh : ((const block_q5_0 *)bytes)->qh;
        const uint8_t *qs = has_minimum ? ((const block_q5_1 *)bytes)->qs : ((const block_q5_0 *)bytes)->qs;
        float d = half_to_float(((const block_q5_0 *)bytes)->d);
        float m = has_minimum ? half_to_float(((const block_q5_1 *)bytes)->m) : 0;
        uint32_t high;
        memcpy(&high, qh, 4);
        for (int i = 0; i < 16; i++) {
            int low = (qs[i] & 0x0F) | ((high >> i) & 1) << 4;
            int upper = (qs[i] >> 4) | ((high >> (i + 16)) & 1) << 4;
            if (has_minimum) {
                out[i] = low * d + m;
                out[i + 16] = upper * d + m;
            } else {
                out[i] = (low - 16) * d;
                out[i + 16] = (upper - 16) * d;
            }
        }
        break;
    }
    case LLMREC_WEIGHTS_Q4_K:
    case LLMREC_WEIGHTS_Q5_K: {
        int has_high = type == LLMREC_WEIGHTS_Q5_K;
        const block_q4_K *block4 = (const block_q4_K *)bytes;
        const block_q5_K *block5 = (const block_q5_K *)bytes;
        const uint8_t *qs = has_high ? block5->qs : block4->qs;
        float d = half_to_float(block4->d), dmin = half_to_float(block4->dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t scale, minimum;
            scale_min_k4(j, block4->scales, &scale, &minimum);
            float factor = d * scale, offset = dmin * minimum;
            const uint8_t *chunk = qs + (j >> 1) * 32;
            int shift = (j & 1) * 4;
            for (int l = 0; l < 32; l++) {
                int q = (chunk[l] >> shift) & 0x0F;
                if (has_high) q |= ((block5->qh[l] >> j) & 1) << 4;
                out[j * 32 + l] = factor * q - offset;
            }
        }
        break;
    }
    case LLMREC_WEIGHTS_Q6_K: {
        const block_q6_K *block = (const block_q6_K *)bytes;
        float d = half_to_float(block->d);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = block->ql + 64 * half, *qh = block->qh + 32 * half;
            const int8_t *scales = block->scales + 8 * half;
            float *y = out + 128 * half;
            for (int l = 0; l < 32; l++) {
                int q[4] = {
                    (ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4, (ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4,
                    (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4, (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4,
                };
                for (int k = 0; k < 4; k++) y[32 * k + l] = (d * scales[l / 16 + 2 * k]) * (q[k] - 32);
            }
        }
        break;
    }
    }
}

#if defined(__x86_64__)
static int use_avx2(void);
static int dequantize_row_avx2(llmrec_weight_type type, const uint8_t *row, size_t columns, float *out);
static void weight_pair_times_rows_avx2(const float *w0, const float *w1, const float *x, size_t m, size_t columns, float *y0,
                                        float *y1, size_t ldy);
#endif

/* Dequantises one row into out[columns]; the blocks of 32 on AVX2 where the CPU has it (the same
   results bit for bit). */
static void dequantize_row(llmrec_weight_type type, const uint8_t *row, size_t columns, float *out) {
#if defined(__x86_64__)
    if (use_avx2() && dequantize_row_avx2(type, row, columns, out)) return;
#endif
    size_t elements, bytes;
    block_shape(type, &elements, &bytes);
    for (size_t b = 0; b < columns / elements; b++) dequantize_block(type, row + b * bytes, out + b * elements);
}

/* Whether the float32 products have a kernel of their own for `type` (else: dequantise block, then dot). */
static int has_float_kernel(llmrec_weight_type type) {
    return type == LLMREC_WEIGHTS_F16 || type == LLMREC_WEIGHTS_BF16 || type == LLMREC_WEIGHTS_Q8_0 ||
           type == LLMREC_WEIGHTS_Q4_0 || type == LLMREC_WEIGHTS_Q4_1;
}

/* One row's product for the other formats: each block dequantised to the stack, then dotted with x by
   `dot` (portable or AVX2). */
static float dot_dequantized(llmrec_weight_type type, const uint8_t *row, size_t columns, const float *x,
                             float (*dot)(const float *, const float *, size_t)) {
    size_t elements, bytes;
    block_shape(type, &elements, &bytes);
    float block[256], sum = 0;
    for (size_t b = 0; b < columns / elements; b++) {
        dequantize_block(type, row + b * bytes, block);
        sum += dot(block, x + b * elements, elements);
    }
    return sum;
}

static float dot_floats_portable(const float *a, const float *b, size_t count) {
    float sum = 0;
    for (size_t i = 0; i < count; i++) sum += a[i] * b[i];
    return sum;
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
    default: break;
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
static float dot_floats_avx2(const float *a, const float *b, size_t count) {
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float rest = 0;
    for (; i < count; i++) rest += a[i] * b[i];
    return horizontal_sum(acc) + rest;
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
    default: break;
    }
    return horizontal_sum(total);
}
#endif

/* The float kernels' vector path: AVX2 with FMA and F16C. */
static int use_avx2(void) {
    const unsigned needed = LLMREC_CPU_AVX2_FMA | LLMREC_CPU_F16C;
    return (llmrec_cpu_features() & needed) == needed;
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
    size_t elements, bytes;
    return block_shape(type, &elements, &bytes);
}

int llmrec_gemv(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin, size_t row_end,
                const float *x, float *y) {
    return llmrec_gemv_at_level(use_avx2(), type, weights, columns, row_begin, row_end, x, y);
}

int llmrec_gemv_at_level(int level, llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin,
                         size_t row_end, const float *x, float *y) {
    size_t stride = llmrec_row_bytes(type, columns);
    if (!supported(type) || stride == 0) return -1;
    const uint8_t *base = (const uint8_t *)weights;
    int vector = level > 0 && use_avx2();
    if (!has_float_kernel(type)) {
#if defined(__x86_64__)
        float (*dot)(const float *, const float *, size_t) = vector ? dot_floats_avx2 : dot_floats_portable;
#else
        float (*dot)(const float *, const float *, size_t) = dot_floats_portable;
#endif
        for (size_t r = row_begin; r < row_end; r++) y[r] = dot_dequantized(type, base + r * stride, columns, x, dot);
        return 0;
    }
#if defined(__x86_64__)
    if (vector) {
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

int llmrec_gemm_rows(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin, size_t row_end,
                     const float *x, size_t m, float *y, size_t ldy) {
    return llmrec_gemm_rows_at_level(use_avx2(), type, weights, columns, row_begin, row_end, x, m, y, ldy);
}

int llmrec_gemm_rows_at_level(int level, llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin,
                              size_t row_end, const float *x, size_t m, float *y, size_t ldy) {
    size_t stride = llmrec_row_bytes(type, columns);
    if (!supported(type) || stride == 0) return -1;
    if (row_begin >= row_end || m == 0) return 0;
    float *buffer = malloc(2 * columns * sizeof(float));
    if (!buffer) return -1;
    const uint8_t *base = (const uint8_t *)weights;
    float *w0 = buffer, *w1 = buffer + columns;
#if defined(__x86_64__)
    if (level > 0 && use_avx2() && columns % 8 == 0) {
        for (size_t r = row_begin; r < row_end; r += 2) {
            const int pair = r + 1 < row_end;
            dequantize_row(type, base + r * stride, columns, w0);
            if (pair) dequantize_row(type, base + (r + 1) * stride, columns, w1);
            weight_pair_times_rows_avx2(w0, w1, x, m, columns, y + r, pair ? y + r + 1 : NULL, ldy);
        }
        free(buffer);
        return 0;
    }
#endif
    for (size_t r = row_begin; r < row_end; r++) {
        dequantize_row(type, base + r * stride, columns, w0);
        for (size_t i = 0; i < m; i++) y[i * ldy + r] = dot_floats_portable(w0, x + i * columns, columns);
    }
    free(buffer);
    return 0;
}

int llmrec_gemv_q8_supports(llmrec_weight_type type) {
    return supported(type) && type != LLMREC_WEIGHTS_F16 && type != LLMREC_WEIGHTS_BF16;
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

/* The portable integer path for the five-bit and K-quant formats: each weight block dequantised to
   float32, then per activation block d_a · Σ w_i q_i (the same product as the vector kernels, to
   float32 rounding). */
static float dot_q8_dequantized(llmrec_weight_type type, const uint8_t *row, size_t columns, const llmrec_q8_activation *x) {
    size_t elements, bytes;
    block_shape(type, &elements, &bytes);
    float block[256], total = 0;
    for (size_t b = 0; b < columns / elements; b++) {
        dequantize_block(type, row + b * bytes, block);
        for (size_t part = 0; part < elements / 32; part++) {
            const llmrec_q8_activation *a = x + b * (elements / 32) + part;
            float sum = 0;
            for (int i = 0; i < 32; i++) sum += block[part * 32 + i] * a->qs[i];
            total += a->d * sum;
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
/* Blocks whose unsigned weights (WEIGHTS, read from `block_`) carry a fixed offset (Q4_0: 8, Q5_0: 16) or
   a stored minimum `m` (Q4_1, Q5_1), folded in through the activation block's sum. */
#define OFFSET_BLOCK(TYPE, WEIGHTS, OFFSET, DOT, row, b, a, activation, products, scale, extra)          \
    do {                                                                                                  \
        const TYPE *block_ = (const TYPE *)(row) + (b);                                                   \
        products = DOT(WEIGHTS, activation);                                                              \
        scale = _cvtsh_ss(block_->d) * (a)->d;                                                            \
        extra -= OFFSET * scale * (float)(a)->sum;                                                        \
    } while (0)
#define MINIMUM_BLOCK(TYPE, WEIGHTS, DOT, row, b, a, activation, products, scale, extra)                 \
    do {                                                                                                  \
        const TYPE *block_ = (const TYPE *)(row) + (b);                                                   \
        products = DOT(WEIGHTS, activation);                                                              \
        scale = _cvtsh_ss(block_->d) * (a)->d;                                                            \
        extra += _cvtsh_ss(block_->m) * (a)->d * (float)(a)->sum;                                         \
    } while (0)
#define Q4_0_BLOCK(...) OFFSET_BLOCK(block_q4_0, unpack_nibbles(block_->qs), 8, __VA_ARGS__)
#define Q4_1_BLOCK(...) MINIMUM_BLOCK(block_q4_1, unpack_nibbles(block_->qs), __VA_ARGS__)

/* The fifth bits of a Q5 block as bytes 0x10 or 0: byte j from bit j of the little-endian qh. */
__attribute__((target("avx2,fma,f16c")))
static inline __m256i fifth_bits(const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    const __m256i select = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, select), select), _mm256_set1_epi8(0x10));
}

/* Q5_0 and Q5_1 weights as unsigned bytes 0..31. */
#define FIVE_BITS(block) _mm256_or_si256(unpack_nibbles((block)->qs), fifth_bits((block)->qh))
#define Q5_0_BLOCK(...) OFFSET_BLOCK(block_q5_0, FIVE_BITS(block_), 16, __VA_ARGS__)
#define Q5_1_BLOCK(...) MINIMUM_BLOCK(block_q5_1, FIVE_BITS(block_), __VA_ARGS__)

/* Q5_K's fifth bits of sub-block `sub` as bytes 0x10 or 0: bit `sub` of each of the 32 bytes of qh. */
__attribute__((target("avx2,fma,f16c")))
static inline __m256i q5_k_fifth_bits(const uint8_t *qh, int sub) {
    __m256i high = _mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)qh), _mm_cvtsi32_si128(sub));
    return _mm256_slli_epi16(_mm256_and_si256(high, _mm256_set1_epi8(1)), 4);
}

/* Eight weights (bytes 8k..8k+7 of `bytes`, unsigned or signed) as floats. */
__attribute__((target("avx2,fma,f16c")))
static inline __m256 eight_unsigned(__m256i bytes, int k) {
    __m128i half = k < 2 ? _mm256_castsi256_si128(bytes) : _mm256_extracti128_si256(bytes, 1);
    if (k & 1) half = _mm_srli_si128(half, 8);
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(half));
}

/* Dequantises a row of a block-of-32 format (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) as dequantize_block does:
   each value one float32 product (and one sum for the minimum), never fused, so equal bit for bit.
   Returns 0, writing nothing, for the other formats. */
__attribute__((target("avx2,fma,f16c")))
static int dequantize_row_avx2(llmrec_weight_type type, const uint8_t *row, size_t columns, float *out) {
    size_t blocks = columns / 32;
    switch (type) {
    case LLMREC_WEIGHTS_Q8_0:
        for (size_t b = 0; b < blocks; b++) {
            const block_q8_0 *block = (const block_q8_0 *)row + b;
            const __m256 d = _mm256_set1_ps(_cvtsh_ss(block->d));
            for (int k = 0; k < 4; k++) {
                __m128i eight = _mm_loadl_epi64((const __m128i *)(block->qs + 8 * k));
                _mm256_storeu_ps(out + 32 * b + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(eight)), d));
            }
        }
        return 1;
    case LLMREC_WEIGHTS_Q4_0:
    case LLMREC_WEIGHTS_Q5_0: {
        const int five = type == LLMREC_WEIGHTS_Q5_0;
        const __m256 offset = _mm256_set1_ps(five ? 16 : 8);
        for (size_t b = 0; b < blocks; b++) {
            const uint8_t *at = row + b * (five ? sizeof(block_q5_0) : sizeof(block_q4_0));
            const block_q4_0 *block4 = (const block_q4_0 *)at;
            const block_q5_0 *block5 = (const block_q5_0 *)at;
            const __m256 d = _mm256_set1_ps(_cvtsh_ss(five ? block5->d : block4->d));
            const __m256i q = five ? FIVE_BITS(block5) : unpack_nibbles(block4->qs);
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 32 * b + 8 * k, _mm256_mul_ps(_mm256_sub_ps(eight_unsigned(q, k), offset), d));
        }
        return 1;
    }
    case LLMREC_WEIGHTS_Q4_1:
    case LLMREC_WEIGHTS_Q5_1: {
        const int five = type == LLMREC_WEIGHTS_Q5_1;
        for (size_t b = 0; b < blocks; b++) {
            const uint8_t *at = row + b * (five ? sizeof(block_q5_1) : sizeof(block_q4_1));
            const block_q4_1 *block4 = (const block_q4_1 *)at;
            const block_q5_1 *block5 = (const block_q5_1 *)at;
            const __m256 d = _mm256_set1_ps(_cvtsh_ss(five ? block5->d : block4->d));
            const __m256 m = _mm256_set1_ps(_cvtsh_ss(five ? block5->m : block4->m));
            const __m256i q = five ? FIVE_BITS(block5) : unpack_nibbles(block4->qs);
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 32 * b + 8 * k, _mm256_add_ps(_mm256_mul_ps(eight_unsigned(q, k), d), m));
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* K-quants, read per activation block b of 32: sub-block b % 8 of super-block b / 8. Q4_K/Q5_K weights
   are unsigned (0..15, 0..31) with the sub-block's minimum through the activation sum; Q6_K's are
   signed (q − 32) with two scales per sub-block, one for each 16 elements, applied to the int32 lanes
   (lanes 0-3 sum elements 0-15, lanes 4-7 elements 16-31). */
#define QK_NIBBLES(qs, sub)                                                                               \
    _mm256_and_si256((sub) & 1 ? _mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)((qs) + ((sub) >> 1) * 32)), 4) \
                               : _mm256_loadu_si256((const __m256i *)((qs) + ((sub) >> 1) * 32)),        \
                     _mm256_set1_epi8(0x0F))
/* Q4_K and Q5_K: the sub-block's six-bit scale and minimum; WEIGHTS read from `block_` and `sub_`. */
#define K4_BLOCK(TYPE, WEIGHTS, DOT, row, b, a, activation, products, scale, extra)                      \
    do {                                                                                                  \
        const TYPE *block_ = (const TYPE *)(row) + ((b) >> 3);                                            \
        const int sub_ = (int)((b) & 7);                                                                  \
        uint8_t sc_, min_;                                                                                \
        scale_min_k4(sub_, block_->scales, &sc_, &min_);                                                  \
        products = DOT(WEIGHTS, activation);                                                              \
        scale = _cvtsh_ss(block_->d) * sc_ * (a)->d;                                                      \
        extra -= _cvtsh_ss(block_->dmin) * min_ * (a)->d * (float)(a)->sum;                               \
    } while (0)
#define Q4_K_BLOCK(...) K4_BLOCK(block_q4_K, QK_NIBBLES(block_->qs, sub_), __VA_ARGS__)
#define Q5_K_BLOCK(...) K4_BLOCK(block_q5_K, _mm256_or_si256(QK_NIBBLES(block_->qs, sub_), q5_k_fifth_bits(block_->qh, sub_)), __VA_ARGS__)
#define Q6_K_BLOCK(DOT, row, b, a, activation, products, scale, extra)                                   \
    do {                                                                                                  \
        const block_q6_K *block_ = (const block_q6_K *)(row) + ((b) >> 3);                                \
        const int sub_ = (int)((b) & 7), half_ = sub_ >> 2, quarter_ = sub_ & 3;                          \
        __m256i low_ = _mm256_loadu_si256((const __m256i *)(block_->ql + 64 * half_ + 32 * (quarter_ & 1))); \
        low_ = _mm256_and_si256(quarter_ >> 1 ? _mm256_srli_epi16(low_, 4) : low_, _mm256_set1_epi8(0x0F)); \
        __m256i high_ = _mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(block_->qh + 32 * half_)),  \
                                         _mm_cvtsi32_si128(2 * quarter_));                                \
        high_ = _mm256_slli_epi16(_mm256_and_si256(high_, _mm256_set1_epi8(3)), 4);                       \
        __m256i w_ = _mm256_sub_epi8(_mm256_or_si256(low_, high_), _mm256_set1_epi8(32));                 \
        const int8_t *scales_ = block_->scales + 8 * half_ + 2 * quarter_;                                \
        __m256i lane_scales_ = _mm256_setr_epi32(scales_[0], scales_[0], scales_[0], scales_[0],          \
                                                 scales_[1], scales_[1], scales_[1], scales_[1]);         \
        products = _mm256_mullo_epi32(DOT(_mm256_sign_epi8(w_, w_), _mm256_sign_epi8(activation, w_)), lane_scales_); \
        scale = _cvtsh_ss(block_->d) * (a)->d;                                                            \
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
DEFINE_ROWS(q5_0_row_avx2, q5_0_rows4_avx2, AVX2_TARGET, dot_u8s8_avx2, Q5_0_BLOCK)
DEFINE_ROWS(q5_1_row_avx2, q5_1_rows4_avx2, AVX2_TARGET, dot_u8s8_avx2, Q5_1_BLOCK)
DEFINE_ROWS(q4_k_row_avx2, q4_k_rows4_avx2, AVX2_TARGET, dot_u8s8_avx2, Q4_K_BLOCK)
DEFINE_ROWS(q5_k_row_avx2, q5_k_rows4_avx2, AVX2_TARGET, dot_u8s8_avx2, Q5_K_BLOCK)
DEFINE_ROWS(q6_k_row_avx2, q6_k_rows4_avx2, AVX2_TARGET, dot_u8s8_avx2, Q6_K_BLOCK)
DEFINE_ROWS(q8_0_row_vnni, q8_0_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q8_0_BLOCK)
DEFINE_ROWS(q4_0_row_vnni, q4_0_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q4_0_BLOCK)
DEFINE_ROWS(q4_1_row_vnni, q4_1_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q4_1_BLOCK)
DEFINE_ROWS(q5_0_row_vnni, q5_0_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q5_0_BLOCK)
DEFINE_ROWS(q5_1_row_vnni, q5_1_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q5_1_BLOCK)
DEFINE_ROWS(q4_k_row_vnni, q4_k_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q4_K_BLOCK)
DEFINE_ROWS(q5_k_row_vnni, q5_k_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q5_K_BLOCK)
DEFINE_ROWS(q6_k_row_vnni, q6_k_rows4_vnni, VNNI_TARGET, dot_u8s8_vnni, Q6_K_BLOCK)

typedef void (*rows4_kernel)(const uint8_t *, size_t, size_t, size_t, const llmrec_q8_activation *, float *);
typedef float (*row_kernel)(const uint8_t *, size_t, const llmrec_q8_activation *);

/* The integer kernels of each weight type: four rows and one row, for AVX2 and for AVX-512 VNNI. */
static const struct {
    llmrec_weight_type type;
    rows4_kernel four_avx2, four_vnni;
    row_kernel one_avx2, one_vnni;
} integer_kernels[] = {
    {LLMREC_WEIGHTS_Q8_0, q8_0_rows4_avx2, q8_0_rows4_vnni, q8_0_row_avx2, q8_0_row_vnni},
    {LLMREC_WEIGHTS_Q4_0, q4_0_rows4_avx2, q4_0_rows4_vnni, q4_0_row_avx2, q4_0_row_vnni},
    {LLMREC_WEIGHTS_Q4_1, q4_1_rows4_avx2, q4_1_rows4_vnni, q4_1_row_avx2, q4_1_row_vnni},
    {LLMREC_WEIGHTS_Q5_0, q5_0_rows4_avx2, q5_0_rows4_vnni, q5_0_row_avx2, q5_0_row_vnni},
    {LLMREC_WEIGHTS_Q5_1, q5_1_rows4_avx2, q5_1_rows4_vnni, q5_1_row_avx2, q5_1_row_vnni},
    {LLMREC_WEIGHTS_Q4_K, q4_k_rows4_avx2, q4_k_rows4_vnni, q4_k_row_avx2, q4_k_row_vnni},
    {LLMREC_WEIGHTS_Q5_K, q5_k_rows4_avx2, q5_k_rows4_vnni, q5_k_row_avx2, q5_k_row_vnni},
    {LLMREC_WEIGHTS_Q6_K, q6_k_rows4_avx2, q6_k_rows4_vnni, q6_k_row_avx2, q6_k_row_vnni},
};

/* y0[i·ldy] += w0 · x_i and y1[i·ldy] += w1 · x_i for the m rows x_i of x ([m, columns], columns a
   multiple of 8): two dequantised weight rows against four activation rows at a time, eight FMA
   accumulators, each weight vector loaded once per four rows. y1 may be NULL (w1 then unused). */
__attribute__((target("avx2,fma,f16c")))
static void weight_pair_times_rows_avx2(const float *w0, const float *w1, const float *x, size_t m, size_t columns, float *y0,
                                        float *y1, size_t ldy) {
    const float *second = y1 ? w1 : w0;
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *x0 = x + i * columns, *x1 = x0 + columns, *x2 = x1 + columns, *x3 = x2 + columns;
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (size_t k = 0; k < columns; k += 8) {
            const __m256 u = _mm256_loadu_ps(w0 + k), v = _mm256_loadu_ps(second + k);
            __m256 p = _mm256_loadu_ps(x0 + k);
            a00 = _mm256_fmadd_ps(u, p, a00);
            a01 = _mm256_fmadd_ps(v, p, a01);
            p = _mm256_loadu_ps(x1 + k);
            a10 = _mm256_fmadd_ps(u, p, a10);
            a11 = _mm256_fmadd_ps(v, p, a11);
            p = _mm256_loadu_ps(x2 + k);
            a20 = _mm256_fmadd_ps(u, p, a20);
            a21 = _mm256_fmadd_ps(v, p, a21);
            p = _mm256_loadu_ps(x3 + k);
            a30 = _mm256_fmadd_ps(u, p, a30);
            a31 = _mm256_fmadd_ps(v, p, a31);
        }
        y0[i * ldy] = horizontal_sum(a00);
        y0[(i + 1) * ldy] = horizontal_sum(a10);
        y0[(i + 2) * ldy] = horizontal_sum(a20);
        y0[(i + 3) * ldy] = horizontal_sum(a30);
        if (y1) {
            y1[i * ldy] = horizontal_sum(a01);
            y1[(i + 1) * ldy] = horizontal_sum(a11);
            y1[(i + 2) * ldy] = horizontal_sum(a21);
            y1[(i + 3) * ldy] = horizontal_sum(a31);
        }
    }
    for (; i < m; i++) {
        const float *xi = x + i * columns;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        for (size_t k = 0; k < columns; k += 8) {
            const __m256 p = _mm256_loadu_ps(xi + k);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k), p, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(second + k), p, a1);
        }
        y0[i * ldy] = horizontal_sum(a0);
        if (y1) y1[i * ldy] = horizontal_sum(a1);
    }
}

/* The kernels for a weight type at a level (2: VNNI, 1: AVX2); 0 when the type has none. */
static int select_kernels(llmrec_weight_type type, int level, rows4_kernel *four, row_kernel *one) {
    for (size_t i = 0; i < sizeof integer_kernels / sizeof integer_kernels[0]; i++) {
        if (integer_kernels[i].type != type) continue;
        *four = level == 2 ? integer_kernels[i].four_vnni : integer_kernels[i].four_avx2;
        *one = level == 2 ? integer_kernels[i].one_vnni : integer_kernels[i].one_avx2;
        return 1;
    }
    return 0;
}
#endif

int llmrec_integer_kernel_level(void) {
    if (!use_avx2()) return 0;
    return llmrec_cpu_features() & LLMREC_CPU_AVX512_VNNI ? 2 : 1;
}

int llmrec_gemv_q8(llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin, size_t row_end,
                   const llmrec_q8_activation *x, float *y) {
    return llmrec_gemv_q8_at_level(llmrec_integer_kernel_level(), type, weights, columns, row_begin, row_end, x, y);
}

int llmrec_gemv_q8_at_level(int level, llmrec_weight_type type, const void *weights, size_t columns, size_t row_begin,
                            size_t row_end, const llmrec_q8_activation *x, float *y) {
    size_t stride = llmrec_row_bytes(type, columns);
    if (!llmrec_gemv_q8_supports(type) || stride == 0) return -1;
    const uint8_t *base = (const uint8_t *)weights;
    if (level > llmrec_integer_kernel_level()) level = llmrec_integer_kernel_level();
#if defined(__x86_64__)
    rows4_kernel four;
    row_kernel one;
    if (level > 0 && select_kernels(type, level, &four, &one)) {
        size_t blocks = columns / 32, r = row_begin;
        for (; r + 4 <= row_end; r += 4) four(base + r * stride, stride, r + 8 <= row_end ? 4 * stride : 0, blocks, x, y + r);
        for (; r < row_end; r++) y[r] = one(base + r * stride, blocks, x);
        return 0;
    }
#endif
    int dedicated = type == LLMREC_WEIGHTS_Q8_0 || type == LLMREC_WEIGHTS_Q4_0 || type == LLMREC_WEIGHTS_Q4_1;
    for (size_t r = row_begin; r < row_end; r++) {
        y[r] = dedicated ? dot_q8_portable(type, base + r * stride, columns, x) : dot_q8_dequantized(type, base + r * stride, columns, x);
    }
    return 0;
}
