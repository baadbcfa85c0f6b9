/*
 * unigram.c - the Unigram model (SentencePiece's, as HF's Unigram::encode_optimized runs it):
 * the segmentation of a word into vocabulary pieces with the highest total score.
 *
 * Rules: one forward pass over the word's characters; at each start, every piece that is a
 * prefix of the rest (a byte trie walk, shortest first) proposes the end it reaches, and an end
 * keeps the first proposal with the strictly highest score (scores are doubles summed in HF's
 * order, so ties break the same way); a start with no one-character piece also proposes unk
 * with score min_score - 10. The best path is read back from the end, consecutive unk pieces
 * fused into one, and each resulting string looked up again: found, its id; not found (an unk
 * run), the <0xXX> byte pieces when byte_fallback has them all, else unk_id. A token's span runs
 * from its first character's start to its last character's end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

#define UNK_PENALTY 10.0

static inline size_t edge_slot(uint32_t key, size_t mask) {
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* The child of node for byte b, or -1. */
static inline int32_t trie_child(const sutra_unigram *u, int32_t node, unsigned char b) {
    uint32_t key = ((uint32_t)node << 8 | b) + 1;
    size_t i = edge_slot(key, u->edge_mask);
    for (;;) {
        uint32_t k = u->edges[2 * i];
        if (k == key) return (int32_t)u->edges[2 * i + 1];
        if (k == 0) return -1;
        i = (i + 1) & u->edge_mask;
    }
}

void sutra_unigram_free(sutra_unigram *u) {
    sutra_vocab_free(&u->vocab);
    free(u->scores);
    free(u->edges);
    free(u->node_piece);
    memset(u, 0, sizeof *u);
}

#define MAX_NODES ((size_t)1 << 24)

/* Doubles the edge table (rehashing every edge). */
static int grow_edges(sutra_unigram *u) {
    size_t slots = 2 * (u->edge_mask + 1);
    uint32_t *e = calloc(2 * slots, sizeof *e);
    if (!e) return 0;
    for (size_t i = 0; i <= u->edge_mask; i++) {
        uint32_t k = u->edges[2 * i];
        if (!k) continue;
        size_t at = edge_slot(k, slots - 1);
        while (e[2 * at]) at = (at + 1) & (slots - 1);
        e[2 * at] = k;
        e[2 * at + 1] = u->edges[2 * i + 1];
    }
    free(u->edges);
    u->edges = e;
    u->edge_mask = slots - 1;
    return 1;
}

/* The child of node for byte b, created if absent; -1 on allocation failure or too many nodes. */
static int32_t add_child(sutra_unigram *u, int32_t node, unsigned char b) {
    uint32_t key = ((uint32_t)node << 8 | b) + 1;
    size_t at = edge_slot(key, u->edge_mask);
    while (u->edges[2 * at] != 0 && u->edges[2 * at] != key) at = (at + 1) & u->edge_mask;
    if (u->edges[2 * at] == key) return (int32_t)u->edges[2 * at + 1];
    if (u->n_nodes + 1 >= MAX_NODES) return -1;
    if (2 * (u->n_nodes + 1) > u->edge_mask + 1) {
        if (!grow_edges(u)) return -1;
        return add_child(u, node, b);
    }
    if (u->n_nodes == u->node_cap) {
        size_t nc = 2 * u->node_cap;
        int32_t *np = realloc(u->node_piece, nc * sizeof *np);
        if (!np) return -1;
        u->node_piece = np;
        u->node_cap = nc;
    }
    int32_t child = (int32_t)u->n_nodes++;
    u->node_piece[child] = -1;
    u->edges[2 * at] = key;
    u->edges[2 * at + 1] = (uint32_t)child;
    return child;
}

sutra_status sutra_unigram_finish(sutra_unigram *u, char *err, size_t errcap) {
    u->min_score = INFINITY;
    for (int32_t id = 0; id < u->vocab.n_ids; id++) {
        if (!sutra_vocab_str(&u->vocab, id, NULL))
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "model.vocab: id %d has no piece", (int)id);
        if (u->scores[id] < u->min_score) u->min_score = u->scores[id];
    }
    size_t slots = 1024;
    u->node_cap = 512;
    u->edges = calloc(2 * slots, sizeof *u->edges);
    u->node_piece = malloc(u->node_cap * sizeof *u->node_piece);
    if (!u->edges || !u->node_piece) goto oom;
    u->edge_mask = slots - 1;
    u->n_nodes = 1;
    u->node_piece[0] = -1;
    for (int32_t id = 0; id < u->vocab.n_ids; id++) {
        size_t len = 0;
        const char *s = sutra_vocab_str(&u->vocab, id, &len);
        int32_t node = 0;
        for (size_t i = 0; i < len && node >= 0; i++) node = add_child(u, node, (unsigned char)s[i]);
        if (node < 0) {
            if (u->n_nodes + 1 >= MAX_NODES)
                return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "model.vocab: the pieces need more than %zu trie "
                                  "nodes", MAX_NODES);
            goto oom;
        }
        if (len > 0) u->node_piece[node] = id;
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        u->byte_ids[b] = sutra_vocab_find(&u->vocab, name, 6);
    }
    if (u->unk_id >= u->vocab.n_ids)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "model.unk_id %d is outside the vocabulary of %d pieces",
                          (int)u->unk_id, (int)u->vocab.n_ids);
    return SUTRA_OK;
