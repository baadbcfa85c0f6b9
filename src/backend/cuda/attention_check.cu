/*
 * attention_check.cu - see attention_check.h.
 */
#include <math.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "backend/cuda/attention_check.h"

extern "C" sutra_status sutra_cuda_check_attn_params(const sutra_attn_params *p, sutra_cuda_dtype dtype,
                                                     int max_head_dim, const char *who) {
    if (!p || !p->q || !p->k || !p->v || !p->out || !p->cu_seqlens)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: NULL params or tensor pointer", who);
    if (dtype != SUTRA_CUDA_DTYPE_F16 && dtype != SUTRA_CUDA_DTYPE_BF16)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: unknown dtype %d", who, (int)dtype);
    if (p->batch < 0 || p->max_seqlen < 0 || p->heads < 1 || p->head_dim < 1)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: batch %d, max_seqlen %d, heads %d, head_dim %d",
                               who, p->batch, p->max_seqlen, p->heads, p->head_dim);
    if (p->batch > 65535 || p->heads > 65535)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "%s: batch %d or heads %d over 65535", who, p->batch,
                               p->heads);
    if ((p->rel_span > 0) != (p->rel_bias != NULL) || p->rel_span < 0 ||
        (p->rel_span && (p->max_seqlen > p->rel_span || p->rel_stride < p->heads)))
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT,
                               "%s: relative bias table %s, span %d for max_seqlen %d, row stride %lld for %d heads", who,
                               p->rel_bias ? "given" : "absent", p->rel_span, p->max_seqlen, (long long)p->rel_stride,
                               p->heads);
    const int kvh = p->kv_heads ? p->kv_heads : p->heads;
    if (kvh < 1 || kvh > p->heads || p->heads % kvh)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: %d key/value heads for %d query heads (needs a divisor)",
                               who, p->kv_heads, p->heads);
    if (p->head_dim > max_head_dim)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "%s: head_dim %d over %d", who, p->head_dim, max_head_dim);
    const int64_t width = (int64_t)p->heads * p->head_dim, kv_width = (int64_t)kvh * p->head_dim;
    if (p->q_stride < width || p->k_stride < kv_width || p->v_stride < kv_width || p->o_stride < width)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT,
                               "%s: a row stride (q %lld, k %lld, v %lld, o %lld) is below heads*head_dim %lld "
                               "(k, v: kv_heads*head_dim %lld)", who, (long long)p->q_stride, (long long)p->k_stride,
                               (long long)p->v_stride, (long long)p->o_stride, (long long)width, (long long)kv_width);
    if (!(p->scale > 0.f) || !isfinite(p->scale))
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: scale %g (needs finite, > 0)", who, (double)p->scale);
    if (p->window_left < -1 || p->window_right < -1)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: window %d/%d (needs -1 or >= 0)", who,
                               p->window_left, p->window_right);
    cudaPointerAttributes attr;
    cudaError_t err = cudaPointerGetAttributes(&attr, p->cu_seqlens);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: cu_seqlens: %s", who, cudaGetErrorString(err));
    }
    if (attr.type == cudaMemoryTypeUnregistered)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "%s: cu_seqlens is host memory, needs device memory",
                               who);
    return SUTRA_OK;
}
