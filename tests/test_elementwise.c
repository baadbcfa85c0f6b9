/*
 * test_elementwise.c - the CPU's fused row kernels against float64 references, on fresh random
 * inputs: bias + exact GELU, bias + SiLU, bias alone, the SiLU-gated unit, and residual add +
 * LayerNorm or RMSNorm. Every instruction set the CPU runs is checked in turn.
 * Tolerances: GELU's vector erf is accurate to 1.4e-8 in exact arithmetic, fp32 evaluation adds
 * a few ulp of the result: |error| <= 1e-6 * max(1, |x|). SiLU through exp2 of -|x| log2(e): the
 * product's rounding grows with |x| (relative 6e-8 |x| in the exponential), so |error| <= 1e-6 *
 * max(1, |x|) as well. LayerNorm in fp32 over C <= 1024 terms with variance around the mean, and
 * RMSNorm's sum of squares: |error| <= 2e-5 on unit-variance outputs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/elementwise.h"
#include "testutil.h"

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) { /* xorshift64*, in [0, 1) */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void run_isa(sutra_cpu_isa isa) {
    printf("instruction set: %s\n", sutra_cpu_isa_name(isa));
    int sizes[] = {1, 7, 16, 33, 384, 1536, 1000};
    double worst_gelu = 0, worst_ln = 0, worst_silu = 0, worst_rms = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int n = sizes[si];
        float *row = malloc(n * sizeof(float)), *bias = malloc(n * sizeof(float)), *x = malloc(n * sizeof(float));
        float *res = malloc(n * sizeof(float)), *w = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        for (int rep = 0; rep < 50; rep++) {
            double spread = rep < 10 ? 1.0 : rep < 40 ? 6.0 : 40.0;
            for (int i = 0; i < n; i++) {
                x[i] = (float)((uniform() * 2 - 1) * spread);
                bias[i] = (float)(uniform() - 0.5);
                row[i] = x[i];
            }
            sutra_bias_act_row(row, bias, n, SUTRA_ACT_GELU, isa);
            for (int i = 0; i < n; i++) {
                double v = (double)x[i] + bias[i], ref = 0.5 * v * (1 + erf(v / sqrt(2.0)));
                double e = fabs(row[i] - ref) / fmax(1.0, fabs(v));
                worst_gelu = fmax(worst_gelu, e);
                TU_CHECK(e <= 1e-6, "gelu n=%d x=%.6g: got %.9g want %.9g", n, v, row[i], ref);
                if (e > 1e-6) break;
            }
            for (int i = 0; i < n; i++) row[i] = x[i];
            sutra_bias_act_row(row, bias, n, SUTRA_ACT_SILU, isa);
            for (int i = 0; i < n; i++) {
                double v = (double)x[i] + bias[i], ref = v / (1 + exp(-v));
                double e = fabs(row[i] - ref) / fmax(1.0, fabs(v));
                worst_silu = fmax(worst_silu, e);
                TU_CHECK(e <= 1e-6, "silu n=%d x=%.6g: got %.9g want %.9g", n, v, row[i], ref);
                if (e > 1e-6) break;
            }
            /* SwiGLU's gated unit: silu(first half) * second half, here x then bias as the halves */
            float *in2 = malloc(2 * (size_t)n * sizeof(float));
            for (int i = 0; i < n; i++) in2[i] = x[i], in2[n + i] = bias[i];
            sutra_glu_row(row, in2, n, SUTRA_ACT_SILU, isa);
            for (int i = 0; i < n; i++) {
                double v = x[i], ref = v / (1 + exp(-v)) * bias[i];
                TU_CHECK(fabs(row[i] - ref) <= 1e-6 * fmax(1.0, fabs(v)), "silu glu n=%d i=%d: got %.9g want %.9g", n,
                         i, row[i], ref);
            }
            free(in2);
            for (int i = 0; i < n; i++) row[i] = x[i];
            sutra_bias_act_row(row, bias, n, SUTRA_ACT_NONE, isa);
            for (int i = 0; i < n; i++) TU_CHECK(row[i] == x[i] + bias[i], "bias add n=%d i=%d", n, i);
            for (int i = 0; i < n; i++) {
                res[i] = (float)((uniform() * 2 - 1) * spread);
                w[i] = (float)(uniform() * 2);
                b[i] = (float)(uniform() - 0.5);
            }
            sutra_add_layernorm_row(row, x, res, w, b, n, 1e-12f, isa);
            double mean = 0, var = 0;
            for (int i = 0; i < n; i++) mean += (double)x[i] + res[i];
            mean /= n;
            for (int i = 0; i < n; i++) var += ((double)x[i] + res[i] - mean) * ((double)x[i] + res[i] - mean);
            var /= n;
            for (int i = 0; i < n; i++) {
                double ref = ((double)x[i] + res[i] - mean) / sqrt(var + 1e-12) * w[i] + b[i];
                double e = fabs(row[i] - ref);
                worst_ln = fmax(worst_ln, n > 1 ? e : 0);
                TU_CHECK(n == 1 || e <= 2e-5, "layernorm n=%d i=%d: got %.9g want %.9g", n, i, row[i], ref);
            }
            sutra_add_rmsnorm_row(row, x, res, w, n, 1e-6f, isa);
            double ss = 0;
            for (int i = 0; i < n; i++) ss += ((double)x[i] + res[i]) * ((double)x[i] + res[i]);
            const double rr = 1 / sqrt(ss / n + 1e-6);
            for (int i = 0; i < n; i++) {
                double ref = ((double)x[i] + res[i]) * rr * w[i];
                double e = fabs(row[i] - ref);
                worst_rms = fmax(worst_rms, e);
                TU_CHECK(e <= 2e-5, "rmsnorm n=%d i=%d: got %.9g want %.9g", n, i, row[i], ref);
            }
            for (int i = 0; i < n; i++) row[i] = x[i];
            sutra_add_rmsnorm_row(row, row, NULL, w, n, 1e-6f, isa); /* no residual, in place */
            ss = 0;
            for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
            for (int i = 0; i < n; i++) {
                double ref = x[i] / sqrt(ss / n + 1e-6) * w[i];
                TU_CHECK(fabs(row[i] - ref) <= 2e-5, "rmsnorm in place n=%d i=%d: got %.9g want %.9g", n, i, row[i],
                         ref);
            }
            /* in place: out aliases x */
            for (int i = 0; i < n; i++) row[i] = x[i];
            sutra_add_layernorm_row(row, row, res, w, b, n, 1e-12f, isa);
            for (int i = 0; i < n; i++) {
                double ref = ((double)x[i] + res[i] - mean) / sqrt(var + 1e-12) * w[i] + b[i];
                TU_CHECK(n == 1 || fabs(row[i] - ref) <= 2e-5, "layernorm in place n=%d i=%d", n, i);
            }
        }
        free(row), free(bias), free(x), free(res), free(w), free(b);
    }
    printf("worst GELU error %.3g, SiLU %.3g (relative to max(1,|x|)); worst LayerNorm error %.3g, RMSNorm %.3g\n",
           worst_gelu, worst_silu, worst_ln, worst_rms);
}

int main(void) {
    /* every instruction set this CPU runs, each in turn */
    for (int want = SUTRA_CPU_ISA_SCALAR; want <= SUTRA_CPU_ISA_AVX512; want++) {
        sutra_cpu_isa isa;
        if (sutra_cpu_isa_resolve((sutra_cpu_isa)want, &isa) == SUTRA_OK) run_isa(isa);
    }
    return tu_finish("test_elementwise");
}
