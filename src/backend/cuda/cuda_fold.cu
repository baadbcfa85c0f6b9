/*
 * cuda_fold.cu - the CUDA backend's own way of running post-norm nets at large batches (the
 * backend.h hooks prepare and layers): every LayerNorm folded into the matrix products around it.
 *
 * A post-norm net (BERT, XLM-R) normalises its residual stream after each block. Here the stream
 * stays un-normalised: per row z = y * g (y the residual sum, g the weight of the LayerNorm after
 * it) plus fp32 statistics of y, so that LN(y) = r (z - mu g) + b (cuda_ops.h). The product that
 * reads the stream takes the LayerNorm in its epilogue as r (acc - mu s) + c with s = W g and
 * c = W b + bias; the product that closes a residual block adds LN(y_prev) from z_prev in its
 * epilogue and leaves per-tile row sums and sums of squares of its output (a small kernel
 * finishes mean and 1/std). The stream alternates between proj (after the attention block,
 * stats[0]) and x (after the FFN, stats[1]); layer 0 reads the normalised embeddings (no
 * statistics); one LayerNorm pass remains, at the end. The vectors s, c and the combined biases
 * are computed once, at prepare, in float64 from the fp32 weights.
 *
 * Where: sm_90 with CUTLASS (the products take the statistics in their epilogues; the kernels'
 * cuBLASLt fallback passes were slower than no folding), the exact GELU (the folded epilogues
 * fuse only it; with cuBLASLt's tanh epilogue and a folding pass bert-base 64 x 512 took 17.0 ms
 * against 13.1 unfolded), and batches of at least FOLD_MIN_TOKENS tokens
 * (bench/results/h100-ln-fold-2026-12-06.txt: bert-base 64 x 512 1.5-3.3% faster on H100s,
 * MiniLM 1024 x 32 4.5-5.5%; batch 1 up to 30% slower, level at 8192). Other nets and batches:
 * SUTRA_DECLINED, and the shared forward runs them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_ctx.h"

namespace sutra_cudabe {

constexpr int FOLD_MIN_TOKENS = 16384;

/* 1 if every block of the net is what the folded layers compute: post-norm LayerNorms after
 * both blocks and none elsewhere, a plain FFN with the exact GELU, no rotary, a normalised
 * embedding, no final norm. */
static int foldable(const sutra_net *net) {
    const sutra_net_shape *s = net->shape;
    if (!s->post_norm || s->norm != SUTRA_NORM_LAYER || s->gated || s->act != SUTRA_ACT_GELU || !net->emb_norm.w ||
        net->final_norm.w || s->Hkv != s->H)
        return 0;
    for (int l = 0; l < s->L; l++) {
        const sutra_layer *L = &net->layers[l];
        if (s->rope_theta[l] > 0 || L->attn_in.w || L->ffn_in.w || L->attn_out.w || L->ffn_out.w || L->q_norm.w ||
            L->k_norm.w || !L->attn_post.w || !L->ffn_post.w)
            return 0;
    }
    return 1;
}

/* s (N) = W g and c (N) = W b + bias, for W (N, K), in float64; g NULL: ones, b NULL: zeros. */
static void fold_matrix(float *s, float *c, const float *W, const float *bias, const float *g, const float *b, int N,
                        int K) {
    for (int n = 0; n < N; n++) {
        const float *w = W + (size_t)n * K;
        double ss = 0, cc = 0;
        for (int k = 0; k < K; k++) {
            ss += (double)w[k] * (g ? g[k] : 1.0);
            cc += b ? (double)w[k] * b[k] : 0.0;
        }
        s[n] = (float)ss;
        c[n] = (float)(cc + (bias ? bias[n] : 0.0));
    }
}

/* out (n) = x + y (either NULL: zeros) */
static void add_vec(float *out, const float *x, const float *y, int n) {
    for (int i = 0; i < n; i++) out[i] = (x ? x[i] : 0.f) + (y ? y[i] : 0.f);
}

void fold_free(cuda_ctx *c) {
    if (c->fold_mem) dev_free(c, &c->fold_mem, c->fold_bytes);
    free(c->fold);
    c->fold = nullptr;
    c->fold_tokens = 0;
    c->fold_note[0] = '\0';
}

