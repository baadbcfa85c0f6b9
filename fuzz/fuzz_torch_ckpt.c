/*
 * fuzz_torch_ckpt.c - libFuzzer harness for the torch.save reader.
 *
 * Each input is fed twice: as a whole file image (zip archive, byte order, entries, pickle,
 * storages: sutra_torch_parse) and as a bare pickle (sutra_torch_parse_pickle) over made-up
 * storages that exist for any key and have the size the pickle declares (up to 1 MiB), so that
 * the pickle machine is reached without a valid zip around it. Whatever either accepts must be
 * safe to use: every byte of every tensor is read (ASan checks they lie inside the object), sizes
 * agree with shapes and dtypes, and names find their tensors. A status other than OK, FORMAT or
 * UNSUPPORTED is a bug, as is OK without a file or a failure with one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"
#include "model/torch_ckpt.h"

#define STORAGE_MAX (1u << 20)

static sutra_status fake_size(void *ctx, const char *key, uint64_t declared, uint64_t *nbytes, char *err,
                              size_t errcap) {
    (void)ctx, (void)key, (void)err, (void)errcap;
    *nbytes = declared <= STORAGE_MAX ? declared : STORAGE_MAX;
    return SUTRA_OK;
}

static sutra_status fake_read(void *ctx, const char *key, uint64_t off, void *dst, size_t len, char *err,
                              size_t errcap) {
    (void)ctx, (void)err, (void)errcap;
    if (off > STORAGE_MAX || len > STORAGE_MAX - off) abort(); /* the reader asked outside the storage */
    for (size_t i = 0; i < len; i++) ((uint8_t *)dst)[i] = (uint8_t)(key[0] + off + i);
    return SUTRA_OK;
}

static void check(sutra_status st, sutra_st_file *f, const char *err, size_t errcap) {
    if (st != SUTRA_OK) {
        if ((st != SUTRA_ERR_FORMAT && st != SUTRA_ERR_UNSUPPORTED) || f || !memchr(err, '\0', errcap)) abort();
        return;
    }
    if (!f) abort();
    volatile uint64_t sum = 0;
    const size_t n = sutra_st_count(f);
    for (size_t i = 0; i < n; i++) {
        const sutra_st_tensor *t = sutra_st_get(f, i);
        if (!t || !t->name || !t->name[0] || t->ndim < 0 || t->ndim > SUTRA_ST_MAX_DIMS || t->numel < 0) abort();
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
        if (numel != t->numel || (size_t)t->numel * sutra_dtype_size(t->dtype) != t->nbytes) abort();
        for (size_t k = 0; k < t->nbytes; k++) sum += t->data[k];
        if (sutra_st_find(f, t->name) != t) abort();
    }
    (void)sum;
    sutra_st_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy: libFuzzer's own buffer may sit inside a larger allocation. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    char err[256];
    sutra_st_file *f = NULL;
    sutra_status st = sutra_torch_parse(buf, size, &f, err, sizeof err);
    check(st, f, err, sizeof err);
    const sutra_torch_storages src = {.size = fake_size, .read = fake_read};
    f = NULL;
    st = sutra_torch_parse_pickle(buf, size, &src, 16u << 20, "<fuzz>", &f, err, sizeof err);
    check(st, f, err, sizeof err);
    free(buf);
    return 0;
}
