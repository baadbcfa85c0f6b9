/*
 * test_tokenizer.c - the tokenizer against HF `tokenizers`, id for id and offset for offset.
 *
 * Reference data (tests/fixtures/tokenizer/, written by scripts/gen_tokenizer_fixtures.py):
 *   corpus.jsonl           the texts, one JSON string a line (any character can appear)
 *   minilm_expected.jsonl  HF's ids and byte offsets for the default model's tokenizer.json, for
 *                          truncated encodings, and for variants of that tokenizer.json
 *   unicode_expected.json  HF's character classes, NFD and lowercase for every code point
 * There is no tolerance: tokenization is exact or wrong. Every mismatch prints the corpus line,
 * the text, and the expected and actual ids / offsets around the first difference.
 * Also checked: both loaders (tokenizer.json and vocab.txt), invalid UTF-8, malformed
 * tokenizer.json and vocab.txt files, the API edge cases, and encoding from several threads.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#define MAX_REPORTS 25 /* mismatch reports printed per section; all are counted */

typedef struct text {
    char *s;
    size_t len;
} text;

typedef struct expect {
    int line;
    int max_tokens;     /* trunc cases only */
    sutra_ivec ids;
    sutra_ivec offsets; /* start, end pairs (empty for trunc cases) */
} expect;

static text *g_corpus;
static size_t g_ncorpus;

/* ---- reading the fixtures ------------------------------------------------------------------- */

