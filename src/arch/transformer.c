/*
 * transformer.c - the one forward pass (transformer.h) over the ops of backend.h.
 *
 * Shapes: T tokens packed, C hidden, H heads (Hkv key/value heads), D head dim, Q = H*D, QKV =
 * (H + 2 Hkv) D, U the up projection's width (F, or 2F when gated), L layers. The layer is the
 * one net.h describes; every optional norm, rotary, per-head norm and gate is a value in the net.
 *
 * Residual steps fuse the add with the norm that reads the sum (backend add_norm): post-norm
 * nets normalise the stream itself (x = post(x + o)); pre-norm nets keep x and write the next
 * block's input h = in(x) in the same pass, the last layer's being the final norm.
 *
 * Two layouts, the backend choosing per batch (backend.h layout):
 *  - all at once: every intermediate for all T tokens: x, h (pre-norm nets), qkv (T, QKV), the
 *    attention output (T, Q), proj (T, C), the FFN's up (T, U) and gate (T, F) outputs.
 *  - grouped: attention head group by head group, each group's queries projected into their
 *    columns of the attention output and overwritten there by the output, its keys and values
 *    in a scratch buffer after it; the output projection and residual step then run over chunks
 *    of rows, and the FFN over chunks whose temporaries take the attention output's memory once
 *    it has been read. That keeps x, h and the attention output (2C or 3C per token) plus one
 *    group's keys and values, instead of every intermediate, so that at long lengths the two
 *    attention paths differ in memory mainly by the standard path's scores.
 */
#include "arch/transformer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/common.h"

size_t sutra_transformer_arena_bytes(const sutra_net_shape *s, int max_tokens, size_t act_bytes) {
    const size_t T = (size_t)max_tokens, C = (size_t)s->C;
    const size_t h = s->post_norm && !s->final_norm ? 0 : C;
    const size_t per_token = C + h + (size_t)sutra_net_qkv(s) + (size_t)sutra_net_q(s) + C +
                             (size_t)sutra_net_up(s) + (s->gated ? (size_t)s->F : 0);
    return T * per_token * act_bytes + 8 * 256; /* each buffer rounded up by the arena */
}

sutra_attn_params sutra_transformer_attention_shape(const sutra_net_shape *s, int batch, int max_seqlen) {
    return (sutra_attn_params){
        .batch = batch, .max_seqlen = max_seqlen, .heads = s->H, .kv_heads = s->Hkv, .head_dim = s->D,
        .scale = s->attn_scale, .causal = s->causal, .window_left = -1, .window_right = -1,
        .rel_span = s->rel_span,
    };
}

static int has(const sutra_norm *n) { return n->w != NULL; }

sutra_status sutra_transformer_check(const sutra_net *net, const sutra_backend *be, char *err, size_t errcap) {
    const sutra_net_shape *s = net->shape;
    /* the shape's flags size the arena and pick the buffers; the bound norms must agree with them */
    int placed = has(&net->final_norm) == !!s->final_norm && has(&net->emb_norm) == !!s->emb_norm;
    for (int l = 0; l < s->L && placed; l++) {
        const sutra_layer *L = &net->layers[l];
        placed = s->post_norm ? !has(&L->attn_in) && !has(&L->ffn_in) : !has(&L->attn_post) && !has(&L->ffn_post);
    }
    if (!placed)
        return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "the family bound norms its shape does not place");
    int rope = 0, qk = 0, add = !s->post_norm && !has(&net->final_norm);
    for (int l = 0; l < s->L; l++) {
        const sutra_layer *L = &net->layers[l];
        rope |= s->rope_theta[l] > 0;
        qk |= has(&L->q_norm) || has(&L->k_norm);
        add |= !has(&L->attn_post) && !has(&L->ffn_in);                                   /* after attention */
        add |= !has(&L->ffn_post) && l + 1 < s->L && !has(&net->layers[l + 1].attn_in); /* after the FFN */
    }
    static const char *const norms[] = {"LayerNorm", "RMSNorm"};
    const struct {
        int need;
        sutra_op_query q;
        const char *what;
    } ops[] = {
        {1, {.op = SUTRA_OP_NORM, .norm = s->norm}, norms[s->norm]},
        {1, {.op = SUTRA_OP_ACT, .act = s->gated ? SUTRA_ACT_NONE : s->act}, "this activation in a product"},
        {qk, {.op = SUTRA_OP_HEAD_NORM, .norm = s->norm, .head_dim = s->D}, "per-head query/key norms"},
        {rope, {.op = SUTRA_OP_ROPE, .head_dim = s->D}, "rotary embeddings at this head dim"},
        {s->gated, {.op = SUTRA_OP_GLU, .act = s->act}, "gated units with this activation"},
        {!has(&net->emb_norm), {.op = SUTRA_OP_EMBED_PLAIN}, "embeddings without a norm"},
        {add, {.op = SUTRA_OP_ADD}, "residual adds without a norm"},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (ops[i].need && !be->supports(be, &ops[i].q))
            return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "the %s backend cannot run %s", be->name, ops[i].what);
    return SUTRA_OK;
}

