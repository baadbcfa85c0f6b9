/*
 * test_window.c - long documents on the default model: sliding windows and their aggregation,
 * late chunking, batch order, and parameter errors.
 *
 * References are built outside the code under test, from the model itself:
 *  - the full token ids of a document come from the tokenizer with no limit; this file cuts
 *    them into windows itself (window k = [CLS] + text tokens [k*stride, k*stride + size-2) +
 *    [SEP], stride = size-2-overlap) and runs each window alone through the encoder
 *    (src/arch) on its own CPU backend, pooling and normalising as the model says. The
 *    aggregate of those vectors (mean, max, weighted by text tokens, then L2) is the reference
 *    for sutra_embed_windowed();
 *  - late-chunk references pool the encoder's final hidden states of the whole document (one
 *    pass when it fits, else this file's own windows with each token taken from the window
 *    where it is farthest from a cut edge) over each chunk's tokens.
 * Tolerances: the reference runs every window alone while the API packs windows into shared
 * batches; test_embed shows packing moves unit vectors by <= 1e-6, and aggregation divides by
 * the same counts, so 2e-6 (max abs) bounds rounding while a wrong slice, offset or token moves
 * a vector by 1e-3 or more. A document that fits one window must equal sutra_embed() bit for bit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "backend/cpu/cpu_backend.h"
#include "arch/family.h"
#include "model/safetensors.h"
#include "sutra.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

#define TOL 2e-6
#define DIM 384

/* ---- the reference: the encoder run directly -------------------------------------------------- */

typedef struct ref {
    sutra_model_config cfg;
    sutra_st_file *wf;
    sutra_backend *be;
    sutra_encoder *enc;
    sutra_tokenizer *tok;
} ref;

static int ref_open(ref *r, const char *dir) {
    char path[4096], err[512];
    memset(r, 0, sizeof *r);
    sutra_status st = sutra_model_config_load(dir, &r->cfg, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "reference config: %s", err);
    if (st) return 0;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    TU_CHECK(sutra_st_open(path, &r->wf, err, sizeof err) == SUTRA_OK, "reference weights: %s", err);
    TU_CHECK(sutra_tokenizer_load_dir(dir, &r->tok, err, sizeof err) == SUTRA_OK, "reference tokenizer: %s", err);
    if (!r->wf || !r->tok) return 0;
    const int maxT = r->cfg.max_position_embeddings;
    const sutra_cpu_options o = {.threads = 2};
    st = sutra_cpu_backend_create(&o, &r->be, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "reference backend: %s", err);
    if (st) return 0;
    const sutra_encoder_plan plan = {.max_tokens = maxT, .std_max_seqlen = maxT};
    st = sutra_encoder_create(&r->cfg, r->wf, r->be, &plan, &r->enc, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "reference encoder: %s", err);
    return st == SUTRA_OK;
}

static void ref_close(ref *r) {
    sutra_encoder_destroy(r->enc);
    if (r->be) r->be->destroy(r->be);
    sutra_st_close(r->wf);
    sutra_tokenizer_free(r->tok);
}

static void l2(float *v, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)v[i] * v[i];
    double inv = 1.0 / fmax(sqrt(ss), 1e-12);
    for (int i = 0; i < n; i++) v[i] = (float)(v[i] * inv);
}

/* One sequence through the encoder: vec (C) = the model's pooling, L2-normalised; hidden
 * (n, C) when not NULL. */
static void ref_run(ref *r, const int32_t *ids, int n, float *vec, float *hidden) {
    int32_t cu[2] = {0, n};
    sutra_batch b = {.ids = ids, .cu_seqlens = cu, .B = 1, .T = n, .max_seqlen = n};
    char err[512];
    float pooled[DIM];
    sutra_status st = sutra_encoder_forward(r->enc, r->be, &b, SUTRA_ATTN_STANDARD, r->cfg.pooling, pooled, hidden,
                                            err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "reference forward: %s", err);
    if (vec) {
        memcpy(vec, pooled, sizeof pooled);
        if (r->cfg.normalize) l2(vec, DIM);
    }
}

