/* template.c - see template.h. */
#include "tokenizer/template.h"

#include "tokenizer/tok_internal.h"

void sutra_tokenizer_template(const sutra_tokenizer *tok, const int32_t **pre, size_t *n_pre, const int32_t **post,
                              size_t *n_post) {
    *pre = tok->n_pre ? tok->tmpl_ids : NULL;
    *n_pre = tok->n_pre;
    *post = tok->n_post ? tok->tmpl_ids + tok->n_pre : NULL;
    *n_post = tok->n_post;
}
