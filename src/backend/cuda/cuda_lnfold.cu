/*
 * cuda_lnfold.cu - the kernels around the LayerNorm-folded products (cuda_gemm.cu's
 * sutra_cuda_matmul_ln and sutra_cuda_matmul_residual_ln; the algebra is in gemm_sm90.cuh):
 * the row statistics from the Hopper product's partial sums, the epilogues of both products as
 * passes of their own for when cuBLASLt ran the product (no sm_90, no CUTLASS, a shape CUTLASS
 * declines), and the final normalisation.
 *
 * The residual stream of a folded forward: per row, z = y * g (fp16/bf16; y the un-normalised
 * sum, g the LayerNorm weight that follows) and stats: mu (mean of y) and r = 1/sqrt(var(y) +
 * eps), fp32, in one buffer laid out as sutra_cuda_ln_stats_floats describes. LN(y) = r (z - mu
 * g) + b.
 *
 * Numerics: the Hopper path accumulates each row's sum and sum of squares in fp32 (per 128-column
 * tile, then over tiles here) and takes var = E[y^2] - mu^2, clamped at 0. That loses digits
 * only when |mu| is large against the row's spread; on the default model |mu| / std <= 0.08
 * (scripts/study_ln_fold.py). The fallback row pass takes the two-pass variance over fp32 y, as
 * cuda_layernorm.cu does. Kernels first, then the launchers.
 */
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_elem.cuh"
#include "backend/cuda/cuda_ops.h"

using namespace sutra_cuda;

namespace {

constexpr int ROW_THREADS = 256;
constexpr int MAX_ROW_C = 12288; /* 48 KB of fp32 row in shared memory */

/* mu[m], rs[m] from nt partial sums and sums of squares per row (column-tile-major, rows Tr
 * apart). One thread per row; the first STATS_UNROLL tiles' loads are all issued before the
 * first add (a plain loop over a run-time nt waited for each pair in turn). Launched between two
 * products, with few threads (bert-base 64x512: 32768), so latency is all it has. */
constexpr int STATS_THREADS = 64, STATS_UNROLL = 8;

__global__ void __launch_bounds__(STATS_THREADS) ln_stats_kernel(float *mu, float *rs, const float *psum,
                                                                 const float *psq, int T, int Tr, int nt, float inv_n,
                                                                 float eps) {
    const int m = blockIdx.x * blockDim.x + threadIdx.x;
    if (m >= T) return;
    float ps[STATS_UNROLL], pq[STATS_UNROLL];
#pragma unroll
    for (int j = 0; j < STATS_UNROLL; ++j) {
        ps[j] = j < nt ? psum[(size_t)j * Tr + m] : 0.f;
        pq[j] = j < nt ? psq[(size_t)j * Tr + m] : 0.f;
    }
    float s = 0.f, q = 0.f;
#pragma unroll
    for (int j = 0; j < STATS_UNROLL; ++j) {
        s += ps[j];
        q += pq[j];
    }
    for (int j = STATS_UNROLL; j < nt; ++j) {
        s += psum[(size_t)j * Tr + m];
        q += psq[(size_t)j * Tr + m];
    }
    const float mean = s * inv_n;
    const float var = fmaxf(q * inv_n - mean * mean, 0.f);
    mu[m] = mean;
    rs[m] = 1.f / sqrtf(var + eps);
}

/* One row per block: y = acc + d + r_prev (res - mu_prev g_prev) over fp32, its mean and inverse
 * deviation (two passes), then z (in place of acc) = y * g_next. Dynamic shared memory: N floats. */
template <class E>
__global__ void __launch_bounds__(ROW_THREADS)
    res_ln_kernel(E *z, float *mu, float *rs, const E *d, const E *res, const float *mu_prev, const float *rs_prev,
                  const E *g_prev, const E *g_next, int N, float eps) {
    extern __shared__ float ys[];
    __shared__ float scratch[ROW_THREADS / 32];
    const size_t row = blockIdx.x, off = row * (size_t)N;
    const float mp = mu_prev ? mu_prev[row] : 0.f, rp = rs_prev ? rs_prev[row] : 1.f;
    float sum = 0.f;
    for (int j = threadIdx.x; j < N; j += ROW_THREADS) {
        const float gp = g_prev ? to_f32(g_prev[j]) : 0.f;
        const float y = to_f32(z[off + j]) + (d ? to_f32(d[j]) : 0.f) + rp * (to_f32(res[off + j]) - mp * gp);
        ys[j] = y;
        sum += y;
    }
    const float mean = block_sum<ROW_THREADS>(sum, scratch) / (float)N;
    float var = 0.f;
    for (int j = threadIdx.x; j < N; j += ROW_THREADS) {
        const float t = ys[j] - mean;
        var += t * t;
    }
    const float r = 1.f / sqrtf(block_sum<ROW_THREADS>(var, scratch) / (float)N + eps);
    for (int j = threadIdx.x; j < N; j += ROW_THREADS) z[off + j] = from_f32<E>(ys[j] * to_f32(g_next[j]));
    if (threadIdx.x == 0) {
        mu[row] = mean;
        rs[row] = r;
    }
}

/* out (T,N) = act(r (x - mu s) + c): the LN-in epilogue as a pass (s = W g, c = W b + bias) and
 * the final LayerNorm (s = g, c = b, no act). out may alias x; mu, rs NULL: 0 and 1; c NULL: 0. */
__device__ __forceinline__ float ln_affine(float x, float m, float r, float s, float c, sutra_act act) {
    const float v = r * (x - m * s) + c;
    return act == SUTRA_ACT_GELU ? gelu_erf(v) : act == SUTRA_ACT_GELU_TANH ? gelu_tanh(v) : v;
}

/* One element per thread and step, any width and alignment. Grid-stride over elements. */
template <class E>
__global__ void ln_affine_kernel(E *out, const E *x, const float *mu, const float *rs, const E *s, const E *c, int T,
                                 int N, sutra_act act) {
    const size_t n = (size_t)T * N;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t row = i / N, col = i % N;
        out[i] = from_f32<E>(ln_affine(to_f32(x[i]), mu ? mu[row] : 0.f, rs ? rs[row] : 1.f, to_f32(s[col]),
                                       c ? to_f32(c[col]) : 0.f, act));
    }
}

