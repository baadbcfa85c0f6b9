/*
 * attention_standard.cu - standard attention on the GPU (see attention_standard.h): scores
 * materialised per (sequence, head) in the caller's workspace, masked softmax, then P V.
 *
 * Dimension letters: B sequences, H heads (Hc of them per pass), N = max_seqlen, D head dim.
 * Workspace: S is (B, Hc, N, N) fp32; row i of (b, h) holds the scores of query i against keys
 * 0..len-1 of its sequence. Entries outside a row's visible key range [lo_i, hi_i] (sequence
 * end, local window, causal: the window j - i <= 0) are never written and never read: every kernel derives the same range
 * from row_range().
 *
 * Rules: simple tiled SIMT kernels in fp32, correct for any head dim up to 256 and any
 * strides: this path is for short batches and as a fallback, so clarity beats speed. Kernels
 * section first, then the launcher, which checks every launch.
 */
#include <math.h>
#include <stdint.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/cuda/attention_check.h"
#include "backend/cuda/attention_standard.h"

namespace {

constexpr int TILE = 64;   /* score and output tiles are TILE x TILE / TILE x D */
constexpr int KCHUNK = 16; /* features (scores) or keys (P V) staged in shared memory per step */
constexpr int MAX_D = 256;

struct std_params {
    const void *q, *k, *v; /* (T, H, D) each, row strides below, in elements */
    void *o;               /* (T, H, D) */
    int64_t q_stride, k_stride, v_stride, o_stride;
    const int32_t *cu_seqlens; /* (B+1) device */
    int max_seqlen;            /* N */
    int head_dim;              /* D */
    int head0;                 /* first head of this pass; grid.y covers heads head0 .. head0+Hc-1 */
    int heads_in_pass;         /* Hc */
    float scale;
    int window_left, window_right; /* window_right 0 for causal attention */
    int kv_group;                  /* query heads per key/value head */
    float *scores; /* (B, Hc, N, N) workspace */
    const void *rel_bias; /* relative position bias table (see backend.h), or NULL */
    int64_t rel_stride;
    int rel_span;
};

__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class Elem>
__device__ __forceinline__ Elem from_float(float x);
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

/* Visible keys [lo, hi] (inclusive) of query i in a sequence of len tokens; empty if lo > hi. */
__device__ __forceinline__ void row_range(int i, int len, int left, int right, int *lo, int *hi) {
    *lo = left < 0 ? 0 : max(0, i - left);
    *hi = right < 0 ? len - 1 : (int)min((long long)len - 1, (long long)i + right);
}

__device__ __forceinline__ float *score_row(const std_params &p, int b, int hh, int i) {
    const size_t n = (size_t)p.max_seqlen;
    return p.scores + (((size_t)b * p.heads_in_pass + hh) * n + (size_t)i) * n;
}

/* ---- kernels ------------------------------------------------------------------------------ */

/* S tile (TILE x TILE) = scale * Q K^T for one (sequence, head). 256 threads, 4 x 4 outputs
 * each, rows ty + 16a and columns tx + 16b so that shared reads are conflict-free.
 * grid (tiles_i * tiles_j, Hc, B). */
template <class Elem>
__global__ void __launch_bounds__(256) scores_kernel(const std_params p) {
    __shared__ float qs[KCHUNK][TILE + 1];
    __shared__ float ks[KCHUNK][TILE + 1];
    const int tiles = (p.max_seqlen + TILE - 1) / TILE;
    const int i0 = (blockIdx.x / tiles) * TILE, j0 = (blockIdx.x % tiles) * TILE;
    const int hh = blockIdx.y, b = blockIdx.z, head = p.head0 + hh;
    const int start = p.cu_seqlens[b], len = p.cu_seqlens[b + 1] - start;
    if (i0 >= len || j0 >= len) return;
    /* Skip tiles wholly outside every row's window. */
    const int i1 = min(i0 + TILE, len) - 1, j1 = min(j0 + TILE, len) - 1;
    if (p.window_left >= 0 && i0 - j1 > p.window_left) return;
    if (p.window_right >= 0 && j0 - i1 > p.window_right) return;

    const Elem *q = (const Elem *)p.q + (int64_t)start * p.q_stride + (int64_t)head * p.head_dim;
    const Elem *k = (const Elem *)p.k + (int64_t)start * p.k_stride + (int64_t)(head / p.kv_group) * p.head_dim;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc[4][4] = {};
    for (int d0 = 0; d0 < p.head_dim; d0 += KCHUNK) {
        for (int idx = threadIdx.x; idx < TILE * KCHUNK; idx += 256) {
            const int r = idx / KCHUNK, c = idx % KCHUNK, d = d0 + c;
            const bool dq = d < p.head_dim;
            qs[c][r] = dq && i0 + r < len ? to_float(q[(int64_t)(i0 + r) * p.q_stride + d]) : 0.f;
            ks[c][r] = dq && j0 + r < len ? to_float(k[(int64_t)(j0 + r) * p.k_stride + d]) : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int c = 0; c < KCHUNK; ++c) {
            float a[4], bb[4];
#pragma unroll
            for (int x = 0; x < 4; ++x) {
                a[x] = qs[c][ty + 16 * x];
                bb[x] = ks[c][tx + 16 * x];
            }
#pragma unroll
            for (int x = 0; x < 4; ++x)
#pragma unroll
                for (int y = 0; y < 4; ++y) acc[x][y] = fmaf(a[x], bb[y], acc[x][y]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int x = 0; x < 4; ++x) {
        const int i = i0 + ty + 16 * x;
        if (i >= len) continue;
        float *row = score_row(p, b, hh, i);
#pragma unroll
        for (int y = 0; y < 4; ++y) {
            const int j = j0 + tx + 16 * y;
            if (j < len)
                row[j] = acc[x][y] * p.scale +
                         (p.rel_bias ? to_float(static_cast<const Elem *>(p.rel_bias)[(int64_t)(j - i + p.rel_span - 1) *
                                                                                        p.rel_stride + head])
                                     : 0.f);
        }
    }
}

/* Row softmax in place over the visible keys, one warp per (sequence, head, query row).
 * grid (ceil(N / 8), Hc, B), 256 threads. */
__global__ void __launch_bounds__(256) softmax_kernel(const std_params p) {
    const int i = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
    const int hh = blockIdx.y, b = blockIdx.z;
    const int len = p.cu_seqlens[b + 1] - p.cu_seqlens[b];
    if (i >= len) return;
    int lo, hi;
    row_range(i, len, p.window_left, p.window_right, &lo, &hi);
    float *row = score_row(p, b, hh, i);
    float mx = -INFINITY;
    for (int j = lo + lane; j <= hi; j += 32) mx = fmaxf(mx, row[j]);
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float sum = 0.f;
    for (int j = lo + lane; j <= hi; j += 32) {
        const float e = expf(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    const float inv = 1.f / sum; /* sum >= 1: the row's own key is visible and gives exp(0) */
    for (int j = lo + lane; j <= hi; j += 32) row[j] *= inv;
}

/* O tile (TILE rows x D) = P V for one (sequence, head). 256 threads as 16 x 16; thread
 * (ty, tx) owns rows ty + 16a (a < 4) and columns tx + 16c (c < D/16, rounded up).
 * grid (ceil(N / TILE), Hc, B). */
template <class Elem>
__global__ void __launch_bounds__(256) pv_kernel(const std_params p) {
    constexpr int CMAX = MAX_D / 16;
    __shared__ float ps[TILE][KCHUNK + 1];
    __shared__ float vs[KCHUNK][MAX_D];
    const int i0 = blockIdx.x * TILE, hh = blockIdx.y, b = blockIdx.z, head = p.head0 + hh;
    const int start = p.cu_seqlens[b], len = p.cu_seqlens[b + 1] - start;
    if (i0 >= len) return;
    const int i1 = min(i0 + TILE, len) - 1;
    int lo0, hi0, lo1, hi1;
    row_range(i0, len, p.window_left, p.window_right, &lo0, &hi0);
    row_range(i1, len, p.window_left, p.window_right, &lo1, &hi1);
    const int jlo = lo0, jhi = hi1; /* union of the rows' ranges: lo and hi grow with i */

    const Elem *v = (const Elem *)p.v + (int64_t)start * p.v_stride + (int64_t)(head / p.kv_group) * p.head_dim;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc[4][CMAX] = {};
    for (int j0 = jlo; j0 <= jhi; j0 += KCHUNK) {
        for (int idx = threadIdx.x; idx < TILE * KCHUNK; idx += 256) {
            const int r = idx / KCHUNK, c = idx % KCHUNK, i = i0 + r, j = j0 + c;
            float val = 0.f;
            if (i <= i1 && j <= jhi) {
                int lo, hi;
                row_range(i, len, p.window_left, p.window_right, &lo, &hi);
                if (j >= lo && j <= hi) val = score_row(p, b, hh, i)[j];
            }
            ps[r][c] = val;
        }
        for (int idx = threadIdx.x; idx < KCHUNK * p.head_dim; idx += 256) {
            const int r = idx / p.head_dim, d = idx % p.head_dim, j = j0 + r;
            vs[r][d] = j <= jhi ? to_float(v[(int64_t)j * p.v_stride + d]) : 0.f;
        }
        __syncthreads();
#pragma unroll 4
        for (int c = 0; c < KCHUNK; ++c) {
#pragma unroll
            for (int x = 0; x < 4; ++x) {
                const float pv = ps[ty + 16 * x][c];
#pragma unroll
                for (int y = 0; y < CMAX; ++y)
                    if (tx + 16 * y < p.head_dim) acc[x][y] = fmaf(pv, vs[c][tx + 16 * y], acc[x][y]);
            }
        }
        __syncthreads();
    }
    Elem *o = (Elem *)p.o + (int64_t)start * p.o_stride + (int64_t)head * p.head_dim;
#pragma unroll
    for (int x = 0; x < 4; ++x) {
        const int i = i0 + ty + 16 * x;
        if (i > i1) continue;
#pragma unroll
        for (int y = 0; y < CMAX; ++y) {
            const int d = tx + 16 * y;
            if (d < p.head_dim) o[(int64_t)i * p.o_stride + d] = from_float<Elem>(acc[x][y]);
        }
    }
}

/* ---- launcher ----------------------------------------------------------------------------- */

template <class Elem>
sutra_status run_pass(const std_params &p, int batch, cudaStream_t stream) {
    const int tiles = (p.max_seqlen + TILE - 1) / TILE;
    scores_kernel<Elem><<<dim3((unsigned)tiles * tiles, p.heads_in_pass, batch), 256, 0, stream>>>(p);
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess) {
        softmax_kernel<<<dim3((p.max_seqlen + 7) / 8, p.heads_in_pass, batch), 256, 0, stream>>>(p);
        err = cudaGetLastError();
    }
    if (err == cudaSuccess) {
        pv_kernel<Elem><<<dim3(tiles, p.heads_in_pass, batch), 256, 0, stream>>>(p);
        err = cudaGetLastError();
    }
    if (err != cudaSuccess)
        return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "standard attention launch (heads %d..%d): %s", p.head0,
                               p.head0 + p.heads_in_pass - 1, cudaGetErrorString(err));
    return SUTRA_OK;
}

} // namespace

extern "C" size_t sutra_cuda_standard_attention_workspace(int batch, int heads, int max_seqlen) {
    if (batch < 0 || heads < 0 || max_seqlen < 0) return 0;
    size_t bytes = 0;
    if (__builtin_mul_overflow((size_t)batch, (size_t)max_seqlen, &bytes) ||
        __builtin_mul_overflow(bytes, (size_t)max_seqlen, &bytes) ||
        __builtin_mul_overflow(bytes, sizeof(float), &bytes) || __builtin_mul_overflow(bytes, (size_t)heads, &bytes))
        return 0;
    return bytes;
}

extern "C" sutra_status sutra_cuda_standard_attention(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                      void *workspace, size_t workspace_bytes, void *stream) {
    sutra_status st = sutra_cuda_check_attn_params(p, dtype, MAX_D, "standard attention");
    if (st != SUTRA_OK) return st;
    if (p->batch == 0 || p->max_seqlen == 0) return SUTRA_OK;
    const long long tiles = (p->max_seqlen + TILE - 1) / TILE;
    if (tiles * tiles > 0x7fffffffLL)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "standard attention: max_seqlen %d too long", p->max_seqlen);
    const size_t share = sutra_cuda_standard_attention_workspace(p->batch, 1, p->max_seqlen);
    if (share == 0 || sutra_cuda_standard_attention_workspace(p->batch, p->heads, p->max_seqlen) == 0)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "standard attention: workspace size overflows");
    if (!workspace || workspace_bytes < share)
        return sutra_cuda_fail(SUTRA_ERR_BUFFER_TOO_SMALL,
                               "standard attention: workspace of %zu bytes, needs at least %zu (one head)",
                               workspace_bytes, share);
    const size_t fit = workspace_bytes / share;
    const int group = fit >= (size_t)p->heads ? p->heads : (int)fit;

