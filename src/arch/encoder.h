/*
 * encoder.h - what every architecture file shares: the common head of an encoder object, the
 * table of an architecture's functions, and the staging of a packed batch (positions, id
 * checks, backend inputs) that all of them do the same way.
 */
#ifndef SUTRA_ENCODER_H
#define SUTRA_ENCODER_H

#include "arch/arch.h"

typedef struct sutra_arch {
    const char *name;
    sutra_status (*create)(const sutra_model_config *cfg, const sutra_st_file *weights, sutra_backend *be,
                           sutra_encoder **out, char *err, size_t errcap);
    void (*destroy)(sutra_encoder *enc);
    size_t (*arena_bytes)(const sutra_model_config *cfg, int max_tokens, size_t act_bytes);
    /* Runs the layers on a staged batch; *final points at the final hidden states (T, C). */
    sutra_status (*forward)(sutra_encoder *enc, sutra_backend *be, const sutra_batch *batch, const sutra_batch_io *io,
                            sutra_attn_path path, const void **final, char *err, size_t errcap);
} sutra_arch;

/* The first member of every architecture's encoder struct. */
struct sutra_encoder {
    const sutra_arch *arch;
    sutra_model_config cfg;
    const char *dtype; /* weights' dtype as stored */
    int32_t *pos;      /* (T) position ids of the batch being run */
    size_t pos_cap;
};

/* Attention over a fused (T, 3C) QKV buffer (query, key, value column blocks) into out (T, C),
 * for the batch's sequences, no window. */
sutra_attn_params sutra_arch_fused_attn(const sutra_model_config *cfg, const sutra_batch *batch,
                                        const sutra_batch_io *io, void *qkv, void *out, size_t act_bytes);

/* The key under which a backend may replay a forward: same tokens, sequences, longest sequence
 * and attention path mean the same op sequence on the same buffers. */
uint64_t sutra_arch_shape_key(const sutra_batch *batch, sutra_attn_path path);

extern const sutra_arch sutra_arch_bert;       /* bert, xlm-roberta, roberta */
extern const sutra_arch sutra_arch_modernbert; /* modernbert */

#endif /* SUTRA_ENCODER_H */
