/*
 * flash_attn.cu - the C entry points of flash attention (flash_attn.h): checks the params,
 * converts them to the kernel's flash_fwd_params, and dispatches on (head dim, dtype) to the
 * instance files.
 *
 * Rules: every check that can fail happens before anything is launched; nothing here
 * allocates or synchronises.
 */
#include <stdint.h>

#include <cuda_runtime.h>

#include "backend/cuda/attention_check.h"
#include "backend/cuda/flash_attn.h"
#include "backend/cuda/flash_launch.cuh"
#include "backend/cuda/flash_sm90_launch.cuh"

using sutra_flash::flash_fwd_run;
using sutra_flash::flash_fwd_sm90_run;

extern "C" int sutra_cuda_flash_supported(int head_dim, int cc_major, int cc_minor) {
    (void)cc_minor;
    const int dim_ok = head_dim == 32 || head_dim == 64 || head_dim == 128 || head_dim == 256;
    return dim_ok && cc_major >= 8;
}

static int aligned16(const void *ptr) { return ((uintptr_t)ptr & 15u) == 0; }

extern "C" sutra_status sutra_cuda_flash_device(int device, sutra_flash_device *dev) {
    int n = 0, major = 0, minor = 0;
    if (!dev) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "flash device: NULL");
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
        const cudaError_t e = cudaGetLastError();
        return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "flash device %d: %s", device, cudaGetErrorString(e));
    }
    *dev = sutra_flash_device{n, major, minor, 1};
    return SUTRA_OK;
}

extern "C" int sutra_cuda_flash_sm90_supported(int head_dim, int cc_major, int cc_minor) {
    return (head_dim == 64 || head_dim == 128) && cc_major == 9 && cc_minor == 0;
}

extern "C" sutra_flash_kernel sutra_cuda_flash_pick(const sutra_attn_params *p, const sutra_flash_device *dev) {
    /* the relative position bias (MPNet) is added by the mma.sync kernel only */
    if (p && dev->wgmma && !p->rel_bias && sutra_cuda_flash_sm90_supported(p->head_dim, dev->cc_major, dev->cc_minor))
        return sutra_flash::flash_sm90_pick_rows(p->max_seqlen, p->heads, p->batch, dev->sms) == 64
                   ? SUTRA_FLASH_KERNEL_SM90_64
                   : SUTRA_FLASH_KERNEL_SM90_128;
    return sutra_cuda_flash_block_rows(p, dev->sms) == 64 ? SUTRA_FLASH_KERNEL_SM80_64 : SUTRA_FLASH_KERNEL_SM80_128;
}

extern "C" int sutra_cuda_flash_block_rows(const sutra_attn_params *p, int sm_count) {
    if (!p || p->max_seqlen < 1 || p->heads < 1 || p->batch < 1) return 128;
    if (p->max_seqlen <= 64) return 64; /* a 128-row block would be at least half empty */
    const long long blocks = (long long)((p->max_seqlen + 127) / 128) * p->heads * p->batch;
    return blocks < sm_count ? 64 : 128;
}

static sutra_status run(const sutra_attn_params *p, sutra_cuda_dtype dtype, sutra_flash_kernel kernel,
                        const sutra_flash_device *dev, void *stream);

/* The current device, for the entry points that do not name one. */
static sutra_status current(sutra_flash_device *dev) {
    int d = 0;
    if (cudaGetDevice(&d) != cudaSuccess) {
        const cudaError_t e = cudaGetLastError();
        return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "flash attention: no current device: %s", cudaGetErrorString(e));
    }
    return sutra_cuda_flash_device(d, dev);
}

extern "C" sutra_status sutra_cuda_flash_attention(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                   void *stream) {
    return sutra_cuda_flash_attention_kernel(p, dtype, SUTRA_FLASH_KERNEL_AUTO, stream);
}

extern "C" sutra_status sutra_cuda_flash_attention_on(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                      const sutra_flash_device *dev, void *stream) {
    if (!dev) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "flash attention: NULL device");
    return run(p, dtype, SUTRA_FLASH_KERNEL_AUTO, dev, stream);
}

extern "C" sutra_status sutra_cuda_flash_attention_rows(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                        int block_rows, void *stream) {
    if (block_rows != 0 && block_rows != 64 && block_rows != 128)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "flash attention: block_rows %d (0, 64 or 128)", block_rows);
    return sutra_cuda_flash_attention_kernel(p, dtype, (sutra_flash_kernel)block_rows, stream);
}

