/*
 * test_safetensors.c - the safetensors reader against the real default model and against many
 * malformed images built in memory from one small valid file.
 *
 * Rules: every malformed image must give SUTRA_ERR_FORMAT (never a crash, never OK) and a
 * message that names the fault; the images are heap buffers of exactly their length so that
 * ASan catches any read past the end. Reference values of the real model were read with
 * Python's `safetensors` package (safe_open(..., "np")) and pasted here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "testutil.h"

/* ---- building images ---- */

/* An image: 8-byte little-endian length, the header text, then data_len bytes 0,1,2,... */
static uint8_t *image_hl(uint64_t hlen_field, const char *hdr, size_t data_len, size_t *len) {
    size_t h = strlen(hdr);
    *len = 8 + h + data_len;
    uint8_t *b = malloc(*len);
    if (!b) abort();
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen_field >> (8 * i));
    memcpy(b + 8, hdr, h);
    for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (uint8_t)i;
    return b;
}

static uint8_t *image(const char *hdr, size_t data_len, size_t *len) {
    return image_hl(strlen(hdr), hdr, data_len, len);
}

/* A copy of exactly n bytes, so that reading past n is an ASan error. */
static uint8_t *dup_bytes(const uint8_t *src, size_t n) {
    uint8_t *b = malloc(n ? n : 1);
    if (!b) abort();
    if (n) memcpy(b, src, n);
    return b;
}

