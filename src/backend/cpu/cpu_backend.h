/*
 * cpu_backend.h - the CPU implementation of the backend interface (fp32 activations).
 */
#ifndef SUTRA_CPU_BACKEND_H
#define SUTRA_CPU_BACKEND_H

#include <stddef.h>

#include "backend/backend.h"

/* threads: OpenMP/BLAS threads (> 0). arena_bytes: activation arena. max_seqlen and head_dim
 * size the attention workspaces (standard path: scores for max_seqlen; flash: tiles). */
sutra_status sutra_cpu_backend_create(int threads, size_t arena_bytes, int max_seqlen, int head_dim,
                                      sutra_backend **out, char *err, size_t errcap);

/* Space-separated CPU features the kernels dispatch on ("avx512f avx2 fma ..."). */
const char *sutra_cpu_features(void);

#endif /* SUTRA_CPU_BACKEND_H */
