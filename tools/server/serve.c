/*
 * serve.c - `sutra serve`: routes, limits, authentication and logging on libmicrohttpd, with
 * the embedding work handed to the scheduler (scheduler.c). docs/SERVER.md is the contract.
 *
 * Life of a request: libmicrohttpd calls on_request() once when the headers are in (route,
 * method, key, Content-Length and Content-Type are checked there), once per piece of body (size
 * and time limits), and once when the body is complete: then the body is parsed and tokenised
 * on this HTTP thread, and an embedding request is queued for the scheduler while its connection
 * is suspended. The scheduler's done() marks it finished and resumes the connection, and the
 * last call writes the reply. on_completed() logs the line, counts it, and frees the request.
 */
#include "serve.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/engine_opts.h"
#include "api.h"
#include "metrics.h"
#include "scheduler.h"
#include "sutra.h"

typedef struct srv_opts {
    const char *host;
    int port;
    long max_batch_tokens;
    long max_wait_us;
    const char *api_key;
    size_t max_body;
    size_t max_inputs;
    size_t max_queued;
    int auto_truncate;
    long request_timeout_ms;
    int http_threads;
    int quiet;
    long max_request_tokens;   /* tokens of one request, all its inputs together (every route) */
    long max_connections;      /* open connections at once, all clients together */
    long max_conns_per_addr;   /* open connections at once from one client address */
    long max_reply_bytes;      /* reply memory held at once: replies not yet written out, and reserved */
} srv_opts;

typedef struct server {
    srv_opts o;
    sutra_embedder *emb;
    sutra_model_info info;
    int dim, hidden, max_tokens;
    srv_sched *sched;
    srv_metrics metrics;
    atomic_int draining;
    atomic_int open_requests; /* requests with a context, answered or not: what a drain waits for */
    char *auth;        /* the API key, or NULL: requests need "Authorization: Bearer <key>" */
    srv_buf info_json;
    /* open connections, for the watchdog that closes those whose request head never completes */
    pthread_mutex_t conns_mu;
    struct conn_rec *conns;
    pthread_t watchdog;
    atomic_int stop_watchdog;
} server;

/* One open connection: its socket, since when it has been without a request in progress, and
 * whether its request's body is still due (since when, and on which route: a body that stops
 * arriving is answered 408 by the watchdog, in the route's error shape). answered: the 408 was
 * written, by the watchdog or by abort_with(), whichever came first (the other writes nothing). */
typedef struct conn_rec {
    int fd;
    double idle_since;
    int in_request;
    int awaiting_body;
    double body_since;
    srv_route route;
    atomic_int answered;
    int timed_out; /* the watchdog answered 408 */
    struct conn_rec *prev, *next;
} conn_rec;

static conn_rec *conn_of(struct MHD_Connection *c);

enum { REQ_RECEIVING = 0, REQ_WAITING, REQ_DONE };

typedef struct req_ctx {
    server *srv;
    struct MHD_Connection *conn;
    srv_route route;
    char method[16];
    char path[160];
    double t0;
    srv_buf body;
    int status;          /* the status queued, 0 until then */
    int counted;         /* in the metrics already (when its reply was queued) */
    int http11;          /* the request line said HTTP/1.1 */
    int close;           /* the reply closes the connection (a request whose framing is not to be trusted) */
    srv_error pending;   /* an error found while the body streams in, sent once it has ended */
    int has_pending;
    atomic_int state;
    srv_request req;
    int32_t **ids;       /* per input: the token ids the model runs */
    int32_t **types;     /* rerank: per pair, its token types */
    size_t *n_ids;
    size_t tokens;
    int dims, normalize;
    float *out;
    srv_job job;
    srv_submit refused;  /* why the scheduler did not take the job (OK: it did) */
    int64_t held;        /* reply bytes reserved for this request's reply (--max-reply-bytes) */
} req_ctx;

/* ---- replies ---------------------------------------------------------------------------------- */

/* src as it may go into a log line or a message: printable ASCII but the space as it is (a
 * backslash doubled), every other byte as \xHH, so that a decoded %0A in a URL cannot forge a
 * line nor a %20 add a field to it. Truncated to fit cap (NUL included). */
static void copy_printable(char *dst, size_t cap, const char *src) {
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        const int plain = *p > 0x20 && *p < 0x7f && *p != '\\';
        const size_t need = plain ? 1 : *p == '\\' ? 2 : 4;
        if (n + need + 1 > cap) break;
        if (plain) {
            dst[n++] = (char)*p;
        } else if (*p == '\\') {
            dst[n++] = '\\';
            dst[n++] = '\\';
        } else {
            dst[n++] = '\\';
            dst[n++] = 'x';
            dst[n++] = hex[*p >> 4];
            dst[n++] = hex[*p & 15];
        }
    }
    if (cap) dst[n] = '\0';
}

/* Counts a request in the metrics and writes its log line, once: when its reply is queued, or,
 * for one that never got a queued reply, when its connection is done with it (note: "closed"). */
static void account(req_ctx *r, const char *note) {
    server *s = r->srv;
    if (r->counted) return;
    r->counted = 1;
    double dt = srv_now() - r->t0;
    srv_metrics_request(&s->metrics, r->route, r->status, dt);
    srv_metrics_inflight(&s->metrics, -1);
    if (s->o.quiet) return;
    char addr[INET6_ADDRSTRLEN] = "-";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr, sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr, sizeof addr);
    }
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char st[32];
    if (note) snprintf(st, sizeof st, "%s", note);
    else snprintf(st, sizeof st, "%d", r->status);
    fprintf(stderr, "%s %s %s %s %s %zu inputs %zu tokens %.2f ms\n", when, addr, r->method, r->path, st, r->req.n,
            r->tokens, dt * 1e3);
}

/* Frees what r holds of its request (body, parsed inputs, token ids, results), once its reply is
 * queued (it needs none of it then, however long the client takes to read the reply) or when it
 * ends; safe to call twice. */
static void free_request_data(req_ctx *r) {
    for (size_t i = 0; r->ids && i < r->req.n; i++)
        if (r->req.inputs[i].text) free(r->ids[i]); /* token inputs borrow the request's ids */
    for (size_t i = 0; r->types && i < r->req.n; i++) free(r->types[i]);
    free(r->ids);
    free(r->types);
    r->ids = NULL;
    r->types = NULL;
    srv_job_free_results(&r->job);
    free(r->n_ids);
    free(r->out);
    r->n_ids = NULL;
    r->out = NULL;
    srv_request_free(&r->req); /* zeroes it: the log line was written when the reply was queued */
    srv_buf_free(&r->body);
}

