/*
 * window.c - long documents: windows, aggregation and late chunking (see window.h).
 *
 * Rules: every size is checked before it indexes anything; the only allocations are the
 * window's ids and the late-chunking tables, sized once per document; sums are in double so
 * that a result does not depend on how many windows or tokens went into it.
 */
#include "embed/window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

void sutra_doc_tokens_split(sutra_doc_tokens *doc, const sutra_encoding *enc, const int32_t *pre, size_t n_pre,
                            const int32_t *post, size_t n_post, size_t prompt_bytes, int32_t *shifted) {
    memset(doc, 0, sizeof *doc);
    doc->pre = pre;
    doc->n_pre = n_pre;
    doc->post = post;
    doc->n_post = n_post;
    size_t body = enc->n >= n_pre + n_post ? enc->n - n_pre - n_post : 0;
    const int32_t *ids = enc->ids + n_pre;
    size_t np = 0;
    /* Prompt tokens come first; one that straddles the prompt's end counts as prompt. */
    while (prompt_bytes && enc->starts && np < body && (size_t)enc->starts[n_pre + np] < prompt_bytes) np++;
    doc->prompt = ids;
    doc->n_prompt = np;
    doc->content = ids + np;
    doc->n_content = body - np;
    if (enc->starts && shifted) {
        int32_t *s = shifted, *e = shifted + doc->n_content;
        for (size_t i = 0; i < doc->n_content; i++) {
            s[i] = enc->starts[n_pre + np + i] - (int32_t)prompt_bytes;
            e[i] = enc->ends[n_pre + np + i] - (int32_t)prompt_bytes;
        }
        doc->starts = s;
        doc->ends = e;
    }
}

sutra_status sutra_window_plan_make(sutra_window_plan *plan, const sutra_window *w, int max_tokens, size_t n_fixed,
                                    char *err, size_t errcap) {
    if (w->size <= 0)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                          "window size %d: a window needs a positive size (at most the token limit, %d)", w->size,
                          max_tokens);
    if (w->size > max_tokens)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                          "window size %d exceeds the token limit %d (raise max_sequence_length, up to the model's "
                          "positions, for larger windows)",
                          w->size, max_tokens);
    if (w->overlap < 0)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "window overlap %d is negative", w->overlap);
    if (w->overlap >= w->size)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                          "window overlap %d must be smaller than the window size %d", w->overlap, w->size);
    if ((unsigned)w->aggregate > SUTRA_AGGREGATE_WEIGHTED)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                          "window aggregate %d is not mean (0), max (1) or weighted (2)", (int)w->aggregate);
    if ((size_t)w->size <= n_fixed + (size_t)w->overlap)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                          "window overlap %d must be smaller than the %d text tokens a window of %d holds (%zu are "
                          "special and prompt tokens)",
                          w->overlap, w->size > (int)n_fixed ? w->size - (int)n_fixed : 0, w->size, n_fixed);
    plan->size = w->size;
    plan->overlap = w->overlap;
    plan->content = w->size - (int)n_fixed;
    plan->stride = plan->content - w->overlap;
    return SUTRA_OK;
}

size_t sutra_window_count(const sutra_window_plan *plan, size_t n) {
    if (n <= (size_t)plan->content) return 1;
    size_t rest = n - (size_t)plan->content, s = (size_t)plan->stride;
    return 1 + (rest + s - 1) / s;
}

void sutra_window_span(const sutra_window_plan *plan, size_t n, size_t k, size_t *first, size_t *last) {
    size_t a = k * (size_t)plan->stride, b = a + (size_t)plan->content;
    *first = a < n ? a : n;
    *last = b < n ? b : n;
}

