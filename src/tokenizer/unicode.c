/*
 * unicode.c - HF-exact character classes (generated table), lowercase and NFD (utf8proc with
 * HF's exceptions), and strict UTF-8.
 *
 * Rules: no state; HF's pinned Unicode versions win over utf8proc's wherever they differ, and
 * tests/test_tokenizer.c checks every code point against HF, so a utf8proc upgrade that changes
 * an answer fails loudly instead of drifting.
 */
#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include "tokenizer/unicode_tables.h"

unsigned sutra_uc_class(uint32_t c) {
    if (c > 0x10FFFF) return 0;
    return uc_stage2[uc_stage1[c >> 8]][c & 0xFF];
}

int sutra_uc_lower(uint32_t c, uint32_t out[2]) {
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    /* Binary search of the few code points where Rust and utf8proc disagree. */
    size_t lo = 0, hi = sizeof uc_lower_exceptions / sizeof uc_lower_exceptions[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uc_lower_exceptions[mid][0] < c) {
            lo = mid + 1;
        } else if (uc_lower_exceptions[mid][0] > c) {
            hi = mid;
        } else {
            out[0] = uc_lower_exceptions[mid][1];
            if (uc_lower_exceptions[mid][2] == 0) return 1;
            out[1] = uc_lower_exceptions[mid][2];
            return 2;
        }
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    return 1;
}

int sutra_uc_nfd(uint32_t c, uint32_t *out, int cap) {
    if (cap < 1) return 0;
    if (!(sutra_uc_class(c) & SUTRA_UC_DECOMPOSES)) {
        out[0] = c;
        return 1;
    }
    utf8proc_int32_t buf[SUTRA_UC_NFD_MAX];
    int boundclass = 0;
    utf8proc_ssize_t n =
        utf8proc_decompose_char((utf8proc_int32_t)c, buf, SUTRA_UC_NFD_MAX, UTF8PROC_DECOMPOSE, &boundclass);
    if (n < 1 || n > SUTRA_UC_NFD_MAX || n > cap) {
        out[0] = c; /* cannot happen for Unicode's decompositions (at most 4 code points) */
        return 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++) out[i] = (uint32_t)buf[i];
    return (int)n;
}

int sutra_uc_ccc(uint32_t c) {
    if (!(sutra_uc_class(c) & SUTRA_UC_COMBINING)) return 0;
    return utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
}

int sutra_uc_is_word(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (c == 0x200C || c == 0x200D) return 1;
    if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
        (c >= 0x1F170 && c <= 0x1F189))
        return 1;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

size_t sutra_utf8_validate(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            if (b == 0xE0) lo = 0xA0;      /* overlong */
            else if (b == 0xED) hi = 0x9F; /* UTF-16 surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            if (b == 0xF0) lo = 0x90;      /* overlong */
            else if (b == 0xF4) hi = 0x8F; /* above U+10FFFF */
        } else {
            return i; /* stray continuation byte, C0/C1 overlong lead, or F5..FF */
        }
        if (len - i <= need) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += need + 1;
    }
    return len;
}

uint32_t sutra_utf8_next(const char *str, size_t *i) {
    const unsigned char *s = (const unsigned char *)str + *i;
    uint32_t b = s[0];
    if (b < 0x80) {
        *i += 1;
        return b;
    }
    if (b < 0xE0) {
        *i += 2;
        return ((b & 0x1F) << 6) | (s[1] & 0x3Fu);
    }
    if (b < 0xF0) {
        *i += 3;
        return ((b & 0x0F) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    }
    *i += 4;
    return ((b & 0x07) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}

int sutra_utf8_put(uint32_t c, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}