static enum MHD_Result fail(req_ctx *r, int status, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A reply's memory, counted against --max-reply-bytes from when the reply is queued until
 * libmicrohttpd is done with it (written out, or its connection gone). */
typedef struct reply_mem {
    server *srv;
    int64_t len;
    char *data;
} reply_mem;

static void reply_mem_free(void *cls) {
    reply_mem *m = cls;
    srv_metrics_reply_adjust(&m->srv->metrics, -m->len);
    free(m->data);
    free(m);
}

/* Reserves bytes of reply memory for r's reply; 0 when the budget is spent (the caller answers 503). */
static int hold_reply(req_ctx *r, int64_t bytes) {
    if (!srv_metrics_reply_hold(&r->srv->metrics, bytes, r->srv->o.max_reply_bytes)) return 0;
    r->held += bytes;
    return 1;
}

static enum MHD_Result refuse_reply_budget(req_ctx *r) {
    return fail(r, 503, "server_busy", NULL,
                "the server holds %ld bytes of replies that clients have not read yet (--max-reply-bytes); retry later",
                r->srv->o.max_reply_bytes);
}

static enum MHD_Result send_buf(req_ctx *r, int status, srv_buf *b, const char *content_type) {
    if (b->oom) {
        srv_buf_free(b);
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
                                  "\"code\":\"internal_error\"}}";
        srv_buf_puts(b, oom);
        status = 500;
        content_type = "application/json";
    }
    size_t len = b->len;
    char *data = b->data ? b->data : strdup("");
    b->data = NULL;
    srv_buf_free(b);
    reply_mem *mem = malloc(sizeof *mem);
    struct MHD_Response *resp =
        mem ? MHD_create_response_from_buffer_with_free_callback_cls(len, data, reply_mem_free, mem) : NULL;
    if (!resp) {
        free(mem);
        free(data);
        return MHD_NO;
    }
    /* the reservation, if any, becomes the reply's own size, released when the reply is freed */
    *mem = (reply_mem){.srv = r->srv, .len = (int64_t)len, .data = data};
    srv_metrics_reply_adjust(&r->srv->metrics, (int64_t)len - r->held);
    r->held = 0;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                r->route == SRV_ROUTE_HEALTH || r->route == SRV_ROUTE_INFO ||
                                        r->route == SRV_ROUTE_METRICS
                                    ? "GET"
                                    : "POST");
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 429 || status == 503) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (r->close) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    /* Accounted now, not when the reply has been written out, so that a client holding its reply
     * finds it in /metrics and in the log. */
    if (ret == MHD_YES) {
        account(r, NULL);
        /* a client slow to read holds its reply (counted in --max-reply-bytes), not its request */
        if (atomic_load(&r->state) != REQ_WAITING) free_request_data(r);
    }
    return ret;
}

static enum MHD_Result send_json(req_ctx *r, int status, srv_buf *b) {
    return send_buf(r, status, b, "application/json");
}

static enum MHD_Result send_error(req_ctx *r, const srv_error *err) {
    srv_buf b = {0};
    srv_error_json_for(&b, err, r->route);
    return send_json(r, err->status, &b);
}

/* An error reply written straight to the socket, "Connection: close" (libmicrohttpd queues
 * replies only before or after a body); send_flags beside MSG_NOSIGNAL. 0 if it could not be
 * made (out of memory). */
static int write_error(int fd, const srv_error *err, srv_route route, int send_flags) {
    srv_buf body = {0}, msg = {0};
    srv_error_json_for(&body, err, route);
    srv_buf_printf(&msg, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n%s",
                   err->status, err->status == 408 ? "Request Timeout" : "Error", body.len,
                   body.data ? body.data : "");
    const int made = !msg.oom;
    for (size_t off = 0; made && off < msg.len;) {
        ssize_t k = send(fd, msg.data + off, msg.len - off, MSG_NOSIGNAL | send_flags);
        if (k <= 0) break;
        off += (size_t)k;
    }
    srv_buf_free(&body);
    srv_buf_free(&msg);
    return made;
}

/* A request that runs out of time while its body is still arriving gets its 408 written to the
 * socket here, and the connection is then closed (the caller returns MHD_NO). */
static enum MHD_Result abort_with(req_ctx *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result abort_with(req_ctx *r, int status, const char *code, const char *fmt, ...) {
    srv_error err = {.status = status, .code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    conn_rec *rec = conn_of(r->conn);
    if (rec && atomic_exchange(&rec->answered, 1)) { /* the watchdog's 408 went out first */
        r->status = status;
        return MHD_NO;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci && write_error(ci->connect_fd, &err, r->route, 0)) shutdown(ci->connect_fd, SHUT_WR);
    r->status = status;
    return MHD_NO;
}

static enum MHD_Result fail(req_ctx *r, int status, const char *code, const char *param, const char *fmt, ...) {
    srv_error err = {.status = status, .code = code, .param = param};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    return send_error(r, &err);
}

static enum MHD_Result reply_embeddings(req_ctx *r) {
    server *s = r->srv;
    if (r->job.status) return fail(r, 500, "internal_error", NULL, "%s", r->job.error);
    float *v = malloc((size_t)r->dims * sizeof *v);
    if (!v) return fail(r, 500, "internal_error", NULL, "out of memory");
    srv_buf b = {0};
    size_t n = r->req.n;
    if (r->route == SRV_ROUTE_OPENAI) {
        srv_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
        for (size_t i = 0; i < n; i++) {
            sutra_vector_finish(r->out + i * (size_t)s->hidden, r->dims, r->normalize, v);
            srv_buf_printf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
            if (r->req.base64) srv_buf_base64_floats(&b, v, (size_t)r->dims);
            else srv_buf_json_floats(&b, v, (size_t)r->dims);
            srv_buf_puts(&b, "}");
        }
        srv_buf_puts(&b, "],\"model\":");
        const char *model = r->req.model ? r->req.model : s->info.name;
        srv_buf_json_string(&b, model, strlen(model));
        srv_buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}", r->tokens, r->tokens);
    } else {
        srv_buf_puts(&b, "[");
        for (size_t i = 0; i < n; i++) {
            sutra_vector_finish(r->out + i * (size_t)s->hidden, r->dims, r->normalize, v);
            if (i) srv_buf_puts(&b, ",");
            srv_buf_json_floats(&b, v, (size_t)r->dims);
        }
        srv_buf_puts(&b, "]");
    }
    free(v);
    return send_json(r, 200, &b);
}

/* The documents by score, best first (ties in input order). */
static size_t *order_by_score(const float *scores, size_t n) {
    size_t *o = malloc((n ? n : 1) * sizeof *o);
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && scores[o[j - 1]] < scores[i]) {
            o[j] = o[j - 1];
            j--;
        }
        o[j] = i;
    }
    return o;
}

static enum MHD_Result reply_rerank(req_ctx *r) {
    server *s = r->srv;
    const srv_request *q = &r->req;
    size_t *o = order_by_score(r->out, q->n);
    if (!o) return fail(r, 500, "internal_error", NULL, "out of memory");
    const size_t shown = q->top_n > 0 && (size_t)q->top_n < q->n ? (size_t)q->top_n : q->n;
    srv_buf b = {0};
    const int tei = r->route == SRV_ROUTE_RERANK;
    srv_buf_puts(&b, tei ? "[" : "{\"object\":\"list\",\"results\":[");
    for (size_t k = 0; k < shown; k++) {
        const size_t i = o[k];
        srv_buf_printf(&b, "%s{\"index\":%zu,\"%s\":", k ? "," : "", i, tei ? "score" : "relevance_score");
        srv_buf_json_float(&b, r->out[i]);
        if (q->return_text) {
            srv_buf_puts(&b, tei ? ",\"text\":" : ",\"document\":{\"text\":");
            srv_buf_json_string(&b, q->inputs[i].text, q->inputs[i].len);
            if (!tei) srv_buf_puts(&b, "}");
        }
        srv_buf_puts(&b, "}");
    }
    free(o);
    if (tei) {
        srv_buf_puts(&b, "]");
    } else {
        srv_buf_puts(&b, "],\"model\":");
        const char *model = q->model ? q->model : s->info.name;
        srv_buf_json_string(&b, model, strlen(model));
        srv_buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}", r->tokens, r->tokens);
    }
    return send_json(r, 200, &b);
}

