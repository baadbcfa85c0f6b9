/*
 * added.c - added tokens (special tokens such as [CLS] and [MASK], and any token added on top of
 * the model): finding them in text the way HF's AddedVocabulary does.
 *
 * Rules: two passes as in HF. Pass 0 looks for the tokens with normalized=false in the raw text,
 * before anything else; pass 1 looks for the tokens with normalized=true in each normalized
 * segment between pass-0 matches, against their normalized content. Matching is leftmost, then
 * longest (HF's Aho-Corasick LeftmostLongest), then earliest declared (specials before the
 * others); single_word rejects a match next to a word character (\w) and lstrip / rstrip take
 * the whitespace (\s) beside it into the match. A pattern is looked up only where its first code
 * point's low byte matches, so text without candidates costs one table load per character.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

void sutra_added_free(sutra_added_vocab *av) {
    for (size_t i = 0; i < av->n; i++) {
        free(av->tok[i].content);
        free(av->tok[i].pat);
    }
    free(av->tok);
    free(av->next);
    memset(av, 0, sizeof *av);
}

sutra_status sutra_added_build(sutra_added_vocab *av, const sutra_normalizer *nz, char *err, size_t errcap) {
    sutra_tbuf raw = {0}, norm = {0}, spare = {0};
    sutra_status st = SUTRA_OK;
    free(av->next);
    av->next = malloc((av->n ? av->n : 1) * sizeof *av->next);
    if (!av->next) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate added tokens");
    for (int p = 0; p < 2; p++) {
        av->has[p] = 0;
        for (int b = 0; b < 256; b++) av->head[p][b] = -1;
    }
    int32_t tail[2][256] = {{0}};
    for (size_t i = 0; i < av->n; i++) {
        sutra_added_token *t = &av->tok[i];
        raw.n = norm.n = 0;
        for (size_t at = 0; at < t->len;) {
            size_t s = at;
            uint32_t cp = sutra_utf8_next(t->content, &at);
            if (!sutra_tbuf_push(&raw, cp, (int32_t)s, (int32_t)at)) goto oom;
        }
        const sutra_tbuf *src = &raw;
        if (t->normalized) {
            if (!sutra_normalizer_run(nz, raw.c, raw.n, &norm, &spare)) goto oom;
            src = &norm;
        }
        free(t->pat);
        t->pat = malloc((src->n ? src->n : 1) * sizeof *t->pat);
        if (!t->pat) goto oom;
        for (size_t k = 0; k < src->n; k++) t->pat[k] = src->c[k].cp;
        t->pat_n = src->n;
    }
    /* Bucket lists in HF's order of preference: special tokens first, then the others. */
    for (int special = 1; special >= 0; special--) {
        for (size_t i = 0; i < av->n; i++) {
            sutra_added_token *t = &av->tok[i];
            if (t->special != special || t->pat_n == 0) continue; /* an empty pattern never matches */
            int p = t->normalized ? 1 : 0;
            int b = (int)(t->pat[0] & 0xFF);
            av->next[i] = -1;
            if (av->head[p][b] < 0) av->head[p][b] = (int32_t)i;
            else av->next[tail[p][b]] = (int32_t)i;
            tail[p][b] = (int32_t)i;
            av->has[p] = 1;
        }
    }
    goto done;
oom:
    st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate added tokens");
done:
    sutra_tbuf_free(&raw);
    sutra_tbuf_free(&norm);
    sutra_tbuf_free(&spare);
    return st;
}

static int is_ws(uint32_t cp) {
    return (sutra_uc_class(cp) & SUTRA_UC_WHITESPACE) != 0;
}

int sutra_added_find(const sutra_added_vocab *av, int pass, const sutra_tchar *t, size_t n, size_t from,
                     size_t *ms, size_t *me, int32_t *id) {
    if (!av->has[pass]) return 0;
    size_t p = from;
    while (p < n) {
        /* Leftmost-longest match at or after p. */
        int32_t best = -1;
        size_t blen = 0, i;
        for (i = p; i < n; i++) {
            for (int32_t k = av->head[pass][t[i].cp & 0xFF]; k >= 0; k = av->next[k]) {
                const sutra_added_token *tk = &av->tok[k];
                if (tk->pat_n > n - i || tk->pat_n <= blen) continue;
                size_t j = 0;
                while (j < tk->pat_n && t[i + j].cp == tk->pat[j]) j++;
                if (j == tk->pat_n) {
                    best = k;
                    blen = tk->pat_n;
                }
            }
            if (best >= 0) break;
        }
        if (best < 0) return 0;
        const sutra_added_token *tk = &av->tok[best];
        size_t s = i, e = i + blen;
        if (tk->single_word) {
            int left_ok = s == 0 || !sutra_uc_is_word(t[s - 1].cp);
            int right_ok = e == n || !sutra_uc_is_word(t[e].cp);
            if (!left_ok || !right_ok) {
                p = e; /* HF's matcher moves past a rejected match */
                continue;
            }
        }
        if (tk->lstrip)
            while (s > from && is_ws(t[s - 1].cp)) s--;
        if (tk->rstrip)
            while (e < n && is_ws(t[e].cp)) e++;
        *ms = s;
        *me = e;
        *id = tk->id;
        return 1;
    }
    return 0;
}
