/*
 * gemm_small.c - see gemm_small.h.
 *
 * Micro-kernels: AVX-512 keeps an (up to 8 rows) x (32 columns = 2 panels) block of the output
 * in 16 zmm accumulators; per k it loads 2 weight vectors and broadcasts one input value per row:
 * 2 loads + 8 broadcasts for 16 FMAs. AVX2 keeps (up to 6 rows) x (16 columns = 1 panel) in 12 ymm
 * accumulators. The weight panels stream from memory once per 8 (6) rows, which for one short
 * sentence means once: the kernel then runs at the speed of reading the weights.
 */
#include "backend/cpu/gemm_small.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/elementwise.h"
#include "util/common.h"

float *sutra_gemm_pack(const float *w, int N, int K) {
    const int P = (N + SUTRA_GEMM_PANEL - 1) / SUTRA_GEMM_PANEL;
    size_t n = (size_t)P * SUTRA_GEMM_PANEL * K;
    float *p = sutra_alloc64(n * sizeof(float));
    if (!p) return NULL;
    for (int pi = 0; pi < P; pi++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < SUTRA_GEMM_PANEL; j++) {
                int col = pi * SUTRA_GEMM_PANEL + j;
                p[((size_t)pi * K + k) * SUTRA_GEMM_PANEL + j] = col < N ? w[(size_t)col * K + k] : 0.0f;
            }
    return p;
}

/* Applies bias and activation to columns [c0, c0+ncols) of rows [t0, t0+rows) and stores. */
static void finish_block(float *out, const float *acc, int rows, int ldacc, const float *bias, int t0, int c0,
                         int ncols, int N, sutra_act act) {
    for (int r = 0; r < rows; r++) {
        float *o = out + (size_t)(t0 + r) * N + c0;
        memcpy(o, acc + (size_t)r * ldacc, (size_t)ncols * sizeof(float));
        sutra_bias_act_row(o, bias ? bias + c0 : NULL, ncols, act);
    }
}

__attribute__((target("avx512f"))) static void block_avx512(float *out, const float *inp, const float *packed,
                                                            const float *bias, int T, int N, int K, sutra_act act,
                                                            int p0) {
    /* columns [p0*16, p0*16 + 32) (two panels; the second may not exist) */
    const int two = (p0 + 1) * SUTRA_GEMM_PANEL < N;
    const float *w0 = packed + (size_t)p0 * K * SUTRA_GEMM_PANEL;
    const float *w1 = two ? w0 + (size_t)K * SUTRA_GEMM_PANEL : w0;
    int c0 = p0 * SUTRA_GEMM_PANEL, ncols = N - c0 < 2 * SUTRA_GEMM_PANEL ? N - c0 : 2 * SUTRA_GEMM_PANEL;
    for (int t0 = 0; t0 < T; t0 += 8) {
        int rows = T - t0 < 8 ? T - t0 : 8;
        __m512 a[8][2];
        for (int r = 0; r < 8; r++) a[r][0] = a[r][1] = _mm512_setzero_ps();
        const float *x = inp + (size_t)t0 * K;
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
        float acc[8][32];
        for (int r = 0; r < rows; r++) {
            _mm512_storeu_ps(acc[r], a[r][0]);
            _mm512_storeu_ps(acc[r] + 16, a[r][1]);
        }
        finish_block(out, &acc[0][0], rows, 32, bias, t0, c0, ncols, N, act);
    }
}

__attribute__((target("avx2,fma"))) static void block_avx2(float *out, const float *inp, const float *packed,
                                                           const float *bias, int T, int N, int K, sutra_act act,
                                                           int p0) {
    const float *w = packed + (size_t)p0 * K * SUTRA_GEMM_PANEL;
    int c0 = p0 * SUTRA_GEMM_PANEL, ncols = N - c0 < SUTRA_GEMM_PANEL ? N - c0 : SUTRA_GEMM_PANEL;
    for (int t0 = 0; t0 < T; t0 += 6) {
        int rows = T - t0 < 6 ? T - t0 : 6;
        __m256 a[6][2];
        for (int r = 0; r < 6; r++) a[r][0] = a[r][1] = _mm256_setzero_ps();
        const float *x = inp + (size_t)t0 * K;
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
        float acc[6][16];
        for (int r = 0; r < rows; r++) {
            _mm256_storeu_ps(acc[r], a[r][0]);
            _mm256_storeu_ps(acc[r] + 8, a[r][1]);
        }
        finish_block(out, &acc[0][0], rows, 16, bias, t0, c0, ncols, N, act);
    }
}

static void block_scalar(float *out, const float *inp, const float *packed, const float *bias, int T, int N, int K,
                         sutra_act act, int p0) {
    const float *w = packed + (size_t)p0 * K * SUTRA_GEMM_PANEL;
    int c0 = p0 * SUTRA_GEMM_PANEL, ncols = N - c0 < SUTRA_GEMM_PANEL ? N - c0 : SUTRA_GEMM_PANEL;
    for (int t = 0; t < T; t++) {
        float acc[SUTRA_GEMM_PANEL] = {0};
        for (int k = 0; k < K; k++) {
            float v = inp[(size_t)t * K + k];
            for (int j = 0; j < SUTRA_GEMM_PANEL; j++) acc[j] += v * w[(size_t)k * SUTRA_GEMM_PANEL + j];
        }
        finish_block(out, acc, 1, SUTRA_GEMM_PANEL, bias, t, c0, ncols, N, act);
    }
}

void sutra_gemm_small(float *out, const float *inp, const float *packed, const float *bias, int T, int N, int K,
                      sutra_act act, int threads) {
    const int P = (N + SUTRA_GEMM_PANEL - 1) / SUTRA_GEMM_PANEL;
    const sutra_isa isa = sutra_cpu_isa();
    const int step = isa == SUTRA_ISA_AVX512 ? 2 : 1; /* panels per block */
    const int blocks = (P + step - 1) / step;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int b = 0; b < blocks; b++) {
        if (isa == SUTRA_ISA_AVX512) block_avx512(out, inp, packed, bias, T, N, K, act, b * step);
        else if (isa == SUTRA_ISA_AVX2) block_avx2(out, inp, packed, bias, T, N, K, act, b);
        else block_scalar(out, inp, packed, bias, T, N, K, act, b);
    }
}
