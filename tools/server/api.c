/*
 * api.c - parsing request bodies (cJSON) and writing replies for the server's routes.
 */
#include "api.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *srv_route_name(srv_route r) {
    static const char *names[SRV_ROUTE_COUNT] = {"/v1/embeddings", "/embed",        "/tokenize",  "/health",
                                                 "/info",          "/metrics",      "/rerank",    "/v1/rerank",
                                                 "/embed_sparse",  "/embed_all",    "other"};
    return (unsigned)r < SRV_ROUTE_COUNT ? names[r] : "other";
}

int srv_fail(srv_error *err, int status, const char *code, const char *param, const char *fmt, ...) {
    err->status = status;
    err->code = code;
    err->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

int srv_utf8_valid(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (len - i <= n) return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += n + 1;
    }
    return 1;
}

/* ---- parsing ---------------------------------------------------------------------------------- */

void srv_request_free(srv_request *req) {
    if (!req) return;
    for (size_t i = 0; i < req->n; i++) {
        free(req->inputs[i].text);
        free(req->inputs[i].ids);
    }
    free(req->inputs);
    free(req->model);
    free(req->prompt_name);
    free(req->query);
    memset(req, 0, sizeof *req);
}

/* A JSON number that is an exact integer in [lo, hi]: 1 and *out, else 0. */
static int json_int(const cJSON *item, double lo, double hi, long long *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < lo || v > hi) return 0;
    *out = (long long)v;
    return 1;
}

/* One array of token ids into *in. */
static int parse_ids(const cJSON *arr, size_t index, const char *field, srv_input *in, srv_error *err) {
    int n = cJSON_GetArraySize(arr);
    if (n == 0) return srv_fail(err, 400, "empty_input", field, "'%s': input %zu is an empty token array", field, index);
    if (!(in->ids = malloc((size_t)n * sizeof *in->ids)))
        return srv_fail(err, 500, "internal_error", NULL, "out of memory");
    const cJSON *t;
    size_t k = 0;
    cJSON_ArrayForEach(t, arr) {
        long long v;
        if (!cJSON_IsNumber(t) || !json_int(t, -1e18, 1e18, &v))
            return srv_fail(err, 400, "invalid_type", field, "'%s': input %zu, token %zu is not an integer", field,
                            index, k);
        if (v < 0 || v > INT32_MAX)
            return srv_fail(err, 400, "invalid_token", field, "'%s': input %zu, token %zu (%lld) is not a token id",
                            field, index, k, v);
        in->ids[k++] = (int32_t)v;
    }
    in->n_ids = k;
    return 0;
}

static int parse_text(const cJSON *s, size_t index, const char *field, srv_input *in, srv_error *err) {
    size_t len = strlen(s->valuestring);
    if (len == 0) return srv_fail(err, 400, "empty_input", field, "'%s': input %zu is an empty string", field, index);
    if (!srv_utf8_valid(s->valuestring, len))
        return srv_fail(err, 400, "invalid_utf8", field, "'%s': input %zu is not valid UTF-8", field, index);
    if (!(in->text = malloc(len + 1))) return srv_fail(err, 500, "internal_error", NULL, "out of memory");
    memcpy(in->text, s->valuestring, len + 1);
    in->len = len;
    return 0;
}

/* The inputs field: a string, an array of strings, an array of ids, or an array of arrays of ids
 * (ids only when allow_ids). */
