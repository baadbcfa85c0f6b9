/*
 * test_qwen3.c - the Qwen3 family (decoder embedders: RMSNorm, grouped-query attention, per-head
 * query/key norms, rotary positions, SwiGLU, causal attention, last-token pooling) against HF
 * transformers and sentence-transformers, on random-initialised models whose weights are drawn
 * from a seeded generator (tests/fixtures/qwen3, made by scripts/gen_qwen3_fixtures.py; the
 * weights are written here by seeded_weights.c into a temporary model folder).
 *
 *   tiny         hidden 128, 3 layers, 4 query / 2 key-value heads of 64, Qwen's real tokenizer
 *                and vocabulary: inputs of 1..8192 tokens, and texts through the public API with
 *                the query prompt and without (sentence-transformers' vectors)
 *   tiny-window  the same with a 100-token sliding window on layers 1 and 2
 *   real-2l      Qwen3-Embedding-0.6B's dimensions (hidden 1024, 16 / 8 heads of 128, FFN 3072),
 *                2 layers, stored with the "model." prefix in 3 shards (an index file)
 *   real-28l     the same with all 28 layers, in 4 shards (skipped in sanitizer builds)
 *
 * Tolerance: hidden states and the pooled, normalised vectors within 1e-4 (max abs) of the
 * reference, standard and flash attention alike, on states of RMS ~1 (the final RMSNorm). Both
 * sides compute in fp32; the float64 re-implementation in the generator agrees with HF within
 * 1e-5, and each mistake it tries (bidirectional attention, the wrong key/value head, no q/k norm,
 * interleaved rotary pairs, no SiLU) moves the outputs by more than 1.
 *
 * Built a second time with SUTRA_TEST_ON_GPU (tests/cuda: test_cuda_qwen3), the same cases run on
 * the CUDA backend in fp16 and in bf16 (flash at every length, the standard path up to 2048
 * tokens), compared as the other GPU model tests compare: cosine similarity of every stored hidden
 * row and of the pooled vector with the fp32 reference, at least 0.999 / 0.9999 in fp16 and
 * 0.995 / 0.999 in bf16 (8 mantissa bits: 8x fp16's rounding, over up to 28 layers), while each
 * mistake above gives cosines far below (outputs moved by more than their own size).
 * Exits 77 (skip) there without a CUDA device.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/family.h"
#include "backend/cpu/cpu_backend.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "seeded_weights.h"
#include "sutra.h"
#include "testutil.h"
#ifdef SUTRA_TEST_ON_GPU
#include "backend/cuda/cuda_backend.h"
#endif

/* The runs of one encoder check: the attention path and, on the GPU, the element type. */
typedef struct run_kind {
    sutra_attn_path path;
    int bf16;
    int max_T;            /* longest input this run takes */
    double min_row_cos;   /* GPU: bounds on cosines; CPU: 0 (max abs diffs instead) */
    double min_pool_cos;
    const char *name;
} run_kind;

#ifdef SUTRA_TEST_ON_GPU
static const run_kind RUNS[] = {
    {SUTRA_ATTN_FLASH, 0, 1 << 30, 0.999, 0.9999, "flash fp16"},
    {SUTRA_ATTN_STANDARD, 0, 2048, 0.999, 0.9999, "std fp16"},
    {SUTRA_ATTN_FLASH, 1, 1 << 30, 0.995, 0.999, "flash bf16"},
    {SUTRA_ATTN_STANDARD, 1, 2048, 0.995, 0.999, "std bf16"},
};
#else
static const run_kind RUNS[] = {
    {SUTRA_ATTN_STANDARD, 0, 1 << 30, 0, 0, "standard"},
    {SUTRA_ATTN_FLASH, 0, 1 << 30, 0, 0, "flash"},
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

static const float *tensor_f32(const sutra_st_file *f, const char *name, int64_t *rows) {
    const sutra_st_tensor *t = sutra_st_find(f, name);
    if (!t || t->dtype != SUTRA_DTYPE_F32) return NULL;
    if (rows) *rows = t->shape[0];
    return (const float *)(const void *)t->data;
}

/* A model folder in dir: the fixture's files, its tokenizer, and the seeded weights. */
static int make_model(const char *name, const char *dir) {
    char src[4096], a[4200], b[4200], tokname[64] = "";
    snprintf(src, sizeof src, "%s/%s", tu_source_path("tests/fixtures/qwen3"), name);
    static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json",
                                        "config_sentence_transformers.json", "1_Pooling/config.json"};
    snprintf(a, sizeof a, "%s/1_Pooling", dir);
    int rc = mkdir(a, 0755);
    for (size_t i = 0; !rc && i < sizeof files / sizeof files[0]; i++) {
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        rc = tu_copy_file(a, b);
    }
    snprintf(a, sizeof a, "%s/tokenizer.txt", src);
    FILE *f = fopen(a, "r");
    if (!f || !fgets(tokname, sizeof tokname, f)) rc = -1;
    if (f) fclose(f);
    tokname[strcspn(tokname, "\r\n")] = '\0';
    static const char *const tfiles[] = {"tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; !rc && i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s/%s", tu_source_path("tests/fixtures/qwen3"), tokname, tfiles[i]);
        snprintf(b, sizeof b, "%s/%s", dir, tfiles[i]);
        rc = tu_copy_file(a, b);
    }
    char err[512];
    snprintf(a, sizeof a, "%s/weights.json", src);
    if (!rc && tu_seeded_weights_write(a, dir, 0, err, sizeof err)) {
        TU_CHECK(0, "%s: weights: %s", name, err);
        rc = -1;
    }
    TU_CHECK(rc == 0, "%s: cannot make the model folder in %s", name, dir);
    return rc;
}

