/*
 * gemm_bench_plain.cu - the plain bias variants (no activation) that gemm_bench times against
 * cuBLASLt's BIAS epilogue on bert-base's QKV, attention-output and FFN-down products.
 */
#include "backend/cuda/gemm_sm90.cuh"
#include "gemm_bench.h"

#define PLAIN(TM, TN, TK, CM, S)                                                                  \
    { #S " " #TM "x" #TN "x" #TK " c" #CM "x1", sutra_sm90::run<cutlass::half_t, TM, TN, TK, CM, sutra_sm90::S, false> }

const gemm_variant PLAIN_VARIANTS[] = {
    PLAIN(128, 256, 64, 1, cooperative), PLAIN(256, 128, 64, 1, cooperative), PLAIN(128, 128, 64, 1, cooperative),
    PLAIN(128, 128, 64, 1, pingpong),    PLAIN(64, 128, 64, 1, pingpong),
};
const int N_PLAIN_VARIANTS = (int)(sizeof PLAIN_VARIANTS / sizeof PLAIN_VARIANTS[0]);