/* One forward's state: the net, the batch, the layout and the buffers. */
typedef struct fwd {
    const sutra_net *net;
    const sutra_net_shape *s;
    sutra_backend *be;
    const sutra_batch_io *io;
    int T;
    sutra_attn_path path;
    sutra_attn_params ap; /* the batch's attention; buffers set per call */
    int group;            /* heads per attention call; 0: one fused product for all heads */
    int chunk, ffn_chunk; /* rows per token-wise step, per FFN step */
    char *x, *h;          /* (T, C) the residual stream; the next block's normalised input or NULL */
    char *qkv;            /* (T, QKV), all-at-once layout */
    char *attn;           /* (T, Q); grouped: followed by work */
    char *work;           /* grouped: a group's keys and values, or a chunk's projection */
    char *proj, *up, *gate; /* all at once: (T, C), (T, U), (T, F) when gated */
    const void *final;
    char *err;
    size_t errcap;
} fwd;

/* Rows t of a (T, width) buffer. */
static char *rows(const fwd *f, char *buf, int t, int width) {
    return buf ? buf + (size_t)t * (size_t)width * f->be->act_bytes : NULL;
}

/* The norm that reads the stream after layer l's attention (which = 0) or FFN (which = 1) step:
 * the next block's input norm, or after the last layer the final norm of a pre-norm net. */
static const sutra_norm *next_in(const fwd *f, int l, int which) {
    if (which == 0) return &f->net->layers[l].ffn_in;
    if (l + 1 < f->s->L) return &f->net->layers[l + 1].attn_in;
    return f->s->post_norm ? NULL : &f->net->final_norm;
}

/* The residual step of layer l's block `which` over rows [t, t+n): o (n, C) is the block's
 * output, normalised in place first when the block has an output norm. */
static void residual(fwd *f, int l, int which, int t, int n, void *o) {
    const sutra_layer *L = &f->net->layers[l];
    sutra_backend *be = f->be;
    const int C = f->s->C;
    const sutra_norm *out = which ? &L->ffn_out : &L->attn_out, *post = which ? &L->ffn_post : &L->attn_post;
    const sutra_norm *nxt = next_in(f, l, which);
    char *x = rows(f, f->x, t, C), *h = rows(f, f->h, t, C);
    if (has(out)) be->add_norm(be, NULL, o, o, NULL, out, n, C);
    if (has(post)) {
        be->add_norm(be, NULL, x, o, x, post, n, C);
        if (nxt && has(nxt)) be->add_norm(be, NULL, h, x, NULL, nxt, n, C);
    } else if (nxt && has(nxt)) {
        be->add_norm(be, x, h, x, o, nxt, n, C);
    } else {
        be->add_norm(be, x, NULL, x, o, NULL, n, C);
    }
}