sutra_status fold_prepare(sutra_backend *be, const sutra_net *host, int max_tokens, size_t *arena_extra, char *err,
                          size_t errcap) {
    cuda_ctx *c = ctx_of(be);
    const sutra_net_shape *s = host->shape;
    *arena_extra = 0;
    fold_free(c);
    const int from = c->opt.fold_min_tokens > 0 ? c->opt.fold_min_tokens : FOLD_MIN_TOKENS;
    if (!c->opt.fold || !sutra_cuda_gemm_uses_cutlass(c->gemm) || !foldable(host)) return SUTRA_OK;
    if (max_tokens < from) { /* no batch here is that large: nothing to prepare */
        snprintf(c->fold_note, sizeof c->fold_note, "off here (batches of at most %d tokens; it starts at %d)",
                 max_tokens, from);
        return SUTRA_OK;
    }
    cudaSetDevice(c->device);
    const int C = s->C, F = s->F, QKV = sutra_net_qkv(s);
    const int sizes[6] = {QKV, QKV, C, F, F, C}; /* the fold_layer vectors, in order */
    size_t per_layer = 0, floats = 0;
    for (int i = 0; i < 6; i++) {
        per_layer += round_up((size_t)sizes[i] * 2, ALIGN);
        floats = floats > (size_t)sizes[i] ? floats : (size_t)sizes[i];
    }
    c->fold = (fold_layer *)calloc((size_t)s->L, sizeof *c->fold);
    float *v = (float *)malloc(6 * floats * sizeof(float));
    if (!c->fold || !v) {
        free(v);
        fold_free(c);
        snprintf(err, errcap, "cuda backend: out of host memory for the LayerNorm-folding vectors");
        return SUTRA_ERR_OUT_OF_MEMORY;
    }
    c->fold_bytes = per_layer * (size_t)s->L;
    sutra_status st = dev_alloc(c, &c->fold_mem, c->fold_bytes, "the LayerNorm-folding vectors");
    char *dst = (char *)c->fold_mem;
    for (int l = 0; l < s->L && st == SUTRA_OK; l++) {
        const sutra_layer *L = &host->layers[l];
        const float *g_prev = l ? (const float *)host->layers[l - 1].ffn_post.w : nullptr;
        const float *b_prev = l ? (const float *)host->layers[l - 1].ffn_post.b : nullptr;
        float *h[6];
        for (int i = 0; i < 6; i++) h[i] = v + (size_t)i * floats;
        fold_matrix(h[0], h[1], (const float *)L->qkv.w, (const float *)L->qkv.b, g_prev, b_prev, QKV, C);
        add_vec(h[2], (const float *)L->o.b, b_prev, C);
        fold_matrix(h[3], h[4], (const float *)L->up.w, (const float *)L->up.b, (const float *)L->attn_post.w,
                    (const float *)L->attn_post.b, F, C);
        add_vec(h[5], (const float *)L->down.b, (const float *)L->attn_post.b, C);
        const void *d[6];
        for (int i = 0; i < 6 && st == SUTRA_OK; i++) {
            d[i] = dst;
            st = upload_converted(c, dst, h[i], (size_t)sizes[i]);
            dst += round_up((size_t)sizes[i] * 2, ALIGN);
        }
        c->fold[l] = fold_layer{d[0], d[1], d[2], d[3], d[4], d[5]};
    }
    free(v);
    if (st != SUTRA_OK) {
        snprintf(err, errcap, "%s", c->msg);
        fold_free(c);
        return take_error(c, st);
    }
    c->fold_tokens = from;
    *arena_extra = 2 * (SUTRA_LN_STATS_FLOATS(max_tokens, C) * sizeof(float) + ALIGN);
    return SUTRA_OK;
}

/* One folded forward's buffers and the call, for run_graph(). */
struct fold_pass {
    sutra_backend *be;
    const sutra_layers_call *call;
    void *x, *qkv, *attn, *proj, *ffn; /* (T,C), (T,QKV), (T,C), (T,C), (T,F) */
    float *stats[2];                   /* the statistics of proj and of x */
};

