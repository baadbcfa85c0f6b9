/*
 * pack.c - the scheduling of tokenised inputs (embedder.h sutra_run_encoded): longest first,
 * packed end to end into batches of at most the token budget (no padding), each batch on the
 * attention path the embedder's decision gives it, results back in input order.
 */
#include <stdlib.h>
#include <string.h>

#include "embedder.h"

static int by_length_desc(const void *a, const void *b) {
    const sutra_pending *x = a, *y = b;
    if (x->enc.n != y->enc.n) return x->enc.n < y->enc.n ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index;
}

sutra_status sutra_run_encoded(sutra_embedder *e, sutra_pending *items, size_t n, float *out, int raw,
                               const sutra_hidden_sink *sink) {
    const sutra_run_opts o = {.out = out, .raw = raw, .sink = sink};
    return sutra_run_encoded_ex(e, items, n, &o);
}

sutra_status sutra_run_encoded_ex(sutra_embedder *e, sutra_pending *items, size_t n, const sutra_run_opts *o) {
    float *out = o->out;
    const int raw = o->raw;
    const sutra_hidden_sink *sink = o->sink;
    const sutra_pooling pooling = o->pooling != SUTRA_POOLING_MODEL ? o->pooling : e->pooling;
    qsort(items, n, sizeof *items, by_length_desc);
    const int C = e->mcfg.shape.C;
    int any_types = 0;
    for (size_t i = 0; i < n; i++) any_types |= items[i].enc.types != NULL;
    int32_t *ids = malloc((size_t)e->batch_tokens * sizeof *ids);
    int32_t *types = any_types ? calloc((size_t)e->batch_tokens, sizeof *types) : NULL;
    int32_t *cu = malloc(((size_t)e->batch_tokens + 1) * sizeof *cu);
    const int R = sink && sink->token_head ? sutra_heads_token_rows(e->heads, NULL, NULL) : 0;
    float *hidden = sink ? malloc((size_t)e->batch_tokens * (size_t)(R ? R : C) * sizeof *hidden) : NULL;
    if (!ids || !cu || (sink && !hidden) || (any_types && !types)) {
        free(ids);
        free(types);
        free(cu);
        free(hidden);
        return sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    sutra_status st = SUTRA_OK;
    size_t i = 0;
    while (i < n && st == SUTRA_OK) {
        int T = 0, B = 0, max_len = (int)items[i].enc.n;
        size_t first = i;
        cu[0] = 0;
        while (i < n && T + (int)items[i].enc.n <= e->batch_tokens) {
            memcpy(ids + T, items[i].enc.ids, items[i].enc.n * sizeof *ids);
            if (types && items[i].enc.types) memcpy(types + T, items[i].enc.types, items[i].enc.n * sizeof *types);
            else if (types) memset(types + T, 0, items[i].enc.n * sizeof *types);
            T += (int)items[i].enc.n;
            cu[++B] = T;
            i++;
        }
        sutra_batch batch = {.ids = ids, .types = types, .cu_seqlens = cu, .B = B, .T = T, .max_seqlen = max_len};
        const sutra_attn_path path = sutra_embedder_path(e, max_len); /* the backend runs it, never another */
        char err[512] = "";
        st = sutra_encoder_forward_ex(e->enc, e->be, &batch, path, pooling, e->pooled, R ? NULL : hidden,
                                      R ? hidden : NULL, err, sizeof err);
        if (st) {
            sutra_set_error(e, st, "%s", err);
            break;
        }
        const float *vec = e->pooled; /* B rows of full_dim floats once the Dense modules ran */
        if (out && e->dense && !o->pooled_only && !(vec = sutra_dense_run(e->dense, e->pooled, (size_t)B))) {
            st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for the Dense modules");
            break;
        }
        const size_t W = o->pooled_only ? (size_t)C : (size_t)e->full_dim;
        for (int b = 0; out && b < B; b++) {
            const float *row = vec + (size_t)b * W;
            if (raw || o->pooled_only) memcpy(out + items[first + b].index * W, row, W * sizeof(float));
            else sutra_finish_vector(e, row, out + items[first + b].index * (size_t)e->dim);
        }
        if (sink) sink->fn(sink->ctx, items + first, B, cu, hidden);
        e->stats.batches++;
        e->stats.tokens += (uint64_t)T;
        e->stats.texts += (uint64_t)B;
        if (path == SUTRA_ATTN_FLASH) e->stats.batches_flash++;
        else e->stats.batches_standard++;
        e->stats.last_path = (int)path;
        e->stats.last_batch_max_len = max_len;
    }
    free(ids);
    free(types);
    free(cu);
    free(hidden);
    return st;
}
