/*
 * checkpoint.h - the weights of a model directory, in any layout transformers writes: one
 * model.safetensors, or shards listed by model.safetensors.index.json (its "weight_map" of tensor
 * name -> shard file), as the larger models (Qwen3-Embedding 4B / 8B) ship; and, for repositories
 * that ship no safetensors (bge-m3 and other older models), the torch.save forms of the same two:
 * pytorch_model.bin, or pytorch_model.bin.index.json and its .bin shards (torch_ckpt.h).
 */
#ifndef SUTRA_CHECKPOINT_H
#define SUTRA_CHECKPOINT_H

#include <stddef.h>

#include "model/safetensors.h"

/* A parsed index: the shard files in the order first named, and which shard each tensor of the
 * weight map is in. */
typedef struct sutra_st_index {
    size_t nfiles;
    char **files; /* plain file names: no '/', not starting with '.', ending in the suffix parsed for */
    size_t ntensors;
    char **names; /* ntensors tensor names */
    int *shard;   /* ntensors indices into files */
} sutra_st_index;

/* Most shards an index may name. */
#define SUTRA_ST_MAX_SHARDS 4096

/* Parses the text of an index file (what names it in messages). The weight map must be a
 * non-empty object of strings; shard names must be plain file names as above (so a hostile index
 * cannot reach outside the model directory). On failure *out is empty. */
sutra_status sutra_st_index_parse(const char *json, size_t len, const char *what, sutra_st_index *out, char *err,
                                  size_t errcap);
/* The same for shards ending in suffix (".bin": pytorch_model.bin.index.json). */
sutra_status sutra_st_index_parse_as(const char *json, size_t len, const char *what, const char *suffix,
                                     sutra_st_index *out, char *err, size_t errcap);
void sutra_st_index_free(sutra_st_index *idx);

/* Opens dir's weights, the first present of: model.safetensors; every shard
 * model.safetensors.index.json names, merged into one file object (sutra_st_merge), each tensor
 * checked to be in the shard the index says; pytorch_model.bin; the shards of
 * pytorch_model.bin.index.json, the same way. None present: SUTRA_ERR_IO naming all four. */
sutra_status sutra_checkpoint_open(const char *dir, sutra_st_file **out, char *err, size_t errcap);

#endif /* SUTRA_CHECKPOINT_H */
