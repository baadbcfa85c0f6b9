/*
 * attention_flash.c - exact FlashAttention forward on the CPU in fp32 (see attention_flash.h).
 *
 * For every work item (sequence b, head h, block of BQ query rows) the kernel walks the key
 * blocks of BK keys that the item can see, and keeps per query row a running max m and running
 * sum l (online softmax), rescaling the unnormalised output accumulator whenever m grows. No
 * N x N matrix is ever formed: per thread it holds one BQ x D query tile, one BK x BQ score tile
 * and one BQ x D accumulator.
 *
 * Layout choice, the one idea that shapes the kernels: scores are kept key-major, S^T (BK, BQ),
 * with the query index along the SIMD lanes. Then
 *   - Q K^T is computed as K Q^T: broadcast k[j][d] (read straight from the strided source
 *     rows, so K needs no packing at all) and FMA it against the transposed query tile
 *     Qt (D, BQ), packed once per item rather than once per key block;
 *   - the softmax max and sum over keys are vertical (element-wise across rows of S^T), so they
 *     need no horizontal reductions and run at full SIMD width for 16 (or 8) queries at a time;
 *   - P V broadcasts p[j][q] and FMAs it against v[j][:], also read from the source rows.
 * Queries are pre-multiplied by scale*log2(e) while packing, so the softmax uses exp2.
 *
 * Rules: no allocation (each thread carves its tiles from its own slice of the caller's
 * workspace); intrinsics live only in functions carrying a target attribute, because the
 * library is built without -march; the ISA is chosen once per process with
 * __builtin_cpu_supports; every kernel family computes the same function (tests compare each
 * against a float64 reference).
 */
#include "backend/cpu/attention_flash.h"

#include "backend/cpu/simd_math.h"

#include <immintrin.h>
#include <math.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* ---- tiles -----------------------------------------------------------------------------------
 *
 * BQ = 64 query rows per work item: the AVX-512 Q K^T micro-kernel keeps 4 keys x 64 queries
 * = 16 zmm accumulators (4 zmm of queries + 1 broadcast alongside: 21 of 32 registers), and the
 * P V micro-kernel 4 query rows x 64 output columns = 16 zmm. 64 rows also amortise packing
 * the query tile (BQ*D floats) over all of the item's key blocks, and N=128 still gives 2*H
 * work items per sequence.
 *
 * BK = 64 keys per block. Per thread, for D = 64 (BQ = BK = 64, fp32):
 *   Qt (D, BQ)    64*64*4 = 16 KiB   read by every key block
 *   S^T (BK, BQ)  64*64*4 = 16 KiB   written by Q K^T, rewritten as P, read by P V
 *   O (BQ, D)     64*64*4 = 16 KiB   read-modify-written by P V once per key block
 *   K, V rows     64*64*4 = 16 KiB each, read from the source rows (each row used BQ/4 times)
 * Each phase touches about 48 KiB (Q K^T: Qt + K rows + S; P V: S + V rows + O): L2-resident
 * (>= 512 KiB per core on current x86), while the operands of the innermost loops - one Qt row
 * (256 B) and 4 K rows, or one V row and 4 P values, plus the 16 accumulators in registers - stay
 * in L1 (32-48 KiB). The kernels are FMA-bound, not memory-bound (about 90 GFLOP/s per Zen 4
 * core): BK = 32, 64 and 128 run within a few percent of each other (bench/attn_cpu_bench.c, one
 * thread, D = 32/64/128, N = 256..2048) and 64 stays within 3% of the best in every case; the
 * per-block overheads BK bounds (softmax bookkeeping, and one O load-scale-store per element per
 * block, i.e. 1 per BK FMAs) are 1.6% at 64. For D = 128 the
 * tiles double and still fit L2. The workspace is 49 KiB per thread for D = 64 and 81 KiB for
 * D = 128, whatever N.
 */
#define FL_BQ 64
#define FL_BK 64
#define FL_ALIGN 64
#define FL_LOG2E 1.44269504088896340736f

