/*
 * elementwise.h - the CPU's fused row kernels: bias + activation after a matrix product, and
 * residual add + LayerNorm. Each has AVX-512, AVX2+FMA and scalar versions, picked once at run
 * time from the CPU's features (SUTRA_CPU_ISA=scalar|avx2|avx512 pins one, for tests).
 */
#ifndef SUTRA_ELEMENTWISE_H
#define SUTRA_ELEMENTWISE_H

#include "backend/backend.h"

typedef enum sutra_isa {
    SUTRA_ISA_SCALAR = 0,
    SUTRA_ISA_AVX2 = 1,   /* AVX2 + FMA */
    SUTRA_ISA_AVX512 = 2, /* AVX-512F */
} sutra_isa;

/* The ISA the kernels use: the best the CPU has, unless SUTRA_CPU_ISA asks for a lower one. */
sutra_isa sutra_cpu_isa(void);
const char *sutra_isa_name(sutra_isa isa);

/* row (n) = act(row + bias); bias may be NULL. */
void sutra_bias_act_row(float *row, const float *bias, int n, sutra_act act);

/* out (C) = LayerNorm(x + res) * w + b; res and b may be NULL; out may alias x or res. Mean and
 * variance in fp32, variance around the mean (two passes), as PyTorch computes it. */
void sutra_add_layernorm_row(float *out, const float *x, const float *res, const float *w, const float *b, int C,
                             float eps);

/* Softmax of row[lo..hi) in base 2 (the scores were pre-multiplied by log2 e), written in place;
 * entries outside [lo, hi) of the n-entry row become 0. */
void sutra_softmax2_row(float *row, int lo, int hi, int n);

/* out (F) = act(inp[0:F]) * inp[F:2F]. */
void sutra_glu_row(float *out, const float *inp, int F, sutra_act act);

#endif /* SUTRA_ELEMENTWISE_H */
