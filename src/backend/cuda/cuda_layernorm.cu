/*
 * cuda_layernorm.cu - LayerNorm and RMSNorm kernels with their input stage fused in: the
 * embedding gather (word + position + token-type rows), the residual add (post-norm: out =
 * LN(x + res)), and the pre-norm residual step (sum = x + res kept as the new residual stream,
 * norm = LN(sum) or RMSNorm(sum)). An RMSNorm is the same pass with the mean taken as 0 and no
 * bias: r = 1/sqrt(mean(x^2) + eps), y = x * r * w (a runtime flag: the one branch costs nothing
 * beside the row's memory traffic).
 *
 * Shapes: T rows of C. A row is normalised as the CPU backend does it (cpu_backend.c): sum the
 * inputs in fp32, mean, then the biased variance in a second pass over the same fp32 values,
 * rstd = 1/sqrt(var + eps), y = (x - mean) * rstd * w + b (b may be NULL: no bias), rounded
 * once to the activation type. The pre-norm step normalises the sum as stored (rounded to the
 * activation type), the value the next layer's residual reads.
 *
 * Rules: the fast path is one warp per row with the row held in registers (C/8 16-byte vectors
 * spread over the 32 lanes, VPL of them per lane), so a row is read once and written once and
 * `out` may alias the inputs (every lane has read its part before any lane writes, because the
 * two warp reductions sit in between). It needs C % 8 == 0, C <= 4096 and 16-byte aligned
 * pointers; anything else takes the general path: one block per row, the fp32 row in shared
 * memory (C <= 12288). Kernels first, then the launchers.
 */
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_elem.cuh"
#include "backend/cuda/cuda_ops.h"

using namespace sutra_cuda;

namespace {

constexpr int WARPS = 4;          /* rows per 128-thread block on the fast path */
constexpr int MAX_FAST_C = 4096;  /* VPL 16: 128 fp32 values per lane, still no spills */
constexpr int MAX_GENERAL_C = 12288; /* 48 KB of fp32 row in shared memory */
constexpr int GENERAL_THREADS = 256;

/* Normalises the row held in x (VPL vectors per lane, vector index lane + 32 v) and writes it.
 * For rows of up to 1024 (VPL <= 4) the weight and bias loads are issued first, so that their
 * latency overlaps the row's (still in flight from the caller) and the two reductions instead of
 * following them: at T = 512 the kernel is a chain of memory latencies (bert-base: 5.4 us per
 * call under ncu before this). Longer rows load them at the end, keeping registers for x. */
template <class E, int VPL>
__device__ __forceinline__ void ln_finish_warp(E *out, float (&x)[VPL][8], const E *w, const E *b, int C, float eps,
                                               bool rms, int lane) {
    constexpr bool EARLY = VPL <= 4;
    uint4 wr[VPL], br[VPL]; /* used only when EARLY */
    if constexpr (EARLY) {
#pragma unroll
        for (int v = 0; v < VPL; ++v) {
            const int c = (lane + 32 * v) * 8;
            wr[v] = br[v] = make_uint4(0u, 0u, 0u, 0u); /* zero bits: 0 in fp16 and bf16 */
            if (c < C) {
                wr[v] = *reinterpret_cast<const uint4 *>(w + c);
                if (b) br[v] = *reinterpret_cast<const uint4 *>(b + c);
            }
        }
    }
    const int nv = C / 8;
    float sum = 0.f;
#pragma unroll
    for (int v = 0; v < VPL; ++v)
        if (lane + 32 * v < nv)
#pragma unroll
            for (int i = 0; i < 8; ++i) sum += x[v][i];
    const float mean = rms ? 0.f : warp_sum(sum) / (float)C;
    float var = 0.f;
#pragma unroll
    for (int v = 0; v < VPL; ++v)
        if (lane + 32 * v < nv)
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const float d = x[v][i] - mean;
                var += d * d;
            }
    const float rstd = 1.f / sqrtf(warp_sum(var) / (float)C + eps);
#pragma unroll
    for (int v = 0; v < VPL; ++v) {
        const int c = (lane + 32 * v) * 8;
        if (c < C) {
            float wf[8], bf[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}, y[8];
            if constexpr (EARLY) {
                unpack8<E>(wr[v], wf);
                unpack8<E>(br[v], bf);
            } else {
                load8(w + c, wf);
                if (b) load8(b + c, bf);
            }
#pragma unroll
            for (int i = 0; i < 8; ++i) y[i] = (x[v][i] - mean) * rstd * wf[i] + bf[i];
            store8(out + c, y);
        }
    }
}

