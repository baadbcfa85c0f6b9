/*
 * flash_ptx.cuh - the few PTX instructions the flash kernel is built from, one wrapper each:
 * cp.async (global -> shared, 16 bytes, zero-fill past the end), ldmatrix (shared -> mma
 * fragments, plain and transposed), mma.sync.m16n8k16 (fp16 / bf16 in, fp32 accumulate),
 * ex2.approx, packing two floats into one 32-bit fragment register, and a fragment of ones.
 *
 * Rules: everything here is sm_80+ PTX and identical on sm_90a; no wrapper holds state. Shared
 * addresses are 32-bit shared-window addresses (smem_addr()), as ldmatrix and cp.async take.
 */
#ifndef SUTRA_CUDA_FLASH_PTX_CUH
#define SUTRA_CUDA_FLASH_PTX_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

namespace sutra_flash {

__device__ __forceinline__ uint32_t smem_addr(const void *p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/* Copies 16 bytes from global src to shared dst without passing through registers; when
 * valid is false nothing is read and dst is filled with zeros (so rows past a sequence's end
 * are exact zeros, never stale data). src must still be a mapped address. */
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void *src, bool valid) {
    const int src_bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes)
                 : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

/* Waits until at most N of this thread's committed groups are still in flight. */
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/* Four 8x8 b16 matrices; lane l supplies the row address of matrix l/8, row l%8. */
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* As ldmatrix_x4, each matrix transposed on the way (rows of V become mma B columns). */
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* d += a (16x16, row-major) * b (16x8, column-major), fp32 accumulators in place. */
template <class Elem>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                          uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* 2^x in one MUFU instruction; ex2(-inf) = +0, which the softmax relies on for masked scores. */
__device__ __forceinline__ float ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* Two floats rounded to Elem, lo in the low half: the register order of mma fragments. */
template <class Elem>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);

template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}

template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}

/* Two 1.0 values of Elem in one register: a B fragment of ones, whose product with P gives P's
 * row sums. */
template <class Elem>
__device__ __forceinline__ uint32_t ones2();

template <>
__device__ __forceinline__ uint32_t ones2<__half>() { return 0x3c003c00u; }

template <>
__device__ __forceinline__ uint32_t ones2<__nv_bfloat16>() { return 0x3f803f80u; }

} // namespace sutra_flash

#endif /* SUTRA_CUDA_FLASH_PTX_CUH */
