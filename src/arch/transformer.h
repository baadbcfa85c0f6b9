/*
 * transformer.h - the one forward pass. Every family's net (backend/net.h) runs through it, on
 * every backend; a family adds no forward of its own, and a backend's own way of running some
 * nets (backend.h: layout, layers) is asked for here and nowhere else.
 */
#ifndef SUTRA_TRANSFORMER_H
#define SUTRA_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* A packed batch of B token sequences, T tokens in all. Host memory. */
typedef struct sutra_batch {
    const int32_t *ids;        /* (T) */
    const int32_t *types;      /* (T) token type ids (segment A / B of a pair), or NULL: all 0 */
    const int32_t *cu_seqlens; /* (B+1) */
    int B, T, max_seqlen;
} sutra_batch;

/* Activation bytes the shared forward needs from a backend's arena for batches of up to
 * max_tokens tokens (its widest layout: every intermediate for all tokens). */
size_t sutra_transformer_arena_bytes(const sutra_net_shape *s, int max_tokens, size_t act_bytes);

/* The attention of a batch of this shape with the buffers left unset: heads, scale, causal mask
 * (window per layer is set by the forward). Used to ask supports() about a path. */
sutra_attn_params sutra_transformer_attention_shape(const sutra_net_shape *s, int batch, int max_seqlen);

/* SUTRA_OK if be can run every op the net needs other than attention (norm kinds, rotary,
 * per-head norms, gated units, activations), else SUTRA_ERR_UNSUPPORTED naming the first op it
 * lacks. */
sutra_status sutra_transformer_check(const sutra_net *net, const sutra_backend *be, char *err, size_t errcap);

/* Runs the layers of net over a staged batch (io from begin_batch) with attention on path; *final
 * receives the final hidden states (T, C) in be's arena, valid until the next forward. */
sutra_status sutra_transformer_forward(const sutra_net *net, sutra_backend *be, const sutra_batch *batch,
                                       const sutra_batch_io *io, sutra_attn_path path, const void **final, char *err,
                                       size_t errcap);

#endif /* SUTRA_TRANSFORMER_H */