/* The full encoding of text (template included, no limit, with offsets). */
static sutra_encoding ref_tokens(ref *r, const char *text) {
    sutra_encoding enc = {0};
    char err[512];
    TU_CHECK(sutra_tokenizer_encode(r->tok, text, strlen(text), 0, 1, &enc, err, sizeof err) == SUTRA_OK,
             "reference tokens: %s", err);
    return enc;
}

/* Window k of a full encoding (n content tokens between ids[0] and ids[n+1]); returns its length. */
static int ref_window(const sutra_encoding *full, int size, int overlap, int k, int32_t *ids, int *first, int *last) {
    int n = (int)full->n - 2, content = size - 2, stride = content - overlap;
    int a = k * stride, b = a + content < n ? a + content : n;
    ids[0] = full->ids[0];
    memcpy(ids + 1, full->ids + 1 + a, (size_t)(b - a) * sizeof *ids);
    ids[1 + b - a] = full->ids[full->n - 1];
    if (first) *first = a;
    if (last) *last = b;
    return b - a + 2;
}

static int ref_window_count(const sutra_encoding *full, int size, int overlap) {
    int n = (int)full->n - 2, content = size - 2, stride = content - overlap, k = 1;
    while ((k - 1) * stride + content < n) k++;
    return k;
}

/* ---- documents ------------------------------------------------------------------------------- */

/* Deterministic English-like text of about `words` words, in sentences. Caller frees. */
static char *make_doc(unsigned seed, int words) {
    static const char *w[] = {"the", "river", "carried", "light", "across", "a", "quiet", "valley", "where",
                              "farmers", "counted", "stars", "and", "wrote", "letters", "to", "distant", "cities",
                              "about", "harvests", "machines", "storms", "children", "learned", "mathematics",
                              "from", "old", "books", "while", "engineers", "measured", "bridges", "of", "iron",
                              "glass", "every", "morning", "brought", "news", "markets", "music", "gardens"};
    const int nw = (int)(sizeof w / sizeof w[0]);
    char *s = malloc((size_t)words * 16 + 16);
    size_t n = 0;
    int in_sentence = 0;
    for (int i = 0; i < words; i++) {
        seed = seed * 1103515245u + 12345u;
        const char *word = w[(seed >> 8) % (unsigned)nw];
        if (n) s[n++] = ' ';
        n += (size_t)sprintf(s + n, "%s", word);
        if (!in_sentence) s[n - strlen(word)] = (char)(s[n - strlen(word)] - 32);
        in_sentence = 1;
        if ((seed >> 20) % 9 == 0 || i == words - 1) {
            s[n++] = '.';
            in_sentence = 0;
        }
    }
    s[n] = '\0';
    return s;
}