/* /embed_sparse: per input [{"index": token id, "value": weight}, ...]; /embed_all: per input its
 * multi-vectors [[...], ...]. */
static enum MHD_Result reply_outputs(req_ctx *r) {
    server *s = r->srv;
    const srv_job *j = &r->job;
    srv_buf b = {0};
    srv_buf_puts(&b, "[");
    for (size_t i = 0; i < r->req.n; i++) {
        srv_buf_puts(&b, i ? ",[" : "[");
        for (size_t k = j->offsets[i]; k < j->offsets[i + 1]; k++) {
            if (k > j->offsets[i]) srv_buf_puts(&b, ",");
            if (r->route == SRV_ROUTE_SPARSE) {
                srv_buf_printf(&b, "{\"index\":%d,\"value\":", (int)j->sparse_ids[k]);
                srv_buf_json_float(&b, j->values[k]);
                srv_buf_puts(&b, "}");
            } else {
                srv_buf_json_floats(&b, j->values + k * (size_t)s->info.multivector_dim, (size_t)s->info.multivector_dim);
            }
        }
        srv_buf_puts(&b, "]");
    }
    srv_buf_puts(&b, "]");
    return send_json(r, 200, &b);
}

static enum MHD_Result reply(req_ctx *r) {
    /* the client had gone: its work was dropped; logged and counted as 499 (nginx's "client closed
     * request"), sent to nobody */
    if (r->job.dropped) return fail(r, 499, "client_closed", NULL, "the client closed its connection");
    if (r->job.status) return fail(r, 500, "internal_error", NULL, "%s", r->job.error);
    if (r->route == SRV_ROUTE_RERANK || r->route == SRV_ROUTE_V1_RERANK) return reply_rerank(r);
    if (r->route == SRV_ROUTE_SPARSE || r->route == SRV_ROUTE_EMBED_ALL) return reply_outputs(r);
    return reply_embeddings(r);
}

/* ---- the POST routes -------------------------------------------------------------------------- */

/* Counts input i's tokens against --max-request-tokens; 0, or 413 sent. */
static int over_token_cap(req_ctx *r, size_t i, enum MHD_Result *ret) {
    const long cap = r->srv->o.max_request_tokens;
    r->tokens += r->n_ids[i];
    if ((long)r->tokens <= cap) return 0;
    *ret = fail(r, 413, "too_many_tokens", r->route == SRV_ROUTE_OPENAI ? "input" : "inputs",
                "the request has more than %ld tokens (%zu by input %zu); send fewer or shorter inputs", cap, r->tokens, i);
    return 413;
}

/* Tokenises text input i into r->ids[i] as opt says; 0 or an HTTP status already sent. */
static int tokenize_input(req_ctx *r, size_t i, const sutra_tokenize_options *opt, int32_t **starts,
                          int32_t **ends, enum MHD_Result *ret) {
    server *s = r->srv;
    const srv_input *in = &r->req.inputs[i];
    size_t cap = in->len + (opt->prompt ? strlen(opt->prompt) : 0) + 16, n = 0;
    char err[512];
    for (int attempt = 0; attempt < 2; attempt++) {
        free(r->ids[i]);
        r->ids[i] = malloc(cap * sizeof(int32_t));
        if (starts) {
            free(*starts);
            free(*ends);
            *starts = malloc(cap * sizeof(int32_t));
            *ends = malloc(cap * sizeof(int32_t));
        }
        if (!r->ids[i] || (starts && (!*starts || !*ends))) {
            *ret = fail(r, 500, "internal_error", NULL, "out of memory");
            return 500;
        }
        sutra_status st = sutra_tokenize_ex(s->emb, in->text, in->len, opt, r->ids[i], starts ? *starts : NULL,
                                            starts ? *ends : NULL, cap, &n, err, sizeof err);
        if (st == SUTRA_OK) {
            r->n_ids[i] = n;
            return 0;
        }
        if (st != SUTRA_ERR_BUFFER_TOO_SMALL) {
            int status = st == SUTRA_ERR_OUT_OF_MEMORY ? 500 : 400;
            *ret = fail(r, status, st == SUTRA_ERR_INVALID_UTF8 ? "invalid_utf8" : status == 500 ? "internal_error"
                                                                                                  : "invalid_value",
                        r->route == SRV_ROUTE_OPENAI ? "input" : "inputs", "input %zu: %s", i, err);
            return status;
        }
        cap = n;
    }
    *ret = fail(r, 500, "internal_error", NULL, "input %zu: tokenisation did not settle", i);
    return 500;
}

/* The spans of /tokenize's inputs, kept from tokenising to writing. */
static void free_spans(int32_t **starts, int32_t **ends, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (starts) free(starts[i]);
        if (ends) free(ends[i]);
    }
    free(starts);
    free(ends);
}

static enum MHD_Result handle_tokenize(req_ctx *r, const sutra_tokenize_options *opt) {
    server *s = r->srv;
    const size_t n = r->req.n;
    int32_t **starts = calloc(n, sizeof *starts), **ends = calloc(n, sizeof *ends);
    if (!starts || !ends) {
        free_spans(starts, ends, 0);
        return fail(r, 500, "internal_error", NULL, "out of memory");
    }
    enum MHD_Result ret = MHD_YES;
    /* every input tokenised first, so that the reply is counted against --max-reply-bytes before it
     * is built (about 64 bytes a token beside its text; the reply's real size replaces it) */
    int64_t estimate = 2;
    for (size_t i = 0; i < n; i++) {
        if (tokenize_input(r, i, opt, &starts[i], &ends[i], &ret) || over_token_cap(r, i, &ret)) {
            free_spans(starts, ends, n);
            return ret;
        }
        estimate += 2 + 64 * (int64_t)r->n_ids[i] + (int64_t)r->req.inputs[i].len;
    }
    if (!hold_reply(r, estimate)) {
        free_spans(starts, ends, n);
        return refuse_reply_budget(r);
    }
    srv_buf b = {0};
    srv_buf_puts(&b, "[");
    for (size_t i = 0; i < n; i++) {
        const srv_input *in = &r->req.inputs[i];
        const int32_t *st = starts[i], *en = ends[i];
        srv_buf_puts(&b, i ? ",[" : "[");
        for (size_t k = 0; k < r->n_ids[i]; k++) {
            int32_t id = r->ids[i][k];
            int special = st[k] < 0;
            srv_buf_printf(&b, "%s{\"id\":%d,\"text\":", k ? "," : "", (int)id);
            if (!special && en[k] >= st[k] && (size_t)en[k] <= in->len) {
                srv_buf_json_string(&b, in->text + st[k], (size_t)(en[k] - st[k]));
                srv_buf_printf(&b, ",\"special\":false,\"start\":%d,\"stop\":%d}", (int)st[k], (int)en[k]);
            } else {
                const char *t = sutra_embedder_token(s->emb, id);
                if (!t) t = "";
                srv_buf_json_string(&b, t, strlen(t));
                srv_buf_puts(&b, ",\"special\":true,\"start\":null,\"stop\":null}");
            }
        }
        srv_buf_puts(&b, "]");
    }
    free_spans(starts, ends, n);
    srv_buf_puts(&b, "]");
    return send_json(r, 200, &b);
}

static void job_done(srv_job *job) {
    req_ctx *r = job->user;
    atomic_store(&r->state, REQ_DONE);
    MHD_resume_connection(r->conn);
}