/* Per-head norms and rotary on heads [0, nq) of q (rows qs apart) and [0, nk) of k (ks apart). */
static void prepare_heads(fwd *f, int l, void *q, int64_t qs, int nq, void *k, int64_t ks, int nk) {
    const sutra_layer *L = &f->net->layers[l];
    sutra_backend *be = f->be;
    const int T = f->T, D = f->s->D;
    const float theta = f->s->rope_theta[l];
    if (has(&L->q_norm)) be->head_norm(be, q, qs, T, nq, D, &L->q_norm);
    if (has(&L->k_norm)) be->head_norm(be, k, ks, T, nk, D, &L->k_norm);
    if (theta <= 0) return;
    if ((char *)k == (char *)q + (size_t)nq * D * be->act_bytes && ks == qs) {
        be->rope(be, q, qs, f->io->pos, T, nq + nk, D, theta); /* the fused buffer: one pass */
    } else {
        be->rope(be, q, qs, f->io->pos, T, nq, D, theta);
        be->rope(be, k, ks, f->io->pos, T, nk, D, theta);
    }
}

static sutra_status attend(fwd *f, int l, sutra_attn_params *ap) {
    const int w = f->s->window[l];
    ap->window_left = w;
    ap->window_right = f->s->causal ? -1 : w;
    sutra_status st = f->be->attention(f->be, ap, f->path);
    if (st) return sutra_errf(st, f->err, f->errcap, "layer %d: attention failed: %s", l, sutra_status_str(st));
    return SUTRA_OK;
}

/* Layer l's attention into f->attn (T, Q): one fused product, or head group by head group. */
static sutra_status attention_block(fwd *f, int l) {
    const sutra_net_shape *s = f->s;
    const sutra_layer *L = &f->net->layers[l];
    sutra_backend *be = f->be;
    const int T = f->T, C = s->C, H = s->H, Hkv = s->Hkv, D = s->D, Q = sutra_net_q(s), QKV = sutra_net_qkv(s);
    const size_t ab = be->act_bytes;
    const void *in = has(&L->attn_in) ? f->h : f->x;
    sutra_attn_params ap = f->ap;
    if (!f->group) {
        char *k = f->qkv + (size_t)Q * ab, *v = k + (size_t)Hkv * D * ab;
        be->matmul(be, f->qkv, in, L->qkv.w, L->qkv.b, T, QKV, C, SUTRA_ACT_NONE);
        prepare_heads(f, l, f->qkv, QKV, H, k, QKV, Hkv);
        ap.q = f->qkv, ap.k = k, ap.v = v, ap.out = f->attn;
        ap.q_stride = ap.k_stride = ap.v_stride = QKV;
        ap.o_stride = Q;
        return attend(f, l, &ap);
    }
    const int r = H / Hkv;
    for (int h0 = 0; h0 < H; h0 += f->group) {
        const int g = H - h0 < f->group ? H - h0 : f->group, kvw = g / r * D;
        char *q = f->attn + (size_t)h0 * D * ab; /* (T, g D), rows Q apart; becomes the output */
        char *k = f->work, *v = f->work + (size_t)T * kvw * ab;
        be->project_heads(be, q, Q, k, v, kvw, in, &L->qkv, T, C, D, H, Hkv, h0, g);
        prepare_heads(f, l, q, Q, g, k, kvw, g / r);
        ap.q = ap.out = q, ap.k = k, ap.v = v;
        ap.q_stride = ap.o_stride = Q;
        ap.k_stride = ap.v_stride = kvw;
        ap.heads = g;
        ap.kv_heads = g / r;
        if (f->net->rel_bias) ap.rel_bias = (const char *)f->net->rel_bias + (size_t)h0 * ab; /* the group's columns */
        sutra_status st = attend(f, l, &ap);
        if (st) return st;
    }
    return SUTRA_OK;
}

/* Layer l's output projection and residual step over rows [t, t+n); proj (n, C) is scratch. */
static void output_rows(fwd *f, int l, int t, int n, void *proj) {
    const sutra_layer *L = &f->net->layers[l];
    f->be->matmul(f->be, proj, rows(f, f->attn, t, sutra_net_q(f->s)), L->o.w, L->o.b, n, f->s->C,
                  sutra_net_q(f->s), SUTRA_ACT_NONE);
    residual(f, l, 0, t, n, proj);
}

/* Layer l's FFN and residual step over rows [t, t+n); up (n, U), gate (n, F) when gated and
 * down (n, C) are scratch. */
