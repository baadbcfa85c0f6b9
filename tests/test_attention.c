/*
 * test_attention.c - CPU attention (standard and flash paths) against a float64 reference.
 *
 * Rules: inputs are fresh seeded random numbers, never stored fixtures; every run first fills the
 * output with a NaN poison, then checks that every element of the (T, H, D) rows was written and
 * that nothing outside them (the row padding of a strided output) was; both paths go through
 * sutra_cpu_attention(), and each flash kernel family this CPU has is pinned in turn; invalid
 * parameters must be rejected without a write. The whole program runs in a few seconds on two
 * cores (the float64 reference is the slow part; it runs on all cores).
 *
 * Tolerance. Inputs: q, k ~ N(0, 1.7^2) so that logits q.k/sqrt(D) have a standard deviation of
 * about 2.9 (peaked rows with weights over several orders of magnitude, as in trained models),
 * v ~ N(0, 1). Errors against float64, for fp32 arithmetic (eps = 2^-24 ~ 6e-8 per rounding):
 *   - a logit is a D-term dot product scaled by 1/sqrt(D): its rounding error is about
 *     sqrt(D) * eps * |q_d k_d| / sqrt(D) ~ 2e-7 absolute, which becomes the relative error of
 *     its weight exp(logit); exp itself adds 1-2 ulp (~2e-7);
 *   - the output is a weighted mean of N values with weights p_j/l: summing N terms in fp32 adds
 *     a relative error ~ sqrt(N) * eps typically (N * eps at worst), relative to sum|p_j v_j|/l,
 *     which is at most max|v| (~4.5 here);
 *   - flash also rescales its accumulator once per key block (N/64 more roundings).
 * At N = 4096 that is sqrt(N) * eps * 4.5 ~ 1.7e-5 as a typical-case bound. Tolerances, per case:
 * relative L2 error (||out - ref|| / ||ref|| over the whole output) <= 1e-5, and max abs error
 * <= 2e-5 * max|v| * max(1, sqrt(N / 512)), the sqrt(N) growth of the summation error. Measured
 * (Zen 4, every kernel family): flash relative L2 <= 1.5e-6 and max abs <= 8e-6 (N = 4096); the
 * standard path up to 2.9e-6 and 3.8e-5 (its fp32 row sums of N terms). So the tolerances sit
 * 3-7x above the worst measured error and far below what a real bug gives (a missed rescale, a
 * dropped key block or a wrong mask costs > 1e-3). Flash and standard must agree to the same
 * tolerances.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/attention.h"
#include "backend/cpu/attention_flash.h"
#include "backend/cpu/cpu_isa.h"
#include "testutil.h"

/* ---- random inputs ------------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(void) { return ((rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static float rng_normal(void) { /* Box-Muller; one of the pair is enough here */
    double u1 = rng_uniform(), u2 = rng_uniform();
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- reference ---------------------------------------------------------------------------- */

/* ref (T, H, D), dense, in double: softmax over each query's visible keys, computed directly,
 * for every step-th query of each sequence (the first and the last always); the rows skipped are
 * NaN, and compare() leaves them out (it still checks that they were written). */
