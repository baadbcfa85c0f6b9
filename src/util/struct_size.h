/*
 * struct_size.h - reading and writing the public structs that grow (sutra.h, "structs that
 * grow"): a caller compiled against another version of sutra.h has a smaller or larger struct
 * than the library's, and only the bytes both know are exchanged.
 *
 * Rules for whoever adds a field to one of these structs:
 *  - Add it at the end, beyond the struct's previous sizeof (pad explicitly if the compiler would
 *    place it in the old tail padding), so that an older caller's struct_size never covers part
 *    of it.
 *  - Its default is 0: a caller compiled against the newer header may set struct_size by hand
 *    with everything else 0, and an older library takes a larger struct only if the bytes it
 *    does not know are 0.
 *  - The first version's size (the *_V1_SIZE below) never changes: it is the smallest
 *    struct_size any caller can have.
 */
#ifndef SUTRA_STRUCT_SIZE_H
#define SUTRA_STRUCT_SIZE_H

#include <stddef.h>

#include "sutra.h"

/* The size of a version of struct T that ends with member m. */
#define SUTRA_SIZE_THROUGH(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

/* The first version of each struct that grows (0.3.0). */
#define SUTRA_CONFIG_V1_SIZE SUTRA_SIZE_THROUGH(sutra_config, profile)
#define SUTRA_WINDOW_V1_SIZE SUTRA_SIZE_THROUGH(sutra_window, aggregate)
#define SUTRA_TOKENIZE_OPTIONS_V1_SIZE SUTRA_SIZE_THROUGH(sutra_tokenize_options, prompt)
#define SUTRA_OUTPUTS_V1_SIZE SUTRA_SIZE_THROUGH(sutra_outputs, mv_rows)
#define SUTRA_MODEL_INFO_V1_SIZE SUTRA_SIZE_THROUGH(sutra_model_info, score_activation)
#define SUTRA_STATS_V1_SIZE SUTRA_SIZE_THROUGH(sutra_stats, last_batch_max_len)

/* Reads the caller's struct (its first member a size_t struct_size) into own (own_size bytes,
 * the library's sizeof, holding the defaults beforehand): the caller's first min(struct_size,
 * own_size) bytes replace own's, and own's struct_size becomes own_size. A struct_size below
 * min_size is SUTRA_ERR_INVALID_ARGUMENT; a larger struct than own_size with a byte beyond it
 * set is SUTRA_ERR_UNSUPPORTED (a field this library does not know). The message names the
 * struct (name, e.g. "sutra_config") and is written into err. */
sutra_status sutra_struct_read(void *own, size_t own_size, const void *caller, size_t min_size, const char *name,
                               char *err, size_t errcap);

/* Writes own (own_size bytes) into the caller's struct of caller_size bytes: the bytes both
 * have are copied, the caller's beyond own_size set to 0. */
void sutra_struct_write(void *caller, size_t caller_size, const void *own, size_t own_size);

#endif /* SUTRA_STRUCT_SIZE_H */
