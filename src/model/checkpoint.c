/*
 * checkpoint.c - a model directory's weights, single-file or sharded, safetensors or torch.save
 * (checkpoint.h).
 *
 * Rules: the index is untrusted like every model file: its shard names are plain file names
 * inside the model directory (no path separators, no leading dot) with the layout's suffix, at
 * most SUTRA_ST_MAX_SHARDS of them; every shard is validated by its reader (safetensors.c,
 * torch_ckpt.c); every tensor the weight map names must be in the shard it names, and no tensor
 * may be in two shards. safetensors wins over torch.save when a folder has both, as transformers
 * prefers it.
 */
#include "model/checkpoint.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/json.h"
#include "model/torch_ckpt.h"
#include "util/common.h"

void sutra_st_index_free(sutra_st_index *idx) {
    if (!idx) return;
    for (size_t i = 0; i < idx->nfiles; i++) free(idx->files[i]);
    for (size_t i = 0; i < idx->ntensors; i++) free(idx->names[i]);
    free(idx->files);
    free(idx->names);
    free(idx->shard);
    memset(idx, 0, sizeof *idx);
}

static int plain_shard_name(const char *s, const char *suffix) {
    const size_t n = strlen(s), ext = strlen(suffix);
    return n > ext && n < 256 && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\') && !strcmp(s + n - ext, suffix);
}

/* The index of files[] holding name, adding it; -1 when full. */
static int file_slot(sutra_st_index *idx, const char *name) {
    for (size_t i = 0; i < idx->nfiles; i++)
        if (!strcmp(idx->files[i], name)) return (int)i;
    if (idx->nfiles >= SUTRA_ST_MAX_SHARDS) return -1;
    char *copy = strdup(name);
    if (!copy) return -2;
    idx->files[idx->nfiles] = copy;
    return (int)idx->nfiles++;
}

sutra_status sutra_st_index_parse(const char *json, size_t len, const char *what, sutra_st_index *out, char *err,
                                  size_t errcap) {
    return sutra_st_index_parse_as(json, len, what, ".safetensors", out, err, errcap);
}

sutra_status sutra_st_index_parse_as(const char *json, size_t len, const char *what, const char *suffix,
                                     sutra_st_index *out, char *err, size_t errcap) {
    memset(out, 0, sizeof *out);
    cJSON *root = NULL;
    sutra_status st = sutra_json_parse(json, len, what, &root, err, errcap);
    if (st) return st;
    const cJSON *map = cJSON_IsObject(root) ? sutra_json_get(root, "weight_map") : NULL;
    const int n = cJSON_IsObject(map) ? cJSON_GetArraySize(map) : 0;
    if (n <= 0) {
        cJSON_Delete(root);
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: no 'weight_map' object of tensor names", what);
    }
    out->files = calloc(SUTRA_ST_MAX_SHARDS, sizeof *out->files);
    out->names = calloc((size_t)n, sizeof *out->names);
    out->shard = calloc((size_t)n, sizeof *out->shard);
    if (!out->files || !out->names || !out->shard) st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: out of memory", what);
    for (const cJSON *e = map->child; e && !st; e = e->next) {
        if (!cJSON_IsString(e) || !e->string || !e->string[0]) {
            st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: weight_map entry %zu is not a tensor name and a file name",
                            what, out->ntensors);
        } else if (!plain_shard_name(e->valuestring, suffix)) {
            st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: shard '%.80s' is not a %s file name in the "
                            "model directory", what, e->valuestring, suffix);
        } else {
            const int slot = file_slot(out, e->valuestring);
            if (slot == -1)
                st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: more than %d shards", what, SUTRA_ST_MAX_SHARDS);
            else if (slot < 0 || !(out->names[out->ntensors] = strdup(e->string)))
                st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: out of memory", what);
            else out->shard[out->ntensors++] = slot;
        }
    }
    cJSON_Delete(root);
    if (st) sutra_st_index_free(out);
    return st;
}

/* One layout: its single file, its index, the shards' suffix and their reader. */
typedef struct layout {
    const char *single, *index, *suffix;
    sutra_status (*open)(const char *path, sutra_st_file **out, char *err, size_t errcap);
} layout;

static const layout LAYOUTS[] = {
    {"model.safetensors", "model.safetensors.index.json", ".safetensors", sutra_st_open},
    {"pytorch_model.bin", "pytorch_model.bin.index.json", ".bin", sutra_torch_open},
};

/* The shards ipath names, merged. */
static sutra_status open_sharded(const char *dir, const char *ipath, const layout *lay, sutra_st_file **out, char *err,
                                 size_t errcap) {
    char *text;
    size_t len;
    sutra_status st = sutra_read_file(ipath, &text, &len, err, errcap);
    if (st) return st;
    sutra_st_index idx;
    st = sutra_st_index_parse_as(text, len, ipath, lay->suffix, &idx, err, errcap);
    free(text);
    if (st) return st;
    sutra_st_file **shards = calloc(idx.nfiles, sizeof *shards);
    if (!shards) {
        sutra_st_index_free(&idx);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: out of memory", ipath);
    }
    char path[4096];
    size_t opened = 0;
    for (; opened < idx.nfiles && !st; opened++) {
        if (!sutra_path_join(path, sizeof path, dir, idx.files[opened]))
            st = sutra_errf(SUTRA_ERR_IO, err, errcap, "model path too long");
        else st = lay->open(path, &shards[opened], err, errcap);
    }
    for (size_t i = 0; i < idx.ntensors && !st; i++)
        if (!sutra_st_find(shards[idx.shard[i]], idx.names[i]))
            st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%.80s' is not in %s, where the index puts it",
                            ipath, idx.names[i], idx.files[idx.shard[i]]);
    if (st) {
        for (size_t i = 0; i < opened; i++) sutra_st_close(shards[i]);
    } else {
        st = sutra_st_merge(shards, idx.nfiles, ipath, out, err, errcap);
    }
    free(shards);
    sutra_st_index_free(&idx);
    return st;
}

sutra_status sutra_checkpoint_open(const char *dir, sutra_st_file **out, char *err, size_t errcap) {
    *out = NULL;
    for (size_t k = 0; k < sizeof LAYOUTS / sizeof LAYOUTS[0]; k++) {
        const layout *lay = &LAYOUTS[k];
        char path[4096], ipath[4096];
        if (!sutra_path_join(path, sizeof path, dir, lay->single) ||
            !sutra_path_join(ipath, sizeof ipath, dir, lay->index))
            return sutra_errf(SUTRA_ERR_IO, err, errcap, "model path too long");
        if (sutra_file_exists(path)) return lay->open(path, out, err, errcap);
        if (sutra_file_exists(ipath)) return open_sharded(dir, ipath, lay, out, err, errcap);
    }
    return sutra_errf(SUTRA_ERR_IO, err, errcap,
                      "%s: no weights: neither model.safetensors, model.safetensors.index.json, pytorch_model.bin nor "
                      "pytorch_model.bin.index.json", dir);
}