/* One thread's tiles, carved from its slice of the workspace. */
typedef struct fl_tile {
    float *qt;    /* (D, BQ): query block transposed, times scale*log2(e); zero past the last row */
    float *s;     /* (BK, BQ): scores S^T in log2 units, then the unnormalised probabilities P^T */
    float *o;     /* (BQ, D): sum over seen keys of P * V, relative to the running max */
    float *m;     /* (BQ): running max of the scores seen so far (-inf before any) */
    float *l;     /* (BQ): running sum of exp2(score - m) */
    float *alpha; /* (BQ): factor the last block rescaled o and l by, exp2(m_old - m_new) */
} fl_tile;

static size_t fl_round(size_t n) { return (n + FL_ALIGN - 1) & ~(size_t)(FL_ALIGN - 1); }

static size_t fl_tile_bytes(int D) {
    return fl_round((size_t)D * FL_BQ * sizeof(float)) + fl_round((size_t)FL_BK * FL_BQ * sizeof(float)) +
           fl_round((size_t)FL_BQ * D * sizeof(float)) + 3 * fl_round((size_t)FL_BQ * sizeof(float));
}

static fl_tile fl_tile_carve(char *base, int D) {
    fl_tile t;
    t.qt = (float *)base;
    base += fl_round((size_t)D * FL_BQ * sizeof(float));
    t.s = (float *)base;
    base += fl_round((size_t)FL_BK * FL_BQ * sizeof(float));
    t.o = (float *)base;
    base += fl_round((size_t)FL_BQ * D * sizeof(float));
    t.m = (float *)base;
    base += fl_round(FL_BQ * sizeof(float));
    t.l = (float *)base;
    base += fl_round(FL_BQ * sizeof(float));
    t.alpha = (float *)base;
    return t;
}

/* ---- exp2 ------------------------------------------------------------------------------------
 * Every argument here is a score minus a running max, or an old max minus a new one, so <= 0;
 * sutra_exp2_* (simd_math.h) are within 2 ulp there and map -inf (masked scores) to exactly 0. */

/* Whole vectors of y = exp2(x); returns how many elements were done. */
__attribute__((target("avx512f"))) static size_t fl_exp2_array_avx512(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, sutra_exp2_avx512(_mm512_loadu_ps(x + i)));
    return i;
}

__attribute__((target("avx2,fma"))) static size_t fl_exp2_array_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, sutra_exp2_avx2(_mm256_loadu_ps(x + i)));
    return i;
}

/* ---- kernels ---------------------------------------------------------------------------------
 *
 * Each family provides the same three steps for one key block of nk (1..BK) keys, on the first
 * `lanes` query lanes (nq rounded up to 16, so that short sequences do not pay for 64):
 *   qk:      s (BK,lanes) = k (nk,D; row stride ks) @ qt (D,lanes); rows nk.. of s may be written
 *            with copies of row nk-1 (never read).
 *   softmax: for each lane, over rows 0..nk-1 of s: m_new = max(m, max_j s),
 *            s := exp2(s - m_new), l := l*alpha + sum_j s with alpha = exp2(m - m_new), m := m_new.
 *            A lane whose every score is -inf (masked) keeps m = -inf, gets p = 0 and alpha = 0.
 *   pv:      for rows 0..nq-1 (rounded up to 4) of o (BQ,D): o := o*alpha + p^T (., nk) @ v (nk,D).
 */
typedef struct fl_kernels {
    void (*qk)(float *s, const float *qt, const float *k, int64_t ks, int nk, int D, int lanes);
    void (*softmax)(float *s, float *m, float *l, float *alpha, int nk, int lanes);
    void (*pv)(float *o, const float *s, const float *alpha, const float *v, int64_t vs, int nk, int nq, int D);
} fl_kernels;

/* -- plain C: the reference family and the fallback for CPUs without AVX2, written so that the
 *    compiler can vectorise the inner loops over the 64 lanes with SSE2. */

