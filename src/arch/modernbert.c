/*
 * modernbert.c - the ModernBERT encoder (modernbert-embed, gte-modernbert).
 *
 * Shapes: T tokens packed, C hidden, H heads, D = C/H, F the GLU width, L layers.
 * Pre-norm blocks without biases (unless the config asks for them):
 *   h = attn_norm(x)            (layer 0: h = x; its attn_norm is the identity)
 *   x = x + Wo · attn(rope(Wqkv · h))        global layers: full attention, rope theta_global
 *                                           local layers: |i - j| <= local_attention/2, theta_local
 *   x = x + Wo2 · (gelu(Wi·h)[:F] * (Wi·h)[F:]) with h = mlp_norm(x)
 *   out = final_norm(x)
 * Each residual add is fused with the LayerNorm that follows it (residual_layernorm), so every
 * norm reads x once. Local layers go through the same attention op with a window.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/encoder.h"
#include "arch/weights.h"
#include "util/common.h"

typedef struct mb_layer {
    const void *attn_norm_w, *attn_norm_b; /* (C), layer 0: none */
    const void *wqkv, *wqkv_b;             /* (3C, C): query, key, value rows; bias (3C) or NULL */
    const void *wo, *wo_b;                 /* (C, C) */
    const void *mlp_norm_w, *mlp_norm_b;   /* (C) */
    const void *wi, *wi_b;                 /* (2F, C): rows [0,F) the input half, [F,2F) the gate */
    const void *wo2, *wo2_b;               /* (C, F) */
} mb_layer;

typedef struct mb_encoder {
    sutra_encoder base;
    const void *wte;                   /* (V, C) */
    const void *emb_norm_w, *emb_norm_b;
    const void *final_norm_w, *final_norm_b;
    mb_layer *layers;
    float *slab;
} mb_encoder;

/* One weight: where its pointer goes, its name (with %d for the layer) and shape. */
typedef struct mb_weight {
    const void **slot;
    char name[96];
    int ndim;
    int64_t shape[2];
} mb_weight;

static int list_weights(mb_encoder *e, mb_weight *w, int cap) {
    const sutra_model_config *c = &e->base.cfg;
    const int64_t C = c->hidden_size, F = c->intermediate_size;
    int n = 0;
#define ADD(ptr, nd, s0, s1, ...)                                                                                   \
    do {                                                                                                            \
        if (n < cap) {                                                                                              \
            w[n] = (mb_weight){.slot = &(ptr), .ndim = (nd), .shape = {(s0), (s1)}};                                \
            snprintf(w[n].name, sizeof w[n].name, __VA_ARGS__);                                                     \
        }                                                                                                           \
        n++;                                                                                                        \
    } while (0)
    ADD(e->wte, 2, c->vocab_size, C, "embeddings.tok_embeddings.weight");
    ADD(e->emb_norm_w, 1, C, 0, "embeddings.norm.weight");
    if (c->norm_bias) ADD(e->emb_norm_b, 1, C, 0, "embeddings.norm.bias");
    for (int l = 0; l < c->num_layers; l++) {
        mb_layer *L = &e->layers[l];
        if (l > 0) {
            ADD(L->attn_norm_w, 1, C, 0, "layers.%d.attn_norm.weight", l);
            if (c->norm_bias) ADD(L->attn_norm_b, 1, C, 0, "layers.%d.attn_norm.bias", l);
        }
        ADD(L->wqkv, 2, 3 * C, C, "layers.%d.attn.Wqkv.weight", l);
        if (c->attention_bias) ADD(L->wqkv_b, 1, 3 * C, 0, "layers.%d.attn.Wqkv.bias", l);
        ADD(L->wo, 2, C, C, "layers.%d.attn.Wo.weight", l);
        if (c->attention_bias) ADD(L->wo_b, 1, C, 0, "layers.%d.attn.Wo.bias", l);
        ADD(L->mlp_norm_w, 1, C, 0, "layers.%d.mlp_norm.weight", l);
        if (c->norm_bias) ADD(L->mlp_norm_b, 1, C, 0, "layers.%d.mlp_norm.bias", l);
        ADD(L->wi, 2, 2 * F, C, "layers.%d.mlp.Wi.weight", l);
        if (c->mlp_bias) ADD(L->wi_b, 1, 2 * F, 0, "layers.%d.mlp.Wi.bias", l);
        ADD(L->wo2, 2, C, F, "layers.%d.mlp.Wo.weight", l);
        if (c->mlp_bias) ADD(L->wo2_b, 1, C, 0, "layers.%d.mlp.Wo.bias", l);
    }
    ADD(e->final_norm_w, 1, C, 0, "final_norm.weight");
    if (c->norm_bias) ADD(e->final_norm_b, 1, C, 0, "final_norm.bias");
#undef ADD
    return n;
}

