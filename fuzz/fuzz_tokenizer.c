/*
 * fuzz_tokenizer.c - libFuzzer harness for the tokenizer. The first input byte picks the mode,
 * the rest is the payload:
 *   mode % 4 == 0:      (mode >> 2) % 8 picks what runs on the payload:
 *                       0: encode with the default model's tokenizer (WordPiece, loaded once from
 *                          $SUTRA_MODELS_DIR or ~/.cache/sutra/models), with offsets;
 *                       1 / 2: encode with the Unigram (XLM-R) / byte-level BPE (ModernBERT)
 *                          tokenizer of tests/fixtures/longctx (2 with mode bit 0x20: Qwen's
 *                          tokenizer of tests/fixtures/qwen3, Split pre-tokenizer);
 *                       3 / 4: the same with a truncation limit from the payload's first byte;
 *                       5: parse the payload as a precompiled charsmap (and as base64 of one) and,
 *                          if it loads, normalize sample texts and the payload with it;
 *                       6 / 7: a small Unigram / BPE tokenizer.json whose vocabulary (and merges)
 *                          come from the payload's first part, options from its first byte, then
 *                          encode the second part;
 *   mode % 4 == 1:      the default model with a truncation limit taken from the mode byte;
 *   mode % 4 == 2:      parse the payload as a tokenizer.json and, if it loads, encode with it;
 *   mode % 4 == 3:      a small WordPiece tokenizer.json whose added token is the payload's first
 *                       part (flags and normalizer options from the mode byte's high bits),
 *                       then encode the payload's second part with it.
 * The fixtures are found through $SUTRA_SOURCE_DIR, else the working directory (the repository
 * root, as scripts/fuzz-smoke.sh runs), else the directories above the binary.
 * Rules: every result is checked for the invariants callers rely on (ids inside the vocabulary,
 * offsets inside the text and ordered, statuses consistent with the input); a violation aborts.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

static sutra_tokenizer *g_default, *g_unigram, *g_bpe, *g_qwen;

/* Loads root/tests/fixtures/name/tokenizer.json; NULL if absent. */
static sutra_tokenizer *load_fixture(const char *root, const char *name) {
    char dir[PATH_MAX + 64], err[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/%s", root, name);
    sutra_tokenizer *tok = NULL;
    if (sutra_tokenizer_load_dir(dir, &tok, err, sizeof err) != SUTRA_OK) return NULL;
    return tok;
}

static void load_longctx(const char *argv0) {
    const char *env = getenv("SUTRA_SOURCE_DIR");
    char roots[5][PATH_MAX];
    int nr = 0;
    if (env && *env) snprintf(roots[nr++], PATH_MAX, "%s", env);
    snprintf(roots[nr++], PATH_MAX, ".");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 && argv0) n = (ssize_t)snprintf(exe, sizeof exe, "%s", argv0);
    if (n > 0 && (size_t)n < sizeof exe) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0'; /* build/fuzz */
            snprintf(roots[nr++], PATH_MAX, "%.3000s/../..", exe);
            snprintf(roots[nr++], PATH_MAX, "%.3000s/../../..", exe);
        }
    }
    for (int i = 0; i < nr && !g_unigram; i++) {
        g_unigram = load_fixture(roots[i], "longctx/xlmr");
        g_bpe = g_unigram ? load_fixture(roots[i], "longctx/modernbert") : NULL;
        g_qwen = g_unigram ? load_fixture(roots[i], "qwen3/tokenizer") : NULL;
    }
    if (!g_unigram || !g_bpe)
        fprintf(stderr, "fuzz_tokenizer: tests/fixtures/longctx not found (set SUTRA_SOURCE_DIR); the Unigram and "
                        "BPE modes do nothing\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char dir[4096];
    const char *models = getenv("SUTRA_MODELS_DIR");
    if (models && *models) snprintf(dir, sizeof dir, "%s/all-MiniLM-L6-v2", models);
    else snprintf(dir, sizeof dir, "%s/.cache/sutra/models/all-MiniLM-L6-v2", getenv("HOME") ? getenv("HOME") : ".");
    char err[512];
    if (sutra_tokenizer_load_dir(dir, &g_default, err, sizeof err) != SUTRA_OK) {
        fprintf(stderr, "fuzz_tokenizer: default model not loaded (%s); only the JSON modes run\n", err);
        g_default = NULL;
    }
    load_longctx(argc && *argc > 0 && argv && *argv ? (*argv)[0] : NULL);
    return 0;
}

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_tokenizer: invariant failed at line %d: %s\n", __LINE__, #cond); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* Encodes text and checks the result against what the API promises. */
static void encode_and_check(const sutra_tokenizer *tok, const char *text, size_t len, size_t max_tokens) {
    sutra_encoding enc = {0};
    char err[256];
    sutra_status st = sutra_tokenizer_encode(tok, text, len, max_tokens, 1, &enc, err, sizeof err);
    int valid = sutra_utf8_validate(text, len) == len;
    size_t nspec = (size_t)sutra_tokenizer_num_special(tok);
    if (!valid) {
        CHECK(st == SUTRA_ERR_INVALID_UTF8);
    } else if (max_tokens > 0 && max_tokens < nspec) {
        CHECK(st == SUTRA_ERR_INVALID_ARGUMENT);
    } else if (st == SUTRA_OK) {
        int vocab = sutra_tokenizer_vocab_size(tok);
        CHECK(enc.n >= nspec);
        if (max_tokens) CHECK(enc.n <= max_tokens);
        int32_t last_start = 0;
        for (size_t i = 0; i < enc.n; i++) {
            CHECK(enc.ids[i] >= 0 && enc.ids[i] < vocab);
            CHECK(enc.starts[i] >= 0 && enc.starts[i] <= enc.ends[i] && (size_t)enc.ends[i] <= len);
            if (enc.starts[i] != enc.ends[i]) {
                CHECK(enc.starts[i] >= last_start);
                last_start = enc.starts[i];
            }
        }
        /* Without offsets the ids must be the same. */
        sutra_encoding plain = {0};
        CHECK(sutra_tokenizer_encode(tok, text, len, max_tokens, 0, &plain, err, sizeof err) == SUTRA_OK);
        CHECK(plain.n == enc.n && plain.starts == NULL &&
              (enc.n == 0 || memcmp(plain.ids, enc.ids, enc.n * sizeof *enc.ids) == 0));
        sutra_encoding_free(&plain);
    } else {
        /* The only other failure a loaded tokenizer may report is a missing unk_token. */
        CHECK(st == SUTRA_ERR_FORMAT);
    }
    sutra_encoding_free(&enc);
    /* The text's two halves as a pair: the limit holds, ids are in the vocabulary, types are
     * 0..255; invalid UTF-8 in either half is the only input error. */
    const size_t half = len / 2, npair = (size_t)sutra_tokenizer_num_special_pair(tok);
    st = sutra_tokenizer_encode_pair(tok, text, half, text + half, len - half, max_tokens, &enc, err, sizeof err);
    if (max_tokens > 0 && max_tokens < npair) {
        CHECK(st == SUTRA_ERR_INVALID_ARGUMENT); /* checked before the texts */
    } else if (sutra_utf8_validate(text, half) != half || sutra_utf8_validate(text + half, len - half) != len - half) {
        CHECK(st == SUTRA_ERR_INVALID_UTF8);
    } else if (st == SUTRA_OK) {
        CHECK(enc.n >= npair && (!max_tokens || enc.n <= max_tokens));
        for (size_t i = 0; i < enc.n; i++)
            CHECK(enc.ids[i] >= 0 && enc.ids[i] < sutra_tokenizer_vocab_size(tok) &&
                  (!enc.types || (enc.types[i] >= 0 && enc.types[i] < 256)));
    } else {
        CHECK(st == SUTRA_ERR_FORMAT);
    }
    sutra_encoding_free(&enc);
}

