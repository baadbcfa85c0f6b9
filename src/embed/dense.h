/*
 * dense.h - sentence-transformers' Dense modules (models.Dense), the layers a pipeline may put
 * after pooling: y = act(x W^T + b), one after another, on the pooled vectors (B rows of C floats)
 * before Matryoshka truncation and normalisation. They run on the host after the backend's
 * pooling for every backend: a few hundred thousand to a few million multiply-adds per vector,
 * done as one product per batch.
 */
#ifndef SUTRA_DENSE_H
#define SUTRA_DENSE_H

#include <stddef.h>

#include "model/config.h"

typedef struct sutra_dense sutra_dense;

/* Loads the weights of cfg->dense[0 .. n_dense) from each module's folder in dir
 * (model.safetensors: "linear.weight" (out, in) and "linear.bias" (out) when the module has a
 * bias; F32 / F16 / BF16 / F64). *out is NULL when the model has no Dense module. */
sutra_status sutra_dense_load(const char *dir, const sutra_model_config *cfg, sutra_dense **out, char *err,
                              size_t errcap);
void sutra_dense_free(sutra_dense *d);

/* The width of the vectors the modules give (the last out_features), or 0 for no module. */
int sutra_dense_out(const sutra_dense *d);

/* Runs the modules on rows vectors of in_features floats (x) and returns the rows x out floats,
 * in a buffer the sutra_dense owns (valid until the next call); NULL when out of memory. Not
 * thread-safe: one caller at a time, as the embedder's scratch is. */
const float *sutra_dense_run(sutra_dense *d, const float *x, size_t rows);

/* y (rows x N) = act(x (rows x K) W^T + b) on the host (OpenBLAS); b may be NULL; y must not
 * alias x. The heads (embed/heads.c) use it too. */
void sutra_host_linear(float *y, const float *x, size_t rows, const float *w, const float *b, int N, int K,
                       sutra_dense_act act);

#endif /* SUTRA_DENSE_H */
