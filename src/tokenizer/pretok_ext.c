/*
 * pretok_ext.c - runs the pre-tokenizer over a normalized segment and the model over each word:
 * WhitespaceSplit, Metaspace, ByteLevel and Split here, BertPreTokenizer through pretokenizer.c,
 * and Sequence as one step after another.
 *
 * Rules: HF's semantics, split by split: a step sees each split the step before produced, may
 * rewrite it (into w->pre[step], which deeper steps never touch) and cuts it into smaller ones;
 * empty splits are dropped, as HF drops them. Metaspace: ' ' becomes the replacement, which is
 * prepended (always; first: only to a split starting at byte 0 of the text) unless the split
 * starts with it, then the split is cut before every replacement (MergedWithNext); a prepended
 * character takes the span of the split's first character. ByteLevel: an optional ' ' prepended
 * the same way, the GPT-2 pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * matched by hand (leftmost alternative first, as Oniguruma does), then every UTF-8 byte becomes
 * the character GPT-2's bytes_to_unicode assigns it, with the span of the character it is part
 * of. Split matches one of the regex patterns the loader recognises (GPT-2's, Qwen2's, cl100k's)
 * by hand in the same way, every match a split (behavior Isolated). \p{L} and \p{N} are
 * utf8proc's categories plus the letters and digits of Unicode 16 that HF's Oniguruma knows and
 * utf8proc 2.8 (Unicode 15) does not; \s is White_Space.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

enum { CLS_OTHER = 0, CLS_LETTER, CLS_NUMBER, CLS_SPACE };

/* Code points HF's Oniguruma (Unicode 16) classes as letters (L) or numbers (N) that utf8proc 2.8
 * leaves unassigned; measured by pre-tokenizing every code point with tokenizers 0.23.3. */
static const struct {
    uint32_t lo, hi;
    uint8_t cls;
} k_newer[] = {
    {0x1C89, 0x1C8A, CLS_LETTER}, {0xA7CB, 0xA7CD, CLS_LETTER}, {0xA7DA, 0xA7DC, CLS_LETTER},
    {0x105C0, 0x105F3, CLS_LETTER}, {0x10D40, 0x10D49, CLS_NUMBER}, {0x10D4A, 0x10D65, CLS_LETTER},
    {0x10D6F, 0x10D85, CLS_LETTER}, {0x10EC2, 0x10EC4, CLS_LETTER}, {0x11380, 0x11389, CLS_LETTER},
    {0x1138B, 0x1138B, CLS_LETTER}, {0x1138E, 0x1138E, CLS_LETTER}, {0x11390, 0x113B5, CLS_LETTER},
    {0x113B7, 0x113B7, CLS_LETTER}, {0x113D1, 0x113D1, CLS_LETTER}, {0x113D3, 0x113D3, CLS_LETTER},
    {0x116D0, 0x116E3, CLS_NUMBER}, {0x11BC0, 0x11BE0, CLS_LETTER}, {0x11BF0, 0x11BF9, CLS_NUMBER},
    {0x13460, 0x143FA, CLS_LETTER}, {0x16100, 0x1611D, CLS_LETTER}, {0x16130, 0x16139, CLS_NUMBER},
    {0x16D40, 0x16D6C, CLS_LETTER}, {0x16D70, 0x16D79, CLS_NUMBER}, {0x18CFF, 0x18CFF, CLS_LETTER},
    {0x1CCF0, 0x1CCF9, CLS_NUMBER}, {0x1E5D0, 0x1E5ED, CLS_LETTER}, {0x1E5F0, 0x1E5F0, CLS_LETTER},
    {0x1E5F1, 0x1E5FA, CLS_NUMBER}, {0x2EBF0, 0x2EE5D, CLS_LETTER},
};

