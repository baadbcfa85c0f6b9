/*
 * bert.c - the BERT family (all-MiniLM, BGE, E5, GTE) and XLM-RoBERTa / RoBERTa (bge-m3,
 * multilingual-e5), which differ only in numbering positions from padding_idx + 1.
 *
 * Post-norm blocks with biases everywhere: x = LN(x + Wo attn(x)); x = LN(x + W2 act(W1 x)).
 * Learned position and token-type tables, a LayerNorm on the embeddings. Q, K and V are fused
 * into one (3C, C) matrix at load, so that each layer starts with a single product.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "arch/family.h"
#include "model/json.h"
#include "util/common.h"

static sutra_status bert_configure(const cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                   size_t errcap) {
    sutra_net_shape *s = &cfg->shape;
    const int roberta = strcmp(cfg->model_type, "bert") != 0;
    int type_vocab = 2, pad = 0;
    sutra_status st = sutra_family_common_keys(root, what, cfg, err, errcap);
    if (!st) st = sutra_json_int(root, what, "type_vocab_size", 1, 0, 1 << 16, &type_vocab, err, errcap);
    if (!st) st = sutra_json_int(root, what, "pad_token_id", 1, 0, 1 << 24, &pad, err, errcap);
    s->eps = roberta ? 1e-5f : 1e-12f;
    if (!st) st = sutra_json_number(root, what, "layer_norm_eps", 0.0, 1.0, &s->eps, err, errcap);
    if (!st) st = sutra_family_act(root, what, "hidden_act", &s->act, err, errcap);
    if (st) return st;
    const char *pet = sutra_json_string(root, "position_embedding_type");
    if (sutra_json_get(root, "position_embedding_type") && !(pet && !strcmp(pet, "absolute")))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: unsupported position_embedding_type", what);
    s->pos_table = 1;
    s->type_rows = type_vocab ? type_vocab : 1;
    s->pos_offset = roberta ? pad + 1 : 0; /* RoBERTa numbers positions from padding_idx + 1 */
    s->norm = SUTRA_NORM_LAYER;
    s->emb_norm = 1;
    s->post_norm = 1;
    s->norm_bias = s->attn_bias = s->mlp_bias = 1;
    return SUTRA_OK;
}

static const char *find_prefix(const sutra_st_file *f) {
    static const char *const prefixes[] = {"", "bert.", "roberta.", "model.", "encoder_model."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", prefixes[i]);
        if (sutra_st_find(f, name)) return prefixes[i];
    }
    return "";
}

static void bert_bind(sutra_net *net, sutra_binder *b) {
    const sutra_net_shape *s = net->shape;
    const int64_t C = s->C, F = s->F;
    if (!b->prefix) b->prefix = find_prefix(b->file);
    net->tok_emb = sutra_bind(b, "embeddings.word_embeddings.weight", 2, (int64_t[]){s->vocab, C});
    net->pos_emb = sutra_bind(b, "embeddings.position_embeddings.weight", 2, (int64_t[]){s->positions, C});
    /* the table's row 0: inputs are single segments */
    net->type_emb = sutra_bind(b, "embeddings.token_type_embeddings.weight", 2, (int64_t[]){s->type_rows, C});
    net->emb_norm = sutra_family_bind_norm(b, s, "embeddings.LayerNorm", 0, 1);
    for (int l = 0; l < s->L; l++) {
        sutra_layer *L = &net->layers[l];
        static const char *const qkv[3] = {"query", "key", "value"};
        L->qkv = sutra_family_fused_qkv(b, "encoder.layer.%%d.attention.self.%s", qkv, l, (int64_t[]){C, C, C}, C, 1);
        L->o = sutra_family_linear(b, "encoder.layer.%d.attention.output.dense", l, C, C, 1);
        L->attn_post = sutra_family_bind_norm(b, s, "encoder.layer.%d.attention.output.LayerNorm", l, 1);
        L->up = sutra_family_linear(b, "encoder.layer.%d.intermediate.dense", l, F, C, 1);
        L->down = sutra_family_linear(b, "encoder.layer.%d.output.dense", l, C, F, 1);
        L->ffn_post = sutra_family_bind_norm(b, s, "encoder.layer.%d.output.LayerNorm", l, 1);
    }
}

static const char *const bert_types[] = {"bert", "xlm-roberta", "roberta", NULL};

const sutra_family sutra_family_bert = {
    .name = "bert",
    .model_types = bert_types,
    .configure = bert_configure,
    .bind = bert_bind,
};
