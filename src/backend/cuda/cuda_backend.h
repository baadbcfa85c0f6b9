/*
 * cuda_backend.h - the CUDA implementation of the backend interface (backend.h): fp16 (or bf16)
 * activations and weights on one GPU, fp32 arithmetic inside every op.
 *
 * Rules: plain C (callable from the C11 library), no CUDA headers. The library never prints:
 * failures come back as a sutra_status, with the message in the backend (sutra_cuda_backend_error)
 * and in sutra_cuda_last_error() of the failing thread. One backend serves one thread at a time.
 *
 * Memory, all allocated outside the hot path: one weight slab (weights_reserve), one activation
 * arena (create), a cuBLASLt workspace (create), the batch-input buffers (grown by begin_batch
 * when a batch is larger than any before), the standard-attention workspace (grown by the first
 * eager forward that needs more), the pooling buffers (grown by pool) and the download buffer
 * (grown by download). A buffer that grows moves; when one that graphs use moves (batch inputs,
 * attention workspace), every captured CUDA graph is dropped. All optional ops of backend.h
 * (residual_layernorm, rope, glu, download) are implemented.
 */
#ifndef SUTRA_CUDA_BACKEND_H
#define SUTRA_CUDA_BACKEND_H

#include <stddef.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates the backend on CUDA device `device`.
 *   arena_bytes     the activation arena, as the caller computed it for act_bytes = 2
 *                   (sutra_encoder_arena_bytes(cfg, max_tokens, 2))
 *   std_max_seqlen  the longest sequence the standard-attention path will see; it sizes that
 *                   path's first workspace (0 = no standard path: STANDARD requests run flash)
 *   head_dim        the model's head dim (checked against what the kernels support)
 *   use_bf16        1: bf16 weights and activations (wider range); 0: fp16 (more mantissa)
 * Returns SUTRA_ERR_UNSUPPORTED when there is no CUDA device, its compute capability is below
 * 8.0, or this build holds no machine code for it; SUTRA_ERR_OUT_OF_MEMORY when an allocation
 * fails; the reason is in err. On success *out is the backend; release it with be->destroy(be).
 * Environment, read here: SUTRA_CUDA_GRAPHS=0 disables CUDA-graph capture (every run() is
 * eager); SUTRA_CUDA_FAST_GELU=1 runs exact-GELU layers with cuBLASLt's tanh-GELU epilogue
 * instead of a separate erf pass (8% faster at bert-base 64 x 512 than that pass, and still
 * faster than the fused exact GELU below; a different function, see cuda_gemm.cu);
 * SUTRA_CUDA_CUTLASS=0 keeps every product on cuBLASLt on an sm_90 device too (by default, =1,
 * there, exact-GELU products of about one wave of tiles or more run through CUTLASS with the GELU
 * fused into the product, and large products with N, K <= 1024 through CUTLASS; =2 also sends
 * the other plain products of 16384 tokens or more to CUTLASS, for comparisons);
 * SUTRA_CUDA_OP_TIMES=1 runs eagerly with an event after every op and prints each op's total
 * time to stderr when the backend is destroyed (profiling under a real workload). */
sutra_status sutra_cuda_backend_create(int device, size_t arena_bytes, int std_max_seqlen, int head_dim, int use_bf16,
                                       sutra_backend **out, char *err, size_t errcap);

typedef struct sutra_cuda_device_info {
    char name[256];
    int cc_major, cc_minor;
    size_t total_bytes;       /* device memory */
    int flash_head_dims_mask; /* bit log2(d) set when flash attention runs head dim d (32: bit 5) */
    int wgmma_head_dims_mask; /* the same for the Hopper (wgmma) flash kernel, which the launcher prefers */
} sutra_cuda_device_info;

/* Fills *info for device `device`. SUTRA_ERR_UNSUPPORTED (with err) when there is no such device. */
sutra_status sutra_cuda_device_query(int device, sutra_cuda_device_info *info, char *err, size_t errcap);

/* Device bytes this backend has held at most at once (weights slab, arena, cuBLASLt workspace,
 * batch buffers, attention workspace, pooling and download buffers). 0 for NULL. */
size_t sutra_cuda_backend_peak_bytes(const sutra_backend *be);

/* Device bytes this backend holds now. 0 for NULL. */
size_t sutra_cuda_backend_held_bytes(const sutra_backend *be);

/* The backend's stream (a cudaStream_t): every op, copy and graph launch runs on it, so work
 * the caller records on it (events for timing, say) is ordered with the backend's. */
void *sutra_cuda_backend_stream(const sutra_backend *be);

/* The number of CUDA graphs held now (at most 32, least recently used dropped first). */
int sutra_cuda_backend_graphs(const sutra_backend *be);

/* Times an attention request for flash ran the standard path instead (flash unsupported for the
 * head dim, device or strides), and times a standard request ran flash (standard disabled or
 * its workspace could not grow). Counters since create; either pointer may be NULL. */
void sutra_cuda_backend_fallbacks(const sutra_backend *be, long *flash_to_standard, long *standard_to_flash);

/* The message of the error the backend last reported (the first failure since the last run(),
 * as run(), pool() or begin_batch returned it); "" if none. Owned by the backend; valid until
 * its next call. */
const char *sutra_cuda_backend_error(const sutra_backend *be);

#ifdef __cplusplus
}
#endif

#endif /* SUTRA_CUDA_BACKEND_H */
