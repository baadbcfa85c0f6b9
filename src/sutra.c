/*
 * sutra.c - the public API: wires the tokenizer, model files, architecture and backend together.
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

#include "arch/arch.h"
#include "backend/cpu/cpu_backend.h"
#ifdef SUTRA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "embed/window.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "tokenizer/template.h"
#include "tokenizer/tokenizer.h"
#include "util/common.h"

#define DEFAULT_BATCH_TOKENS 8192
#define DEFAULT_FLASH_THRESHOLD 512

struct sutra_embedder {
    sutra_config cfg;
    sutra_model_config mcfg;
    char name[256];
    char path[4096];
    sutra_tokenizer *tok;
    sutra_st_file *weights;
    sutra_encoder *enc;
    sutra_backend *be;
    int max_tokens;   /* per input, specials included */
    int batch_tokens; /* per forward */
    int dim;
    int threads;
    sutra_pooling pooling;
    int normalize;
    float *pooled;    /* (batch_tokens, hidden) scratch: at most one row per token */
    sutra_stats stats;
    sutra_prompts prompts;
    char *prompt;     /* prepended to every input; NULL for none */
    int on_gpu;
    char gpu_name[256];
    int gpu_cc_major, gpu_cc_minor;
    char attention_kernels[128];
    char device_note[512];
    char last_error[1024];
};

const char *sutra_version(void) { return "0.1.0"; }

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

void sutra_config_default(sutra_config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->use_flash_attention = 1;
    c->flash_attention_threshold = DEFAULT_FLASH_THRESHOLD;
}

const char *sutra_models_dir(void) {
    static char buf[4096];
    const char *env = getenv("SUTRA_MODELS_DIR");
    if (env && *env) snprintf(buf, sizeof buf, "%s", env);
    else snprintf(buf, sizeof buf, "%s/.cache/sutra/models", getenv("HOME") ? getenv("HOME") : ".");
    return buf;
}

static sutra_status set_error(sutra_embedder *e, sutra_status st, const char *fmt, ...) SUTRA_PRINTF(3, 4);
static sutra_status set_error(sutra_embedder *e, sutra_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->last_error, sizeof e->last_error, fmt, ap);
    va_end(ap);
    return st;
}

/* A model argument is a directory if one exists at that path; otherwise a name in the models
 * directory. Names may not contain path separators or "..". */
static sutra_status resolve_model(const char *model, char *path, size_t cap, char *err, size_t errcap) {
    if (sutra_dir_exists(model)) {
        if (!realpath(model, path) || strlen(path) >= cap)
            return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: cannot resolve path", model);
        return SUTRA_OK;
    }
    if (strchr(model, '/') || strstr(model, "..") || !*model)
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "model directory '%s' does not exist", model);
    const char *dir = sutra_models_dir();
    if (!sutra_path_join(path, cap, dir, model) || !sutra_dir_exists(path))
        return sutra_errf(SUTRA_ERR_IO, err, errcap,
                          "model '%s' not found: no directory '%s' and no '%s' in the models directory %s "
                          "(set SUTRA_MODELS_DIR, or run `make model`)",
                          model, model, model, dir);
    return SUTRA_OK;
}

static int online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#ifdef SUTRA_HAVE_CUDA
/* Appends " label(d=32,64)" to buf (a string in cap bytes) for the head dims set in mask (bit
 * log2 d), truncating at cap; nothing for an empty mask. */
static void append_head_dims(char *buf, size_t cap, const char *label, int mask) {
    if (!mask) return;
    size_t n = strlen(buf);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, " %s(d=", label);
    for (int b = 0, first = 1; b < 16; b++)
        if (mask & (1 << b)) {
            if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "%s%d", first ? "" : ",", 1 << b);
            first = 0;
        }
    if (n < cap) snprintf(buf + n, cap - n, ")");
}
#endif

/* Picks and creates the backend: the GPU when asked or when AUTO finds a usable one, else the
 * CPU. AUTO records why it did not use a GPU in device_note (the CLI prints it). */
