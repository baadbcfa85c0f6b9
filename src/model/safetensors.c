/*
 * safetensors.c - maps a safetensors file and validates all of it before handing out a tensor.
 *
 * Rules this file keeps:
 *  - Nothing read from the file is trusted: the header length, the header text (UTF-8, no raw
 *    control characters, starts with '{', one JSON value followed only by whitespace), every
 *    field of every entry, and the layout of the byte ranges are checked; any failure leaves
 *    no object behind and returns SUTRA_ERR_FORMAT (SUTRA_ERR_IO for open/stat/mmap).
 *  - JSON numbers are doubles in cJSON, so integers are accepted only where the double is
 *    exact: finite, integral, not negative (not even -0) and at most 2^53. No real file comes
 *    near that bound: it is far past any data section a file could hold.
 *  - Byte ranges may leave gaps and may stop short of the end of the file (only overlaps are
 *    errors); empty ranges overlap nothing.
 *  - Tensors are kept sorted by name (the order sutra_st_get uses), so lookup is a binary
 *    search. All names live in one allocation owned by the file object; the cJSON tree is freed
 *    before sutra_st_parse returns.
 *  - Messages name the file (the path, or "<buffer>" for sutra_st_parse) and, where there is
 *    one, the tensor and field at fault. Names are quoted with non-printable bytes replaced and
 *    long names shortened, since a hostile file chooses them.
 */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"

/* The reference implementation refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER_LEN 100000000ull
/* The largest integer a double holds exactly. */
#define ST_MAX_EXACT_INT 9007199254740992.0

struct sutra_st_file {
    const uint8_t *map; /* whole file image */
    size_t map_len;
    int mapped; /* 1 if map came from mmap and must be unmapped */
    size_t n;
    sutra_st_tensor *tensors; /* n entries, sorted by name */
    char *names;              /* every tensor name, NUL-separated */
    sutra_st_file **shards;   /* a merged file (sutra_st_merge): the files it owns; names and data are theirs */
    size_t nshards;
    void *owned;              /* sutra_st_from_memory: the tensors' data, freed with the object */
};

static const struct {
    const char *name;
    size_t size;
} dtype_info[SUTRA_DTYPE_COUNT] = {
    [SUTRA_DTYPE_F32] = {"F32", 4},          [SUTRA_DTYPE_F16] = {"F16", 2},
    [SUTRA_DTYPE_BF16] = {"BF16", 2},        [SUTRA_DTYPE_F64] = {"F64", 8},
    [SUTRA_DTYPE_I64] = {"I64", 8},          [SUTRA_DTYPE_I32] = {"I32", 4},
    [SUTRA_DTYPE_I16] = {"I16", 2},          [SUTRA_DTYPE_I8] = {"I8", 1},
    [SUTRA_DTYPE_U64] = {"U64", 8},          [SUTRA_DTYPE_U32] = {"U32", 4},
    [SUTRA_DTYPE_U16] = {"U16", 2},          [SUTRA_DTYPE_U8] = {"U8", 1},
    [SUTRA_DTYPE_BOOL] = {"BOOL", 1},        [SUTRA_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [SUTRA_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
};

const char *sutra_dtype_name(sutra_dtype dt) {
    if ((unsigned)dt >= SUTRA_DTYPE_COUNT) return "?";
    return dtype_info[dt].name;
}

size_t sutra_dtype_size(sutra_dtype dt) {
    if ((unsigned)dt >= SUTRA_DTYPE_COUNT) return 0;
    return dtype_info[dt].size;
}

/* ---- helpers for messages ---- */

/* A printable, bounded copy of a name chosen by the file, for use inside quotes. */
typedef struct {
    char s[100];
} shown_name;

static shown_name show(const char *name) {
    shown_name out;
    size_t i = 0, o = 0;
    const size_t keep = 80;
    for (; name[i] && o < keep; i++) {
        unsigned char c = (unsigned char)name[i];
        out.s[o++] = (c < 0x20 || c == 0x7f || c == '\'') ? '?' : (char)c;
    }
    /* Do not cut a multi-byte UTF-8 sequence in half. */
    if (name[i]) {
        while (o > 0 && ((unsigned char)out.s[o - 1] & 0xC0) == 0x80) o--;
        if (o > 0 && ((unsigned char)out.s[o - 1] & 0xC0) == 0xC0) o--;
        memcpy(out.s + o, "...", 3);
        o += 3;
    }
    out.s[o] = '\0';
    return out;
}

/* ---- header text checks ---- */

/* Finds the first byte offset where the header text is not valid UTF-8, holds a control
 * character that JSON never allows raw (below 0x20 except tab, newline, carriage return), or
 * holds a \u0000 escape inside a string: cJSON would cut the string there, so "a\u0000b" would
 * become "a" and could pass as another tensor's name or as a dtype. Returns len if the whole text
 * is fine; *why says what is wrong. */
static size_t scan_text(const uint8_t *s, size_t len, const char **why) {
    int in_str = 0;
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                *why = "control character";
                return i;
            }
            if (c == '"') {
                in_str = !in_str;
            } else if (in_str && c == '\\' && i + 1 < len) {
                if (s[i + 1] == 'u' && len - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0) {
                    *why = "\\u0000 escape in a string";
                    return i;
                }
                /* An escaped quote does not end the string, an escaped backslash escapes
                 * nothing; every other escaped byte gets the checks above on the next turn. */
                i += (s[i + 1] == '"' || s[i + 1] == '\\') ? 2 : 1;
                continue;
            }
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            *why = "invalid UTF-8";
            return i;
        }
        if (len - i - 1 < need) {
            *why = "truncated UTF-8 sequence";
            return i;
        }
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                *why = "invalid UTF-8";
                return i;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            *why = "invalid UTF-8";
            return i;
        }
        i += need + 1;
    }
    return len;
}

