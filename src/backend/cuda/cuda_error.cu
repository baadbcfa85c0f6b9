/*
 * cuda_error.cu - the CUDA backend's per-thread last-error message (see cuda_common.h).
 *
 * Rule: a fixed thread-local buffer, so recording an error never allocates and never fails.
 */
#include <stdarg.h>
#include <stdio.h>

#include "backend/cuda/cuda_common.h"

static thread_local char g_last_error[512];

extern "C" const char *sutra_cuda_last_error(void) { return g_last_error; }

extern "C" sutra_status sutra_cuda_fail(sutra_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    return status;
}