static int hexval(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* Decodes the JSON string value of "text" in one corpus line into bytes (NUL included, which is
 * why cJSON's C strings will not do). */
static int decode_text(const char *line, text *out) {
    const char *p = strstr(line, "\"text\"");
    if (!p) return 0;
    p = strchr(p + 6, '"');
    if (!p) return 0;
    p++;
    size_t cap = strlen(p) * 2 + 8, n = 0;
    char *buf = malloc(cap);
    if (!buf) return 0;
    while (*p && *p != '"') {
        if (*p != '\\') {
            buf[n++] = *p++;
            continue;
        }
        p++;
        unsigned cp;
        switch (*p) {
        case 'n': buf[n++] = '\n'; p++; continue;
        case 't': buf[n++] = '\t'; p++; continue;
        case 'r': buf[n++] = '\r'; p++; continue;
        case 'b': buf[n++] = '\b'; p++; continue;
        case 'f': buf[n++] = '\f'; p++; continue;
        case '"': case '\\': case '/': buf[n++] = *p++; continue;
        case 'u':
            if (!hexval(p + 1, &cp)) goto bad;
            p += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p[0] != '\\' || p[1] != 'u' || !hexval(p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) goto bad;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += (size_t)sutra_utf8_put(cp, buf + n);
            continue;
        default:
            goto bad;
        }
    }
    if (*p != '"') goto bad;
    out->s = buf;
    out->len = n;
    return 1;
bad:
    free(buf);
    return 0;
}

static int load_corpus(void) {
    size_t len;
    char *all = tu_read_file(tu_source_path("tests/fixtures/tokenizer/corpus.jsonl"), &len);
    if (!all) return 0;
    size_t cap = 2048;
    g_corpus = calloc(cap, sizeof *g_corpus);
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        if (g_ncorpus == cap) {
            cap *= 2;
            g_corpus = realloc(g_corpus, cap * sizeof *g_corpus);
        }
        if (!decode_text(line, &g_corpus[g_ncorpus])) {
            TU_CHECK(0, "corpus.jsonl line %zu: cannot decode", g_ncorpus + 1);
            free(all);
            return 0;
        }
        g_ncorpus++;
    }
    free(all);
    TU_CHECK(g_ncorpus >= 1200, "corpus has %zu lines, want at least 1200", g_ncorpus);
    return 1;
}

static void ivec_from_json(sutra_ivec *v, const cJSON *arr) {
    for (const cJSON *x = arr ? arr->child : NULL; x; x = x->next) sutra_ivec_push(v, (int32_t)x->valuedouble);
}

/* ---- comparing encodings -------------------------------------------------------------------- */

static void print_text(const text *t) {
    fprintf(stderr, "    text (%zu bytes): \"", t->len);
    for (size_t i = 0; i < t->len && i < 160; i++) {
        unsigned char c = (unsigned char)t->s[i];
        if (c < 0x20 || c == 0x7F || c == '"' || c == '\\') fprintf(stderr, "\\x%02X", c);
        else fputc(c, stderr);
    }
    fprintf(stderr, "%s\"\n", t->len > 160 ? "..." : "");
}

static void print_window(const char *what, const int32_t *v, size_t n, size_t at, size_t stride) {
    size_t lo = at > 4 ? at - 4 : 0, hi = at + 6 < n ? at + 6 : n;
    fprintf(stderr, "    %s (%zu) [%zu..%zu):", what, n, lo, hi);
    for (size_t i = lo; i < hi; i++) {
        if (stride == 2) fprintf(stderr, " %s(%d,%d)", i == at ? ">" : "", v[2 * i], v[2 * i + 1]);
        else fprintf(stderr, " %s%d", i == at ? ">" : "", v[i]);
    }
    fprintf(stderr, "\n");
}

/* Compares an encoding with the expectation; returns 1 when equal, else prints once. */
static int compare(const char *label, int line, const sutra_encoding *enc, const expect *e, int with_offsets,
                   int *reports) {
    size_t n = enc->n, m = e->ids.n, at = 0;
    int ok = 1;
    while (at < n && at < m && enc->ids[at] == e->ids.data[at]) at++;
    if (at < n || at < m) ok = 0;
    size_t oat = 0;
    int32_t *got_off = NULL;
    if (ok && with_offsets) {
        got_off = malloc((2 * n + 1) * sizeof *got_off);
        for (size_t i = 0; i < n; i++) {
            got_off[2 * i] = enc->starts[i];
            got_off[2 * i + 1] = enc->ends[i];
        }
        while (oat < n && got_off[2 * oat] == e->offsets.data[2 * oat] &&
               got_off[2 * oat + 1] == e->offsets.data[2 * oat + 1])
            oat++;
        if (e->offsets.n != 2 * n || oat < n) ok = 0;
    }
    if (!ok && (*reports)++ < MAX_REPORTS) {
        fprintf(stderr, "FAIL: %s: corpus line %d (0-based; file line %d) differs from HF\n", label, line, line + 1);
        print_text(&g_corpus[line]);
        if (at < n || at < m) {
            fprintf(stderr, "    first different id at position %zu\n", at);
            print_window("expected ids", e->ids.data, m, at, 1);
            print_window("got ids     ", enc->ids, n, at, 1);
        } else {
            fprintf(stderr, "    ids equal; first different offset at position %zu\n", oat);
            print_window("expected offsets", e->offsets.data, e->offsets.n / 2, oat, 2);
            print_window("got offsets     ", got_off, n, oat, 2);
        }
    }
    free(got_off);
    return ok;
}

static int run_lines(const char *label, const sutra_tokenizer *tok, const expect *ex, size_t nex) {
    sutra_encoding enc = {0};
    char err[256];
    int reports = 0, bad = 0;
    for (size_t i = 0; i < nex; i++) {
        const text *t = &g_corpus[ex[i].line];
        sutra_status st = sutra_tokenizer_encode(tok, t->s, t->len, 0, 1, &enc, err, sizeof err);
        int ok = st == SUTRA_OK;
        if (!ok) {
            if (reports++ < MAX_REPORTS) fprintf(stderr, "FAIL: %s: line %d: encode: %s\n", label, ex[i].line, err);
        } else {
            ok = compare(label, ex[i].line, &enc, &ex[i], 1, &reports);
        }
        bad += !ok;
        tu_checks++;
        tu_failures += !ok;
    }
    sutra_encoding_free(&enc);
    printf("  %-28s %zu lines, %d differ\n", label, nex, bad);
    return bad;
}

/* ---- sections ------------------------------------------------------------------------------- */

typedef struct fixtures {
    expect *base;
    size_t nbase;
    expect *trunc;
    size_t ntrunc;
    cJSON *variants; /* array of {"name", "patch", "lines": index range into vlines} */
    expect *vlines;
    size_t nvlines;
} fixtures;

static void push_expect(expect **arr, size_t *n, const cJSON *o) {
    *arr = realloc(*arr, (*n + 1) * sizeof **arr);
    expect *e = &(*arr)[(*n)++];
    memset(e, 0, sizeof *e);
    e->line = (int)cJSON_GetObjectItem(o, "line")->valuedouble;
    const cJSON *mt = cJSON_GetObjectItem(o, "max_tokens");
    e->max_tokens = mt ? (int)mt->valuedouble : 0;
    ivec_from_json(&e->ids, cJSON_GetObjectItem(o, "ids"));
    ivec_from_json(&e->offsets, cJSON_GetObjectItem(o, "offsets"));
}

static int load_expected(fixtures *f) {
    size_t len;
    char *all = tu_read_file(tu_source_path("tests/fixtures/tokenizer/minilm_expected.jsonl"), &len);
    if (!all) return 0;
    memset(f, 0, sizeof *f);
    f->variants = cJSON_CreateArray();
    cJSON *cur = NULL;
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        if (!o) {
            TU_CHECK(0, "minilm_expected.jsonl: bad line");
            continue;
        }
        const char *kind = cJSON_GetObjectItem(o, "kind")->valuestring;
        if (strcmp(kind, "base") == 0) {
            push_expect(&f->base, &f->nbase, o);
        } else if (strcmp(kind, "trunc") == 0) {
            push_expect(&f->trunc, &f->ntrunc, o);
        } else if (strcmp(kind, "variant") == 0) {
            cur = cJSON_CreateObject();
            cJSON_AddStringToObject(cur, "name", cJSON_GetObjectItem(o, "name")->valuestring);
            cJSON_AddItemToObject(cur, "patch", cJSON_Duplicate(cJSON_GetObjectItem(o, "patch"), 1));
            cJSON_AddNumberToObject(cur, "first", (double)f->nvlines);
            cJSON_AddItemToArray(f->variants, cur);
        } else if (strcmp(kind, "vline") == 0 && cur) {
            push_expect(&f->vlines, &f->nvlines, o);
            cJSON_DeleteItemFromObject(cur, "end");
            cJSON_AddNumberToObject(cur, "end", (double)f->nvlines);
        }
        cJSON_Delete(o);
    }
    free(all);
    TU_CHECK(f->nbase == g_ncorpus, "expected file has %zu base lines for %zu corpus lines", f->nbase, g_ncorpus);
    return f->nbase == g_ncorpus;
}