static int parse_inputs(const cJSON *v, const char *field, int allow_ids, size_t max_inputs, srv_request *req,
                        srv_error *err) {
    const char *forms = allow_ids ? "a string, an array of strings, an array of token ids or an array of arrays of "
                                    "token ids"
                                  : "a string or an array of strings";
    if (!v || cJSON_IsNull(v)) return srv_fail(err, 400, "missing_field", field, "'%s' is required", field);
    size_t n;
    int kind; /* 0 texts, 1 one ids array, 2 arrays of ids */
    if (cJSON_IsString(v)) {
        n = 1, kind = 0;
    } else if (cJSON_IsArray(v)) {
        int sz = cJSON_GetArraySize(v);
        if (sz == 0) return srv_fail(err, 400, "empty_input", field, "'%s' is an empty array", field);
        const cJSON *first = v->child;
        if (cJSON_IsString(first)) kind = 0, n = (size_t)sz;
        else if (allow_ids && cJSON_IsNumber(first)) kind = 1, n = 1;
        else if (allow_ids && cJSON_IsArray(first)) kind = 2, n = (size_t)sz;
        else return srv_fail(err, 400, "invalid_type", field, "'%s' must be %s", field, forms);
    } else {
        return srv_fail(err, 400, "invalid_type", field, "'%s' must be %s", field, forms);
    }
    if (n > max_inputs)
        return srv_fail(err, 413, "too_many_inputs", field, "'%s' has %zu inputs; this server takes at most %zu",
                        field, n, max_inputs);
    if (!(req->inputs = calloc(n, sizeof *req->inputs)))
        return srv_fail(err, 500, "internal_error", NULL, "out of memory");
    req->n = n;
    if (cJSON_IsString(v)) return parse_text(v, 0, field, &req->inputs[0], err);
    if (kind == 1) return parse_ids(v, 0, field, &req->inputs[0], err);
    const cJSON *item;
    size_t i = 0;
    cJSON_ArrayForEach(item, v) {
        if (kind == 0 && !cJSON_IsString(item))
            return srv_fail(err, 400, "invalid_type", field, "'%s': input %zu is not a string (mixed array)", field, i);
        if (kind == 2 && !cJSON_IsArray(item))
            return srv_fail(err, 400, "invalid_type", field, "'%s': input %zu is not an array of token ids", field, i);
        int rc = kind == 0 ? parse_text(item, i, field, &req->inputs[i], err)
                           : parse_ids(item, i, field, &req->inputs[i], err);
        if (rc) return rc;
        i++;
    }
    return 0;
}

/* Optional fields: absent or null leaves the default. */
static int opt_bool(const cJSON *root, const char *field, int *out, srv_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return srv_fail(err, 400, "invalid_type", field, "'%s' must be true or false", field);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int opt_string(const cJSON *root, const char *field, char **out, srv_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return srv_fail(err, 400, "invalid_type", field, "'%s' must be a string", field);
    size_t len = strlen(v->valuestring);
    if (!srv_utf8_valid(v->valuestring, len))
        return srv_fail(err, 400, "invalid_utf8", field, "'%s' is not valid UTF-8", field);
    if (!(*out = strdup(v->valuestring))) return srv_fail(err, 500, "internal_error", NULL, "out of memory");
    return 0;
}

static int opt_dimensions(const cJSON *root, int *out, srv_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "dimensions");
    long long d;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!json_int(v, -1e18, 1e18, &d))
        return srv_fail(err, 400, "invalid_type", "dimensions", "'dimensions' must be an integer");
    if (d < 1 || d > 1 << 20)
        return srv_fail(err, 400, "invalid_value", "dimensions", "'dimensions' must be at least 1, got %lld", d);
    *out = (int)d;
    return 0;
}

/* Checks the body's \u escapes before cJSON sees them: cJSON reads a malformed one ("\u12G4")
 * as U+0000, and a C string cannot carry a real \u0000. Returns 0, or 1 for a malformed escape,
 * 2 for \u0000. */
static int check_escapes(const char *s, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u') {
            if (len - i < 6) return 1;
            for (int k = 2; k < 6; k++) {
                char c = s[i + k];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return 1;
            }
            if (!memcmp(s + i + 2, "0000", 4)) return 2;
        }
        i++; /* skip the escaped character */
    }
    return 0;
}

/* The rerank bodies: TEI {"query", "texts", "raw_scores", "return_text", "truncate",
 * "truncation_direction"}; Cohere / Jina {"model", "query", "documents" (strings or {"text": ...}),
 * "top_n", "return_documents"}. */
