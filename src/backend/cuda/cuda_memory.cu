/*
 * cuda_memory.cu - the CUDA backend's device memory (cuda_ctx.h): allocation with the held and
 * peak byte counts, the weight slab and its upload, the activation arena, the batch inputs, the
 * growing workspaces (standard attention, pooling, downloads), and reserve().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention_standard.h"
#include "backend/cuda/cuda_ctx.h"

namespace sutra_cudabe {

/* ---- device memory ------------------------------------------------------------------------ */

sutra_status dev_alloc(cuda_ctx *c, void **p, size_t bytes, const char *what) {
    *p = nullptr;
    if (bytes == 0) return SUTRA_OK;
    const cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *p = nullptr;
        return fail(c, SUTRA_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of device memory for %s: %s", bytes, what,
                    cudaGetErrorString(e));
    }
    c->held += bytes;
    if (c->held > c->peak) c->peak = c->held;
    return SUTRA_OK;
}

void dev_free(cuda_ctx *c, void **p, size_t bytes) {
    if (!*p) return;
    cudaFree(*p);
    *p = nullptr;
    c->held -= bytes;
}


static sutra_status cuda_weights_reserve(sutra_backend *be, size_t floats) {
    cuda_ctx *c = ctx_of(be);
    cudaSetDevice(c->device);
    /* fp16 elements, each tensor starting on an ALIGN boundary: a slack of ALIGN per tensor
     * for up to 256 + floats/65536 tensors (a BERT layer has 12 tensors over 7 million floats) */
    const size_t bytes = round_up(floats * 2 + ALIGN * (256 + floats / 65536), ALIGN);
    if (c->wslab) {
        if (c->wcap - c->wused >= bytes) return SUTRA_OK;
        return take_error(c, fail(c, SUTRA_ERR_UNSUPPORTED, "weights already reserved (%zu bytes, %zu free), %zu more asked",
                                  c->wcap, c->wcap - c->wused, bytes));
    }
    sutra_status st = dev_alloc(c, (void **)&c->wslab, bytes, "the weights");
    if (st != SUTRA_OK) return take_error(c, st);
    c->wcap = bytes;
    c->wused = 0;
    return SUTRA_OK;
}

sutra_status upload_converted(cuda_ctx *c, void *dst, const float *host, size_t n) {
    if (n && !host) return fail(c, SUTRA_ERR_INVALID_ARGUMENT, "weights_upload: NULL host tensor");
    if (n && !c->stage_host) {
        cudaError_t e = cudaMallocHost((void **)&c->stage_host, STAGE_FLOATS * sizeof(float));
        if (e != cudaSuccess) {
            c->stage_host = nullptr;
            return cuda_fail(c, e, "pinned upload buffer");
        }
        if (dev_alloc(c, (void **)&c->stage_dev, STAGE_FLOATS * sizeof(float), "the upload buffer") != SUTRA_OK)
            return c->st;
    }
    for (size_t i = 0; i < n; i += STAGE_FLOATS) {
        const size_t m = n - i < STAGE_FLOATS ? n - i : STAGE_FLOATS;
        memcpy(c->stage_host, host + i, m * sizeof(float));
        cudaError_t e = cudaMemcpyAsync(c->stage_dev, c->stage_host, m * sizeof(float), cudaMemcpyHostToDevice, c->stream);
        if (e != cudaSuccess) return cuda_fail(c, e, "weight upload copy");
        if (note(c, sutra_cuda_convert_f32((char *)dst + i * 2, c->stage_dev, m, c->dt, c->stream)) != SUTRA_OK)
            return c->st;
        e = cudaStreamSynchronize(c->stream); /* the pinned chunk is reused next */
        if (e != cudaSuccess) return cuda_fail(c, e, "weight upload");
    }
    return SUTRA_OK;
}