static void qk_scalar(float *s, const float *qt, const float *k, int64_t ks, int nk, int D, int lanes) {
    for (int j = 0; j < nk; j++) {
        const float *kr = k + (int64_t)j * ks;
        float *sr = s + (size_t)j * FL_BQ;
        for (int q = 0; q < lanes; q++) sr[q] = 0.0f;
        for (int d = 0; d < D; d++) {
            const float kd = kr[d];
            const float *qd = qt + (size_t)d * FL_BQ;
            for (int q = 0; q < lanes; q++) sr[q] += kd * qd[q];
        }
    }
}

static void softmax_scalar(float *s, float *m, float *l, float *alpha, int nk, int lanes) {
    float mx[FL_BQ], muse[FL_BQ], sum[FL_BQ];
    for (int q = 0; q < lanes; q++) mx[q] = m[q];
    for (int j = 0; j < nk; j++)
        for (int q = 0; q < lanes; q++) mx[q] = s[(size_t)j * FL_BQ + q] > mx[q] ? s[(size_t)j * FL_BQ + q] : mx[q];
    for (int q = 0; q < lanes; q++) {
        /* A lane that has seen only masked keys subtracts 0, so that exp2(-inf - 0) = 0, not NaN. */
        muse[q] = mx[q] == -INFINITY ? 0.0f : mx[q];
        alpha[q] = sutra_exp2_scalar(m[q] - muse[q]);
        sum[q] = 0.0f;
    }
    for (int j = 0; j < nk; j++) {
        float *sr = s + (size_t)j * FL_BQ;
        for (int q = 0; q < lanes; q++) {
            sr[q] = sutra_exp2_scalar(sr[q] - muse[q]);
            sum[q] += sr[q];
        }
    }
    for (int q = 0; q < lanes; q++) {
        l[q] = l[q] * alpha[q] + sum[q];
        m[q] = mx[q];
    }
}

static void pv_scalar(float *o, const float *s, const float *alpha, const float *v, int64_t vs, int nk, int nq,
                      int D) {
    for (int q = 0; q < nq; q++) {
        float *orow = o + (size_t)q * D;
        const float a = alpha[q];
        for (int d = 0; d < D; d++) orow[d] *= a;
        for (int j = 0; j < nk; j++) {
            const float pj = s[(size_t)j * FL_BQ + q];
            const float *vr = v + (int64_t)j * vs;
            for (int d = 0; d < D; d++) orow[d] += pj * vr[d];
        }
    }
}

/* -- AVX-512F. */

/* 4 keys x 16*nv queries per step: 16 accumulators at nv = 4, where each d costs 4 loads of Qt,
 * 4 broadcasts of K and 16 FMAs, so the loop is FMA-bound on every AVX-512 core. */
