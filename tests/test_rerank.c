/*
 * test_rerank.c - scores, sparse vectors and ColBERT vectors through the public API against their
 * references (tests/fixtures/rerank, scripts/gen_rerank_fixtures.py):
 *   cross-encoders (BERT / XLM-R / ModernBERT sequence classifiers) against sentence-transformers'
 *     CrossEncoder.predict, with and without the activation, whole and truncated to a short limit;
 *   Qwen3-Reranker's p(yes) against the model card's code; the ids of every pair against HF's;
 *   SPLADE against SparseEncoder.encode; bge-m3's dense, sparse and ColBERT outputs against
 *     FlagEmbedding's BGEM3FlagModel.encode, all from one call;
 *   what a model cannot give is refused by name, and small buffers are refused with the sizes.
 * Tolerances: scores 1e-4, sparse weights 1e-4 with the same non-zero ids, ColBERT vectors cosine
 * >= 0.99999, dense cosine >= 0.99999. Built again with SUTRA_TEST_ON_GPU (tests/cuda): the same
 * checks on the GPU in fp16 with looser bounds (scores 2e-2, sparse: the ids whose weights are
 * clear of 0 by 2e-2, cosines 0.999).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "family_fixture.h"
#include "model/safetensors.h"
#include "seeded_weights.h"
#include "sutra.h"
#include "testutil.h"

#ifdef SUTRA_TEST_ON_GPU
#define NAME "test_cuda_rerank"
#define DEVICE SUTRA_DEVICE_CUDA
#define SCORE_TOL 2e-2
#define SPARSE_TOL 2e-2
#define ALONE_TOL 2e-2 /* fp16: a batch of another shape may take other product kernels */
#define COS_MIN 0.999
#else
#define NAME "test_rerank"
#define DEVICE SUTRA_DEVICE_CPU
#define SCORE_TOL 1e-4
#define SPARSE_TOL 1e-4
#define ALONE_TOL 1e-4
#define COS_MIN 0.99999
#endif

static const float *ref_f32(const sutra_st_file *rf, const char *name, size_t *n) {
    const sutra_st_tensor *t = sutra_st_find(rf, name);
    TU_CHECK(t && t->dtype == SUTRA_DTYPE_F32, "reference tensor %s", name);
    if (!t) return NULL;
    *n = t->nbytes / 4;
    return (const float *)t->data;
}

static const int32_t *ref_i32(const sutra_st_file *rf, const char *name, size_t *n) {
    const sutra_st_tensor *t = sutra_st_find(rf, name);
    TU_CHECK(t && t->dtype == SUTRA_DTYPE_I32, "reference tensor %s", name);
    if (!t) return NULL;
    *n = t->nbytes / 4;
    return (const int32_t *)t->data;
}

typedef struct fixture {
    char src[4096], dir[64];
    cJSON *meta;
    sutra_st_file *rf;
} fixture;

static void fixture_close(fixture *f) {
    cJSON_Delete(f->meta);
    sutra_st_close(f->rf);
    if (f->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
        if (system(cmd)) fprintf(stderr, "cannot remove %s\n", f->dir);
    }
}

