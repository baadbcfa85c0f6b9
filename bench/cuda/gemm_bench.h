/*
 * gemm_bench.h - the CUTLASS variants gemm_bench times, one table per epilogue: the exact-GELU
 * variants in gemm_bench.cu, the plain bias variants in gemm_bench_plain.cu (two files, so that
 * the two sets of instantiations compile in parallel).
 */
#ifndef SUTRA_GEMM_BENCH_H
#define SUTRA_GEMM_BENCH_H

#include <stddef.h>

#include <cuda_runtime.h>

/* out (T,N) = [gelu](inp (T,K) @ w (N,K)^T + bias (N)), fp16; as sutra_sm90::run. */
typedef cudaError_t (*gemm_variant_fn)(void *out, const void *inp, const void *w, const void *bias, int T, int N,
                                       int K, void *ws, size_t ws_bytes, int device, int sm_count,
                                       cudaStream_t stream);

struct gemm_variant {
    const char *name; /* schedule, tile M x N x K, cluster */
    gemm_variant_fn fn;
};

extern const gemm_variant GELU_VARIANTS[];
extern const int N_GELU_VARIANTS;
extern const gemm_variant GELU_VARIANTS_B[];
extern const int N_GELU_VARIANTS_B;
extern const gemm_variant PLAIN_VARIANTS[];
extern const int N_PLAIN_VARIANTS;

#ifdef SUTRA_GEMM_SM90_CUH
/* name: schedule, tile, cluster[, epilogue sub-tile and output buffers]; GELU: true or false */
#define GEMM_VARIANT(NAME, GELU, TM, TN, TK, CM, S, EPI_N, STAGES_D)                               \
    { NAME, sutra_sm90::run<cutlass::half_t, TM, TN, TK, CM, sutra_sm90::S, GELU, EPI_N, STAGES_D> }
#endif

#endif /* SUTRA_GEMM_BENCH_H */
