/*
 * heads.c - see heads.h.
 */
#include "embed/heads.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/weights.h"
#include "embed/dense.h"
#include "model/config.h"
#include "model/json.h"
#include "model/torch_ckpt.h"
#include "util/common.h"

#define MAX_SKIP 8
#define SPLADE_ROWS 64 /* token rows per masked-LM product: 64 x vocab floats at a time */

struct sutra_heads {
    int C;
    /* the score: out(norm(act(pre(x)))) on the pooled vector, or yes/no rows of an LM head */
    sutra_score_kind score;
    int labels;
    int score_pool;            /* sutra_pooling */
    float *pre_w, *pre_b;      /* (C, C), (C) or NULL */
    sutra_dense_act pre_act;
    float *norm_w, *norm_b;    /* LayerNorm after the activation (ModernBERT), or NULL */
    float norm_eps;
    float *out_w, *out_b;      /* (labels, C), (labels) or NULL */
    sutra_dense_act score_act; /* CrossEncoder's default activation: SIGMOID or IDENTITY */
    float *yes_no;             /* (2, C): the LM head's rows of "yes" and "no" */
    int32_t yes_id, no_id;
    /* sparse */
    sutra_sparse_kind sparse;
    float *tr_w, *tr_b, *tr_ln_w, *tr_ln_b; /* SPLADE's transform: dense (C, C), GELU, LayerNorm */
    sutra_dense_act tr_act;
    float tr_eps;
    float *dec_w, *dec_b; /* (V, C), (V) */
    int V;
    int splade_sum, splade_log1p_act;
    int32_t skip[MAX_SKIP];
    int n_skip;
    /* ColBERT: its width (its weights are in the token head) */
    int cb_dim;
    /* bge-m3's token heads stacked for the backend: rows [0, cb_dim) ColBERT, row cb_dim (or 0
     * without ColBERT) sparse_linear, zero rows up to a multiple of 8 */
    float *tok_w, *tok_b;
    int tok_rows, tok_sparse_row;
};

void sutra_heads_free(sutra_heads *h) {
    if (!h) return;
    float *bufs[] = {h->pre_w, h->pre_b, h->norm_w, h->norm_b, h->out_w, h->out_b, h->yes_no, h->tr_w, h->tr_b,
                     h->tr_ln_w, h->tr_ln_b, h->dec_w, h->dec_b, h->tok_w, h->tok_b};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(h);
}

sutra_score_kind sutra_heads_score_kind(const sutra_heads *h) { return h ? h->score : SUTRA_SCORE_NONE; }
sutra_sparse_kind sutra_heads_sparse_kind(const sutra_heads *h) { return h ? h->sparse : SUTRA_SPARSE_NONE; }
int sutra_heads_colbert_dim(const sutra_heads *h) { return h ? h->cb_dim : 0; }
int sutra_heads_score_pooling(const sutra_heads *h) { return h ? h->score_pool : 0; }
const char *sutra_heads_score_activation(const sutra_heads *h) {
    if (!h || h->score == SUTRA_SCORE_NONE) return "";
    if (h->score == SUTRA_SCORE_YES_NO) return "none";
    return h->score_act == SUTRA_DENSE_SIGMOID ? "Sigmoid" : "Identity";
}
void sutra_heads_yes_no(const sutra_heads *h, int32_t *yes, int32_t *no) {
    *yes = h ? h->yes_id : -1;
    *no = h ? h->no_id : -1;
}

/* ---- loading -------------------------------------------------------------------------------- */

typedef struct loader {
    const char *dir;
    const sutra_st_file *file; /* the checkpoint, or a head's own file */
    const char *where;         /* the file's name for messages */
    char *err;
    size_t errcap;
    sutra_status st;
} loader;

/* A tensor of the given shape converted to fp32 into a new buffer; NULL when absent (an error
 * unless optional) or mis-shaped. */