static sutra_status fold_run(void *arg) {
    fold_pass *p = (fold_pass *)arg;
    sutra_backend *be = p->be;
    cuda_ctx *c = ctx_of(be);
    const sutra_layers_call *call = p->call;
    const sutra_net *net = call->net;
    const sutra_net_shape *s = net->shape;
    const int T = call->T, C = s->C, F = s->F, Q = sutra_net_q(s), QKV = sutra_net_qkv(s);
    const size_t ab = be->act_bytes;
    be->embed(be, p->x, call->io->ids, call->io->pos, call->io->types, net->tok_emb, net->pos_emb, net->type_emb, &net->emb_norm, T, C);
    sutra_attn_params ap = *call->attn;
    ap.q = p->qkv;
    ap.k = (char *)p->qkv + (size_t)Q * ab;
    ap.v = (char *)p->qkv + (size_t)(Q + s->Hkv * s->D) * ab;
    ap.out = p->attn;
    ap.q_stride = ap.k_stride = ap.v_stride = QKV;
    ap.o_stride = Q;
    const float *stats = nullptr; /* of x */
    const void *g = nullptr;      /* the weight x's LayerNorm has */
    for (int l = 0; l < s->L && c->st == SUTRA_OK; l++) {
        const sutra_layer *L = &net->layers[l];
        const fold_layer *V = &c->fold[l];
        note(c, sutra_cuda_matmul_ln(c->gemm, p->qkv, p->x, stats, L->qkv.w, V->qkv_s, V->qkv_c, T, QKV, C,
                                     SUTRA_ACT_NONE, c->stream));
        timer_mark(c, "matmul+LN-in N %d K %d", QKV, C);
        ap.window_left = ap.window_right = s->window[l];
        const sutra_status st = be->attention(be, &ap, call->path);
        if (st) {
            snprintf(call->err, call->errcap, "layer %d: attention failed: %s", l, sutra_status_str(st));
            return st;
        }
        note(c, sutra_cuda_matmul_residual_ln(c->gemm, p->proj, p->stats[0], p->attn, L->o.w, V->attn_out_d, p->x,
                                              stats, g, L->attn_post.w, T, C, Q, L->attn_post.eps, c->stream));
        timer_mark(c, "matmul+res+LN-stats N %d K %d", C, Q);
        note(c, sutra_cuda_matmul_ln(c->gemm, p->ffn, p->proj, p->stats[0], L->up.w, V->ffn_up_s, V->ffn_up_c, T, F,
                                     C, s->act, c->stream));
        timer_mark(c, "matmul+LN-in N %d K %d gelu", F, C);
        note(c, sutra_cuda_matmul_residual_ln(c->gemm, p->x, p->stats[1], p->ffn, L->down.w, V->ffn_down_d, p->proj,
                                              p->stats[0], L->attn_post.w, L->ffn_post.w, T, C, F, L->ffn_post.eps,
                                              c->stream));
        timer_mark(c, "matmul+res+LN-stats N %d K %d", C, F);
        stats = p->stats[1];
        g = L->ffn_post.w;
    }
    const sutra_layer *last = &net->layers[s->L - 1]; /* a shape has at least one layer */
    if (c->st == SUTRA_OK) note(c, sutra_cuda_ln_apply(p->x, p->x, stats, last->ffn_post.w, last->ffn_post.b, T, C,
                                                       c->dt, c->stream));
    timer_mark(c, "LN apply");
    return SUTRA_OK;
}

sutra_status fold_layers(sutra_backend *be, const sutra_layers_call *call, const void **final) {
    cuda_ctx *c = ctx_of(be);
    if (!c->fold_tokens || call->T < c->fold_tokens) return SUTRA_DECLINED;
    const sutra_net_shape *s = call->net->shape;
    const size_t T = (size_t)call->T, C = (size_t)s->C, ab = be->act_bytes;
    fold_pass p = {be, call, nullptr, nullptr, nullptr, nullptr, nullptr, {nullptr, nullptr}};
    be->arena_reset(be);
    p.x = be->arena_alloc(be, T * C * ab);
    p.qkv = be->arena_alloc(be, T * (size_t)sutra_net_qkv(s) * ab);
    p.attn = be->arena_alloc(be, T * (size_t)sutra_net_q(s) * ab);
    p.proj = be->arena_alloc(be, T * C * ab);
    p.ffn = be->arena_alloc(be, T * (size_t)s->F * ab);
    for (int i = 0; i < 2; i++) p.stats[i] = (float *)be->arena_alloc(be, SUTRA_LN_STATS_FLOATS(T, C) * sizeof(float));
    if (!p.x || !p.qkv || !p.attn || !p.proj || !p.ffn || !p.stats[0] || !p.stats[1]) {
        snprintf(call->err, call->errcap, "activation arena too small for %d tokens", call->T);
        return SUTRA_ERR_INTERNAL;
    }
    *final = p.x;
    return run_graph(be, call->key, fold_run, &p);
}

} // namespace sutra_cudabe
