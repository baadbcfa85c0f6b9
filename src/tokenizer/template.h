/*
 * template.h - the special tokens of the tokenizer's post-processor template, for callers that
 * assemble sequences from pieces of an encoding (the windows of a long document).
 *
 * Rule: read-only views of the loaded tokenizer; nothing here changes how text is encoded.
 */
#ifndef SUTRA_TOKENIZER_TEMPLATE_H
#define SUTRA_TOKENIZER_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* The ids the template puts around one sequence: *pre (*n_pre ids) before it, *post (*n_post
 * ids) after it ([CLS] and [SEP] for BERT). The arrays are owned by tok and live as long as it
 * does; a count may be 0, and then its pointer is NULL. */
void sutra_tokenizer_template(const sutra_tokenizer *tok, const int32_t **pre, size_t *n_pre, const int32_t **post,
                              size_t *n_post);

#endif /* SUTRA_TOKENIZER_TEMPLATE_H */