static sutra_status create_backend(sutra_embedder *e, int std_len, char *err, size_t errcap) {
    const sutra_model_config *m = &e->mcfg;
    const int head_dim = m->hidden_size / m->num_heads;
    snprintf(e->attention_kernels, sizeof e->attention_kernels, "standard flash");
#ifdef SUTRA_HAVE_CUDA
    if (e->cfg.device != SUTRA_DEVICE_CPU) {
        char why[512] = "";
        sutra_cuda_device_info gi;
        sutra_status st = sutra_cuda_device_query(e->cfg.gpu_index, &gi, why, sizeof why);
        if (st == SUTRA_OK) {
            size_t arena = sutra_encoder_arena_bytes(m, e->batch_tokens, 2);
            st = sutra_cuda_backend_create(e->cfg.gpu_index, arena, std_len, head_dim, e->cfg.gpu_bf16, &e->be, why,
                                           sizeof why);
        }
        if (st == SUTRA_OK) {
            e->on_gpu = 1;
            snprintf(e->gpu_name, sizeof e->gpu_name, "%s", gi.name);
            e->gpu_cc_major = gi.cc_major;
            e->gpu_cc_minor = gi.cc_minor;
            snprintf(e->attention_kernels, sizeof e->attention_kernels, "standard");
            append_head_dims(e->attention_kernels, sizeof e->attention_kernels, "flash", gi.flash_head_dims_mask);
            append_head_dims(e->attention_kernels, sizeof e->attention_kernels, "flash-wgmma", gi.wgmma_head_dims_mask);
            int pow2 = head_dim > 0 && !(head_dim & (head_dim - 1)), bit = pow2 ? __builtin_ctz((unsigned)head_dim) : -1;
            if (bit < 0 || bit > 30 || !(gi.flash_head_dims_mask & (1 << bit)))
                snprintf(e->device_note, sizeof e->device_note,
                         "flash attention has no GPU kernel for head dim %d: the standard path runs instead", head_dim);
            return SUTRA_OK;
        }
        if (e->cfg.device == SUTRA_DEVICE_CUDA) return sutra_errf(st, err, errcap, "device cuda: %s", why);
        snprintf(e->device_note, sizeof e->device_note, "running on the CPU: %s", why);
    }
#else
    if (e->cfg.device == SUTRA_DEVICE_CUDA)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "device cuda: this build has no CUDA backend "
                                                              "(configure with -DSUTRA_CUDA=ON)");
#endif
    size_t arena = sutra_encoder_arena_bytes(m, e->batch_tokens, sizeof(float));
    return sutra_cpu_backend_create(e->threads, arena, std_len, head_dim, &e->be, err, errcap);
}

sutra_status sutra_embedder_create(const sutra_config *config, sutra_embedder **out, char *err, size_t errcap) {
    if (out) *out = NULL;
    if (!config || !out) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "config and out are required");
    if (!config->model) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "config.model is required");
    if (config->dimensions < 0 || config->max_sequence_length < 0 || config->threads < 0 ||
        config->max_batch_tokens < 0 || config->flash_attention_threshold < 0 ||
        (unsigned)config->pooling > SUTRA_POOLING_LAST || (unsigned)config->normalize > SUTRA_NORMALIZE_OFF ||
        (unsigned)config->attention > SUTRA_ATTENTION_FLASH || (unsigned)config->device > SUTRA_DEVICE_CUDA ||
        config->gpu_index < 0)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "config has a negative or out-of-range field");

    sutra_embedder *e = calloc(1, sizeof *e);
    if (!e) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    e->cfg = *config;
    e->cfg.model = e->cfg.name = e->cfg.prompt = e->cfg.prompt_name = NULL; /* not kept: the caller's strings */
    e->stats.last_path = -1;
    sutra_status st;
    char path[4096];