static float *take(loader *L, const char *name, int ndim, const int64_t *shape, int optional) {
    if (L->st) return NULL;
    if (!L->file || !sutra_st_find(L->file, name)) {
        if (!optional) L->st = sutra_errf(SUTRA_ERR_MODEL, L->err, L->errcap, "%s: tensor '%s' is missing", L->where, name);
        return NULL;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *dst = malloc(n * sizeof *dst);
    if (!dst) {
        L->st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, L->err, L->errcap, "out of memory for '%s'", name);
        return NULL;
    }
    char msg[512] = "";
    sutra_binder b = {.file = L->file, .err = msg, .errcap = sizeof msg};
    sutra_bind_into(&b, dst, name, ndim, shape);
    for (size_t i = 0; !b.failed && i < n; i++)
        if (!isfinite(dst[i])) {
            snprintf(msg, sizeof msg, "tensor '%s' is not finite", name);
            b.failed = 1;
        }
    if (b.failed) {
        L->st = sutra_errf(SUTRA_ERR_MODEL, L->err, L->errcap, "%s: %s", L->where, msg);
        free(dst);
        return NULL;
    }
    return dst;
}

/* The first of names the file holds, or NULL. */
static const char *first_of(const sutra_st_file *f, const char *const *names, size_t n) {
    for (size_t i = 0; f && i < n; i++)
        if (sutra_st_find(f, names[i])) return names[i];
    return NULL;
}

/* torch's activation class named at the end of a dotted path ("torch.nn.modules.activation.Sigmoid"). */
static int activation_by_class(const char *path, sutra_dense_act *act) {
    const char *cls = strrchr(path, '.');
    cls = cls ? cls + 1 : path;
    static const struct { const char *name; sutra_dense_act act; } known[] = {
        {"Sigmoid", SUTRA_DENSE_SIGMOID}, {"Identity", SUTRA_DENSE_IDENTITY}, {"Tanh", SUTRA_DENSE_TANH},
        {"ReLU", SUTRA_DENSE_RELU}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(cls, known[i].name)) {
            *act = known[i].act;
            return 1;
        }
    return 0;
}

/* An HF activation name (hidden_act, classifier_activation). */
static int activation_by_hf_name(const char *name, sutra_dense_act *act) {
    if (!strcmp(name, "gelu")) *act = SUTRA_DENSE_GELU;
    else if (!strcmp(name, "relu")) *act = SUTRA_DENSE_RELU;
    else if (!strcmp(name, "tanh")) *act = SUTRA_DENSE_TANH;
    else if (!strcmp(name, "silu") || !strcmp(name, "swish")) *act = SUTRA_DENSE_SILU;
    else return 0;
    return 1;
}

