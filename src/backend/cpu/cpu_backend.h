/*
 * cpu_backend.h - the CPU implementation of the backend interface (fp32 activations).
 */
#ifndef SUTRA_CPU_BACKEND_H
#define SUTRA_CPU_BACKEND_H

#include <stddef.h>

#include "backend/backend.h"

typedef struct sutra_cpu_options {
    int threads;       /* the threads of every op (> 0): the caller's and threads - 1 of the backend's pool */
    sutra_cpu_isa isa; /* the instruction set of Sutra's own kernels (AUTO: the widest the CPU has) */
    int profile;       /* 1: time every op (op_times) */
    int cpu_quota;     /* 1: the process runs under a cgroup CPU quota (its threads wait without long spins) */
} sutra_cpu_options;

/* A CPU backend. SUTRA_ERR_UNSUPPORTED when the CPU lacks the asked instruction set,
 * SUTRA_ERR_INVALID_ARGUMENT for threads < 1; the reason is in err. Each backend has its own pool
 * of threads (pool.h), so backends of different thread counts may run at once in one process. */
sutra_status sutra_cpu_backend_create(const sutra_cpu_options *opt, sutra_backend **out, char *err, size_t errcap);

/* The instruction set the backend's kernels run (resolved, never AUTO). */
sutra_cpu_isa sutra_cpu_backend_isa(const sutra_backend *be);

/* The backend's product route in words, for sutra_model_info.backend_settings. */
void sutra_cpu_backend_describe(const sutra_backend *be, char *buf, size_t cap);

#endif /* SUTRA_CPU_BACKEND_H */
