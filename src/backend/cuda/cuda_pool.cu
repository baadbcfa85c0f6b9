/*
 * cuda_pool.cu - pooling of token states into one fp32 vector per sequence: mean, max, first
 * token (CLS) and last token, over the packed batch's cu_seqlens.
 *
 * Shapes: inp (T,C) activations, cu_seqlens (B+1) device, out (B,C) fp32 device.
 *
 * Rules: mean and max are computed in two deterministic steps, so repeated runs give the same
 * bits: (1) grid (column blocks, S token splits, B): each thread accumulates 8 columns (one
 * 16-byte load per token) over its split in fp32 and writes a partial; (2) one thread per
 * (sequence, column) combines the S partials in split order. S grows with the longest sequence
 * (8 tokens per split at least) so that one long sequence still spreads over many SMs, and
 * shrinks with B so that B * S stays at most max(B, 1024) (that bounds the workspace). An empty
 * sequence pools to zeros (the CPU backend would give NaN for mean; the encoder never sends one).
 */
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_elem.cuh"
#include "backend/cuda/cuda_ops.h"

using namespace sutra_cuda;

namespace {

constexpr int MAX_SPLITS = 64;
constexpr int MIN_SPLIT_TOKENS = 8;
constexpr int PART_THREADS = 128;

/* Batch 1 at 512 tokens: 64 splits of 8 tokens (16 of 32 before took 9.9 us under ncu at
 * bert-base's width, a chain of dependent loads per thread). */
int pool_splits(int B, int max_len) {
    int s = (max_len + MIN_SPLIT_TOKENS - 1) / MIN_SPLIT_TOKENS;
    const int cap = B >= 1024 ? 1 : 1024 / B;
    if (s > cap) s = cap;
    if (s > MAX_SPLITS) s = MAX_SPLITS;
    return s < 1 ? 1 : s;
}

/* Step 1 for mean (sum) and max. VEC columns per thread (8 with 16-byte loads, else 1).
 * grid (ceil(C / (PART_THREADS * VEC)), S, B). part (B, S, C). */
template <class E, int VEC, bool MAX>
__global__ void __launch_bounds__(PART_THREADS)
    pool_partial_kernel(float *part, const E *inp, const int32_t *cu, int C, int S) {
    const int b = blockIdx.z, split = blockIdx.y;
    const int c = (blockIdx.x * PART_THREADS + threadIdx.x) * VEC;
    if (c >= C) return;
    const int s0 = cu[b], n = cu[b + 1] - s0;
    const int per = (n + S - 1) / S;
    const int t0 = s0 + split * per, t1 = min(s0 + n, t0 + per);
    float acc[VEC];
#pragma unroll
    for (int i = 0; i < VEC; ++i) acc[i] = MAX ? -INFINITY : 0.f;
#pragma unroll 4
    for (int t = t0; t < t1; ++t) { /* unrolled: four rows' loads in flight, not one */
        float f[VEC];
        if constexpr (VEC == 8) {
            load8(inp + (size_t)t * C + c, f);
        } else {
            f[0] = to_f32(inp[(size_t)t * C + c]);
        }
#pragma unroll
        for (int i = 0; i < VEC; ++i) acc[i] = MAX ? fmaxf(acc[i], f[i]) : acc[i] + f[i];
    }
    float *dst = part + ((size_t)b * S + split) * C + c;
#pragma unroll
    for (int i = 0; i < VEC; ++i) dst[i] = acc[i];
}

/* Step 2: out[b, c] = combine over splits. grid (ceil(C / 256), B). */
template <bool MAX>
__global__ void __launch_bounds__(256) pool_combine_kernel(float *out, const float *part, const int32_t *cu, int C, int S) {
    const int b = blockIdx.y, c = blockIdx.x * 256 + threadIdx.x;
    if (c >= C) return;
    const int n = cu[b + 1] - cu[b];
    float r = MAX ? -INFINITY : 0.f;
    for (int s = 0; s < S; ++s) {
        const float v = part[((size_t)b * S + s) * C + c];
        r = MAX ? fmaxf(r, v) : r + v;
    }
    if (n <= 0) r = 0.f;
    else if (!MAX) r /= (float)n;
    out[(size_t)b * C + c] = r;
}

/* CLS (first token) or LAST: out[b] = inp[row]. grid (ceil(C / 256), B). */
template <class E, bool LAST>
__global__ void __launch_bounds__(256) pool_pick_kernel(float *out, const E *inp, const int32_t *cu, int C) {
    const int b = blockIdx.y, c = blockIdx.x * 256 + threadIdx.x;
    if (c >= C) return;
    const int s0 = cu[b], s1 = cu[b + 1];
    out[(size_t)b * C + c] = s1 > s0 ? to_f32(inp[(size_t)(LAST ? s1 - 1 : s0) * C + c]) : 0.f;
}

/* ---- launchers ---------------------------------------------------------------------------- */

template <class E>
void launch(float *out, const E *inp, const int32_t *cu, int B, int C, int max_len, sutra_pooling mode, float *ws,
            cudaStream_t s) {
    const dim3 pick_grid((unsigned)((C + 255) / 256), (unsigned)B);
    if (mode == SUTRA_POOLING_CLS) {
        pool_pick_kernel<E, false><<<pick_grid, 256, 0, s>>>(out, inp, cu, C);
        return;
    }
    if (mode == SUTRA_POOLING_LAST) {
        pool_pick_kernel<E, true><<<pick_grid, 256, 0, s>>>(out, inp, cu, C);
        return;
    }
    const int S = pool_splits(B, max_len);
    const bool vec = C % 8 == 0 && aligned16(inp);
    const int per_block = PART_THREADS * (vec ? 8 : 1);
    const dim3 grid((unsigned)((C + per_block - 1) / per_block), (unsigned)S, (unsigned)B);
    const bool mx = mode == SUTRA_POOLING_MAX;
    if (vec) {
        if (mx) pool_partial_kernel<E, 8, true><<<grid, PART_THREADS, 0, s>>>(ws, inp, cu, C, S);
        else pool_partial_kernel<E, 8, false><<<grid, PART_THREADS, 0, s>>>(ws, inp, cu, C, S);
    } else {
        if (mx) pool_partial_kernel<E, 1, true><<<grid, PART_THREADS, 0, s>>>(ws, inp, cu, C, S);
        else pool_partial_kernel<E, 1, false><<<grid, PART_THREADS, 0, s>>>(ws, inp, cu, C, S);
    }
    if (mx) pool_combine_kernel<true><<<pick_grid, 256, 0, s>>>(out, ws, cu, C, S);
    else pool_combine_kernel<false><<<pick_grid, 256, 0, s>>>(out, ws, cu, C, S);
}

} // namespace

