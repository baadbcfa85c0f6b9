/*
 * attention_flash.h - exact FlashAttention forward on the CPU (fp32), the O(N)-memory path
 * behind sutra_cpu_attention(..., SUTRA_ATTN_FLASH, ...).
 *
 * Rules: the workspace depends on the head dim and the thread count only, never on the
 * sequence length; the call allocates nothing and writes only the (T, H, D) rows of p->out.
 * Kernels (AVX-512F, AVX2+FMA, or plain C) are the ones of the instruction set the caller passes
 * (cpu_isa.h: resolved against the CPU once per backend).
 */
#ifndef SUTRA_CPU_ATTENTION_FLASH_H
#define SUTRA_CPU_ATTENTION_FLASH_H

#include <stddef.h>

#include "backend/backend.h"
#include "backend/cpu/pool.h"

/* Largest head dim the flash path takes (it bounds the per-thread tiles). */
#define SUTRA_CPU_FLASH_MAX_HEAD_DIM 256

/* Bytes of workspace sutra_cpu_flash_attention() needs for this head dim and thread count,
 * independent of sequence lengths; 0 if head_dim is outside [1, SUTRA_CPU_FLASH_MAX_HEAD_DIM]
 * or threads < 1. The workspace needs no particular alignment. */
size_t sutra_cpu_flash_workspace(int head_dim, int threads);

/* Computes the attention described at sutra_attn_params (backend.h) on fp32 tensors with
 * the pool's threads and the kernels of isa (a resolved set, never AUTO): windows, causal
 * masks (key blocks after a query block's last query are never visited) and grouped-query
 * attention (query head h reads key/value head h / (heads / kv_heads) in place). ws holds
 * ws_bytes >= sutra_cpu_flash_workspace(p->head_dim, sutra_pool_threads(pool)) bytes; it is scratch only, owned
 * by the caller and free to reuse after the call returns.
 * Returns SUTRA_ERR_INVALID_ARGUMENT, having written nothing, if a pointer is NULL, head_dim < 1,
 * heads < 1, batch < 0, more than INT_MAX work items, heads is not a multiple of kv_heads, a query/output row
 * stride is shorter than heads*head_dim or a key/value one than kv_heads*head_dim, cu_seqlens is
 * not a non-decreasing sequence starting at 0, or the workspace is too small;
 * SUTRA_ERR_UNSUPPORTED, having written nothing, if head_dim > SUTRA_CPU_FLASH_MAX_HEAD_DIM or
 * a relative position bias is asked for.
 * Empty sequences are allowed (nothing to write). A query row that sees no key (possible only
 * with degenerate windows) is written as zeros. */
sutra_status sutra_cpu_flash_attention(const sutra_attn_params *p, sutra_pool *pool, void *ws, size_t ws_bytes,
                                       sutra_cpu_isa isa);

/* y[i] = 2^x[i] for x[i] <= 0, with isa's vectorised exp2 that the softmax uses (results below
 * 2^-126 flush to 0); exposed so that tests can measure its error. */
void sutra_cpu_flash_exp2(float *y, const float *x, size_t n, sutra_cpu_isa isa);

#endif /* SUTRA_CPU_ATTENTION_FLASH_H */