/* Evaluates the status (whose message may read e) before freeing e. */
#define FAIL(...)                                                                                                   \
    do {                                                                                                            \
        sutra_status fail_st_ = (__VA_ARGS__);                                                                      \
        sutra_embedder_destroy(e);                                                                                  \
        return fail_st_;                                                                                            \
    } while (0)
    if ((st = resolve_model(config->model, e->path, sizeof e->path, err, errcap))) FAIL(st);
    const char *base = strrchr(e->path, '/');
    snprintf(e->name, sizeof e->name, "%.255s", config->name ? config->name : (base ? base + 1 : e->path));
    if ((st = sutra_model_config_load(e->path, &e->mcfg, err, errcap))) FAIL(st);
    if ((st = sutra_prompts_load(e->path, &e->prompts, err, errcap))) FAIL(st);
    if (config->prompt || config->prompt_name) {
        if ((st = sutra_embedder_set_prompt(e, config->prompt_name, config->prompt)))
            FAIL(sutra_errf(st, err, errcap, "%s", e->last_error));
    } else if (e->prompts.default_index >= 0) {
        sutra_embedder_set_prompt(e, e->prompts.items[e->prompts.default_index].name, NULL);
    }
    if (!sutra_path_join(path, sizeof path, e->path, "model.safetensors"))
        FAIL(sutra_errf(SUTRA_ERR_IO, err, errcap, "model path too long"));
    if ((st = sutra_st_open(path, &e->weights, err, errcap))) FAIL(st);
    if ((st = sutra_tokenizer_load_dir(e->path, &e->tok, err, errcap))) FAIL(st);
    if (sutra_tokenizer_vocab_size(e->tok) > e->mcfg.vocab_size)
        FAIL(sutra_errf(SUTRA_ERR_MODEL, err, errcap, "tokenizer has %d tokens but the model's vocab_size is %d",
                        sutra_tokenizer_vocab_size(e->tok), e->mcfg.vocab_size));
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
    if (config->dimensions > m->hidden_size)
        FAIL(sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "dimensions %d exceeds the model's %d",
                        config->dimensions, m->hidden_size));
    e->dim = config->dimensions ? config->dimensions : m->hidden_size;
    e->pooling = config->pooling != SUTRA_POOLING_MODEL ? config->pooling : m->pooling;
    e->normalize = config->normalize == SUTRA_NORMALIZE_MODEL ? m->normalize : config->normalize == SUTRA_NORMALIZE_ON;
    e->threads = config->threads ? config->threads : online_cores();
    e->batch_tokens = config->max_batch_tokens ? config->max_batch_tokens : DEFAULT_BATCH_TOKENS;
    if (e->batch_tokens < e->max_tokens) e->batch_tokens = e->max_tokens;
    if (!e->cfg.flash_attention_threshold) e->cfg.flash_attention_threshold = DEFAULT_FLASH_THRESHOLD;

    /* The standard path's scores only need room for sequences it can be given. */
    int std_len = e->max_tokens;
    if (config->attention == SUTRA_ATTENTION_FLASH) std_len = 1;
    else if (config->attention == SUTRA_ATTENTION_AUTO && config->use_flash_attention &&
             e->cfg.flash_attention_threshold < std_len)
        std_len = e->cfg.flash_attention_threshold;
    if ((st = create_backend(e, std_len, err, errcap))) FAIL(st);
    st = sutra_encoder_create(m, e->weights, e->be, &e->enc, err, errcap);
    if (st == SUTRA_ERR_UNSUPPORTED && e->on_gpu && e->cfg.device == SUTRA_DEVICE_AUTO) {
        /* the GPU backend lacks an op this architecture needs: run it on the CPU instead */
        snprintf(e->device_note, sizeof e->device_note, "running on the CPU: %.400s", err);
        e->be->destroy(e->be);
        e->be = NULL;
        e->on_gpu = 0;
        e->cfg.device = SUTRA_DEVICE_CPU;
        e->gpu_name[0] = '\0';
        if ((st = create_backend(e, std_len, err, errcap))) FAIL(st);
        st = sutra_encoder_create(m, e->weights, e->be, &e->enc, err, errcap);
    }
    if (st) FAIL(st);
    e->pooled = malloc((size_t)e->batch_tokens * m->hidden_size * sizeof(float));
    if (!e->pooled) FAIL(sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory"));
#undef FAIL
    *out = e;
    return SUTRA_OK;
}

