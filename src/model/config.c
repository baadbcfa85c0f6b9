/*
 * config.c - reads config.json and the sentence-transformers module files of a model directory.
 * Each error names the file and the field at fault.
 */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

#define EC err, errcap

/* Reads an integer field in [lo, hi]; absent fields keep *out when optional. */
static sutra_status get_int(const cJSON *obj, const char *what, const char *key, int optional, long lo, long hi,
                            int *out, char *err, size_t errcap) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) {
        if (optional) return SUTRA_OK;
        return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: missing field '%s'", what, key);
    }
    double d = it->valuedouble;
    if (!cJSON_IsNumber(it) || d != floor(d) || d < (double)lo || d > (double)hi)
        return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: field '%s' must be an integer in [%ld, %ld]", what, key, lo, hi);
    *out = (int)d;
    return SUTRA_OK;
}

static sutra_status parse_json(const char *text, size_t len, const char *what, cJSON **out, char *err,
                               size_t errcap) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end ? (size_t)(end - text) : 0;
        return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: malformed JSON near byte %zu", what, off);
    }
    if (!cJSON_IsObject(root) && !cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: top level must be an object or array", what);
    }
    *out = root;
    return SUTRA_OK;
}

static sutra_status load_json_file(const char *dir, const char *name, cJSON **out, char *err, size_t errcap) {
    char path[4096];
    if (!sutra_path_join(path, sizeof path, dir, name))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC, "path too long: %s/%s", dir, name);
    char *text;
    size_t len;
    sutra_status st = sutra_read_file(path, &text, &len, EC);
    if (st) return st;
    st = parse_json(text, len, path, out, EC);
    free(text);
    return st;
}

static int get_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(it) ? cJSON_IsTrue(it) : dflt;
}

/* Reads a positive number field; absent keeps *out. */
static sutra_status get_pos_number(const cJSON *obj, const char *what, const char *key, float *out, char *err,
                                   size_t errcap) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) return SUTRA_OK;
    if (!cJSON_IsNumber(it) || !(it->valuedouble > 0.0) || it->valuedouble > 1e12)
        return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: field '%s' must be a positive number", what, key);
    *out = (float)it->valuedouble;
    return SUTRA_OK;
}

/* ModernBERT's fields, in both the original config layout (global_rope_theta, local_rope_theta,
 * global_attn_every_n_layers) and the one newer transformers writes (rope_parameters per layer
 * type, layer_types). Defaults are ModernBertConfig's. */
static sutra_status parse_modernbert(const cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                     size_t errcap) {
    sutra_status st;
    cfg->norm_bias = get_bool(root, "norm_bias", 0);
    cfg->attention_bias = get_bool(root, "attention_bias", 0);
    cfg->mlp_bias = get_bool(root, "mlp_bias", 0);
    int local_attention = 128, every = 3;
    if ((st = get_int(root, what, "local_attention", 1, 2, 1 << 20, &local_attention, EC)) ||
        (st = get_int(root, what, "global_attn_every_n_layers", 1, 1, SUTRA_MAX_LAYERS, &every, EC)))
        return st;
    cfg->local_window = local_attention / 2; /* |i - j| <= local_attention / 2 (HF's sliding_window) */
    cfg->rope_theta_global = 160000.0f;
    cfg->rope_theta_local = 10000.0f;
    if ((st = get_pos_number(root, what, "global_rope_theta", &cfg->rope_theta_global, EC)) ||
        (st = get_pos_number(root, what, "local_rope_theta", &cfg->rope_theta_local, EC)))
        return st;
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (cJSON_IsObject(rp)) {
        const cJSON *full = cJSON_GetObjectItemCaseSensitive(rp, "full_attention");
        const cJSON *slid = cJSON_GetObjectItemCaseSensitive(rp, "sliding_attention");
        if ((full && (st = get_pos_number(full, what, "rope_theta", &cfg->rope_theta_global, EC))) ||
            (slid && (st = get_pos_number(slid, what, "rope_theta", &cfg->rope_theta_local, EC))))
            return st;
        const cJSON *rt;
        const cJSON *parts[2] = {full, slid};
        for (int i = 0; i < 2; i++)
            if (parts[i] && (rt = cJSON_GetObjectItemCaseSensitive(parts[i], "rope_type")) &&
                !(cJSON_IsString(rt) && !strcmp(rt->valuestring, "default")))
                return sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s: unsupported rope_type (only 'default')", what);
    }
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(root, "layer_types");
    if (lt) {
        if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != cfg->num_layers)
            return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: 'layer_types' must list %d layers", what, cfg->num_layers);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, lt) {
            const char *t = cJSON_IsString(it) ? it->valuestring : "";
            if (!strcmp(t, "sliding_attention")) cfg->layer_is_local[i] = 1;
            else if (!strcmp(t, "full_attention")) cfg->layer_is_local[i] = 0;
            else return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: unknown layer type '%s'", what, t);
            i++;
        }
    } else {
        for (int i = 0; i < cfg->num_layers; i++) cfg->layer_is_local[i] = (i % every) != 0;
    }
    return SUTRA_OK;
}