/* A model folder of fixture name: its JSON files, the tokenizer it names, the seeded weights. */
static int fixture_open(fixture *f, const char *name, const char *const *files, size_t n_files) {
    memset(f, 0, sizeof *f);
    snprintf(f->src, sizeof f->src, "%s", tu_source_path("tests/fixtures/rerank"));
    snprintf(f->src + strlen(f->src), sizeof f->src - strlen(f->src), "/%s", name);
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/reference.json", f->src);
    size_t len;
    char *text = tu_read_file(path, &len);
    f->meta = text ? cJSON_Parse(text) : NULL;
    free(text);
    snprintf(path, sizeof path, "%s/reference.safetensors", f->src);
    TU_CHECK(f->meta && sutra_st_open(path, &f->rf, err, sizeof err) == SUTRA_OK, "%s: reference: %s", name, err);
    snprintf(f->dir, sizeof f->dir, "/tmp/sutra_rerank_XXXXXX");
    if (!f->meta || !f->rf || !mkdtemp(f->dir)) return -1;
    const cJSON *from = cJSON_GetObjectItem(f->meta, "tokenizer_from");
    const int dflt = !cJSON_IsString(from) || !strcmp(from->valuestring, "default");
    if (tu_fixture_assemble(f->src, f->dir, files, n_files, dflt)) return -1;
    static const char *const tok[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
    for (size_t i = 0; !dflt && i < sizeof tok / sizeof tok[0]; i++) {
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/%s", tu_source_path(from->valuestring), tok[i]);
        snprintf(b, sizeof b, "%s/%s", f->dir, tok[i]);
        if (access(a, R_OK) == 0 && tu_copy_file(a, b)) return -1;
    }
    return 0;
}

/* The reference's "texts" into t (at most cap of them); returns how many. */
static int fixture_texts(const fixture *f, const char **t, int cap) {
    const cJSON *texts = cJSON_GetObjectItem(f->meta, "texts");
    const int n = cJSON_GetArraySize(texts);
    TU_CHECK(n > 0 && n <= cap, "%s: %d reference texts (1 .. %d)", f->src, n, cap);
    for (int i = 0; i < n && i < cap; i++) t[i] = cJSON_GetArrayItem(texts, i)->valuestring;
    return n < cap ? n : cap;
}

static sutra_embedder *open_model(const fixture *f, int max_len) {
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = f->dir;
    cfg.device = DEVICE;
    cfg.max_sequence_length = max_len;
    sutra_embedder *e = NULL;
    char err[1024] = "";
    const sutra_status st = sutra_embedder_create(&cfg, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "%s: create: %s", f->src, err);
    return e;
}

/* The query against every document, whole (limit 0) and truncated: ids, scores, logits. */
static void check_scorer(const char *name, const char *const *files, size_t n_files, int yes_no) {
    fixture f;
    if (fixture_open(&f, name, files, n_files)) {
        fixture_close(&f);
        return;
    }
    const cJSON *docs = cJSON_GetObjectItem(f.meta, "documents");
    const char *query = cJSON_GetObjectItem(f.meta, "query")->valuestring;
    const int short_limit = (int)cJSON_GetObjectItem(f.meta, "short_limit")->valuedouble;
    const int n = cJSON_GetArraySize(docs);
    const char *texts[16];
    for (int i = 0; i < n && i < 16; i++) texts[i] = cJSON_GetArrayItem(docs, i)->valuestring;
    for (int pass = 0; pass < 2; pass++) {
        const char *tag = pass ? "len" : "full";
        char key[64];
        sutra_embedder *e = open_model(&f, pass ? short_limit : 0);
        if (!e) continue;
        sutra_model_info info;
        sutra_embedder_info(e, &info);
        TU_CHECK(sutra_embedder_outputs(e) == SUTRA_OUTPUT_RERANK && strstr(info.outputs, "rerank"),
                 "%s: gives rerank scores only (%s)", name, info.outputs);
        float scores[16], logits[16];
        sutra_status st = sutra_rerank(e, query, texts, (size_t)n, 0, scores, 16);
        TU_CHECK(st == SUTRA_OK, "%s: rerank: %s", name, sutra_embedder_last_error(e));
        if (!yes_no) st = sutra_rerank(e, query, texts, (size_t)n, 1, logits, 16);
        size_t m = 0;
        snprintf(key, sizeof key, pass ? "scores.len%d" : "scores.full", short_limit);
        const float *want = ref_f32(f.rf, key, &m), *want_scores = want;
        const size_t n_want = m;
        double worst = 0;
        for (int i = 0; want && st == SUTRA_OK && i < n && (size_t)i < m; i++)
            worst = fmax(worst, fabs(scores[i] - want[i]));
        TU_CHECK(want && worst <= SCORE_TOL, "%s %s: scores within %g of the reference (max diff %.3g)", name, tag,
                 SCORE_TOL, worst);
        if (!yes_no) {
            snprintf(key, sizeof key, pass ? "logits.len%d" : "logits.full", short_limit);
            want = ref_f32(f.rf, key, &m);
            worst = 0;
            for (int i = 0; want && i < n && (size_t)i < m; i++) worst = fmax(worst, fabs(logits[i] - want[i]));
            TU_CHECK(want && worst <= SCORE_TOL, "%s %s: raw logits (max diff %.3g)", name, tag, worst);
        }
        /* the pairs' ids: HF's, checked through the scores' inputs by scoring each document alone */
        float one;
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof key, pass ? "ids.len%d.%d" : "ids.full.%d", pass ? short_limit : i, i);
            size_t nid = 0;
            TU_CHECK(ref_i32(f.rf, key, &nid) != NULL, "%s: %s", name, key);
            TU_CHECK(sutra_rerank(e, query, texts + i, 1, 0, &one, 1) == SUTRA_OK && fabs(one - scores[i]) <= ALONE_TOL,
                     "%s %s: document %d alone scores as in the batch (%g, %g; reference %g)", name, tag, i, one,
                     scores[i], want_scores && (size_t)i < n_want ? want_scores[i] : -1.0);
        }
        /* the token-level pair: HF's ids, and the same scores through sutra_rerank_tokens */
        int32_t *pid[16], *pty[16];
        size_t pn[16];
        for (int i = 0; i < n; i++) {
            char perr[256] = "";
            pid[i] = malloc(4096 * sizeof(int32_t));
            pty[i] = malloc(4096 * sizeof(int32_t));
            const sutra_status ts = sutra_tokenize_pair(e, query, strlen(query), texts[i], strlen(texts[i]), pid[i],
                                                        pty[i], 4096, &pn[i], perr, sizeof perr);
            snprintf(key, sizeof key, pass ? "ids.len%d.%d" : "ids.full.%d", pass ? short_limit : i, i);
            size_t nid = 0;
            const int32_t *want_ids = ref_i32(f.rf, key, &nid);
            TU_CHECK(ts == SUTRA_OK && want_ids && nid == pn[i] && !memcmp(want_ids, pid[i], nid * sizeof *pid[i]),
                     "%s %s: document %d's pair ids are HF's (%zu, HF %zu) %s", name, tag, i, pn[i], nid, perr);
        }
        float tok_scores[16];
        TU_CHECK(sutra_rerank_tokens(e, (const int32_t *const *)pid, (const int32_t *const *)pty, pn, (size_t)n, 0,
                                     tok_scores, 16) == SUTRA_OK &&
                     !memcmp(tok_scores, scores, (size_t)n * sizeof *scores),
                 "%s %s: sutra_rerank_tokens gives sutra_rerank's scores: %s", name, tag, sutra_embedder_last_error(e));
        size_t big = (size_t)info.max_tokens + 1;
        TU_CHECK(sutra_rerank_tokens(e, (const int32_t *const *)pid, NULL, &big, 1, 0, tok_scores, 16) ==
                     SUTRA_ERR_INVALID_ARGUMENT, "%s: a sequence over the limit is refused", name);
        for (int i = 0; i < n; i++) free(pid[i]), free(pty[i]);
        /* what it cannot give */
        float v[4096];
        TU_CHECK(sutra_embed(e, "x", (size_t)-1, v, 4096) == SUTRA_ERR_UNSUPPORTED ||
                     (sutra_embedder_outputs(e) & SUTRA_OUTPUT_DENSE),
                 "%s: a cross-encoder refuses dense vectors: %s", name, sutra_embedder_last_error(e));
        TU_CHECK(sutra_rerank(e, query, texts, (size_t)n, 0, scores, 2) == SUTRA_ERR_BUFFER_TOO_SMALL,
                 "%s: a small score buffer", name);
        TU_CHECK(sutra_rerank(e, query, NULL, 0, 0, scores, 0) == SUTRA_OK, "%s: no documents is no work", name);
        sutra_embedder_destroy(e);
    }
    fixture_close(&f);
}

