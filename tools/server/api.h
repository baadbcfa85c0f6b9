/*
 * api.h - the server's request bodies and replies: JSON in, parsed requests out; vectors in,
 * JSON out. docs/SERVER.md is the contract.
 *
 * Rules: nothing here touches the network, the embedder or global state, so every function can
 * be fuzzed and tested on its own; every parse failure fills a srv_error with the HTTP status,
 * the OpenAI error code and a message naming the field at fault.
 */
#ifndef SUTRA_SERVER_API_H
#define SUTRA_SERVER_API_H

#include <stddef.h>
#include <stdint.h>

typedef enum srv_route {
    SRV_ROUTE_OPENAI = 0, /* POST /v1/embeddings */
    SRV_ROUTE_EMBED,      /* POST /embed (TEI) */
    SRV_ROUTE_TOKENIZE,   /* POST /tokenize (TEI) */
    SRV_ROUTE_HEALTH,     /* GET /health */
    SRV_ROUTE_INFO,       /* GET /info */
    SRV_ROUTE_METRICS,    /* GET /metrics */
    SRV_ROUTE_RERANK,     /* POST /rerank (TEI) */
    SRV_ROUTE_V1_RERANK,  /* POST /v1/rerank (Cohere / Jina) */
    SRV_ROUTE_SPARSE,     /* POST /embed_sparse (TEI) */
    SRV_ROUTE_EMBED_ALL,  /* POST /embed_all (TEI: a vector per token; here the model's multi-vectors) */
    SRV_ROUTE_OTHER,      /* anything else (404 / 405) */
    SRV_ROUTE_COUNT
} srv_route;

/* The metrics label of a route ("/v1/embeddings", ..., "other"). */
const char *srv_route_name(srv_route r);

typedef struct srv_error {
    int status;          /* HTTP status */
    const char *code;    /* OpenAI error code, e.g. "invalid_type" */
    const char *param;   /* the request field at fault, or NULL */
    char message[512];
} srv_error;

/* Fills *err and returns its status. */
int srv_fail(srv_error *err, int status, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* One input of a request: a text, or token ids given by the client. */
typedef struct srv_input {
    char *text;     /* NUL-terminated UTF-8 (validated), or NULL for token input */
    size_t len;
    int32_t *ids;   /* the client's ids, when text is NULL */
    size_t n_ids;
} srv_input;

typedef struct srv_request {
    srv_route route;
    srv_input *inputs;
    size_t n;
    char *model;        /* OpenAI "model" (echoed back), or NULL */
    int base64;         /* OpenAI encoding_format "base64" */
    int dimensions;     /* 0: the server's default */
    int normalize;      /* TEI; -1: not given */
    int truncate;       /* TEI; -1: not given */
    int truncate_left;  /* TEI truncation_direction "left" */
    char *prompt_name;  /* TEI; NULL: not given */
    int add_special;    /* /tokenize add_special_tokens (default 1) */
    /* rerank: the query; the documents are the inputs (texts only) */
    char *query;
    size_t query_len;
    int raw_scores;       /* TEI raw_scores */
    int return_text;      /* TEI return_text / Cohere return_documents */
    long top_n;           /* Cohere top_n; -1: all */
} srv_request;

/* Parses the JSON body of a POST route (OPENAI, EMBED, TOKENIZE, RERANK, V1_RERANK, SPARSE,
 * EMBED_ALL) into *req (which the caller
 * frees with srv_request_free, also after a failure). Checks syntax, types, emptiness, UTF-8 and
 * that there are at most max_inputs inputs; model-dependent limits (token ids, dimensions,
 * lengths) are the caller's. Returns 0 or the HTTP status of *err. */
int srv_parse_request(srv_route route, const char *body, size_t len, size_t max_inputs, srv_request *req,
                      srv_error *err);
void srv_request_free(srv_request *req);

/* 1 if s[0..len) is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
int srv_utf8_valid(const char *s, size_t len);

/* A growable byte buffer; on allocation failure it sets oom and ignores further appends. */
typedef struct srv_buf {
    char *data;
    size_t len, cap;
    int oom;
} srv_buf;

void srv_buf_free(srv_buf *b);
void srv_buf_put(srv_buf *b, const char *s, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string literal, quotes included (control characters escaped). */
void srv_buf_json_string(srv_buf *b, const char *s, size_t n);
/* v as a JSON array of numbers that read back as the same floats (9 significant digits). */
void srv_buf_json_floats(srv_buf *b, const float *v, size_t n);
/* One float as JSON (%.9g: reads back as the same float; null when not finite). */
void srv_buf_json_float(srv_buf *b, float v);
/* v's little-endian float32 bytes in base64, as a JSON string. */
void srv_buf_base64_floats(srv_buf *b, const float *v, size_t n);

/* The error reply body in the OpenAI shape. */
void srv_error_json(srv_buf *b, const srv_error *err);

/* 1 for the routes text-embeddings-inference defines (/embed, /embed_sparse, /embed_all, /rerank,
 * /tokenize, /health, /info): their clients read errors in TEI's shape. */
int srv_route_is_tei(srv_route route);

/* The error reply body as route's clients expect it: TEI's {"error": message, "error_type": kind}
 * (kinds Validation, Tokenizer, Empty, Overloaded, Unhealthy, Backend, Unauthorized; Sutra's code
 * beside them as "code") on TEI routes, else the OpenAI shape. */
void srv_error_json_for(srv_buf *b, const srv_error *err, srv_route route);

#endif /* SUTRA_SERVER_API_H */
