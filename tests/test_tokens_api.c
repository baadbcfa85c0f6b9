/*
 * test_tokens_api.c - the library calls the server is built on: sutra_tokenize_ex (truncation
 * either side or none, special tokens on or off, offsets, prompts), sutra_embed_tokens (caller
 * ids, raw pooled output) and the token/prompt look-ups, on the default model.
 *
 * Reference: the library's own text calls. Embedding a text's ids must give exactly what
 * embedding the text gives (same engine, same batch composition: tolerance 0), raw output
 * finished by hand must equal the configured output to 1e-7 (the same float operations in a
 * different function), and tokenisation variants must be consistent with the full encoding.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sutra.h"
#include "testutil.h"

static const char *texts[] = {
    "A man is playing a guitar.",
    "Someone is strumming a guitar, loudly and badly, on the corner of the street.",
    "The stock market fell sharply today after the announcement.",
    "Ein Mann spielt Gitarre.",
    "東京は日本の首都です。",
    "x",
};
#define N_TEXTS (sizeof texts / sizeof texts[0])

static char *long_text(int words) {
    static const char *w[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"};
    size_t cap = (size_t)words * 9 + 1, len = 0;
    char *s = malloc(cap);
    for (int i = 0; i < words; i++) len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? " " : "", w[(i * 7) % 8]);
    return s;
}

int main(void) {
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = tu_default_model();
    cfg.threads = 2;
    char err[512];
    sutra_embedder *e = NULL;
    sutra_status st = sutra_embedder_create(&cfg, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "create: %s", err);
    if (st) return tu_finish("test_tokens_api");
    const int dim = sutra_embedder_dim(e), max_tokens = sutra_embedder_max_tokens(e);
    sutra_model_info info;
    sutra_embedder_info(e, &info);

    /* tokenize_ex with default options is sutra_tokenize */
    int32_t *ids[N_TEXTS];
    size_t n_ids[N_TEXTS];
    for (size_t i = 0; i < N_TEXTS; i++) {
        int32_t a[512], b[512], starts[512], ends[512];
        size_t na = 0, nb = 0;
        TU_CHECK(sutra_tokenize(e, texts[i], (size_t)-1, a, 512, &na) == SUTRA_OK, "tokenize %zu", i);
        TU_CHECK(sutra_tokenize_ex(e, texts[i], (size_t)-1, NULL, b, starts, ends, 512, &nb, err, sizeof err) ==
                     SUTRA_OK,
                 "tokenize_ex %zu: %s", i, err);
        TU_CHECK(na == nb && !memcmp(a, b, na * sizeof *a), "text %zu: tokenize_ex ids differ", i);
        TU_CHECK(starts[0] == -1 && ends[nb - 1] == -1, "text %zu: special tokens carry no span", i);
        size_t tl = strlen(texts[i]);
        for (size_t k = 1; k + 1 < nb; k++)
            TU_CHECK(starts[k] >= 0 && ends[k] > starts[k] && (size_t)ends[k] <= tl,
                     "text %zu token %zu: span [%d, %d) outside the text", i, k, starts[k], ends[k]);
        /* without special tokens: the same ids minus the first and the last */
        sutra_tokenize_options o = {.struct_size = sizeof o, .no_special = 1};
        size_t nc = 0;
        int32_t c[512];
        TU_CHECK(sutra_tokenize_ex(e, texts[i], (size_t)-1, &o, c, NULL, NULL, 512, &nc, err, sizeof err) == SUTRA_OK &&
                     nc == na - 2 && !memcmp(c, a + 1, nc * sizeof *c),
                 "text %zu: no_special is the encoding without [CLS]/[SEP]", i);
        ids[i] = malloc(na * sizeof *ids[i]);
        memcpy(ids[i], a, na * sizeof *a);
        n_ids[i] = na;
    }
    /* ASCII WordPiece: each token's span, lower-cased, is the token without its "##" */
    {
        const char *t = "Playing Guitars loudly";
        int32_t a[64], s[64], en[64];
        size_t n = 0;
        sutra_tokenize_ex(e, t, (size_t)-1, NULL, a, s, en, 64, &n, err, sizeof err);
        for (size_t k = 1; k + 1 < n; k++) {
            const char *tok = sutra_embedder_token(e, a[k]);
            if (!strncmp(tok, "##", 2)) tok += 2;
            char span[64];
            int L = en[k] - s[k];
            for (int j = 0; j < L && j < 63; j++) span[j] = (char)(t[s[k] + j] | (t[s[k] + j] >= 'A' && t[s[k] + j] <= 'Z' ? 32 : 0));
            span[L < 63 ? L : 63] = '\0';
            TU_CHECK(!strcmp(span, tok), "token %zu '%s' spans '%s'", k, tok, span);
        }
        TU_CHECK(!strcmp(sutra_embedder_token(e, a[0]), "[CLS]"), "id %d is [CLS]", a[0]);
        TU_CHECK(sutra_embedder_token(e, -1) == NULL && sutra_embedder_token(e, 1 << 30) == NULL,
                 "unknown ids have no token");
    }

    /* truncation: none, right (default), left */
    {
        char *t = long_text(600);
        size_t cap = 4096, n_full = 0, n_right = 0, n_left = 0;
        int32_t *full = malloc(cap * 4), *right = malloc(cap * 4), *left = malloc(cap * 4);
        sutra_tokenize_options none = {.struct_size = sizeof none, .no_truncate = 1},
                               lt = {.struct_size = sizeof lt, .truncate_left = 1};
        TU_CHECK(sutra_tokenize_ex(e, t, (size_t)-1, &none, full, NULL, NULL, cap, &n_full, err, sizeof err) == SUTRA_OK,
                 "no_truncate: %s", err);
        TU_CHECK(n_full > (size_t)max_tokens, "600 words are %zu tokens, over the limit %d", n_full, max_tokens);
        sutra_tokenize_ex(e, t, (size_t)-1, NULL, right, NULL, NULL, cap, &n_right, err, sizeof err);
        sutra_tokenize_ex(e, t, (size_t)-1, &lt, left, NULL, NULL, cap, &n_left, err, sizeof err);
        TU_CHECK(n_right == (size_t)max_tokens && n_left == (size_t)max_tokens, "truncated to %zu / %zu tokens",
                 n_right, n_left);
        TU_CHECK(!memcmp(right, full, (n_right - 1) * 4) && right[n_right - 1] == full[n_full - 1],
                 "right truncation keeps the start and [SEP]");
        TU_CHECK(left[0] == full[0] && !memcmp(left + 1, full + n_full - (n_left - 1), (n_left - 1) * 4),
                 "left truncation keeps [CLS] and the end");
        size_t need = 0;
        TU_CHECK(sutra_tokenize_ex(e, t, (size_t)-1, &none, full, NULL, NULL, 10, &need, err, sizeof err) ==
                         SUTRA_ERR_BUFFER_TOO_SMALL &&
                     need == n_full,
                 "a small buffer reports the count needed");
        free(full), free(right), free(left), free(t);
    }

    /* a prompt: its tokens come first and carry no span; spans stay relative to the text */
    {
        sutra_tokenize_options o = {.struct_size = sizeof o, .prompt = "query: "};
        int32_t a[64], s[64], en[64], plain[64];
        size_t n = 0, np = 0;
        sutra_tokenize_ex(e, "a guitar", (size_t)-1, &o, a, s, en, 64, &n, err, sizeof err);
        sutra_tokenize_ex(e, "a guitar", (size_t)-1, NULL, plain, NULL, NULL, 64, &np, err, sizeof err);
        TU_CHECK(n == np + 2, "'query: ' adds 2 tokens (%zu vs %zu)", n, np);
        TU_CHECK(s[1] == -1 && s[2] == -1 && s[3] == 0 && en[3] == 1, "prompt tokens have no span, the text's start at 0");
        TU_CHECK(sutra_embedder_find_prompt(e, "query") == NULL, "the default model has no named prompts");
    }

    /* embedding ids equals embedding the texts */
    float *ref = malloc(N_TEXTS * (size_t)dim * sizeof(float));
    float *got = malloc(N_TEXTS * (size_t)info.hidden_size * sizeof(float));
    TU_CHECK(sutra_embed_batch(e, texts, N_TEXTS, ref, N_TEXTS * (size_t)dim) == SUTRA_OK, "embed_batch");
    TU_CHECK(sutra_embed_tokens(e, (const int32_t *const *)ids, n_ids, N_TEXTS, 0, got, N_TEXTS * (size_t)dim) ==
                 SUTRA_OK,
             "embed_tokens: %s", sutra_embedder_last_error(e));
    double worst = 0;
    for (size_t i = 0; i < N_TEXTS * (size_t)dim; i++) worst = fmax(worst, fabs((double)got[i] - ref[i]));
    TU_CHECK(worst == 0.0, "embed_tokens vs embed_batch: max diff %.3g (want 0)", worst);
    /* raw: pooled, then normalised by hand */
    TU_CHECK(sutra_embed_tokens(e, (const int32_t *const *)ids, n_ids, N_TEXTS, 1, got,
                                N_TEXTS * (size_t)info.hidden_size) == SUTRA_OK,
             "embed_tokens raw");
    worst = 0;
    double norm_worst = 0;
    for (size_t i = 0; i < N_TEXTS; i++) {
        const float *v = got + i * (size_t)info.hidden_size;
        double ss = 0;
        for (int k = 0; k < dim; k++) ss += (double)v[k] * v[k];
        norm_worst = fmax(norm_worst, fabs(sqrt(ss) - 1.0));
        float inv = (float)(1.0 / sqrt(ss));
        for (int k = 0; k < dim; k++) worst = fmax(worst, fabs((double)(v[k] * inv) - ref[i * (size_t)dim + k]));
    }
    TU_CHECK(norm_worst > 1e-3, "raw vectors are not normalised (worst |norm-1| %.3g)", norm_worst);
    TU_CHECK(worst <= 1e-7, "raw, normalised by hand vs embed: %.3g (limit 1e-7)", worst);
    /* sutra_vector_finish is what the embedding calls apply: exactly their result */
    worst = 0;
    for (size_t i = 0; i < N_TEXTS; i++) {
        float v[1024];
        sutra_vector_finish(got + i * (size_t)info.hidden_size, dim, info.normalize, v);
        for (int k = 0; k < dim; k++) worst = fmax(worst, fabs((double)v[k] - ref[i * (size_t)dim + k]));
    }
    TU_CHECK(worst == 0.0, "sutra_vector_finish(raw) vs embed: max diff %.3g (want 0)", worst);

    /* invalid sequences: nothing written, the message names the sequence */
    {
        float before = got[0];
        int32_t bad[] = {101, (int32_t)info.vocab_size, 102};
        const int32_t *p[] = {ids[0], bad};
        size_t n[] = {n_ids[0], 3};
        TU_CHECK(sutra_embed_tokens(e, p, n, 2, 0, got, 2 * (size_t)dim) == SUTRA_ERR_INVALID_ARGUMENT &&
                     strstr(sutra_embedder_last_error(e), "sequence 1") && got[0] == before,
                 "an id at the vocabulary size is refused: %s", sutra_embedder_last_error(e));
        int32_t neg[] = {101, -5, 102};
        p[1] = neg;
        TU_CHECK(sutra_embed_tokens(e, p, n, 2, 0, got, 2 * (size_t)dim) == SUTRA_ERR_INVALID_ARGUMENT,
                 "a negative id is refused");
        n[1] = 0;
        TU_CHECK(sutra_embed_tokens(e, p, n, 2, 0, got, 2 * (size_t)dim) == SUTRA_ERR_INVALID_ARGUMENT,
                 "an empty sequence is refused");
        int32_t *many = calloc((size_t)max_tokens + 1, sizeof *many);
        p[1] = many;
        n[1] = (size_t)max_tokens + 1;
        TU_CHECK(sutra_embed_tokens(e, p, n, 2, 0, got, 2 * (size_t)dim) == SUTRA_ERR_INVALID_ARGUMENT,
                 "a sequence over the token limit is refused");
        n[1] = (size_t)max_tokens;
        TU_CHECK(sutra_embed_tokens(e, p, n, 2, 0, got, 2 * (size_t)dim - 1) == SUTRA_ERR_BUFFER_TOO_SMALL,
                 "a short output buffer is refused");
        TU_CHECK(sutra_embed_tokens(e, p, n, 2, 0, got, 2 * (size_t)dim) == SUTRA_OK,
                 "a sequence at the token limit runs: %s", sutra_embedder_last_error(e));
        free(many);
        TU_CHECK(sutra_tokenize_ex(e, "\xff", 1, NULL, bad, NULL, NULL, 3, n, err, sizeof err) == SUTRA_ERR_INVALID_UTF8,
                 "invalid UTF-8 is refused by tokenize_ex");
    }
    for (size_t i = 0; i < N_TEXTS; i++) free(ids[i]);
    free(ref);
    free(got);
    sutra_embedder_destroy(e);
    return tu_finish("test_tokens_api");
}
