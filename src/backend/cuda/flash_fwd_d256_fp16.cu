/*
 * flash_fwd_d256_fp16.cu - the flash attention instance for head dim 256, fp16 (one instance per
 * file keeps each compile small and lets them build in parallel; see flash_launch.cuh).
 */
#include "backend/cuda/flash_launch.cuh"

namespace sutra_flash {

template <>
sutra_status flash_fwd_run<256, __half>(const flash_fwd_params &p, int block_rows, cudaStream_t stream) {
    return flash_fwd_run_tiles<256, __half>(p, block_rows, stream);
}

} // namespace sutra_flash
