/*
 * pool.c - see pool.h. Written for this project: the shared counter, the futexes and the spin
 * budgets below are its own.
 *
 * The job. A run publishes (fn, arg, items) and then the ticket: generation g in the high 32 bits,
 * the next item in the low 32. A thread takes item i of generation g by moving the ticket from
 * (g, i) to (g, i + 1) with a compare-and-swap, having read the job after the ticket, so an item
 * is only ever taken with its own generation's job: before the job's fields are written again, the
 * ticket is set to (g + 1, CLOSED), which fails the swap of any thread still holding the old
 * ticket, and the fields are stored with release and loaded with acquire, so a thread that saw a
 * newer field would see the CLOSED ticket too. The run returns once `done` reaches `items`: a
 * thread that was descheduled before it took an item holds nothing up.
 *
 * Waiting. Workers wait for the generation word to change and the caller for `done`: both spin
 * with the pause instruction for a bounded time, SPIN_NS or IDLE_SPIN_NS (pool_budget,
 * worker_budget), then sleep on a futex. Whoever changes
 * the word wakes sleepers only when there are any (`sleepers`, `waiting`), so a forward whose
 * loops follow each other closely makes no system calls. The two sides' store-then-load (the
 * waiter announces itself, then rereads the word; the waker changes the word, then reads the
 * announcement) are sequentially consistent, so one of them always sees the other.
 *
 * The budgets, measured on the 2-core machine, all-MiniLM-L6-v2, 2 threads, 512 STS-B sentences
 * (docs/BENCHMARKS.md, the contention rows): the loops of one forward are microseconds apart and
 * a worker that sleeps between them costs a wake-up, but a thread that spins while the one it
 * waits for is descheduled burns the time slice that thread needs. Beside one busy-loop process,
 * batch 1 ran 450-490 sentences/s with SPIN_NS 0, 5 and 10 us, 380-400 with 20 us, 350 with 50
 * us and 280-320 with 200 us (OpenMP's own spinning: 190); idle, 0 us cost 14% at batch 1
 * (600 against 700) and 5-200 us were alike. Hence 10 us while cores are contended. While they
 * are not, 2 ms (IDLE_SPIN_NS), so that the next call finds the workers awake: calls 1 ms apart
 * (a server's requests) took 8% longer with 300 us, the workers asleep at each call's start
 * (waking a thread on this VM costs about 0.1 ms), and as long as back to back with 2 ms. */
#include "backend/cpu/pool.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/common.h"

#define SPIN_NS 10000
#define IDLE_SPIN_NS 2000000
#define CHECK_NS 1000000
#define CALM_NS 200000000
#define CONTENDED_PERMILLE 50
#define CLOSED 0xFFFFFFFFu

typedef struct pool_worker {
    sutra_pool *pool;
    int id;
    pthread_t tid;
    int schedstat;     /* /proc/thread-self/schedstat, or -1 */
    int64_t checked;   /* when the statistics were last read (worker_budget); 0: never */
    int64_t ran, waited; /* the thread's time running and waiting for a core then */
    int64_t slept, slept_then; /* its time asleep on the futex in all, and then */
    long preempted;    /* or its involuntary context switches, without the statistics */
} pool_worker;

struct sutra_pool {
    int threads;
    pool_worker *workers; /* threads - 1 of them */
    int started;          /* how many were started */
    uint32_t gen;         /* the caller's: the last generation published */
    _Alignas(64) _Atomic uint64_t ticket;
    _Atomic(sutra_pool_fn) fn;
    _Atomic(void *) arg;
    _Atomic int items;
    _Alignas(64) _Atomic uint32_t gen_word; /* futex: workers wait for it to change */
    _Atomic int sleepers;
    _Atomic int stop;
    _Atomic int short_spins;
    _Atomic int64_t calm_from; /* every thread of the pool spins short until then (worker_budget) */
    _Alignas(64) _Atomic uint32_t done; /* futex: the caller waits for it to reach items */
    _Atomic int waiting;
};

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    /* returns at once if *word != expected; EINTR and spurious wake-ups are the caller's loop's */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int n) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Spins until (*word == value) == until_equal or budget_ns pass; 1 if that came. */
static int spin(_Atomic uint32_t *word, uint32_t value, int until_equal, int64_t budget_ns) {
    int64_t deadline = 0;
    for (unsigned n = 0;; n++) {
        if ((atomic_load_explicit(word, memory_order_acquire) == value) == until_equal) return 1;
        cpu_relax();
        if ((n & 63) == 63) {
            const int64_t t = now_ns();
            if (!deadline) deadline = t + budget_ns;
            else if (t >= deadline) return 0;
        }
    }
}

