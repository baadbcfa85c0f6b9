/*
 * norm_ext.c - the normalizer kinds beyond BertNormalizer, and the dispatcher over all of them:
 * Sequence, Replace, Strip, Prepend and Lowercase here; Precompiled (precompiled.c) and NFC / NFD
 * (nfc.c) in their own files; NONE and BERT go to normalizer.c.
 *
 * Rules: every step gives each produced character the span HF's NormalizedString gives it:
 * a replaced match's characters take the span of the match's last character (replace()), the
 * text a Prepend adds takes the first character's span (prepend()), characters Strip keeps and
 * the extra characters of a lowercase mapping keep their own. HF ties "inserted before anything"
 * to offset 0 of the segment, which is `base` here: the original start of the segment. A
 * Sequence runs its steps through two buffers of its own, allocated once per segment.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

int sutra_transform_apply(const sutra_tchar *old, size_t n_old, int32_t base, const sutra_tchar *new_, size_t n_new,
                          sutra_tbuf *out) {
    if (!sutra_tbuf_reserve(out, out->n + n_new)) return 0;
    size_t off = 0;
    for (size_t k = 0; k < n_new; k++) {
        int32_t change = new_[k].start;
        sutra_tchar *c = &out->c[out->n++];
        c->cp = new_[k].cp;
        if (change > 0 || off >= n_old) {
            /* Inserted (or, never for a well-formed list, past the end): the last consumed span. */
            c->start = off == 0 ? base : old[(off <= n_old ? off : n_old) - 1].start;
            c->end = off == 0 ? base : old[(off <= n_old ? off : n_old) - 1].end;
            if (change <= 0) off += 1 + (size_t)(-(int64_t)change);
        } else {
            c->start = old[off].start;
            c->end = old[off].end;
            off += 1 + (size_t)(-(int64_t)change);
        }
    }
    return 1;
}

static int is_ws(uint32_t cp) {
    return (sutra_uc_class(cp) & SUTRA_UC_WHITESPACE) != 0;
}

/* Length of the Replace pattern's match at in[i], or 0. */
static size_t replace_match(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, size_t i) {
    if (nz->replace == SUTRA_REPLACE_LITERAL) {
        if (nz->pat_n == 0 || n - i < nz->pat_n) return 0;
        for (size_t k = 0; k < nz->pat_n; k++)
            if (in[i + k].cp != nz->pat[k]) return 0;
        return nz->pat_n;
    }
    size_t r = 0;
    while (i + r < n && (nz->rep_max == 0 || r < nz->rep_max) &&
           (nz->replace == SUTRA_REPLACE_RUN_SPACE ? is_ws(in[i + r].cp) : in[i + r].cp == nz->pat[0]))
        r++;
    return r >= nz->rep_min ? r : 0;
}

static int run_replace(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, sutra_tbuf *out) {
    for (size_t i = 0; i < n;) {
        size_t m = replace_match(nz, in, n, i);
        if (m == 0) {
            if (!sutra_tbuf_push(out, in[i].cp, in[i].start, in[i].end)) return 0;
            i++;
            continue;
        }
        const sutra_tchar *last = &in[i + m - 1];
        for (size_t k = 0; k < nz->content_n; k++)
            if (!sutra_tbuf_push(out, nz->content[k], last->start, last->end)) return 0;
        i += m;
    }
    return 1;
}

static int run_strip(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, sutra_tbuf *out) {
    size_t a = 0, b = n;
    if (nz->strip_left)
        while (a < b && is_ws(in[a].cp)) a++;
    if (nz->strip_right)
        while (b > a && is_ws(in[b - 1].cp)) b--;
    if (b == a) return 1;
    if (!sutra_tbuf_reserve(out, out->n + (b - a))) return 0;
    memcpy(out->c + out->n, in + a, (b - a) * sizeof *in);
    out->n += b - a;
    return 1;
}