static sutra_status load_classifier(loader *L, sutra_heads *h, const cJSON *cfg, const char *model_type) {
    const int64_t C = h->C;
    int labels = 0;
    const cJSON *id2label = sutra_json_get(cfg, "id2label");
    if (sutra_json_get(cfg, "num_labels")) {
        if ((L->st = sutra_json_int(cfg, "config.json", "num_labels", 0, 1, 1 << 16, &labels, L->err, L->errcap)))
            return L->st;
    } else if (cJSON_IsObject(id2label)) {
        labels = cJSON_GetArraySize(id2label);
    }
    if (labels < 1) labels = 2; /* transformers' default */
    h->labels = labels;
    h->score_pool = SUTRA_POOLING_CLS;
    h->pre_act = SUTRA_DENSE_TANH;
    const int64_t cc[2] = {C, C}, lc[2] = {labels, C};
    const char *pre = NULL, *out = "classifier";
    char pre_w[96], pre_b[96], out_w[96], out_b[96];
    if (!strcmp(model_type, "bert")) {
        static const char *const names[] = {"bert.pooler.dense.weight", "pooler.dense.weight"};
        pre = first_of(L->file, names, 2);
        if (!pre) return L->st = sutra_errf(SUTRA_ERR_MODEL, L->err, L->errcap, "%s: the BERT classifier has no pooler.dense", L->where);
        h->score = SUTRA_SCORE_BERT;
        pre = !strncmp(pre, "bert.", 5) ? "bert.pooler.dense" : "pooler.dense";
    } else if (!strcmp(model_type, "xlm-roberta") || !strcmp(model_type, "roberta")) {
        h->score = SUTRA_SCORE_ROBERTA;
        pre = "classifier.dense";
        out = "classifier.out_proj";
    } else if (!strcmp(model_type, "modernbert")) {
        h->score = SUTRA_SCORE_MODERNBERT;
        pre = "head.dense";
        const char *pool = sutra_json_string(cfg, "classifier_pooling"), *act = sutra_json_string(cfg, "classifier_activation");
        if (pool && strcmp(pool, "cls") && strcmp(pool, "mean"))
            return L->st = sutra_errf(SUTRA_ERR_UNSUPPORTED, L->err, L->errcap, "config.json: classifier_pooling '%.32s' (cls or mean)", pool);
        h->score_pool = pool && !strcmp(pool, "mean") ? SUTRA_POOLING_MEAN : SUTRA_POOLING_CLS;
        h->pre_act = SUTRA_DENSE_GELU;
        if (act && !activation_by_hf_name(act, &h->pre_act))
            return L->st = sutra_errf(SUTRA_ERR_UNSUPPORTED, L->err, L->errcap, "config.json: classifier_activation '%.32s'", act);
        h->norm_eps = 1e-5f;
        if ((L->st = sutra_json_number(cfg, "config.json", "norm_eps", 0.0, 1.0, &h->norm_eps, L->err, L->errcap)))
            return L->st;
        h->norm_w = take(L, "head.norm.weight", 1, (int64_t[]){C}, 0);
        h->norm_b = take(L, "head.norm.bias", 1, (int64_t[]){C}, 1);
    } else if (!strcmp(model_type, "distilbert")) {
        h->score = SUTRA_SCORE_BERT;
        pre = "pre_classifier";
        h->pre_act = SUTRA_DENSE_RELU;
    } else {
        return L->st = sutra_errf(SUTRA_ERR_UNSUPPORTED, L->err, L->errcap,
                                  "config.json: a sequence classifier on '%s' is not supported (bert, xlm-roberta, "
                                  "roberta, modernbert, distilbert)", model_type);
    }
    snprintf(pre_w, sizeof pre_w, "%s.weight", pre);
    snprintf(pre_b, sizeof pre_b, "%s.bias", pre);
    snprintf(out_w, sizeof out_w, "%s.weight", out);
    snprintf(out_b, sizeof out_b, "%s.bias", out);
    h->pre_w = take(L, pre_w, 2, cc, 0);
    h->pre_b = take(L, pre_b, 1, cc, h->score == SUTRA_SCORE_MODERNBERT);
    h->out_w = take(L, out_w, 2, lc, 0);
    h->out_b = take(L, out_b, 1, lc, h->score == SUTRA_SCORE_MODERNBERT);
    /* sentence-transformers' CrossEncoder: the saved activation, else Sigmoid for one label */
    h->score_act = labels == 1 ? SUTRA_DENSE_SIGMOID : SUTRA_DENSE_IDENTITY;
    const cJSON *st_cfg = sutra_json_get(cfg, "sentence_transformers");
    const char *saved = st_cfg ? sutra_json_string(st_cfg, "activation_fn") : NULL;
    if (!saved) saved = sutra_json_string(cfg, "sbert_ce_default_activation_function");
    if (saved && !activation_by_class(saved, &h->score_act))
        return L->st = sutra_errf(SUTRA_ERR_UNSUPPORTED, L->err, L->errcap,
                                  "config.json: the cross-encoder's activation '%.80s' (Sigmoid, Identity, Tanh, ReLU)", saved);
    return L->st;
}

