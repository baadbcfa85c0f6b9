/*
 * arch.h - the encoder interface every architecture file implements.
 *
 * An architecture binds the tensors of a safetensors file to its weight struct (checking every
 * name and shape), and runs a forward pass over a packed batch as a flat list of backend ops.
 * It does not know how an op is computed, nor where the text came from.
 */
#ifndef SUTRA_ARCH_H
#define SUTRA_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "model/config.h"
#include "model/safetensors.h"

/* A packed batch of B token sequences, T tokens in all. Host memory. */
typedef struct sutra_batch {
    const int32_t *ids;        /* (T) */
    const int32_t *cu_seqlens; /* (B+1) */
    int B, T, max_seqlen;
} sutra_batch;

typedef struct sutra_encoder sutra_encoder;

/* Binds the weights of the architecture named by cfg->model_type and hands them to the backend.
 * The file must outlive the encoder (the CPU uses F32 weights in place from its mapping). */
sutra_status sutra_encoder_create(const sutra_model_config *cfg, const sutra_st_file *weights, sutra_backend *be,
                                  sutra_encoder **out, char *err, size_t errcap);
void sutra_encoder_destroy(sutra_encoder *enc);

/* Activation bytes one forward of up to max_tokens tokens needs from a backend's arena. */
size_t sutra_encoder_arena_bytes(const sutra_model_config *cfg, int max_tokens, size_t act_bytes);

/* Runs the encoder and pools: pooled (B, hidden) host floats; hidden, when not NULL, receives
 * the final hidden states (T, hidden) as host floats. Activations come from be's arena. */
sutra_status sutra_encoder_forward(sutra_encoder *enc, sutra_backend *be, const sutra_batch *batch,
                                   sutra_attn_path path, sutra_pooling pooling, float *pooled, float *hidden,
                                   char *err, size_t errcap);

/* The dtype name of the weights as stored ("F32", "F16", "BF16"). */
const char *sutra_encoder_weights_dtype(const sutra_encoder *enc);

#endif /* SUTRA_ARCH_H */
