/*
 * backend.h - the one op interface that architectures call and backends (cpu, cuda) implement.
 *
 * Dimension letters, used in every shape comment below and in the backends:
 *   T = tokens in a packed batch (all sequences end to end, no padding)
 *   B = sequences in the batch, with cu_seqlens (B+1 offsets into T)
 *   C = hidden size, H = attention heads, D = head dim (C = H*D), F = feed-forward size
 *
 * Rules: ops write outputs first, then read inputs, then weights, then take sizes. Activation
 * pointers hold the backend's activation type (float on the CPU); they come from the backend's
 * arena and weights from its weight slab, so no op allocates. An op that cannot run reports it
 * through supports(), never by failing half-way.
 */
#ifndef SUTRA_BACKEND_H
#define SUTRA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "sutra.h"

typedef enum sutra_act {
    SUTRA_ACT_NONE = 0,
    SUTRA_ACT_GELU = 1,      /* exact erf GELU, as BERT's "gelu" */
    SUTRA_ACT_GELU_TANH = 2, /* tanh approximation ("gelu_new", "gelu_pytorch_tanh") */
} sutra_act;

typedef enum sutra_attn_path {
    SUTRA_ATTN_STANDARD = 0, /* scores materialised per (sequence, head): O(N^2) workspace */
    SUTRA_ATTN_FLASH = 1,    /* tiled, online softmax: O(N) workspace */
} sutra_attn_path;

/* Packed variable-length, non-causal multi-head attention:
 *   out[t, h, :] = softmax(scale * q[t,h,:] . k[s,h,:] over s in t's sequence (and window)) @ v
 * q, k, v may point into one fused (T, 3C) buffer, hence the row strides. */
typedef struct sutra_attn_params {
    const void *q;         /* (T, H, D) with row stride q_stride elements */
    const void *k;         /* (T, H, D) with row stride k_stride */
    const void *v;         /* (T, H, D) with row stride v_stride */
    void *out;             /* (T, H, D) with row stride o_stride */
    int64_t q_stride, k_stride, v_stride, o_stride;
    const int32_t *cu_seqlens; /* (B+1), cu_seqlens[0] = 0, cu_seqlens[B] = T; host memory on the CPU */
    int batch;                 /* B */
    int max_seqlen;            /* longest sequence in the batch */
    int heads;                 /* H */
    int head_dim;              /* D */
    float scale;               /* usually 1/sqrt(D) */
    int window_left;           /* key j is visible from query i if i - j <= window_left (-1: no limit) */
    int window_right;          /* ... and j - i <= window_right (-1: no limit) */
} sutra_attn_params;

#endif /* SUTRA_BACKEND_H */