static void ffn_rows(fwd *f, int l, int t, int n, void *up, void *gate, void *down) {
    const sutra_net_shape *s = f->s;
    const sutra_layer *L = &f->net->layers[l];
    sutra_backend *be = f->be;
    const int C = s->C, F = s->F;
    const char *in = rows(f, has(&L->ffn_in) ? f->h : f->x, t, C);
    be->matmul(be, up, in, L->up.w, L->up.b, n, sutra_net_up(s), C, s->gated ? SUTRA_ACT_NONE : s->act);
    if (s->gated) be->glu(be, gate, up, n, F, s->act);
    be->matmul(be, down, s->gated ? gate : up, L->down.w, L->down.b, n, C, F, SUTRA_ACT_NONE);
    residual(f, l, 1, t, n, down);
}

static sutra_status layers(void *arg) {
    fwd *f = arg;
    const sutra_net *net = f->net;
    const sutra_net_shape *s = f->s;
    sutra_backend *be = f->be;
    const int T = f->T, C = s->C, F = s->F, U = sutra_net_up(s);
    const size_t ab = be->act_bytes;
    be->embed(be, f->x, f->io->ids, f->io->pos, f->io->types, net->tok_emb, net->pos_emb, net->type_emb,
              has(&net->emb_norm) ? &net->emb_norm : NULL, T, C);
    if (has(&net->layers[0].attn_in)) be->add_norm(be, NULL, f->h, f->x, NULL, &net->layers[0].attn_in, T, C);
    for (int l = 0; l < s->L; l++) {
        sutra_status st = attention_block(f, l);
        if (st) return st;
        if (!f->group) {
            output_rows(f, l, 0, T, f->proj);
            ffn_rows(f, l, 0, T, f->up, f->gate, f->proj);
            continue;
        }
        for (int t = 0; t < T; t += f->chunk)
            output_rows(f, l, t, T - t < f->chunk ? T - t : f->chunk, f->work);
        for (int t = 0; t < T; t += f->ffn_chunk) { /* up, gate and down where the attention output was */
            const int n = T - t < f->ffn_chunk ? T - t : f->ffn_chunk;
            char *up = f->attn, *gate = up + (size_t)n * U * ab;
            char *down = gate + (s->gated ? (size_t)n * F : 0) * ab;
            ffn_rows(f, l, t, n, up, gate, down);
        }
    }
    if (s->post_norm && has(&net->final_norm)) be->add_norm(be, NULL, f->h, f->x, NULL, &net->final_norm, T, C);
    return SUTRA_OK;
}

/* Splits T rows into the fewest chunks of at most `most` rows, all of nearly equal size, so that
 * no chunk is so small that the backend takes a different route for it. Returns the rows per
 * chunk. */
static int even_chunk(int T, int most) {
    int n = (T + most - 1) / most;
    return (T + n - 1) / n;
}

