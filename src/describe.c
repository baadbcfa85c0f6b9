/*
 * describe.c - sutra_model_describe: what a model is, from its files, without loading it (the
 * configs, the weights' headers, the prompt names), for catalogues such as `sutra models list`.
 */
#include <stdio.h>
#include <string.h>

#include "arch/family.h"
#include "embedder.h"
#include "hub/hub.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "util/common.h"

sutra_status sutra_model_describe(const char *model, const char *models_dir, const sutra_hub_options *hub,
                                  sutra_device device, int gpu_index, sutra_model_summary *out, char *err,
                                  size_t errcap) {
    if (!model || !out) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "model and out are required");
    memset(out, 0, sizeof *out);
    sutra_hub_options offline = hub ? *hub : (sutra_hub_options){0};
    offline.offline = SUTRA_SWITCH_ON; /* describing never downloads */
    char path[4096], tf[4096];
    sutra_status st = sutra_model_resolve(model, models_dir, &offline, path, sizeof path, err, errcap);
    if (st) return st;
    sutra_model_config m;
    if ((st = sutra_model_config_load(path, &m, err, errcap))) return st;
    if (!sutra_model_transformer_path(path, &m, tf, sizeof tf))
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: path too long", path);
    sutra_st_file *w = NULL;
    if ((st = sutra_checkpoint_open(tf, &w, err, errcap))) return st;
    size_t biggest = 0;
    for (size_t i = 0; i < sutra_st_count(w); i++) {
        const sutra_st_tensor *t = sutra_st_get(w, i);
        out->parameters += (uint64_t)t->numel;
        if (t->nbytes > biggest) {
            biggest = t->nbytes;
            snprintf(out->weights_dtype, sizeof out->weights_dtype, "%s", sutra_dtype_name(t->dtype));
        }
    }
    sutra_st_close(w);
    sutra_prompts pr;
    if (sutra_prompts_load(path, &pr, NULL, 0) == SUTRA_OK) {
        size_t o = 0;
        for (int i = 0; i < pr.n && o < sizeof out->prompts; i++)
            o += (size_t)snprintf(out->prompts + o, sizeof out->prompts - o, "%s%s", i ? "," : "", pr.items[i].name);
        sutra_prompts_free(&pr);
    }
    snprintf(out->architecture, sizeof out->architecture, "%s", m.model_type);
    snprintf(out->pooling, sizeof out->pooling, "%s", sutra_pooling_word(m.pooling));
    out->hidden_size = m.shape.C;
    out->vector_size = m.n_dense ? m.dense[m.n_dense - 1].out : m.shape.C;
    out->layers = m.shape.L;
    out->heads = m.shape.H;
    out->head_dim = m.shape.D;
    out->max_tokens = m.st_max_seq_length ? m.st_max_seq_length : m.max_position_embeddings;
    out->normalize = m.normalize;
    out->bytes = sutra_hub_tree_bytes(path);
    snprintf(out->path, sizeof out->path, "%s", path);
    sutra_device_attention_here(device, gpu_index, out->attention_kernels, sizeof out->attention_kernels);
    return SUTRA_OK;
}
