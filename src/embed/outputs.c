/*
 * outputs.c - the calls beyond dense vectors (sutra.h "scores, sparse vectors, multi-vectors"):
 * rerank scores of (query, document) pairs, and sparse and ColBERT vectors of texts, each through
 * the same packing and forward as embedding (embed/pack.c), the heads of embed/heads.c on the host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedder.h"
#include "tokenizer/tokenizer.h"

/* Qwen3-Reranker's prompt: its chat template around "<Instruct>: ...\n<Query>: ...\n<Document>: ..."
 * and its default task, as the model card gives them. */
static const char QWEN_PREFIX[] =
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    "provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n";
static const char QWEN_SUFFIX[] = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
static const char QWEN_TASK[] = "Given a web search query, retrieve relevant passages that answer the query";

int sutra_outputs_of(const sutra_embedder *e) {
    const sutra_heads *h = e->heads;
    int o = 0;
    /* a cross-encoder's or a SPLADE model's pooled vector is no embedding; a model with a
     * sentence-transformers pipeline (bge-m3) gives one beside its other heads */
    if (!e->mcfg.splade && (sutra_heads_score_kind(h) == SUTRA_SCORE_NONE || e->mcfg.has_st_config))
        o |= SUTRA_OUTPUT_DENSE;
    if (sutra_heads_sparse_kind(h) != SUTRA_SPARSE_NONE) o |= SUTRA_OUTPUT_SPARSE;
    if (sutra_heads_colbert_dim(h)) o |= SUTRA_OUTPUT_MULTIVECTOR;
    if (sutra_heads_score_kind(h) != SUTRA_SCORE_NONE) o |= SUTRA_OUTPUT_RERANK;
    return o;
}

void sutra_outputs_describe(int outputs, char *buf, size_t cap) {
    static const char *const names[] = {"dense", "sparse", "multivector", "rerank"};
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < 4; i++)
        if (outputs & (1 << i) && n < cap) n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? " " : "", names[i]);
}

int sutra_embedder_outputs(const sutra_embedder *e) { return e ? e->outputs : 0; }

static sutra_status unsupported(sutra_embedder *e, const char *what) {
    return sutra_set_error(e, SUTRA_ERR_UNSUPPORTED, "model '%s' gives no %s (it gives: %s)", e->name, what,
                           e->outputs_text[0] ? e->outputs_text : "nothing");
}

/* Appends plain (no special tokens) tokens of text to enc, at most limit of them (0: all). */
static sutra_status append_plain(sutra_embedder *e, sutra_encoding *enc, const char *text, size_t limit, size_t index) {
    sutra_encoding part = {0};
    char err[384];
    sutra_status st = sutra_tok_encode_plain(e->tok, text, strlen(text), &part, err, sizeof err);
    if (st) return sutra_set_error(e, st, "document %zu: %s", index, err);
    const size_t n_pre = 0;
    size_t n = part.n;
    if (limit && n > limit) n = limit;
    int32_t *ids = realloc(enc->ids, (enc->n + n + 1) * sizeof *ids);
    if (!ids) {
        sutra_encoding_free(&part);
        return sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
    }
    enc->ids = ids;
    memcpy(ids + enc->n, part.ids + n_pre, n * sizeof *ids);
    enc->n += n;
    enc->cap = enc->n + 1;
    sutra_encoding_free(&part);
    return SUTRA_OK;
}

/* Qwen3-Reranker's input for one document: prefix, the instruction, query and document (truncated
 * to what the limit leaves), suffix, each tokenised on its own as the model card does. */