/* Parses buf and expects want; if want is an error, expects its message to contain needle. */
static void expect(const char *what, const uint8_t *buf, size_t len, sutra_status want, const char *needle) {
    char err[512] = "";
    sutra_st_file *f = (sutra_st_file *)0x1;
    sutra_status st = sutra_st_parse(buf, len, &f, err, sizeof err);
    TU_CHECK(st == want, "%s: status %d, want %d (%s)", what, (int)st, (int)want, err);
    if (st == SUTRA_OK) {
        TU_CHECK(f != NULL, "%s: OK without a file", what);
        sutra_st_close(f);
    } else {
        TU_CHECK(f == NULL, "%s: failure left *out set", what);
        TU_CHECK(strncmp(err, "<buffer>: ", 10) == 0, "%s: message does not name the file: '%s'", what, err);
        if (needle) TU_CHECK(strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", what, err, needle);
    }
}

static void expect_hdr(const char *what, const char *hdr, size_t data_len, sutra_status want, const char *needle) {
    size_t len;
    uint8_t *b = image(hdr, data_len, &len);
    expect(what, b, len, want, needle);
    free(b);
}

/* ---- the small valid file every malformed one starts from ---- */

/* a: F32 [2,3] at [0,24); b: I64 [2] at [24,40); c: U8 scalar at [40,41). */
#define BASE_HDR                                                                                           \
    "{\"__metadata__\":{\"format\":\"pt\"},"                                                                \
    "\"b\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]},"                                       \
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"                                      \
    "\"c\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[40,41]}}"
#define BASE_DATA 41

static void test_valid_small(void) {
    size_t len;
    uint8_t *b = image(BASE_HDR, BASE_DATA, &len);
    char err[256] = "";
    sutra_st_file *f = NULL;
    sutra_status st = sutra_st_parse(b, len, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "base file: %s", err);
    if (st == SUTRA_OK) {
        const size_t data0 = 8 + strlen(BASE_HDR);
        TU_CHECK(sutra_st_count(f) == 3, "base: count %zu", sutra_st_count(f));
        /* Index order is name order, whatever the header order. */
        const char *order[3] = {"a", "b", "c"};
        for (size_t i = 0; i < 3; i++) {
            const sutra_st_tensor *t = sutra_st_get(f, i);
            TU_CHECK(t && strcmp(t->name, order[i]) == 0, "base: get(%zu) is '%s'", i, t ? t->name : "(null)");
            TU_CHECK(t && sutra_st_find(f, order[i]) == t, "base: find('%s') != get(%zu)", order[i], i);
        }
        TU_CHECK(sutra_st_get(f, 3) == NULL, "base: get past the end");
        const sutra_st_tensor *a = sutra_st_find(f, "a"), *bt = sutra_st_find(f, "b"), *c = sutra_st_find(f, "c");
        TU_CHECK(a && a->dtype == SUTRA_DTYPE_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 &&
                     a->numel == 6 && a->nbytes == 24 && a->data == b + data0,
                 "base: tensor a wrong");
        TU_CHECK(bt && bt->dtype == SUTRA_DTYPE_I64 && bt->ndim == 1 && bt->numel == 2 && bt->nbytes == 16 &&
                     bt->data == b + data0 + 24 && bt->data[0] == 24,
                 "base: tensor b wrong");
        TU_CHECK(c && c->dtype == SUTRA_DTYPE_U8 && c->ndim == 0 && c->numel == 1 && c->nbytes == 1 &&
                     c->data[0] == 40,
                 "base: scalar c wrong");
        TU_CHECK(sutra_st_find(f, "d") == NULL && sutra_st_find(f, "") == NULL && sutra_st_find(f, "A") == NULL,
                 "base: find of an absent name");
        TU_CHECK(sutra_st_find(f, "__metadata__") == NULL, "base: metadata is not a tensor");
        sutra_st_close(f);
    }
    free(b);

    /* Every dtype name and size. */
    static const struct {
        sutra_dtype dt;
        const char *name;
        size_t size;
    } dts[] = {{SUTRA_DTYPE_F64, "F64", 8},         {SUTRA_DTYPE_F32, "F32", 4},    {SUTRA_DTYPE_F16, "F16", 2},
               {SUTRA_DTYPE_BF16, "BF16", 2},       {SUTRA_DTYPE_I64, "I64", 8},    {SUTRA_DTYPE_I32, "I32", 4},
               {SUTRA_DTYPE_I16, "I16", 2},         {SUTRA_DTYPE_I8, "I8", 1},      {SUTRA_DTYPE_U64, "U64", 8},
               {SUTRA_DTYPE_U32, "U32", 4},         {SUTRA_DTYPE_U16, "U16", 2},    {SUTRA_DTYPE_U8, "U8", 1},
               {SUTRA_DTYPE_BOOL, "BOOL", 1},       {SUTRA_DTYPE_F8_E4M3, "F8_E4M3", 1},
               {SUTRA_DTYPE_F8_E5M2, "F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        TU_CHECK(strcmp(sutra_dtype_name(dts[i].dt), dts[i].name) == 0, "dtype name %d", (int)dts[i].dt);
        TU_CHECK(sutra_dtype_size(dts[i].dt) == dts[i].size, "dtype size %s", dts[i].name);
        char hdr[200];
        snprintf(hdr, sizeof hdr, "{\"t\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%zu]}}", dts[i].name,
                 3 * dts[i].size);
        size_t l;
        uint8_t *img = image(hdr, 3 * dts[i].size, &l);
        f = NULL;
        st = sutra_st_parse(img, l, &f, err, sizeof err);
        TU_CHECK(st == SUTRA_OK && f && sutra_st_get(f, 0)->dtype == dts[i].dt, "dtype %s parse: %s", dts[i].name,
                 err);
        sutra_st_close(f);
        free(img);
    }
    TU_CHECK(sutra_dtype_size(SUTRA_DTYPE_COUNT) == 0, "size of an invalid dtype");
    sutra_st_close(NULL);
}

/* Accepted corner cases, pinned so that a stricter reader is a deliberate change. */
static void test_valid_corners(void) {
    expect_hdr("empty header object", "{}", 0, SUTRA_OK, NULL);
    expect_hdr("metadata only", "{\"__metadata__\":{}}", 0, SUTRA_OK, NULL);
    expect_hdr("space padding", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}        ", 2,
               SUTRA_OK, NULL);
    expect_hdr("whitespace inside", "{ \"a\" :\n{\"dtype\":\t\"U8\",\"shape\":[ 2 ],\"data_offsets\":[0,2]}\r\n} ", 2,
               SUTRA_OK, NULL);
    expect_hdr("gap between ranges and trailing bytes",
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
               "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[8,9]}}",
               16, SUTRA_OK, NULL);
    expect_hdr("empty tensors share offsets",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
               "\"c\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
               8, SUTRA_OK, NULL);
    expect_hdr("zero dim beside huge dims",
               "{\"a\":{\"dtype\":\"F64\",\"shape\":[9007199254740992,0,9007199254740992],\"data_offsets\":[0,0]}}", 0,
               SUTRA_OK, NULL);
    expect_hdr("integral float in shape", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2e0]}}", 2,
               SUTRA_OK, NULL);
    expect_hdr("unknown field ignored",
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":[1,{\"x\":null}]}}", 1, SUTRA_OK,
               NULL);
    expect_hdr("8 dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}", 2, SUTRA_OK,
               NULL);
    expect_hdr("UTF-8 names", "{\"\xc3\xa9t\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
               "\"\xf0\x9f\x98\x80\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
               2, SUTRA_OK, NULL);
    expect_hdr("escaped backslash before u0000", "{\"a\\\\u0000\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
               1, SUTRA_OK, NULL);
    expect_hdr("names differing in case",
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
               "\"A\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
               2, SUTRA_OK, NULL);
}

static void test_truncations(void) {
    size_t len;
    uint8_t *full = image(BASE_HDR, BASE_DATA, &len);
    /* The last tensor ends at the last byte, so every proper prefix is malformed. */
    for (size_t n = 0; n < len; n++) {
        uint8_t *b = dup_bytes(full, n);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", n, len);
        const char *needle = n < 8 ? "too short" : n < 8 + strlen(BASE_HDR) ? "past the end" : "beyond data size";
        expect(what, b, n, SUTRA_ERR_FORMAT, needle);
        free(b);
    }
    free(full);
    expect("NULL buffer of length 0", NULL, 0, SUTRA_ERR_FORMAT, "too short");
}