/* What r's reply will take, held from admission to the reply (which then counts its real size):
 * a float printed in JSON is at most 16 bytes; a sparse entry about 32 (SPLADE's may be many per
 * token); a ColBERT row one float per width per token. */
static int64_t reply_estimate(const req_ctx *r, srv_job_kind kind) {
    const server *s = r->srv;
    const int64_t n = (int64_t)r->req.n, tokens = (int64_t)r->tokens;
    switch (kind) {
    case SRV_JOB_RERANK:
    case SRV_JOB_RERANK_RAW: return 256 + 64 * n;
    case SRV_JOB_SPARSE: return 256 + 64 * n + 32 * tokens * (strcmp(s->info.sparse_kind, "splade") ? 1 : 16);
    case SRV_JOB_MULTIVECTOR:
        return 256 + n * ((int64_t)s->hidden * 16 + 64) + tokens * ((int64_t)s->info.multivector_dim * 16 + 32);
    default: return 256 + n * ((int64_t)r->dims * 16 + 64);
    }
}

/* Queues r->job; the reply comes when the scheduler is done with it. */
static enum MHD_Result submit(req_ctx *r) {
    server *s = r->srv;
    /* the scheduler watches the socket: a client that leaves has the rest of its work dropped */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->job.fd = ci ? ci->connect_fd : -1;
    /* Suspend before queueing: done() may run (and resume) before submit returns. */
    atomic_store(&r->state, REQ_WAITING);
    MHD_suspend_connection(r->conn);
    srv_submit sub = srv_sched_submit(s->sched, &r->job);
    if (sub != SRV_SUBMIT_OK) {
        r->refused = sub;
        atomic_store(&r->state, REQ_DONE);
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

/* /rerank and /v1/rerank: each (query, document) tokenised as the library pairs them (truncated
 * to the token limit by longest_first, as sentence-transformers' CrossEncoder does), then queued. */
static enum MHD_Result submit_rerank(req_ctx *r) {
    server *s = r->srv;
    srv_request *q = &r->req;
    const char *field = r->route == SRV_ROUTE_RERANK ? "texts" : "documents";
    if (!(r->types = calloc(q->n, sizeof *r->types)) || !(r->out = malloc(q->n * sizeof *r->out)))
        return fail(r, 500, "internal_error", NULL, "out of memory");
    const size_t cap = (size_t)s->max_tokens;
    for (size_t i = 0; i < q->n; i++) {
        char err[512];
        if (!(r->ids[i] = malloc(cap * sizeof(int32_t))) || !(r->types[i] = malloc(cap * sizeof(int32_t))))
            return fail(r, 500, "internal_error", NULL, "out of memory");
        const srv_input *in = &q->inputs[i];
        sutra_status st = sutra_tokenize_pair(s->emb, q->query, q->query_len, in->text, in->len, r->ids[i], r->types[i],
                                              cap, &r->n_ids[i], err, sizeof err);
        if (st) {
            const int status = st == SUTRA_ERR_OUT_OF_MEMORY ? 500 : 400;
            return fail(r, status, st == SUTRA_ERR_INVALID_UTF8 ? "invalid_utf8" : status == 500 ? "internal_error"
                                                                                                  : "invalid_value",
                        field, "document %zu: %s", i, err);
        }
        enum MHD_Result ret;
        if (over_token_cap(r, i, &ret)) return ret;
    }
    if (!hold_reply(r, reply_estimate(r, SRV_JOB_RERANK))) return refuse_reply_budget(r);
    const int raw = r->route == SRV_ROUTE_RERANK && q->raw_scores;
    r->job = (srv_job){.kind = raw ? SRV_JOB_RERANK_RAW : SRV_JOB_RERANK, .n = q->n, .ids = (const int32_t **)r->ids,
                       .types = (const int32_t **)r->types, .n_ids = r->n_ids, .tokens = r->tokens, .out = r->out,
                       .done = job_done, .user = r};
    return submit(r);
}

static enum MHD_Result handle_post(req_ctx *r) {
    server *s = r->srv;
    srv_error err;
    if (srv_parse_request(r->route, r->body.data, r->body.len, s->o.max_inputs, &r->req, &err))
        return send_error(r, &err);
    srv_request *q = &r->req;
    const char *field = r->route == SRV_ROUTE_OPENAI ? "input" : "inputs";
    sutra_tokenize_options opt;
    sutra_tokenize_options_init(&opt);
    if (q->prompt_name && !(opt.prompt = sutra_embedder_find_prompt(s->emb, q->prompt_name)))
        return fail(r, 400, "invalid_value", "prompt_name", "the model has no prompt named '%s'", q->prompt_name);
    if (!(r->ids = calloc(q->n, sizeof *r->ids)) || !(r->n_ids = calloc(q->n, sizeof *r->n_ids)))
        return fail(r, 500, "internal_error", NULL, "out of memory");
    enum MHD_Result ret;
    if (r->route == SRV_ROUTE_TOKENIZE) {
        opt.no_truncate = 1;
        opt.no_special = !q->add_special;
        return handle_tokenize(r, &opt);
    }
    const int outputs = sutra_embedder_outputs(s->emb);
    const int need = r->route == SRV_ROUTE_RERANK || r->route == SRV_ROUTE_V1_RERANK ? SUTRA_OUTPUT_RERANK
                     : r->route == SRV_ROUTE_SPARSE                                   ? SUTRA_OUTPUT_SPARSE
                     : r->route == SRV_ROUTE_EMBED_ALL                                ? SUTRA_OUTPUT_MULTIVECTOR
                                                                                      : SUTRA_OUTPUT_DENSE;
    if (!(outputs & need)) {
        static const char *const what[] = {"", "dense vectors", "sparse vectors", "", "multi-vectors", "", "", "",
                                           "rerank scores"};
        return fail(r, 400, "model_not_supported", NULL, "model '%s' gives no %s (it gives: %s; see /info)",
                    s->info.name, what[need], s->info.outputs);
    }
    if (need == SUTRA_OUTPUT_RERANK) return submit_rerank(r);
    r->dims = q->dimensions ? q->dimensions : s->dim;
    if (r->dims > s->hidden)
        return fail(r, 400, "invalid_value", "dimensions", "'dimensions' must be at most %d for this model, got %d",
                    s->hidden, r->dims);
    r->normalize = r->route == SRV_ROUTE_OPENAI ? s->info.normalize : q->normalize != 0;
    int truncate = s->o.auto_truncate || q->truncate == 1;
    opt.no_truncate = !truncate;
    opt.truncate_left = q->truncate_left;
    for (size_t i = 0; i < q->n; i++) {
        srv_input *in = &q->inputs[i];
        if (in->text) {
            if (tokenize_input(r, i, &opt, NULL, NULL, &ret)) return ret;
        } else {
            for (size_t k = 0; k < in->n_ids; k++)
                if (in->ids[k] >= s->info.vocab_size)
                    return fail(r, 400, "invalid_token", field, "input %zu, token %zu: %d is not below the vocabulary "
                                "size %d", i, k, (int)in->ids[k], s->info.vocab_size);
            size_t n = in->n_ids, skip = 0;
            if (n > (size_t)s->max_tokens && truncate) {
                skip = q->truncate_left ? n - (size_t)s->max_tokens : 0;
                n = (size_t)s->max_tokens;
            }
            r->ids[i] = in->ids + skip; /* borrowed from the request */
            r->n_ids[i] = n;
        }
        if (r->n_ids[i] > (size_t)s->max_tokens)
            return fail(r, 422, "input_too_long", field,
                        "input %zu has %zu tokens; the model takes at most %d (send truncate: true, or start the "
                        "server with --auto-truncate)", i, r->n_ids[i], s->max_tokens);
        if (over_token_cap(r, i, &ret)) return ret;
    }
    const srv_job_kind kind = need == SUTRA_OUTPUT_SPARSE        ? SRV_JOB_SPARSE
                              : need == SUTRA_OUTPUT_MULTIVECTOR ? SRV_JOB_MULTIVECTOR
                                                                 : SRV_JOB_EMBED;
    if (!hold_reply(r, reply_estimate(r, kind))) return refuse_reply_budget(r);
    if (kind == SRV_JOB_EMBED && !(r->out = malloc(q->n * (size_t)s->hidden * sizeof *r->out)))
        return fail(r, 500, "internal_error", NULL, "out of memory");
    r->job = (srv_job){.kind = kind, .n = q->n, .ids = (const int32_t **)r->ids, .n_ids = r->n_ids,
                       .tokens = r->tokens, .out = r->out, .done = job_done, .user = r};
    return submit(r);
}

/* ---- connections ------------------------------------------------------------------------------ */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_rec *rec = calloc(1, sizeof *rec);
        if (!rec || !ci) {
            free(rec);
            return;
        }
        rec->fd = ci->connect_fd;
        rec->idle_since = srv_now();
        pthread_mutex_lock(&s->conns_mu);
        rec->next = s->conns;
        if (s->conns) s->conns->prev = rec;
        s->conns = rec;
        pthread_mutex_unlock(&s->conns_mu);
        *socket_context = rec;
    } else if (*socket_context) {
        conn_rec *rec = *socket_context;
        pthread_mutex_lock(&s->conns_mu);
        if (rec->prev) rec->prev->next = rec->next;
        else s->conns = rec->next;
        if (rec->next) rec->next->prev = rec->prev;
        pthread_mutex_unlock(&s->conns_mu);
        free(rec);
        *socket_context = NULL;
    }
}

