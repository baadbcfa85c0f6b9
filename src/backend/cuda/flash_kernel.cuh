/*
 * flash_kernel.cuh - the FlashAttention-2 style forward kernel body (packed
 * variable-length batches, optional local window, causal as the window j - i <= 0, grouped
 * key/value heads), templated on tile traits and element type.
 *
 * One CTA = BM query rows of one (sequence, head): grid (query block, head, sequence). A query
 * head reads its key/value head (head / kv_group) in place; the CTAs of one group run side by
 * side (grid y), so a K/V tile comes from DRAM once and from L2 for the others.
 *   Prologue:  cp.async Q and the first K and V tiles into shared memory; Q to registers if
 *              the traits say so.
 *   Main loop: per K/V tile (double buffered: the next tile's copies are issued at the top of
 *              the iteration and land while this one is computed)
 *                S = Q K^T       mma.m16n8k16, fp32 accumulators, per warp 16*MT rows x BN keys
 *                mask            only on tiles crossing the sequence end or a window edge
 *                online softmax  (flash_softmax.cuh): S becomes P, O and l are rescaled
 *                O += P V        P re-packed from the S accumulators straight into A fragments;
 *                                one more mma per k16 step against a column of ones sums P
 *   Epilogue:  O / l rounded to Elem, staged through the warp's own Q rows in shared memory,
 *              written with 16-byte coalesced stores; rows past the sequence end are skipped.
 *
 * Fragment layouts (mma.m16n8k16, lane = 4g + t): A (16x16) a0 = (g, 2t..2t+1), a1 = (g+8, 2t..),
 * a2 = (g, 2t+8..), a3 = (g+8, 2t+8..); B (16x8) b0 = (k 2t..2t+1, n g), b1 = (k 2t+8.., n g);
 * C (16x8) c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..). Two adjacent C tiles of S are exactly one
 * A tile of P, so P never leaves registers.
 *
 * Rules: no N x N storage; every register array is indexed by compile-time constants only
 * (all loops over fragments are unrolled) so nothing spills to local memory; shared-memory
 * hazards are closed by exactly two barriers per K/V tile (see the main loop).
 */
#ifndef SUTRA_CUDA_FLASH_KERNEL_CUH
#define SUTRA_CUDA_FLASH_KERNEL_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "backend/cuda/flash_mask.cuh"
#include "backend/cuda/flash_params.h"
#include "backend/cuda/flash_ptx.cuh"
#include "backend/cuda/flash_softmax.cuh"
#include "backend/cuda/flash_traits.cuh"

namespace sutra_flash {

/* Issues cp.async for rows [0, ROWS) of a tile whose row 0 is at src (head offset applied);
 * rows >= valid_rows are zero-filled. Thread tid always copies chunk tid % CHUNKS of rows
 * tid / CHUNKS + i * STEP: STEP is a multiple of 8, so the swizzle is the same for all of a
 * thread's rows and each further row costs one pointer add and an immediate smem offset. */
template <class KT, int ROWS, class Elem>
__device__ __forceinline__ void load_tile(uint32_t dst, const Elem *src, int64_t row_stride, int valid_rows,
                                          int tid) {
    constexpr int STEP = KT::THREADS / KT::CHUNKS;
    static_assert(KT::THREADS % KT::CHUNKS == 0 && STEP % 8 == 0 && ROWS % STEP == 0, "load pattern");
    const int r0 = tid / KT::CHUNKS;
    const uint32_t s = dst + KT::offset(r0, tid % KT::CHUNKS);
    const Elem *g = src + r0 * row_stride + (tid % KT::CHUNKS) * 8;
    const int64_t g_step = STEP * row_stride;
#pragma unroll
    for (int i = 0; i < ROWS / STEP; ++i) {
        const bool ok = r0 + i * STEP < valid_rows;
        cp_async_16(s + i * STEP * KT::ROW_BYTES, ok ? g : src, ok);
        g += g_step;
    }
}

/* The epilogue of both kernels (this one and flash_sm90_kernel.cuh): a warp's MT m16 tiles of
 * O / l, rows warp_row0 .. of the block, rounded to Elem and staged through the same rows of the
 * Q tile at s_q, then written to o (the block's first row; rows o_row_stride apart) with 16-byte
 * coalesced stores, skipping rows at or past `rows` (the block's rows inside its sequence). The
 * caller makes sure no warp still reads these Q rows. */
template <class KT, int MT, int DT, class Elem>
__device__ __forceinline__ void store_output(const float (&acc)[MT][DT][4], const softmax_state<MT> &sm, uint32_t s_q,
                                             int warp_row0, Elem *o, int64_t o_row_stride, int rows, int lane) {
    static_assert(MT == KT::MT && DT == KT::DT, "fragments of KT's shape");
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const float inv = sm.inv_sum(mt, h);
            const int r = warp_row0 + mt * 16 + g + 8 * h;
#pragma unroll
            for (int dt = 0; dt < DT; ++dt) {
                const uint32_t val = pack2<Elem>(acc[mt][dt][2 * h] * inv, acc[mt][dt][2 * h + 1] * inv);
                const uint32_t addr = s_q + KT::offset(r, dt) + 4 * t;
                asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(val) : "memory");
            }
        }
    }
    __syncwarp();

    constexpr int PER_LANE = KT::ROWS_PER_WARP * KT::CHUNKS / 32;
