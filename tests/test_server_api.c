/*
 * test_server_api.c - the server's request parsing and reply writing (tools/server/api.c),
 * without a network: every accepted body form, a table of malformed bodies with the status and
 * error code each must get, and the writers' round trips (floats through text, base64 bytes,
 * string escaping, UTF-8 validation).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "testutil.h"

static int parse(srv_route r, const char *body, srv_request *q, srv_error *err) {
    return srv_parse_request(r, body, strlen(body), 4, q, err);
}

typedef struct bad_case {
    srv_route route;
    const char *body;
    int status;
    const char *code;
} bad_case;

static const bad_case bad[] = {
    {SRV_ROUTE_OPENAI, "", 400, "invalid_json"},
    {SRV_ROUTE_OPENAI, "{", 400, "invalid_json"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\"", 400, "invalid_json"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\"} x", 400, "invalid_json"},
    {SRV_ROUTE_OPENAI, "[\"a\"]", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "\"a\"", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{}", 400, "missing_field"},
    {SRV_ROUTE_OPENAI, "{\"input\": null}", 400, "missing_field"},
    {SRV_ROUTE_OPENAI, "{\"input\": 5}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": {}}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": true}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"\"}", 400, "empty_input"},
    {SRV_ROUTE_OPENAI, "{\"input\": []}", 400, "empty_input"},
    {SRV_ROUTE_OPENAI, "{\"input\": [[]]}", 400, "empty_input"},
    {SRV_ROUTE_OPENAI, "{\"input\": [\"a\", \"\"]}", 400, "empty_input"},
    {SRV_ROUTE_OPENAI, "{\"input\": [\"a\", 1]}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": [1, \"a\"]}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": [[1], 2]}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": [1.5]}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": [-1]}", 400, "invalid_token"},
    {SRV_ROUTE_OPENAI, "{\"input\": [3000000000]}", 400, "invalid_token"},
    {SRV_ROUTE_OPENAI, "{\"input\": [1e300]}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": [[1, \"2\"]]}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": [null]}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", 413, "too_many_inputs"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\", \"encoding_format\": \"int8\"}", 400, "invalid_value"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\", \"encoding_format\": 1}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\", \"dimensions\": 0}", 400, "invalid_value"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\", \"dimensions\": -3}", 400, "invalid_value"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\", \"dimensions\": 2.5}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\", \"dimensions\": \"8\"}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\", \"model\": 3}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\", \"user\": []}", 400, "invalid_type"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"\\ud800\"}", 400, "invalid_json"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\\u0000b\"}", 400, "invalid_value"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"\\u12G4\"}", 400, "invalid_json"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"ab\\u12\"}", 400, "invalid_json"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"\xff\"}", 400, "invalid_utf8"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"\xc0\xaf\"}", 400, "invalid_utf8"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"\xed\xa0\x80\"}", 400, "invalid_utf8"},
    {SRV_ROUTE_OPENAI, "{\"input\": \"a\", \"model\": \"\xfe\"}", 400, "invalid_utf8"},
    {SRV_ROUTE_EMBED, "{\"input\": \"a\"}", 400, "missing_field"},
    {SRV_ROUTE_EMBED, "{\"inputs\": \"a\", \"normalize\": \"yes\"}", 400, "invalid_type"},
    {SRV_ROUTE_EMBED, "{\"inputs\": \"a\", \"truncate\": 1}", 400, "invalid_type"},
    {SRV_ROUTE_EMBED, "{\"inputs\": \"a\", \"truncation_direction\": \"up\"}", 400, "invalid_value"},
    {SRV_ROUTE_EMBED, "{\"inputs\": \"a\", \"truncation_direction\": 0}", 400, "invalid_type"},
    {SRV_ROUTE_EMBED, "{\"inputs\": \"a\", \"prompt_name\": 7}", 400, "invalid_type"},
    {SRV_ROUTE_EMBED, "{\"inputs\": \"a\", \"dimensions\": []}", 400, "invalid_type"},
    {SRV_ROUTE_TOKENIZE, "{\"inputs\": [1, 2]}", 400, "invalid_type"},
    {SRV_ROUTE_TOKENIZE, "{\"inputs\": \"a\", \"add_special_tokens\": \"no\"}", 400, "invalid_type"},
    {SRV_ROUTE_TOKENIZE, "{\"inputs\": \"\"}", 400, "empty_input"},
};

int main(void) {
    srv_request q;
    srv_error err;

    /* accepted forms */
    TU_CHECK(!parse(SRV_ROUTE_OPENAI, "{\"input\": \"hello\", \"model\": \"m\"}", &q, &err) && q.n == 1 &&
                 !strcmp(q.inputs[0].text, "hello") && !strcmp(q.model, "m") && !q.base64 && !q.dimensions,
             "a string input: %s", err.message);
    srv_request_free(&q);
    TU_CHECK(!parse(SRV_ROUTE_OPENAI, "{\"input\": [\"a\", \"b c\"], \"encoding_format\": \"base64\", \"dimensions\": 8}",
                    &q, &err) &&
                 q.n == 2 && !strcmp(q.inputs[1].text, "b c") && q.base64 && q.dimensions == 8,
             "an array of strings: %s", err.message);
    srv_request_free(&q);
    TU_CHECK(!parse(SRV_ROUTE_OPENAI, "{\"input\": [101, 7592, 102.0]}", &q, &err) && q.n == 1 && !q.inputs[0].text &&
                 q.inputs[0].n_ids == 3 && q.inputs[0].ids[2] == 102,
             "one array of ids: %s", err.message);
    srv_request_free(&q);
    TU_CHECK(!parse(SRV_ROUTE_OPENAI, "{\"input\": [[1], [2, 3]], \"user\": \"u\", \"extra\": {}}", &q, &err) &&
                 q.n == 2 && q.inputs[1].n_ids == 2 && q.inputs[1].ids[1] == 3,
             "arrays of ids, unknown fields ignored: %s", err.message);
    srv_request_free(&q);
    TU_CHECK(!parse(SRV_ROUTE_EMBED,
                    "{\"inputs\": [\"x\"], \"normalize\": false, \"truncate\": true, \"truncation_direction\": \"Left\", "
                    "\"prompt_name\": \"query\", \"dimensions\": null}",
                    &q, &err) &&
                 q.normalize == 0 && q.truncate == 1 && q.truncate_left && !strcmp(q.prompt_name, "query") &&
                 !q.dimensions,
             "TEI fields: %s", err.message);
    srv_request_free(&q);
    TU_CHECK(!parse(SRV_ROUTE_EMBED, " {\"inputs\": \"x\"}\r\n", &q, &err) && q.normalize == -1 && q.truncate == -1 &&
                 !q.truncate_left,
             "TEI defaults, whitespace around the body");
    srv_request_free(&q);
    TU_CHECK(!parse(SRV_ROUTE_TOKENIZE, "{\"inputs\": \"x\", \"add_special_tokens\": false}", &q, &err) &&
                 q.add_special == 0,
             "tokenize fields");
    srv_request_free(&q);
    TU_CHECK(!parse(SRV_ROUTE_OPENAI, "{\"input\": \"caf\\u00e9 \\ud83d\\ude00 \\\\u0000\"}", &q, &err) &&
                 !strcmp(q.inputs[0].text, "caf\xc3\xa9 \xf0\x9f\x98\x80 \\u0000"),
             "escapes decode to UTF-8; an escaped backslash before u0000 is text: %s", err.message);
    srv_request_free(&q);

    /* malformed bodies */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        int rc = parse(bad[i].route, bad[i].body, &q, &err);
        TU_CHECK(rc == bad[i].status && err.code && !strcmp(err.code, bad[i].code) && err.message[0],
                 "case %zu (%s): got %d %s, want %d %s", i, bad[i].body, rc, err.code ? err.code : "-", bad[i].status,
                 bad[i].code);
        srv_request_free(&q);
    }
    {
        const char body[] = "{\"input\": \"a\0b\"}";
        TU_CHECK(srv_parse_request(SRV_ROUTE_OPENAI, body, sizeof body - 1, 4, &q, &err) == 400, "a raw NUL byte");
        srv_request_free(&q);
        char deep[5000];
        size_t k = 0;
        k += (size_t)snprintf(deep, sizeof deep, "{\"input\": ");
        for (int d = 0; d < 2000; d++) deep[k++] = '[';
        for (int d = 0; d < 2000; d++) deep[k++] = ']';
        deep[k++] = '}';
        TU_CHECK(srv_parse_request(SRV_ROUTE_OPENAI, deep, k, 4, &q, &err) == 400, "2000 nested arrays");
        srv_request_free(&q);
    }

    /* floats through "%.9g" text read back exactly; base64 carries the bytes */
    srand(7);
    float v[1000];
    for (int i = 0; i < 1000; i++) {
        unsigned u = ((unsigned)rand() << 16) ^ (unsigned)rand();
        memcpy(&v[i], &u, 4);
        if (!isfinite(v[i])) v[i] = (float)i * -1e-3f;
    }
    v[0] = 0.0f, v[1] = -0.0f, v[2] = 1e-45f, v[3] = 3.4028235e38f, v[4] = -1.17549435e-38f;
    srv_buf b = {0};
    srv_buf_json_floats(&b, v, 1000);
    const char *p = b.data + 1;
    int exact = 1;
    for (int i = 0; i < 1000; i++) {
        char *end;
        float f = strtof(p, &end);
        if (memcmp(&f, &v[i], 4)) exact = 0;
        p = end + 1;
    }
    TU_CHECK(exact && b.data[0] == '[' && b.data[b.len - 1] == ']', "1000 random floats read back bit for bit");
    srv_buf_free(&b);
    srv_buf_base64_floats(&b, v, 1000);
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char bytes[4000];
    size_t nb = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 1; i + 1 < b.len && b.data[i] != '='; i++) {
        acc = acc << 6 | (unsigned)(strchr(tab, b.data[i]) - tab);
        if ((bits += 6) >= 8) bytes[nb++] = (unsigned char)(acc >> (bits -= 8));
    }
    TU_CHECK(nb == 4000 && b.len == 2 + 5336, "base64 of 4000 bytes is 5336 characters (got %zu bytes)", nb);
    int same = 1;
    for (int i = 0; i < 1000; i++) {
        unsigned u = bytes[4 * i] | bytes[4 * i + 1] << 8 | bytes[4 * i + 2] << 16 | (unsigned)bytes[4 * i + 3] << 24;
        float f;
        memcpy(&f, &u, 4);
        if (memcmp(&f, &v[i], 4)) same = 0;
    }
    TU_CHECK(same, "base64 decodes to the little-endian floats");
    srv_buf_free(&b);
    for (int n = 1; n <= 3; n++) {
        srv_buf_base64_floats(&b, v, (size_t)n);
        TU_CHECK(b.len == 2 + ((size_t)n * 4 + 2) / 3 * 4, "padding for %d floats", n);
        srv_buf_free(&b);
    }

    /* strings and errors */
    srv_buf_json_string(&b, "a\"b\\c\n\x01\xc3\xa9", 9);
    TU_CHECK(!strcmp(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\""), "escaping: %s", b.data);
    srv_buf_free(&b);
    srv_fail(&err, 422, "input_too_long", "inputs", "input %d has %d tokens", 3, 600);
    srv_error_json(&b, &err);
    TU_CHECK(!strcmp(b.data, "{\"error\":{\"message\":\"input 3 has 600 tokens\",\"type\":\"invalid_request_error\","
                             "\"param\":\"inputs\",\"code\":\"input_too_long\"}}"),
             "error body: %s", b.data);
    srv_buf_free(&b);
    TU_CHECK(srv_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10) && !srv_utf8_valid("\xe0\x80\x80", 3) &&
                 !srv_utf8_valid("\xf4\x90\x80\x80", 4) && !srv_utf8_valid("\xc3", 1) && !srv_utf8_valid("\x80", 1),
             "UTF-8 validation: overlongs, above U+10FFFF, truncated and stray bytes");
    return tu_finish("test_server_api");
}
