/*
 * gemm_small.h - matrix products with few rows (T <= SUTRA_GEMM_SMALL_MAX_T), on weights packed
 * once into column panels.
 *
 * Why: for a single sentence (T ~ 10-30) a BLAS call spends as long re-packing the weight matrix
 * as it does multiplying; here the packing happens once per weight, at first use, and the bias
 * and activation are applied while the result is still in registers.
 *
 * The same kernels also serve the opposite shape, many rows and few columns (one attention
 * head's query, key and value projections of a long input: T = 4096, N = 3 x 64): there BLAS
 * re-packs the whole (T, K) input on every call, which made twelve per-head calls 2.4x slower
 * than one fused call; sutra_gemm_rows reads the input rows in place, once, and packs only the
 * few weight rows (a 576 KiB copy per head for bert-base, made by the caller).
 *
 * And every product, where the OpenBLAS at hand runs a core without the vector instructions the
 * CPU has (cpu_backend.c, blas_is_slow: Debian's OpenBLAS 0.3.21 takes an unrecognised Xeon for
 * a Prescott, SSE3 only): there sutra_gemm_rows ran at 150-235 GFLOP/s on 2 cores against that
 * OpenBLAS's 34-40 (T = 512, N x K = 6144 x 1024 and 1024 x 3072; OpenBLAS on its SkylakeX
 * kernels, OPENBLAS_CORETYPE=SkylakeX, ran at 190-243).
 */
#ifndef SUTRA_GEMM_SMALL_H
#define SUTRA_GEMM_SMALL_H

#include "backend/backend.h"
#include "backend/cpu/pool.h"

#define SUTRA_GEMM_SMALL_MAX_T 48
#define SUTRA_GEMM_PANEL 16 /* columns per panel: one AVX-512 vector */

/* Packs w (N, K) row-major into panels: panel p, row k holds w[p*16 + j][k] for j < 16 (zero past
 * N). Returns a 64-byte aligned buffer of ceil(N/16)*16*K floats (free() it), or NULL. */
float *sutra_gemm_pack(const float *w, int N, int K);

/* The same into p, which holds sutra_gemm_packed_floats(N, K) floats and is 64-byte aligned;
 * the pool's threads split the panels. */
size_t sutra_gemm_packed_floats(int N, int K);
void sutra_gemm_pack_into(float *p, const float *w, int N, int K, sutra_pool *pool);

/* out (T, N) = act(inp (T, K) @ w^T + bias) with w packed by sutra_gemm_pack; bias may be NULL.
 * The pool's threads take blocks of panels; isa is a resolved set (cpu_isa.h). */
void sutra_gemm_small(float *out, const float *inp, const float *packed, const float *bias, int T, int N, int K,
                      sutra_act act, sutra_pool *pool, sutra_cpu_isa isa);

/* One output of sutra_gemm_rows: out (T, N), rows ldo floats apart, = act(inp @ w^T + bias) for
 * w packed by sutra_gemm_pack(_into); bias may be NULL; act 0 (NONE) unless set. */
typedef struct sutra_gemm_seg {
    float *out;
    int64_t ldo;
    const float *packed;
    const float *bias;
    int N;
    sutra_act act;
} sutra_gemm_seg;

/* Every segment's product over the same input inp (T, K), for any T. The pool's threads take blocks
 * of rows, and each block of rows passes under every panel of every segment before the next block
 * is read. */
void sutra_gemm_rows(const sutra_gemm_seg *seg, int nseg, const float *inp, int T, int K, sutra_pool *pool,
                     sutra_cpu_isa isa);

#endif /* SUTRA_GEMM_SMALL_H */