static void mb_destroy(sutra_encoder *base) {
    mb_encoder *e = (mb_encoder *)base;
    free(e->layers);
    free(e->slab);
    free(e);
}

static sutra_status mb_create(const sutra_model_config *cfg, const sutra_st_file *weights, sutra_backend *be,
                              sutra_encoder **out, char *err, size_t errcap) {
    const int D = cfg->hidden_size / cfg->num_heads;
    if (D > 256) return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "modernbert: head dim %d above 256", D);
    if (!be->rope || !be->glu || !be->residual_layernorm)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "modernbert: the %s backend lacks rotary, GLU or "
                          "pre-norm residual ops", be->name);
    mb_encoder *e = calloc(1, sizeof *e);
    if (!e) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    e->base.arch = &sutra_arch_modernbert;
    e->base.cfg = *cfg;
    e->layers = calloc((size_t)cfg->num_layers, sizeof *e->layers);
    int n = list_weights(e, NULL, 0);
    mb_weight *w = calloc((size_t)n, sizeof *w);
    if (!e->layers || !w) {
        free(w);
        mb_destroy(&e->base);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    }
    list_weights(e, w, n);
    const char *prefix = sutra_st_find(weights, "model.embeddings.tok_embeddings.weight") ? "model." : "";
    sutra_binder b = {.file = weights, .prefix = prefix, .err = err, .errcap = errcap};
    for (int pass = 0; pass < 2 && !b.failed; pass++) { /* count, then fill the slab */
        if (pass == 1) {
            e->slab = sutra_alloc64(b.slab_used * sizeof(float));
            if (!e->slab) b.failed = 1, sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory for weights");
            b.slab = e->slab;
            b.slab_used = 0;
        }
        for (int i = 0; i < n && !b.failed; i++) *w[i].slot = sutra_bind(&b, w[i].name, w[i].ndim, w[i].shape);
    }
    sutra_status st = b.failed ? SUTRA_ERR_MODEL : SUTRA_OK;
    if (!st) {
        e->base.dtype = b.dtype ? b.dtype : "F32";
        size_t total = 0;
        for (int i = 0; i < n; i++) total += (size_t)w[i].shape[0] * (size_t)(w[i].ndim == 2 ? w[i].shape[1] : 1);
        st = be->weights_reserve(be, total);
        if (st) sutra_errf(st, err, errcap, "%s backend: cannot reserve %zu weights", be->name, total);
        for (int i = 0; i < n && !st; i++) {
            size_t numel = (size_t)w[i].shape[0] * (size_t)(w[i].ndim == 2 ? w[i].shape[1] : 1);
            if (!(*w[i].slot = be->weights_upload(be, (const float *)*w[i].slot, numel)))
                st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s backend: weight upload failed", be->name);
        }
    }
    free(w);
    if (st) {
        mb_destroy(&e->base);
        return st;
    }
    *out = &e->base;
    return SUTRA_OK;
}

static size_t mb_arena_bytes(const sutra_model_config *cfg, int max_tokens, size_t act_bytes) {
    const size_t C = (size_t)cfg->hidden_size, F = (size_t)cfg->intermediate_size, T = (size_t)max_tokens;
    /* x, h, qkv, attn, proj, wi (2F), glu (F); each rounded up to 256 bytes by the arena */
    return T * (C + C + 3 * C + C + C + 2 * F + F) * act_bytes + 7 * 256;
}

typedef struct mb_pass {
    mb_encoder *e;
    sutra_backend *be;
    const sutra_batch_io *io;
    int T;
    sutra_attn_path path;
    void *x, *h, *qkv, *attn, *proj, *wi, *glu;
    sutra_attn_params ap;
    char *err;
    size_t errcap;
} mb_pass;

