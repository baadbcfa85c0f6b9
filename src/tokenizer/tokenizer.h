/*
 * tokenizer.h - text to token ids, exactly as Hugging Face `tokenizers` does it for the
 * tokenizer.json a model ships (or a BERT vocab.txt).
 *
 * Rules: a loaded tokenizer is immutable, so encoding is thread-safe; input text must be
 * valid UTF-8 (invalid input is an error, never silently replaced); nothing here knows about
 * models or backends.
 */
#ifndef SUTRA_TOKENIZER_H
#define SUTRA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "sutra.h"

typedef struct sutra_tokenizer sutra_tokenizer;

/* The ids and, when asked for, each token's byte span [start, end) in the input text.
 * Special tokens added by the template have the span (0, 0). */
typedef struct sutra_encoding {
    int32_t *ids;
    int32_t *starts; /* NULL unless offsets were requested */
    int32_t *ends;
    int32_t *types;  /* token type ids; NULL when all are 0 (every single-text encoding) */
    size_t n, cap;
} sutra_encoding;

void sutra_encoding_free(sutra_encoding *enc);

/* Loads dir/tokenizer.json if it exists, else dir/vocab.txt (BERT WordPiece with the options of
 * dir/tokenizer_config.json, if any). */
sutra_status sutra_tokenizer_load_dir(const char *dir, sutra_tokenizer **out, char *err, size_t errcap);

/* Parses a tokenizer.json held in memory (json need not be NUL-terminated). */
sutra_status sutra_tokenizer_load_json(const char *json, size_t len, sutra_tokenizer **out, char *err,
                                       size_t errcap);

void sutra_tokenizer_free(sutra_tokenizer *tok);

/* Encodes text (len bytes) with the tokenizer's post-processor template (e.g. [CLS] ... [SEP]).
 * max_tokens > 0 truncates so that the result, special tokens included, has at most max_tokens
 * ids (the end of the text is cut, as HF's longest_first on one sequence does); 0 = no limit.
 * want_offsets fills enc->starts/ends. enc is reset first; free it with sutra_encoding_free. */
sutra_status sutra_tokenizer_encode(const sutra_tokenizer *tok, const char *text, size_t len,
                                    size_t max_tokens, int want_offsets, sutra_encoding *enc, char *err,
                                    size_t errcap);

/* Encodes text without any special token and without a limit (pieces of a prompt template). */
sutra_status sutra_tok_encode_plain(const sutra_tokenizer *tok, const char *text, size_t len, sutra_encoding *enc,
                                    char *err, size_t errcap);
/* Encodes a pair of texts (a query and a document) as HF `tokenizers` does with the
 * post-processor's pair form: [CLS] a [SEP] b [SEP] with token types 0 and 1 (BERT), <s> a </s>
 * </s> b </s> (RoBERTa, XLM-R), a TemplateProcessing's "pair", or a then b where the tokenizer has
 * no post-processor. max_tokens > 0 truncates the two texts to fit, specials included, by HF's
 * longest_first rule (the longer one first; both to about half when both are long); 0 = no limit.
 * enc->types receives the type ids when any is not 0. enc is reset first. */
sutra_status sutra_tokenizer_encode_pair(const sutra_tokenizer *tok, const char *a, size_t alen, const char *b,
                                         size_t blen, size_t max_tokens, sutra_encoding *enc, char *err,
                                         size_t errcap);
/* The number of special tokens the pair form adds (3 for BERT, 4 for RoBERTa). */
int sutra_tokenizer_num_special_pair(const sutra_tokenizer *tok);
int sutra_tokenizer_vocab_size(const sutra_tokenizer *tok);
/* "wordpiece", ... */
const char *sutra_tokenizer_kind(const sutra_tokenizer *tok);
/* The number of special tokens the template adds to one sequence (2 for [CLS] x [SEP]). */
int sutra_tokenizer_num_special(const sutra_tokenizer *tok);
/* Id of a token string, or -1. */
int32_t sutra_tokenizer_token_to_id(const sutra_tokenizer *tok, const char *token);
/* Token string of an id (owned by the tokenizer), or NULL. */
const char *sutra_tokenizer_id_to_token(const sutra_tokenizer *tok, int32_t id);

#endif /* SUTRA_TOKENIZER_H */