static void test_header_length(void) {
    const char *h = "{}";
    size_t len;
    uint8_t *b;
    b = image_hl(0, h, 0, &len);
    expect("header length 0", b, len, SUTRA_ERR_FORMAT, "header length is 0");
    free(b);
    b = image_hl(UINT64_MAX, h, 0, &len);
    expect("header length 2^64-1", b, len, SUTRA_ERR_FORMAT, "limit");
    free(b);
    b = image_hl(1ull << 63, h, 0, &len);
    expect("header length 2^63", b, len, SUTRA_ERR_FORMAT, "limit");
    free(b);
    b = image_hl(100000001ull, h, 0, &len);
    expect("header length 100 MB + 1", b, len, SUTRA_ERR_FORMAT, "limit");
    free(b);
    b = image_hl(100000000ull, h, 0, &len);
    expect("header length 100 MB, file short", b, len, SUTRA_ERR_FORMAT, "past the end");
    free(b);
    b = image_hl(3, h, 0, &len);
    expect("header length one past EOF", b, len, SUTRA_ERR_FORMAT, "past the end");
    free(b);
    b = image_hl(1, h, 0, &len);
    expect("header length cuts the JSON", b, len, SUTRA_ERR_FORMAT, "not valid JSON");
    free(b);
}

typedef struct {
    const char *what, *hdr;
    size_t data_len;
    const char *needle;
} bad_case;

#define T(dt, shape, offs) "{\"dtype\":" dt ",\"shape\":" shape ",\"data_offsets\":" offs "}"
#define ONE(name, body) "{\"" name "\":" body "}"

