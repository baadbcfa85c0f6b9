/*
 * bert.c - the BERT encoder (all-MiniLM, BGE, E5, GTE) and XLM-RoBERTa / RoBERTa (bge-m3,
 * multilingual-e5), which differ only in numbering positions from padding_idx + 1.
 *
 * Shapes: T tokens packed, B sequences, C hidden, H heads, D = C/H, F feed-forward, L layers.
 * Post-norm blocks: x = LN(x + Wo·attn(x)); x = LN(x + W2·gelu(W1·x)). Q, K and V are fused
 * into one (3C, C) matrix at load time so that each layer starts with a single matrix product.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/encoder.h"
#include "arch/weights.h"
#include "util/common.h"

/* Weights are the backend's pointers (host fp32 on the CPU, device fp16 on a GPU); during
 * binding they briefly hold the host fp32 tensors that are then uploaded. */
typedef struct bert_layer {
    const void *qkv_w;    /* (3C, C): rows [0,C) query, [C,2C) key, [2C,3C) value */
    const void *qkv_b;    /* (3C) */
    const void *attn_out_w, *attn_out_b; /* (C, C), (C) */
    const void *ln1_w, *ln1_b;           /* (C) */
    const void *ffn_up_w, *ffn_up_b;     /* (F, C), (F) */
    const void *ffn_down_w, *ffn_down_b; /* (C, F), (C) */
    const void *ln2_w, *ln2_b;           /* (C) */
} bert_layer;

typedef struct bert_encoder {
    sutra_encoder base;
    const void *wte; /* (V, C) */
    const void *wpe; /* (P, C) */
    const void *wtt; /* (TV, C) */
    const void *emb_ln_w, *emb_ln_b;
    bert_layer *layers;
    float *slab;
} bert_encoder;

/* Every weight of the model with its element count, for upload. */
#define BERT_EMBED_WEIGHTS(X, e, c)                                                                                 \
    X((e)->wte, (size_t)(c)->vocab_size * (c)->hidden_size)                                                         \
    X((e)->wpe, (size_t)(c)->max_position_embeddings * (c)->hidden_size)                                            \
    X((e)->wtt, (size_t)(c)->type_vocab_size * (c)->hidden_size)                                                    \
    X((e)->emb_ln_w, (size_t)(c)->hidden_size) X((e)->emb_ln_b, (size_t)(c)->hidden_size)
#define BERT_LAYER_WEIGHTS(X, L, C, F)                                                                              \
    X((L)->qkv_w, 3 * (C) * (C)) X((L)->qkv_b, 3 * (C)) X((L)->attn_out_w, (C) * (C)) X((L)->attn_out_b, (C))      \
    X((L)->ln1_w, (C)) X((L)->ln1_b, (C)) X((L)->ffn_up_w, (F) * (C)) X((L)->ffn_up_b, (F))                         \
    X((L)->ffn_down_w, (C) * (F)) X((L)->ffn_down_b, (C)) X((L)->ln2_w, (C)) X((L)->ln2_b, (C))

static sutra_status upload_weights(bert_encoder *e, sutra_backend *be, char *err, size_t errcap) {
    const sutra_model_config *c = &e->base.cfg;
    const size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t total = 0;
#define COUNT(field, n) total += (n);
#define UPLOAD(field, n)                                                                                            \
    if (!((field) = be->weights_upload(be, (const float *)(field), (n))))                                          \
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s backend: weight upload failed", be->name);
    BERT_EMBED_WEIGHTS(COUNT, e, c)
    for (int l = 0; l < c->num_layers; l++) { BERT_LAYER_WEIGHTS(COUNT, &e->layers[l], C, F) }
    sutra_status st = be->weights_reserve(be, total);
    if (st) return sutra_errf(st, err, errcap, "%s backend: cannot reserve %zu weights", be->name, total);
    BERT_EMBED_WEIGHTS(UPLOAD, e, c)
    for (int l = 0; l < c->num_layers; l++) { BERT_LAYER_WEIGHTS(UPLOAD, &e->layers[l], C, F) }
#undef COUNT
#undef UPLOAD
    return SUTRA_OK;
}

static const char *detect_prefix(const sutra_st_file *f) {
    static const char *prefixes[] = {"", "bert.", "roberta.", "model.", "encoder_model."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", prefixes[i]);
        if (sutra_st_find(f, name)) return prefixes[i];
    }
    return "";
}

