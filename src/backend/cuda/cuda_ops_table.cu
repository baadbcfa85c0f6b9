/*
 * cuda_ops_table.cu - the CUDA backend's compute ops (backend.h): each checks the kept error,
 * forwards to its kernel's launcher (cuda_ops.h, the attention files) on the backend's stream,
 * keeps a failure, and marks its end for the op timer. supports() says which ops and shapes run.
 *
 * Attention runs the path it is given and no other: the decision (device.c) asked supports()
 * first, so a path that cannot run here is an error, not a silent change of path.
 */
#include <string.h>

#include "backend/cuda/attention_standard.h"
#include "backend/cuda/cuda_ctx.h"

namespace sutra_cudabe {

static const char *act_name(sutra_act act) {
    return act == SUTRA_ACT_GELU ? " gelu" : act == SUTRA_ACT_GELU_TANH ? " gelu-tanh" : "";
}

static int act_ok(sutra_act act) { /* in a product's epilogue */
    return act == SUTRA_ACT_NONE || act == SUTRA_ACT_GELU || act == SUTRA_ACT_GELU_TANH;
}

static int glu_ok(sutra_act act) { return act_ok(act) || act == SUTRA_ACT_SILU; }

static int cuda_supports(const sutra_backend *be, const sutra_op_query *q) {
    const cuda_ctx *c = ctx_of(be);
    switch (q->op) {
    case SUTRA_OP_ATTENTION: {
        const sutra_attn_params *p = q->attn;
        if (!p) return 0; /* causal, grouped key/value heads and a relative position bias: both paths */
        if (q->path == SUTRA_ATTN_FLASH) return sutra_cuda_flash_supported(p->head_dim, c->cc_major, c->cc_minor);
        return p->head_dim >= 1 && p->head_dim <= 256 && (!c->reserved || c->std_max_seqlen > 0);
    }
    case SUTRA_OP_NORM: return q->norm == SUTRA_NORM_LAYER || q->norm == SUTRA_NORM_RMS;
    case SUTRA_OP_HEAD_NORM: return q->norm == SUTRA_NORM_RMS && q->head_dim >= 1 && q->head_dim <= 256;
    case SUTRA_OP_ROPE: return q->head_dim >= 2 && q->head_dim % 2 == 0 && q->head_dim <= 256; /* the kernel's table */
    case SUTRA_OP_GLU: return glu_ok(q->act);
    case SUTRA_OP_ACT: return act_ok(q->act);
    case SUTRA_OP_EMBED_PLAIN: return 1;
    default: return 0; /* per-head projections, residual adds without a norm */
    }
}

static int known_norm(cuda_ctx *c, const sutra_norm *n, const char *who) {
    if (n && n->w && (n->kind == SUTRA_NORM_LAYER || n->kind == SUTRA_NORM_RMS)) return 1;
    fail(c, SUTRA_ERR_UNSUPPORTED, "%s: the CUDA backend runs LayerNorms and RMSNorms only", who);
    return 0;
}

static void cuda_embed(sutra_backend *be, void *out, const int32_t *ids, const int32_t *pos, const int32_t *types,
                       const void *tok, const void *pos_tab, const void *type_tab, const sutra_norm *norm, int T, int C) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    if (!norm && !pos_tab && !type_tab) { /* decoders: the token's row alone */
        note(c, sutra_cuda_embed_rows(out, ids, tok, T, C, c->dt, c->stream));
        timer_mark(c, "embed");
        return;
    }
    if (!norm || norm->kind != SUTRA_NORM_LAYER) {
        fail(c, SUTRA_ERR_UNSUPPORTED, "embed: the CUDA backend adds position or type rows only before a LayerNorm");
        return;
    }
    note(c, sutra_cuda_embed_layernorm(out, ids, pos, types, tok, pos_tab, type_tab, norm->w, norm->b, T, C, norm->eps, c->dt,
                                       c->stream));
    timer_mark(c, "embed+LN");
}

static void cuda_matmul(sutra_backend *be, void *out, const void *inp, const void *w, const void *bias, int T, int N,
                        int K, sutra_act act) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_gemm_run(c->gemm, out, inp, w, bias, T, N, K, act, c->stream));
    timer_mark(c, "matmul N %d K %d%s", N, K, act_name(act));
}

static void cuda_add_norm(sutra_backend *be, void *sum, void *out, const void *a, const void *b, const sutra_norm *norm,
                          int T, int C) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK || !known_norm(c, norm, "add_norm")) return;
    if (!out) {
        fail(c, SUTRA_ERR_UNSUPPORTED, "add_norm: a residual add without a norm has no CUDA kernel");
        return;
    }
    if (norm->kind == SUTRA_NORM_RMS) {
        note(c, sutra_cuda_add_rmsnorm(out, sum, a, b, norm->w, T, C, norm->eps, c->dt, c->stream));
        timer_mark(c, sum ? "residual+RMS" : b ? "add+RMS" : "RMS");
        return;
    }
    note(c, sutra_cuda_add_layernorm(out, sum, a, b, norm->w, norm->b, T, C, norm->eps, c->dt, c->stream));
    timer_mark(c, sum ? "residual+LN" : b ? "add+LN" : "LN");
}

