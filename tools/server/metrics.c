/*
 * metrics.c - see metrics.h.
 */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

static const int codes[SRV_N_CODES] = {200, 400, 401, 404, 405, 408, 413, 415, 422, 429, 500, 503, 0, 0};

static int code_index(int status) {
    for (int i = 0; i < SRV_N_CODES - 2; i++)
        if (codes[i] == status) return i;
    return SRV_N_CODES - 1; /* any other status */
}

static void hist_init(srv_hist *h, const double *bounds, int n) {
    memset(h, 0, sizeof *h);
    for (int i = 0; i < n; i++) h->bounds[i] = bounds[i];
    h->n = n + 1;
}

static void hist_add(srv_hist *h, double v) {
    int i = 0;
    while (i < h->n - 1 && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->total++;
    h->sum += v;
}

void srv_metrics_init(srv_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    static const double secs[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    static const double inputs[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
    static const double tokens[] = {16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
    for (int r = 0; r < SRV_ROUTE_COUNT; r++) hist_init(&m->duration[r], secs, 14);
    hist_init(&m->queue_wait, secs, 14);
    hist_init(&m->batch_inputs, inputs, 13);
    hist_init(&m->batch_tokens, tokens, 11);
}

void srv_metrics_destroy(srv_metrics *m) { pthread_mutex_destroy(&m->mu); }

void srv_metrics_request(srv_metrics *m, srv_route route, int status, double seconds) {
    if ((unsigned)route >= SRV_ROUTE_COUNT) route = SRV_ROUTE_OTHER;
    pthread_mutex_lock(&m->mu);
    m->requests[route][code_index(status)]++;
    if (status >= 400) m->errors[route]++;
    hist_add(&m->duration[route], seconds);
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_queue(srv_metrics *m, int64_t delta) {
    pthread_mutex_lock(&m->mu);
    m->queue_inputs += delta;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_inflight(srv_metrics *m, int64_t delta) {
    pthread_mutex_lock(&m->mu);
    m->inflight += delta;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_dropped(srv_metrics *m, uint64_t n) {
    pthread_mutex_lock(&m->mu);
    m->dropped += n;
    pthread_mutex_unlock(&m->mu);
}

int srv_metrics_reply_hold(srv_metrics *m, int64_t bytes, int64_t budget) {
    pthread_mutex_lock(&m->mu);
    const int ok = m->reply_bytes <= 0 || m->reply_bytes + bytes <= budget;
    if (ok) m->reply_bytes += bytes;
    else m->reply_refused++;
    pthread_mutex_unlock(&m->mu);
    return ok;
}

void srv_metrics_reply_adjust(srv_metrics *m, int64_t delta) {
    pthread_mutex_lock(&m->mu);
    m->reply_bytes += delta;
    pthread_mutex_unlock(&m->mu);
}

int64_t srv_metrics_inflight_now(srv_metrics *m) {
    pthread_mutex_lock(&m->mu);
    int64_t v = m->inflight;
    pthread_mutex_unlock(&m->mu);
    return v;
}

void srv_metrics_round(srv_metrics *m, uint64_t inputs, uint64_t tokens, const double *waits, int n_waits,
                       uint64_t batches_standard, uint64_t batches_flash) {
    pthread_mutex_lock(&m->mu);
    m->rounds++;
    m->inputs += inputs;
    m->tokens += tokens;
    m->batches_standard += batches_standard;
    m->batches_flash += batches_flash;
    hist_add(&m->batch_inputs, (double)inputs);
    hist_add(&m->batch_tokens, (double)tokens);
    for (int i = 0; i < n_waits; i++) hist_add(&m->queue_wait, waits[i]);
    pthread_mutex_unlock(&m->mu);
}

static void render_hist(srv_buf *b, const char *name, const char *labels, const srv_hist *h) {
    uint64_t cum = 0;
    const char *sep = *labels ? "," : "";
    for (int i = 0; i < h->n; i++) {
        cum += h->counts[i];
        if (i < h->n - 1) srv_buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, h->bounds[i],
                                         (unsigned long long)cum);
        else srv_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    }
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    srv_buf_printf(b, "%s_sum%s%s%s %.9g\n", name, open, labels, close, h->sum);
    srv_buf_printf(b, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)h->total);
}

void srv_metrics_render(srv_metrics *m, srv_buf *b) {
    pthread_mutex_lock(&m->mu);
    srv_buf_puts(b, "# HELP sutra_requests_total HTTP requests answered, by route and status.\n"
                    "# TYPE sutra_requests_total counter\n");
    for (int r = 0; r < SRV_ROUTE_COUNT; r++)
        for (int c = 0; c < SRV_N_CODES; c++) {
            if (!m->requests[r][c] || c == SRV_N_CODES - 2) continue;
            if (c == SRV_N_CODES - 1)
                srv_buf_printf(b, "sutra_requests_total{route=\"%s\",code=\"other\"} %llu\n", srv_route_name(r),
                               (unsigned long long)m->requests[r][c]);
            else
                srv_buf_printf(b, "sutra_requests_total{route=\"%s\",code=\"%d\"} %llu\n", srv_route_name(r), codes[c],
                               (unsigned long long)m->requests[r][c]);
        }
    srv_buf_puts(b, "# HELP sutra_request_errors_total Requests answered with a 4xx or 5xx status.\n"
                    "# TYPE sutra_request_errors_total counter\n");
    for (int r = 0; r < SRV_ROUTE_COUNT; r++)
        srv_buf_printf(b, "sutra_request_errors_total{route=\"%s\"} %llu\n", srv_route_name(r),
                       (unsigned long long)m->errors[r]);
    srv_buf_printf(b,
                   "# HELP sutra_queue_inputs Inputs waiting for the model.\n# TYPE sutra_queue_inputs gauge\n"
                   "sutra_queue_inputs %lld\n"
                   "# HELP sutra_inflight_requests Requests received and not yet answered.\n"
                   "# TYPE sutra_inflight_requests gauge\nsutra_inflight_requests %lld\n"
                   "# HELP sutra_tokens_total Tokens run through the model.\n# TYPE sutra_tokens_total counter\n"
                   "sutra_tokens_total %llu\n"
                   "# HELP sutra_inputs_total Inputs embedded.\n# TYPE sutra_inputs_total counter\n"
                   "sutra_inputs_total %llu\n"
                   "# HELP sutra_forward_batches_total Forward passes, by attention path.\n"
                   "# TYPE sutra_forward_batches_total counter\n"
                   "sutra_forward_batches_total{path=\"standard\"} %llu\n"
                   "sutra_forward_batches_total{path=\"flash\"} %llu\n"
                   "# HELP sutra_requests_dropped_total Requests dropped unfinished: their client had gone.\n"
                   "# TYPE sutra_requests_dropped_total counter\nsutra_requests_dropped_total %llu\n"
                   "# HELP sutra_reply_bytes Reply memory held: replies not yet written out, and reserved for "
                   "requests at work.\n# TYPE sutra_reply_bytes gauge\nsutra_reply_bytes %lld\n"
                   "# HELP sutra_requests_refused_reply_budget_total Requests answered 503: the reply memory was at "
                   "--max-reply-bytes.\n# TYPE sutra_requests_refused_reply_budget_total counter\n"
                   "sutra_requests_refused_reply_budget_total %llu\n",
                   (long long)m->queue_inputs, (long long)m->inflight, (unsigned long long)m->tokens,
                   (unsigned long long)m->inputs, (unsigned long long)m->batches_standard,
                   (unsigned long long)m->batches_flash, (unsigned long long)m->dropped,
                   (long long)m->reply_bytes, (unsigned long long)m->reply_refused);
    srv_buf_puts(b, "# HELP sutra_batch_inputs Inputs per scheduling round (requests merged).\n"
                    "# TYPE sutra_batch_inputs histogram\n");
    render_hist(b, "sutra_batch_inputs", "", &m->batch_inputs);
    srv_buf_puts(b, "# HELP sutra_batch_tokens Tokens per scheduling round.\n# TYPE sutra_batch_tokens histogram\n");
    render_hist(b, "sutra_batch_tokens", "", &m->batch_tokens);
    srv_buf_puts(b, "# HELP sutra_queue_wait_seconds Time from a request's queueing to its round's start.\n"
                    "# TYPE sutra_queue_wait_seconds histogram\n");
    render_hist(b, "sutra_queue_wait_seconds", "", &m->queue_wait);
    srv_buf_puts(b, "# HELP sutra_request_duration_seconds Time from a request's first byte to its reply.\n"
                    "# TYPE sutra_request_duration_seconds histogram\n");
    for (int r = 0; r < SRV_ROUTE_COUNT; r++) {
        if (!m->duration[r].total) continue;
        char labels[64];
        snprintf(labels, sizeof labels, "route=\"%s\"", srv_route_name(r));
        render_hist(b, "sutra_request_duration_seconds", labels, &m->duration[r]);
    }
    pthread_mutex_unlock(&m->mu);
}
