/*
 * arch.h - the encoder: a model family's net (backend/net.h) bound to a backend, and its forward
 * over packed batches with pooling. What every family shares: finding the family, binding and
 * uploading the weights, checking the backend can run the net, staging a batch (positions, id
 * checks), the one forward (transformer.c) and pooling.
 */
#ifndef SUTRA_ARCH_H
#define SUTRA_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "arch/transformer.h"
#include "backend/backend.h"
#include "model/config.h"
#include "model/safetensors.h"

typedef struct sutra_encoder sutra_encoder;

/* What an encoder plans its backend's memory for. */
typedef struct sutra_encoder_plan {
    int max_tokens;     /* the largest batch, in tokens */
    int std_max_seqlen; /* the longest sequence the standard attention path will be given (0: none) */
    /* a linear head on every token's final state, run on the backend (bge-m3's ColBERT and sparse
     * rows): token_rows x C weights and token_rows biases, host fp32, uploaded with the net's */
    const float *token_w, *token_b;
    int token_rows;
} sutra_encoder_plan;

/* Binds the weights of the family cfg->model_type names, checks that be can run the net, and
 * hands both to the backend (prepare, reserve, upload). The file must outlive the encoder (the CPU
 * uses F32 weights in place from its mapping). */
sutra_status sutra_encoder_create(const sutra_model_config *cfg, const sutra_st_file *weights, sutra_backend *be,
                                  const sutra_encoder_plan *plan, sutra_encoder **out, char *err, size_t errcap);
void sutra_encoder_destroy(sutra_encoder *enc);

/* Runs the encoder with attention on path and pools: pooled (B, C) host floats; hidden, when not
 * NULL, receives the final hidden states (T, C) as host floats. */
sutra_status sutra_encoder_forward(sutra_encoder *enc, sutra_backend *be, const sutra_batch *batch,
                                   sutra_attn_path path, sutra_pooling pooling, float *pooled, float *hidden,
                                   char *err, size_t errcap);

/* sutra_encoder_forward, and when token_out is not NULL the plan's token head on every token's
 * final state: token_out (T, token_rows) host floats. */
sutra_status sutra_encoder_forward_ex(sutra_encoder *enc, sutra_backend *be, const sutra_batch *batch,
                                      sutra_attn_path path, sutra_pooling pooling, float *pooled, float *hidden,
                                      float *token_out, char *err, size_t errcap);
/* The dtype name of the weights as stored ("F32", "F16", "BF16"). */
const char *sutra_encoder_weights_dtype(const sutra_encoder *enc);

#endif /* SUTRA_ARCH_H */
