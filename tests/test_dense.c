/*
 * test_dense.c - sentence-transformers Dense modules after pooling, against sentence-transformers:
 * the default model (all-MiniLM-L6-v2, real weights) with 384 -> 256 (bias, Tanh) and 256 -> 128
 * (no bias, Identity) Dense modules, then Normalize (tests/fixtures/dense/minilm-2dense, made by
 * scripts/gen_dense_fixtures.py; the Dense weights are written here by seeded_weights.c).
 *
 * Checks, per text (one of them past the model's 256 tokens): the normalised 128-float vector,
 * the raw vector (sutra_embed_tokens with raw = 1: the last module's output before Normalize),
 * and the Matryoshka-truncated 64-float vector, each within 2e-5 (max abs) of
 * sentence-transformers; the batch call gives the same vectors; info names the modules; a
 * dimensions setting past the last module's width is refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "model/safetensors.h"
#include "seeded_weights.h"
#include "sutra.h"
#include "testutil.h"

#define TOL 2e-5

static const float *tensor_f32(const sutra_st_file *f, const char *name, int64_t n) {
    const sutra_st_tensor *t = sutra_st_find(f, name);
    return t && t->dtype == SUTRA_DTYPE_F32 && t->numel == n ? (const float *)(const void *)t->data : NULL;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* The default model's files, the fixture's modules.json and Dense folders, the seeded weights. */