static const void *cuda_weights_upload(sutra_backend *be, const float *host, size_t n) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return nullptr;
    cudaSetDevice(c->device);
    const size_t off = round_up(c->wused, ALIGN);
    if (!c->wslab || off > c->wcap || n * 2 > c->wcap - off) {
        fail(c, SUTRA_ERR_OUT_OF_MEMORY, "weight slab full: %zu of %zu bytes used, %zu more asked", c->wused, c->wcap,
             n * 2);
        return nullptr;
    }
    char *dst = c->wslab + off;
    if (upload_converted(c, dst, host, n) != SUTRA_OK) return nullptr;
    c->wused = off + n * 2;
    return dst;
}

/* Batch-input buffers for at least T tokens and B sequences; growing drops the graphs. */
sutra_status ensure_batch_buffers(cuda_ctx *c, int T, int B) {
    if (T <= c->tok_cap && B <= c->seq_cap && c->d_in) return SUTRA_OK;
    const int tok = T > c->tok_cap ? (int)round_up((size_t)T, 1024) : c->tok_cap;
    const int seq = B > c->seq_cap ? (int)round_up((size_t)B, 256) : c->seq_cap;
    const size_t bytes = ((size_t)3 * tok + seq + 1) * sizeof(int32_t);
    drop_graphs(c);
    if (c->d_in) {
        cudaStreamSynchronize(c->stream);
        dev_free(c, (void **)&c->d_in, ((size_t)3 * c->tok_cap + c->seq_cap + 1) * sizeof(int32_t));
        cudaFreeHost(c->h_in);
        c->h_in = nullptr;
    }
    c->tok_cap = c->seq_cap = 0;
    sutra_status st = dev_alloc(c, (void **)&c->d_in, bytes, "the batch inputs");
    if (st != SUTRA_OK) return st;
    const cudaError_t e = cudaMallocHost((void **)&c->h_in, bytes);
    if (e != cudaSuccess) {
        c->h_in = nullptr;
        dev_free(c, (void **)&c->d_in, bytes);
        return cuda_fail(c, e, "pinned batch-input buffer");
    }
    c->tok_cap = tok;
    c->seq_cap = seq;
    return SUTRA_OK;
}

static sutra_status cuda_begin_batch(sutra_backend *be, const int32_t *ids, const int32_t *pos, const int32_t *types,
                                     const int32_t *cu, int T, int B, sutra_batch_io *io) {
    cuda_ctx *c = ctx_of(be);
    if (c->fatal) return take_error(c, c->st);
    cudaSetDevice(c->device);
    if (T < 0 || B < 0 || !ids || !cu || !io)
        return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "begin_batch: T %d, B %d, or a NULL pointer", T, B));
    /* kernels index rows by these offsets: check them once here */
    if (cu[0] != 0 || cu[B] != T)
        return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "begin_batch: cu_seqlens[0] %d, cu_seqlens[B] %d, T %d",
                                  cu[0], cu[B], T));
    for (int b = 0; b < B; b++)
        if (cu[b + 1] < cu[b])
            return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "begin_batch: cu_seqlens decreases at %d", b));
    cudaError_t e = cudaEventSynchronize(c->staged); /* the previous batch's copies have left h_in */
    if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "begin_batch: waiting for the previous copies"));
    if (c->stage_dev) { /* weights are in; the upload buffers are not needed any more */
        e = cudaStreamSynchronize(c->stream);
        if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "begin_batch"));
        dev_free(c, (void **)&c->stage_dev, STAGE_FLOATS * sizeof(float));
        cudaFreeHost(c->stage_host);
        c->stage_host = nullptr;
    }
    sutra_status st = ensure_batch_buffers(c, T, B);
    if (st != SUTRA_OK) return take_error(c, st);
    /* ids, positions, token types and offsets packed back to back (ids at 0, positions at T, types
     * at 2T, offsets at 3T, in both buffers) so that one copy carries them: at batch 1 each
     * cudaMemcpyAsync costs a few microseconds of a forward of ~0.5 ms. The addresses depend on T
     * alone, which every graph's key holds; types are always staged (zeros when the batch has
     * none), so a graph captured for one batch reads the next one's. */
    const size_t n_in = 3 * (size_t)T + (size_t)B + 1;
    int32_t *h_ids = c->h_in, *h_pos = c->h_in + T, *h_types = c->h_in + 2 * (size_t)T, *h_cu = c->h_in + 3 * (size_t)T;
    int32_t *d_ids = c->d_in, *d_pos = c->d_in + T, *d_types = c->d_in + 2 * (size_t)T, *d_cu = c->d_in + 3 * (size_t)T;
    memcpy(h_ids, ids, (size_t)T * sizeof *ids);
    if (pos) memcpy(h_pos, pos, (size_t)T * sizeof *pos);
    else memset(h_pos, 0, (size_t)T * sizeof *h_pos);
    if (types) memcpy(h_types, types, (size_t)T * sizeof *types);
    else memset(h_types, 0, (size_t)T * sizeof *h_types);
    memcpy(h_cu, cu, (size_t)(B + 1) * sizeof *cu);
    e = cudaMemcpyAsync(d_ids, h_ids, n_in * sizeof *h_ids, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaEventRecord(c->staged, c->stream);
    if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "begin_batch: copy"));
    *io = sutra_batch_io{d_ids, pos ? d_pos : nullptr, d_types, d_cu};
    return SUTRA_OK;
}


