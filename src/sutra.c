/*
 * sutra.c - the public API's wiring: status strings, the config, create/destroy, tokenising,
 * prompts, info, stats and the embedding calls that hand tokenised inputs to the packing
 * (embed/pack.c). The device and the attention decision are device.c's; long documents are
 * embed/longdoc.c's.
 *
 * Rules: validate every argument before doing work; every failure sets the handle's last error
 * (naming the input, file or tensor); no output is written unless the whole call succeeds.
 */
#include "sutra.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/family.h"
#include "embedder.h"
#include "hub/hub.h"
#include "model/checkpoint.h"
#include "tokenizer/template.h"
#include "util/cpus.h"
#include "util/struct_size.h"

#define DEFAULT_BATCH_TOKENS 8192

/* The library's own version: the header's macros as this library was compiled. */
const char *sutra_version(void) { return SUTRA_VERSION_STRING; }
int sutra_version_number(void) { return SUTRA_VERSION_NUMBER; }

const char *sutra_status_str(sutra_status s) {
    switch (s) {
    case SUTRA_OK: return "ok";
    case SUTRA_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SUTRA_ERR_IO: return "i/o error";
    case SUTRA_ERR_FORMAT: return "malformed file";
    case SUTRA_ERR_MODEL: return "model error";
    case SUTRA_ERR_OUT_OF_MEMORY: return "out of memory";
    case SUTRA_ERR_INVALID_UTF8: return "invalid UTF-8 in input text";
    case SUTRA_ERR_BUFFER_TOO_SMALL: return "output buffer too small";
    case SUTRA_ERR_UNSUPPORTED: return "unsupported";
    case SUTRA_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void sutra_config_init_sized(sutra_config *c, size_t struct_size) {
    if (!c || struct_size < SUTRA_CONFIG_V1_SIZE) return;
    const sutra_config d = {.struct_size = struct_size, .use_flash_attention = 1};
    sutra_struct_write(c, struct_size, &d, sizeof d);
}

void sutra_tokenize_options_init_sized(sutra_tokenize_options *opt, size_t struct_size) {
    if (!opt || struct_size < SUTRA_TOKENIZE_OPTIONS_V1_SIZE) return;
    const sutra_tokenize_options d = {.struct_size = struct_size};
    sutra_struct_write(opt, struct_size, &d, sizeof d);
}

size_t sutra_models_dir(char *buf, size_t cap) {
    const char *env = getenv("SUTRA_MODELS_DIR"), *home = getenv("HOME");
    char tmp[1];
    if (!buf || !cap) buf = tmp, cap = sizeof tmp;
    int n = env && *env ? snprintf(buf, cap, "%s", env) : snprintf(buf, cap, "%s/.cache/sutra/models", home ? home : ".");
    return n > 0 ? (size_t)n : 0;
}

sutra_status sutra_set_error(sutra_embedder *e, sutra_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->last_error, sizeof e->last_error, fmt, ap);
    va_end(ap);
    return st;
}

/* A model argument: a directory at that path; else a name in the models directory ("name" or
 * "org/name"); else a hub id, from the hub cache or downloaded (sutra_model_resolve in sutra.h). */
sutra_status sutra_model_resolve(const char *model, const char *models_dir, const sutra_hub_options *hub, char *path,
                                 size_t cap, char *err, size_t errcap) {
    if (!model || !*model || !path || !cap)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "a model and an output buffer are required");
    char dir[4096], local[8192];
    if (sutra_dir_exists(model)) {
        if (!realpath(model, local) || strlen(local) >= cap)
            return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: cannot resolve path", model);
        memcpy(path, local, strlen(local) + 1);
        return SUTRA_OK;
    }
    if (models_dir) snprintf(dir, sizeof dir, "%s", models_dir);
    else sutra_models_dir(dir, sizeof dir);
    sutra_hub_id id;
    char why[1024];
    sutra_status st = sutra_hub_id_parse(model, &id, why, sizeof why);
    if (st)
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "model '%s' not found: no such directory, and %s", model, why);
    /* the models directory: the id without its revision */
    if (!id.has_rev && sutra_path_join(local, sizeof local, dir, id.repo) && sutra_dir_exists(local)) {
        if (strlen(local) >= cap) return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: path too long", local);
        memcpy(path, local, strlen(local) + 1);
        return SUTRA_OK;
    }
    sutra_hub_cfg hc;
    sutra_hub_cfg_init(hub, &hc);
    char cached[2048];
    if (!(st = sutra_hub_cached(&hc, &id, path, cap, cached, sizeof cached))) return SUTRA_OK;
    if (!strchr(id.repo, '/') && !id.has_rev)
        return sutra_errf(SUTRA_ERR_IO, err, errcap,
                          "model '%s' not found: no directory '%s', no '%s' in the models directory %s (set "
                          "config.models_dir or SUTRA_MODELS_DIR, or run `make model`), and %s",
                          model, model, model, dir, cached);
    if (hc.offline)
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "model '%s' not found: not in the models directory %s; %s; and the hub "
                          "is not asked when offline (HF_HUB_OFFLINE / hub.offline)", model, dir, cached);
    return sutra_hub_fetch(&hc, &id, path, cap, err, errcap);
}

