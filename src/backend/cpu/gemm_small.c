/*
 * gemm_small.c - see gemm_small.h.
 *
 * Micro-kernels: AVX-512 keeps an (up to 8 rows) x (32 columns = 2 panels) block of the output
 * in 16 zmm accumulators; per k it loads 2 weight vectors and broadcasts one input value per row:
 * 2 loads + 8 broadcasts for 16 FMAs. AVX2 keeps (up to 6 rows) x (16 columns = 1 panel) in 12 ymm
 * accumulators. The weight panels stream from memory once per 8 (6) rows, which for one short
 * sentence means once: the kernel then runs at the speed of reading the weights.
 * sutra_gemm_rows runs the same kernels over a block of rows at a time, every panel passing
 * over the block, for products with many rows and few columns.
 */
#include "backend/cpu/gemm_small.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/elementwise.h"
#include "util/common.h"

size_t sutra_gemm_packed_floats(int N, int K) {
    return (size_t)((N + SUTRA_GEMM_PANEL - 1) / SUTRA_GEMM_PANEL) * SUTRA_GEMM_PANEL * (size_t)K;
}

typedef struct pack_job {
    float *p;
    const float *w;
    int N, K;
} pack_job;

static void pack_panel(void *arg, int pi, int worker) {
    (void)worker;
    const pack_job *j = arg;
    const int K = j->K;
    for (int k = 0; k < K; k++)
        for (int c = 0; c < SUTRA_GEMM_PANEL; c++) {
            int col = pi * SUTRA_GEMM_PANEL + c;
            j->p[((size_t)pi * K + k) * SUTRA_GEMM_PANEL + c] = col < j->N ? j->w[(size_t)col * K + k] : 0.0f;
        }
}

void sutra_gemm_pack_into(float *p, const float *w, int N, int K, sutra_pool *pool) {
    pack_job j = {p, w, N, K};
    const int P = (N + SUTRA_GEMM_PANEL - 1) / SUTRA_GEMM_PANEL;
    if (pool) {
        sutra_pool_run(pool, P, pack_panel, &j);
        return;
    }
    for (int pi = 0; pi < P; pi++) pack_panel(&j, pi, 0);
}

float *sutra_gemm_pack(const float *w, int N, int K) {
    float *p = sutra_alloc64(sutra_gemm_packed_floats(N, K) * sizeof(float));
    if (p) sutra_gemm_pack_into(p, w, N, K, NULL);
    return p;
}

/* Applies bias and activation to columns [c0, c0+ncols) of rows [t0, t0+rows) and stores them
 * in out, whose rows are ldo floats apart. */
static void finish_block(float *out, int64_t ldo, const float *acc, int rows, int ldacc, const float *bias, int t0,
                         int c0, int ncols, sutra_act act, sutra_cpu_isa isa) {
    for (int r = 0; r < rows; r++) {
        float *o = out + (t0 + r) * ldo + c0;
        memcpy(o, acc + (size_t)r * ldacc, (size_t)ncols * sizeof(float));
        sutra_bias_act_row(o, bias ? bias + c0 : NULL, ncols, act, isa);
    }
}

/* a (rows x 32) += x (rows, K; rows K apart) @ [w0 | w1] (K x 16 each). Inlined with rows a
 * constant, so that every accumulator stays in a register (with rows a variable, GCC kept six
 * of the sixteen on the stack, reloading and storing them on every k). */
__attribute__((always_inline, target("avx512f"))) static inline void tile_avx512(__m512 a[8][2], const float *x,
                                                                                const float *w0, const float *w1,
                                                                                int K, const int rows) {
    for (int r = 0; r < 8; r++) a[r][0] = a[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 b0 = _mm512_load_ps(w0 + (size_t)k * SUTRA_GEMM_PANEL);
        __m512 b1 = _mm512_load_ps(w1 + (size_t)k * SUTRA_GEMM_PANEL);
#define ROW(r)                                                                                                      \
    if (r < rows) {                                                                                                 \
        __m512 v = _mm512_set1_ps(x[(size_t)(r) * K + k]);                                                          \
        a[r][0] = _mm512_fmadd_ps(v, b0, a[r][0]);                                                                  \
        a[r][1] = _mm512_fmadd_ps(v, b1, a[r][1]);                                                                  \
    }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
    }
}

/* Each block kernel computes the output columns of panel p0 (AVX-512: p0 and p0 + 1) for rows
 * [t_lo, t_hi) of out (rows ldo apart), from inp (rows K apart). */