/* Appends s[0..n) to out as the body of a JSON string; raw bytes >= 0x80 pass through, so that
 * invalid UTF-8 reaches the loader. */
static size_t json_escape(char *out, const uint8_t *s, size_t n) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            out[w++] = '\\';
            out[w++] = (char)c;
        } else if (c < 0x20) {
            w += (size_t)sprintf(out + w, "\\u%04x", c);
        } else {
            out[w++] = (char)c;
        }
    }
    return w;
}

static void added_token_mode(uint8_t mode, const uint8_t *data, size_t size) {
    if (size == 0) return;
    size_t split = data[0] % (size < 64 ? size : 64);
    const uint8_t *content = data + 1;
    size_t clen = split < size - 1 ? split : size - 1;
    const uint8_t *text = content + clen;
    size_t tlen = size - 1 - clen;

    static const char head[] =
        "{\"version\": \"1.0\", \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", "
        "\"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 12, \"vocab\": {"
        "\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"a\": 3, \"b\": 4, \"##a\": 5, \"##b\": 6, \"ab\": 7, "
        "\"é\": 8, \"##é\": 9, \"中\": 10, \"[\": 11, \"]\": 12, \"<\": 13, \">\": 14}}, "
        "\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, "
        "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\"}}, "
        "{\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"[SEP]\"}}], \"special_tokens\": {"
        "\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [1]}, \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [2]}}}, ";
    char *json = malloc(sizeof head + 6 * clen + 512);
    if (!json) return;
    size_t w = (size_t)sprintf(json, "%s\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": %s, "
                               "\"strip_accents\": %s}, \"added_tokens\": [{\"id\": 15, \"content\": \"",
                               head, (mode & 0x80) ? "true" : "false", (mode & 0x40) ? "true" : "null");
    w += json_escape(json + w, content, clen);
    w += (size_t)sprintf(json + w,
                         "\", \"single_word\": %s, \"lstrip\": %s, \"rstrip\": %s, \"normalized\": %s, "
                         "\"special\": %s}, {\"id\": 0, \"content\": \"[UNK]\", \"special\": true, "
                         "\"normalized\": false}]}",
                         (mode & 0x04) ? "true" : "false", (mode & 0x08) ? "true" : "false",
                         (mode & 0x10) ? "true" : "false", (mode & 0x20) ? "true" : "false",
                         (mode & 0x40) ? "true" : "false");
    sutra_tokenizer *tok = NULL;
    char err[256];
    sutra_status st = sutra_tokenizer_load_json(json, w, &tok, err, sizeof err);
    free(json);
    if (st != SUTRA_OK) {
        CHECK(tok == NULL && st == SUTRA_ERR_FORMAT); /* only invalid UTF-8 content is refused */
        CHECK(sutra_utf8_validate((const char *)content, clen) != clen || memchr(content, 0, clen) != NULL);
        return;
    }
    encode_and_check(tok, (const char *)text, tlen, 0);
    encode_and_check(tok, (const char *)text, tlen, 3 + (mode & 3));
    sutra_tokenizer_free(tok);
}

