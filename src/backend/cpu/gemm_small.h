/*
 * gemm_small.h - matrix products with few rows (T <= SUTRA_GEMM_SMALL_MAX_T), on weights packed
 * once into column panels.
 *
 * Why: for a single sentence (T ~ 10-30) a BLAS call spends as long re-packing the weight matrix
 * as it does multiplying; here the packing happens once per weight, at first use, and the bias
 * and activation are applied while the result is still in registers.
 */
#ifndef SUTRA_GEMM_SMALL_H
#define SUTRA_GEMM_SMALL_H

#include "backend/backend.h"

#define SUTRA_GEMM_SMALL_MAX_T 48
#define SUTRA_GEMM_PANEL 16 /* columns per panel: one AVX-512 vector */

/* Packs w (N, K) row-major into panels: panel p, row k holds w[p*16 + j][k] for j < 16 (zero past
 * N). Returns a 64-byte aligned buffer of ceil(N/16)*16*K floats (free() it), or NULL. */
float *sutra_gemm_pack(const float *w, int N, int K);

/* out (T, N) = act(inp (T, K) @ w^T + bias) with w packed by sutra_gemm_pack; bias may be NULL.
 * Threads split the panels. */
void sutra_gemm_small(float *out, const float *inp, const float *packed, const float *bias, int T, int N, int K,
                      sutra_act act, int threads);

#endif /* SUTRA_GEMM_SMALL_H */
