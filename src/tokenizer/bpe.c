/*
 * bpe.c - the BPE model (HF's models::bpe): a word starts as one symbol per character and the
 * adjacent pair with the best-ranked merge is merged until no pair has one.
 *
 * Rules: HF's merge_word and merge_all, including its handling of characters missing from the
 * vocabulary (byte_fallback's <0xXX> tokens, else unk, fused or not, else dropped), the
 * continuing-subword prefix and end-of-word suffix, and ignore_merges. Merges are applied from a
 * binary heap of (rank, position): the lowest rank first, the leftmost on a tie, which is what
 * HF's priority queue yields; an entry whose pair has changed since it was queued is skipped.
 * Like HF, a symbol's place in the word is the sum of the byte lengths of the symbols before it
 * (a character's UTF-8 length; 1 for a byte-fallback token), so that HF's one out-of-order case
 * (a pending unk is added after the byte tokens of the next character) gets HF's offsets too; a
 * token's span runs from the start of the character holding its first byte to the end of the
 * character holding its last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

static inline size_t merge_slot(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 29) & mask;
}

static inline uint64_t merge_key(int32_t l, int32_t r) {
    return ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
}

/* rank << 32 | merged id of the pair (l, r), or UINT64_MAX. */
static inline uint64_t merge_find(const sutra_bpe *b, int32_t l, int32_t r) {
    if (!b->merges) return UINT64_MAX;
    uint64_t key = merge_key(l, r);
    size_t i = merge_slot(key, b->merge_mask);
    for (;;) {
        uint64_t k = b->merges[2 * i];
        if (k == key) return b->merges[2 * i + 1];
        if (k == 0) return UINT64_MAX;
        i = (i + 1) & b->merge_mask;
    }
}

void sutra_bpe_free(sutra_bpe *b) {
    sutra_vocab_free(&b->vocab);
    free(b->merges);
    free(b->unk_token);
    free(b->prefix);
    free(b->suffix);
    memset(b, 0, sizeof *b);
}

sutra_status sutra_bpe_init_merges(sutra_bpe *b, size_t n_merges, char *err, size_t errcap) {
    size_t slots = 16;
    while (slots < 2 * n_merges) {
        if (slots > SIZE_MAX / 4) return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "too many merges");
        slots *= 2;
    }
    b->merges = calloc(2 * slots, sizeof *b->merges);
    if (!b->merges)
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate %zu merges", n_merges);
    b->merge_mask = slots - 1;
    b->n_merges = 0;
    return SUTRA_OK;
}

sutra_status sutra_bpe_add_merge(sutra_bpe *b, const char *left, size_t llen, const char *right, size_t rlen,
                                 size_t rank, char *err, size_t errcap) {
    int32_t l = sutra_vocab_find(&b->vocab, left, llen), r = sutra_vocab_find(&b->vocab, right, rlen);
    if (l < 0 || r < 0) {
        const char *which = l < 0 ? left : right;
        size_t wl = l < 0 ? llen : rlen;
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "model.merges[%zu]: token '%.*s' is not in the vocabulary",
                          rank, (int)(wl > 64 ? 64 : wl), which);
    }
    if (rlen < b->prefix_len || (b->prefix_len && memcmp(right, b->prefix, b->prefix_len) != 0))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                          "model.merges[%zu]: '%.*s' does not start with the continuing_subword_prefix", rank,
                          (int)(rlen > 64 ? 64 : rlen), right);
    size_t ml = llen + rlen - b->prefix_len;
    char *m = malloc(ml + 1);
    if (!m) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate a merge");
    memcpy(m, left, llen);
    memcpy(m + llen, right + b->prefix_len, rlen - b->prefix_len);
    int32_t id = sutra_vocab_find(&b->vocab, m, ml);
    if (id < 0) {
        sutra_status st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                                     "model.merges[%zu]: the merged token '%.*s' is not in the vocabulary", rank,
                                     (int)(ml > 64 ? 64 : ml), m);
        free(m);
        return st;
    }
    free(m);
    if (rank > UINT32_MAX - 1 || b->n_merges >= (b->merge_mask + 1) / 2)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "model.merges: more merges than announced");
    uint64_t key = merge_key(l, r);
    size_t i = merge_slot(key, b->merge_mask);
    while (b->merges[2 * i] != 0 && b->merges[2 * i] != key) i = (i + 1) & b->merge_mask;
    if (b->merges[2 * i] == 0) b->n_merges++;
    b->merges[2 * i] = key; /* a repeated pair takes the later rank, as HF's map does */
    b->merges[2 * i + 1] = (uint64_t)rank << 32 | (uint32_t)id;
    return SUTRA_OK;
}

sutra_status sutra_bpe_finish(sutra_bpe *b, char *err, size_t errcap) {
    b->unk_id = b->unk_token ? sutra_vocab_find(&b->vocab, b->unk_token, strlen(b->unk_token)) : -1;
    for (int i = 0; i < 256; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", i);
        b->byte_ids[i] = sutra_vocab_find(&b->vocab, name, 6);
    }
    for (uint32_t c = 0; c < 512; c++) {
        char s[4];
        int k = sutra_utf8_put(c, s);
        b->small_ids[c] = sutra_vocab_find(&b->vocab, s, (size_t)k);
    }
    (void)err;
    (void)errcap;
    return SUTRA_OK;
}