/* ---- the charsmap parser ------------------------------------------------------------------ */

static void check_normalized(const sutra_tbuf *out, size_t text_len) {
    for (size_t i = 0; i < out->n; i++) {
        const sutra_tchar *c = &out->c[i];
        CHECK(c->cp <= 0x10FFFF && !(c->cp >= 0xD800 && c->cp <= 0xDFFF));
        CHECK(c->start >= 0 && c->start <= c->end && (size_t)c->end <= text_len);
    }
}

static void run_charsmap(const sutra_charsmap *cm, const uint8_t *payload, size_t size) {
    static const char *samples[] = {"Hello, world!", "\xEF\xBD\x86\xEF\xBD\x95 \xE2\x91\xA0 \xEF\xAC\x81 e\xCC\x81",
                                    "a\tb\r\nc \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", ""};
    sutra_tbuf in = {0}, out = {0}, scratch = {0};
    for (size_t s = 0; s <= sizeof samples / sizeof samples[0]; s++) {
        const char *text = s < sizeof samples / sizeof samples[0] ? samples[s] : (const char *)payload;
        size_t len = s < sizeof samples / sizeof samples[0] ? strlen(text) : size;
        if (sutra_utf8_validate(text, len) != len) continue;
        in.n = out.n = 0;
        for (size_t i = 0; i < len;) {
            size_t at = i;
            uint32_t cp = sutra_utf8_next(text, &i);
            CHECK(sutra_tbuf_push(&in, cp, (int32_t)at, (int32_t)i));
        }
        CHECK(sutra_precompiled_run(cm, in.c, in.n, 0, &out, &scratch));
        check_normalized(&out, len);
    }
    sutra_tbuf_free(&in);
    sutra_tbuf_free(&out);
    sutra_tbuf_free(&scratch);
}

static void charsmap_mode(const uint8_t *data, size_t size) {
    char err[256];
    sutra_charsmap *cm = NULL;
    sutra_status st = sutra_charsmap_parse(data, size, &cm, err, sizeof err);
    if (st == SUTRA_OK) {
        run_charsmap(cm, data, size);
        sutra_charsmap_free(cm);
    } else {
        CHECK(st == SUTRA_ERR_FORMAT && cm == NULL);
    }
    uint8_t *dec = NULL;
    size_t dlen = 0;
    st = sutra_base64_decode((const char *)data, size, &dec, &dlen, err, sizeof err);
    if (st != SUTRA_OK) {
        CHECK(st == SUTRA_ERR_FORMAT && dec == NULL);
        return;
    }
    CHECK(dlen <= size / 4 * 3);
    cm = NULL;
    if (sutra_charsmap_parse(dec, dlen, &cm, err, sizeof err) == SUTRA_OK) {
        run_charsmap(cm, dec, dlen);
        sutra_charsmap_free(cm);
    }
    free(dec);
}

