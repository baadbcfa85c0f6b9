/*
 * cuda_backend.h - the CUDA implementation of the backend interface (backend.h): fp16 (or bf16)
 * activations and weights on one GPU, fp32 arithmetic inside every op.
 *
 * Rules: plain C (callable from the C11 library), no CUDA headers. The library never prints:
 * failures come back as a sutra_status, with the message in the backend (sutra_cuda_backend_error)
 * and in sutra_cuda_last_error() of the failing thread. One backend serves one thread at a time.
 *
 * Memory, all allocated outside the hot path: one weight slab (weights_reserve), one activation
 * arena (reserve), a cuBLASLt workspace (create), the batch-input buffers (grown by begin_batch
 * when a batch is larger than any before), the standard-attention workspace (grown by the first
 * eager forward that needs more), the pooling buffers (grown by pool) and the download buffer
 * (grown by download). A buffer that grows moves; when one that graphs use moves (batch inputs,
 * attention workspace), every captured CUDA graph is dropped.
 *
 * Files: cuda_backend.cu (create, destroy, the op table, device query), cuda_ctx.h (the state
 * and error helpers they share), cuda_memory.cu (device memory, weights, arena, batch inputs),
 * cuda_graphs.cu (run(): capture and replay), cuda_profile.cu (the op timer), cuda_ops_table.cu
 * (the ops, forwarding to the kernels' launchers), cuda_fold.cu (the LayerNorm-folded layers:
 * prepare() and layers()).
 */
#ifndef SUTRA_CUDA_BACKEND_H
#define SUTRA_CUDA_BACKEND_H

#include <stddef.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a CUDA backend runs; every field is a setting of sutra_config (sutra.h says what each does
 * and what was measured). */
typedef struct sutra_cuda_options {
    int device;           /* the CUDA device */
    int bf16;             /* 1: bf16 weights and activations (wider range); 0: fp16 (more mantissa) */
    int graphs;           /* 1: record each batch shape's forward as a CUDA graph and replay it */
    sutra_gpu_gemm gemm;  /* which library runs the products (AUTO: CUTLASS where measured faster) */
    int flash_wgmma;      /* 1: the Hopper (wgmma) flash kernel where it applies */
    int fold;             /* 1: fold LayerNorms into the products of post-norm nets where they can take it */
    int fold_min_tokens;  /* ... in batches of at least this many tokens (0: the measured default, 16384) */
    int profile;          /* 1: eager runs with an event after every op; op_times() has the totals */
} sutra_cuda_options;

/* Creates the backend on CUDA device o->device. Returns SUTRA_ERR_UNSUPPORTED when there is no
 * CUDA device, its compute capability is below 8.0, or this build holds no machine code for it;
 * SUTRA_ERR_OUT_OF_MEMORY when an allocation fails; the reason is in err. On success *out is the
 * backend; release it with be->destroy(be). Its memory comes later: reserve() (arena, attention
 * workspace), weights_reserve() (the weight slab). */
sutra_status sutra_cuda_backend_create(const sutra_cuda_options *o, sutra_backend **out, char *err, size_t errcap);

/* The backend's settings in effect, for display: "graphs on, products cuBLASLt + CUTLASS (sm_90),
 * LayerNorm folding from 16384 tokens, flash wgmma on". */
void sutra_cuda_backend_describe(const sutra_backend *be, char *buf, size_t cap);

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

/* Device bytes of the weights: the slab, and the upload's staging buffer while it is held (until
 * the first batch). 0 for NULL. */
size_t sutra_cuda_backend_weight_bytes(const sutra_backend *be);

/* Device bytes this backend holds now. 0 for NULL. */
size_t sutra_cuda_backend_held_bytes(const sutra_backend *be);

/* The backend's stream (a cudaStream_t): every op, copy and graph launch runs on it, so work
 * the caller records on it (events for timing, say) is ordered with the backend's. */
void *sutra_cuda_backend_stream(const sutra_backend *be);

/* The number of CUDA graphs held now (at most 32, least recently used dropped first). */
int sutra_cuda_backend_graphs(const sutra_backend *be);

/* The batch size (tokens) from which this backend runs its net's layers LayerNorm-folded
 * (cuda_fold.cu); 0 when it never does (folding off, not sm_90 with CUTLASS, or a net it does not
 * fold). Known once the encoder has been created. */
int sutra_cuda_backend_fold_tokens(const sutra_backend *be);

/* The message of the error the backend last reported (the first failure since the last run(),
 * as run(), pool() or begin_batch returned it); "" if none. Owned by the backend; valid until
 * its next call. */
const char *sutra_cuda_backend_error(const sutra_backend *be);

#ifdef __cplusplus
}
#endif

#endif /* SUTRA_CUDA_BACKEND_H */
