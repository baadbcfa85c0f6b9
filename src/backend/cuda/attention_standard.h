/*
 * attention_standard.h - standard (materialised-scores) attention on the GPU for packed
 * variable-length batches: the path for short batches and the fallback wherever flash
 * attention is unsupported (other head dims, misaligned strides, older GPUs).
 *
 * Computes the same function as flash attention (sutra_attn_params in backend.h), with fp32
 * scores and probabilities, in three kernels: S = scale * Q K^T per (sequence, head) into the
 * workspace, a masked row softmax in place, and O = P V rounded to the activation type.
 *
 * Rules: plain C declarations; all tensor pointers and cu_seqlens are DEVICE memory; the
 * workspace is the caller's (no allocation here); asynchronous on the given stream.
 */
#ifndef SUTRA_CUDA_ATTENTION_STANDARD_H
#define SUTRA_CUDA_ATTENTION_STANDARD_H

#include <stddef.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of workspace for all heads at once: batch * heads * max_seqlen^2 * 4 (fp32 scores).
 * A smaller workspace, down to one head's share (the result divided by heads), also works:
 * heads are then processed in groups, one group per pass. Returns 0 on overflow or bad sizes. */
size_t sutra_cuda_standard_attention_workspace(int batch, int heads, int max_seqlen);

/* Runs standard attention on stream (a cudaStream_t, NULL for the default stream).
 * head_dim may be anything from 1 to 256; pointers and strides need no alignment beyond the
 * element's. workspace is device memory of workspace_bytes; its contents are scratch.
 * Returns SUTRA_OK once launched; SUTRA_ERR_INVALID_ARGUMENT for inconsistent params;
 * SUTRA_ERR_BUFFER_TOO_SMALL if the workspace holds less than one head's share;
 * SUTRA_ERR_UNSUPPORTED for head_dim > 256; SUTRA_ERR_INTERNAL if a launch failed.
 * The reason is in sutra_cuda_last_error(). */
sutra_status sutra_cuda_standard_attention(const sutra_attn_params *p, sutra_cuda_dtype dtype, void *workspace,
                                           size_t workspace_bytes, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* SUTRA_CUDA_ATTENTION_STANDARD_H */
