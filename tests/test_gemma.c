/*
 * test_gemma.c - the Gemma 3 family (EmbeddingGemma) against HF transformers and
 * sentence-transformers, on a random-initialised model with embeddinggemma-300m's configuration
 * cut to 6 of its 24 layers and to a 4096-token tokenizer of Gemma's structure
 * (tests/fixtures/gemma, made by scripts/gen_gemma_fixtures.py; the encoder's and both Dense
 * modules' weights are written here by seeded_weights.c).
 *
 * Checks: hidden states and the mean-pooled vector of ids of 1, 7, 100, 600 (past the 512-token
 * window) and 2048 tokens (the model's limit; and of 1, 7, 100, 600 on emb-24l, all 24 layers)
 * through the encoder, within 1e-4 (max abs) and
 * cosine >= 0.99999 of Gemma3TextModel, the standard path up to 2048 tokens and flash; texts
 * through the public API, the whole pipeline (mean pooling, Dense 768->3072->768, Normalize): HF's
 * ids and sentence-transformers' vectors within 1e-4, bare and with the "query" prompt; info (bf16
 * chosen for the GPU, f32 here). Built again with SUTRA_TEST_ON_GPU (tests/cuda: test_cuda_gemma):
 * the same on the CUDA backend, cosine bounds (family_fixture.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "family_fixture.h"
#include "seeded_weights.h"
#include "sutra.h"
#include "testutil.h"

/* One model folder of the fixture (name under tests/fixtures/gemma): the encoder at its lengths,
 * the texts bare and with the "query" prompt, and with `extra` the info checks. */
static void run_fixture(const char *name, const int *lengths, size_t n_lengths, int extra) {
    char src[4096], dir[256], ref[4400], err[512];
    snprintf(src, sizeof src, "%s", tu_source_path("tests/fixtures/gemma"));
    snprintf(dir, sizeof dir, "%s/sutra-gemma-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        TU_CHECK(0, "mkdtemp");
        return;
    }
    char model[4200];
    snprintf(model, sizeof model, "%.4000s/%s", src, name);
    snprintf(ref, sizeof ref, "%.4200s/reference.safetensors", model);
    sutra_st_file *rf = NULL;
    TU_CHECK(sutra_st_open(ref, &rf, err, sizeof err) == SUTRA_OK, "%s reference: %s", name, err);
    printf("-- %s\n", name);
    static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json",
                                        "config_sentence_transformers.json", "1_Pooling/config.json",
                                        "2_Dense/config.json", "3_Dense/config.json"};
    int rc = rf ? tu_fixture_assemble(model, dir, files, sizeof files / sizeof files[0], 0) : -1;
    static const char *const tok[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; !rc && i < 2; i++) { /* the fixture's tokenizer, shared with the tokenizer tests */
        char a[4400], b[400];
        snprintf(a, sizeof a, "%.4000s/tokenizer/%s", src, tok[i]);
        snprintf(b, sizeof b, "%s/%s", dir, tok[i]);
        rc = tu_copy_file(a, b);
    }
    static const char *const dense[] = {"2_Dense", "3_Dense"};
    for (int i = 0; !rc && i < 2; i++) { /* each Dense module's seeded weights, in its folder */
        char recipe[4400], into[400];
        snprintf(recipe, sizeof recipe, "%.4200s/%s/weights.json", model, dense[i]);
        snprintf(into, sizeof into, "%s/%s", dir, dense[i]);
        rc = tu_seeded_weights_write(recipe, into, 1, err, sizeof err);
        TU_CHECK(rc == 0, "%s weights: %s", dense[i], err);
    }
    if (!rc) {
        tu_fixture_check_encoder(dir, rf, "gemma3_text", lengths, n_lengths, 2048, 1e-4);
        TU_CHECK(tu_fixture_check_texts(model, dir, rf, "sentence", NULL, 768, 1e-4) >= 6, "reference texts");
        TU_CHECK(tu_fixture_check_texts(model, dir, rf, "query", "query", 768, 1e-4) >= 6, "reference texts (query)");
    }
    if (!rc && extra) {
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
                     !strcmp(info.architecture, "gemma3_text") && info.max_tokens == 2048 && info.dense_modules == 2 &&
                     info.vector_size == 768 && info.normalize && sutra_embedder_find_prompt(e, "document") &&
                     !strcmp(sutra_embedder_find_prompt(e, "document"), "title: none | text: "),
                 "info: gemma3_text, 2048 tokens, two Dense modules, normalised, its prompts: %s", err);
#ifdef SUTRA_TEST_ON_GPU
        TU_CHECK(e && !strncmp(info.compute_dtype, "bf16 (auto", 10), "compute_dtype %s", e ? info.compute_dtype : "-");
#else
        TU_CHECK(e && !strcmp(info.compute_dtype, "f32"), "compute_dtype %s", e ? info.compute_dtype : "-");
#endif
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
    static const int cut[] = {1, 7, 100, 600, 2048}, full[] = {1, 7, 100, 600};
    run_fixture("emb-6l", cut, sizeof cut / sizeof cut[0], 1);
    run_fixture("emb-24l", full, sizeof full / sizeof full[0], 0); /* all 24 layers */
    return tu_finish("test_gemma");
}