static int gpt2_class(uint32_t c) {
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CLS_LETTER;
        if (c >= '0' && c <= '9') return CLS_NUMBER;
        if (c == ' ' || (c >= '\t' && c <= '\r')) return CLS_SPACE;
        return CLS_OTHER;
    }
    if (sutra_uc_class(c) & SUTRA_UC_WHITESPACE) return CLS_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return CLS_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return CLS_NUMBER;
    default:
        for (size_t i = 0; i < sizeof k_newer / sizeof k_newer[0]; i++)
            if (c >= k_newer[i].lo && c <= k_newer[i].hi) return k_newer[i].cls;
        return CLS_OTHER;
    }
}

/* End of the GPT-2 pattern's match starting at u[i] (i < m); every character is matched by some
 * alternative, so splits cover the text. */
static size_t gpt2_match(const sutra_tchar *u, size_t m, size_t i) {
    uint32_t c = u[i].cp;
    if (c == '\'' && i + 1 < m) {
        uint32_t d = u[i + 1].cp;
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
        if (i + 2 < m) {
            uint32_t e = u[i + 2].cp;
            if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) return i + 3;
        }
    }
    size_t j = (c == ' ' && i + 1 < m) ? i + 1 : i;
    int cls = gpt2_class(u[j].cp);
    if (cls != CLS_SPACE) {
        /* ' ?' then a run of one class (the space is taken only when a run follows). */
        size_t e = j + 1;
        while (e < m && gpt2_class(u[e].cp) == cls) e++;
        return e;
    }
    /* \s+(?!\S) takes a whitespace run up to the end, or all but its last character when a
     * non-space follows; a single space before a non-space falls to \s+. */
    size_t r = 0;
    while (i + r < m && gpt2_class(u[i + r].cp) == CLS_SPACE) r++;
    if (i + r == m) return m;
    return i + (r > 1 ? r - 1 : 1);
}

/* The Qwen2 pattern (max_digits 1) and cl100k's (max_digits 3), leftmost alternative first:
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,max_digits}
 *   | ' '?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 * End of the match starting at u[i] (i < m); every character is matched by some alternative. */
static int is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

/* The contraction letter c case-insensitively equal to the ASCII lower-case letter want, as
 * Oniguruma's Unicode case folding has it (U+017F LONG S folds to s). */
static int fold_eq(uint32_t c, char want) {
    if (c < 0x80) return (char)(c | 0x20) == want && ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    return want == 's' && c == 0x17F;
}

static size_t qwen_match(const sutra_tchar *u, size_t m, size_t i, int max_digits) {
    const uint32_t c = u[i].cp;
    if (c == '\'' && i + 1 < m) {
        const uint32_t d = u[i + 1].cp;
        if (fold_eq(d, 's') || fold_eq(d, 't') || fold_eq(d, 'm') || fold_eq(d, 'd')) return i + 2;
        if (i + 2 < m) {
            const uint32_t e = u[i + 2].cp;
            if ((fold_eq(d, 'r') && fold_eq(e, 'e')) || (fold_eq(d, 'v') && fold_eq(e, 'e')) ||
                (fold_eq(d, 'l') && fold_eq(e, 'l')))
                return i + 3;
        }
    }
    const int cls = gpt2_class(c);
    /* an optional character that is no letter, digit or line break, then letters */
    size_t j = i;
    if (cls != CLS_LETTER && cls != CLS_NUMBER && !is_crlf(c) && i + 1 < m && gpt2_class(u[i + 1].cp) == CLS_LETTER)
        j = i + 1;
    if (gpt2_class(u[j].cp) == CLS_LETTER) {
        size_t e = j + 1;
        while (e < m && gpt2_class(u[e].cp) == CLS_LETTER) e++;
        return e;
    }
    if (cls == CLS_NUMBER) {
        size_t e = i + 1;
        while (e < m && (int)(e - i) < max_digits && gpt2_class(u[e].cp) == CLS_NUMBER) e++;
        return e;
    }
    /* ' '? then symbols (no space, letter or digit), then any line breaks */
    j = (c == ' ' && i + 1 < m && gpt2_class(u[i + 1].cp) == CLS_OTHER) ? i + 1 : i;
    if (gpt2_class(u[j].cp) == CLS_OTHER) {
        size_t e = j + 1;
        while (e < m && gpt2_class(u[e].cp) == CLS_OTHER) e++;
        while (e < m && is_crlf(u[e].cp)) e++;
        return e;
    }
    /* c is whitespace: the run u[i..r) */
    size_t r = i;
    while (r < m && gpt2_class(u[r].cp) == CLS_SPACE) r++;
    /* \s*[\r\n]+: up to and including the run's last line break */
    for (size_t k = r; k > i; k--)
        if (is_crlf(u[k - 1].cp)) return k;
    /* \s+(?!\S): the run up to the end, or all but its last character before a non-space;
     * \s+: a single space before a non-space */
    if (r == m) return m;
    return r - i > 1 ? r - 1 : i + 1;
}

