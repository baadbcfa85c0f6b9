/*
 * precompiled.c - HF's `Precompiled` normalizer: SentencePiece's normalization rules (for
 * XLM-R, nmt_nfkc) compiled into a charsmap, as tokenizer.json carries it in base64.
 *
 * The charsmap is a u32 (little-endian) byte size of a darts-clone double array, the array's
 * 32-bit units, then a blob of NUL-terminated replacement strings. A unit holds a label (bits
 * 0-7, and bit 31 which no byte matches), a has-leaf flag (bit 8) and an offset to its children
 * (bits 10-30, shifted left by 8 when bit 9 is set); a child of base b for byte c sits at b ^ c,
 * and a leaf's value (the unit at the child's own base) is a blob offset.
 *
 * Rules: exactly HF's (spm_precompiled) behaviour, quirks included: text is cut into extended
 * grapheme clusters; a cluster shorter than 6 bytes is looked up whole, and if any trie entry is a
 * prefix of it, the SHORTEST such entry's string replaces the WHOLE cluster; otherwise each of
 * its characters is looked up and replaced the same way. Lookups stop at a NUL byte. Alignments
 * follow HF's replace(): added characters are marked inserted, removed ones are charged to the
 * last character produced so far (even one of an earlier cluster, and to nothing at the start).
 * The file is untrusted: parsing checks the sizes, that the blob is UTF-8, and walks every node
 * reachable from the root, so that each child block lies inside the array and each leaf value
 * on a character boundary of the blob; lookups still check every index.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

struct sutra_charsmap {
    uint32_t *units;
    size_t n_units;
    char *blob;
    size_t blob_len;
    /* Per ASCII character: the blob offset of its replacement, -1 when it has none. Clusters of
     * one ASCII character are by far the most common and skip the trie walk. */
    int32_t ascii[128];
};

#define FAIL_FORMAT(...) sutra_errf(SUTRA_ERR_FORMAT, err, errcap, __VA_ARGS__)

/* Combining marks newer than utf8proc 2.8 (Unicode 15.0) that HF's unicode-segmentation already
 * treats as Extend; measured on every code point of the BMP with tokenizers 0.23.3. They are
 * handed to utf8proc as U+0300, an Extend of its own, so that its state machine stays exact.
 * (A supplementary-plane Extend could only matter after a one-byte base the charsmap maps, and
 * nmt_nfkc maps no printable ASCII.) */
static inline uint32_t as_utf8proc_extend(uint32_t c) {
    if (c == 0x0897 || (c >= 0x1ACF && c <= 0x1ADD) || (c >= 0x1AE0 && c <= 0x1AEB)) return 0x0300;
    return c;
}

/* ---- base64 --------------------------------------------------------------------------------- */

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

sutra_status sutra_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, char *err,
                                 size_t errcap) {
    *out = NULL;
    *out_len = 0;
    /* HF decodes with the standard engine: canonical padding, no whitespace, no stray bits. */
    if (len % 4 != 0) return FAIL_FORMAT("base64 length %zu is not a multiple of 4", len);
    size_t pad = 0;
    if (len >= 1 && s[len - 1] == '=') pad++;
    if (len >= 2 && s[len - 2] == '=') pad++;
    uint8_t *buf = malloc(len / 4 * 3 + 1);
    if (!buf) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate %zu bytes", len);
    size_t w = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int last = i + 4 == len;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            if (last && c == '=' && k >= 4 - (int)pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64_value(c);
            if (v[k] < 0) {
                free(buf);
                return FAIL_FORMAT("invalid base64 character 0x%02X at %zu", c, i + k);
            }
        }
        uint32_t q = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t nb = last ? 3 - pad : 3;
        if (last && ((pad == 1 && (q & 0xFF)) || (pad == 2 && (q & 0xFFFF)))) {
            free(buf);
            return FAIL_FORMAT("base64 has non-zero trailing bits");
        }
        for (size_t k = 0; k < nb; k++) buf[w++] = (uint8_t)(q >> (16 - 8 * k));
    }
    *out = buf;
    *out_len = w;
    return SUTRA_OK;
}

/* ---- the double array ----------------------------------------------------------------------- */

static inline int unit_has_leaf(uint32_t u) {
    return (u >> 8) & 1;
}
static inline uint32_t unit_value(uint32_t u) {
    return u & ((1u << 31) - 1);
}
static inline uint32_t unit_label(uint32_t u) {
    return u & ((1u << 31) | 0xFFu);
}
static inline size_t unit_offset(uint32_t u) {
    return (size_t)((u >> 10) << ((u & (1u << 9)) >> 6));
}