sutra_status sutra_model_config_parse(const char *json, size_t len, const char *what, sutra_model_config *cfg,
                                      char *err, size_t errcap) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = NULL;
    sutra_status st = parse_json(json, len, what, &root, EC);
    if (st) return st;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: top level must be an object", what);
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt) || strlen(mt->valuestring) >= sizeof cfg->model_type) {
        cJSON_Delete(root);
        return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: missing or invalid field 'model_type'", what);
    }
    strcpy(cfg->model_type, mt->valuestring);

    int is_bert = !strcmp(cfg->model_type, "bert"),
        is_roberta = !strcmp(cfg->model_type, "xlm-roberta") || !strcmp(cfg->model_type, "roberta"),
        is_modernbert = !strcmp(cfg->model_type, "modernbert");
    if (!is_bert && !is_roberta && !is_modernbert) {
        cJSON_Delete(root);
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, EC,
                          "unsupported architecture '%s' (supported: bert, xlm-roberta, roberta, modernbert)",
                          cfg->model_type);
    }
    cfg->type_vocab_size = is_modernbert ? 0 : 2;
    cfg->layer_norm_eps = is_bert ? 1e-12f : 1e-5f;
    cfg->hidden_act = SUTRA_ACT_GELU;
    if ((st = get_int(root, what, "vocab_size", 0, 1, 1 << 24, &cfg->vocab_size, EC)) ||
        (st = get_int(root, what, "hidden_size", 0, 1, 1 << 16, &cfg->hidden_size, EC)) ||
        (st = get_int(root, what, "num_hidden_layers", 0, 1, SUTRA_MAX_LAYERS, &cfg->num_layers, EC)) ||
        (st = get_int(root, what, "num_attention_heads", 0, 1, 1024, &cfg->num_heads, EC)) ||
        (st = get_int(root, what, "intermediate_size", 0, 1, 1 << 18, &cfg->intermediate_size, EC)) ||
        (st = get_int(root, what, "max_position_embeddings", 0, 1, 1 << 20, &cfg->max_position_embeddings, EC)) ||
        (st = get_int(root, what, "type_vocab_size", 1, 0, 1 << 16, &cfg->type_vocab_size, EC)) ||
        (st = get_int(root, what, "pad_token_id", 1, 0, 1 << 24, &cfg->pad_token_id, EC))) {
        cJSON_Delete(root);
        return st;
    }
    const char *eps_key = is_modernbert ? "norm_eps" : "layer_norm_eps";
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, eps_key);
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0.0) || eps->valuedouble > 1.0) {
            cJSON_Delete(root);
            return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: field '%s' must be a number in (0, 1]", what, eps_key);
        }
        cfg->layer_norm_eps = (float)eps->valuedouble;
    }
    const char *act_key = is_modernbert ? "hidden_activation" : "hidden_act";
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, act_key);
    if (act) {
        const char *a = cJSON_IsString(act) ? act->valuestring : "";
        if (!strcmp(a, "gelu")) cfg->hidden_act = SUTRA_ACT_GELU;
        else if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh")) cfg->hidden_act = SUTRA_ACT_GELU_TANH;
        else {
            cJSON_Delete(root);
            return sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s: unsupported %s '%s'", what, act_key, a);
        }
    }
    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
    if (pet && !is_modernbert && !(cJSON_IsString(pet) && !strcmp(pet->valuestring, "absolute"))) {
        cJSON_Delete(root);
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s: unsupported position_embedding_type", what);
    }
    if (is_roberta) {
        /* RoBERTa numbers positions from padding_idx + 1 (create_position_ids_from_input_ids) */
        cfg->pos_offset = cfg->pad_token_id + 1;
        if (cfg->pos_offset >= cfg->max_position_embeddings) {
            cJSON_Delete(root);
            return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: pad_token_id leaves no positions", what);
        }
    }
    if (is_modernbert && (st = parse_modernbert(root, what, cfg, EC))) {
        cJSON_Delete(root);
        return st;
    }
    cJSON_Delete(root);
    if (cfg->hidden_size % cfg->num_heads)
        return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: hidden_size %d is not a multiple of num_attention_heads %d", what,
                          cfg->hidden_size, cfg->num_heads);
    if (is_modernbert && (cfg->hidden_size / cfg->num_heads) % 2)
        return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: rotary embeddings need an even head dim", what);
    if (!is_modernbert && cfg->type_vocab_size == 0) cfg->type_vocab_size = 1;
    cfg->pooling = SUTRA_POOLING_MEAN;
    return SUTRA_OK;
}