static void reference(double *ref, const sutra_attn_params *p, int step) {
    const int H = p->heads, D = p->head_dim;
    const float *Q = p->q, *K = p->k, *V = p->v;
    for (int b = 0; b < p->batch; b++) {
        const int s0 = p->cu_seqlens[b], n = p->cu_seqlens[b + 1] - s0;
#pragma omp parallel for schedule(dynamic)
        for (int i = 0; i < n; i++) {
            if (i % step != 0 && i != n - 1) {
                for (int c = 0; c < H * D; c++) ref[(int64_t)(s0 + i) * H * D + c] = NAN;
                continue;
            }
            int lo = 0, hi = n;
            if (p->window_left >= 0 && i - p->window_left > lo) lo = i - p->window_left;
            if (p->window_right >= 0 && i + p->window_right + 1 < hi) hi = i + p->window_right + 1;
            if (p->causal && i + 1 < hi) hi = i + 1;
            double *w = malloc(sizeof(double) * (size_t)(hi - lo > 0 ? hi - lo : 1));
            for (int h = 0; h < H; h++) {
                const int kvh = p->kv_heads ? h / (H / p->kv_heads) : h;
                const float *q = Q + (int64_t)(s0 + i) * p->q_stride + (int64_t)h * D;
                double mx = -INFINITY;
                for (int j = lo; j < hi; j++) {
                    const float *k = K + (int64_t)(s0 + j) * p->k_stride + (int64_t)kvh * D;
                    double a0 = 0, a1 = 0, a2 = 0, a3 = 0; /* four chains: latency, not accuracy */
                    int d = 0;
                    for (; d + 4 <= D; d += 4) {
                        a0 += (double)q[d] * k[d];
                        a1 += (double)q[d + 1] * k[d + 1];
                        a2 += (double)q[d + 2] * k[d + 2];
                        a3 += (double)q[d + 3] * k[d + 3];
                    }
                    for (; d < D; d++) a0 += (double)q[d] * k[d];
                    w[j - lo] = (a0 + a1 + a2 + a3) * (double)p->scale;
                    if (w[j - lo] > mx) mx = w[j - lo];
                }
                double sum = 0;
                for (int j = lo; j < hi; j++) sum += (w[j - lo] = exp(w[j - lo] - mx));
                double *o = ref + ((int64_t)(s0 + i) * H + h) * D;
                for (int d = 0; d < D; d++) o[d] = 0;
                for (int j = lo; j < hi; j++) {
                    const float *v = V + (int64_t)(s0 + j) * p->v_stride + (int64_t)kvh * D;
                    const double wj = w[j - lo] / sum;
                    for (int d = 0; d < D; d++) o[d] += wj * v[d];
                }
            }
            free(w);
        }
    }
}

/* ---- one case ----------------------------------------------------------------------------- */

/* The pools the cases run on, by thread count (1-3; 3 is more than this machine's cores, so that
 * items are taken by threads the OS has set aside). */
static sutra_pool *pools[4];

typedef struct err_stats {
    double max_abs, rel_l2;
    int unwritten, clobbered; /* NaN left inside the rows / poison overwritten outside them */
} err_stats;

static const uint32_t POISON = 0x7fc0dead; /* a quiet NaN with a recognisable payload */

static void poison(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) memcpy(x + i, &POISON, sizeof(float));
}

static int is_poison(const float *x) { return memcmp(x, &POISON, sizeof(float)) == 0; }

/* Compares out (T rows of stride o_stride) with ref (T, H*D); also counts unwritten elements and
 * writes into the padding between rows. */
static err_stats compare(const float *out, const double *ref, int T, int HD, int64_t o_stride) {
    err_stats e = {0, 0, 0, 0};
    double num = 0, den = 0;
    for (int t = 0; t < T; t++) {
        for (int c = 0; c < HD; c++) {
            const float x = out[(int64_t)t * o_stride + c];
            const double r = ref[(int64_t)t * HD + c];
            if (!isfinite(x)) {
                e.unwritten++;
                continue;
            }
            if (isnan(r)) continue; /* a row the reference skipped */
            const double d = fabs((double)x - r);
            if (d > e.max_abs) e.max_abs = d;
            num += d * d;
            den += r * r;
        }
        for (int64_t c = HD; c < o_stride; c++) e.clobbered += !is_poison(out + (int64_t)t * o_stride + c);
    }
    e.rel_l2 = den > 0 ? sqrt(num / den) : sqrt(num);
    return e;
}

typedef struct attn_case {
    const char *name;
    int D, H;
    int B;
    const int *lens;
    int fused;      /* q, k, v as column slices of one (T, 3C) buffer */
    int wl, wr;     /* window, -1 = none */
    int threads;
    int all_isas;   /* also run flash with every kernel family this CPU has */
    int ref_step;   /* reference for every ref_step-th query only (0: all), to bound its O(N^2) cost */
    int Hkv;        /* key/value heads (grouped-query attention); 0: H */
    int causal;
} attn_case;

static double worst_rel_l2, worst_abs_ratio;