__attribute__((always_inline, target("avx512f"))) static inline void
qk_lanes_avx512(float *s, const float *qt, const float *k, int64_t ks, int nk, int D, const int nv) {
    for (int j = 0; j < nk; j += 4) {
        const float *kr[4];
        for (int r = 0; r < 4; r++) kr[r] = k + (int64_t)(j + r < nk ? j + r : nk - 1) * ks;
        __m512 acc[4][4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
            for (int u = 0; u < nv; u++) acc[r][u] = _mm512_setzero_ps();
        for (int d = 0; d < D; d++) {
            const float *qd = qt + (size_t)d * FL_BQ;
            __m512 qv[4];
#pragma GCC unroll 4
            for (int u = 0; u < nv; u++) qv[u] = _mm512_load_ps(qd + 16 * u);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                __m512 b = _mm512_set1_ps(kr[r][d]);
#pragma GCC unroll 4
                for (int u = 0; u < nv; u++) acc[r][u] = _mm512_fmadd_ps(b, qv[u], acc[r][u]);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
            for (int u = 0; u < nv; u++) _mm512_store_ps(s + (size_t)(j + r) * FL_BQ + 16 * u, acc[r][u]);
    }
}

__attribute__((target("avx512f"))) static void qk_avx512(float *s, const float *qt, const float *k, int64_t ks,
                                                         int nk, int D, int lanes) {
    switch (lanes / 16) { /* one register layout per width, so the accumulators stay in registers */
    case 1: qk_lanes_avx512(s, qt, k, ks, nk, D, 1); break;
    case 2: qk_lanes_avx512(s, qt, k, ks, nk, D, 2); break;
    case 3: qk_lanes_avx512(s, qt, k, ks, nk, D, 3); break;
    default: qk_lanes_avx512(s, qt, k, ks, nk, D, 4); break;
    }
}

__attribute__((target("avx512f"))) static void softmax_avx512(float *s, float *m, float *l, float *alpha, int nk,
                                                              int lanes) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int g = 0; g < lanes; g += 16) {
        __m512 mold = _mm512_load_ps(m + g);
        __m512 mx = mold;
        for (int j = 0; j < nk; j++) mx = _mm512_max_ps(mx, _mm512_load_ps(s + (size_t)j * FL_BQ + g));
        __mmask16 none = _mm512_cmp_ps_mask(mx, ninf, _CMP_EQ_OQ);
        __m512 muse = _mm512_mask_blend_ps(none, mx, _mm512_setzero_ps());
        __m512 a = sutra_exp2_avx512(_mm512_sub_ps(mold, muse));
        __m512 sum = _mm512_setzero_ps();
        for (int j = 0; j < nk; j++) {
            float *sr = s + (size_t)j * FL_BQ + g;
            __m512 p = sutra_exp2_avx512(_mm512_sub_ps(_mm512_load_ps(sr), muse));
            _mm512_store_ps(sr, p);
            sum = _mm512_add_ps(sum, p);
        }
        _mm512_store_ps(l + g, _mm512_fmadd_ps(_mm512_load_ps(l + g), a, sum));
        _mm512_store_ps(m + g, mx);
        _mm512_store_ps(alpha + g, a);
    }
}

/* o rows q..q+3, columns c..c+16*nv-1: 4 rows x nv zmm accumulators (16 at nv = 4); each key
 * costs nv loads of V, 4 broadcasts of P and 4*nv FMAs. */
__attribute__((always_inline, target("avx512f"))) static inline void
pv_cols_avx512(float *o, const float *s, const float *alpha, const float *v, int64_t vs, int nk, int D, int q,
               int c, const int nv) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        const __m512 a = _mm512_set1_ps(alpha[q + r]);
#pragma GCC unroll 4
        for (int u = 0; u < nv; u++) acc[r][u] = _mm512_mul_ps(_mm512_load_ps(o + (size_t)(q + r) * D + c + 16 * u), a);
    }
    for (int j = 0; j < nk; j++) {
        const float *vr = v + (int64_t)j * vs + c;
        const float *pj = s + (size_t)j * FL_BQ + q;
        __m512 vv[4];
#pragma GCC unroll 4
        for (int u = 0; u < nv; u++) vv[u] = _mm512_loadu_ps(vr + 16 * u);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512 b = _mm512_set1_ps(pj[r]);
#pragma GCC unroll 4
            for (int u = 0; u < nv; u++) acc[r][u] = _mm512_fmadd_ps(b, vv[u], acc[r][u]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int u = 0; u < nv; u++) _mm512_store_ps(o + (size_t)(q + r) * D + c + 16 * u, acc[r][u]);
}

/* Needs D % 16 == 0 (o rows then stay 64-byte aligned). */
__attribute__((target("avx512f"))) static void pv_avx512(float *o, const float *s, const float *alpha,
                                                         const float *v, int64_t vs, int nk, int nq, int D) {
    for (int q = 0; q < nq; q += 4) {
        int c = 0;
        for (; c + 64 <= D; c += 64) pv_cols_avx512(o, s, alpha, v, vs, nk, D, q, c, 4);
        if (c + 32 <= D) {
            pv_cols_avx512(o, s, alpha, v, vs, nk, D, q, c, 2);
            c += 32;
        }
        if (c + 16 <= D) pv_cols_avx512(o, s, alpha, v, vs, nk, D, q, c, 1);
    }
}

/* -- AVX2 + FMA: 16 ymm registers, so the register blocks are half as wide. */

