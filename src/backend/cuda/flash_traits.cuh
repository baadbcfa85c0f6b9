/*
 * flash_traits.cuh - compile-time tile shapes of the flash kernel, and everything derived
 * from them (fragment counts, shared-memory layout and its swizzle), in one place.
 *
 * Rules: a traits type is the only template parameter besides the element type; the kernel
 * never hard-codes a tile size. Which traits each head dim uses is the launcher's choice
 * (flash_launch.cuh), with its reasons.
 *
 * Work split: a CTA owns BM query rows of one (sequence, head) and walks the key/value tiles of
 * BN rows; each of its WARPS warps owns BM / WARPS consecutive query rows, i.e. MT m16 tiles.
 * Two m-tiles per warp let every K/V fragment read from shared memory feed two mma
 * instructions, halving shared-memory traffic per mma compared to one.
 *
 * Shared memory: Q (BM x D), then K and V, each double buffered (2 x BN x D), all row-major in
 * 16-byte chunks. Rows of 64, 128 or 256 bytes would put the 8 rows one ldmatrix reads in the
 * same banks, so chunk c of row r is stored at chunk position c ^ (r % 8) (for D = 32, where
 * two rows share a 128-byte line, c ^ ((r / 2) % 4)): each 8-row ldmatrix then touches 8
 * distinct bank groups, and cp.async writes stay a permutation within a row. (Padding each row
 * by 16 bytes instead, which makes every fragment address a constant offset, measured 5-15%
 * slower on the H100.)
 *
 * Panels (PANELS, head dim 128 in the Hopper kernel): warpgroup MMA reads a swizzled operand in
 * atoms of 8 rows x 128 bytes, so a 256-byte row is stored as two 128-byte halves ("panels"):
 * each 8-row group is 2048 bytes, its left halves first (1024 bytes, chunk c of row r at
 * (c ^ (r % 8)) * 16 within row r's 128 bytes), then its right halves. The same XOR, so ldmatrix
 * and the tile loads see the same bank pattern; row r + 8 is still 8 * ROW_BYTES further.
 */
#ifndef SUTRA_CUDA_FLASH_TRAITS_CUH
#define SUTRA_CUDA_FLASH_TRAITS_CUH

#include <stdint.h>

namespace sutra_flash {

template <int D_, int BM_, int BN_, int WARPS_, int MIN_BLOCKS_, bool Q_IN_REGS_, bool PANELS_ = false>
struct flash_traits {
    static constexpr int D = D_;                 /* head dim */
    static constexpr int BM = BM_;               /* query rows per CTA */
    static constexpr int BN = BN_;               /* key rows per K/V tile */
    static constexpr int WARPS = WARPS_;
    static constexpr int THREADS = 32 * WARPS_;
    static constexpr int MIN_BLOCKS = MIN_BLOCKS_; /* CTAs per SM promised to the register allocator */
    /* Q fragments held in registers for the whole CTA (cheap for D <= 64) rather than
     * re-read from shared memory for every K tile. */
    static constexpr bool Q_IN_REGS = Q_IN_REGS_;
    static constexpr bool PANELS = PANELS_; /* 128-byte panels per row (see the file comment) */

    static constexpr int ROWS_PER_WARP = BM / WARPS;
    static constexpr int MT = ROWS_PER_WARP / 16; /* m16 tiles per warp */
    static constexpr int NT = BN / 8;             /* n8 tiles of S per K tile */
    static constexpr int DT = D / 8;              /* n8 tiles of O */
    static constexpr int KD = D / 16;             /* k16 steps of Q K^T */
    static constexpr int KN = BN / 16;            /* k16 steps of P V */

    static constexpr int CHUNKS = D / 8; /* 16-byte chunks per row */
    static constexpr int ROW_BYTES = D * 2;
    static constexpr int Q_BYTES = BM * ROW_BYTES;
    static constexpr int KV_TILE_BYTES = BN * ROW_BYTES;
    static constexpr int SMEM_Q = 0;
    static constexpr int SMEM_K = Q_BYTES;                     /* two K tiles */
    static constexpr int SMEM_V = Q_BYTES + 2 * KV_TILE_BYTES; /* two V tiles */
    static constexpr int SMEM_BYTES = Q_BYTES + 4 * KV_TILE_BYTES;

    static_assert(D == 32 || D == 64 || D == 128 || D == 256, "head dim");
    static_assert(!PANELS || D == 128, "panels split 256-byte rows");
    static_assert(BM % (16 * WARPS) == 0 && MT >= 1, "each warp owns whole m16 tiles");
    static_assert(BN % 16 == 0, "K/V tiles are whole k16 steps");
    static_assert((BM * CHUNKS) % THREADS == 0 && (BN * CHUNKS) % THREADS == 0,
                  "tile loads split evenly over the threads");
    static_assert((ROWS_PER_WARP * CHUNKS) % 32 == 0, "epilogue stores split evenly over a warp");

    /* XOR applied to the chunk index of row r (see the file comment). */
    __device__ __forceinline__ static int swizzle(int r) { return CHUNKS >= 8 ? (r & 7) : ((r >> 1) & 3); }

    /* Byte offset of chunk c of row r inside a tile. */
    __device__ __forceinline__ static uint32_t offset(int r, int c) {
        if constexpr (PANELS)
            return static_cast<uint32_t>((r >> 3) * 8 * ROW_BYTES + (c >> 3) * 1024 + (r & 7) * 128 +
                                         ((c & 7) ^ (r & 7)) * 16);
        return static_cast<uint32_t>(r * ROW_BYTES + (c ^ swizzle(r)) * 16);
    }
};

} // namespace sutra_flash

#endif /* SUTRA_CUDA_FLASH_TRAITS_CUH */
