/*
 * normalizer.c - text normalizers: none, and HF's BertNormalizer (clean_text, then spaces around
 * CJK ideographs, then strip_accents = NFD and drop Mn, then lowercase).
 *
 * Rules: one pass, character by character; every produced character carries the byte span of
 * the input character it came from (HF's alignments, reproduced even where NFD reorders marks);
 * NFD's canonical reordering is done at the end of out, one run of non-starters at a time, in
 * time linear in the run. New normalizer kinds (Precompiled, NFKC, Sequence, ...) add a case to
 * sutra_normalizer_run.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

int sutra_tbuf_reserve(sutra_tbuf *b, size_t cap) {
    if (cap <= b->cap) return 1;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < cap) {
        if (nc > SIZE_MAX / 2 / sizeof(sutra_tchar)) return 0;
        nc *= 2;
    }
    sutra_tchar *c = realloc(b->c, nc * sizeof *c);
    if (!c) return 0;
    b->c = c;
    b->cap = nc;
    return 1;
}

void sutra_tbuf_free(sutra_tbuf *b) {
    free(b->c);
    memset(b, 0, sizeof *b);
}

/* While strip_accents runs NFD, the characters after the last starter wait in out (flagged with
 * PENDING_CHANGE when they are not the first piece of their input character) until the run is
 * complete, because HF reorders them by combining class and then hands out the input spans by
 * position: the k-th first piece of the run takes the run's k-th input span, and every other
 * piece the span taken last before it. */
#define PENDING_CHANGE 0x80000000u

typedef struct bert_state {
    sutra_tbuf *out, *scratch;
    size_t run;             /* where the pending non-starters begin in out */
    int32_t last_s, last_e; /* span of the input character NFD consumed last */
} bert_state;

static int push_lower(const sutra_normalizer *nz, sutra_tbuf *out, uint32_t c, int32_t s, int32_t e) {
    uint32_t low[2];
    int nl = 1;
    low[0] = c;
    if (nz->lowercase) nl = sutra_uc_lower(c, low);
    for (int k = 0; k < nl; k++)
        if (!sutra_tbuf_push(out, low[k], s, e)) return 0;
    return 1;
}

static int flush_run(bert_state *st) {
    sutra_tbuf *out = st->out;
    size_t a = st->run, b = out->n;
    if (a == b) return 1;
    size_t r = b - a;
    sutra_tbuf *sc = st->scratch;
    if (!sutra_tbuf_reserve(sc, 2 * r)) return 0;
    /* scratch[0..k): the spans of the run's first pieces, in input order. */
    size_t nfirst = 0;
    for (size_t i = a; i < b; i++)
        if (!(out->c[i].cp & PENDING_CHANGE)) sc->c[nfirst++] = out->c[i];
    if (r <= 16) { /* stable insertion sort by combining class: runs are short in real text */
        for (size_t i = a + 1; i < b; i++) {
            sutra_tchar t = out->c[i];
            int ccc = sutra_uc_ccc(t.cp & ~PENDING_CHANGE);
            size_t j = i;
            while (j > a && sutra_uc_ccc(out->c[j - 1].cp & ~PENDING_CHANGE) > ccc) {
                out->c[j] = out->c[j - 1];
                j--;
            }
            out->c[j] = t;
        }
    } else { /* stable counting sort through scratch[k..k+r): linear however long the run */
        size_t at[257] = {0};
        for (size_t i = a; i < b; i++) at[sutra_uc_ccc(out->c[i].cp & ~PENDING_CHANGE) + 1]++;
        for (int c = 1; c <= 256; c++) at[c] += at[c - 1];
        for (size_t i = a; i < b; i++) sc->c[nfirst + at[sutra_uc_ccc(out->c[i].cp & ~PENDING_CHANGE)]++] = out->c[i];
        memcpy(out->c + a, sc->c + nfirst, r * sizeof *out->c);
    }
    size_t k = 0, w = a;
    for (size_t i = a; i < b; i++) {
        sutra_tchar t = out->c[i];
        if (!(t.cp & PENDING_CHANGE)) {
            st->last_s = sc->c[k].start;
            st->last_e = sc->c[k].end;
            k++;
        }
        t.cp &= ~PENDING_CHANGE;
        t.start = st->last_s;
        t.end = st->last_e;
        /* Non-starters have no lowercase mapping, so only the Mn filter is left to apply. */
        if (!(sutra_uc_class(t.cp) & SUTRA_UC_MN)) out->c[w++] = t;
    }
    out->n = w;
    st->run = w;
    return 1;
}

