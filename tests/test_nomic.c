/*
 * test_nomic.c - the NomicBERT family against Nomic's published modeling code and
 * sentence-transformers running it, on a random-initialised model with nomic-embed-text-v1.5's
 * configuration cut to 4 of its 12 layers (tests/fixtures/nomic/v1.5-4l, made by
 * scripts/gen_nomic_fixtures.py; the weights are written here by seeded_weights.c, the tokenizer
 * is the default model's bert-base-uncased WordPiece, as the generator used).
 *
 * Checks: hidden states and the mean-pooled vector of ids of 1, 7, 100, 2048 and 8192 tokens (the
 * model's limit; and of 1, 7, 100 and 512 on v1.5-12l, all 12 layers) through the encoder, within 1e-4 (max abs) and cosine >= 0.99999 of
 * NomicBertModel, the standard path up to 2048 tokens and flash at every length; texts through
 * the public API (HF's ids, sentence-transformers' vectors within 1e-4), bare and with the
 * "query" prompt ("search_query: "); info; a Matryoshka width. Built again with SUTRA_TEST_ON_GPU
 * (tests/cuda: test_cuda_nomic): the same cases on the CUDA backend, held to the cosine bounds of
 * family_fixture.h; exits 77 (skip) without a CUDA device.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "family_fixture.h"
#include "sutra.h"
#include "testutil.h"

/* One fixture folder: the encoder at its lengths, the texts bare and with the "query" prompt, and
 * with `extra` the info checks. */
static void run_fixture(const char *name, const int *lengths, size_t n_lengths, int std_max, int extra) {
    char src[4096], dir[256], ref[4200], err[512];
    snprintf(src, sizeof src, "%s/%s", tu_source_path("tests/fixtures/nomic"), name);
    snprintf(dir, sizeof dir, "%s/sutra-nomic-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        TU_CHECK(0, "mkdtemp");
        return;
    }
    snprintf(ref, sizeof ref, "%s/reference.safetensors", src);
    sutra_st_file *rf = NULL;
    TU_CHECK(sutra_st_open(ref, &rf, err, sizeof err) == SUTRA_OK, "%s reference: %s", name, err);
    static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json",
                                        "config_sentence_transformers.json", "1_Pooling/config.json"};
    printf("-- %s\n", name);
    if (rf && tu_fixture_assemble(src, dir, files, sizeof files / sizeof files[0], 1) == 0) {
        tu_fixture_check_encoder(dir, rf, "nomic_bert", lengths, n_lengths, std_max, 1e-4);
        TU_CHECK(tu_fixture_check_texts(src, dir, rf, "sentence", NULL, 768, 1e-4) >= 5, "reference texts");
        TU_CHECK(tu_fixture_check_texts(src, dir, rf, "query", "query", 768, 1e-4) >= 5, "reference texts (query)");
    }
    if (rf && extra) {
        sutra_config c;
        sutra_config_init(&c);
        c.model = dir;
#ifdef SUTRA_TEST_ON_GPU
        c.device = SUTRA_DEVICE_CUDA;
#else
        c.device = SUTRA_DEVICE_CPU;
#endif
        c.threads = 2;
        c.dimensions = 256;
        sutra_embedder *e = NULL;
        sutra_model_info info;
        TU_CHECK(sutra_embedder_create(&c, &e, err, sizeof err) == SUTRA_OK && sutra_embedder_info(e, &info) == SUTRA_OK &&
                     !strcmp(info.architecture, "nomic_bert") && info.max_tokens == 8192 && info.dim == 256 &&
                     !strcmp(info.pooling, "mean") && sutra_embedder_find_prompt(e, "document") &&
                     !strcmp(sutra_embedder_find_prompt(e, "document"), "search_document: "),
                 "info: nomic_bert, 8192 tokens, 256 dimensions, mean pooling, its prompts: %s", err);
        sutra_embedder_destroy(e);
    }
    sutra_st_close(rf);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
}

int main(void) {
#ifdef SUTRA_TEST_ON_GPU
    char err[512];
    if (!tu_fixture_backend_available(err, sizeof err)) {
        printf("SKIP: no CUDA device (%s)\n", err);
        return 77;
    }
#endif
    const int quick = getenv("SUTRA_TEST_QUICK") != NULL; /* the sanitizer build: 8192 only by flash */
    static const int cut[] = {1, 7, 100, 2048, 8192}, full[] = {1, 7, 100, 512};
    run_fixture("v1.5-4l", cut, sizeof cut / sizeof cut[0], quick ? 100 : 2048, 1);
    run_fixture("v1.5-12l", full, sizeof full / sizeof full[0], 512, 0); /* all 12 layers */
    return tu_finish("test_nomic");
}
