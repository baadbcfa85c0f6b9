/*
 * nfc.c - HF's NFC and NFD normalizers (the unicode-normalization-alignments crate), with the
 * alignments HF derives from them.
 *
 * Rules: the crate's algorithm, step for step, since its alignments depend on the order of
 * events and not only on the result: each input character is decomposed (HF's decompositions,
 * from unicode.c: the first piece is a change of 0, each further piece an insertion, +1); each
 * run of non-starters is stably sorted by combining class when the next starter arrives (or at
 * the end); then, for NFC, the crate's recomposition state machine (a starter absorbs each
 * unblocked character it composes with, its change becoming change + absorbed change - 1).
 * Spans are then handed out positionally (sutra_transform_apply), which is why a composed
 * character has the span of the first input character, and a mark after it the span of
 * whatever input character sits at its position. Canonical pairs come from utf8proc, limited to
 * the characters HF's older Unicode tables decompose (SUTRA_UC_DECOMPOSES), so that both agree
 * on which characters exist; Hangul is algorithmic. The pair table is built once per process.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

#define HANGUL_S 0xAC00u
#define HANGUL_L 0x1100u
#define HANGUL_V 0x1161u
#define HANGUL_T 0x11A7u
#define HANGUL_LCOUNT 19u
#define HANGUL_VCOUNT 21u
#define HANGUL_TCOUNT 28u
#define HANGUL_SCOUNT (HANGUL_LCOUNT * HANGUL_VCOUNT * HANGUL_TCOUNT)

/* Canonical pairs: open addressing, key (first << 21 | second) + 1 -> composite. */
static struct {
    uint64_t *key;
    uint32_t *val;
    size_t mask;
    uint8_t *second; /* bitmap: the code point is the second of some pair */
    int ok;
} g_pairs;
static pthread_once_t g_pairs_once = PTHREAD_ONCE_INIT;

static void pair_put(uint32_t a, uint32_t b, uint32_t c) {
    uint64_t k = ((uint64_t)a << 21 | b) + 1;
    size_t i = (size_t)(k * 0x9E3779B97F4A7C15ull >> 40) & g_pairs.mask;
    while (g_pairs.key[i] && g_pairs.key[i] != k) i = (i + 1) & g_pairs.mask;
    g_pairs.key[i] = k;
    g_pairs.val[i] = c;
    g_pairs.second[b >> 3] |= (uint8_t)(1u << (b & 7));
}

/* utf8proc's NFC of cps[0..n) when it is a single code point, else 0. */
static uint32_t nfc_single(const uint32_t *cps, int n) {
    char buf[64];
    size_t len = 0;
    for (int i = 0; i < n && len + 4 < sizeof buf; i++) len += (size_t)sutra_utf8_put(cps[i], buf + len);
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t rl = utf8proc_map((const utf8proc_uint8_t *)buf, (utf8proc_ssize_t)len, &res,
                                       UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    uint32_t c = 0;
    if (rl > 0) {
        size_t at = 0;
        uint32_t first = sutra_utf8_next((const char *)res, &at);
        if (at == (size_t)rl) c = first;
    }
    free(res);
    return c;
}

static void build_pairs(void) {
    size_t slots = 8192; /* Unicode has about a thousand canonical pairs */
    g_pairs.key = calloc(slots, sizeof *g_pairs.key);
    g_pairs.val = calloc(slots, sizeof *g_pairs.val);
    g_pairs.second = calloc(0x110000 / 8, 1);
    if (!g_pairs.key || !g_pairs.val || !g_pairs.second) return;
    g_pairs.mask = slots - 1;
    size_t count = 0;
    for (uint32_t c = 0x80; c < 0x110000; c++) {
        if (c == HANGUL_S) c += HANGUL_SCOUNT;
        if (!(sutra_uc_class(c) & SUTRA_UC_DECOMPOSES)) continue;
        uint32_t fd[SUTRA_UC_NFD_MAX];
        int k = sutra_uc_nfd(c, fd, SUTRA_UC_NFD_MAX);
        if (k < 2) continue;
        /* A primary composite is what NFC makes of its own decomposition; its pair is (the
         * composition of all but the last piece, the last piece). */
        if (nfc_single(fd, k) != c) continue;
        uint32_t a = nfc_single(fd, k - 1);
        if (a == 0 || count + 1 >= slots / 2) continue;
        pair_put(a, fd[k - 1], c);
        count++;
    }
    for (uint32_t v = 0; v < HANGUL_VCOUNT; v++) g_pairs.second[(HANGUL_V + v) >> 3] |= (uint8_t)(1u << ((HANGUL_V + v) & 7));
    for (uint32_t t = 1; t < HANGUL_TCOUNT; t++) g_pairs.second[(HANGUL_T + t) >> 3] |= (uint8_t)(1u << ((HANGUL_T + t) & 7));
    g_pairs.ok = 1;
}

static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LCOUNT && b >= HANGUL_V && b < HANGUL_V + HANGUL_VCOUNT)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_VCOUNT + (b - HANGUL_V)) * HANGUL_TCOUNT;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SCOUNT && (a - HANGUL_S) % HANGUL_TCOUNT == 0 && b > HANGUL_T &&
        b < HANGUL_T + HANGUL_TCOUNT)
        return a + (b - HANGUL_T);
    if (a >= 0x110000 || b >= 0x110000 || !(g_pairs.second[b >> 3] & (1u << (b & 7)))) return 0;
    uint64_t k = ((uint64_t)a << 21 | b) + 1;
    size_t i = (size_t)(k * 0x9E3779B97F4A7C15ull >> 40) & g_pairs.mask;
    while (g_pairs.key[i]) {
        if (g_pairs.key[i] == k) return g_pairs.val[i];
        i = (i + 1) & g_pairs.mask;
    }
    return 0;
}