static sutra_status cuda_download(sutra_backend *be, float *host, const void *src, size_t n) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return take_error(c, c->st);
    cudaSetDevice(c->device);
    if (c->capturing) return take_error(c, fail(c, SUTRA_ERR_INTERNAL, "download called inside run()"));
    if (n == 0) return SUTRA_OK;
    if (!host || !src) return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "download: NULL pointer"));
    if (n > c->dl_floats) {
        dev_free(c, (void **)&c->d_dl, c->dl_floats * sizeof(float));
        c->dl_floats = 0;
        if (dev_alloc(c, (void **)&c->d_dl, n * sizeof(float), "the download buffer") != SUTRA_OK)
            return take_error(c, c->st);
        c->dl_floats = n;
    }
    if (note(c, sutra_cuda_convert_to_f32(c->d_dl, src, n, c->dt, c->stream)) != SUTRA_OK) return take_error(c, c->st);
    cudaError_t e = cudaMemcpyAsync(host, c->d_dl, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "download"));
    return SUTRA_OK;
}

/* Makes the standard-attention workspace hold all heads of this batch when that fits under
 * the limit, else as many heads as fit (at least one). Outside capture only. */
sutra_status grow_attn_workspace(cuda_ctx *c, size_t need_one, size_t need_all) {
    size_t want = need_all <= c->attn_ws_limit ? need_all : c->attn_ws_limit / need_one * need_one;
    if (want < need_one) want = need_one;
    if (want <= c->attn_ws_bytes) return SUTRA_OK;
    const cudaError_t e = cudaStreamSynchronize(c->stream); /* earlier layers may still read the old one */
    if (e != cudaSuccess) return cuda_fail(c, e, "attention workspace");
    drop_graphs(c);
    dev_free(c, &c->attn_ws, c->attn_ws_bytes);
    c->attn_ws_bytes = 0;
    if (dev_alloc(c, &c->attn_ws, want, "the standard-attention workspace") != SUTRA_OK) {
        if (want == need_one) return c->st;
        c->st = SUTRA_OK; /* try once more with one head's share */
        if (dev_alloc(c, &c->attn_ws, need_one, "the standard-attention workspace") != SUTRA_OK) return c->st;
        want = need_one;
    }
    c->attn_ws_bytes = want;
    return SUTRA_OK;
}

