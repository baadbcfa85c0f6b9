/*
 * test_embed.c - the default model end to end against sentence-transformers' own outputs.
 *
 * Fixture: tests/fixtures/minilm_embeddings.json (scripts/gen_embedding_fixtures.py), 59 texts
 * from 2 to 256 tokens in a dozen languages, embedded by sentence-transformers in fp32.
 * Tolerances: cosine >= 0.99999 and max |diff| <= 1e-4 per vector. Both engines compute in fp32
 * with different summation orders (BLAS blocking, fused QKV); on unit vectors that leaves
 * differences near 1e-6, so the bounds leave room for rounding but not for any real bug (a
 * wrong token, position or pooling moves vectors by 1e-2 or more).
 * Also: batches of any mix and order equal one-at-a-time results (<= 1e-6), flash and standard
 * attention agree (cosine >= 0.999999), Matryoshka truncation, and the API's argument checks.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sutra.h"
#include "testutil.h"

typedef struct item {
    const char *text;
    float *ref;
} item;

static double cosine(const float *a, const float *b, int n) {
    double d = 0, na = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / sqrt(na * nb);
}

static double max_abs(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static sutra_embedder *make(sutra_config *cfg) {
    char err[512];
    sutra_embedder *e = NULL;
    sutra_status st = sutra_embedder_create(cfg, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "create: %s: %s", sutra_status_str(st), err);
    return e;
}

int main(void) {
    size_t len;
    char *json = tu_read_file(tu_source_path("tests/fixtures/minilm_embeddings.json"), &len);
    if (!json) return tu_finish("test_embed");
    cJSON *root = cJSON_Parse(json);
    const cJSON *items = cJSON_GetObjectItem(root, "items");
    int n = cJSON_GetArraySize(items);
    TU_CHECK(n >= 50, "fixture has %d texts, want >= 50", n);
    item *it = calloc((size_t)n, sizeof *it);
    const int dim = 384;
    for (int i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(items, i);
        it[i].text = cJSON_GetObjectItem(x, "text")->valuestring;
        const cJSON *v = cJSON_GetObjectItem(x, "embedding");
        TU_CHECK(cJSON_GetArraySize(v) == dim, "fixture %d has %d dims", i, cJSON_GetArraySize(v));
        it[i].ref = malloc(dim * sizeof(float));
        for (int k = 0; k < dim; k++) it[i].ref[k] = (float)cJSON_GetArrayItem(v, k)->valuedouble;
    }

    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = tu_default_model();
    cfg.threads = 2;
    sutra_embedder *e = make(&cfg);
    if (!e) return tu_finish("test_embed");
    TU_CHECK(sutra_embedder_dim(e) == dim, "dim %d", sutra_embedder_dim(e));
    TU_CHECK(sutra_embedder_max_tokens(e) == 256, "max tokens %d, want 256 (sentence_bert_config)",
             sutra_embedder_max_tokens(e));

    /* 1. one at a time vs sentence-transformers */
    float *single = malloc((size_t)n * dim * sizeof(float));
    double worst_cos = 1, worst_abs = 0;
    for (int i = 0; i < n; i++) {
        sutra_status st = sutra_embed(e, it[i].text, (size_t)-1, single + (size_t)i * dim, dim);
        TU_CHECK(st == SUTRA_OK, "embed %d: %s", i, sutra_embedder_last_error(e));
        double c = cosine(single + (size_t)i * dim, it[i].ref, dim), a = max_abs(single + (size_t)i * dim, it[i].ref, dim);
        TU_CHECK(c >= 0.99999 && a <= 1e-4, "text %d (%.40s...): cosine %.8f, max abs diff %.3g", i, it[i].text, c, a);
        worst_cos = fmin(worst_cos, c);
        worst_abs = fmax(worst_abs, a);
    }
    printf("vs sentence-transformers: worst cosine %.9f, worst max abs diff %.3g over %d texts\n", worst_cos,
           worst_abs, n);

    /* 2. batches of shuffled subsets, with small and large token budgets, equal single results */
    unsigned seed = 12345;
    const char **texts = malloc((size_t)n * sizeof *texts);
    int *order = malloc((size_t)n * sizeof *order);
    float *batch = malloc((size_t)n * dim * sizeof(float));
    double worst_batch = 0;
    int budgets[] = {0, 256, 700, 3000};
    for (int bi = 0; bi < 4; bi++) {
        sutra_config c2 = cfg;
        c2.max_batch_tokens = budgets[bi];
        sutra_embedder *eb = make(&c2);
        if (!eb) break;
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < n; i++) order[i] = i;
            for (int i = n - 1; i > 0; i--) {
                seed = seed * 1103515245u + 12345u;
                int j = (int)((seed >> 8) % (unsigned)(i + 1)), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            int m = 1 + (int)((seed >> 4) % (unsigned)n);
            for (int i = 0; i < m; i++) texts[i] = it[order[i]].text;
            sutra_status st = sutra_embed_batch(eb, texts, (size_t)m, batch, (size_t)m * dim);
            TU_CHECK(st == SUTRA_OK, "batch: %s", sutra_embedder_last_error(eb));
            for (int i = 0; i < m; i++) {
                double a = max_abs(batch + (size_t)i * dim, single + (size_t)order[i] * dim, dim);
                worst_batch = fmax(worst_batch, a);
                TU_CHECK(a <= 1e-6, "budget %d round %d: row %d (text %d) differs from single by %.3g", budgets[bi],
                         round, i, order[i], a);
            }
        }
        sutra_embedder_destroy(eb);
    }
    printf("batch vs single: worst max abs diff %.3g\n", worst_batch);

    /* 3. flash and standard attention forced give the same embeddings */
    for (int path = 1; path <= 2; path++) {
        sutra_config c3 = cfg;
        c3.attention = (sutra_attention)path;
        sutra_embedder *ep = make(&c3);
        if (!ep) break;
        for (int i = 0; i < n; i++) texts[i] = it[i].text;
        TU_CHECK(sutra_embed_batch(ep, texts, (size_t)n, batch, (size_t)n * dim) == SUTRA_OK, "forced path batch");
        double w = 1;
        for (int i = 0; i < n; i++) w = fmin(w, cosine(batch + (size_t)i * dim, single + (size_t)i * dim, dim));
        TU_CHECK(w >= 0.999999, "forced %s attention: worst cosine %.9f", path == 1 ? "standard" : "flash", w);
        sutra_stats s;
        sutra_embedder_stats(ep, &s);
        TU_CHECK(path == 1 ? s.batches_flash == 0 && s.batches_standard > 0 : s.batches_standard == 0 && s.batches_flash > 0,
                 "stats: %llu standard, %llu flash batches", (unsigned long long)s.batches_standard,
                 (unsigned long long)s.batches_flash);
        printf("forced %s attention: worst cosine vs default %.9f\n", path == 1 ? "standard" : "flash", w);
        sutra_embedder_destroy(ep);
    }

    /* 4. Matryoshka: the first k dims of the full vector, re-normalised */
    {
        sutra_config c4 = cfg;
        c4.dimensions = 128;
        sutra_embedder *em = make(&c4);
        if (em) {
            float v[128];
            TU_CHECK(sutra_embedder_dim(em) == 128, "matryoshka dim");
            TU_CHECK(sutra_embed(em, it[5].text, (size_t)-1, v, 128) == SUTRA_OK, "matryoshka embed");
            double nrm = 0;
            for (int k = 0; k < 128; k++) nrm += (double)it[5].ref[k] * it[5].ref[k];
            nrm = sqrt(nrm);
            double worst = 0;
            for (int k = 0; k < 128; k++) worst = fmax(worst, fabs(v[k] - it[5].ref[k] / nrm));
            TU_CHECK(worst <= 1e-4, "matryoshka: max abs diff %.3g", worst);
            sutra_embedder_destroy(em);
        }
    }

    /* 5. prompts: a raw prompt is the same as prefixing the text; unknown names are errors */
    {
        sutra_config c5 = cfg;
        c5.prompt = "query: ";
        sutra_embedder *ep = make(&c5);
        float a[384], b[384];
        if (ep) {
            TU_CHECK(sutra_embed(ep, "how do magnets work", (size_t)-1, a, dim) == SUTRA_OK, "prompted embed");
            TU_CHECK(sutra_embed(e, "query: how do magnets work", (size_t)-1, b, dim) == SUTRA_OK, "prefixed embed");
            TU_CHECK(max_abs(a, b, dim) <= 1e-6, "prompt differs from prefix by %.3g", max_abs(a, b, dim));
            TU_CHECK(!strcmp(sutra_embedder_prompt(ep), "query: "), "prompt reported");
            TU_CHECK(sutra_embedder_set_prompt(ep, "nope", NULL) == SUTRA_ERR_INVALID_ARGUMENT &&
                         strstr(sutra_embedder_last_error(ep), "nope"),
                     "unknown prompt name: %s", sutra_embedder_last_error(ep));
            TU_CHECK(sutra_embedder_set_prompt(ep, NULL, NULL) == SUTRA_OK && !*sutra_embedder_prompt(ep), "prompt off");
            sutra_embedder_destroy(ep);
        }
        c5 = cfg;
        c5.prompt_name = "query";
        sutra_embedder *x = NULL;
        char err[512];
        TU_CHECK(sutra_embedder_create(&c5, &x, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT && !x,
                 "prompt name the model lacks: %s", err);
    }

    /* 6. argument checks and bad input: clear status, no crash, output untouched */
    {
        float v[384], sentinel = 12345.0f;
        for (int k = 0; k < dim; k++) v[k] = sentinel;
        TU_CHECK(sutra_embed(e, "bad \xff\xfe utf8", (size_t)-1, v, dim) == SUTRA_ERR_INVALID_UTF8, "invalid utf8");
        TU_CHECK(strlen(sutra_embedder_last_error(e)) > 0, "invalid utf8 has a message");
        TU_CHECK(v[0] == sentinel, "failed call wrote output");
        TU_CHECK(sutra_embed(e, "x", (size_t)-1, v, 10) == SUTRA_ERR_BUFFER_TOO_SMALL, "small buffer");
        TU_CHECK(sutra_embed(e, NULL, 0, v, dim) == SUTRA_ERR_INVALID_ARGUMENT, "NULL text");
        TU_CHECK(sutra_embed(e, "x", 1, NULL, dim) == SUTRA_ERR_INVALID_ARGUMENT, "NULL out");
        TU_CHECK(sutra_embed(NULL, "x", 1, v, dim) == SUTRA_ERR_INVALID_ARGUMENT, "NULL embedder");
        const char *bad[] = {"ok", NULL};
        TU_CHECK(sutra_embed_batch(e, bad, 2, batch, 2 * dim) == SUTRA_ERR_INVALID_ARGUMENT, "NULL text in batch");
        const char *bad2[] = {"ok", "\xc3("};
        TU_CHECK(sutra_embed_batch(e, bad2, 2, batch, 2 * dim) == SUTRA_ERR_INVALID_UTF8, "bad utf8 in batch");
        TU_CHECK(strstr(sutra_embedder_last_error(e), "text 1") != NULL, "batch error names the text: %s",
                 sutra_embedder_last_error(e));
        TU_CHECK(sutra_embed_batch(e, NULL, 0, NULL, 0) == SUTRA_OK, "empty batch");
        /* empty text embeds [CLS] [SEP] */
        TU_CHECK(sutra_embed(e, "", 0, v, dim) == SUTRA_OK, "empty text");
        /* a huge text is truncated to the limit, as sentence-transformers does */
        size_t big = 4 << 20;
        char *huge = malloc(big + 1);
        for (size_t k = 0; k < big; k++) huge[k] = "lorem ipsum dolor sit amet "[k % 27];
        huge[big] = '\0';
        int32_t ids[300];
        size_t nids = 0;
        TU_CHECK(sutra_tokenize(e, huge, big, ids, 300, &nids) == SUTRA_OK && nids == 256, "huge text: %zu ids", nids);
        TU_CHECK(sutra_embed(e, huge, big, v, dim) == SUTRA_OK, "huge text embeds");
        free(huge);
        nids = 0;
        TU_CHECK(sutra_tokenize(e, "hello world", (size_t)-1, ids, 2, &nids) == SUTRA_ERR_BUFFER_TOO_SMALL && nids == 4,
                 "tokenize reports needed size (%zu)", nids);
        /* config errors */
        sutra_embedder *x = NULL;
        char err[512];
        sutra_config bc = cfg;
        bc.dimensions = 385;
        TU_CHECK(sutra_embedder_create(&bc, &x, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT && !x, "dims > hidden");
        bc = cfg;
        bc.max_sequence_length = 513;
        TU_CHECK(sutra_embedder_create(&bc, &x, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT && !x, "len > positions");
        bc = cfg;
        bc.model = "no-such-model";
        TU_CHECK(sutra_embedder_create(&bc, &x, err, sizeof err) == SUTRA_ERR_IO && !x && strstr(err, "no-such-model"),
                 "missing model: %s", err);
        TU_CHECK(sutra_embedder_create(NULL, &x, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT, "NULL config");
        sutra_embedder_destroy(NULL);
    }

    sutra_embedder_destroy(e);
    for (int i = 0; i < n; i++) free(it[i].ref);
    free(it);
    free(single);
    free(batch);
    free(texts);
    free(order);
    cJSON_Delete(root);
    free(json);
    return tu_finish("test_embed");
}