sutra_status sutra_hub_pull(const char *model, const sutra_hub_options *hub, char *path, size_t cap, char *err,
                            size_t errcap) {
    sutra_hub_id id;
    sutra_status st = sutra_hub_id_parse(model, &id, err, errcap);
    if (st) return st;
    sutra_hub_cfg hc;
    sutra_hub_cfg_init(hub, &hc);
    if (hc.offline)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: cannot pull while offline (HF_HUB_OFFLINE / hub.offline)",
                          model);
    char local[4096];
    return sutra_hub_fetch(&hc, &id, path ? path : local, path ? cap : sizeof local, err, errcap);
}

sutra_status sutra_embedder_create(const sutra_config *caller_config, sutra_embedder **out, char *err, size_t errcap) {
    if (out) *out = NULL;
    if (!caller_config || !out)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "config and out are required");
    /* The caller's fields, this library's defaults for those its sutra.h did not have. */
    sutra_config own;
    sutra_config_init_sized(&own, sizeof own);
    sutra_status st =
        sutra_struct_read(&own, sizeof own, caller_config, SUTRA_CONFIG_V1_SIZE, "sutra_config", err, errcap);
    if (st) return st;
    const sutra_config *config = &own;
    if (!config->model) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "config.model is required");
    if (config->dimensions < 0 || config->max_sequence_length < 0 || config->threads < 0 ||
        config->max_batch_tokens < 0 || config->flash_attention_threshold < 0 ||
        (unsigned)config->pooling > SUTRA_POOLING_LAST || (unsigned)config->normalize > SUTRA_NORMALIZE_OFF ||
        (unsigned)config->attention > SUTRA_ATTENTION_FLASH || (unsigned)config->device > SUTRA_DEVICE_CUDA ||
        config->gpu_index < 0 || (unsigned)config->cpu_isa > SUTRA_CPU_ISA_AVX512 ||
        (unsigned)config->gpu_graphs > SUTRA_SWITCH_OFF || (unsigned)config->gpu_gemm > SUTRA_GPU_GEMM_CUTLASS ||
        (unsigned)config->gpu_flash_wgmma > SUTRA_SWITCH_OFF || (unsigned)config->gpu_layernorm_fold > SUTRA_SWITCH_OFF ||
        (unsigned)config->hub.offline > SUTRA_SWITCH_OFF ||
        config->gpu_fold_min_tokens < 0)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "config has a negative or out-of-range field");

    sutra_embedder *e = calloc(1, sizeof *e);
    if (!e) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    e->cfg = *config;
    e->cfg.model = e->cfg.name = e->cfg.prompt = e->cfg.prompt_name = e->cfg.models_dir = NULL; /* the caller's */
    e->cfg.rerank_instruction = NULL;
    memset(&e->cfg.hub, 0, sizeof e->cfg.hub);
    e->stats.last_path = -1;