/* Every ids.lenN of the reference through the encoder, both attention paths: hidden states and
 * the last token's normalised state. */
static void check_encoder(const char *name, const char *dir, const sutra_st_file *rf) {
    char err[512];
    sutra_model_config cfg;
    sutra_status st = sutra_model_config_load(dir, &cfg, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "%s: config: %s", name, err);
    if (st) return;
    TU_CHECK(cfg.pooling == SUTRA_POOLING_LAST, "%s: pooling %d, want last", name, (int)cfg.pooling);
    sutra_st_file *wf = NULL;
    st = sutra_checkpoint_open(dir, &wf, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "%s: weights: %s", name, err);
    if (st) return;
    const int C = cfg.shape.C;
    int maxT = 1;
    for (size_t i = 0; i < sutra_st_count(rf); i++) {
        const sutra_st_tensor *t = sutra_st_get(rf, i);
        if (!strncmp(t->name, "ids.len", 7) && t->shape[0] > maxT) maxT = (int)t->shape[0];
    }
    for (size_t ki = 0; ki < sizeof RUNS / sizeof RUNS[0]; ki++) {
        const run_kind *kind = &RUNS[ki];
        const sutra_attn_path ap = kind->path;
        sutra_backend *be = NULL;
        st = make_backend(kind, &be, err, sizeof err);
        TU_CHECK(st == SUTRA_OK, "%s: backend: %s", name, err);
        if (st) break;
        sutra_encoder *enc = NULL;
        const int planT = maxT < kind->max_T ? maxT : kind->max_T;
        const sutra_encoder_plan plan = {.max_tokens = planT, .std_max_seqlen = ap == SUTRA_ATTN_STANDARD ? planT : 0};
        st = sutra_encoder_create(&cfg, wf, be, &plan, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_OK, "%s: encoder: %s", name, err);
        for (size_t i = 0; enc && i < sutra_st_count(rf); i++) {
            const sutra_st_tensor *ids = sutra_st_get(rf, i);
            if (strncmp(ids->name, "ids.len", 7) != 0) continue;
            const char *tag = ids->name + 4; /* "lenN" */
            const int T = (int)ids->shape[0];
            if (getenv("SUTRA_TEST_QUICK") && T >= 2048) continue; /* sanitizer builds keep the short cases */
            if (T > planT) continue;
            int32_t *idv = malloc((size_t)T * sizeof *idv);
            memcpy(idv, ids->data, (size_t)T * sizeof *idv);
            int32_t cu[2] = {0, T};
            const sutra_batch batch = {.ids = idv, .cu_seqlens = cu, .B = 1, .T = T, .max_seqlen = T};
            float *hidden = malloc((size_t)T * C * sizeof(float)), *pooled = malloc((size_t)C * sizeof(float));
            st = sutra_encoder_forward(enc, be, &batch, ap, SUTRA_POOLING_LAST, pooled, hidden, err, sizeof err);
            TU_CHECK(st == SUTRA_OK, "%s %s: forward: %s", name, tag, err);
            double ss = 0;
            for (int k = 0; k < C; k++) ss += (double)pooled[k] * pooled[k];
            char key[64];
            int64_t nrows = 0;
            snprintf(key, sizeof key, "hidden.%s", tag);
            const float *ref = tensor_f32(rf, key, &nrows);
            snprintf(key, sizeof key, "rows.%s", tag);
            const sutra_st_tensor *rows = sutra_st_find(rf, key);
            double worst = 0, row_cos = 1;
            for (int64_t r = 0; ref && st == SUTRA_OK && r < nrows; r++) {
                int32_t row = (int32_t)r;
                if (rows) memcpy(&row, rows->data + 4 * r, 4);
                if (row < 0 || row >= T) continue;
                for (int k = 0; k < C; k++)
                    worst = fmax(worst, fabs((double)hidden[(size_t)row * C + k] - ref[(size_t)r * C + k]));
                row_cos = fmin(row_cos, tu_cosine(hidden + (size_t)row * C, ref + (size_t)r * C, C));
            }
            snprintf(key, sizeof key, "pooled_last.%s", tag);
            const float *pr = tensor_f32(rf, key, NULL);
            double wp = 0;
            for (int k = 0; pr && k < C; k++) wp = fmax(wp, fabs(pooled[k] / sqrt(ss) - pr[k]));
            const double pool_cos = pr && st == SUTRA_OK ? tu_cosine(pooled, pr, C) : 0;
            if (kind->min_row_cos > 0) {
                TU_CHECK(ref && row_cos >= kind->min_row_cos, "%s %s (%s): hidden rows min cosine %.7f", name, tag,
                         kind->name, row_cos);
                TU_CHECK(pr && pool_cos >= kind->min_pool_cos, "%s %s (%s): pooled cosine %.7f", name, tag, kind->name,
                         pool_cos);
            } else {
                TU_CHECK(ref && worst <= 1e-4, "%s %s (%s): hidden states max abs diff %.3g", name, tag, kind->name,
                         worst);
                TU_CHECK(pr && wp <= 1e-4, "%s %s (%s): pooled max abs diff %.3g", name, tag, kind->name, wp);
            }
            printf("%-12s %-8s T=%-5d %-10s hidden %.2e (min cos %.7f)  pooled %.2e (cos %.8f)\n", name, tag, T,
                   kind->name, worst, row_cos, wp, pool_cos);
            free(hidden);
            free(pooled);
            free(idv);
        }
        sutra_encoder_destroy(enc);
        be->destroy(be);
    }
    sutra_st_close(wf);
}