/* ---- small Unigram / BPE tokenizers made from the payload ------------------------------------ */

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->n + n + 1) nc *= 2;
        char *p = realloc(b->s, nc);
        CHECK(p != NULL);
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) {
    sb_add(b, s, strlen(s));
}

/* s[0..n) as a JSON string, quotes included (raw bytes >= 0x80 pass through). */
static void sb_json(sbuf *b, const uint8_t *s, size_t n) {
    char *tmp = malloc(6 * n + 3);
    CHECK(tmp != NULL);
    tmp[0] = '"';
    size_t w = 1 + json_escape(tmp + 1, s, n);
    tmp[w++] = '"';
    sb_add(b, tmp, w);
    free(tmp);
}

typedef struct piece {
    const uint8_t *s;
    size_t n;
} piece;

static int has_piece(const piece *p, size_t np, const uint8_t *s, size_t n) {
    for (size_t i = 0; i < np; i++)
        if (p[i].n == n && memcmp(p[i].s, s, n) == 0) return 1;
    return 0;
}

#define MAX_PIECES 96
#define MAX_PIECE_LEN 24

static void synth_mode(int bpe, const uint8_t *data, size_t size) {
    if (size < 2) return;
    uint8_t opt = data[0];
    data++;
    size--;
    const uint8_t *sep = memchr(data, 0, size);
    size_t vlen = sep ? (size_t)(sep - data) : size;
    const uint8_t *text = sep ? sep + 1 : data;
    size_t tlen = sep ? size - vlen - 1 : size;

    /* Pieces: the lines of the first part; for BPE also every character suffix of each (valid)
     * line, so that the merge "first char + rest" of each has its tokens. */
    piece pieces[MAX_PIECES * MAX_PIECE_LEN];
    size_t np = 0;
    for (size_t i = 0; i < vlen && np < MAX_PIECES;) {
        size_t e = i;
        while (e < vlen && data[e] != '\n') e++;
        size_t n = e - i > MAX_PIECE_LEN ? MAX_PIECE_LEN : e - i;
        if (n > 0) {
            const uint8_t *p = data + i;
            int valid = sutra_utf8_validate((const char *)p, n) == n;
            if (bpe && valid) {
                for (size_t at = 0; at < n;) {
                    if (!has_piece(pieces, np, p + at, n - at)) pieces[np++] = (piece){p + at, n - at};
                    size_t next = at;
                    sutra_utf8_next((const char *)p, &next);
                    if (!has_piece(pieces, np, p + at, next - at)) pieces[np++] = (piece){p + at, next - at};
                    at = next;
                }
            } else if (!has_piece(pieces, np, p, n)) {
                pieces[np++] = (piece){p, n};
            }
        }
        i = e + 1;
    }

    static const char *norms[4] = {
        "null", "{\"type\": \"NFC\"}",
        ("{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFD\"}, {\"type\": \"Lowercase\"}, "
         "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \" {2,}\"}, \"content\": \" \"}]}"),
        ("{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Strip\", \"strip_left\": true, "
         "\"strip_right\": true}, {\"type\": \"Prepend\", \"prepend\": \"\xE2\x96\x81\"}]}")};
    static const char *pretoks[4] = {
        "null", "{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"always\"}",
        ("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, {\"type\": "
         "\"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"first\"}]}"),
        "{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true}"};
    sbuf b = {0};
    sb_str(&b, "{\"normalizer\": ");
    sb_str(&b, norms[(opt >> 4) & 3]);
    sb_str(&b, ", \"pre_tokenizer\": ");
    sb_str(&b, pretoks[(opt >> 6) & 3]);
    sb_str(&b, ", \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true, \"normalized\": false}]");
    char num[64];
    if (!bpe) {
        sb_str(&b, ", \"model\": {\"type\": \"Unigram\", \"unk_id\": ");
        sb_str(&b, (opt & 2) ? "null" : "0");
        sb_str(&b, (opt & 1) ? ", \"byte_fallback\": true" : "");
        sb_str(&b, ", \"vocab\": [[\"<unk>\", 0.0]");
        if (opt & 1)
            for (int k = 0; k < 256; k += 3) {
                snprintf(num, sizeof num, ", [\"<0x%02X>\", -20.0]", k);
                sb_str(&b, num);
            }
        for (size_t i = 0; i < np; i++) {
            sb_str(&b, ", [");
            sb_json(&b, pieces[i].s, pieces[i].n);
            snprintf(num, sizeof num, ", %.3f]", -0.25 * (double)(1 + (pieces[i].s[0] + pieces[i].n) % 29));
            sb_str(&b, num);
        }
        sb_str(&b, "]}}");
    } else {
        sb_str(&b, ", \"model\": {\"type\": \"BPE\"");
        sb_str(&b, (opt & 1) ? ", \"byte_fallback\": true" : "");
        sb_str(&b, (opt & 2) ? ", \"unk_token\": \"<unk>\"" : "");
        sb_str(&b, (opt & 4) ? ", \"fuse_unk\": true" : "");
        sb_str(&b, (opt & 8) ? ", \"ignore_merges\": true" : "");
        sb_str(&b, ", \"vocab\": {\"<unk>\": 0");
        int next = 1;
        if (opt & 1)
            for (int k = 0; k < 256; k += 3) {
                snprintf(num, sizeof num, ", \"<0x%02X>\": %d", k, next++);
                sb_str(&b, num);
            }
        for (size_t i = 0; i < np; i++) {
            sb_str(&b, ", ");
            sb_json(&b, pieces[i].s, pieces[i].n);
            snprintf(num, sizeof num, ": %d", next++);
            sb_str(&b, num);
        }
        sb_str(&b, "}, \"merges\": [");
        int first = 1;
        for (size_t i = 0; i < np; i++) {
            const uint8_t *p = pieces[i].s;
            size_t n = pieces[i].n, cut = 0;
            if (sutra_utf8_validate((const char *)p, n) != n) continue;
            sutra_utf8_next((const char *)p, &cut);
            if (cut >= n) continue;
            sb_str(&b, first ? "[" : ", [");
            first = 0;
            sb_json(&b, p, cut);
            sb_str(&b, ", ");
            sb_json(&b, p + cut, n - cut);
            sb_str(&b, "]");
        }
        sb_str(&b, "]}}");
    }
    sutra_tokenizer *tok = NULL;
    char err[256];
    sutra_status st = sutra_tokenizer_load_json(b.s, b.n, &tok, err, sizeof err);
    free(b.s);
    if (st != SUTRA_OK) {
        /* Invalid UTF-8 or U+0000 in a piece, a merge whose pieces collide, ... */
        CHECK(tok == NULL && st < 0);
        return;
    }
    encode_and_check(tok, (const char *)text, tlen, 0);
    encode_and_check(tok, (const char *)text, tlen, 1 + (opt & 7));
    sutra_tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    switch (mode % 4) {
    case 0:
        switch ((mode >> 2) % 8) {
        case 0:
            if (g_default) encode_and_check(g_default, (const char *)data, size, 0);
            break;
        case 1:
        case 2: {
            const sutra_tokenizer *tok = (mode >> 2) % 8 == 1 ? g_unigram : (mode & 0x20) && g_qwen ? g_qwen : g_bpe;
            if (tok) encode_and_check(tok, (const char *)data, size, 0);
            break;
        }
        case 3:
        case 4: {
            const sutra_tokenizer *tok = (mode >> 2) % 8 == 3 ? g_unigram : (mode & 0x20) && g_qwen ? g_qwen : g_bpe;
            if (tok && size > 0) encode_and_check(tok, (const char *)data + 1, size - 1, (size_t)data[0]);
            break;
        }
        case 5:
            charsmap_mode(data, size);
            break;
        default:
            synth_mode((mode >> 2) % 8 == 7, data, size);
            break;
        }
        break;
    case 1:
        if (g_default) encode_and_check(g_default, (const char *)data, size, (size_t)(mode >> 2));
        break;
    case 2: {
        sutra_tokenizer *tok = NULL;
        char err[256];
        sutra_status st = sutra_tokenizer_load_json((const char *)data, size, &tok, err, sizeof err);
        if (st == SUTRA_OK) {
            CHECK(tok != NULL);
            static const char sample[] = "Hello, [MASK] wörld! 中文 ﬁne\t\xC3\xA9";
            encode_and_check(tok, sample, sizeof sample - 1, 0);
            encode_and_check(tok, (const char *)data, size, 0);
            for (int32_t id = -1; id < 8; id++) (void)sutra_tokenizer_id_to_token(tok, id);
            (void)sutra_tokenizer_token_to_id(tok, "[UNK]");
            sutra_tokenizer_free(tok);
        } else {
            CHECK(tok == NULL && st < 0);
        }
        break;
    }
    default:
        added_token_mode(mode, data, size);
        break;
    }
    return 0;
}
