/*
 * gemm_bench_gelu_b.cu - the exact-GELU variants, second half (see gemm_bench.cu): the library's
 * kernels for products of about one wave and of half a wave or less, and other tiles for them.
 */
#include "backend/cuda/gemm_sm90.cuh"
#include "gemm_bench.h"

const gemm_variant GELU_VARIANTS_B[] = {
    GEMM_VARIANT("coop 128x128 (lib wave)", true, 128, 128, 64, 1, cooperative, 0, 0),
    GEMM_VARIANT("pingpong 64x128 (lib half wave)", true, 64, 128, 64, 1, pingpong, 0, 0),
    GEMM_VARIANT("pingpong 64x128 e64 D4", true, 64, 128, 64, 1, pingpong, 64, 4),
    GEMM_VARIANT("coop 128x256 c1 e64 D4", true, 128, 256, 64, 1, cooperative, 64, 4),
};
const int N_GELU_VARIANTS_B = (int)(sizeof GELU_VARIANTS_B / sizeof GELU_VARIANTS_B[0]);
