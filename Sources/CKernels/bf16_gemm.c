#include "CKernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Packed weights: panels of 32 output columns; in a panel, for each pair of inputs (k, k+1), the 32
   columns' pairs as bf16 (column c: w[c][k], w[c][k+1]): 128 bytes, the two 64-byte halves being
   columns 0-15 and 16-31 of the panel, one AVX-512 register each. Columns past n and the input past
   an odd k are zeros. */
enum { PANEL_COLUMNS = 32, ROWS_PER_TILE = 12, ROWS_PER_CHUNK = 48 };

static size_t pairs_for(size_t k) { return (k + 1) / 2; }
static size_t panels_for(size_t n) { return (n + PANEL_COLUMNS - 1) / PANEL_COLUMNS; }

/* float32 -> bf16, round to nearest even (finite inputs; NaN stays NaN). */
static uint16_t to_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu)) return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

size_t llmrec_bf16_packed_count(size_t n, size_t k) { return panels_for(n) * pairs_for(k) * PANEL_COLUMNS * 2; }

void llmrec_bf16_pack_weights(const float *w, size_t n, size_t k, uint16_t *packed) {
    const size_t pairs = pairs_for(k);
    for (size_t panel = 0; panel < panels_for(n); panel++) {
        uint16_t *out = packed + panel * pairs * PANEL_COLUMNS * 2;
        for (size_t pair = 0; pair < pairs; pair++) {
            for (size_t column = 0; column < PANEL_COLUMNS; column++) {
                const size_t row = panel * PANEL_COLUMNS + column;
                for (size_t half = 0; half < 2; half++) {
                    const size_t input = 2 * pair + half;
                    out[(pair * PANEL_COLUMNS + column) * 2 + half] = row < n && input < k ? to_bf16(w[row * k + input]) : 0;
                }
            }
        }
    }
}

void llmrec_bf16_unpack_row(const uint16_t *packed, size_t n, size_t k, size_t row, float *out) {
    (void)n;
    const size_t pairs = pairs_for(k);
    const uint16_t *panel = packed + (row / PANEL_COLUMNS) * pairs * PANEL_COLUMNS * 2;
    for (size_t input = 0; input < k; input++) {
        const uint32_t bits = (uint32_t)panel[((input / 2) * PANEL_COLUMNS + row % PANEL_COLUMNS) * 2 + input % 2] << 16;
        memcpy(out + input, &bits, sizeof bits);
    }
}

int llmrec_bf16_gemm_supported(void) { return (llmrec_cpu_features() & LLMREC_CPU_AVX512_BF16) != 0; }

#if defined(__x86_64__)
#define BF16_TARGET "avx512f,avx512bf16,avx512vl,avx512bw"

/* out[0..<count] = bf16(x[0..<count]), sixteen at a time (`vcvtneps2bf16`: nearest even). */
__attribute__((target(BF16_TARGET)))
static void round_row(const float *x, size_t count, uint16_t *out) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) _mm256_storeu_si256((__m256i *)(out + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
    if (i < count) {
        const __mmask16 mask = (__mmask16)((1u << (count - i)) - 1);
        _mm256_mask_storeu_epi16(out + i, mask, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, x + i)));
    }
}

/* One tile: 12 rows of A (bf16 pairs, `pairs` per row) times one panel, into c (ldc floats per row)
   plus the bias, or added to c's values when `accumulate`; only `rows` rows and `columns` columns are
   stored. 24 accumulators in registers. */