static const bad_case bad_cases[] = {
    /* JSON syntax */
    {"empty object unterminated", "{", 0, "not valid JSON"},
    {"missing value", "{\"a\":}", 0, "not valid JSON"},
    {"trailing comma", ONE("a", T("\"U8\"", "[1]", "[0,1]")) ",", 1, "trailing bytes"},
    {"trailing comma in object", "{\"a\":" T("\"U8\"", "[1]", "[0,1]") ",}", 1, "not valid JSON"},
    {"two objects", "{}{}", 0, "trailing bytes"},
    {"trailing garbage", "{} x", 0, "trailing bytes"},
    {"trailing control byte", "{}\x01", 0, "control character"},
    {"unterminated string", "{\"a", 0, "not valid JSON"},
    {"single quotes", "{'a':1}", 0, "not valid JSON"},
    {"bare word", "{a:1}", 0, "not valid JSON"},
    /* top level */
    {"top-level array", "[]", 0, "start with '{'"},
    {"top-level string", "\"x\"", 0, "start with '{'"},
    {"top-level number", "1", 0, "start with '{'"},
    {"top-level null", "null", 0, "start with '{'"},
    {"leading space", " {}", 0, "start with '{'"},
    {"byte-order mark", "\xef\xbb\xbf{}", 0, "start with '{'"},
    /* text encoding */
    {"invalid UTF-8 byte in name", ONE("a\xff", T("\"U8\"", "[1]", "[0,1]")), 1, "invalid UTF-8"},
    {"overlong UTF-8", ONE("\xc0\xaf", T("\"U8\"", "[1]", "[0,1]")), 1, "invalid UTF-8"},
    {"UTF-8 surrogate", ONE("\xed\xa0\x80", T("\"U8\"", "[1]", "[0,1]")), 1, "invalid UTF-8"},
    {"UTF-8 past U+10FFFF", ONE("\xf4\x90\x80\x80", T("\"U8\"", "[1]", "[0,1]")), 1, "invalid UTF-8"},
    {"lone continuation byte", ONE("\x80", T("\"U8\"", "[1]", "[0,1]")), 1, "invalid UTF-8"},
    {"truncated UTF-8 at end", "{}\xe2\x82", 0, "truncated UTF-8"},
    {"raw control character in name", ONE("a\x01", T("\"U8\"", "[1]", "[0,1]")), 1, "control character"},
    {"escaped lone surrogate", ONE("\\ud800", T("\"U8\"", "[1]", "[0,1]")), 1, "not valid JSON"},
    /* names */
    {"empty name", ONE("", T("\"U8\"", "[1]", "[0,1]")), 1, "empty name"},
    {"name that is only an escaped NUL", ONE("\\u0000", T("\"U8\"", "[1]", "[0,1]")), 1, "\\u0000 escape"},
    {"name with an escaped NUL", ONE("a\\u0000b", T("\"U8\"", "[1]", "[0,1]")), 1, "\\u0000 escape"},
    {"escaped backslash then quote", ONE("a\\\\\\\"\\u0000", T("\"U8\"", "[1]", "[0,1]")), 1, "\\u0000 escape"},
    {"duplicate names",
     "{\"w\":" T("\"U8\"", "[1]", "[0,1]") ",\"w\":" T("\"U8\"", "[1]", "[1,2]") "}", 2, "'w' appears twice"},
    {"duplicate after escape",
     "{\"w\":" T("\"U8\"", "[1]", "[0,1]") ",\"\\u0077\":" T("\"U8\"", "[1]", "[1,2]") "}", 2, "'w' appears twice"},
    /* entries */
    {"entry is a number", "{\"a\":5}", 0, "tensor 'a': entry is not a JSON object"},
    {"entry is an array", "{\"a\":[]}", 0, "tensor 'a': entry is not a JSON object"},
    {"entry is null", "{\"a\":null}", 0, "tensor 'a': entry is not a JSON object"},
    {"missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor 'a': missing 'dtype'"},
    {"missing shape", "{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, "tensor 'a': missing 'shape'"},
    {"missing offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "tensor 'a': missing 'data_offsets'"},
    {"duplicate field", "{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     "field 'dtype' appears twice"},
    /* dtype */
    {"unknown dtype", ONE("a", T("\"F128\"", "[1]", "[0,1]")), 1, "unknown dtype 'F128'"},
    {"lower-case dtype", ONE("a", T("\"f32\"", "[1]", "[0,4]")), 4, "unknown dtype 'f32'"},
    {"empty dtype", ONE("a", T("\"\"", "[1]", "[0,1]")), 1, "unknown dtype"},
    {"dtype with NUL", ONE("a", T("\"U8\\u0000x\"", "[1]", "[0,1]")), 1, "\\u0000 escape"},
    {"numeric dtype", ONE("a", T("4", "[1]", "[0,4]")), 4, "'dtype' is not a string"},
    /* shape */
    {"shape too big for bytes", ONE("a", T("\"F32\"", "[2,4]", "[0,24]")), 24, "needs 32 bytes but data_offsets span 24"},
    {"shape too small for bytes", ONE("a", T("\"F32\"", "[2,2]", "[0,24]")), 24, "needs 16 bytes"},
    {"dtype size mismatch", ONE("a", T("\"F16\"", "[6]", "[0,24]")), 24, "needs 12 bytes"},
    {"negative dim", ONE("a", T("\"U8\"", "[-2,3]", "[0,6]")), 6, "dimension 0 is not a non-negative integer"},
    {"negative zero dim", ONE("a", T("\"U8\"", "[-0]", "[0,0]")), 0, "dimension 0"},
    {"fractional dim", ONE("a", T("\"U8\"", "[2,2.5]", "[0,5]")), 5, "dimension 1 is not"},
    {"huge dim", ONE("a", T("\"U8\"", "[1e300]", "[0,1]")), 1, "dimension 0 is not"},
    {"dim past 2^53", ONE("a", T("\"U8\"", "[18014398509481984]", "[0,1]")), 1, "dimension 0 is not"},
    {"string dim", ONE("a", T("\"U8\"", "[\"1\"]", "[0,1]")), 1, "dimension 0 is not"},
    {"null dim", ONE("a", T("\"U8\"", "[null]", "[0,1]")), 1, "dimension 0 is not"},
    {"nested dim", ONE("a", T("\"U8\"", "[[1]]", "[0,1]")), 1, "dimension 0 is not"},
    {"shape not array", ONE("a", T("\"U8\"", "1", "[0,1]")), 1, "'shape' is not an array"},
    {"shape object", ONE("a", T("\"U8\"", "{}", "[0,1]")), 1, "'shape' is not an array"},
    {"9 dims", ONE("a", T("\"U8\"", "[1,1,1,1,1,1,1,1,1]", "[0,1]")), 1, "more than 8 dimensions"},
    {"element count overflow", ONE("a", T("\"U8\"", "[4294967296,4294967296]", "[0,1]")), 1, "overflows"},
    {"element count overflow 3 dims", ONE("a", T("\"U8\"", "[9007199254740992,2048,1]", "[0,1]")), 1, "overflows"},
    {"byte count overflow", ONE("a", T("\"F64\"", "[9007199254740992,256]", "[0,8]")), 8, "byte size of 2305843009213693952 F64 elements overflows"},
    /* data_offsets */
    {"end past data", ONE("a", T("\"U8\"", "[4]", "[0,4]")), 3, "data_offsets end 4 beyond data size 3"},
    {"both past data", ONE("a", T("\"U8\"", "[4]", "[100,104]")), 3, "end 104 beyond data size 3"},
    {"begin after end", ONE("a", T("\"U8\"", "[0]", "[4,2]")), 8, "begin 4 is after end 2"},
    {"negative begin", ONE("a", T("\"U8\"", "[2]", "[-1,1]")), 8, "'data_offsets' are not non-negative integers"},
    {"fractional end", ONE("a", T("\"U8\"", "[1]", "[0,1.5]")), 8, "'data_offsets' are not"},
    {"huge end", ONE("a", T("\"U8\"", "[1]", "[0,1e30]")), 8, "'data_offsets' are not"},
    {"string offset", ONE("a", T("\"U8\"", "[1]", "[\"0\",1]")), 8, "'data_offsets' are not"},
    {"three offsets", ONE("a", T("\"U8\"", "[1]", "[0,1,2]")), 8, "not an array [begin, end]"},
    {"one offset", ONE("a", T("\"U8\"", "[1]", "[0]")), 8, "not an array [begin, end]"},
    {"no offsets", ONE("a", T("\"U8\"", "[1]", "[]")), 8, "not an array [begin, end]"},
    {"offsets object", ONE("a", T("\"U8\"", "[1]", "{\"0\":0,\"1\":1}")), 8, "not an array [begin, end]"},
    {"overlap",
     "{\"a\":" T("\"F32\"", "[2,3]", "[0,24]") ",\"b\":" T("\"I64\"", "[2]", "[16,32]") "}", 32,
     "tensor 'b': data_offsets [16, 32] overlap tensor 'a' [0, 24]"},
    {"same range twice",
     "{\"a\":" T("\"U8\"", "[4]", "[0,4]") ",\"b\":" T("\"U8\"", "[4]", "[0,4]") "}", 4, "overlap"},
    {"range inside another",
     "{\"a\":" T("\"U8\"", "[8]", "[0,8]") ",\"b\":" T("\"U8\"", "[2]", "[3,5]") "}", 8, "overlap"},
    /* metadata */
    {"metadata array", "{\"__metadata__\":[]}", 0, "'__metadata__' is not a JSON object"},
    {"metadata string", "{\"__metadata__\":\"pt\"}", 0, "'__metadata__' is not a JSON object"},
    {"metadata null", "{\"__metadata__\":null}", 0, "'__metadata__' is not a JSON object"},
    {"metadata number value", "{\"__metadata__\":{\"format\":\"pt\",\"n\":1}}", 0, "value 'n' is not a string"},
    {"metadata object value", "{\"__metadata__\":{\"o\":{}}}", 0, "value 'o' is not a string"},
    {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "'__metadata__' appears twice"},
};

static void test_bad_headers(void) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
        expect_hdr(bad_cases[i].what, bad_cases[i].hdr, bad_cases[i].data_len, SUTRA_ERR_FORMAT, bad_cases[i].needle);

    /* A header nested far deeper than cJSON's limit (inside an ignored field). */
    size_t depth = 5000;
    const char *pre = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":";
    size_t plen = strlen(pre);
    char *deep = malloc(plen + 2 * depth + 3);
    memcpy(deep, pre, plen);
    memset(deep + plen, '[', depth);
    memset(deep + plen + depth, ']', depth);
    memcpy(deep + plen + 2 * depth, "}}", 3);
    expect_hdr("nesting 5000 deep", deep, 1, SUTRA_ERR_FORMAT, "not valid JSON");
    free(deep);

    /* A long hostile name is shortened and made printable in the message. */
    char name[400];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    char hdr[600];
    snprintf(hdr, sizeof hdr, "{\"%s\\u0007\\u0027\":%s}", name, T("\"Q8\"", "[1]", "[0,1]"));
    size_t len;
    uint8_t *b = image(hdr, 1, &len);
    char err[1024];
    sutra_st_file *f = NULL;
    sutra_status st = sutra_st_parse(b, len, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, "nnn...': unknown dtype 'Q8'") && strlen(err) < 200,
             "long name message: %s", err);
    free(b);

    /* A tiny error buffer is still NUL-terminated; a NULL one is allowed. */
    b = image("{\"a\":5}", 0, &len);
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    st = sutra_st_parse(b, len, &f, tiny, sizeof tiny);
    TU_CHECK(st == SUTRA_ERR_FORMAT && memchr(tiny, '\0', sizeof tiny) != NULL, "tiny error buffer");
    st = sutra_st_parse(b, len, &f, NULL, 0);
    TU_CHECK(st == SUTRA_ERR_FORMAT && f == NULL, "NULL error buffer");
    free(b);
    TU_CHECK(sutra_st_parse(NULL, 0, NULL, NULL, 0) == SUTRA_ERR_INVALID_ARGUMENT, "NULL out");

    /* A raw NUL byte inside the header text. */
    b = image("{}  ", 0, &len);
    b[11] = 0;
    expect("NUL byte in header padding", b, len, SUTRA_ERR_FORMAT, "control character at byte 3");
    free(b);

    /* Control characters a name gets through escapes are shown as '?'. */
    expect_hdr("escaped control in name", "{\"x\\u0007y\":5}", 0, SUTRA_ERR_FORMAT, "tensor 'x?y': entry");
}

/* Every header byte of the base file replaced by a few values: OK or FORMAT, never a crash. */
static void test_mutations(void) {
    size_t len;
    uint8_t *full = image(BASE_HDR, BASE_DATA, &len);
    static const uint8_t subst[] = {0x00, ' ', '"', '{', '}', '[', ']', ',', ':', '-', '.', '9', 'e', 0x80, 0xff};
    int bad_status = 0, ok = 0, fmt = 0;
    for (size_t pos = 0; pos < 8 + strlen(BASE_HDR); pos++) {
        for (size_t k = 0; k < sizeof subst; k++) {
            uint8_t *b = dup_bytes(full, len);
            b[pos] = subst[k];
            char err[256];
            sutra_st_file *f = NULL;
            sutra_status st = sutra_st_parse(b, len, &f, err, sizeof err);
            if (st == SUTRA_OK) {
                ok++;
                sutra_st_close(f);
            } else if (st == SUTRA_ERR_FORMAT) {
                fmt++;
            } else {
                bad_status++;
            }
            free(b);
        }
    }
    TU_CHECK(bad_status == 0, "mutations: %d gave neither OK nor FORMAT", bad_status);
    TU_CHECK(fmt > 0 && ok > 0, "mutations: %d OK, %d FORMAT", ok, fmt);

    /* Random garbage after a plausible length field. */
    uint64_t s = 0x9E3779B97F4A7C15ull;
    int odd_status = 0;
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = 8 + (size_t)(iter % 200);
        uint8_t *b = malloc(n);
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            b[i] = (uint8_t)s;
        }
        uint64_t hl = (uint64_t)(s % (n + 4));
        for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hl >> (8 * i));
        if (n > 8 && (iter & 1)) b[8] = '{';
        sutra_st_file *f = NULL;
        sutra_status st = sutra_st_parse(b, n, &f, NULL, 0);
        if (st == SUTRA_OK) sutra_st_close(f);
        else if (st != SUTRA_ERR_FORMAT) odd_status++;
        free(b);
    }
    TU_CHECK(odd_status == 0, "random images: %d gave neither OK nor FORMAT", odd_status);
    free(full);
}

