/*
 * testutil.h - what every test program shares: locating fixtures and the default model, a
 * failure counter, and a closing line. A test returns tu_finish(): non-zero if anything failed.
 */
#ifndef SUTRA_TESTUTIL_H
#define SUTRA_TESTUTIL_H

#include <stddef.h>

extern int tu_failures;
extern int tu_checks;

/* Records one check; prints the message (printf-style) when cond is false. */
void tu_check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define TU_CHECK(cond, ...) tu_check(!!(cond), __VA_ARGS__)

/* $SUTRA_SOURCE_DIR/rel into a static buffer. */
const char *tu_source_path(const char *rel);
/* $SUTRA_SHARED_DIR/rel. */
const char *tu_shared_path(const char *rel);
/* The default model's directory ($SUTRA_MODELS_DIR/all-MiniLM-L6-v2). */
const char *tu_default_model(void);
/* Reads a whole file (NUL-terminated, caller frees); NULL and a failure if it cannot. */
char *tu_read_file(const char *path, size_t *len);
/* Copies a file whole; 0, or -1 (and a failure recorded when `from` cannot be read). */
int tu_copy_file(const char *from, const char *to);
/* Cosine similarity in double; 1 for two zero vectors, 0 for one. */
double tu_cosine(const float *a, const float *b, int n);
/* Parses the STS Benchmark CSV text (header sentence1,sentence2,score; RFC 4180 quoting) into
 * heap arrays; returns the number of pairs. Strings and arrays are the caller's to free. */
int tu_parse_sts(const char *csv, char ***s1, char ***s2, double **score);
/* Prints "name: N passed, M failed" and returns the exit code. */
int tu_finish(const char *name);

#endif