/* The texts of reference.json ("texts"), which the generator embedded. */
static char *g_texts[16];
static const char *qwen3_text(int i) { return i >= 0 && i < 16 && g_texts[i] ? g_texts[i] : ""; }

static void load_texts(const char *fixture) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/reference.json", tu_source_path("tests/fixtures/qwen3"), fixture);
    size_t len = 0;
    char *txt = tu_read_file(path, &len);
    cJSON *root = txt ? cJSON_ParseWithLength(txt, len) : NULL;
    const cJSON *arr = root ? cJSON_GetObjectItem(root, "texts") : NULL;
    int i = 0;
    for (const cJSON *t = cJSON_IsArray(arr) ? arr->child : NULL; t && i < 16; t = t->next, i++)
        g_texts[i] = strdup(t->valuestring);
    cJSON_Delete(root);
    free(txt);
}

/* The public API on texts, with the query prompt and with none: tokens as HF's tokenizer gives
 * them (prompt + text + <|endoftext|>) and the vectors sentence-transformers gives. */
static void check_api(const char *name, const char *dir, const sutra_st_file *rf) {
    sutra_config c;
    sutra_config_init(&c);
    c.model = dir;
#ifdef SUTRA_TEST_ON_GPU
    c.device = SUTRA_DEVICE_CUDA; /* gpu_dtype AUTO: bf16 for this family */
    const double api_min_cos = 0.999;
#else
    c.device = SUTRA_DEVICE_CPU;
    const double api_min_cos = 0;
#endif
    c.threads = 2;
    sutra_embedder *e = NULL;
    char err[512];
    sutra_status st = sutra_embedder_create(&c, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "%s: create: %s", name, err);
    if (st) return;
    const int dim = sutra_embedder_dim(e);
    float *v = malloc((size_t)dim * sizeof(float));
    static const char *const prompts[] = {"query", "document"};
    int texts = 0;
    double worst = 0;
    for (int i = 0; i < 16; i++) {
        for (int p = 0; p < 2; p++) {
            char key[64];
            snprintf(key, sizeof key, "sentence.%s.%d", prompts[p], i);
            const float *want = tensor_f32(rf, key, NULL);
            if (!want) continue;
            snprintf(key, sizeof key, "ids.%s.%d", prompts[p], i);
            const sutra_st_tensor *ids = sutra_st_find(rf, key);
            const char *text = qwen3_text(i);
            TU_CHECK(sutra_embedder_set_prompt(e, prompts[p], NULL) == SUTRA_OK, "%s: prompt %s", name, prompts[p]);
            int32_t got[512];
            size_t n = 0;
            st = sutra_tokenize(e, text, (size_t)-1, got, 512, &n);
            TU_CHECK(st == SUTRA_OK && ids && n == (size_t)ids->shape[0] && !memcmp(got, ids->data, n * 4),
                     "%s: text %d with prompt %s: %zu tokens differ from HF's %lld", name, i, prompts[p], n,
                     ids ? (long long)ids->shape[0] : -1LL);
            st = sutra_embed(e, text, (size_t)-1, v, (size_t)dim);
            TU_CHECK(st == SUTRA_OK, "%s: embed: %s", name, sutra_embedder_last_error(e));
            double d = 0;
            for (int k = 0; k < dim; k++) d = fmax(d, fabs((double)v[k] - want[k]));
            if (api_min_cos > 0)
                TU_CHECK(tu_cosine(v, want, dim) >= api_min_cos, "%s: text %d, prompt %s: cosine %.7f with "
                         "sentence-transformers", name, i, prompts[p], tu_cosine(v, want, dim));
            else
                TU_CHECK(d <= 1e-4, "%s: text %d, prompt %s: max abs diff %.3g from sentence-transformers", name, i,
                         prompts[p], d);
            worst = fmax(worst, d);
            texts++;
        }
    }
    TU_CHECK(texts >= 8, "%s: only %d reference texts", name, texts);
    printf("%-12s API: %d texts (query prompt and none) vs sentence-transformers, max abs diff %.2e\n", name, texts,
           worst);
    /* the batch call packs texts of different lengths: each row as alone */
    const char *batch[4];
    for (int i = 0; i < 4; i++) batch[i] = qwen3_text(i);
    float *rowsv = malloc(4 * (size_t)dim * sizeof(float));
    sutra_embedder_set_prompt(e, "query", NULL);
    st = sutra_embed_batch(e, batch, 4, rowsv, 4 * (size_t)dim);
    TU_CHECK(st == SUTRA_OK, "%s: batch: %s", name, sutra_embedder_last_error(e));
    for (int i = 0; i < 4 && !st; i++) {
        char key[64];
        snprintf(key, sizeof key, "sentence.query.%d", i);
        const float *want = tensor_f32(rf, key, NULL);
        double d = 0;
        for (int k = 0; want && k < dim; k++) d = fmax(d, fabs((double)rowsv[(size_t)i * dim + k] - want[k]));
        TU_CHECK(want && (api_min_cos > 0 ? tu_cosine(rowsv + (size_t)i * dim, want, dim) >= api_min_cos : d <= 1e-4),
                 "%s: batch row %d: max abs diff %.3g", name, i, d);
    }
    sutra_model_info info;
    TU_CHECK(sutra_embedder_info(e, &info) == SUTRA_OK && !strcmp(info.pooling, "last"), "%s: info pooling", name);
#ifdef SUTRA_TEST_ON_GPU
    TU_CHECK(!strcmp(info.device, "cuda") && !strncmp(info.compute_dtype, "bf16 (auto", 10),
             "%s: on the GPU in bf16 by default: device %s, compute_dtype %s", name, info.device, info.compute_dtype);
#else
    TU_CHECK(!strcmp(info.compute_dtype, "f32"), "%s: compute_dtype %s on the CPU", name, info.compute_dtype);
#endif
    printf("%-12s API on %s, compute dtype %s\n", name, info.device, info.compute_dtype);
    free(rowsv);
    free(v);
    sutra_embedder_destroy(e);
}

