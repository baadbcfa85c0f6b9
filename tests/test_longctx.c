/*
 * test_longctx.c - the long-context architectures (XLM-RoBERTa, ModernBERT) against HF
 * transformers' outputs, on small random-initialised models with full 8192-position tables
 * (tests/fixtures/longctx, made by scripts/gen_longctx_fixtures.py).
 *
 * For inputs of 1, 100, 513, 2048 and 8192 tokens (and one real text), the final hidden states
 * and the mean- and CLS-pooled vectors (L2-normalised, as the reference stores them) must match the reference within 1e-4 (max abs), with
 * standard and flash attention alike. Both sides compute in fp32; the models' activations are
 * O(1), so rounding differences stay near 1e-6, while a wrong position, rotary angle, window
 * bound or norm shows up as 1e-2 or more. Rows of the longest inputs are a stored subset.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "backend/cpu/cpu_backend.h"
#include "arch/family.h"
#include "model/safetensors.h"
#include "testutil.h"

static const float *tensor_f32(const sutra_st_file *f, const char *name, int64_t *rows) {
    const sutra_st_tensor *t = sutra_st_find(f, name);
    if (!t || t->dtype != SUTRA_DTYPE_F32) return NULL;
    if (rows) *rows = t->shape[0];
    return (const float *)(const void *)t->data;
}

static void check_model(const char *name) {
    char dir[1024], path[1200], err[512];
    snprintf(dir, sizeof dir, "%s", tu_source_path("tests/fixtures/longctx"));
    strncat(dir, "/", sizeof dir - strlen(dir) - 1);
    strncat(dir, name, sizeof dir - strlen(dir) - 1);
    sutra_model_config cfg;
    sutra_status st = sutra_model_config_load(dir, &cfg, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "%s: config: %s", name, err);
    if (st) return;
    sutra_st_file *wf = NULL, *rf = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    TU_CHECK(sutra_st_open(path, &wf, err, sizeof err) == SUTRA_OK, "%s: weights: %s", name, err);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    TU_CHECK(sutra_st_open(path, &rf, err, sizeof err) == SUTRA_OK, "%s: reference: %s", name, err);
    if (!wf || !rf) return;
    const int C = cfg.shape.C, maxT = 8192;
    const char *cases[] = {"len1", "len100", "len513", "len2048", "len8192", "text"};
    for (int path_i = 0; path_i < 2; path_i++) {
        sutra_attn_path ap = path_i ? SUTRA_ATTN_FLASH : SUTRA_ATTN_STANDARD;
        sutra_backend *be = NULL;
        const sutra_cpu_options o = {.threads = 2};
        st = sutra_cpu_backend_create(&o, &be, err, sizeof err);
        TU_CHECK(st == SUTRA_OK, "%s: backend: %s", name, err);
        if (st) return;
        sutra_encoder *enc = NULL;
        const sutra_encoder_plan plan = {.max_tokens = maxT, .std_max_seqlen = maxT};
        st = sutra_encoder_create(&cfg, wf, be, &plan, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_OK, "%s: encoder: %s", name, err);
        if (!enc) {
            be->destroy(be);
            return;
        }
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            /* sanitizer builds run unoptimised: they keep the short cases */
            if (getenv("SUTRA_TEST_QUICK") && (strstr(cases[ci], "2048") || strstr(cases[ci], "8192"))) continue;
            char key[64];
            snprintf(key, sizeof key, "ids.%s", cases[ci]);
            const sutra_st_tensor *ids = sutra_st_find(rf, key);
            if (!ids) continue;
            int T = (int)ids->shape[0];
            int32_t *idv = malloc((size_t)T * sizeof *idv);
            memcpy(idv, ids->data, (size_t)T * sizeof *idv);
            int32_t cu[2] = {0, T};
            sutra_batch batch = {.ids = idv, .cu_seqlens = cu, .B = 1, .T = T, .max_seqlen = T};
            float *hidden = malloc((size_t)T * C * sizeof(float));
            float pooled[2][1024];
            sutra_pooling modes[2] = {SUTRA_POOLING_MEAN, SUTRA_POOLING_CLS};
            for (int m = 0; m < 2; m++) {
                st = sutra_encoder_forward(enc, be, &batch, ap, modes[m], pooled[m], m == 0 ? hidden : NULL, err,
                                           sizeof err);
                TU_CHECK(st == SUTRA_OK, "%s %s: forward: %s", name, cases[ci], err);
            }
            for (int m = 0; m < 2; m++) {
                double ss = 0;
                for (int k = 0; k < C; k++) ss += (double)pooled[m][k] * pooled[m][k];
                for (int k = 0; k < C; k++) pooled[m][k] = (float)(pooled[m][k] / sqrt(ss));
            }
            int64_t nrows = 0;
            snprintf(key, sizeof key, "hidden.%s", cases[ci]);
            const float *ref = tensor_f32(rf, key, &nrows);
            snprintf(key, sizeof key, "rows.%s", cases[ci]);
            const sutra_st_tensor *rows = sutra_st_find(rf, key);
            double worst = 0;
            for (int64_t r = 0; ref && r < nrows; r++) {
                int32_t row = (int32_t)r;
                if (rows) memcpy(&row, rows->data + 4 * r, 4);
                for (int k = 0; k < C; k++)
                    worst = fmax(worst, fabs((double)hidden[(size_t)row * C + k] - ref[(size_t)r * C + k]));
            }
            TU_CHECK(ref && worst <= 1e-4, "%s %s (%s): hidden states max abs diff %.3g", name, cases[ci],
                     path_i ? "flash" : "standard", worst);
            const char *pn[2] = {"pooled_mean", "pooled_cls"};
            double wp = 0;
            for (int m = 0; m < 2; m++) {
                snprintf(key, sizeof key, "%s.%s", pn[m], cases[ci]);
                const float *pr = tensor_f32(rf, key, NULL);
                TU_CHECK(pr != NULL, "%s: %s missing", name, key);
                for (int k = 0; pr && k < C; k++) wp = fmax(wp, fabs((double)pooled[m][k] - pr[k]));
            }
            TU_CHECK(wp <= 1e-4, "%s %s (%s): pooled max abs diff %.3g", name, cases[ci], path_i ? "flash" : "standard",
                     wp);
            printf("%-15s %-8s T=%-5d %-8s hidden %.2e  pooled %.2e\n", name, cases[ci], T,
                   path_i ? "flash" : "standard", worst, wp);
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
    const char *models[] = {"xlmr", "xlmr-d64", "modernbert", "modernbert-d64"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) check_model(models[i]);
    return tu_finish("test_longctx");
}
