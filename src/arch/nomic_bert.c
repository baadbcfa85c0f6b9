/*
 * nomic_bert.c - the NomicBERT family (nomic-embed-text-v1 / v1.5): BERT's post-norm block with
 * rotary positions and a gated FFN, under the names and config keys of Nomic's published
 * checkpoints (GPT-2 style sizes: n_embd, n_layer, n_head, n_inner, n_positions).
 *
 * Embeddings: word row + token-type row 0, then a LayerNorm (emb_ln); no position table
 * (rotary_emb_fraction > 0). Each layer: x = norm1(x + out_proj attn(rope(Wqkv x))); then
 * x = norm2(x + fc2(fc11(x) * act(fc12(x)))) for the gated activations (swiglu: SiLU, geglu:
 * GELU) or norm2(x + fc2(act(fc1 x))) for a plain one. Wqkv is stored fused (query, key, value
 * rows), as Sutra runs it; fc12 (the gated half) and fc11 are stacked at load into one (2F, C)
 * matrix, gate rows first. Rotary: NeoX halves over the whole head, base rotary_emb_base, at every
 * position up to n_positions (v1.5 ships 8192, trained to 2048). The word table holds vocab_size
 * rounded up to pad_vocab_size_multiple rows, as the checkpoints store it.
 *
 * Refused by name (no published embedder's config.json sets them): partial or interleaved rotary,
 * a rotary scale base, the dynamic-NTK rotary_scaling_factor (Nomic's code can set it at load for
 * inputs past max_trained_positions; the shipped config leaves it null), pre-norm, RMSNorm, causal
 * attention, a bias on one FFN product only, "glu".
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arch/family.h"
#include "model/json.h"
#include "util/common.h"

/* A setting no published NomicBERT embedder uses. */
static sutra_status refuse(const char *what, const char *key, const char *why, char *err, size_t errcap) {
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: %s (%s) is not supported", what, key, why);
}