static double max_abs(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static sutra_embedder *make(const sutra_config *cfg) {
    char err[512];
    sutra_embedder *e = NULL;
    sutra_status st = sutra_embedder_create(cfg, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "create: %s: %s", sutra_status_str(st), err);
    return e;
}

/* ---- the tests ------------------------------------------------------------------------------- */

static void test_params(sutra_embedder *e) {
    float v[DIM];
    const char *t[] = {"some text"};
    struct {
        int size, overlap, agg;
        const char *says;
    } bad[] = {
        {0, 0, 0, "window size 0"},  {-5, 0, 0, "window size -5"}, {300, 10, 0, "exceeds the token limit"},
        {64, 64, 0, "overlap 64"},   {64, 80, 0, "overlap 80"},    {10, 8, 0, "text tokens"},
        {64, -1, 0, "negative"},     {64, 8, 7, "aggregate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sutra_window w = {.struct_size = sizeof w, .size = bad[i].size, .overlap = bad[i].overlap,
                         .aggregate = (sutra_aggregate)bad[i].agg};
        sutra_status st = sutra_embed_windowed(e, t, 1, &w, v, DIM);
        const char *msg = sutra_embedder_last_error(e);
        TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && strstr(msg, bad[i].says),
                 "window (%d, %d, %d): status %d, message '%s' (want '%s')", bad[i].size, bad[i].overlap, bad[i].agg,
                 st, msg, bad[i].says);
        size_t nc = 99;
        st = sutra_embed_late_chunks(e, t[0], (size_t)-1, NULL, 0, 2, &w, v, DIM, NULL, 0, &nc);
        TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT, "late chunks with window (%d, %d): status %d", bad[i].size,
                 bad[i].overlap, st);
    }
    printf("invalid windows: e.g. '%s'\n", sutra_embedder_last_error(e));
    sutra_window w;
    sutra_window_init(e, &w);
    TU_CHECK(w.size == 256 && w.overlap == 64 && w.aggregate == SUTRA_AGGREGATE_MEAN, "defaults %d/%d/%d", w.size,
             w.overlap, (int)w.aggregate);
    TU_CHECK(sutra_embed_windowed(e, t, 1, NULL, v, DIM - 1) == SUTRA_ERR_BUFFER_TOO_SMALL, "small out");
    const char *tn[] = {"ok", NULL};
    TU_CHECK(sutra_embed_windowed(e, tn, 2, NULL, v, 2 * DIM) == SUTRA_ERR_INVALID_ARGUMENT &&
                 strstr(sutra_embedder_last_error(e), "text 1"),
             "NULL text named: %s", sutra_embedder_last_error(e));
    const char *tb[] = {"fine", "bad \xff"};
    float two[2 * DIM];
    two[0] = 7.0f;
    TU_CHECK(sutra_embed_windowed(e, tb, 2, NULL, two, 2 * DIM) == SUTRA_ERR_INVALID_UTF8 &&
                 strstr(sutra_embedder_last_error(e), "text 1") && two[0] == 7.0f,
             "invalid UTF-8 named, nothing written: %s", sutra_embedder_last_error(e));
}

/* A document that fits one window is its plain embedding, bit for bit. */
static void test_one_window(sutra_embedder *e, ref *r) {
    char *docs[4] = {strdup(""), strdup("A man is playing a guitar."), make_doc(7, 120), NULL};
    /* exactly at the limit: 254 text tokens */
    char *big = make_doc(11, 400);
    sutra_encoding full = ref_tokens(r, big);
    TU_CHECK(full.n > 256, "doc of %zu tokens", full.n);
    big[full.ends[254]] = '\0'; /* through the end of text token 254 (index 254 = 1 + 253) */
    sutra_encoding_free(&full);
    full = ref_tokens(r, big);
    TU_CHECK(full.n == 256, "cut doc has %zu tokens, want 256", full.n);
    sutra_encoding_free(&full);
    docs[3] = big;
    for (int i = 0; i < 4; i++) {
        float a[DIM], b[DIM];
        const char *t[] = {docs[i]};
        sutra_window w;
        sutra_window_init(e, &w);
        for (int agg = 0; agg < 3; agg++) {
            w.aggregate = (sutra_aggregate)agg;
            TU_CHECK(sutra_embed_windowed(e, t, 1, &w, a, DIM) == SUTRA_OK, "windowed: %s",
                     sutra_embedder_last_error(e));
            TU_CHECK(sutra_embed(e, docs[i], (size_t)-1, b, DIM) == SUTRA_OK, "plain: %s", sutra_embedder_last_error(e));
            TU_CHECK(!memcmp(a, b, sizeof a), "doc %d (aggregate %d): one window differs from plain by %.3g", i, agg,
                     max_abs(a, b, DIM));
        }
        free(docs[i]);
    }
}