static void cuda_head_norm(sutra_backend *be, void *x, int64_t stride, int T, int heads, int D, const sutra_norm *norm) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    if (!norm || !norm->w || norm->kind != SUTRA_NORM_RMS) {
        fail(c, SUTRA_ERR_UNSUPPORTED, "head_norm: the CUDA backend runs per-head RMSNorms only");
        return;
    }
    note(c, sutra_cuda_head_rmsnorm(x, stride, T, heads, D, norm->w, norm->eps, c->dt, c->stream));
    timer_mark(c, "head RMS");
}

static void cuda_rope(sutra_backend *be, void *x, int64_t stride, const int32_t *pos, int T, int heads, int D,
                      float theta) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_rope(x, stride, pos, T, heads, D, theta, c->dt, c->stream));
    timer_mark(c, "rope");
}

static void cuda_glu(sutra_backend *be, void *out, const void *inp, int T, int F, sutra_act act) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_glu(out, inp, T, F, act, c->dt, c->stream));
    timer_mark(c, "glu");
}

static sutra_status attention_op(cuda_ctx *c, const sutra_attn_params *p, sutra_attn_path path) {
    if (c->st != SUTRA_OK) return c->st;
    if (!p) return fail(c, SUTRA_ERR_INVALID_ARGUMENT, "attention: NULL params");
    if (path == SUTRA_ATTN_FLASH) return note(c, sutra_cuda_flash_attention_on(p, c->dt, &c->flash, c->stream));
    if (c->std_max_seqlen == 0)
        return fail(c, SUTRA_ERR_UNSUPPORTED, "attention: the standard path was not reserved for this backend");
    const size_t need_one = sutra_cuda_standard_attention_workspace(p->batch, 1, p->max_seqlen);
    const size_t need_all = sutra_cuda_standard_attention_workspace(p->batch, p->heads, p->max_seqlen);
    if (need_one == 0 || need_all == 0) {
        if (p->batch == 0 || p->max_seqlen == 0) return SUTRA_OK;
        return fail(c, SUTRA_ERR_INVALID_ARGUMENT, "attention: workspace size overflows (B %d, N %d, H %d)", p->batch,
                    p->max_seqlen, p->heads);
    }
    if (c->attn_ws_bytes < need_all && c->attn_ws_bytes < c->attn_ws_limit) {
        if (!c->capturing) {
            const sutra_status st = grow_attn_workspace(c, need_one, need_all);
            if (st != SUTRA_OK) return st;
        } else if (c->attn_ws_bytes < need_one) { /* cannot allocate now; the eager run will */
            return fail(c, SUTRA_ERR_BUFFER_TOO_SMALL, "attention: workspace too small during capture");
        }
    }
    return note(c, sutra_cuda_standard_attention(p, c->dt, c->attn_ws, c->attn_ws_bytes, c->stream));
}

static sutra_status cuda_attention(sutra_backend *be, const sutra_attn_params *p, sutra_attn_path path) {
    cuda_ctx *c = ctx_of(be);
    const sutra_status st = attention_op(c, p, path);
    if (p) timer_mark(c, "attention %s d %d", path == SUTRA_ATTN_FLASH ? "flash" : "standard", p->head_dim);
    return st;
}

static sutra_status cuda_pool(sutra_backend *be, float *out, const void *inp, const int32_t *cu, const int32_t *host_cu,
                              int B, int C, sutra_pooling mode) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return take_error(c, c->st);
    cudaSetDevice(c->device);
    if (c->capturing) return take_error(c, fail(c, SUTRA_ERR_INTERNAL, "pool called inside run()"));
    if (B < 0 || C < 1 || !out || !host_cu)
        return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "pool: B %d, C %d, or a NULL pointer", B, C));
    if (B == 0) return SUTRA_OK;
    int max_len = 0;
    for (int b = 0; b < B; b++)
        if (host_cu[b + 1] - host_cu[b] > max_len) max_len = host_cu[b + 1] - host_cu[b];
    if (mode == SUTRA_POOLING_MODEL) mode = SUTRA_POOLING_MEAN; /* as the CPU backend's default */
    sutra_status st = ensure_pool_buffers(c, B, C);
    if (st != SUTRA_OK) return take_error(c, st);
    st = note(c, sutra_cuda_pool(c->d_pool, inp, cu, B, C, max_len, mode, c->d_pool_ws, c->pool_ws_floats, c->dt,
                                 c->stream));
    if (st != SUTRA_OK) return take_error(c, st);
    const size_t bytes = (size_t)B * C * sizeof(float);
    cudaError_t e = cudaMemcpyAsync(c->h_pool, c->d_pool, bytes, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "pool: waiting for the forward pass"));
    memcpy(out, c->h_pool, bytes);
    return take_error(c, SUTRA_OK);
}

void install_compute_ops(sutra_backend *be) {
    be->supports = cuda_supports;
    be->embed = cuda_embed;
    be->matmul = cuda_matmul;
    be->add_norm = cuda_add_norm;
    be->rope = cuda_rope;
    be->head_norm = cuda_head_norm;
    be->glu = cuda_glu;
    be->attention = cuda_attention;
    be->pool = cuda_pool;
}

} // namespace sutra_cudabe
