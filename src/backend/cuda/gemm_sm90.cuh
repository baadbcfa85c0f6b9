/*
 * gemm_sm90.cuh - Hopper (sm_90a) matrix products from CUTLASS's sm90 collectives, with the
 * bias and (optionally) the exact erf GELU applied in the epilogue. Included by the per-dtype
 * files gemm_sm90_f16.cu / gemm_sm90_bf16.cu (one kernel each) and by bench/cuda/gemm_bench.cu
 * (the tuning variants); nothing else includes CUTLASS.
 *
 * Mapping: out (T,N) = act(inp (T,K) @ w (N,K)^T + bias (N)), row-major, is CUTLASS's "TN"
 * product with M = T: A = inp, M x K row-major (K-major); B = w, stored N x K row-major, which
 * is CUTLASS's K x N column-major (K-major); D = out, M x N row-major. The bias is one value per
 * output column (a row vector broadcast down the tile: Sm90RowBroadcast). No C operand is read
 * (ElementC = void, beta = 0).
 *
 * Epilogue (an EVT tree): D = round(act(acc + bias)), acc and bias in fp32, act = identity or
 * gelu_erf from cuda_elem.cuh (0.5 x (1 + erf(x / sqrt 2)) in fp32, the function the GELU pass
 * and the elementwise kernels use; CUTLASS's GELU_taylor would be the tanh form). The result is rounded once,
 * to nearest, from fp32 to fp16/bf16.
 *
 * Rules: host work only before the launch (the TMA descriptors are built on the host each call),
 * no allocation, no synchronisation, so a call may be recorded into a CUDA graph. Preconditions
 * (K and N multiples of 8, every pointer 16-byte aligned: what TMA needs) are checked by the
 * caller and again by CUTLASS's can_implement.
 */
#ifndef SUTRA_GEMM_SM90_CUH
#define SUTRA_GEMM_SM90_CUH

#include <cuda_runtime.h>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp"
#include "cutlass/epilogue/thread/activation.h"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/kernel/gemm_universal.hpp"

#include "backend/cuda/cuda_elem.cuh"
#include "backend/cuda/gemm_sm90.h"

namespace sutra_sm90 {

using namespace cute;

/* The schedules tried: Pingpong (two consumer warpgroups, each on its own tile, one's epilogue
 * overlapping the other's main loop) and Cooperative (both warpgroups on one tile, split along
 * M; tile M >= 128). */
struct pingpong {
    using kernel = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
    using epilogue = cutlass::epilogue::TmaWarpSpecialized;
};
struct cooperative {
    using kernel = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
    using epilogue = cutlass::epilogue::TmaWarpSpecializedCooperative;
};

template <int X> using C_ = cute::Int<X>;

/* Sm90Compute applies its functor to whole fragments (cutlass::Array<float, N>); elementwise<F>::op
 * lifts a scalar fp32 functor F to them, element by element. */
template <class F> struct elementwise {
    template <class Frag> struct op {
        template <class... A> __device__ Frag operator()(A const &...a) const {
            Frag out;
            CUTLASS_PRAGMA_UNROLL
            for (int i = 0; i < Frag::kElements; ++i) out[i] = F{}(a[i]...);
            return out;
        }
    };
};

/* The epilogue's GELU: the library's erf GELU (cuda_elem.cuh gelu_erf; CUTLASS's own GELU calls
 * erff), lifted to fragments. */
struct gelu_erf_f {
    __device__ float operator()(float x) const { return sutra_cuda::gelu_erf(x); }
};

/* The kernel around an epilogue fusion tree: E cutlass::half_t or cutlass::bfloat16_t, tile TM x
 * TN x TK, cluster CM x 1, ElementC the C operand's type (void: none read). EPI_N: the epilogue
 * sub-tile's columns (0: CUTLASS's choice, 32), STAGES_D: its output buffers in shared memory (0:
 * CUTLASS's choice, 2). With C read, its sub-tiles are loaded into the buffers D is then stored
 * from (CUTLASS's ReuseSmemC), which needs more C buffers than D ones. */
template <class E, int TM, int TN, int TK, int CM, class Sched, class Fusion, class ElementC, int EPI_N, int STAGES_D>
struct gemm_kernel {
    using Tile = Shape<C_<TM>, C_<TN>, C_<TK>>;
    using Cluster = Shape<C_<CM>, _1, _1>;
    static constexpr int ALIGN = 8; /* elements in 16 bytes */
    static constexpr bool COOP = cute::is_same_v<Sched, cooperative>;