/* strip_accents: NFD of one input character of the NFD step, then the Mn filter and lowercase. */
static int nfd_emit(const sutra_normalizer *nz, bert_state *st, uint32_t cp, int32_t s, int32_t e) {
    uint32_t parts[SUTRA_UC_NFD_MAX];
    int np = sutra_uc_nfd(cp, parts, SUTRA_UC_NFD_MAX);
    for (int p = 0; p < np; p++) {
        uint32_t c = parts[p];
        if (sutra_uc_ccc(c) != 0) {
            if (!sutra_tbuf_push(st->out, c | (p > 0 ? PENDING_CHANGE : 0), s, e)) return 0;
            continue;
        }
        if (!flush_run(st)) return 0;
        if (p == 0) {
            st->last_s = s;
            st->last_e = e;
        }
        if (!(sutra_uc_class(c) & SUTRA_UC_MN) && !push_lower(nz, st->out, c, st->last_s, st->last_e)) return 0;
        st->run = st->out->n;
    }
    return 1;
}

/* One character after clean_text and the CJK step. */
static int emit(const sutra_normalizer *nz, bert_state *st, uint32_t cp, int32_t s, int32_t e) {
    if (nz->strip_accents) return nfd_emit(nz, st, cp, s, e);
    return push_lower(nz, st->out, cp, s, e);
}

static int bert_normalize(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, sutra_tbuf *out,
                          sutra_tbuf *scratch) {
    if (n == 0) return 1;
    bert_state st = {out, scratch, out->n, in[0].start, in[0].start};
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = in[i].cp;
        int32_t s = in[i].start, e = in[i].end;
        if (cp < 0x80) {
            /* ASCII: no CJK, nothing decomposes, no marks, a starter. */
            if (nz->clean_text) {
                if (cp == '\t' || cp == '\n' || cp == '\r') cp = ' ';
                else if (cp < 0x20 || cp == 0x7F) continue;
            }
            if (nz->lowercase && cp >= 'A' && cp <= 'Z') cp += 32;
            if (nz->strip_accents && st.run != out->n && !flush_run(&st)) return 0;
            if (!sutra_tbuf_push(out, cp, s, e)) return 0;
            st.run = out->n;
            st.last_s = s;
            st.last_e = e;
            continue;
        }
        unsigned cls = sutra_uc_class(cp);
        if (nz->clean_text) {
            if (cls & SUTRA_UC_DROP) continue;
            if (cls & SUTRA_UC_CLEAN_SPACE) {
                cp = ' ';
                cls = 0;
            }
        }
        if (nz->handle_chinese_chars && (cls & SUTRA_UC_CJK)) {
            /* Both spaces take the ideograph's span (measured on tokenizers 0.23). */
            if (!emit(nz, &st, ' ', s, e) || !emit(nz, &st, cp, s, e) || !emit(nz, &st, ' ', s, e)) return 0;
        } else if (!emit(nz, &st, cp, s, e)) {
            return 0;
        }
    }
    return nz->strip_accents ? flush_run(&st) : 1;
}

int sutra_normalizer_run(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, sutra_tbuf *out,
                         sutra_tbuf *scratch) {
    if (!sutra_tbuf_reserve(out, out->n + n)) return 0;
    switch (nz->kind) {
    case SUTRA_NORM_BERT:
        return bert_normalize(nz, in, n, out, scratch);
    case SUTRA_NORM_NONE:
    default:
        memcpy(out->c + out->n, in, n * sizeof *in);
        out->n += n;
        return 1;
    }
}