static sutra_status encode_yes_no(sutra_embedder *e, const char *query, const char *doc, size_t index,
                                  sutra_encoding *enc) {
    const char *task = e->rerank_instruction ? e->rerank_instruction : QWEN_TASK;
    const size_t len = strlen(task) + strlen(query) + strlen(doc) + 64;
    char *body = malloc(len);
    if (!body) return sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
    snprintf(body, len, "<Instruct>: %s\n<Query>: %s\n<Document>: %s", task, query, doc);
    sutra_encoding pre = {0}, suf = {0};
    sutra_status st = append_plain(e, &pre, QWEN_PREFIX, 0, index);
    if (!st) st = append_plain(e, &suf, QWEN_SUFFIX, 0, index);
    const size_t fixed = pre.n + suf.n;
    if (!st && (size_t)e->max_tokens <= fixed)
        st = sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "the token limit %d leaves no room for the reranker's prompt",
                             e->max_tokens);
    if (!st) {
        *enc = pre;
        pre = (sutra_encoding){0};
        st = append_plain(e, enc, body, (size_t)e->max_tokens - fixed, index);
    }
    if (!st) {
        int32_t *ids = realloc(enc->ids, (enc->n + suf.n) * sizeof *ids);
        if (!ids) st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
        else {
            memcpy(ids + enc->n, suf.ids, suf.n * sizeof *ids);
            enc->ids = ids;
            enc->n += suf.n;
            enc->cap = enc->n;
        }
    }
    sutra_encoding_free(&pre);
    sutra_encoding_free(&suf);
    free(body);
    return st;
}

sutra_status sutra_rerank(sutra_embedder *e, const char *query, const char *const *docs, size_t n, int raw,
                          float *scores, size_t scores_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (!(e->outputs & SUTRA_OUTPUT_RERANK)) return unsupported(e, "rerank scores");
    if (!query || (n && (!docs || !scores)))
        return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "query, documents and scores are required");
    if (scores_cap < n)
        return sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "scores holds %zu floats, needs %zu", scores_cap, n);
    if (n == 0) return SUTRA_OK;
    for (size_t i = 0; i < n; i++)
        if (!docs[i]) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "document %zu is NULL", i);
    const int C = e->mcfg.shape.C;
    sutra_pending *items = calloc(n, sizeof *items);
    float *pooled = malloc(n * (size_t)C * sizeof *pooled);
    sutra_status st = items && pooled ? SUTRA_OK : sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu documents", n);
    const int yes_no = sutra_heads_score_kind(e->heads) == SUTRA_SCORE_YES_NO;
    for (size_t i = 0; i < n && !st; i++) {
        items[i].index = i;
        if (yes_no) {
            st = encode_yes_no(e, query, docs[i], i, &items[i].enc);
            continue;
        }
        char err[384];
        st = sutra_tokenizer_encode_pair(e->tok, query, strlen(query), docs[i], strlen(docs[i]), (size_t)e->max_tokens,
                                         &items[i].enc, err, sizeof err);
        if (st) sutra_set_error(e, st, "document %zu: %s", i, err);
        else if (items[i].enc.n >= (size_t)e->max_tokens) e->stats.truncated++;
    }
    if (!st) {
        const sutra_run_opts o = {.out = pooled, .pooling = (sutra_pooling)sutra_heads_score_pooling(e->heads), .pooled_only = 1};
        st = sutra_run_encoded_ex(e, items, n, &o);
    }
    if (!st && sutra_heads_score(e->heads, pooled, n, raw, scores))
        st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for the scores");
    for (size_t i = 0; items && i < n; i++) sutra_encoding_free(&items[i].enc);
    free(items);
    free(pooled);
    return st;
}

/* ---- sparse and multi-vector outputs -------------------------------------------------------- */

typedef struct per_text {
    sutra_sparse_vec sparse;
    float *mv;
    size_t mv_rows;
} per_text;

typedef struct outputs_sink {
    sutra_embedder *e;
    per_text *texts;
    int sparse, mv;
    int failed;
} outputs_sink;

static void on_batch(void *ctx, const sutra_pending *items, int B, const int32_t *cu, const float *hidden) {
    outputs_sink *s = ctx;
    const int C = s->e->mcfg.shape.C, D = sutra_heads_colbert_dim(s->e->heads);
    for (int b = 0; b < B && !s->failed; b++) {
        per_text *t = &s->texts[items[b].index];
        const float *h = hidden + (size_t)cu[b] * C;
        const size_t n = (size_t)(cu[b + 1] - cu[b]);
        if (s->sparse && sutra_heads_sparse(s->e->heads, h, items[b].enc.ids, n, &t->sparse)) s->failed = 1;
        if (s->mv && n > 1) {
            t->mv_rows = n - 1;
            if (!(t->mv = malloc(t->mv_rows * (size_t)D * sizeof *t->mv)) || sutra_heads_colbert(s->e->heads, h, n, t->mv))
                s->failed = 1;
        }
    }
}

