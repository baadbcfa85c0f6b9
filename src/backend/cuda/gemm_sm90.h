/*
 * gemm_sm90.h - the Hopper matrix products built from CUTLASS, as cuda_gemm.cu calls them. The
 * kernels are described in gemm_sm90.cuh; gemm_sm90_f16.cu and gemm_sm90_bf16.cu hold one dtype
 * each, so that the two compile in parallel.
 *
 * Rules: C++ only. When the build had no CUTLASS headers (SUTRA_HAVE_CUTLASS undefined), the
 * entry points still exist: sutra_cuda_sm90_gemm_built() says 0 and every product answers
 * cudaErrorNotSupported, so the caller keeps its cuBLASLt path. Only a device of compute
 * capability exactly 9.0 may run them (sm_90a machine code).
 */
#ifndef SUTRA_GEMM_SM90_H
#define SUTRA_GEMM_SM90_H

#include <stddef.h>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_common.h"

/* The kernels (gemm_sm90.cuh dispatch() says which tiles and schedules): bias only; bias + exact
 * GELU for large products (two: for K >= 768, and for shorter K), and for products of under a
 * wave of 128 x 128 tiles (two: about one wave, and half a wave or less). */
typedef enum {
    SUTRA_SM90_BIAS = 0,
    SUTRA_SM90_GELU = 1,
    SUTRA_SM90_GELU_SHORT_K = 2,
    SUTRA_SM90_GELU_WAVE = 3,
    SUTRA_SM90_GELU_HALF_WAVE = 4,
    /* LayerNorm folded in (gemm_sm90.cuh, "LayerNorm folded into the products"): */
    SUTRA_SM90_LN_IN = 5,              /* r (acc - mu s) + c */
    SUTRA_SM90_LN_IN_GELU = 6,         /* gelu_erf of that, K >= 768 */
    SUTRA_SM90_LN_IN_GELU_SHORT_K = 7, /* the same, K < 768 */
    SUTRA_SM90_RES_LN = 8              /* (acc + d + r (C - mu g_prev)) g_next, with row partial sums */
} sutra_sm90_kernel;

/* The extra operands of the LN kinds (the bias argument is c for LN_IN*, d for RES_LN). Vectors
 * s, g_prev, g_next are in the activation type; mu, rs (T floats each) may be NULL (0 and 1).
 * part_sum, part_sq: (ceil(N / 128), round_up(T, 128)) floats each, column-tile-major. */
typedef struct sutra_sm90_ln {
    const float *mu, *rs;
    const void *s;
    const void *res, *g_prev, *g_next;
    float *part_sum, *part_sq;
} sutra_sm90_ln;

/* Tile sizes (tokens x output features) the caller counts tiles with to choose a kernel. */
enum {
    SUTRA_SM90_TILE_N = 128,
    SUTRA_SM90_LARGE_TILE_T = 256,
    SUTRA_SM90_WAVE_TILE_T = 128,
    SUTRA_SM90_HALF_WAVE_TILE_T = 64,
    SUTRA_SM90_LN_CLUSTER_MIN_K = 768 /* LN_IN in clusters of 2 from this K (gemm_sm90.cuh dispatch_ln) */
};

/* 1 when this build holds the sm_90a CUTLASS products (SUTRA_HAVE_CUTLASS), else 0. */
static inline int sutra_cuda_sm90_gemm_built(void) {
#ifdef SUTRA_HAVE_CUTLASS
    return 1;
#else
    return 0;
#endif
}

/* out (T,N) = act(inp (T,K) @ w (N,K)^T + bias (N)) by the kernel `kind`, act = the exact erf
 * GELU for the four GELU kinds, none for SUTRA_SM90_BIAS; bias may be NULL. Needs T >= 1, N and
 * K multiples of 8, and out, inp, w, bias 16-byte aligned (what TMA needs); ws is scratch device memory of ws_bytes (these kernels need none
 * today; CUTLASS is asked). sm_count: the device's multiprocessors (sizes the persistent grid).
 * Returns cudaErrorNotSupported, having launched nothing, when the build or CUTLASS cannot do
 * this product; otherwise the launch's error. Host work only before the launch: graph-safe. */
cudaError_t sutra_cuda_sm90_gemm_f16(sutra_sm90_kernel kind, void *out, const void *inp, const void *w,
                                     const void *bias, int T, int N, int K, void *ws, size_t ws_bytes, int device,
                                     int sm_count, cudaStream_t stream);
cudaError_t sutra_cuda_sm90_gemm_bf16(sutra_sm90_kernel kind, void *out, const void *inp, const void *w,
                                      const void *bias, int T, int N, int K, void *ws, size_t ws_bytes, int device,
                                      int sm_count, cudaStream_t stream);

/* The LN kinds (ln: their operands; same rules as above). gemm_sm90_ln_{f16,bf16}.cu. */
cudaError_t sutra_cuda_sm90_gemm_ln_f16(sutra_sm90_kernel kind, void *out, const void *inp, const void *w,
                                        const void *bias, const sutra_sm90_ln *ln, int T, int N, int K, void *ws,
                                        size_t ws_bytes, int device, int sm_count, cudaStream_t stream);
cudaError_t sutra_cuda_sm90_gemm_ln_bf16(sutra_sm90_kernel kind, void *out, const void *inp, const void *w,
                                         const void *bias, const sutra_sm90_ln *ln, int T, int N, int K, void *ws,
                                         size_t ws_bytes, int device, int sm_count, cudaStream_t stream);

static inline cudaError_t sutra_cuda_sm90_gemm(sutra_cuda_dtype dt, sutra_sm90_kernel kind, void *out,
                                               const void *inp, const void *w, const void *bias, int T, int N, int K,
                                               void *ws, size_t ws_bytes, int device, int sm_count,
                                               cudaStream_t stream) {
    return dt == SUTRA_CUDA_DTYPE_BF16
               ? sutra_cuda_sm90_gemm_bf16(kind, out, inp, w, bias, T, N, K, ws, ws_bytes, device, sm_count, stream)
               : sutra_cuda_sm90_gemm_f16(kind, out, inp, w, bias, T, N, K, ws, ws_bytes, device, sm_count, stream);
}

static inline cudaError_t sutra_cuda_sm90_gemm_ln(sutra_cuda_dtype dt, sutra_sm90_kernel kind, void *out,
                                                  const void *inp, const void *w, const void *bias,
                                                  const sutra_sm90_ln *ln, int T, int N, int K, void *ws,
                                                  size_t ws_bytes, int device, int sm_count, cudaStream_t stream) {
    return dt == SUTRA_CUDA_DTYPE_BF16
               ? sutra_cuda_sm90_gemm_ln_bf16(kind, out, inp, w, bias, ln, T, N, K, ws, ws_bytes, device, sm_count,
                                              stream)
               : sutra_cuda_sm90_gemm_ln_f16(kind, out, inp, w, bias, ln, T, N, K, ws, ws_bytes, device, sm_count,
                                             stream);
}

#endif /* SUTRA_GEMM_SM90_H */
