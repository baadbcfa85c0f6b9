/*
 * flash_fwd_sm90_d128_fp16.cu - the sm90 (wgmma) flash attention instance for head dim 128, fp16
 * (one instance per file, as flash_fwd_d*_*.cu; see flash_sm90_launch.cuh).
 */
#include "backend/cuda/flash_sm90_launch.cuh"

namespace sutra_flash {

template <>
sutra_status flash_fwd_sm90_run<128, __half>(const flash_fwd_params &p, int block_rows, cudaStream_t stream) {
    if (block_rows == 64) return flash_fwd_sm90_launch<flash_sm90_tiles<128>::small, __half>(p, stream);
    return flash_fwd_sm90_launch<flash_sm90_tiles<128>::traits, __half>(p, stream);
}

} // namespace sutra_flash
