/*
 * scheduler.h - dynamic batching: one thread owns the embedder and runs the token sequences of
 * many requests together, fairly.
 *
 * Rules: HTTP threads submit jobs (already tokenised and validated) and never touch the
 * embedder's forward path; the scheduler runs rounds of at most max_batch_tokens tokens, each
 * with one call of the library (sutra_embed_tokens, sutra_rerank_tokens or
 * sutra_embed_outputs_tokens) over jobs of one kind. A round takes sequences from the queued jobs
 * in queue order; an embedding or rerank job larger than what is left of the budget gives the
 * sequences that fit and goes to the back of the queue with the rest, so a large request is cut
 * into budget-sized pieces that take turns with everyone else's, and a short request waits about
 * one round, whatever is queued. (Sparse and multi-vector jobs run whole.) Each job's results are
 * written into it and its done() called from the scheduler's thread when its last sequence has
 * run. Before each round, queued jobs whose client has closed its connection (fd) are dropped:
 * done() with `dropped` set, counted in the metrics. The queue is bounded: submit refuses instead
 * of growing it.
 */
#ifndef SUTRA_SERVER_SCHEDULER_H
#define SUTRA_SERVER_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "sutra.h"

/* What a job asks for; a round runs jobs of one kind (the first queued job's, and those after it
 * of the same kind, in arrival order). */
typedef enum srv_job_kind {
    SRV_JOB_EMBED = 0,   /* raw pooled vectors: out, n x vector_size */
    SRV_JOB_RERANK,      /* scores: out, n floats (the model's activation) */
    SRV_JOB_RERANK_RAW,  /* logits: out, n floats */
    SRV_JOB_SPARSE,      /* sparse vectors: offsets (n + 1), ids, values */
    SRV_JOB_MULTIVECTOR, /* multi-vectors: offsets (n + 1, rows), values (rows x multivector_dim) */
} srv_job_kind;

typedef struct srv_job srv_job;
struct srv_job {
    srv_job_kind kind;
    size_t n;               /* sequences */
    const int32_t **ids;    /* ids[i][0 .. n_ids[i]) */
    const int32_t **types;  /* rerank: token types per sequence (NULL, or an entry NULL: all 0) */
    const size_t *n_ids;
    size_t tokens;          /* sum of n_ids */
    float *out;             /* EMBED: n x hidden_size raw pooled vectors; RERANK: n scores; written by the scheduler */
    /* SPARSE / MULTIVECTOR results, allocated by the scheduler (free with srv_job_free_results) */
    size_t *offsets;
    int32_t *sparse_ids;
    float *values;
    sutra_status status;    /* set by the scheduler before done() */
    char error[512];
    void (*done)(srv_job *job); /* called once, from the scheduler's thread */
    void *user;
    int fd;                 /* the client's socket, watched for its departure; -1: not watched */
    int dropped;            /* set before done(): the client left, the work was not finished */
    /* the scheduler's own */
    double t_queued;
    size_t next_seq;        /* sequences [0, next_seq) have been handed to rounds */
    size_t done_seq;        /* ... and have run */
    size_t piece;           /* its piece in the round being picked (SIZE_MAX: none yet) */
    srv_job *next;
};

typedef struct srv_sched srv_sched;

typedef enum srv_submit {
    SRV_SUBMIT_OK = 0,
    SRV_SUBMIT_OVERLOADED = 1, /* the queue holds max_queued_inputs already (429) */
    SRV_SUBMIT_STOPPING = 2,   /* the scheduler is stopping (503) */
} srv_submit;

/* Starts the scheduler thread. max_batch_tokens: tokens per round (at least the longest
 * sequence's; a sparse or multi-vector job larger than it runs alone);
 * max_wait_us: how long a round waits for more jobs after its first one arrived. */
int srv_sched_start(srv_sched **out, sutra_embedder *emb, size_t max_batch_tokens, long max_wait_us,
                    size_t max_queued_inputs, srv_metrics *metrics);
srv_submit srv_sched_submit(srv_sched *s, srv_job *job);
/* 1 while jobs are queued or a round is running. */
int srv_sched_busy(srv_sched *s);
/* Refuses new jobs, runs every job already queued, and joins the thread. */
void srv_sched_stop(srv_sched *s);
void srv_sched_free(srv_sched *s);

/* Frees what the scheduler allocated for a SPARSE or MULTIVECTOR job. */
void srv_job_free_results(srv_job *job);

double srv_now(void); /* monotonic seconds */

#endif /* SUTRA_SERVER_SCHEDULER_H */
