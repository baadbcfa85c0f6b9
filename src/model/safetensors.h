/*
 * safetensors.h - a validating reader for the safetensors format.
 *
 * Layout: 8-byte little-endian header length L, L bytes of JSON mapping tensor names to
 * {dtype, shape, data_offsets:[begin,end]} (plus an optional "__metadata__" of strings), then
 * the data. Every rule of the format is checked before any tensor is handed out: well-formed
 * JSON, known dtypes, shape product times dtype size equal to the byte range, ranges inside
 * the data section, no two ranges overlapping. Files are mmapped read-only.
 */
#ifndef SUTRA_SAFETENSORS_H
#define SUTRA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "sutra.h"

typedef enum sutra_dtype {
    SUTRA_DTYPE_F32 = 0,
    SUTRA_DTYPE_F16,
    SUTRA_DTYPE_BF16,
    SUTRA_DTYPE_F64,
    SUTRA_DTYPE_I64,
    SUTRA_DTYPE_I32,
    SUTRA_DTYPE_I16,
    SUTRA_DTYPE_I8,
    SUTRA_DTYPE_U64,
    SUTRA_DTYPE_U32,
    SUTRA_DTYPE_U16,
    SUTRA_DTYPE_U8,
    SUTRA_DTYPE_BOOL,
    SUTRA_DTYPE_F8_E4M3,
    SUTRA_DTYPE_F8_E5M2,
    SUTRA_DTYPE_COUNT
} sutra_dtype;

#define SUTRA_ST_MAX_DIMS 8

typedef struct sutra_st_tensor {
    const char *name;
    sutra_dtype dtype;
    int ndim;
    int64_t shape[SUTRA_ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* points into the mapping; not aligned beyond 1 byte in general */
    size_t nbytes;
} sutra_st_tensor;

typedef struct sutra_st_file sutra_st_file;

/* Maps and validates a file. */
sutra_status sutra_st_open(const char *path, sutra_st_file **out, char *err, size_t errcap);
/* Validates a file image held in memory; buf must outlive the result (it is not copied). */
sutra_status sutra_st_parse(const uint8_t *buf, size_t len, sutra_st_file **out, char *err, size_t errcap);
void sutra_st_close(sutra_st_file *f);

/* A file object over tensors already in memory (what another format's reader made): t[0..n), each
 * with its name, dtype, shape and data pointing into data (len bytes). The object takes data over,
 * also on failure: sutra_st_close frees it with free(). Names are copied; numel and nbytes are
 * computed from the shape. Checked as a file's header is: names non-empty and distinct, dtypes
 * known, at most SUTRA_ST_MAX_DIMS non-negative dimensions, every byte range inside data. what
 * names the source in messages. */
sutra_status sutra_st_from_memory(const sutra_st_tensor *t, size_t n, void *data, size_t len, const char *what,
                                  sutra_st_file **out, char *err, size_t errcap);

/* One file made of n others (the shards of a checkpoint): every tensor of every shard, found and
 * listed as in one file. It takes the shards over, also on failure (sutra_st_close of the result
 * closes them); NULL entries are skipped. A name in two shards is SUTRA_ERR_FORMAT; what names
 * the checkpoint in messages. */
sutra_status sutra_st_merge(sutra_st_file **shards, size_t n, const char *what, sutra_st_file **out, char *err,
                            size_t errcap);

size_t sutra_st_count(const sutra_st_file *f);
const sutra_st_tensor *sutra_st_get(const sutra_st_file *f, size_t i);
/* NULL if absent. */
const sutra_st_tensor *sutra_st_find(const sutra_st_file *f, const char *name);

const char *sutra_dtype_name(sutra_dtype dt);
size_t sutra_dtype_size(sutra_dtype dt);

#endif /* SUTRA_SAFETENSORS_H */
