/*
 * cuda_elementwise.cu - the element-wise ops pre-norm encoders and decoders add to BERT's:
 * rotary position embedding on consecutive heads of each row (the query and key heads of a fused
 * QKV buffer), the gated linear unit (GeGLU, SwiGLU), the per-head RMSNorm of queries and keys
 * (Qwen3, Gemma3), and the embedding gather without a norm.
 *
 * Shapes: T tokens, H heads of D, F the gated width. Rules: fp32 arithmetic, one rounding to the
 * activation type per output; the rotary angles are rounded as the CPU backend rounds them
 * (inv_freq and pos * inv_freq to fp32, cos/sin in double of that fp32 angle) because at
 * position 8192 one fp32 ulp of inv_freq moves an angle by ~2e-4 rad.
 */
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_elem.cuh"
#include "backend/cuda/cuda_ops.h"

using namespace sutra_cuda;

namespace {

constexpr int MAX_HALF = 128; /* D <= 256 */
constexpr int ROPE_THREADS = 128;

/* One block per token: the token's cos/sin table in shared memory, then every (head, pair) of
 * its `heads` heads. grid (T). */
template <class E>
__global__ void __launch_bounds__(ROPE_THREADS)
    rope_kernel(E *x, const int32_t *pos, int heads, int D, int64_t stride, float theta) {
    __shared__ float cs[MAX_HALF], sn[MAX_HALF];
    const int t = blockIdx.x, half = D / 2;
    for (int i = threadIdx.x; i < half; i += ROPE_THREADS) {
        const float e = (float)(2 * i) / (float)D;
        const float inv = 1.0f / (float)pow((double)theta, (double)e);
        const float a = (float)pos[t] * inv;
        cs[i] = (float)cos((double)a);
        sn[i] = (float)sin((double)a);
    }
    __syncthreads();
    E *row = x + (int64_t)t * stride;
    for (int idx = threadIdx.x; idx < heads * half; idx += ROPE_THREADS) {
        const int h = idx / half, i = idx % half;
        E *v = row + (int64_t)h * D;
        const float x1 = to_f32(v[i]), x2 = to_f32(v[i + half]);
        v[i] = from_f32<E>(x1 * cs[i] - x2 * sn[i]);
        v[i + half] = from_f32<E>(x2 * cs[i] + x1 * sn[i]);
    }
}

template <int ACT>
__device__ __forceinline__ float act_f(float x) {
    return ACT == SUTRA_ACT_GELU ? gelu_erf(x) : ACT == SUTRA_ACT_GELU_TANH ? gelu_tanh(x)
         : ACT == SUTRA_ACT_SILU ? silu(x) : x;
}

/* out (T,F) = act(inp[:, :F]) * inp[:, F:]; VEC = 8 with 16-byte accesses (F % 8 == 0), else 1.
 * Grid-stride over the T * F / VEC vectors. */
template <class E, int VEC, int ACT>
__global__ void __launch_bounds__(256) glu_kernel(E *out, const E *inp, int T, int F) {
    const size_t per_row = (size_t)F / VEC, n = (size_t)T * per_row;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t t = i / per_row, j = (i % per_row) * VEC;
        const E *a = inp + t * 2 * (size_t)F + j, *g = a + F;
        E *o = out + t * (size_t)F + j;
        if constexpr (VEC == 8) {
            float fa[8], fg[8];
            load8(a, fa);
            load8(g, fg);
#pragma unroll
            for (int k = 0; k < 8; ++k) fa[k] = act_f<ACT>(fa[k]) * fg[k];
            store8(o, fa);
        } else {
            *o = from_f32<E>(act_f<ACT>(to_f32(*a)) * to_f32(*g));
        }
    }
}