static sutra_status load_yes_no(loader *L, sutra_heads *h, const cJSON *cfg, const sutra_tokenizer *tok, int vocab) {
    h->score = SUTRA_SCORE_YES_NO;
    h->score_pool = SUTRA_POOLING_LAST;
    h->labels = 1;
    h->yes_id = tok ? sutra_tokenizer_token_to_id(tok, "yes") : -1;
    h->no_id = tok ? sutra_tokenizer_token_to_id(tok, "no") : -1;
    if (h->yes_id < 0 || h->no_id < 0 || h->yes_id >= vocab || h->no_id >= vocab)
        return L->st = sutra_errf(SUTRA_ERR_MODEL, L->err, L->errcap, "the tokenizer has no \"yes\" or \"no\" token for the reranker's score");
    static const char *const heads[] = {"lm_head.weight"};
    static const char *const tied[] = {"model.embed_tokens.weight", "embed_tokens.weight"};
    const char *name = first_of(L->file, heads, 1);
    if (!name && sutra_json_bool(cfg, "tie_word_embeddings", 1)) name = first_of(L->file, tied, 2);
    if (!name) return L->st = sutra_errf(SUTRA_ERR_MODEL, L->err, L->errcap, "%s: no lm_head.weight (and embeddings not tied)", L->where);
    float *all = take(L, name, 2, (int64_t[]){vocab, h->C}, 0);
    if (!all) return L->st;
    h->yes_no = malloc(2 * (size_t)h->C * sizeof *h->yes_no);
    if (h->yes_no) {
        memcpy(h->yes_no, all + (size_t)h->yes_id * h->C, (size_t)h->C * sizeof *all);
        memcpy(h->yes_no + h->C, all + (size_t)h->no_id * h->C, (size_t)h->C * sizeof *all);
    } else {
        L->st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, L->err, L->errcap, "out of memory");
    }
    free(all);
    return L->st;
}

static sutra_status load_splade(loader *L, sutra_heads *h, const sutra_model_config *mc, const cJSON *cfg,
                                const char *model_type, int vocab) {
    if (strcmp(model_type, "bert"))
        return L->st = sutra_errf(SUTRA_ERR_UNSUPPORTED, L->err, L->errcap,
                                  "SpladePooling over a '%s' masked-LM head is not supported (bert)", model_type);
    const int64_t C = h->C, cc[2] = {C, C}, vc[2] = {vocab, C};
    h->sparse = SUTRA_SPARSE_SPLADE;
    h->V = vocab;
    h->splade_sum = mc->splade_sum;
    h->splade_log1p_act = mc->splade_log1p_act;
    h->tr_act = SUTRA_DENSE_GELU;
    const char *act = sutra_json_string(cfg, "hidden_act");
    if (act && !activation_by_hf_name(act, &h->tr_act))
        return L->st = sutra_errf(SUTRA_ERR_UNSUPPORTED, L->err, L->errcap, "config.json: hidden_act '%.32s'", act);
    h->tr_eps = 1e-12f;
    if ((L->st = sutra_json_number(cfg, "config.json", "layer_norm_eps", 0.0, 1.0, &h->tr_eps, L->err, L->errcap)))
        return L->st;
    h->tr_w = take(L, "cls.predictions.transform.dense.weight", 2, cc, 0);
    h->tr_b = take(L, "cls.predictions.transform.dense.bias", 1, cc, 0);
    h->tr_ln_w = take(L, "cls.predictions.transform.LayerNorm.weight", 1, cc, 0);
    h->tr_ln_b = take(L, "cls.predictions.transform.LayerNorm.bias", 1, cc, 0);
    /* the decoder is the word embeddings where tied (transformers does not save it twice) */
    static const char *const dec[] = {"cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight",
                                      "embeddings.word_embeddings.weight"};
    static const char *const bias[] = {"cls.predictions.bias", "cls.predictions.decoder.bias"};
    const char *dw = first_of(L->file, dec, 3), *db = first_of(L->file, bias, 2);
    if (!dw || !db) return L->st = sutra_errf(SUTRA_ERR_MODEL, L->err, L->errcap, "%s: the masked-LM decoder's %s is missing", L->where, dw ? "bias" : "weight");
    h->dec_w = take(L, dw, 2, vc, 0);
    h->dec_b = take(L, db, 1, vc, 0);
    return L->st;
}

/* A special token's text from special_tokens_map.json or tokenizer_config.json: a string or
 * {"content": ...}. */
static const char *special_text(const cJSON *obj, const char *key) {
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return sutra_json_string(v, "content");
    return NULL;
}