static void rm_rf(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
}

static void run_fixture(const char *name, int api) {
    if (getenv("SUTRA_TEST_QUICK") && !strcmp(name, "real-28l")) {
        printf("%-12s skipped in the sanitizer build (1.8 GB of weights)\n", name);
        return;
    }
    char dir[256];
    snprintf(dir, sizeof dir, "%s/sutra-qwen3-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        TU_CHECK(0, "mkdtemp");
        return;
    }
    if (make_model(name, dir) == 0) {
        char ref[4096], err[512];
        snprintf(ref, sizeof ref, "%s/%s/reference.safetensors", tu_source_path("tests/fixtures/qwen3"), name);
        sutra_st_file *rf = NULL;
        TU_CHECK(sutra_st_open(ref, &rf, err, sizeof err) == SUTRA_OK, "%s: reference: %s", name, err);
        if (rf) {
            check_encoder(name, dir, rf);
            if (api) check_api(name, dir, rf);
            sutra_st_close(rf);
        }
    }
    rm_rf(dir);
}

int main(void) {
#ifdef SUTRA_TEST_ON_GPU
    {
        sutra_backend *be = NULL;
        char err[512] = "";
        if (make_backend(&RUNS[0], &be, err, sizeof err) != SUTRA_OK) {
            printf("SKIP: no CUDA device (%s)\n", err);
            return 77;
        }
        be->destroy(be);
    }
#endif
    load_texts("tiny");
    run_fixture("tiny", 1);
    run_fixture("tiny-window", 0);
    run_fixture("real-2l", 0);
    run_fixture("real-28l", 0);
    for (int i = 0; i < 16; i++) free(g_texts[i]);
    return tu_finish("test_qwen3");
}
