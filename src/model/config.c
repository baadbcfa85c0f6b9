/*
 * config.c - the JSON field readers (json.h) and the sentence-transformers files of a model
 * directory (modules.json, the Pooling module's config, sentence_bert_config.json, prompts).
 * config.json itself is read by the model's family (src/arch/family.c). Each error names the file
 * and the field at fault.
 */
#include "model/config.h"
#include "model/json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

#define EC err, errcap

sutra_status sutra_json_int(const cJSON *obj, const char *what, const char *key, int optional, long lo, long hi,
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

sutra_status sutra_json_number(const cJSON *obj, const char *what, const char *key, double lo, double hi, float *out,
                               char *err, size_t errcap) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) return SUTRA_OK;
    if (!cJSON_IsNumber(it) || !(it->valuedouble > lo) || it->valuedouble > hi)
        return sutra_errf(SUTRA_ERR_MODEL, EC, "%s: field '%s' must be a number in (%g, %g]", what, key, lo, hi);
    *out = (float)it->valuedouble;
    return SUTRA_OK;
}

int sutra_json_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(it) ? cJSON_IsTrue(it) : dflt;
}

const char *sutra_json_string(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

const cJSON *sutra_json_get(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

sutra_status sutra_json_parse(const char *text, size_t len, const char *what, cJSON **out, char *err, size_t errcap) {
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

sutra_status sutra_json_load(const char *dir, const char *name, cJSON **out, char *err, size_t errcap) {
    char path[4096];
    if (!sutra_path_join(path, sizeof path, dir, name))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, EC, "path too long: %s/%s", dir, name);
    char *text;
    size_t len;
    sutra_status st = sutra_read_file(path, &text, &len, EC);
    if (st) return st;
    st = sutra_json_parse(text, len, path, out, EC);
    free(text);
    return st;
}

void sutra_json_free(cJSON *root) { cJSON_Delete(root); }

static const struct {
    const char *name; /* the class name ending torch's module path */
    sutra_dense_act act;
} DENSE_ACTS[] = {
    {"Identity", SUTRA_DENSE_IDENTITY}, {"Tanh", SUTRA_DENSE_TANH},       {"ReLU", SUTRA_DENSE_RELU},
    {"GELU", SUTRA_DENSE_GELU},         {"Sigmoid", SUTRA_DENSE_SIGMOID}, {"SiLU", SUTRA_DENSE_SILU},
};

const char *sutra_dense_act_name(sutra_dense_act act) {
    for (size_t i = 0; i < sizeof DENSE_ACTS / sizeof DENSE_ACTS[0]; i++)
        if (DENSE_ACTS[i].act == act) return DENSE_ACTS[i].name;
    return "?";
}

/* A module's "path" must name a folder inside the model directory. */
static int module_path_ok(const cJSON *mpath) {
    return cJSON_IsString(mpath) && mpath->valuestring[0] != '/' && !strstr(mpath->valuestring, "..") &&
           strlen(mpath->valuestring) < sizeof ((sutra_dense_config *)0)->path;
}

/* A Dense module's config.json: in_features, out_features, bias, activation_function (torch's
 * module path; sentence-transformers' default is Tanh). */
static sutra_status load_dense(const char *dir, const char *mpath, sutra_dense_config *d, char *err, size_t errcap) {
    char rel[1024], what[4096];
    snprintf(rel, sizeof rel, "%s/config.json", mpath);
    snprintf(what, sizeof what, "%s/%s", dir, rel);
    cJSON *dc = NULL;
    sutra_status st = sutra_json_load(dir, rel, &dc, EC);
    if (st) return st;
    snprintf(d->path, sizeof d->path, "%s", mpath);
    d->in = d->out = 0;
    if (!(st = sutra_json_int(dc, what, "in_features", 0, 1, 1 << 20, &d->in, EC)))
        st = sutra_json_int(dc, what, "out_features", 0, 1, 1 << 20, &d->out, EC);
    d->bias = sutra_json_bool(dc, "bias", 1);
    d->act = SUTRA_DENSE_TANH;
    const cJSON *af = cJSON_GetObjectItemCaseSensitive(dc, "activation_function");
    if (!st && af && !cJSON_IsNull(af)) {
        const char *name = cJSON_IsString(af) ? af->valuestring : "";
        const char *cls = strrchr(name, '.');
        cls = cls ? cls + 1 : name;
        size_t i = 0, n = sizeof DENSE_ACTS / sizeof DENSE_ACTS[0];
        while (i < n && strcmp(cls, DENSE_ACTS[i].name)) i++;
        if (i == n)
            st = sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s: activation_function '%.80s' is not supported (Identity, "
                            "Tanh, ReLU, GELU, Sigmoid, SiLU)", what, name);
        else d->act = DENSE_ACTS[i].act;
    }
    cJSON_Delete(dc);
    return st;
}

/* SpladePooling's config.json: pooling_strategy max | sum, activation_function relu | log1p_relu
 * (absent: max and relu, the module's defaults); chunk_size only bounds memory there. */
static sutra_status load_splade(const char *dir, const cJSON *mpath, sutra_model_config *cfg, char *err, size_t errcap) {
    if (!module_path_ok(mpath)) return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: SpladePooling module lacks a valid 'path'", dir);
    char rel[1024], path[4096];
    snprintf(rel, sizeof rel, "%s/config.json", mpath->valuestring);
    cfg->splade = 1;
    if (!sutra_path_join(path, sizeof path, dir, rel) || !sutra_file_exists(path)) return SUTRA_OK;
    cJSON *pc = NULL;
    sutra_status st = sutra_json_load(dir, rel, &pc, EC);
    if (st) return st;
    const char *strategy = sutra_json_string(pc, "pooling_strategy"), *act = sutra_json_string(pc, "activation_function");
    if (strategy && strcmp(strategy, "max") && strcmp(strategy, "sum"))
        st = sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s/%s: pooling_strategy '%.40s' (max or sum)", dir, rel, strategy);
    else if (act && strcmp(act, "relu") && strcmp(act, "log1p_relu"))
        st = sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s/%s: activation_function '%.40s' (relu or log1p_relu)", dir, rel, act);
    cfg->splade_sum = strategy && !strcmp(strategy, "sum");
    cfg->splade_log1p_act = act && !strcmp(act, "log1p_relu");
    cJSON_Delete(pc);
    return st;
}

/* modules.json lists the pipeline; the Pooling module's folder holds its config.json. */
static sutra_status load_st_modules(const char *dir, sutra_model_config *cfg, char *err, size_t errcap) {
    char path[4096];
    if (!sutra_path_join(path, sizeof path, dir, "modules.json") || !sutra_file_exists(path)) return SUTRA_OK;
    cJSON *mods = NULL;
    sutra_status st = sutra_json_load(dir, "modules.json", &mods, EC);
    if (st) return st;
    if (!cJSON_IsArray(mods)) {
        cJSON_Delete(mods);
        return sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: expected an array of modules", path);
    }
    cfg->has_st_config = 1;
    int pooled = 0, normalized = 0; /* the order sentence-transformers runs them in */
    int transformers = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, mods) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
        const cJSON *mpath = cJSON_GetObjectItemCaseSensitive(m, "path");
        if (!cJSON_IsString(type)) {
            st = sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: a module lacks a string 'type'", path);
            break;
        }
        /* the class at the end of the module path: "sentence_transformers.models.Dense" and
         * sentence-transformers 5+'s "sentence_transformers.base.modules.dense.Dense" alike */
        const char *t = type->valuestring, *cls = strrchr(t, '.');
        cls = cls ? cls + 1 : t;
        if (normalized) {
            st = sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s: module '%.80s' after Normalize is not supported", path, t);
            break;
        }
        if (!strcmp(cls, "Normalize")) {
            cfg->normalize = 1;
            normalized = 1;
        } else if (!strcmp(cls, "Transformer") || !strcmp(cls, "MLMTransformer")) {
            /* the encoder itself: config.json and the weights beside it (MLMTransformer: with its
             * masked-LM head, which SpladePooling reads) */
            cfg->splade |= !strcmp(cls, "MLMTransformer") ? 2 : 0;
            if (!transformers++ && module_path_ok(mpath)) /* the first one's folder, as sutra_st_transformer_dir */
                snprintf(cfg->transformer_dir, sizeof cfg->transformer_dir, "%s", mpath->valuestring);
        } else if (!strcmp(cls, "SpladePooling")) {
            if (!(cfg->splade & 2) || pooled) {
                st = sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s: SpladePooling needs an MLMTransformer before it and no other pooling", path);
                break;
            }
            if ((st = load_splade(dir, mpath, cfg, EC))) break;
            pooled = 1;
        } else if (!strcmp(cls, "Dense")) {
            if (!pooled || cfg->n_dense == SUTRA_MAX_DENSE) {
                st = sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s: %s", path,
                                pooled ? "more than 8 Dense modules" : "a Dense module before pooling is not supported");
                break;
            }
            if (!module_path_ok(mpath)) {
                st = sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: Dense module lacks a valid 'path'", path);
                break;
            }
            sutra_dense_config *d = &cfg->dense[cfg->n_dense];
            if ((st = load_dense(dir, mpath->valuestring, d, EC))) break;
            if (cfg->n_dense && d->in != cfg->dense[cfg->n_dense - 1].out) {
                st = sutra_errf(SUTRA_ERR_MODEL, EC, "%s/%s: in_features %d, but the module before gives %d", dir,
                                d->path, d->in, cfg->dense[cfg->n_dense - 1].out);
                break;
            }
            cfg->n_dense++;
        } else if (strcmp(cls, "Pooling")) {
            /* Dense, LayerNorm, ... change the vectors: ignoring one would give wrong outputs */
            st = sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s: module '%.80s'%s%.80s is not supported", path, t,
                            cJSON_IsString(mpath) ? " at " : "", cJSON_IsString(mpath) ? mpath->valuestring : "");
            break;
        } else {
            if (!module_path_ok(mpath)) {
                st = sutra_errf(SUTRA_ERR_FORMAT, EC, "%s: Pooling module lacks a valid 'path'", path);
                break;
            }
            pooled = 1;
            char rel[1024];
            snprintf(rel, sizeof rel, "%s/config.json", mpath->valuestring);
            cJSON *pc = NULL;
            if ((st = sutra_json_load(dir, rel, &pc, EC))) break;
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

int sutra_st_transformer_dir(const char *dir, char *rel, size_t cap) {
    char path[4096];
    rel[0] = 0;
    if (!sutra_path_join(path, sizeof path, dir, "modules.json") || !sutra_file_exists(path)) return 1;
    cJSON *mods = NULL;
    if (sutra_json_load(dir, "modules.json", &mods, NULL, 0)) return 0;
    int ok = cJSON_IsArray(mods);
    const cJSON *m, *arr = ok ? mods : NULL;
    cJSON_ArrayForEach(m, arr) {
        const char *type = sutra_json_string(m, "type");
        const char *cls = type ? strrchr(type, '.') : NULL;
        cls = cls ? cls + 1 : type;
        if (!cls || (strcmp(cls, "Transformer") && strcmp(cls, "MLMTransformer"))) continue;
        const cJSON *mpath = cJSON_GetObjectItemCaseSensitive(m, "path");
        if (!mpath || (cJSON_IsString(mpath) && !mpath->valuestring[0])) break; /* the folder itself */
        char sub[4096];
        ok = module_path_ok(mpath) && strlen(mpath->valuestring) < cap &&
             sutra_path_join(sub, sizeof sub, dir, mpath->valuestring) && sutra_dir_exists(sub);
        if (ok) snprintf(rel, cap, "%s", mpath->valuestring);
        break;
    }
    cJSON_Delete(mods);
    return ok;
}

int sutra_model_transformer_path(const char *dir, const sutra_model_config *cfg, char *out, size_t cap) {
    if (!cfg->transformer_dir[0]) return snprintf(out, cap, "%s", dir) < (int)cap;
    return sutra_path_join(out, cap, dir, cfg->transformer_dir);
}

sutra_status sutra_st_config_load(const char *dir, sutra_model_config *cfg, char *err, size_t errcap) {
    cfg->pooling = SUTRA_POOLING_MEAN;
    cfg->normalize = 0;
    cfg->st_max_seq_length = 0;
    cfg->has_st_config = 0;
    cfg->n_dense = 0;
    cfg->splade = cfg->splade_sum = cfg->splade_log1p_act = 0;
    cfg->transformer_dir[0] = '\0';
    sutra_status st = load_st_modules(dir, cfg, EC);
    if (!st && cfg->splade == 2) st = sutra_errf(SUTRA_ERR_UNSUPPORTED, EC, "%s: an MLMTransformer without SpladePooling", dir);
    if (st) return st;
    char path[4096], sbname[1100] = "sentence_bert_config.json";
    /* older layouts keep it in the transformer's folder */
    if (sutra_path_join(path, sizeof path, dir, sbname) && !sutra_file_exists(path) && cfg->transformer_dir[0]) {
        snprintf(sbname, sizeof sbname, "%s/sentence_bert_config.json", cfg->transformer_dir);
        sutra_path_join(path, sizeof path, dir, sbname);
    }
    if (sutra_file_exists(path)) {
        cJSON *sb = NULL;
        if ((st = sutra_json_load(dir, sbname, &sb, EC))) return st;
        st = sutra_json_int(sb, path, "max_seq_length", 1, 1, 1 << 20, &cfg->st_max_seq_length, EC);
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
    sutra_status st = sutra_json_load(dir, "config_sentence_transformers.json", &root, EC);
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