/* GPT-2's bytes_to_unicode: the printable Latin-1 bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) map to
 * themselves, the others, in byte order, to 256, 257, ...: 0x00..0x20, then 0x7F..0xA0, then 0xAD. */
static inline uint32_t byte_char(unsigned b) {
    if (b <= 0x20) return 256 + b;
    if (b >= 0x7F && b <= 0xA0) return 256 + 33 + (b - 0x7F);
    if (b == 0xAD) return 256 + 33 + 34;
    return b;
}

/* ---- the runner ----------------------------------------------------------------------------- */

typedef struct runner {
    const sutra_tokenizer *tok;
    const sutra_pretokenizer *steps;
    size_t n_steps;
    sutra_tok_work *w;
    sutra_tok_sink *sink;
    char *err;
    size_t errcap;
} runner;

static sutra_status step(runner *r, size_t k, const sutra_tchar *t, size_t n);

static sutra_status oom(runner *r) {
    return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, r->err, r->errcap, "cannot allocate a pre-tokenized word");
}

static sutra_status metaspace(runner *r, size_t k, const sutra_tchar *t, size_t n) {
    const sutra_pretokenizer *pt = &r->steps[k];
    sutra_tbuf *b = &r->w->pre[k];
    b->n = 0;
    if (!sutra_tbuf_reserve(b, n + 1)) return oom(r);
    uint32_t rep = pt->replacement;
    uint32_t first = t[0].cp == ' ' ? rep : t[0].cp;
    int prepend = first != rep &&
                  (pt->prepend == SUTRA_PREPEND_ALWAYS || (pt->prepend == SUTRA_PREPEND_FIRST && t[0].start == 0));
    if (prepend) sutra_tbuf_push(b, rep, t[0].start, t[0].end);
    for (size_t i = 0; i < n; i++) sutra_tbuf_push(b, t[i].cp == ' ' ? rep : t[i].cp, t[i].start, t[i].end);
    size_t m = b->n;
    if (!pt->split) return step(r, k + 1, b->c, m);
    size_t s = 0;
    for (size_t i = 1; i <= m; i++) {
        if (i < m && b->c[i].cp != rep) continue;
        sutra_status st = step(r, k + 1, r->w->pre[k].c + s, i - s);
        if (st != SUTRA_OK) return st;
        s = i;
    }
    return SUTRA_OK;
}

