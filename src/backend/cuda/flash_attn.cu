/*
 * flash_attn.cu - the C entry points of flash attention (flash_attn.h): checks the params,
 * converts them to the kernel's flash_fwd_params, and dispatches on (head dim, dtype) to the
 * instance files.
 *
 * Rules: every check that can fail happens before anything is launched; nothing here
 * allocates or synchronises.
 */
#include <stdint.h>
#include <stdlib.h>

#include <atomic>

#include <cuda_runtime.h>

#include "backend/cuda/attention_check.h"
#include "backend/cuda/flash_attn.h"
#include "backend/cuda/flash_launch.cuh"
#include "backend/cuda/flash_sm90_launch.cuh"

using sutra_flash::flash_fwd_run;
using sutra_flash::flash_fwd_sm90_run;

extern "C" int sutra_cuda_flash_supported(int head_dim, int cc_major, int cc_minor) {
    (void)cc_minor;
    const int dim_ok = head_dim == 32 || head_dim == 64 || head_dim == 128;
    return dim_ok && cc_major >= 8;
}

static int aligned16(const void *ptr) { return ((uintptr_t)ptr & 15u) == 0; }

/* The current device's multiprocessor count and compute capability (major * 10 + minor),
 * looked up once per device; 0 when the lookup fails. */
struct device_facts {
    int sms, cc;
};

static device_facts current_device(void) {
    static std::atomic<int> sms_cache[64], cc_cache[64];
    device_facts f = {0, 0};
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
        cudaGetLastError();
        return f;
    }
    f.sms = sms_cache[dev].load(std::memory_order_relaxed);
    f.cc = cc_cache[dev].load(std::memory_order_relaxed);
    if (f.sms == 0 || f.cc == 0) {
        int n = 0, major = 0, minor = 0;
        if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
            cudaGetLastError();
            return f;
        }
        f.sms = n;
        f.cc = major * 10 + minor;
        sms_cache[dev].store(f.sms, std::memory_order_relaxed);
        cc_cache[dev].store(f.cc, std::memory_order_relaxed);
    }
    return f;
}

extern "C" int sutra_cuda_flash_sm90_supported(int head_dim, int cc_major, int cc_minor) {
    return head_dim == 64 && cc_major == 9 && cc_minor == 0;
}

static int sm90_allowed(void) {
    static std::atomic<int> cached(-1);
    int v = cached.load(std::memory_order_relaxed);
    if (v < 0) {
        const char *e = getenv("SUTRA_FLASH_SM90");
        v = !(e && e[0] == '0');
        cached.store(v, std::memory_order_relaxed);
    }
    return v;
}

extern "C" sutra_flash_kernel sutra_cuda_flash_pick(const sutra_attn_params *p, int cc_major, int cc_minor,
                                                    int sm_count) {
    if (p && sm90_allowed() && sutra_cuda_flash_sm90_supported(p->head_dim, cc_major, cc_minor))
        return sutra_flash::flash_sm90_pick_rows(p->max_seqlen, p->heads, p->batch, sm_count) == 64
                   ? SUTRA_FLASH_KERNEL_SM90_64
                   : SUTRA_FLASH_KERNEL_SM90_128;
    return sutra_cuda_flash_block_rows(p, sm_count) == 64 ? SUTRA_FLASH_KERNEL_SM80_64 : SUTRA_FLASH_KERNEL_SM80_128;
}

extern "C" int sutra_cuda_flash_block_rows(const sutra_attn_params *p, int sm_count) {
    if (!p || p->max_seqlen < 1 || p->heads < 1 || p->batch < 1) return 128;
    if (p->max_seqlen <= 64) return 64; /* a 128-row block would be at least half empty */
    const long long blocks = (long long)((p->max_seqlen + 127) / 128) * p->heads * p->batch;
    return blocks < sm_count ? 64 : 128;
}

extern "C" sutra_status sutra_cuda_flash_attention(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                   void *stream) {
    return sutra_cuda_flash_attention_kernel(p, dtype, SUTRA_FLASH_KERNEL_AUTO, stream);
}

extern "C" sutra_status sutra_cuda_flash_attention_rows(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                        int block_rows, void *stream) {
    if (block_rows != 0 && block_rows != 64 && block_rows != 128)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "flash attention: block_rows %d (0, 64 or 128)", block_rows);
    return sutra_cuda_flash_attention_kernel(p, dtype, (sutra_flash_kernel)block_rows, stream);
}

extern "C" sutra_status sutra_cuda_flash_attention_kernel(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                          sutra_flash_kernel kernel, void *stream) {
    sutra_status st = sutra_cuda_check_attn_params(p, dtype, 128, "flash attention");
    if (st != SUTRA_OK) return st;
    if (p->head_dim != 32 && p->head_dim != 64 && p->head_dim != 128)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "flash attention: head_dim %d (have 32, 64, 128)",
                               p->head_dim);
    if (!aligned16(p->q) || !aligned16(p->k) || !aligned16(p->v) || !aligned16(p->out) || p->q_stride % 8 ||
        p->k_stride % 8 || p->v_stride % 8 || p->o_stride % 8)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED,
                               "flash attention: pointers must be 16-byte aligned and row strides multiples of 8");
    if (kernel != SUTRA_FLASH_KERNEL_AUTO && kernel != SUTRA_FLASH_KERNEL_SM80_64 && kernel != SUTRA_FLASH_KERNEL_SM80_128 &&
        kernel != SUTRA_FLASH_KERNEL_SM90_128 && kernel != SUTRA_FLASH_KERNEL_SM90_64)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "flash attention: kernel %d (0, 64, 128, 90 or 92)", (int)kernel);
    const device_facts dev = current_device();
    const bool sm90 = kernel == SUTRA_FLASH_KERNEL_SM90_128 || kernel == SUTRA_FLASH_KERNEL_SM90_64;
    if (sm90 && !sutra_cuda_flash_sm90_supported(p->head_dim, dev.cc / 10, dev.cc % 10))
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "flash attention: the wgmma kernel needs compute capability 9.0 "
                               "and head dim 64 (have %d.%d, %d)", dev.cc / 10, dev.cc % 10, p->head_dim);
    if (p->batch == 0 || p->max_seqlen == 0) return SUTRA_OK;
    const bool automatic = kernel == SUTRA_FLASH_KERNEL_AUTO;
    if (automatic) kernel = sutra_cuda_flash_pick(p, dev.cc / 10, dev.cc % 10, dev.sms);

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
    if (kernel == SUTRA_FLASH_KERNEL_SM90_128 || kernel == SUTRA_FLASH_KERNEL_SM90_64) {
        const int rows = kernel == SUTRA_FLASH_KERNEL_SM90_64 ? 64 : 128;
        const sutra_status st =
            bf16 ? flash_fwd_sm90_run<64, __nv_bfloat16>(fp, rows, s) : flash_fwd_sm90_run<64, __half>(fp, rows, s);
        if (st != SUTRA_ERR_UNSUPPORTED || !automatic) return st;
        kernel = sutra_cuda_flash_block_rows(p, dev.sms) == 64 ? SUTRA_FLASH_KERNEL_SM80_64 : SUTRA_FLASH_KERNEL_SM80_128;
    }
    const int block_rows = (int)kernel;
    switch (p->head_dim) {
    case 32: return bf16 ? flash_fwd_run<32, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<32, __half>(fp, block_rows, s);
    case 64: return bf16 ? flash_fwd_run<64, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<64, __half>(fp, block_rows, s);
    default:
        return bf16 ? flash_fwd_run<128, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<128, __half>(fp, block_rows, s);
    }
}