/* Windows and aggregation against per-window vectors computed by the encoder directly. */
static void test_windows(sutra_embedder *e, ref *r) {
    char *doc = make_doc(3, 700);
    sutra_encoding full = ref_tokens(r, doc);
    struct {
        int size, overlap;
    } shapes[] = {{256, 64}, {128, 0}, {100, 60}, {40, 10}, {3, 0}};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int size = shapes[s].size, ov = shapes[s].overlap;
        int K = ref_window_count(&full, size, ov);
        float *vecs = malloc((size_t)K * DIM * sizeof *vecs);
        double *wts = malloc((size_t)K * sizeof *wts);
        int32_t *ids = malloc((size_t)size * sizeof *ids);
        for (int k = 0; k < K; k++) {
            int a, b, n = ref_window(&full, size, ov, k, ids, &a, &b);
            ref_run(r, ids, n, vecs + (size_t)k * DIM, NULL);
            wts[k] = b - a;
        }
        for (int agg = 0; agg < 3; agg++) {
            float want[DIM], got[DIM];
            for (int i = 0; i < DIM; i++) {
                double v = agg == 1 ? -INFINITY : 0, tw = 0;
                for (int k = 0; k < K; k++) {
                    double x = vecs[(size_t)k * DIM + i], wk = agg == 2 ? wts[k] : 1.0;
                    if (agg == 1) v = fmax(v, x);
                    else v += wk * x;
                    tw += wk;
                }
                want[i] = (float)(agg == 1 ? v : v / tw);
            }
            l2(want, DIM);
            sutra_window w = {.struct_size = sizeof w, .size = size, .overlap = ov, .aggregate = (sutra_aggregate)agg};
            const char *t[] = {doc};
            sutra_stats st0, st1;
            sutra_embedder_stats(e, &st0);
            TU_CHECK(sutra_embed_windowed(e, t, 1, &w, got, DIM) == SUTRA_OK, "windowed %d/%d: %s", size, ov,
                     sutra_embedder_last_error(e));
            sutra_embedder_stats(e, &st1);
            TU_CHECK(st1.texts - st0.texts == (uint64_t)K, "size %d overlap %d: %llu windows embedded, want %d", size,
                     ov, (unsigned long long)(st1.texts - st0.texts), K);
            double d = max_abs(got, want, DIM);
            worst = fmax(worst, d);
            TU_CHECK(d <= TOL, "size %d overlap %d aggregate %d (%d windows): max abs diff %.3g", size, ov, agg, K, d);
        }
        printf("windows %3d/%-3d: %4d windows over %zu tokens\n", size, ov, K, full.n);
        free(vecs);
        free(wts);
        free(ids);
    }
    printf("windows vs per-window reference: worst max abs diff %.3g\n", worst);
    /* The aggregate differs from the truncated plain embedding (the windows did something). */
    float plain[DIM], win[DIM];
    const char *t[] = {doc};
    sutra_embed(e, doc, (size_t)-1, plain, DIM);
    sutra_embed_windowed(e, t, 1, NULL, win, DIM);
    TU_CHECK(max_abs(plain, win, DIM) > 1e-3, "a long document's windowed vector equals its truncated one");
    sutra_encoding_free(&full);
    free(doc);
}

