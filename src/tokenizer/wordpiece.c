/*
 * wordpiece.c - the WordPiece model: greedy longest-match-first from the start of the word, the
 * continuation pieces looked up with their prefix ("##"); a word that cannot be cut completely,
 * or that has more than max_input_chars_per_word characters, is one unk_token.
 *
 * Rules: as HF's WordPiece::tokenize, whose pieces are byte ranges on character boundaries of
 * the normalized word; a piece's span is from its first character's original start to its last
 * character's original end. Candidates longer than the longest vocabulary entry are never
 * looked up, and all candidates from one start are hashed in a single forward pass, so a word
 * costs O(chars x longest token) at worst.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

void sutra_wordpiece_finish(sutra_wordpiece *wp) {
    wp->unk_id = wp->unk_token ? sutra_vocab_find(&wp->vocab, wp->unk_token, strlen(wp->unk_token)) : -1;
}

void sutra_wordpiece_free(sutra_wordpiece *wp) {
    sutra_vocab_free(&wp->vocab);
    free(wp->unk_token);
    free(wp->prefix);
    memset(wp, 0, sizeof *wp);
}

/* Grows buffer p (of *cap elements) to hold need elements; returns the buffer, NULL on failure
 * (p is then still valid and owned by the caller). */
static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return NULL;
        nc *= 2;
    }
    void *q = realloc(p, nc * elem);
    if (q) *cap = nc;
    return q;
}

static sutra_status push_unk(const sutra_wordpiece *wp, const sutra_tchar *t, size_t n, sutra_tok_sink *sink,
                             char *err, size_t errcap) {
    if (wp->unk_id < 0)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "WordPiece: unk_token '%s' is not in the vocabulary",
                          wp->unk_token ? wp->unk_token : "");
    if (!sutra_sink_push(sink, wp->unk_id, t[0].start, t[n - 1].end, 0))
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the encoding");
    return SUTRA_OK;
}

sutra_status sutra_wordpiece_encode(const sutra_wordpiece *wp, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                                    sutra_tok_sink *sink, char *err, size_t errcap) {
    if (n == 0) return SUTRA_OK;
    if (n > wp->max_chars) return push_unk(wp, t, n, sink, err, errcap);

    size_t plen = wp->prefix_len;
    char *bytes = grow(w->bytes, &w->bytes_cap, plen + 4 * n, 1);
    if (bytes) w->bytes = bytes;
    uint32_t *pos = bytes ? grow(w->pos, &w->pos_cap, n + 1, sizeof *w->pos) : NULL;
    if (pos) w->pos = pos;
    int32_t *piece = pos ? grow(w->piece, &w->piece_cap, 3 * n, sizeof *w->piece) : NULL;
    if (piece) w->piece = piece;
    uint32_t *hash = piece ? grow(w->hash, &w->hash_cap, n + 1, sizeof *w->hash) : NULL;
    if (!hash) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate a word of %zu characters", n);
    w->hash = hash;

    /* The word's UTF-8 sits after plen spare bytes: the prefix of a continuation piece is copied
     * just before the piece, over characters already consumed. */
    char *word = w->bytes + plen;
    uint32_t at = 0;
    for (size_t i = 0; i < n; i++) {
        w->pos[i] = at;
        at += (uint32_t)sutra_utf8_put(t[i].cp, word + at);
    }
    w->pos[n] = at;

    size_t npieces = 0, s = 0;
    size_t maxlen = wp->vocab.max_len;
    while (s < n) {
        const char *key;
        size_t extra;
        if (s == 0) {
            key = word;
            extra = 0;
        } else {
            memcpy(word + w->pos[s] - plen, wp->prefix, plen);
            key = word + w->pos[s] - plen;
            extra = plen;
        }
        /* Hash every candidate key[0..extra + pos[e] - pos[s]) that fits the longest token, then
         * look them up longest first. */
        uint32_t h = SUTRA_VOCAB_HASH_SEED;
        size_t kb = 0, e = s;
        for (; kb < extra; kb++) h = sutra_vocab_hash_step(h, (unsigned char)key[kb]);
        while (e < n && extra + w->pos[e + 1] - w->pos[s] <= maxlen) {
            for (; kb < extra + w->pos[e + 1] - w->pos[s]; kb++) h = sutra_vocab_hash_step(h, (unsigned char)key[kb]);
            e++;
            w->hash[e - s] = h;
        }
        int32_t id = -1;
        for (; e > s; e--) {
            id = sutra_vocab_find_hashed(&wp->vocab, key, extra + w->pos[e] - w->pos[s], w->hash[e - s]);
            if (id >= 0) break;
        }
        if (id < 0) return push_unk(wp, t, n, sink, err, errcap);
        w->piece[3 * npieces] = id;
        w->piece[3 * npieces + 1] = (int32_t)s;
        w->piece[3 * npieces + 2] = (int32_t)e;
        npieces++;
        s = e;
    }
    for (size_t p = 0; p < npieces && !sink->full; p++) {
        size_t a = (size_t)w->piece[3 * p + 1], b = (size_t)w->piece[3 * p + 2];
        if (!sutra_sink_push(sink, w->piece[3 * p], t[a].start, t[b - 1].end, 0))
            return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the encoding");
    }
    return SUTRA_OK;
}
