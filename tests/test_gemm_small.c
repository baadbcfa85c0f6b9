/*
 * test_gemm_small.c - the packed small-T matrix product against a float64 reference, on fresh
 * random inputs, for shapes with partial panels and partial row blocks, with bias and GELU; and
 * the many-row product (sutra_gemm_rows) into several strided outputs, for row counts that end
 * mid-item and mid-group and segments that end mid-panel.
 * Every instruction set the CPU runs is checked in turn. Tolerance: fp32 accumulation over
 * K <= 1536 products of O(1) values: |error| <= 1e-5 * sqrt(K) * max(1, |ref|).
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/elementwise.h"
#include "backend/cpu/gemm_small.h"
#include "testutil.h"

static unsigned long long rng = 0x2545F4914F6CDD1Dull;
static double uniform(void) {
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void run_isa(sutra_cpu_isa isa, sutra_pool *pool) {
    printf("instruction set: %s\n", sutra_cpu_isa_name(isa));
    const int shapes[][3] = {{1, 16, 8}, {7, 33, 5}, {8, 384, 384}, {9, 1152, 384}, {14, 1536, 384},
                             {48, 384, 1536}, {3, 100, 77}, {17, 48, 31}};
    double worst = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int T = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        float *x = malloc((size_t)T * K * 4), *w = malloc((size_t)N * K * 4), *b = malloc((size_t)N * 4);
        float *out = malloc((size_t)T * N * 4);
        for (int i = 0; i < T * K; i++) x[i] = (float)(uniform() * 2 - 1);
        for (int i = 0; i < N * K; i++) w[i] = (float)((uniform() * 2 - 1) / sqrt((double)K));
        for (int i = 0; i < N; i++) b[i] = (float)(uniform() - 0.5);
        float *p = sutra_gemm_pack(w, N, K);
        TU_CHECK(p != NULL, "pack");
        for (int act = 0; act < 2 && p; act++) {
            for (int i = 0; i < T * N; i++) out[i] = NAN;
            sutra_gemm_small(out, x, p, act ? b : NULL, T, N, K, act ? SUTRA_ACT_GELU : SUTRA_ACT_NONE, pool, isa);
            for (int t = 0; t < T; t++)
                for (int n = 0; n < N; n++) {
                    double r = act ? b[n] : 0;
                    for (int k = 0; k < K; k++) r += (double)x[(size_t)t * K + k] * w[(size_t)n * K + k];
                    if (act) r = 0.5 * r * (1 + erf(r / sqrt(2.0)));
                    double e = fabs(out[(size_t)t * N + n] - r) / fmax(1.0, fabs(r));
                    worst = fmax(worst, e);
                    TU_CHECK(e <= 1e-5 * sqrt((double)K), "T=%d N=%d K=%d act=%d at (%d,%d): got %.8g want %.8g", T,
                             N, K, act, t, n, out[(size_t)t * N + n], r);
                    if (!(e <= 1e-5 * sqrt((double)K))) goto next;
                }
        next:;
        }
        free(p), free(x), free(w), free(b), free(out);
    }
    /* sutra_gemm_rows: three segments (as one head group's q, k, v) of the same input, the first
     * written into columns of a wider matrix; T = 1 .. 205 crosses the 48-row items and the 8 (6)
     * row groups, N = 40 and 64 end mid-block and on a block. */
    const int rshapes[][3] = {{1, 64, 96}, {205, 64, 96}, {100, 40, 77}, {49, 16, 33}};
    for (size_t si = 0; si < sizeof rshapes / sizeof rshapes[0]; si++) {
        int T = rshapes[si][0], N = rshapes[si][1], K = rshapes[si][2], ldq = 3 * N + 5;
        float *x = malloc((size_t)T * K * 4), *w = malloc((size_t)3 * N * K * 4), *b = malloc((size_t)3 * N * 4);
        float *q = malloc((size_t)T * ldq * 4), *kv = malloc((size_t)2 * T * N * 4);
        float *p = malloc(3 * sutra_gemm_packed_floats(N, K) * 4 + 64), *pa = (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
        for (int i = 0; i < T * K; i++) x[i] = (float)(uniform() * 2 - 1);
        for (int i = 0; i < 3 * N * K; i++) w[i] = (float)((uniform() * 2 - 1) / sqrt((double)K));
        for (int i = 0; i < 3 * N; i++) b[i] = (float)(uniform() - 0.5);
        for (int i = 0; i < T * ldq; i++) q[i] = NAN;
        for (int i = 0; i < 2 * T * N; i++) kv[i] = NAN;
        sutra_gemm_seg seg[3];
        float *dst[3] = {q + 2, kv, kv + (size_t)T * N};
        const int64_t ld[3] = {ldq, N, N};
        for (int s = 0; s < 3; s++) {
            float *ps = pa + s * sutra_gemm_packed_floats(N, K);
            sutra_gemm_pack_into(ps, w + (size_t)s * N * K, N, K, pool);
            seg[s] = (sutra_gemm_seg){.out = dst[s], .ldo = ld[s], .packed = ps, .bias = s == 1 ? NULL : b + s * N, .N = N};
        }
        sutra_gemm_rows(seg, 3, x, T, K, pool, isa);
        for (int s = 0; s < 3; s++)
            for (int t = 0; t < T; t++)
                for (int n = 0; n < N; n++) {
                    double r = s == 1 ? 0 : b[s * N + n];
                    for (int k = 0; k < K; k++) r += (double)x[(size_t)t * K + k] * w[((size_t)s * N + n) * K + k];
                    double e = fabs(dst[s][t * ld[s] + n] - r) / fmax(1.0, fabs(r));
                    worst = fmax(worst, e);
                    TU_CHECK(e <= 1e-5 * sqrt((double)K), "rows T=%d N=%d K=%d segment %d at (%d,%d): got %.8g want %.8g",
                             T, N, K, s, t, n, dst[s][t * ld[s] + n], r);
                    if (!(e <= 1e-5 * sqrt((double)K))) goto next_rows;
                }
        /* columns of q outside the segment stay untouched */
        for (int t = 0; t < T; t++)
            TU_CHECK(isnan(q[(size_t)t * ldq + 1]) && isnan(q[(size_t)t * ldq + 2 + N]), "rows T=%d N=%d: wrote outside "
                     "the segment in row %d", T, N, t);
    next_rows:
        free(p), free(x), free(w), free(b), free(q), free(kv);
    }
    printf("worst relative error %.3g\n", worst);
}

int main(void) {
    /* every instruction set this CPU runs, each in turn, on one thread and on three (more threads
     * than this machine's cores, so that items are taken by threads the OS has set aside) */
    for (int threads = 1; threads <= 3; threads += 2) {
        sutra_pool *pool;
        char err[256];
        if (sutra_pool_create(threads, &pool, err, sizeof err)) {
            TU_CHECK(0, "pool of %d: %s", threads, err);
            continue;
        }
        printf("%d thread(s)\n", threads);
        for (int want = SUTRA_CPU_ISA_SCALAR; want <= SUTRA_CPU_ISA_AVX512; want++) {
            sutra_cpu_isa isa;
            if (sutra_cpu_isa_resolve((sutra_cpu_isa)want, &isa) == SUTRA_OK) run_isa(isa, pool);
        }
        sutra_pool_destroy(pool);
    }
    return tu_finish("test_gemm_small");
}