/* Rows come back in input order, whatever the mix of long and short texts and the budget. */
static void test_order(const sutra_config *base) {
    enum { N = 12 };
    char *docs[N];
    for (int i = 0; i < N; i++)
        docs[i] = i % 3 == 0 ? make_doc(100 + i, 150 + 120 * i) : i % 3 == 1 ? make_doc(200 + i, 3 + i) : strdup("");
    int budgets[] = {0, 256, 900};
    float *single = malloc(N * DIM * sizeof *single), *rows = malloc(N * DIM * sizeof *rows);
    sutra_window w = {.struct_size = sizeof w, .size = 128, .overlap = 32, .aggregate = SUTRA_AGGREGATE_WEIGHTED};
    double worst = 0;
    unsigned seed = 99;
    for (int bi = 0; bi < 3; bi++) {
        sutra_config c = *base;
        c.max_batch_tokens = budgets[bi];
        sutra_embedder *e = make(&c);
        if (!e) break;
        if (bi == 0)
            for (int i = 0; i < N; i++) {
                const char *t[] = {docs[i]};
                TU_CHECK(sutra_embed_windowed(e, t, 1, &w, single + i * DIM, DIM) == SUTRA_OK, "single %d", i);
            }
        for (int round = 0; round < 3; round++) {
            int order[N];
            const char *t[N];
            for (int i = 0; i < N; i++) order[i] = i;
            for (int i = N - 1; i > 0; i--) {
                seed = seed * 1103515245u + 12345u;
                int j = (int)((seed >> 8) % (unsigned)(i + 1)), x = order[i];
                order[i] = order[j];
                order[j] = x;
            }
            int m = 1 + (int)((seed >> 3) % N);
            for (int i = 0; i < m; i++) t[i] = docs[order[i]];
            TU_CHECK(sutra_embed_windowed(e, t, (size_t)m, &w, rows, (size_t)m * DIM) == SUTRA_OK, "batch: %s",
                     sutra_embedder_last_error(e));
            for (int i = 0; i < m; i++) {
                double d = max_abs(rows + i * DIM, single + order[i] * DIM, DIM);
                worst = fmax(worst, d);
                TU_CHECK(d <= TOL, "budget %d round %d: row %d (doc %d) differs by %.3g", budgets[bi], round, i,
                         order[i], d);
            }
        }
        sutra_stats s;
        sutra_embedder_stats(e, &s);
        printf("order, budget %4d: %llu windows in %llu batches\n", budgets[bi], (unsigned long long)s.texts,
               (unsigned long long)s.batches);
        sutra_embedder_destroy(e);
    }
    printf("shuffled batches vs one at a time: worst max abs diff %.3g\n", worst);
    for (int i = 0; i < N; i++) free(docs[i]);
    free(single);
    free(rows);
}

/* want (nc, DIM): chunk c = L2(mean of hidden rows of text tokens whose chunk is c). */
static void pool_ref(const float *hid_of_tok, const int *chunk_of, int n, int nc, float *want, int *counts) {
    double *acc = calloc((size_t)nc * DIM, sizeof *acc);
    for (int c = 0; c < nc; c++) counts[c] = 0;
    for (int t = 0; t < n; t++) {
        if (chunk_of[t] < 0) continue;
        counts[chunk_of[t]]++;
        for (int i = 0; i < DIM; i++) acc[(size_t)chunk_of[t] * DIM + i] += hid_of_tok[(size_t)t * DIM + i];
    }
    for (int c = 0; c < nc; c++) {
        for (int i = 0; i < DIM; i++) want[(size_t)c * DIM + i] = (float)(acc[(size_t)c * DIM + i] / counts[c]);
        l2(want + (size_t)c * DIM, DIM);
    }
    free(acc);
}