/* The blob offset of the shortest trie entry that is a prefix of key[0..len) (stopping at a NUL
 * byte), or -1. */
static int64_t shortest_prefix(const sutra_charsmap *cm, const unsigned char *key, size_t len) {
    const uint32_t *a = cm->units;
    size_t n = cm->n_units;
    size_t pos = unit_offset(a[0]);
    for (size_t i = 0; i < len; i++) {
        unsigned c = key[i];
        if (c == 0) break;
        pos ^= c;
        if (pos >= n) return -1;
        uint32_t u = a[pos];
        if (unit_label(u) != c) return -1;
        pos ^= unit_offset(u);
        if (unit_has_leaf(u)) return pos < n ? (int64_t)unit_value(a[pos]) : -1;
    }
    return -1;
}

/* Walks every node reachable from the root once (a bitmap of visited bases), checking that the
 * children of each lie inside the array and that each leaf points into the blob. */
static sutra_status validate_trie(const sutra_charsmap *cm, char *err, size_t errcap) {
    size_t n = cm->n_units;
    uint8_t *seen = calloc((n + 7) / 8, 1);
    size_t *stack = malloc(n * sizeof *stack);
    sutra_status st = SUTRA_OK;
    if (!seen || !stack) {
        st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot check a charsmap of %zu units", n);
        goto done;
    }
    size_t top = 0, root = unit_offset(cm->units[0]);
    if ((root | 0xFF) >= n) {
        st = FAIL_FORMAT("precompiled_charsmap: the trie root's children (%zu) lie outside its %zu units", root, n);
        goto done;
    }
    seen[root / 8] |= (uint8_t)(1u << (root % 8));
    stack[top++] = root;
    while (top > 0) {
        size_t base = stack[--top];
        for (unsigned c = 1; c < 256; c++) {
            uint32_t u = cm->units[base ^ c];
            if (unit_label(u) != c) continue;
            size_t child = (base ^ c) ^ unit_offset(u);
            if ((child | 0xFF) >= n) {
                st = FAIL_FORMAT("precompiled_charsmap: trie node %zu points outside its %zu units", base ^ c, n);
                goto done;
            }
            if (unit_has_leaf(u)) {
                uint32_t v = unit_value(cm->units[child]);
                if (v > cm->blob_len || (v < cm->blob_len && ((unsigned char)cm->blob[v] & 0xC0) == 0x80)) {
                    st = FAIL_FORMAT("precompiled_charsmap: trie value %u is not a string of the %zu-byte blob",
                                     (unsigned)v, cm->blob_len);
                    goto done;
                }
            }
            if (!(seen[child / 8] & (1u << (child % 8)))) {
                seen[child / 8] |= (uint8_t)(1u << (child % 8));
                stack[top++] = child;
            }
        }
    }
done:
    free(seen);
    free(stack);
    return st;
}

void sutra_charsmap_free(sutra_charsmap *cm) {
    if (!cm) return;
    free(cm->units);
    free(cm->blob);
    free(cm);
}

