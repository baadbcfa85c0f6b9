/*
 * cpu_isa.h - the CPU's vector instruction sets: detected here and nowhere else, chosen per
 * backend (sutra_config.cpu_isa), and passed to every kernel that dispatches on them.
 *
 * Rule: no kernel asks the CPU or the environment itself; it takes the resolved set as an
 * argument, so two backends of one process may run different sets.
 */
#ifndef SUTRA_CPU_ISA_H
#define SUTRA_CPU_ISA_H

#include <stddef.h>

#include "sutra.h"

/* The widest set this CPU runs (never AUTO). The sets are nested: every AVX-512F CPU shipped
 * also has AVX2 and FMA. */
sutra_cpu_isa sutra_cpu_isa_best(void);

/* want, or the best set for AUTO. SUTRA_ERR_UNSUPPORTED when the CPU lacks want,
 * SUTRA_ERR_INVALID_ARGUMENT for a value outside the enum. */
sutra_status sutra_cpu_isa_resolve(sutra_cpu_isa want, sutra_cpu_isa *out);

/* "avx512", "avx2", "scalar" ("auto" for AUTO). Static strings. */
const char *sutra_cpu_isa_name(sutra_cpu_isa isa);

/* The CPU features the kernels care about, space-separated ("avx512f avx512bw avx2 fma"), into
 * buf (cap bytes, NUL-terminated, truncated if short). */
void sutra_cpu_features_string(char *buf, size_t cap);

#endif /* SUTRA_CPU_ISA_H */