/* Late chunks against pooling over the whole document's hidden states. */
static void test_late(const sutra_config *base, ref *r) {
    char *doc = make_doc(5, 330);
    sutra_encoding full = ref_tokens(r, doc);
    const int n = (int)full.n - 2;
    TU_CHECK(full.n > 256 && full.n <= 512, "late doc has %zu tokens", full.n);
    float *hid = malloc(full.n * DIM * sizeof *hid);
    ref_run(r, full.ids, (int)full.n, NULL, hid);
    int *chunk_of = malloc((size_t)n * sizeof *chunk_of);
    float *want = malloc((size_t)n * DIM * sizeof *want), *got = malloc((size_t)n * DIM * sizeof *got);
    int *counts = malloc((size_t)n * sizeof *counts);
    sutra_chunk *chunks = malloc((size_t)n * sizeof *chunks);
    double worst = 0;

    /* 1. one pass (limit 512), chunks of 50 tokens */
    sutra_config c = *base;
    c.max_sequence_length = 512;
    sutra_embedder *e = make(&c);
    if (e) {
        size_t nc = 0;
        sutra_status st = sutra_embed_late_chunks(e, doc, (size_t)-1, NULL, 0, 50, NULL, NULL, 0, NULL, 0, &nc);
        TU_CHECK(st == SUTRA_ERR_BUFFER_TOO_SMALL && nc == (size_t)(n + 49) / 50, "size query: %d, %zu chunks", st, nc);
        st = sutra_embed_late_chunks(e, doc, (size_t)-1, NULL, 0, 50, NULL, got, (size_t)n * DIM, chunks,
                                     (size_t)n, &nc);
        TU_CHECK(st == SUTRA_OK, "late chunks: %s", sutra_embedder_last_error(e));
        for (int t = 0; t < n; t++) chunk_of[t] = t / 50;
        pool_ref(hid + DIM, chunk_of, n, (int)nc, want, counts);
        for (size_t k = 0; k < nc && !st; k++) {
            double d = max_abs(got + k * DIM, want + k * DIM, DIM);
            worst = fmax(worst, d);
            TU_CHECK(d <= TOL, "token chunk %zu: max abs diff %.3g", k, d);
            TU_CHECK(chunks[k].tokens == counts[k] && chunks[k].start == (size_t)full.starts[1 + 50 * k] &&
                         chunks[k].end == (size_t)full.ends[1 + (k + 1 < nc ? 50 * k + 49 : (size_t)n - 1)],
                     "token chunk %zu: span %zu..%zu, %d tokens", k, chunks[k].start, chunks[k].end, chunks[k].tokens);
        }

        /* 2. byte offsets: one chunk per sentence, the first starting mid-text */
        size_t starts[256], ns = 0;
        for (const char *p = doc + 10; (p = strstr(p, ". ")) && ns < 256; p += 2) starts[ns++] = (size_t)(p + 2 - doc);
        for (int t = 0; t < n; t++) {
            int k = -1;
            for (size_t j = 0; j < ns; j++)
                if ((size_t)full.starts[1 + t] >= starts[j]) k = (int)j;
            chunk_of[t] = k;
        }
        st = sutra_embed_late_chunks(e, doc, (size_t)-1, starts, ns, 0, NULL, got, (size_t)n * DIM, chunks, (size_t)n,
                                     &nc);
        TU_CHECK(st == SUTRA_OK && nc == ns, "sentence chunks: %s", sutra_embedder_last_error(e));
        pool_ref(hid + DIM, chunk_of, n, (int)ns, want, counts);
        for (size_t k = 0; k < nc && !st; k++) {
            double d = max_abs(got + k * DIM, want + k * DIM, DIM);
            worst = fmax(worst, d);
            TU_CHECK(d <= TOL && chunks[k].tokens == counts[k] && chunks[k].start == starts[k],
                     "sentence chunk %zu: max abs diff %.3g, %d tokens (want %d)", k, d, chunks[k].tokens, counts[k]);
        }
        printf("late chunks in one pass: %zu sentence chunks, %d token chunks\n", nc, (n + 49) / 50);

        /* 3. errors */
        const char *txt = "Hello there.   General Kenobi.";
        size_t empty[] = {0, 12, 13}, down[] = {5, 3}, past[] = {0, 400};
        st = sutra_embed_late_chunks(e, txt, (size_t)-1, empty, 3, 0, NULL, got, 3 * DIM, NULL, 0, &nc);
        TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && strstr(sutra_embedder_last_error(e), "chunk 1"),
                 "whitespace chunk: %s", sutra_embedder_last_error(e));
        st = sutra_embed_late_chunks(e, txt, (size_t)-1, down, 2, 0, NULL, got, 2 * DIM, NULL, 0, &nc);
        TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && strstr(sutra_embedder_last_error(e), "increase"), "decreasing: %s",
                 sutra_embedder_last_error(e));
        st = sutra_embed_late_chunks(e, txt, (size_t)-1, past, 2, 0, NULL, got, 2 * DIM, NULL, 0, &nc);
        TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && strstr(sutra_embedder_last_error(e), "byte 400"), "past end: %s",
                 sutra_embedder_last_error(e));
        st = sutra_embed_late_chunks(e, txt, (size_t)-1, NULL, 0, 0, NULL, got, 2 * DIM, NULL, 0, &nc);
        TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT, "neither starts nor size");
        st = sutra_embed_late_chunks(e, txt, (size_t)-1, past, 1, 4, NULL, got, 2 * DIM, NULL, 0, &nc);
        TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT, "both starts and size");
        st = sutra_embed_late_chunks(e, "", (size_t)-1, NULL, 0, 4, NULL, NULL, 0, NULL, 0, &nc);
        TU_CHECK(st == SUTRA_OK && nc == 0, "empty document: %d, %zu chunks", st, nc);
        st = sutra_embed_late_chunks(e, txt, (size_t)-1, NULL, 0, 3, NULL, got, DIM, NULL, 0, &nc);
        TU_CHECK(st == SUTRA_ERR_BUFFER_TOO_SMALL && nc > 1, "small out: %d, %zu", st, nc);
        sutra_embedder_destroy(e);
    }

    /* 4. longer than the limit (128): windows of 128 overlapping by 40; each token from the
     * window where it is farthest from a cut edge. */
    c = *base;
    c.max_sequence_length = 128;
    e = make(&c);
    if (e) {
        const int size = 128, ov = 40, K = ref_window_count(&full, size, ov);
        float *tok_state = malloc((size_t)n * DIM * sizeof *tok_state), *wh = malloc((size_t)size * DIM * sizeof *wh);
        int *best = malloc((size_t)n * sizeof *best);
        int32_t ids[128];
        for (int t = 0; t < n; t++) best[t] = -1;
        for (int k = 0; k < K; k++) {
            int a, b, len = ref_window(&full, size, ov, k, ids, &a, &b);
            ref_run(r, ids, len, NULL, wh);
            for (int t = a; t < b; t++) {
                int left = k == 0 ? 1 << 30 : t - a, right = b == n ? 1 << 30 : b - 1 - t;
                int d = left < right ? left : right;
                if (d > best[t]) {
                    best[t] = d;
                    memcpy(tok_state + (size_t)t * DIM, wh + (size_t)(1 + t - a) * DIM, DIM * sizeof(float));
                }
            }
        }
        for (int t = 0; t < n; t++) chunk_of[t] = t / 30;
        int nc_want = (n + 29) / 30;
        pool_ref(tok_state, chunk_of, n, nc_want, want, counts);
        sutra_window w = {.struct_size = sizeof w, .size = size, .overlap = ov, .aggregate = SUTRA_AGGREGATE_MEAN};
        size_t nc = 0;
        sutra_status st = sutra_embed_late_chunks(e, doc, (size_t)-1, NULL, 0, 30, &w, got, (size_t)n * DIM, NULL, 0,
                                                  &nc);
        TU_CHECK(st == SUTRA_OK && nc == (size_t)nc_want, "windowed late chunks: %s", sutra_embedder_last_error(e));
        double wl = 0;
        for (size_t k = 0; k < nc && !st; k++) wl = fmax(wl, max_abs(got + k * DIM, want + k * DIM, DIM));
        TU_CHECK(wl <= TOL, "windowed late chunks: max abs diff %.3g", wl);
        worst = fmax(worst, wl);
        /* For information only: this model was tuned on short inputs and its positions past 256 are
         * barely trained, so the one-pass states are no quality reference (cosines fall from 0.9
         * for early chunks to 0.6 for late ones). */
        pool_ref(hid + DIM, chunk_of, n, nc_want, want, counts);
        double cmin = 1;
        for (size_t k = 0; k < nc && !st; k++) {
            double d = 0;
            for (int i = 0; i < DIM; i++) d += (double)got[k * DIM + i] * want[k * DIM + i];
            cmin = fmin(cmin, d);
        }
        printf("late chunks over %d windows of %d: worst cosine to the one-pass chunks %.4f\n", K, size, cmin);
        free(tok_state);
        free(wh);
        free(best);
        sutra_embedder_destroy(e);
    }
    printf("late chunks vs pooled hidden states: worst max abs diff %.3g\n", worst);
    free(chunk_of);
    free(want);
    free(got);
    free(counts);
    free(chunks);
    free(hid);
    sutra_encoding_free(&full);
    free(doc);
}