    using EpiSched = typename Sched::epilogue;
    using EpiTileType = cute::conditional_t<EPI_N == 0, cutlass::epilogue::collective::EpilogueTileAuto,
                                            Shape<C_<(COOP ? 128 : 64)>, C_<(EPI_N ? EPI_N : 32)>>>;
    using EpiTile = decltype(cutlass::epilogue::collective::detail::sm90_compute_tile_shape_or_override<
                             E, EpiTileType, EpiSched, Tile>());
    using BasePolicy = decltype(cutlass::epilogue::collective::detail::sm90_get_tma_dispatch_policy<
                                Tile, EpiTile, ElementC, E, EpiSched>());
    static constexpr int StagesD = STAGES_D ? STAGES_D : BasePolicy::StagesD;
    static constexpr int StagesC =
        BasePolicy::ReuseSmemC && BasePolicy::StagesC <= StagesD ? StagesD + 1 : BasePolicy::StagesC;
    using EpiPolicy = cutlass::epilogue::Sm90TmaWarpSpecialized<StagesC, StagesD, BasePolicy::FragmentSize,
                                                               BasePolicy::ReuseSmemC, BasePolicy::DelayTmaStore>;
    using Epilogue = typename cutlass::epilogue::collective::detail::Sm90TmaBuilderImpl<
        Tile, EpiTile, float, float,
        ElementC, cutlass::layout::RowMajor, ALIGN, /* C */
        E, cutlass::layout::RowMajor, ALIGN,        /* D */
        Fusion, EpiPolicy>::CollectiveOp;

    using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
        cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp,
        E, cutlass::layout::RowMajor, ALIGN,       /* A = inp (T,K) */
        E, cutlass::layout::ColumnMajor, ALIGN,    /* B = w (N,K) */
        float, Tile, Cluster,
        cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
            sizeof(typename Epilogue::SharedStorage))>,
        typename Sched::kernel>::CollectiveOp;

    using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Mainloop, Epilogue>;
    using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
};

/* E: cutlass::half_t or cutlass::bfloat16_t; the bias (+ GELU) epilogue, no C. */
template <class E, int TM, int TN, int TK, int CM, class Sched, bool GELU, int EPI_N = 0, int STAGES_D = 0>
struct kernel_config {
    using Tile = Shape<C_<TM>, C_<TN>, C_<TK>>;
    static constexpr int ALIGN = 8;
    static constexpr auto RN = cutlass::FloatRoundStyle::round_to_nearest;

    using Bias = cutlass::epilogue::fusion::Sm90RowBroadcast<0, Tile, E, float, Stride<_0, _1, _0>, ALIGN>;
    using AccPlusBias = cutlass::epilogue::fusion::Sm90EVT<
        cutlass::epilogue::fusion::Sm90Compute<cutlass::plus, float, float, RN>,
        cutlass::epilogue::fusion::Sm90AccFetch, Bias>;
    using WithGelu = cutlass::epilogue::fusion::Sm90EVT<
        cutlass::epilogue::fusion::Sm90Compute<elementwise<gelu_erf_f>::template op, E, float, RN>, AccPlusBias>;
    using Plain = cutlass::epilogue::fusion::Sm90EVT<
        cutlass::epilogue::fusion::Sm90Compute<cutlass::plus, E, float, RN>,
        cutlass::epilogue::fusion::Sm90AccFetch, Bias>;
    using Fusion = cute::conditional_t<GELU, WithGelu, Plain>;

    using K = gemm_kernel<E, TM, TN, TK, CM, Sched, Fusion, void, EPI_N, STAGES_D>;
    using Kernel = typename K::Kernel;
    using Gemm = typename K::Gemm;
};

