/*
 * common.c - error formatting, file helpers and growable arrays shared by all modules.
 */
#include "util/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

sutra_status sutra_errf(sutra_status status, char *err, size_t errcap, const char *fmt, ...) {
    if (err && errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return status;
}

sutra_status sutra_read_file(const char *path, char **out, size_t *len, char *err, size_t errcap) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    fclose(f);
    if (got != n) {
        free(buf);
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SUTRA_OK;
}

int sutra_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int sutra_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int sutra_path_join(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return n >= 0 && (size_t)n < cap;
}

void *sutra_alloc64(size_t bytes) {
    if (bytes > SIZE_MAX - 63) return NULL;
    return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

int sutra_ivec_reserve(sutra_ivec *v, size_t cap) {
    if (cap <= v->cap) return 1;
    size_t nc = v->cap ? v->cap : 16;
    while (nc < cap) {
        if (nc > SIZE_MAX / 2 / sizeof(int32_t)) return 0;
        nc *= 2;
    }
    int32_t *d = realloc(v->data, nc * sizeof(int32_t));
    if (!d) return 0;
    v->data = d;
    v->cap = nc;
    return 1;
}

int sutra_ivec_push(sutra_ivec *v, int32_t x) {
    if (v->n == v->cap && !sutra_ivec_reserve(v, v->n + 1)) return 0;
    v->data[v->n++] = x;
    return 1;
}

void sutra_ivec_free(sutra_ivec *v) {
    free(v->data);
    v->data = NULL;
    v->n = v->cap = 0;
}