/* A prompt leads every window and never counts as chunk text. */
static void test_prompt(const sutra_config *base, ref *r) {
    sutra_config c = *base;
    c.prompt = "query: ";
    sutra_embedder *e = make(&c);
    if (!e) return;
    char *doc = make_doc(9, 60), *joined = malloc(strlen(doc) + 8);
    sprintf(joined, "query: %s", doc);
    float a[DIM], b[DIM];
    const char *t[] = {doc};
    TU_CHECK(sutra_embed_windowed(e, t, 1, NULL, a, DIM) == SUTRA_OK && sutra_embed(e, doc, (size_t)-1, b, DIM) == 0 &&
                 !memcmp(a, b, sizeof a),
             "prompted one-window doc differs from plain");
    sutra_encoding jf = ref_tokens(r, joined), df = ref_tokens(r, doc);
    const int np = (int)(jf.n - df.n), n = (int)df.n - 2;
    TU_CHECK(np == 2, "prompt has %d tokens, want 2", np);
    float *hid = malloc(jf.n * DIM * sizeof *hid), *got = malloc((size_t)n * DIM * sizeof *got);
    ref_run(r, jf.ids, (int)jf.n, NULL, hid);
    int *chunk_of = malloc((size_t)n * sizeof *chunk_of), counts[64];
    for (int i = 0; i < n; i++) chunk_of[i] = i / 16;
    float want[64 * DIM];
    pool_ref(hid + (size_t)(1 + np) * DIM, chunk_of, n, (n + 15) / 16, want, counts);
    sutra_chunk chunks[64];
    size_t nc = 0;
    sutra_status st = sutra_embed_late_chunks(e, doc, (size_t)-1, NULL, 0, 16, NULL, got, (size_t)n * DIM, chunks, 64,
                                              &nc);
    TU_CHECK(st == SUTRA_OK && nc == (size_t)(n + 15) / 16, "prompted late chunks: %s", sutra_embedder_last_error(e));
    double d = 0;
    for (size_t k = 0; k < nc && !st; k++) d = fmax(d, max_abs(got + k * DIM, want + k * DIM, DIM));
    TU_CHECK(d <= TOL, "prompted late chunks: max abs diff %.3g", d);
    TU_CHECK(!st && chunks[0].start == (size_t)df.starts[1], "first chunk starts at byte %zu, want %d (in the text)",
             chunks[0].start, df.starts[1]);
    /* windows with a prompt: each carries [CLS] query : ... [SEP]; a window of 4 has no room */
    sutra_window w = {.struct_size = sizeof w, .size = 4, .overlap = 0, .aggregate = SUTRA_AGGREGATE_MEAN};
    TU_CHECK(sutra_embed_windowed(e, t, 1, &w, a, DIM) == SUTRA_ERR_INVALID_ARGUMENT &&
                 strstr(sutra_embedder_last_error(e), "prompt"),
             "window without room beside the prompt: %s", sutra_embedder_last_error(e));
    sutra_encoding_free(&jf);
    sutra_encoding_free(&df);
    free(hid);
    free(got);
    free(chunk_of);
    free(doc);
    free(joined);
    sutra_embedder_destroy(e);
}

int main(void) {
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = tu_default_model();
    cfg.threads = 2;
    ref r;
    int ok = ref_open(&r, tu_default_model());
    sutra_embedder *e = make(&cfg);
    if (!ok || !e) {
        sutra_embedder_destroy(e);
        ref_close(&r);
        return tu_finish("test_window");
    }
    test_params(e);
    test_one_window(e, &r);
    test_windows(e, &r);
    test_order(&cfg);
    test_late(&cfg, &r);
    test_prompt(&cfg, &r);
    sutra_embedder_destroy(e);
    ref_close(&r);
    return tu_finish("test_window");
}