static void test_truncation(const sutra_tokenizer *tok, const fixtures *f) {
    sutra_encoding enc = {0};
    char err[256];
    int reports = 0, bad = 0;
    for (size_t i = 0; i < f->ntrunc; i++) {
        const expect *e = &f->trunc[i];
        const text *t = &g_corpus[e->line];
        sutra_status st = sutra_tokenizer_encode(tok, t->s, t->len, (size_t)e->max_tokens, 0, &enc, err, sizeof err);
        int ok;
        if (e->max_tokens < sutra_tokenizer_num_special(tok)) {
            /* HF's unsigned arithmetic wraps here and leaves the text untruncated; we refuse. */
            ok = st == SUTRA_ERR_INVALID_ARGUMENT && enc.n == 0;
            if (!ok && reports++ < MAX_REPORTS)
                fprintf(stderr, "FAIL: truncation: line %d max_tokens %d: want INVALID_ARGUMENT, got %d\n", e->line,
                        e->max_tokens, (int)st);
        } else {
            ok = st == SUTRA_OK && enc.n <= (size_t)e->max_tokens && enc.starts == NULL;
            if (ok) {
                char label[64];
                snprintf(label, sizeof label, "truncation to %d", e->max_tokens);
                ok = compare(label, e->line, &enc, e, 0, &reports);
            } else if (reports++ < MAX_REPORTS) {
                fprintf(stderr, "FAIL: truncation: line %d max_tokens %d: status %d, %zu ids\n", e->line,
                        e->max_tokens, (int)st, enc.n);
            }
        }
        bad += !ok;
        tu_checks++;
        tu_failures += !ok;
    }
    sutra_encoding_free(&enc);
    printf("  %-28s %zu cases, %d differ\n", "truncation", f->ntrunc, bad);
}

static void test_variants(const char *json, size_t len, const fixtures *f) {
    cJSON *base = cJSON_ParseWithLength(json, len);
    TU_CHECK(base != NULL, "cannot parse the model's tokenizer.json with cJSON");
    if (!base) return;
    for (const cJSON *v = f->variants->child; v; v = v->next) {
        const char *name = cJSON_GetObjectItem(v, "name")->valuestring;
        cJSON *d = cJSON_Duplicate(base, 1);
        for (const cJSON *p = cJSON_GetObjectItem(v, "patch")->child; p; p = p->next) {
            if (strcmp(p->string, "model") == 0) {
                cJSON *model = cJSON_GetObjectItem(d, "model");
                for (const cJSON *q = p->child; q; q = q->next)
                    cJSON_ReplaceItemInObjectCaseSensitive(model, q->string, cJSON_Duplicate(q, 1));
            } else {
                cJSON_ReplaceItemInObjectCaseSensitive(d, p->string, cJSON_Duplicate(p, 1));
            }
        }
        char *s = cJSON_PrintUnformatted(d);
        cJSON_Delete(d);
        sutra_tokenizer *tok = NULL;
        char err[256];
        sutra_status st = sutra_tokenizer_load_json(s, strlen(s), &tok, err, sizeof err);
        free(s);
        TU_CHECK(st == SUTRA_OK, "variant %s: load: %s", name, err);
        if (st != SUTRA_OK) continue;
        size_t first = (size_t)cJSON_GetObjectItem(v, "first")->valuedouble;
        size_t end = (size_t)cJSON_GetObjectItem(v, "end")->valuedouble;
        char label[64];
        snprintf(label, sizeof label, "variant %s", name);
        run_lines(label, tok, f->vlines + first, end - first);
        sutra_tokenizer_free(tok);
    }
    cJSON_Delete(base);
}

