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
#include "util/struct_size.h"

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

sutra_status sutra_require_output(sutra_embedder *e, int kind) {
    if (e->outputs & kind) return SUTRA_OK;
    const char *what = kind == SUTRA_OUTPUT_DENSE    ? "dense vectors"
                       : kind == SUTRA_OUTPUT_SPARSE ? "sparse vectors"
                       : kind == SUTRA_OUTPUT_RERANK ? "rerank scores"
                                                     : "multi-vectors";
    return sutra_set_error(e, SUTRA_ERR_UNSUPPORTED, "model '%s' gives no %s (it gives: %s)", e->name, what,
                           e->outputs_text[0] ? e->outputs_text : "nothing");
}

/* Appends the plain (no special tokens) tokens of text to enc, at most limit of them (0: all). */
static sutra_status append_plain(const sutra_embedder *e, sutra_encoding *enc, const char *text, size_t len,
                                 size_t limit, char *err, size_t errcap) {
    sutra_encoding part = {0};
    sutra_status st = sutra_tok_encode_plain(e->tok, text, len, &part, err, errcap);
    if (st) return st;
    size_t n = part.n;
    if (limit && n > limit) n = limit;
    int32_t *ids = realloc(enc->ids, (enc->n + n + 1) * sizeof *ids);
    if (!ids) {
        sutra_encoding_free(&part);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    }
    enc->ids = ids;
    memcpy(ids + enc->n, part.ids, n * sizeof *ids);
    enc->n += n;
    enc->cap = enc->n + 1;
    sutra_encoding_free(&part);
    return SUTRA_OK;
}

/* Qwen3-Reranker's input for one document: prefix, the instruction, query and document (truncated
 * to what the limit leaves), suffix, each tokenised on its own as the model card does. */
static sutra_status encode_yes_no(const sutra_embedder *e, const char *query, size_t qlen, const char *doc,
                                  size_t dlen, sutra_encoding *enc, char *err, size_t errcap) {
    const char *task = e->rerank_instruction ? e->rerank_instruction : QWEN_TASK;
    static const char a[] = "<Instruct>: ", b[] = "\n<Query>: ", c[] = "\n<Document>: ";
    const size_t tlen = strlen(task), len = sizeof a + tlen + sizeof b + qlen + sizeof c + dlen;
    char *body = malloc(len);
    if (!body) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
    size_t k = 0;
    memcpy(body + k, a, sizeof a - 1), k += sizeof a - 1;
    memcpy(body + k, task, tlen), k += tlen;
    memcpy(body + k, b, sizeof b - 1), k += sizeof b - 1;
    memcpy(body + k, query, qlen), k += qlen;
    memcpy(body + k, c, sizeof c - 1), k += sizeof c - 1;
    memcpy(body + k, doc, dlen), k += dlen;
    sutra_encoding suf = {0};
    enc->n = 0;
    sutra_status st = append_plain(e, enc, QWEN_PREFIX, sizeof QWEN_PREFIX - 1, 0, err, errcap);
    if (!st) st = append_plain(e, &suf, QWEN_SUFFIX, sizeof QWEN_SUFFIX - 1, 0, err, errcap);
    const size_t fixed = enc->n + suf.n;
    if (!st && (size_t)e->max_tokens <= fixed)
        st = sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "the token limit %d leaves no room for the reranker's prompt",
                        e->max_tokens);
    if (!st) st = append_plain(e, enc, body, k, (size_t)e->max_tokens - fixed, err, errcap);
    if (!st) {
        int32_t *ids = realloc(enc->ids, (enc->n + suf.n) * sizeof *ids);
        if (!ids) {
            st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "out of memory");
        } else {
            memcpy(ids + enc->n, suf.ids, suf.n * sizeof *ids);
            enc->ids = ids;
            enc->n += suf.n;
            enc->cap = enc->n;
        }
    }
    sutra_encoding_free(&suf);
    free(body);
    return st;
}

/* One (query, document) as the model's scorer reads it. Reads only the tokenizer and settings. */
static sutra_status encode_pair(const sutra_embedder *e, const char *query, size_t qlen, const char *doc, size_t dlen,
                                sutra_encoding *enc, char *err, size_t errcap) {
    if (sutra_heads_score_kind(e->heads) == SUTRA_SCORE_YES_NO)
        return encode_yes_no(e, query, qlen, doc, dlen, enc, err, errcap);
    return sutra_tokenizer_encode_pair(e->tok, query, qlen, doc, dlen, (size_t)e->max_tokens, enc, err, errcap);
}

