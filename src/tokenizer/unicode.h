/*
 * unicode.h - the character facts the tokenizer needs, answered the way HF `tokenizers` answers
 * them (which is not always what the current Unicode standard says), plus strict UTF-8 decoding.
 *
 * Rules: pure functions of a code point, no state; code points are Unicode scalar values
 * (never surrogates, never above U+10FFFF): callers decode with sutra_utf8_validate first.
 */
#ifndef SUTRA_TOK_UNICODE_H
#define SUTRA_TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Class bits of one code point (see unicode_tables.h for where each comes from). */
enum {
    SUTRA_UC_DROP = 1,         /* BertNormalizer clean_text removes it (NUL, U+FFFD, Cc/Cf/Co) */
    SUTRA_UC_CLEAN_SPACE = 2,  /* clean_text turns it into ' ' */
    SUTRA_UC_WHITESPACE = 4,   /* Rust's char::is_whitespace (pre-tokenizer splits on it) */
    SUTRA_UC_PUNCT = 8,        /* BertPreTokenizer isolates it */
    SUTRA_UC_MN = 16,          /* strip_accents removes it after NFD (Mn, Unicode 8.0) */
    SUTRA_UC_DECOMPOSES = 32,  /* HF's NFD changes it */
    SUTRA_UC_COMBINING = 64,   /* non-zero canonical combining class in HF's NFD */
    SUTRA_UC_CJK = 128,        /* handle_chinese_chars puts spaces around it */
};

/* The class bits of c. */
unsigned sutra_uc_class(uint32_t c);

/* HF's lowercase of c (Rust's char::to_lowercase): writes 1 or 2 code points to out, returns the
 * count. */
int sutra_uc_lower(uint32_t c, uint32_t out[2]);

/* HF's canonical decomposition of c (NFD of the single character, before reordering): writes up
 * to cap code points to out and returns the count (1 and c itself when c does not decompose).
 * SUTRA_UC_NFD_MAX is always enough. */
#define SUTRA_UC_NFD_MAX 8
int sutra_uc_nfd(uint32_t c, uint32_t *out, int cap);

/* Canonical combining class used for NFD reordering (0 for starters). */
int sutra_uc_ccc(uint32_t c);

/* Rust regex \w (Alphabetic, marks, decimal digits, connector punctuation, joiners), as used by
 * HF for added tokens with single_word. Approximated from general categories: Alphabetic is
 * L*, Nl and the letter-like So ranges that carry Other_Alphabetic. */
int sutra_uc_is_word(uint32_t c);

/* Returns len if s[0..len) is valid UTF-8 (shortest form, no surrogates, at most U+10FFFF), else
 * the byte offset where the first invalid sequence starts. */
size_t sutra_utf8_validate(const char *s, size_t len);

/* Decodes the code point at s[*i] and advances *i; s must be valid UTF-8 there. */
uint32_t sutra_utf8_next(const char *s, size_t *i);

/* Encodes c into out (at least 4 bytes); returns the byte count. */
int sutra_utf8_put(uint32_t c, char *out);

#endif /* SUTRA_TOK_UNICODE_H */