/* Every code point against HF's classes, NFD and lowercase. */
static void test_unicode(void) {
    size_t len;
    char *s = tu_read_file(tu_source_path("tests/fixtures/tokenizer/unicode_expected.json"), &len);
    if (!s) return;
    cJSON *u = cJSON_ParseWithLength(s, len);
    free(s);
    TU_CHECK(u != NULL, "unicode_expected.json does not parse");
    if (!u) return;
    static const struct {
        const char *key;
        unsigned bit;
    } classes[] = {{"drop", SUTRA_UC_DROP},       {"clean_space", SUTRA_UC_CLEAN_SPACE},
                   {"whitespace", SUTRA_UC_WHITESPACE}, {"punct", SUTRA_UC_PUNCT},
                   {"mn", SUTRA_UC_MN},           {"decomposable", SUTRA_UC_DECOMPOSES},
                   {"ccc_nonzero", SUTRA_UC_COMBINING}, {"cjk", SUTRA_UC_CJK}};
    for (size_t k = 0; k < sizeof classes / sizeof classes[0]; k++) {
        const cJSON *ranges = cJSON_GetObjectItem(u, classes[k].key);
        int bad = 0;
        /* Walk the sorted ranges alongside the code points instead of searching them. */
        const cJSON *r = ranges->child;
        for (uint32_t c = 0; c <= 0x10FFFF; c++) {
            if (c >= 0xD800 && c <= 0xDFFF) continue;
            while (r && (uint32_t)r->child->next->valuedouble < c) r = r->next;
            int want = r && (uint32_t)r->child->valuedouble <= c;
            int got = (sutra_uc_class(c) & classes[k].bit) != 0;
            if (want != got && bad++ < 10)
                fprintf(stderr, "FAIL: class %s of U+%04X: HF %d, ours %d\n", classes[k].key, (unsigned)c, want, got);
        }
        TU_CHECK(bad == 0, "class %s: %d code points differ from HF", classes[k].key, bad);
    }

    const cJSON *nfd = cJSON_GetObjectItem(u, "nfd"), *lower = cJSON_GetObjectItem(u, "lower");
    int bad_nfd = 0, bad_lower = 0;
    const cJSON *dn = nfd->child, *dl = lower->child;
    for (uint32_t c = 0; c <= 0x10FFFF; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        uint32_t want[8], got[SUTRA_UC_NFD_MAX];
        int nw = 0;
        if (c >= 0xAC00 && c <= 0xD7A3) {
            uint32_t si = c - 0xAC00;
            want[nw++] = 0x1100 + si / 588;
            want[nw++] = 0x1161 + (si % 588) / 28;
            if (si % 28) want[nw++] = 0x11A7 + si % 28;
        } else if (dn && strtoul(dn->string, NULL, 16) == c) {
            for (const cJSON *x = dn->child; x && nw < 8; x = x->next) want[nw++] = (uint32_t)x->valuedouble;
            dn = dn->next;
        } else {
            want[nw++] = c;
        }
        int ng = sutra_uc_nfd(c, got, SUTRA_UC_NFD_MAX);
        if ((ng != nw || memcmp(want, got, (size_t)nw * sizeof *got) != 0) && bad_nfd++ < 10)
            fprintf(stderr, "FAIL: NFD of U+%04X: HF %d code points starting U+%04X, ours %d starting U+%04X\n",
                    (unsigned)c, nw, (unsigned)want[0], ng, (unsigned)got[0]);

        nw = 0;
        if (dl && strtoul(dl->string, NULL, 16) == c) {
            for (const cJSON *x = dl->child; x && nw < 8; x = x->next) want[nw++] = (uint32_t)x->valuedouble;
            dl = dl->next;
        } else {
            want[nw++] = c;
        }
        ng = sutra_uc_lower(c, got);
        if ((ng != nw || memcmp(want, got, (size_t)nw * sizeof *got) != 0) && bad_lower++ < 10)
            fprintf(stderr, "FAIL: lowercase of U+%04X: HF U+%04X (%d), ours U+%04X (%d)\n", (unsigned)c,
                    (unsigned)want[0], nw, (unsigned)got[0], ng);
    }
    TU_CHECK(bad_nfd == 0, "NFD: %d code points differ from HF", bad_nfd);
    TU_CHECK(bad_lower == 0, "lowercase: %d code points differ from HF", bad_lower);
    cJSON_Delete(u);
}

static void test_invalid_utf8(const sutra_tokenizer *tok) {
    static const struct {
        const char *s;
        size_t len, at;
        const char *what;
    } bad[] = {
        {"abc\x80", 4, 3, "stray continuation byte"},
        {"\xC3", 1, 0, "truncated 2-byte sequence at the end"},
        {"ab\xE2\x82", 4, 2, "truncated 3-byte sequence"},
        {"\xF0\x9F\x98", 3, 0, "truncated 4-byte sequence"},
        {"\xE2\x82x", 3, 0, "3-byte sequence cut by ASCII"},
        {"\xC0\xAF", 2, 0, "overlong '/' (C0)"},
        {"\xC1\xBF", 2, 0, "overlong (C1)"},
        {"\xE0\x80\xAF", 3, 0, "overlong 3-byte"},
        {"\xF0\x80\x80\xAF", 4, 0, "overlong 4-byte"},
        {"\xED\xA0\x80", 3, 0, "UTF-16 high surrogate"},
        {"x\xED\xBF\xBF", 4, 1, "UTF-16 low surrogate"},
        {"\xED\xA0\xBD\xED\xB8\x80", 6, 0, "CESU-8 surrogate pair"},
        {"\xF4\x90\x80\x80", 4, 0, "above U+10FFFF"},
        {"\xF5\x80\x80\x80", 4, 0, "lead byte F5"},
        {"\xF8\x88\x80\x80\x80", 5, 0, "5-byte form"},
        {"\xFC\x84\x80\x80\x80\x80", 6, 0, "6-byte form"},
        {"\xFE", 1, 0, "byte FE"},
        {"\xFF", 1, 0, "byte FF"},
        {"ok \xC3\xA9\xA9", 6, 5, "extra continuation after a valid character"},
        {"[MASK]\x80", 7, 6, "after a special token"},
    };
    sutra_encoding enc = {0};
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        sutra_status st = sutra_tokenizer_encode(tok, bad[i].s, bad[i].len, 0, 1, &enc, err, sizeof err);
        char want[32];
        snprintf(want, sizeof want, "byte %zu", bad[i].at);
        TU_CHECK(st == SUTRA_ERR_INVALID_UTF8 && strstr(err, want) && enc.n == 0,
                 "invalid UTF-8 (%s): status %d, message '%s', want INVALID_UTF8 naming '%s'", bad[i].what, (int)st,
                 err, want);
    }
    static const struct {
        const char *s;
        size_t len;
    } good[] = {{"\xF4\x8F\xBF\xBF", 4}, {"\xEF\xBF\xBF", 3}, {"\xED\x9F\xBF", 3}, {"\xEE\x80\x80", 3},
                {"\xC2\x80", 2},         {"\xF0\x90\x80\x80", 4}, {"a\0b", 3}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sutra_status st = sutra_tokenizer_encode(tok, good[i].s, good[i].len, 0, 1, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_OK, "valid UTF-8 case %zu rejected: %s", i, err);
    }
    sutra_encoding_free(&enc);
}

