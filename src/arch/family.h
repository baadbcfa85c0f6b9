/*
 * family.h - what a model family is to Sutra: one file (src/arch/<family>.c) that maps its
 * config.json keys onto a sutra_net_shape and its tensor names onto a sutra_net, and nothing
 * else. The forward is the shared one (transformer.c); how an op runs is the backend's.
 *
 * Adding a family: write src/arch/<family>.c with a `const sutra_family sutra_family_<name>`
 * (configure + bind), add it to the table in family.c, and give it a test against the reference
 * implementation (docs/ARCHITECTURE.md, "Adding a family").
 */
#ifndef SUTRA_FAMILY_H
#define SUTRA_FAMILY_H

#include <stddef.h>

#include "arch/weights.h"
#include "backend/net.h"
#include "model/config.h"

struct cJSON;

typedef struct sutra_family {
    const char *name;
    const char *const *model_types; /* the config.json model_type values it reads, NULL-terminated */
    /* Reads config.json (root; `what` names the file in errors) into cfg->shape and
     * cfg->max_position_embeddings: the family's keys, its defaults, its checks. cfg->model_type
     * is set and the shape zeroed. */
    sutra_status (*configure)(const struct cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                              size_t errcap);
    /* Binds every weight of net (whose shape is set, layers allocated) through b: tensor names and
     * shapes, fused matrices, norms' kind and eps. Called twice: b->slab NULL counts, then fills. */
    void (*bind)(sutra_net *net, sutra_binder *b);
} sutra_family;

/* The family reading model_type, or NULL. */
const sutra_family *sutra_family_find(const char *model_type);

/* The config.json names of the sizes every family has. */
typedef struct sutra_size_keys {
    const char *vocab, *hidden, *layers, *heads, *ffn, *positions;
} sutra_size_keys;

/* Those sizes into cfg, with the shape's derived defaults: Hkv = H, D = C / H (C a multiple of
 * H), scale 1/sqrt(D), no window, no rotary. */
sutra_status sutra_family_size_keys(const struct cJSON *root, const char *what, const sutra_size_keys *k,
                                    sutra_model_config *cfg, char *err, size_t errcap);

/* The same under the names most families use, as BERT does (vocab_size, hidden_size,
 * num_hidden_layers, num_attention_heads, intermediate_size, max_position_embeddings). */
sutra_status sutra_family_common_keys(const struct cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                      size_t errcap);

/* The activation config.json names in field key (absent: the exact GELU, as transformers
 * defaults): "gelu" exact, "gelu_new" / "gelu_pytorch_tanh" the tanh form, "silu" / "swish";
 * anything else is SUTRA_ERR_UNSUPPORTED naming it. */
sutra_status sutra_family_act(const struct cJSON *root, const char *what, const char *key, sutra_act *act, char *err,
                              size_t errcap);

/* A norm of the net's kind and eps, weights w and b (b may be NULL). */
sutra_norm sutra_family_norm(const sutra_net_shape *s, const float *w, const float *b);

/* Binds "<name>.weight" (N, K) and, when bias, "<name>.bias" (N), in that order; name is fmt
 * with the layer number for its %d (if any). */
sutra_linear sutra_family_linear(sutra_binder *b, const char *fmt, int layer, int64_t N, int64_t K, int bias);

/* Matrices stacked at load into one (rows[0] + ... + rows[parts-1], cols) matrix (and, when bias,
 * one bias vector), in the order given: part i is "<name>.weight" (rows[i], cols) and
 * "<name>.bias", name being fmt with names[i] for its %s and then the layer for its %d (write it
 * %%d). A gated FFN's gate and up halves: parts 2, the gate first. */
sutra_linear sutra_family_stacked(sutra_binder *b, const char *fmt, const char *const *names, int parts, int layer,
                                  const int64_t *rows, int64_t cols, int bias);

/* Q, K and V stacked at load into one (rows[0] + rows[1] + rows[2], cols) matrix (and, when
 * bias, one bias vector) in that order: the parts are "<name>.weight" (rows[i], cols) and
 * "<name>.bias", name being fmt with names[i] for its %s and then the layer for its %d (write
 * it %%d), e.g. "encoder.layer.%%d.attention.self.%s". */
sutra_linear sutra_family_fused_qkv(sutra_binder *b, const char *fmt, const char *const names[3], int layer,
                                    const int64_t rows[3], int64_t cols, int bias);

/* Binds a norm of the net's kind over C: "<name>.weight" and, when bias, "<name>.bias". */
sutra_norm sutra_family_bind_norm(sutra_binder *b, const sutra_net_shape *s, const char *fmt, int layer, int bias);

/* Parses config.json text (what: its name in errors) into cfg through the family its
 * model_type names; the sentence-transformers fields get their defaults. */
sutra_status sutra_model_config_parse(const char *json, size_t len, const char *what, sutra_model_config *cfg,
                                      char *err, size_t errcap);

/* config.json and the sentence-transformers files of a model directory. */
sutra_status sutra_model_config_load(const char *dir, sutra_model_config *cfg, char *err, size_t errcap);

extern const sutra_family sutra_family_bert;       /* bert, xlm-roberta, roberta */
extern const sutra_family sutra_family_modernbert; /* modernbert */
extern const sutra_family sutra_family_distilbert; /* distilbert */
extern const sutra_family sutra_family_gemma3;     /* gemma3_text */
extern const sutra_family sutra_family_mpnet;      /* mpnet */
extern const sutra_family sutra_family_nomic_bert; /* nomic_bert */
extern const sutra_family sutra_family_qwen3;      /* qwen3 */

#endif /* SUTRA_FAMILY_H */