/* ---- field parsing ---- */

/* Reads a JSON number that must be an exact non-negative integer. */
static int get_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || signbit(d) || d > ST_MAX_EXACT_INT || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int lookup_dtype(const char *s, sutra_dtype *out) {
    for (int i = 0; i < SUTRA_DTYPE_COUNT; i++) {
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (sutra_dtype)i;
            return 1;
        }
    }
    return 0;
}

/* One header entry while parsing: the tensor plus its range relative to the data section. */
typedef struct {
    sutra_st_tensor t;
    uint64_t begin, end;
} entry;

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const entry *)a)->t.name, ((const entry *)b)->t.name);
}

static int cmp_entry_range(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks one tensor's object and fills e (name excepted). data_len is the data section size. */
static sutra_status parse_entry(const cJSON *obj, uint64_t data_len, entry *e, const char *file,
                                char *err, size_t errcap) {
    const char *nm = obj->string;
    if (!cJSON_IsObject(obj))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': entry is not a JSON object",
                          file, show(nm).s);
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *f = obj->child; f; f = f->next) {
        const cJSON **slot = NULL;
        if (strcmp(f->string, "dtype") == 0) slot = &dtype;
        else if (strcmp(f->string, "shape") == 0) slot = &shape;
        else if (strcmp(f->string, "data_offsets") == 0) slot = &offs;
        if (!slot) continue; /* unknown fields are ignored, as the reference reader does */
        if (*slot)
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': field '%s' appears twice",
                              file, show(nm).s, f->string);
        *slot = f;
    }

    if (!dtype)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': missing 'dtype'", file, show(nm).s);
    if (!cJSON_IsString(dtype))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': 'dtype' is not a string", file,
                          show(nm).s);
    if (!lookup_dtype(dtype->valuestring, &e->t.dtype))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': unknown dtype '%s'", file,
                          show(nm).s, show(dtype->valuestring).s);

    if (!shape)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': missing 'shape'", file, show(nm).s);
    if (!cJSON_IsArray(shape))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': 'shape' is not an array", file,
                          show(nm).s);
    int ndim = 0;
    int has_zero = 0, overflow = 0;
    uint64_t numel = 1;
    for (const cJSON *d = shape->child; d; d = d->next) {
        if (ndim == SUTRA_ST_MAX_DIMS)
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': 'shape' has more than %d dimensions",
                              file, show(nm).s, SUTRA_ST_MAX_DIMS);
        uint64_t v;
        if (!get_uint(d, &v))
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                              "%s: tensor '%s': 'shape' dimension %d is not a non-negative integer", file,
                              show(nm).s, ndim);
        e->t.shape[ndim++] = (int64_t)v;
        if (v == 0) has_zero = 1;
        else if (!overflow && numel > (uint64_t)INT64_MAX / v) overflow = 1;
        else if (!overflow) numel *= v;
    }
    /* A zero dimension makes the product zero whatever the others are. */
    if (has_zero) numel = 0;
    else if (overflow)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': element count of 'shape' overflows",
                          file, show(nm).s);
    e->t.ndim = ndim;
    e->t.numel = (int64_t)numel;

    if (!offs)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': missing 'data_offsets'", file,
                          show(nm).s);
    if (!cJSON_IsArray(offs) || !offs->child || !offs->child->next || offs->child->next->next)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': 'data_offsets' is not an array [begin, end]",
                          file, show(nm).s);
    if (!get_uint(offs->child, &e->begin) || !get_uint(offs->child->next, &e->end))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                          "%s: tensor '%s': 'data_offsets' are not non-negative integers", file, show(nm).s);
    if (e->begin > e->end)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                          "%s: tensor '%s': data_offsets begin %llu is after end %llu", file, show(nm).s,
                          (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > data_len)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': data_offsets end %llu beyond data size %llu",
                          file, show(nm).s, (unsigned long long)e->end, (unsigned long long)data_len);

    size_t want;
    if (numel > SIZE_MAX || !sutra_mul_ok((size_t)numel, dtype_info[e->t.dtype].size, &want))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': byte size of %llu %s elements overflows",
                          file, show(nm).s, (unsigned long long)numel, dtype_info[e->t.dtype].name);
    if (want != e->end - e->begin)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                          "%s: tensor '%s': %s shape of %llu elements needs %zu bytes but data_offsets span %llu",
                          file, show(nm).s, dtype_info[e->t.dtype].name, (unsigned long long)numel, want,
                          (unsigned long long)(e->end - e->begin));
    e->t.nbytes = (size_t)(e->end - e->begin);
    return SUTRA_OK;
}