static conn_rec *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A request's body is due from now (awaiting 1, at its head) or complete (0). */
static void mark_body(server *s, struct MHD_Connection *c, int awaiting, srv_route route) {
    conn_rec *rec = conn_of(c);
    if (!rec) return;
    pthread_mutex_lock(&s->conns_mu);
    rec->awaiting_body = awaiting;
    if (awaiting) {
        rec->body_since = srv_now();
        rec->route = route;
        atomic_store(&rec->answered, 0);
        rec->timed_out = 0;
    }
    pthread_mutex_unlock(&s->conns_mu);
}

static void mark_request(server *s, struct MHD_Connection *c, int in_request) {
    conn_rec *rec = conn_of(c);
    if (!rec) return;
    pthread_mutex_lock(&s->conns_mu);
    rec->in_request = in_request;
    rec->idle_since = srv_now();
    if (!in_request) rec->awaiting_body = 0;
    pthread_mutex_unlock(&s->conns_mu);
}

/* libmicrohttpd's timeout counts idleness, so a client that trickles a request head byte by byte
 * would hold its connection forever: every 100 ms, close connections that have gone
 * --request-timeout-ms without a complete request head (an idle keep-alive connection as well,
 * as libmicrohttpd itself would). shutdown() makes libmicrohttpd see the end of the stream and
 * release the connection in its own thread; the record stays until it does. */
static void *watchdog_main(void *arg) {
    server *s = arg;
    double limit = s->o.request_timeout_ms * 1e-3;
    while (!atomic_load(&s->stop_watchdog)) {
        usleep(100000);
        double now = srv_now();
        pthread_mutex_lock(&s->conns_mu);
        for (conn_rec *r = s->conns; r; r = r->next) {
            if (!r->in_request && now - r->idle_since > limit) {
                shutdown(r->fd, SHUT_RDWR);
                r->idle_since = INFINITY;
            } else if (r->in_request && r->awaiting_body && now - r->body_since > limit &&
                       !atomic_exchange(&r->answered, 1)) {
                /* a body that stopped arriving (libmicrohttpd would only close the connection once
                 * it has been idle for its own timeout, silently): 408, then the end of the stream */
                srv_error err = {.status = 408, .code = "request_timeout"};
                snprintf(err.message, sizeof err.message, "the body did not arrive within %ld ms",
                         s->o.request_timeout_ms);
                write_error(r->fd, &err, r->route, MSG_DONTWAIT);
                r->timed_out = 1;
                r->awaiting_body = 0;
                shutdown(r->fd, SHUT_RDWR);
            }
        }
        pthread_mutex_unlock(&s->conns_mu);
    }
    return NULL;
}

/* ---- the access handler ----------------------------------------------------------------------- */

static srv_route find_route(const char *url) {
    if (!strcmp(url, "/v1/embeddings") || !strcmp(url, "/embeddings")) return SRV_ROUTE_OPENAI;
    if (!strcmp(url, "/embed")) return SRV_ROUTE_EMBED;
    if (!strcmp(url, "/tokenize")) return SRV_ROUTE_TOKENIZE;
    if (!strcmp(url, "/health")) return SRV_ROUTE_HEALTH;
    if (!strcmp(url, "/info")) return SRV_ROUTE_INFO;
    if (!strcmp(url, "/metrics")) return SRV_ROUTE_METRICS;
    if (!strcmp(url, "/rerank")) return SRV_ROUTE_RERANK;
    if (!strcmp(url, "/v1/rerank")) return SRV_ROUTE_V1_RERANK;
    if (!strcmp(url, "/embed_sparse")) return SRV_ROUTE_SPARSE;
    if (!strcmp(url, "/embed_all")) return SRV_ROUTE_EMBED_ALL;
    return SRV_ROUTE_OTHER;
}

static int is_post_route(srv_route r) {
    return r == SRV_ROUTE_OPENAI || r == SRV_ROUTE_EMBED || r == SRV_ROUTE_TOKENIZE || r == SRV_ROUTE_RERANK ||
           r == SRV_ROUTE_V1_RERANK || r == SRV_ROUTE_SPARSE || r == SRV_ROUTE_EMBED_ALL;
}

/* Constant-time comparison of the Authorization header with the expected value. */
/* "Authorization: Bearer <key>": the scheme in any case (RFC 9110), then spaces, then the key,
 * compared in time that does not depend on where it differs. */
static int auth_ok(const server *s, struct MHD_Connection *c) {
    if (!s->auth) return 1;
    const char *got = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!got || strncasecmp(got, "Bearer ", 7)) return 0;
    got += 7;
    while (*got == ' ') got++;
    size_t a = strlen(got), b = strlen(s->auth);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned)(unsigned char)s->auth[i] ^ (unsigned char)(i < a ? got[i] : 0);
    return diff == 0;
}