void sutra_embedder_destroy(sutra_embedder *e) {
    if (!e) return;
    if (e->be) e->be->destroy(e->be);
    sutra_encoder_destroy(e->enc);
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

static sutra_attn_path choose_path(const sutra_embedder *e, int max_len) {
    switch (e->cfg.attention) {
    case SUTRA_ATTENTION_STANDARD: return SUTRA_ATTN_STANDARD;
    case SUTRA_ATTENTION_FLASH: return SUTRA_ATTN_FLASH;
    default:
        /* On the GPU the standard path is only the fallback: measured on the H100 it is 2.5-9x
         * slower than the flash kernel at every length (docs/BENCHMARKS.md), so AUTO takes flash
         * whenever it is enabled; the backend itself falls back where flash cannot run. */
        if (e->on_gpu) return e->cfg.use_flash_attention ? SUTRA_ATTN_FLASH : SUTRA_ATTN_STANDARD;
        return e->cfg.use_flash_attention && max_len > e->cfg.flash_attention_threshold ? SUTRA_ATTN_FLASH
                                                                                         : SUTRA_ATTN_STANDARD;
    }
}

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
static void finish_vector(const sutra_embedder *e, const float *pooled, float *out) {
    sutra_vector_finish(pooled, e->dim, e->normalize, out);
}

typedef struct pending {
    sutra_encoding enc;
    size_t index;
} pending;

static int by_length_desc(const void *a, const void *b) {
    const pending *x = a, *y = b;
    if (x->enc.n != y->enc.n) return x->enc.n < y->enc.n ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Receives each batch's final hidden states: hidden (T, C) for the B items packed by cu. */
typedef struct hidden_sink {
    void (*fn)(void *ctx, const pending *items, int B, const int32_t *cu, const float *hidden);
    void *ctx;
} hidden_sink;

/* Embeds n tokenised inputs: sorted longest first, packed into batches of at most batch_tokens
 * tokens (no padding), results written to their original rows (out may be NULL when only sink
 * wants the batches). With a sink, each batch's hidden states go to it as well. raw: rows of
 * hidden_size pooled floats, neither truncated nor normalised. */
static sutra_status run_encoded(sutra_embedder *e, pending *items, size_t n, float *out, int raw,
                                const hidden_sink *sink) {
    qsort(items, n, sizeof *items, by_length_desc);
    const int C = e->mcfg.hidden_size;
    int32_t *ids = malloc((size_t)e->batch_tokens * sizeof *ids);
    int32_t *cu = malloc(((size_t)e->batch_tokens + 1) * sizeof *cu);
    float *hidden = sink ? malloc((size_t)e->batch_tokens * C * sizeof *hidden) : NULL;
    if (!ids || !cu || (sink && !hidden)) {
        free(ids);
        free(cu);
        free(hidden);
        return set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    sutra_status st = SUTRA_OK;
    size_t i = 0;
    while (i < n && st == SUTRA_OK) {
        int T = 0, B = 0, max_len = (int)items[i].enc.n;
        size_t first = i;
        cu[0] = 0;
        while (i < n && T + (int)items[i].enc.n <= e->batch_tokens) {
            memcpy(ids + T, items[i].enc.ids, items[i].enc.n * sizeof *ids);
            T += (int)items[i].enc.n;
            cu[++B] = T;
            i++;
        }
        sutra_batch batch = {.ids = ids, .cu_seqlens = cu, .B = B, .T = T, .max_seqlen = max_len};
        sutra_attn_path path = choose_path(e, max_len);
        char err[512];
        st = sutra_encoder_forward(e->enc, e->be, &batch, path, e->pooling, e->pooled, hidden, err, sizeof err);
        if (st) {
            set_error(e, st, "%s", err);
            break;
        }
        for (int b = 0; out && b < B; b++) {
            const float *row = e->pooled + (size_t)b * C;
            if (raw) memcpy(out + items[first + b].index * (size_t)C, row, (size_t)C * sizeof(float));
            else finish_vector(e, row, out + items[first + b].index * (size_t)e->dim);
        }
        if (sink) sink->fn(sink->ctx, items + first, B, cu, hidden);
        e->stats.batches++;
        e->stats.tokens += (uint64_t)T;
        e->stats.texts += (uint64_t)B;
        if (path == SUTRA_ATTN_FLASH) e->stats.batches_flash++;
        else e->stats.batches_standard++;
        e->stats.last_path = (int)path;
        e->stats.last_batch_max_len = max_len;
    }
    free(ids);
    free(cu);
    free(hidden);
    return st;
}

static sutra_status embed_encoded(sutra_embedder *e, pending *items, size_t n, float *out) {
    return run_encoded(e, items, n, out, 0, NULL);
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
static sutra_status encode_text(sutra_embedder *e, const char *text, size_t len, size_t index, size_t max_tokens,
                                int want_offsets, sutra_encoding *enc) {
    char err[512];
    sutra_status st = encode_joined(e->tok, e->prompt, text, len, max_tokens, want_offsets, enc, err, sizeof err);
    if (st) return set_error(e, st, "text %zu: %s", index, err);
    if (max_tokens && enc->n >= max_tokens) e->stats.truncated++;
    return SUTRA_OK;
}

/* Tokenises text i as embedding does: prompt, special tokens, truncation at the token limit. */
static sutra_status encode_one(sutra_embedder *e, const char *text, size_t len, size_t index, sutra_encoding *enc) {
    return encode_text(e, text, len, index, (size_t)e->max_tokens, 0, enc);
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
    if (text && *text && !copy) return set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
    free(e->prompt);
    e->prompt = copy;
    return SUTRA_OK;
}

const char *sutra_embedder_prompt(const sutra_embedder *e) { return e && e->prompt ? e->prompt : ""; }

sutra_status sutra_embed_batch(sutra_embedder *e, const char *const *texts, size_t n, float *out, size_t out_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (n == 0) return SUTRA_OK;
    if (!texts || !out) return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "texts and out are required");
    size_t need;
    if (!sutra_mul_ok(n, (size_t)e->dim, &need) || out_cap < need)
        return set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "out holds %zu floats, %zu texts need %zu", out_cap, n,
                         n * (size_t)e->dim);
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text %zu is NULL", i);
    pending *items = calloc(n, sizeof *items);
    float *tmp = malloc(need * sizeof(float));
    if (!items || !tmp) {
        free(items);
        free(tmp);
        return set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu texts", n);
    }
    sutra_status st = SUTRA_OK;
    for (size_t i = 0; i < n && !st; i++) {
        items[i].index = i;
        st = encode_one(e, texts[i], (size_t)-1, i, &items[i].enc);
    }
    if (!st) st = embed_encoded(e, items, n, tmp);
    if (!st) memcpy(out, tmp, need * sizeof(float));
    for (size_t i = 0; i < n; i++) sutra_encoding_free(&items[i].enc);
    free(items);
    free(tmp);
    return st;
}

sutra_status sutra_embed(sutra_embedder *e, const char *text, size_t len, float *out, size_t out_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (!text || !out) return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text and out are required");
    if (out_cap < (size_t)e->dim)
        return set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "out holds %zu floats, needs %d", out_cap, e->dim);
    pending item = {.index = 0};
    sutra_status st = encode_one(e, text, len, 0, &item.enc);
    float *tmp = malloc((size_t)e->dim * sizeof(float));
    if (!st && !tmp) st = set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) st = embed_encoded(e, &item, 1, tmp);
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
        return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text and n_ids are required");
    sutra_encoding enc = {0};
    uint64_t truncated = e->stats.truncated;
    sutra_status st = encode_one(e, text, len, 0, &enc);
    e->stats.truncated = truncated;
    if (!st) {
        *n_ids = enc.n;
        if (enc.n > ids_cap)
            st = set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "ids holds %zu entries, needs %zu", ids_cap, enc.n);
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
    sutra_tokenize_options o = opt ? *opt : (sutra_tokenize_options){0};
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
    if (!ids || !n_ids || !out) return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "ids, n_ids and out are required");
    size_t width = raw ? (size_t)e->mcfg.hidden_size : (size_t)e->dim, need;
    if (!sutra_mul_ok(n, width, &need) || out_cap < need)
        return set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "out holds %zu floats, %zu sequences need %zu", out_cap, n,
                         n * width);
    for (size_t i = 0; i < n; i++) {
        if (!ids[i] || n_ids[i] == 0 || n_ids[i] > (size_t)e->max_tokens)
            return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "sequence %zu: %zu tokens (1 .. %d allowed)", i,
                             ids[i] ? n_ids[i] : 0, e->max_tokens);
        for (size_t j = 0; j < n_ids[i]; j++)
            if (ids[i][j] < 0 || ids[i][j] >= e->mcfg.vocab_size)
                return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "sequence %zu: token %zu is %d, outside [0, %d)", i,
                                 j, (int)ids[i][j], e->mcfg.vocab_size);
    }
    pending *items = calloc(n, sizeof *items);
    float *tmp = malloc(need * sizeof(float));
    if (!items || !tmp) {
        free(items);
        free(tmp);
        return set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu sequences", n);
    }
    /* The items borrow the caller's ids: run_encoded only reads them, and they are not freed here. */
    for (size_t i = 0; i < n; i++) {
        items[i].index = i;
        items[i].enc.ids = (int32_t *)ids[i];
        items[i].enc.n = n_ids[i];
    }
    sutra_status st = run_encoded(e, items, n, tmp, raw, NULL);
    if (!st) memcpy(out, tmp, need * sizeof(float));
    free(items);
    free(tmp);
    return st;
}

