/*
 * family_fixture.h - what the family tests share: a model folder assembled from a fixture
 * (its JSON files, the default model's tokenizer, the weights its weights.json recipe draws) and
 * the two comparisons every family makes against its reference.safetensors.
 */
#ifndef SUTRA_FAMILY_FIXTURE_H
#define SUTRA_FAMILY_FIXTURE_H

#include <stddef.h>

#include "model/safetensors.h"

/* Built into the CPU tests, and with SUTRA_TEST_ON_GPU into their GPU twins (tests/cuda): there
 * the encoder runs on the CUDA backend in fp16 and bf16 (both paths) and is held to cosine bounds
 * (every stored hidden row >= 0.999 / 0.995, the pooled vector >= 0.9999 / 0.999 in fp16 / bf16),
 * the texts go through the API on the GPU (cosine >= 0.999). */

/* 1 if the backend the checks run on can be made here (the GPU twins exit 77 without one). */
int tu_fixture_backend_available(char *err, size_t errcap);

/* Copies files (paths relative to src, sub-folders made) into dir, the default model's
 * tokenizer.json / tokenizer_config.json / vocab.txt when default_tokenizer is set, and writes
 * the seeded weights of src/weights.json. 0, or -1 with a failure recorded. */
int tu_fixture_assemble(const char *src, const char *dir, const char *const *files, size_t n_files,
                        int default_tokenizer);

/* The encoder of the model in dir (which must be of model_type) on the CPU against the
 * reference's ids.lenN / hidden.lenN / pooled_mean.lenN for each length (hidden.lenN holding
 * every stride.lenN-th row where the reference has that key): both attention paths up to std_max
 * tokens, flash above; max abs diff <= tol and the pooled vector's cosine >= 0.99999. */
void tu_fixture_check_encoder(const char *dir, const sutra_st_file *rf, const char *model_type, const int *lengths,
                              size_t n_lengths, int std_max, double tol);

/* Texts through the public API on the CPU: for each text i of src/reference.json "texts", the
 * ids (reference ids.<i>) and the vector (reference <key>.<i>, dim floats) within tol, the
 * embedder made with prompt_name (NULL: none). Returns the number of texts checked. */
int tu_fixture_check_texts(const char *src, const char *dir, const sutra_st_file *rf, const char *key,
                           const char *prompt_name, int dim, double tol);

#endif