/* 4 keys x 16 queries per step: 8 accumulators; 64 lanes take 4 passes over the keys. */
__attribute__((target("avx2,fma"))) static void qk_avx2(float *s, const float *qt, const float *k, int64_t ks,
                                                        int nk, int D, int lanes) {
    for (int j = 0; j < nk; j += 4) {
        const float *kr[4];
        for (int r = 0; r < 4; r++) kr[r] = k + (int64_t)(j + r < nk ? j + r : nk - 1) * ks;
        for (int g = 0; g < lanes; g += 16) {
            __m256 acc[4][2];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
            for (int d = 0; d < D; d++) {
                const float *qd = qt + (size_t)d * FL_BQ + g;
                const __m256 q0 = _mm256_load_ps(qd), q1 = _mm256_load_ps(qd + 8);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    const __m256 b = _mm256_broadcast_ss(kr[r] + d);
                    acc[r][0] = _mm256_fmadd_ps(b, q0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(b, q1, acc[r][1]);
                }
            }
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                _mm256_store_ps(s + (size_t)(j + r) * FL_BQ + g, acc[r][0]);
                _mm256_store_ps(s + (size_t)(j + r) * FL_BQ + g + 8, acc[r][1]);
            }
        }
    }
}

__attribute__((target("avx2,fma"))) static void softmax_avx2(float *s, float *m, float *l, float *alpha, int nk,
                                                            int lanes) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int g = 0; g < lanes; g += 8) {
        __m256 mold = _mm256_load_ps(m + g);
        __m256 mx = mold;
        for (int j = 0; j < nk; j++) mx = _mm256_max_ps(mx, _mm256_load_ps(s + (size_t)j * FL_BQ + g));
        __m256 none = _mm256_cmp_ps(mx, ninf, _CMP_EQ_OQ);
        __m256 muse = _mm256_blendv_ps(mx, _mm256_setzero_ps(), none);
        __m256 a = sutra_exp2_avx2(_mm256_sub_ps(mold, muse));
        __m256 sum = _mm256_setzero_ps();
        for (int j = 0; j < nk; j++) {
            float *sr = s + (size_t)j * FL_BQ + g;
            __m256 p = sutra_exp2_avx2(_mm256_sub_ps(_mm256_load_ps(sr), muse));
            _mm256_store_ps(sr, p);
            sum = _mm256_add_ps(sum, p);
        }
        _mm256_store_ps(l + g, _mm256_fmadd_ps(_mm256_load_ps(l + g), a, sum));
        _mm256_store_ps(m + g, mx);
        _mm256_store_ps(alpha + g, a);
    }
}