/* ---- files on disk ---- */

static void write_file(const char *path, const uint8_t *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    TU_CHECK(fp != NULL, "cannot create %s", path);
    if (!fp) return;
    TU_CHECK(fwrite(b, 1, n, fp) == n, "cannot write %s", path);
    fclose(fp);
}

static void test_files(void) {
    char err[512];
    sutra_st_file *f = (sutra_st_file *)0x1;
    sutra_status st = sutra_st_open("/nonexistent/dir/model.safetensors", &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_IO && f == NULL && strstr(err, "/nonexistent/dir/model.safetensors"),
             "missing file: %d %s", (int)st, err);
    st = sutra_st_open("/tmp", &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_IO && f == NULL && strstr(err, "/tmp: not a regular file"), "directory: %d %s", (int)st,
             err);

    char dir[] = "/tmp/sutra_st_XXXXXX";
    TU_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[128];
    snprintf(path, sizeof path, "%s/small.safetensors", dir);

    size_t len;
    uint8_t *b = image(BASE_HDR, BASE_DATA, &len);
    write_file(path, b, len);
    st = sutra_st_open(path, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && sutra_st_count(f) == 3, "small file on disk: %s", err);
    if (st == SUTRA_OK) {
        const sutra_st_tensor *c = sutra_st_find(f, "c");
        TU_CHECK(c && c->data[0] == 40, "small file on disk: scalar value");
        sutra_st_close(f);
    }

    write_file(path, b, 5);
    st = sutra_st_open(path, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, path) && strstr(err, "too short"), "5-byte file: %s", err);
    write_file(path, b, 0);
    st = sutra_st_open(path, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, path), "empty file: %s", err);
    write_file(path, b, len - 1);
    st = sutra_st_open(path, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, path) && strstr(err, "tensor 'c': data_offsets end 41 beyond data size 40"),
             "truncated file: %s", err);
    free(b);
    unlink(path);
    rmdir(dir);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, (const uint8_t *)text, strlen(text));
}