/* Evaluates the status (whose message may read e) before freeing e. */
#define FAIL(...)                                                                                                   \
    do {                                                                                                            \
        sutra_status fail_st_ = (__VA_ARGS__);                                                                      \
        sutra_embedder_destroy(e);                                                                                  \
        return fail_st_;                                                                                            \
    } while (0)
    if (config->models_dir) snprintf(e->models_dir, sizeof e->models_dir, "%s", config->models_dir);
    else sutra_models_dir(e->models_dir, sizeof e->models_dir);
    if ((st = sutra_model_resolve(config->model, e->models_dir, &config->hub, e->path, sizeof e->path, err, errcap)))
        FAIL(st);
    /* a directory is named by its base name; a model by name or hub id, by that */
    const char *base = sutra_dir_exists(config->model) ? strrchr(e->path, '/') : NULL;
    snprintf(e->name, sizeof e->name, "%.255s",
             config->name ? config->name : base ? base + 1 : sutra_dir_exists(config->model) ? e->path : config->model);
    if ((st = sutra_model_config_load(e->path, &e->mcfg, err, errcap))) FAIL(st);
    if (!sutra_model_transformer_path(e->path, &e->mcfg, e->tf_path, sizeof e->tf_path))
        FAIL(sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: path too long", e->path));
    if ((st = sutra_prompts_load(e->path, &e->prompts, err, errcap))) FAIL(st);
    if (config->prompt || config->prompt_name) {
        if ((st = sutra_embedder_set_prompt(e, config->prompt_name, config->prompt)))
            FAIL(sutra_errf(st, err, errcap, "%s", e->last_error));
    } else if (e->prompts.default_index >= 0) {
        sutra_embedder_set_prompt(e, e->prompts.items[e->prompts.default_index].name, NULL);
    }
    if ((st = sutra_checkpoint_open(e->tf_path, &e->weights, err, errcap))) FAIL(st);
    if ((st = sutra_tokenizer_load_dir(e->tf_path, &e->tok, err, errcap))) FAIL(st);
    if (sutra_tokenizer_vocab_size(e->tok) > e->mcfg.shape.vocab)
        FAIL(sutra_errf(SUTRA_ERR_MODEL, err, errcap, "tokenizer has %d tokens but the model's vocab_size is %d",
                        sutra_tokenizer_vocab_size(e->tok), e->mcfg.shape.vocab));
    const sutra_model_config *m = &e->mcfg;
    e->max_tokens = config->max_sequence_length ? config->max_sequence_length
                    : m->st_max_seq_length      ? m->st_max_seq_length
                                                : m->max_position_embeddings;
    if (e->max_tokens > m->max_position_embeddings)
        FAIL(sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                        "max_sequence_length %d exceeds the model's %d positions", e->max_tokens,
                        m->max_position_embeddings));
    if (e->max_tokens <= sutra_tokenizer_num_special(e->tok))
        FAIL(sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "max_sequence_length %d leaves no room for text",
                        e->max_tokens));
    if ((st = sutra_dense_load(e->path, m, &e->dense, err, errcap))) FAIL(st);
    if ((st = sutra_heads_load(e->path, m, e->weights, e->tok, &e->heads, err, errcap))) FAIL(st);
    e->outputs = sutra_outputs_of(e);
    sutra_outputs_describe(e->outputs, e->outputs_text, sizeof e->outputs_text);
    if (config->rerank_instruction && !(e->rerank_instruction = strdup(config->rerank_instruction)))
        FAIL(sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory"));
    e->full_dim = e->dense ? sutra_dense_out(e->dense) : m->shape.C;
    if (config->dimensions > e->full_dim)
        FAIL(sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "dimensions %d exceeds the model's %d",
                        config->dimensions, e->full_dim));
    e->dim = config->dimensions ? config->dimensions : e->full_dim;
    e->pooling = config->pooling != SUTRA_POOLING_MODEL ? config->pooling : m->pooling;
    e->normalize = config->normalize == SUTRA_NORMALIZE_MODEL ? m->normalize : config->normalize == SUTRA_NORMALIZE_ON;
    char why[sizeof e->threads_source];
    double quota = 0;
    const int budget = sutra_cpu_budget("", why, sizeof why, &quota);
    e->cpu_quota = quota > 0;
    e->threads = config->threads ? config->threads : budget;
    snprintf(e->threads_source, sizeof e->threads_source, "%s", config->threads ? "set in the config" : why);
    e->batch_tokens = config->max_batch_tokens ? config->max_batch_tokens : DEFAULT_BATCH_TOKENS;
    if (e->batch_tokens < e->max_tokens) e->batch_tokens = e->max_tokens;
    if (config->approximate_gelu && e->mcfg.shape.act == SUTRA_ACT_GELU) e->mcfg.shape.act = SUTRA_ACT_GELU_TANH;
    st = sutra_device_open(e, err, errcap);
    if (st) FAIL(st);
    e->pooled = malloc((size_t)e->batch_tokens * m->shape.C * sizeof(float));
    if (!e->pooled) FAIL(sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory"));
#undef FAIL
    *out = e;
    return SUTRA_OK;
}

