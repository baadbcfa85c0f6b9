/*
 * flash_sm90_ptx.cuh - what the sm90 flash kernel needs besides the wgmma instructions
 * themselves (flash_wgmma_ptx.cuh): shared-memory matrix descriptors, the wgmma fence / commit /
 * wait trio, the generic-to-async proxy fence, and an operand fence for accumulators.
 *
 * Descriptors. wgmma reads a shared-memory operand through a 64-bit descriptor: start address
 * (bits 0-13), leading and stride byte offsets (16-29, 32-45), all in 16-byte units, and the
 * swizzle mode (62-63: 1 = 128-byte, 2 = 64-byte). The kernel's tiles are rows of D elements
 * (D * 2 bytes: 128 at D = 64, 64 at D = 32) in 16-byte chunks, chunk c of row r stored at
 * c ^ (r % 8) (D = 64) or c ^ ((r / 2) % 4) (D = 32) (flash_traits.cuh). That is exactly the
 * hardware's 128-byte (resp. 64-byte) swizzle of an 8-row group that starts on a 1024-byte (512)
 * boundary, so the same tiles serve ldmatrix and wgmma:
 *   - K-major operand (Q as A, K as B of S = Q K^T): 8-row groups SBO = 8 * row bytes apart; a
 *     k16 step is 32 bytes further along the row (the hardware applies the swizzle to the
 *     final address, which is why the group must be aligned); LBO is unused.
 *   - N-major operand (V as B of O = P V, "transposed"): the N extent (D) is one swizzle atom
 *     wide, the K direction (keys) steps by 8-row groups SBO apart; a k16 step is two groups.
 *   - D = 128 (rows of 256 bytes): the tiles are stored in 128-byte panels (flash_traits.cuh),
 *     8-row groups 2048 bytes apart, the right panel 1024 bytes after the left. K-major: SBO =
 *     2048, k16 steps 0-3 in the left panel, 4-7 in the right; N-major (V, N = D = two atoms):
 *     LBO = 1024 (the next atom along N), SBO = 2048.
 *
 * Rules: sm_90a only. A wgmma reads shared memory through the async proxy, so data written by
 * ordinary stores or cp.async must be followed by fence_proxy_async() before the barrier that
 * publishes it. Accumulators written by an in-flight wgmma must not be touched until
 * wgmma_wait() says so; fence_operand() after the wait keeps the compiler from moving their
 * uses above it.
 */
#ifndef SUTRA_CUDA_FLASH_SM90_PTX_CUH
#define SUTRA_CUDA_FLASH_SM90_PTX_CUH

#include <stdint.h>

namespace sutra_flash {

/* Swizzle mode field of a descriptor for rows of row_bytes (128 -> 128-byte, 64 -> 64-byte). */
template <int ROW_BYTES>
struct gmma_swizzle;
template <>
struct gmma_swizzle<128> {
    static constexpr uint64_t mode = 1;
};
template <>
struct gmma_swizzle<64> {
    static constexpr uint64_t mode = 2;
};

/* Descriptor of a swizzled tile of ROW_BYTES-byte rows starting at shared address addr. */
template <int ROW_BYTES>
__device__ __forceinline__ uint64_t gmma_desc(uint32_t addr) {
    constexpr uint64_t sbo = (8 * ROW_BYTES) >> 4;
    return (uint64_t)((addr & 0x3ffffu) >> 4) | ((uint64_t)1 << 16) | (sbo << 32) | (gmma_swizzle<ROW_BYTES>::mode << 62);
}

/* Descriptor of a 128-byte-swizzled operand at shared address addr whose swizzle atoms (8 rows
 * of 128 bytes) repeat lbo bytes apart along the leading dimension (used by N-major operands
 * wider than one atom) and sbo bytes apart from one 8-row group to the next. */
__device__ __forceinline__ uint64_t gmma_desc_sw128(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3ffffu) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32) |
           ((uint64_t)1 << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }

__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }

/* Waits until at most N of the warpgroup's committed wgmma groups are pending. */
template <int N>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

/* Pins every element of a register array at this point of the program. */
template <int N>
__device__ __forceinline__ void fence_operand(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

} // namespace sutra_flash

#endif /* SUTRA_CUDA_FLASH_SM90_PTX_CUH */