/* out (T,C) = LN(inp + res); with sum != NULL also sum (T,C) = inp + res (rounded), and the LN
 * reads the rounded sum. One warp per row. grid ceil(T / WARPS), block 32 * WARPS. */
template <class E, int VPL>
__global__ void __launch_bounds__(32 * WARPS) add_layernorm_warp_kernel(E *out, E *sum, const E *inp, const E *res,
                                                                        const E *w, const E *b, int T, int C,
                                                                        float eps, bool rms) {
    const int row = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= T) return;
    const size_t off = (size_t)row * C;
    float x[VPL][8];
#pragma unroll
    for (int v = 0; v < VPL; ++v) {
        const int c = (lane + 32 * v) * 8;
        if (c < C) {
            load8(inp + off + c, x[v]);
            if (res) {
                float r[8];
                load8(res + off + c, r);
#pragma unroll
                for (int i = 0; i < 8; ++i) x[v][i] += r[i];
            }
            if (sum) {
#pragma unroll
                for (int i = 0; i < 8; ++i) x[v][i] = to_f32(from_f32<E>(x[v][i]));
                store8(sum + off + c, x[v]);
            }
        }
    }
    ln_finish_warp<E, VPL>(out + off, x, w, b, C, eps, rms, lane);
}

/* out (T,C) = LN(wte[ids] + wpe[pos] + wtt[types]); one warp per row. Same grid as above. */
template <class E, int VPL>
__global__ void __launch_bounds__(32 * WARPS)
    embed_layernorm_warp_kernel(E *out, const int32_t *ids, const int32_t *pos, const int32_t *types, const E *wte,
                                const E *wpe, const E *wtt, const E *w, const E *b, int T, int C, float eps) {
    const int row = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= T) return;
    const E *e = wte + (size_t)ids[row] * C;
    const E *p = wpe ? wpe + (size_t)pos[row] * C : nullptr;
    const E *y = wtt ? wtt + (types ? (size_t)types[row] * C : 0) : nullptr;
    float x[VPL][8];
#pragma unroll
    for (int v = 0; v < VPL; ++v) {
        const int c = (lane + 32 * v) * 8;
        if (c < C) {
            load8(e + c, x[v]);
            float t[8];
            if (p) {
                load8(p + c, t);
#pragma unroll
                for (int i = 0; i < 8; ++i) x[v][i] += t[i];
            }
            if (y) {
                load8(y + c, t);
#pragma unroll
                for (int i = 0; i < 8; ++i) x[v][i] += t[i];
            }
        }
    }
    ln_finish_warp<E, VPL>(out + (size_t)row * C, x, w, b, C, eps, false, lane);
}

/* General path: one block per row, any C up to MAX_GENERAL_C, any alignment. The input row is
 * either wte[ids]+wpe[pos]+wtt[types] (ids != NULL) or inp + res. Dynamic shared memory: C floats. */