/* bge-m3's specials left out of its sparse vectors: cls, eos, pad and unk, as its tokenizer names them. */
static void load_skip_ids(const char *dir, sutra_heads *h, const sutra_tokenizer *tok) {
    static const char *const files[] = {"special_tokens_map.json", "tokenizer_config.json"};
    static const char *const keys[] = {"cls_token", "eos_token", "pad_token", "unk_token"};
    static const char *const fallback[] = {"<s>", "</s>", "<pad>", "<unk>"};
    cJSON *maps[2] = {NULL, NULL};
    for (int f = 0; f < 2; f++) {
        char path[4096];
        if (sutra_path_join(path, sizeof path, dir, files[f]) && sutra_file_exists(path)) {
            char e[64];
            sutra_json_load(dir, files[f], &maps[f], e, sizeof e);
        }
    }
    for (int k = 0; k < 4; k++) {
        const char *t = special_text(maps[0], keys[k]);
        if (!t) t = special_text(maps[1], keys[k]);
        if (!t && !maps[0] && !maps[1]) t = fallback[k];
        const int32_t id = t ? sutra_tokenizer_token_to_id(tok, t) : -1;
        if (id >= 0 && h->n_skip < MAX_SKIP) h->skip[h->n_skip++] = id;
    }
    cJSON_Delete(maps[0]);
    cJSON_Delete(maps[1]);
}

/* bge-m3's heads beside the model ("weight", "bias"): name.safetensors, or the name.pt state dict
 * the repository ships (read by the torch.save reader; scripts/bge_m3_heads.py still converts it). */
static int load_m3_file(loader *L, const char *name, int64_t rows, int64_t C, float **w, float **b) {
    char file[64], path[4096];
    snprintf(file, sizeof file, "%s.safetensors", name);
    if (!sutra_path_join(path, sizeof path, L->dir, file)) return 0;
    sutra_status (*open_file)(const char *, sutra_st_file **, char *, size_t) = sutra_st_open;
    if (!sutra_file_exists(path)) {
        snprintf(file, sizeof file, "%s.pt", name);
        if (!sutra_path_join(path, sizeof path, L->dir, file) || !sutra_file_exists(path)) return 0;
        open_file = sutra_torch_open;
    }
    sutra_st_file *f = NULL;
    if ((L->st = open_file(path, &f, L->err, L->errcap))) return 0;
    loader sub = *L;
    sub.file = f;
    sub.where = path;
    const sutra_st_tensor *t = sutra_st_find(f, "weight");
    if (rows < 0) rows = t && t->ndim == 2 ? t->shape[0] : 0; /* ColBERT's width is the file's */
    if (rows < 1 || rows > 65536) {
        L->st = sutra_errf(SUTRA_ERR_MODEL, L->err, L->errcap, "%s: 'weight' must be (rows, %lld)", path, (long long)C);
    } else {
        *w = take(&sub, "weight", 2, (int64_t[]){rows, C}, 0);
        *b = take(&sub, "bias", 1, (int64_t[]){rows}, 0);
        L->st = sub.st;
    }
    sutra_st_close(f);
    return L->st ? 0 : (int)rows;
}

static sutra_status heads_from(const cJSON *cfg, const char *dir, const sutra_model_config *mc,
                               const sutra_st_file *weights, const sutra_tokenizer *tok, sutra_heads **out, char *err,
                               size_t errcap);

sutra_status sutra_heads_load(const char *dir, const sutra_model_config *mc, const sutra_st_file *weights,
                              const sutra_tokenizer *tok, sutra_heads **out, char *err, size_t errcap) {
    *out = NULL;
    cJSON *cfg = NULL;
    /* config.json is the transformer's: in a subfolder (0_Transformer/) in older layouts */
    char tf[4096];
    const char *cdir = sutra_model_transformer_path(dir, mc, tf, sizeof tf) ? tf : dir;
    sutra_status st = sutra_json_load(cdir, "config.json", &cfg, err, errcap);
    if (st) return st;
    st = heads_from(cfg, dir, mc, weights, tok, out, err, errcap);
    cJSON_Delete(cfg);
    return st;
}