/* o rows q..q+3, columns c..c+8*nv-1: 4 rows x nv ymm accumulators (8 at nv = 2). */
__attribute__((always_inline, target("avx2,fma"))) static inline void
pv_cols_avx2(float *o, const float *s, const float *alpha, const float *v, int64_t vs, int nk, int D, int q, int c,
             const int nv) {
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        const __m256 a = _mm256_set1_ps(alpha[q + r]);
#pragma GCC unroll 2
        for (int u = 0; u < nv; u++) acc[r][u] = _mm256_mul_ps(_mm256_load_ps(o + (size_t)(q + r) * D + c + 8 * u), a);
    }
    for (int j = 0; j < nk; j++) {
        const float *vr = v + (int64_t)j * vs + c;
        const float *pj = s + (size_t)j * FL_BQ + q;
        __m256 vv[2];
#pragma GCC unroll 2
        for (int u = 0; u < nv; u++) vv[u] = _mm256_loadu_ps(vr + 8 * u);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m256 b = _mm256_broadcast_ss(pj + r);
#pragma GCC unroll 2
            for (int u = 0; u < nv; u++) acc[r][u] = _mm256_fmadd_ps(b, vv[u], acc[r][u]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 2
        for (int u = 0; u < nv; u++) _mm256_store_ps(o + (size_t)(q + r) * D + c + 8 * u, acc[r][u]);
}

/* Needs D % 8 == 0. */
__attribute__((target("avx2,fma"))) static void pv_avx2(float *o, const float *s, const float *alpha,
                                                        const float *v, int64_t vs, int nk, int nq, int D) {
    for (int q = 0; q < nq; q += 4) {
        int c = 0;
        for (; c + 16 <= D; c += 16) pv_cols_avx2(o, s, alpha, v, vs, nk, D, q, c, 2);
        if (c + 8 <= D) pv_cols_avx2(o, s, alpha, v, vs, nk, D, q, c, 1);
    }
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* Q K^T and the softmax work for any D; P V's SIMD forms need whole vectors of D, so a head dim
 * that is not a multiple of 16 (or 8) takes the next narrower P V. */
static fl_kernels fl_kernels_for(sutra_cpu_isa isa, int D) {
    fl_kernels k = {qk_scalar, softmax_scalar, pv_scalar};
    if (isa == SUTRA_CPU_ISA_AVX512) {
        k.qk = qk_avx512;
        k.softmax = softmax_avx512;
        k.pv = D % 16 == 0 ? pv_avx512 : D % 8 == 0 ? pv_avx2 : pv_scalar;
    } else if (isa == SUTRA_CPU_ISA_AVX2) {
        k.qk = qk_avx2;
        k.softmax = softmax_avx2;
        k.pv = D % 8 == 0 ? pv_avx2 : pv_scalar;
    }
    return k;
}

/* ---- one work item ------------------------------------------------------------------------- */

static int64_t fl_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t fl_max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Sets the scores of keys j0..j0+nk-1 that queries i0..i0+BQ-1 may not see (window) to -inf.
 * Query lane q sees key j iff (i0+q) - j <= wl and j - (i0+q) <= wr; a negative bound is none. */
static void fl_mask_window(float *s, int nk, int64_t j0, int64_t i0, int wl, int wr) {
    for (int j = 0; j < nk; j++) {
        const int64_t jj = j0 + j;
        int64_t lo = wr >= 0 ? jj - wr - i0 : 0;          /* first lane that sees key jj */
        int64_t hi = wl >= 0 ? jj + wl - i0 : FL_BQ - 1;  /* last lane that sees key jj */
        lo = fl_max64(lo, 0);
        hi = fl_min64(hi, FL_BQ - 1);
        float *sr = s + (size_t)j * FL_BQ;
        if (lo > hi) {
            for (int q = 0; q < FL_BQ; q++) sr[q] = -INFINITY;
            continue;
        }
        for (int64_t q = 0; q < lo; q++) sr[q] = -INFINITY;
        for (int64_t q = hi + 1; q < FL_BQ; q++) sr[q] = -INFINITY;
    }
}

/* Queries i0..i0+nq-1 of head h of the sequence whose first token is s0 and length len. */
static void fl_item(const sutra_attn_params *p, const fl_kernels *kn, fl_tile *t, int64_t s0, int len, int h,
                    int i0) {
    const int D = p->head_dim;
    const int nq = len - i0 < FL_BQ ? len - i0 : FL_BQ;
    const int lanes = (nq + 15) & ~15; /* query lanes the kernels compute: whole 16-lane vectors */
    const int wl = p->window_left, wr = p->causal ? 0 : p->window_right; /* causal: no key after the query */

    /* Prologue: Qt = (q * scale * log2 e)^T, zero-padded to `lanes` so that padding lanes compute
     * finite, ignored values; o zeroed on the rows P V touches (nq rounded up to 4). */
    const float c = p->scale * FL_LOG2E;
    const float *q = (const float *)p->q + (s0 + i0) * p->q_stride + (int64_t)h * D;
    for (int r = 0; r < lanes; r++) {
        const float *qr = q + (int64_t)r * p->q_stride;
        if (r < nq)
            for (int d = 0; d < D; d++) t->qt[(size_t)d * FL_BQ + r] = qr[d] * c;
        else
            for (int d = 0; d < D; d++) t->qt[(size_t)d * FL_BQ + r] = 0.0f;
    }
    memset(t->o, 0, (size_t)((nq + 3) & ~3) * D * sizeof(float));
    for (int r = 0; r < lanes; r++) {
        t->m[r] = -INFINITY;
        t->l[r] = 0.0f;
    }

    /* Main loop over the keys some query of the block can see: [i0 - wl, i0 + nq - 1 + wr]. Key
     * blocks start at that range's first key, so a window of w keys costs about w/BK + 1 blocks. */
    int64_t jlo = wl >= 0 ? fl_max64(0, (int64_t)i0 - wl) : 0;
    int64_t jhi = wr >= 0 ? fl_min64(len, (int64_t)i0 + nq + wr) : len; /* exclusive */
    const int kvh = h / (p->heads / (p->kv_heads ? p->kv_heads : p->heads)); /* grouped-query: its group's head */
    const float *k = (const float *)p->k + s0 * p->k_stride + (int64_t)kvh * D;
    const float *v = (const float *)p->v + s0 * p->v_stride + (int64_t)kvh * D;
    for (int64_t j0 = jlo; j0 < jhi; j0 += FL_BK) {
        const int nk = (int)fl_min64(FL_BK, jhi - j0);
        kn->qk(t->s, t->qt, k + j0 * p->k_stride, p->k_stride, nk, D, lanes);
        if (p->rel_bias) { /* relative position bias: the row of offset j - i, in log2 units */
            const float *rb = (const float *)p->rel_bias + h;
            for (int j = 0; j < nk; j++) {
                float *sr = t->s + (size_t)j * FL_BQ;
                const int64_t base = j0 + j - i0 + p->rel_span - 1; /* the offset row of lane 0 */
                for (int r = 0; r < nq; r++) sr[r] += FL_LOG2E * rb[(base - r) * p->rel_stride];
            }
        }
        /* Mask only blocks with a pair outside the window: with a 64/64 window and BQ = BK = 64
         * that is the first and last of the three blocks an item visits. */
        const int partial = (wl >= 0 && (int64_t)i0 + nq - 1 - j0 > wl) || (wr >= 0 && j0 + nk - 1 - i0 > wr);
        if (partial) fl_mask_window(t->s, nk, j0, i0, wl, wr);
        kn->softmax(t->s, t->m, t->l, t->alpha, nk, lanes);
        kn->pv(t->o, t->s, t->alpha, v + j0 * p->v_stride, p->v_stride, nk, nq, D);
    }

    /* Epilogue: out = o / l; a row that saw no key has l = 0 and is written as zeros. */
    float *out = (float *)p->out + (s0 + i0) * p->o_stride + (int64_t)h * D;
    for (int r = 0; r < nq; r++) {
        const float inv = t->l[r] > 0.0f ? 1.0f / t->l[r] : 0.0f;
        const float *orow = t->o + (size_t)r * D;
        float *dst = out + (int64_t)r * p->o_stride;
        for (int d = 0; d < D; d++) dst[d] = orow[d] * inv;
    }
}

/* ---- entry points -------------------------------------------------------------------------- */

void sutra_cpu_flash_exp2(float *y, const float *x, size_t n, sutra_cpu_isa isa) {
    size_t i = 0;
    if (isa == SUTRA_CPU_ISA_AVX512) i = fl_exp2_array_avx512(y, x, n);
    else if (isa == SUTRA_CPU_ISA_AVX2) i = fl_exp2_array_avx2(y, x, n);
    for (; i < n; i++) y[i] = sutra_exp2_scalar(x[i]);
}

size_t sutra_cpu_flash_workspace(int head_dim, int threads) {
    if (head_dim < 1 || head_dim > SUTRA_CPU_FLASH_MAX_HEAD_DIM || threads < 1) return 0;
    /* FL_ALIGN spare bytes let the caller's buffer start anywhere. */
    return (size_t)threads * fl_tile_bytes(head_dim) + FL_ALIGN;
}

/* Where a worker is in the item sequence: the item -> (sequence, head, block) map walks this
 * cursor forward and needs no table of prefix sums (no allocation). The pool hands out items
 * from one counter in increasing order, so a worker crosses the B sequences once in all,
 * O(B + items); were an item ever before the cursor, it would restart from sequence 0: slower,
 * still right. Workers past FL_CURSORS restart at every item. */
#define FL_CURSORS 256

typedef struct fl_cursor {
    int b;
    int64_t base; /* first item of sequence b */
} fl_cursor;

typedef struct fl_job {
    const sutra_attn_params *p;
    const fl_kernels *kn;
    char *base;
    size_t slice;
    fl_cursor cur[FL_CURSORS];
} fl_job;

static void fl_run_item(void *arg, int it, int worker) {
    fl_job *j = arg;
    const sutra_attn_params *p = j->p;
    const int32_t *cu = p->cu_seqlens;
    const int H = p->heads;
    fl_cursor own = {0, 0}, *c = worker < FL_CURSORS ? &j->cur[worker] : &own;
    if (it < c->base) *c = (fl_cursor){0, 0};
    int64_t nblk;
    for (;;) {
        nblk = ((int64_t)cu[c->b + 1] - cu[c->b] + FL_BQ - 1) / FL_BQ;
        if (it < c->base + (int64_t)H * nblk) break;
        c->base += (int64_t)H * nblk;
        c->b++;
    }
    const int64_t r = it - c->base;
    fl_tile t = fl_tile_carve(j->base + (size_t)worker * j->slice, p->head_dim);
    fl_item(p, j->kn, &t, cu[c->b], cu[c->b + 1] - cu[c->b], (int)(r / nblk), (int)(r % nblk) * FL_BQ);
}

sutra_status sutra_cpu_flash_attention(const sutra_attn_params *p, sutra_pool *pool, void *ws, size_t ws_bytes,
                                       sutra_cpu_isa isa) {
    if (!p || !p->q || !p->k || !p->v || !p->out || !p->cu_seqlens || !ws || !pool) return SUTRA_ERR_INVALID_ARGUMENT;
    if (p->head_dim < 1 || p->heads < 1 || p->batch < 0) return SUTRA_ERR_INVALID_ARGUMENT;
    if (p->head_dim > SUTRA_CPU_FLASH_MAX_HEAD_DIM || (p->rel_span > 0) != (p->rel_bias != NULL)) return SUTRA_ERR_UNSUPPORTED;
    const int kvh = p->kv_heads ? p->kv_heads : p->heads;
    if (kvh < 1 || p->heads % kvh || (p->rel_span && p->max_seqlen > p->rel_span)) return SUTRA_ERR_INVALID_ARGUMENT;
    const int64_t HD = (int64_t)p->heads * p->head_dim, KVD = (int64_t)kvh * p->head_dim;
    if (p->q_stride < HD || p->k_stride < KVD || p->v_stride < KVD || p->o_stride < HD)
        return SUTRA_ERR_INVALID_ARGUMENT;
    const size_t need = sutra_cpu_flash_workspace(p->head_dim, sutra_pool_threads(pool));
    if (need == 0 || ws_bytes < need) return SUTRA_ERR_INVALID_ARGUMENT;
    const int32_t *cu = p->cu_seqlens;
    if (cu[0] != 0) return SUTRA_ERR_INVALID_ARGUMENT;
    /* Work items in the order (sequence, head, query block): consecutive items of one
     * (sequence, head) share their K and V, which stay warm in the shared cache levels. */
    int64_t items = 0;
    for (int b = 0; b < p->batch; b++) {
        if (cu[b + 1] < cu[b]) return SUTRA_ERR_INVALID_ARGUMENT;
        items += (int64_t)p->heads * (((int64_t)cu[b + 1] - cu[b] + FL_BQ - 1) / FL_BQ);
        if (items > INT_MAX) return SUTRA_ERR_INVALID_ARGUMENT;
    }
    const fl_kernels kn = fl_kernels_for(isa, p->head_dim);
    fl_job *j = &(fl_job){.p = p, .kn = &kn};
    j->base = (char *)(((uintptr_t)ws + FL_ALIGN - 1) & ~(uintptr_t)(FL_ALIGN - 1));
    j->slice = fl_tile_bytes(p->head_dim);
    sutra_pool_run(pool, (int)items, fl_run_item, j);
    return SUTRA_OK;
}