static void test_api(const sutra_tokenizer *tok) {
    TU_CHECK(sutra_tokenizer_vocab_size(tok) == 30522, "vocab size %d", sutra_tokenizer_vocab_size(tok));
    TU_CHECK(strcmp(sutra_tokenizer_kind(tok), "wordpiece") == 0, "kind %s", sutra_tokenizer_kind(tok));
    TU_CHECK(sutra_tokenizer_num_special(tok) == 2, "num_special %d", sutra_tokenizer_num_special(tok));
    TU_CHECK(sutra_tokenizer_token_to_id(tok, "[CLS]") == 101, "[CLS] id");
    TU_CHECK(sutra_tokenizer_token_to_id(tok, "hello") == 7592, "hello id");
    TU_CHECK(sutra_tokenizer_token_to_id(tok, "##ing") == 2075, "##ing id");
    TU_CHECK(sutra_tokenizer_token_to_id(tok, "no-such-token") == -1, "missing token id");
    const char *s = sutra_tokenizer_id_to_token(tok, 103);
    TU_CHECK(s && strcmp(s, "[MASK]") == 0, "id 103 is %s", s ? s : "(null)");
    s = sutra_tokenizer_id_to_token(tok, 7592);
    TU_CHECK(s && strcmp(s, "hello") == 0, "id 7592 is %s", s ? s : "(null)");
    TU_CHECK(sutra_tokenizer_id_to_token(tok, -1) == NULL && sutra_tokenizer_id_to_token(tok, 30522) == NULL,
             "ids out of range give NULL");

    sutra_encoding enc = {0};
    char err[256];
    sutra_status st = sutra_tokenizer_encode(tok, "", 0, 0, 1, &enc, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && enc.n == 2 && enc.ids[0] == 101 && enc.ids[1] == 102 && enc.starts[0] == 0 &&
                 enc.ends[1] == 0,
             "empty text gives [CLS] [SEP]");
    st = sutra_tokenizer_encode(tok, NULL, 0, 0, 0, &enc, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && enc.n == 2 && enc.starts == NULL, "NULL text of length 0 gives [CLS] [SEP]");
    st = sutra_tokenizer_encode(tok, "Hello world", 11, 2, 1, &enc, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && enc.n == 2 && enc.ids[0] == 101 && enc.ids[1] == 102,
             "max_tokens == specials keeps no content");
    st = sutra_tokenizer_encode(tok, "Hello world", 11, 3, 1, &enc, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && enc.n == 3 && enc.ids[1] == 7592 && enc.starts[1] == 0 && enc.ends[1] == 5 &&
                 enc.starts[2] == 0 && enc.ends[2] == 0,
             "max_tokens 3 keeps the first word and its offsets");
    st = sutra_tokenizer_encode(tok, NULL, 5, 0, 0, &enc, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT, "NULL text with a length is an invalid argument");
    st = sutra_tokenizer_encode(NULL, "a", 1, 0, 0, &enc, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT, "NULL tokenizer is an invalid argument");
    st = sutra_tokenizer_encode(tok, "a", 1, 0, 0, NULL, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT, "NULL encoding is an invalid argument");
    st = sutra_tokenizer_encode(tok, "a", 1, 0, 0, &enc, NULL, 0);
    TU_CHECK(st == SUTRA_OK, "a NULL error buffer is allowed");
    sutra_encoding_free(&enc);
    sutra_encoding_free(&enc); /* twice is harmless */
    sutra_encoding_free(NULL);
    sutra_tokenizer_free(NULL);

    /* A long word beyond max_input_chars_per_word: one [UNK] spanning the word. */
    char longw[300];
    memset(longw, 'a', sizeof longw);
    st = sutra_tokenizer_encode(tok, longw, 101, 0, 1, &enc, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && enc.n == 3 && enc.ids[1] == 100 && enc.starts[1] == 0 && enc.ends[1] == 101,
             "101-character word is one [UNK] over bytes 0..101");
    sutra_encoding_free(&enc);
}

