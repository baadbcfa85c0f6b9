/*
 * tok_internal.h - the pieces a tokenizer is assembled from, shared by the files of
 * src/tokenizer/: a string->id vocabulary, the normalizer, the pre-tokenizer, the model, the
 * added tokens and the post-processor template, and the scratch buffers of one encode call.
 *
 * Rules: the pipeline is HF's: added tokens are split out of the raw text, the rest is
 * normalized, pre-tokenized into words, and each word is cut into ids by the model; every stage
 * works on arrays of code points that carry the byte span of the original text they came from.
 * Each stage is a tagged kind with its own file, so that Unigram / BPE, Precompiled or Metaspace
 * are new kinds, not rewrites. Components are immutable once loaded; all per-call state lives in
 * sutra_tok_work.
 */
#ifndef SUTRA_TOK_INTERNAL_H
#define SUTRA_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"
#include "util/common.h"

/* One code point of a working text and the byte span [start, end) of the original text it comes
 * from (a character produced by normalization carries the span of the character it replaced). */
typedef struct sutra_tchar {
    uint32_t cp;
    int32_t start, end;
} sutra_tchar;

typedef struct sutra_tbuf {
    sutra_tchar *c;
    size_t n, cap;
} sutra_tbuf;

int sutra_tbuf_reserve(sutra_tbuf *b, size_t cap); /* 0 on allocation failure */
void sutra_tbuf_free(sutra_tbuf *b);
static inline int sutra_tbuf_push(sutra_tbuf *b, uint32_t cp, int32_t start, int32_t end) {
    if (b->n == b->cap && !sutra_tbuf_reserve(b, b->n + 1)) return 0;
    b->c[b->n].cp = cp;
    b->c[b->n].start = start;
    b->c[b->n].end = end;
    b->n++;
    return 1;
}

/* ---- vocabulary: token string <-> id (vocab.c) ---------------------------------------------- */

/* Ids are dense in [0, n_ids); a string maps to one id and an id to at most one string. */
typedef struct sutra_vocab {
    char *strs;          /* every token, each followed by a NUL */
    size_t strs_len, strs_cap;
    uint64_t *str_at;    /* per id: offset into strs << 24 | length, or UINT64_MAX when unset */
    int32_t n_ids;
    int32_t *slots;      /* open-addressing hash: id or -1 */
    uint32_t *slot_hash; /* the hash of slots[i], to skip most string compares */
    size_t mask;         /* slot count - 1 (a power of two, at least twice n_ids) */
    size_t n_set;
    size_t max_len;      /* bytes of the longest token */
} sutra_vocab;

#define SUTRA_VOCAB_MAX_TOKEN_LEN ((size_t)1 << 24)

sutra_status sutra_vocab_init(sutra_vocab *v, int32_t n_ids, char *err, size_t errcap);
/* Sets id's string. Returns SUTRA_OK, or SUTRA_ERR_FORMAT (message names the token) when the
 * string or the id is already taken or the id is out of range. */
sutra_status sutra_vocab_set(sutra_vocab *v, int32_t id, const char *s, size_t len, char *err, size_t errcap);
int32_t sutra_vocab_find(const sutra_vocab *v, const char *s, size_t len); /* -1 if absent */
/* The key hash (FNV-1a), exposed so that a caller can hash all prefixes of a string in one pass:
 * h = SUTRA_VOCAB_HASH_SEED, then h = sutra_vocab_hash_step(h, byte) for each byte. */
#define SUTRA_VOCAB_HASH_SEED 2166136261u
static inline uint32_t sutra_vocab_hash_step(uint32_t h, unsigned char b) {
    return (h ^ b) * 16777619u;
}
/* sutra_vocab_find with the hash of s[0..len) already known. */
int32_t sutra_vocab_find_hashed(const sutra_vocab *v, const char *s, size_t len, uint32_t h);
const char *sutra_vocab_str(const sutra_vocab *v, int32_t id, size_t *len); /* NULL if unset */
void sutra_vocab_free(sutra_vocab *v);

/* ---- normalizer (normalizer.c) -------------------------------------------------------------- */

typedef enum sutra_norm_kind {
    SUTRA_NORM_NONE = 0,
    SUTRA_NORM_BERT, /* HF BertNormalizer */
} sutra_norm_kind;

typedef struct sutra_normalizer {
    sutra_norm_kind kind;
    int clean_text, handle_chinese_chars, strip_accents, lowercase;
} sutra_normalizer;

/* Appends the normalized form of in[0..n) to out (scratch: working space, contents undefined
 * after); 0 on allocation failure. */
int sutra_normalizer_run(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, sutra_tbuf *out,
                         sutra_tbuf *scratch);

/* ---- pre-tokenizer (pretokenizer.c) --------------------------------------------------------- */

typedef enum sutra_pretok_kind {
    SUTRA_PRETOK_NONE = 0, /* the whole text is one word */
    SUTRA_PRETOK_BERT,     /* HF BertPreTokenizer */
} sutra_pretok_kind;

typedef struct sutra_pretokenizer {
    sutra_pretok_kind kind;
} sutra_pretokenizer;

/* Finds the next word of t[*pos..n): sets it to t[*ws..*we), advances *pos and returns 1; returns
 * 0 when no word is left. Start with *pos = 0. */
int sutra_pretok_next(const sutra_pretokenizer *pt, const sutra_tchar *t, size_t n, size_t *pos, size_t *ws,
                      size_t *we);

/* ---- output of one encode call -------------------------------------------------------------- */