/* Checks what the headers alone decide; 0 to go on, else the reply was queued. */
static int check_headers(req_ctx *r, enum MHD_Result *ret) {
    server *s = r->srv;
    struct MHD_Connection *c = r->conn;
    /* framing first: RFC 9112 wants 400 for HTTP/1.1 without Host, and a message with both
     * Content-Length and chunked coding is how requests are smuggled: answered, then closed */
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (r->http11 && !MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)) {
        r->close = 1;
        *ret = fail(r, 400, "missing_host", NULL, "an HTTP/1.1 request needs a Host header");
        return 1;
    }
    if (te && MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        r->close = 1;
        *ret = fail(r, 400, "invalid_framing", NULL, "a request may not have both Content-Length and Transfer-Encoding");
        return 1;
    }
    if (r->route == SRV_ROUTE_OTHER) {
        *ret = fail(r, 404, "not_found", NULL, "no route %s %s", r->method, r->path);
        return 1;
    }
    int post = !strcmp(r->method, "POST"), get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    if (is_post_route(r->route) ? !post : !get) {
        *ret = fail(r, 405, "method_not_allowed", NULL, "%s takes %s, not %s", r->path,
                    is_post_route(r->route) ? "POST" : "GET", r->method);
        return 1;
    }
    if (r->route != SRV_ROUTE_HEALTH && !auth_ok(s, c)) {
        *ret = fail(r, 401, "invalid_api_key", NULL,
                    "a valid API key is required: send the header 'Authorization: Bearer <key>'");
        return 1;
    }
    if (atomic_load(&s->draining) && r->route != SRV_ROUTE_HEALTH) {
        *ret = fail(r, 503, "shutting_down", NULL, "the server is shutting down");
        return 1;
    }
    if (!post) return 0;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long v = strtoull(cl, &end, 10);
        if (end != cl && v > s->o.max_body) {
            *ret = fail(r, 413, "body_too_large", NULL, "the body has %llu bytes; this server takes at most %zu", v,
                        s->o.max_body);
            return 1;
        }
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct) {
        while (*ct == ' ') ct++;
        size_t n = strcspn(ct, "; ");
        if (!(n == 16 && !strncasecmp(ct, "application/json", 16))) {
            *ret = fail(r, 415, "unsupported_media_type", NULL, "the body must be JSON (Content-Type: application/json)");
            return 1;
        }
    }
    return 0;
}

static enum MHD_Result handle_get(req_ctx *r) {
    server *s = r->srv;
    srv_buf b = {0};
    if (r->route == SRV_ROUTE_HEALTH) {
        int draining = atomic_load(&s->draining);
        srv_buf_puts(&b, draining ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}");
        return send_json(r, draining ? 503 : 200, &b);
    }
    if (r->route == SRV_ROUTE_INFO) {
        srv_buf_put(&b, s->info_json.data, s->info_json.len);
        return send_json(r, 200, &b);
    }
    srv_metrics_render(&s->metrics, &b);
    return send_buf(r, 200, &b, "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->srv = s;
        r->conn = c;
        r->t0 = srv_now();
        snprintf(r->method, sizeof r->method, "%s", method);
        r->http11 = version && !strcmp(version, MHD_HTTP_VERSION_1_1);
        copy_printable(r->path, sizeof r->path, url); /* logged and echoed in messages: never raw */
        r->route = find_route(url);
        *con_cls = r;
        mark_request(s, c, 1);
        mark_body(s, c, 1, r->route);
        atomic_fetch_add(&s->open_requests, 1);
        srv_metrics_inflight(&s->metrics, 1);
        enum MHD_Result ret;
        if (check_headers(r, &ret)) return ret;
        return MHD_YES;
    }
    if (r->status) { /* answered from the headers: drop the body */
        if (*upload_size) mark_body(s, c, 0, r->route); /* no 408 after that reply */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if ((srv_now() - r->t0) * 1e3 > (double)s->o.request_timeout_ms)
            return abort_with(r, 408, "request_timeout", "the body did not arrive within %ld ms",
                              s->o.request_timeout_ms);
        if (r->has_pending) return MHD_YES; /* discarding until the body ends */
        if (r->body.len + n > s->o.max_body) {
            srv_fail(&r->pending, 413, "body_too_large", NULL, "the body is over the %zu bytes this server takes",
                     s->o.max_body);
            r->has_pending = 1;
            srv_buf_free(&r->body);
            return MHD_YES;
        }
        srv_buf_put(&r->body, upload, n);
        if (r->body.oom) {
            srv_fail(&r->pending, 500, "internal_error", NULL, "out of memory for the body");
            r->has_pending = 1;
            srv_buf_free(&r->body);
        }
        return MHD_YES;
    }
    /* the body is complete (or there was none) */
    if (atomic_load(&r->state) == REQ_RECEIVING) mark_body(s, c, 0, r->route);
    if (r->has_pending) return send_error(r, &r->pending);
    switch (atomic_load(&r->state)) {
    case REQ_RECEIVING:
        if (!is_post_route(r->route)) return handle_get(r);
        return handle_post(r);
    case REQ_DONE:
        if (r->refused == SRV_SUBMIT_STOPPING) return fail(r, 503, "shutting_down", NULL, "the server is shutting down");
        if (r->refused == SRV_SUBMIT_OVERLOADED)
            return fail(r, 429, "overloaded", NULL, "the server is overloaded (%zu inputs queued); retry later",
                        s->o.max_queued);
        return reply(r);
    default: /* still waiting: nothing to do until the scheduler resumes the connection */
        return MHD_YES;
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    server *s = cls;
    req_ctx *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    const conn_rec *rec = conn_of(c);
    pthread_mutex_lock(&s->conns_mu);
    if (!r->status && rec && rec->timed_out) r->status = 408; /* answered by the watchdog */
    pthread_mutex_unlock(&s->conns_mu);
    /* a request without a queued reply: closed early, or answered by abort_with() or the watchdog */
    account(r, r->status ? NULL : "closed");
    if (r->held) srv_metrics_reply_adjust(&s->metrics, -r->held); /* reserved, never replied */
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status && r->status != 408 && r->status != 499 &&
        !s->o.quiet)
        fprintf(stderr, "sutra serve: %s %s: the %d reply was not delivered (connection ended)\n", r->method, r->path,
                r->status);
    mark_request(s, c, 0);
    atomic_fetch_sub(&s->open_requests, 1);
    free_request_data(r);
    free(r);
}

/* ---- start and stop --------------------------------------------------------------------------- */

/* libmicrohttpd's own messages, minus the one that follows every abort_with(). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    const server *s = cls;
    if (s && s->o.quiet) return; /* --quiet quiets the HTTP library too */
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (strstr(msg, "Application reported internal error")) return;
    size_t n = strlen(msg);
    fprintf(stderr, "sutra serve: http: %s%s", msg, n && msg[n - 1] == '\n' ? "" : "\n");
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: sutra serve [options]\n"
            "\n"
            "An OpenAI- and TEI-compatible embedding server (docs/SERVER.md).\n"
            "\n"
            "  -m, --model M              model directory or name (default all-MiniLM-L6-v2)\n"
            "      --host H               address to listen on (default 127.0.0.1)\n"
            "  -p, --port P               TCP port (default 8080; 0: any free port)\n"

            "  -t, --threads N            CPU threads of the embedder (default: all cores)\n"
            "      --max-batch-tokens N   tokens per scheduling round (default 8192)\n"
            "      --max-wait-us N        wait up to N us for more requests before a round that is not full (default 0:\n"
            "                             run as soon as the model is free; what arrives meanwhile is merged)\n"
            "      --api-key K            require 'Authorization: Bearer K' (all routes but /health)\n"
            "      --max-body-bytes N     larger bodies get 413 (default 2097152)\n"
            "      --max-inputs N         more inputs per request get 413 (default 2048)\n"
            "      --max-queued-inputs N  queued inputs beyond which requests get 429 (default 16384)\n"
            "      --auto-truncate        cut over-long inputs instead of answering 422\n"
            "      --request-timeout-ms N a body not in after N ms gets 408 (default 30000)\n"
            "      --http-threads N       threads reading and answering requests (default 4)\n"
            "      --max-request-tokens N tokens of one request, all inputs together, on every route (/tokenize\n"
            "                             too); more get 413 (default 1048576)\n"
            "      --max-reply-bytes N    reply memory held at once: replies clients have not read yet and work\n"
            "                             admitted (default 268435456); requests beyond it get 503\n"
            "      --max-connections N    open connections at once, all clients together (default 1000); more\n"
            "                             are closed as they arrive\n"
            "      --max-connections-per-address N\n"
            "                             open connections at once from one address (default 256)\n"
            "  -d, --dimensions N         default output dimensions\n"
            "  -l, --max-length N         token limit per input (default: the model's)\n"

            "      --prompt-name NAME     the model's prompt NAME before every input\n"
            "      --quiet                no per-request log line\n"
            "  -h, --help\n"
            "\n");
    sutra_engine_usage(f);
}

