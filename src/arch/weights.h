/*
 * weights.h - binding named safetensors tensors to fp32 pointers, for every architecture.
 *
 * A tensor stored as F32 and 4-byte aligned is used in place from the mapping; any other float
 * dtype (F16, BF16, F64) or a misaligned one is converted into one slab the binder owns. Fused
 * matrices (e.g. Q, K and V stacked) are always built in the slab. The binder runs twice: a
 * counting pass sizes the slab, then a filling pass binds, so the slab is one allocation.
 */
#ifndef SUTRA_WEIGHTS_H
#define SUTRA_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "model/safetensors.h"

typedef struct sutra_binder {
    const sutra_st_file *file;
    const char *prefix; /* prepended to every name, e.g. "bert." */
    float *slab;        /* NULL during the counting pass */
    size_t slab_used;   /* floats */
    char *err;
    size_t errcap;
    int failed;         /* set by the first error; later calls do nothing */
    const char *dtype;  /* dtype of the first bound tensor */
} sutra_binder;

/* Binds the tensor prefix+name, requiring exactly the given shape (ndim values). Returns the
 * fp32 pointer, or NULL during the counting pass or after an error (see b->failed). */
const float *sutra_bind(sutra_binder *b, const char *name, int ndim, const int64_t *shape);

/* Like sutra_bind, but copies the tensor into the slab at dst_offset floats of a fused block
 * allocated with sutra_bind_fused_alloc. */
float *sutra_bind_fused_alloc(sutra_binder *b, size_t floats);
void sutra_bind_into(sutra_binder *b, float *dst, const char *name, int ndim, const int64_t *shape);

/* Formats a layer tensor name: fmt with one %d. */
const char *sutra_layer_name(char *buf, size_t cap, const char *fmt, int layer);

#endif /* SUTRA_WEIGHTS_H */
