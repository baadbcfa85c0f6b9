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
    SUTRA_NORM_BERT,        /* HF BertNormalizer */
    SUTRA_NORM_PRECOMPILED, /* SentencePiece's precompiled charsmap (precompiled.c) */
    SUTRA_NORM_NFC,         /* (nfc.c) */
    SUTRA_NORM_NFD,         /* (nfc.c) */
    SUTRA_NORM_SEQUENCE,    /* steps[0..n_steps) in turn (norm_ext.c, as the kinds below) */
    SUTRA_NORM_REPLACE,     /* a literal string or a one-atom regex, by content */
    SUTRA_NORM_STRIP,       /* whitespace at the ends */
    SUTRA_NORM_PREPEND,     /* content before non-empty text */
    SUTRA_NORM_LOWERCASE,
} sutra_norm_kind;

typedef struct sutra_charsmap sutra_charsmap;

/* What a Replace normalizer looks for: a literal string (the code points pat[0..pat_n)), or a
 * run of at least rep_min and at most rep_max (0: no limit) characters of one class. */
typedef enum sutra_replace_kind {
    SUTRA_REPLACE_LITERAL = 0,
    SUTRA_REPLACE_RUN_CHAR,  /* runs of the code point pat[0] */
    SUTRA_REPLACE_RUN_SPACE, /* runs of \s (White_Space) */
} sutra_replace_kind;

typedef struct sutra_normalizer {
    sutra_norm_kind kind;
    int clean_text, handle_chinese_chars, strip_accents, lowercase; /* BertNormalizer */
    sutra_charsmap *charsmap;                                       /* Precompiled (owned) */
    struct sutra_normalizer *steps;                                 /* Sequence (owned) */
    size_t n_steps;
    sutra_replace_kind replace;  /* Replace */
    uint32_t *pat, *content;     /* Replace: pattern and content; Prepend: content (owned) */
    size_t pat_n, content_n;
    size_t rep_min, rep_max;
    int strip_left, strip_right; /* Strip */
} sutra_normalizer;

/* Appends the normalized form of in[0..n) to out (scratch: working space, contents undefined
 * after); 0 on allocation failure. Handles SUTRA_NORM_NONE and SUTRA_NORM_BERT only; the
 * encoder calls sutra_norm_apply, which takes every kind. */
int sutra_normalizer_run(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, sutra_tbuf *out,
                         sutra_tbuf *scratch);

/* Every kind (norm_ext.c): as sutra_normalizer_run. */
int sutra_norm_apply(const sutra_normalizer *nz, const sutra_tchar *in, size_t n, sutra_tbuf *out,
                     sutra_tbuf *scratch);
/* Whether nz is of a kind sutra_normalizer_run cannot run (anything but NONE and BERT). */
int sutra_norm_is_extended(const sutra_normalizer *nz);
/* Frees what a normalizer owns (not nz itself) and zeroes it. */
void sutra_normalizer_free(sutra_normalizer *nz);

/* HF's NormalizedString::transform: out gets new[k].cp for every k, with the span HF's alignment
 * rule gives it. new[k].start holds the change of the k-th character: <= 0 takes the span of the
 * next unconsumed character of old and consumes 1 - change of them; > 0 (inserted) takes the span
 * of the character consumed last (or (base, base) when none was). old has n_old characters. */
int sutra_transform_apply(const sutra_tchar *old, size_t n_old, int32_t base, const sutra_tchar *new_, size_t n_new,
                          sutra_tbuf *out);

/* ---- Precompiled (precompiled.c) ------------------------------------------------------------ */

/* Decodes standard base64 (padding required, no whitespace) into a malloc'd buffer. */
sutra_status sutra_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, char *err,
                                 size_t errcap);
/* Parses SentencePiece's precompiled charsmap (u32 LE trie size in bytes, the darts-clone double
 * array, then the NUL-separated replacement strings) and checks every trie node and string offset
 * reachable from the root, so that lookups cannot go out of bounds. */
sutra_status sutra_charsmap_parse(const uint8_t *data, size_t len, sutra_charsmap **out, char *err, size_t errcap);
void sutra_charsmap_free(sutra_charsmap *cm);
/* HF's Precompiled normalizer on in[0..n); base is the original offset of the segment start
 * (the span HF gives a character inserted before anything was consumed). */
int sutra_precompiled_run(const sutra_charsmap *cm, const sutra_tchar *in, size_t n, int32_t base, sutra_tbuf *out,
                          sutra_tbuf *scratch);

/* ---- NFC / NFD (nfc.c) ---------------------------------------------------------------------- */

/* HF's NFC (compose = 1) or NFD (compose = 0) with HF's alignments (base as for Precompiled). */
int sutra_nfc_run(const sutra_tchar *in, size_t n, int compose, int32_t base, sutra_tbuf *out, sutra_tbuf *scratch);

