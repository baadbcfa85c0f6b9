/*
 * test_pool.c - the CPU backend's thread pool (src/backend/cpu/pool.c): every item of every run
 * runs exactly once and before the run returns; worker indices are in range and never shared by
 * two items running at once; pools of 1-5 threads on this 2-core machine (so that threads are
 * descheduled mid-run); items of very different lengths, some sleeping (a thread set aside by the
 * OS); runs back to back with no pause and after pauses long enough for the workers to sleep; a
 * pool destroyed at once after create (its threads may not have started) and after one run; two
 * pools driven from two threads at once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/pool.h"
#include "testutil.h"

typedef struct job {
    int items, threads, sleepy;
    _Atomic int *count;  /* per item: how many times it ran */
    _Atomic int *busy;   /* per worker: items running now */
    _Atomic int bad;     /* a worker index out of range, or shared */
    unsigned seed;
} job;

static void item_fn(void *arg, int item, int worker) {
    job *j = arg;
    if (worker < 0 || worker >= j->threads || item < 0 || item >= j->items) {
        atomic_store(&j->bad, 1);
        return;
    }
    if (atomic_fetch_add(&j->busy[worker], 1) != 0) atomic_store(&j->bad, 2);
    /* uneven work: most items spin briefly, some longer, with sleepy set some sleep */
    unsigned h = (unsigned)item * 2654435761u ^ j->seed;
    volatile double x = 0;
    for (unsigned i = 0, n = (h % 7 == 0) ? 20000 : 200; i < n; i++) x += i * 0.5;
    if (j->sleepy && h % 13 == 0) nanosleep(&(struct timespec){0, 200000}, NULL);
    atomic_fetch_add(&j->count[item], 1);
    atomic_fetch_sub(&j->busy[worker], 1);
}

static int run_checked(sutra_pool *pool, int items, int sleepy, unsigned seed) {
    const int threads = sutra_pool_threads(pool);
    job j = {items, threads, sleepy, calloc((size_t)(items > 0 ? items : 1), sizeof(_Atomic int)),
             calloc((size_t)threads, sizeof(_Atomic int)), 0, seed};
    sutra_pool_run(pool, items, item_fn, &j);
    int ok = atomic_load(&j.bad) == 0;
    for (int i = 0; i < items; i++) ok &= atomic_load(&j.count[i]) == 1;
    free((void *)j.count);
    free((void *)j.busy);
    return ok;
}

typedef struct driver {
    int threads, runs, failures;
} driver;

static void *drive(void *arg) {
    driver *d = arg;
    sutra_pool *pool;
    char err[256];
    if (sutra_pool_create(d->threads, &pool, err, sizeof err)) {
        d->failures = -1;
        return NULL;
    }
    for (int r = 0; r < d->runs; r++) d->failures += !run_checked(pool, 1 + r % 37, r % 5 == 0, (unsigned)r);
    sutra_pool_destroy(pool);
    return NULL;
}

int main(void) {
    char err[256];
    sutra_pool *pool = NULL;
    TU_CHECK(sutra_pool_create(0, &pool, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT && !pool && err[0],
             "a pool of 0 threads made");
    for (int threads = 1; threads <= 5; threads++) {
        /* destroyed at once: the workers may not have started yet */
        for (int i = 0; i < 20; i++) {
            TU_CHECK(sutra_pool_create(threads, &pool, err, sizeof err) == SUTRA_OK, "create %d: %s", threads, err);
            sutra_pool_destroy(pool);
        }
        TU_CHECK(sutra_pool_create(threads, &pool, err, sizeof err) == SUTRA_OK, "create %d: %s", threads, err);
        TU_CHECK(sutra_pool_threads(pool) == threads, "threads %d", sutra_pool_threads(pool));
        int failures = 0, runs = 0;
        sutra_pool_run(pool, 0, item_fn, NULL); /* nothing to do: fn never called */
        for (int r = 0; r < 3000; r++, runs++) failures += !run_checked(pool, 1 + (r * 7) % 97, r % 11 == 0, (unsigned)r);
        for (int r = 0; r < 20; r++, runs++) { /* after pauses: workers asleep on the futex */
            nanosleep(&(struct timespec){0, 2000000}, NULL);
            failures += !run_checked(pool, 1 + r, 0, (unsigned)r);
        }
        printf("%d thread(s): %d runs, %d wrong\n", threads, runs, failures);
        TU_CHECK(failures == 0, "%d thread(s): %d of %d runs wrong", threads, failures, runs);
        sutra_pool_destroy(pool);
    }
    /* two pools, each driven by its own thread, at once */
    driver d[2] = {{2, 2000, 0}, {3, 2000, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, drive, &d[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    TU_CHECK(d[0].failures == 0 && d[1].failures == 0, "two pools at once: %d and %d runs wrong", d[0].failures,
             d[1].failures);
    sutra_pool_destroy(NULL);
    return tu_finish("test_pool");
}
