/*
 * bert.c - the BERT encoder (all-MiniLM, BGE, E5 and GTE base models, nomic's BERT parents).
 *
 * Shapes: T tokens packed, B sequences, C hidden, H heads, D = C/H, F feed-forward, L layers.
 * Post-norm blocks: x = LN(x + Wo·attn(x)); x = LN(x + W2·gelu(W1·x)). Q, K and V are fused
 * into one (3C, C) matrix at load time so that each layer starts with a single matrix product.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/weights.h"
#include "util/common.h"

typedef struct bert_layer {
    const float *qkv_w;    /* (3C, C): rows [0,C) query, [C,2C) key, [2C,3C) value */
    const float *qkv_b;    /* (3C) */
    const float *attn_out_w, *attn_out_b; /* (C, C), (C) */
    const float *ln1_w, *ln1_b;           /* (C) */
    const float *ffn_up_w, *ffn_up_b;     /* (F, C), (F) */
    const float *ffn_down_w, *ffn_down_b; /* (C, F), (C) */
    const float *ln2_w, *ln2_b;           /* (C) */
} bert_layer;

struct sutra_encoder {
    sutra_model_config cfg;
    const float *wte; /* (V, C) */
    const float *wpe; /* (P, C) */
    const float *wtt; /* (TV, C) */
    const float *emb_ln_w, *emb_ln_b;
    bert_layer *layers;
    float *slab;
    const char *dtype;
    int32_t *pos;     /* (max tokens) scratch for positions, sized on first use */
    size_t pos_cap;
};

static const char *detect_prefix(const sutra_st_file *f) {
    static const char *prefixes[] = {"", "bert.", "model.", "encoder_model."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", prefixes[i]);
        if (sutra_st_find(f, name)) return prefixes[i];
    }
    return "";
}

/* One pass of binding: with b->slab NULL it only validates and counts. */
static void bind_all(sutra_encoder *e, sutra_binder *b) {
    const sutra_model_config *c = &e->cfg;
    const int64_t C = c->hidden_size, F = c->intermediate_size;
    char n[256];
    e->wte = sutra_bind(b, "embeddings.word_embeddings.weight", 2, (int64_t[]){c->vocab_size, C});
    e->wpe = sutra_bind(b, "embeddings.position_embeddings.weight", 2, (int64_t[]){c->max_position_embeddings, C});
    e->wtt = sutra_bind(b, "embeddings.token_type_embeddings.weight", 2, (int64_t[]){c->type_vocab_size, C});
    e->emb_ln_w = sutra_bind(b, "embeddings.LayerNorm.weight", 1, &C);
    e->emb_ln_b = sutra_bind(b, "embeddings.LayerNorm.bias", 1, &C);
    for (int l = 0; l < c->num_layers; l++) {
        bert_layer *L = &e->layers[l];
        float *w = sutra_bind_fused_alloc(b, (size_t)(3 * C * C));
        float *bias = sutra_bind_fused_alloc(b, (size_t)(3 * C));
        static const char *qkv[3] = {"query", "key", "value"};
        for (int i = 0; i < 3; i++) {
            char fmt[128];
            snprintf(fmt, sizeof fmt, "encoder.layer.%%d.attention.self.%s.weight", qkv[i]);
            sutra_bind_into(b, w ? w + i * C * C : NULL, sutra_layer_name(n, sizeof n, fmt, l), 2, (int64_t[]){C, C});
            snprintf(fmt, sizeof fmt, "encoder.layer.%%d.attention.self.%s.bias", qkv[i]);
            sutra_bind_into(b, bias ? bias + i * C : NULL, sutra_layer_name(n, sizeof n, fmt, l), 1, &C);
        }
        L->qkv_w = w;
        L->qkv_b = bias;
#define BIND(field, fmt, ...) L->field = sutra_bind(b, sutra_layer_name(n, sizeof n, fmt, l), __VA_ARGS__)
        BIND(attn_out_w, "encoder.layer.%d.attention.output.dense.weight", 2, (int64_t[]){C, C});
        BIND(attn_out_b, "encoder.layer.%d.attention.output.dense.bias", 1, &C);
        BIND(ln1_w, "encoder.layer.%d.attention.output.LayerNorm.weight", 1, &C);
        BIND(ln1_b, "encoder.layer.%d.attention.output.LayerNorm.bias", 1, &C);
        BIND(ffn_up_w, "encoder.layer.%d.intermediate.dense.weight", 2, (int64_t[]){F, C});
        BIND(ffn_up_b, "encoder.layer.%d.intermediate.dense.bias", 1, &F);
        BIND(ffn_down_w, "encoder.layer.%d.output.dense.weight", 2, (int64_t[]){C, F});
        BIND(ffn_down_b, "encoder.layer.%d.output.dense.bias", 1, &C);
        BIND(ln2_w, "encoder.layer.%d.output.LayerNorm.weight", 1, &C);
        BIND(ln2_b, "encoder.layer.%d.output.LayerNorm.bias", 1, &C);
#undef BIND
    }
}