void sutra_embedder_destroy(sutra_embedder *e) {
    if (!e) return;
    if (e->be) e->be->destroy(e->be);
    sutra_encoder_destroy(e->enc);
    sutra_dense_free(e->dense);
    sutra_heads_free(e->heads);
    free(e->rerank_instruction);
    sutra_tokenizer_free(e->tok);
    sutra_st_close(e->weights);
    sutra_prompts_free(&e->prompts);
    free(e->prompt);
    free(e->pooled);
    free(e);
}

int sutra_embedder_dim(const sutra_embedder *e) { return e ? e->dim : 0; }
int sutra_embedder_max_tokens(const sutra_embedder *e) { return e ? e->max_tokens : 0; }
const char *sutra_embedder_last_error(const sutra_embedder *e) { return e ? e->last_error : "no embedder"; }
void sutra_vector_finish(const float *pooled, int dims, int normalize, float *out) {
    memcpy(out, pooled, (size_t)dims * sizeof(float));
    if (!normalize) return;
    double ss = 0.0;
    for (int i = 0; i < dims; i++) ss += (double)out[i] * out[i];
    /* sentence-transformers divides by max(norm, 1e-12) */
    double norm = sqrt(ss);
    float inv = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12));
    for (int i = 0; i < dims; i++) out[i] *= inv;
}

/* Truncates a pooled vector to dim (Matryoshka) and L2-normalises it when the embedder does. */
void sutra_finish_vector(const sutra_embedder *e, const float *pooled, float *out) {
    sutra_vector_finish(pooled, e->dim, e->normalize, out);
}

/* Tokenises prompt (NULL or "": none) + text with at most max_tokens tokens (0: all of it) and,
 * when asked, byte offsets into prompt + text; len = (size_t)-1 means NUL-terminated. Reads only
 * the tokenizer, so any thread may call it; failures are described in err. */
static sutra_status encode_joined(const sutra_tokenizer *tok, const char *prompt, const char *text, size_t len,
                                  size_t max_tokens, int want_offsets, sutra_encoding *enc, char *err,
                                  size_t errcap) {
    if (len == (size_t)-1) len = strlen(text);
    char *joined = NULL;
    if (prompt && *prompt) {
        size_t pl = strlen(prompt);
        if (len > SIZE_MAX - pl - 1 || !(joined = malloc(pl + len + 1)))
            return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
        memcpy(joined, prompt, pl);
        memcpy(joined + pl, text, len);
        text = joined;
        len += pl;
    }
    sutra_status st = sutra_tokenizer_encode(tok, text, len, max_tokens, want_offsets, enc, err, errcap);
    free(joined);
    return st;
}

