/*
 * elementwise.h - the CPU's fused row kernels: bias + activation after a matrix product, and
 * residual add + LayerNorm or RMSNorm. Each has AVX-512, AVX2+FMA and scalar versions; the caller passes the
 * instruction set to use (cpu_isa.h), resolved against the CPU once per backend.
 */
#ifndef SUTRA_ELEMENTWISE_H
#define SUTRA_ELEMENTWISE_H

#include "backend/backend.h"

/* row (n) = act(row + bias); bias may be NULL. */
void sutra_bias_act_row(float *row, const float *bias, int n, sutra_act act, sutra_cpu_isa isa);

/* out (C) = LayerNorm(x + res) * w + b; res and b may be NULL; out may alias x or res. Mean and
 * variance in fp32, variance around the mean (two passes), as PyTorch computes it. */
void sutra_add_layernorm_row(float *out, const float *x, const float *res, const float *w, const float *b, int C,
                             float eps, sutra_cpu_isa isa);

/* out (C) = RMSNorm(x + res) * w, as transformers computes it in fp32: w * ((x + res) / sqrt(mean
 * of squares + eps)); res may be NULL; out may alias x or res. */
void sutra_add_rmsnorm_row(float *out, const float *x, const float *res, const float *w, int C, float eps,
                           sutra_cpu_isa isa);
/* Softmax of row[lo..hi) in base 2 (the scores were pre-multiplied by log2 e), written in place;
 * entries outside [lo, hi) of the n-entry row become 0. */
void sutra_softmax2_row(float *row, int lo, int hi, int n, sutra_cpu_isa isa);

/* out (F) = act(inp[0:F]) * inp[F:2F]. */
void sutra_glu_row(float *out, const float *inp, int F, sutra_act act, sutra_cpu_isa isa);

#endif /* SUTRA_ELEMENTWISE_H */