static void run_case(const attn_case *tc) {
    const int D = tc->D, H = tc->H, HD = H * D, B = tc->B, Hkv = tc->Hkv ? tc->Hkv : H, KVD = Hkv * D;
    int32_t *cu = malloc(sizeof(int32_t) * (size_t)(B + 1));
    int maxlen = 0;
    cu[0] = 0;
    for (int b = 0; b < B; b++) {
        cu[b + 1] = cu[b] + tc->lens[b];
        if (tc->lens[b] > maxlen) maxlen = tc->lens[b];
    }
    const int T = cu[B];

    /* Inputs: a fused (T, 3C) buffer, or three buffers with row padding (odd strides on purpose);
     * the output always has padding so that writes past a row are caught. */
    float *in = NULL, *q, *k, *v;
    int64_t qs, ks, vs;
    if (tc->fused) {
        qs = ks = vs = (int64_t)HD + 2 * KVD;
        in = malloc(sizeof(float) * (size_t)T * (size_t)qs);
        q = in, k = in + HD, v = in + HD + KVD;
    } else {
        qs = HD + 3, ks = KVD + 5, vs = KVD + 7;
        in = malloc(sizeof(float) * (size_t)T * (qs + ks + vs));
        q = in, k = in + (size_t)T * qs, v = k + (size_t)T * ks;
    }
    float vmax = 0;
    for (int t = 0; t < T; t++) {
        for (int c = 0; c < HD; c++) q[(int64_t)t * qs + c] = 1.7f * rng_normal();
        for (int c = 0; c < KVD; c++) {
            k[(int64_t)t * ks + c] = 1.7f * rng_normal();
            v[(int64_t)t * vs + c] = rng_normal();
            if (fabsf(v[(int64_t)t * vs + c]) > vmax) vmax = fabsf(v[(int64_t)t * vs + c]);
        }
    }
    const int64_t os = HD + 4;
    float *out[2];
    for (int i = 0; i < 2; i++) out[i] = malloc(sizeof(float) * (size_t)T * os);

    sutra_attn_params p = {.q = q, .k = k, .v = v, .q_stride = qs, .k_stride = ks, .v_stride = vs, .o_stride = os,
                          .cu_seqlens = cu, .batch = B, .max_seqlen = maxlen, .heads = H, .head_dim = D,
                          .scale = 1.0f / sqrtf((float)D), .window_left = tc->wl, .window_right = tc->wr,
                          .kv_heads = tc->Hkv, .causal = tc->causal};
    double *ref = malloc(sizeof(double) * (size_t)T * HD);
    reference(ref, &p, tc->ref_step > 0 ? tc->ref_step : 1);

    const double tol_rel = 1e-5;
    const double tol_abs = 2e-5 * vmax * fmax(1.0, sqrt(maxlen / 512.0));
    for (int path = 0; path < 2; path++) {
        /* the widest set, or every set this CPU runs in turn */
        const int all = path == SUTRA_ATTN_FLASH && tc->all_isas;
        const int first = all ? SUTRA_CPU_ISA_SCALAR : SUTRA_CPU_ISA_AUTO;
        const int last = all ? SUTRA_CPU_ISA_AVX512 : SUTRA_CPU_ISA_AUTO;
        for (int want = first; want <= last; want++) {
            sutra_cpu_isa isa;
            if (sutra_cpu_isa_resolve((sutra_cpu_isa)want, &isa) != SUTRA_OK) continue;
            const size_t wsb = sutra_cpu_attention_workspace((sutra_attn_path)path, maxlen, D, tc->threads);
            void *ws = malloc(wsb ? wsb : 1);
            poison(out[path], (size_t)T * os);
            p.out = out[path];
            sutra_status st = sutra_cpu_attention(&p, (sutra_attn_path)path, pools[tc->threads], ws, wsb, isa);
            free(ws);
            const char *pname = path == SUTRA_ATTN_FLASH ? "flash" : "standard";
            const char *iname = sutra_cpu_isa_name(isa);
            TU_CHECK(st == SUTRA_OK, "%s %s/%s: status %d", tc->name, pname, iname, (int)st);
            err_stats e = compare(out[path], ref, T, HD, os);
            printf("  %-34s %-8s %-8s T=%-5d max_abs %.2e  rel_l2 %.2e\n", tc->name, pname, iname, T, e.max_abs,
                   e.rel_l2);
            TU_CHECK(e.unwritten == 0, "%s %s/%s: %d output elements not written", tc->name, pname, iname, e.unwritten);
            TU_CHECK(e.clobbered == 0, "%s %s/%s: %d elements written past the rows", tc->name, pname, iname,
                     e.clobbered);
            TU_CHECK(e.max_abs <= tol_abs, "%s %s/%s: max abs error %.3e > %.3e", tc->name, pname, iname, e.max_abs,
                     tol_abs);
            TU_CHECK(e.rel_l2 <= tol_rel, "%s %s/%s: relative L2 error %.3e > %.3e", tc->name, pname, iname, e.rel_l2,
                     tol_rel);
            if (e.rel_l2 > worst_rel_l2) worst_rel_l2 = e.rel_l2;
            if (e.max_abs / tol_abs > worst_abs_ratio) worst_abs_ratio = e.max_abs / tol_abs;
        }
    }

    /* The two paths against each other: same tolerance, the reference's role taken by standard. */
    double num = 0, den = 0, mx = 0;
    for (int t = 0; t < T; t++)
        for (int c = 0; c < HD; c++) {
            const double a = out[0][(int64_t)t * os + c], b = out[1][(int64_t)t * os + c];
            mx = fmax(mx, fabs(a - b));
            num += (a - b) * (a - b);
            den += a * a;
        }
    const double rel = den > 0 ? sqrt(num / den) : 0;
    TU_CHECK(mx <= tol_abs && rel <= tol_rel, "%s: flash vs standard differ: max abs %.3e, rel L2 %.3e", tc->name, mx,
             rel);

    free(ref);
    for (int i = 0; i < 2; i++) free(out[i]);
    free(in);
    free(cu);
}