sutra_status sutra_window_encoding(sutra_encoding *out, const sutra_doc_tokens *doc, const sutra_window_plan *plan,
                                   size_t k) {
    memset(out, 0, sizeof *out);
    size_t a, b;
    sutra_window_span(plan, doc->n_content, k, &a, &b);
    size_t n = doc->n_pre + doc->n_prompt + (b - a) + doc->n_post;
    out->ids = malloc(n * sizeof *out->ids);
    if (!out->ids) return SUTRA_ERR_OUT_OF_MEMORY;
    int32_t *p = out->ids;
    if (doc->n_pre) memcpy(p, doc->pre, doc->n_pre * sizeof *p);
    p += doc->n_pre;
    if (doc->n_prompt) memcpy(p, doc->prompt, doc->n_prompt * sizeof *p);
    p += doc->n_prompt;
    if (b > a) memcpy(p, doc->content + a, (b - a) * sizeof *p);
    p += b - a;
    if (doc->n_post) memcpy(p, doc->post, doc->n_post * sizeof *p);
    out->n = out->cap = n;
    return SUTRA_OK;
}

void sutra_window_aggregate(float *out, const float *vecs, const size_t *weights, size_t K, int D, sutra_aggregate how,
                            int normalize) {
    if (K == 1) {
        memcpy(out, vecs, (size_t)D * sizeof *out);
        return;
    }
    double total = 0;
    for (size_t k = 0; k < K; k++) total += how == SUTRA_AGGREGATE_WEIGHTED ? (double)weights[k] : 1.0;
    if (total <= 0) total = 1; /* weighted windows that are all empty: the plain sum, zero */
    double ss = 0;
    for (int i = 0; i < D; i++) {
        double v;
        if (how == SUTRA_AGGREGATE_MAX) {
            v = vecs[i];
            for (size_t k = 1; k < K; k++) v = fmax(v, vecs[k * (size_t)D + i]);
        } else {
            v = 0;
            for (size_t k = 0; k < K; k++)
                v += (how == SUTRA_AGGREGATE_WEIGHTED ? (double)weights[k] : 1.0) * vecs[k * (size_t)D + i];
            v /= total;
        }
        out[i] = (float)v;
        ss += v * v;
    }
    if (!normalize) return;
    /* as sentence-transformers' Normalize: divide by max(norm, 1e-12) */
    double norm = sqrt(ss), inv = 1.0 / (norm > 1e-12 ? norm : 1e-12);
    for (int i = 0; i < D; i++) out[i] = (float)(out[i] * inv);
}

/* ---- late chunking ---------------------------------------------------------------------------- */

void sutra_late_free(sutra_late *late) {
    if (!late) return;
    free(late->chunks);
    free(late->chunk_of);
    free(late->owner);
    free(late->acc);
    memset(late, 0, sizeof *late);
}

/* The chunk whose start is the last one at or before byte s, or -1 (starts ascending). */
static int32_t chunk_at(const size_t *starts, size_t n, size_t s) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (starts[mid] <= s) lo = mid + 1;
        else hi = mid;
    }
    return (int32_t)lo - 1;
}

