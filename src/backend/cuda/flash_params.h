/*
 * flash_params.h - the flash kernel's parameters, as the launcher hands them to the device.
 *
 * Rules: a plain struct passed by value as the kernel's only argument; every stride is in
 * ELEMENTS of the activation type; every pointer is device memory. Derived values the kernel
 * would otherwise recompute per thread (scale * log2 e) are computed once on the host.
 *
 * Layout of q, k, v and o: token t of the packed batch, head h, feature d lives at
 *   base + t * row_stride + h * head_stride + d
 * so a fused (T, 3C) QKV buffer is q = buf, k = buf + C, v = buf + 2C, all with row_stride 3C.
 */
#ifndef SUTRA_CUDA_FLASH_PARAMS_H
#define SUTRA_CUDA_FLASH_PARAMS_H

#include <stdint.h>

struct flash_fwd_params {
    const void *q; /* (T, H, D) queries */
    const void *k; /* (T, Hkv, D) keys */
    const void *v; /* (T, Hkv, D) values */
    void *o;       /* (T, H, D) output */

    int64_t q_row_stride; /* elements from token t to token t+1 in q (C, or 3C when fused) */
    int64_t k_row_stride; /* same for k */
    int64_t v_row_stride; /* same for v */
    int64_t o_row_stride; /* same for o */
    int head_stride;      /* elements from head h to head h+1 within a row: always D here */

    const int32_t *cu_seqlens; /* (B+1) device offsets: sequence b is tokens [cu[b], cu[b+1]) */
    int batch;                 /* B: grid.z */
    int max_seqlen;            /* longest sequence: sizes grid.x */
    int heads;                 /* H: grid.y */

    float scale_log2;  /* softmax scale times log2(e): p = exp2(s * scale_log2 - rowmax') */
    int window_left;   /* key j visible from query i iff i - j <= window_left (-1: unlimited) */
    int window_right;  /* ... and j - i <= window_right (-1: unlimited; 0 for causal attention) */
    int kv_group;      /* query heads per key/value head: head h reads k, v head h / kv_group */

    /* relative position bias (NULL: none): score (i, j) of head h gains
     * rel_mult * rel_bias[(j - i + rel_span - 1) * rel_stride + h] (elements of the activation type;
     * rel_mult = 1 / scale, so that the bias adds to the scaled score, as the CPU's does) */
    const void *rel_bias;
    int64_t rel_stride;
    int rel_span;
    float rel_mult;
};

#endif /* SUTRA_CUDA_FLASH_PARAMS_H */
