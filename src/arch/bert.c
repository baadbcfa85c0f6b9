/*
 * bert.c - the BERT encoder (all-MiniLM, BGE, E5, GTE) and XLM-RoBERTa / RoBERTa (bge-m3,
 * multilingual-e5), which differ only in numbering positions from padding_idx + 1.
 *
 * Shapes: T tokens packed, B sequences, C hidden, H heads, D = C/H, F feed-forward, L layers.
 * Post-norm blocks: x = LN(x + Wo·attn(x)); x = LN(x + W2·gelu(W1·x)). Q, K and V are fused
 * into one (3C, C) matrix at load time so that each layer starts with a single matrix product.
 *
 * Two layouts of the activations. The plain one keeps every intermediate for all T tokens:
 * x, QKV, attention output, projection and FFN, 6C + F floats per token (30 KiB for bert-base).
 * For long inputs on a backend that offers it (long_input_tokens in backend.h) the long-input
 * layout keeps x and the attention output (2C floats per token), plus one head group's keys
 * and values (2gD) while attention runs; queries are projected into the attention output's
 * columns and overwritten there by the output; the output projection, residual, LayerNorm and
 * FFN then run over chunks of rows, in place in x, with their temporaries in the attention
 * output's memory once it has been consumed. For bert-base with one head per group that is
 * 6.5 KiB per token, and the two attention paths then differ in memory mainly by the standard
 * path's N x N scores.
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
    /* LayerNorm folding (backend.h ln_fold_tokens; only when the backend offers it): the vectors
     * that let each product take the LayerNorm before it, computed at load in float64 from the
     * weights above. "prev" is the LayerNorm ahead of the layer: the previous layer's second one,
     * or none for layer 0 (its input is normalised already: g = 1, b = 0). */
    const void *qkv_s, *qkv_c;           /* (3C): qkv_w g_prev, qkv_w b_prev + qkv_b */
    const void *attn_out_d;              /* (C): attn_out_b + b_prev */
    const void *ffn_up_s, *ffn_up_c;     /* (F): ffn_up_w ln1_w, ffn_up_w ln1_b + ffn_up_b */
    const void *ffn_down_d;              /* (C): ffn_down_b + ln1_b */
} bert_layer;