template <class E>
__global__ void __launch_bounds__(GENERAL_THREADS)
    layernorm_general_kernel(E *out, E *sum_out, const E *inp, const E *res, const int32_t *ids, const int32_t *pos,
                             const int32_t *types, const E *wte, const E *wpe, const E *wtt, const E *w, const E *b, int C, float eps,
                             bool rms) {
    extern __shared__ float xs[];
    __shared__ float scratch[GENERAL_THREADS / 32];
    const size_t row = blockIdx.x, off = row * (size_t)C;
    float sum = 0.f;
    for (int c = threadIdx.x; c < C; c += GENERAL_THREADS) {
        float x;
        if (ids) {
            x = to_f32(wte[(size_t)ids[row] * C + c]);
            if (wpe) x += to_f32(wpe[(size_t)pos[row] * C + c]);
            if (wtt) x += to_f32(wtt[(types ? (size_t)types[row] * C : 0) + c]);
        } else {
            x = to_f32(inp[off + c]);
            if (res) x += to_f32(res[off + c]);
            if (sum_out) {
                const E r = from_f32<E>(x);
                sum_out[off + c] = r;
                x = to_f32(r);
            }
        }
        xs[c] = x;
        sum += x;
    }
    const float mean = rms ? 0.f : block_sum<GENERAL_THREADS>(sum, scratch) / (float)C;
    float var = 0.f;
    for (int c = threadIdx.x; c < C; c += GENERAL_THREADS) {
        const float d = xs[c] - mean;
        var += d * d;
    }
    const float rstd = 1.f / sqrtf(block_sum<GENERAL_THREADS>(var, scratch) / (float)C + eps);
    for (int c = threadIdx.x; c < C; c += GENERAL_THREADS)
        out[off + c] = from_f32<E>((xs[c] - mean) * rstd * to_f32(w[c]) + (b ? to_f32(b[c]) : 0.f));
}

/* ---- launchers ---------------------------------------------------------------------------- */

/* The smallest compiled VPL that holds C/8 vectors over 32 lanes. */
int pick_vpl(int C) {
    static const int vpls[] = {1, 2, 3, 4, 6, 8, 12, 16};
    const int need = (C / 8 + 31) / 32;
    for (int v : vpls)
        if (v >= need) return v;
    return 0;
}

template <class E>
sutra_status launch_fast(E *out, E *sum, const E *inp, const E *res, const int32_t *ids, const int32_t *pos,
                         const int32_t *types, const E *wte,
                         const E *wpe, const E *wtt, const E *w, const E *b, int T, int C, float eps, bool rms,
                         cudaStream_t s) {
    const dim3 grid((unsigned)((T + WARPS - 1) / WARPS)), block(32 * WARPS);
#define SUTRA_LN_CASE(V)                                                                                          \
    case V:                                                                                                       \
        if (ids)                                                                                                  \
            embed_layernorm_warp_kernel<E, V><<<grid, block, 0, s>>>(out, ids, pos, types, wte, wpe, wtt, w, b, T, C, eps); \
        else                                                                                                      \
            add_layernorm_warp_kernel<E, V><<<grid, block, 0, s>>>(out, sum, inp, res, w, b, T, C, eps, rms);    \
        break;
    switch (pick_vpl(C)) {
        SUTRA_LN_CASE(1)
        SUTRA_LN_CASE(2)
        SUTRA_LN_CASE(3)
        SUTRA_LN_CASE(4)
        SUTRA_LN_CASE(6)
        SUTRA_LN_CASE(8)
        SUTRA_LN_CASE(12)
        SUTRA_LN_CASE(16)
    default: return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "layernorm: no fast kernel for C %d", C);
    }
#undef SUTRA_LN_CASE
    return SUTRA_OK;
}

