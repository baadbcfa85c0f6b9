/*
 * attn_cpu_bench.c - CPU attention: flash against standard, by sequence length.
 *
 *   attn_cpu_bench [--threads N] [--heads H] [--head-dim D] [--window W] [--max-n N] [--seconds S]
 *                  [--batch B] [--isa scalar|avx2|avx512]
 *
 * A packed batch of B sequences (default 1) of N tokens each (N = 128, 256, ..., max-n; default
 * 8192; with B > 1 it starts at 16), H heads (12) of D (64),
 * q/k/v as slices of one fused (N, 3*H*D) buffer as the encoder produces them, scale 1/sqrt(D),
 * no window unless --window W (then W/W, as ModernBERT's local layers use 64/64). Each path is
 * called once to warm up, then repeatedly for at least S seconds (0.3) and 5 calls; the table
 * shows the median wall-clock ms per call (CLOCK_MONOTONIC), the arithmetic rate it implies
 * (4*B*N^2*H*D flops, counting only the two products; with a window this is an effective rate,
 * since the window skips most of them), and each path's workspace.
 * The standard path is skipped where its workspace (threads*N^2*4 bytes) would exceed 2 GiB.
 * --isa pins flash's kernel family (default: the best this CPU has).
 *
 * Rules: the library's own entry point (sutra_cpu_attention) is what is timed, with the
 * workspace allocated outside the timed loop, as the engine does.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/attention.h"
#include "backend/cpu/attention_flash.h"
#include "backend/cpu/cpu_isa.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median ms per call of one path; NAN if the call fails. */
static double time_path(const sutra_attn_params *p, sutra_attn_path path, sutra_pool *pool, void *ws, size_t wsb,
                        double seconds, sutra_cpu_isa isa) {
    enum { MAX_REPS = 1000 };
    static double ms[MAX_REPS];
    if (sutra_cpu_attention(p, path, pool, ws, wsb, isa) != SUTRA_OK) return NAN;
    int n = 0;
    const double start = now_s();
    while (n < MAX_REPS && (n < 5 || now_s() - start < seconds)) {
        const double t0 = now_s();
        sutra_cpu_attention(p, path, pool, ws, wsb, isa);
        ms[n++] = (now_s() - t0) * 1e3;
    }
    qsort(ms, (size_t)n, sizeof ms[0], cmp_double);
    return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

static void usage(void) {
    fprintf(stderr, "usage: attn_cpu_bench [--threads N] [--heads H] [--head-dim D] [--window W] [--max-n N] "
                    "[--seconds S] [--batch B] [--isa scalar|avx2|avx512]\n");
}

int main(int argc, char **argv) {
    int threads = 2, H = 12, D = 64, window = -1, max_n = 8192, B = 1;
    sutra_cpu_isa isa = sutra_cpu_isa_best();
    double seconds = 0.3;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--heads")) H = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--head-dim")) D = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--window")) window = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-n")) max_n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--batch")) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--isa")) {
            const char *name = argv[++i];
            const sutra_cpu_isa want = !strcmp(name, "scalar") ? SUTRA_CPU_ISA_SCALAR
                                       : !strcmp(name, "avx2") ? SUTRA_CPU_ISA_AVX2
                                       : !strcmp(name, "avx512") ? SUTRA_CPU_ISA_AVX512
                                                                  : SUTRA_CPU_ISA_AUTO;
            if (want == SUTRA_CPU_ISA_AUTO || sutra_cpu_isa_resolve(want, &isa) != SUTRA_OK) {
                fprintf(stderr, "attn_cpu_bench: kernel family '%s' unknown or not supported here\n", name);
                return 2;
            }
        }
        else {
            usage();
            return 2;
        }
    }
    if (threads < 1 || H < 1 || D < 1 || max_n < 1 || B < 1) {
        usage();
        return 2;
    }
    const int64_t HD = (int64_t)H * D;
    sutra_pool *pool;
    char err[256];
    if (sutra_pool_create(threads, &pool, err, sizeof err)) {
        fprintf(stderr, "attn_cpu_bench: %s\n", err);
        return 1;
    }
    printf("attention, %d sequence(s) of N tokens, H=%d D=%d, window %d, %d threads, flash kernels %s\n", B, H, D,
           window, threads, sutra_cpu_isa_name(isa));
    printf("%6s | %10s %8s %12s | %10s %8s %12s | %7s\n", "N", "std ms", "GFLOP/s", "std ws", "flash ms",
           "GFLOP/s", "flash ws", "std/fl");

    for (int N = B > 1 ? 16 : 128; N <= max_n; N *= 2) {
        const int64_t T = (int64_t)B * N;
        float *x = malloc(sizeof(float) * (size_t)T * 3 * HD);
        float *out = malloc(sizeof(float) * (size_t)T * HD);
        int32_t *cu = malloc(sizeof(int32_t) * (size_t)(B + 1));
        if (!x || !out || !cu || T > INT32_MAX) {
            fprintf(stderr, "out of memory at N=%d\n", N);
            return 1;
        }
        /* Deterministic values of logit spread ~1; speed does not depend on them. */
        uint32_t s = 12345u;
        for (int64_t i = 0; i < T * 3 * HD; i++) {
            s = s * 1664525u + 1013904223u;
            x[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 3.4f;
        }
        for (int b = 0; b <= B; b++) cu[b] = (int32_t)((int64_t)b * N);
        const sutra_attn_params p = {.q = x, .k = x + HD, .v = x + 2 * HD, .out = out, .q_stride = 3 * HD,
                                     .k_stride = 3 * HD, .v_stride = 3 * HD, .o_stride = HD, .cu_seqlens = cu,
                                     .batch = B, .max_seqlen = N, .heads = H, .head_dim = D,
                                     .scale = 1.0f / sqrtf((float)D), .window_left = window, .window_right = window};
        const double flops = 4.0 * B * N * (double)N * H * D;

        double ms[2] = {NAN, NAN};
        size_t wsb[2];
        for (int path = 0; path < 2; path++) {
            wsb[path] = sutra_cpu_attention_workspace((sutra_attn_path)path, N, D, threads);
            if (wsb[path] > ((size_t)2 << 30)) continue;
            void *ws = malloc(wsb[path]);
            if (!ws) continue;
            ms[path] = time_path(&p, (sutra_attn_path)path, pool, ws, wsb[path], seconds, isa);
            free(ws);
        }
        printf("%6d | %10.3f %8.1f %12zu | %10.3f %8.1f %12zu | %7.2f\n", N, ms[0], flops / ms[0] * 1e-6, wsb[0],
               ms[1], flops / ms[1] * 1e-6, wsb[1], ms[0] / ms[1]);
        fflush(stdout);
        free(x);
        free(out);
        free(cu);
    }
    sutra_pool_destroy(pool);
    return 0;
}
