/*
 * test_mpnet.c - the MPNet family against HF transformers and sentence-transformers, on a
 * random-initialised model with all-mpnet-base-v2's configuration (all 12 layers, hidden 768, 12
 * heads, FFN 3072, 514 positions counted from padding_idx + 1, a 32-bucket relative position bias
 * drawn wide so that it moves the scores; tests/fixtures/mpnet, made by
 * scripts/gen_mpnet_fixtures.py; weights written here by seeded_weights.c).
 *
 * Checks: the bucket of every offset -511..511 as transformers computes it (the table the family
 * expands, read back through the bound net); hidden states and the mean-pooled vector of ids of
 * 1, 7, 100 and 512 tokens through the encoder, both attention paths, within 1e-4 (max abs) of
 * MPNetModel; texts through the public API: HF's ids (MPNet's WordPiece with <s> ... </s>) and
 * sentence-transformers' vectors (mean pooling, Normalize) within 1e-4. Built again with
 * SUTRA_TEST_ON_GPU (tests/cuda: test_cuda_mpnet): the same on the CUDA backend (the bias in the
 * mma.sync flash kernel and the standard path), cosine bounds (family_fixture.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/family.h"
#include "arch/weights.h"
#include "family_fixture.h"
#include "sutra.h"
#include "testutil.h"

/* The expanded bias table of the bound net against the reference buckets: row d + 511 must be
 * bucket(d)'s row of encoder.relative_attention_bias. */
static void check_buckets(const char *dir, const sutra_st_file *rf) {
    char err[512], path[4200];
    sutra_model_config cfg;
    if (sutra_model_config_load(dir, &cfg, err, sizeof err) != SUTRA_OK) {
        TU_CHECK(0, "config: %s", err);
        return;
    }
    sutra_st_file *wf = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const sutra_st_tensor *bk = sutra_st_find(rf, "buckets");
    if (sutra_st_open(path, &wf, err, sizeof err) != SUTRA_OK || !bk || bk->numel != 1023) {
        TU_CHECK(0, "weights or reference buckets: %s", err);
        sutra_st_close(wf);
        return;
    }
    const sutra_family *fam = sutra_family_find("mpnet");
    sutra_net net = {.shape = &cfg.shape};
    net.layers = calloc((size_t)cfg.shape.L, sizeof *net.layers);
    sutra_binder b = {.file = wf, .err = err, .errcap = sizeof err};
    fam->bind(&net, &b);
    float *slab = malloc(b.slab_used * sizeof *slab);
    b = (sutra_binder){.file = wf, .err = err, .errcap = sizeof err, .slab = slab};
    fam->bind(&net, &b);
    const sutra_st_tensor *table = sutra_st_find(wf, "encoder.relative_attention_bias.weight");
    const int H = cfg.shape.H, span = cfg.shape.rel_span;
    int bad = 0;
    TU_CHECK(!b.failed && span == 512 && net.rel_bias && table, "bind: %s (span %d)", err, span);
    for (int d = -511; !b.failed && net.rel_bias && table && d <= 511; d++) {
        int32_t want;
        memcpy(&want, (const char *)bk->data + (size_t)(d + 511) * 4, 4);
        const float *row = (const float *)net.rel_bias + (size_t)(d + span - 1) * H;
        const float *ref = (const float *)(const void *)table->data + (size_t)want * H;
        if (memcmp(row, ref, (size_t)H * sizeof *row)) bad++;
    }
    TU_CHECK(bad == 0, "%d of 1023 offsets take another bucket's row than transformers'", bad);
    printf("mpnet: 1023 offsets, %d with a bucket other than transformers'\n", bad);
    free(slab);
    free(net.layers);
    sutra_st_close(wf);
}

int main(void) {
    char src[4096], dir[256], ref[4200], err[512];
    snprintf(src, sizeof src, "%s", tu_source_path("tests/fixtures/mpnet/all-mpnet-12l"));
    snprintf(dir, sizeof dir, "%s/sutra-mpnet-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        TU_CHECK(0, "mkdtemp");
        return tu_finish("test_mpnet");
    }
#ifdef SUTRA_TEST_ON_GPU
    if (!tu_fixture_backend_available(err, sizeof err)) {
        printf("SKIP: no CUDA device (%s)\n", err);
        rmdir(dir);
        return 77;
    }
#endif
    snprintf(ref, sizeof ref, "%s/reference.safetensors", src);
    sutra_st_file *rf = NULL;
    TU_CHECK(sutra_st_open(ref, &rf, err, sizeof err) == SUTRA_OK, "reference: %s", err);
    static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json",
                                        "1_Pooling/config.json"};
    if (rf && tu_fixture_assemble(src, dir, files, sizeof files / sizeof files[0], 0) == 0) {
        check_buckets(dir, rf);
        static const int lengths[] = {1, 7, 100, 512};
        tu_fixture_check_encoder(dir, rf, "mpnet", lengths, sizeof lengths / sizeof lengths[0], 512, 1e-4);
        TU_CHECK(tu_fixture_check_texts(src, dir, rf, "sentence", NULL, 768, 1e-4) >= 5, "reference texts");
        sutra_config c;
        sutra_config_init(&c);
        c.model = dir;
#ifdef SUTRA_TEST_ON_GPU
        c.device = SUTRA_DEVICE_CUDA;
#else
        c.device = SUTRA_DEVICE_CPU;
#endif
        sutra_embedder *e = NULL;
        sutra_model_info info;
        TU_CHECK(sutra_embedder_create(&c, &e, err, sizeof err) == SUTRA_OK && sutra_embedder_info(e, &info) == SUTRA_OK &&
                     !strcmp(info.architecture, "mpnet") && info.max_tokens == 384 && info.normalize,
                 "info: mpnet, 384 tokens (sentence_bert_config), normalised: %s", err);
        sutra_embedder_destroy(e);
    }
    sutra_st_close(rf);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    return tu_finish("test_mpnet");
}