/* Scores items (their encodings made) into scores[item.index]. */
static sutra_status score_items(sutra_embedder *e, sutra_pending *items, size_t n, int raw, float *scores) {
    const int C = e->mcfg.shape.C;
    float *pooled = malloc(n * (size_t)C * sizeof *pooled);
    if (!pooled) return sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu documents", n);
    const sutra_run_opts o = {.out = pooled, .pooling = (sutra_pooling)sutra_heads_score_pooling(e->heads), .pooled_only = 1};
    sutra_status st = sutra_run_encoded_ex(e, items, n, &o);
    if (!st && sutra_heads_score(e->heads, pooled, n, raw, scores))
        st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for the scores");
    free(pooled);
    return st;
}

static void free_items(sutra_pending *items, size_t n) {
    for (size_t i = 0; items && i < n; i++) sutra_encoding_free(&items[i].enc);
    free(items);
}

sutra_status sutra_rerank(sutra_embedder *e, const char *query, const char *const *docs, size_t n, int raw,
                          float *scores, size_t scores_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (sutra_require_output(e, SUTRA_OUTPUT_RERANK)) return SUTRA_ERR_UNSUPPORTED;
    if (!query || (n && (!docs || !scores)))
        return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "query, documents and scores are required");
    if (scores_cap < n)
        return sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "scores holds %zu floats, needs %zu", scores_cap, n);
    if (n == 0) return SUTRA_OK;
    for (size_t i = 0; i < n; i++)
        if (!docs[i]) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "document %zu is NULL", i);
    sutra_pending *items = calloc(n, sizeof *items);
    sutra_status st = items ? SUTRA_OK : sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu documents", n);
    for (size_t i = 0; i < n && !st; i++) {
        char err[384];
        items[i].index = i;
        st = encode_pair(e, query, strlen(query), docs[i], strlen(docs[i]), &items[i].enc, err, sizeof err);
        if (st) sutra_set_error(e, st, "document %zu: %s", i, err);
        else if (items[i].enc.n >= (size_t)e->max_tokens) e->stats.truncated++;
    }
    if (!st) st = score_items(e, items, n, raw, scores);
    free_items(items, n);
    return st;
}

sutra_status sutra_tokenize_pair(const sutra_embedder *e, const char *query, size_t qlen, const char *doc, size_t dlen,
                                 int32_t *ids, int32_t *types, size_t cap, size_t *n, char *err, size_t errcap) {
    if (!e || !query || !doc || !n || (cap && !ids))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "embedder, query, document and n are required");
    *n = 0;
    if (!(e->outputs & SUTRA_OUTPUT_RERANK))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "model '%s' gives no rerank scores", e->name);
    sutra_encoding enc = {0};
    sutra_status st = encode_pair(e, query, qlen, doc, dlen, &enc, err, errcap);
    if (!st) {
        *n = enc.n;
        if (enc.n > cap) {
            st = sutra_errf(SUTRA_ERR_BUFFER_TOO_SMALL, err, errcap, "the pair has %zu tokens, the buffers hold %zu", enc.n, cap);
        } else {
            memcpy(ids, enc.ids, enc.n * sizeof *ids);
            for (size_t i = 0; types && i < enc.n; i++) types[i] = enc.types ? enc.types[i] : 0;
        }
    }
    sutra_encoding_free(&enc);
    return st;
}

/* Items copied from caller's token sequences, each checked (1 .. max_tokens ids, ids in the
 * vocabulary); NULL and the error set when one is not. */
static sutra_pending *items_from_tokens(sutra_embedder *e, const int32_t *const *ids, const int32_t *const *types,
                                        const size_t *n_ids, size_t n, sutra_status *st) {
    sutra_pending *items = calloc(n, sizeof *items);
    if (!items) {
        *st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu sequences", n);
        return NULL;
    }
    *st = SUTRA_OK;
    for (size_t i = 0; i < n && !*st; i++) {
        items[i].index = i;
        if (!ids[i] || n_ids[i] == 0 || n_ids[i] > (size_t)e->max_tokens) {
            *st = sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "sequence %zu: %zu tokens (1 .. %d allowed)", i,
                                  ids[i] ? n_ids[i] : 0, e->max_tokens);
            break;
        }
        for (size_t k = 0; k < n_ids[i]; k++)
            if (ids[i][k] < 0 || ids[i][k] >= e->mcfg.shape.vocab) {
                *st = sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "sequence %zu, token %zu: id %d outside the vocabulary",
                                      i, k, (int)ids[i][k]);
                break;
            }
        sutra_encoding *enc = &items[i].enc;
        const int with_types = types && types[i];
        if (!*st && (!(enc->ids = malloc(n_ids[i] * sizeof *enc->ids)) ||
                     (with_types && !(enc->types = malloc(n_ids[i] * sizeof *enc->types)))))
            *st = sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory");
        if (*st) break;
        memcpy(enc->ids, ids[i], n_ids[i] * sizeof *enc->ids);
        if (with_types) memcpy(enc->types, types[i], n_ids[i] * sizeof *enc->types);
        enc->n = enc->cap = n_ids[i];
    }
    if (*st) {
        free_items(items, n);
        return NULL;
    }
    return items;
}