sutra_status sutra_heads_parse(const char *json, size_t len, const char *dir, const sutra_model_config *mc,
                               const sutra_st_file *weights, const sutra_tokenizer *tok, sutra_heads **out, char *err,
                               size_t errcap) {
    *out = NULL;
    cJSON *cfg = NULL;
    sutra_status st = sutra_json_parse(json, len, "config.json", &cfg, err, errcap);
    if (st) return st;
    st = heads_from(cfg, dir, mc, weights, tok, out, err, errcap);
    cJSON_Delete(cfg);
    return st;
}

static sutra_status heads_from(const cJSON *cfg, const char *dir, const sutra_model_config *mc,
                               const sutra_st_file *weights, const sutra_tokenizer *tok, sutra_heads **out, char *err,
                               size_t errcap) {
    sutra_heads *h = calloc(1, sizeof *h);
    if (!h) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    h->C = mc->shape.C;
    h->yes_id = h->no_id = -1;
    loader L = {.dir = dir, .file = weights, .where = "the model's weights", .err = err, .errcap = errcap};
    const cJSON *arch = sutra_json_get(cfg, "architectures");
    const char *a = cJSON_IsArray(arch) && cJSON_IsString(arch->child) ? arch->child->valuestring : "";
    const size_t alen = strlen(a);
    static const char seqcls[] = "ForSequenceClassification";
    if (alen > sizeof seqcls - 1 && !strcmp(a + alen - (sizeof seqcls - 1), seqcls))
        load_classifier(&L, h, cfg, mc->model_type);
    else if (!strcmp(mc->model_type, "qwen3") && !strcmp(a, "Qwen3ForCausalLM") && !mc->has_st_config)
        /* Qwen3-Reranker; Qwen3-Embedding names the same class but ships a sentence-transformers pipeline */
        load_yes_no(&L, h, cfg, tok, mc->shape.vocab);
    if (!L.st && mc->splade) load_splade(&L, h, mc, cfg, mc->model_type, mc->shape.vocab);
    /* bge-m3's heads, stacked into the one token head the backend runs (SPLADE reads the hidden
     * states instead: a model cannot have both) */
    float *sp_w = NULL, *sp_b = NULL, *cb_w = NULL, *cb_b = NULL;
    const int m3_sparse = !L.st && load_m3_file(&L, "sparse_linear", 1, h->C, &sp_w, &sp_b);
    if (!L.st) h->cb_dim = load_m3_file(&L, "colbert_linear", -1, h->C, &cb_w, &cb_b);
    if (!L.st && mc->splade && (m3_sparse || h->cb_dim))
        L.st = sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                          "%s: a SparseEncoder (SPLADE) model with bge-m3's sparse_linear / colbert_linear", dir);
    if (!L.st && (m3_sparse || h->cb_dim)) {
        h->tok_rows = (h->cb_dim + m3_sparse + 7) / 8 * 8;
        h->tok_sparse_row = h->cb_dim;
        h->tok_w = calloc((size_t)h->tok_rows * (size_t)h->C, sizeof *h->tok_w);
        h->tok_b = calloc((size_t)h->tok_rows, sizeof *h->tok_b);
        if (!h->tok_w || !h->tok_b) {
            L.st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
        } else {
            if (h->cb_dim) {
                memcpy(h->tok_w, cb_w, (size_t)h->cb_dim * (size_t)h->C * sizeof *h->tok_w);
                memcpy(h->tok_b, cb_b, (size_t)h->cb_dim * sizeof *h->tok_b);
            }
            if (m3_sparse) {
                memcpy(h->tok_w + (size_t)h->tok_sparse_row * h->C, sp_w, (size_t)h->C * sizeof *h->tok_w);
                h->tok_b[h->tok_sparse_row] = sp_b[0];
                h->sparse = SUTRA_SPARSE_BGE_M3;
                load_skip_ids(dir, h, tok);
            }
        }
    }
    free(sp_w), free(sp_b), free(cb_w), free(cb_b);
    if (L.st || (h->score == SUTRA_SCORE_NONE && h->sparse == SUTRA_SPARSE_NONE && !h->cb_dim)) {
        sutra_heads_free(h);
        return L.st;
    }
    *out = h;
    return SUTRA_OK;
}