sutra_status sutra_charsmap_parse(const uint8_t *data, size_t len, sutra_charsmap **out, char *err, size_t errcap) {
    *out = NULL;
    if (len < 4) return FAIL_FORMAT("precompiled_charsmap: %zu bytes, too short for its header", len);
    size_t tsize = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    if (tsize > len - 4)
        return FAIL_FORMAT("precompiled_charsmap: trie of %zu bytes in a charsmap of %zu", tsize, len);
    if (tsize == 0 || tsize % 4 != 0)
        return FAIL_FORMAT("precompiled_charsmap: trie size %zu is not a positive multiple of 4", tsize);
    size_t blen = len - 4 - tsize;
    if (sutra_utf8_validate((const char *)data + 4 + tsize, blen) != blen)
        return FAIL_FORMAT("precompiled_charsmap: the replacement strings are not valid UTF-8");
    sutra_charsmap *cm = calloc(1, sizeof *cm);
    if (!cm) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate a charsmap");
    cm->n_units = tsize / 4;
    cm->units = malloc(tsize);
    cm->blob = malloc(blen + 1);
    if (!cm->units || !cm->blob) {
        sutra_charsmap_free(cm);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate a charsmap of %zu bytes", len);
    }
    for (size_t i = 0; i < cm->n_units; i++) {
        const uint8_t *p = data + 4 + 4 * i;
        cm->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    memcpy(cm->blob, data + 4 + tsize, blen);
    cm->blob[blen] = '\0';
    cm->blob_len = blen;
    sutra_status st = validate_trie(cm, err, errcap);
    if (st != SUTRA_OK) {
        sutra_charsmap_free(cm);
        return st;
    }
    for (int c = 0; c < 128; c++) {
        unsigned char key = (unsigned char)c;
        int64_t v = shortest_prefix(cm, &key, 1);
        cm->ascii[c] = (int32_t)v;
    }
    *out = cm;
    return SUTRA_OK;
}

/* ---- normalizing ---------------------------------------------------------------------------- */

/* HF's replace(): appends the replacement's characters (change 0) to the transformation list tr,
 * marks the last ones inserted when there are more than the old_count replaced, or charges the
 * removed ones to the last entry of tr when fewer. */
static int replace(sutra_tbuf *tr, const sutra_charsmap *cm, int64_t at, size_t old_count) {
    const char *s = cm->blob + at;
    size_t slen = strlen(s); /* the blob is NUL-terminated one past its end */
    size_t before = tr->n;
    for (size_t i = 0; i < slen;) {
        uint32_t c = sutra_utf8_next(s, &i);
        if (!sutra_tbuf_push(tr, c, 0, 0)) return 0;
    }
    int64_t diff = (int64_t)(tr->n - before) - (int64_t)old_count;
    if (diff > 0) {
        for (size_t k = tr->n - (size_t)diff; k < tr->n; k++) tr->c[k].start = 1;
    } else if (diff < 0 && tr->n > 0) {
        tr->c[tr->n - 1].start += (int32_t)diff;
    }
    return 1;
}

int sutra_precompiled_run(const sutra_charsmap *cm, const sutra_tchar *in, size_t n, int32_t base, sutra_tbuf *out,
                          sutra_tbuf *scratch) {
    sutra_tbuf *tr = scratch; /* the transformations: cp, change in .start */
    tr->n = 0;
    if (!sutra_tbuf_reserve(tr, n + 16)) return 0;
    utf8proc_int32_t state = 0;
    size_t gs = 0;
    while (gs < n) {
        /* The extended grapheme cluster in[gs..ge). */
        size_t ge = gs + 1;
        if (in[gs].cp < 0x80 && (gs + 1 == n || (in[gs + 1].cp < 0x80 && in[gs].cp != '\r'))) {
            /* Between two ASCII characters the only non-break is CR LF; the break state after
             * an ASCII character is its own class, which a fresh state recomputes. */
            state = 0;
            int32_t v = cm->ascii[in[gs].cp];
            if (v >= 0) {
                if (!replace(tr, cm, v, 1)) return 0;
            } else if (!sutra_tbuf_push(tr, in[gs].cp, 0, 0)) {
                return 0;
            }
            gs = ge;
            continue;
        }
        /* state carries over: it has seen every pair up to in[gs] (or is fresh, see above). */
        while (ge < n && !utf8proc_grapheme_break_stateful((utf8proc_int32_t)as_utf8proc_extend(in[ge - 1].cp),
                                                          (utf8proc_int32_t)as_utf8proc_extend(in[ge].cp), &state))
            ge++;
        unsigned char key[8];
        size_t klen = 0;
        for (size_t i = gs; i < ge && klen < 6; i++) {
            char tmp[4];
            int k = sutra_utf8_put(in[i].cp, tmp);
            if (klen + (size_t)k > 6) {
                klen = 6;
                break;
            }
            memcpy(key + klen, tmp, (size_t)k);
            klen += (size_t)k;
        }
        if (klen < 6) {
            int64_t v = shortest_prefix(cm, key, klen);
            if (v >= 0) {
                if (!replace(tr, cm, v, ge - gs)) return 0;
                gs = ge;
                continue;
            }
        }
        for (size_t i = gs; i < ge; i++) {
            int64_t v;
            if (in[i].cp < 0x80) {
                v = cm->ascii[in[i].cp];
            } else {
                int k = sutra_utf8_put(in[i].cp, (char *)key);
                v = shortest_prefix(cm, key, (size_t)k);
            }
            if (v >= 0) {
                if (!replace(tr, cm, v, 1)) return 0;
            } else if (!sutra_tbuf_push(tr, in[i].cp, 0, 0)) {
                return 0;
            }
        }
        gs = ge;
    }
    return sutra_transform_apply(in, n, base, tr->c, tr->n, out);
}