static long parse_num(const char *arg, const char *opt, long lo, long hi) {
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || v < lo || v > hi) {
        fprintf(stderr, "sutra serve: %s expects an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, arg);
        exit(2);
    }
    return v;
}

static void build_info(server *s) {
    srv_buf *b = &s->info_json;
    srv_buf_puts(b, "{\"model_id\":");
    srv_buf_json_string(b, s->info.name, strlen(s->info.name));
    srv_buf_puts(b, ",\"model_dir\":");
    srv_buf_json_string(b, s->info.path, strlen(s->info.path));
    srv_buf_puts(b, ",\"architecture\":");
    srv_buf_json_string(b, s->info.architecture, strlen(s->info.architecture));
    srv_buf_printf(b, ",\"dim\":%d,\"hidden_size\":%d,\"vector_size\":%d,\"max_input_length\":%d,"
                      "\"max_batch_tokens\":%ld,\"max_inputs\":%zu,\"max_body_bytes\":%zu,\"auto_truncate\":%s,"
                      "\"device\":\"%s\",\"gpu_name\":",
                   s->dim, s->info.hidden_size, s->hidden, s->max_tokens, s->o.max_batch_tokens, s->o.max_inputs, s->o.max_body,
                   s->o.auto_truncate ? "true" : "false", s->info.device);
    srv_buf_json_string(b, s->info.gpu_name, strlen(s->info.gpu_name));
    srv_buf_printf(b, ",\"attention\":\"%s\",\"flash_attention_threshold\":%d,\"attention_kernels\":",
                   s->info.attention, s->info.flash_threshold);
    srv_buf_json_string(b, s->info.attention_kernels, strlen(s->info.attention_kernels));
    srv_buf_puts(b, ",\"compute_dtype\":");
    srv_buf_json_string(b, s->info.compute_dtype, strlen(s->info.compute_dtype));
    srv_buf_puts(b, ",\"backend_settings\":");
    srv_buf_json_string(b, s->info.backend_settings, strlen(s->info.backend_settings));
    srv_buf_printf(b, ",\"max_connections\":%ld,\"max_connections_per_address\":%ld,\"max_request_tokens\":%ld,"
                      "\"max_reply_bytes\":%ld",
                   s->o.max_connections, s->o.max_conns_per_addr, s->o.max_request_tokens, s->o.max_reply_bytes);
    srv_buf_printf(b, ",\"cpu_isa\":\"%s\",\"approximate_gelu\":%s", s->info.cpu_isa,
                   s->info.approximate_gelu ? "true" : "false");
    srv_buf_printf(b, ",\"threads\":%d,\"threads_source\":", s->info.threads);
    srv_buf_json_string(b, s->info.threads_source, strlen(s->info.threads_source));
    srv_buf_printf(b, ",\"pooling\":\"%s\",\"normalize\":%s,\"prompt\":", s->info.pooling,
                   s->info.normalize ? "true" : "false");
    const char *p = sutra_embedder_prompt(s->emb);
    srv_buf_json_string(b, p, strlen(p));
    srv_buf_printf(b, ",\"outputs\":\"%s\",\"sparse_kind\":\"%s\",\"multivector_dim\":%d,\"score_activation\":\"%s\"",
                   s->info.outputs, s->info.sparse_kind, s->info.multivector_dim, s->info.score_activation);
    srv_buf_printf(b, ",\"version\":\"%s\"}", sutra_version());
}

