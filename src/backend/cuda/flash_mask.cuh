/*
 * flash_mask.cuh - which keys a query block may see: the sequence bound (keys past the end of
 * the sequence) and the local window (i - j <= left, j - i <= right, -1 = unlimited).
 *
 * Rules: block-level decisions (which K tiles to visit, whether a tile needs per-element
 * masking at all) are made once per tile so that interior tiles pay nothing; per-element
 * masking writes -inf into the fp32 scores, which the online softmax turns into exact zeros.
 * Query rows past the end of the sequence are never masked: their Q rows are zeros, their
 * results are finite and never stored.
 */
#ifndef SUTRA_CUDA_FLASH_MASK_CUH
#define SUTRA_CUDA_FLASH_MASK_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

namespace sutra_flash {

__device__ __forceinline__ float bias_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float bias_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

/* The keys query rows [m0, m0 + bm) of a sequence of len tokens may see, as whole K tiles. */
struct key_range {
    int tile_begin; /* first K tile (of BN keys) to visit */
    int tile_end;   /* one past the last */
};

__device__ __forceinline__ key_range visible_key_tiles(int m0, int bm, int len, int bn, int left, int right) {
    const int last_row = min(m0 + bm, len) - 1;
    const long long lo = left < 0 ? 0 : max(0LL, (long long)m0 - left);
    const long long hi = right < 0 ? len : min((long long)len, (long long)last_row + right + 1);
    key_range r;
    r.tile_begin = (int)(lo / bn);
    r.tile_end = (int)((hi + bn - 1) / bn);
    return r;
}

/* True if some (query, key) pair of rows [m0, m0+bm) x keys [n0, n0+bn) is invisible: past the
 * sequence end or outside the window. Rows past len count as rows, which only errs towards
 * masking. */
__device__ __forceinline__ bool tile_needs_mask(int m0, int bm, int n0, int bn, int len, int left, int right) {
    if (n0 + bn > len) return true;
    if (left >= 0 && (long long)(m0 + bm - 1) - n0 > left) return true;
    if (right >= 0 && (long long)(n0 + bn - 1) - m0 > right) return true;
    return false;
}

/* Sets invisible scores of one warp's S fragments to -inf. s[mt][nt][e] holds the score of
 * query row row0 + mt*16 + lane/4 (+8 for e >= 2) and key col0 + nt*8 + 2*(lane%4) + (e&1),
 * the accumulator layout of mma.m16n8. */
template <int MT, int NT>
__device__ __forceinline__ void apply_mask(float (&s)[MT][NT][4], int row0, int col0, int len, int left,
                                           int right, int lane) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int i = row0 + mt * 16 + (lane >> 2) + (e >= 2 ? 8 : 0);
                const int j = col0 + nt * 8 + 2 * (lane & 3) + (e & 1);
                const bool visible =
                    j < len && (left < 0 || i - j <= left) && (right < 0 || j - i <= right);
                if (!visible) s[mt][nt][e] = -INFINITY;
            }
        }
    }
}

/* Adds the relative position bias to one warp's S fragments (the layout of apply_mask): row i,
 * key j of head `head` gains mult * bias[(j - i + span - 1) * stride + head]. Keys past the
 * sequence end read no table row (their offsets may pass the table); apply_mask hides them. */
template <int MT, int NT, class Elem>
__device__ __forceinline__ void add_rel_bias(float (&s)[MT][NT][4], int row0, int col0, int len, const Elem *bias,
                                             int64_t stride, int span, int head, float mult, int lane) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int i = row0 + mt * 16 + (lane >> 2) + (e >= 2 ? 8 : 0);
                const int j = col0 + nt * 8 + 2 * (lane & 3) + (e & 1);
                if (j < len && i < len)
                    s[mt][nt][e] += mult * bias_f32(bias[(int64_t)(j - i + span - 1) * stride + head]);
            }
        }
    }
}

} // namespace sutra_flash

#endif /* SUTRA_CUDA_FLASH_MASK_CUH */
