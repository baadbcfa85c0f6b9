/*
 * fuzz_st_index.c - libFuzzer harness for the sharded checkpoint's index
 * (model.safetensors.index.json; src/model/checkpoint.c).
 *
 * Whatever sutra_st_index_parse accepts must be safe to open: at least one tensor, every shard
 * name a plain .safetensors file name (no '/', no '\', no leading '.', under 256 bytes), at most
 * SUTRA_ST_MAX_SHARDS of them, every tensor's shard index inside the list, no two shard names
 * equal. A rejection must carry a message, a format (or out-of-memory) status and an empty index.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1); /* an exact-size copy: the parser must not read past it */
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    sutra_st_index idx;
    char err[256];
    err[0] = '\0';
    sutra_status st = sutra_st_index_parse(buf, size, "index.json", &idx, err, sizeof err);
    free(buf);
    if (st != SUTRA_OK) {
        if (st != SUTRA_ERR_FORMAT && st != SUTRA_ERR_OUT_OF_MEMORY) abort();
        if (!err[0] || idx.nfiles || idx.ntensors || idx.files || idx.names || idx.shard) abort();
        return 0;
    }
    if (idx.ntensors < 1 || idx.nfiles < 1 || idx.nfiles > SUTRA_ST_MAX_SHARDS) abort();
    for (size_t i = 0; i < idx.nfiles; i++) {
        const char *f = idx.files[i];
        const size_t n = strlen(f);
        if (n < 13 || n >= 256 || f[0] == '.' || strchr(f, '/') || strchr(f, '\\') ||
            strcmp(f + n - 12, ".safetensors") != 0)
            abort();
        for (size_t j = 0; j < i; j++)
            if (!strcmp(idx.files[j], f)) abort();
    }
    for (size_t i = 0; i < idx.ntensors; i++)
        if (idx.shard[i] < 0 || (size_t)idx.shard[i] >= idx.nfiles || !idx.names[i] || !idx.names[i][0]) abort();
    sutra_st_index_free(&idx);
    return 0;
}