static int parse_rerank(const cJSON *root, srv_route route, size_t max_inputs, srv_request *req, srv_error *err) {
    const int tei = route == SRV_ROUTE_RERANK;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "query");
    if (!q || cJSON_IsNull(q)) return srv_fail(err, 400, "missing_field", "query", "'query' is required");
    if (!cJSON_IsString(q)) return srv_fail(err, 400, "invalid_type", "query", "'query' must be a string");
    size_t qlen = strlen(q->valuestring);
    if (!srv_utf8_valid(q->valuestring, qlen)) return srv_fail(err, 400, "invalid_utf8", "query", "'query' is not valid UTF-8");
    if (!(req->query = malloc(qlen + 1))) return srv_fail(err, 500, "internal_error", NULL, "out of memory");
    memcpy(req->query, q->valuestring, qlen + 1);
    req->query_len = qlen;
    const char *field = tei ? "texts" : "documents";
    const cJSON *docs = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!docs || cJSON_IsNull(docs)) return srv_fail(err, 400, "missing_field", field, "'%s' is required", field);
    if (!cJSON_IsArray(docs)) return srv_fail(err, 400, "invalid_type", field, "'%s' must be an array", field);
    const int n = cJSON_GetArraySize(docs);
    if (n == 0) return srv_fail(err, 400, "empty_input", field, "'%s' is an empty array", field);
    if ((size_t)n > max_inputs)
        return srv_fail(err, 413, "too_many_inputs", field, "'%s' has %d documents; this server takes at most %zu", field, n,
                        max_inputs);
    if (!(req->inputs = calloc((size_t)n, sizeof *req->inputs)))
        return srv_fail(err, 500, "internal_error", NULL, "out of memory");
    req->n = (size_t)n;
    size_t i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, docs) {
        const cJSON *text = d;
        if (!tei && cJSON_IsObject(d)) text = cJSON_GetObjectItemCaseSensitive(d, "text");
        if (!cJSON_IsString(text))
            return srv_fail(err, 400, "invalid_type", field, "'%s': document %zu must be a string%s", field, i,
                            tei ? "" : " or {\"text\": string}");
        int rc = parse_text(text, i, field, &req->inputs[i], err);
        if (rc) return rc;
        i++;
    }
    int rc;
    if (tei) {
        if ((rc = opt_bool(root, "raw_scores", &req->raw_scores, err))) return rc;
        if ((rc = opt_bool(root, "return_text", &req->return_text, err))) return rc;
        if ((rc = opt_bool(root, "truncate", &req->truncate, err))) return rc;
        char *dir = NULL;
        if ((rc = opt_string(root, "truncation_direction", &dir, err))) return rc;
        if (dir && strcmp(dir, "Right") && strcmp(dir, "right"))
            rc = srv_fail(err, 400, "invalid_value", "truncation_direction",
                          "a pair is truncated from the right (longest_first); 'truncation_direction' must be \"Right\"");
        free(dir);
        return rc;
    }
    if ((rc = opt_string(root, "model", &req->model, err))) return rc;
    if ((rc = opt_bool(root, "return_documents", &req->return_text, err))) return rc;
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(root, "top_n");
    long long t;
    if (top && !cJSON_IsNull(top)) {
        if (!json_int(top, 1, 1e9, &t)) return srv_fail(err, 400, "invalid_value", "top_n", "'top_n' must be a positive integer");
        req->top_n = (long)t;
    }
    return 0;
}

