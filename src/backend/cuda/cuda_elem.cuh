/*
 * cuda_elem.cuh - element helpers for the backend's own kernels: fp16/bf16 <-> fp32 and 16-byte
 * vectors of 8 elements, so every kernel reads and writes activations 16 bytes per thread.
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

/* 8 elements <-> 8 floats through one 16-byte access. */
template <class E>
__device__ __forceinline__ void load8(const E *p, float f[8]) {
    const uint4 u = *reinterpret_cast<const uint4 *>(p);
    const E *e = reinterpret_cast<const E *>(&u);
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = to_f32(e[i]);
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
 * gelu_erf takes erfc from Abramowitz & Stegun 7.1.26: for z >= 0, t = 1 / (1 + p z) and
 * erfc(z) = t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-z^2), |error| <= 1.5e-7; Phi(-|x|) is
 * half of that and Phi(x) = 1 - Phi(-x) for x >= 0. Measured in fp32 over [-12, 12] (2M points):
 * within 4.2e-7 of the float64 function, i.e. below a thousandth of an fp16 ulp at 1, so the
 * rounded output is that of the exact function except where the exact value sits within that
 * distance of a rounding boundary. It is branch-free and costs about a dozen FMA-pipe
 * instructions and two MUFU ones (rcp, ex2), where erff takes about 30 with a branch: that is
 * what the GELU costs inside a product's epilogue (gemm_sm90.cuh), where it runs on the same
 * SM as the tensor-core main loop. */
__device__ __forceinline__ float gelu_erf(float x) {
    const float z = fabsf(x) * 0.70710678118654752f;
    const float t = __fdividef(1.f, fmaf(0.3275911f, z, 1.f));
    const float poly = t * fmaf(t, fmaf(t, fmaf(t, fmaf(t, 1.061405429f, -1.453152027f), 1.421413741f), -0.284496736f),
                                0.254829592f);
    const float lower = 0.5f * poly * __expf(-z * z); /* Phi(-|x|) */
    return x * (x >= 0.f ? 1.f - lower : lower);
}
__device__ __forceinline__ float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.f + tanhf(k * (x + 0.044715f * x * x * x)));
}

__host__ __device__ __forceinline__ bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

} // namespace sutra_cuda

#endif /* SUTRA_CUDA_ELEM_CUH */