/* Sparse entries of text i against the reference: the same ids (those clear of 0 by the tolerance on
 * the GPU) and weights within the tolerance. */
static void compare_sparse(const char *name, const sutra_st_file *rf, int i, const int32_t *ids, const float *w, size_t n) {
    char a[64], b[64];
    snprintf(a, sizeof a, "sparse_ids.%d", i);
    snprintf(b, sizeof b, "sparse_w.%d", i);
    size_t nr = 0, nw = 0;
    const int32_t *rid = ref_i32(rf, a, &nr);
    const float *rw = ref_f32(rf, b, &nw);
    if (!rid || !rw) return;
    size_t x = 0, y = 0, missing = 0, extra = 0;
    double worst = 0;
    while (x < n || y < nr) {
        if (y >= nr || (x < n && ids[x] < rid[y])) {
            extra += w[x] > SPARSE_TOL || SPARSE_TOL < 1e-3;
            worst = fmax(worst, w[x++]);
        } else if (x >= n || rid[y] < ids[x]) {
            missing += rw[y] > SPARSE_TOL || SPARSE_TOL < 1e-3;
            worst = fmax(worst, rw[y++]);
        } else {
            worst = fmax(worst, fabs(w[x++] - rw[y++]));
        }
    }
    TU_CHECK(!missing && !extra && worst <= SPARSE_TOL,
             "%s text %d: %zu entries (reference %zu), %zu missing, %zu extra, max weight diff %.3g", name, i, n, nr,
             missing, extra, worst);
}

