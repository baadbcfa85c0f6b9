/*
 * longdoc.c - the public calls for long documents (sutra.h: sutra_embed_windowed,
 * sutra_embed_late_chunks): each document tokenised in full, cut into windows (embed/window.c
 * does the arithmetic), the windows of all documents run through the one packing
 * (sutra_run_encoded), and their vectors folded back per document, or their token states pooled
 * per chunk.
 */
#include <stdlib.h>
#include <string.h>

#include "embed/window.h"
#include "embedder.h"
#include "tokenizer/template.h"
#include "util/struct_size.h"

void sutra_window_init_sized(const sutra_embedder *e, sutra_window *w, size_t struct_size) {
    if (!w || struct_size < SUTRA_WINDOW_V1_SIZE) return;
    const int size = e ? e->max_tokens : 512;
    const sutra_window d = {.struct_size = struct_size, .size = size, .overlap = size / 4,
                            .aggregate = SUTRA_AGGREGATE_MEAN};
    sutra_struct_write(w, struct_size, &d, sizeof d);
}

/* One document tokenised in full, seen as template + prompt + content, with its windows. */
typedef struct long_doc {
    sutra_encoding enc;
    int32_t *shifted; /* content offsets in the caller's text (2N) */
    sutra_doc_tokens doc;
    sutra_window_plan plan;
} long_doc;

static void long_doc_free(long_doc *d) {
    sutra_encoding_free(&d->enc);
    free(d->shifted);
}

/* Checks window parameters before any text is read (the prompt's tokens are checked per text). */
static sutra_status window_check(sutra_embedder *e, const sutra_window *window, sutra_window *w) {
    sutra_window_init(e, w);
    char err[512];
    sutra_status st = window ? sutra_struct_read(w, sizeof *w, window, SUTRA_WINDOW_V1_SIZE, "sutra_window", err, sizeof err)
                             : SUTRA_OK;
    sutra_window_plan plan;
    if (!st)
        st = sutra_window_plan_make(&plan, w, e->max_tokens, (size_t)sutra_tokenizer_num_special(e->tok), err,
                                    sizeof err);
    return st ? sutra_set_error(e, st, "%s", err) : SUTRA_OK;
}

static sutra_status long_doc_make(sutra_embedder *e, const char *text, size_t len, size_t index, const sutra_window *w,
                                  long_doc *d) {
    memset(d, 0, sizeof *d);
    sutra_status st = sutra_encode_text(e, text, len, index, 0, 1, &d->enc);
    if (st) return st;
    if (!(d->shifted = malloc(2 * (d->enc.n ? d->enc.n : 1) * sizeof *d->shifted)))
        return sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "text %zu: out of memory", index);
    const int32_t *pre, *post;
    size_t n_pre, n_post;
    sutra_tokenizer_template(e->tok, &pre, &n_pre, &post, &n_post);
    sutra_doc_tokens_split(&d->doc, &d->enc, pre, n_pre, post, n_post, e->prompt ? strlen(e->prompt) : 0, d->shifted);
    char err[512];
    st = sutra_window_plan_make(&d->plan, w, e->max_tokens, n_pre + n_post + d->doc.n_prompt, err, sizeof err);
    return st ? sutra_set_error(e, st, "text %zu: %s", index, err) : SUTRA_OK;
}

sutra_status sutra_embed_windowed(sutra_embedder *e, const char *const *texts, size_t n, const sutra_window *window,
                                  float *out, size_t out_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    sutra_window w;
    sutra_status st = window_check(e, window, &w);
    if (st || n == 0) return st;
    size_t need;
    if ((st = sutra_check_texts(e, texts, n, out, out_cap, &need))) return st;
    long_doc *docs = calloc(n, sizeof *docs);
    size_t *first = calloc(n + 1, sizeof *first); /* doc i's windows are rows first[i] .. first[i+1] */
    if (!docs || !first) st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu texts", n);
    for (size_t i = 0; i < n && !st; i++) {
        st = long_doc_make(e, texts[i], (size_t)-1, i, &w, &docs[i]);
        if (!st) first[i + 1] = first[i] + sutra_window_count(&docs[i].plan, docs[i].doc.n_content);
    }
    sutra_pending *items = NULL;
    size_t *weights = NULL, total = st ? 0 : first[n], rows_n = 0;
    float *rows = NULL, *tmp = NULL;
    if (!st) {
        items = calloc(total, sizeof *items);
        weights = malloc(total * sizeof *weights);
        rows = sutra_mul_ok(total, (size_t)e->dim, &rows_n) ? malloc(rows_n * sizeof *rows) : NULL;
        tmp = malloc(need * sizeof *tmp);
        if (!items || !weights || !rows || !tmp)
            st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu windows", total);
    }
    for (size_t i = 0; i < n && !st; i++)
        for (size_t j = first[i]; j < first[i + 1] && !st; j++) {
            size_t a, b;
            sutra_window_span(&docs[i].plan, docs[i].doc.n_content, j - first[i], &a, &b);
            weights[j] = b - a;
            items[j].index = j;
            if (sutra_window_encoding(&items[j].enc, &docs[i].doc, &docs[i].plan, j - first[i]))
                st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "text %zu: out of memory for its windows", i);
        }
    /* All windows of all texts go through the one packing, so long and short texts share batches. */
    if (!st) st = sutra_run_encoded(e, items, total, rows, 0, NULL);
    for (size_t i = 0; i < n && !st; i++)
        sutra_window_aggregate(tmp + i * (size_t)e->dim, rows + first[i] * (size_t)e->dim, weights + first[i],
                               first[i + 1] - first[i], e->dim, w.aggregate, e->normalize);
    if (!st) memcpy(out, tmp, need * sizeof *tmp);
    for (size_t j = 0; items && j < total; j++) sutra_encoding_free(&items[j].enc);
    for (size_t i = 0; docs && i < n; i++) long_doc_free(&docs[i]);
    free(items);
    free(weights);
    free(rows);
    free(tmp);
    free(docs);
    free(first);
    return st;
}

