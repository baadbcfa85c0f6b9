/*
 * cuda_common.h - what every CUDA-backend entry point shares: the activation dtype tag and the
 * backend's last-error message.
 *
 * Rules: plain C (callable from the C11 library), no CUDA headers, so streams travel as void*
 * (a cudaStream_t; NULL is the legacy default stream). Entry points never print and never exit:
 * they return a sutra_status and leave a message readable with sutra_cuda_last_error().
 */
#ifndef SUTRA_CUDA_COMMON_H
#define SUTRA_CUDA_COMMON_H

#include "sutra.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element type of activations on the GPU. New values go at the end. */
typedef enum sutra_cuda_dtype {
    SUTRA_CUDA_DTYPE_F16 = 0,  /* IEEE half */
    SUTRA_CUDA_DTYPE_BF16 = 1, /* bfloat16 */
} sutra_cuda_dtype;

/* The message of the last failing CUDA-backend call on this thread ("" if none). The string is
 * thread-local static storage, valid until the next failing call on the same thread. */
const char *sutra_cuda_last_error(void);

/* Internal: records a printf-style message as this thread's last error and returns status, so a
 * failure reads `return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "...", ...)`. */
sutra_status sutra_cuda_fail(sutra_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* SUTRA_CUDA_COMMON_H */