__attribute__((target(BF16_TARGET)))
static void tile(const uint32_t *a, size_t pairs, const uint16_t *panel, const float *bias, float *c, size_t ldc, size_t rows,
                 size_t columns, int accumulate) {
    __m512 acc[ROWS_PER_TILE][2];
#pragma GCC unroll 12
    for (int r = 0; r < ROWS_PER_TILE; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (size_t pair = 0; pair < pairs; pair++) {
        const __m512bh low = (__m512bh)_mm512_loadu_si512(panel + pair * PANEL_COLUMNS * 2);
        const __m512bh high = (__m512bh)_mm512_loadu_si512(panel + pair * PANEL_COLUMNS * 2 + 32);
#pragma GCC unroll 12
        for (int r = 0; r < ROWS_PER_TILE; r++) {
            const __m512bh broadcast = (__m512bh)_mm512_set1_epi32((int)a[r * pairs + pair]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], broadcast, low);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], broadcast, high);
        }
    }
    const __mmask16 mask_low = columns >= 16 ? 0xFFFF : (__mmask16)((1u << columns) - 1);
    const __mmask16 mask_high = columns >= 32 ? 0xFFFF : columns <= 16 ? 0 : (__mmask16)((1u << (columns - 16)) - 1);
    const __m512 bias_low = bias ? _mm512_maskz_loadu_ps(mask_low, bias) : _mm512_setzero_ps();
    const __m512 bias_high = bias ? _mm512_maskz_loadu_ps(mask_high, bias + 16) : _mm512_setzero_ps();
    for (size_t r = 0; r < rows; r++) {
        __m512 low = _mm512_add_ps(acc[r][0], bias_low), high = _mm512_add_ps(acc[r][1], bias_high);
        if (accumulate) {
            low = _mm512_add_ps(low, _mm512_maskz_loadu_ps(mask_low, c + r * ldc));
            high = _mm512_add_ps(high, _mm512_maskz_loadu_ps(mask_high, c + r * ldc + 16));
        }
        _mm512_mask_storeu_ps(c + r * ldc, mask_low, low);
        _mm512_mask_storeu_ps(c + r * ldc + 16, mask_high, high);
    }
}
#endif

size_t llmrec_bf16_panel_count(size_t n) { return panels_for(n); }

int llmrec_bf16_gemm(const float *a, size_t m, size_t k, const uint16_t *packed, size_t n, const float *bias, float *c) {
    return llmrec_bf16_gemm_panels(a, m, k, packed, n, bias, c, 0, 0, panels_for(n));
}

int llmrec_bf16_gemm_panels(const float *a, size_t m, size_t k, const uint16_t *packed, size_t n, const float *bias, float *c,
                            int accumulate, size_t first_panel, size_t end_panel) {
#if defined(__x86_64__)
    if (!llmrec_bf16_gemm_supported()) return -1;
    const size_t pairs = pairs_for(k);
    if (end_panel > panels_for(n)) end_panel = panels_for(n);
    /* A chunk of rows as bf16 pairs (zero rows past m, a zero past an odd k). */
    uint32_t *chunk = malloc(ROWS_PER_CHUNK * pairs * sizeof *chunk);
    if (!chunk) return -1;
    for (size_t first = 0; first < m; first += ROWS_PER_CHUNK) {
        const size_t rows = m - first < ROWS_PER_CHUNK ? m - first : ROWS_PER_CHUNK;
        for (size_t r = 0; r < ROWS_PER_CHUNK; r++) {
            uint16_t *line = (uint16_t *)(chunk + r * pairs);
            if (r < rows) {
                round_row(a + (first + r) * k, k, line);
                if (k % 2) line[k] = 0;
            } else {
                memset(line, 0, pairs * sizeof *chunk);
            }
        }
        for (size_t panel = first_panel; panel < end_panel; panel++) {
            const size_t column = panel * PANEL_COLUMNS;
            const size_t columns = n - column < PANEL_COLUMNS ? n - column : PANEL_COLUMNS;
            for (size_t r = 0; r < rows; r += ROWS_PER_TILE) {
                tile(chunk + r * pairs, pairs, packed + panel * pairs * PANEL_COLUMNS * 2, bias ? bias + column : NULL,
                     c + (first + r) * n + column, n, rows - r < ROWS_PER_TILE ? rows - r : ROWS_PER_TILE, columns, accumulate);
            }
        }
    }
    free(chunk);
    return 0;
#else
    (void)a; (void)m; (void)k; (void)packed; (void)n; (void)bias; (void)c; (void)accumulate; (void)first_panel; (void)end_panel;
    return -1;
#endif
}
