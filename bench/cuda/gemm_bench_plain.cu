/*
 * gemm_bench_plain.cu - the plain bias variants (no activation) that gemm_bench times against
 * cuBLASLt's BIAS epilogue on bert-base's QKV, attention-output and FFN-down products.
 */
#include "backend/cuda/gemm_sm90.cuh"
#include "gemm_bench.h"

/* The library's plain kernel (pingpong 128 x 128, epilogue sub-tiles of 64 columns, 4 buffers) and
 * the same with CUTLASS's epilogue (32 columns, 2 buffers). */
const gemm_variant PLAIN_VARIANTS[] = {
    GEMM_VARIANT("pingpong 128x128 e64 D4 (lib)", false, 128, 128, 64, 1, pingpong, 64, 4),
    GEMM_VARIANT("pingpong 128x128 e32 D2", false, 128, 128, 64, 1, pingpong, 0, 0),
};
const int N_PLAIN_VARIANTS = (int)(sizeof PLAIN_VARIANTS / sizeof PLAIN_VARIANTS[0]);
