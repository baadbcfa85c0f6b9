/*
 * pretokenizer.c - cuts normalized text into words: none (the whole text is one word), and HF's
 * BertPreTokenizer (split on whitespace, which is dropped; every punctuation character is a word
 * of its own).
 *
 * Rules: an iterator over the caller's array, no allocation; "whitespace" and "punctuation" are
 * HF's (Rust's char::is_whitespace; ASCII punctuation plus Unicode 8.0 P*), from unicode.c.
 * New kinds (Metaspace, ByteLevel, Whitespace, Sequence, ...) add a case to sutra_pretok_next.
 */
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

static int bert_next(const sutra_tchar *t, size_t n, size_t *pos, size_t *ws, size_t *we) {
    size_t i = *pos;
    while (i < n && (sutra_uc_class(t[i].cp) & SUTRA_UC_WHITESPACE)) i++;
    if (i == n) {
        *pos = n;
        return 0;
    }
    *ws = i;
    if (sutra_uc_class(t[i].cp) & SUTRA_UC_PUNCT) {
        i++;
    } else {
        while (i < n && !(sutra_uc_class(t[i].cp) & (SUTRA_UC_WHITESPACE | SUTRA_UC_PUNCT))) i++;
    }
    *we = i;
    *pos = i;
    return 1;
}

int sutra_pretok_next(const sutra_pretokenizer *pt, const sutra_tchar *t, size_t n, size_t *pos, size_t *ws,
                      size_t *we) {
    switch (pt->kind) {
    case SUTRA_PRETOK_BERT:
        return bert_next(t, n, pos, ws, we);
    case SUTRA_PRETOK_NONE:
    default:
        if (*pos >= n) return 0;
        *ws = *pos;
        *we = n;
        *pos = n;
        return 1;
    }
}
