/*
 * json.h - reading fields of a model's JSON files (config.json and the sentence-transformers
 * files), each error naming the file (`what`) and the field.
 *
 * Rule: a field of the wrong type or out of range is an error, never silently defaulted; an
 * absent optional field leaves *out as it was (the caller's default).
 */
#ifndef SUTRA_JSON_H
#define SUTRA_JSON_H

#include <stddef.h>

#include "sutra.h"

struct cJSON;

/* An integer field in [lo, hi]; absent: SUTRA_ERR_MODEL unless optional. */
sutra_status sutra_json_int(const struct cJSON *obj, const char *what, const char *key, int optional, long lo,
                            long hi, int *out, char *err, size_t errcap);

/* A number field in (lo, hi] (lo excluded); absent keeps *out. */
sutra_status sutra_json_number(const struct cJSON *obj, const char *what, const char *key, double lo, double hi,
                               float *out, char *err, size_t errcap);

/* A boolean field; absent or not a boolean: dflt. */
int sutra_json_bool(const struct cJSON *obj, const char *key, int dflt);

/* A string field, or NULL when absent or not a string. */
const char *sutra_json_string(const struct cJSON *obj, const char *key);

/* A field of any type, or NULL. */
const struct cJSON *sutra_json_get(const struct cJSON *obj, const char *key);

/* Parses JSON text; the top level must be an object or array. *out is freed with sutra_json_free. */
sutra_status sutra_json_parse(const char *text, size_t len, const char *what, struct cJSON **out, char *err,
                              size_t errcap);
/* Reads and parses dir/name. */
sutra_status sutra_json_load(const char *dir, const char *name, struct cJSON **out, char *err, size_t errcap);
void sutra_json_free(struct cJSON *root);

#endif /* SUTRA_JSON_H */
