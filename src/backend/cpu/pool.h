/*
 * pool.h - the CPU backend's threads: one pool per backend, made at create, for every parallel
 * loop of a forward (products, attention, the token-wise ops).
 *
 * sutra_pool_run(pool, items, fn, arg) calls fn(arg, item, worker) once for every item in
 * [0, items), spread over the pool's threads, and returns when all have returned. The calling
 * thread takes part as worker 0; the pool's own threads are workers 1 .. threads - 1. Items are
 * taken one at a time from a shared counter, so a thread the OS has set aside for a while holds
 * up at most the one item it is running: the others take the rest. A thread waits by spinning
 * for a short while (the next loop of a forward usually comes within microseconds) and then
 * sleeps on a futex, so that on a machine whose cores are busy with other work a waiting thread
 * gives its core to the thread it waits for instead of burning its time slice.
 *
 * `worker` is in [0, threads): no two calls running at once have the same one, so per-thread
 * workspaces are indexed by it. A pool runs one sutra_pool_run at a time, from one thread at a
 * time (its backend's caller); fn must not call sutra_pool_run of the same pool.
 */
#ifndef SUTRA_CPU_POOL_H
#define SUTRA_CPU_POOL_H

#include <stddef.h>

#include "sutra.h"

typedef struct sutra_pool sutra_pool;
typedef void (*sutra_pool_fn)(void *arg, int item, int worker);

/* A pool of `threads` (>= 1) threads in all, the caller's included: threads - 1 are started. */
sutra_status sutra_pool_create(int threads, sutra_pool **out, char *err, size_t errcap);
void sutra_pool_destroy(sutra_pool *pool);
int sutra_pool_threads(const sutra_pool *pool);

/* on = 1: the workers never spin long for the next run (SPIN_NS, not IDLE_SPIN_NS: pool.c), for a
 * process under a CPU quota, where spinning spends the quota the working threads need. */
void sutra_pool_short_spins(sutra_pool *pool, int on);
void sutra_pool_run(sutra_pool *pool, int items, sutra_pool_fn fn, void *arg);

/* sutra_pool_run for items that call OpenBLAS. OpenBLAS's OpenMP build sizes its own team from
 * the calling thread's OpenMP thread count: the workers set theirs to 1 when they start, and the
 * caller's is set to 1 for the run and then given back, so that the calling program's setting is
 * untouched. (A pthreads build is made single-threaded by the backend at create.) */
void sutra_pool_run_blas(sutra_pool *pool, int items, sutra_pool_fn fn, void *arg);

/* How many items to cut n units of work into: about 4 per thread, so that a thread that falls
 * behind leaves work for the others, and at least min_units units per item (a whole number of
 * units each, the last item's the remainder: see sutra_pool_range). */
int sutra_pool_items(const sutra_pool *pool, int n, int min_units);

/* Units [*lo, *hi) of item i of `items` over n units. */
static inline void sutra_pool_range(int n, int items, int i, int *lo, int *hi) {
    *lo = (int)((long long)n * i / items);
    *hi = (int)((long long)n * (i + 1) / items);
}

#endif