sutra_status sutra_rerank_tokens(sutra_embedder *e, const int32_t *const *ids, const int32_t *const *types,
                                 const size_t *n_ids, size_t n, int raw, float *scores, size_t scores_cap) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (sutra_require_output(e, SUTRA_OUTPUT_RERANK)) return SUTRA_ERR_UNSUPPORTED;
    if (n && (!ids || !n_ids || !scores))
        return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "ids, n_ids and scores are required");
    if (scores_cap < n)
        return sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "scores holds %zu floats, needs %zu", scores_cap, n);
    if (n == 0) return SUTRA_OK;
    sutra_status st;
    sutra_pending *items = items_from_tokens(e, ids, types, n_ids, n, &st);
    if (items) st = score_items(e, items, n, raw, scores);
    free_items(items, n);
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
    int token_head; /* the sink receives the token head's rows (bge-m3), not hidden states */
    int failed;
} outputs_sink;

/* A batch's sparse and ColBERT vectors: from the token head's rows the backend computed (bge-m3),
 * or SPLADE's from the hidden states. */
static void on_batch(void *ctx, const sutra_pending *items, int B, const int32_t *cu, const float *hidden) {
    outputs_sink *s = ctx;
    sutra_heads *hd = s->e->heads;
    const int R = s->token_head ? sutra_heads_token_rows(hd, NULL, NULL) : 0;
    const int W = R ? R : s->e->mcfg.shape.C, D = sutra_heads_colbert_dim(hd);
    for (int b = 0; b < B && !s->failed; b++) {
        per_text *t = &s->texts[items[b].index];
        const float *h = hidden + (size_t)cu[b] * W;
        const size_t n = (size_t)(cu[b + 1] - cu[b]);
        if (s->sparse && (R ? sutra_heads_sparse_rows(hd, h, items[b].enc.ids, n, &t->sparse)
                            : sutra_heads_sparse(hd, h, n, &t->sparse)))
            s->failed = 1;
        if (s->mv && n > 1) { /* a multi-vector model has the token head */
            t->mv_rows = n - 1;
            if (!(t->mv = malloc(t->mv_rows * (size_t)D * sizeof *t->mv)) || sutra_heads_colbert_rows(hd, h, n, t->mv))
                s->failed = 1;
        }
    }
}

/* Checks out against what the model gives and what n rows need; 0 or the error set. */
static sutra_status check_outputs(sutra_embedder *e, size_t n, sutra_outputs *out) {
    const int want_dense = out->dense != NULL, want_sparse = out->sparse_offsets != NULL, want_mv = out->mv_offsets != NULL;
    if ((want_dense && sutra_require_output(e, SUTRA_OUTPUT_DENSE)) ||
        (want_sparse && sutra_require_output(e, SUTRA_OUTPUT_SPARSE)) ||
        (want_mv && sutra_require_output(e, SUTRA_OUTPUT_MULTIVECTOR)))
        return SUTRA_ERR_UNSUPPORTED;
    if ((want_sparse && (!out->sparse_ids || !out->sparse_weights)) || (want_mv && !out->mv))
        return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "sparse_ids / sparse_weights / mv missing beside their offsets");
    out->sparse_count = out->mv_rows = 0;
    const size_t width = out->dense_raw ? (size_t)e->full_dim : (size_t)e->dim;
    if (want_dense && out->dense_cap < n * width)
        return sutra_set_error(e, SUTRA_ERR_BUFFER_TOO_SMALL, "dense holds %zu floats, needs %zu", out->dense_cap, n * width);
    if (n == 0) {
        if (want_sparse) out->sparse_offsets[0] = 0;
        if (want_mv) out->mv_offsets[0] = 0;
    }
    return SUTRA_OK;
}

