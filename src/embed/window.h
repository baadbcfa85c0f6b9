/*
 * window.h - long documents: cutting a tokenised document into overlapping windows, folding the
 * window vectors back into one (mean, max, weighted), and late chunking (pooling the token
 * states of a whole document over chunk spans).
 *
 * Letters used below: N = content tokens of a document (no special or prompt tokens),
 * K = windows, C = hidden size, D = output dimensions.
 *
 * Rules: nothing here runs a model or tokenises; the caller (src/sutra.c) does both and hands
 * over ids, byte offsets, vectors and hidden states. A window always carries the template's
 * special tokens and the prompt's tokens around its slice of content, so that each window is a
 * sequence the model could have been given directly. Window k holds content tokens
 * [k * stride, min(k * stride + content, N)); the last window may be shorter.
 */
#ifndef SUTRA_WINDOW_H
#define SUTRA_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "sutra.h"
#include "tokenizer/tokenizer.h"

/* A document's full encoding seen as template + prompt + content. Views into the caller's
 * arrays; nothing is owned. */
typedef struct sutra_doc_tokens {
    const int32_t *pre, *post;       /* template ids around every sequence */
    size_t n_pre, n_post;
    const int32_t *prompt;           /* ids of the prompt's tokens (they lead every window) */
    size_t n_prompt;
    const int32_t *content;          /* (N) ids */
    const int32_t *starts, *ends;    /* (N) byte spans in the caller's text (prompt excluded), or NULL */
    size_t n_content;                /* N */
} sutra_doc_tokens;

/* Splits enc (the template's n_pre + n_post ids around the tokens of prompt + text, with
 * offsets) into doc. Content tokens are those starting at or after byte prompt_bytes; their
 * offsets are shifted back by prompt_bytes into shifted (N starts then N ends; caller's buffer
 * of 2 * enc->n entries, or NULL when enc has no offsets). */
void sutra_doc_tokens_split(sutra_doc_tokens *doc, const sutra_encoding *enc, const int32_t *pre, size_t n_pre,
                            const int32_t *post, size_t n_post, size_t prompt_bytes, int32_t *shifted);

/* The validated shape of the windows of a document. */
typedef struct sutra_window_plan {
    int size;    /* tokens per window, special and prompt tokens included */
    int overlap; /* content tokens shared by consecutive windows */
    int content; /* content tokens per window: size - n_fixed */
    int stride;  /* content - overlap (> 0) */
} sutra_window_plan;

/* Checks w against the token limit max_tokens for documents whose every window also carries
 * n_fixed special and prompt tokens, and fills plan. On failure the message says which
 * parameter is wrong and what it must be. */
sutra_status sutra_window_plan_make(sutra_window_plan *plan, const sutra_window *w, int max_tokens, size_t n_fixed,
                                    char *err, size_t errcap);

/* K, the number of windows of a document of n_content content tokens (1 when it fits one). */
size_t sutra_window_count(const sutra_window_plan *plan, size_t n_content);

/* The content tokens [*first, *last) of window k. */
void sutra_window_span(const sutra_window_plan *plan, size_t n_content, size_t k, size_t *first, size_t *last);

/* out = the ids of window k (pre, prompt, content slice, post); allocated here, free it with
 * sutra_encoding_free. Returns SUTRA_ERR_OUT_OF_MEMORY or SUTRA_OK. */
sutra_status sutra_window_encoding(sutra_encoding *out, const sutra_doc_tokens *doc, const sutra_window_plan *plan,
                                   size_t k);

/* out (D) = vecs (K, D) aggregated: their mean, their element-wise max, or their mean weighted
 * by weights (K) (each window's content token count); then L2-normalised when normalize.
 * With K = 1, out is vecs[0] unchanged, so that a document that fits one window gets exactly
 * its plain embedding. Sums are in double. */
void sutra_window_aggregate(float *out, const float *vecs, const size_t *weights, size_t K, int D, sutra_aggregate how,
                            int normalize);

/* ---- late chunking ---------------------------------------------------------------------------- */

/* The chunks of one document and their running pooled state. Owns its arrays. */
typedef struct sutra_late {
    size_t n_chunks;
    sutra_chunk *chunks;   /* (n_chunks) byte spans and token counts */
    int32_t *chunk_of;     /* (N) chunk of each content token, -1 if it lies before the first chunk */
    int32_t *owner;        /* (N) the window whose hidden state each content token takes */
    double *acc;           /* (n_chunks, C) sums, or running maxima when use_max */
    int C, use_max;
} sutra_late;

/* Assigns the content tokens of doc to chunks, either from byte offsets (starts, n_starts:
 * strictly increasing, below text_len; chunk i spans [starts[i], starts[i+1]) and the last one
 * runs to text_len; a token belongs to the chunk its first byte lies in) or, when starts is NULL,
 * in runs of chunk_tokens tokens. Each token takes its state from the window of plan in which
 * it sits farthest from a cut edge (the document's own ends are not cuts), earlier window on a
 * tie, so that every token is seen with the most context on both sides. A chunk without
 * tokens is an error naming it. doc must carry offsets. */
sutra_status sutra_late_make(sutra_late *late, const sutra_doc_tokens *doc, const sutra_window_plan *plan,
                             size_t text_len, const size_t *starts, size_t n_starts, int chunk_tokens, int C,
                             int use_max, char *err, size_t errcap);

/* Adds the final hidden states h (L, C) of window k (the sequence built by
 * sutra_window_encoding, L = its length) to the chunks of the tokens that window owns. */
void sutra_late_add(sutra_late *late, const sutra_doc_tokens *doc, const sutra_window_plan *plan, size_t k,
                    const float *h);

/* pooled (n_chunks, C) = the mean (or max) of each chunk's token states. */
void sutra_late_pool(const sutra_late *late, float *pooled);

void sutra_late_free(sutra_late *late);

#endif /* SUTRA_WINDOW_H */
