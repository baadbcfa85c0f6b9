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
 * attention agree within 6e-6 in the generator). Built again with SUTRA_TEST_ON_GPU (tests/cuda:
 * test_cuda_distilbert): the same on the CUDA backend, cosine bounds (family_fixture.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "family_fixture.h"
#include "sutra.h"
#include "testutil.h"

int main(void) {
    char src[4096], dir[256], ref[4200], err[512];
    snprintf(src, sizeof src, "%s", tu_source_path("tests/fixtures/distilbert/msmarco-6l"));
    snprintf(dir, sizeof dir, "%s/sutra-distilbert-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        TU_CHECK(0, "mkdtemp");
        return tu_finish("test_distilbert");
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
    static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json",
                                        "1_Pooling/config.json"};
    if (rf && tu_fixture_assemble(src, dir, files, sizeof files / sizeof files[0], 1) == 0) {
        static const int lengths[] = {1, 7, 100, 512};
        tu_fixture_check_encoder(dir, rf, "distilbert", lengths, sizeof lengths / sizeof lengths[0], 512, 1e-4);
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
                     !strcmp(info.architecture, "distilbert") && !strcmp(info.pooling, "mean") && !info.normalize,
                 "info: architecture, mean pooling, not normalised: %s", err);
        sutra_embedder_destroy(e);
    }
    sutra_st_close(rf);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    return tu_finish("test_distilbert");
}