/* Head dims outside the standard set go through flash's generic kernels; called directly, since
 * which head dims the dispatcher routes is its own business (as is whether it accepts an empty
 * sequence, which flash does: the batch here has one in the middle). */
static void run_flash_generic(int D, int n) {
    const int H = 2, HD = H * D;
    int32_t cu[4] = {0, n / 3, n / 3, n};
    float *x = malloc(sizeof(float) * (size_t)n * 3 * HD);
    for (int64_t i = 0; i < (int64_t)n * 3 * HD; i++) x[i] = 1.7f * rng_normal();
    float vmax = 0;
    for (int t = 0; t < n; t++)
        for (int c = 0; c < HD; c++) {
            x[(int64_t)t * 3 * HD + 2 * HD + c] /= 1.7f;
            vmax = fmaxf(vmax, fabsf(x[(int64_t)t * 3 * HD + 2 * HD + c]));
        }
    float *out = malloc(sizeof(float) * (size_t)n * HD);
    double *ref = malloc(sizeof(double) * (size_t)n * HD);
    sutra_attn_params p = {.q = x, .k = x + HD, .v = x + 2 * HD, .out = out, .q_stride = 3 * HD, .k_stride = 3 * HD,
                           .v_stride = 3 * HD, .o_stride = HD, .cu_seqlens = cu, .batch = 3, .max_seqlen = n - n / 3,
                           .heads = H, .head_dim = D, .scale = 1.0f / sqrtf((float)D), .window_left = -1,
                           .window_right = -1};
    reference(ref, &p, 1);
    for (int want = SUTRA_CPU_ISA_SCALAR; want <= SUTRA_CPU_ISA_AVX512; want++) {
        sutra_cpu_isa isa;
        if (sutra_cpu_isa_resolve((sutra_cpu_isa)want, &isa) != SUTRA_OK) continue;
        const char *iname = sutra_cpu_isa_name(isa);
        const size_t wsb = sutra_cpu_flash_workspace(D, 2);
        void *ws = malloc(wsb);
        poison(out, (size_t)n * HD);
        sutra_status st = sutra_cpu_flash_attention(&p, pools[2], ws, wsb, isa);
        free(ws);
        TU_CHECK(st == SUTRA_OK, "flash D=%d %s: status %d", D, iname, (int)st);
        err_stats e = compare(out, ref, n, HD, HD);
        char name[32];
        snprintf(name, sizeof name, "D=%d, flash directly", D);
        printf("  %-34s %-8s %-8s T=%-5d max_abs %.2e  rel_l2 %.2e\n", name, "flash", iname, n, e.max_abs, e.rel_l2);
        TU_CHECK(e.unwritten == 0 && e.max_abs <= 2e-5 * vmax && e.rel_l2 <= 1e-5,
                 "flash D=%d %s: %d unwritten, max abs %.3e, rel L2 %.3e", D, iname, e.unwritten, e.max_abs, e.rel_l2);
    }
    free(ref);
    free(out);
    free(x);
}

/* ---- exp2 --------------------------------------------------------------------------------- */