typedef struct bert_encoder {
    sutra_encoder base;
    const void *wte; /* (V, C) */
    const void *wpe; /* (P, C) */
    const void *wtt; /* (TV, C) */
    const void *emb_ln_w, *emb_ln_b;
    bert_layer *layers;
    float *slab;
    int fold; /* the layers carry the LayerNorm-folding vectors */
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
#define BERT_FOLD_WEIGHTS(X, L, C, F)                                                                               \
    X((L)->qkv_s, 3 * (C)) X((L)->qkv_c, 3 * (C)) X((L)->attn_out_d, (C)) X((L)->ffn_up_s, (F))                     \
    X((L)->ffn_up_c, (F)) X((L)->ffn_down_d, (C))

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
    for (int l = 0; e->fold && l < c->num_layers; l++) { BERT_FOLD_WEIGHTS(COUNT, &e->layers[l], C, F) }
    sutra_status st = be->weights_reserve(be, total);
    if (st) return sutra_errf(st, err, errcap, "%s backend: cannot reserve %zu weights", be->name, total);
    BERT_EMBED_WEIGHTS(UPLOAD, e, c)
    for (int l = 0; l < c->num_layers; l++) { BERT_LAYER_WEIGHTS(UPLOAD, &e->layers[l], C, F) }
    for (int l = 0; e->fold && l < c->num_layers; l++) { BERT_FOLD_WEIGHTS(UPLOAD, &e->layers[l], C, F) }
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

/* out (n) = x + y (y NULL: zeros) */
static void add_vec(float *out, const float *x, const float *y, int n) {
    for (int i = 0; i < n; i++) out[i] = x[i] + (y ? y[i] : 0.f);
}

/* The LayerNorm-folding vectors of every layer (bert_layer), from the bound host weights. With
 * b->slab NULL it only counts their room. */
static void bind_fold(bert_encoder *e, sutra_binder *b) {
    const sutra_model_config *c = &e->base.cfg;
    const int C = c->hidden_size, F = c->intermediate_size;
    for (int l = 0; l < c->num_layers; l++) {
        bert_layer *L = &e->layers[l];
        float *qs = sutra_bind_fused_alloc(b, 3 * (size_t)C), *qc = sutra_bind_fused_alloc(b, 3 * (size_t)C);
        float *od = sutra_bind_fused_alloc(b, (size_t)C);
        float *us = sutra_bind_fused_alloc(b, (size_t)F), *uc = sutra_bind_fused_alloc(b, (size_t)F);
        float *dd = sutra_bind_fused_alloc(b, (size_t)C);
        if (!b->slab || b->failed) continue;
        const float *g_prev = l ? (const float *)e->layers[l - 1].ln2_w : NULL;
        const float *b_prev = l ? (const float *)e->layers[l - 1].ln2_b : NULL;
        fold_matrix(qs, qc, L->qkv_w, L->qkv_b, g_prev, b_prev, 3 * C, C);
        add_vec(od, L->attn_out_b, b_prev, C);
        fold_matrix(us, uc, L->ffn_up_w, L->ffn_up_b, L->ln1_w, L->ln1_b, F, C);
        add_vec(dd, L->ffn_down_b, L->ln1_b, C);
        L->qkv_s = qs, L->qkv_c = qc, L->attn_out_d = od, L->ffn_up_s = us, L->ffn_up_c = uc, L->ffn_down_d = dd;
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
    /* the folded forward needs the backend's ops for it and the exact GELU its products fuse */
    e->fold = be->ln_fold_tokens > 0 && be->matmul_ln && be->matmul_residual_ln && be->ln_apply &&
              cfg->hidden_act == SUTRA_ACT_GELU;
    sutra_binder b = {.file = weights, .prefix = detect_prefix(weights), .err = err, .errcap = errcap};
    bind_all(e, &b); /* counting pass */
    if (e->fold) bind_fold(e, &b);
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
    if (e->fold) bind_fold(e, &b);
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
    /* x, qkv, attn, proj, ffn, and two LayerNorm-folding statistics buffers; each rounded up to
     * 256 bytes by the arena. The long-input layout (bert_forward) needs less: at most
     * max(4C, 2C + F) per token. */
    return T * (C + 3 * C + C + C + F) * act_bytes + 2 * SUTRA_LN_STATS_FLOATS(T, C) * sizeof(float) + 7 * 256;
}

/* Rows per chunk of the token-wise steps in the long-input layout. BLAS packs the whole weight
 * matrix again for every chunk: on the 2-core machine the FFN's (F, C) products took 5% longer
 * in 1024-row chunks and 9% longer in 512-row chunks than over all 4096 rows. So the FFN takes
 * chunks of up to 1024 rows where its temporaries (chunk x (F + C)) fit in the attention
 * output's memory, and the output projection, whose weight is 4x smaller, 512. */
#define BERT_LONG_CHUNK 512

/* The ops of one forward pass up to the final hidden states, for be->run(). */
typedef struct bert_pass {
    bert_encoder *e;
    sutra_backend *be;
    const sutra_batch_io *io;
    int T;
    sutra_attn_path path;
    void *x, *qkv, *attn, *proj, *ffn; /* (T,C), (T,3C), (T,C), (T,C), (T,F) */
    float *stats[2];                   /* LayerNorm folding: the statistics of proj and of x */
    sutra_attn_params ap;
    /* long-input layout only: heads per attention call; scratch right after attn; rows per
     * chunk of the output projection and of the FFN */
    int group;
    void *work;
    int chunk, ffn_chunk;
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

/* The same layers with every LayerNorm folded into the products around it (backend.h,
 * ln_fold_tokens): the residual stream stays un-normalised, alternating between proj (after the
 * attention block, statistics stats[0]) and x (after the FFN, stats[1]); one LayerNorm pass
 * remains, at the end. Layer 0 reads the normalised embeddings (no statistics). */
static sutra_status bert_layers_folded(void *arg) {
    bert_pass *p = arg;
    const bert_encoder *e = p->e;
    const sutra_model_config *c = &e->base.cfg;
    sutra_backend *be = p->be;
    const int T = p->T, C = c->hidden_size, F = c->intermediate_size;
    const float eps = c->layer_norm_eps;
    be->embed_layernorm(be, p->x, p->io->ids, p->io->pos, e->wte, e->wpe, e->wtt, e->emb_ln_w, e->emb_ln_b, T, C, eps);
    const float *stats = NULL; /* of x */
    const void *g = NULL;      /* the weight x's LayerNorm has */
    for (int l = 0; l < c->num_layers; l++) {
        const bert_layer *L = &e->layers[l];
        be->matmul_ln(be, p->qkv, p->x, stats, L->qkv_w, L->qkv_s, L->qkv_c, T, 3 * C, C, SUTRA_ACT_NONE);
        sutra_status st = be->attention(be, &p->ap, p->path);
        if (st) return sutra_errf(st, p->err, p->errcap, "layer %d: attention failed: %s", l, sutra_status_str(st));
        be->matmul_residual_ln(be, p->proj, p->stats[0], p->attn, L->attn_out_w, L->attn_out_d, p->x, stats, g,
                               L->ln1_w, T, C, C, eps);
        be->matmul_ln(be, p->ffn, p->proj, p->stats[0], L->ffn_up_w, L->ffn_up_s, L->ffn_up_c, T, F, C,
                      c->hidden_act);
        be->matmul_residual_ln(be, p->x, p->stats[1], p->ffn, L->ffn_down_w, L->ffn_down_d, p->proj, p->stats[0],
                               L->ln1_w, L->ln2_w, T, C, F, eps);
        stats = p->stats[1];
        g = L->ln2_w;
    }
    const bert_layer *last = &e->layers[c->num_layers - 1]; /* the config has at least one layer */
    be->ln_apply(be, p->x, p->x, stats, last->ln2_w, last->ln2_b, T, C);
    return SUTRA_OK;
}

/* Splits T rows into the fewest chunks of at most `most` rows, all of nearly equal size, so that
 * no chunk is so small that the backend takes a different route for it (the CPU packs the
 * weights for products of <= 48 rows). Returns the rows per chunk. */
static int even_chunk(int T, int most) {
    int n = (T + most - 1) / most;
    return (T + n - 1) / n;
}

static sutra_status bert_layers_long(void *arg) {
    bert_pass *p = arg;
    const bert_encoder *e = p->e;
    const sutra_model_config *c = &e->base.cfg;
    sutra_backend *be = p->be;
    const int T = p->T, C = c->hidden_size, H = c->num_heads, D = C / H, F = c->intermediate_size;
    const size_t ab = be->act_bytes;
    const float eps = c->layer_norm_eps;
    char *x = p->x, *attn = p->attn, *work = p->work;
#define ROWS(buf, t, width) ((buf) + (size_t)(t) * (width) * ab)
    be->embed_layernorm(be, x, p->io->ids, p->io->pos, e->wte, e->wpe, e->wtt, e->emb_ln_w, e->emb_ln_b, T, C, eps);
    for (int l = 0; l < c->num_layers; l++) {
        const bert_layer *L = &e->layers[l];
        for (int h0 = 0; h0 < H; h0 += p->group) {
            const int g = H - h0 < p->group ? H - h0 : p->group, n = g * D;
            char *q = attn + (size_t)h0 * D * ab; /* (T, n) with row stride C; becomes the output */
            char *k = work, *v = work + (size_t)T * n * ab; /* (T, n) each */
            be->project_heads(be, q, C, k, v, n, x, L->qkv_w, L->qkv_b, T, C, D, h0, g);
            sutra_attn_params ap = p->ap;
            ap.q = ap.out = q;
            ap.k = k;
            ap.v = v;
            ap.q_stride = ap.o_stride = C;
            ap.k_stride = ap.v_stride = n;
            ap.heads = g;
            sutra_status st = be->attention(be, &ap, p->path);
            if (st) return sutra_errf(st, p->err, p->errcap, "layer %d: attention failed: %s", l, sutra_status_str(st));
        }
        for (int t0 = 0; t0 < T; t0 += p->chunk) { /* proj (n, C) in work */
            const int n = T - t0 < p->chunk ? T - t0 : p->chunk;
            be->matmul(be, work, ROWS(attn, t0, C), L->attn_out_w, L->attn_out_b, n, C, C, SUTRA_ACT_NONE);
            be->add_layernorm(be, ROWS(x, t0, C), work, ROWS(x, t0, C), L->ln1_w, L->ln1_b, n, C, eps);
        }
        for (int t0 = 0; t0 < T; t0 += p->ffn_chunk) { /* ffn (n, F) then out (n, C), where attn was */
            const int n = T - t0 < p->ffn_chunk ? T - t0 : p->ffn_chunk;
            char *ffn = attn, *out = attn + (size_t)n * F * ab;
            be->matmul(be, ffn, ROWS(x, t0, C), L->ffn_up_w, L->ffn_up_b, n, F, C, c->hidden_act);
            be->matmul(be, out, ffn, L->ffn_down_w, L->ffn_down_b, n, C, F, SUTRA_ACT_NONE);
            be->add_layernorm(be, ROWS(x, t0, C), out, ROWS(x, t0, C), L->ln2_w, L->ln2_b, n, C, eps);
        }
    }
#undef ROWS
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
    const int long_input = be->long_input_tokens > 0 && be->project_heads && batch->max_seqlen >= be->long_input_tokens;
    if (long_input) {
        /* x (T,C); attn (T,C) followed by work, which holds one group's keys and values
         * (2 x (T, gD)) or a chunk's projection (chunk, C); once attn has been projected, the
         * FFN's (chunk, F + C) temporaries go where attn was, spilling into work if needed */
        const int H = c->num_heads, D = C / H, want = be->long_input_heads[path];
        p.group = want < 1 ? 1 : want > H ? H : want;
        p.chunk = even_chunk(T, BERT_LONG_CHUNK);
        const size_t kv = (size_t)2 * T * p.group * D, proj = (size_t)p.chunk * C;
        size_t work = kv > proj ? kv : proj;
        /* FFN chunks as long as fit where attn was (up to twice the others), but never shorter
         * than the others: work grows for short inputs rather than the chunks shrinking */
        size_t fit = ((size_t)T * C + work) / (size_t)(F + C);
        int most = fit > 2 * BERT_LONG_CHUNK ? 2 * BERT_LONG_CHUNK : fit < (size_t)p.chunk ? p.chunk : (int)fit;
        p.ffn_chunk = even_chunk(T, most);
        const size_t ffn = (size_t)p.ffn_chunk * (F + C);
        if (ffn > (size_t)T * C + work) work = ffn - (size_t)T * C;
        const size_t free_after = (size_t)T * C + work;
        p.x = be->arena_alloc(be, (size_t)T * C * ab);
        p.attn = be->arena_alloc(be, free_after * ab);
        if (!p.x || !p.attn)
            return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "activation arena too small for %d tokens", T);
        p.work = (char *)p.attn + (size_t)T * C * ab;
        p.ap = sutra_arch_fused_attn(c, batch, io, p.attn, p.attn, ab); /* sequences and scale; pointers per group */
        sutra_status st = be->run(be, sutra_arch_shape_key(batch, path), bert_layers_long, &p);
        *final = p.x;
        return st;
    }
    p.x = be->arena_alloc(be, (size_t)T * C * ab);
    p.qkv = be->arena_alloc(be, (size_t)T * 3 * C * ab);
    p.attn = be->arena_alloc(be, (size_t)T * C * ab);
    p.proj = be->arena_alloc(be, (size_t)T * C * ab);
    p.ffn = be->arena_alloc(be, (size_t)T * F * ab);
    if (!p.x || !p.qkv || !p.attn || !p.proj || !p.ffn)
        return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "activation arena too small for %d tokens", T);
    const int fold = e->fold && T >= be->ln_fold_tokens;
    for (int i = 0; fold && i < 2; i++)
        if (!(p.stats[i] = be->arena_alloc(be, SUTRA_LN_STATS_FLOATS(T, C) * sizeof(float))))
            return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "activation arena too small for %d tokens", T);
    p.ap = sutra_arch_fused_attn(c, batch, io, p.qkv, p.attn, ab);
    sutra_status st = be->run(be, sutra_arch_shape_key(batch, path), fold ? bert_layers_folded : bert_layers, &p);
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
