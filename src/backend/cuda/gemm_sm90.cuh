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

/* The epilogue's GELU: the library's erf GELU (cuda_elem.cuh gelu_erf), in the functor shape
 * CUTLASS's Sm90Compute applies to each fragment. (CUTLASS's own GELU calls erff.) */
template <class T>
struct gelu_erf_op;
template <>
struct gelu_erf_op<float> {
    static const bool kIsHeavy = true;
    __device__ float operator()(float const &x) const { return sutra_cuda::gelu_erf(x); }
};
template <int N>
struct gelu_erf_op<cutlass::Array<float, N>> {
    static const bool kIsHeavy = true;
    __device__ cutlass::Array<float, N> operator()(cutlass::Array<float, N> const &x) const {
        cutlass::Array<float, N> y;
        CUTLASS_PRAGMA_UNROLL
        for (int i = 0; i < N; ++i) y[i] = sutra_cuda::gelu_erf(x[i]);
        return y;
    }
};

/* E: cutlass::half_t or cutlass::bfloat16_t. Tile TM x TN x TK, cluster CM x 1. EPI_N: the
 * epilogue sub-tile's columns (0: CUTLASS's choice, 32), STAGES_D: its output buffers in shared
 * memory (0: CUTLASS's choice, 2). */
template <class E, int TM, int TN, int TK, int CM, class Sched, bool GELU, int EPI_N = 0, int STAGES_D = 0>
struct kernel_config {
    using Tile = Shape<C_<TM>, C_<TN>, C_<TK>>;
    using Cluster = Shape<C_<CM>, _1, _1>;
    static constexpr int ALIGN = 8; /* elements in 16 bytes */
    static constexpr auto RN = cutlass::FloatRoundStyle::round_to_nearest;
    static constexpr bool COOP = cute::is_same_v<Sched, cooperative>;

    using Bias = cutlass::epilogue::fusion::Sm90RowBroadcast<0, Tile, E, float, Stride<_0, _1, _0>, ALIGN>;
    using AccPlusBias = cutlass::epilogue::fusion::Sm90EVT<
        cutlass::epilogue::fusion::Sm90Compute<cutlass::plus, float, float, RN>,
        cutlass::epilogue::fusion::Sm90AccFetch, Bias>;
    using WithGelu = cutlass::epilogue::fusion::Sm90EVT<
        cutlass::epilogue::fusion::Sm90Compute<gelu_erf_op, E, float, RN>, AccPlusBias>;
    using Plain = cutlass::epilogue::fusion::Sm90EVT<
        cutlass::epilogue::fusion::Sm90Compute<cutlass::plus, E, float, RN>,
        cutlass::epilogue::fusion::Sm90AccFetch, Bias>;
    using Fusion = cute::conditional_t<GELU, WithGelu, Plain>;

    /* The epilogue collective as CUTLASS's builder makes it, with the sub-tile and the number of
     * output buffers open to override. */
    using EpiSched = typename Sched::epilogue;
    using EpiTileType = cute::conditional_t<EPI_N == 0, cutlass::epilogue::collective::EpilogueTileAuto,
                                            Shape<C_<(COOP ? 128 : 64)>, C_<(EPI_N ? EPI_N : 32)>>>;
    using EpiTile = decltype(cutlass::epilogue::collective::detail::sm90_compute_tile_shape_or_override<
                             E, EpiTileType, EpiSched, Tile>());
    using BasePolicy = decltype(cutlass::epilogue::collective::detail::sm90_get_tma_dispatch_policy<
                                Tile, EpiTile, void, E, EpiSched>());
    using EpiPolicy = cutlass::epilogue::Sm90TmaWarpSpecialized<
        BasePolicy::StagesC, (STAGES_D ? STAGES_D : BasePolicy::StagesD), BasePolicy::FragmentSize,
        BasePolicy::ReuseSmemC, BasePolicy::DelayTmaStore>;
    using Epilogue = typename cutlass::epilogue::collective::detail::Sm90TmaBuilderImpl<
        Tile, EpiTile, float, float,
        void, cutlass::layout::RowMajor, ALIGN,    /* C: not read */
        E, cutlass::layout::RowMajor, ALIGN,       /* D */
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

/* Runs one product. Returns cudaErrorNotSupported (nothing launched) when CUTLASS refuses the
 * shape or alignment or needs more workspace than ws_bytes, else the launch's error. */
template <class E, int TM, int TN, int TK, int CM, class Sched, bool GELU, int EPI_N = 0, int STAGES_D = 0>
cudaError_t run(void *out, const void *inp, const void *w, const void *bias, int T, int N, int K, void *ws,
                size_t ws_bytes, int device, int sm_count, cudaStream_t stream) {
    using Cfg = kernel_config<E, TM, TN, TK, CM, Sched, GELU, EPI_N, STAGES_D>;
    using Gemm = typename Cfg::Gemm;
    using Kernel = typename Cfg::Kernel;
    const auto dA = cute::make_stride((int64_t)K, _1{}, (int64_t)T * K);
    const auto dB = cute::make_stride((int64_t)K, _1{}, (int64_t)N * K);
    const auto dD = cute::make_stride((int64_t)N, _1{}, (int64_t)T * N);
    typename Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {T, N, K, 1},
        {(const E *)inp, typename Kernel::StrideA(dA), (const E *)w, typename Kernel::StrideB(dB)},
        {fusion_args<Cfg, GELU>::make((const E *)bias), nullptr, typename Kernel::StrideC(dD), (E *)out,
         typename Kernel::StrideD(dD)},
        cutlass::KernelHardwareInfo{device, sm_count}};
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