/* Takes and runs items of generation g until there are none left. */
static void take_items(sutra_pool *p, uint32_t g, int worker) {
    for (;;) {
        uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
        if ((uint32_t)(t >> 32) != g) return;
        const sutra_pool_fn fn = atomic_load_explicit(&p->fn, memory_order_acquire);
        void *arg = atomic_load_explicit(&p->arg, memory_order_acquire);
        const int items = atomic_load_explicit(&p->items, memory_order_acquire);
        const uint32_t i = (uint32_t)t;
        if (i >= (uint32_t)items) return;
        if (!atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        fn(arg, (int)i, worker);
        if (atomic_fetch_add(&p->done, 1) + 1 == (uint32_t)items && atomic_load(&p->waiting))
            futex_wake(&p->done, 1);
    }
}

/* The spin budget of the pool's threads at time t (see worker_budget). */
static int64_t pool_budget(sutra_pool *p, int64_t t) {
    return t < atomic_load_explicit(&p->calm_from, memory_order_relaxed) ||
                   atomic_load_explicit(&p->short_spins, memory_order_relaxed)
               ? SPIN_NS
               : IDLE_SPIN_NS;
}

/* The nanoseconds this thread has run and has spent runnable but waiting for a core, from the
 * kernel's per-thread scheduler statistics; 0 where they cannot be read. */
static int sched_times(int fd, int64_t *run, int64_t *wait) {
    char buf[96];
    const ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0) return 0;
    buf[n] = '\0';
    unsigned long long r, w;
    if (sscanf(buf, "%llu %llu", &r, &w) != 2) return 0;
    *run = (int64_t)r, *wait = (int64_t)w;
    return 1;
}

/* How long a worker spins for the next run: IDLE_SPIN_NS while the machine has room (the next
 * run, for instance the next request of a server, is worth waiting for awake), SPIN_NS for
 * CALM_NS after this thread, over the time it was not asleep by its own choice, is seen waiting
 * for a core more than CONTENDED_PERMILLE of it (the OS is sharing the cores out: spinning takes
 * them from the threads being waited for) or neither running nor waiting for a tenth of it (its
 * cgroup's CPU quota is spent and the group throttled: spinning spends the quota); where the
 * kernel keeps no such statistics, after any preemption. Read at most every CHECK_NS. */
static int64_t worker_budget(pool_worker *w) {
    const int64_t t = now_ns();
    if (t - w->checked >= CHECK_NS) {
        int64_t run, wait;
        if (sched_times(w->schedstat, &run, &wait)) {
            const int64_t awake = t - w->checked - (w->slept - w->slept_then);
            if (w->checked && awake >= CHECK_NS / 2) { /* too little awake time says nothing */
                const int64_t queued = wait - w->waited, ran = run - w->ran;
                if (queued * 1000 > awake * CONTENDED_PERMILLE || (ran + queued) * 10 < awake * 9)
                    atomic_store_explicit(&w->pool->calm_from, t + CALM_NS, memory_order_relaxed);
            }
            w->ran = run, w->waited = wait, w->slept_then = w->slept;
        } else {
            struct rusage u;
            if (getrusage(RUSAGE_THREAD, &u) == 0) {
                if (w->checked && u.ru_nivcsw != w->preempted)
                    atomic_store_explicit(&w->pool->calm_from, t + CALM_NS, memory_order_relaxed);
                w->preempted = u.ru_nivcsw;
            }
        }
        w->checked = t;
    }
    return pool_budget(w->pool, t);
}