oom:
    return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate the trie of %d pieces",
                      (int)u->vocab.n_ids);
}

static sutra_status missing_unk(char *err, size_t errcap) {
    return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "Unigram: a character has no piece and the model has no unk_id");
}

/* Appends one token covering characters [a, b) of the word. */
static sutra_status emit(const sutra_unigram *u, const sutra_tchar *t, const char *word, const uint32_t *pos,
                         size_t a, size_t b, int32_t id, int lookup, sutra_tok_sink *sink, char *err, size_t errcap) {
    int32_t s = t[a].start, e = t[b - 1].end;
    if (lookup) {
        id = sutra_vocab_find(&u->vocab, word + pos[a], pos[b] - pos[a]);
        if (id < 0 && u->byte_fallback) {
            int all = 1;
            for (uint32_t i = pos[a]; i < pos[b] && all; i++) all = u->byte_ids[(unsigned char)word[i]] >= 0;
            if (all) {
                for (uint32_t i = pos[a]; i < pos[b]; i++)
                    if (!sutra_sink_push(sink, u->byte_ids[(unsigned char)word[i]], s, e, 0)) goto oom;
                return SUTRA_OK;
            }
        }
        if (id < 0) id = u->unk_id;
        if (id < 0) return missing_unk(err, errcap);
    }
    if (!sutra_sink_push(sink, id, s, e, 0)) goto oom;
    return SUTRA_OK;
oom:
    return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the encoding");
}

sutra_status sutra_unigram_encode(const sutra_unigram *u, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                                  sutra_tok_sink *sink, char *err, size_t errcap) {
    if (n == 0) return SUTRA_OK;
    if (!sutra_grow((void **)&w->bytes, &w->bytes_cap, 4 * n + 1, 1) ||
        !sutra_grow((void **)&w->pos, &w->pos_cap, n + 1, sizeof *w->pos) ||
        !sutra_grow((void **)&w->score, &w->score_cap, n + 1, sizeof *w->score) ||
        !sutra_grow((void **)&w->sym, &w->sym_cap, 4 * (n + 1), sizeof *w->sym))
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate a word of %zu characters", n);
    char *word = w->bytes;
    uint32_t *pos = w->pos;
    uint32_t at = 0;
    for (size_t i = 0; i < n; i++) {
        pos[i] = at;
        at += (uint32_t)sutra_utf8_put(t[i].cp, word + at);
    }
    pos[n] = at;

    /* Per end k: best score, start and id (from = -1: nothing reaches k yet). */
    double *best = w->score;
    int32_t *from = w->sym, *best_id = w->sym + (n + 1);
    for (size_t k = 0; k <= n; k++) from[k] = -1;
    best[0] = 0.0;
    double unk_score = u->min_score - UNK_PENALTY;
    for (size_t s = 0; s < n; s++) {
        double here = best[s];
        int single = 0;
        int32_t node = 0;
        for (size_t e = s; e < n && node >= 0; e++) {
            for (uint32_t b = pos[e]; b < pos[e + 1] && node >= 0; b++) node = trie_child(u, node, (unsigned char)word[b]);
            if (node < 0) break;
            int32_t id = u->node_piece[node];
            if (id < 0) continue;
            double cand = u->scores[id] + here;
            if (from[e + 1] < 0 || cand > best[e + 1]) {
                best[e + 1] = cand;
                from[e + 1] = (int32_t)s;
                best_id[e + 1] = id;
            }
            if (e == s) single = 1;
        }
        if (!single) {
            if (u->unk_id < 0) return missing_unk(err, errcap);
            double cand = unk_score + here;
            if (from[s + 1] < 0 || cand > best[s + 1]) {
                best[s + 1] = cand;
                from[s + 1] = (int32_t)s;
                best_id[s + 1] = u->unk_id;
            }
        }
    }

    /* Back from the end: the path's ends, reversed into path[0..np) as start positions. */
    int32_t *path = w->sym + 2 * (n + 1);
    size_t np = 0;
    for (size_t e = n; e > 0; e = (size_t)from[e]) path[np++] = (int32_t)e;
    /* path holds ends, last first; walk it forwards fusing runs of unk. */
    size_t a = 0;
    for (size_t q = np; q-- > 0 && !sink->full;) {
        size_t e = (size_t)path[q];
        int32_t id = best_id[e];
        if (id == u->unk_id) {
            size_t run_end = e;
            while (q > 0 && best_id[path[q - 1]] == u->unk_id) run_end = (size_t)path[--q];
            sutra_status st = emit(u, t, word, pos, a, run_end, id, 1, sink, err, errcap);
            if (st != SUTRA_OK) return st;
            a = run_end;
            continue;
        }
        sutra_status st = emit(u, t, word, pos, a, e, id, 0, sink, err, errcap);
        if (st != SUTRA_OK) return st;
        a = e;
    }
    return SUTRA_OK;
}
