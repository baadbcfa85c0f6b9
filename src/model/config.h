/*
 * config.h - what a Hugging Face / sentence-transformers model directory says about the model:
 * config.json (architecture and sizes) and the sentence-transformers files (modules.json,
 * the Pooling module's config, sentence_bert_config.json, a Normalize module).
 *
 * Rule: every field is validated here (types, ranges, consistency such as hidden_size being a
 * multiple of num_attention_heads), so architectures can trust the struct.
 */
#ifndef SUTRA_MODEL_CONFIG_H
#define SUTRA_MODEL_CONFIG_H

#include "backend/backend.h"
#include "sutra.h"

typedef struct sutra_model_config {
    char model_type[32]; /* config.json model_type: "bert", ... */
    int vocab_size;
    int hidden_size;
    int num_layers;
    int num_heads;
    int intermediate_size;
    int max_position_embeddings;
    int type_vocab_size;
    int pad_token_id;
    float layer_norm_eps;
    sutra_act hidden_act;

    /* xlm-roberta / roberta: position ids start at pad_token_id + 1 */
    int pos_offset;
    /* modernbert */
    int norm_bias, attention_bias, mlp_bias; /* 1 if those layers carry biases */
    int local_window;                        /* half-width of local layers' window (local_attention / 2) */
    float rope_theta_global, rope_theta_local;
#define SUTRA_MAX_LAYERS 1024
    unsigned char layer_is_local[SUTRA_MAX_LAYERS]; /* 1: sliding-window layer */

    /* sentence-transformers; defaults when the files are absent: mean pooling, no
     * normalisation, limit = max_position_embeddings. */
    int st_max_seq_length; /* 0 = absent */
    sutra_pooling pooling; /* never SUTRA_POOLING_MODEL after loading */
    int normalize;
    int has_st_config;     /* 1 if modules.json was found */
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

sutra_status sutra_model_config_load(const char *dir, sutra_model_config *cfg, char *err, size_t errcap);

/* Parses config.json text alone (for tests and fuzzing); the ST fields get their defaults. */
sutra_status sutra_model_config_parse(const char *json, size_t len, const char *what, sutra_model_config *cfg,
                                      char *err, size_t errcap);

#endif /* SUTRA_MODEL_CONFIG_H */