static const char *pooling_name(sutra_pooling p) {
    switch (p) {
    case SUTRA_POOLING_CLS: return "cls";
    case SUTRA_POOLING_MAX: return "max";
    case SUTRA_POOLING_LAST: return "last";
    default: return "mean";
    }
}

sutra_status sutra_embedder_info(const sutra_embedder *e, sutra_model_info *info) {
    if (!e || !info) return SUTRA_ERR_INVALID_ARGUMENT;
    const sutra_model_config *m = &e->mcfg;
    *info = (sutra_model_info){
        .name = e->name,
        .path = e->path,
        .architecture = m->model_type,
        .hidden_size = m->hidden_size,
        .num_layers = m->num_layers,
        .num_heads = m->num_heads,
        .intermediate_size = m->intermediate_size,
        .vocab_size = m->vocab_size,
        .max_position_embeddings = m->max_position_embeddings,
        .max_tokens = e->max_tokens,
        .dim = e->dim,
        .pooling = pooling_name(e->pooling),
        .normalize = e->normalize,
        .weights_dtype = sutra_encoder_weights_dtype(e->enc),
        .tokenizer = sutra_tokenizer_kind(e->tok),
        .cpu_features = sutra_cpu_features(),
        .threads = e->threads,
        .device = e->on_gpu ? "cuda" : "cpu",
        .gpu_name = e->gpu_name,
        .gpu_cc_major = e->gpu_cc_major,
        .gpu_cc_minor = e->gpu_cc_minor,
        .attention_kernels = e->attention_kernels,
        .device_note = e->device_note,
    };
#ifdef SUTRA_HAVE_CUDA
    if (e->on_gpu) {
        info->gpu_bytes = sutra_cuda_backend_held_bytes(e->be);
        info->gpu_peak_bytes = sutra_cuda_backend_peak_bytes(e->be);
    }
#endif
    return SUTRA_OK;
}