/* Whether c can make NFC / NFD change anything: it decomposes, is a non-starter, or can be
 * composed onto the character before it. */
static int unstable(uint32_t c, int composing) {
    unsigned cls = sutra_uc_class(c);
    if (cls & (SUTRA_UC_DECOMPOSES | SUTRA_UC_COMBINING)) return 1;
    return composing && c < 0x110000 && (g_pairs.second[c >> 3] & (1u << (c & 7)));
}

/* Stable sort of d[a..b) by combining class (in .end). */
static int sort_run(sutra_tchar *d, size_t a, size_t b) {
    size_t r = b - a;
    if (r < 2) return 1;
    if (r <= 16) {
        for (size_t i = a + 1; i < b; i++) {
            sutra_tchar t = d[i];
            size_t j = i;
            while (j > a && d[j - 1].end > t.end) {
                d[j] = d[j - 1];
                j--;
            }
            d[j] = t;
        }
        return 1;
    }
    /* Counting sort: linear however long a run a hostile text makes. */
    sutra_tchar *tmp = malloc(r * sizeof *tmp);
    if (!tmp) return 0;
    size_t at[257] = {0};
    for (size_t i = a; i < b; i++) at[d[i].end + 1]++;
    for (int c = 1; c <= 256; c++) at[c] += at[c - 1];
    for (size_t i = a; i < b; i++) tmp[at[d[i].end]++] = d[i];
    memcpy(d + a, tmp, r * sizeof *tmp);
    free(tmp);
    return 1;
}

int sutra_nfc_run(const sutra_tchar *in, size_t n, int compose_flag, int32_t base, sutra_tbuf *out,
                  sutra_tbuf *scratch) {
    pthread_once(&g_pairs_once, build_pairs);
    if (!g_pairs.ok) return 0;
    size_t i = 0;
    while (i < n && (in[i].cp < 0x80 || !unstable(in[i].cp, compose_flag))) i++;
    if (i == n) {
        if (!sutra_tbuf_reserve(out, out->n + n)) return 0;
        if (n) memcpy(out->c + out->n, in, n * sizeof *in);
        out->n += n;
        return 1;
    }

    /* 1. Decompose: cp, change in .start, combining class in .end. */
    sutra_tbuf *d = scratch;
    d->n = 0;
    if (!sutra_tbuf_reserve(d, n + n / 2 + 8)) return 0;
    size_t run = 0; /* the pending non-starters begin here */
    for (i = 0; i < n; i++) {
        uint32_t parts[SUTRA_UC_NFD_MAX];
        int np = in[i].cp < 0x80 ? (parts[0] = in[i].cp, 1) : sutra_uc_nfd(in[i].cp, parts, SUTRA_UC_NFD_MAX);
        for (int p = 0; p < np; p++) {
            int ccc = parts[p] < 0x80 ? 0 : sutra_uc_ccc(parts[p]);
            if (ccc == 0) {
                if (!sort_run(d->c, run, d->n)) return 0;
                if (!sutra_tbuf_push(d, parts[p], p > 0, 0)) return 0;
                run = d->n;
            } else if (!sutra_tbuf_push(d, parts[p], p > 0, ccc)) {
                return 0;
            }
        }
    }
    if (!sort_run(d->c, run, d->n)) return 0;

    /* 2. Recompose into the free space at the end of out (same layout). */
    if (!sutra_tbuf_reserve(out, out->n + d->n)) return 0;
    sutra_tchar *o = out->c + out->n;
    size_t m = 0;
    if (!compose_flag) {
        memcpy(o, d->c, d->n * sizeof *o);
        m = d->n;
    } else {
        int64_t comp = -1; /* the slot of the starter being composed onto */
        int last_ccc = -1; /* class of the last character left uncomposed after it, -1: none */
        for (size_t k = 0; k < d->n; k++) {
            sutra_tchar e = d->c[k];
            int ccc = e.end;
            if (comp < 0) {
                if (ccc == 0) comp = (int64_t)m;
                o[m++] = e;
                continue;
            }
            sutra_tchar *s = &o[comp];
            if (last_ccc >= 0 && last_ccc >= ccc) { /* blocked */
                if (ccc == 0) {
                    comp = (int64_t)m;
                    last_ccc = -1;
                } else {
                    last_ccc = ccc;
                }
                o[m++] = e;
                continue;
            }
            uint32_t r = compose(s->cp, e.cp);
            if (r) {
                s->cp = r;
                s->start = s->start + e.start - 1;
                continue;
            }
            if (last_ccc < 0 && ccc == 0) {
                comp = (int64_t)m;
            } else {
                last_ccc = ccc;
            }
            o[m++] = e;
        }
    }

    /* 3. Spans, positionally. */
    size_t off = 0;
    for (size_t k = 0; k < m; k++) {
        int32_t change = o[k].start;
        const sutra_tchar *src = NULL;
        if (change > 0 || off >= n) {
            if (off > 0) src = &in[(off <= n ? off : n) - 1];
            if (change <= 0) off += 1 + (size_t)(-(int64_t)change);
        } else {
            src = &in[off];
            off += 1 + (size_t)(-(int64_t)change);
        }
        o[k].start = src ? src->start : base;
        o[k].end = src ? src->end : base;
    }
    out->n += m;
    return 1;
}
