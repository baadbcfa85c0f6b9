/*
 * heads.h - what a model computes beside (or instead of) a pooled vector: a cross-encoder's score,
 * Qwen3-Reranker's yes/no score, sparse lexical weights (SPLADE's masked-LM head, bge-m3's
 * sparse_linear) and ColBERT vectors (bge-m3's colbert_linear). Found at create from the model's
 * files; run on the host over the encoder's pooled vectors (scores) or its token states (sparse,
 * ColBERT), with OpenBLAS, on every backend.
 */
#ifndef SUTRA_HEADS_H
#define SUTRA_HEADS_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"

typedef enum sutra_score_kind {
    SUTRA_SCORE_NONE = 0,
    SUTRA_SCORE_BERT,       /* BertForSequenceClassification: pooler (dense, tanh) on [CLS], classifier */
    SUTRA_SCORE_ROBERTA,    /* XLMRobertaForSequenceClassification: dense, tanh on <s>, out_proj */
    SUTRA_SCORE_MODERNBERT, /* ModernBertForSequenceClassification: dense, act, LayerNorm; classifier */
    SUTRA_SCORE_YES_NO,     /* a causal LM (Qwen3-Reranker): p("yes") against "no" at the last token */
} sutra_score_kind;

typedef enum sutra_sparse_kind {
    SUTRA_SPARSE_NONE = 0,
    SUTRA_SPARSE_SPLADE, /* masked-LM logits, log1p(relu), pooled over tokens */
    SUTRA_SPARSE_BGE_M3, /* relu(sparse_linear) per token, max per token id, specials dropped */
} sutra_sparse_kind;

typedef struct sutra_heads sutra_heads;

/* Finds and loads the heads of the model in dir: config.json's architectures and labels, the
 * SparseEncoder modules (cfg->splade), bge-m3's sparse_linear / colbert_linear files. *out is
 * NULL for a model with none. */
sutra_status sutra_heads_load(const char *dir, const sutra_model_config *cfg, const sutra_st_file *weights,
                              const sutra_tokenizer *tok, sutra_heads **out, char *err, size_t errcap);
/* The same from config.json's text (json, len bytes); weights and tok may be NULL (the fuzzer's
 * way in: every head then needs a tensor it cannot find, an error with a message). */
sutra_status sutra_heads_parse(const char *json, size_t len, const char *dir, const sutra_model_config *mc,
                               const sutra_st_file *weights, const sutra_tokenizer *tok, sutra_heads **out, char *err,
                               size_t errcap);
void sutra_heads_free(sutra_heads *h);

sutra_score_kind sutra_heads_score_kind(const sutra_heads *h);
sutra_sparse_kind sutra_heads_sparse_kind(const sutra_heads *h);
int sutra_heads_colbert_dim(const sutra_heads *h); /* 0: no ColBERT head */
/* The pooling the score head reads (CLS, LAST, or MEAN for a ModernBERT head that says so). */
int sutra_heads_score_pooling(const sutra_heads *h);
/* The activation sentence-transformers' CrossEncoder applies by default: "Sigmoid" or "Identity"
 * (Qwen3-Reranker's score is a probability already: "none"). */
const char *sutra_heads_score_activation(const sutra_heads *h);
/* The ids of "yes" and "no" (SUTRA_SCORE_YES_NO). */
void sutra_heads_yes_no(const sutra_heads *h, int32_t *yes, int32_t *no);

/* scores[r] for rows pooled vectors (rows x C): the head's logit, through its activation unless
 * raw (Qwen3-Reranker: always the probability). 0, or -1 when out of memory. */
int sutra_heads_score(sutra_heads *h, const float *pooled, size_t rows, int raw, float *scores);

/* One text's sparse vector: ids ascending, weights > 0. */
typedef struct sutra_sparse_vec {
    int32_t *ids;
    float *w;
    size_t n;
} sutra_sparse_vec;

/* SPLADE's sparse vector of one sequence from its token states hidden (n x C). 0, or -1 when out of
 * memory (or the model is no SPLADE model). out is reset first; free with sutra_sparse_vec_free. */
int sutra_heads_sparse(sutra_heads *h, const float *hidden, size_t n, sutra_sparse_vec *out);
void sutra_sparse_vec_free(sutra_sparse_vec *v);

/* bge-m3's token heads for the backend: R rows (ColBERT's, then sparse_linear's, zero rows up to a
 * multiple of 8) of C weights, and R biases; R = 0 for a model without them (*w, *b NULL). The
 * encoder runs them on every token's final state; the two calls below read its rows. */
int sutra_heads_token_rows(const sutra_heads *h, const float **w, const float **b);
/* The sparse vector of one sequence from its token-head rows (n x R). */
int sutra_heads_sparse_rows(sutra_heads *h, const float *rows, const int32_t *ids, size_t n, sutra_sparse_vec *out);
/* ColBERT vectors of one sequence from its token-head rows: rows 1 .. n-1, each L2-normalised, into
 * out ((n - 1) x colbert_dim floats). */
int sutra_heads_colbert_rows(sutra_heads *h, const float *rows, size_t n, float *out);

#endif /* SUTRA_HEADS_H */
