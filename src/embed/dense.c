/*
 * dense.c - see dense.h.
 */
#include "embed/dense.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/weights.h"
#include "model/safetensors.h"
#include "model/torch_ckpt.h"
#include "util/common.h"

typedef struct dense_layer {
    sutra_dense_config cfg;
    float *w; /* (out, in) */
    float *b; /* (out) or NULL */
} dense_layer;

struct sutra_dense {
    dense_layer layer[SUTRA_MAX_DENSE];
    int n;
    float *buf[2]; /* ping-pong outputs, rows_cap x widest */
    size_t rows_cap;
    int widest;
};

void sutra_dense_free(sutra_dense *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->layer[i].w);
        free(d->layer[i].b);
    }
    free(d->buf[0]);
    free(d->buf[1]);
    free(d);
}

int sutra_dense_out(const sutra_dense *d) { return d && d->n ? d->layer[d->n - 1].cfg.out : 0; }

/* Reads one module's tensors, converted to fp32, into l. */
static sutra_status load_layer(const char *dir, dense_layer *l, char *err, size_t errcap) {
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, "%s/model.safetensors", l->cfg.path);
    if (!sutra_path_join(path, sizeof path, dir, rel))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "path too long: %s/%s", dir, rel);
    sutra_status (*open_file)(const char *, sutra_st_file **, char *, size_t) = sutra_st_open;
    if (!sutra_file_exists(path)) {
        /* older sentence-transformers saved the module with torch.save */
        char bin[4096];
        snprintf(rel, sizeof rel, "%s/pytorch_model.bin", l->cfg.path);
        if (sutra_path_join(bin, sizeof bin, dir, rel) && sutra_file_exists(bin)) {
            memcpy(path, bin, sizeof path);
            open_file = sutra_torch_open;
        }
    }
    sutra_st_file *f = NULL;
    sutra_status st = open_file(path, &f, err, errcap);
    if (st) return st;
    const int64_t out = l->cfg.out, in = l->cfg.in;
    l->w = malloc((size_t)(out * in) * sizeof *l->w);
    l->b = l->cfg.bias ? malloc((size_t)out * sizeof *l->b) : NULL;
    if (!l->w || (l->cfg.bias && !l->b)) {
        sutra_st_close(f);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory for a %lldx%lld Dense module",
                          (long long)out, (long long)in);
    }
    char what[4200];
    snprintf(what, sizeof what, "%s: ", path);
    sutra_binder b = {.file = f, .err = err, .errcap = errcap};
    sutra_bind_into(&b, l->w, "linear.weight", 2, (int64_t[]){out, in});
    if (l->b) sutra_bind_into(&b, l->b, "linear.bias", 1, (int64_t[]){out});
    else if (!b.failed && sutra_st_find(f, "linear.bias")) {
        sutra_errf(SUTRA_ERR_MODEL, err, errcap, "tensor 'linear.bias' present but the module's config says bias false");
        b.failed = 1;
    }
    sutra_st_close(f);
    if (b.failed) {
        /* the binder names the tensor; say which file it was in */
        char inner[512];
        snprintf(inner, sizeof inner, "%s", err);
        sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s%s", what, inner);
        return SUTRA_ERR_MODEL;
    }
    for (int64_t i = 0; i < out * in; i++)
        if (!isfinite(l->w[i])) return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%slinear.weight is not finite", what);
    for (int64_t i = 0; l->b && i < out; i++)
        if (!isfinite(l->b[i])) return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%slinear.bias is not finite", what);
    return SUTRA_OK;
}

sutra_status sutra_dense_load(const char *dir, const sutra_model_config *cfg, sutra_dense **out, char *err,
                              size_t errcap) {
    *out = NULL;
    if (cfg->n_dense == 0) return SUTRA_OK;
    if (cfg->dense[0].in != cfg->shape.C)
        return sutra_errf(SUTRA_ERR_MODEL, err, errcap, "%s/%s: in_features %d, but the pooled vectors have %d", dir,
                          cfg->dense[0].path, cfg->dense[0].in, cfg->shape.C);
    sutra_dense *d = calloc(1, sizeof *d);
    if (!d) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    for (int i = 0; i < cfg->n_dense; i++) {
        d->layer[i].cfg = cfg->dense[i];
        d->n = i + 1;
        if (cfg->dense[i].out > d->widest) d->widest = cfg->dense[i].out;
        sutra_status st = load_layer(dir, &d->layer[i], err, errcap);
        if (st) {
            sutra_dense_free(d);
            return st;
        }
    }
    *out = d;
    return SUTRA_OK;
}

static void activate(float *y, size_t n, sutra_dense_act act) {
    switch (act) {
    case SUTRA_DENSE_IDENTITY: break;
    case SUTRA_DENSE_TANH:
        for (size_t i = 0; i < n; i++) y[i] = tanhf(y[i]);
        break;
    case SUTRA_DENSE_RELU:
        for (size_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        break;
    case SUTRA_DENSE_GELU:
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * y[i] * (1.0f + erff(y[i] * 0.70710678118654752f));
        break;
    case SUTRA_DENSE_SIGMOID:
        for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-y[i]));
        break;
    case SUTRA_DENSE_SILU:
        for (size_t i = 0; i < n; i++) y[i] = y[i] / (1.0f + expf(-y[i]));
        break;
    }
}

const float *sutra_dense_run(sutra_dense *d, const float *x, size_t rows) {
    if (rows > d->rows_cap) {
        size_t n;
        if (!sutra_mul_ok(rows, (size_t)d->widest, &n)) return NULL;
        for (int i = 0; i < 2; i++) {
            float *p = realloc(d->buf[i], n * sizeof *p);
            if (!p) return NULL;
            d->buf[i] = p;
        }
        d->rows_cap = rows;
    }
    const float *in = x;
    for (int i = 0; i < d->n; i++) {
        const dense_layer *l = &d->layer[i];
        float *y = d->buf[i & 1];
        sutra_host_linear(y, in, rows, l->w, l->b, l->cfg.out, l->cfg.in, l->cfg.act);
        in = y;
    }
    return in;
}

void sutra_host_linear(float *y, const float *x, size_t rows, const float *w, const float *b, int N, int K,
                       sutra_dense_act act) {
    if (!rows) return;
    for (size_t r = 0; b && r < rows; r++) memcpy(y + r * (size_t)N, b, (size_t)N * sizeof *y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, N, K, 1.0f, x, K, w, K, b ? 1.0f : 0.0f, y, N);
    activate(y, rows * (size_t)N, act);
}