/* The same, 8 elements per thread through 16-byte accesses (N8 = N / 8; out, x, s, c 16-byte
 * aligned; T * N8 < 2^31, so the row is a 32-bit division). The scalar kernel above spends most
 * of its time in 64-bit divisions (the final LayerNorm at bert-base 64x512 on the H100: 106 us per
 * call; this one 58). Grid-stride over vectors; the launcher gives each thread one. */
template <class E>
__global__ void __launch_bounds__(256) ln_affine_vec_kernel(E *out, const E *x, const float *mu, const float *rs,
                                                            const E *s, const E *c, unsigned n8, unsigned N8,
                                                            sutra_act act) {
    for (unsigned v = blockIdx.x * blockDim.x + threadIdx.x; v < n8; v += gridDim.x * blockDim.x) {
        const unsigned row = v / N8, col = (v - row * N8) * 8;
        const float m = mu ? mu[row] : 0.f, r = rs ? rs[row] : 1.f;
        float xf[8], sf[8], cf[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
        load8(x + (size_t)v * 8, xf);
        load8(s + col, sf);
        if (c) load8(c + col, cf);
#pragma unroll
        for (int i = 0; i < 8; ++i) xf[i] = ln_affine(xf[i], m, r, sf[i], cf[i], act);
        store8(out + (size_t)v * 8, xf);
    }
}

unsigned grid_for(size_t n, int threads) {
    const size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 8192 ? (b ? b : 1) : 8192);
}

sutra_status launched(const char *who, int T, int N) {
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "%s launch (T %d, N %d): %s", who, T, N, cudaGetErrorString(e));
    return SUTRA_OK;
}

template <class E>
void launch_ln_affine(void *out, const void *x, const float *mu, const float *rs, const void *s, const void *c, int T,
                      int N, sutra_act act, cudaStream_t stream) {
    const size_t n8 = (size_t)T * N / 8;
    if (N % 8 == 0 && n8 < ((size_t)1 << 31) && aligned16(out) && aligned16(x) && aligned16(s) && (!c || aligned16(c)))
        ln_affine_vec_kernel<E><<<(unsigned)((n8 + 255) / 256), 256, 0, stream>>>(
            (E *)out, (const E *)x, mu, rs, (const E *)s, (const E *)c, (unsigned)n8, (unsigned)(N / 8), act);
    else
        ln_affine_kernel<E><<<grid_for((size_t)T * N, 256), 256, 0, stream>>>((E *)out, (const E *)x, mu, rs,
                                                                             (const E *)s, (const E *)c, T, N, act);
}

