/*
 * flash_attn.cu - the C entry points of flash attention (flash_attn.h): checks the params,
 * converts them to the kernel's flash_fwd_params, and dispatches on (head dim, dtype) to the
 * instance files.
 *
 * Rules: every check that can fail happens before anything is launched; nothing here
 * allocates or synchronises.
 */
#include <stdint.h>

#include <atomic>

#include <cuda_runtime.h>

#include "backend/cuda/attention_check.h"
#include "backend/cuda/flash_attn.h"
#include "backend/cuda/flash_launch.cuh"

using sutra_flash::flash_fwd_run;

extern "C" int sutra_cuda_flash_supported(int head_dim, int cc_major, int cc_minor) {
    (void)cc_minor;
    const int dim_ok = head_dim == 32 || head_dim == 64 || head_dim == 128;
    return dim_ok && cc_major >= 8;
}

static int aligned16(const void *ptr) { return ((uintptr_t)ptr & 15u) == 0; }

/* The current device's multiprocessor count, looked up once per device. */
static int current_sm_count(void) {
    static std::atomic<int> cache[64];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
        cudaGetLastError();
        return 0;
    }
    int n = cache[dev].load(std::memory_order_relaxed);
    if (n == 0) {
        if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
            cudaGetLastError();
            return 0;
        }
        cache[dev].store(n, std::memory_order_relaxed);
    }
    return n;
}

extern "C" int sutra_cuda_flash_block_rows(const sutra_attn_params *p, int sm_count) {
    if (!p || p->max_seqlen < 1 || p->heads < 1 || p->batch < 1) return 128;
    const long long blocks = (long long)((p->max_seqlen + 127) / 128) * p->heads * p->batch;
    return blocks < sm_count ? 64 : 128;
}

extern "C" sutra_status sutra_cuda_flash_attention(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                   void *stream) {
    return sutra_cuda_flash_attention_rows(p, dtype, 0, stream);
}

extern "C" sutra_status sutra_cuda_flash_attention_rows(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                        int block_rows, void *stream) {
    sutra_status st = sutra_cuda_check_attn_params(p, dtype, 128, "flash attention");
    if (st != SUTRA_OK) return st;
    if (p->head_dim != 32 && p->head_dim != 64 && p->head_dim != 128)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "flash attention: head_dim %d (have 32, 64, 128)",
                               p->head_dim);
    if (!aligned16(p->q) || !aligned16(p->k) || !aligned16(p->v) || !aligned16(p->out) || p->q_stride % 8 ||
        p->k_stride % 8 || p->v_stride % 8 || p->o_stride % 8)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED,
                               "flash attention: pointers must be 16-byte aligned and row strides multiples of 8");
    if (block_rows != 0 && block_rows != 64 && block_rows != 128)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "flash attention: block_rows %d (0, 64 or 128)", block_rows);
    if (p->batch == 0 || p->max_seqlen == 0) return SUTRA_OK;
    if (block_rows == 0) block_rows = sutra_cuda_flash_block_rows(p, current_sm_count());

    flash_fwd_params fp;
    fp.q = p->q;
    fp.k = p->k;
    fp.v = p->v;
    fp.o = p->out;
    fp.q_row_stride = p->q_stride;
    fp.k_row_stride = p->k_stride;
    fp.v_row_stride = p->v_stride;
    fp.o_row_stride = p->o_stride;
    fp.head_stride = p->head_dim;
    fp.cu_seqlens = p->cu_seqlens;
    fp.batch = p->batch;
    fp.max_seqlen = p->max_seqlen;
    fp.heads = p->heads;
    fp.scale_log2 = p->scale * 1.4426950408889634f;
    fp.window_left = p->window_left;
    fp.window_right = p->window_right;

    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const bool bf16 = dtype == SUTRA_CUDA_DTYPE_BF16;
    switch (p->head_dim) {
    case 32: return bf16 ? flash_fwd_run<32, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<32, __half>(fp, block_rows, s);
    case 64: return bf16 ? flash_fwd_run<64, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<64, __half>(fp, block_rows, s);
    default:
        return bf16 ? flash_fwd_run<128, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<128, __half>(fp, block_rows, s);
    }
}
