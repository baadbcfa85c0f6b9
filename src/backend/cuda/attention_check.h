/*
 * attention_check.h - validation of sutra_attn_params shared by the two GPU attention paths
 * (flash_attn.cu, attention_standard.cu), so both reject the same inputs with the same words.
 *
 * Rule: host-side checks only; nothing here launches, allocates or synchronises.
 */
#ifndef SUTRA_CUDA_ATTENTION_CHECK_H
#define SUTRA_CUDA_ATTENTION_CHECK_H

#include "backend/backend.h"
#include "backend/cuda/cuda_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SUTRA_OK, or SUTRA_ERR_INVALID_ARGUMENT / SUTRA_ERR_UNSUPPORTED with the last error set
 * (prefixed by `who`): NULL pointers, unknown dtype, negative sizes, key/value heads that do not
 * divide the query heads, row strides below heads*head_dim (kv_heads*head_dim for k and v), a
 * relative position bias (no kernel has one), scale not finite and > 0, window values below -1, batch or heads over the
 * grid limit of 65535, head_dim above max_head_dim, and cu_seqlens in unregistered host memory
 * (which a kernel would fault on). */
sutra_status sutra_cuda_check_attn_params(const sutra_attn_params *p, sutra_cuda_dtype dtype, int max_head_dim,
                                          const char *who);

/* Query heads per key/value head (H / Hkv; 1 without groups). Query head h reads key/value head
 * h / group, in place: nothing is copied per query head. */
static inline int sutra_cuda_attn_group(const sutra_attn_params *p) {
    return p->kv_heads > 0 ? p->heads / p->kv_heads : 1;
}

/* The right edge of the visible keys: a causal mask is the window j - i <= 0, so both kernels
 * skip the key tiles past the diagonal as they skip those past a window's edge. */
static inline int sutra_cuda_attn_right(const sutra_attn_params *p) {
    return p->causal ? 0 : p->window_right;
}

#ifdef __cplusplus
}
#endif

#endif /* SUTRA_CUDA_ATTENTION_CHECK_H */