int sutra_serve_main(int argc, char **argv) {
    server *s = calloc(1, sizeof *s);
    if (!s) return 1;
    s->o = (srv_opts){.host = "127.0.0.1", .port = 8080, .max_batch_tokens = 8192, .max_wait_us = 0,
                      .max_body = 2u << 20, .max_inputs = 2048, .max_queued = 16384, .request_timeout_ms = 30000,
                      .http_threads = 4, .max_connections = 1000, .max_conns_per_addr = 256,
                      .max_request_tokens = 1L << 20, .max_reply_bytes = 256L << 20};
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = "all-MiniLM-L6-v2";
    enum { O_HOST = 256, O_MBT, O_WAIT, O_KEY, O_BODY, O_INPUTS, O_QUEUED, O_TRUNC, O_TIMEOUT, O_HTTP, O_PROMPT,
           O_QUIET, O_MAXCONN, O_MAXCONN_ADDR, O_MAXREQTOK, O_MAXREPLY };
    static const struct option own[] = {
        {"model", required_argument, 0, 'm'},          {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'},        {"max-batch-tokens", required_argument, 0, O_MBT},
        {"max-wait-us", required_argument, 0, O_WAIT}, {"api-key", required_argument, 0, O_KEY},
        {"max-body-bytes", required_argument, 0, O_BODY}, {"max-inputs", required_argument, 0, O_INPUTS},
        {"max-queued-inputs", required_argument, 0, O_QUEUED}, {"auto-truncate", no_argument, 0, O_TRUNC},
        {"request-timeout-ms", required_argument, 0, O_TIMEOUT}, {"http-threads", required_argument, 0, O_HTTP},
        {"dimensions", required_argument, 0, 'd'},     {"max-length", required_argument, 0, 'l'},
        {"prompt-name", required_argument, 0, O_PROMPT},
        {"quiet", no_argument, 0, O_QUIET},
        {"max-connections", required_argument, 0, O_MAXCONN},
        {"max-request-tokens", required_argument, 0, O_MAXREQTOK},
        {"max-reply-bytes", required_argument, 0, O_MAXREPLY},
        {"max-connections-per-address", required_argument, 0, O_MAXCONN_ADDR},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct option opts[64];
    if (!sutra_engine_options(own, opts, sizeof opts / sizeof opts[0])) {
        free(s);
        return 2;
    }
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "m:p:t:d:l:h", opts, NULL)) != -1) {
        switch (o) {
        case 'm': cfg.model = optarg; break;
        case O_HOST: s->o.host = optarg; break;
        case 'p': s->o.port = (int)parse_num(optarg, "--port", 0, 65535); break;
        case 't': cfg.threads = (int)parse_num(optarg, "--threads", 0, 4096); break;
        case O_MBT: s->o.max_batch_tokens = parse_num(optarg, "--max-batch-tokens", 1, 1 << 24); break;
        case O_WAIT: s->o.max_wait_us = parse_num(optarg, "--max-wait-us", 0, 10000000); break;
        case O_KEY:
            if (!*optarg) {
                fprintf(stderr, "sutra serve: --api-key must not be empty (it would let every request in)\n");
                free(s);
                return 2;
            }
            s->o.api_key = optarg;
            break;
        case O_BODY: s->o.max_body = (size_t)parse_num(optarg, "--max-body-bytes", 64, 1L << 30); break;
        case O_INPUTS: s->o.max_inputs = (size_t)parse_num(optarg, "--max-inputs", 1, 1 << 20); break;
        case O_QUEUED: s->o.max_queued = (size_t)parse_num(optarg, "--max-queued-inputs", 1, 1 << 24); break;
        case O_TRUNC: s->o.auto_truncate = 1; break;
        case O_TIMEOUT: s->o.request_timeout_ms = parse_num(optarg, "--request-timeout-ms", 1, 3600000); break;
        case O_HTTP: s->o.http_threads = (int)parse_num(optarg, "--http-threads", 1, 256); break;
        case 'd': cfg.dimensions = (int)parse_num(optarg, "--dimensions", 0, 1 << 20); break;
        case 'l': cfg.max_sequence_length = (int)parse_num(optarg, "--max-length", 0, 1 << 24); break;
        case O_PROMPT: cfg.prompt_name = optarg; break;
        case O_QUIET: s->o.quiet = 1; break;
        case O_MAXREQTOK: s->o.max_request_tokens = parse_num(optarg, "--max-request-tokens", 1, 1L << 30); break;
        case O_MAXREPLY: s->o.max_reply_bytes = parse_num(optarg, "--max-reply-bytes", 1L << 16, 1L << 40); break;
        case O_MAXCONN: s->o.max_connections = parse_num(optarg, "--max-connections", 1, 1000000); break;
        case O_MAXCONN_ADDR:
            s->o.max_conns_per_addr = parse_num(optarg, "--max-connections-per-address", 1, 1000000);
            break;
        case 'h': usage(stdout); free(s); return 0;
        default:
            if (sutra_engine_option(o, optarg, &cfg, "sutra serve")) break;
            usage(stderr);
            free(s);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sutra serve: unexpected argument '%s'\n", argv[optind]);
        free(s);
        return 2;
    }
    cfg.max_batch_tokens = (int)s->o.max_batch_tokens;
    pthread_mutex_init(&s->conns_mu, NULL);
    /* Between rounds the model's OpenMP threads would spin on the cores the HTTP threads need
     * (measured: 400 ms instead of 8 ms for one request at concurrency 1 on 2 cores); let them
     * sleep unless the user chose otherwise. Set before the first OpenMP region. */
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);

    /* Signals are taken by sigwait() in this thread alone: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[1024];
    sutra_progress_state prog = {.tty = isatty(2)};
    cfg.hub.progress = sutra_engine_progress; /* a model by hub id may download first */
    cfg.hub.progress_data = &prog;
    sutra_status st = sutra_embedder_create(&cfg, &s->emb, err, sizeof err);
    if (st) {
        fprintf(stderr, "sutra serve: cannot load model: %s: %s\n", sutra_status_str(st), err);
        free(s);
        return 1;
    }
    sutra_embedder_info(s->emb, &s->info);
    if (*s->info.device_note) fprintf(stderr, "sutra serve: %s\n", s->info.device_note);
    s->dim = sutra_embedder_dim(s->emb);
    s->hidden = s->info.vector_size;
    s->max_tokens = sutra_embedder_max_tokens(s->emb);
    if (s->o.max_batch_tokens < s->max_tokens) s->o.max_batch_tokens = s->max_tokens;
    if (s->o.api_key) s->auth = strdup(s->o.api_key);
    srv_metrics_init(&s->metrics);
    build_info(s);
    int rc = 1;
    struct MHD_Daemon *d = NULL;
    if (srv_sched_start(&s->sched, s->emb, (size_t)s->o.max_batch_tokens, s->o.max_wait_us, s->o.max_queued,
                        &s->metrics)) {
        fprintf(stderr, "sutra serve: cannot start the scheduler thread\n");
        goto out;
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->o.port);
    int gai = getaddrinfo(s->o.host, port, &hints, &ai);
    if (gai || !ai) {
        fprintf(stderr, "sutra serve: cannot resolve --host %s: %s\n", s->o.host, gai_strerror(gai));
        goto out;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* libmicrohttpd's idle timeout, a little after the watchdog's (which answers a stalled body
     * with 408 and closes an idle connection at --request-timeout-ms): only a backstop */
    unsigned timeout_s = (unsigned)((s->o.request_timeout_ms + 999) / 1000) + 2;
    /* the library shares the total among its threads: at least one connection each */
    unsigned conn_limit = (unsigned)(s->o.max_connections > s->o.http_threads ? s->o.max_connections : s->o.http_threads);
    /* the logger first: options before it would log through the library's own */
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                         MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->o.http_threads,
                         MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                         /* SO_REUSEADDR only: a port another server listens on is refused */
                         MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)0, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
                         s, MHD_OPTION_CONNECTION_LIMIT, conn_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                         (unsigned)s->o.max_conns_per_addr, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "sutra serve: cannot listen on %s:%d (in use, or not an address of this machine?)\n",
                s->o.host, s->o.port);
        goto out;
    }
    int have_watchdog = !pthread_create(&s->watchdog, NULL, watchdog_main, s);
    if (!have_watchdog) fprintf(stderr, "sutra serve: no watchdog thread: slow request heads are not cut off\n");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int bound = di ? (int)di->port : s->o.port;
    int v6 = strchr(s->o.host, ':') != NULL;
    fprintf(stderr, "sutra serve: listening on http://%s%s%s:%d (model %s, device %s%s%s, dim %d, max tokens %d)\n",
            v6 ? "[" : "", s->o.host, v6 ? "]" : "", bound, s->info.name, s->info.device, *s->info.gpu_name ? " " : "",
            s->info.gpu_name, s->dim, s->max_tokens);
    fflush(stderr);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "sutra serve: %s: draining %lld in-flight requests\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
            (long long)srv_metrics_inflight_now(&s->metrics));
    atomic_store(&s->draining, 1);
    /* Requests already received finish, however long the model takes for them; new ones get
     * 503. A request still receiving its body is given the body timeout and a little more. */
    double until = srv_now() + s->o.request_timeout_ms * 1e-3 + 5.0;
    while (atomic_load(&s->open_requests) > 0 && (srv_now() < until || srv_sched_busy(s->sched))) usleep(5000);
    srv_sched_stop(s->sched);
    /* the replies of the last round still have to be written */
    until = srv_now() + 5.0;
    while (atomic_load(&s->open_requests) > 0 && srv_now() < until) usleep(5000);
    rc = 0;
    atomic_store(&s->stop_watchdog, 1);
    if (have_watchdog) pthread_join(s->watchdog, NULL);
out:
    if (d) MHD_stop_daemon(d);
    srv_sched_free(s->sched);
    sutra_engine_print_profile(s->emb, stderr);
    sutra_embedder_destroy(s->emb);
    srv_metrics_destroy(&s->metrics);
    srv_buf_free(&s->info_json);
    free(s->auth);
    pthread_mutex_destroy(&s->conns_mu);
    if (rc == 0) fprintf(stderr, "sutra serve: stopped\n");
    free(s);
    return rc;
}
