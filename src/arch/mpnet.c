/*
 * mpnet.c - the MPNet family (all-mpnet-base-v2, multi-qa-mpnet-base): BERT's post-norm block
 * with learned positions numbered as RoBERTa numbers them (from padding_idx + 1), no token-type
 * table, and a relative position bias shared by every layer.
 *
 * The bias: encoder.relative_attention_bias, a (32, H) table indexed by T5's bidirectional
 * bucket of the offset s - t of key s from query t (16 buckets a side; offsets below 8 exact,
 * then logarithmic up to 128, the last bucket holding the rest), added to the scaled scores of
 * every layer. transformers computes the bucket with 32 buckets and distance 128 whatever the
 * config says, so a config with another relative_attention_num_buckets is refused. At bind the
 * table is expanded to one row per offset (rel_span = the longest input), so the attention
 * kernels read a row and never compute a bucket.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arch/family.h"
#include "model/json.h"
#include "util/common.h"

#define MPNET_BUCKETS 32
#define MPNET_MAX_DISTANCE 128

static sutra_status mpnet_configure(const cJSON *root, const char *what, sutra_model_config *cfg, char *err,
                                    size_t errcap) {
    sutra_net_shape *s = &cfg->shape;
    int pad = 1, buckets = MPNET_BUCKETS;
    sutra_status st = sutra_family_common_keys(root, what, cfg, err, errcap);
    s->eps = 1e-12f;
    if (!st) st = sutra_json_int(root, what, "pad_token_id", 1, 0, 1 << 24, &pad, err, errcap);
    if (!st) st = sutra_json_number(root, what, "layer_norm_eps", 0.0, 1.0, &s->eps, err, errcap);
    if (!st) st = sutra_json_int(root, what, "relative_attention_num_buckets", 1, 1, 1 << 16, &buckets, err, errcap);
    if (!st) st = sutra_family_act(root, what, "hidden_act", &s->act, err, errcap);
    if (st) return st;
    if (buckets != MPNET_BUCKETS)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                          "%s: relative_attention_num_buckets %d (MPNet's bucketing is fixed at %d)", what, buckets,
                          MPNET_BUCKETS);
    s->pos_table = 1;
    s->type_rows = 0;
    s->pos_offset = pad + 1; /* positions count from padding_idx + 1 */
    s->rel_span = s->positions - s->pos_offset > 0 ? s->positions - s->pos_offset : 1;
    s->norm = SUTRA_NORM_LAYER;
    s->emb_norm = 1;
    s->post_norm = 1;
    s->norm_bias = s->attn_bias = s->mlp_bias = 1;
    return SUTRA_OK;
}

/* T5's bidirectional bucket of offset d = s - t, computed in float as transformers does
 * (log of n / 8 over log 16, times 8, truncated). */
static int mpnet_bucket(int d) {
    const int half = MPNET_BUCKETS / 2, exact = half / 2;
    int n = -d, ret = 0;
    if (n < 0) {
        ret = half;
        n = -n;
    }
    if (n < exact) return ret + n;
    const float lg = logf((float)n / (float)exact) / (float)log((double)MPNET_MAX_DISTANCE / exact) * (float)(half - exact);
    int v = exact + (int)lg;
    return ret + (v < half - 1 ? v : half - 1);
}

static void mpnet_bind(sutra_net *net, sutra_binder *b) {
    const sutra_net_shape *s = net->shape;
    const int64_t C = s->C, F = s->F, H = s->H;
    if (!b->prefix) b->prefix = sutra_st_find(b->file, "mpnet.embeddings.word_embeddings.weight") ? "mpnet." : "";
    net->tok_emb = sutra_bind(b, "embeddings.word_embeddings.weight", 2, (int64_t[]){s->vocab, C});
    net->pos_emb = sutra_bind(b, "embeddings.position_embeddings.weight", 2, (int64_t[]){s->positions, C});
    net->emb_norm = sutra_family_bind_norm(b, s, "embeddings.LayerNorm", 0, 1);
    const float *buckets = sutra_bind(b, "encoder.relative_attention_bias.weight", 2, (int64_t[]){MPNET_BUCKETS, H});
    const int span = s->rel_span;
    float *rows = sutra_bind_fused_alloc(b, (size_t)(2 * span - 1) * (size_t)H);
    if (rows && buckets)
        for (int d = -(span - 1); d <= span - 1; d++)
            memcpy(rows + (size_t)(d + span - 1) * H, buckets + (size_t)mpnet_bucket(d) * H, (size_t)H * sizeof *rows);
    net->rel_bias = rows;
    for (int l = 0; l < s->L; l++) {
        sutra_layer *L = &net->layers[l];
        static const char *const qkv[3] = {"q", "k", "v"};
        L->qkv = sutra_family_fused_qkv(b, "encoder.layer.%%d.attention.attn.%s", qkv, l, (int64_t[]){C, C, C}, C, 1);
        L->o = sutra_family_linear(b, "encoder.layer.%d.attention.attn.o", l, C, C, 1);
        L->attn_post = sutra_family_bind_norm(b, s, "encoder.layer.%d.attention.LayerNorm", l, 1);
        L->up = sutra_family_linear(b, "encoder.layer.%d.intermediate.dense", l, F, C, 1);
        L->down = sutra_family_linear(b, "encoder.layer.%d.output.dense", l, C, F, 1);
        L->ffn_post = sutra_family_bind_norm(b, s, "encoder.layer.%d.output.LayerNorm", l, 1);
    }
}

static const char *const mpnet_types[] = {"mpnet", NULL};

const sutra_family sutra_family_mpnet = {
    .name = "mpnet",
    .model_types = mpnet_types,
    .configure = mpnet_configure,
    .bind = mpnet_bind,
};