static int run_prepend(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, sutra_tbuf *out) {
    if (n == 0) return 1;
    if (!sutra_tbuf_reserve(out, out->n + nz->content_n + n)) return 0;
    for (size_t k = 0; k < nz->content_n; k++) sutra_tbuf_push(out, nz->content[k], in[0].start, in[0].end);
    memcpy(out->c + out->n, in, n * sizeof *in);
    out->n += n;
    return 1;
}

static int run_lowercase(const sutra_tchar *in, size_t n, sutra_tbuf *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t low[2];
        int nl = sutra_uc_lower(in[i].cp, low);
        for (int k = 0; k < nl; k++)
            if (!sutra_tbuf_push(out, low[k], in[i].start, in[i].end)) return 0;
    }
    return 1;
}

static int apply_base(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, int32_t base, sutra_tbuf *out,
                      sutra_tbuf *scratch);

static int run_sequence(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, int32_t base, sutra_tbuf *out,
                        sutra_tbuf *scratch) {
    if (nz->n_steps == 0) return apply_base(NULL, in, n, base, out, scratch);
    sutra_tbuf buf[2] = {{0}, {0}};
    const sutra_tchar *cur = in;
    size_t cur_n = n;
    int ok = 1;
    for (size_t s = 0; s < nz->n_steps && ok; s++) {
        sutra_tbuf *dst = s + 1 == nz->n_steps ? out : &buf[s % 2];
        if (dst != out) dst->n = 0;
        ok = apply_base(&nz->steps[s], cur, cur_n, base, dst, scratch);
        cur = dst->c;
        cur_n = dst->n;
    }
    sutra_tbuf_free(&buf[0]);
    sutra_tbuf_free(&buf[1]);
    return ok;
}

/* nz NULL: no normalizer (a copy). */
static int apply_base(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, int32_t base, sutra_tbuf *out,
                      sutra_tbuf *scratch) {
    if (!nz) {
        if (!sutra_tbuf_reserve(out, out->n + n)) return 0;
        if (n) memcpy(out->c + out->n, in, n * sizeof *in);
        out->n += n;
        return 1;
    }
    switch (nz->kind) {
    case SUTRA_NORM_PRECOMPILED:
        return sutra_precompiled_run(nz->charsmap, in, n, base, out, scratch);
    case SUTRA_NORM_NFC:
        return sutra_nfc_run(in, n, 1, base, out, scratch);
    case SUTRA_NORM_NFD:
        return sutra_nfc_run(in, n, 0, base, out, scratch);
    case SUTRA_NORM_SEQUENCE:
        return run_sequence(nz, in, n, base, out, scratch);
    case SUTRA_NORM_REPLACE:
        return run_replace(nz, in, n, out);
    case SUTRA_NORM_STRIP:
        return run_strip(nz, in, n, out);
    case SUTRA_NORM_PREPEND:
        return run_prepend(nz, in, n, out);
    case SUTRA_NORM_LOWERCASE:
        return run_lowercase(in, n, out);
    case SUTRA_NORM_NONE:
    case SUTRA_NORM_BERT:
    default:
        return sutra_normalizer_run(nz, in, n, out, scratch);
    }
}

int sutra_norm_apply(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, sutra_tbuf *out,
                     sutra_tbuf *scratch) {
    return apply_base(nz, in, n, n ? in[0].start : 0, out, scratch);
}

int sutra_norm_is_extended(const sutra_normalizer *nz) {
    return nz->kind != SUTRA_NORM_NONE && nz->kind != SUTRA_NORM_BERT;
}

void sutra_normalizer_free(sutra_normalizer *nz) {
    if (!nz) return;
    sutra_charsmap_free(nz->charsmap);
    for (size_t i = 0; i < nz->n_steps; i++) sutra_normalizer_free(&nz->steps[i]);
    free(nz->steps);
    free(nz->pat);
    free(nz->content);
    memset(nz, 0, sizeof *nz);
}