extern "C" sutra_status sutra_cuda_flash_attention_kernel(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                          sutra_flash_kernel kernel, void *stream) {
    sutra_flash_device dev;
    const sutra_status st = current(&dev);
    return st != SUTRA_OK ? st : run(p, dtype, kernel, &dev, stream);
}

static sutra_status run(const sutra_attn_params *p, sutra_cuda_dtype dtype, sutra_flash_kernel kernel,
                        const sutra_flash_device *dev, void *stream) {
    sutra_status st = sutra_cuda_check_attn_params(p, dtype, 256, "flash attention");
    if (st != SUTRA_OK) return st;
    if (p->head_dim != 32 && p->head_dim != 64 && p->head_dim != 128 && p->head_dim != 256)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "flash attention: head_dim %d (have 32, 64, 128, 256)",
                               p->head_dim);
    if (!aligned16(p->q) || !aligned16(p->k) || !aligned16(p->v) || !aligned16(p->out) || p->q_stride % 8 ||
        p->k_stride % 8 || p->v_stride % 8 || p->o_stride % 8)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED,
                               "flash attention: pointers must be 16-byte aligned and row strides multiples of 8");
    if (kernel != SUTRA_FLASH_KERNEL_AUTO && kernel != SUTRA_FLASH_KERNEL_SM80_64 && kernel != SUTRA_FLASH_KERNEL_SM80_128 &&
        kernel != SUTRA_FLASH_KERNEL_SM90_128 && kernel != SUTRA_FLASH_KERNEL_SM90_64)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "flash attention: kernel %d (0, 64, 128, 90 or 92)", (int)kernel);
    const bool sm90 = kernel == SUTRA_FLASH_KERNEL_SM90_128 || kernel == SUTRA_FLASH_KERNEL_SM90_64;
    if (sm90 && p->rel_bias)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "flash attention: the wgmma kernel has no relative position bias");
    if (sm90 && !sutra_cuda_flash_sm90_supported(p->head_dim, dev->cc_major, dev->cc_minor))
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "flash attention: the wgmma kernel needs compute capability 9.0 "
                               "and head dim 64 or 128 (have %d.%d, %d)", dev->cc_major, dev->cc_minor, p->head_dim);
    if (p->batch == 0 || p->max_seqlen == 0) return SUTRA_OK;
    const bool automatic = kernel == SUTRA_FLASH_KERNEL_AUTO;
    if (automatic) kernel = sutra_cuda_flash_pick(p, dev);

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
    fp.window_right = sutra_cuda_attn_right(p);
    fp.kv_group = sutra_cuda_attn_group(p);
    fp.rel_bias = p->rel_bias;
    fp.rel_stride = p->rel_stride;
    fp.rel_span = p->rel_span;
    fp.rel_mult = 1.0f / p->scale;

    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const bool bf16 = dtype == SUTRA_CUDA_DTYPE_BF16;
    if (kernel == SUTRA_FLASH_KERNEL_SM90_128 || kernel == SUTRA_FLASH_KERNEL_SM90_64) {
        const int rows = kernel == SUTRA_FLASH_KERNEL_SM90_64 ? 64 : 128;
        const sutra_status st =
            p->head_dim == 128
                ? (bf16 ? flash_fwd_sm90_run<128, __nv_bfloat16>(fp, rows, s) : flash_fwd_sm90_run<128, __half>(fp, rows, s))
                : (bf16 ? flash_fwd_sm90_run<64, __nv_bfloat16>(fp, rows, s) : flash_fwd_sm90_run<64, __half>(fp, rows, s));
        if (st != SUTRA_ERR_UNSUPPORTED || !automatic) return st;
        kernel = sutra_cuda_flash_block_rows(p, dev->sms) == 64 ? SUTRA_FLASH_KERNEL_SM80_64 : SUTRA_FLASH_KERNEL_SM80_128;
    }
    const int block_rows = (int)kernel;
    switch (p->head_dim) {
    case 32: return bf16 ? flash_fwd_run<32, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<32, __half>(fp, block_rows, s);
    case 64: return bf16 ? flash_fwd_run<64, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<64, __half>(fp, block_rows, s);
    case 256:
        return bf16 ? flash_fwd_run<256, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<256, __half>(fp, block_rows, s);
    default:
        return bf16 ? flash_fwd_run<128, __nv_bfloat16>(fp, block_rows, s) : flash_fwd_run<128, __half>(fp, block_rows, s);
    }
}
