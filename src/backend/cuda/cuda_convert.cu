/*
 * cuda_convert.cu - fp32 to fp16/bf16 conversion of weights on the device (the host copies fp32
 * chunks up, this kernel rounds them into the weight slab), the widening back to fp32 for
 * downloads, and the probe that tells whether this build holds machine code for the device.
 *
 * Rule: round to nearest even, as __float2half_rn / __float2bfloat16_rn do; values beyond fp16's
 * range become infinities (the caller chooses bf16 for models that need the range).
 */
#include <stdint.h>

#include "backend/cuda/cuda_elem.cuh"
#include "backend/cuda/cuda_ops.h"

using namespace sutra_cuda;

namespace {

template <class E>
__global__ void __launch_bounds__(256) convert_kernel(E *dst, const float *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = from_f32<E>(src[i]);
}

template <class E>
__global__ void __launch_bounds__(256) widen_kernel(float *dst, const E *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = to_f32(src[i]);
}

__global__ void probe_kernel(int *x) {
    if (x) *x = 1;
}

} // namespace

sutra_status sutra_cuda_convert_f32(void *dst, const float *src, size_t n, sutra_cuda_dtype dt, cudaStream_t stream) {
    if (n == 0) return SUTRA_OK;
    if (!dst || !src) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "convert: NULL pointer");
    const unsigned blocks = (unsigned)(n / 256 + 1 < 8192 ? n / 256 + 1 : 8192);
    if (dt == SUTRA_CUDA_DTYPE_BF16) convert_kernel<__nv_bfloat16><<<blocks, 256, 0, stream>>>((__nv_bfloat16 *)dst, src, n);
    else convert_kernel<__half><<<blocks, 256, 0, stream>>>((__half *)dst, src, n);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "convert launch (n %zu): %s", n, cudaGetErrorString(e));
    return SUTRA_OK;
}

sutra_status sutra_cuda_convert_to_f32(float *dst, const void *src, size_t n, sutra_cuda_dtype dt, cudaStream_t stream) {
    if (n == 0) return SUTRA_OK;
    if (!dst || !src) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "convert: NULL pointer");
    const unsigned blocks = (unsigned)(n / 256 + 1 < 8192 ? n / 256 + 1 : 8192);
    if (dt == SUTRA_CUDA_DTYPE_BF16) widen_kernel<__nv_bfloat16><<<blocks, 256, 0, stream>>>(dst, (const __nv_bfloat16 *)src, n);
    else widen_kernel<__half><<<blocks, 256, 0, stream>>>(dst, (const __half *)src, n);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "widen launch (n %zu): %s", n, cudaGetErrorString(e));
    return SUTRA_OK;
}

int sutra_cuda_have_code_for_device(void) {
    cudaFuncAttributes attr;
    const cudaError_t e = cudaFuncGetAttributes(&attr, probe_kernel);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return 1;
}