/* Fusion arguments: the tree's argument structs nest as the tree does, children first, then the
 * node's own operation (empty for plus and GELU). */
template <class Cfg, bool GELU> struct fusion_args;
template <class Cfg> struct fusion_args<Cfg, true> {
    template <class E> static typename Cfg::Fusion::Arguments make(const E *bias) {
        return {{{}, {bias, E(0), {}}, {}}, {}};
    }
};
template <class Cfg> struct fusion_args<Cfg, false> {
    template <class E> static typename Cfg::Fusion::Arguments make(const E *bias) {
        return {{}, {bias, E(0), {}}, {}};
    }
};

/* ---- LayerNorm folded into the products (sutra_cuda_matmul_ln / _residual_ln, cuda_lnfold.cu) ----
 *
 * A row y of the residual stream is kept as z = y * g (g the LayerNorm's weight) with its mean mu
 * and inverse deviation r; LN(y) = r (z - mu g) + b. The consumer product then needs no
 * normalised copy: LN(y) @ W^T + bias = r (z @ W^T) - r mu (W g) + (W b + bias), so its epilogue
 * takes per-row mu, r (column vectors) and per-column s = W g, c = W b + bias (row vectors):
 *   LN_IN       D = r (acc - mu s) + c
 *   LN_IN_GELU  D = gelu_erf(r (acc - mu s) + c)
 * The product that closes a residual block reads the previous stream z_prev as C and writes the
 * next one:
 *   RES_LN      y = acc + d + r_prev (C - mu_prev g_prev)   (d = bias + b_prev, all fp32)
 *               D = y * g_next; per row and 128-column tile, the partial sums of y and y^2
 *               (two column reductions, written unreduced: sutra_cuda_ln_stats finishes them)
 * mu and r may be NULL (read as 0 and 1: an input already normalised, the first layer). */

/* ln_in(acc, mu, r, s, c) = r (acc - mu s) + c, and its GELU */
struct ln_in_f {
    __device__ float operator()(float acc, float mu, float r, float s, float c) const { return r * (acc - mu * s) + c; }
};
struct ln_in_gelu_f {
    __device__ float operator()(float acc, float mu, float r, float s, float c) const {
        return sutra_cuda::gelu_erf(ln_in_f{}(acc, mu, r, s, c));
    }
};
/* res_ln(acc, C, mu, r, d, g) = acc + d + r (C - mu g) */
struct res_ln_f {
    __device__ float operator()(float acc, float src, float mu, float r, float d, float g) const {
        return acc + d + r * (src - mu * g);
    }
};

/* The register step of the sum-of-squares reduction: running total + x^2 (the later steps add
 * totals: plus). */
template <class T> struct plus_sq {
    __device__ T operator()(T const &total, T const &x) const { return total + x * x; }
};

enum ln_epi { LN_IN = 0, LN_IN_GELU = 1, RES_LN = 2 };

template <class E, int TM, int TN, int TK, int CM, class Sched, int EPI, int EPI_N, int STAGES_D>
struct ln_config {
    using Tile = Shape<C_<TM>, C_<TN>, C_<TK>>;
    static constexpr int ALIGN = 8;
    static constexpr auto RN = cutlass::FloatRoundStyle::round_to_nearest;
    template <class Op, class... Ch> using EVT = cutlass::epilogue::fusion::Sm90EVT<Op, Ch...>;
    template <template <class> class Fn, class Out>
    using Compute = cutlass::epilogue::fusion::Sm90Compute<Fn, Out, float, RN>;
    using Acc = cutlass::epilogue::fusion::Sm90AccFetch;
    using Row = cutlass::epilogue::fusion::Sm90RowBroadcast<0, Tile, E, float, Stride<_0, _1, _0>, ALIGN>;
    using Col = cutlass::epilogue::fusion::Sm90ColBroadcast<0, Tile, float, float, Stride<_1, _0, _0>, 4>;
    template <template <class> class Reg>
    using Partial = cutlass::epilogue::fusion::Sm90ColReduction<Reg, cutlass::plus, cutlass::plus, 0, Tile, float,
                                                                float, RN, Stride<_1, _0, _0>, 4, true, false>;

