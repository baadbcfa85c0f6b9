/*
 * optimes.h - a table of time per kind of op, for backends that profile (sutra_config.profile):
 * each op adds its time under its name (the op and its shape); the table lists them longest
 * first. Host memory, fixed size, no allocation.
 */
#ifndef SUTRA_OPTIMES_H
#define SUTRA_OPTIMES_H

#include <stddef.h>

#include "sutra.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SUTRA_OPTIMES_KINDS 64 /* distinct names kept; later ones are dropped */

typedef struct sutra_optimes {
    sutra_op_time row[SUTRA_OPTIMES_KINDS];
    int n;
} sutra_optimes;

/* The row of name (cut to fit), added if new; -1 when the table is full. */
int sutra_optimes_slot(sutra_optimes *t, const char *name);

/* Adds one call of ms to row k (from sutra_optimes_slot; -1 is ignored). */
void sutra_optimes_add(sutra_optimes *t, int k, double ms);

/* Up to cap rows into out, longest total first; returns how many rows there are. */
size_t sutra_optimes_export(const sutra_optimes *t, sutra_op_time *out, size_t cap);

void sutra_optimes_reset(sutra_optimes *t);

#ifdef __cplusplus
}
#endif

#endif /* SUTRA_OPTIMES_H */