sutra_status sutra_late_make(sutra_late *late, const sutra_doc_tokens *doc, const sutra_window_plan *plan,
                             size_t text_len, const size_t *starts, size_t n_starts, int chunk_tokens, int C,
                             int use_max, char *err, size_t errcap) {
    memset(late, 0, sizeof *late);
    const size_t N = doc->n_content;
    if (!doc->starts) return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "late chunking needs token offsets");
    if (starts) {
        if (n_starts == 0) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "no chunk starts given");
        for (size_t i = 0; i < n_starts; i++) {
            if (starts[i] >= text_len)
                return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                                  "chunk start %zu is byte %zu, not inside the %zu-byte text", i, starts[i], text_len);
            if (i && starts[i] <= starts[i - 1])
                return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                                  "chunk starts must increase: start %zu is byte %zu after byte %zu", i, starts[i],
                                  starts[i - 1]);
        }
        late->n_chunks = n_starts;
    } else {
        if (chunk_tokens <= 0)
            return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                              "chunk size %d: give chunk starts or a positive chunk size in tokens", chunk_tokens);
        late->n_chunks = (N + (size_t)chunk_tokens - 1) / (size_t)chunk_tokens;
    }
    late->C = C;
    late->use_max = use_max;
    size_t nc = late->n_chunks, acc_n;
    if (!sutra_mul_ok(nc ? nc : 1, (size_t)C, &acc_n)) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "too many chunks");
    late->chunks = calloc(nc ? nc : 1, sizeof *late->chunks);
    late->chunk_of = malloc((N ? N : 1) * sizeof *late->chunk_of);
    late->owner = malloc((N ? N : 1) * sizeof *late->owner);
    late->acc = malloc(acc_n * sizeof *late->acc);
    if (!late->chunks || !late->chunk_of || !late->owner || !late->acc) {
        sutra_late_free(late);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory for %zu chunks of %zu tokens", nc, N);
    }
    for (size_t i = 0; i < acc_n; i++) late->acc[i] = use_max ? -INFINITY : 0.0;

    /* Chunk of each token, chunk spans and counts. */
    for (size_t c = 0; starts && c < nc; c++) {
        late->chunks[c].start = starts[c];
        late->chunks[c].end = c + 1 < nc ? starts[c + 1] : text_len;
    }
    for (size_t t = 0; t < N; t++) {
        int32_t c = starts ? chunk_at(starts, nc, doc->starts[t] > 0 ? (size_t)doc->starts[t] : 0)
                           : (int32_t)(t / (size_t)chunk_tokens);
        late->chunk_of[t] = c;
        if (c < 0) continue;
        sutra_chunk *ch = &late->chunks[c];
        if (!starts) {
            if (ch->tokens == 0) ch->start = (size_t)doc->starts[t];
            if ((size_t)doc->ends[t] > ch->end) ch->end = (size_t)doc->ends[t];
        }
        ch->tokens++;
    }
    for (size_t c = 0; c < nc; c++)
        if (late->chunks[c].tokens == 0) {
            size_t s = late->chunks[c].start, e = late->chunks[c].end;
            sutra_late_free(late);
            return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                              "chunk %zu (bytes %zu..%zu) holds no token: it is empty or all whitespace", c, s, e);
        }

    /* Owner window of each token: the largest distance to a cut edge of a window holding it. */
    size_t K = sutra_window_count(plan, N);
    int64_t *best = malloc((N ? N : 1) * sizeof *best);
    if (!best) {
        sutra_late_free(late);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    }
    for (size_t t = 0; t < N; t++) best[t] = -1;
    for (size_t k = 0; k < K; k++) {
        size_t a, b;
        sutra_window_span(plan, N, k, &a, &b);
        for (size_t t = a; t < b; t++) {
            int64_t left = k == 0 ? INT64_MAX : (int64_t)(t - a);
            int64_t right = b == N ? INT64_MAX : (int64_t)(b - 1 - t);
            int64_t d = left < right ? left : right;
            if (d > best[t]) {
                best[t] = d;
                late->owner[t] = (int32_t)k;
            }
        }
    }
    free(best);
    return SUTRA_OK;
}

void sutra_late_add(sutra_late *late, const sutra_doc_tokens *doc, const sutra_window_plan *plan, size_t k,
                    const float *h) {
    size_t a, b;
    sutra_window_span(plan, doc->n_content, k, &a, &b);
    const size_t skip = doc->n_pre + doc->n_prompt;
    const int C = late->C;
    for (size_t t = a; t < b; t++) {
        int32_t c = late->chunk_of[t];
        if (c < 0 || (size_t)late->owner[t] != k) continue;
        const float *row = h + (skip + t - a) * (size_t)C;
        double *acc = late->acc + (size_t)c * C;
        if (late->use_max)
            for (int i = 0; i < C; i++) acc[i] = fmax(acc[i], row[i]);
        else
            for (int i = 0; i < C; i++) acc[i] += row[i];
    }
}

void sutra_late_pool(const sutra_late *late, float *pooled) {
    const int C = late->C;
    for (size_t c = 0; c < late->n_chunks; c++) {
        const double *acc = late->acc + c * (size_t)C;
        double n = late->use_max ? 1.0 : (double)late->chunks[c].tokens;
        for (int i = 0; i < C; i++) pooled[c * (size_t)C + i] = (float)(acc[i] / n);
    }
}