    std_params sp;
    sp.q = p->q;
    sp.k = p->k;
    sp.v = p->v;
    sp.o = p->out;
    sp.q_stride = p->q_stride;
    sp.k_stride = p->k_stride;
    sp.v_stride = p->v_stride;
    sp.o_stride = p->o_stride;
    sp.cu_seqlens = p->cu_seqlens;
    sp.max_seqlen = p->max_seqlen;
    sp.head_dim = p->head_dim;
    sp.scale = p->scale;
    sp.window_left = p->window_left;
    sp.window_right = sutra_cuda_attn_right(p);
    sp.kv_group = sutra_cuda_attn_group(p);
    sp.scores = static_cast<float *>(workspace);
    sp.rel_bias = p->rel_bias;
    sp.rel_stride = p->rel_stride;
    sp.rel_span = p->rel_span;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    for (int h0 = 0; h0 < p->heads; h0 += group) {
        sp.head0 = h0;
        sp.heads_in_pass = h0 + group <= p->heads ? group : p->heads - h0;
        st = dtype == SUTRA_CUDA_DTYPE_BF16 ? run_pass<__nv_bfloat16>(sp, p->batch, s)
                                            : run_pass<__half>(sp, p->batch, s);
        if (st != SUTRA_OK) return st;
    }
    return SUTRA_OK;
}