typedef struct late_ctx {
    const long_doc *d;
    sutra_late *late;
} late_ctx;

static void late_sink(void *ctx, const sutra_pending *items, int B, const int32_t *cu, const float *hidden) {
    late_ctx *c = ctx;
    for (int b = 0; b < B; b++)
        sutra_late_add(c->late, &c->d->doc, &c->d->plan, items[b].index, hidden + (size_t)cu[b] * c->late->C);
}

sutra_status sutra_embed_late_chunks(sutra_embedder *e, const char *text, size_t len, const size_t *chunk_starts,
                                     size_t n_starts, int chunk_tokens, const sutra_window *window, float *out,
                                     size_t out_cap, sutra_chunk *chunks, size_t chunks_cap, size_t *n_chunks) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (!text || !n_chunks || (!out && out_cap) || (!chunks && chunks_cap))
        return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text and n_chunks are required, and out / chunks with a capacity");
    *n_chunks = 0;
    if (sutra_require_output(e, SUTRA_OUTPUT_DENSE)) return SUTRA_ERR_UNSUPPORTED;
    if (chunk_starts && chunk_tokens)
        return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "give chunk_starts or chunk_tokens, not both");
    sutra_window w;
    sutra_status st = window_check(e, window, &w);
    if (st) return st;
    if (len == (size_t)-1) len = strlen(text);
    const int C = e->mcfg.shape.C;
    long_doc d;
    sutra_late late = {0};
    sutra_pending *items = NULL;
    float *pooled = NULL;
    size_t K = 0;
    char err[512];
    if ((st = long_doc_make(e, text, len, 0, &w, &d))) goto done;
    if ((st = sutra_late_make(&late, &d.doc, &d.plan, len, chunk_starts, n_starts, chunk_tokens, C,
                              e->pooling == SUTRA_POOLING_MAX, err, sizeof err))) {
        sutra_set_error(e, st, "%s", err);
        goto done;
    }
    *n_chunks = late.n_chunks;
    size_t need;
    if (!sutra_mul_ok(late.n_chunks, (size_t)e->dim, &need) || out_cap < need || (chunks && chunks_cap < late.n_chunks)) {
        st = sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "%zu chunks need %zu floats in out (it holds %zu)%s",
                       late.n_chunks, late.n_chunks * (size_t)e->dim, out_cap,
                       chunks && chunks_cap < late.n_chunks ? " and as many entries in chunks" : "");
        goto done;
    }
    if (late.n_chunks == 0) goto done;
    K = sutra_window_count(&d.plan, d.doc.n_content);
    items = calloc(K, sizeof *items);
    pooled = malloc(late.n_chunks * (size_t)C * sizeof *pooled);
    if (!items || !pooled) {
        st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu chunks", late.n_chunks);
        goto done;
    }
    for (size_t k = 0; k < K && !st; k++) {
        items[k].index = k;
        if (sutra_window_encoding(&items[k].enc, &d.doc, &d.plan, k))
            st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for the document's windows");
    }
    late_ctx lc = {&d, &late};
    sutra_hidden_sink sink = {late_sink, &lc, 0};
    if (!st) st = sutra_run_encoded(e, items, K, NULL, 0, &sink);
    if (st) goto done;
    sutra_late_pool(&late, pooled);
    const float *vec = pooled; /* the Dense modules run on each chunk's pooled vector, as on a text's */
    if (e->dense && !(vec = sutra_dense_run(e->dense, pooled, late.n_chunks))) {
        st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for the Dense modules");
        goto done;
    }
    for (size_t c = 0; c < late.n_chunks; c++)
        sutra_finish_vector(e, vec + c * (size_t)e->full_dim, out + c * (size_t)e->dim);
    if (chunks) memcpy(chunks, late.chunks, late.n_chunks * sizeof *chunks);
done:
    for (size_t k = 0; items && k < K; k++) sutra_encoding_free(&items[k].enc);
    free(items);
    free(pooled);
    sutra_late_free(&late);
    long_doc_free(&d);
    return st;
}