sutra_status sutra_embedder_stats(const sutra_embedder *e, sutra_stats *stats) {
    if (!e || !stats) return SUTRA_ERR_INVALID_ARGUMENT;
    *stats = e->stats;
    return SUTRA_OK;
}

void sutra_embedder_stats_reset(sutra_embedder *e) {
    if (!e) return;
    memset(&e->stats, 0, sizeof e->stats);
    e->stats.last_path = -1;
}

/* ---- long documents: tokenising and running around src/embed/window.c ---------------------- */

void sutra_window_default(const sutra_embedder *e, sutra_window *w) {
    if (!w) return;
    w->size = e ? e->max_tokens : 512;
    w->overlap = w->size / 4;
    w->aggregate = SUTRA_AGGREGATE_MEAN;
}

/* One document tokenised in full, seen as template + prompt + content, with its windows. */
typedef struct long_doc {
    sutra_encoding enc;
    int32_t *shifted; /* content offsets in the caller's text (2N) */
    sutra_doc_tokens doc;
    sutra_window_plan plan;
} long_doc;

static void long_doc_free(long_doc *d) {
    sutra_encoding_free(&d->enc);
    free(d->shifted);
}

/* Checks window parameters before any text is read (the prompt's tokens are checked per text). */
static sutra_status window_check(sutra_embedder *e, const sutra_window *window, sutra_window *w) {
    if (window) *w = *window;
    else sutra_window_default(e, w);
    sutra_window_plan plan;
    char err[512];
    sutra_status st =
        sutra_window_plan_make(&plan, w, e->max_tokens, (size_t)sutra_tokenizer_num_special(e->tok), err, sizeof err);
    return st ? set_error(e, st, "%s", err) : SUTRA_OK;
}

