/*
 * gemm_sm90_ln_bf16.cu - the bf16 instance of the Hopper products with a LayerNorm folded in
 * (gemm_sm90.cuh); without CUTLASS at build time, a stub that declines every product.
 */
#include "backend/cuda/gemm_sm90.h"

#ifdef SUTRA_HAVE_CUTLASS
#include "backend/cuda/gemm_sm90.cuh"
#endif

cudaError_t sutra_cuda_sm90_gemm_ln_bf16(sutra_sm90_kernel kind, void *out, const void *inp, const void *w,
                                        const void *bias, const sutra_sm90_ln *ln, int T, int N, int K, void *ws,
                                        size_t ws_bytes, int device, int sm_count, cudaStream_t stream) {
#ifdef SUTRA_HAVE_CUTLASS
    return sutra_sm90::dispatch_ln<cutlass::bfloat16_t>(kind, out, inp, w, bias, *ln, T, N, K, ws, ws_bytes, device, sm_count,
                                        stream);
#else
    (void)kind, (void)out, (void)inp, (void)w, (void)bias, (void)ln, (void)T, (void)N, (void)K, (void)ws;
    (void)ws_bytes, (void)device, (void)sm_count, (void)stream;
    return cudaErrorNotSupported;
#endif
}