static sutra_status nomic_configure(const cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                    size_t errcap) {
    static const sutra_size_keys names = {"vocab_size", "n_embd", "n_layer", "n_head", "n_inner", "n_positions"};
    sutra_net_shape *s = &cfg->shape;
    /* n_inner may be absent (GPT-2's default: 4 n_embd); n_positions absent: max_position_embeddings */
    cJSON *copy = cJSON_Duplicate(root, 1);
    if (!copy) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    const cJSON *embd = sutra_json_get(copy, "n_embd");
    if (!sutra_json_get(copy, "n_inner") && cJSON_IsNumber(embd)) cJSON_AddNumberToObject(copy, "n_inner", 4 * embd->valuedouble);
    const cJSON *mpe = sutra_json_get(copy, "max_position_embeddings");
    if (!sutra_json_get(copy, "n_positions") && cJSON_IsNumber(mpe)) cJSON_AddNumberToObject(copy, "n_positions", mpe->valuedouble);
    sutra_status st = sutra_family_size_keys(copy, what, &names, cfg, err, errcap);
    cJSON_Delete(copy);
    if (st) return st;
    int type_vocab = 2, pad_multiple = 1;
    float fraction = 0.0f, base = 10000.0f;
    s->eps = 1e-5f; /* GPT2Config's layer_norm_epsilon */
    if ((st = sutra_json_int(root, what, "type_vocab_size", 1, 0, 1 << 16, &type_vocab, err, errcap)) ||
        (st = sutra_json_int(root, what, "pad_vocab_size_multiple", 1, 1, 1 << 16, &pad_multiple, err, errcap)) ||
        (st = sutra_json_number(root, what, "layer_norm_epsilon", 0.0, 1.0, &s->eps, err, errcap)) ||
        (st = sutra_json_number(root, what, "rotary_emb_fraction", 0.0, 1.0, &fraction, err, errcap)) ||
        (st = sutra_json_number(root, what, "rotary_emb_base", 1.0, 1e12, &base, err, errcap)))
        return st;
    if (fraction != 1.0f) return refuse(what, "rotary_emb_fraction", "only 1.0: rotary over whole heads", err, errcap);
    static const char *const must_be_off[] = {"rotary_emb_interleaved", "prenorm", "use_rms_norm", "causal",
                                              "parallel_block"};
    for (size_t i = 0; i < sizeof must_be_off / sizeof must_be_off[0]; i++)
        if (sutra_json_bool(root, must_be_off[i], 0)) return refuse(what, must_be_off[i], "true", err, errcap);
    static const char *const must_be_null[] = {"rotary_emb_scale_base", "rotary_scaling_factor"};
    for (size_t i = 0; i < sizeof must_be_null / sizeof must_be_null[0]; i++) {
        const cJSON *v = sutra_json_get(root, must_be_null[i]);
        if (v && !cJSON_IsNull(v)) return refuse(what, must_be_null[i], "set", err, errcap);
    }
    const char *act = sutra_json_string(root, "activation_function");
    if (sutra_json_get(root, "activation_function") && !act)
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s: field 'activation_function' must be a string", what);
    if (!act || !strcmp(act, "gelu")) s->act = SUTRA_ACT_GELU;
    else if (!strcmp(act, "swiglu")) s->act = SUTRA_ACT_SILU, s->gated = 1;
    else if (!strcmp(act, "geglu")) s->act = SUTRA_ACT_GELU, s->gated = 1;
    else if (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_fast") || !strcmp(act, "gelu_pytorch_tanh")) s->act = SUTRA_ACT_GELU_TANH;
    else return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: unsupported activation_function '%.40s'", what, act);
    if (s->vocab % pad_multiple) s->vocab += pad_multiple - s->vocab % pad_multiple; /* as the checkpoint stores it */
    for (int l = 0; l < s->L; l++) s->rope_theta[l] = base;
    s->pos_table = 0;
    s->pos_offset = 0;
    s->type_rows = type_vocab ? type_vocab : 0;
    s->norm = SUTRA_NORM_LAYER;
    s->emb_norm = 1;
    s->post_norm = 1;
    s->norm_bias = 1;
    s->attn_bias = sutra_json_bool(root, "qkv_proj_bias", 1);
    s->mlp_bias = sutra_json_bool(root, "mlp_fc1_bias", 1);
    if (s->mlp_bias != sutra_json_bool(root, "mlp_fc2_bias", 1))
        return refuse(what, "mlp_fc1_bias != mlp_fc2_bias", "a bias on one FFN product only", err, errcap);
    return SUTRA_OK;
}

static void nomic_bind(sutra_net *net, sutra_binder *b) {
    const sutra_net_shape *s = net->shape;
    const int64_t C = s->C, F = s->F;
    if (!b->prefix) b->prefix = sutra_st_find(b->file, "bert.embeddings.word_embeddings.weight") ? "bert." : "";
    net->tok_emb = sutra_bind(b, "embeddings.word_embeddings.weight", 2, (int64_t[]){s->vocab, C});
    if (s->type_rows) /* the table's row 0: inputs are single segments */
        net->type_emb = sutra_bind(b, "embeddings.token_type_embeddings.weight", 2, (int64_t[]){s->type_rows, C});
    net->emb_norm = sutra_family_bind_norm(b, s, "emb_ln", 0, 1);
    for (int l = 0; l < s->L; l++) {
        sutra_layer *L = &net->layers[l];
        L->qkv = sutra_family_linear(b, "encoder.layers.%d.attn.Wqkv", l, 3 * C, C, s->attn_bias);
        L->o = sutra_family_linear(b, "encoder.layers.%d.attn.out_proj", l, C, C, s->attn_bias);
        L->attn_post = sutra_family_bind_norm(b, s, "encoder.layers.%d.norm1", l, 1);
        static const char *const half[2] = {"fc12", "fc11"}; /* act(fc12 x) * fc11 x: the gate first */
        L->up = s->gated ? sutra_family_stacked(b, "encoder.layers.%%d.mlp.%s", half, 2, l, (int64_t[]){F, F}, C, s->mlp_bias)
                         : sutra_family_linear(b, "encoder.layers.%d.mlp.fc1", l, F, C, s->mlp_bias);
        L->down = sutra_family_linear(b, "encoder.layers.%d.mlp.fc2", l, C, F, s->mlp_bias);
        L->ffn_post = sutra_family_bind_norm(b, s, "encoder.layers.%d.norm2", l, 1);
    }
}

static const char *const nomic_types[] = {"nomic_bert", NULL};

const sutra_family sutra_family_nomic_bert = {
    .name = "nomic_bert",
    .model_types = nomic_types,
    .configure = nomic_configure,
    .bind = nomic_bind,
};