#pragma unroll
    for (int i = 0; i < PER_LANE; ++i) {
        const int id = i * 32 + lane;
        const int r = warp_row0 + id / KT::CHUNKS;
        const int c = id % KT::CHUNKS;
        if (r < rows) {
            uint4 val;
            asm volatile("ld.shared.v4.b32 {%0,%1,%2,%3}, [%4];\n"
                         : "=r"(val.x), "=r"(val.y), "=r"(val.z), "=r"(val.w)
                         : "r"(s_q + KT::offset(r, c))
                         : "memory");
            *reinterpret_cast<uint4 *>(o + (int64_t)r * o_row_stride + c * 8) = val;
        }
    }
}

template <class KT, class Elem>
__global__ void __launch_bounds__(KT::THREADS, KT::MIN_BLOCKS) flash_fwd_kernel(const flash_fwd_params p) {
    constexpr int BM = KT::BM, BN = KT::BN, MT = KT::MT, NT = KT::NT, DT = KT::DT;
    extern __shared__ __align__(128) unsigned char smem[];

    /* Causal: the last query blocks see the most keys, so they start first (the grid runs x
     * fastest) and the short ones fill in behind them. */
    const int m_block = p.window_right == 0 ? (int)(gridDim.x - 1 - blockIdx.x) : (int)blockIdx.x;
    const int head = blockIdx.y;
    const int seq = blockIdx.z;
    const int seq_begin = p.cu_seqlens[seq];
    const int len = p.cu_seqlens[seq + 1] - seq_begin;
    const int m0 = m_block * BM;
    if (m0 >= len) return; /* this sequence is shorter than max_seqlen */

    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int warp_row0 = warp * KT::ROWS_PER_WARP; /* first query row of this warp in the block */
    const bool live = warp_row0 < len - m0; /* some of this warp's rows are in the sequence (warp-uniform) */

    const Elem *q = static_cast<const Elem *>(p.q) + (int64_t)(seq_begin + m0) * p.q_row_stride + head * p.head_stride;
    const int kv_head = head / p.kv_group;
    const Elem *k = static_cast<const Elem *>(p.k) + (int64_t)seq_begin * p.k_row_stride + kv_head * p.head_stride;
    const Elem *v = static_cast<const Elem *>(p.v) + (int64_t)seq_begin * p.v_row_stride + kv_head * p.head_stride;

    const uint32_t s_q = smem_addr(smem + KT::SMEM_Q);
    const uint32_t s_k = smem_addr(smem + KT::SMEM_K);
    const uint32_t s_v = smem_addr(smem + KT::SMEM_V);

    const key_range keys = visible_key_tiles(m0, BM, len, BN, p.window_left, p.window_right);

    /* ---- Prologue ---------------------------------------------------------------------- */
    load_tile<KT, BM>(s_q, q, p.q_row_stride, len - m0, tid);
    {
        const int n0 = keys.tile_begin * BN;
        load_tile<KT, BN>(s_k, k + (int64_t)n0 * p.k_row_stride, p.k_row_stride, len - n0, tid);
        cp_async_commit(); /* group: Q + K[first] */
        load_tile<KT, BN>(s_v, v + (int64_t)n0 * p.v_row_stride, p.v_row_stride, len - n0, tid);
        cp_async_commit(); /* group: V[first] */
    }

    /* Per-lane parts of the ldmatrix addresses. The row bases used below are all multiples of
     * 8, so a row's swizzle depends on lane % 8 alone and is fixed per lane. */
    const int lrow = lane & 7;
    const int swz = KT::swizzle(lrow);
    /* Q (A operand): matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (8-15, 8-15) */
    const int q_row = warp_row0 + lrow + ((lane >> 3) & 1) * 8;
    const int q_chunk = lane >> 4;
    /* K (B operand of S, not transposed): (keys 0-7, d 0-7), (keys 0-7, d 8-15), (keys 8-15, d 0-7), (8-15, 8-15) */
    const int k_row = lrow + (lane >> 4) * 8;
    const int k_chunk = (lane >> 3) & 1;
    /* V (B operand of O, transposed): (keys 0-7, d 0-7), (keys 8-15, d 0-7), (keys 0-7, d 8-15), (8-15, 8-15) */
    const int v_row = lrow + ((lane >> 3) & 1) * 8;
    const int v_chunk = lane >> 4;

    uint32_t q_frag[KT::Q_IN_REGS ? MT : 1][KT::Q_IN_REGS ? KT::KD : 1][4];
    if (KT::Q_IN_REGS) {
        cp_async_wait<1>(); /* Q + K[first] landed (V[first] may still be in flight) */
        __syncthreads();
#pragma unroll
        for (int mt = 0; mt < (KT::Q_IN_REGS ? MT : 1); ++mt)
#pragma unroll
            for (int ks = 0; ks < (KT::Q_IN_REGS ? KT::KD : 1); ++ks)
                ldmatrix_x4(q_frag[mt][ks],
                            s_q + (q_row + mt * 16) * KT::ROW_BYTES + ((ks * 2 + q_chunk) ^ swz) * 16);
    }

    float acc[MT][DT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int dt = 0; dt < DT; ++dt) acc[mt][dt][0] = acc[mt][dt][1] = acc[mt][dt][2] = acc[mt][dt][3] = 0.f;
    softmax_state<MT> sm;
    sm.init();

    /* ---- Main loop ------------------------------------------------------------------------
     * Barrier 1 (top): K[it] is visible to all threads, and every warp has finished tile it-1,
     * so both buffers of tile it-1 may be refilled with tile it+1 right away.
     * Barrier 2 (before P V): V[it] is visible to all threads. */
    for (int tile = keys.tile_begin; tile < keys.tile_end; ++tile) {
        const int stage = (tile - keys.tile_begin) & 1;
        const int n0 = tile * BN;
        const uint32_t s_k_cur = s_k + stage * KT::KV_TILE_BYTES;
        const uint32_t s_v_cur = s_v + stage * KT::KV_TILE_BYTES;

        cp_async_wait<1>(); /* all but the newest group: K[it] (V[it] may still be in flight) */
        __syncthreads();

        if (tile + 1 < keys.tile_end) {
            const int n1 = n0 + BN;
            const uint32_t nxt = (stage ^ 1) * KT::KV_TILE_BYTES;
            load_tile<KT, BN>(s_k + nxt, k + (int64_t)n1 * p.k_row_stride, p.k_row_stride, len - n1, tid);
            cp_async_commit();
            load_tile<KT, BN>(s_v + nxt, v + (int64_t)n1 * p.v_row_stride, p.v_row_stride, len - n1, tid);
            cp_async_commit();
        } else {
            cp_async_commit(); /* empty groups keep the wait counts below uniform */
            cp_async_commit();
        }

        /* A warp whose rows all lie past the sequence (a short sequence in a tall block) only
         * loads and waits at the barriers: its math would be masked out anyway. */
        uint32_t pa[MT][KT::KN][4];
        if (live) {
            /* S = Q K^T for this warp's 16*MT rows and the tile's BN keys. */
            float s[MT][NT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
#pragma unroll
            for (int ks = 0; ks < KT::KD; ++ks) {
                uint32_t a[MT][4];
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    if (KT::Q_IN_REGS) {
#pragma unroll
                        for (int i = 0; i < 4; ++i) a[mt][i] = q_frag[KT::Q_IN_REGS ? mt : 0][KT::Q_IN_REGS ? ks : 0][i];
                    } else {
                        ldmatrix_x4(a[mt], s_q + (q_row + mt * 16) * KT::ROW_BYTES + ((ks * 2 + q_chunk) ^ swz) * 16);
                    }
                }
#pragma unroll
                for (int np = 0; np < NT / 2; ++np) {
                    uint32_t b[4];
                    ldmatrix_x4(b, s_k_cur + (np * 16 + k_row) * KT::ROW_BYTES + ((ks * 2 + k_chunk) ^ swz) * 16);
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
                        mma_16816<Elem>(s[mt][2 * np], a[mt], b[0], b[1]);
                        mma_16816<Elem>(s[mt][2 * np + 1], a[mt], b[2], b[3]);
                    }
                }
            }

            if (p.rel_bias)
                add_rel_bias<MT, NT, Elem>(s, m0 + warp_row0, n0, len, static_cast<const Elem *>(p.rel_bias),
                                           p.rel_stride, p.rel_span, head, p.rel_mult, lane);
            if (tile_needs_mask(m0, BM, n0, BN, len, p.window_left, p.window_right))
                apply_mask<MT, NT>(s, m0 + warp_row0, n0, len, p.window_left, p.window_right, lane);

            sm.template update<NT, DT>(s, acc, p.scale_log2);

            /* P as A fragments, all at once: the fp32 scores die here, which leaves the P V phase
             * half their registers. */
            sm.template pack<Elem, NT>(s, pa);
        }

        cp_async_wait<2>(); /* all but the two groups of tile it+1: V[it] landed */
        __syncthreads();

        /* O += P V */
        if (live) {
#pragma unroll
            for (int kk = 0; kk < KT::KN; ++kk) {
#pragma unroll
                for (int dp = 0; dp < DT / 2; ++dp) {
                    uint32_t b[4];
                    ldmatrix_x4_trans(b, s_v_cur + (kk * 16 + v_row) * KT::ROW_BYTES + ((dp * 2 + v_chunk) ^ swz) * 16);
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
                        mma_16816<Elem>(acc[mt][2 * dp], pa[mt][kk], b[0], b[1]);
                        mma_16816<Elem>(acc[mt][2 * dp + 1], pa[mt][kk], b[2], b[3]);
                    }
                }
                /* l += P 1: the row sums of the rounded weights, on the tensor cores. */
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) mma_16816<Elem>(sm.l[mt], pa[mt][kk], ones2<Elem>(), ones2<Elem>());
            }
        }
    }

    /* ---- Epilogue ---------------------------------------------------------------------------
     * Each warp reads only its own Q rows, so once its last S tile is done it may overwrite
     * them with its output without waiting for the other warps. */
    __syncwarp();
    store_output<KT>(acc, sm, s_q, warp_row0, static_cast<Elem *>(p.o) + (int64_t)(seq_begin + m0) * p.o_row_stride +
                                                   head * p.head_stride,
                     p.o_row_stride, len - m0, lane);
}

} // namespace sutra_flash

#endif /* SUTRA_CUDA_FLASH_KERNEL_CUH */