/* One pass of binding: with b->slab NULL it only validates and counts. */
static void bind_all(bert_encoder *e, sutra_binder *b) {
    const sutra_model_config *c = &e->base.cfg;
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

static void bert_destroy(sutra_encoder *base) {
    bert_encoder *e = (bert_encoder *)base;
    free(e->layers);
    free(e->slab);
    free(e);
}

static sutra_status bert_create(const sutra_model_config *cfg, const sutra_st_file *weights, sutra_backend *be,
                                sutra_encoder **out, char *err, size_t errcap) {
    bert_encoder *e = calloc(1, sizeof *e);
    if (!e) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    e->base.arch = &sutra_arch_bert;
    e->base.cfg = *cfg;
    e->layers = calloc((size_t)cfg->num_layers, sizeof *e->layers);
    if (!e->layers) {
        bert_destroy(&e->base);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    }
    sutra_binder b = {.file = weights, .prefix = detect_prefix(weights), .err = err, .errcap = errcap};
    bind_all(e, &b); /* counting pass */
    if (b.failed) {
        bert_destroy(&e->base);
        return SUTRA_ERR_MODEL;
    }
    size_t floats = b.slab_used;
    e->slab = sutra_alloc64(floats * sizeof(float));
    if (!e->slab) {
        bert_destroy(&e->base);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate %zu bytes of weights", floats * 4);
    }
    b.slab = e->slab;
    b.slab_used = 0;
    bind_all(e, &b); /* filling pass */
    e->base.dtype = b.dtype ? b.dtype : "F32";
    sutra_status st = upload_weights(e, be, err, errcap);
    if (st) {
        bert_destroy(&e->base);
        return st;
    }
    *out = &e->base;
    return SUTRA_OK;
}

static size_t bert_arena_bytes(const sutra_model_config *cfg, int max_tokens, size_t act_bytes) {
    const size_t C = (size_t)cfg->hidden_size, F = (size_t)cfg->intermediate_size, T = (size_t)max_tokens;
    /* x, qkv, attn, proj, ffn; each rounded up to 256 bytes by the arena */
    return T * (C + 3 * C + C + C + F) * act_bytes + 5 * 256;
}

/* The ops of one forward pass up to the final hidden states, for be->run(). */
typedef struct bert_pass {
    bert_encoder *e;
    sutra_backend *be;
    const sutra_batch_io *io;
    int T;
    sutra_attn_path path;
    void *x, *qkv, *attn, *proj, *ffn; /* (T,C), (T,3C), (T,C), (T,C), (T,F) */
    sutra_attn_params ap;
    char *err;
    size_t errcap;
} bert_pass;

static sutra_status bert_layers(void *arg) {
    bert_pass *p = arg;
    const bert_encoder *e = p->e;
    const sutra_model_config *c = &e->base.cfg;
    sutra_backend *be = p->be;
    const int T = p->T, C = c->hidden_size, F = c->intermediate_size;
    const float eps = c->layer_norm_eps;
    be->embed_layernorm(be, p->x, p->io->ids, p->io->pos, e->wte, e->wpe, e->wtt, e->emb_ln_w, e->emb_ln_b, T, C, eps);
    for (int l = 0; l < c->num_layers; l++) {
        const bert_layer *L = &e->layers[l];
        be->matmul(be, p->qkv, p->x, L->qkv_w, L->qkv_b, T, 3 * C, C, SUTRA_ACT_NONE);
        sutra_status st = be->attention(be, &p->ap, p->path);
        if (st) return sutra_errf(st, p->err, p->errcap, "layer %d: attention failed: %s", l, sutra_status_str(st));
        be->matmul(be, p->proj, p->attn, L->attn_out_w, L->attn_out_b, T, C, C, SUTRA_ACT_NONE);
        be->add_layernorm(be, p->x, p->proj, p->x, L->ln1_w, L->ln1_b, T, C, eps);
        be->matmul(be, p->ffn, p->x, L->ffn_up_w, L->ffn_up_b, T, F, C, c->hidden_act);
        be->matmul(be, p->proj, p->ffn, L->ffn_down_w, L->ffn_down_b, T, C, F, SUTRA_ACT_NONE);
        be->add_layernorm(be, p->x, p->proj, p->x, L->ln2_w, L->ln2_b, T, C, eps);
    }
    return SUTRA_OK;
}

static sutra_status bert_forward(sutra_encoder *base, sutra_backend *be, const sutra_batch *batch,
                                 const sutra_batch_io *io, sutra_attn_path path, const void **final, char *err,
                                 size_t errcap) {
    bert_encoder *e = (bert_encoder *)base;
    const sutra_model_config *c = &base->cfg;
    const int T = batch->T, C = c->hidden_size, F = c->intermediate_size;
    const size_t ab = be->act_bytes;
    be->arena_reset(be);
    bert_pass p = {.e = e, .be = be, .io = io, .T = T, .path = path, .err = err, .errcap = errcap};
    p.x = be->arena_alloc(be, (size_t)T * C * ab);
    p.qkv = be->arena_alloc(be, (size_t)T * 3 * C * ab);
    p.attn = be->arena_alloc(be, (size_t)T * C * ab);
    p.proj = be->arena_alloc(be, (size_t)T * C * ab);
    p.ffn = be->arena_alloc(be, (size_t)T * F * ab);
    if (!p.x || !p.qkv || !p.attn || !p.proj || !p.ffn)
        return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "activation arena too small for %d tokens", T);
    p.ap = sutra_arch_fused_attn(c, batch, io, p.qkv, p.attn, ab);
    sutra_status st = be->run(be, sutra_arch_shape_key(batch, path), bert_layers, &p);
    *final = p.x;
    return st;
}

const sutra_arch sutra_arch_bert = {
    .name = "bert",
    .create = bert_create,
    .destroy = bert_destroy,
    .arena_bytes = bert_arena_bytes,
    .forward = bert_forward,
};