/* Tokenises text i after the embedder's prompt, if any (see encode_joined), counting it when it
 * fills the limit. */
sutra_status sutra_encode_text(sutra_embedder *e, const char *text, size_t len, size_t index, size_t max_tokens,
                               int want_offsets, sutra_encoding *enc) {
    char err[512];
    sutra_status st = encode_joined(e->tok, e->prompt, text, len, max_tokens, want_offsets, enc, err, sizeof err);
    if (st) return sutra_set_error(e, st, "text %zu: %s", index, err);
    if (max_tokens && enc->n >= max_tokens) e->stats.truncated++;
    return SUTRA_OK;
}

/* Tokenises text i as embedding does: prompt, special tokens, truncation at the token limit. */
static sutra_status encode_one(sutra_embedder *e, const char *text, size_t len, size_t index, sutra_encoding *enc) {
    return sutra_encode_text(e, text, len, index, (size_t)e->max_tokens, 0, enc);
}

sutra_status sutra_embedder_set_prompt(sutra_embedder *e, const char *name, const char *prompt) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    const char *text = prompt;
    if (!text && name && !(text = sutra_prompts_find(&e->prompts, name))) {
        int n = snprintf(e->last_error, sizeof e->last_error, "model has no prompt named '%s' (it has:", name);
        for (int i = 0; i < e->prompts.n && n > 0 && (size_t)n < sizeof e->last_error; i++)
            n += snprintf(e->last_error + n, sizeof e->last_error - (size_t)n, " %s", e->prompts.items[i].name);
        if (n > 0 && (size_t)n < sizeof e->last_error)
            snprintf(e->last_error + n, sizeof e->last_error - (size_t)n, "%s)", e->prompts.n ? "" : " none");
        return SUTRA_ERR_INVALID_ARGUMENT;
    }
    char *copy = text && *text ? strdup(text) : NULL;
    if (text && *text && !copy) return sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
    free(e->prompt);
    e->prompt = copy;
    return SUTRA_OK;
}

const char *sutra_embedder_prompt(const sutra_embedder *e) { return e && e->prompt ? e->prompt : ""; }

sutra_status sutra_check_texts(sutra_embedder *e, const char *const *texts, size_t n, const float *out, size_t out_cap,
                               size_t *need) {
    if (sutra_require_output(e, SUTRA_OUTPUT_DENSE)) return SUTRA_ERR_UNSUPPORTED;
    if (!texts || !out) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "texts and out are required");
    if (!sutra_mul_ok(n, (size_t)e->dim, need) || out_cap < *need)
        return sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "out holds %zu floats, %zu texts need %zu", out_cap, n,
                               n * (size_t)e->dim);
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text %zu is NULL", i);
    return SUTRA_OK;
}

sutra_status sutra_embed_batch(sutra_embedder *e, const char *const *texts, size_t n, float *out, size_t out_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (n == 0) return SUTRA_OK;
    size_t need;
    sutra_status st = sutra_check_texts(e, texts, n, out, out_cap, &need);
    if (st) return st;
    sutra_pending *items = calloc(n, sizeof *items);
    float *tmp = malloc(need * sizeof(float));
    if (!items || !tmp) {
        free(items);
        free(tmp);
        return sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu texts", n);
    }
    for (size_t i = 0; i < n && !st; i++) {
        items[i].index = i;
        st = encode_one(e, texts[i], (size_t)-1, i, &items[i].enc);
    }
    if (!st) st = sutra_run_encoded(e, items, n, tmp, 0, NULL);
    if (!st) memcpy(out, tmp, need * sizeof(float));
    for (size_t i = 0; i < n; i++) sutra_encoding_free(&items[i].enc);
    free(items);
    free(tmp);
    return st;
}