typedef struct sutra_tok_sink {
    sutra_encoding *enc;
    int offsets;  /* fill enc->starts/ends */
    size_t limit; /* content tokens still allowed by truncation (SIZE_MAX: no limit) */
    int full;     /* the limit was reached: stop producing tokens */
} sutra_tok_sink;

int sutra_sink_reserve(sutra_tok_sink *s, size_t extra); /* 0 on allocation failure */
/* Appends one id (content tokens count against limit, specials do not). 0 on allocation failure. */
int sutra_sink_push(sutra_tok_sink *s, int32_t id, int32_t start, int32_t end, int special);

/* ---- per-call scratch ----------------------------------------------------------------------- */

typedef struct sutra_tok_work {
    sutra_tbuf orig;   /* the input text, decoded */
    sutra_tbuf norm;   /* one normalized segment */
    sutra_tbuf spare;  /* the normalizer's scratch */
    char *bytes;       /* a word's UTF-8, with room for the subword prefix in front */
    size_t bytes_cap;
    uint32_t *pos;     /* byte offset of each character of the word in bytes */
    int32_t *piece;    /* per piece: id, first char, end char */
    uint32_t *hash;    /* hash of each candidate piece from the current start */
    size_t pos_cap, piece_cap, hash_cap;
} sutra_tok_work;

void sutra_tok_work_free(sutra_tok_work *w);

/* ---- models (wordpiece.c) ------------------------------------------------------------------- */

typedef enum sutra_model_kind {
    SUTRA_MODEL_NONE = 0,
    SUTRA_MODEL_WORDPIECE,
} sutra_model_kind;

typedef struct sutra_wordpiece {
    sutra_vocab vocab;
    char *unk_token;
    int32_t unk_id; /* -1 when unk_token is not in the vocabulary (an error only once needed) */
    char *prefix;   /* continuing_subword_prefix, e.g. "##" */
    size_t prefix_len;
    size_t max_chars; /* max_input_chars_per_word */
} sutra_wordpiece;

/* Looks up unk_token after the vocabulary is filled. */
void sutra_wordpiece_finish(sutra_wordpiece *wp);
void sutra_wordpiece_free(sutra_wordpiece *wp);
/* Appends the ids of one word t[0..n) to sink. */
sutra_status sutra_wordpiece_encode(const sutra_wordpiece *wp, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                                    sutra_tok_sink *sink, char *err, size_t errcap);

/* ---- added tokens (added.c) ----------------------------------------------------------------- */

typedef struct sutra_added_token {
    char *content;
    size_t len;
    uint32_t *pat; /* the code points matched: the content's, normalized when `normalized` */
    size_t pat_n;
    int32_t id;
    int single_word, lstrip, rstrip, normalized, special;
} sutra_added_token;

typedef struct sutra_added_vocab {
    sutra_added_token *tok;
    size_t n, cap;
    /* Per pass (0: raw text, 1: normalized text): tokens whose pattern starts with a code point of
     * low byte b are listed from head[pass][b] through next[]; -1 ends a list. */
    int32_t head[2][256];
    int32_t *next;
    int has[2];
} sutra_added_vocab;

void sutra_added_free(sutra_added_vocab *av);
/* Computes every token's pattern (normalizing the content of normalized tokens with nz) and the
 * lookup lists; call once all tokens are in. */
sutra_status sutra_added_build(sutra_added_vocab *av, const sutra_normalizer *nz, char *err, size_t errcap);
/* Finds the next added token in t[from..n) for pass 0 (raw) or 1 (normalized), applying
 * single_word, lstrip and rstrip as HF does: on success returns 1 with the match t[*ms..*me)
 * (whitespace taken by lstrip/rstrip included) and its id. */
int sutra_added_find(const sutra_added_vocab *av, int pass, const sutra_tchar *t, size_t n, size_t from,
                     size_t *ms, size_t *me, int32_t *id);

/* ---- the tokenizer -------------------------------------------------------------------------- */

struct sutra_tokenizer {
    sutra_normalizer normalizer;
    sutra_pretokenizer pretok;
    sutra_model_kind model;
    sutra_wordpiece wordpiece;
    sutra_added_vocab added;
    int32_t *tmpl_ids; /* post-processor: n_pre ids before the sequence, n_post after */
    size_t n_pre, n_post;
    int32_t vocab_size; /* 1 + the largest id any token has */
};

sutra_tokenizer *sutra_tok_alloc(void);
/* Adds a token to the added vocabulary with HF's id rule (an existing added token or model token
 * of that content keeps its id, a new one gets the next id after everything else); call after
 * the model is loaded. */
sutra_status sutra_tok_add_token(sutra_tokenizer *tok, const char *content, size_t len, int single_word, int lstrip,
                                 int rstrip, int normalized, int special, char *err, size_t errcap);
/* Finishes loading: patterns of the added tokens, vocab_size, and range checks of the template
 * ids. */
sutra_status sutra_tok_finish(sutra_tokenizer *tok, char *err, size_t errcap);
/* Model vocabulary lookups (no added tokens). */
int32_t sutra_tok_model_find(const sutra_tokenizer *tok, const char *s, size_t len);
int32_t sutra_tok_model_size(const sutra_tokenizer *tok);

/* vocab.txt loader (load_vocab_txt.c); dir holds vocab.txt and maybe tokenizer_config.json. */
sutra_status sutra_tok_load_vocab_txt(const char *dir, sutra_tokenizer **out, char *err, size_t errcap);

#endif /* SUTRA_TOK_INTERNAL_H */