sutra_status sutra_embed_outputs(sutra_embedder *e, const char *const *texts, size_t n, sutra_outputs *out) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (!out || (n && !texts)) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "texts and outputs are required");
    const int want_dense = out->dense != NULL, want_sparse = out->sparse_offsets != NULL, want_mv = out->mv_offsets != NULL;
    if (want_dense && !(e->outputs & SUTRA_OUTPUT_DENSE)) return unsupported(e, "dense vectors");
    if (want_sparse && !(e->outputs & SUTRA_OUTPUT_SPARSE)) return unsupported(e, "sparse vectors");
    if (want_mv && !(e->outputs & SUTRA_OUTPUT_MULTIVECTOR)) return unsupported(e, "multi-vectors");
    if ((want_sparse && (!out->sparse_ids || !out->sparse_weights)) || (want_mv && !out->mv))
        return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "sparse_ids / sparse_weights / mv missing beside their offsets");
    out->sparse_count = out->mv_rows = 0;
    if (want_dense && out->dense_cap < n * (size_t)e->dim)
        return sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "dense holds %zu floats, needs %zu", out->dense_cap,
                               n * (size_t)e->dim);
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text %zu is NULL", i);
    if (n == 0) {
        if (want_sparse) out->sparse_offsets[0] = 0;
        if (want_mv) out->mv_offsets[0] = 0;
        return SUTRA_OK;
    }
    sutra_pending *items = calloc(n, sizeof *items);
    per_text *per = calloc(n, sizeof *per);
    float *dense = want_dense ? malloc(n * (size_t)e->dim * sizeof *dense) : NULL;
    sutra_status st = items && per && (!want_dense || dense) ? SUTRA_OK
                                                             : sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu texts", n);
    for (size_t i = 0; i < n && !st; i++) {
        items[i].index = i;
        st = sutra_encode_text(e, texts[i], (size_t)-1, i, (size_t)e->max_tokens, 0, &items[i].enc);
    }
    outputs_sink os = {.e = e, .texts = per, .sparse = want_sparse, .mv = want_mv};
    const sutra_hidden_sink sink = {on_batch, &os};
    if (!st) {
        const sutra_run_opts o = {.out = dense, .sink = (want_sparse || want_mv) ? &sink : NULL};
        st = sutra_run_encoded_ex(e, items, n, &o);
    }
    if (!st && os.failed) st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for the sparse or multi-vector outputs");
    const int D = sutra_heads_colbert_dim(e->heads);
    size_t nnz = 0, rows = 0;
    for (size_t i = 0; per && i < n; i++) {
        nnz += per[i].sparse.n;
        rows += per[i].mv_rows;
    }
    if (!st) {
        out->sparse_count = want_sparse ? nnz : 0;
        out->mv_rows = want_mv ? rows : 0;
        if (want_sparse && nnz > out->sparse_cap)
            st = sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "the sparse buffers hold %zu entries, need %zu", out->sparse_cap, nnz);
        else if (want_mv && rows * (size_t)D > out->mv_cap)
            st = sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "mv holds %zu floats, needs %zu (%zu rows of %d)", out->mv_cap,
                                 rows * (size_t)D, rows, D);
    }
    if (!st) {
        if (want_dense) memcpy(out->dense, dense, n * (size_t)e->dim * sizeof *dense);
        size_t k = 0, r = 0;
        for (size_t i = 0; i < n; i++) {
            if (want_sparse) {
                out->sparse_offsets[i] = k;
                memcpy(out->sparse_ids + k, per[i].sparse.ids, per[i].sparse.n * sizeof *out->sparse_ids);
                memcpy(out->sparse_weights + k, per[i].sparse.w, per[i].sparse.n * sizeof *out->sparse_weights);
                k += per[i].sparse.n;
            }
            if (want_mv) {
                out->mv_offsets[i] = r;
                if (per[i].mv_rows) memcpy(out->mv + r * (size_t)D, per[i].mv, per[i].mv_rows * (size_t)D * sizeof(float));
                r += per[i].mv_rows;
            }
        }
        if (want_sparse) out->sparse_offsets[n] = k;
        if (want_mv) out->mv_offsets[n] = r;
    }
    for (size_t i = 0; i < n; i++) {
        if (items) sutra_encoding_free(&items[i].enc);
        if (per) {
            sutra_sparse_vec_free(&per[i].sparse);
            free(per[i].mv);
        }
    }
    free(items);
    free(per);
    free(dense);
    return st;
}
