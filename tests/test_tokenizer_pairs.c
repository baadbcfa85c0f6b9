/*
 * test_tokenizer_pairs.c - text pairs (a query and a document) id for id and type for type
 * against HF `tokenizers` (tests/fixtures/pairs/pairs_expected.jsonl, scripts/gen_pair_fixtures.py):
 * every post-processor's pair form and the longest_first truncation at limits from 8 to 512; the
 * default model's vocab.txt against the expectations of its tokenizer.json; bad arguments.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tokenizer/tokenizer.h"

typedef struct named {
    const char *key;
    sutra_tokenizer *tok;
} named;

static int32_t as_i32(const cJSON *x) { return (int32_t)x->valuedouble; }

/* Checks every line of the fixture whose tokenizer is key with tok; returns the lines checked. */
static int check_lines(const char *jsonl, const char *key, const char *label, const sutra_tokenizer *tok) {
    int lines = 0;
    const char *p = jsonl;
    sutra_encoding enc = {0};
    while (*p) {
        const char *nl = strchr(p, '\n');
        const size_t len = nl ? (size_t)(nl - p) : strlen(p);
        cJSON *o = cJSON_ParseWithLength(p, len);
        p += len + (nl ? 1 : 0);
        if (!o) continue;
        const cJSON *k = cJSON_GetObjectItem(o, "tokenizer");
        if (!cJSON_IsString(k) || strcmp(k->valuestring, key)) {
            cJSON_Delete(o);
            continue;
        }
        const char *a = cJSON_GetObjectItem(o, "a")->valuestring, *b = cJSON_GetObjectItem(o, "b")->valuestring;
        const int max = (int)cJSON_GetObjectItem(o, "max")->valuedouble;
        const cJSON *ids = cJSON_GetObjectItem(o, "ids"), *types = cJSON_GetObjectItem(o, "types");
        char err[256] = "";
        sutra_status st = sutra_tokenizer_encode_pair(tok, a, strlen(a), b, strlen(b), (size_t)max, &enc, err, sizeof err);
        int same = st == SUTRA_OK && (int)enc.n == cJSON_GetArraySize(ids);
        size_t i = 0;
        for (const cJSON *x = ids->child, *y = types->child; same && x && y; x = x->next, y = y->next, i++)
            same = enc.ids[i] == as_i32(x) && (enc.types ? enc.types[i] : 0) == as_i32(y);
        TU_CHECK(same, "%s: pair (\"%.30s\", \"%.30s\") max %d: %s (%zu ids, HF %d; first difference at %zu)", label,
                 a, b, max, st ? err : "differs", enc.n, cJSON_GetArraySize(ids), i);
        lines++;
        cJSON_Delete(o);
    }
    sutra_encoding_free(&enc);
    return lines;
}

static sutra_tokenizer *load(const char *dir) {
    sutra_tokenizer *tok = NULL;
    char err[512] = "";
    TU_CHECK(sutra_tokenizer_load_dir(dir, &tok, err, sizeof err) == SUTRA_OK, "load %s: %s", dir, err);
    return tok;
}

/* The default model's vocab.txt alone (BERT's pair form built in). */
static sutra_tokenizer *load_vocab_txt(void) {
    char dir[] = "/tmp/sutra_pairs_XXXXXX", from[4096], to[4096];
    if (!mkdtemp(dir)) return NULL;
    snprintf(from, sizeof from, "%s/vocab.txt", tu_default_model());
    snprintf(to, sizeof to, "%s/vocab.txt", dir);
    sutra_tokenizer *tok = tu_copy_file(from, to) == 0 ? load(dir) : NULL;
    unlink(to);
    rmdir(dir);
    return tok;
}

static void test_errors(const sutra_tokenizer *tok) {
    sutra_encoding enc = {0};
    char err[256] = "";
    TU_CHECK(sutra_tokenizer_encode_pair(tok, "a", 1, "b", 1, 2, &enc, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT &&
                 strstr(err, "special tokens"), "a limit below the pair's 3 specials: %s", err);
    TU_CHECK(sutra_tokenizer_encode_pair(tok, "ok", 2, "\xff\xfe", 2, 0, &enc, err, sizeof err) == SUTRA_ERR_INVALID_UTF8 &&
                 strstr(err, "second text"), "invalid UTF-8 in the document is named: %s", err);
    TU_CHECK(sutra_tokenizer_encode_pair(tok, NULL, 3, "b", 1, 0, &enc, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT,
             "NULL text with a length");
    TU_CHECK(sutra_tokenizer_encode_pair(tok, "a", 1, "b", 1, 3, &enc, err, sizeof err) == SUTRA_OK && enc.n == 3,
             "a limit of exactly the specials keeps them alone (%zu)", enc.n);
    TU_CHECK(sutra_tokenizer_num_special_pair(tok) == 3, "BERT's pair form adds 3 specials");
    sutra_encoding_free(&enc);
}

int main(void) {
    size_t len = 0;
    char *jsonl = tu_read_file(tu_source_path("tests/fixtures/pairs/pairs_expected.jsonl"), &len);
    if (!jsonl) return tu_finish("test_tokenizer_pairs");
    named dirs[] = {{"xlmr", NULL}, {"mpnet", NULL}, {"modernbert", NULL}, {"qwen3", NULL}, {"gemma", NULL}};
    const char *paths[] = {"tests/fixtures/longctx/xlmr", "tests/fixtures/mpnet/all-mpnet-12l",
                           "tests/fixtures/longctx/modernbert", "tests/fixtures/qwen3/tokenizer",
                           "tests/fixtures/gemma/tokenizer"};
    sutra_tokenizer *minilm = load(tu_default_model());
    if (minilm) {
        TU_CHECK(check_lines(jsonl, "minilm", "minilm tokenizer.json", minilm) >= 80, "minilm lines present");
        test_errors(minilm);
    }
    sutra_tokenizer *vtxt = load_vocab_txt();
    if (vtxt) TU_CHECK(check_lines(jsonl, "minilm", "minilm vocab.txt", vtxt) >= 80, "vocab.txt lines present");
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        dirs[i].tok = load(tu_source_path(paths[i]));
        if (dirs[i].tok)
            TU_CHECK(check_lines(jsonl, dirs[i].key, dirs[i].key, dirs[i].tok) >= 80, "%s lines present", dirs[i].key);
        sutra_tokenizer_free(dirs[i].tok);
    }
    sutra_tokenizer_free(minilm);
    sutra_tokenizer_free(vtxt);
    free(jsonl);
    return tu_finish("test_tokenizer_pairs");
}