/* Malformed tokenizer.json: each must fail with its status, a message, and no tokenizer. */
static void test_malformed_json(const char *real, size_t real_len) {
    static const struct {
        const char *json;
        sutra_status want;
        const char *in_msg;
    } cases[] = {
        {"{", SUTRA_ERR_FORMAT, "JSON"},
        {"[]", SUTRA_ERR_FORMAT, "object"},
        {"{}", SUTRA_ERR_FORMAT, "model"},
        {"{\"model\": null}", SUTRA_ERR_FORMAT, "model"},
        {"{\"model\": 5}", SUTRA_ERR_FORMAT, "model"},
        {"{\"model\": {\"vocab\": {}}}", SUTRA_ERR_FORMAT, "model.type"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}", SUTRA_ERR_UNSUPPORTED, "BPE"},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", SUTRA_ERR_UNSUPPORTED, "Unigram"},
        {"{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}", SUTRA_ERR_UNSUPPORTED, "WordLevel"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": []}}", SUTRA_ERR_FORMAT, "model.vocab"},
        {"{\"model\": {\"type\": \"WordPiece\"}}", SUTRA_ERR_FORMAT, "model.vocab"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"b\": 5}}}", SUTRA_ERR_FORMAT, "'b'"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": -1}}}", SUTRA_ERR_FORMAT, "'a'"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0.5}}}", SUTRA_ERR_FORMAT, "'a'"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": \"0\"}}}", SUTRA_ERR_FORMAT, "'a'"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 1e300}}}", SUTRA_ERR_FORMAT, "'a'"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"b\": 0}}}", SUTRA_ERR_FORMAT, "share id"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"a\": 1}}}", SUTRA_ERR_FORMAT, "twice"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"unk_token\": 5}}", SUTRA_ERR_FORMAT,
         "unk_token"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"max_input_chars_per_word\": -3}}",
         SUTRA_ERR_FORMAT, "max_input_chars_per_word"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"normalizer\": {\"type\": \"NFKC\"}}",
         SUTRA_ERR_UNSUPPORTED, "NFKC"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"normalizer\": {\"type\": "
         "\"BertNormalizer\", \"lowercase\": \"yes\"}}",
         SUTRA_ERR_FORMAT, "lowercase"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"normalizer\": 3}", SUTRA_ERR_FORMAT,
         "normalizer"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Metaspace\"}}",
         SUTRA_ERR_UNSUPPORTED, "Metaspace"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {}}", SUTRA_ERR_FORMAT,
         "pre_tokenizer.type"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"post_processor\": {\"type\": "
         "\"RobertaProcessing\"}}",
         SUTRA_ERR_FORMAT, "post_processor.cls"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"post_processor\": {\"type\": "
         "\"RobertaProcessing\", \"cls\": [\"<s>\", 0], \"sep\": [\"</s>\"]}}",
         SUTRA_ERR_FORMAT, "post_processor.sep"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"post_processor\": {\"type\": "
         "\"RobertaProcessing2\"}}",
         SUTRA_ERR_UNSUPPORTED, "RobertaProcessing2"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"post_processor\": {\"type\": "
         "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\"}}, {\"Sequence\": {\"id\": "
         "\"A\"}}], \"special_tokens\": {\"[CLS]\": {\"ids\": [7]}}}}",
         SUTRA_ERR_FORMAT, "id 7"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"post_processor\": {\"type\": "
         "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[X]\"}}, {\"Sequence\": {\"id\": "
         "\"A\"}}], \"special_tokens\": {}}}",
         SUTRA_ERR_FORMAT, "[X]"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"post_processor\": {\"type\": "
         "\"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"B\"}}]}}",
         SUTRA_ERR_FORMAT, "\"A\""},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"post_processor\": {\"type\": "
         "\"TemplateProcessing\", \"single\": 1}}",
         SUTRA_ERR_FORMAT, "single"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"post_processor\": {\"type\": "
         "\"BertProcessing\", \"cls\": [\"[CLS]\", -2], \"sep\": [\"[SEP]\", 0]}}",
         SUTRA_ERR_FORMAT, "cls"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"added_tokens\": {}}", SUTRA_ERR_FORMAT,
         "added_tokens"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"content\": 1}]}",
         SUTRA_ERR_FORMAT, "added_tokens[0].content"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"content\": \"x\", "
         "\"lstrip\": 1}]}",
         SUTRA_ERR_FORMAT, "lstrip"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"content\": \"x\", "
         "\"id\": -4}]}",
         SUTRA_ERR_FORMAT, "id"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"content\": "
         "\"\xC3\"}]}",
         SUTRA_ERR_FORMAT, "UTF-8"},
        {"{\"version\": \"2.0\", \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", SUTRA_ERR_UNSUPPORTED,
         "2.0"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}} trailing", SUTRA_ERR_FORMAT, "trailing"},
        {"  ", SUTRA_ERR_FORMAT, "JSON"},
        {"\"just a string\"", SUTRA_ERR_FORMAT, "object"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sutra_tokenizer *tok = (sutra_tokenizer *)err; /* any non-NULL value: load must reset it */
        err[0] = '\0';
        sutra_status st = sutra_tokenizer_load_json(cases[i].json, strlen(cases[i].json), &tok, err, sizeof err);
        TU_CHECK(st == cases[i].want && tok == NULL && strstr(err, cases[i].in_msg),
                 "malformed tokenizer.json case %zu: status %d (want %d), message '%s' (want it to name '%s')", i,
                 (int)st, (int)cases[i].want, err, cases[i].in_msg);
        if (st == SUTRA_OK) sutra_tokenizer_free(tok);
    }
    sutra_tokenizer *tok = NULL;
    sutra_status st = sutra_tokenizer_load_json("", 0, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && !tok, "empty tokenizer.json");
    st = sutra_tokenizer_load_json(NULL, 3, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && !tok, "NULL json");

    /* Deep nesting must not blow the stack. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    st = sutra_tokenizer_load_json(deep, 2 * depth, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && !tok, "deeply nested JSON: status %d", (int)st);
    free(deep);

    /* Every prefix of the real file up to 4 KiB, and a few longer cuts, must fail cleanly. */
    int bad = 0;
    for (size_t cut = 0; cut < real_len; cut += cut < 4096 ? 1 : real_len / 13) {
        st = sutra_tokenizer_load_json(real, cut, &tok, err, sizeof err);
        if (st != SUTRA_ERR_FORMAT || tok) bad++;
        if (tok) sutra_tokenizer_free(tok);
        tok = NULL;
    }
    TU_CHECK(bad == 0, "%d truncated copies of tokenizer.json were not FORMAT errors", bad);

    /* A minimal valid tokenizer, and the unk_token error that only shows when it is needed. */
    const char *mini = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"a\": 1, \"##b\": 2}}, "
                       "\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}";
    st = sutra_tokenizer_load_json(mini, strlen(mini), &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "minimal tokenizer.json: %s", err);
    if (st == SUTRA_OK) {
        sutra_encoding enc = {0};
        st = sutra_tokenizer_encode(tok, "ab c A", 6, 0, 1, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_OK && enc.n == 4 && enc.ids[0] == 1 && enc.ids[1] == 2 && enc.ids[2] == 0 &&
                     enc.ids[3] == 0 && enc.starts[1] == 1 && enc.ends[1] == 2 && sutra_tokenizer_num_special(tok) == 0,
                 "minimal tokenizer: 'ab c A' should be a ##b [UNK] [UNK] with no specials, got %zu ids", enc.n);
        sutra_encoding_free(&enc);
        sutra_tokenizer_free(tok);
    }
    const char *nounk = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}";
    st = sutra_tokenizer_load_json(nounk, strlen(nounk), &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "tokenizer without [UNK] loads: %s", err);
    if (st == SUTRA_OK) {
        sutra_encoding enc = {0};
        st = sutra_tokenizer_encode(tok, "a", 1, 0, 0, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_OK && enc.n == 1, "known word without [UNK]");
        st = sutra_tokenizer_encode(tok, "a b", 3, 0, 0, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, "[UNK]") && enc.n == 0, "unknown word without [UNK]: %s",
                 err);
        sutra_encoding_free(&enc);
        sutra_tokenizer_free(tok);
    }
}