static sutra_status mb_layers(void *arg) {
    mb_pass *p = arg;
    const mb_encoder *e = p->e;
    const sutra_model_config *c = &e->base.cfg;
    sutra_backend *be = p->be;
    const int T = p->T, C = c->hidden_size, H = c->num_heads, D = C / H, F = c->intermediate_size;
    const float eps = c->layer_norm_eps;
    be->embed_layernorm(be, p->x, p->io->ids, NULL, e->wte, NULL, NULL, e->emb_norm_w, e->emb_norm_b, T, C, eps);
    for (int l = 0; l < c->num_layers; l++) {
        const mb_layer *L = &e->layers[l];
        const int local = c->layer_is_local[l];
        /* layer 0 reads x itself; later layers read h = attn_norm(x), made by the previous step */
        be->matmul(be, p->qkv, l == 0 ? p->x : p->h, L->wqkv, L->wqkv_b, T, 3 * C, C, SUTRA_ACT_NONE);
        be->rope(be, p->qkv, p->io->pos, T, H, D, 3 * C, local ? c->rope_theta_local : c->rope_theta_global);
        sutra_attn_params ap = p->ap;
        ap.window_left = ap.window_right = local ? c->local_window : -1;
        sutra_status st = be->attention(be, &ap, p->path);
        if (st) return sutra_errf(st, p->err, p->errcap, "layer %d: attention failed: %s", l, sutra_status_str(st));
        be->matmul(be, p->proj, p->attn, L->wo, L->wo_b, T, C, C, SUTRA_ACT_NONE);
        be->residual_layernorm(be, p->x, p->h, p->x, p->proj, L->mlp_norm_w, L->mlp_norm_b, T, C, eps);
        be->matmul(be, p->wi, p->h, L->wi, L->wi_b, T, 2 * F, C, SUTRA_ACT_NONE);
        be->glu(be, p->glu, p->wi, T, F, c->hidden_act);
        be->matmul(be, p->proj, p->glu, L->wo2, L->wo2_b, T, C, F, SUTRA_ACT_NONE);
        const int last = l + 1 == c->num_layers;
        const void *nw = last ? e->final_norm_w : e->layers[l + 1].attn_norm_w;
        const void *nb = last ? e->final_norm_b : e->layers[l + 1].attn_norm_b;
        be->residual_layernorm(be, p->x, p->h, p->x, p->proj, nw, nb, T, C, eps);
    }
    return SUTRA_OK;
}

static sutra_status mb_forward(sutra_encoder *base, sutra_backend *be, const sutra_batch *batch,
                               const sutra_batch_io *io, sutra_attn_path path, const void **final, char *err,
                               size_t errcap) {
    mb_encoder *e = (mb_encoder *)base;
    const sutra_model_config *c = &base->cfg;
    const int T = batch->T, C = c->hidden_size, F = c->intermediate_size;
    const size_t ab = be->act_bytes;
    be->arena_reset(be);
    mb_pass p = {.e = e, .be = be, .io = io, .T = T, .path = path, .err = err, .errcap = errcap};
    p.x = be->arena_alloc(be, (size_t)T * C * ab);
    p.h = be->arena_alloc(be, (size_t)T * C * ab);
    p.qkv = be->arena_alloc(be, (size_t)T * 3 * C * ab);
    p.attn = be->arena_alloc(be, (size_t)T * C * ab);
    p.proj = be->arena_alloc(be, (size_t)T * C * ab);
    p.wi = be->arena_alloc(be, (size_t)T * 2 * F * ab);
    p.glu = be->arena_alloc(be, (size_t)T * F * ab);
    if (!p.x || !p.h || !p.qkv || !p.attn || !p.proj || !p.wi || !p.glu)
        return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "activation arena too small for %d tokens", T);
    p.ap = sutra_arch_fused_attn(c, batch, io, p.qkv, p.attn, ab);
    sutra_status st = be->run(be, sutra_arch_shape_key(batch, path), mb_layers, &p);
    *final = p.h;
    return st;
}

const sutra_arch sutra_arch_modernbert = {
    .name = "modernbert",
    .create = mb_create,
    .destroy = mb_destroy,
    .arena_bytes = mb_arena_bytes,
    .forward = mb_forward,
};
