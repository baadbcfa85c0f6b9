/*
 * optimes.c - see optimes.h.
 */
#include "backend/optimes.h"

#include <stdio.h>
#include <string.h>

int sutra_optimes_slot(sutra_optimes *t, const char *name) {
    char key[sizeof t->row[0].name];
    snprintf(key, sizeof key, "%s", name);
    for (int k = 0; k < t->n; k++)
        if (!strcmp(t->row[k].name, key)) return k;
    if (t->n == SUTRA_OPTIMES_KINDS) return -1;
    memset(&t->row[t->n], 0, sizeof t->row[0]);
    memcpy(t->row[t->n].name, key, sizeof key);
    return t->n++;
}

void sutra_optimes_add(sutra_optimes *t, int k, double ms) {
    if (k < 0 || k >= t->n) return;
    t->row[k].calls++;
    t->row[k].ms += ms;
}

size_t sutra_optimes_export(const sutra_optimes *t, sutra_op_time *out, size_t cap) {
    int order[SUTRA_OPTIMES_KINDS];
    for (int k = 0; k < t->n; k++) order[k] = k;
    for (int i = 1; i < t->n; i++) /* insertion sort, largest total first */
        for (int j = i; j > 0 && t->row[order[j]].ms > t->row[order[j - 1]].ms; j--) {
            const int x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    for (int i = 0; i < t->n && (size_t)i < cap; i++) out[i] = t->row[order[i]];
    return (size_t)t->n;
}

void sutra_optimes_reset(sutra_optimes *t) { t->n = 0; }
