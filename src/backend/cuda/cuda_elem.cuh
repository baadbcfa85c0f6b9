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
 * gelu_erf: for z = |x|, x Phi(x) = max(x, 0) - z Phi(-z) for either sign, and log2 Phi(-z) is
 * smooth on [0, 6] (about -1 - 1.15 z - 0.46 z^2 at first, -z^2 / (2 ln 2) - log2 z - 1.3
 * towards the end): a degree-5 polynomial p, Horner in fp32, and one ex2 give Phi(-z) = 2^p(z).
 * An error d in p is the relative error d ln 2 in Phi(-z), so in the output for x < 0, and
 * z Phi(-z) d ln 2 absolute; p is fitted (scripts/fit_gelu.py, weighted minimax) for both: an
 * absolute error below 2e-6 and a relative one below 4e-5 up to z = 3. z is held at 6
 * (Phi(-6) = 1e-9: for |x| > 6 the output is max(x, 0) within 6e-9) by min.NaN, which keeps a
 * NaN input NaN (fminf would give 6); +-inf give inf and -5e-9. Checked against float64 on every
 * float32 of [-12, 12] on the GPU (test_cuda_ops): within 7.2e-7 absolute, 1.3e-5 relative on
 * [-3, 0), 0.4% on [-4, 0) (outputs of 1e-4 and less) and 16% further out (outputs below 2e-7).
 * Branch-free: 6 FFMA, 2 FMNMX and one MUFU (ex2). That is what the GELU costs inside a
 * product's epilogue (gemm_sm90.cuh), on the SM beside the tensor-core main loop, where each
 * instruction per output counts: bert-base's FFN-up + LN-in at 64x512 on the H100 took 301 us a
 * layer with this, 306 with degree 6 and 334 with the form before it
 * (bench/results/h100-gelu-log2-2026-12-06.txt). Earlier forms: erff (~30 instructions with a
 * branch) cost ~100 us per bert-base FFN-up at T = 32768; an Abramowitz-Stegun erfc (rcp and
 * ex2: two MUFU) 30 us more than the next; the Mills-ratio form (Phi(-z) = exp(-z^2 / 2) Q(z),
 * Q of degree 8: 9 FFMA, 3 FMUL, 2 FMNMX, ex2; within 1.4e-6, but 67% relative near -5)
 * (bench/results/h100-gemm-epilogue-2026-11-25.txt). */
__device__ __forceinline__ float gelu_erf(float x) {
    float zc; /* min(|x|, 6), NaN kept */
    asm("min.NaN.f32 %0, %1, 0f40C00000;" : "=f"(zc) : "f"(fabsf(x)));
    float p = -0.0004770450759679079f;
    p = fmaf(p, zc, 0.007108169607818127f);
    p = fmaf(p, zc, -0.0518980473279953f);
    p = fmaf(p, zc, -0.45987972617149353f);
    p = fmaf(p, zc, -1.150869607925415f);
    p = fmaf(p, zc, -1.0000182390213013f);
    float e; /* Phi(-zc) = 2^p, in [1e-9, 0.5] */
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(p));
    return fmaf(-zc, e, fmaxf(x, 0.f));
}
__device__ __forceinline__ float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.f + tanhf(k * (x + 0.044715f * x * x * x)));
}

/* SiLU (Swish), x * sigmoid(x) = x / (1 + e^-x): for x below about -88 e^-x is inf and the
 * result -0, the limit; a NaN stays NaN. The IEEE division and expf keep it within 2 ulp of the
 * float64 value, well under the activation type's rounding. */
__device__ __forceinline__ float silu(float x) { return x / (1.f + expf(-x)); }

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