static int write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = fwrite(data, 1, len, f);
    fclose(f);
    return w == len;
}

/* vocab.txt in a directory of its own: the load_dir fallback, config options, and bad files. */
static void test_vocab_txt_dirs(const char *vocab, size_t vocab_len) {
    char dir[] = "/tmp/sutra_tok_test_XXXXXX";
    if (!mkdtemp(dir)) {
        TU_CHECK(0, "mkdtemp failed");
        return;
    }
    char path[512], cfg[512], err[512];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    sutra_tokenizer *tok = NULL;
    sutra_encoding enc = {0};

    TU_CHECK(sutra_tokenizer_load_dir(dir, &tok, err, sizeof err) == SUTRA_ERR_IO && !tok,
             "empty directory is an IO error");
    TU_CHECK(sutra_tokenizer_load_dir("/nonexistent/sutra", &tok, err, sizeof err) == SUTRA_ERR_IO && !tok,
             "missing directory is an IO error");

    /* The default model's vocab.txt with no config: BERT defaults (uncased). */
    write_file(path, vocab, vocab_len);
    sutra_status st = sutra_tokenizer_load_dir(dir, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "vocab.txt alone: %s", err);
    if (tok) {
        st = sutra_tokenizer_encode(tok, "Héllo [MASK]", 13, 0, 0, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_OK && enc.n == 4 && enc.ids[1] == 7592 && enc.ids[2] == 103, "vocab.txt alone: encode");
        sutra_tokenizer_free(tok);
        tok = NULL;
    }
    /* Cased: do_lower_case false, accents kept; the special tokens as AddedToken objects. */
    const char *cased = "{\"do_lower_case\": false, \"cls_token\": {\"content\": \"[CLS]\"}, \"sep_token\": \"[SEP]\"}";
    write_file(cfg, cased, strlen(cased));
    st = sutra_tokenizer_load_dir(dir, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "cased config: %s", err);
    if (tok) {
        st = sutra_tokenizer_encode(tok, "Hello", 5, 0, 0, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_OK && enc.n >= 3 && enc.ids[1] != 7592, "cased config keeps 'Hello' uppercase");
        sutra_tokenizer_free(tok);
        tok = NULL;
    }
    /* added_tokens_decoder: a new token gets the next id and is found in raw text. */
    const char *decoder = "{\"added_tokens_decoder\": {\"103\": {\"content\": \"[MASK]\", \"special\": true}, "
                          "\"30522\": {\"content\": \"<Hello World>\", \"normalized\": false}}}";
    write_file(cfg, decoder, strlen(decoder));
    st = sutra_tokenizer_load_dir(dir, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "added_tokens_decoder config: %s", err);
    if (tok) {
        st = sutra_tokenizer_encode(tok, "a<Hello World>b", 15, 0, 1, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_OK && enc.n == 5 && enc.ids[2] == 30522 && enc.starts[2] == 1 && enc.ends[2] == 14 &&
                     sutra_tokenizer_vocab_size(tok) == 30523,
                 "added_tokens_decoder token is matched (n=%zu)", enc.n);
        sutra_tokenizer_free(tok);
        tok = NULL;
    }
    write_file(cfg, "{not json", 9);
    TU_CHECK(sutra_tokenizer_load_dir(dir, &tok, err, sizeof err) == SUTRA_ERR_FORMAT && !tok, "bad config JSON");
    unlink(cfg);

    /* Bad vocab files. */
    write_file(path, "[UNK]\na\nb\na\n", 12);
    st = sutra_tokenizer_load_dir(dir, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && !tok && strstr(err, "line 4"), "repeated token: %s", err);
    write_file(path, "[UNK]\n\xC3\n", 8);
    st = sutra_tokenizer_load_dir(dir, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && !tok && strstr(err, "line 2"), "invalid UTF-8 line: %s", err);
    /* CRLF and CR line ends; no [CLS] in the vocabulary gets a new id (HF's added-token rule). */
    write_file(path, "[UNK]\r\nhello\rworld\n##s", 22);
    st = sutra_tokenizer_load_dir(dir, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "CR/CRLF vocab: %s", err);
    if (tok) {
        st = sutra_tokenizer_encode(tok, "worlds HELLO x", 14, 0, 0, &enc, err, sizeof err);
        TU_CHECK(st == SUTRA_OK && enc.n == 6 && enc.ids[1] == 2 && enc.ids[2] == 3 && enc.ids[3] == 1 &&
                     enc.ids[4] == 0 && enc.ids[0] == 5 && enc.ids[5] == 6 && sutra_tokenizer_vocab_size(tok) == 8,
                 "CR/CRLF vocab encodes (n=%zu, vocab %d)", enc.n, sutra_tokenizer_vocab_size(tok));
        sutra_tokenizer_free(tok);
        tok = NULL;
    }
    /* A tokenizer.json beside vocab.txt wins, and its errors name the file. */
    snprintf(cfg, sizeof cfg, "%s/tokenizer.json", dir);
    write_file(cfg, "{}", 2);
    st = sutra_tokenizer_load_dir(dir, &tok, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && !tok && strstr(err, "tokenizer.json"), "tokenizer.json preferred: %s", err);
    unlink(cfg);
    unlink(path);
    rmdir(dir);
    sutra_encoding_free(&enc);
}