/* modules.json lists the pipeline; the Pooling module's folder holds its config.json. */
static sutra_status load_st_modules(const char *dir, sutra_model_config *cfg, char *err, size_t errcap) {
    char path[4096];
    if (!sutra_path_join(path, sizeof path, dir, "modules.json") || !sutra_file_exists(path)) return SUTRA_OK;
    cJSON *mods = NULL;
    sutra_status st = load_json_file(dir, "modules.json", &mods, EC);
    if (st) return st;
    if (!cJSON_IsArray(mods)) {
        cJSON_Delete(mods);
        return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: expected an array of modules", path);
    }
    cfg->has_st_config = 1;
    const cJSON *m;
    cJSON_ArrayForEach(m, mods) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
        const cJSON *mpath = cJSON_GetObjectItemCaseSensitive(m, "path");
        if (!cJSON_IsString(type)) {
            st = sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: a module lacks a string 'type'", path);
            break;
        }
        const char *t = type->valuestring;
        if (strstr(t, "Normalize")) {
            cfg->normalize = 1;
        } else if (strstr(t, "Pooling")) {
            if (!cJSON_IsString(mpath) || strstr(mpath->valuestring, "..")) {
                st = sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: Pooling module lacks a valid 'path'", path);
                break;
            }
            char rel[1024];
            snprintf(rel, sizeof rel, "%s/config.json", mpath->valuestring);
            cJSON *pc = NULL;
            if ((st = load_json_file(dir, rel, &pc, EC))) break;
            static const struct { const char *key; sutra_pooling mode; } modes[] = {
                {"pooling_mode_cls_token", SUTRA_POOLING_CLS},
                {"pooling_mode_mean_tokens", SUTRA_POOLING_MEAN},
                {"pooling_mode_max_tokens", SUTRA_POOLING_MAX},
                {"pooling_mode_lasttoken", SUTRA_POOLING_LAST},
            };
            int found = 0;
            for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pc, modes[i].key))) {
                    cfg->pooling = modes[i].mode;
                    found++;
                }
            }
            const cJSON *other = cJSON_GetObjectItemCaseSensitive(pc, "pooling_mode_mean_sqrt_len_tokens");
            const cJSON *wm = cJSON_GetObjectItemCaseSensitive(pc, "pooling_mode_weightedmean_tokens");
            cJSON_Delete(pc);
            if (cJSON_IsTrue(other) || cJSON_IsTrue(wm) || found > 1) {
                st = sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s/%s: unsupported pooling combination", dir, rel);
                break;
            }
            if (found == 0) {
                st = sutra_errf(SUTRA_ERR_MODEL, EC, "%s/%s: no pooling mode enabled", dir, rel);
                break;
            }
        }
    }
    cJSON_Delete(mods);
    return st;
}