template <class E>
sutra_status launch(void *out_, void *sum_, const void *inp_, const void *res_, const int32_t *ids,
                    const int32_t *pos, const int32_t *types, const void *wte_, const void *wpe_, const void *wtt_, const void *w_,
                    const void *b_, int T, int C, float eps, bool rms, cudaStream_t s, const char *who) {
    E *out = (E *)out_, *sum = (E *)sum_;
    const E *inp = (const E *)inp_, *res = (const E *)res_, *wte = (const E *)wte_, *wpe = (const E *)wpe_,
            *wtt = (const E *)wtt_, *w = (const E *)w_, *b = (const E *)b_;
    const bool fast = C % 8 == 0 && C <= MAX_FAST_C && aligned16(out) && aligned16(sum) && aligned16(inp) &&
                      aligned16(res) &&
                      aligned16(wte) && aligned16(wpe) && aligned16(wtt) && aligned16(w) && aligned16(b);
    sutra_status st = SUTRA_OK;
    if (fast) {
        st = launch_fast<E>(out, sum, inp, res, ids, pos, types, wte, wpe, wtt, w, b, T, C, eps, rms, s);
    } else {
        const size_t smem = (size_t)C * sizeof(float);
        if (smem > 48 * 1024 &&
            cudaFuncSetAttribute(layernorm_general_kernel<E>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) !=
                cudaSuccess) {
            cudaGetLastError();
            return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "%s: C %d needs %zu bytes of shared memory", who, C, smem);
        }
        layernorm_general_kernel<E><<<(unsigned)T, GENERAL_THREADS, smem, s>>>(out, sum, inp, res, ids, pos, types, wte,
                                                                              wpe, wtt, w, b, C, eps, rms);
    }
    if (st != SUTRA_OK) return st;
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "%s launch (T %d, C %d): %s", who, T, C, cudaGetErrorString(e));
    return SUTRA_OK;
}

sutra_status check_sizes(int T, int C, const char *who) {
    if (T < 0 || C < 1) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: T %d, C %d", who, T, C);
    if (C > MAX_GENERAL_C)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "%s: hidden size %d over %d", who, C, MAX_GENERAL_C);
    return SUTRA_OK;
}

} // namespace

sutra_status sutra_cuda_embed_layernorm(void *out, const int32_t *ids, const int32_t *pos, const int32_t *types,
                                        const void *wte,
                                        const void *wpe, const void *wtt, const void *w, const void *b, int T, int C,
                                        float eps, sutra_cuda_dtype dt, cudaStream_t stream) {
    static const char who[] = "embed_layernorm";
    sutra_status st = check_sizes(T, C, who);
    if (st != SUTRA_OK) return st;
    if (!out || !ids || !wte || !w || (wpe && !pos))
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: NULL pointer", who);
    if (T == 0) return SUTRA_OK;
    return dt == SUTRA_CUDA_DTYPE_BF16
               ? launch<__nv_bfloat16>(out, nullptr, nullptr, nullptr, ids, pos, types, wte, wpe, wtt, w, b, T, C, eps,
                                       false, stream, who)
               : launch<__half>(out, nullptr, nullptr, nullptr, ids, pos, types, wte, wpe, wtt, w, b, T, C, eps, false,
                                stream, who);
}

namespace {

sutra_status add_norm(void *out, void *sum, const void *inp, const void *residual, const void *w, const void *b,
                      int T, int C, float eps, bool rms, sutra_cuda_dtype dt, cudaStream_t stream) {
    const char *who = rms ? (sum ? "residual_rmsnorm" : "add_rmsnorm") : sum ? "residual_layernorm" : "add_layernorm";
    sutra_status st = check_sizes(T, C, who);
    if (st != SUTRA_OK) return st;
    if (!out || !inp || !w || (sum && !residual))
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: NULL pointer", who);
    if (T == 0) return SUTRA_OK;
    return dt == SUTRA_CUDA_DTYPE_BF16
               ? launch<__nv_bfloat16>(out, sum, inp, residual, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, w, b, T,
                                       C, eps, rms, stream, who)
               : launch<__half>(out, sum, inp, residual, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, w, b, T, C, eps,
                                rms, stream, who);
}

} // namespace

sutra_status sutra_cuda_add_layernorm(void *out, void *sum, const void *inp, const void *residual, const void *w,
                                      const void *b, int T, int C, float eps, sutra_cuda_dtype dt,
                                      cudaStream_t stream) {
    return add_norm(out, sum, inp, residual, w, b, T, C, eps, false, dt, stream);
}

sutra_status sutra_cuda_add_rmsnorm(void *out, void *sum, const void *inp, const void *residual, const void *w,
                                    int T, int C, float eps, sutra_cuda_dtype dt, cudaStream_t stream) {
    return add_norm(out, sum, inp, residual, w, nullptr, T, C, eps, true, dt, stream);
}