static sutra_status parse_metadata(const cJSON *meta, const char *file, char *err, size_t errcap) {
    if (!cJSON_IsObject(meta))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: '__metadata__' is not a JSON object", file);
    for (const cJSON *m = meta->child; m; m = m->next)
        if (!cJSON_IsString(m))
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: '__metadata__' value '%s' is not a string", file,
                              show(m->string).s);
    return SUTRA_OK;
}

/* Parses the JSON header text and validates every entry. On success f holds a tensor array
 * sorted by name and a names block; data pointers are set from data (data_len bytes). */
static sutra_status parse_header(const uint8_t *hdr, size_t hlen, const uint8_t *data, uint64_t data_len,
                                 sutra_st_file *f, const char *file, char *err, size_t errcap) {
    const char *why = NULL;
    size_t bad = scan_text(hdr, hlen, &why);
    if (bad < hlen)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: header: %s at byte %zu (0x%02x)", file, why, bad,
                          hdr[bad]);
    if (hdr[0] != '{')
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: header does not start with '{'", file);

    /* cJSON gets its own NUL-terminated copy, so no read can run past the header. */
    char *text = malloc(hlen + 1);
    if (!text)
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: cannot allocate %zu bytes for the header", file,
                          hlen + 1);
    memcpy(text, hdr, hlen);
    text[hlen] = '\0';

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, hlen, &end, 0);
    entry *ents = NULL;
    entry **by_range = NULL;
    sutra_status st = SUTRA_OK;
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: header is not valid JSON (error near byte %zu)", file,
                        at);
        goto done;
    }
    for (const char *p = end; p < text + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: header has trailing bytes after the JSON at byte %zu",
                            file, (size_t)(p - text));
            goto done;
        }
    }
    /* The text starts with '{', so a value that parsed is an object. */

    size_t n = 0, names_len = 0;
    int seen_meta = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (seen_meta) {
                st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: '__metadata__' appears twice", file);
                goto done;
            }
            seen_meta = 1;
            if ((st = parse_metadata(c, file, err, errcap)) != SUTRA_OK) goto done;
            continue;
        }
        if (c->string[0] == '\0') {
            st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor with an empty name", file);
            goto done;
        }
        n++;
        names_len += strlen(c->string) + 1;
    }

    if (n > 0) {
        ents = calloc(n, sizeof *ents);
        by_range = calloc(n, sizeof *by_range);
        f->names = malloc(names_len);
        f->tensors = calloc(n, sizeof *f->tensors);
        if (!ents || !by_range || !f->names || !f->tensors) {
            st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: cannot allocate the index of %zu tensors",
                            file, n);
            goto done;
        }
    }
    size_t i = 0;
    char *np = f->names;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) continue;
        entry *e = &ents[i];
        if ((st = parse_entry(c, data_len, e, file, err, errcap)) != SUTRA_OK) goto done;
        size_t l = strlen(c->string) + 1;
        memcpy(np, c->string, l);
        e->t.name = np;
        e->t.data = data + e->begin;
        np += l;
        i++;
    }

    if (n > 0) {
        qsort(ents, n, sizeof *ents, cmp_entry_name);
        for (i = 1; i < n; i++) {
            if (strcmp(ents[i - 1].t.name, ents[i].t.name) == 0) {
                st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s' appears twice", file,
                                show(ents[i].t.name).s);
                goto done;
            }
        }
        for (i = 0; i < n; i++) by_range[i] = &ents[i];
        qsort(by_range, n, sizeof *by_range, cmp_entry_range);
        const entry *prev = NULL; /* the non-empty range reaching furthest so far */
        for (i = 0; i < n; i++) {
            const entry *e = by_range[i];
            if (e->begin == e->end) continue;
            if (prev && e->begin < prev->end) {
                st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                                "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]", file,
                                show(e->t.name).s, (unsigned long long)e->begin, (unsigned long long)e->end,
                                show(prev->t.name).s, (unsigned long long)prev->begin,
                                (unsigned long long)prev->end);
                goto done;
            }
            if (!prev || e->end > prev->end) prev = e;
        }
        for (i = 0; i < n; i++) f->tensors[i] = ents[i].t;
    }
    f->n = n;

