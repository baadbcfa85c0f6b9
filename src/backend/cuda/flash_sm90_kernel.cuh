/*
 * flash_sm90_kernel.cuh - the Hopper (sm_90a) variant of the flash forward kernel: the same
 * algorithm, tiles, masking and online softmax as flash_kernel.cuh, with the two products on
 * warpgroup MMA (wgmma) instead of per-warp mma.sync.
 *
 * One CTA = WG warpgroups (128 threads each), each owning 64 consecutive query rows; they share
 * the K/V tiles. Per K/V tile of BN keys (double buffered with cp.async, as in the sm80 kernel):
 *   S = Q K^T    D/16 wgmma m64nBNk16, both operands read from shared memory by descriptor
 *                (Q and K tiles are K-major with the 128/64-byte swizzle the loads already use)
 *   mask, online softmax, P packed to A fragments: unchanged code (flash_mask.cuh,
 *                flash_softmax.cuh; the wgmma accumulator of a warp is the mma.m16n8 layout
 *                of its 16 rows, so softmax_state<1> applies as is)
 *   l += P 1     per warp, mma.sync against a column of ones (the sum of the rounded weights,
 *                exactly as in the sm80 kernel)
 *   O += P V     BN/16 wgmma m64nDk16, A = P from registers, B = V tile N-major
 * Each product is issued, committed and waited for before its result is used; warps of the two
 * CTAs per SM (and of the other warpgroup) fill each other's waits. Epilogue as in the sm80
 * kernel: O / l staged through the warp's own Q rows, 16-byte coalesced stores.
 *
 * Head dim 128 stores each 256-byte row as two 128-byte panels (flash_traits.cuh), the layout
 * wgmma's 128-byte swizzle atoms need; the loads, the epilogue and the descriptors follow the
 * traits' offset() and qk_desc / v_desc, so the body is the same for every head dim.
 *
 * Rules: the tile base addresses are 1024-byte aligned (the dynamic shared memory is rounded up
 * at run time; the launch asks for 1 KB more), which the swizzled descriptors require. Every
 * cp.async batch is followed by fence_proxy_async() before the barrier that publishes it, since
 * wgmma reads shared memory through the async proxy. The body is compiled only for sm_90a; on
 * other targets the kernel is empty and the launcher never picks it (flash_sm90_launch.cuh).
 */
#ifndef SUTRA_CUDA_FLASH_SM90_KERNEL_CUH
#define SUTRA_CUDA_FLASH_SM90_KERNEL_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "backend/cuda/flash_kernel.cuh"
#include "backend/cuda/flash_sm90_ptx.cuh"
#include "backend/cuda/flash_wgmma_ptx.cuh"

namespace sutra_flash {

/* Tile shape of the sm90 kernel: WG warpgroups of 64 query rows, BN keys per K/V tile.
 * `base` is the equivalent sm80 traits type, whose shared-memory layout, swizzle and load
 * pattern are reused unchanged (4 warps per warpgroup, one m16 tile per warp). */
template <int D_, int WG_, int BN_, int MIN_BLOCKS_>
struct flash_sm90_traits {
    static constexpr bool PANELS = D_ == 128; /* 256-byte rows as two 128-byte panels */
    using base = flash_traits<D_, 64 * WG_, BN_, 4 * WG_, MIN_BLOCKS_, false, PANELS>;
    static constexpr int D = D_;
    static constexpr int WG = WG_;
    static constexpr int BM = 64 * WG_;
    static constexpr int BN = BN_;
    static constexpr int THREADS = 128 * WG_;
    static constexpr int MIN_BLOCKS = MIN_BLOCKS_;
    static constexpr int NT = BN / 8;  /* n8 blocks of S per warp */
    static constexpr int DT = D / 8;   /* n8 blocks of O per warp */
    static constexpr int KD = D / 16;  /* k16 steps of Q K^T */
    static constexpr int KN = BN / 16; /* k16 steps of P V */
    static constexpr int ROW_BYTES = base::ROW_BYTES;
    static constexpr int ALIGN = 1024;
    static constexpr int SMEM_BYTES = base::SMEM_BYTES + ALIGN; /* slack to round the base up */
    static_assert(D == 32 || D == 64 || D == 128, "wgmma tiles for rows of 64, 128 or 2 x 128 bytes");
    static_assert(BN == 64 || BN == 128, "wgmma_ss instances exist for N = 64 and 128");
    static_assert(base::Q_BYTES % ALIGN == 0 && base::KV_TILE_BYTES % ALIGN == 0, "tiles start 1 KB aligned");

