/*
 * outputs_cmd.c - see outputs_cmd.h.
 */
#include "outputs_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int by_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cli_rerank(sutra_embedder *emb, const rerank_opts *o, char **docs, size_t n) {
    float *scores = malloc((n ? n : 1) * sizeof *scores);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    const int reps = o->repeat > 1 ? o->repeat : 1;
    double *times = malloc((size_t)reps * sizeof *times);
    if (!scores || !order || !times) {
        fprintf(stderr, "sutra: out of memory\n");
        return 1;
    }
    sutra_status st = SUTRA_OK;
    for (int r = 0; r < reps && !st; r++) {
        const double t0 = now_s();
        st = sutra_rerank(emb, o->query, (const char *const *)docs, n, o->raw, scores, n);
        times[r] = now_s() - t0;
    }
    if (st) {
        fprintf(stderr, "sutra: rerank: %s: %s\n", sutra_status_str(st), sutra_embedder_last_error(emb));
        free(scores);
        free(order);
        free(times);
        return 1;
    }
    if (reps > 1) {
        qsort(times, (size_t)reps, sizeof *times, by_double);
        const double med = times[reps / 2];
        fprintf(stderr, "sutra: rerank: %zu pairs, median of %d runs %.3f ms (%.1f pairs/s), min %.3f ms\n", n, reps,
                med * 1e3, n / med, times[0] * 1e3);
    }
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 1; i < n; i++) { /* best first; ties keep the input order */
        size_t k = order[i], j = i;
        while (j > 0 && scores[order[j - 1]] < scores[k]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
    const size_t shown = o->top_n > 0 && (size_t)o->top_n < n ? (size_t)o->top_n : n;
    for (size_t i = 0; i < shown; i++) printf("{\"index\": %zu, \"score\": %.9g}\n", order[i], scores[order[i]]);
    free(scores);
    free(order);
    free(times);
    return 0;
}

int cli_embed_outputs(sutra_embedder *emb, int kinds, char **texts, size_t n, int repeat) {
    sutra_model_info mi;
    sutra_embedder_info(emb, &mi);
    const int dim = sutra_embedder_dim(emb), D = mi.multivector_dim;
    /* bounds the library documents: vocab_size entries a text (SPLADE) or one a token (bge-m3) */
    const size_t per_text_sparse = !strcmp(mi.sparse_kind, "splade") ? (size_t)mi.vocab_size : (size_t)mi.max_tokens;
    sutra_outputs o;
    sutra_outputs_init(&o);
    size_t *soff = malloc((n + 1) * sizeof *soff), *moff = malloc((n + 1) * sizeof *moff);
    if (kinds & SUTRA_OUTPUT_DENSE) o.dense = malloc(n * (size_t)dim * sizeof(float)), o.dense_cap = n * (size_t)dim;
    if (kinds & SUTRA_OUTPUT_SPARSE) {
        o.sparse_cap = n * per_text_sparse;
        o.sparse_offsets = soff;
        o.sparse_ids = malloc(o.sparse_cap * sizeof *o.sparse_ids);
        o.sparse_weights = malloc(o.sparse_cap * sizeof *o.sparse_weights);
    }
    if (kinds & SUTRA_OUTPUT_MULTIVECTOR) {
        o.mv_offsets = moff;
        o.mv_cap = n * (size_t)mi.max_tokens * (size_t)(D > 0 ? D : 1);
        o.mv = malloc(o.mv_cap * sizeof *o.mv);
    }
    int rc = 0;
    const int reps = repeat > 1 ? repeat : 1;
    double *times = malloc((size_t)reps * sizeof *times);
    sutra_status st = times ? SUTRA_OK : SUTRA_ERR_OUT_OF_MEMORY;
    for (int r = 0; r < reps && !st; r++) {
        const double t0 = now_s();
        st = sutra_embed_outputs(emb, (const char *const *)texts, n, &o);
        times[r] = now_s() - t0;
    }
    if (!st && reps > 1) {
        qsort(times, (size_t)reps, sizeof *times, by_double);
        fprintf(stderr, "sutra: embed outputs: %zu texts, median of %d runs %.3f ms (%.1f texts/s), min %.3f ms\n", n,
                reps, times[reps / 2] * 1e3, n / times[reps / 2], times[0] * 1e3);
    }
    free(times);
    if (st) {
        fprintf(stderr, "sutra: %s: %s\n", sutra_status_str(st), sutra_embedder_last_error(emb));
        rc = 1;
    }
    for (size_t i = 0; !st && i < n; i++) {
        const char *sep = "";
        printf("{");
        if (o.dense) {
            printf("\"dense\": [");
            for (int k = 0; k < dim; k++) printf("%s%.9g", k ? ", " : "", o.dense[i * (size_t)dim + k]);
            printf("]");
            sep = ", ";
        }
        if (o.sparse_offsets) {
            printf("%s\"sparse\": {\"indices\": [", sep);
            for (size_t k = soff[i]; k < soff[i + 1]; k++) printf("%s%d", k > soff[i] ? ", " : "", o.sparse_ids[k]);
            printf("], \"values\": [");
            for (size_t k = soff[i]; k < soff[i + 1]; k++) printf("%s%.9g", k > soff[i] ? ", " : "", o.sparse_weights[k]);
            printf("]}");
            sep = ", ";
        }
        if (o.mv_offsets) {
            printf("%s\"colbert\": [", sep);
            for (size_t r = moff[i]; r < moff[i + 1]; r++) {
                printf("%s[", r > moff[i] ? ", " : "");
                for (int k = 0; k < D; k++) printf("%s%.9g", k ? ", " : "", o.mv[r * (size_t)D + k]);
                printf("]");
            }
            printf("]");
        }
        printf("}\n");
    }
    free(o.dense);
    free(o.sparse_ids);
    free(o.sparse_weights);
    free(o.mv);
    free(soff);
    free(moff);
    return rc;
}