static int64_t ulp_diff(float a, double ref) {
    const float r = (float)ref;
    int32_t ia, ir;
    memcpy(&ia, &a, 4);
    memcpy(&ir, &r, 4);
    return ia > ir ? (int64_t)ia - ir : (int64_t)ir - ia;
}

/* The softmax's exp2 against exp2 in double, over a dense grid of [-126, 0] (below that results
 * are subnormal and flushed to 0 by design) plus the special values it must get exactly. */
static void test_exp2(void) {
    const size_t n = 1 << 20;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = -126.0f * (float)i / (float)(n - 1);
    for (int want = SUTRA_CPU_ISA_SCALAR; want <= SUTRA_CPU_ISA_AVX512; want++) {
        sutra_cpu_isa isa;
        if (sutra_cpu_isa_resolve((sutra_cpu_isa)want, &isa) != SUTRA_OK) continue;
        const char *iname = sutra_cpu_isa_name(isa);
        sutra_cpu_flash_exp2(y, x, n, isa);
        int64_t worst = 0;
        for (size_t i = 0; i < n; i++) {
            const int64_t u = ulp_diff(y[i], exp2((double)x[i]));
            if (u > worst) worst = u;
        }
        printf("  exp2 %-8s max error %lld ulp over [-126, 0]\n", iname, (long long)worst);
        TU_CHECK(worst <= 2, "exp2 %s: %lld ulp", iname, (long long)worst);
        float sx[32], sy[32];
        for (int i = 0; i < 32; i++) sx[i] = i % 4 == 0 ? 0.0f : i % 4 == 1 ? -INFINITY : i % 4 == 2 ? -200.0f : -1.0f;
        sutra_cpu_flash_exp2(sy, sx, 32, isa);
        int bad = 0;
        for (int i = 0; i < 32; i++) bad += sy[i] != (i % 4 == 0 ? 1.0f : i % 4 == 3 ? 0.5f : 0.0f);
        TU_CHECK(bad == 0, "exp2 %s: exp2(0) != 1, exp2(-1) != 0.5 or exp2(-inf) != 0", iname);
    }
    free(x);
    free(y);
}

/* ---- invalid parameters ------------------------------------------------------------------- */