    using LnIn = EVT<Compute<elementwise<ln_in_f>::template op, E>, Acc, Col, Col, Row, Row>;
    using LnInGelu = EVT<Compute<elementwise<ln_in_gelu_f>::template op, E>, Acc, Col, Col, Row, Row>;
    using Y = EVT<Compute<elementwise<res_ln_f>::template op, float>, Acc, cutlass::epilogue::fusion::Sm90SrcFetch<E>,
                  Col, Col, Row, Row>;
    using ResLn = EVT<Compute<cutlass::multiplies, E>, EVT<Partial<plus_sq>, EVT<Partial<cutlass::plus>, Y>>, Row>;
    using Fusion = cute::conditional_t<EPI == LN_IN, LnIn, cute::conditional_t<EPI == LN_IN_GELU, LnInGelu, ResLn>>;

    using K = gemm_kernel<E, TM, TN, TK, CM, Sched, Fusion, cute::conditional_t<EPI == RES_LN, E, void>, EPI_N,
                          STAGES_D>;
    using Kernel = typename K::Kernel;
    using Gemm = typename K::Gemm;

    static typename Fusion::Arguments args(const E *bias, const sutra_sm90_ln &ln) {
        const typename Col::Arguments mu{ln.mu, 0.f, {}}, r{ln.rs, 1.f, {}};
        if constexpr (EPI == RES_LN) {
            typename Y::Arguments y{{}, {}, mu, r, {bias, E(0), {}}, {(const E *)ln.g_prev, E(0), {}}, {}};
            return {{{y, {ln.part_sum, 0.f, {}}}, {ln.part_sq, 0.f, {}}}, {(const E *)ln.g_next, E(1), {}}, {}};
        } else {
            return {{}, mu, r, {(const E *)ln.s, E(0), {}}, {bias, E(0), {}}, {}};
        }
    }
};

/* Launches a configured product; cudaErrorNotSupported (nothing launched) when CUTLASS refuses the
 * shape or alignment or needs more workspace than ws_bytes, else the launch's error. */
template <class Gemm>
cudaError_t launch_gemm(typename Gemm::Arguments const &args, void *ws, size_t ws_bytes, cudaStream_t stream) {
    if (Gemm::can_implement(args) != cutlass::Status::kSuccess) return cudaErrorNotSupported;
    if (Gemm::get_workspace_size(args) > ws_bytes) return cudaErrorNotSupported;
    Gemm gemm;
    if (gemm.initialize(args, ws, stream) != cutlass::Status::kSuccess) {
        const cudaError_t e = cudaGetLastError();
        return e != cudaSuccess ? e : cudaErrorLaunchFailure;
    }
    const cutlass::Status s = gemm.run(stream);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    return s == cutlass::Status::kSuccess ? cudaSuccess : cudaErrorLaunchFailure;
}

/* out (T,N) = epilogue(inp (T,K) @ w (N,K)^T, c (T,N) or NULL) through the configured kernel Cfg
 * (row-major operands, the mapping at the top of this file), with the epilogue's arguments fa. */
template <class Cfg, class E, class FusionArgs>
cudaError_t run_tn(const FusionArgs &fa, const void *c, void *out, const void *inp, const void *w, int T, int N, int K,
                   void *ws, size_t ws_bytes, int device, int sm_count, cudaStream_t stream) {
    using Gemm = typename Cfg::Gemm;
    using Kernel = typename Cfg::Kernel;
    const auto dA = cute::make_stride((int64_t)K, _1{}, (int64_t)T * K);
    const auto dB = cute::make_stride((int64_t)K, _1{}, (int64_t)N * K);
    const auto dD = cute::make_stride((int64_t)N, _1{}, (int64_t)T * N);
    typename Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {T, N, K, 1},
        {(const E *)inp, typename Kernel::StrideA(dA), (const E *)w, typename Kernel::StrideB(dB)},
        {fa, (const E *)c, typename Kernel::StrideC(dD), (E *)out, typename Kernel::StrideD(dD)},
        cutlass::KernelHardwareInfo{device, sm_count}};
    return launch_gemm<Gemm>(args, ws, ws_bytes, stream);
}