/* ---- running -------------------------------------------------------------------------------- */

static void layernorm_rows(float *x, size_t rows, int C, const float *w, const float *b, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *v = x + r * (size_t)C;
        double mean = 0, var = 0;
        for (int i = 0; i < C; i++) mean += v[i];
        mean /= C;
        for (int i = 0; i < C; i++) var += (v[i] - mean) * (v[i] - mean);
        const float rstd = (float)(1.0 / sqrt(var / C + eps));
        for (int i = 0; i < C; i++) v[i] = (float)(v[i] - mean) * rstd * w[i] + (b ? b[i] : 0.0f);
    }
}

int sutra_heads_score(sutra_heads *h, const float *pooled, size_t rows, int raw, float *scores) {
    const int C = h->C;
    if (h->score == SUTRA_SCORE_YES_NO) {
        for (size_t r = 0; r < rows; r++) {
            const float *x = pooled + r * (size_t)C;
            double yes = 0, no = 0;
            for (int i = 0; i < C; i++) {
                yes += (double)x[i] * h->yes_no[i];
                no += (double)x[i] * h->yes_no[C + i];
            }
            /* the softmax of (no, yes), its "yes" part: the model's relevance probability */
            scores[r] = raw ? (float)(yes - no) : (float)(1.0 / (1.0 + exp(no - yes)));
        }
        return 0;
    }
    float *t = malloc(rows * (size_t)C * sizeof *t), *logits = malloc(rows * (size_t)h->labels * sizeof *logits);
    if (!t || !logits) {
        free(t);
        free(logits);
        return -1;
    }
    sutra_host_linear(t, pooled, rows, h->pre_w, h->pre_b, C, C, h->pre_act);
    if (h->norm_w) layernorm_rows(t, rows, C, h->norm_w, h->norm_b, h->norm_eps);
    sutra_host_linear(logits, t, rows, h->out_w, h->out_b, h->labels, C, SUTRA_DENSE_IDENTITY);
    for (size_t r = 0; r < rows; r++) {
        float s = logits[r * (size_t)h->labels]; /* rerankers have one label */
        if (!raw && h->score_act == SUTRA_DENSE_SIGMOID) s = 1.0f / (1.0f + expf(-s));
        else if (!raw && h->score_act == SUTRA_DENSE_TANH) s = tanhf(s);
        else if (!raw && h->score_act == SUTRA_DENSE_RELU) s = s > 0 ? s : 0;
        scores[r] = s;
    }
    free(t);
    free(logits);
    return 0;
}

void sutra_sparse_vec_free(sutra_sparse_vec *v) {
    if (!v) return;
    free(v->ids);
    free(v->w);
    memset(v, 0, sizeof *v);
}

/* Keeps the entries of dense (V weights) above 0, ids ascending. */
static int collect(const float *dense, int V, sutra_sparse_vec *out) {
    size_t n = 0;
    for (int i = 0; i < V; i++) n += dense[i] > 0.0f;
    out->ids = malloc((n ? n : 1) * sizeof *out->ids);
    out->w = malloc((n ? n : 1) * sizeof *out->w);
    if (!out->ids || !out->w) return -1;
    for (int i = 0; i < V; i++)
        if (dense[i] > 0.0f) {
            out->ids[out->n] = i;
            out->w[out->n++] = dense[i];
        }
    return 0;
}