static void test_invalid(void) {
    enum { T = 20, H = 2, D = 32, HD = H * D };
    float *x = malloc(sizeof(float) * T * 3 * HD);
    for (int i = 0; i < T * 3 * HD; i++) x[i] = rng_normal();
    float out[T * HD];
    int32_t good[3] = {0, 12, 20}, decreasing[3] = {0, 15, 10}, offset[3] = {2, 12, 20};
    const sutra_attn_params base = {.q = x, .k = x + HD, .v = x + 2 * HD, .out = out, .q_stride = 3 * HD,
                                    .k_stride = 3 * HD, .v_stride = 3 * HD, .o_stride = HD, .cu_seqlens = good,
                                    .batch = 2, .max_seqlen = 12, .heads = H, .head_dim = D, .scale = 0.1767767f,
                                    .window_left = -1, .window_right = -1};
    const sutra_cpu_isa best = sutra_cpu_isa_best();
    for (int path = 0; path < 2; path++) {
        const size_t wsb = sutra_cpu_attention_workspace((sutra_attn_path)path, 12, D, 2);
        void *ws = malloc(wsb + 4096);
        struct {
            const char *what;
            sutra_attn_params p;
            size_t wsb;
        } bad[] = {
            {"decreasing cu_seqlens", base, wsb},
            {"cu_seqlens[0] != 0", base, wsb},
            {"sequence longer than max_seqlen", base, wsb},
            {"head_dim 0", base, wsb},
            {"heads 0", base, wsb},
            {"output stride shorter than a row", base, wsb},
            {"NULL k", base, wsb},
            {"heads not a multiple of kv_heads", base, wsb},
            {"key stride shorter than kv_heads * head_dim", base, wsb},
            {"workspace one byte short", base, wsb - 1},
        };
        bad[0].p.cu_seqlens = decreasing;
        bad[1].p.cu_seqlens = offset;
        bad[2].p.max_seqlen = 8;
        bad[3].p.head_dim = 0;
        bad[4].p.heads = 0;
        bad[5].p.o_stride = HD - 1;
        bad[6].p.k = NULL;
        bad[7].p.kv_heads = 3;
        bad[8].p.kv_heads = 1;
        bad[8].p.k_stride = D - 1;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            poison(out, T * HD);
            sutra_status st = sutra_cpu_attention(&bad[i].p, (sutra_attn_path)path, pools[2], ws, bad[i].wsb, best);
            int touched = 0;
            for (int j = 0; j < T * HD; j++) touched += !is_poison(out + j);
            TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT, "%s path, %s: status %d, want %d", path ? "flash" : "standard",
                     bad[i].what, (int)st, (int)SUTRA_ERR_INVALID_ARGUMENT);
            TU_CHECK(touched == 0, "%s path, %s: %d output elements written", path ? "flash" : "standard",
                     bad[i].what, touched);
        }
        /* And the same workspace with the valid params works (the failures above were the params'). */
        poison(out, T * HD);
        TU_CHECK(sutra_cpu_attention(&base, (sutra_attn_path)path, pools[2], ws, wsb, best) == SUTRA_OK, "%s path: valid call failed",
                 path ? "flash" : "standard");
        free(ws);
    }
    /* The flash entry point defends itself too (the dispatcher normally checks first). */
    const size_t wsb = sutra_cpu_flash_workspace(D, 1);
    void *ws = malloc(wsb);
    sutra_attn_params p = base;
    p.head_dim = 0;
    TU_CHECK(sutra_cpu_flash_attention(&p, pools[1], ws, wsb, best) == SUTRA_ERR_INVALID_ARGUMENT, "flash: head_dim 0 accepted");
    p.head_dim = SUTRA_CPU_FLASH_MAX_HEAD_DIM + 1;
    TU_CHECK(sutra_cpu_flash_attention(&p, pools[1], ws, wsb, best) == SUTRA_ERR_UNSUPPORTED, "flash: head_dim 257 not refused");
    p = base;
    p.cu_seqlens = decreasing;
    TU_CHECK(sutra_cpu_flash_attention(&p, pools[1], ws, wsb, best) == SUTRA_ERR_INVALID_ARGUMENT, "flash: bad cu_seqlens accepted");
    TU_CHECK(sutra_cpu_flash_attention(&base, pools[1], ws, wsb - 1, best) == SUTRA_ERR_INVALID_ARGUMENT,
             "flash: short workspace accepted");
    TU_CHECK(sutra_cpu_flash_workspace(0, 1) == 0 && sutra_cpu_flash_workspace(64, 0) == 0,
             "flash workspace: invalid sizes not 0");
    TU_CHECK(sutra_cpu_flash_workspace(64, 1) == sutra_cpu_flash_workspace(64, 1) &&
                 sutra_cpu_flash_workspace(64, 2) > sutra_cpu_flash_workspace(64, 1),
             "flash workspace: not per thread");
    free(ws);
    free(x);
}

