/*
 * test_distilbert.c - the DistilBERT family against HF transformers and sentence-transformers, on
 * a random-initialised model with msmarco-distilbert-base-v4's configuration (all 6 layers, dim
 * 768, 12 heads, FFN 3072, 512 positions; tests/fixtures/distilbert, made by
 * scripts/gen_distilbert_fixtures.py; the weights are written here by seeded_weights.c, the
 * tokenizer is the default model's bert-base-uncased WordPiece, as the generator used).
 *
 * Checks: hidden states and the mean-pooled vector of ids of 1, 7, 100 and 512 tokens through the
 * encoder, both attention paths, within 1e-4 (max abs) of DistilBertModel; and texts through the
 * public API: the ids of HF's tokenizer and the vectors of sentence-transformers within 1e-4
 * (mean pooling, not normalised, as that model ships). Both sides compute in fp32 (sdpa and eager
 * attention agree within 6e-6 in the generator).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "arch/arch.h"
#include "arch/family.h"
#include "backend/cpu/cpu_backend.h"
#include "model/safetensors.h"
#include "seeded_weights.h"
#include "sutra.h"
#include "testutil.h"

static const float *tensor_f32(const sutra_st_file *f, const char *name) {
    const sutra_st_tensor *t = sutra_st_find(f, name);
    return t && t->dtype == SUTRA_DTYPE_F32 ? (const float *)(const void *)t->data : NULL;
}

/* The fixture's files, the default model's tokenizer and the seeded weights, in dir. */
static int make_model(const char *src, const char *dir) {
    static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json",
                                        "1_Pooling/config.json"};
    static const char *const tok[] = {"tokenizer.json", "tokenizer_config.json", "vocab.txt"};
    char a[4200], b[4200], err[512];
    snprintf(a, sizeof a, "%s/1_Pooling", dir);
    int rc = mkdir(a, 0755);
    for (size_t i = 0; !rc && i < sizeof files / sizeof files[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        rc = tu_copy_file(a, b);
    }
    for (size_t i = 0; !rc && i < sizeof tok / sizeof tok[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", tu_default_model(), tok[i]);
        snprintf(b, sizeof b, "%s/%s", dir, tok[i]);
        rc = tu_copy_file(a, b);
    }
    snprintf(a, sizeof a, "%s/weights.json", src);
    if (!rc && tu_seeded_weights_write(a, dir, 0, err, sizeof err)) {
        TU_CHECK(0, "weights: %s", err);
        rc = -1;
    }
    TU_CHECK(rc == 0, "cannot make the model folder in %s (the default model's tokenizer is needed: make model)", dir);
    return rc;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void check_encoder(const char *dir, const sutra_st_file *rf) {
    char err[512], path[4200];
    sutra_model_config cfg;
    sutra_status st = sutra_model_config_load(dir, &cfg, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && !strcmp(cfg.model_type, "distilbert"), "config: %s", err);
    if (st) return;
    sutra_st_file *wf = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    TU_CHECK(sutra_st_open(path, &wf, err, sizeof err) == SUTRA_OK, "weights: %s", err);
    if (!wf) return;
    const int C = cfg.shape.C, Ts[] = {1, 7, 100, 512};
    for (int path_i = 0; path_i < 2; path_i++) {
        const sutra_attn_path ap = path_i ? SUTRA_ATTN_FLASH : SUTRA_ATTN_STANDARD;
        sutra_backend *be = NULL;
        const sutra_cpu_options o = {.threads = 2};
        sutra_encoder *enc = NULL;
        const sutra_encoder_plan plan = {.max_tokens = 512, .std_max_seqlen = 512};
        if (sutra_cpu_backend_create(&o, &be, err, sizeof err) != SUTRA_OK ||
            sutra_encoder_create(&cfg, wf, be, &plan, &enc, err, sizeof err) != SUTRA_OK) {
            TU_CHECK(0, "backend / encoder: %s", err);
            if (be) be->destroy(be);
            break;
        }
        for (size_t i = 0; i < sizeof Ts / sizeof Ts[0]; i++) {
            const int T = Ts[i];
            char key[64];
            snprintf(key, sizeof key, "ids.len%d", T);
            const sutra_st_tensor *ids = sutra_st_find(rf, key);
            snprintf(key, sizeof key, "hidden.len%d", T);
            const float *ref = tensor_f32(rf, key);
            snprintf(key, sizeof key, "pooled_mean.len%d", T);
            const float *pref = tensor_f32(rf, key);
            if (!ids || !ref || !pref || ids->shape[0] != T) {
                TU_CHECK(0, "reference case len%d missing", T);
                continue;
            }
            int32_t *idv = malloc((size_t)T * sizeof *idv), cu[2] = {0, T};
            memcpy(idv, ids->data, (size_t)T * sizeof *idv);
            const sutra_batch batch = {.ids = idv, .cu_seqlens = cu, .B = 1, .T = T, .max_seqlen = T};
            float *hidden = malloc((size_t)T * C * sizeof(float)), *pooled = malloc((size_t)C * sizeof(float));
            st = sutra_encoder_forward(enc, be, &batch, ap, SUTRA_POOLING_MEAN, pooled, hidden, err, sizeof err);
            TU_CHECK(st == SUTRA_OK, "len%d forward: %s", T, err);
            if (st == SUTRA_OK) {
                const double dh = max_diff(hidden, ref, (size_t)T * C), dp = max_diff(pooled, pref, (size_t)C);
                TU_CHECK(dh <= 1e-4 && dp <= 1e-4, "len%d (%s): hidden max abs diff %.3g, pooled %.3g", T,
                         path_i ? "flash" : "standard", dh, dp);
                printf("distilbert len%-4d %-8s hidden %.2e  pooled %.2e\n", T, path_i ? "flash" : "standard", dh, dp);
            }
            free(idv);
            free(hidden);
            free(pooled);
        }
        sutra_encoder_destroy(enc);
        be->destroy(be);
    }
    sutra_st_close(wf);
}

static void check_api(const char *src, const char *dir, const sutra_st_file *rf) {
    char path[4200];
    snprintf(path, sizeof path, "%s/reference.json", src);
    size_t len = 0;
    char *txt = tu_read_file(path, &len);
    cJSON *root = txt ? cJSON_ParseWithLength(txt, len) : NULL;
    const cJSON *texts = root ? cJSON_GetObjectItem(root, "texts") : NULL;
    sutra_config c;
    sutra_config_default(&c);
    c.model = dir;
    c.device = SUTRA_DEVICE_CPU;
    c.threads = 2;
    sutra_embedder *e = NULL;
    char err[512];
    TU_CHECK(sutra_embedder_create(&c, &e, err, sizeof err) == SUTRA_OK, "create: %s", err);
    int n = 0;
    for (const cJSON *t = cJSON_IsArray(texts) && e ? texts->child : NULL; t; t = t->next, n++) {
        char key[32];
        snprintf(key, sizeof key, "sentence.%d", n);
        const float *want = tensor_f32(rf, key);
        snprintf(key, sizeof key, "ids.%d", n);
        const sutra_st_tensor *ids = sutra_st_find(rf, key);
        int32_t got[256];
        size_t k = 0;
        const sutra_status st = sutra_tokenize(e, t->valuestring, (size_t)-1, got, 256, &k);
        TU_CHECK(st == SUTRA_OK && ids && k == (size_t)ids->shape[0] && !memcmp(got, ids->data, k * 4),
                 "text %d: %zu ids differ from HF's", n, k);
        float v[768];
        TU_CHECK(sutra_embedder_dim(e) == 768 && sutra_embed(e, t->valuestring, (size_t)-1, v, 768) == SUTRA_OK,
                 "embed: %s", sutra_embedder_last_error(e));
        const double d = want ? max_diff(v, want, 768) : 1.0;
        TU_CHECK(d <= 1e-4, "text %d: max abs diff %.3g from sentence-transformers", n, d);
        printf("distilbert text %d: %zu tokens, max abs diff %.2e from sentence-transformers\n", n, k, d);
    }
    TU_CHECK(n >= 5, "only %d reference texts", n);
    sutra_model_info info;
    TU_CHECK(e && sutra_embedder_info(e, &info) == SUTRA_OK && !strcmp(info.architecture, "distilbert") &&
                 !strcmp(info.pooling, "mean") && !info.normalize,
             "info: architecture, mean pooling, not normalised");
    sutra_embedder_destroy(e);
    cJSON_Delete(root);
    free(txt);
}

int main(void) {
    char src[4096], dir[256], ref[4200], err[512];
    snprintf(src, sizeof src, "%s", tu_source_path("tests/fixtures/distilbert/msmarco-6l"));
    snprintf(dir, sizeof dir, "%s/sutra-distilbert-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        TU_CHECK(0, "mkdtemp");
        return tu_finish("test_distilbert");
    }
    snprintf(ref, sizeof ref, "%s/reference.safetensors", src);
    sutra_st_file *rf = NULL;
    TU_CHECK(sutra_st_open(ref, &rf, err, sizeof err) == SUTRA_OK, "reference: %s", err);
    if (rf && make_model(src, dir) == 0) {
        check_encoder(dir, rf);
        check_api(src, dir, rf);
    }
    sutra_st_close(rf);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    return tu_finish("test_distilbert");
}