static int splade(sutra_heads *h, const float *hidden, size_t n, sutra_sparse_vec *out) {
    const int C = h->C, V = h->V;
    float *t = malloc(n * (size_t)C * sizeof *t), *logits = malloc((size_t)SPLADE_ROWS * V * sizeof *logits);
    float *acc = malloc((size_t)V * sizeof *acc);
    int rc = -1;
    if (t && logits && acc) {
        sutra_host_linear(t, hidden, n, h->tr_w, h->tr_b, C, C, h->tr_act);
        layernorm_rows(t, n, C, h->tr_ln_w, h->tr_ln_b, h->tr_eps);
        for (int i = 0; i < V; i++) acc[i] = h->splade_sum ? 0.0f : -INFINITY;
        for (size_t r0 = 0; r0 < n; r0 += SPLADE_ROWS) {
            const size_t rows = n - r0 < SPLADE_ROWS ? n - r0 : SPLADE_ROWS;
            sutra_host_linear(logits, t + r0 * C, rows, h->dec_w, h->dec_b, V, C, SUTRA_DENSE_IDENTITY);
            for (size_t r = 0; r < rows; r++) {
                const float *l = logits + r * (size_t)V;
                if (h->splade_sum) {
                    for (int i = 0; i < V; i++) {
                        float v = l[i] > 0 ? log1pf(l[i]) : 0.0f;
                        acc[i] += h->splade_log1p_act ? log1pf(v) : v;
                    }
                } else {
                    for (int i = 0; i < V; i++) acc[i] = l[i] > acc[i] ? l[i] : acc[i];
                }
            }
        }
        if (!h->splade_sum) /* the activation and log1p rise with x: the max of the logits, then them */
            for (int i = 0; i < V; i++) {
                float v = acc[i] > 0 ? log1pf(acc[i]) : 0.0f;
                acc[i] = h->splade_log1p_act ? log1pf(v) : v;
            }
        rc = collect(acc, V, out);
    }
    free(t);
    free(logits);
    free(acc);
    return rc;
}

static int by_id(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* bge-m3's sparse vector from each token's sparse_linear value: column tok_sparse_row of the token
 * head's rows (R wide). */
static int m3_sparse(sutra_heads *h, const float *rows, int R, const int32_t *ids, size_t n, sutra_sparse_vec *out) {
    /* (id, weight) pairs sorted by id, the largest weight per id kept */
    struct pair { int32_t id; float w; } *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) return -1;
    size_t k = 0;
    for (size_t t = 0; t < n; t++) {
        int skip = 0;
        for (int s = 0; s < h->n_skip; s++) skip |= ids[t] == h->skip[s];
        if (skip) continue;
        const float w = rows[t * (size_t)R + h->tok_sparse_row];
        if (w > 0.0f) p[k++] = (struct pair){ids[t], w};
    }
    qsort(p, k, sizeof *p, by_id);
    out->ids = malloc((k ? k : 1) * sizeof *out->ids);
    out->w = malloc((k ? k : 1) * sizeof *out->w);
    if (!out->ids || !out->w) {
        free(p);
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        if (out->n && out->ids[out->n - 1] == p[i].id) {
            if (p[i].w > out->w[out->n - 1]) out->w[out->n - 1] = p[i].w;
            continue;
        }
        out->ids[out->n] = p[i].id;
        out->w[out->n++] = p[i].w;
    }
    free(p);
    return 0;
}

int sutra_heads_sparse(sutra_heads *h, const float *hidden, size_t n, sutra_sparse_vec *out) {
    sutra_sparse_vec_free(out);
    return h->sparse == SUTRA_SPARSE_SPLADE ? splade(h, hidden, n, out) : -1;
}

int sutra_heads_token_rows(const sutra_heads *h, const float **w, const float **b) {
    if (w) *w = h ? h->tok_w : NULL;
    if (b) *b = h ? h->tok_b : NULL;
    return h ? h->tok_rows : 0;
}

int sutra_heads_sparse_rows(sutra_heads *h, const float *rows, const int32_t *ids, size_t n, sutra_sparse_vec *out) {
    sutra_sparse_vec_free(out);
    return h->sparse == SUTRA_SPARSE_BGE_M3 ? m3_sparse(h, rows, h->tok_rows, ids, n, out) : -1;
}

int sutra_heads_colbert_rows(sutra_heads *h, const float *rows, size_t n, float *out) {
    /* rows 1 .. n-1, each L2-normalised as sentence-transformers' Normalize does */
    for (size_t t = 1; t < n; t++)
        sutra_vector_finish(rows + t * (size_t)h->tok_rows, h->cb_dim, 1, out + (t - 1) * (size_t)h->cb_dim);
    return 0;
}