sutra_status sutra_embed(sutra_embedder *e, const char *text, size_t len, float *out, size_t out_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (!text || !out) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text and out are required");
    if (sutra_require_output(e, SUTRA_OUTPUT_DENSE)) return SUTRA_ERR_UNSUPPORTED;
    if (out_cap < (size_t)e->dim)
        return sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "out holds %zu floats, needs %d", out_cap, e->dim);
    sutra_pending item = {.index = 0};
    sutra_status st = encode_one(e, text, len, 0, &item.enc);
    float *tmp = malloc((size_t)e->dim * sizeof(float));
    if (!st && !tmp) st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) st = sutra_run_encoded(e, &item, 1, tmp, 0, NULL);
    if (!st) memcpy(out, tmp, (size_t)e->dim * sizeof(float));
    free(tmp);
    sutra_encoding_free(&item.enc);
    return st;
}

sutra_status sutra_tokenize(sutra_embedder *e, const char *text, size_t len, int32_t *ids, size_t ids_cap,
                            size_t *n_ids) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (!text || !n_ids || (!ids && ids_cap))
        return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text and n_ids are required");
    sutra_encoding enc = {0};
    uint64_t truncated = e->stats.truncated;
    sutra_status st = encode_one(e, text, len, 0, &enc);
    e->stats.truncated = truncated;
    if (!st) {
        *n_ids = enc.n;
        if (enc.n > ids_cap)
            st = sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "ids holds %zu entries, needs %zu", ids_cap, enc.n);
        else
            memcpy(ids, enc.ids, enc.n * sizeof *ids);
    }
    sutra_encoding_free(&enc);
    return st;
}

sutra_status sutra_tokenize_ex(const sutra_embedder *e, const char *text, size_t len, const sutra_tokenize_options *opt,
                               int32_t *ids, int32_t *starts, int32_t *ends, size_t ids_cap, size_t *n_ids, char *err,
                               size_t errcap) {
    if (!e || !text || !n_ids || (!ids && ids_cap))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "embedder, text and n_ids are required");
    sutra_tokenize_options o;
    sutra_tokenize_options_init(&o);
    if (opt) {
        sutra_status st = sutra_struct_read(&o, sizeof o, opt, SUTRA_TOKENIZE_OPTIONS_V1_SIZE, "sutra_tokenize_options",
                                            err, errcap);
        if (st) return st;
    }
    const char *prompt = o.prompt ? o.prompt : e->prompt;
    size_t plen = prompt ? strlen(prompt) : 0;
    int offsets = starts || ends;
    /* Left truncation cuts an encoding of the whole text; right truncation stops encoding early. */
    size_t limit = o.no_truncate || o.truncate_left ? 0 : (size_t)e->max_tokens;
    sutra_encoding enc = {0};
    sutra_status st = encode_joined(e->tok, prompt, text, len, limit, offsets, &enc, err, errcap);
    if (st) {
        sutra_encoding_free(&enc);
        return st;
    }
    const int32_t *pre, *post;
    size_t n_pre, n_post;
    sutra_tokenizer_template(e->tok, &pre, &n_pre, &post, &n_post);
    if (enc.n < n_pre + n_post) n_pre = n_post = 0; /* cannot happen: the template always adds them */
    size_t keep = enc.n - n_pre - n_post;           /* text (and prompt) tokens */
    size_t from = n_pre;                            /* first of them kept */
    if (!o.no_truncate && o.truncate_left && enc.n > (size_t)e->max_tokens) {
        size_t room = (size_t)e->max_tokens - n_pre - n_post;
        from = n_pre + keep - room;
        keep = room;
    }
    size_t n = keep + (o.no_special ? 0 : n_pre + n_post);
    *n_ids = n;
    if (n > ids_cap) {
        sutra_encoding_free(&enc);
        return sutra_errf(SUTRA_ERR_BUFFER_TOO_SMALL, err, errcap, "ids holds %zu entries, needs %zu", ids_cap, n);
    }
    size_t k = 0;
    for (size_t i = 0; !o.no_special && i < n_pre; i++, k++) {
        ids[k] = enc.ids[i];
        if (starts) starts[k] = -1;
        if (ends) ends[k] = -1;
    }
    for (size_t i = from; i < from + keep; i++, k++) {
        ids[k] = enc.ids[i];
        int in_text = offsets && (size_t)enc.starts[i] >= plen;
        if (starts) starts[k] = in_text ? enc.starts[i] - (int32_t)plen : -1;
        if (ends) ends[k] = in_text ? enc.ends[i] - (int32_t)plen : -1;
    }
    for (size_t i = enc.n - n_post; !o.no_special && i < enc.n; i++, k++) {
        ids[k] = enc.ids[i];
        if (starts) starts[k] = -1;
        if (ends) ends[k] = -1;
    }
    sutra_encoding_free(&enc);
    return SUTRA_OK;
}

