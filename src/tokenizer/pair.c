/*
 * pair.c - two texts as one model input (a query and a document for a cross-encoder), the way HF
 * `tokenizers` encodes a pair: each text encoded alone, the two truncated together by the
 * longest_first rule, then the post-processor's pair form with its token type ids.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "util/common.h"

sutra_status sutra_tok_pair_push(sutra_tokenizer *tok, int32_t id, int32_t type_id, char *err, size_t errcap) {
    if (tok->n_pair_items >= 64)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "post_processor.pair: more than 64 items");
    sutra_pair_item *p = realloc(tok->pair_items, (tok->n_pair_items + 1) * sizeof *p);
    if (!p) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate the pair template");
    tok->pair_items = p;
    p[tok->n_pair_items++] = (sutra_pair_item){id, type_id};
    return SUTRA_OK;
}

sutra_status sutra_tok_pair_bert(sutra_tokenizer *tok, int32_t cls, int32_t sep, int roberta, char *err,
                                 size_t errcap) {
    const int32_t b = roberta ? 0 : 1; /* RobertaProcessing sets every type id to 0 */
    const sutra_pair_item bert[5] = {{cls, 0}, {SUTRA_PAIR_SEQ_A, 0}, {sep, 0}, {SUTRA_PAIR_SEQ_B, b}, {sep, b}};
    const sutra_pair_item rob[6] = {{cls, 0}, {SUTRA_PAIR_SEQ_A, 0}, {sep, 0}, {sep, 0}, {SUTRA_PAIR_SEQ_B, 0}, {sep, 0}};
    const sutra_pair_item *items = roberta ? rob : bert;
    const size_t n = roberta ? 6 : 5;
    tok->n_pair_items = 0;
    for (size_t i = 0; i < n; i++) {
        sutra_status st = sutra_tok_pair_push(tok, items[i].id, items[i].type_id, err, errcap);
        if (st != SUTRA_OK) return st;
    }
    return SUTRA_OK;
}

int sutra_tokenizer_num_special_pair(const sutra_tokenizer *tok) {
    if (!tok) return 0;
    int n = 0;
    for (size_t i = 0; i < tok->n_pair_items; i++) n += tok->pair_items[i].id >= 0;
    return n;
}

/* HF's longest_first on a pair (tokenizers' truncate_encodings): with n1 the shorter length,
 * the longer text keeps max(n1, budget - n1) tokens; if the two still do not fit, each keeps
 * half the budget, the longer text the odd one. Texts keep their beginnings. */
static void longest_first(size_t *na, size_t *nb, size_t budget) {
    if (*na + *nb <= budget) return;
    size_t n1 = *na, n2 = *nb;
    const int swap = n1 > n2;
    if (swap) {
        size_t t = n1;
        n1 = n2;
        n2 = t;
    }
    if (n1 > budget) n2 = n1;
    else n2 = n1 > budget - n1 ? n1 : budget - n1;
    if (n1 + n2 > budget) {
        n1 = budget / 2;
        n2 = n1 + budget % 2;
    }
    if (swap) {
        size_t t = n1;
        n1 = n2;
        n2 = t;
    }
    if (n1 < *na) *na = n1; /* truncating to more than a text has leaves it whole */
    if (n2 < *nb) *nb = n2;
}

sutra_status sutra_tokenizer_encode_pair(const sutra_tokenizer *tok, const char *a, size_t alen, const char *b,
                                         size_t blen, size_t max_tokens, sutra_encoding *enc, char *err,
                                         size_t errcap) {
    if (!tok || !enc || (!a && alen) || (!b && blen))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "encode_pair: NULL tokenizer, encoding or text");
    enc->n = 0;
    free(enc->starts);
    free(enc->ends);
    free(enc->types);
    enc->starts = enc->ends = enc->types = NULL;
    static const sutra_pair_item plain[2] = {{SUTRA_PAIR_SEQ_A, 0}, {SUTRA_PAIR_SEQ_B, 1}};
    const sutra_pair_item *items = tok->pair_items ? tok->pair_items : plain;
    const size_t n_items = tok->pair_items ? tok->n_pair_items : 2;
    const size_t nspec = (size_t)sutra_tokenizer_num_special_pair(tok);
    if (max_tokens > 0 && max_tokens < nspec)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                          "encode_pair: max_tokens %zu leaves no room for the %zu special tokens of the pair template",
                          max_tokens, nspec);
    /* both texts' UTF-8 first: an invalid second text is that error whatever the first one does */
    for (int k = 0; k < 2; k++) {
        const char *t = k ? b : a;
        const size_t n = k ? blen : alen, bad = sutra_utf8_validate(t, n);
        if (bad != n)
            return sutra_errf(SUTRA_ERR_INVALID_UTF8, err, errcap, "%s text of the pair: invalid UTF-8 at byte %zu",
                              k ? "second" : "first", bad);
    }
    sutra_encoding ea = {0}, eb = {0};
    char msg[384] = "";
    sutra_status st = sutra_tok_encode_plain(tok, a, alen, &ea, msg, sizeof msg);
    if (st != SUTRA_OK) {
        sutra_errf(st, err, errcap, "first text of the pair: %s", msg);
    } else if ((st = sutra_tok_encode_plain(tok, b, blen, &eb, msg, sizeof msg)) != SUTRA_OK) {
        sutra_errf(st, err, errcap, "second text of the pair: %s", msg);
    }
    size_t na = ea.n, nb = eb.n;
    if (st == SUTRA_OK && max_tokens > 0) longest_first(&na, &nb, max_tokens - nspec);
    const size_t n = na + nb + nspec;
    int any_type = 0;
    for (size_t i = 0; i < n_items; i++) any_type |= items[i].type_id != 0;
    if (st == SUTRA_OK) {
        int32_t *ids = realloc(enc->ids, (n ? n : 1) * sizeof *ids);
        if (ids) enc->ids = ids, enc->cap = n ? n : 1;
        if (!ids || (any_type && !(enc->types = malloc((n ? n : 1) * sizeof *enc->types))))
            st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate the pair's encoding");
    }
    for (size_t i = 0, k = 0; st == SUTRA_OK && i < n_items; i++) {
        const sutra_pair_item *it = &items[i];
        const int32_t *src = it->id == SUTRA_PAIR_SEQ_A ? ea.ids : it->id == SUTRA_PAIR_SEQ_B ? eb.ids : &it->id;
        const size_t cnt = it->id == SUTRA_PAIR_SEQ_A ? na : it->id == SUTRA_PAIR_SEQ_B ? nb : 1;
        for (size_t j = 0; j < cnt; j++, k++) {
            enc->ids[k] = src[j];
            if (enc->types) enc->types[k] = it->type_id;
        }
        enc->n = k;
    }
    sutra_encoding_free(&ea);
    sutra_encoding_free(&eb);
    if (st != SUTRA_OK) enc->n = 0;
    return st;
}
