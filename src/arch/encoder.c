/*
 * encoder.c - see arch.h.
 */
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/family.h"
#include "arch/weights.h"
#include "util/common.h"

struct sutra_encoder {
    sutra_net_shape shape;
    sutra_net net;
    float *slab;       /* converted and fused weights (host fp32) */
    const char *dtype; /* weights' dtype as stored */
    int32_t *pos;      /* (T) position ids of the batch being run */
    size_t pos_cap;
    const void *token_w, *token_b; /* the plan's token head, the backend's copies */
    int token_rows;
};

void sutra_encoder_destroy(sutra_encoder *e) {
    if (!e) return;
    free(e->net.layers);
    free(e->slab);
    free(e->pos);
    free(e);
}

typedef struct upload_ctx {
    sutra_backend *be;
    size_t total;
} upload_ctx;

static int count_weight(void *ctx, const void **slot, size_t n) {
    (void)slot;
    ((upload_ctx *)ctx)->total += n;
    return 0;
}

static int upload_weight(void *ctx, const void **slot, size_t n) {
    sutra_backend *be = ((upload_ctx *)ctx)->be;
    return !(*slot = be->weights_upload(be, (const float *)*slot, n));
}

sutra_status sutra_encoder_create(const sutra_model_config *cfg, const sutra_st_file *weights, sutra_backend *be,
                                  const sutra_encoder_plan *plan, sutra_encoder **out, char *err, size_t errcap) {
    *out = NULL;
    const sutra_family *fam = sutra_family_find(cfg->model_type);
    if (!fam) return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "unsupported architecture '%s'", cfg->model_type);
    sutra_encoder *e = calloc(1, sizeof *e);
    if (!e || !(e->net.layers = calloc((size_t)cfg->shape.L, sizeof *e->net.layers))) {
        sutra_encoder_destroy(e);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    }
    e->shape = cfg->shape;
    e->net.shape = &e->shape;
    sutra_binder b = {.file = weights, .err = err, .errcap = errcap};
    fam->bind(&e->net, &b); /* counting pass */
    sutra_status st = b.failed ? SUTRA_ERR_MODEL : SUTRA_OK;
    if (!st && !(e->slab = sutra_alloc64((b.slab_used ? b.slab_used : 1) * sizeof(float))))
        st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate %zu bytes of weights", b.slab_used * 4);
    if (!st) {
        b.slab = e->slab;
        b.slab_used = 0;
        fam->bind(&e->net, &b); /* filling pass */
        st = b.failed ? SUTRA_ERR_MODEL : SUTRA_OK;
    }
    e->dtype = b.dtype ? b.dtype : "F32";
    if (!st) st = sutra_transformer_check(&e->net, be, err, errcap);
    size_t extra = 0;
    if (!st && be->prepare) st = be->prepare(be, &e->net, plan->max_tokens, &extra, err, errcap);
    const int R = plan->token_w ? plan->token_rows : 0;
    if (R) extra += (size_t)plan->max_tokens * (size_t)R * be->act_bytes + 4096; /* the token head's output */
    if (!st)
        st = be->reserve(be, sutra_transformer_arena_bytes(&e->shape, plan->max_tokens, be->act_bytes) + extra,
                         plan->std_max_seqlen, e->shape.D, err, errcap);
    upload_ctx u = {be, 0};
    sutra_net_each_weight(&e->net, count_weight, &u);
    if (R) u.total += (size_t)R * (size_t)e->shape.C + (size_t)R;
    if (!st && (st = be->weights_reserve(be, u.total)))
        sutra_errf(st, err, errcap, "%s backend: cannot reserve %zu weights", be->name, u.total);
    if (!st && sutra_net_each_weight(&e->net, upload_weight, &u))
        st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s backend: weight upload failed", be->name);
    if (!st && R) {
        e->token_w = be->weights_upload(be, plan->token_w, (size_t)R * (size_t)e->shape.C);
        e->token_b = plan->token_b ? be->weights_upload(be, plan->token_b, (size_t)R) : NULL;
        e->token_rows = R;
        if (!e->token_w || (plan->token_b && !e->token_b))
            st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s backend: token head upload failed", be->name);
    }
    if (st) {
        sutra_encoder_destroy(e);
        return st;
    }
    *out = e;
    return SUTRA_OK;
}