done:
    free(by_range);
    free(ents);
    cJSON_Delete(root);
    free(text);
    return st;
}

/* Validates a whole file image; file names it in messages. */
static sutra_status parse_image(const uint8_t *buf, size_t len, sutra_st_file *f, const char *file, char *err,
                                size_t errcap) {
    if (len < 8)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: %zu bytes is too short for the 8-byte header length",
                          file, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen == 0) return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: header length is 0", file);
    if (hlen > ST_MAX_HEADER_LEN)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: header length %llu exceeds the %llu-byte limit", file,
                          (unsigned long long)hlen, ST_MAX_HEADER_LEN);
    if (hlen > len - 8)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                          "%s: header length %llu runs past the end of the file (%zu bytes after the length)", file,
                          (unsigned long long)hlen, len - 8);
    const uint8_t *data = buf + 8 + hlen;
    return parse_header(buf + 8, (size_t)hlen, data, (uint64_t)(len - 8 - hlen), f, file, err, errcap);
}

static void st_free(sutra_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->nshards; i++) st_free(f->shards[i]);
    free(f->shards);
    if (f->mapped && f->map) munmap((void *)f->map, f->map_len);
    free(f->owned);
    free(f->tensors);
    free(f->names);
    free(f);
}

sutra_status sutra_st_parse(const uint8_t *buf, size_t len, sutra_st_file **out, char *err, size_t errcap) {
    if (!out) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sutra_st_parse: out is NULL");
    *out = NULL;
    if (!buf && len > 0)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sutra_st_parse: buffer is NULL");
    sutra_st_file *f = calloc(1, sizeof *f);
    if (!f) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "<buffer>: out of memory");
    f->map = buf;
    f->map_len = len;
    sutra_status st = parse_image(buf, len, f, "<buffer>", err, errcap);
    if (st != SUTRA_OK) {
        st_free(f);
        return st;
    }
    *out = f;
    return SUTRA_OK;
}

sutra_status sutra_st_open(const char *path, sutra_st_file **out, char *err, size_t errcap) {
    if (!out) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sutra_st_open: out is NULL");
    *out = NULL;
    if (!path) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "sutra_st_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: file too large to map", path);
    }
    size_t len = (size_t)sb.st_size;
    if (len < 8) {
        close(fd);
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: %zu bytes is too short for the 8-byte header length",
                          path, len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: mmap: %s", path, strerror(map_errno));

    sutra_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        munmap(map, len);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: out of memory", path);
    }
    f->map = map;
    f->map_len = len;
    f->mapped = 1;
    sutra_status st = parse_image(map, len, f, path, err, errcap);
    if (st != SUTRA_OK) {
        st_free(f);
        return st;
    }
    *out = f;
    return SUTRA_OK;
}

void sutra_st_close(sutra_st_file *f) { st_free(f); }

size_t sutra_st_count(const sutra_st_file *f) { return f ? f->n : 0; }

const sutra_st_tensor *sutra_st_get(const sutra_st_file *f, size_t i) {
    if (!f || i >= f->n) return NULL;
    return &f->tensors[i];
}

static int cmp_key_tensor(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const sutra_st_tensor *)elem)->name);
}

const sutra_st_tensor *sutra_st_find(const sutra_st_file *f, const char *name) {
    if (!f || !name || f->n == 0) return NULL;
    return bsearch(name, f->tensors, f->n, sizeof *f->tensors, cmp_key_tensor);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const sutra_st_tensor *)a)->name, ((const sutra_st_tensor *)b)->name);
}

