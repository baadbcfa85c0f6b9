/*
 * attention.c - the CPU attention dispatcher and the standard (materialised-scores) path.
 *
 * The standard path computes, per (sequence, head), S = scale * Q K^T as one (n x n) matrix with
 * OpenBLAS, a masked row softmax (window, causal), then O = P V with OpenBLAS. A query head reads
 * the key/value head of its group (grouped-query attention) in place. (sequence, head) pairs are
 * the items of the backend's pool (OpenBLAS single-threaded inside them: sutra_pool_run_blas);
 * each thread owns one max_seqlen^2 slice of the workspace, so the path's
 * memory grows with the square of the longest sequence: the engine only picks it below the
 * flash threshold. The flash path lives in attention_flash.c.
 */
#include "backend/cpu/attention.h"

#include <cblas.h>
#include <limits.h>
#include <stdint.h>

#include "backend/cpu/attention_flash.h"
#include "backend/cpu/elementwise.h"

size_t sutra_cpu_attention_workspace(sutra_attn_path path, int max_seqlen, int head_dim, int threads) {
    if (max_seqlen <= 0 || threads <= 0) return 0;
    if (path == SUTRA_ATTN_FLASH) return sutra_cpu_flash_workspace(head_dim, threads);
    return (size_t)threads * (size_t)max_seqlen * (size_t)max_seqlen * sizeof(float);
}

/* Checks what every path relies on, so that a bad call touches nothing. */
static int params_valid(const sutra_attn_params *p) {
    if (!p || !p->q || !p->k || !p->v || !p->out || !p->cu_seqlens) return 0;
    if (p->batch <= 0 || p->heads <= 0 || p->head_dim <= 0 || p->max_seqlen <= 0) return 0;
    const int kvh = p->kv_heads ? p->kv_heads : p->heads;
    if (kvh < 1 || p->heads % kvh) return 0;
    const int64_t row = (int64_t)p->heads * p->head_dim, kvrow = (int64_t)kvh * p->head_dim;
    if (p->q_stride < row || p->k_stride < kvrow || p->v_stride < kvrow || p->o_stride < row) return 0;
    if (p->cu_seqlens[0] != 0) return 0;
    for (int b = 0; b < p->batch; b++) {
        int n = p->cu_seqlens[b + 1] - p->cu_seqlens[b];
        if (n <= 0 || n > p->max_seqlen) return 0;
    }
    return !(p->scale != p->scale);
}

static void standard_one(const sutra_attn_params *p, int b, int h, float *S, sutra_cpu_isa isa) {
    const int D = p->head_dim;
    const int s0 = p->cu_seqlens[b], n = p->cu_seqlens[b + 1] - s0;
    const float *q = (const float *)p->q + (size_t)s0 * p->q_stride + (size_t)h * D;
    const int kvh = h / (p->heads / (p->kv_heads ? p->kv_heads : p->heads)); /* its key/value head */
    const float *k = (const float *)p->k + (size_t)s0 * p->k_stride + (size_t)kvh * D;
    const float *v = (const float *)p->v + (size_t)s0 * p->v_stride + (size_t)kvh * D;
    const int wr = p->causal ? 0 : p->window_right; /* causal: keys up to the query's own position */
    float *o = (float *)p->out + (size_t)s0 * p->o_stride + (size_t)h * D;

    /* S (n,n) = scale * log2(e) * q (n,D) @ k (n,D)^T, so that the softmax can use exp2 */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, D, p->scale * 1.44269504088896341f, q,
                (int)p->q_stride, k, (int)p->k_stride, 0.0f, S, n);
    for (int i = 0; i < n; i++) {
        int lo = 0, hi = n; /* visible keys [lo, hi) */
        if (p->window_left >= 0 && i - p->window_left > lo) lo = i - p->window_left;
        if (wr >= 0 && i + wr + 1 < hi) hi = i + wr + 1;
        if (p->rel_bias) { /* the row of offset j - i, in the same log2 units */
            const float *rb = (const float *)p->rel_bias + (int64_t)(p->rel_span - 1 - i) * p->rel_stride + h;
            float *si = S + (size_t)i * n;
            for (int j = lo; j < hi; j++) si[j] += 1.44269504088896341f * rb[(int64_t)j * p->rel_stride];
        }
        sutra_softmax2_row(S + (size_t)i * n, lo, hi, n, isa);
    }
    /* o (n,D) = P (n,n) @ v (n,D) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, n, 1.0f, S, n, v, (int)p->v_stride, 0.0f, o,
                (int)p->o_stride);
}

typedef struct standard_job {
    const sutra_attn_params *p;
    float *ws;
    size_t slice;
    sutra_cpu_isa isa;
} standard_job;

static void standard_item(void *arg, int bh, int worker) {
    const standard_job *j = arg;
    standard_one(j->p, bh / j->p->heads, bh % j->p->heads, j->ws + (size_t)worker * j->slice, j->isa);
}

sutra_status sutra_cpu_attention(const sutra_attn_params *p, sutra_attn_path path, sutra_pool *pool, void *workspace,
                                 size_t workspace_bytes, sutra_cpu_isa isa) {
    if (!params_valid(p) || !pool) return SUTRA_ERR_INVALID_ARGUMENT;
    const int threads = sutra_pool_threads(pool);
    if ((p->rel_span > 0) != (p->rel_bias != NULL) || (p->rel_span && p->max_seqlen > p->rel_span))
        return SUTRA_ERR_INVALID_ARGUMENT; /* a table, and one that reaches every offset */
    if (workspace_bytes < sutra_cpu_attention_workspace(path, p->max_seqlen, p->head_dim, threads) || !workspace)
        return SUTRA_ERR_INVALID_ARGUMENT;
    if (path == SUTRA_ATTN_FLASH) return sutra_cpu_flash_attention(p, pool, workspace, workspace_bytes, isa);
    if ((int64_t)p->batch * p->heads > INT_MAX) return SUTRA_ERR_INVALID_ARGUMENT;
    standard_job j = {p, workspace, (size_t)p->max_seqlen * p->max_seqlen, isa};
    sutra_pool_run_blas(pool, p->batch * p->heads, standard_item, &j);
    return SUTRA_OK;
}