    /* Descriptors of a Q or K tile (K-major: the A and B of S = Q K^T) and of a V tile (N-major:
     * the B of O = P V), and the byte offsets of k16 step ks / kk within them (flash_sm90_ptx.cuh). */
    __device__ __forceinline__ static uint64_t qk_desc(uint32_t addr) {
        if constexpr (PANELS) return gmma_desc_sw128(addr, 16, 8 * ROW_BYTES);
        else return gmma_desc<ROW_BYTES>(addr);
    }
    __device__ __forceinline__ static uint64_t v_desc(uint32_t addr) {
        if constexpr (PANELS) return gmma_desc_sw128(addr, 1024, 8 * ROW_BYTES);
        else return gmma_desc<ROW_BYTES>(addr);
    }
    __host__ __device__ static constexpr uint32_t qk_step(int ks) { return PANELS ? (ks / 4) * 1024 + (ks % 4) * 32 : ks * 32; }
    __host__ __device__ static constexpr uint32_t v_step(int kk) { return kk * 16 * ROW_BYTES; }
};

template <class KT, class Elem>
__global__ void __launch_bounds__(KT::THREADS, KT::MIN_BLOCKS) flash_fwd_sm90_kernel(const flash_fwd_params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    using B = typename KT::base;
    constexpr int BM = KT::BM, BN = KT::BN, NT = KT::NT, DT = KT::DT;
    extern __shared__ __align__(1024) unsigned char smem[];

    /* Causal: the last query blocks see the most keys, so they start first (the grid runs x
     * fastest) and the short ones fill in behind them. */
    const int m_block = p.window_right == 0 ? (int)(gridDim.x - 1 - blockIdx.x) : (int)blockIdx.x;
    const int head = blockIdx.y;
    const int seq = blockIdx.z;
    const int seq_begin = p.cu_seqlens[seq];
    const int len = p.cu_seqlens[seq + 1] - seq_begin;
    const int m0 = m_block * BM;
    if (m0 >= len) return;

    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int wg = tid >> 7;
    const int warp_row0 = warp * 16; /* = 64 * wg + 16 * (warp within the warpgroup) */

    const Elem *q = static_cast<const Elem *>(p.q) + (int64_t)(seq_begin + m0) * p.q_row_stride + head * p.head_stride;
    const int kv_head = head / p.kv_group;
    const Elem *k = static_cast<const Elem *>(p.k) + (int64_t)seq_begin * p.k_row_stride + kv_head * p.head_stride;
    const Elem *v = static_cast<const Elem *>(p.v) + (int64_t)seq_begin * p.v_row_stride + kv_head * p.head_stride;

    const uint32_t s_base = (smem_addr(smem) + KT::ALIGN - 1) & ~(uint32_t)(KT::ALIGN - 1);
    const uint32_t s_q = s_base + B::SMEM_Q;
    const uint32_t s_k = s_base + B::SMEM_K;
    const uint32_t s_v = s_base + B::SMEM_V;

    const key_range keys = visible_key_tiles(m0, BM, len, BN, p.window_left, p.window_right);

    /* ---- Prologue ---------------------------------------------------------------------- */
    load_tile<B, BM>(s_q, q, p.q_row_stride, len - m0, tid);
    {
        const int n0 = keys.tile_begin * BN;
        load_tile<B, BN>(s_k, k + (int64_t)n0 * p.k_row_stride, p.k_row_stride, len - n0, tid);
        cp_async_commit(); /* group: Q + K[first] */
        load_tile<B, BN>(s_v, v + (int64_t)n0 * p.v_row_stride, p.v_row_stride, len - n0, tid);
        cp_async_commit(); /* group: V[first] */
    }
    const uint64_t q_desc = KT::qk_desc(s_q + wg * 64 * KT::ROW_BYTES);

    float acc[1][DT][4];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) acc[0][dt][0] = acc[0][dt][1] = acc[0][dt][2] = acc[0][dt][3] = 0.f;
    float(&acc_flat)[DT * 4] = reinterpret_cast<float(&)[DT * 4]>(acc);
    softmax_state<1> sm;
    sm.init();

