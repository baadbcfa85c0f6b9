/*
 * flash_attn.h - the CUDA FlashAttention forward kernel for packed variable-length batches.
 *
 * Computes the function sutra_attn_params describes (backend.h), causal or not, with grouped
 * key/value heads (read in place) and an optional local window, but no relative position bias
 * (SUTRA_ERR_UNSUPPORTED), fp16 or bf16 in and out, fp32 softmax and
 * accumulation, O(N) memory (no N x N buffer anywhere), no workspace.
 *
 * Two kernels compute it: the mma.sync kernel (flash_kernel.cuh; compute capability 8.0 and up,
 * head dims 32, 64, 128) and, on compute capability 9.0 at head dims 64 and 128, its Hopper variant
 * (flash_sm90_kernel.cuh, warpgroup MMA), which the launcher prefers there. Both visit the same
 * key tiles in the same order with the same softmax, so their outputs agree to rounding.
 *
 * Rules: plain C declarations; every pointer in the params (q, k, v, out and cu_seqlens) must be
 * DEVICE memory. The call is asynchronous on the given stream; it returns after checking the
 * launch, not after the kernel has run.
 */
#ifndef SUTRA_CUDA_FLASH_ATTN_H
#define SUTRA_CUDA_FLASH_ATTN_H

#include "backend/backend.h"
#include "backend/cuda/cuda_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if the flash kernel handles this head dim on a GPU of compute capability
 * cc_major.cc_minor, else 0. Head dims: 32, 64, 128. GPUs: compute capability 8.0 or newer
 * (mma.sync bf16 and cp.async); the build must also hold machine code for it (sm_80 covers
 * 8.x, sm_90a covers 9.0), which sutra_cuda_flash_attention() checks and reports as
 * SUTRA_ERR_UNSUPPORTED. */
int sutra_cuda_flash_supported(int head_dim, int cc_major, int cc_minor);

/* A GPU as the launcher sees it: its multiprocessors and compute capability, and whether the
 * wgmma kernel may run (sutra_config.gpu_flash_wgmma). */
typedef struct sutra_flash_device {
    int sms, cc_major, cc_minor;
    int wgmma;
} sutra_flash_device;

/* Fills *dev for CUDA device `device` (wgmma allowed). SUTRA_ERR_INTERNAL when the lookup fails. */
sutra_status sutra_cuda_flash_device(int device, sutra_flash_device *dev);

/* Runs flash attention on stream (a cudaStream_t, NULL for the default stream), on the current
 * device (looked up on every call).
 *   p->q, k, v, out   device pointers, 16-byte aligned, row strides multiples of 8 elements
 *                     (true for (T,C) and fused (T,3C) buffers whenever C is a multiple of 8)
 *   p->cu_seqlens     device int32 (B+1); every sequence length must be <= p->max_seqlen
 *                     (rows past max_seqlen would be left unwritten); the kernel cannot check
 *                     this without a copy back, so the caller guarantees it
 *   p->scale          finite and > 0
 *   p->window_*       -1 (unlimited) or >= 0
 * Returns SUTRA_OK once launched; SUTRA_ERR_INVALID_ARGUMENT for inconsistent params (nothing
 * launched); SUTRA_ERR_UNSUPPORTED for a head dim other than 32/64/128, misaligned pointers
 * or strides, or a GPU this build has no code for (use the standard path then);
 * SUTRA_ERR_INTERNAL if the launch failed. The reason is in sutra_cuda_last_error(). */
sutra_status sutra_cuda_flash_attention(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                        void *stream);

/* The same on the device dev describes (the backend's, looked up once), which must be current. */
sutra_status sutra_cuda_flash_attention_on(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                           const sutra_flash_device *dev, void *stream);

/* Query rows per CTA that sutra_cuda_flash_attention picks for p on a GPU of sm_count
 * multiprocessors: 64 when blocks of 128 would give fewer CTAs than there are SMs (short
 * batches, where each warp's serial chain sets the time) or when no sequence is longer than 64
 * (a 128-row block would be at least half empty), else 128 (flash_launch.cuh). */
int sutra_cuda_flash_block_rows(const sutra_attn_params *p, int sm_count);

/* Which flash kernel a call runs. */
typedef enum {
    SUTRA_FLASH_KERNEL_AUTO = 0,       /* the launcher's pick for the current device */
    SUTRA_FLASH_KERNEL_SM80_64 = 64,   /* mma.sync kernel, 64 query rows per CTA (any cc >= 8.0) */
    SUTRA_FLASH_KERNEL_SM80_128 = 128, /* mma.sync kernel, 128 query rows per CTA */
    SUTRA_FLASH_KERNEL_SM90_128 = 90,  /* wgmma kernel, 128 query rows per CTA (cc 9.0, head dim 64 or 128) */
    SUTRA_FLASH_KERNEL_SM90_64 = 92    /* wgmma kernel, 64 query rows per CTA */
} sutra_flash_kernel;

/* 1 if the wgmma kernel can run head_dim on a GPU of compute capability cc_major.cc_minor
 * (exactly 9.0: its machine code is sm_90a; head dims 64 and 128 — at 32 the two kernels
 * measured equal, so there is no d = 32 instance), else 0. */
int sutra_cuda_flash_sm90_supported(int head_dim, int cc_major, int cc_minor);

/* The kernel SUTRA_FLASH_KERNEL_AUTO runs for p on dev (never the wgmma kernel when dev->wgmma is
 * 0). */
sutra_flash_kernel sutra_cuda_flash_pick(const sutra_attn_params *p, const sutra_flash_device *dev);

/* As sutra_cuda_flash_attention with the kernel fixed (tests and benchmarks). A forced
 * SUTRA_FLASH_KERNEL_SM90_* on a GPU or head dim it does not support returns
 * SUTRA_ERR_UNSUPPORTED; AUTO falls back to the mma.sync kernel when this build has no sm_90a
 * code. All kernels visit the same key tiles in the same order, so results agree to rounding. */
sutra_status sutra_cuda_flash_attention_kernel(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                               sutra_flash_kernel kernel, void *stream);

/* As sutra_cuda_flash_attention with the query rows per CTA fixed: 64 or 128 (0: the pick
 * above, for the current device), for tests and benchmarks. Each query row goes through the
 * same key tiles in the same order either way, so the results are the same. */
sutra_status sutra_cuda_flash_attention_rows(const sutra_attn_params *p, sutra_cuda_dtype dtype, int block_rows,
                                             void *stream);

#ifdef __cplusplus
}
#endif

#endif /* SUTRA_CUDA_FLASH_ATTN_H */