static sutra_status long_doc_make(sutra_embedder *e, const char *text, size_t len, size_t index, const sutra_window *w,
                                  long_doc *d) {
    memset(d, 0, sizeof *d);
    sutra_status st = encode_text(e, text, len, index, 0, 1, &d->enc);
    if (st) return st;
    if (!(d->shifted = malloc(2 * (d->enc.n ? d->enc.n : 1) * sizeof *d->shifted)))
        return set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "text %zu: out of memory", index);
    const int32_t *pre, *post;
    size_t n_pre, n_post;
    sutra_tokenizer_template(e->tok, &pre, &n_pre, &post, &n_post);
    sutra_doc_tokens_split(&d->doc, &d->enc, pre, n_pre, post, n_post, e->prompt ? strlen(e->prompt) : 0, d->shifted);
    char err[512];
    st = sutra_window_plan_make(&d->plan, w, e->max_tokens, n_pre + n_post + d->doc.n_prompt, err, sizeof err);
    return st ? set_error(e, st, "text %zu: %s", index, err) : SUTRA_OK;
}

sutra_status sutra_embed_windowed(sutra_embedder *e, const char *const *texts, size_t n, const sutra_window *window,
                                  float *out, size_t out_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    sutra_window w;
    sutra_status st = window_check(e, window, &w);
    if (st || n == 0) return st;
    if (!texts || !out) return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "texts and out are required");
    size_t need;
    if (!sutra_mul_ok(n, (size_t)e->dim, &need) || out_cap < need)
        return set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "out holds %zu floats, %zu texts need %zu", out_cap, n,
                         n * (size_t)e->dim);
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text %zu is NULL", i);
    long_doc *docs = calloc(n, sizeof *docs);
    size_t *first = calloc(n + 1, sizeof *first); /* doc i's windows are rows first[i] .. first[i+1] */
    if (!docs || !first) st = set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu texts", n);
    for (size_t i = 0; i < n && !st; i++) {
        st = long_doc_make(e, texts[i], (size_t)-1, i, &w, &docs[i]);
        if (!st) first[i + 1] = first[i] + sutra_window_count(&docs[i].plan, docs[i].doc.n_content);
    }
    pending *items = NULL;
    size_t *weights = NULL, total = st ? 0 : first[n], rows_n = 0;
    float *rows = NULL, *tmp = NULL;
    if (!st) {
        items = calloc(total, sizeof *items);
        weights = malloc(total * sizeof *weights);
        rows = sutra_mul_ok(total, (size_t)e->dim, &rows_n) ? malloc(rows_n * sizeof *rows) : NULL;
        tmp = malloc(need * sizeof *tmp);
        if (!items || !weights || !rows || !tmp)
            st = set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu windows", total);
    }
    for (size_t i = 0; i < n && !st; i++)
        for (size_t j = first[i]; j < first[i + 1] && !st; j++) {
            size_t a, b;
            sutra_window_span(&docs[i].plan, docs[i].doc.n_content, j - first[i], &a, &b);
            weights[j] = b - a;
            items[j].index = j;
            if (sutra_window_encoding(&items[j].enc, &docs[i].doc, &docs[i].plan, j - first[i]))
                st = set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "text %zu: out of memory for its windows", i);
        }
    /* All windows of all texts go through the one packing, so long and short texts share batches. */
    if (!st) st = embed_encoded(e, items, total, rows);
    for (size_t i = 0; i < n && !st; i++)
        sutra_window_aggregate(tmp + i * (size_t)e->dim, rows + first[i] * (size_t)e->dim, weights + first[i],
                               first[i + 1] - first[i], e->dim, w.aggregate, e->normalize);
    if (!st) memcpy(out, tmp, need * sizeof *tmp);
    for (size_t j = 0; items && j < total; j++) sutra_encoding_free(&items[j].enc);
    for (size_t i = 0; docs && i < n; i++) long_doc_free(&docs[i]);
    free(items);
    free(weights);
    free(rows);
    free(tmp);
    free(docs);
    free(first);
    return st;
}