int srv_parse_request(srv_route route, const char *body, size_t len, size_t max_inputs, srv_request *req,
                      srv_error *err) {
    memset(req, 0, sizeof *req);
    req->top_n = -1;
    req->route = route;
    req->normalize = req->truncate = -1;
    req->add_special = 1;
    if (len == 0 || !body) return srv_fail(err, 400, "invalid_json", NULL, "the request body is empty");
    if (memchr(body, '\0', len)) return srv_fail(err, 400, "invalid_json", NULL, "the body holds a NUL byte");
    int esc = check_escapes(body, len);
    if (esc == 1) return srv_fail(err, 400, "invalid_json", NULL, "the body has a malformed \\u escape");
    if (esc == 2) return srv_fail(err, 400, "invalid_value", NULL, "strings holding \\u0000 are not supported");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        return srv_fail(err, 400, "invalid_json", NULL, "the body is not valid JSON (error near byte %zu)", at);
    }
    int rc = 0;
    while (end && end < body + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) end++;
    if (end && end < body + len) {
        rc = srv_fail(err, 400, "invalid_json", NULL, "the body has data after its JSON value (byte %zu)",
                      (size_t)(end - body));
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rc = srv_fail(err, 400, "invalid_type", NULL, "the body must be a JSON object");
        goto done;
    }
    if (route == SRV_ROUTE_OPENAI) {
        if ((rc = parse_inputs(cJSON_GetObjectItemCaseSensitive(root, "input"), "input", 1, max_inputs, req, err)))
            goto done;
        if ((rc = opt_string(root, "model", &req->model, err))) goto done;
        char *fmt = NULL;
        if ((rc = opt_string(root, "encoding_format", &fmt, err))) goto done;
        if (fmt && strcmp(fmt, "float") && strcmp(fmt, "base64"))
            rc = srv_fail(err, 400, "invalid_value", "encoding_format",
                          "'encoding_format' must be \"float\" or \"base64\"");
        req->base64 = fmt && !strcmp(fmt, "base64");
        free(fmt);
        if (rc) goto done;
        if ((rc = opt_dimensions(root, &req->dimensions, err))) goto done;
        const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
        if (user && !cJSON_IsNull(user) && !cJSON_IsString(user))
            rc = srv_fail(err, 400, "invalid_type", "user", "'user' must be a string");
    } else if (route == SRV_ROUTE_RERANK || route == SRV_ROUTE_V1_RERANK) {
        rc = parse_rerank(root, route, max_inputs, req, err);
    } else if (route == SRV_ROUTE_EMBED || route == SRV_ROUTE_SPARSE || route == SRV_ROUTE_EMBED_ALL) {
        if ((rc = parse_inputs(cJSON_GetObjectItemCaseSensitive(root, "inputs"), "inputs", 1, max_inputs, req, err)))
            goto done;
        if ((rc = opt_bool(root, "normalize", &req->normalize, err))) goto done;
        if ((rc = opt_bool(root, "truncate", &req->truncate, err))) goto done;
        char *dir = NULL;
        if ((rc = opt_string(root, "truncation_direction", &dir, err))) goto done;
        if (dir && strcmp(dir, "Right") && strcmp(dir, "right") && strcmp(dir, "Left") && strcmp(dir, "left"))
            rc = srv_fail(err, 400, "invalid_value", "truncation_direction",
                          "'truncation_direction' must be \"Right\" or \"Left\"");
        req->truncate_left = dir && (dir[0] == 'L' || dir[0] == 'l');
        free(dir);
        if (rc) goto done;
        if ((rc = opt_string(root, "prompt_name", &req->prompt_name, err))) goto done;
        rc = opt_dimensions(root, &req->dimensions, err);
    } else if (route == SRV_ROUTE_TOKENIZE) {
        if ((rc = parse_inputs(cJSON_GetObjectItemCaseSensitive(root, "inputs"), "inputs", 0, max_inputs, req, err)))
            goto done;
        if ((rc = opt_bool(root, "add_special_tokens", &req->add_special, err))) goto done;
        rc = opt_string(root, "prompt_name", &req->prompt_name, err);
    } else {
        rc = srv_fail(err, 500, "internal_error", NULL, "route takes no body");
    }
done:
    cJSON_Delete(root);
    return rc;
}

/* ---- writing ---------------------------------------------------------------------------------- */