/* Checks one in-memory tensor and completes its numel and nbytes. */
static sutra_status check_memory_tensor(sutra_st_tensor *t, const uint8_t *data, size_t len, const char *what,
                                        char *err, size_t errcap) {
    if (!t->name || !t->name[0])
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor with an empty name", what);
    if ((unsigned)t->dtype >= SUTRA_DTYPE_COUNT)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': unknown dtype", what, show(t->name).s);
    if (t->ndim < 0 || t->ndim > SUTRA_ST_MAX_DIMS)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': %d dimensions (at most %d)", what,
                          show(t->name).s, t->ndim, SUTRA_ST_MAX_DIMS);
    size_t numel = 1, nbytes;
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] < 0 || (uint64_t)t->shape[d] > SIZE_MAX || !sutra_mul_ok(numel, (size_t)t->shape[d], &numel))
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': dimension %d (%lld) is negative or "
                              "overflows the element count", what, show(t->name).s, d, (long long)t->shape[d]);
    if (numel > (size_t)INT64_MAX || !sutra_mul_ok(numel, dtype_info[t->dtype].size, &nbytes))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': byte size overflows", what, show(t->name).s);
    const uintptr_t at = (uintptr_t)t->data, base = (uintptr_t)data;
    if (nbytes && (!t->data || at < base || at - base > len || nbytes > len - (at - base)))
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s': its %zu bytes are not inside the data",
                          what, show(t->name).s, nbytes);
    t->numel = (int64_t)numel;
    t->nbytes = nbytes;
    return SUTRA_OK;
}

sutra_status sutra_st_from_memory(const sutra_st_tensor *t, size_t n, void *data, size_t len, const char *what,
                                  sutra_st_file **out, char *err, size_t errcap) {
    *out = NULL;
    sutra_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        free(data);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: out of memory", what);
    }
    f->owned = data;
    f->map = data;
    f->map_len = len;
    size_t names_len = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t l = t[i].name ? strlen(t[i].name) + 1 : 1;
        if (names_len > SIZE_MAX - l) names_len = SIZE_MAX;
        else names_len += l;
    }
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->names = names_len < SIZE_MAX ? malloc(names_len ? names_len : 1) : NULL;
    if (!f->tensors || !f->names) {
        st_free(f);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: cannot allocate the index of %zu tensors", what,
                          n);
    }
    char *np = f->names;
    for (size_t i = 0; i < n; i++) {
        sutra_st_tensor *d = &f->tensors[i];
        *d = t[i];
        sutra_status st = check_memory_tensor(d, data, len, what, err, errcap);
        if (st) {
            st_free(f);
            return st;
        }
        const size_t l = strlen(t[i].name) + 1;
        memcpy(np, t[i].name, l);
        d->name = np;
        np += l;
        f->n++;
    }
    qsort(f->tensors, f->n, sizeof *f->tensors, cmp_tensor_name);
    for (size_t i = 1; i < f->n; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name)) {
            sutra_status st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s' appears twice", what,
                                         show(f->tensors[i].name).s);
            st_free(f);
            return st;
        }
    *out = f;
    return SUTRA_OK;
}

sutra_status sutra_st_merge(sutra_st_file **shards, size_t n, const char *what, sutra_st_file **out, char *err,
                            size_t errcap) {
    *out = NULL;
    sutra_st_file *f = calloc(1, sizeof *f);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += shards[i] ? shards[i]->n : 0;
    if (f) f->shards = malloc((n ? n : 1) * sizeof *f->shards);
    if (f && f->shards) f->tensors = malloc((total ? total : 1) * sizeof *f->tensors);
    if (!f || !f->shards || !f->tensors) {
        for (size_t i = 0; i < n; i++) st_free(shards[i]);
        st_free(f);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "%s: out of memory", what);
    }
    for (size_t i = 0; i < n; i++) {
        f->shards[f->nshards++] = shards[i];
        for (size_t j = 0; shards[i] && j < shards[i]->n; j++) f->tensors[f->n++] = shards[i]->tensors[j];
    }
    qsort(f->tensors, f->n, sizeof *f->tensors, cmp_tensor_name);
    for (size_t i = 1; i < f->n; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name)) {
            shown_name sn = show(f->tensors[i].name);
            sutra_status st = sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: tensor '%s' is in two shards", what, sn.s);
            st_free(f);
            return st;
        }
    *out = f;
    return SUTRA_OK;
}