/* A shard holding one 4-byte F32 tensor called name, whose bytes are 0,1,2,3. */
static void write_shard(const char *dir, const char *file, const char *name) {
    char hdr[256], path[256];
    snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", name);
    size_t len;
    uint8_t *b = image(hdr, 4, &len);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    write_file(path, b, len);
    free(b);
}

/* Checkpoints: one model.safetensors, or shards listed by model.safetensors.index.json. */
static void test_checkpoints(void) {
    char dir[] = "/tmp/sutra_ckpt_XXXXXX", err[512];
    TU_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    sutra_st_file *f = NULL;
    sutra_status st = sutra_checkpoint_open(dir, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_IO && !f && strstr(err, "neither model.safetensors, model.safetensors.index.json, pytorch_model.bin nor "
                                                           "pytorch_model.bin.index.json"), "empty folder: %d %s", (int)st,
             err);
    write_shard(dir, "model-00001-of-00002.safetensors", "a.weight");
    write_shard(dir, "model-00002-of-00002.safetensors", "b.weight");
    write_text(dir, "model.safetensors.index.json",
               "{\"metadata\":{\"total_size\":8},\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
               "\"b.weight\":\"model-00002-of-00002.safetensors\"}}");
    st = sutra_checkpoint_open(dir, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && sutra_st_count(f) == 2 && sutra_st_find(f, "a.weight") && sutra_st_find(f, "b.weight") &&
                 !strcmp(sutra_st_get(f, 0)->name, "a.weight") && sutra_st_find(f, "b.weight")->data[3] == 3,
             "two shards: %d %s", (int)st, err);
    sutra_st_close(f);
    static const struct {
        const char *index, *needle;
    } bad[] = {
        {"{\"weight_map\":{\"a.weight\":\"model-00002-of-00002.safetensors\"}}", "is not in model-00002"},
        {"{\"weight_map\":{\"a.weight\":\"../model-00001-of-00002.safetensors\"}}", "not a .safetensors file name"},
        {"{\"weight_map\":{\"a.weight\":\"/etc/passwd.safetensors\"}}", "not a .safetensors file name"},
        {"{\"weight_map\":{\"a.weight\":\"model.bin\"}}", "not a .safetensors file name"},
        {"{\"weight_map\":{\"a.weight\":\"missing.safetensors\"}}", "missing.safetensors"},
        {"{\"weight_map\":{}}", "no 'weight_map'"},
        {"{\"weight_map\":{\"a.weight\":7}}", "weight_map entry 0"},
        {"[1,2]", "no 'weight_map'"},
        {"{\"weight_map\":", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(dir, "model.safetensors.index.json", bad[i].index);
        f = NULL;
        st = sutra_checkpoint_open(dir, &f, err, sizeof err);
        TU_CHECK(st != SUTRA_OK && !f && strstr(err, bad[i].needle), "index %zu: %d '%s' (want '%s')", i, (int)st, err,
                 bad[i].needle);
    }
    /* one tensor in two shards */
    write_shard(dir, "model-00002-of-00002.safetensors", "a.weight");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
               "\"b.weight\":\"model-00002-of-00002.safetensors\"}}");
    st = sutra_checkpoint_open(dir, &f, err, sizeof err);
    TU_CHECK(st != SUTRA_OK && !f, "tensor missing from its shard: %d %s", (int)st, err);
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
               "\"c\":\"model-00002-of-00002.safetensors\"}}");
    write_shard(dir, "model-00002-of-00002.safetensors", "a.weight");
    st = sutra_checkpoint_open(dir, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && !f, "index names a tensor the shard lacks: %d %s", (int)st, err);
    /* a single file wins over an index */
    write_shard(dir, "model.safetensors", "single.weight");
    st = sutra_checkpoint_open(dir, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && sutra_st_count(f) == 1 && sutra_st_find(f, "single.weight"), "single file: %s", err);
    sutra_st_close(f);
    /* merging keeps every tensor and refuses duplicates */
    sutra_st_file *parts[2] = {NULL, NULL};
    size_t len;
    uint8_t *b1 = image("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, &len);
    TU_CHECK(sutra_st_parse(b1, len, &parts[0], err, sizeof err) == SUTRA_OK, "parse x");
    TU_CHECK(sutra_st_parse(b1, len, &parts[1], err, sizeof err) == SUTRA_OK, "parse x again");
    st = sutra_st_merge(parts, 2, "dup", &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && !f && strstr(err, "tensor 'x' is in two shards"), "duplicate: %d %s", (int)st,
             err);
    free(b1);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    TU_CHECK(system(cmd) == 0, "cleanup");
}