size_t sutra_cuda_pool_workspace_floats(int B, int C) {
    if (B < 1 || C < 1) return 0;
    return (size_t)(B > 1024 ? B : 1024) * (size_t)C;
}

sutra_status sutra_cuda_pool(float *out, const void *inp, const int32_t *cu_seqlens, int B, int C, int max_len,
                             sutra_pooling mode, float *workspace, size_t workspace_floats, sutra_cuda_dtype dt,
                             cudaStream_t stream) {
    if (B < 0 || C < 1 || max_len < 0 || B > 65535)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "pool: B %d (at most 65535), C %d, max_len %d", B, C,
                               max_len);
    if (B == 0) return SUTRA_OK;
    if (!out || !inp || !cu_seqlens) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "pool: NULL pointer");
    if (mode != SUTRA_POOLING_MEAN && mode != SUTRA_POOLING_CLS && mode != SUTRA_POOLING_MAX &&
        mode != SUTRA_POOLING_LAST)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "pool: mode %d", (int)mode);
    if ((mode == SUTRA_POOLING_MEAN || mode == SUTRA_POOLING_MAX) &&
        (!workspace || workspace_floats < (size_t)B * pool_splits(B, max_len) * (size_t)C))
        return sutra_cuda_fail(SUTRA_ERR_BUFFER_TOO_SMALL, "pool: workspace of %zu floats for B %d, C %d",
                               workspace_floats, B, C);
    if (dt == SUTRA_CUDA_DTYPE_BF16)
        launch<__nv_bfloat16>(out, (const __nv_bfloat16 *)inp, cu_seqlens, B, C, max_len, mode, workspace, stream);
    else
        launch<__half>(out, (const __half *)inp, cu_seqlens, B, C, max_len, mode, workspace, stream);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "pool launch (B %d, C %d): %s", B, C, cudaGetErrorString(e));
    return SUTRA_OK;
}
