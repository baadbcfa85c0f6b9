/*
 * fuzz_tokenizer.c - libFuzzer harness for the tokenizer. The first input byte picks the mode,
 * the rest is the payload:
 *   mode % 4 == 0 or 1: encode the payload with the default model's tokenizer (loaded once from
 *                       $SUTRA_MODELS_DIR or ~/.cache/sutra/models), with offsets, and with a
 *                       truncation limit taken from the mode byte when mode % 4 == 1;
 *   mode % 4 == 2:      parse the payload as a tokenizer.json and, if it loads, encode with it;
 *   mode % 4 == 3:      a small WordPiece tokenizer.json whose added token is the payload's first
 *                       part (flags and normalizer options from the mode byte's high bits),
 *                       then encode the payload's second part with it.
 * Rules: every result is checked for the invariants callers rely on (ids inside the vocabulary,
 * offsets inside the text and ordered, statuses consistent with the input); a violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

static sutra_tokenizer *g_default;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char dir[4096];
    const char *models = getenv("SUTRA_MODELS_DIR");
    if (models && *models) snprintf(dir, sizeof dir, "%s/all-MiniLM-L6-v2", models);
    else snprintf(dir, sizeof dir, "%s/.cache/sutra/models/all-MiniLM-L6-v2", getenv("HOME") ? getenv("HOME") : ".");
    char err[512];
    if (sutra_tokenizer_load_dir(dir, &g_default, err, sizeof err) != SUTRA_OK) {
        fprintf(stderr, "fuzz_tokenizer: default model not loaded (%s); only the JSON modes run\n", err);
        g_default = NULL;
    }
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
        CHECK(plain.n == enc.n && plain.starts == NULL && memcmp(plain.ids, enc.ids, enc.n * sizeof *enc.ids) == 0);
        sutra_encoding_free(&plain);
    } else {
        /* The only other failure a loaded tokenizer may report is a missing unk_token. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    switch (mode % 4) {
    case 0:
    case 1:
        if (g_default) encode_and_check(g_default, (const char *)data, size, mode % 4 == 1 ? (size_t)(mode >> 2) : 0);
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