/* ---- threads and speed ---------------------------------------------------------------------- */

typedef struct thread_arg {
    const sutra_tokenizer *tok;
    const fixtures *f;
    int start, bad;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    sutra_encoding enc = {0};
    char err[128];
    for (size_t k = 0; k < a->f->nbase; k++) {
        size_t i = (k + (size_t)a->start * 97) % a->f->nbase;
        const expect *e = &a->f->base[i];
        sutra_status st = sutra_tokenizer_encode(a->tok, g_corpus[e->line].s, g_corpus[e->line].len, 0, 1, &enc,
                                                 err, sizeof err);
        if (st != SUTRA_OK || enc.n != e->ids.n || memcmp(enc.ids, e->ids.data, enc.n * sizeof *enc.ids) != 0)
            a->bad++;
    }
    sutra_encoding_free(&enc);
    return NULL;
}

static void test_threads(const sutra_tokenizer *tok, const fixtures *f) {
    enum { NT = 4 };
    pthread_t th[NT];
    thread_arg args[NT];
    int bad = 0;
    for (int i = 0; i < NT; i++) {
        args[i] = (thread_arg){tok, f, i, 0};
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        bad += args[i].bad;
    }
    TU_CHECK(bad == 0, "%d encodings differ when %d threads share one tokenizer", bad, NT);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void report_speed(const sutra_tokenizer *tok) {
    /* An English sentence of 256 tokens ([CLS] + 254 + [SEP]). */
    static const char *words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dogs", "while",
                                  "embedding", "models", "tokenize", "sentences", "quickly", ","};
    char buf[4096];
    size_t len = 0;
    sutra_encoding enc = {0};
    char err[128];
    for (int i = 0;; i++) {
        size_t before = len;
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? " " : "", words[i % 15]);
        sutra_tokenizer_encode(tok, buf, len, 0, 0, &enc, err, sizeof err);
        if (enc.n > 256) {
            len = before;
            break;
        }
    }
    sutra_tokenizer_encode(tok, buf, len, 0, 0, &enc, err, sizeof err);
    size_t ntok = enc.n;
    int reps = 2000;
    double t0 = now_s();
    for (int r = 0; r < reps; r++) sutra_tokenizer_encode(tok, buf, len, 0, 1, &enc, err, sizeof err);
    double us = (now_s() - t0) / reps * 1e6;
    printf("  speed: %zu tokens (%zu bytes) in %.1f us per encode, offsets on\n", ntok, len, us);
    sutra_encoding_free(&enc);
}

int main(void) {
    if (!load_corpus()) return tu_finish("test_tokenizer");
    fixtures f;
    if (!load_expected(&f)) return tu_finish("test_tokenizer");

    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", tu_default_model());
    size_t json_len = 0, vocab_len = 0;
    char *json = tu_read_file(path, &json_len);
    snprintf(path, sizeof path, "%s/vocab.txt", tu_default_model());
    char *vocab = tu_read_file(path, &vocab_len);
    if (!json || !vocab) return tu_finish("test_tokenizer");

    sutra_tokenizer *tj = NULL, *tv = NULL;
    sutra_status st = sutra_tokenizer_load_dir(tu_default_model(), &tj, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "load tokenizer.json: %s", err);
    st = sutra_tok_load_vocab_txt(tu_default_model(), &tv, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "load vocab.txt: %s", err);
    if (!tj || !tv) return tu_finish("test_tokenizer");

    test_unicode();
    run_lines("tokenizer.json", tj, f.base, f.nbase);
    run_lines("vocab.txt", tv, f.base, f.nbase);
    test_truncation(tj, &f);
    test_truncation(tv, &f);
    test_variants(json, json_len, &f);
    test_invalid_utf8(tj);
    test_api(tj);
    test_api(tv);
    test_malformed_json(json, json_len);
    test_vocab_txt_dirs(vocab, vocab_len);
    test_threads(tj, &f);
    report_speed(tj);

    sutra_tokenizer_free(tj);
    sutra_tokenizer_free(tv);
    free(json);
    free(vocab);
    for (size_t i = 0; i < g_ncorpus; i++) free(g_corpus[i].s);
    free(g_corpus);
    expect *lists[3] = {f.base, f.trunc, f.vlines};
    size_t counts[3] = {f.nbase, f.ntrunc, f.nvlines};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < counts[k]; i++) {
            sutra_ivec_free(&lists[k][i].ids);
            sutra_ivec_free(&lists[k][i].offsets);
        }
        free(lists[k]);
    }
    cJSON_Delete(f.variants);
    return tu_finish("test_tokenizer");
}
