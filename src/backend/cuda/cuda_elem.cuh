/*
 * cuda_elem.cuh - element helpers for the backend's own kernels: fp16/bf16 <-> fp32 and 16-byte
 * vectors of 8 elements, so every kernel reads and writes activations 16 bytes per thread; the
 * GELUs; warp and block sums.
 *
 * Rule: a vec8 load or store needs a 16-byte aligned address; launchers check alignment (and fall
 * back to scalar kernels) before any kernel relies on it.
 */
#ifndef SUTRA_CUDA_ELEM_CUH
#define SUTRA_CUDA_ELEM_CUH

#include <math.h>
#include <stdint.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace sutra_cuda {

__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class E>
__device__ __forceinline__ E from_f32(float x);
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

/* 8 elements <-> 8 floats through one 16-byte access (unpack8: the widening alone, for a vector
 * loaded earlier). */
template <class E>
__device__ __forceinline__ void unpack8(const uint4 &u, float f[8]) {
    const E *e = reinterpret_cast<const E *>(&u);
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = to_f32(e[i]);
}
template <class E>
__device__ __forceinline__ void load8(const E *p, float f[8]) {
    unpack8<E>(*reinterpret_cast<const uint4 *>(p), f);
}

template <class E>
__device__ __forceinline__ void store8(E *p, const float f[8]) {
    uint4 u;
    E *e = reinterpret_cast<E *>(&u);
#pragma unroll
    for (int i = 0; i < 8; ++i) e[i] = from_f32<E>(f[i]);
    *reinterpret_cast<uint4 *>(p) = u;
}

/* BERT's "gelu", x * Phi(x) = x * (1 - erfc(x / sqrt 2) / 2), and the tanh approximation
 * ("gelu_new", "gelu_pytorch_tanh").
 *
 * gelu_erf: for z = |x|, Phi(-z) = exp(-z^2 / 2) Q(z), where Q (Mills' ratio over sqrt(2 pi)) is
 * smooth; on [0, 6] it is a degree-8 polynomial, fitted with the weight z exp(-z^2 / 2) so that
 * the error is even in the output x Phi(x) (scripts/fit_gelu_mills.py). Then x Phi(x) =
 * max(x, 0) - z Phi(-z) for either sign, with z held at 6 in Q and in that product (+-inf give
 * inf and 0, and NaN stays NaN through the ex2). Measured in fp32 over [-12, 12] (2M points, and
 * every float32 on an H100): within 1.4e-6 of the float64 GELU, a 350th of an fp16 ulp at 1.
 * The bound is absolute: in the negative tail it is a growing part of the value (relative error
 * 3e-4 on [-3, -2], 5e-3 on [-4, -3], 7% on [-4.5, -4], 67% on [-5, -4.5], where the output is
 * 1e-6 to 2e-5, and more towards -6), so there the rounded output is not the exact function's;
 * the next product, which sums such values with others of size 1, cannot tell. A degree-10 fit that also bounds the tail's relative error
 * (7.6e-4) costs two more FMAs, and the FFN-up epilogue then stopped hiding fully in one H100
 * run, so this one stays. Branch-free: 14 FMA-pipe instructions and one MUFU (ex2). That is what
 * the GELU costs inside a product's epilogue (gemm_sm90.cuh), on the SM beside the tensor-core
 * main loop: erff (~30 instructions with a branch) cost ~100 us per bert-base FFN-up at
 * T = 32768 there, and the Abramowitz-Stegun erfc used before this (rcp and ex2: two MUFU) 30 us
 * more than this form (bench/results/h100-gemm-epilogue-2026-11-25.txt). */
__device__ __forceinline__ float gelu_erf(float x) {
    const float z = fabsf(x), zc = fminf(z, 6.f);
    float q = 2.569117714301683e-05f;
    q = fmaf(q, zc, -0.0004584922280628234f);
    q = fmaf(q, zc, 0.003595060436055064f);
    q = fmaf(q, zc, -0.01670948788523674f);
    q = fmaf(q, zc, 0.05310942977666855f);
    q = fmaf(q, zc, -0.1276230812072754f);
    q = fmaf(q, zc, 0.24839180707931519f);
    q = fmaf(q, zc, -0.39874839782714844f);
    q = fmaf(q, zc, 0.4999960958957672f);
    float e; /* exp(-z^2 / 2) = 2^(-z^2 log2(e) / 2); ex2.approx flushes to 0 below 2^-126 */
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(-0.72134752044448170f * (z * z)));
    return fmaf(-zc, e * q, fmaxf(x, 0.f));
}
__device__ __forceinline__ float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.f + tanhf(k * (x + 0.044715f * x * x * x)));
}

__host__ __device__ __forceinline__ bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* Sum over the warp; every lane gets the result. */
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Sum over a block of THREADS threads (a multiple of 32); every thread gets the result. scratch:
 * THREADS / 32 floats of shared memory, free to reuse once every thread has returned. */
template <int THREADS>
__device__ float block_sum(float v, float *scratch) {
    v = warp_sum(v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads(); /* scratch may still be read from the previous call */
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < THREADS / 32; ++i) s += scratch[i];
    return s;
}

} // namespace sutra_cuda

#endif /* SUTRA_CUDA_ELEM_CUH */
