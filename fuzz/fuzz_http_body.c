/*
 * fuzz_http_body.c - libFuzzer harness for the server's request bodies (tools/server/api.c).
 * The first byte picks the route (OpenAI embeddings, TEI embed / tokenize / rerank / embed_sparse /
 * embed_all, Cohere rerank), the rest is the body. Whatever the bytes: no crash, no leak, no read out of bounds; a parse either fails with
 * an HTTP status and a message, or yields inputs that are non-empty, valid UTF-8 texts or
 * non-negative ids. Accepted requests' texts are written back through the reply writers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const srv_route routes[] = {SRV_ROUTE_OPENAI,    SRV_ROUTE_EMBED,  SRV_ROUTE_TOKENIZE, SRV_ROUTE_RERANK,
                                       SRV_ROUTE_V1_RERANK, SRV_ROUTE_SPARSE, SRV_ROUTE_EMBED_ALL};
    srv_route route = routes[data[0] % 7];
    srv_request q;
    srv_error err;
    memset(&err, 0, sizeof err);
    int rc = srv_parse_request(route, (const char *)data + 1, size - 1, 64, &q, &err);
    if (rc) {
        if (rc < 400 || rc > 599 || !err.code || !err.message[0]) abort();
        srv_buf b = {0};
        srv_error_json(&b, &err);
        srv_buf_free(&b);
    } else {
        if (q.n == 0 || q.n > 64) abort();
        if ((route == SRV_ROUTE_RERANK || route == SRV_ROUTE_V1_RERANK) &&
            (!q.query || strlen(q.query) != q.query_len || !srv_utf8_valid(q.query, q.query_len) || q.top_n == 0))
            abort();
        srv_buf b = {0};
        for (size_t i = 0; i < q.n; i++) {
            const srv_input *in = &q.inputs[i];
            if (in->text) {
                if (!in->len || strlen(in->text) != in->len || !srv_utf8_valid(in->text, in->len)) abort();
                srv_buf_json_string(&b, in->text, in->len);
            } else {
                if (!in->n_ids) abort();
                for (size_t k = 0; k < in->n_ids; k++)
                    if (in->ids[k] < 0) abort();
                float v[4] = {(float)in->ids[0], -0.0f, 1e-40f, 3e38f};
                srv_buf_json_floats(&b, v, 4);
                srv_buf_base64_floats(&b, v, 1 + in->n_ids % 4);
            }
        }
        srv_buf_free(&b);
    }
    srv_request_free(&q);
    return 0;
}
