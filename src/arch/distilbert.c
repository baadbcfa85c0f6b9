/*
 * distilbert.c - the DistilBERT family (msmarco-distilbert, multi-qa-distilbert, distiluse's
 * text tower): BERT's post-norm block with its own names and config keys, no token-type table.
 *
 * x = LN(x + out_lin attn(x)); x = LN(x + lin2 act(lin1 x)); embeddings: word + position rows,
 * then a LayerNorm (eps fixed at 1e-12 in DistilBERT). Positions count from 0 and the position
 * table is stored whether it was learned or made sinusoidal (`sinusoidal_pos_embds`), so both
 * read the same. Q, K and V are fused at load as for BERT.
 */
#include <cjson/cJSON.h>

#include "arch/family.h"
#include "model/json.h"
#include "util/common.h"

static sutra_status distilbert_configure(const cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                         size_t errcap) {
    static const sutra_size_keys names = {"vocab_size", "dim", "n_layers", "n_heads", "hidden_dim",
                                          "max_position_embeddings"};
    sutra_net_shape *s = &cfg->shape;
    sutra_status st = sutra_family_size_keys(root, what, &names, cfg, err, errcap);
    if (!st) st = sutra_family_act(root, what, "activation", &s->act, err, errcap);
    if (st) return st;
    s->pos_table = 1;
    s->type_rows = 0;
    s->pos_offset = 0;
    s->eps = 1e-12f;
    s->norm = SUTRA_NORM_LAYER;
    s->emb_norm = 1;
    s->post_norm = 1;
    s->norm_bias = s->attn_bias = s->mlp_bias = 1;
    return SUTRA_OK;
}

static void distilbert_bind(sutra_net *net, sutra_binder *b) {
    const sutra_net_shape *s = net->shape;
    const int64_t C = s->C, F = s->F;
    if (!b->prefix) b->prefix = sutra_st_find(b->file, "distilbert.embeddings.word_embeddings.weight") ? "distilbert." : "";
    net->tok_emb = sutra_bind(b, "embeddings.word_embeddings.weight", 2, (int64_t[]){s->vocab, C});
    net->pos_emb = sutra_bind(b, "embeddings.position_embeddings.weight", 2, (int64_t[]){s->positions, C});
    net->emb_norm = sutra_family_bind_norm(b, s, "embeddings.LayerNorm", 0, 1);
    for (int l = 0; l < s->L; l++) {
        sutra_layer *L = &net->layers[l];
        static const char *const qkv[3] = {"q_lin", "k_lin", "v_lin"};
        L->qkv = sutra_family_fused_qkv(b, "transformer.layer.%%d.attention.%s", qkv, l, (int64_t[]){C, C, C}, C, 1);
        L->o = sutra_family_linear(b, "transformer.layer.%d.attention.out_lin", l, C, C, 1);
        L->attn_post = sutra_family_bind_norm(b, s, "transformer.layer.%d.sa_layer_norm", l, 1);
        L->up = sutra_family_linear(b, "transformer.layer.%d.ffn.lin1", l, F, C, 1);
        L->down = sutra_family_linear(b, "transformer.layer.%d.ffn.lin2", l, C, F, 1);
        L->ffn_post = sutra_family_bind_norm(b, s, "transformer.layer.%d.output_layer_norm", l, 1);
    }
}

static const char *const distilbert_types[] = {"distilbert", NULL};

const sutra_family sutra_family_distilbert = {
    .name = "distilbert",
    .model_types = distilbert_types,
    .configure = distilbert_configure,
    .bind = distilbert_bind,
};