template <class E, int TM, int TN, int TK, int CM, class Sched, int EPI, int EPI_N = 64, int STAGES_D = 4>
cudaError_t run_ln(void *out, const void *inp, const void *w, const void *bias, const sutra_sm90_ln &ln, int T, int N,
                   int K, void *ws, size_t ws_bytes, int device, int sm_count, cudaStream_t stream) {
    using Cfg = ln_config<E, TM, TN, TK, CM, Sched, EPI, EPI_N, STAGES_D>;
    return run_tn<Cfg, E>(Cfg::args((const E *)bias, ln), EPI == RES_LN ? ln.res : nullptr, out, inp, w, T, N, K, ws,
                          ws_bytes, device, sm_count, stream);
}

/* The LayerNorm-folded products (sutra_sm90_kernel's LN kinds): pingpong 128 x 128 x 64 with
 * epilogue sub-tiles of 64 columns through 4 buffers, as SUTRA_SM90_GELU and _BIAS; for the GELU
 * one with K < 768 the cooperative 256 x 128 kernel in clusters of 2, as SUTRA_SM90_GELU_SHORT_K.
 * The two LN-in products with K >= 768 (bert-base's QKV and FFN-up) run in clusters of 2 along T,
 * each weight tile multicast by TMA to both token tiles: at bert-base 64x512 on the H100 QKV took
 * 191-196 us instead of 210 and FFN-up 326-329 instead of 331, the forward 1.3-2.2% less
 * (bench/results/h100-ln-cluster-2026-12-06.txt). The same clusters slowed both residual products
 * (FFN-down 272 us vs 252) and MiniLM's (K = 384) by 2.9%; clusters of 1 x 2, 4 x 1 and 2 x 2 were
 * no better or slower, so those keep clusters of 1. */
template <class E>
cudaError_t dispatch_ln(sutra_sm90_kernel kind, void *out, const void *inp, const void *w, const void *bias,
                        const sutra_sm90_ln &ln, int T, int N, int K, void *ws, size_t ws_bytes, int device,
                        int sm_count, cudaStream_t stream) {
    switch (kind) {
    case SUTRA_SM90_LN_IN:
        if (K >= SUTRA_SM90_LN_CLUSTER_MIN_K)
            return run_ln<E, 128, SUTRA_SM90_TILE_N, 64, 2, pingpong, LN_IN>(out, inp, w, bias, ln, T, N, K, ws,
                                                                              ws_bytes, device, sm_count, stream);
        return run_ln<E, 128, SUTRA_SM90_TILE_N, 64, 1, pingpong, LN_IN>(out, inp, w, bias, ln, T, N, K, ws, ws_bytes,
                                                                          device, sm_count, stream);
    case SUTRA_SM90_LN_IN_GELU: /* K >= 768 (the caller's rule for this kind) */
        return run_ln<E, 128, SUTRA_SM90_TILE_N, 64, 2, pingpong, LN_IN_GELU>(out, inp, w, bias, ln, T, N, K, ws,
                                                                               ws_bytes, device, sm_count, stream);
    case SUTRA_SM90_LN_IN_GELU_SHORT_K:
        return run_ln<E, SUTRA_SM90_LARGE_TILE_T, SUTRA_SM90_TILE_N, 64, 2, cooperative, LN_IN_GELU>(
            out, inp, w, bias, ln, T, N, K, ws, ws_bytes, device, sm_count, stream);
    case SUTRA_SM90_RES_LN:
        return run_ln<E, 128, SUTRA_SM90_TILE_N, 64, 1, pingpong, RES_LN, 64, 0>(out, inp, w, bias, ln, T, N, K, ws,
                                                                                  ws_bytes, device, sm_count, stream);
    default:
        return cudaErrorNotSupported;
    }
}

/* Runs one product. Returns cudaErrorNotSupported (nothing launched) when CUTLASS refuses the
 * shape or alignment or needs more workspace than ws_bytes, else the launch's error. */