/* The launcher of both passes: stats laid out as sutra_cuda_ln_stats_floats describes (NULL: none). */
sutra_status ln_affine_pass(const char *who, void *out, const void *x, const float *stats, const void *s,
                            const void *c, int T, int N, sutra_act act, sutra_cuda_dtype dt, cudaStream_t stream) {
    const size_t Tr = sutra_cuda_ln_stats_rows(T);
    const float *mu = stats, *rs = stats ? stats + Tr : nullptr;
    if (dt == SUTRA_CUDA_DTYPE_BF16) launch_ln_affine<__nv_bfloat16>(out, x, mu, rs, s, c, T, N, act, stream);
    else launch_ln_affine<__half>(out, x, mu, rs, s, c, T, N, act, stream);
    return launched(who, T, N);
}

} // namespace

size_t sutra_cuda_ln_stats_rows(int T) { return SUTRA_LN_STATS_ROWS(T > 0 ? T : 0); }

size_t sutra_cuda_ln_stats_floats(int T, int N) { return SUTRA_LN_STATS_FLOATS(T > 0 ? T : 0, N > 0 ? N : 0); }

sutra_status sutra_cuda_ln_stats(float *stats, int T, int N, float eps, cudaStream_t stream) {
    if (T < 0 || N < 1) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "ln_stats: T %d, N %d", T, N);
    if (T == 0) return SUTRA_OK;
    const size_t Tr = sutra_cuda_ln_stats_rows(T);
    const int nt = (N + 127) / 128;
    float *mu = stats, *rs = stats + Tr, *psum = stats + 2 * Tr, *psq = psum + (size_t)nt * Tr;
    ln_stats_kernel<<<(unsigned)((T + STATS_THREADS - 1) / STATS_THREADS), STATS_THREADS, 0, stream>>>(
        mu, rs, psum, psq, T, (int)Tr, nt, 1.f / (float)N, eps);
    return launched("ln_stats", T, N);
}

sutra_status sutra_cuda_ln_in_pass(void *x, const float *stats, const void *s, const void *c, int T, int N,
                                   sutra_act act, sutra_cuda_dtype dt, cudaStream_t stream) {
    if (T == 0) return SUTRA_OK;
    return ln_affine_pass("matmul_ln pass", x, x, stats, s, c, T, N, act, dt, stream);
}

sutra_status sutra_cuda_res_ln_pass(void *z, float *stats, const void *d, const void *res, const float *stats_prev,
                                    const void *g_prev, const void *g_next, int T, int N, float eps,
                                    sutra_cuda_dtype dt, cudaStream_t stream) {
    if (T == 0) return SUTRA_OK;
    if (N > MAX_ROW_C)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "matmul_residual_ln: width %d over %d", N, MAX_ROW_C);
    const size_t Tr = sutra_cuda_ln_stats_rows(T);
    const float *mp = stats_prev, *rp = stats_prev ? stats_prev + Tr : nullptr;
    const size_t smem = (size_t)N * sizeof(float);
#define SUTRA_RES_LN(E)                                                                                           \
    do {                                                                                                          \
        if (smem > 48 * 1024 && cudaFuncSetAttribute(res_ln_kernel<E>, cudaFuncAttributeMaxDynamicSharedMemorySize, \
                                                     (int)smem) != cudaSuccess)                                   \
            return launched("matmul_residual_ln pass", T, N);                                                     \
        res_ln_kernel<E><<<(unsigned)T, ROW_THREADS, smem, stream>>>((E *)z, stats, stats + Tr, (const E *)d,       \
                                                                     (const E *)res, mp, rp, (const E *)g_prev,   \
                                                                     (const E *)g_next, N, eps);                  \
    } while (0)
    if (dt == SUTRA_CUDA_DTYPE_BF16) SUTRA_RES_LN(__nv_bfloat16);
    else SUTRA_RES_LN(__half);
#undef SUTRA_RES_LN
    return launched("matmul_residual_ln pass", T, N);
}

sutra_status sutra_cuda_ln_apply(void *out, const void *z, const float *stats, const void *g, const void *b, int T,
                                 int C, sutra_cuda_dtype dt, cudaStream_t stream) {
    if (T < 0 || C < 1) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "ln_apply: T %d, C %d", T, C);
    if (!out || !z || !g) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "ln_apply: NULL pointer");
    if (T == 0) return SUTRA_OK;
    return ln_affine_pass("ln_apply", out, z, stats, g, b, T, C, SUTRA_ACT_NONE, dt, stream);
}