sutra_status sutra_model_config_load(const char *dir, sutra_model_config *cfg, char *err, size_t errcap) {
    char path[4096];
    if (!sutra_path_join(path, sizeof path, dir, "config.json"))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC, "model path too long");
    char *text;
    size_t len;
    sutra_status st = sutra_read_file(path, &text, &len, EC);
    if (st) return st;
    st = sutra_model_config_parse(text, len, path, cfg, EC);
    free(text);
    if (st) return st;
    if ((st = load_st_modules(dir, cfg, EC))) return st;

    if (sutra_path_join(path, sizeof path, dir, "sentence_bert_config.json") && sutra_file_exists(path)) {
        cJSON *sb = NULL;
        if ((st = load_json_file(dir, "sentence_bert_config.json", &sb, EC))) return st;
        st = get_int(sb, path, "max_seq_length", 1, 1, 1 << 20, &cfg->st_max_seq_length, EC);
        cJSON_Delete(sb);
        if (st) return st;
    }
    return SUTRA_OK;
}

sutra_status sutra_prompts_load(const char *dir, sutra_prompts *p, char *err, size_t errcap) {
    memset(p, 0, sizeof *p);
    p->default_index = -1;
    char path[4096];
    if (!sutra_path_join(path, sizeof path, dir, "config_sentence_transformers.json") || !sutra_file_exists(path))
        return SUTRA_OK;
    cJSON *root = NULL;
    sutra_status st = load_json_file(dir, "config_sentence_transformers.json", &root, EC);
    if (st) return st;
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(root, "prompts");
    if (prompts && !cJSON_IsObject(prompts)) {
        cJSON_Delete(root);
        return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: 'prompts' must be an object of strings", path);
    }
    int n = prompts ? cJSON_GetArraySize(prompts) : 0;
    p->items = n ? calloc((size_t)n, sizeof *p->items) : NULL;
    const cJSON *it;
    if (prompts) {
        cJSON_ArrayForEach(it, prompts) {
            if (!cJSON_IsString(it) || !it->string) {
                st = sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: prompt '%s' is not a string", path, it->string ? it->string : "");
                break;
            }
            p->items[p->n].name = strdup(it->string);
            p->items[p->n].text = strdup(it->valuestring);
            if (!p->items[p->n].name || !p->items[p->n].text) {
                st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, EC, "out of memory");
                p->n++;
                break;
            }
            p->n++;
        }
    }
    const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(root, "default_prompt_name");
    if (!st && cJSON_IsString(dflt)) {
        for (int i = 0; i < p->n; i++)
            if (!strcmp(p->items[i].name, dflt->valuestring)) p->default_index = i;
        if (p->default_index < 0)
            st = sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: default_prompt_name '%s' is not among the prompts", path,
                            dflt->valuestring);
    }
    cJSON_Delete(root);
    if (st) sutra_prompts_free(p);
    return st;
}

void sutra_prompts_free(sutra_prompts *p) {
    for (int i = 0; i < p->n; i++) {
        free(p->items[i].name);
        free(p->items[i].text);
    }
    free(p->items);
    memset(p, 0, sizeof *p);
    p->default_index = -1;
}

const char *sutra_prompts_find(const sutra_prompts *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->items[i].name, name)) return p->items[i].text;
    return NULL;
}
