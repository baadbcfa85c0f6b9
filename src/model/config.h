/*
 * config.h - what a Hugging Face / sentence-transformers model directory says about the model:
 * config.json (architecture and sizes, read by the model's family: src/arch/family.h) and the
 * sentence-transformers files (modules.json, the Pooling module's config,
 * sentence_bert_config.json, a Normalize module, prompts), read here.
 *
 * Rule: every field is validated where it is read (types, ranges, consistency such as the hidden
 * size being a multiple of the head count), so later stages can trust the struct.
 */
#ifndef SUTRA_MODEL_CONFIG_H
#define SUTRA_MODEL_CONFIG_H

#include "backend/net.h"
#include "sutra.h"

/* A sentence-transformers Dense module (models.Dense): y = act(x W^T + b), run after pooling in
 * modules.json order. Activations are torch's module names as the module's config.json gives
 * them ("torch.nn.modules.activation.Tanh"); one not listed here is refused. */
#define SUTRA_MAX_DENSE 8

typedef enum sutra_dense_act {
    SUTRA_DENSE_IDENTITY = 0,
    SUTRA_DENSE_TANH,
    SUTRA_DENSE_RELU,
    SUTRA_DENSE_GELU, /* exact (erf) */
    SUTRA_DENSE_SIGMOID,
    SUTRA_DENSE_SILU,
} sutra_dense_act;

typedef struct sutra_dense_config {
    char path[256]; /* the module's folder, relative to the model directory */
    int in, out;    /* in_features, out_features */
    int bias;
    sutra_dense_act act;
} sutra_dense_config;

typedef struct sutra_model_config {
    char model_type[32];         /* config.json model_type: "bert", ... */
    sutra_net_shape shape;       /* what the forward needs, as the family read it */
    int max_position_embeddings; /* the model's position limit as config.json states it */

    /* sentence-transformers; defaults when the files are absent: mean pooling, no
     * normalisation, limit = max_position_embeddings. */
    int st_max_seq_length; /* 0 = absent */
    sutra_pooling pooling; /* never SUTRA_POOLING_MODEL after loading */
    int normalize;
    int has_st_config;     /* 1 if modules.json was found */
    sutra_dense_config dense[SUTRA_MAX_DENSE]; /* after pooling, in order; the first reads C floats */
    int n_dense;
    /* a sentence-transformers SparseEncoder (MLMTransformer, then SpladePooling): the masked-LM
     * logits of every token, act then log1p, pooled over tokens by max (or sum) */
    int splade;
    int splade_sum;       /* pooling_strategy "sum" */
    int splade_log1p_act; /* activation_function "log1p_relu": log1p(log1p(relu(x))) */
    /* the Transformer module's folder relative to the model's: "" (the model's own), or a
     * subfolder such as "0_Transformer" in older layouts */
    char transformer_dir[256];
} sutra_model_config;

/* Prompts from config_sentence_transformers.json ("prompts": {name: text}, default_prompt_name). */
typedef struct sutra_prompt {
    char *name;
    char *text;
} sutra_prompt;

typedef struct sutra_prompts {
    sutra_prompt *items;
    int n;
    int default_index; /* -1: none */
} sutra_prompts;

/* Absent file: no prompts, SUTRA_OK. */
sutra_status sutra_prompts_load(const char *dir, sutra_prompts *p, char *err, size_t errcap);
void sutra_prompts_free(sutra_prompts *p);
/* The prompt text of a name, or NULL. */
const char *sutra_prompts_find(const sutra_prompts *p, const char *name);

/* The name of a Dense activation as torch spells its module ("Tanh", "Identity", ...). */
const char *sutra_dense_act_name(sutra_dense_act act);

/* The sentence-transformers fields of cfg from the files in dir (absent files: the defaults).
 * Dense modules are checked to chain (each in_features the one before's out_features); that the
 * first reads the encoder's width is checked once the encoder's config is read. */
sutra_status sutra_st_config_load(const char *dir, sutra_model_config *cfg, char *err, size_t errcap);

/* Where a sentence-transformers folder keeps its transformer: the "path" of modules.json's
 * Transformer (or MLMTransformer) module, relative to dir, into rel ("" for dir itself, also when
 * there is no modules.json or no such module). Older models keep it in a subfolder such as
 * 0_Transformer/ with its own config.json, weights, tokenizer and sentence_bert_config.json.
 * Returns 0 when modules.json cannot be read or the path is not a folder inside dir. */
int sutra_st_transformer_dir(const char *dir, char *rel, size_t cap);

/* The transformer's folder of the model in dir as a path, from cfg->transformer_dir: dir itself or
 * a subfolder. 0 if it does not fit in cap. */
int sutra_model_transformer_path(const char *dir, const sutra_model_config *cfg, char *out, size_t cap);

#endif /* SUTRA_MODEL_CONFIG_H */