sutra_status sutra_encoder_create(const sutra_model_config *cfg, const sutra_st_file *weights, sutra_encoder **out,
                                  char *err, size_t errcap) {
    *out = NULL;
    if (strcmp(cfg->model_type, "bert") != 0)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "unsupported architecture '%s' (supported: bert)",
                          cfg->model_type);
    sutra_encoder *e = calloc(1, sizeof *e);
    if (!e) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    e->cfg = *cfg;
    e->layers = calloc((size_t)cfg->num_layers, sizeof *e->layers);
    if (!e->layers) {
        sutra_encoder_destroy(e);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    }
    sutra_binder b = {.file = weights, .prefix = detect_prefix(weights), .err = err, .errcap = errcap};
    bind_all(e, &b); /* counting pass */
    if (b.failed) {
        sutra_encoder_destroy(e);
        return SUTRA_ERR_MODEL;
    }
    size_t floats = b.slab_used;
    e->slab = aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63);
    if (!e->slab) {
        sutra_encoder_destroy(e);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate %zu bytes of weights", floats * 4);
    }
    b.slab = e->slab;
    b.slab_used = 0;
    bind_all(e, &b); /* filling pass */
    e->dtype = b.dtype ? b.dtype : "F32";
    *out = e;
    return SUTRA_OK;
}

void sutra_encoder_destroy(sutra_encoder *e) {
    if (!e) return;
    free(e->layers);
    free(e->slab);
    free(e->pos);
    free(e);
}

const char *sutra_encoder_weights_dtype(const sutra_encoder *e) { return e->dtype; }

size_t sutra_encoder_arena_bytes(const sutra_encoder *e, int max_tokens) {
    const size_t C = (size_t)e->cfg.hidden_size, F = (size_t)e->cfg.intermediate_size, T = (size_t)max_tokens;
    /* x, qkv, attn, proj, ffn; each rounded to 64 bytes by the arena */
    return T * (C + 3 * C + C + C + F) * sizeof(float) + 5 * 64;
}

sutra_status sutra_encoder_forward(sutra_encoder *e, sutra_backend *be, const sutra_batch *batch,
                                   sutra_attn_path path, sutra_pooling pooling, float *pooled, char *err,
                                   size_t errcap) {
    const sutra_model_config *c = &e->cfg;
    const int T = batch->T, B = batch->B, C = c->hidden_size, H = c->num_heads, D = C / H,
              F = c->intermediate_size;
    const float eps = c->layer_norm_eps;
    if (batch->max_seqlen > c->max_position_embeddings)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sequence of %d tokens exceeds the %d positions",
                          batch->max_seqlen, c->max_position_embeddings);
    if ((size_t)T > e->pos_cap) {
        int32_t *p = realloc(e->pos, (size_t)T * sizeof *p);
        if (!p) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
        e->pos = p;
        e->pos_cap = (size_t)T;
    }
    for (int b = 0; b < B; b++)
        for (int t = batch->cu_seqlens[b]; t < batch->cu_seqlens[b + 1]; t++) e->pos[t] = t - batch->cu_seqlens[b];
    for (int t = 0; t < T; t++)
        if (batch->ids[t] < 0 || batch->ids[t] >= c->vocab_size)
            return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "token id %d out of range", batch->ids[t]);

    be->arena_reset(be);
    float *x = be->arena_alloc(be, (size_t)T * C * sizeof(float));        /* (T, C) residual stream */
    float *qkv = be->arena_alloc(be, (size_t)T * 3 * C * sizeof(float)); /* (T, 3C) */
    float *attn = be->arena_alloc(be, (size_t)T * C * sizeof(float));     /* (T, C) */
    float *proj = be->arena_alloc(be, (size_t)T * C * sizeof(float));     /* (T, C) */
    float *ffn = be->arena_alloc(be, (size_t)T * F * sizeof(float));      /* (T, F) */
    if (!x || !qkv || !attn || !proj || !ffn)
        return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "activation arena too small for %d tokens", T);

    be->embed_layernorm(be, x, batch->ids, e->pos, NULL, e->wte, e->wpe, e->wtt, e->emb_ln_w, e->emb_ln_b, T, C, eps);
    sutra_attn_params ap = {
        .q = qkv, .k = qkv + C, .v = qkv + 2 * C, .out = attn,
        .q_stride = 3 * C, .k_stride = 3 * C, .v_stride = 3 * C, .o_stride = C,
        .cu_seqlens = batch->cu_seqlens, .batch = B, .max_seqlen = batch->max_seqlen,
        .heads = H, .head_dim = D, .scale = 1.0f / sqrtf((float)D),
        .window_left = -1, .window_right = -1,
    };
    for (int l = 0; l < c->num_layers; l++) {
        const bert_layer *L = &e->layers[l];
        be->matmul(be, qkv, x, L->qkv_w, L->qkv_b, T, 3 * C, C, SUTRA_ACT_NONE);
        sutra_status st = be->attention(be, &ap, path);
        if (st) return sutra_errf(st, err, errcap, "layer %d: attention failed: %s", l, sutra_status_str(st));
        be->matmul(be, proj, attn, L->attn_out_w, L->attn_out_b, T, C, C, SUTRA_ACT_NONE);
        be->add_layernorm(be, x, proj, x, L->ln1_w, L->ln1_b, T, C, eps);
        be->matmul(be, ffn, x, L->ffn_up_w, L->ffn_up_b, T, F, C, c->hidden_act);
        be->matmul(be, proj, ffn, L->ffn_down_w, L->ffn_down_b, T, C, F, SUTRA_ACT_NONE);
        be->add_layernorm(be, x, proj, x, L->ln2_w, L->ln2_b, T, C, eps);
    }
    be->pool(be, pooled, x, batch->cu_seqlens, B, C, pooling);
    return SUTRA_OK;
}
