/*
 * arch.c - picks the architecture named by config.json's model_type and runs the steps every
 * architecture shares: position ids, token-id checks, staging the batch on the backend, and
 * pooling the final hidden states.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch/encoder.h"
#include "util/common.h"

static const sutra_arch *find_arch(const char *model_type) {
    if (!strcmp(model_type, "bert") || !strcmp(model_type, "xlm-roberta") || !strcmp(model_type, "roberta"))
        return &sutra_arch_bert;
    if (!strcmp(model_type, "modernbert")) return &sutra_arch_modernbert;
    return NULL;
}

sutra_status sutra_encoder_create(const sutra_model_config *cfg, const sutra_st_file *weights, sutra_backend *be,
                                  sutra_encoder **out, char *err, size_t errcap) {
    *out = NULL;
    const sutra_arch *a = find_arch(cfg->model_type);
    if (!a) return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "unsupported architecture '%s'", cfg->model_type);
    sutra_status st = a->create(cfg, weights, be, out, err, errcap);
    if (st == SUTRA_OK) (*out)->arch = a;
    return st;
}

void sutra_encoder_destroy(sutra_encoder *e) {
    if (!e) return;
    free(e->pos);
    e->arch->destroy(e);
}

size_t sutra_encoder_arena_bytes(const sutra_model_config *cfg, int max_tokens, size_t act_bytes) {
    const sutra_arch *a = find_arch(cfg->model_type);
    return a ? a->arena_bytes(cfg, max_tokens, act_bytes) : 0;
}

sutra_attn_params sutra_arch_fused_attn(const sutra_model_config *cfg, const sutra_batch *batch,
                                        const sutra_batch_io *io, void *qkv, void *out, size_t act_bytes) {
    const int C = cfg->hidden_size, H = cfg->num_heads, D = C / H;
    char *base = qkv;
    return (sutra_attn_params){
        .q = base, .k = base + (size_t)C * act_bytes, .v = base + (size_t)2 * C * act_bytes, .out = out,
        .q_stride = 3 * C, .k_stride = 3 * C, .v_stride = 3 * C, .o_stride = C,
        .cu_seqlens = io->cu_seqlens, .batch = batch->B, .max_seqlen = batch->max_seqlen,
        .heads = H, .head_dim = D, .scale = 1.0f / sqrtf((float)D),
        .window_left = -1, .window_right = -1,
    };
}

uint64_t sutra_arch_shape_key(const sutra_batch *batch, sutra_attn_path path) {
    return (uint64_t)batch->T | (uint64_t)batch->B << 24 | (uint64_t)batch->max_seqlen << 44 | (uint64_t)path << 63;
}

const char *sutra_encoder_weights_dtype(const sutra_encoder *e) { return e->dtype; }

sutra_status sutra_encoder_forward(sutra_encoder *e, sutra_backend *be, const sutra_batch *batch,
                                   sutra_attn_path path, sutra_pooling pooling, float *pooled, float *hidden,
                                   char *err, size_t errcap) {
    const sutra_model_config *c = &e->cfg;
    const int T = batch->T, B = batch->B;
    if (batch->max_seqlen + c->pos_offset > c->max_position_embeddings)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sequence of %d tokens exceeds the model's %d positions",
                          batch->max_seqlen, c->max_position_embeddings - c->pos_offset);
    if ((size_t)T > e->pos_cap) {
        int32_t *p = realloc(e->pos, (size_t)T * sizeof *p);
        if (!p) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
        e->pos = p;
        e->pos_cap = (size_t)T;
    }
    for (int b = 0; b < B; b++)
        for (int t = batch->cu_seqlens[b]; t < batch->cu_seqlens[b + 1]; t++)
            e->pos[t] = t - batch->cu_seqlens[b] + c->pos_offset;
    for (int t = 0; t < T; t++)
        if (batch->ids[t] < 0 || batch->ids[t] >= c->vocab_size)
            return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "token id %d out of range", batch->ids[t]);

    sutra_batch_io io;
    sutra_status st = be->begin_batch(be, batch->ids, e->pos, batch->cu_seqlens, T, B, &io);
    if (st) return sutra_errf(st, err, errcap, "%s backend: cannot stage the batch", be->name);
    const void *final = NULL;
    if ((st = e->arch->forward(e, be, batch, &io, path, &final, err, errcap))) return st;
    if (hidden) {
        if (!be->download) return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s backend cannot return hidden states", be->name);
        if ((st = be->download(be, hidden, final, (size_t)T * c->hidden_size)))
            return sutra_errf(st, err, errcap, "%s backend: reading hidden states failed", be->name);
    }
    st = be->pool(be, pooled, final, io.cu_seqlens, batch->cu_seqlens, B, c->hidden_size, pooling);
    if (st) return sutra_errf(st, err, errcap, "%s backend: pooling failed", be->name);
    return SUTRA_OK;
}