static void check_splade(void) {
    static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json",
                                        "1_SpladePooling/config.json"};
    fixture f;
    if (fixture_open(&f, "splade", files, 4)) {
        fixture_close(&f);
        return;
    }
    sutra_embedder *e = open_model(&f, 0);
    const char *t[8];
    const int n = fixture_texts(&f, t, 8);
    if (e) {
        sutra_model_info info;
        sutra_embedder_info(e, &info);
        TU_CHECK(sutra_embedder_outputs(e) == SUTRA_OUTPUT_SPARSE && !strcmp(info.sparse_kind, "splade"),
                 "splade: gives sparse vectors only (%s, %s)", info.outputs, info.sparse_kind);
        const size_t cap = (size_t)n * (size_t)info.vocab_size;
        size_t off[9];
        int32_t *ids = malloc(cap * sizeof *ids);
        float *w = malloc(cap * sizeof *w);
        sutra_outputs o = {.struct_size = sizeof o, .sparse_offsets = off, .sparse_ids = ids, .sparse_weights = w, .sparse_cap = cap};
        sutra_status st = sutra_embed_outputs(e, t, (size_t)n, &o);
        TU_CHECK(st == SUTRA_OK, "splade: %s", sutra_embedder_last_error(e));
        for (int i = 0; st == SUTRA_OK && i < n; i++)
            compare_sparse("splade", f.rf, i, ids + off[i], w + off[i], off[i + 1] - off[i]);
        /* too small: the count, nothing else */
        o.sparse_cap = 3;
        TU_CHECK(sutra_embed_outputs(e, t, (size_t)n, &o) == SUTRA_ERR_BUFFER_TOO_SMALL && o.sparse_count == off[n],
                 "splade: a small buffer is refused with the count needed (%zu)", o.sparse_count);
        float mv[8];
        size_t moff[9];
        sutra_outputs bad = {.struct_size = sizeof bad, .mv_offsets = moff, .mv = mv, .mv_cap = 8};
        TU_CHECK(sutra_embed_outputs(e, t, 1, &bad) == SUTRA_ERR_UNSUPPORTED &&
                     strstr(sutra_embedder_last_error(e), "multi-vectors"),
                 "splade: multi-vectors refused by name: %s", sutra_embedder_last_error(e));
        float s;
        TU_CHECK(sutra_rerank(e, "q", t, 1, 0, &s, 1) == SUTRA_ERR_UNSUPPORTED, "splade: rerank refused");
        free(ids);
        free(w);
    }
    sutra_embedder_destroy(e);
    fixture_close(&f);
}

