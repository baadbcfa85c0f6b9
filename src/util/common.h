/*
 * common.h - small helpers every internal module uses: error messages into caller buffers,
 * checked allocation, and growable arrays.
 *
 * Rule: internal functions report failure as a sutra_status plus a message written with
 * sutra_errf() into an (err, errcap) pair the caller owns; errcap may be 0 and err NULL.
 */
#ifndef SUTRA_COMMON_H
#define SUTRA_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "sutra.h"

#if defined(__GNUC__)
#define SUTRA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SUTRA_PRINTF(a, b)
#endif

/* Writes a formatted message into err (truncated to errcap, always NUL-terminated) and
 * returns status, so that callers can write `return sutra_errf(st, err, cap, "...", ...)`. */
sutra_status sutra_errf(sutra_status status, char *err, size_t errcap, const char *fmt, ...)
    SUTRA_PRINTF(4, 5);

/* Reads a whole file into a NUL-terminated heap buffer. *len excludes the NUL. */
sutra_status sutra_read_file(const char *path, char **out, size_t *len, char *err, size_t errcap);

/* 1 if path names an existing regular file / directory. */
int sutra_file_exists(const char *path);
int sutra_dir_exists(const char *path);

/* Joins a directory and a relative name into buf; returns 0 if it did not fit. */
int sutra_path_join(char *buf, size_t cap, const char *dir, const char *name);

/* Overflow-checked size arithmetic: return 0 on overflow. */
static inline int sutra_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* bytes of 64-byte aligned memory (free() it), NULL on failure; the size is rounded up to a
 * multiple of 64 as aligned_alloc requires. */
void *sutra_alloc64(size_t bytes);

/* A growable array of int32 values. */
typedef struct sutra_ivec {
    int32_t *data;
    size_t n, cap;
} sutra_ivec;

int sutra_ivec_push(sutra_ivec *v, int32_t x); /* 0 on allocation failure */
int sutra_ivec_reserve(sutra_ivec *v, size_t cap);
void sutra_ivec_free(sutra_ivec *v);

#endif /* SUTRA_COMMON_H */
