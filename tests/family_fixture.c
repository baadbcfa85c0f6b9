/*
 * family_fixture.c - see family_fixture.h.
 */
#include "family_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "arch/arch.h"
#include "arch/family.h"
#include "backend/cpu/cpu_backend.h"
#include "seeded_weights.h"
#include "sutra.h"
#include "testutil.h"

#ifdef SUTRA_TEST_ON_GPU
#include "backend/cuda/cuda_backend.h"
#endif

/* The runs of one encoder check: the attention path and, on the GPU, the element type with the
 * cosine bounds of the other GPU model tests (every stored hidden row, the pooled vector). */
typedef struct run_kind {
    sutra_attn_path path;
    int bf16;
    double row_cos, pooled_cos;
    const char *name;
} run_kind;

#ifdef SUTRA_TEST_ON_GPU
static const run_kind RUNS[] = {
    {SUTRA_ATTN_FLASH, 0, 0.999, 0.9999, "flash fp16"},
    {SUTRA_ATTN_STANDARD, 0, 0.999, 0.9999, "std fp16"},
    {SUTRA_ATTN_FLASH, 1, 0.995, 0.999, "flash bf16"},
    {SUTRA_ATTN_STANDARD, 1, 0.995, 0.999, "std bf16"},
};
#else
static const run_kind RUNS[] = {
    {SUTRA_ATTN_STANDARD, 0, 0, 0.99999, "standard"},
    {SUTRA_ATTN_FLASH, 0, 0, 0.99999, "flash"},
};
#endif

static sutra_status make_backend(const run_kind *k, sutra_backend **be, char *err, size_t errcap) {
#ifdef SUTRA_TEST_ON_GPU
    const sutra_cuda_options o = {.bf16 = k->bf16, .graphs = 1, .flash_wgmma = 1, .fold = 1};
    return sutra_cuda_backend_create(&o, be, err, errcap);
#else
    (void)k;
    const sutra_cpu_options o = {.threads = 2};
    return sutra_cpu_backend_create(&o, be, err, errcap);
#endif
}

int tu_fixture_backend_available(char *err, size_t errcap) {
    sutra_backend *be = NULL;
    if (make_backend(&RUNS[0], &be, err, errcap) != SUTRA_OK) return 0;
    be->destroy(be);
    return 1;
}

