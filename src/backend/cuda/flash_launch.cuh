/*
 * flash_launch.cuh - launching the flash kernel: the tile choice per head dim (with the
 * measurements behind it) and the generic launch of one traits / element-type instance.
 *
 * Rules: included by the instance files (flash_fwd_d*_*.cu), one (head dim, dtype) each, so a
 * change to the kernel recompiles six small files in parallel instead of one large one. The
 * launch checks its own errors and reports them through sutra_cuda_fail(); parameter checks
 * that do not depend on the tile choice live in flash_attn.cu.
 */
#ifndef SUTRA_CUDA_FLASH_LAUNCH_CUH
#define SUTRA_CUDA_FLASH_LAUNCH_CUH

#include <cuda_runtime.h>

#include "backend/cuda/cuda_common.h"
#include "backend/cuda/flash_kernel.cuh"

namespace sutra_flash {

/* Tiles per head dim. Measured on an H100 (bench/cuda/attn_bench.cu --variants on the anchor
 * shapes, N = 512 .. 16384, fp16; bench/results/h100-attn-2026-11-24.txt):
 *  - Every choice uses 4 warps that each own 32 query rows (two m16 tiles): each K/V fragment
 *    read from shared memory then feeds two mma instructions. 16-row warps (64-row CTAs) were
 *    10-25% slower at every head dim.
 *  - 64-key tiles: S costs 64 registers per thread and the per-tile fixed work (two barriers,
 *    row-max shuffles, issuing the copies) is spread over enough keys. 32-key tiles were 5-20%
 *    slower at D = 128; 128-key tiles spill at D = 64, and at D = 32 they win only for
 *    N >= 8192 (by 2-9%) while losing 5-10% at N <= 2048, the lengths encoders mostly see.
 *  - D = 32: Q in registers (16 of them) and the register cap set for 3 CTAs per SM (168
 *    registers, no spills, 24 KB of shared memory per CTA): 12 warps per SM beat 8 by 6-14%
 *    up to N = 4096.
 *  - D = 64: Q in registers (32), 2 CTAs per SM (up to 255 registers, no spills), 48 KB;
 *    re-reading Q from shared memory instead was up to 15% slower.
 *  - D = 128: Q re-read from shared memory for each K tile (in registers it would cost 64 more
 *    next to the 128 of the output accumulator), 2 CTAs per SM (255 registers, no spills),
 *    96 KB.
 *
 * `small`: 64 query rows per CTA (4 warps of 16 rows), for launches whose 128-row blocks would
 * not even give every SM one CTA (batch 1 up to ~1k tokens at 12 heads; flash_attn.cu decides).
 * There a warp alone on its SM sub-partition runs its mma / exp2 chain at latency, not
 * throughput (~1.2 us per 64-key tile for 32 rows at D = 64), so halving the rows per warp
 * and doubling the CTAs shortens the critical path; the K/V fragment reuse that 32-row warps
 * buy pays only when the SMs are full. Measured (attn_bench --small,
 * bench/results/h100-attn-small-2026-11-24-r2.txt): 0.74x the time at N = 128-512 and 0.88x at
 * 1024 (D = 64, 12 heads), 0.67x at D = 128 up to 1024; at N >= 2048 (from 192 blocks) 64-row
 * blocks were 1.10-1.24x slower, hence the rule of one 128-row block per SM. (Splitting the keys of a block over several CTAs
 * instead, with the partial results merged by the last CTA to finish, was measured and
 * dropped: the merge's chain of L2 round trips cost as much as the tiles it saved.) The small
 * blocks also take every batch whose sequences are all 64 tokens or shorter, and in either tile
 * a warp whose rows all lie past its sequence skips the math (flash_kernel.cuh): MiniLM's
 * 1024 x 32 spent 132 us a layer in attention with 128-row blocks, 115 with the skip and 79 with
 * both (bench/results/h100-short-seqs-2026-11-25.txt; whole forward 3.00 -> 2.71 ms). */
template <int D>
struct flash_tiles;
template <>
struct flash_tiles<32> {
    using traits = flash_traits<32, 128, 64, 4, 3, true>;
    using small = flash_traits<32, 64, 64, 4, 3, true>;
};
template <>
struct flash_tiles<64> {
    using traits = flash_traits<64, 128, 64, 4, 2, true>;
    using small = flash_traits<64, 64, 64, 4, 2, true>;
};
template <>
struct flash_tiles<128> {
    using traits = flash_traits<128, 128, 64, 4, 2, false>;
    using small = flash_traits<128, 64, 64, 4, 2, false>;
};
/* D = 256 (Gemma): the output accumulator alone is 128 registers a thread for 16 rows a warp, so
 * warps own one m16 tile and K/V tiles are 32 keys (S: 16 registers); 8 warps (128-row CTAs),
 * because a 512-byte row is 32 chunks and the tile loads need 8 rows per pass of the threads; Q
 * re-read from shared memory, one CTA per SM (the whole register file), 128 KB of shared memory.
 * No smaller block: both names are this one. */
template <>
struct flash_tiles<256> {
    using traits = flash_traits<256, 128, 32, 8, 1, false>;
    using small = traits;
};

/* A launch-time error that means "this build has no machine code for this GPU". */
inline bool no_image(cudaError_t err) {
    return err == cudaErrorInvalidDeviceFunction || err == cudaErrorNoKernelImageForDevice;
}

/* Launches kernel (either flash kernel, tile traits KT: one CTA per query block, head and
 * sequence) and checks the launch; `what` names the kernel in errors. Above 48 KB a kernel
 * must opt in to dynamic shared memory. The setting is per device, so it is made on every
 * launch: a host-side driver call of about a microsecond, and the first call that would fail
 * on a GPU this build has no code for. */
template <class KT>
sutra_status flash_launch_checked(void (*kernel)(flash_fwd_params), const flash_fwd_params &p, cudaStream_t stream,
                                  const char *what) {
    cudaError_t err = cudaSuccess;
    if (KT::SMEM_BYTES > 48 * 1024)
        err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, KT::SMEM_BYTES);
    if (err == cudaSuccess) {
        const dim3 grid((p.max_seqlen + KT::BM - 1) / KT::BM, p.heads, p.batch);
        kernel<<<grid, KT::THREADS, KT::SMEM_BYTES, stream>>>(p);
        err = cudaGetLastError();
    } else {
        cudaGetLastError();
    }
    if (no_image(err))
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "%s: no kernel image for this GPU (%s)", what,
                               cudaGetErrorString(err));
    if (err != cudaSuccess)
        return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "%s launch (D=%d, %d bytes of shared memory): %s", what, KT::D,
                               KT::SMEM_BYTES, cudaGetErrorString(err));
    return SUTRA_OK;
}

template <class KT, class Elem>
sutra_status flash_fwd_launch(const flash_fwd_params &p, cudaStream_t stream) {
    return flash_launch_checked<KT>(flash_fwd_kernel<KT, Elem>, p, stream, "flash attention");
}

/* The instance for head dim D and element type Elem, defined in flash_fwd_d<D>_<dtype>.cu:
 * flash_tiles<D>::small when block_rows is its BM (64), else flash_tiles<D>::traits. */
template <int D, class Elem>
sutra_status flash_fwd_run(const flash_fwd_params &p, int block_rows, cudaStream_t stream);

template <int D, class Elem>
sutra_status flash_fwd_run_tiles(const flash_fwd_params &p, int block_rows, cudaStream_t stream) {
    if (block_rows == flash_tiles<D>::small::BM) return flash_fwd_launch<typename flash_tiles<D>::small, Elem>(p, stream);
    return flash_fwd_launch<typename flash_tiles<D>::traits, Elem>(p, stream);
}

} // namespace sutra_flash

#endif /* SUTRA_CUDA_FLASH_LAUNCH_CUH */