const char *sutra_embedder_find_prompt(const sutra_embedder *e, const char *name) {
    return e && name ? sutra_prompts_find(&e->prompts, name) : NULL;
}

const char *sutra_embedder_token(const sutra_embedder *e, int32_t id) {
    return e ? sutra_tokenizer_id_to_token(e->tok, id) : NULL;
}

sutra_status sutra_embed_tokens(sutra_embedder *e, const int32_t *const *ids, const size_t *n_ids, size_t n, int raw,
                                float *out, size_t out_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (n == 0) return SUTRA_OK;
    if (!ids || !n_ids || !out) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "ids, n_ids and out are required");
    if (sutra_require_output(e, SUTRA_OUTPUT_DENSE)) return SUTRA_ERR_UNSUPPORTED;
    size_t width = raw ? (size_t)e->full_dim : (size_t)e->dim, need;
    if (!sutra_mul_ok(n, width, &need) || out_cap < need)
        return sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "out holds %zu floats, %zu sequences need %zu", out_cap, n,
                         n * width);
    for (size_t i = 0; i < n; i++) {
        if (!ids[i] || n_ids[i] == 0 || n_ids[i] > (size_t)e->max_tokens)
            return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "sequence %zu: %zu tokens (1 .. %d allowed)", i,
                             ids[i] ? n_ids[i] : 0, e->max_tokens);
        for (size_t j = 0; j < n_ids[i]; j++)
            if (ids[i][j] < 0 || ids[i][j] >= e->mcfg.shape.vocab)
                return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "sequence %zu: token %zu is %d, outside [0, %d)", i,
                                 j, (int)ids[i][j], e->mcfg.shape.vocab);
    }
    sutra_pending *items = calloc(n, sizeof *items);
    float *tmp = malloc(need * sizeof(float));
    if (!items || !tmp) {
        free(items);
        free(tmp);
        return sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu sequences", n);
    }
    /* The items borrow the caller's ids: the packing only reads them, and they are not freed here. */
    for (size_t i = 0; i < n; i++) {
        items[i].index = i;
        items[i].enc.ids = (int32_t *)ids[i];
        items[i].enc.n = n_ids[i];
    }
    sutra_status st = sutra_run_encoded(e, items, n, tmp, raw, NULL);
    if (!st) memcpy(out, tmp, need * sizeof(float));
    free(items);
    free(tmp);
    return st;
}

const char *sutra_pooling_word(sutra_pooling p) {
    switch (p) {
    case SUTRA_POOLING_CLS: return "cls";
    case SUTRA_POOLING_MAX: return "max";
    case SUTRA_POOLING_LAST: return "last";
    default: return "mean";
    }
}

static const char *attention_name(sutra_attention a) {
    return a == SUTRA_ATTENTION_STANDARD ? "standard" : a == SUTRA_ATTENTION_FLASH ? "flash" : "auto";
}