/* ---- pre-tokenizer (pretokenizer.c) --------------------------------------------------------- */

typedef enum sutra_pretok_kind {
    SUTRA_PRETOK_NONE = 0,        /* the whole text is one word */
    SUTRA_PRETOK_BERT,            /* HF BertPreTokenizer */
    SUTRA_PRETOK_WHITESPACE_SPLIT, /* split on whitespace, which is dropped (pretok_ext.c) */
    SUTRA_PRETOK_METASPACE,       /* ' ' -> replacement, prefix, split before each replacement */
    SUTRA_PRETOK_BYTELEVEL,       /* GPT-2 regex split, then each byte as one character */
    SUTRA_PRETOK_SEQUENCE,        /* steps[0..n_steps) in turn (never nested: flattened) */
    SUTRA_PRETOK_SPLIT,           /* Split by one of the known regex patterns, behavior Isolated */
} sutra_pretok_kind;

/* The Split patterns Sutra matches by hand (pretok_ext.c), recognised by their exact text. */
typedef enum sutra_split_pattern {
    SUTRA_SPLIT_GPT2 = 0, /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    SUTRA_SPLIT_QWEN2,    /* Qwen2 / Qwen2.5 / Qwen3: case-insensitive contractions, one digit at a time, */
    SUTRA_SPLIT_CL100K,   /* punctuation runs with their line breaks; cl100k / Llama 3: up to 3 digits */
} sutra_split_pattern;

typedef enum sutra_prepend_scheme {
    SUTRA_PREPEND_ALWAYS = 0,
    SUTRA_PREPEND_FIRST, /* only to a split that starts at byte 0 of the text */
    SUTRA_PREPEND_NEVER,
} sutra_prepend_scheme;

#define SUTRA_PRETOK_MAX_STEPS 8

typedef struct sutra_pretokenizer {
    sutra_pretok_kind kind;
    uint32_t replacement;         /* Metaspace */
    sutra_prepend_scheme prepend; /* Metaspace */
    int split;                    /* Metaspace */
    int add_prefix_space, use_regex; /* ByteLevel */
    sutra_split_pattern pattern;     /* Split */
    struct sutra_pretokenizer *steps; /* Sequence (owned) */
    size_t n_steps;
} sutra_pretokenizer;

/* Finds the next word of t[*pos..n): sets it to t[*ws..*we), advances *pos and returns 1; returns
 * 0 when no word is left. Start with *pos = 0. NONE and BERT only (see sutra_pretok_run). */
int sutra_pretok_next(const sutra_pretokenizer *pt, const sutra_tchar *t, size_t n, size_t *pos, size_t *ws,
                      size_t *we);
void sutra_pretokenizer_free(sutra_pretokenizer *pt);

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
    sutra_tbuf pre[SUTRA_PRETOK_MAX_STEPS]; /* a split as rewritten by pre-tokenizer step k */
    double *score;     /* Unigram: best path score per character boundary */
    size_t score_cap;
    int32_t *sym;      /* Unigram / BPE: per-position scratch (several int32 each) */
    size_t sym_cap;
    uint64_t *heap;    /* BPE: the merge queue */
    size_t heap_cap;
} sutra_tok_work;

void sutra_tok_work_free(sutra_tok_work *w);
/* Grows *p (of *cap elements of elem bytes) to hold need elements; 0 on failure (*p is then
 * unchanged). */
int sutra_grow(void **p, size_t *cap, size_t need, size_t elem);

/* ---- models (wordpiece.c) ------------------------------------------------------------------- */