static int make_model(const char *src, const char *dir) {
    static const char *const model[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                                        "vocab.txt", "sentence_bert_config.json", "1_Pooling/config.json"};
    static const char *const dense[] = {"2_Dense", "3_Dense"};
    char a[4200], b[4200], err[512];
    snprintf(a, sizeof a, "%s/1_Pooling", dir);
    int rc = mkdir(a, 0755);
    for (size_t i = 0; !rc && i < sizeof model / sizeof model[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", tu_default_model(), model[i]);
        snprintf(b, sizeof b, "%s/%s", dir, model[i]);
        rc = tu_copy_file(a, b);
    }
    TU_CHECK(rc == 0, "cannot copy the default model into %s (make model)", dir);
    snprintf(a, sizeof a, "%s/modules.json", src);
    snprintf(b, sizeof b, "%s/modules.json", dir);
    if (!rc) rc = tu_copy_file(a, b);
    for (size_t i = 0; !rc && i < 2; i++) {
        snprintf(b, sizeof b, "%s/%s", dir, dense[i]);
        rc = mkdir(b, 0755);
        snprintf(a, sizeof a, "%s/%s/config.json", src, dense[i]);
        snprintf(b, sizeof b, "%s/%s/config.json", dir, dense[i]);
        if (!rc) rc = tu_copy_file(a, b);
        snprintf(a, sizeof a, "%s/%s/weights.json", src, dense[i]);
        snprintf(b, sizeof b, "%s/%s", dir, dense[i]);
        if (!rc && tu_seeded_weights_write(a, b, 1, err, sizeof err)) {
            TU_CHECK(0, "%s weights: %s", dense[i], err);
            rc = -1;
        }
    }
    TU_CHECK(rc == 0, "cannot make the model folder in %s", dir);
    return rc;
}

static sutra_embedder *open_model(const char *dir, int dimensions) {
    sutra_config c;
    sutra_config_init(&c);
    c.model = dir;
    c.device = SUTRA_DEVICE_CPU;
    c.threads = 2;
    c.dimensions = dimensions;
    sutra_embedder *e = NULL;
    char err[512];
    TU_CHECK(sutra_embedder_create(&c, &e, err, sizeof err) == SUTRA_OK, "create (dimensions %d): %s", dimensions, err);
    return e;
}

static void check(const char *src, const char *dir, const sutra_st_file *rf) {
    char path[4200];
    snprintf(path, sizeof path, "%s/reference.json", src);
    size_t len = 0;
    char *txt = tu_read_file(path, &len);
    cJSON *root = txt ? cJSON_ParseWithLength(txt, len) : NULL;
    const cJSON *texts = root ? cJSON_GetObjectItem(root, "texts") : NULL;
    const int n = cJSON_IsArray(texts) ? cJSON_GetArraySize(texts) : 0;
    TU_CHECK(n >= 6, "reference texts: %d", n);
    sutra_embedder *e = open_model(dir, 0), *e64 = open_model(dir, 64);
    sutra_model_info info;
    if (e) {
        TU_CHECK(sutra_embedder_info(e, &info) == SUTRA_OK && info.vector_size == 128 && info.dense_modules == 2 &&
                     info.hidden_size == 384 && sutra_embedder_dim(e) == 128 && info.normalize,
                 "info: vector_size %d, %d Dense modules, dim %d", info.vector_size, info.dense_modules,
                 sutra_embedder_dim(e));
    }
    const char **all = calloc((size_t)n + 1, sizeof *all);
    float *batch = calloc((size_t)n * 128, sizeof *batch);
    for (int i = 0; e && e64 && i < n; i++) {
        const char *t = cJSON_GetArrayItem(texts, i)->valuestring;
        all[i] = t;
        char key[32];
        snprintf(key, sizeof key, "sentence.%d", i);
        const float *want = tensor_f32(rf, key, 128);
        snprintf(key, sizeof key, "raw.%d", i);
        const float *want_raw = tensor_f32(rf, key, 128);
        snprintf(key, sizeof key, "trunc64.%d", i);
        const float *want64 = tensor_f32(rf, key, 64);
        if (!want || !want_raw || !want64) {
            TU_CHECK(0, "reference for text %d missing", i);
            continue;
        }
        float v[128], raw[128], v64[64];
        TU_CHECK(sutra_embed(e, t, (size_t)-1, v, 128) == SUTRA_OK, "embed: %s", sutra_embedder_last_error(e));
        TU_CHECK(sutra_embed(e64, t, (size_t)-1, v64, 64) == SUTRA_OK, "embed 64: %s", sutra_embedder_last_error(e64));
        int32_t ids[512];
        size_t k = 0;
        TU_CHECK(sutra_tokenize(e, t, (size_t)-1, ids, 512, &k) == SUTRA_OK && k >= 1, "tokenize text %d", i);
        const int32_t *idp = ids;
        TU_CHECK(sutra_embed_tokens(e, &idp, &k, 1, 1, raw, 128) == SUTRA_OK, "raw: %s", sutra_embedder_last_error(e));
        const double d = max_diff(v, want, 128), dr = max_diff(raw, want_raw, 128), d64 = max_diff(v64, want64, 64);
        TU_CHECK(d <= TOL && dr <= TOL && d64 <= TOL, "text %d: max abs diff %.3g (normalised), %.3g (raw), %.3g (64)", i,
                 d, dr, d64);
        printf("dense text %d (%zu tokens): normalised %.2e  raw %.2e  truncated to 64 %.2e\n", i, k, d, dr, d64);
    }
    if (e && n >= 6) {
        TU_CHECK(sutra_embed_batch(e, all, (size_t)n, batch, (size_t)n * 128) == SUTRA_OK, "batch: %s",
                 sutra_embedder_last_error(e));
        double worst = 0;
        for (int i = 0; i < n; i++) {
            char key[32];
            snprintf(key, sizeof key, "sentence.%d", i);
            const float *want = tensor_f32(rf, key, 128);
            if (want) worst = fmax(worst, max_diff(batch + (size_t)i * 128, want, 128));
        }
        TU_CHECK(worst <= TOL, "batch of %d: max abs diff %.3g", n, worst);
        printf("dense batch of %d: max abs diff %.2e\n", n, worst);
    }
    /* the width a model gives is the last module's: a wider dimensions setting is refused */
    sutra_config c;
    sutra_config_init(&c);
    c.model = dir;
    c.device = SUTRA_DEVICE_CPU;
    c.dimensions = 129;
    sutra_embedder *bad = NULL;
    char err[512] = "";
    TU_CHECK(sutra_embedder_create(&c, &bad, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT && strstr(err, "128"),
             "dimensions 129 past the Dense width: %s", err);
    sutra_embedder_destroy(bad);
    sutra_embedder_destroy(e);
    sutra_embedder_destroy(e64);
    free(all);
    free(batch);
    cJSON_Delete(root);
    free(txt);
}

int main(void) {
    char src[4096], dir[256], ref[4200], err[512];
    snprintf(src, sizeof src, "%s", tu_source_path("tests/fixtures/dense/minilm-2dense"));
    snprintf(dir, sizeof dir, "%s/sutra-dense-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        TU_CHECK(0, "mkdtemp");
        return tu_finish("test_dense");
    }
    snprintf(ref, sizeof ref, "%s/reference.safetensors", src);
    sutra_st_file *rf = NULL;
    TU_CHECK(sutra_st_open(ref, &rf, err, sizeof err) == SUTRA_OK, "reference: %s", err);
    if (rf && make_model(src, dir) == 0) check(src, dir, rf);
    sutra_st_close(rf);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    return tu_finish("test_dense");
}
