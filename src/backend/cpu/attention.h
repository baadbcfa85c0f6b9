/*
 * attention.h - CPU attention over packed variable-length batches (fp32).
 *
 * Two paths compute the same function (see sutra_attn_params in backend.h):
 *  - standard: materialises one (N x N) score matrix per (sequence, head) in flight, softmax,
 *    then P @ V; workspace O(threads * N^2), so it is only chosen for short batches.
 *  - flash: tiles queries and keys, keeps a running max and sum per query row (online softmax in
 *    fp32) and never forms the N x N matrix; workspace O(threads * tile), independent of N.
 * Both spread their work items over the backend's pool (pool.h: the standard path's are (sequence,
 * head) pairs, flash's (sequence, head, query block)), and take a caller-provided workspace of the
 * size the matching _workspace() call returns, one slice per thread, so nothing is allocated per
 * call.
 */
#ifndef SUTRA_CPU_ATTENTION_H
#define SUTRA_CPU_ATTENTION_H

#include <stddef.h>

#include "backend/backend.h"
#include "backend/cpu/pool.h"

/* Bytes of workspace the given path needs for sequences up to max_seqlen tokens. */
size_t sutra_cpu_attention_workspace(sutra_attn_path path, int max_seqlen, int head_dim, int threads);

/* Runs attention on fp32 tensors with the kernels of isa (resolved, cpu_isa.h). workspace holds
 * at least the bytes asked for above, for p->max_seqlen and the pool's thread count. Returns
 * SUTRA_ERR_INVALID_ARGUMENT on inconsistent params (and touches nothing), SUTRA_ERR_UNSUPPORTED
 * for a head dim the path lacks. */
sutra_status sutra_cpu_attention(const sutra_attn_params *p, sutra_attn_path path, sutra_pool *pool,
                                 void *workspace, size_t workspace_bytes, sutra_cpu_isa isa);

#endif /* SUTRA_CPU_ATTENTION_H */