const char *sutra_encoder_weights_dtype(const sutra_encoder *e) { return e->dtype; }

sutra_status sutra_encoder_forward(sutra_encoder *e, sutra_backend *be, const sutra_batch *batch,
                                   sutra_attn_path path, sutra_pooling pooling, float *pooled, float *hidden,
                                   char *err, size_t errcap) {
    return sutra_encoder_forward_ex(e, be, batch, path, pooling, pooled, hidden, NULL, err, errcap);
}

sutra_status sutra_encoder_forward_ex(sutra_encoder *e, sutra_backend *be, const sutra_batch *batch,
                                      sutra_attn_path path, sutra_pooling pooling, float *pooled, float *hidden,
                                      float *token_out, char *err, size_t errcap) {
    const sutra_net_shape *s = &e->shape;
    const int T = batch->T, B = batch->B;
    if (batch->max_seqlen + s->pos_offset > s->positions)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sequence of %d tokens exceeds the model's %d positions",
                          batch->max_seqlen, s->positions - s->pos_offset);
    if ((size_t)T > e->pos_cap) {
        int32_t *p = realloc(e->pos, (size_t)T * sizeof *p);
        if (!p) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
        e->pos = p;
        e->pos_cap = (size_t)T;
    }
    for (int b = 0; b < B; b++)
        for (int t = batch->cu_seqlens[b]; t < batch->cu_seqlens[b + 1]; t++)
            e->pos[t] = t - batch->cu_seqlens[b] + s->pos_offset;
    for (int t = 0; t < T; t++)
        if (batch->ids[t] < 0 || batch->ids[t] >= s->vocab)
            return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "token id %d out of range", batch->ids[t]);
    /* a net without a type table reads no types (ModernBERT's pair template numbers its segments,
     * its model ignores them, as transformers' does) */
    const int type_rows = s->type_rows;
    for (int t = 0; batch->types && e->net.type_emb && t < T; t++)
        if (batch->types[t] < 0 || batch->types[t] >= type_rows)
            return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "token type %d out of range (the model has %d)",
                              batch->types[t], type_rows);

    sutra_batch_io io;
    sutra_status st = be->begin_batch(be, batch->ids, e->pos, batch->types, batch->cu_seqlens, T, B, &io);
    if (st) return sutra_errf(st, err, errcap, "%s backend: cannot stage the batch: %s", be->name,
                              be->error && *be->error(be) ? be->error(be) : sutra_status_str(st));
    const void *final = NULL;
    if ((st = sutra_transformer_forward(&e->net, be, batch, &io, path, &final, err, errcap))) return st;
    if (hidden) {
        if (!be->download) return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s backend cannot return hidden states", be->name);
        if ((st = be->download(be, hidden, final, (size_t)T * s->C)))
            return sutra_errf(st, err, errcap, "%s backend: reading hidden states failed", be->name);
    }
    if (token_out) {
        const int R = e->token_rows;
        void *rows = R ? be->arena_alloc(be, (size_t)T * (size_t)R * be->act_bytes) : NULL;
        if (!rows || !be->download)
            return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "%s backend: no room or no way for the token head", be->name);
        be->matmul(be, rows, final, e->token_w, e->token_b, T, R, s->C, SUTRA_ACT_NONE);
        if ((st = be->download(be, token_out, rows, (size_t)T * (size_t)R)))
            return sutra_errf(st, err, errcap, "%s backend: the token head failed: %s", be->name,
                              be->error && *be->error(be) ? be->error(be) : sutra_status_str(st));
    }
    st = be->pool(be, pooled, final, io.cu_seqlens, batch->cu_seqlens, B, s->C, pooling);
    if (st) return sutra_errf(st, err, errcap, "%s backend: pooling failed: %s", be->name,
                              be->error && *be->error(be) ? be->error(be) : sutra_status_str(st));
    return SUTRA_OK;
}
