/*
 * test_sts.c - STS Benchmark test split, end to end: embed both sentences of each of the 1,379
 * pairs, take cosine similarity, and compute Spearman's rank correlation with the gold scores.
 * The result must lie within 0.002 of what sentence-transformers gives for the same model
 * (tests/fixtures/sts_reference.json, from scripts/gen_embedding_fixtures.py): an engine that
 * computes the model exactly changes only rounding, which moves a rank correlation over 1,379
 * pairs by far less than that.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sutra.h"
#include "testutil.h"

typedef struct { double v; int i; } ranked;

static int cmp_ranked(const void *a, const void *b) {
    double x = ((const ranked *)a)->v, y = ((const ranked *)b)->v;
    return x < y ? -1 : x > y;
}

/* Ranks with ties given their average rank, as scipy does. */
static void rank(const double *v, double *r, int n) {
    ranked *t = malloc((size_t)n * sizeof *t);
    for (int i = 0; i < n; i++) t[i] = (ranked){v[i], i};
    qsort(t, (size_t)n, sizeof *t, cmp_ranked);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && t[j + 1].v == t[i].v) j++;
        for (int k = i; k <= j; k++) r[t[k].i] = (i + j) / 2.0 + 1;
        i = j + 1;
    }
    free(t);
}

static double pearson(const double *a, const double *b, int n) {
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) ma += a[i], mb += b[i];
    ma /= n, mb /= n;
    for (int i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

int main(void) {
    char *csv = tu_read_file(tu_shared_path("data/sts-test.csv"), NULL);
    char *ref = tu_read_file(tu_source_path("tests/fixtures/sts_reference.json"), NULL);
    if (!csv || !ref) return tu_finish("test_sts");
    cJSON *rj = cJSON_Parse(ref);
    double want = cJSON_GetObjectItem(rj, "spearman_cosine")->valuedouble;

    char **s1, **s2;
    double *gold;
    int n = tu_parse_sts(csv, &s1, &s2, &gold);
    TU_CHECK(n == 1379, "read %d pairs, want 1379", n);

    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = tu_default_model();
    char err[512];
    sutra_embedder *e = NULL;
    sutra_status st = sutra_embedder_create(&cfg, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "create: %s", err);
    if (!e) return tu_finish("test_sts");
    int dim = sutra_embedder_dim(e);
    float *a = malloc((size_t)n * dim * sizeof(float)), *b = malloc((size_t)n * dim * sizeof(float));
    TU_CHECK(sutra_embed_batch(e, (const char *const *)s1, (size_t)n, a, (size_t)n * dim) == SUTRA_OK, "embed s1: %s",
             sutra_embedder_last_error(e));
    TU_CHECK(sutra_embed_batch(e, (const char *const *)s2, (size_t)n, b, (size_t)n * dim) == SUTRA_OK, "embed s2: %s",
             sutra_embedder_last_error(e));
    double *sim = calloc((size_t)n, sizeof *sim), *rc = malloc((size_t)n * sizeof *rc),
           *rg = malloc((size_t)n * sizeof *rg);
    for (int i = 0; i < n; i++) {
        double d = 0, na = 0, nb = 0;
        for (int k = 0; k < dim; k++) {
            d += (double)a[(size_t)i * dim + k] * b[(size_t)i * dim + k];
            na += (double)a[(size_t)i * dim + k] * a[(size_t)i * dim + k];
            nb += (double)b[(size_t)i * dim + k] * b[(size_t)i * dim + k];
        }
        sim[i] = d / sqrt(na * nb);
    }
    rank(sim, rc, n);
    rank(gold, rg, n);
    double rho = pearson(rc, rg, n);
    printf("STS-B test: %d pairs, Spearman %.5f (sentence-transformers %.5f, diff %+.5f)\n", n, rho, want, rho - want);
    TU_CHECK(fabs(rho - want) <= 0.002, "Spearman %.5f vs reference %.5f", rho, want);

    for (int i = 0; i < n; i++) free(s1[i]), free(s2[i]);
    free(s1), free(s2), free(gold), free(a), free(b), free(sim), free(rc), free(rg);
    sutra_embedder_destroy(e);
    cJSON_Delete(rj);
    free(csv);
    free(ref);
    return tu_finish("test_sts");
}