typedef struct late_ctx {
    const long_doc *d;
    sutra_late *late;
} late_ctx;

static void late_sink(void *ctx, const pending *items, int B, const int32_t *cu, const float *hidden) {
    late_ctx *c = ctx;
    for (int b = 0; b < B; b++)
        sutra_late_add(c->late, &c->d->doc, &c->d->plan, items[b].index, hidden + (size_t)cu[b] * c->late->C);
}

sutra_status sutra_embed_late_chunks(sutra_embedder *e, const char *text, size_t len, const size_t *chunk_starts,
                                     size_t n_starts, int chunk_tokens, const sutra_window *window, float *out,
                                     size_t out_cap, sutra_chunk *chunks, size_t chunks_cap, size_t *n_chunks) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (!text || !n_chunks || (!out && out_cap) || (!chunks && chunks_cap))
        return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text and n_chunks are required, and out / chunks with a capacity");
    *n_chunks = 0;
    if (chunk_starts && chunk_tokens)
        return set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "give chunk_starts or chunk_tokens, not both");
    sutra_window w;
    sutra_status st = window_check(e, window, &w);
    if (st) return st;
    if (len == (size_t)-1) len = strlen(text);
    const int C = e->mcfg.hidden_size;
    long_doc d;
    sutra_late late = {0};
    pending *items = NULL;
    float *pooled = NULL;
    size_t K = 0;
    char err[512];
    if ((st = long_doc_make(e, text, len, 0, &w, &d))) goto done;
    if ((st = sutra_late_make(&late, &d.doc, &d.plan, len, chunk_starts, n_starts, chunk_tokens, C,
                              e->pooling == SUTRA_POOLING_MAX, err, sizeof err))) {
        set_error(e, st, "%s", err);
        goto done;
    }
    *n_chunks = late.n_chunks;
    size_t need;
    if (!sutra_mul_ok(late.n_chunks, (size_t)e->dim, &need) || out_cap < need || (chunks && chunks_cap < late.n_chunks)) {
        st = set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "%zu chunks need %zu floats in out (it holds %zu)%s",
                       late.n_chunks, late.n_chunks * (size_t)e->dim, out_cap,
                       chunks && chunks_cap < late.n_chunks ? " and as many entries in chunks" : "");
        goto done;
    }
    if (late.n_chunks == 0) goto done;
    K = sutra_window_count(&d.plan, d.doc.n_content);
    items = calloc(K, sizeof *items);
    pooled = malloc(late.n_chunks * (size_t)C * sizeof *pooled);
    if (!items || !pooled) {
        st = set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu chunks", late.n_chunks);
        goto done;
    }
    for (size_t k = 0; k < K && !st; k++) {
        items[k].index = k;
        if (sutra_window_encoding(&items[k].enc, &d.doc, &d.plan, k))
            st = set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for the document's windows");
    }
    late_ctx lc = {&d, &late};
    hidden_sink sink = {late_sink, &lc};
    if (!st) st = run_encoded(e, items, K, NULL, 0, &sink);
    if (st) goto done;
    sutra_late_pool(&late, pooled);
    for (size_t c = 0; c < late.n_chunks; c++) finish_vector(e, pooled + c * (size_t)C, out + c * (size_t)e->dim);
    if (chunks) memcpy(chunks, late.chunks, late.n_chunks * sizeof *chunks);
done:
    for (size_t k = 0; items && k < K; k++) sutra_encoding_free(&items[k].enc);
    free(items);
    free(pooled);
    sutra_late_free(&late);
    long_doc_free(&d);
    return st;
}