void srv_buf_free(srv_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int buf_reserve(srv_buf *b, size_t extra) {
    if (b->oom) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void srv_buf_put(srv_buf *b, const char *s, size_t n) {
    if (!buf_reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void srv_buf_puts(srv_buf *b, const char *s) { srv_buf_put(b, s, strlen(s)); }

void srv_buf_printf(srv_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void srv_buf_json_string(srv_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (!buf_reserve(b, n * 6 + 2)) return;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            *o++ = '\\';
            if (c == '\n') *o++ = 'n';
            else if (c == '\r') *o++ = 'r';
            else if (c == '\t') *o++ = 't';
            else {
                *o++ = 'u', *o++ = '0', *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

void srv_buf_json_floats(srv_buf *b, const float *v, size_t n) {
    /* "%.9g" reads back as the same float; 17 bytes is the longest it writes ("-1.23456789e-38"). */
    if (!buf_reserve(b, n * 18 + 2)) return;
    char *o = b->data + b->len;
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i) *o++ = ',';
        if (isfinite(v[i])) o += snprintf(o, 18, "%.9g", (double)v[i]);
        else memcpy(o, "null", 4), o += 4;
    }
    *o++ = ']';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

void srv_buf_json_float(srv_buf *b, float v) {
    if (!isfinite(v)) {
        srv_buf_puts(b, "null");
        return;
    }
    srv_buf_printf(b, "%.9g", (double)v);
}

void srv_buf_base64_floats(srv_buf *b, const float *v, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t bytes = n * 4;
    if (!buf_reserve(b, (bytes + 2) / 3 * 4 + 2)) return;
    char *o = b->data + b->len;
    *o++ = '"';
    unsigned char chunk[3];
    size_t have = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++) { /* little-endian whatever the host */
            chunk[have++] = (unsigned char)(u >> (8 * k));
            if (have == 3) {
                *o++ = tab[chunk[0] >> 2];
                *o++ = tab[(chunk[0] & 3) << 4 | chunk[1] >> 4];
                *o++ = tab[(chunk[1] & 15) << 2 | chunk[2] >> 6];
                *o++ = tab[chunk[2] & 63];
                have = 0;
            }
        }
    }
    if (have) {
        if (have == 1) chunk[1] = 0;
        *o++ = tab[chunk[0] >> 2];
        *o++ = tab[(chunk[0] & 3) << 4 | chunk[1] >> 4];
        *o++ = have == 2 ? tab[(chunk[1] & 15) << 2] : '=';
        *o++ = '=';
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

void srv_error_json(srv_buf *b, const srv_error *err) {
    const char *type = err->status == 401                       ? "authentication_error"
                       : err->status == 429                     ? "rate_limit_error"
                       : err->status >= 500                     ? "server_error"
                                                                : "invalid_request_error";
    srv_buf_puts(b, "{\"error\":{\"message\":");
    srv_buf_json_string(b, err->message, strlen(err->message));
    srv_buf_printf(b, ",\"type\":\"%s\",\"param\":", type);
    if (err->param) srv_buf_json_string(b, err->param, strlen(err->param));
    else srv_buf_puts(b, "null");
    srv_buf_printf(b, ",\"code\":\"%s\"}}", err->code ? err->code : "error");
}

int srv_route_is_tei(srv_route route) {
    return route == SRV_ROUTE_EMBED || route == SRV_ROUTE_TOKENIZE || route == SRV_ROUTE_RERANK ||
           route == SRV_ROUTE_SPARSE || route == SRV_ROUTE_EMBED_ALL || route == SRV_ROUTE_HEALTH ||
           route == SRV_ROUTE_INFO;
}

void srv_error_json_for(srv_buf *b, const srv_error *err, srv_route route) {
    if (!srv_route_is_tei(route)) {
        srv_error_json(b, err);
        return;
    }
    const char *code = err->code ? err->code : "error";
    const char *kind = err->status == 401                                          ? "Unauthorized"
                       : err->status == 429                                        ? "Overloaded"
                       : err->status == 503                                        ? "Unhealthy"
                       : err->status >= 500                                        ? "Backend"
                       : !strcmp(code, "invalid_utf8") || !strcmp(code, "tokenizer") ? "Tokenizer"
                       : !strcmp(code, "empty_input")                              ? "Empty"
                                                                                   : "Validation";
    srv_buf_puts(b, "{\"error\":");
    srv_buf_json_string(b, err->message, strlen(err->message));
    srv_buf_printf(b, ",\"error_type\":\"%s\",\"code\":", kind);
    srv_buf_json_string(b, code, strlen(code));
    srv_buf_puts(b, "}");
}