/* ---- encoding ------------------------------------------------------------------------------- */

/* Words of at most this many symbols are merged by scanning (see merge_all below). */
#define SHORT_WORD 48

/* A symbol: id, byte length, prev, next (-1: none); a removed symbol has id -1. */
enum { S_ID, S_LEN, S_PREV, S_NEXT, S_SIZE };

typedef struct word_state {
    int32_t *sym;
    size_t n;
} word_state;

static void add_symbol(word_state *ws, int32_t id, uint32_t len) {
    int32_t *s = ws->sym + S_SIZE * ws->n;
    s[S_ID] = id;
    s[S_LEN] = (int32_t)len;
    s[S_PREV] = (int32_t)ws->n - 1;
    s[S_NEXT] = (int32_t)ws->n + 1;
    ws->n++;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = v;
    return top;
}

static sutra_status unk_missing(const sutra_bpe *b, char *err, size_t errcap) {
    return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "BPE: unk_token '%s' is not in the vocabulary",
                      b->unk_token ? b->unk_token : "");
}

sutra_status sutra_bpe_encode(const sutra_bpe *b, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                              sutra_tok_sink *sink, char *err, size_t errcap) {
    if (n == 0) return SUTRA_OK;
    size_t plen = b->prefix_len, slen = b->suffix_len;
    size_t per_char = 4 + plen + slen; /* most symbols one character can become (byte fallback) */
    if ((per_char > 4 && n > SIZE_MAX / 8 / (per_char * S_SIZE)) ||
        !sutra_grow((void **)&w->bytes, &w->bytes_cap, 4 * n + plen + slen + 1, 1) ||
        !sutra_grow((void **)&w->pos, &w->pos_cap, n + 1, sizeof *w->pos) ||
        !sutra_grow((void **)&w->sym, &w->sym_cap, S_SIZE * per_char * n, sizeof *w->sym) ||
        !sutra_grow((void **)&w->heap, &w->heap_cap, 3 * per_char * n, sizeof *w->heap))
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate a word of %zu characters", n);
    char *buf = w->bytes;
    uint32_t *pos = w->pos;
    pos[0] = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = t[i].cp;
        pos[i + 1] = pos[i] + (c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4);
    }

    if (b->ignore_merges) {
        size_t len = 0;
        for (size_t i = 0; i < n; i++) len += (size_t)sutra_utf8_put(t[i].cp, buf + len);
        int32_t id = sutra_vocab_find(&b->vocab, buf, len);
        if (id >= 0) {
            if (!sutra_sink_push(sink, id, t[0].start, t[n - 1].end, 0))
                return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the encoding");
            return SUTRA_OK;
        }
    }

    /* merge_word: one symbol per character. */
    word_state ws = {w->sym, 0};
    int32_t unk = -1; /* pending unk and the bytes of the characters it stands for */
    uint32_t unk_len = 0;
    int plain = plen == 0 && slen == 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id;
        size_t len = 0;
        if (plain && t[i].cp < 512) {
            id = b->small_ids[t[i].cp];
        } else {
            if (i > 0 && plen) {
                memcpy(buf, b->prefix, plen);
                len = plen;
            }
            len += (size_t)sutra_utf8_put(t[i].cp, buf + len);
            if (i + 1 == n && slen) {
                memcpy(buf + len, b->suffix, slen);
                len += slen;
            }
            id = sutra_vocab_find(&b->vocab, buf, len);
        }
        if (id >= 0) {
            if (unk >= 0) {
                add_symbol(&ws, unk, unk_len);
                unk = -1;
            }
            add_symbol(&ws, id, pos[i + 1] - pos[i]);
            continue;
        }
        if (b->byte_fallback) {
            if (len == 0) len = (size_t)sutra_utf8_put(t[i].cp, buf); /* plain: the character alone */
            int all = 1;
            for (size_t q = 0; q < len && all; q++) all = b->byte_ids[(unsigned char)buf[q]] >= 0;
            if (all) {
                /* HF adds these without first flushing a pending unk. */
                for (size_t q = 0; q < len; q++) add_symbol(&ws, b->byte_ids[(unsigned char)buf[q]], 1);
                continue;
            }
        }
        if (b->unk_token) {
            uint32_t clen = pos[i + 1] - pos[i];
            if (unk >= 0 && b->fuse_unk) {
                unk_len += clen;
                continue;
            }
            if (b->unk_id < 0) return unk_missing(b, err, errcap);
            if (unk >= 0) add_symbol(&ws, unk, unk_len);
            unk = b->unk_id;
            unk_len = clen;
        }
    }
    if (unk >= 0) add_symbol(&ws, unk, unk_len);
    if (ws.n == 0) return SUTRA_OK;
    int32_t *sym = ws.sym;
    sym[S_SIZE * (ws.n - 1) + S_NEXT] = -1;

    /* merge_all. Short words (nearly all) keep the merge of each adjacent pair in heap[] by left
     * symbol and scan it for the best, which needs no re-validation; long ones use the queue so
     * that a hostile word stays O(n log n). Both take the lowest rank, leftmost on ties. */
    if (ws.n <= SHORT_WORD) {
        uint64_t *pm = w->heap; /* merge of (i, next(i)), UINT64_MAX: none */
        for (size_t i = 0; i + 1 < ws.n; i++) pm[i] = merge_find(b, sym[S_SIZE * i + S_ID], sym[S_SIZE * (i + 1) + S_ID]);
        pm[ws.n - 1] = UINT64_MAX;
        for (;;) {
            /* Removed symbols hold UINT64_MAX, so a plain scan in index (= word) order works. */
            uint64_t best = UINT64_MAX;
            int32_t p = -1;
            for (size_t i = 0; i + 1 < ws.n; i++)
                if (pm[i] < best) { /* strictly: the leftmost of equal ranks wins */
                    best = pm[i];
                    p = (int32_t)i;
                }
            if (p < 0) break;
            int32_t *sp = sym + S_SIZE * (size_t)p;
            int32_t *sq = sym + S_SIZE * (size_t)sp[S_NEXT];
            sp[S_ID] = (int32_t)(best & 0xFFFFFFFFu);
            sp[S_LEN] += sq[S_LEN];
            pm[sp[S_NEXT]] = UINT64_MAX;
            sp[S_NEXT] = sq[S_NEXT];
            sq[S_ID] = -1;
            if (sp[S_NEXT] >= 0) {
                sym[S_SIZE * (size_t)sp[S_NEXT] + S_PREV] = p;
                pm[p] = merge_find(b, sp[S_ID], sym[S_SIZE * (size_t)sp[S_NEXT] + S_ID]);
            } else {
                pm[p] = UINT64_MAX;
            }
            if (sp[S_PREV] >= 0) pm[sp[S_PREV]] = merge_find(b, sym[S_SIZE * (size_t)sp[S_PREV] + S_ID], sp[S_ID]);
        }
        goto emit;
    }
    uint64_t *heap = w->heap;
    size_t hn = 0;
    for (size_t i = 0; i + 1 < ws.n; i++) {
        uint64_t m = merge_find(b, sym[S_SIZE * i + S_ID], sym[S_SIZE * (i + 1) + S_ID]);
        if (m != UINT64_MAX) heap_push(heap, &hn, (m >> 32) << 32 | i);
    }
    while (hn > 0) {
        uint64_t top = heap_pop(heap, &hn);
        size_t p = (size_t)(top & 0xFFFFFFFFu);
        uint64_t rank = top >> 32;
        int32_t *sp = sym + S_SIZE * p;
        if (sp[S_ID] < 0 || sp[S_NEXT] < 0) continue;
        int32_t *sq = sym + S_SIZE * (size_t)sp[S_NEXT];
        uint64_t m = merge_find(b, sp[S_ID], sq[S_ID]);
        if (m == UINT64_MAX || (m >> 32) != rank) continue; /* the pair changed since it was queued */
        sp[S_ID] = (int32_t)(m & 0xFFFFFFFFu);
        sp[S_LEN] += sq[S_LEN];
        sp[S_NEXT] = sq[S_NEXT];
        sq[S_ID] = -1;
        if (sp[S_NEXT] >= 0) sym[S_SIZE * (size_t)sp[S_NEXT] + S_PREV] = (int32_t)p;
        if (sp[S_PREV] >= 0) {
            int32_t *sl = sym + S_SIZE * (size_t)sp[S_PREV];
            uint64_t pm = merge_find(b, sl[S_ID], sp[S_ID]);
            if (pm != UINT64_MAX) heap_push(heap, &hn, (pm >> 32) << 32 | (uint64_t)sp[S_PREV]);
        }
        if (sp[S_NEXT] >= 0) {
            uint64_t nm = merge_find(b, sp[S_ID], sym[S_SIZE * (size_t)sp[S_NEXT] + S_ID]);
            if (nm != UINT64_MAX) heap_push(heap, &hn, (nm >> 32) << 32 | p);
        }
    }
emit:;
    /* Byte places to characters: c walks forward with the symbols. A byte-fallback token of a
     * prefixed or suffixed character can count more bytes than the word has; it is clamped to the
     * last character. */
    uint32_t at = 0;
    size_t c = 0;
    for (int32_t i = 0; i >= 0 && !sink->full; i = sym[S_SIZE * (size_t)i + S_NEXT]) {
        const int32_t *s = sym + S_SIZE * (size_t)i;
        while (c + 1 < n && pos[c + 1] <= at) c++;
        int32_t start = t[c].start;
        at += (uint32_t)s[S_LEN];
        size_t d = c;
        while (d + 1 < n && pos[d + 1] <= at - 1) d++;
        if (!sutra_sink_push(sink, s[S_ID], start, t[d].end, 0))
            return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the encoding");
    }
    return SUTRA_OK;
}