static void *worker_main(void *w_) {
    pool_worker *w = w_;
    sutra_pool *p = w->pool;
    /* OpenBLAS's OpenMP build sizes its team from the calling thread's count: one thread per call */
    omp_set_num_threads(1);
    w->schedstat = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    uint32_t seen = 0; /* the word's first value: a run or the stop made before this thread began is a change */
    for (;;) {
        if (!spin(&p->gen_word, seen, 0, worker_budget(w))) {
            const int64_t s0 = now_ns();
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen_word) == seen) futex_wait(&p->gen_word, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            w->slept += now_ns() - s0;
        }
        if (atomic_load(&p->stop)) {
            if (w->schedstat >= 0) close(w->schedstat);
            return NULL;
        }
        seen = atomic_load(&p->gen_word);
        take_items(p, seen, w->id);
    }
}

/* Moves the generation word on and wakes the workers that sleep on it. */
static void signal_workers(sutra_pool *p, uint32_t g) {
    atomic_store(&p->gen_word, g);
    if (atomic_load(&p->sleepers) > 0) futex_wake(&p->gen_word, INT_MAX);
}

sutra_status sutra_pool_create(int threads, sutra_pool **out, char *err, size_t errcap) {
    *out = NULL;
    if (threads < 1) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "cpu pool: threads must be at least 1");
    sutra_pool *p = sutra_alloc64(sizeof *p);
    if (!p) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cpu pool: out of memory");
    memset(p, 0, sizeof *p);
    p->threads = threads;
    atomic_init(&p->ticket, (uint64_t)CLOSED);
    if (threads > 1 && !(p->workers = calloc((size_t)threads - 1, sizeof *p->workers))) {
        free(p);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cpu pool: out of memory");
    }
    /* The workers take no signals: they are the caller's program's to handle, on its own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (int i = 0; i < threads - 1; i++) {
        p->workers[i] = (pool_worker){.pool = p, .id = i + 1};
        if ((rc = pthread_create(&p->workers[i].tid, NULL, worker_main, &p->workers[i])) != 0) break;
        p->started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        const int failed = p->started + 2; /* the caller is thread 1 */
        sutra_pool_destroy(p);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cpu pool: cannot start thread %d of %d: %s", failed,
                          threads, strerror(rc));
    }
    *out = p;
    return SUTRA_OK;
}

void sutra_pool_destroy(sutra_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    signal_workers(p, p->gen + 1);
    for (int i = 0; i < p->started; i++) pthread_join(p->workers[i].tid, NULL);
    free(p->workers);
    free(p);
}

int sutra_pool_threads(const sutra_pool *p) { return p->threads; }

void sutra_pool_short_spins(sutra_pool *p, int on) { atomic_store(&p->short_spins, on != 0); }

int sutra_pool_items(const sutra_pool *p, int n, int min_units) {
    if (n <= 0) return 0;
    if (min_units < 1) min_units = 1;
    int items = 4 * p->threads;
    if (items > n / min_units) items = n / min_units;
    return items < 1 ? 1 : items;
}

void sutra_pool_run(sutra_pool *p, int items, sutra_pool_fn fn, void *arg) {
    if (items <= 0) return;
    if (p->threads == 1 || items == 1) {
        for (int i = 0; i < items; i++) fn(arg, i, 0);
        return;
    }
    const uint32_t g = ++p->gen;
    atomic_store(&p->ticket, (uint64_t)g << 32 | CLOSED); /* any older ticket a worker holds now fails */
    atomic_store_explicit(&p->fn, fn, memory_order_release);
    atomic_store_explicit(&p->arg, arg, memory_order_release);
    atomic_store_explicit(&p->items, items, memory_order_release);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->ticket, (uint64_t)g << 32, memory_order_release);
    signal_workers(p, g);
    take_items(p, g, 0);
    if (spin(&p->done, (uint32_t)items, 1, pool_budget(p, now_ns()))) return;
    atomic_store(&p->waiting, 1);
    for (uint32_t d; (d = atomic_load(&p->done)) != (uint32_t)items;) futex_wait(&p->done, d);
    atomic_store(&p->waiting, 0);
}

void sutra_pool_run_blas(sutra_pool *p, int items, sutra_pool_fn fn, void *arg) {
    const int saved = omp_get_max_threads();
    if (saved != 1) omp_set_num_threads(1);
    sutra_pool_run(p, items, fn, arg);
    if (saved != 1) omp_set_num_threads(saved);
}