static sutra_status bytelevel(runner *r, size_t k, const sutra_tchar *t, size_t n) {
    const sutra_pretokenizer *pt = &r->steps[k];
    sutra_tbuf *b = &r->w->pre[k];
    b->n = 0;
    /* With a prefix space the text is rebuilt at the front of b; the byte-level form of each
     * split is appended after it and dropped again once the split is done. */
    const sutra_tchar *u = t;
    size_t m = n;
    int own = 0;
    if (pt->add_prefix_space && t[0].cp != ' ') {
        if (!sutra_tbuf_reserve(b, n + 1)) return oom(r);
        sutra_tbuf_push(b, ' ', t[0].start, t[0].end);
        memcpy(b->c + 1, t, n * sizeof *t);
        b->n = m = n + 1;
        own = 1;
    }
    size_t base = b->n;
    for (size_t s = 0; s < m && !r->sink->full;) {
        if (own) u = b->c;
        size_t e = pt->use_regex ? gpt2_match(u, m, s) : m;
        size_t nb = 0;
        for (size_t i = s; i < e; i++) nb += u[i].cp < 0x80 ? 1 : u[i].cp < 0x800 ? 2 : u[i].cp < 0x10000 ? 3 : 4;
        if (!sutra_tbuf_reserve(b, base + nb)) return oom(r);
        if (own) u = b->c;
        b->n = base;
        for (size_t i = s; i < e; i++) {
            char tmp[4];
            int nbytes = sutra_utf8_put(u[i].cp, tmp);
            for (int q = 0; q < nbytes; q++)
                sutra_tbuf_push(b, byte_char((unsigned char)tmp[q]), u[i].start, u[i].end);
        }
        sutra_status st = step(r, k + 1, b->c + base, nb);
        if (st != SUTRA_OK) return st;
        b->n = base;
        s = e;
    }
    return SUTRA_OK;
}

static sutra_status step(runner *r, size_t k, const sutra_tchar *t, size_t n) {
    if (n == 0 || r->sink->full) return SUTRA_OK;
    if (k == r->n_steps) return sutra_tok_model_encode(r->tok, t, n, r->w, r->sink, r->err, r->errcap);
    const sutra_pretokenizer *pt = &r->steps[k];
    switch (pt->kind) {
    case SUTRA_PRETOK_WHITESPACE_SPLIT: {
        size_t i = 0;
        while (i < n) {
            while (i < n && (sutra_uc_class(t[i].cp) & SUTRA_UC_WHITESPACE)) i++;
            size_t s = i;
            while (i < n && !(sutra_uc_class(t[i].cp) & SUTRA_UC_WHITESPACE)) i++;
            sutra_status st = step(r, k + 1, t + s, i - s);
            if (st != SUTRA_OK) return st;
        }
        return SUTRA_OK;
    }
    case SUTRA_PRETOK_METASPACE:
        return metaspace(r, k, t, n);
    case SUTRA_PRETOK_BYTELEVEL:
        return bytelevel(r, k, t, n);
    case SUTRA_PRETOK_SPLIT: /* Isolated: every match is a split of its own */
        for (size_t s = 0; s < n && !r->sink->full;) {
            const size_t e = pt->pattern == SUTRA_SPLIT_GPT2 ? gpt2_match(t, n, s)
                                                             : qwen_match(t, n, s, pt->pattern == SUTRA_SPLIT_CL100K ? 3 : 1);
            sutra_status st = step(r, k + 1, t + s, e - s);
            if (st != SUTRA_OK) return st;
            s = e;
        }
        return SUTRA_OK;
    case SUTRA_PRETOK_BERT: {
        size_t pos = 0, ws, we;
        while (sutra_pretok_next(pt, t, n, &pos, &ws, &we)) {
            sutra_status st = step(r, k + 1, t + ws, we - ws);
            if (st != SUTRA_OK) return st;
        }
        return SUTRA_OK;
    }
    case SUTRA_PRETOK_NONE:
    case SUTRA_PRETOK_SEQUENCE: /* flattened by the loader; an empty one does nothing */
    default:
        return step(r, k + 1, t, n);
    }
}

sutra_status sutra_pretok_run(const sutra_tokenizer *tok, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                              sutra_tok_sink *sink, char *err, size_t errcap) {
    runner r = {tok, &tok->pretok, 1, w, sink, err, errcap};
    if (tok->pretok.kind == SUTRA_PRETOK_SEQUENCE) {
        r.steps = tok->pretok.steps;
        r.n_steps = tok->pretok.n_steps;
    }
    return step(&r, 0, t, n);
}

void sutra_pretokenizer_free(sutra_pretokenizer *pt) {
    if (!pt) return;
    for (size_t i = 0; i < pt->n_steps; i++) sutra_pretokenizer_free(&pt->steps[i]);
    free(pt->steps);
    memset(pt, 0, sizeof *pt);
}