/* bge-m3's two head files from their recipes, as safetensors beside the model. */
static int write_m3_heads(const fixture *f) {
    static const char *const heads[] = {"sparse_linear", "colbert_linear"};
    for (int k = 0; k < 2; k++) {
        char json[4200], sub[256], from[300], to[300], err[512];
        snprintf(json, sizeof json, "%s/%s.json", f->src, heads[k]);
        snprintf(sub, sizeof sub, "%s/%s", f->dir, heads[k]);
        mkdir(sub, 0755);
        if (tu_seeded_weights_write(json, sub, 0, err, sizeof err)) {
            TU_CHECK(0, "bge-m3 %s: %s", heads[k], err);
            return -1;
        }
        snprintf(from, sizeof from, "%s/model.safetensors", sub);
        snprintf(to, sizeof to, "%s/%s.safetensors", f->dir, heads[k]);
        if (rename(from, to) || rmdir(sub)) return -1;
    }
    return 0;
}

static void check_bge_m3(void) {
    static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"};
    fixture f;
    if (fixture_open(&f, "bge-m3", files, 4)) {
        fixture_close(&f);
        return;
    }
    /* a broken .pt head (the form bge-m3 ships them in; tests/test_torch_ckpt.c reads real ones) is refused by name */
    char pt[300];
    snprintf(pt, sizeof pt, "%s/colbert_linear.pt", f.dir);
    FILE *fp = fopen(pt, "wb");
    if (fp) fclose(fp);
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = f.dir;
    cfg.device = SUTRA_DEVICE_CPU;
    sutra_embedder *e = NULL;
    char err[1024] = "";
    TU_CHECK(sutra_embedder_create(&cfg, &e, err, sizeof err) == SUTRA_ERR_FORMAT && strstr(err, "colbert_linear.pt") &&
                 strstr(err, "not a zip archive"),
             "bge-m3: an empty .pt head is refused naming it: %s", err);
    sutra_embedder_destroy(e);
    unlink(pt);
    if (write_m3_heads(&f)) {
        fixture_close(&f);
        return;
    }
    e = open_model(&f, 0);
    const char *t[8];
    const int n = fixture_texts(&f, t, 8);
    if (e) {
        sutra_model_info info;
        sutra_embedder_info(e, &info);
        TU_CHECK(!strcmp(info.outputs, "dense sparse multivector") && !strcmp(info.sparse_kind, "bge-m3") &&
                     info.multivector_dim == 1024,
                 "bge-m3: outputs '%s', sparse '%s', multivector %d", info.outputs, info.sparse_kind, info.multivector_dim);
        const int D = info.multivector_dim, C = info.dim;
        size_t soff[9], moff[9];
        const size_t scap = 4096, mcap = (size_t)4096 * D;
        int32_t *ids = malloc(scap * sizeof *ids);
        float *w = malloc(scap * sizeof *w), *mv = malloc(mcap * sizeof *mv), *dense = malloc((size_t)n * C * sizeof *dense);
        sutra_outputs o = {.struct_size = sizeof o, .dense = dense, .dense_cap = (size_t)n * C, .sparse_offsets = soff, .sparse_ids = ids,
                           .sparse_weights = w, .sparse_cap = scap, .mv_offsets = moff, .mv = mv, .mv_cap = mcap};
        sutra_status st = sutra_embed_outputs(e, t, (size_t)n, &o);
        TU_CHECK(st == SUTRA_OK, "bge-m3: %s", sutra_embedder_last_error(e));
        for (int i = 0; st == SUTRA_OK && i < n; i++) {
            char key[64];
            size_t m = 0;
            snprintf(key, sizeof key, "dense.%d", i);
            const float *rd = ref_f32(f.rf, key, &m);
            TU_CHECK(rd && m == (size_t)C && tu_cosine(dense + (size_t)i * C, rd, C) >= COS_MIN, "bge-m3 text %d: dense", i);
            compare_sparse("bge-m3", f.rf, i, ids + soff[i], w + soff[i], soff[i + 1] - soff[i]);
            snprintf(key, sizeof key, "colbert.%d", i);
            const float *rc = ref_f32(f.rf, key, &m);
            const size_t rows = moff[i + 1] - moff[i];
            double worst = 1;
            for (size_t r = 0; rc && r < rows && r * D < m; r++)
                worst = fmin(worst, tu_cosine(mv + (moff[i] + r) * D, rc + r * D, D));
            TU_CHECK(rc && rows * D == m && worst >= COS_MIN, "bge-m3 text %d: %zu ColBERT rows (reference %zu), worst cosine %.7f",
                     i, rows, m / D, worst);
        }
        /* the same dense vectors as the plain call */
        float one[1024];
        TU_CHECK(sutra_embed(e, t[0], (size_t)-1, one, 1024) == SUTRA_OK && tu_cosine(one, dense, C) > 0.999999,
                 "bge-m3: dense of embed_outputs is sutra_embed's");
        /* the same through token ids, dense raw (what a server finishes per request) */
        int32_t *tid[8];
        size_t tn[8];
        for (int i = 0; i < n; i++) {
            tid[i] = malloc(8192 * sizeof(int32_t));
            sutra_tokenize(e, t[i], (size_t)-1, tid[i], 8192, &tn[i]);
        }
        size_t soff2[9], moff2[9];
        int32_t *ids2 = malloc(scap * sizeof *ids2);
        float *w2 = malloc(scap * sizeof *w2), *mv2 = malloc(mcap * sizeof *mv2), *raw = malloc((size_t)n * C * sizeof *raw);
        sutra_outputs o2 = {.struct_size = sizeof o2, .dense = raw, .dense_cap = (size_t)n * C, .dense_raw = 1, .sparse_offsets = soff2,
                            .sparse_ids = ids2, .sparse_weights = w2, .sparse_cap = scap, .mv_offsets = moff2, .mv = mv2,
                            .mv_cap = mcap};
        st = sutra_embed_outputs_tokens(e, (const int32_t *const *)tid, tn, (size_t)n, &o2);
        int same = st == SUTRA_OK && o2.sparse_count == o.sparse_count && o2.mv_rows == o.mv_rows &&
                   !memcmp(ids2, ids, o.sparse_count * sizeof *ids) && !memcmp(w2, w, o.sparse_count * sizeof *w) &&
                   !memcmp(mv2, mv, o.mv_rows * (size_t)D * sizeof *mv);
        for (int i = 0; same && i < n; i++) {
            float fin[1024];
            sutra_vector_finish(raw + (size_t)i * C, C, 1, fin);
            same = tu_cosine(fin, dense + (size_t)i * C, C) > 0.999999;
        }
        TU_CHECK(same, "bge-m3: sutra_embed_outputs_tokens gives the text call's outputs: %s", sutra_embedder_last_error(e));
        for (int i = 0; i < n; i++) free(tid[i]);
        free(ids2), free(w2), free(mv2), free(raw);
        o.mv_cap = 10;
        TU_CHECK(sutra_embed_outputs(e, t, (size_t)n, &o) == SUTRA_ERR_BUFFER_TOO_SMALL && o.mv_rows == moff[n],
                 "bge-m3: a small multi-vector buffer is refused with the rows needed");
        free(ids);
        free(w);
        free(mv);
        free(dense);
    }
    sutra_embedder_destroy(e);
    fixture_close(&f);
}

int main(void) {
    char err[256] = "";
    if (!tu_fixture_backend_available(err, sizeof err)) {
        printf("%s: skipped: %s\n", NAME, err);
        return 77;
    }
    static const char *const ce[] = {"config.json"};
    check_scorer("minilm-ce", ce, 1, 0);
    check_scorer("xlmr-ce", ce, 1, 0);
    check_scorer("modernbert-ce", ce, 1, 0);
    check_scorer("qwen3-reranker", ce, 1, 1);
    check_splade();
    check_bge_m3();
    return tu_finish(NAME);
}