template <class E, int VEC>
void launch_glu(E *out, const E *inp, int T, int F, sutra_act act, cudaStream_t s) {
    const size_t work = (size_t)T * F / VEC;
    const unsigned blocks = (unsigned)(work / 256 + 1 < 8192 ? work / 256 + 1 : 8192);
    switch (act) {
    case SUTRA_ACT_GELU: glu_kernel<E, VEC, SUTRA_ACT_GELU><<<blocks, 256, 0, s>>>(out, inp, T, F); break;
    case SUTRA_ACT_GELU_TANH: glu_kernel<E, VEC, SUTRA_ACT_GELU_TANH><<<blocks, 256, 0, s>>>(out, inp, T, F); break;
    case SUTRA_ACT_SILU: glu_kernel<E, VEC, SUTRA_ACT_SILU><<<blocks, 256, 0, s>>>(out, inp, T, F); break;
    default: glu_kernel<E, VEC, SUTRA_ACT_NONE><<<blocks, 256, 0, s>>>(out, inp, T, F); break;
    }
}

template <class E>
void launch_glu_any(void *out, const void *inp, int T, int F, sutra_act act, cudaStream_t s) {
    if (F % 8 == 0 && aligned16(out) && aligned16(inp)) launch_glu<E, 8>((E *)out, (const E *)inp, T, F, act, s);
    else launch_glu<E, 1>((E *)out, (const E *)inp, T, F, act, s);
}

constexpr int HN_WARPS = 4;    /* (token, head) rows per 128-thread block */
constexpr int HN_MAX_PER_LANE = 8; /* D <= 256 */

/* x[t, h, :] = RMSNorm(x[t, h, :]) * w in place, for `heads` consecutive heads of D in each of
 * T rows (row stride `stride`). One warp per (token, head); lane l holds elements l, l + 32, ...
 * (coalesced), sums their squares in fp32, one warp reduction, then writes. As the CPU backend:
 * r = 1 / sqrt(mean(x^2) + eps), y = x r w rounded once. grid ceil(T * heads / HN_WARPS). */
template <class E>
__global__ void __launch_bounds__(32 * HN_WARPS)
    head_rmsnorm_kernel(E *x, int64_t stride, int T, int heads, int D, const E *w, float eps) {
    const long long item = (long long)blockIdx.x * HN_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (item >= (long long)T * heads) return;
    E *v = x + (item / heads) * stride + (item % heads) * D;
    float f[HN_MAX_PER_LANE];
    float ss = 0.f;
#pragma unroll
    for (int i = 0; i < HN_MAX_PER_LANE; ++i) {
        const int c = lane + 32 * i;
        f[i] = c < D ? to_f32(v[c]) : 0.f;
        ss += f[i] * f[i];
    }
    const float r = 1.f / sqrtf(warp_sum(ss) / (float)D + eps);
#pragma unroll
    for (int i = 0; i < HN_MAX_PER_LANE; ++i) {
        const int c = lane + 32 * i;
        if (c < D) v[c] = from_f32<E>(f[i] * r * to_f32(w[c]));
    }
}

/* out (T,C) = wte[ids[t]]: one warp per row, 16-byte copies when C % 8 == 0 and both are
 * aligned. grid ceil(T / 4), block 128. */
template <class E>
__global__ void __launch_bounds__(128) embed_rows_kernel(E *out, const int32_t *ids, const E *wte, int T, int C) {
    const int row = blockIdx.x * 4 + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= T) return;
    const E *src = wte + (size_t)ids[row] * C;
    E *dst = out + (size_t)row * C;
    if (C % 8 == 0 && aligned16(src) && aligned16(dst)) {
        for (int c = lane * 8; c < C; c += 32 * 8)
            *reinterpret_cast<uint4 *>(dst + c) = *reinterpret_cast<const uint4 *>(src + c);
    } else {
        for (int c = lane; c < C; c += 32) dst[c] = src[c];
    }
}

sutra_status launched(const char *who, int T) {
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "%s launch (T %d): %s", who, T, cudaGetErrorString(e));
    return SUTRA_OK;
}

} // namespace