sutra_status sutra_embedder_info_sized(const sutra_embedder *e, sutra_model_info *caller_info, size_t info_size) {
    if (!e || !caller_info || info_size < SUTRA_MODEL_INFO_V1_SIZE) return SUTRA_ERR_INVALID_ARGUMENT;
    const sutra_model_config *m = &e->mcfg;
    sutra_model_info own, *info = &own;
    *info = (sutra_model_info){
        .name = e->name,
        .path = e->path,
        .architecture = m->model_type,
        .hidden_size = m->shape.C,
        .vector_size = e->full_dim,
        .dense_modules = e->mcfg.n_dense,
        .num_layers = m->shape.L,
        .num_heads = m->shape.H,
        .intermediate_size = m->shape.F,
        .vocab_size = m->shape.vocab,
        .max_position_embeddings = m->max_position_embeddings,
        .max_tokens = e->max_tokens,
        .dim = e->dim,
        .pooling = sutra_pooling_word(e->pooling),
        .normalize = e->normalize,
        .weights_dtype = sutra_encoder_weights_dtype(e->enc),
        .tokenizer = sutra_tokenizer_kind(e->tok),
        .cpu_features = e->cpu_features,
        .threads = e->threads,
        .threads_source = e->threads_source,
        .device = e->on_gpu ? "cuda" : "cpu",
        .gpu_name = e->gpu_name,
        .gpu_cc_major = e->gpu_cc_major,
        .gpu_cc_minor = e->gpu_cc_minor,
        .attention_kernels = e->attention_kernels,
        .device_note = e->device_note,
        .attention = attention_name(e->attention),
        .flash_threshold = e->flash_threshold,
        .cpu_isa = e->cpu_isa,
        .models_dir = e->models_dir,
        .approximate_gelu = e->cfg.approximate_gelu,
        .profile = e->cfg.profile,
        .backend_settings = e->backend_settings,
        .compute_dtype = e->compute_dtype,
        .outputs = e->outputs_text,
        .sparse_kind = sutra_heads_sparse_kind(e->heads) == SUTRA_SPARSE_SPLADE   ? "splade"
                       : sutra_heads_sparse_kind(e->heads) == SUTRA_SPARSE_BGE_M3 ? "bge-m3"
                                                                                  : "",
        .multivector_dim = sutra_heads_colbert_dim(e->heads),
        .score_activation = sutra_heads_score_activation(e->heads),
    };
    sutra_device_memory(e, &info->gpu_bytes, &info->gpu_peak_bytes);
    sutra_struct_write(caller_info, info_size, info, sizeof *info);
    return SUTRA_OK;
}

sutra_status sutra_embedder_stats_sized(const sutra_embedder *e, sutra_stats *stats, size_t stats_size) {
    if (!e || !stats || stats_size < SUTRA_STATS_V1_SIZE) return SUTRA_ERR_INVALID_ARGUMENT;
    sutra_struct_write(stats, stats_size, &e->stats, sizeof e->stats);
    return SUTRA_OK;
}

void sutra_embedder_stats_reset(sutra_embedder *e) {
    if (!e) return;
    memset(&e->stats, 0, sizeof e->stats);
    e->stats.last_path = -1;
    if (e->be->op_times) e->be->op_times(e->be, NULL, 0, 1);
}

sutra_status sutra_embedder_profile(const sutra_embedder *e, sutra_op_time *out, size_t cap, size_t *n) {
    if (!e || !n || (!out && cap)) return SUTRA_ERR_INVALID_ARGUMENT;
    *n = 0;
    if (!e->cfg.profile || !e->be->op_times) return SUTRA_ERR_INVALID_ARGUMENT;
    *n = e->be->op_times(e->be, out, cap, 0);
    return *n > cap ? SUTRA_ERR_BUFFER_TOO_SMALL : SUTRA_OK;
}
