/*
 * scheduler.c - see scheduler.h.
 */
#include "scheduler.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* A round's share of one job: its sequences [begin, end). */
typedef struct piece {
    srv_job *job;
    size_t begin, end;
} piece;

struct srv_sched {
    sutra_embedder *emb;
    size_t hidden;
    size_t max_tokens, max_queued;
    long max_wait_us;
    srv_metrics *metrics;
    int mv_dim;             /* the model's multi-vector width */
    size_t sparse_per_text; /* most sparse entries a text has: vocab_size for SPLADE, 0: one a token */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    srv_job *head, *tail;
    size_t queued_inputs, queued_tokens;
    int stopping, started;
    int running; /* a round is being run */
    piece *pieces; /* the round's, reused */
    size_t pieces_cap;
};

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Puts j at the back of the queue (under the lock). */
static void enqueue(srv_sched *s, srv_job *j) {
    j->next = NULL;
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
}

srv_submit srv_sched_submit(srv_sched *s, srv_job *job) {
    pthread_mutex_lock(&s->mu);
    srv_submit r = SRV_SUBMIT_OK;
    if (s->stopping) r = SRV_SUBMIT_STOPPING;
    else if (s->queued_inputs && s->queued_inputs + job->n > s->max_queued) r = SRV_SUBMIT_OVERLOADED;
    if (r == SRV_SUBMIT_OK) {
        job->t_queued = srv_now();
        job->next_seq = job->done_seq = 0;
        job->dropped = 0;
        job->status = SUTRA_OK;
        enqueue(s, job);
        s->queued_inputs += job->n;
        s->queued_tokens += job->tokens;
        srv_metrics_queue(s->metrics, (int64_t)job->n); /* under the lock: the gauge moves with the queue */
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

void srv_job_free_results(srv_job *job) {
    free(job->offsets);
    free(job->sparse_ids);
    free(job->values);
    job->offsets = NULL;
    job->sparse_ids = NULL;
    job->values = NULL;
}

/* One round's library call over n sequences of jobs of one kind. */
static sutra_status run_round(srv_sched *s, srv_job_kind kind, size_t n, const int32_t **ids, const int32_t **types,
                              size_t *lens, float *out, sutra_outputs *o) {
    switch (kind) {
    case SRV_JOB_EMBED: return sutra_embed_tokens(s->emb, ids, lens, n, 1, out, n * s->hidden);
    case SRV_JOB_RERANK:
    case SRV_JOB_RERANK_RAW:
        return sutra_rerank_tokens(s->emb, ids, types, lens, n, kind == SRV_JOB_RERANK_RAW, out, n);
    case SRV_JOB_SPARSE:
    case SRV_JOB_MULTIVECTOR: break;
    }
    return sutra_embed_outputs_tokens(s->emb, ids, lens, n, o);
}

/* Hands job j its rows [row, row + j->n) of a sparse / multi-vector round's outputs. */
static sutra_status take_outputs(srv_sched *s, srv_job *j, const sutra_outputs *o, size_t row) {
    const int sparse = j->kind == SRV_JOB_SPARSE;
    const size_t *off = sparse ? o->sparse_offsets : o->mv_offsets, base = off[row], count = off[row + j->n] - base;
    const size_t width = sparse ? 1 : (size_t)s->mv_dim;
    j->offsets = malloc((j->n + 1) * sizeof *j->offsets);
    j->values = malloc((count ? count * width : 1) * sizeof *j->values);
    j->sparse_ids = sparse ? malloc((count ? count : 1) * sizeof *j->sparse_ids) : NULL;
    if (!j->offsets || !j->values || (sparse && !j->sparse_ids)) {
        srv_job_free_results(j);
        return SUTRA_ERR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i <= j->n; i++) j->offsets[i] = off[row + i] - base;
    memcpy(j->values, (sparse ? o->sparse_weights : o->mv) + base * width, count * width * sizeof *j->values);
    if (sparse) memcpy(j->sparse_ids, o->sparse_ids + base, count * sizeof *j->sparse_ids);
    return SUTRA_OK;
}

static int splittable(srv_job_kind k) { return k == SRV_JOB_EMBED || k == SRV_JOB_RERANK || k == SRV_JOB_RERANK_RAW; }

static size_t seq_tokens(const srv_job *j, size_t a, size_t b) {
    size_t t = 0;
    for (size_t i = a; i < b; i++) t += j->n_ids[i];
    return t;
}

/* 1 if the client of j has closed its connection (end of stream, or an error on it). A request
 * pipelined behind j is data, not an end, and keeps it. */
static int client_gone(const srv_job *j) {
    if (j->fd < 0) return 0;
    struct pollfd p = {.fd = j->fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL | POLLRDHUP)) return 1;
    char c;
    return (p.revents & POLLIN) && recv(j->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Removes j from the queue (under the lock). */
static void unlink_job(srv_sched *s, srv_job *j) {
    srv_job *prev = NULL;
    for (srv_job *q = s->head; q && q != j; q = q->next) prev = q;
    if (prev) prev->next = j->next;
    else if (s->head == j) s->head = j->next;
    else return; /* not queued */
    if (s->tail == j) s->tail = prev;
    j->next = NULL;
}

/* Takes j's sequences not yet handed out off the queue's counts (under the lock). */
static void unqueue_rest(srv_sched *s, srv_job *j) {
    const size_t inputs = j->n - j->next_seq, tokens = seq_tokens(j, j->next_seq, j->n);
    s->queued_inputs -= inputs;
    s->queued_tokens -= tokens;
    srv_metrics_queue(s->metrics, -(int64_t)inputs);
    j->next_seq = j->n;
}

/* One library call over pieces [0, np) (one kind); each piece's results into its job. */
static sutra_status run_pieces(srv_sched *s, const piece *pc, size_t np, char *msg, size_t msgcap) {
    size_t n = 0, tokens = 0;
    for (size_t p = 0; p < np; p++) n += pc[p].end - pc[p].begin, tokens += seq_tokens(pc[p].job, pc[p].begin, pc[p].end);
    const srv_job_kind kind = pc[0].job->kind;
    const int outputs = !splittable(kind);
    const size_t width = kind == SRV_JOB_EMBED ? s->hidden : 1;
    const int32_t **ids = malloc(n * sizeof *ids), **types = calloc(n, sizeof *types);
    size_t *lens = malloc(n * sizeof *lens);
    float *out = outputs ? NULL : malloc(n * width * sizeof *out);
    double *waits = malloc(np * sizeof *waits);
    /* a round's outputs: at most vocab_size entries a text (SPLADE), one a token (bge-m3), one row a token */
    sutra_outputs o;
    sutra_outputs_init(&o);
    if (outputs) {
        o.sparse_cap = kind == SRV_JOB_SPARSE ? (s->sparse_per_text ? n * s->sparse_per_text : tokens) : 0;
        o.mv_cap = kind == SRV_JOB_MULTIVECTOR ? tokens * (size_t)s->mv_dim : 0;
        o.sparse_offsets = kind == SRV_JOB_SPARSE ? malloc((n + 1) * sizeof(size_t)) : NULL;
        o.sparse_ids = kind == SRV_JOB_SPARSE ? malloc((o.sparse_cap ? o.sparse_cap : 1) * sizeof(int32_t)) : NULL;
        o.sparse_weights = kind == SRV_JOB_SPARSE ? malloc((o.sparse_cap ? o.sparse_cap : 1) * sizeof(float)) : NULL;
        o.mv_offsets = kind == SRV_JOB_MULTIVECTOR ? malloc((n + 1) * sizeof(size_t)) : NULL;
        o.mv = kind == SRV_JOB_MULTIVECTOR ? malloc((o.mv_cap ? o.mv_cap : 1) * sizeof(float)) : NULL;
    }
    const int have = ids && types && lens && waits && (outputs ? (kind == SRV_JOB_SPARSE
                                                                      ? o.sparse_offsets && o.sparse_ids && o.sparse_weights
                                                                      : o.mv_offsets && o.mv)
                                                               : out != NULL);
    sutra_status st = SUTRA_ERR_OUT_OF_MEMORY;
    snprintf(msg, msgcap, "out of memory");
    sutra_stats before, after;
    sutra_embedder_stats(s->emb, &before);
    if (have) {
        size_t k = 0;
        const double t = srv_now();
        for (size_t p = 0; p < np; p++) {
            const srv_job *j = pc[p].job;
            for (size_t i = pc[p].begin; i < pc[p].end; i++, k++)
                ids[k] = j->ids[i], lens[k] = j->n_ids[i], types[k] = j->types ? j->types[i] : NULL;
            waits[p] = t - j->t_queued;
        }
        st = run_round(s, kind, n, ids, types, lens, out, &o);
        if (st) snprintf(msg, msgcap, "%s", sutra_embedder_last_error(s->emb));
    }
    sutra_embedder_stats(s->emb, &after);
    if (st == SUTRA_OK)
        srv_metrics_round(s->metrics, n, tokens, waits, (int)np, after.batches_standard - before.batches_standard,
                          after.batches_flash - before.batches_flash);
    size_t row = 0;
    for (size_t p = 0; !st && p < np; p++) {
        srv_job *j = pc[p].job;
        if (outputs) {
            if ((st = take_outputs(s, j, &o, row))) snprintf(msg, msgcap, "out of memory");
        } else {
            memcpy(j->out + pc[p].begin * width, out + row * width, (pc[p].end - pc[p].begin) * width * sizeof *out);
        }
        row += pc[p].end - pc[p].begin;
    }
    free(ids);
    free(types);
    free(lens);
    free(waits);
    free(out);
    free(o.sparse_offsets), free(o.sparse_ids), free(o.sparse_weights), free(o.mv_offsets), free(o.mv);
    return st;
}

/* Picks the next round's pieces (under the lock) into s->pieces, all of the first queued job's
 * kind, in two passes over the queue (a rotating one: new jobs join at the back, and so does a job
 * after each round that took part of it): first each job in turn gets up to a quantum of the
 * budget (an eighth; at least one sequence while the budget allows), then what is left of the
 * budget goes to the jobs in turn. So a short request waits about a round whatever is queued, the
 * pieces of large ones take turns with everyone else's, and none waits longer than one pass of the
 * queue at a quantum a job, however many new requests arrive. Sparse and multi-vector jobs go
 * whole (one larger than the budget alone). Returns the number of pieces (one per job). */
static size_t pick_round(srv_sched *s) {
    size_t nj = 0; /* at most one piece a job */
    for (srv_job *j = s->head; j; j = j->next, nj++) j->piece = SIZE_MAX;
    if (nj > s->pieces_cap) {
        piece *grown = realloc(s->pieces, nj * sizeof *grown);
        if (!grown) return 0;
        s->pieces = grown, s->pieces_cap = nj;
    }
    size_t np = 0, budget = s->max_tokens;
    const size_t quantum = s->max_tokens / 8 ? s->max_tokens / 8 : 1;
    const srv_job_kind kind = s->head->kind;
    /* the queue stays as it is during both passes: the jobs served move once both are done */
    for (int pass = 0; pass < 2 && budget; pass++)
        for (srv_job *j = s->head; j && budget; j = j->next) {
            if (j->kind != kind || j->next_seq >= j->n) continue;
            size_t b = j->next_seq, e = b, t = 0;
            if (splittable(kind)) {
                const size_t cap = pass == 0 && quantum < budget ? quantum : budget;
                while (e < j->n && ((e == b && j->n_ids[e] <= budget) || t + j->n_ids[e] <= cap)) t += j->n_ids[e++];
            } else if (pass == 0 && (np == 0 || j->tokens <= budget)) {
                e = j->n;
                t = seq_tokens(j, b, e);
            }
            if (e == b) continue; /* nothing of it fits: perhaps a smaller one behind it does */
            if (j->piece == SIZE_MAX) {
                j->piece = np;
                s->pieces[np++] = (piece){.job = j, .begin = b, .end = e};
            } else {
                s->pieces[j->piece].end = e; /* the second pass goes on where the first stopped */
            }
            j->next_seq = e;
            s->queued_inputs -= e - b;
            s->queued_tokens -= t;
            srv_metrics_queue(s->metrics, -(int64_t)(e - b));
            budget = t >= budget ? 0 : budget - t;
        }
    for (size_t k = 0; k < np; k++) { /* the jobs served go to the back; those finished leave */
        srv_job *j = s->pieces[k].job;
        unlink_job(s, j);
        if (j->next_seq < j->n) enqueue(s, j);
    }
    return np;
}

/* Drops the queued jobs whose clients have gone (under the lock), into the list *gone. */
static void drop_departed(srv_sched *s, srv_job **gone) {
    for (srv_job *j = s->head, *next; j; j = next) {
        next = j->next;
        if (!client_gone(j)) continue;
        unqueue_rest(s, j);
        unlink_job(s, j);
        j->dropped = 1;
        j->next = *gone;
        *gone = j;
    }
}

static void *sched_main(void *arg) {
    srv_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->head) break; /* stopping and drained */
        /* Give a round that is not full until max_wait after its first job arrived. */
        double deadline = s->head->t_queued + s->max_wait_us * 1e-6;
        while (!s->stopping && s->queued_tokens < s->max_tokens) {
            double now = srv_now();
            if (now >= deadline) break;
            struct timespec ts; /* the condition variable's clock is the monotonic one (srv_sched_start) */
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double wake = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + (deadline - now);
            ts.tv_sec = (time_t)wake;
            ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
            if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT) break;
        }
        srv_job *gone = NULL;
        drop_departed(s, &gone);
        const size_t np = s->head ? pick_round(s) : 0;
        s->running = 1;
        pthread_mutex_unlock(&s->mu);
        size_t dropped = 0;
        for (srv_job *j = gone, *next; j; j = next) {
            next = j->next;
            j->status = SUTRA_ERR_INVALID_ARGUMENT;
            snprintf(j->error, sizeof j->error, "the client closed its connection");
            j->done(j);
            dropped++;
        }
        if (dropped) srv_metrics_dropped(s->metrics, dropped);
        /* one call for the round; if it fails, each piece alone, so that only a failing job fails */
        char msg[512];
        sutra_status st = np ? run_pieces(s, s->pieces, np, msg, sizeof msg) : SUTRA_OK;
        for (size_t p = 0; p < np; p++) {
            srv_job *j = s->pieces[p].job;
            sutra_status ps = st;
            char pmsg[512];
            snprintf(pmsg, sizeof pmsg, "%s", msg);
            if (st && np > 1) ps = run_pieces(s, &s->pieces[p], 1, pmsg, sizeof pmsg);
            pthread_mutex_lock(&s->mu);
            int finished;
            if (ps) {
                if (!j->status) {
                    j->status = ps;
                    snprintf(j->error, sizeof j->error, "%s: %.440s", sutra_status_str(ps), pmsg);
                }
                if (j->next_seq < j->n) { /* its other sequences are not run */
                    unqueue_rest(s, j);
                    unlink_job(s, j);
                }
            } else {
                j->done_seq += s->pieces[p].end - s->pieces[p].begin;
            }
            finished = j->next_seq == j->n && (j->status || j->done_seq == j->n);
            /* a failed job still in flight elsewhere cannot be: a job has one piece a round */
            pthread_mutex_unlock(&s->mu);
            if (finished) j->done(j);
        }
        pthread_mutex_lock(&s->mu);
        s->running = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int srv_sched_start(srv_sched **out, sutra_embedder *emb, size_t max_batch_tokens, long max_wait_us,
                    size_t max_queued_inputs, srv_metrics *metrics) {
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) return -1;
    sutra_model_info info;
    sutra_embedder_info(emb, &info);
    s->emb = emb;
    s->hidden = (size_t)info.vector_size;
    s->mv_dim = info.multivector_dim;
    s->sparse_per_text = !strcmp(info.sparse_kind, "splade") ? (size_t)info.vocab_size : 0;
    s->max_tokens = max_batch_tokens ? max_batch_tokens : 8192;
    s->max_wait_us = max_wait_us < 0 ? 0 : max_wait_us;
    s->max_queued = max_queued_inputs ? max_queued_inputs : 1;
    s->metrics = metrics;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca; /* timed waits on the monotonic clock: a wall-clock step does not stretch them */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->thread, NULL, sched_main, s)) {
        srv_sched_free(s);
        return -1;
    }
    s->started = 1;
    *out = s;
    return 0;
}

int srv_sched_busy(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    int busy = s->head != NULL || s->running;
    pthread_mutex_unlock(&s->mu);
    return busy;
}

void srv_sched_stop(srv_sched *s) {
    if (!s || !s->started) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->started = 0;
}

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    srv_sched_stop(s);
    free(s->pieces);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