sutra_status ensure_pool_buffers(cuda_ctx *c, int B, int C) {
    const size_t out_floats = (size_t)B * C, ws_floats = sutra_cuda_pool_workspace_floats(B, C);
    if (out_floats > c->pool_floats) {
        dev_free(c, (void **)&c->d_pool, c->pool_floats * sizeof(float));
        cudaFreeHost(c->h_pool);
        c->h_pool = nullptr;
        c->pool_floats = 0;
        sutra_status st = dev_alloc(c, (void **)&c->d_pool, out_floats * sizeof(float), "the pooled vectors");
        if (st != SUTRA_OK) return st;
        const cudaError_t e = cudaMallocHost((void **)&c->h_pool, out_floats * sizeof(float));
        if (e != cudaSuccess) {
            c->h_pool = nullptr;
            dev_free(c, (void **)&c->d_pool, out_floats * sizeof(float));
            return cuda_fail(c, e, "pinned pooling buffer");
        }
        c->pool_floats = out_floats;
    }
    if (ws_floats > c->pool_ws_floats) {
        dev_free(c, (void **)&c->d_pool_ws, c->pool_ws_floats * sizeof(float));
        c->pool_ws_floats = 0;
        sutra_status st = dev_alloc(c, (void **)&c->d_pool_ws, ws_floats * sizeof(float), "the pooling workspace");
        if (st != SUTRA_OK) return st;
        c->pool_ws_floats = ws_floats;
    }
    return SUTRA_OK;
}

static void *cuda_arena_alloc(sutra_backend *be, size_t bytes) {
    cuda_ctx *c = ctx_of(be);
    const size_t need = round_up(bytes, ALIGN);
    if (need > c->arena_cap - c->arena_used) return nullptr;
    void *p = c->arena + c->arena_used;
    c->arena_used += need;
    return p;
}

static void cuda_arena_reset(sutra_backend *be) { ctx_of(be)->arena_used = 0; }

static sutra_status cuda_reserve(sutra_backend *be, size_t arena_bytes, int std_max_seqlen, int head_dim, char *err,
                                 size_t errcap) {
    cuda_ctx *c = ctx_of(be);
    if (c->reserved || std_max_seqlen < 0 || head_dim < 1) {
        snprintf(err, errcap, "cuda backend: reserve twice, or std_max_seqlen %d, head_dim %d", std_max_seqlen,
                 head_dim);
        return SUTRA_ERR_INVALID_ARGUMENT;
    }
    cudaSetDevice(c->device);
    c->reserved = 1;
    c->std_max_seqlen = std_max_seqlen;
    c->head_dim = head_dim;
    c->arena_cap = round_up(arena_bytes ? arena_bytes : 1, ALIGN);
    dev_alloc(c, (void **)&c->arena, c->arena_cap, "the activation arena");
    /* batch inputs for the tokens the arena can hold at 4 KB per token (any model of hidden size
     * 256 or more needs at least that); a larger batch grows them */
    if (c->st == SUTRA_OK)
        ensure_batch_buffers(c, (int)(arena_bytes / 4096 < (1u << 30) ? arena_bytes / 4096 + 1 : 1u << 30), 1024);
    if (c->st == SUTRA_OK && std_max_seqlen > 0) {
        const size_t first = sutra_cuda_standard_attention_workspace(1, STD_WS_FIRST_HEADS, std_max_seqlen);
        if (first && first <= c->attn_ws_limit &&
            dev_alloc(c, &c->attn_ws, first, "the standard-attention workspace") == SUTRA_OK)
            c->attn_ws_bytes = first;
    }
    if (c->st != SUTRA_OK) {
        snprintf(err, errcap, "%s", c->msg);
        return take_error(c, c->st);
    }
    return SUTRA_OK;
}

void free_memory(cuda_ctx *c) {
    cudaFree(c->gemm_ws);
    cudaFree(c->wslab);
    cudaFree(c->arena);
    cudaFree(c->stage_dev);
    cudaFreeHost(c->stage_host);
    cudaFree(c->d_in);
    cudaFreeHost(c->h_in);
    cudaFree(c->attn_ws);
    cudaFree(c->d_pool);
    cudaFree(c->d_pool_ws);
    cudaFree(c->d_dl);
    cudaFreeHost(c->h_pool);
}

void install_memory_ops(sutra_backend *be) {
    be->reserve = cuda_reserve;
    be->weights_reserve = cuda_weights_reserve;
    be->weights_upload = cuda_weights_upload;
    be->begin_batch = cuda_begin_batch;
    be->arena_alloc = cuda_arena_alloc;
    be->arena_reset = cuda_arena_reset;
    be->download = cuda_download;
}

} // namespace sutra_cudabe
