/*
 * cuda_profile.cu - the CUDA backend's op timer (cuda_ctx.h op_timer; sutra_config.profile): an
 * event after every op, the spans between them added per op name into a sutra_optimes table that
 * op_times() hands out. Nothing is printed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/cuda/cuda_ctx.h"

namespace sutra_cudabe {

sutra_status timer_create(cuda_ctx *c) {
    op_timer *t = (op_timer *)calloc(1, sizeof *t);
    if (!t) return fail(c, SUTRA_ERR_OUT_OF_MEMORY, "op timer: out of host memory");
    for (int i = 0; i <= OP_MARKS; i++)
        if (cudaEventCreate(&t->ev[i]) != cudaSuccess) {
            const cudaError_t e = cudaGetLastError();
            while (i-- > 0) cudaEventDestroy(t->ev[i]);
            free(t);
            return cuda_fail(c, e, "op timer events");
        }
    c->timer = t;
    return SUTRA_OK;
}

void timer_destroy(cuda_ctx *c) {
    if (!c->timer) return;
    for (int i = 0; i <= OP_MARKS; i++) cudaEventDestroy(c->timer->ev[i]);
    free(c->timer);
    c->timer = nullptr;
}

/* Adds the spans between the recorded events to their ops (synchronises). */
static void timer_flush(cuda_ctx *c) {
    op_timer *t = c->timer;
    if (!t || t->nmarks == 0) return;
    if (cudaEventSynchronize(t->ev[t->nmarks]) == cudaSuccess)
        for (int i = 1; i <= t->nmarks; i++) {
            float ms = 0.f;
            if (cudaEventElapsedTime(&ms, t->ev[i - 1], t->ev[i]) == cudaSuccess)
                sutra_optimes_add(&t->table, t->which[i], ms);
        }
    cudaGetLastError();
    t->nmarks = 0;
}

void timer_start(cuda_ctx *c) {
    if (!c->timer) return;
    timer_flush(c);
    if (cudaEventRecord(c->timer->ev[0], c->stream) != cudaSuccess) cudaGetLastError();
}

void timer_mark(cuda_ctx *c, const char *fmt, ...) {
    op_timer *t = c->timer;
    if (!t || c->st != SUTRA_OK) return;
    char name[sizeof t->table.row[0].name];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    t->nmarks++;
    t->which[t->nmarks] = sutra_optimes_slot(&t->table, name); /* -1 (table full): the span is dropped */
    if (cudaEventRecord(t->ev[t->nmarks], c->stream) != cudaSuccess) {
        cudaGetLastError();
        t->nmarks--;
    }
    if (t->nmarks == OP_MARKS) timer_start(c); /* full: add them up, go on from here (nothing ran since) */
}

size_t timer_times(sutra_backend *be, sutra_op_time *out, size_t cap, int reset) {
    cuda_ctx *c = ctx_of(be);
    if (!c->timer) return 0;
    cudaSetDevice(c->device);
    timer_flush(c);
    const size_t n = sutra_optimes_export(&c->timer->table, out, cap);
    if (reset) sutra_optimes_reset(&c->timer->table);
    return n;
}

} // namespace sutra_cudabe