__attribute__((target("avx512f"))) static void block_avx512(float *out, int64_t ldo, const float *inp,
                                                            const float *packed, const float *bias, int t_lo,
                                                            int t_hi, int N, int K, sutra_act act, int p0) {
    /* columns [p0*16, p0*16 + 32) (two panels; the second may not exist) */
    const int two = (p0 + 1) * SUTRA_GEMM_PANEL < N;
    const float *w0 = packed + (size_t)p0 * K * SUTRA_GEMM_PANEL;
    const float *w1 = two ? w0 + (size_t)K * SUTRA_GEMM_PANEL : w0;
    int c0 = p0 * SUTRA_GEMM_PANEL, ncols = N - c0 < 2 * SUTRA_GEMM_PANEL ? N - c0 : 2 * SUTRA_GEMM_PANEL;
    for (int t0 = t_lo; t0 < t_hi; t0 += 8) {
        int rows = t_hi - t0 < 8 ? t_hi - t0 : 8;
        __m512 a[8][2];
        const float *x = inp + (size_t)t0 * K;
        switch (rows) {
        case 1: tile_avx512(a, x, w0, w1, K, 1); break;
        case 2: tile_avx512(a, x, w0, w1, K, 2); break;
        case 3: tile_avx512(a, x, w0, w1, K, 3); break;
        case 4: tile_avx512(a, x, w0, w1, K, 4); break;
        case 5: tile_avx512(a, x, w0, w1, K, 5); break;
        case 6: tile_avx512(a, x, w0, w1, K, 6); break;
        case 7: tile_avx512(a, x, w0, w1, K, 7); break;
        default: tile_avx512(a, x, w0, w1, K, 8); break;
        }
        if (act == SUTRA_ACT_NONE) { /* bias added in registers, stored straight to out */
            const __mmask16 m0 = ncols >= 16 ? 0xFFFF : (__mmask16)((1u << ncols) - 1);
            const __mmask16 m1 = ncols >= 32 ? 0xFFFF : ncols > 16 ? (__mmask16)((1u << (ncols - 16)) - 1) : 0;
            const __m512 c0v = bias ? _mm512_maskz_loadu_ps(m0, bias + c0) : _mm512_setzero_ps();
            const __m512 c1v = bias ? _mm512_maskz_loadu_ps(m1, bias + c0 + 16) : _mm512_setzero_ps();
            for (int r = 0; r < rows; r++) {
                float *o = out + (t0 + r) * ldo + c0;
                _mm512_mask_storeu_ps(o, m0, _mm512_add_ps(a[r][0], c0v));
                _mm512_mask_storeu_ps(o + 16, m1, _mm512_add_ps(a[r][1], c1v));
            }
            continue;
        }
        float acc[8][32];
        for (int r = 0; r < rows; r++) {
            _mm512_storeu_ps(acc[r], a[r][0]);
            _mm512_storeu_ps(acc[r] + 16, a[r][1]);
        }
        finish_block(out, ldo, &acc[0][0], rows, 32, bias, t0, c0, ncols, act, SUTRA_CPU_ISA_AVX512);
    }
}

/* a (rows x 16) += x (rows, K) @ w (K x 16); rows a constant, as for tile_avx512. */
__attribute__((always_inline, target("avx2,fma"))) static inline void tile_avx2(__m256 a[6][2], const float *x,
                                                                               const float *w, int K, const int rows) {
    for (int r = 0; r < 6; r++) a[r][0] = a[r][1] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_load_ps(w + (size_t)k * SUTRA_GEMM_PANEL);
        __m256 b1 = _mm256_load_ps(w + (size_t)k * SUTRA_GEMM_PANEL + 8);
#define ROW(r)                                                                                                      \
    if (r < rows) {                                                                                                 \
        __m256 v = _mm256_broadcast_ss(x + (size_t)(r) * K + k);                                                    \
        a[r][0] = _mm256_fmadd_ps(v, b0, a[r][0]);                                                                  \
        a[r][1] = _mm256_fmadd_ps(v, b1, a[r][1]);                                                                  \
    }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
}

__attribute__((target("avx2,fma"))) static void block_avx2(float *out, int64_t ldo, const float *inp,
                                                           const float *packed, const float *bias, int t_lo, int t_hi,
                                                           int N, int K, sutra_act act, int p0) {
    const float *w = packed + (size_t)p0 * K * SUTRA_GEMM_PANEL;
    int c0 = p0 * SUTRA_GEMM_PANEL, ncols = N - c0 < SUTRA_GEMM_PANEL ? N - c0 : SUTRA_GEMM_PANEL;
    for (int t0 = t_lo; t0 < t_hi; t0 += 6) {
        int rows = t_hi - t0 < 6 ? t_hi - t0 : 6;
        __m256 a[6][2];
        const float *x = inp + (size_t)t0 * K;
        switch (rows) {
        case 1: tile_avx2(a, x, w, K, 1); break;
        case 2: tile_avx2(a, x, w, K, 2); break;
        case 3: tile_avx2(a, x, w, K, 3); break;
        case 4: tile_avx2(a, x, w, K, 4); break;
        case 5: tile_avx2(a, x, w, K, 5); break;
        default: tile_avx2(a, x, w, K, 6); break;
        }
        float acc[6][16];
        for (int r = 0; r < rows; r++) {
            _mm256_storeu_ps(acc[r], a[r][0]);
            _mm256_storeu_ps(acc[r] + 8, a[r][1]);
        }
        finish_block(out, ldo, &acc[0][0], rows, 16, bias, t0, c0, ncols, act, SUTRA_CPU_ISA_AVX2);
    }
}

