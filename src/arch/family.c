/*
 * family.c - the table of families, and what reading config.json takes before and after a
 * family's own keys: the model_type, the keys most families share, the checks every shape must
 * pass.
 */
#include "arch/family.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/json.h"
#include "util/common.h"

static const sutra_family *const FAMILIES[] = {&sutra_family_bert, &sutra_family_distilbert, &sutra_family_modernbert,
                                               &sutra_family_mpnet, &sutra_family_nomic_bert,
                                               &sutra_family_qwen3, &sutra_family_gemma3};

const sutra_family *sutra_family_find(const char *model_type) {
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
        for (const char *const *t = FAMILIES[i]->model_types; *t; t++)
            if (!strcmp(*t, model_type)) return FAMILIES[i];
    return NULL;
}

sutra_status sutra_family_size_keys(const cJSON *root, const char *what, const sutra_size_keys *k,
                                    sutra_model_config *cfg, char *err, size_t errcap) {
    sutra_net_shape *s = &cfg->shape;
    sutra_status st;
    if ((st = sutra_json_int(root, what, k->vocab, 0, 1, 1 << 24, &s->vocab, err, errcap)) ||
        (st = sutra_json_int(root, what, k->hidden, 0, 1, 1 << 16, &s->C, err, errcap)) ||
        (st = sutra_json_int(root, what, k->layers, 0, 1, SUTRA_MAX_LAYERS, &s->L, err, errcap)) ||
        (st = sutra_json_int(root, what, k->heads, 0, 1, 1024, &s->H, err, errcap)) ||
        (st = sutra_json_int(root, what, k->ffn, 0, 1, 1 << 18, &s->F, err, errcap)) ||
        (st = sutra_json_int(root, what, k->positions, 0, 1, 1 << 20, &cfg->max_position_embeddings, err, errcap)))
        return st;
    if (s->C % s->H)
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: %s %d is not a multiple of %s %d", what, k->hidden, s->C,
                          k->heads, s->H);
    s->Hkv = s->H;
    s->D = s->C / s->H;
    s->positions = cfg->max_position_embeddings;
    s->attn_scale = 1.0f / sqrtf((float)s->D);
    for (int l = 0; l < s->L; l++) {
        s->window[l] = -1;
        s->rope_theta[l] = 0.0f;
    }
    return SUTRA_OK;
}

sutra_status sutra_family_common_keys(const cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                      size_t errcap) {
    static const sutra_size_keys bert_names = {"vocab_size", "hidden_size", "num_hidden_layers",
                                               "num_attention_heads", "intermediate_size", "max_position_embeddings"};
    return sutra_family_size_keys(root, what, &bert_names, cfg, err, errcap);
}

sutra_status sutra_family_act(const cJSON *root, const char *what, const char *key, sutra_act *act, char *err,
                              size_t errcap) {
    const char *a = sutra_json_string(root, key);
    if (sutra_json_get(root, key) && !a)
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: field '%s' must be a string", what, key);
    if (!a || !strcmp(a, "gelu")) *act = SUTRA_ACT_GELU;
    else if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh")) *act = SUTRA_ACT_GELU_TANH;
    else if (!strcmp(a, "silu") || !strcmp(a, "swish")) *act = SUTRA_ACT_SILU;
    else return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: unsupported %s '%s'", what, key, a);
    return SUTRA_OK;
}

sutra_norm sutra_family_norm(const sutra_net_shape *s, const float *w, const float *b) {
    return (sutra_norm){.w = w, .b = b, .kind = s->norm, .eps = s->eps};
}

/* name = fmt (with layer for its %d) + suffix */
static const char *tensor_name(char *buf, size_t cap, const char *fmt, int layer, const char *suffix) {
    char base[200];
    snprintf(base, sizeof base, fmt, layer);
    snprintf(buf, cap, "%s%s", base, suffix);
    return buf;
}

sutra_linear sutra_family_linear(sutra_binder *b, const char *fmt, int layer, int64_t N, int64_t K, int bias) {
    char n[256];
    sutra_linear lin = {sutra_bind(b, tensor_name(n, sizeof n, fmt, layer, ".weight"), 2, (int64_t[]){N, K}), NULL};
    if (bias) lin.b = sutra_bind(b, tensor_name(n, sizeof n, fmt, layer, ".bias"), 1, &N);
    return lin;
}

