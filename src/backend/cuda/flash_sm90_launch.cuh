/*
 * flash_sm90_launch.cuh - launching the sm90 (wgmma) flash kernel: its tile choice per head dim
 * and the generic launch of one traits / element-type instance.
 *
 * Rules: as flash_launch.cuh. Included by the instance files flash_fwd_sm90_d*_*.cu; the
 * launcher (flash_attn.cu) calls flash_fwd_sm90_run only on a compute capability 9.0 device,
 * and treats "no kernel image" as a reason to use the sm80 kernel instead.
 */
#ifndef SUTRA_CUDA_FLASH_SM90_LAUNCH_CUH
#define SUTRA_CUDA_FLASH_SM90_LAUNCH_CUH

#include <cuda_runtime.h>

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/flash_launch.cuh"
#include "backend/cuda/flash_sm90_kernel.cuh"

namespace sutra_flash {

/* Tiles for head dim 64, measured on an H100 with
 * attn_bench --variants (B x N = 32768 tokens, 32 heads; bench/results/h100-attn-sm90-*):
 *  - traits: two warpgroups (128 query rows) sharing 128-key tiles, two CTAs per SM (the
 *    register cap of 128 holds S (64), P (32) and O (32) without spills): 376-450 TFLOP/s for
 *    N = 512 .. 8192, against 278-322 for the mma.sync kernel. One CTA per SM (no cap) ran at
 *    238-303: with only two warpgroups on an SM nothing covers one's softmax while the other
 *    waits on its product. 64-key tiles: 316-371.
 *  - small: one warpgroup (64 rows), three CTAs per SM: 317-391 when the SMs are full, but its
 *    twice as many CTAs finish sooner when a launch has few (flash_sm90_pick_rows). */
template <int D>
struct flash_sm90_tiles;
template <>
struct flash_sm90_tiles<64> {
    using traits = flash_sm90_traits<64, 2, 128, 2>;
    using small = flash_sm90_traits<64, 1, 128, 3>;
};
/* Head dim 128 (the decoders': Qwen3): O is 64 accumulators per thread, twice d = 64's, so the
 * K/V tiles are 64 keys (S 32, P 16) to keep two CTAs of two warpgroups per SM under the
 * register cap of 128, with 96 KB of shared memory each (Q 32 KB, K and V double buffered 64). The
 * small variant (one warpgroup) fits two CTAs per SM too (80 KB each). */
template <>
struct flash_sm90_tiles<128> {
    using traits = flash_sm90_traits<128, 2, 64, 2>;
    using small = flash_sm90_traits<128, 1, 64, 2>;
};

/* Query rows per CTA (64 or 128) for a launch of batch sequences of up to max_seqlen tokens and
 * heads heads on sm_count SMs: 64 when every 64-row block fits in one wave (three CTAs per SM),
 * else 128. Measured at batch 1 (attn_bench --small, bench/results/h100-attn-sm90-*): 64-row
 * blocks were 0.79-0.88x the time of 128-row ones at 12 heads up to 2048 tokens (384 blocks,
 * one wave) and 16 heads up to 1024; one block past a wave they lose (16 heads x 2048: 512
 * blocks, 1.41x; 12 x 4096: 1.05x), as they do whenever the SMs are full (1.19x at 64 x 512). */
inline int flash_sm90_pick_rows(int max_seqlen, int heads, int batch, int sm_count) {
    const long long b64 = (long long)((max_seqlen + 63) / 64) * heads * batch;
    return sm_count > 0 && b64 <= 3LL * sm_count ? 64 : 128;
}

template <class KT, class Elem>
sutra_status flash_fwd_sm90_launch(const flash_fwd_params &p, cudaStream_t stream) {
    return flash_launch_checked<KT>(flash_fwd_sm90_kernel<KT, Elem>, p, stream, "flash attention (sm90)");
}

/* The instance for head dim D and element type Elem, in flash_fwd_sm90_d<D>_<dtype>.cu:
 * flash_sm90_tiles<D>::small when block_rows is 64, else ::traits. */
template <int D, class Elem>
sutra_status flash_fwd_sm90_run(const flash_fwd_params &p, int block_rows, cudaStream_t stream);

} // namespace sutra_flash

#endif /* SUTRA_CUDA_FLASH_SM90_LAUNCH_CUH */