/* Carves the arena for the batch in the layout the backend asked for. */
static sutra_status plan(fwd *f, const sutra_batch *batch) {
    const sutra_net_shape *s = f->s;
    sutra_backend *be = f->be;
    const size_t T = (size_t)f->T, C = (size_t)s->C, ab = be->act_bytes, Q = (size_t)sutra_net_q(s);
    const int need_h = !s->post_norm || s->final_norm;
    sutra_layout lay = {0, 0, 0};
    if (be->layout && be->project_heads) be->layout(be, s, f->T, batch->max_seqlen, f->path, &lay);
    be->arena_reset(be);
    f->x = be->arena_alloc(be, T * C * ab);
    f->h = need_h ? be->arena_alloc(be, T * C * ab) : NULL;
    int ok = f->x && (f->h || !need_h);
    if (lay.head_group <= 0) {
        f->qkv = be->arena_alloc(be, T * (size_t)sutra_net_qkv(s) * ab);
        f->attn = be->arena_alloc(be, T * Q * ab);
        f->proj = be->arena_alloc(be, T * C * ab);
        f->up = be->arena_alloc(be, T * (size_t)sutra_net_up(s) * ab);
        f->gate = s->gated ? be->arena_alloc(be, T * (size_t)s->F * ab) : NULL;
        ok = ok && f->qkv && f->attn && f->proj && f->up && (f->gate || !s->gated);
    } else {
        /* groups cover whole key/value heads; the attention output is followed by work, which
         * holds one group's keys and values or a chunk's projection, and, once the attention
         * output has been read, the FFN's temporaries go where it was, spilling into work */
        const int r = s->H / s->Hkv;
        int g = (lay.head_group + r - 1) / r * r;
        f->group = g > s->H ? s->H : g;
        f->chunk = even_chunk(f->T, lay.row_chunk > 0 ? lay.row_chunk : f->T);
        const size_t kv = 2 * T * (size_t)(f->group / r) * (size_t)s->D, proj = (size_t)f->chunk * C;
        size_t work = kv > proj ? kv : proj;
        /* FFN chunks as long as fit where the attention output was (up to ffn_chunk rows), but
         * never shorter than the other chunks: work grows for short inputs instead */
        const size_t per_row = (size_t)sutra_net_up(s) + (s->gated ? (size_t)s->F : 0) + C;
        const size_t fit = (T * Q + work) / per_row;
        const int most_ffn = lay.ffn_chunk > f->chunk ? lay.ffn_chunk : f->chunk;
        const int most = fit > (size_t)most_ffn ? most_ffn : fit < (size_t)f->chunk ? f->chunk : (int)fit;
        f->ffn_chunk = even_chunk(f->T, most);
        const size_t ffn = (size_t)f->ffn_chunk * per_row;
        if (ffn > T * Q + work) work = ffn - T * Q;
        f->attn = be->arena_alloc(be, (T * Q + work) * ab);
        f->work = f->attn ? f->attn + T * Q * ab : NULL;
        ok = ok && f->attn;
    }
    if (!ok) return sutra_errf(SUTRA_ERR_INTERNAL, f->err, f->errcap, "activation arena too small for %d tokens", f->T);
    f->final = s->final_norm ? f->h : f->x; /* a final norm writes h (pre-norm: the last residual step) */
    return SUTRA_OK;
}

/* The key under which a backend may replay a forward: same tokens, sequences, longest sequence
 * and attention path mean the same layout and op sequence on the same buffers. */
static uint64_t shape_key(const sutra_batch *batch, sutra_attn_path path) {
    return (uint64_t)batch->T | (uint64_t)batch->B << 24 | (uint64_t)batch->max_seqlen << 44 | (uint64_t)path << 63;
}

sutra_status sutra_transformer_forward(const sutra_net *net, sutra_backend *be, const sutra_batch *batch,
                                       const sutra_batch_io *io, sutra_attn_path path, const void **final, char *err,
                                       size_t errcap) {
    const sutra_net_shape *s = net->shape;
    sutra_attn_params ap = sutra_transformer_attention_shape(s, batch->B, batch->max_seqlen);
    ap.cu_seqlens = io->cu_seqlens;
    ap.rel_bias = net->rel_bias;
    ap.rel_stride = s->H;
    const uint64_t key = shape_key(batch, path);
    if (be->layers) {
        const sutra_layers_call call = {.net = net, .io = io, .attn = &ap, .path = path, .T = batch->T, .key = key,
                                        .err = err, .errcap = errcap};
        if (err && errcap) err[0] = '\0';
        sutra_status st = be->layers(be, &call, final);
        if (st != SUTRA_DECLINED && st && err && errcap && !err[0])
            sutra_errf(st, err, errcap, "%s backend: %s", be->name, be->error && *be->error(be) ? be->error(be)
                                                                                                : sutra_status_str(st));
        if (st != SUTRA_DECLINED) return st;
    }
    fwd f = {.net = net, .s = s, .be = be, .io = io, .T = batch->T, .path = path, .ap = ap, .err = err,
             .errcap = errcap};
    sutra_status st = plan(&f, batch);
    if (st) return st;
    if (err && errcap) err[0] = '\0';
    st = be->run(be, key, layers, &f);
    *final = f.final;
    if (st && err && errcap && !err[0]) /* an op failed, not the forward: the backend's message */
        sutra_errf(st, err, errcap, "%s backend: %s", be->name, be->error && *be->error(be) ? be->error(be)
                                                                                            : sutra_status_str(st));
    return st;
}