typedef enum sutra_model_kind {
    SUTRA_MODEL_NONE = 0,
    SUTRA_MODEL_WORDPIECE,
    SUTRA_MODEL_UNIGRAM,
    SUTRA_MODEL_BPE,
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

/* ---- Unigram (unigram.c) -------------------------------------------------------------------- */

typedef struct sutra_unigram {
    sutra_vocab vocab;
    double *scores;     /* per id */
    double min_score;
    int32_t unk_id;     /* -1: none */
    int byte_fallback;
    int32_t byte_ids[256]; /* <0xXX> pieces, -1 where absent */
    /* Byte trie of every piece: an open-addressing map (node << 8 | byte) + 1 -> child node, as
     * key, child pairs side by side, kept at most half full; and per node the piece ending there
     * (-1: none). Node 0 is the root; there are fewer than 2^24 nodes. */
    uint32_t *edges;
    size_t edge_mask;
    int32_t *node_piece;
    size_t n_nodes, node_cap;
} sutra_unigram;

/* Builds the trie, min_score and the byte pieces once the vocabulary and scores are in. */
sutra_status sutra_unigram_finish(sutra_unigram *u, char *err, size_t errcap);
void sutra_unigram_free(sutra_unigram *u);
/* Appends the ids of one word t[0..n) to sink: HF's Viterbi (best total score, ties to the path
 * found first), consecutive unknown characters fused into one unk. */
sutra_status sutra_unigram_encode(const sutra_unigram *u, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                                  sutra_tok_sink *sink, char *err, size_t errcap);

/* ---- BPE (bpe.c) ---------------------------------------------------------------------------- */

typedef struct sutra_bpe {
    sutra_vocab vocab;
    /* Merges: open-addressing map (left id << 32 | right id) + 1 -> rank << 32 | merged id, as
     * key, value pairs side by side (one cache line per probe). */
    uint64_t *merges;
    size_t merge_mask, n_merges;
    char *unk_token;    /* NULL: none */
    int32_t unk_id;     /* -1 when unk_token is absent from the vocabulary */
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix (NULL: none) */
    size_t prefix_len, suffix_len;
    int fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_ids[256]; /* <0xXX> tokens, -1 where absent */
    int32_t small_ids[512]; /* id of the one-character token of each code point < 512 (-1: none),
                               used when there is no prefix or suffix */
} sutra_bpe;

/* Adds merge (left, right) with rank = the order of the calls (a repeated pair takes the later
 * rank, as HF). The merged token must be in the vocabulary. */
sutra_status sutra_bpe_add_merge(sutra_bpe *b, const char *left, size_t llen, const char *right, size_t rlen,
                                 size_t rank, char *err, size_t errcap);
sutra_status sutra_bpe_init_merges(sutra_bpe *b, size_t n_merges, char *err, size_t errcap);
sutra_status sutra_bpe_finish(sutra_bpe *b, char *err, size_t errcap);
void sutra_bpe_free(sutra_bpe *b);
/* Appends the ids of one word t[0..n) to sink (HF's BPE: lowest rank first, leftmost on ties). */
sutra_status sutra_bpe_encode(const sutra_bpe *b, const sutra_tchar *t, size_t n, sutra_tok_work *w,
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

/* One item of the pair template: a special token (id >= 0) or a sequence, with its type id. */
#define SUTRA_PAIR_SEQ_A (-1)
#define SUTRA_PAIR_SEQ_B (-2)
typedef struct sutra_pair_item {
    int32_t id;
    int32_t type_id;
} sutra_pair_item;

struct sutra_tokenizer {
    sutra_normalizer normalizer;
    sutra_pretokenizer pretok;
    sutra_model_kind model;
    sutra_wordpiece wordpiece;
    sutra_unigram unigram;
    sutra_bpe bpe;
    sutra_added_vocab added;
    int32_t *tmpl_ids; /* post-processor: n_pre ids before the sequence, n_post after */
    size_t n_pre, n_post;
    /* the post-processor's pair form (pair.c): items in order, each a special token's id or a
     * sequence (SUTRA_PAIR_SEQ_A / _B), with its token type id; NULL when the post-processor has
     * none (A then B, types 0 and 1, as HF's default) */
    sutra_pair_item *pair_items;
    size_t n_pair_items;
    /* RobertaProcessing's trim_offsets: whitespace at either end of a token's span (an lstrip
     * added token's, a byte-level token's leading space) is left out of its offsets; with
     * add_prefix_space a single leading space of the text's first token stays */
    int trim_offsets, trim_keep_prefix;
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
/* Appends one item to the pair template (pair.c). */
sutra_status sutra_tok_pair_push(sutra_tokenizer *tok, int32_t id, int32_t type_id, char *err, size_t errcap);
/* The pair templates of BertProcessing ([CLS] A [SEP] B [SEP], types 0 0 0 1 1) and RobertaProcessing
 * (<s> A </s> </s> B </s>, all type 0) around cls and sep. */
sutra_status sutra_tok_pair_bert(sutra_tokenizer *tok, int32_t cls, int32_t sep, int roberta, char *err, size_t errcap);

/* Model vocabulary lookups (no added tokens). */
int32_t sutra_tok_model_find(const sutra_tokenizer *tok, const char *s, size_t len);
int32_t sutra_tok_model_size(const sutra_tokenizer *tok);

/* Pre-tokenizes t[0..n) (pretok_ext.c, every kind) and hands each non-empty word to the model,
 * stopping early once sink is full. */
sutra_status sutra_pretok_run(const sutra_tokenizer *tok, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                              sutra_tok_sink *sink, char *err, size_t errcap);
/* Runs the model on one word (tokenizer.c). */
sutra_status sutra_tok_model_encode(const sutra_tokenizer *tok, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                                    sutra_tok_sink *sink, char *err, size_t errcap);

/* vocab.txt loader (load_vocab_txt.c); dir holds vocab.txt and maybe tokenizer_config.json. */
sutra_status sutra_tok_load_vocab_txt(const char *dir, sutra_tokenizer **out, char *err, size_t errcap);

#endif /* SUTRA_TOK_INTERNAL_H */