sutra_linear sutra_family_stacked(sutra_binder *b, const char *fmt, const char *const *names, int parts, int layer,
                                  const int64_t *rows, int64_t cols, int bias) {
    char f[200], n[256];
    int64_t total = 0;
    for (int i = 0; i < parts; i++) total += rows[i];
    float *w = sutra_bind_fused_alloc(b, (size_t)(total * cols));
    float *bv = bias ? sutra_bind_fused_alloc(b, (size_t)total) : NULL;
    for (int i = 0, r0 = 0; i < parts; r0 += (int)rows[i], i++) {
        snprintf(f, sizeof f, fmt, names[i]);
        sutra_bind_into(b, w ? w + (size_t)r0 * cols : NULL, tensor_name(n, sizeof n, f, layer, ".weight"), 2,
                        (int64_t[]){rows[i], cols});
        if (bias) sutra_bind_into(b, bv ? bv + r0 : NULL, tensor_name(n, sizeof n, f, layer, ".bias"), 1, &rows[i]);
    }
    return (sutra_linear){w, bv};
}

sutra_linear sutra_family_fused_qkv(sutra_binder *b, const char *fmt, const char *const names[3], int layer,
                                    const int64_t rows[3], int64_t cols, int bias) {
    return sutra_family_stacked(b, fmt, names, 3, layer, rows, cols, bias);
}

sutra_norm sutra_family_bind_norm(sutra_binder *b, const sutra_net_shape *s, const char *fmt, int layer, int bias) {
    char n[256];
    const int64_t C = s->C;
    const float *w = sutra_bind(b, tensor_name(n, sizeof n, fmt, layer, ".weight"), 1, &C);
    const float *bb = bias ? sutra_bind(b, tensor_name(n, sizeof n, fmt, layer, ".bias"), 1, &C) : NULL;
    return sutra_family_norm(s, w, bb);
}

/* What the forward relies on, whatever the family. */
static sutra_status check_shape(const sutra_net_shape *s, const char *what, char *err, size_t errcap) {
    if (s->C < 1 || s->L < 1 || s->H < 1 || s->Hkv < 1 || s->H % s->Hkv || s->D < 1 || s->F < 1 || s->vocab < 1)
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: inconsistent sizes (hidden %d, layers %d, heads %d / %d, "
                          "head dim %d, FFN %d)", what, s->C, s->L, s->H, s->Hkv, s->D, s->F);
    if (s->pos_offset < 0 || s->pos_offset >= s->positions)
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: pad_token_id leaves no positions", what);
    for (int l = 0; l < s->L; l++)
        if (s->rope_theta[l] > 0 && s->D % 2)
            return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: rotary embeddings need an even head dim", what);
    if (s->rel_span < 0 || s->rel_span > (1 << 20))
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: relative position span %d", what, s->rel_span);
    if (!(s->eps > 0) || !(s->attn_scale > 0))
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: norm eps and attention scale must be positive", what);
    return SUTRA_OK;
}

sutra_status sutra_model_config_parse(const char *json, size_t len, const char *what, sutra_model_config *cfg,
                                      char *err, size_t errcap) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = NULL;
    sutra_status st = sutra_json_parse(json, len, what, &root, err, errcap);
    if (st) return st;
    const char *mt = sutra_json_string(root, "model_type");
    const sutra_family *fam = NULL;
    if (!cJSON_IsObject(root)) {
        st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: top level must be an object", what);
    } else if (!mt || strlen(mt) >= sizeof cfg->model_type) {
        st = sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: missing or invalid field 'model_type'", what);
    } else if (!(fam = sutra_family_find(mt))) {
        char list[256] = "";
        for (size_t i = 0, n = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
            for (const char *const *t = FAMILIES[i]->model_types; *t && n < sizeof list; t++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", *t);
        st = sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "unsupported architecture '%s' (supported: %s)", mt, list);
    } else {
        strcpy(cfg->model_type, mt);
        st = fam->configure(root, what, cfg, err, errcap);
        if (!st) st = check_shape(&cfg->shape, what, err, errcap);
    }
    cJSON_Delete(root);
    cfg->pooling = SUTRA_POOLING_MEAN;
    return st;
}

sutra_status sutra_model_config_load(const char *dir, sutra_model_config *cfg, char *err, size_t errcap) {
    /* config.json is the transformer's: e.g. 0_Transformer/config.json in older layouts (which
     * modules.json names; sutra_st_config_load records it as cfg->transformer_dir) */
    char path[4096], rel[sizeof cfg->transformer_dir], file[sizeof rel + 16] = "config.json";
    if (!sutra_st_transformer_dir(dir, rel, sizeof rel))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                          "%s/modules.json: unreadable, or its Transformer module's path is not a folder there", dir);
    if (*rel) snprintf(file, sizeof file, "%s/config.json", rel);
    if (!sutra_path_join(path, sizeof path, dir, file))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "model path too long");
    char *text;
    size_t len;
    sutra_status st = sutra_read_file(path, &text, &len, err, errcap);
    if (st) return st;
    st = sutra_model_config_parse(text, len, path, cfg, err, errcap);
    free(text);
    return st ? st : sutra_st_config_load(dir, cfg, err, errcap);
}
