/*
 * vocab.c - token string <-> id: one string arena, an id-indexed table into it, and an
 * open-addressing hash (linear probing) sized at init to at most half full.
 *
 * Rules: immutable after loading, so lookups need no locks; every token string is kept
 * NUL-terminated so that id_to_token can hand it out directly.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* FNV-1a: short keys (a word piece is a few bytes), no alignment needs, good enough spread for a
 * table kept at most half full, and prefix hashes come for free (see WordPiece). */
static uint32_t hash_bytes(const char *s, size_t len) {
    uint32_t h = SUTRA_VOCAB_HASH_SEED;
    for (size_t i = 0; i < len; i++) h = sutra_vocab_hash_step(h, (unsigned char)s[i]);
    return h;
}

sutra_status sutra_vocab_init(sutra_vocab *v, int32_t n_ids, char *err, size_t errcap) {
    memset(v, 0, sizeof *v);
    if (n_ids < 0 || n_ids > (1 << 28))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "vocabulary of %d tokens is out of range", (int)n_ids);
    size_t slots = 16;
    while (slots < 2 * (size_t)n_ids) slots *= 2;
    v->n_ids = n_ids;
    v->mask = slots - 1;
    v->str_at = malloc(((size_t)n_ids + 1) * sizeof *v->str_at);
    v->slots = malloc(slots * sizeof *v->slots);
    v->slot_hash = malloc(slots * sizeof *v->slot_hash);
    if (!v->str_at || !v->slots || !v->slot_hash) {
        sutra_vocab_free(v);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate a vocabulary of %d tokens",
                          (int)n_ids);
    }
    for (int32_t i = 0; i < n_ids; i++) v->str_at[i] = UINT64_MAX;
    for (size_t i = 0; i < slots; i++) v->slots[i] = -1;
    return SUTRA_OK;
}

sutra_status sutra_vocab_set(sutra_vocab *v, int32_t id, const char *s, size_t len, char *err, size_t errcap) {
    if (id < 0 || id >= v->n_ids)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "token '%.*s' has id %d, outside [0, %d)",
                          (int)(len > 64 ? 64 : len), s, (int)id, (int)v->n_ids);
    if (len >= SUTRA_VOCAB_MAX_TOKEN_LEN)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "token with id %d is %zu bytes long", (int)id, len);
    if (v->str_at[id] != UINT64_MAX) {
        size_t ol = 0;
        const char *old = sutra_vocab_str(v, id, &ol);
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "tokens '%.*s' and '%.*s' share id %d",
                          (int)(ol > 64 ? 64 : ol), old, (int)(len > 64 ? 64 : len), s, (int)id);
    }
    uint32_t h = hash_bytes(s, len);
    size_t i = h & v->mask;
    while (v->slots[i] >= 0) {
        size_t ol = 0;
        const char *old = sutra_vocab_str(v, v->slots[i], &ol);
        if (v->slot_hash[i] == h && ol == len && memcmp(old, s, len) == 0)
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "token '%.*s' appears twice (ids %d and %d)",
                              (int)(len > 64 ? 64 : len), s, (int)v->slots[i], (int)id);
        i = (i + 1) & v->mask;
    }
    if (v->strs_len + len + 1 > v->strs_cap) {
        size_t nc = v->strs_cap ? v->strs_cap : 4096;
        while (nc < v->strs_len + len + 1) {
            if (nc > SIZE_MAX / 2) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "vocabulary too large");
            nc *= 2;
        }
        char *ns = realloc(v->strs, nc);
        if (!ns) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the vocabulary strings");
        v->strs = ns;
        v->strs_cap = nc;
    }
    memcpy(v->strs + v->strs_len, s, len);
    v->strs[v->strs_len + len] = '\0';
    v->str_at[id] = ((uint64_t)v->strs_len << 24) | (uint64_t)len;
    v->strs_len += len + 1;
    v->slots[i] = id;
    v->slot_hash[i] = h;
    v->n_set++;
    if (len > v->max_len) v->max_len = len;
    return SUTRA_OK;
}

int32_t sutra_vocab_find(const sutra_vocab *v, const char *s, size_t len) {
    return sutra_vocab_find_hashed(v, s, len, hash_bytes(s, len));
}

int32_t sutra_vocab_find_hashed(const sutra_vocab *v, const char *s, size_t len, uint32_t h) {
    if (!v->slots) return -1;
    size_t i = h & v->mask;
    for (;;) {
        int32_t id = v->slots[i];
        if (id < 0) return -1;
        if (v->slot_hash[i] == h) {
            uint64_t at = v->str_at[id];
            if ((at & 0xFFFFFF) == len && memcmp(v->strs + (at >> 24), s, len) == 0) return id;
        }
        i = (i + 1) & v->mask;
    }
}

const char *sutra_vocab_str(const sutra_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->n_ids || v->str_at[id] == UINT64_MAX) return NULL;
    if (len) *len = (size_t)(v->str_at[id] & 0xFFFFFF);
    return v->strs + (v->str_at[id] >> 24);
}

void sutra_vocab_free(sutra_vocab *v) {
    free(v->strs);
    free(v->str_at);
    free(v->slots);
    free(v->slot_hash);
    memset(v, 0, sizeof *v);
}
