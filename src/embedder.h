/*
 * embedder.h - the embedder handle's insides, shared by the files that make up the public API:
 *   sutra.c           the API's wiring: config, create/destroy, tokenising, prompts, info, stats
 *   device.c          which backend runs the model, and the attention decision for it
 *   embed/pack.c      tokenised inputs into length-sorted, token-budget batches through the encoder
 *   embed/longdoc.c   windows and late chunks of long documents (embed/window.c does the maths)
 *
 * Rule: every field is the handle's own; nothing here is shared between handles, so two
 * embedders in two threads never touch the same memory.
 */
#ifndef SUTRA_EMBEDDER_H
#define SUTRA_EMBEDDER_H

#include "arch/arch.h"
#include "model/config.h"
#include "embed/dense.h"
#include "embed/heads.h"
#include "model/safetensors.h"
#include "sutra.h"
#include "tokenizer/tokenizer.h"
#include "util/common.h"

struct sutra_embedder {
    sutra_config cfg; /* as given, its strings cleared (the caller's) */
    sutra_model_config mcfg;
    char name[256];
    char path[4096];    /* the model's folder */
    char tf_path[4096]; /* its transformer's: path, or a subfolder (0_Transformer/) */
    char models_dir[4096];
    sutra_tokenizer *tok;
    sutra_st_file *weights;
    sutra_encoder *enc;
    sutra_backend *be;
    int max_tokens;   /* per input, specials included */
    int batch_tokens; /* per forward */
    int dim;
    int full_dim;      /* width of a finished vector before truncation: the last Dense module's, else C */
    sutra_dense *dense; /* the pipeline's Dense modules, or NULL */
    sutra_heads *heads; /* scores, sparse and ColBERT heads (embed/heads.c), or NULL */
    int outputs;        /* sutra_output_kind bits */
    char outputs_text[64];
    char *rerank_instruction; /* NULL: the model's default */
    int threads;
    char threads_source[640]; /* sutra_model_info.threads_source */
    int cpu_quota;            /* 1: the process runs under a cgroup CPU quota (util/cpus.h) */
    sutra_pooling pooling;
    int normalize;
    float *pooled;    /* (batch_tokens, hidden) scratch: at most one row per token */
    sutra_stats stats;
    sutra_prompts prompts;
    char *prompt;     /* prepended to every input; NULL for none */
    /* the device (device.c) */
    int on_gpu;
    char gpu_name[256];
    int gpu_cc_major, gpu_cc_minor;
    char attention_kernels[128];
    char device_note[512];
    char cpu_features[160];
    const char *cpu_isa;
    char backend_settings[256];
    char compute_dtype[128]; /* sutra_model_info.compute_dtype */
    /* the attention decision, made once here for every batch (embed/pack.c): attention is
     * STANDARD or FLASH for one path always, AUTO for flash above flash_threshold */
    sutra_attention attention;
    int flash_threshold;
    char last_error[1024];
};

/* Sets the handle's last error and returns st. */
sutra_status sutra_set_error(sutra_embedder *e, sutra_status st, const char *fmt, ...) SUTRA_PRINTF(3, 4);

/* Creates e->be and e->enc for e->mcfg on the configured device (device.c), and makes the
 * attention decision for it. Needs max_tokens, batch_tokens and threads set. */
sutra_status sutra_device_open(sutra_embedder *e, char *err, size_t errcap);
/* A pooling's name as sutra_model_info spells it: "mean", "cls", "max", "last". */
const char *sutra_pooling_word(sutra_pooling p);

/* The attention paths a model would have on this machine's device (AUTO: a GPU if there is one),
 * without opening a backend: "cpu: standard flash" or "cuda: standard flash(d=...) ...". */
void sutra_device_attention_here(sutra_device device, int gpu_index, char *out, size_t cap);

/* Device bytes the backend holds now and held at most (0 and 0 on the CPU). */
void sutra_device_memory(const sutra_embedder *e, size_t *held, size_t *peak);

/* The attention path of a batch whose longest sequence has max_len tokens. */
sutra_attn_path sutra_embedder_path(const sutra_embedder *e, int max_len);

/* One tokenised input and its row in the caller's output. */
typedef struct sutra_pending {
    sutra_encoding enc;
    size_t index;
} sutra_pending;

/* Receives each batch's final hidden states: hidden (T, C) for the B items packed by cu; with
 * token_head, the rows of the encoder's token head instead (T, sutra_heads_token_rows()). */
typedef struct sutra_hidden_sink {
    void (*fn)(void *ctx, const sutra_pending *items, int B, const int32_t *cu, const float *hidden);
    void *ctx;
    int token_head;
} sutra_hidden_sink;

/* Embeds n tokenised inputs: sorted longest first, packed into batches of at most batch_tokens
 * tokens (no padding), results written to their original rows (out may be NULL when only sink
 * wants the batches). With a sink, each batch's hidden states go to it as well. raw: rows of
 * full_dim floats (pooled, then the Dense modules), neither truncated nor normalised.
 * (embed/pack.c) */
sutra_status sutra_run_encoded(sutra_embedder *e, sutra_pending *items, size_t n, float *out, int raw,
                               const sutra_hidden_sink *sink);

/* sutra_run_encoded with every choice spelled out: out and raw as there; sink as there; pooling
 * (SUTRA_POOLING_MODEL: the embedder's) for this run; pooled_only: out receives the pooled hidden
 * states (C floats a row), before the Dense modules (the scoring heads read them). */
typedef struct sutra_run_opts {
    float *out;
    int raw;
    const sutra_hidden_sink *sink;
    sutra_pooling pooling;
    int pooled_only;
} sutra_run_opts;
sutra_status sutra_run_encoded_ex(sutra_embedder *e, sutra_pending *items, size_t n, const sutra_run_opts *o);

/* What the embedder's model gives (sutra_output_kind bits), and that as words. (embed/outputs.c) */
int sutra_outputs_of(const sutra_embedder *e);
/* SUTRA_OK if the model gives that output (a sutra_output_kind), else SUTRA_ERR_UNSUPPORTED with
 * the last error naming what it does give. (embed/outputs.c) */
sutra_status sutra_require_output(sutra_embedder *e, int kind);
void sutra_outputs_describe(int outputs, char *buf, size_t cap);

/* Truncates a full_dim vector (pooled, then the Dense modules) to dim (Matryoshka) and
 * L2-normalises it when the embedder does. */
void sutra_finish_vector(const sutra_embedder *e, const float *pooled, float *out);

/* The checks every call on n texts makes before any work: texts and out present, out_cap >= n x
 * dim (*need receives it), no text NULL. Sets the last error. */
sutra_status sutra_check_texts(sutra_embedder *e, const char *const *texts, size_t n, const float *out, size_t out_cap,
                               size_t *need);

/* Tokenises text `index` after the embedder's prompt, with at most max_tokens tokens (0: all of
 * it), with byte offsets when asked; counts it when it fills the limit. */
sutra_status sutra_encode_text(sutra_embedder *e, const char *text, size_t len, size_t index, size_t max_tokens,
                               int want_offsets, sutra_encoding *enc);

#endif /* SUTRA_EMBEDDER_H */
