/*
 * outputs_cmd.h - `sutra rerank` (a query against documents) and `sutra embed --output-kind`
 * (sparse, ColBERT or all of a model's outputs), over the library's sutra_rerank and
 * sutra_embed_outputs.
 */
#ifndef SUTRA_CLI_OUTPUTS_CMD_H
#define SUTRA_CLI_OUTPUTS_CMD_H

#include <stddef.h>

#include "sutra.h"

typedef struct rerank_opts {
    const char *query;
    int raw;    /* the logits, not the scores */
    int top_n;  /* 0: every document */
    int repeat; /* > 1: score the documents that many times and report the median time on stderr */
} rerank_opts;

/* Scores docs[0 .. n) against the query and prints one JSON object per document, best first:
 * {"index": i, "score": s}. Returns the exit status. */
int cli_rerank(sutra_embedder *emb, const rerank_opts *o, char **docs, size_t n);

/* Prints one JSON object per text with the outputs kinds asks for (bits of sutra_output_kind):
 * {"dense": [...], "sparse": {"indices": [...], "values": [...]}, "colbert": [[...], ...]}. Returns
 * the exit status. repeat > 1: make them that many times, the median time on stderr. */
int cli_embed_outputs(sutra_embedder *emb, int kinds, char **texts, size_t n, int repeat);

#endif
