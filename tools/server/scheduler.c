/*
 * scheduler.c - see scheduler.h.
 */
#include "scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
};

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

srv_submit srv_sched_submit(srv_sched *s, srv_job *job) {
    pthread_mutex_lock(&s->mu);
    srv_submit r = SRV_SUBMIT_OK;
    if (s->stopping) r = SRV_SUBMIT_STOPPING;
    else if (s->queued_inputs && s->queued_inputs + job->n > s->max_queued) r = SRV_SUBMIT_OVERLOADED;
    if (r == SRV_SUBMIT_OK) {
        job->t_queued = srv_now();
        job->next = NULL;
        if (s->tail) s->tail->next = job;
        else s->head = job;
        s->tail = job;
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

/* One round's library call over the n sequences of jobs [first, end). */
static sutra_status run_round(srv_sched *s, srv_job *first, srv_job *end, size_t n, const int32_t **ids,
                              const int32_t **types, size_t *lens, float *out, sutra_outputs *o) {
    switch (first->kind) {
    case SRV_JOB_EMBED: return sutra_embed_tokens(s->emb, ids, lens, n, 1, out, n * s->hidden);
    case SRV_JOB_RERANK:
    case SRV_JOB_RERANK_RAW:
        return sutra_rerank_tokens(s->emb, ids, types, lens, n, first->kind == SRV_JOB_RERANK_RAW, out, n);
    case SRV_JOB_SPARSE:
    case SRV_JOB_MULTIVECTOR: break;
    }
    (void)end;
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

/* Runs jobs [first, end) of a detached list (one kind) with one library call; on failure, when
 * there is more than one job, runs them one by one so that only a failing job fails. */
static void run_jobs(srv_sched *s, srv_job *first, srv_job *end) {
    size_t n = 0, tokens = 0;
    int n_jobs = 0;
    for (srv_job *j = first; j != end; j = j->next) n += j->n, tokens += j->tokens, n_jobs++;
    const srv_job_kind kind = first->kind;
    const int outputs = kind == SRV_JOB_SPARSE || kind == SRV_JOB_MULTIVECTOR;
    const size_t width = kind == SRV_JOB_EMBED ? s->hidden : 1;
    const int32_t **ids = malloc(n * sizeof *ids), **types = calloc(n, sizeof *types);
    size_t *lens = malloc(n * sizeof *lens);
    float *out = outputs ? NULL : malloc(n * width * sizeof *out);
    double *waits = malloc((size_t)n_jobs * sizeof *waits);
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
    char msg[512] = "out of memory";
    sutra_stats before, after;
    sutra_embedder_stats(s->emb, &before);
    if (have) {
        size_t k = 0;
        int w = 0;
        double t = srv_now();
        for (srv_job *j = first; j != end; j = j->next) {
            for (size_t i = 0; i < j->n; i++, k++)
                ids[k] = j->ids[i], lens[k] = j->n_ids[i], types[k] = j->types ? j->types[i] : NULL;
            waits[w++] = t - j->t_queued;
        }
        st = run_round(s, first, end, n, ids, types, lens, out, &o);
        if (st) snprintf(msg, sizeof msg, "%s", sutra_embedder_last_error(s->emb));
    }
    sutra_embedder_stats(s->emb, &after);
    if (st == SUTRA_OK) {
        srv_metrics_round(s->metrics, n, tokens, waits, n_jobs, after.batches_standard - before.batches_standard,
                          after.batches_flash - before.batches_flash);
    }
    free(ids);
    free(types);
    free(lens);
    free(waits);
    if (st && n_jobs > 1) {
        free(out);
        free(o.sparse_offsets), free(o.sparse_ids), free(o.sparse_weights), free(o.mv_offsets), free(o.mv);
        for (srv_job *j = first, *next; j != end; j = next) {
            next = j->next;
            run_jobs(s, j, next);
        }
        return;
    }
    size_t row = 0;
    for (srv_job *j = first, *next; j != end; j = next) {
        next = j->next; /* done() may free the job */
        sutra_status js = st;
        if (!js && outputs) js = take_outputs(s, j, &o, row);
        else if (!js) memcpy(j->out, out + row * width, j->n * width * sizeof *out);
        j->status = js;
        if (js) snprintf(j->error, sizeof j->error, "%s: %.440s", sutra_status_str(js), st ? msg : "out of memory");
        row += j->n;
        j->done(j);
    }
    free(out);
    free(o.sparse_offsets), free(o.sparse_ids), free(o.sparse_weights), free(o.mv_offsets), free(o.mv);
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
        /* Take jobs in arrival order while they fit the budget; the first always goes. */
        srv_job *first = s->head, *end = s->head;
        size_t tokens = 0, inputs = 0;
        while (end && (end == first || (end->kind == first->kind && tokens + end->tokens <= s->max_tokens))) {
            tokens += end->tokens;
            inputs += end->n;
            end = end->next;
        }
        s->head = end;
        if (!end) s->tail = NULL;
        s->queued_inputs -= inputs;
        s->queued_tokens -= tokens;
        s->running = 1;
        srv_metrics_queue(s->metrics, -(int64_t)inputs);
        pthread_mutex_unlock(&s->mu);
        run_jobs(s, first, end);
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
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