    /* ---- Main loop: the barriers and copy groups of flash_kernel.cuh ------------------------ */
    for (int tile = keys.tile_begin; tile < keys.tile_end; ++tile) {
        const int stage = (tile - keys.tile_begin) & 1;
        const int n0 = tile * BN;
        const uint32_t s_k_cur = s_k + stage * B::KV_TILE_BYTES;
        const uint32_t s_v_cur = s_v + stage * B::KV_TILE_BYTES;

        cp_async_wait<1>(); /* K[it] (and Q) landed */
        fence_proxy_async();
        __syncthreads();

        if (tile + 1 < keys.tile_end) {
            const int n1 = n0 + BN;
            const uint32_t nxt = (stage ^ 1) * B::KV_TILE_BYTES;
            load_tile<B, BN>(s_k + nxt, k + (int64_t)n1 * p.k_row_stride, p.k_row_stride, len - n1, tid);
            cp_async_commit();
            load_tile<B, BN>(s_v + nxt, v + (int64_t)n1 * p.v_row_stride, p.v_row_stride, len - n1, tid);
            cp_async_commit();
        } else {
            cp_async_commit();
            cp_async_commit();
        }

        /* S = Q K^T for the warpgroup's 64 rows and the tile's BN keys. */
        float s[1][NT][4];
        float(&s_flat)[NT * 4] = reinterpret_cast<float(&)[NT * 4]>(s);
        const uint64_t k_desc = KT::qk_desc(s_k_cur);
        wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < KT::KD; ++ks)
            wgmma_ss<BN, Elem>(s_flat, q_desc + (KT::qk_step(ks) >> 4), k_desc + (KT::qk_step(ks) >> 4), ks > 0);
        wgmma_commit();
        wgmma_wait<0>();
        fence_operand(s_flat);

        if (tile_needs_mask(m0, BM, n0, BN, len, p.window_left, p.window_right))
            apply_mask<1, NT>(s, m0 + warp_row0, n0, len, p.window_left, p.window_right, lane);

        sm.template update<NT, DT>(s, acc, p.scale_log2);

        uint32_t pa[1][KT::KN][4];
        sm.template pack<Elem, NT>(s, pa);
#pragma unroll
        for (int kk = 0; kk < KT::KN; ++kk) mma_16816<Elem>(sm.l[0], pa[0][kk], ones2<Elem>(), ones2<Elem>());

        cp_async_wait<2>(); /* V[it] landed */
        fence_proxy_async();
        __syncthreads();

        /* O += P V */
        const uint64_t v_desc = KT::v_desc(s_v_cur);
        fence_operand(acc_flat);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < KT::KN; ++kk)
            wgmma_rs<KT::D, Elem>(acc_flat, pa[0][kk], v_desc + (KT::v_step(kk) >> 4), 1);
        wgmma_commit();
        wgmma_wait<0>();
        fence_operand(acc_flat);
    }

    /* ---- Epilogue: store_output (flash_kernel.cuh), one m16 tile per warp ----------------------
     * The warpgroup's last S product read all 64 of its Q rows; a barrier before any warp
     * overwrites its rows keeps that obviously safe (one barrier per CTA, at the end). */
    __syncthreads();
    store_output<B>(acc, sm, s_q, warp_row0,
                    static_cast<Elem *>(p.o) + (int64_t)(seq_begin + m0) * p.o_row_stride + head * p.head_stride,
                    p.o_row_stride, len - m0, lane);
#else
    (void)p;
#endif
}

} // namespace sutra_flash

#endif /* SUTRA_CUDA_FLASH_SM90_KERNEL_CUH */