static void block_scalar(float *out, int64_t ldo, const float *inp, const float *packed, const float *bias,
                         int t_lo, int t_hi, int N, int K, sutra_act act, int p0) {
    const float *w = packed + (size_t)p0 * K * SUTRA_GEMM_PANEL;
    int c0 = p0 * SUTRA_GEMM_PANEL, ncols = N - c0 < SUTRA_GEMM_PANEL ? N - c0 : SUTRA_GEMM_PANEL;
    for (int t = t_lo; t < t_hi; t++) {
        float acc[SUTRA_GEMM_PANEL] = {0};
        for (int k = 0; k < K; k++) {
            float v = inp[(size_t)t * K + k];
            for (int j = 0; j < SUTRA_GEMM_PANEL; j++) acc[j] += v * w[(size_t)k * SUTRA_GEMM_PANEL + j];
        }
        finish_block(out, ldo, acc, 1, SUTRA_GEMM_PANEL, bias, t, c0, ncols, act, SUTRA_CPU_ISA_SCALAR);
    }
}

/* One block of panels (two with AVX-512, whose kernel covers 32 columns) for rows [t_lo, t_hi). */
static void block(sutra_cpu_isa isa, float *out, int64_t ldo, const float *inp, const float *packed, const float *bias,
                  int t_lo, int t_hi, int N, int K, sutra_act act, int b) {
    if (isa == SUTRA_CPU_ISA_AVX512) block_avx512(out, ldo, inp, packed, bias, t_lo, t_hi, N, K, act, 2 * b);
    else if (isa == SUTRA_CPU_ISA_AVX2) block_avx2(out, ldo, inp, packed, bias, t_lo, t_hi, N, K, act, b);
    else block_scalar(out, ldo, inp, packed, bias, t_lo, t_hi, N, K, act, b);
}

static int blocks_of(sutra_cpu_isa isa, int N) {
    const int P = (N + SUTRA_GEMM_PANEL - 1) / SUTRA_GEMM_PANEL, step = isa == SUTRA_CPU_ISA_AVX512 ? 2 : 1;
    return (P + step - 1) / step;
}

typedef struct small_job {
    float *out;
    const float *inp, *packed, *bias;
    int T, N, K;
    sutra_act act;
    sutra_cpu_isa isa;
} small_job;

static void small_block(void *arg, int b, int worker) {
    (void)worker;
    const small_job *j = arg;
    block(j->isa, j->out, j->N, j->inp, j->packed, j->bias, 0, j->T, j->N, j->K, j->act, b);
}

void sutra_gemm_small(float *out, const float *inp, const float *packed, const float *bias, int T, int N, int K,
                      sutra_act act, sutra_pool *pool, sutra_cpu_isa isa) {
    small_job j = {out, inp, packed, bias, T, N, K, act, isa};
    sutra_pool_run(pool, blocks_of(isa, N), small_block, &j);
}

/* Rows per work item of sutra_gemm_rows: 48 is a whole number of AVX-512 (8) and AVX2 (6) row
 * groups, and 48 input rows (144 KiB at K = 768) stay in L2 while every panel of every segment
 * passes over them. The panels themselves (3 x 64 columns x 768 = 576 KiB for one head's query,
 * key and value) also sit in L2, so x is read from memory once per call. */
#define ROWS_ITEM 48

typedef struct rows_job {
    const sutra_gemm_seg *seg;
    int nseg;
    const float *inp;
    int T, K;
    sutra_cpu_isa isa;
} rows_job;

static void rows_block(void *arg, int it, int worker) {
    (void)worker;
    const rows_job *j = arg;
    const int t_lo = it * ROWS_ITEM, t_hi = j->T - t_lo < ROWS_ITEM ? j->T : t_lo + ROWS_ITEM;
    for (int s = 0; s < j->nseg; s++) {
        const sutra_gemm_seg *g = &j->seg[s];
        for (int b = 0, nb = blocks_of(j->isa, g->N); b < nb; b++)
            block(j->isa, g->out, g->ldo, j->inp, g->packed, g->bias, t_lo, t_hi, g->N, j->K, g->act, b);
    }
}

void sutra_gemm_rows(const sutra_gemm_seg *seg, int nseg, const float *inp, int T, int K, sutra_pool *pool,
                     sutra_cpu_isa isa) {
    rows_job j = {seg, nseg, inp, T, K, isa};
    sutra_pool_run(pool, (T + ROWS_ITEM - 1) / ROWS_ITEM, rows_block, &j);
}
