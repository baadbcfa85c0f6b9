/*
 * flash_fwd_sm90_d128_bf16.cu - the sm90 (wgmma) flash attention instance for head dim 128, bf16
 * (one instance per file, as flash_fwd_d*_*.cu; see flash_sm90_launch.cuh).
 */
#include "backend/cuda/flash_sm90_launch.cuh"

namespace sutra_flash {

template <>
sutra_status flash_fwd_sm90_run<128, __nv_bfloat16>(const flash_fwd_params &p, int block_rows, cudaStream_t stream) {
    if (block_rows == 64) return flash_fwd_sm90_launch<flash_sm90_tiles<128>::small, __nv_bfloat16>(p, stream);
    return flash_fwd_sm90_launch<flash_sm90_tiles<128>::traits, __nv_bfloat16>(p, stream);
}

} // namespace sutra_flash