static const float *tensor_f32(const sutra_st_file *f, const char *name) {
    const sutra_st_tensor *t = sutra_st_find(f, name);
    return t && t->dtype == SUTRA_DTYPE_F32 ? (const float *)(const void *)t->data : NULL;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

int tu_fixture_assemble(const char *src, const char *dir, const char *const *files, size_t n_files,
                        int default_tokenizer) {
    static const char *const tok[] = {"tokenizer.json", "tokenizer_config.json", "vocab.txt"};
    char a[4200], b[4200], err[512];
    int rc = 0;
    for (size_t i = 0; !rc && i < n_files; i++) {
        const char *slash = strrchr(files[i], '/');
        if (slash) { /* one level of folder, as sentence-transformers' module folders are */
            snprintf(b, sizeof b, "%s/%.*s", dir, (int)(slash - files[i]), files[i]);
            mkdir(b, 0755);
        }
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        rc = tu_copy_file(a, b);
    }
    for (size_t i = 0; !rc && default_tokenizer && i < sizeof tok / sizeof tok[0]; i++) {
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

void tu_fixture_check_encoder(const char *dir, const sutra_st_file *rf, const char *model_type, const int *lengths,
                              size_t n_lengths, int std_max, double tol) {
    char err[512], path[4200];
    sutra_model_config cfg;
    sutra_status st = sutra_model_config_load(dir, &cfg, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && !strcmp(cfg.model_type, model_type), "config: %s", st ? err : cfg.model_type);
    if (st) return;
    sutra_st_file *wf = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    TU_CHECK(sutra_st_open(path, &wf, err, sizeof err) == SUTRA_OK, "weights: %s", err);
    if (!wf) return;
    int longest = 1;
    for (size_t i = 0; i < n_lengths; i++) longest = lengths[i] > longest ? lengths[i] : longest;
    const int C = cfg.shape.C;
    for (size_t run = 0; run < sizeof RUNS / sizeof RUNS[0]; run++) {
        const run_kind *k = &RUNS[run];
        const sutra_attn_path ap = k->path;
        sutra_backend *be = NULL;
        sutra_encoder *enc = NULL;
        const sutra_encoder_plan plan = {.max_tokens = longest, .std_max_seqlen = std_max};
        if (make_backend(k, &be, err, sizeof err) != SUTRA_OK ||
            sutra_encoder_create(&cfg, wf, be, &plan, &enc, err, sizeof err) != SUTRA_OK) {
            TU_CHECK(0, "backend / encoder (%s): %s", k->name, err);
            if (be) be->destroy(be);
            break;
        }
        for (size_t i = 0; i < n_lengths; i++) {
            const int T = lengths[i];
            if (ap == SUTRA_ATTN_STANDARD && T > std_max) continue;
            char key[64];
            snprintf(key, sizeof key, "ids.len%d", T);
            const sutra_st_tensor *ids = sutra_st_find(rf, key);
            snprintf(key, sizeof key, "hidden.len%d", T);
            const float *ref = tensor_f32(rf, key);
            snprintf(key, sizeof key, "pooled_mean.len%d", T);
            const float *pref = tensor_f32(rf, key);
            /* long inputs may keep every stride-th row of the hidden states only */
            snprintf(key, sizeof key, "stride.len%d", T);
            const sutra_st_tensor *sk = sutra_st_find(rf, key);
            int stride = 1;
            if (sk && sk->dtype == SUTRA_DTYPE_I32 && sk->numel == 1) memcpy(&stride, sk->data, sizeof stride);
            snprintf(key, sizeof key, "hidden.len%d", T);
            const sutra_st_tensor *rt = sutra_st_find(rf, key);
            const int64_t rows = stride >= 1 ? (T + stride - 1) / stride : -1;
            if (!ids || !ref || !pref || ids->shape[0] != T || !rt || rt->numel != rows * C) {
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
                double dh = 0, rc = 1;
                for (int64_t r = 0; r < rows; r++) {
                    const float *got = hidden + (size_t)(r * stride) * C, *want = ref + (size_t)r * C;
                    dh = fmax(dh, max_diff(got, want, (size_t)C));
                    rc = fmin(rc, tu_cosine(got, want, C));
                }
                const double dp = max_diff(pooled, pref, (size_t)C), cs = tu_cosine(pooled, pref, C);
#ifdef SUTRA_TEST_ON_GPU
                (void)tol;
                TU_CHECK(rc >= k->row_cos && cs >= k->pooled_cos, "len%d (%s): worst row cosine %.6f, pooled %.6f", T,
                         k->name, rc, cs);
#else
                TU_CHECK(dh <= tol && dp <= tol && cs >= k->pooled_cos,
                         "len%d (%s): hidden max abs diff %.3g, pooled %.3g, cosine %.7f", T, k->name, dh, dp, cs);
#endif
                printf("%s len%-5d %-10s hidden %.2e (worst row cosine %.6f)  pooled %.2e  cosine %.8f\n", model_type,
                       T, k->name, dh, rc, dp, cs);
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

int tu_fixture_check_texts(const char *src, const char *dir, const sutra_st_file *rf, const char *key,
                           const char *prompt_name, int dim, double tol) {
    char path[4200];
    snprintf(path, sizeof path, "%s/reference.json", src);
    size_t len = 0;
    char *txt = tu_read_file(path, &len);
    cJSON *root = txt ? cJSON_ParseWithLength(txt, len) : NULL;
    const cJSON *texts = root ? cJSON_GetObjectItem(root, "texts") : NULL;
    sutra_config c;
    sutra_config_init(&c);
    c.model = dir;
#ifdef SUTRA_TEST_ON_GPU
    c.device = SUTRA_DEVICE_CUDA;
    const double min_cos = 0.999;
#else
    c.device = SUTRA_DEVICE_CPU;
    const double min_cos = 0.99999;
#endif
    c.threads = 2;
    c.prompt_name = prompt_name;
    sutra_embedder *e = NULL;
    char err[512];
    TU_CHECK(sutra_embedder_create(&c, &e, err, sizeof err) == SUTRA_OK, "create: %s", err);
    float *v = malloc((size_t)dim * sizeof *v);
    int n = 0;
    for (const cJSON *t = cJSON_IsArray(texts) && e ? texts->child : NULL; t; t = t->next, n++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%d", key, n);
        const float *want = tensor_f32(rf, name);
        snprintf(name, sizeof name, "ids.%d", n);
        const sutra_st_tensor *ids = sutra_st_find(rf, name);
        int32_t got[256];
        size_t k = 0;
        if (!prompt_name) { /* the reference ids are the text's own */
            const sutra_status st = sutra_tokenize(e, t->valuestring, (size_t)-1, got, 256, &k);
            TU_CHECK(st == SUTRA_OK && ids && k == (size_t)ids->shape[0] && !memcmp(got, ids->data, k * 4),
                     "text %d: %zu ids differ from HF's", n, k);
        }
        TU_CHECK(sutra_embedder_dim(e) == dim && sutra_embed(e, t->valuestring, (size_t)-1, v, (size_t)dim) == SUTRA_OK,
                 "embed: %s", sutra_embedder_last_error(e));
        const double d = want ? max_diff(v, want, (size_t)dim) : 1.0, cs = want ? tu_cosine(v, want, dim) : 0;
#ifdef SUTRA_TEST_ON_GPU
        (void)tol;
        TU_CHECK(cs >= min_cos, "text %d (%s): cosine %.6f with sentence-transformers", n, key, cs);
#else
        TU_CHECK(d <= tol && cs >= min_cos, "text %d (%s): max abs diff %.3g from sentence-transformers", n, key, d);
#endif
        printf("text %d (%s%s%s): max abs diff %.2e, cosine %.8f with sentence-transformers\n", n, key,
               prompt_name ? ", prompt " : "", prompt_name ? prompt_name : "", d, cs);
    }
    free(v);
    sutra_embedder_destroy(e);
    cJSON_Delete(root);
    free(txt);
    return n;
}
