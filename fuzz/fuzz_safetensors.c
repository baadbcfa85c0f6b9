/*
 * fuzz_safetensors.c - libFuzzer harness for the safetensors reader.
 *
 * The input is a whole file image. Whatever sutra_st_parse accepts must be safe to use as the
 * header promises: every byte of every tensor is read (ASan checks they lie inside the input),
 * every name must find its own tensor, and the reported sizes must agree with each other.
 * Any status other than OK or FORMAT is a bug, as is an OK without a file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy: libFuzzer's own buffer may sit inside a larger allocation. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);

    char err[256];
    sutra_st_file *f = NULL;
    sutra_status st = sutra_st_parse(buf, size, &f, err, sizeof err);
    if (st != SUTRA_OK) {
        if (st != SUTRA_ERR_FORMAT || f != NULL || memchr(err, '\0', sizeof err) == NULL) abort();
        free(buf);
        return 0;
    }
    if (!f) abort();

    volatile uint64_t sum = 0;
    size_t n = sutra_st_count(f);
    for (size_t i = 0; i < n; i++) {
        const sutra_st_tensor *t = sutra_st_get(f, i);
        if (!t || !t->name || !t->name[0]) abort();
        if (t->ndim < 0 || t->ndim > SUTRA_ST_MAX_DIMS || t->numel < 0) abort();
        if ((size_t)t->numel * sutra_dtype_size(t->dtype) != t->nbytes) abort();
        if (t->nbytes && (t->data < buf || t->data + t->nbytes > buf + size)) abort();
        for (size_t k = 0; k < t->nbytes; k++) sum += t->data[k];
        if (sutra_st_find(f, t->name) != t) abort();
        if (i > 0 && strcmp(sutra_st_get(f, i - 1)->name, t->name) >= 0) abort();
    }
    if (sutra_st_get(f, n) != NULL) abort();
    (void)sum;
    sutra_st_close(f);
    free(buf);
    return 0;
}