/* Reference values read with Python: safe_open(path, "np").get_tensor(name). Float values are
 * compared bit for bit (the reader must not touch the bytes). */
static void test_real_model(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", tu_default_model());
    char err[512] = "";
    sutra_st_file *f = NULL;
    sutra_status st = sutra_st_open(path, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "open %s: %s", path, err);
    if (st != SUTRA_OK) return;

    TU_CHECK(sutra_st_count(f) == 104, "model: %zu tensors, want 104", sutra_st_count(f));
    for (size_t i = 0; i < sutra_st_count(f); i++) {
        const sutra_st_tensor *t = sutra_st_get(f, i);
        TU_CHECK(sutra_st_find(f, t->name) == t, "model: find(get(%zu)) for '%s'", i, t->name);
        TU_CHECK((size_t)t->numel * sutra_dtype_size(t->dtype) == t->nbytes, "model: '%s' size", t->name);
        if (i > 0) TU_CHECK(strcmp(sutra_st_get(f, i - 1)->name, t->name) < 0, "model: names not sorted at %zu", i);
    }

    static const struct {
        const char *name;
        sutra_dtype dt;
        int ndim;
        int64_t d0, d1;
    } shapes[] = {
        {"embeddings.word_embeddings.weight", SUTRA_DTYPE_F32, 2, 30522, 384},
        {"embeddings.position_ids", SUTRA_DTYPE_I64, 2, 1, 512},
        {"embeddings.position_embeddings.weight", SUTRA_DTYPE_F32, 2, 512, 384},
        {"embeddings.token_type_embeddings.weight", SUTRA_DTYPE_F32, 2, 2, 384},
        {"embeddings.LayerNorm.bias", SUTRA_DTYPE_F32, 1, 384, 0},
        {"encoder.layer.0.attention.self.query.weight", SUTRA_DTYPE_F32, 2, 384, 384},
        {"encoder.layer.5.output.dense.weight", SUTRA_DTYPE_F32, 2, 384, 1536},
        {"pooler.dense.bias", SUTRA_DTYPE_F32, 1, 384, 0},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const sutra_st_tensor *t = sutra_st_find(f, shapes[i].name);
        TU_CHECK(t != NULL, "model: no tensor '%s'", shapes[i].name);
        if (!t) continue;
        TU_CHECK(t->dtype == shapes[i].dt && t->ndim == shapes[i].ndim && t->shape[0] == shapes[i].d0 &&
                     (t->ndim == 1 || t->shape[1] == shapes[i].d1),
                 "model: '%s' is %s ndim %d [%lld,%lld]", shapes[i].name, sutra_dtype_name(t->dtype), t->ndim,
                 (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0));
    }
    TU_CHECK(sutra_st_find(f, "embeddings.word_embeddings") == NULL, "model: prefix is not a tensor");

    const sutra_st_tensor *w = sutra_st_find(f, "embeddings.word_embeddings.weight");
    if (w) {
        static const struct {
            size_t row, col;
            uint32_t bits; /* float32 bit pattern */
        } vals[] = {
            {0, 0, 0xbca3c000},     /* -0.0199890137 */
            {101, 0, 0xbc90568e},   /* -0.0176193975 */
            {101, 3, 0xbdb20235},   /* -0.0869182721 */
            {2023, 7, 0xbd56cfe9},  /* -0.0524443723 */
            {30521, 383, 0x3b95c079} /* 0.00457006367 */
        };
        for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
            uint32_t got;
            memcpy(&got, w->data + 4 * (vals[i].row * 384 + vals[i].col), 4);
            TU_CHECK(got == vals[i].bits, "model: word_embeddings[%zu,%zu] bits %08x, want %08x", vals[i].row,
                     vals[i].col, got, vals[i].bits);
        }
        /* numpy sums pairwise, this loop sequentially, both in float64 over 11.7M values of
         * magnitude < 1: the two differ by far less than 1e-6. */
        double sum = 0;
        for (int64_t i = 0; i < w->numel; i++) {
            float v;
            memcpy(&v, w->data + 4 * i, 4);
            sum += v;
        }
        TU_CHECK(sum > 138.05072214923618 - 1e-6 && sum < 138.05072214923618 + 1e-6,
                 "model: word_embeddings sum %.17g, want 138.05072214923618", sum);
    }
    const sutra_st_tensor *pid = sutra_st_find(f, "embeddings.position_ids");
    if (pid) {
        int bad = -1;
        for (int64_t i = 0; i < 512 && bad < 0; i++) {
            int64_t v;
            memcpy(&v, pid->data + 8 * i, 8);
            if (v != i) bad = (int)i;
        }
        TU_CHECK(bad < 0, "model: position_ids[%d] is not %d", bad, bad);
    }
    const sutra_st_tensor *d = sutra_st_find(f, "encoder.layer.5.output.dense.weight");
    if (d) {
        uint32_t got;
        memcpy(&got, d->data + 4 * (383 * 1536 + 1535), 4);
        TU_CHECK(got == 0x3aa17f66, "model: layer.5.output.dense.weight[383,1535] bits %08x", got); /* 0.00123212929 */
    }
    const sutra_st_tensor *lb = sutra_st_find(f, "embeddings.LayerNorm.bias");
    if (lb) {
        uint32_t got;
        memcpy(&got, lb->data, 4);
        TU_CHECK(got == 0x3e2d9c09, "model: LayerNorm.bias[0] bits %08x", got); /* 0.169540539 */
    }
    sutra_st_close(f);
}

int main(void) {
    test_valid_small();
    test_valid_corners();
    test_truncations();
    test_header_length();
    test_bad_headers();
    test_mutations();
    test_files();
    test_checkpoints();
    test_real_model();
    return tu_finish("test_safetensors");
}
