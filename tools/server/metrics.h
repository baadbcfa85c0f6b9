/*
 * metrics.h - the server's counters, gauges and histograms, rendered as Prometheus text.
 *
 * Rule: every update takes the one mutex; updates are a few additions, so contention is nil
 * next to a forward pass.
 */
#ifndef SUTRA_SERVER_METRICS_H
#define SUTRA_SERVER_METRICS_H

#include <pthread.h>
#include <stdint.h>

#include "api.h"

#define SRV_HIST_MAX_BUCKETS 20
#define SRV_N_CODES 14

typedef struct srv_hist {
    int n;                                  /* buckets, the last being +Inf */
    double bounds[SRV_HIST_MAX_BUCKETS];
    uint64_t counts[SRV_HIST_MAX_BUCKETS];  /* per bucket (not cumulative) */
    uint64_t total;
    double sum;
} srv_hist;

typedef struct srv_metrics {
    pthread_mutex_t mu;
    uint64_t requests[SRV_ROUTE_COUNT][SRV_N_CODES];
    uint64_t errors[SRV_ROUTE_COUNT];
    uint64_t tokens, inputs;
    uint64_t batches_standard, batches_flash, rounds;
    uint64_t dropped; /* requests whose client left before their work was done: not finished */
    int64_t reply_bytes;     /* replies held: queued and not yet written out, and reserved for work admitted */
    uint64_t reply_refused;  /* requests refused (503) because reply_bytes was at the budget */
    int64_t queue_inputs, inflight;
    srv_hist duration[SRV_ROUTE_COUNT]; /* seconds */
    srv_hist queue_wait;                /* seconds */
    srv_hist batch_inputs, batch_tokens;
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
void srv_metrics_destroy(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, srv_route route, int status, double seconds);
void srv_metrics_queue(srv_metrics *m, int64_t delta_inputs);
void srv_metrics_inflight(srv_metrics *m, int64_t delta);
/* One scheduling round: its inputs and tokens, and how long each of its requests waited. */
void srv_metrics_round(srv_metrics *m, uint64_t inputs, uint64_t tokens, const double *waits, int n_waits,
                       uint64_t batches_standard, uint64_t batches_flash);
/* Requests dropped because their clients had gone. */
void srv_metrics_dropped(srv_metrics *m, uint64_t n);
int64_t srv_metrics_inflight_now(srv_metrics *m);
/* The reply-byte budget: holds bytes more of reply memory if that keeps the total within budget,
 * or if nothing is held (so one reply larger than the budget is still served, alone); 1 if held,
 * else 0 and the refusal counted. */
int srv_metrics_reply_hold(srv_metrics *m, int64_t bytes, int64_t budget);
/* Adds delta (negative: releases) to the reply bytes held, unconditionally. */
void srv_metrics_reply_adjust(srv_metrics *m, int64_t delta);
/* Appends the Prometheus text exposition (format 0.0.4) to b. */
void srv_metrics_render(srv_metrics *m, srv_buf *b);

#endif /* SUTRA_SERVER_METRICS_H */