sutra_status sutra_cuda_head_rmsnorm(void *x, int64_t stride, int T, int heads, int D, const void *w, float eps,
                                     sutra_cuda_dtype dt, cudaStream_t stream) {
    if (T < 0 || heads < 1 || D < 1 || D > 32 * HN_MAX_PER_LANE || stride < (int64_t)heads * D || !(eps >= 0.f))
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "head_rmsnorm: T %d, heads %d, D %d (<= %d), stride %lld, eps %g",
                               T, heads, D, 32 * HN_MAX_PER_LANE, (long long)stride, (double)eps);
    if (T == 0) return SUTRA_OK;
    if (!x || !w) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "head_rmsnorm: NULL pointer");
    const unsigned blocks = (unsigned)(((long long)T * heads + HN_WARPS - 1) / HN_WARPS);
    if (dt == SUTRA_CUDA_DTYPE_BF16)
        head_rmsnorm_kernel<__nv_bfloat16><<<blocks, 32 * HN_WARPS, 0, stream>>>(
            (__nv_bfloat16 *)x, stride, T, heads, D, (const __nv_bfloat16 *)w, eps);
    else
        head_rmsnorm_kernel<__half><<<blocks, 32 * HN_WARPS, 0, stream>>>((__half *)x, stride, T, heads, D,
                                                                          (const __half *)w, eps);
    return launched("head_rmsnorm", T);
}

sutra_status sutra_cuda_embed_rows(void *out, const int32_t *ids, const void *wte, int T, int C, sutra_cuda_dtype dt,
                                   cudaStream_t stream) {
    if (T < 0 || C < 1) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "embed: T %d, C %d", T, C);
    if (T == 0) return SUTRA_OK;
    if (!out || !ids || !wte) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "embed: NULL pointer");
    const unsigned blocks = (unsigned)((T + 3) / 4);
    if (dt == SUTRA_CUDA_DTYPE_BF16)
        embed_rows_kernel<__nv_bfloat16><<<blocks, 128, 0, stream>>>((__nv_bfloat16 *)out, ids,
                                                                    (const __nv_bfloat16 *)wte, T, C);
    else
        embed_rows_kernel<__half><<<blocks, 128, 0, stream>>>((__half *)out, ids, (const __half *)wte, T, C);
    return launched("embed", T);
}

sutra_status sutra_cuda_rope(void *x, int64_t stride, const int32_t *pos, int T, int heads, int D, float theta,
                             sutra_cuda_dtype dt, cudaStream_t stream) {
    if (T < 0 || heads < 1 || D < 2 || D % 2 || D / 2 > MAX_HALF || stride < (int64_t)heads * D || !(theta > 0.f))
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT,
                               "rope: T %d, heads %d, D %d (even, <= 256), stride %lld, theta %g", T, heads, D,
                               (long long)stride, (double)theta);
    if (T == 0) return SUTRA_OK;
    if (!x || !pos) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "rope: NULL pointer");
    if (dt == SUTRA_CUDA_DTYPE_BF16)
        rope_kernel<__nv_bfloat16><<<(unsigned)T, ROPE_THREADS, 0, stream>>>((__nv_bfloat16 *)x, pos, heads, D, stride,
                                                                           theta);
    else
        rope_kernel<__half><<<(unsigned)T, ROPE_THREADS, 0, stream>>>((__half *)x, pos, heads, D, stride, theta);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "rope launch (T %d): %s", T, cudaGetErrorString(e));
    return SUTRA_OK;
}

sutra_status sutra_cuda_glu(void *out, const void *inp, int T, int F, sutra_act act, sutra_cuda_dtype dt,
                            cudaStream_t stream) {
    if (T < 0 || F < 1) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "glu: T %d, F %d", T, F);
    if (act != SUTRA_ACT_NONE && act != SUTRA_ACT_GELU && act != SUTRA_ACT_GELU_TANH && act != SUTRA_ACT_SILU)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "glu: unknown act %d", (int)act);
    if (T == 0) return SUTRA_OK;
    if (!out || !inp) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "glu: NULL pointer");
    if (dt == SUTRA_CUDA_DTYPE_BF16) launch_glu_any<__nv_bfloat16>(out, inp, T, F, act, stream);
    else launch_glu_any<__half>(out, inp, T, F, act, stream);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "glu launch (T %d, F %d): %s", T, F, cudaGetErrorString(e));
    return SUTRA_OK;
}