template <class E, int TM, int TN, int TK, int CM, class Sched, bool GELU, int EPI_N = 0, int STAGES_D = 0>
cudaError_t run(void *out, const void *inp, const void *w, const void *bias, int T, int N, int K, void *ws,
                size_t ws_bytes, int device, int sm_count, cudaStream_t stream) {
    using Cfg = kernel_config<E, TM, TN, TK, CM, Sched, GELU, EPI_N, STAGES_D>;
    return run_tn<Cfg, E>(fusion_args<Cfg, GELU>::make((const E *)bias), nullptr, out, inp, w, T, N, K, ws, ws_bytes,
                          device, sm_count, stream);
}

/* The library's kernel per product; cuda_gemm.cu decides for which shapes each is used, from
 * the timings of bench/cuda/gemm_bench.cu (bench/results/h100-gemm-epilogue-2026-11-25.txt).
 * Every large one writes its output in epilogue sub-tiles of 64 columns through 4 shared-memory
 * buffers, instead of CUTLASS's default 32 columns and 2 buffers: with the default, the pingpong
 * kernel's GELU epilogue did not hide behind the other warpgroup's main loop (bert-base FFN-up,
 * T = 32768: 341 us, 279 without the GELU); with this, it did in one run (277 us either way) and
 * nearly in the next (299-319 vs 286).
 *   SUTRA_SM90_GELU            pingpong 128 x 128 x 64
 *   SUTRA_SM90_GELU_SHORT_K    cooperative 256 x 128 x 64, clusters of 2 along T: for K < 768,
 *                              where a 128 x 128 tile's main loop is too short to hide a GELU
 *                              epilogue (MiniLM's FFN-up, K = 384: 107 us vs pingpong's 124)
 *   SUTRA_SM90_GELU_WAVE       cooperative 128 x 128 x 64 (CUTLASS's epilogue), about one wave
 *   SUTRA_SM90_GELU_HALF_WAVE  pingpong 64 x 128 x 64 (CUTLASS's epilogue), half a wave or less
 *   SUTRA_SM90_BIAS            pingpong 128 x 128 x 64, bias only */
template <class E>
cudaError_t dispatch(sutra_sm90_kernel kind, void *out, const void *inp, const void *w, const void *bias, int T,
                     int N, int K, void *ws, size_t ws_bytes, int device, int sm_count, cudaStream_t stream) {
    switch (kind) {
    case SUTRA_SM90_GELU:
        return run<E, 128, SUTRA_SM90_TILE_N, 64, 1, pingpong, true, 64, 4>(out, inp, w, bias, T, N, K, ws,
                                                                            ws_bytes, device, sm_count, stream);
    case SUTRA_SM90_GELU_SHORT_K:
        return run<E, SUTRA_SM90_LARGE_TILE_T, SUTRA_SM90_TILE_N, 64, 2, cooperative, true, 64, 4>(
            out, inp, w, bias, T, N, K, ws, ws_bytes, device, sm_count, stream);
    case SUTRA_SM90_GELU_WAVE:
        return run<E, SUTRA_SM90_WAVE_TILE_T, SUTRA_SM90_TILE_N, 64, 1, cooperative, true>(
            out, inp, w, bias, T, N, K, ws, ws_bytes, device, sm_count, stream);
    case SUTRA_SM90_GELU_HALF_WAVE:
        return run<E, SUTRA_SM90_HALF_WAVE_TILE_T, SUTRA_SM90_TILE_N, 64, 1, pingpong, true>(
            out, inp, w, bias, T, N, K, ws, ws_bytes, device, sm_count, stream);
    case SUTRA_SM90_BIAS:
        return run<E, 128, SUTRA_SM90_TILE_N, 64, 1, pingpong, false, 64, 4>(out, inp, w, bias, T, N, K, ws,
                                                                             ws_bytes, device, sm_count, stream);
    }
    return cudaErrorNotSupported;
}

} // namespace sutra_sm90

#endif /* SUTRA_GEMM_SM90_CUH */