int main(void) {
    rng_state = 20240611;
    for (int n = 1; n <= 3; n++) {
        char err[256];
        if (sutra_pool_create(n, &pools[n], err, sizeof err)) {
            printf("pool of %d threads: %s\n", n, err);
            return 1;
        }
    }
    printf("widest instruction set: %s\n", sutra_cpu_isa_name(sutra_cpu_isa_best()));
    test_exp2();
    test_invalid();

    static const int n1[] = {1}, n7[] = {7}, n64[] = {64}, n511[] = {511}, n512[] = {512}, n513[] = {513},
                     n1000[] = {1000}, n4096[] = {4096};
    static const int mixed[] = {1, 7, 64, 200, 511, 513, 3, 1000, 65, 128};
    static const int shorts[] = {5, 9, 12, 3, 31, 17, 8, 1, 2, 16, 40, 7, 11, 6, 23, 10};
    static const struct {
        const int *lens;
        int n;
        const char *name;
    } singles[] = {{n1, 1, "N=1"},       {n7, 1, "N=7"},       {n64, 1, "N=64"},     {n511, 1, "N=511"},
                   {n512, 1, "N=512"},   {n513, 1, "N=513"},   {n1000, 1, "N=1000"}};
    static const int dims[] = {32, 64, 128};
    char names[64][48];
    int ni = 0;

    /* Single sequences of every awkward length, each head dim, separate strided q/k/v; every
     * flash kernel family up to N = 513 (past that only the default one, and the reference checks
     * every other query, to keep the sanitizer build's run short). */
    for (int di = 0; di < 3; di++)
        for (size_t si = 0; si < sizeof singles / sizeof singles[0]; si++) {
            snprintf(names[ni], sizeof names[ni], "D=%d %s", dims[di], singles[si].name);
            const int n = singles[si].lens[0];
            attn_case tc = {names[ni++], dims[di], 2, 1, singles[si].lens, 0, -1, -1, 2, n <= 513, n > 513 ? 2 : 1, 0, 0};
            run_case(&tc);
        }
    /* Packed batches of mixed lengths, fused QKV, with and without ModernBERT's 64/64 window. The
     * unwindowed reference checks every 3rd query, which keeps the sanitizer build's run short. */
    for (int di = 0; di < 3; di++)
        for (int w = 0; w < 2; w++) {
            snprintf(names[ni], sizeof names[ni], "D=%d mixed batch fused%s", dims[di], w ? " win64" : "");
            attn_case tc = {names[ni++], dims[di], 3, 10, mixed, 1, w ? 64 : -1, w ? 64 : -1, 2, di == 1 && w,
                            w ? 1 : 3, 0, 0};
            run_case(&tc);
        }
    /* Many short sequences (more work items than queries per item), 3 threads on 2 cores. */
    attn_case many = {"D=64 16 short seqs, 3 threads", 64, 4, 16, shorts, 1, -1, -1, 3, 1, 1, 0, 0};
    run_case(&many);
    /* Asymmetric and tiny windows stress the partial-block masks. */
    attn_case asym = {"D=32 N=1000 window 5/70", 32, 2, 1, n1000, 0, 5, 70, 2, 1, 1, 0, 0};
    run_case(&asym);
    attn_case zero = {"D=64 mixed window 0/0", 64, 2, 10, mixed, 1, 0, 0, 1, 1, 1, 0, 0};
    run_case(&zero);
    attn_case left = {"D=64 N=513 window 100/-1", 64, 2, 1, n513, 0, 100, -1, 2, 0, 1, 0, 0};
    run_case(&left);
    /* Long: without a window the float64 reference is O(N^2 D) per head, so one head, and it
     * checks every 7th query (7 is prime to the block size: every lane position of a block is
     * covered); with a window it is cheap, so more heads and every query. */
    attn_case lng = {"D=64 N=4096 fused", 64, 1, 1, n4096, 1, -1, -1, 2, 0, 7, 0, 0};
    run_case(&lng);
    attn_case lngw = {"D=64 N=4096 fused win64, 1 thread", 64, 4, 1, n4096, 1, 64, 64, 1, 0, 1, 0, 0};
    run_case(&lngw);

    /* Decoder attention: causal masks (flash skips the key blocks after a query block) and
     * grouped-query heads (Qwen3: 16 query heads over 8 key/value heads, head dim 128), alone and
     * together, single sequences and packed batches, every kernel family. */
    attn_case gqa = {"D=128 mixed GQA 4/2 fused", 128, 4, 10, mixed, 1, -1, -1, 2, 1, 3, 2, 0};
    run_case(&gqa);
    attn_case causal = {"D=64 mixed causal", 64, 2, 10, mixed, 0, -1, -1, 2, 1, 3, 0, 1};
    run_case(&causal);
    attn_case dec = {"D=128 N=1000 causal GQA 8/2", 128, 8, 1, n1000, 0, -1, -1, 2, 1, 5, 2, 1};
    run_case(&dec);
    attn_case dec1 = {"D=128 N=1 causal GQA 2/1", 128, 2, 1, n1, 1, -1, -1, 1, 1, 1, 1, 1};
    run_case(&dec1);
    attn_case decw = {"D=64 N=513 causal window 100 MQA 4/1", 64, 4, 1, n513, 1, 100, -1, 2, 1, 1, 1, 1};
    run_case(&decw);
    attn_case declong = {"D=128 N=4096 causal GQA 2/1", 128, 2, 1, n4096, 1, -1, -1, 2, 0, 7, 1, 1};
    run_case(&declong);

    /* Head dims the flash kernels take through their narrower or plain-C P V. */
    run_flash_generic(80, 300);
    run_flash_generic(40, 200);
    run_flash_generic(20, 150);
    run_flash_generic(256, 130);

    printf("worst relative L2 error %.2e (tolerance 1e-5); worst max-abs error %.0f%% of its tolerance\n",
           worst_rel_l2, 100.0 * worst_abs_ratio);
    for (int n = 1; n <= 3; n++) sutra_pool_destroy(pools[n]);
    return tu_finish("test_attention");
}
