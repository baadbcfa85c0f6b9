/*
 * test_cuda_longctx.c - the long-context architectures (XLM-RoBERTa, ModernBERT: rotary angles,
 * GeGLU, every third layer global and the others through a +-64 local window) end to end on the
 * CUDA backend, against the HF transformers outputs stored with the small random-initialised
 * fixtures (tests/fixtures/longctx, scripts/gen_longctx_fixtures.py), for 1, 100, 513, 2048 and
 * 8192 tokens and one real text, on the GPU's flash path (the Hopper kernel at head dim 64 on
 * compute capability 9.0, mma.sync elsewhere and at head dim 32) and its standard path.
 *
 * Tolerance: the GPU computes in fp16 with fp32 accumulation, the reference in fp32, so the
 * pooled vectors (L2-normalised) must reach cosine >= 0.9999 with the reference and every
 * stored hidden-state row cosine >= 0.999 (rows of a few hundred fp16 values; the per-layer
 * rounding adds up over the layers), while a wrong rotary angle, window bound or position is
 * far outside both (cosines of 0.9 and below in the CPU test's experiments).
 *
 * The fixture directory comes from SUTRA_SOURCE_DIR (the repository root; default "."). Exits
 * 77 (skip) without a CUDA device; 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "backend/cuda/cuda_backend.h"
#include "arch/family.h"
#include "model/safetensors.h"
#include "testutil.h"

static int g_failures = 0;

static const float *tensor_f32(const sutra_st_file *f, const char *name, int64_t *rows) {
    const sutra_st_tensor *t = sutra_st_find(f, name);
    if (!t || t->dtype != SUTRA_DTYPE_F32) return NULL;
    if (rows) *rows = t->shape[0];
    return (const float *)(const void *)t->data;
}

static void check(int ok, const char *fmt, const char *a, const char *b, const char *c, double v) {
    printf("%s ", ok ? "ok  " : "FAIL");
    printf(fmt, a, b, c, v);
    printf("\n");
    if (!ok) g_failures++;
}

static void check_model(const char *root, const char *name) {
    char dir[1024], path[1200], err[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/longctx/%s", root, name);
    sutra_model_config cfg;
    if (sutra_model_config_load(dir, &cfg, err, sizeof err) != SUTRA_OK) {
        printf("FAIL %s: config: %s\n", name, err);
        g_failures++;
        return;
    }
    sutra_st_file *wf = NULL, *rf = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (sutra_st_open(path, &wf, err, sizeof err) != SUTRA_OK) printf("FAIL %s: weights: %s\n", name, err);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    if (wf && sutra_st_open(path, &rf, err, sizeof err) != SUTRA_OK) printf("FAIL %s: reference: %s\n", name, err);
    if (!wf || !rf) {
        g_failures++;
        sutra_st_close(wf);
        return;
    }
    const int C = cfg.shape.C, maxT = 8192;
    const char *cases[] = {"len1", "len100", "len513", "len2048", "len8192", "text"};
    for (int path_i = 0; path_i < 2; path_i++) {
        const sutra_attn_path ap = path_i ? SUTRA_ATTN_FLASH : SUTRA_ATTN_STANDARD;
        const char *pname = path_i ? "flash" : "standard";
        sutra_backend *be = NULL;
        sutra_encoder *enc = NULL;
        const sutra_cuda_options o = {.graphs = 1, .flash_wgmma = 1, .fold = 1};
        const sutra_encoder_plan plan = {.max_tokens = maxT, .std_max_seqlen = maxT};
        if (sutra_cuda_backend_create(&o, &be, err, sizeof err) != SUTRA_OK ||
            sutra_encoder_create(&cfg, wf, be, &plan, &enc, err, sizeof err) != SUTRA_OK) {
            printf("FAIL %s %s: backend / encoder: %s\n", name, pname, err);
            g_failures++;
            if (be) be->destroy(be);
            break;
        }
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            char key[64];
            snprintf(key, sizeof key, "ids.%s", cases[ci]);
            const sutra_st_tensor *ids = sutra_st_find(rf, key);
            if (!ids) continue;
            const int T = (int)ids->shape[0];
            int32_t *idv = malloc((size_t)T * sizeof *idv);
            float *hidden = malloc((size_t)T * C * sizeof(float));
            if (!idv || !hidden) {
                printf("FAIL out of memory\n");
                exit(1);
            }
            memcpy(idv, ids->data, (size_t)T * sizeof *idv);
            int32_t cu[2] = {0, T};
            sutra_batch batch = {.ids = idv, .cu_seqlens = cu, .B = 1, .T = T, .max_seqlen = T};
            float pooled[2][1024];
            const sutra_pooling modes[2] = {SUTRA_POOLING_MEAN, SUTRA_POOLING_CLS};
            int ok = C <= 1024;
            for (int m = 0; ok && m < 2; m++) {
                if (sutra_encoder_forward(enc, be, &batch, ap, modes[m], pooled[m], m == 0 ? hidden : NULL, err,
                                          sizeof err) != SUTRA_OK) {
                    printf("FAIL %s %s %s: forward: %s\n", name, cases[ci], pname, err);
                    g_failures++;
                    ok = 0;
                }
            }
            if (ok) {
                int64_t nrows = 0;
                snprintf(key, sizeof key, "hidden.%s", cases[ci]);
                const float *ref = tensor_f32(rf, key, &nrows);
                snprintf(key, sizeof key, "rows.%s", cases[ci]);
                const sutra_st_tensor *rows = sutra_st_find(rf, key);
                double worst_row = 1.0;
                for (int64_t r = 0; ref && r < nrows; r++) {
                    int32_t row = (int32_t)r;
                    if (rows) memcpy(&row, rows->data + 4 * r, 4);
                    if (row < 0 || row >= T) {
                        worst_row = 0;
                        break;
                    }
                    worst_row = fmin(worst_row, tu_cosine(hidden + (size_t)row * C, ref + (size_t)r * C, C));
                }
                if (!ref) worst_row = 0;
                const char *pn[2] = {"pooled_mean", "pooled_cls"};
                double worst_pool = 1.0;
                for (int m = 0; m < 2; m++) {
                    snprintf(key, sizeof key, "%s.%s", pn[m], cases[ci]);
                    const float *pr = tensor_f32(rf, key, NULL);
                    worst_pool = pr ? fmin(worst_pool, tu_cosine(pooled[m], pr, C)) : 0;
                }
                char what[96];
                snprintf(what, sizeof what, "%s T=%d", cases[ci], T);
                check(worst_row >= 0.999, "%-15s %-14s %-8s hidden rows: min cosine %.7f", name, what, pname,
                      worst_row);
                check(worst_pool >= 0.9999, "%-15s %-14s %-8s pooled mean, cls: min cosine %.7f", name, what, pname,
                      worst_pool);
            }
            free(hidden);
            free(idv);
        }
        sutra_encoder_destroy(enc);
        be->destroy(be);
    }
    sutra_st_close(wf);
    sutra_st_close(rf);
}

int main(void) {
    sutra_cuda_device_info info;
    char err[256];
    if (sutra_cuda_device_query(0, &info, err, sizeof err) != SUTRA_OK) {
        printf("SKIP: no CUDA device (%s)\n", err);
        return 77;
    }
    printf("device: %s (cc %d.%d)\n", info.name, info.cc_major, info.cc_minor);
    const char *root = getenv("SUTRA_SOURCE_DIR");
    if (!root || !*root) root = ".";
    const char *models[] = {"xlmr", "xlmr-d64", "modernbert", "modernbert-d64"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) check_model(root, models[i]);
    printf("test_cuda_longctx: %s (%d failure%s)\n", g_failures ? "FAILED" : "passed", g_failures,
           g_failures == 1 ? "" : "s");
    return g_failures ? 1 : 0;
}