/* The outputs of items (encodings made) into out, checked by check_outputs. */
static sutra_status run_outputs(sutra_embedder *e, sutra_pending *items, size_t n, sutra_outputs *out) {
    const int want_dense = out->dense != NULL, want_sparse = out->sparse_offsets != NULL, want_mv = out->mv_offsets != NULL;
    const size_t width = out->dense_raw ? (size_t)e->full_dim : (size_t)e->dim;
    per_text *per = calloc(n, sizeof *per);
    float *dense = want_dense ? malloc(n * width * sizeof *dense) : NULL;
    sutra_status st = per && (!want_dense || dense) ? SUTRA_OK
                                                    : sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu texts", n);
    outputs_sink os = {.e = e, .texts = per, .sparse = want_sparse, .mv = want_mv,
                       .token_head = sutra_heads_token_rows(e->heads, NULL, NULL) > 0};
    const sutra_hidden_sink sink = {on_batch, &os, os.token_head};
    if (!st) {
        const sutra_run_opts o = {.out = dense, .raw = out->dense_raw, .sink = (want_sparse || want_mv) ? &sink : NULL};
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
        if (want_dense) memcpy(out->dense, dense, n * width * sizeof *dense);
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
    for (size_t i = 0; per && i < n; i++) {
        sutra_sparse_vec_free(&per[i].sparse);
        free(per[i].mv);
    }
    free(per);
    free(dense);
    return st;
}

void sutra_outputs_init_sized(sutra_outputs *out, size_t struct_size) {
    if (!out || struct_size < SUTRA_OUTPUTS_V1_SIZE) return;
    const sutra_outputs d = {.struct_size = struct_size};
    sutra_struct_write(out, struct_size, &d, sizeof d);
}

/* The caller's outputs (a struct that grows) read into *own, which the call then works on. */
static sutra_status outputs_read(sutra_embedder *e, const sutra_outputs *caller, sutra_outputs *own) {
    sutra_outputs_init(own);
    char err[256];
    sutra_status st = sutra_struct_read(own, sizeof *own, caller, SUTRA_OUTPUTS_V1_SIZE, "sutra_outputs", err, sizeof err);
    return st ? sutra_set_error(e, st, "%s", err) : SUTRA_OK;
}

/* The counts of own back into the caller's struct (fields of its first version, so within its
 * size), then st. */
static sutra_status outputs_end(sutra_outputs *caller, const sutra_outputs *own, sutra_status st) {
    caller->sparse_count = own->sparse_count;
    caller->mv_rows = own->mv_rows;
    return st;
}

sutra_status sutra_embed_outputs(sutra_embedder *e, const char *const *texts, size_t n, sutra_outputs *out) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (!out || (n && !texts)) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "texts and outputs are required");
    sutra_outputs o;
    sutra_status st = outputs_read(e, out, &o);
    if (st) return st;
    if ((st = check_outputs(e, n, &o)) || n == 0) return outputs_end(out, &o, st);
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "text %zu is NULL", i);
    sutra_pending *items = calloc(n, sizeof *items);
    if (!items) return sutra_set_error(e, SUTRA_ERR_OUT_OF_MEMORY, "out of memory for %zu texts", n);
    for (size_t i = 0; i < n && !st; i++) {
        items[i].index = i;
        st = sutra_encode_text(e, texts[i], (size_t)-1, i, (size_t)e->max_tokens, 0, &items[i].enc);
    }
    if (!st) st = run_outputs(e, items, n, &o);
    free_items(items, n);
    return outputs_end(out, &o, st);
}

sutra_status sutra_embed_outputs_tokens(sutra_embedder *e, const int32_t *const *ids, const size_t *n_ids, size_t n,
                                        sutra_outputs *out) {
    if (!e) return SUTRA_ERR_INVALID_ARGUMENT;
    e->last_error[0] = '\0';
    if (!out || (n && (!ids || !n_ids))) return sutra_set_error(e, SUTRA_ERR_INVALID_ARGUMENT, "ids, n_ids and outputs are required");
    sutra_outputs o;
    sutra_status st = outputs_read(e, out, &o);
    if (st) return st;
    if ((st = check_outputs(e, n, &o)) || n == 0) return outputs_end(out, &o, st);
    sutra_pending *items = items_from_tokens(e, ids, NULL, n_ids, n, &st);
    if (items) st = run_outputs(e, items, n, &o);
    free_items(items, n);
    return outputs_end(out, &o, st);
}
