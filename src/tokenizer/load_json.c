/*
 * load_json.c - builds a tokenizer from HF's tokenizer.json: "model", "normalizer",
 * "pre_tokenizer", "post_processor" and "added_tokens" ("truncation" and "padding" are the
 * caller's business and "decoder" is not needed to encode, so all three are ignored).
 *
 * Rules: the file is untrusted: every field is type-checked, every id range-checked, and an
 * error names the field or token at fault; a component type we do not implement is
 * SUTRA_ERR_UNSUPPORTED naming the type. Added tokens get HF's ids (those of the model
 * vocabulary, else the next free one), not necessarily the "id" the file records, as HF does.
 * To support a new component, add its type to the matching parse_* switch. Sequences of
 * normalizers nest (at most MAX_NESTING deep); sequences of pre-tokenizers are flattened.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

#define FAIL_FORMAT(...) sutra_errf(SUTRA_ERR_FORMAT, err, errcap, __VA_ARGS__)

static const cJSON *item(const cJSON *obj, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A missing or null field leaves *out at its default. */
static sutra_status opt_bool(const cJSON *obj, const char *key, const char *where, int *out, char *err,
                             size_t errcap) {
    const cJSON *v = item(obj, key);
    if (!v || cJSON_IsNull(v)) return SUTRA_OK;
    if (!cJSON_IsBool(v)) return FAIL_FORMAT("%s.%s must be true or false", where, key);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return SUTRA_OK;
}

/* The string of a field, or NULL with *status set when present but not a string. */
static const char *opt_string(const cJSON *obj, const char *key, const char *where, sutra_status *status, char *err,
                              size_t errcap) {
    const cJSON *v = item(obj, key);
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsString(v) || !v->valuestring) {
        *status = FAIL_FORMAT("%s.%s must be a string", where, key);
        return NULL;
    }
    return v->valuestring;
}

/* A JSON number that is an integer in [lo, hi]. */
static int as_int(const cJSON *v, double lo, double hi, int64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < lo || d > hi) return 0;
    *out = (int64_t)d;
    return 1;
}

static const char *type_of(const cJSON *obj) {
    const cJSON *t = item(obj, "type");
    return cJSON_IsString(t) && t->valuestring ? t->valuestring : NULL;
}

/* ---- model ---------------------------------------------------------------------------------- */

static sutra_status parse_wordpiece(const cJSON *m, sutra_tokenizer *tok, char *err, size_t errcap) {
    sutra_wordpiece *wp = &tok->wordpiece;
    sutra_status st = SUTRA_OK;
    const cJSON *vocab = item(m, "vocab");
    if (!cJSON_IsObject(vocab)) return FAIL_FORMAT("model.vocab must be an object of token: id");
    const char *unk = opt_string(m, "unk_token", "model", &st, err, errcap);
    if (st != SUTRA_OK) return st;
    const char *prefix = opt_string(m, "continuing_subword_prefix", "model", &st, err, errcap);
    if (st != SUTRA_OK) return st;
    int64_t max_chars = 100;
    const cJSON *mc = item(m, "max_input_chars_per_word");
    if (mc && !cJSON_IsNull(mc) && !as_int(mc, 0, 9007199254740992.0, &max_chars))
        return FAIL_FORMAT("model.max_input_chars_per_word must be a non-negative integer");

    tok->model = SUTRA_MODEL_WORDPIECE;
    wp->unk_token = strdup(unk ? unk : "[UNK]");
    wp->prefix = strdup(prefix ? prefix : "##");
    if (!wp->unk_token || !wp->prefix)
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot copy the WordPiece settings");
    wp->prefix_len = strlen(wp->prefix);
    wp->max_chars = (size_t)max_chars;

    int n = cJSON_GetArraySize(vocab);
    st = sutra_vocab_init(&wp->vocab, n, err, errcap);
    if (st != SUTRA_OK) return st;
    char msg[256];
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int64_t id;
        if (!as_int(e, 0, (double)INT32_MAX, &id) || id >= n)
            return FAIL_FORMAT("model.vocab: token '%.64s' has id %s, not an integer in [0, %d)",
                               e->string ? e->string : "", cJSON_IsNumber(e) ? "out of range" : "of the wrong type", n);
        const char *s = e->string ? e->string : "";
        st = sutra_vocab_set(&wp->vocab, (int32_t)id, s, strlen(s), msg, sizeof msg);
        if (st != SUTRA_OK) return sutra_errf(st, err, errcap, "model.vocab: %s", msg);
    }
    return SUTRA_OK;
}

/* A token string of a Unigram / BPE vocabulary: valid UTF-8, as HF's Rust strings are. */
static sutra_status check_token(const char *s, const char *where, char *err, size_t errcap) {
    size_t len = strlen(s);
    if (sutra_utf8_validate(s, len) != len) return FAIL_FORMAT("%s: token '%.64s' is not valid UTF-8", where, s);
    return SUTRA_OK;
}

/* The double HF's JSON reader (serde_json without float_roundtrip) makes of a number whose
 * correctly rounded value is v. serde_json gathers the decimal digits into a u64 and then
 * computes (double)digits * or / 10^|exp| in two roundings, which is one ulp off the correct
 * value for about one score in six of a real Unigram vocabulary; Viterbi ties then break
 * differently, so the scores must be HF's. The file's digits are not kept by cJSON; they are
 * recovered as the shortest decimal that reads back as v, which is what Python's json and
 * serde_json itself write (a file with more than 17 significant digits is the exception). */
static double hf_json_f64(double v) {
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (v == 0.0 || !isfinite(v)) return v;
    char buf[40];
    int p;
    for (p = 15; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (p > 17) return v;
    /* buf is [-]d.ddde[+-]xx: the digits as an integer and the power of ten that scales it. */
    const char *q = buf + (buf[0] == '-');
    uint64_t digits = 0;
    int nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') {
            digits = digits * 10 + (uint64_t)(*q - '0');
            nd++;
        }
    int exp10 = atoi(q + 1) - (nd - 1);
    /* Up to 15 digits and a power of ten that is exact, both roundings are exact but the last:
     * the result is v itself. */
    if (p == 15 && exp10 >= -22 && exp10 <= 22) return v;
    double f = (double)digits;
    for (;;) {
        int a = exp10 < 0 ? -exp10 : exp10;
        if (a <= 308) {
            double pw = a <= 22 ? p10[a] : strtod((snprintf(buf, sizeof buf, "1e%d", a), buf), NULL);
            f = exp10 >= 0 ? f * pw : f / pw;
            break;
        }
        if (f == 0.0 || exp10 >= 0) break;
        f /= 1e308;
        exp10 += 308;
    }
    return v < 0 ? -f : f;
}

/* Unigram: {"unk_id": int|null, "vocab": [[piece, score], ...], "byte_fallback": bool}. */
static sutra_status parse_unigram(const cJSON *m, sutra_tokenizer *tok, char *err, size_t errcap) {
    sutra_unigram *u = &tok->unigram;
    tok->model = SUTRA_MODEL_UNIGRAM;
    u->unk_id = -1;
    const cJSON *vocab = item(m, "vocab");
    if (!cJSON_IsArray(vocab)) return FAIL_FORMAT("model.vocab must be an array of [piece, score]");
    int n = cJSON_GetArraySize(vocab);
    /* HF loads an empty Unigram, which then cannot encode a single character. */
    if (n < 1)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "model type 'Unigram' with an empty vocabulary is not "
                          "supported");
    const cJSON *unk = item(m, "unk_id");
    int64_t unk_id = -1;
    if (unk && !cJSON_IsNull(unk) && (!as_int(unk, 0, (double)INT32_MAX, &unk_id) || unk_id >= n))
        return FAIL_FORMAT("model.unk_id must be null or an integer in [0, %d)", n);
    u->unk_id = (int32_t)unk_id;
    sutra_status st = opt_bool(m, "byte_fallback", "model", &u->byte_fallback, err, errcap);
    if (st != SUTRA_OK) return st;
    if ((st = sutra_vocab_init(&u->vocab, n, err, errcap)) != SUTRA_OK) return st;
    u->scores = malloc((size_t)n * sizeof *u->scores);
    if (!u->scores) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate %d scores", n);
    char msg[256];
    int id = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, id++) {
        const cJSON *piece = cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 ? e->child : NULL;
        const cJSON *score = piece ? piece->next : NULL;
        if (!piece || !cJSON_IsString(piece) || !piece->valuestring || !cJSON_IsNumber(score) ||
            !isfinite(score->valuedouble))
            return FAIL_FORMAT("model.vocab[%d] must be [piece, score] with a string and a finite number", id);
        if ((st = check_token(piece->valuestring, "model.vocab", err, errcap)) != SUTRA_OK) return st;
        st = sutra_vocab_set(&u->vocab, id, piece->valuestring, strlen(piece->valuestring), msg, sizeof msg);
        if (st != SUTRA_OK) return sutra_errf(st, err, errcap, "model.vocab: %s", msg);
        u->scores[id] = hf_json_f64(score->valuedouble);
    }
    return sutra_unigram_finish(u, err, errcap);
}

/* One merge: "left right" (exactly one space) or ["left", "right"]. */
static sutra_status parse_merge(const cJSON *e, size_t rank, sutra_bpe *b, char *err, size_t errcap) {
    if (cJSON_IsString(e) && e->valuestring) {
        const char *s = e->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return FAIL_FORMAT("model.merges[%zu] '%.64s' is not two tokens separated by one space", rank, s);
        return sutra_bpe_add_merge(b, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank, err, errcap);
    }
    if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && e->child->valuestring &&
        cJSON_IsString(e->child->next) && e->child->next->valuestring) {
        const char *l = e->child->valuestring, *r = e->child->next->valuestring;
        return sutra_bpe_add_merge(b, l, strlen(l), r, strlen(r), rank, err, errcap);
    }
    return FAIL_FORMAT("model.merges[%zu] must be \"a b\" or [\"a\", \"b\"]", rank);
}

static sutra_status dup_opt(const cJSON *m, const char *key, char **out, size_t *len, char *err, size_t errcap) {
    sutra_status st = SUTRA_OK;
    const char *v = opt_string(m, key, "model", &st, err, errcap);
    if (st != SUTRA_OK || !v) return st;
    *out = strdup(v);
    if (!*out) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot copy model.%s", key);
    if (len) *len = strlen(v);
    return SUTRA_OK;
}

/* BPE: {"vocab": {token: id}, "merges": [...], "unk_token", "continuing_subword_prefix",
 * "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges", "dropout"}. */
static sutra_status parse_bpe(const cJSON *m, sutra_tokenizer *tok, char *err, size_t errcap) {
    sutra_bpe *b = &tok->bpe;
    tok->model = SUTRA_MODEL_BPE;
    b->unk_id = -1;
    const cJSON *vocab = item(m, "vocab"), *merges = item(m, "merges"), *dropout = item(m, "dropout");
    if (!cJSON_IsObject(vocab)) return FAIL_FORMAT("model.vocab must be an object of token: id");
    if (merges && !cJSON_IsNull(merges) && !cJSON_IsArray(merges)) return FAIL_FORMAT("model.merges must be an array");
    if (dropout && !cJSON_IsNull(dropout)) {
        if (!cJSON_IsNumber(dropout) || !(dropout->valuedouble >= 0.0 && dropout->valuedouble <= 1.0))
            return FAIL_FORMAT("model.dropout must be null or a number in [0, 1]");
        if (dropout->valuedouble > 0.0)
            return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "model.dropout %g: BPE dropout (random merges) is "
                              "not supported", dropout->valuedouble);
    }
    sutra_status st;
    if ((st = dup_opt(m, "unk_token", &b->unk_token, NULL, err, errcap)) != SUTRA_OK ||
        (st = dup_opt(m, "continuing_subword_prefix", &b->prefix, &b->prefix_len, err, errcap)) != SUTRA_OK ||
        (st = dup_opt(m, "end_of_word_suffix", &b->suffix, &b->suffix_len, err, errcap)) != SUTRA_OK ||
        (st = opt_bool(m, "fuse_unk", "model", &b->fuse_unk, err, errcap)) != SUTRA_OK ||
        (st = opt_bool(m, "byte_fallback", "model", &b->byte_fallback, err, errcap)) != SUTRA_OK ||
        (st = opt_bool(m, "ignore_merges", "model", &b->ignore_merges, err, errcap)) != SUTRA_OK)
        return st;
    /* Ids need not be dense; a gap is an id without a token. The bound keeps a hostile file from
     * asking for a huge table. */
    int n = cJSON_GetArraySize(vocab);
    /* HF loads an empty BPE, which then drops every character. */
    if (n < 1)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "model type 'BPE' with an empty vocabulary is not "
                          "supported");
    int64_t max_id = -1;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int64_t id;
        if (!as_int(e, 0, (double)INT32_MAX, &id) || id > 2 * (int64_t)n + 1024)
            return FAIL_FORMAT("model.vocab: token '%.64s' has id %s, not an integer in [0, %d]",
                               e->string ? e->string : "", cJSON_IsNumber(e) ? "out of range" : "of the wrong type",
                               2 * n + 1024);
        if (id > max_id) max_id = id;
    }
    if ((st = sutra_vocab_init(&b->vocab, (int32_t)(max_id + 1), err, errcap)) != SUTRA_OK) return st;
    char msg[256];
    for (const cJSON *e = vocab->child; e; e = e->next) {
        const char *s = e->string ? e->string : "";
        if ((st = check_token(s, "model.vocab", err, errcap)) != SUTRA_OK) return st;
        st = sutra_vocab_set(&b->vocab, (int32_t)e->valuedouble, s, strlen(s), msg, sizeof msg);
        if (st != SUTRA_OK) return sutra_errf(st, err, errcap, "model.vocab: %s", msg);
    }
    size_t nm = merges ? (size_t)cJSON_GetArraySize(merges) : 0;
    if ((st = sutra_bpe_init_merges(b, nm, err, errcap)) != SUTRA_OK) return st;
    size_t rank = 0;
    for (const cJSON *e = merges ? merges->child : NULL; e; e = e->next) {
        /* HF skips the "#version" header line of a merges.txt carried over. */
        if (cJSON_IsString(e) && e->valuestring && strncmp(e->valuestring, "#version", 8) == 0) continue;
        if ((st = parse_merge(e, rank, b, err, errcap)) != SUTRA_OK) return st;
        rank++;
    }
    return sutra_bpe_finish(b, err, errcap);
}

static sutra_status parse_model(const cJSON *m, sutra_tokenizer *tok, char *err, size_t errcap) {
    if (!m || cJSON_IsNull(m)) return FAIL_FORMAT("\"model\" is missing");
    if (!cJSON_IsObject(m)) return FAIL_FORMAT("\"model\" must be an object");
    const char *type = type_of(m);
    if (!type) return FAIL_FORMAT("model.type is missing or not a string");
    if (strcmp(type, "WordPiece") == 0) return parse_wordpiece(m, tok, err, errcap);
    if (strcmp(type, "Unigram") == 0) return parse_unigram(m, tok, err, errcap);
    if (strcmp(type, "BPE") == 0) return parse_bpe(m, tok, err, errcap);
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                      "model type '%.64s' is not supported (supported: WordPiece, Unigram, BPE)", type);
}

/* ---- normalizer and pre-tokenizer ----------------------------------------------------------- */

#define MAX_NESTING 8

/* A JSON string as code points (malloc'd; *n may be 0). */
static sutra_status code_points(const char *s, const char *where, uint32_t **out, size_t *n, char *err,
                                size_t errcap) {
    size_t len = strlen(s), k = 0;
    if (sutra_utf8_validate(s, len) != len) return FAIL_FORMAT("%s is not valid UTF-8", where);
    *out = malloc((len ? len : 1) * sizeof **out);
    if (!*out) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot copy %s", where);
    for (size_t i = 0; i < len;) (*out)[k++] = sutra_utf8_next(s, &i);
    *n = k;
    return SUTRA_OK;
}

static sutra_status req_bool(const cJSON *obj, const char *key, const char *where, int *out, char *err,
                             size_t errcap) {
    if (!cJSON_IsBool(item(obj, key))) return FAIL_FORMAT("%s.%s must be true or false", where, key);
    *out = cJSON_IsTrue(item(obj, key)) ? 1 : 0;
    return SUTRA_OK;
}

/* The regexes converters put in Replace normalizers are one atom and a quantifier (XLM-R and
 * mBART: " {2,}"); that much is matched by hand: a literal character, an escaped one, or \s,
 * then nothing, +, {n}, {n,} or {n,m}. */
static sutra_status parse_replace_regex(const char *re, sutra_normalizer *nz, const char *where, char *err,
                                        size_t errcap) {
    size_t len = strlen(re), i = 0;
    if (sutra_utf8_validate(re, len) != len) return FAIL_FORMAT("%s.pattern is not valid UTF-8", where);
    static const char meta[] = ".^$|()[]{}*+?\\";
    nz->pat = malloc(sizeof *nz->pat);
    if (!nz->pat) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot copy %s", where);
    nz->pat_n = 1;
    if (len >= 2 && re[0] == '\\') {
        char c = re[1];
        i = 2;
        if (c == 's') nz->replace = SUTRA_REPLACE_RUN_SPACE;
        else if (c == 't') nz->pat[0] = '\t';
        else if (c == 'n') nz->pat[0] = '\n';
        else if (c == 'r') nz->pat[0] = '\r';
        else if (c && strchr(meta, c) ) nz->pat[0] = (uint32_t)(unsigned char)c;
        else if (c == ' ' || c == '-' || c == '/') nz->pat[0] = (uint32_t)(unsigned char)c;
        else goto unsupported;
        if (nz->replace != SUTRA_REPLACE_RUN_SPACE) nz->replace = SUTRA_REPLACE_RUN_CHAR;
    } else if (len >= 1 && !strchr(meta, re[0])) {
        nz->pat[0] = sutra_utf8_next(re, &i);
        nz->replace = SUTRA_REPLACE_RUN_CHAR;
    } else {
        goto unsupported;
    }
    nz->rep_min = nz->rep_max = 1;
    if (i == len) return SUTRA_OK;
    if (re[i] == '+' && i + 1 == len) {
        nz->rep_max = 0;
        return SUTRA_OK;
    }
    if (re[i] == '{') {
        char *end;
        unsigned long lo = strtoul(re + i + 1, &end, 10), hi = lo;
        if (end == re + i + 1 || lo < 1 || lo > 1000000) goto unsupported;
        if (*end == ',') {
            const char *q = end + 1;
            if (*q == '}') {
                hi = 0;
                end = (char *)q;
            } else {
                hi = strtoul(q, &end, 10);
                if (end == q || hi < lo || hi > 1000000) goto unsupported;
            }
        }
        if (*end != '}' || end + 1 != re + len) goto unsupported;
        nz->rep_min = lo;
        nz->rep_max = hi;
        return SUTRA_OK;
    }
unsupported:
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                      "%s: regex '%.64s' is not supported (supported: one character, an escaped one or \\s, "
                      "optionally followed by +, {n}, {n,} or {n,m})", where, re);
}

static sutra_status parse_norm(const cJSON *n, sutra_normalizer *nz, int depth, const char *where, char *err,
                               size_t errcap) {
    memset(nz, 0, sizeof *nz);
    nz->kind = SUTRA_NORM_NONE;
    if (!n || cJSON_IsNull(n)) return SUTRA_OK;
    if (!cJSON_IsObject(n)) return FAIL_FORMAT("%s must be an object or null", where);
    const char *type = type_of(n);
    if (!type) return FAIL_FORMAT("%s.type is missing or not a string", where);
    sutra_status st = SUTRA_OK;
    if (strcmp(type, "BertNormalizer") == 0) {
        nz->kind = SUTRA_NORM_BERT;
        nz->clean_text = nz->handle_chinese_chars = nz->lowercase = 1;
        nz->strip_accents = -1; /* null: do what lowercase does */
        if ((st = opt_bool(n, "clean_text", where, &nz->clean_text, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(n, "handle_chinese_chars", where, &nz->handle_chinese_chars, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(n, "strip_accents", where, &nz->strip_accents, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(n, "lowercase", where, &nz->lowercase, err, errcap)) != SUTRA_OK)
            return st;
        if (nz->strip_accents < 0) nz->strip_accents = nz->lowercase;
        return SUTRA_OK;
    }
    if (strcmp(type, "Precompiled") == 0) {
        const cJSON *cm = item(n, "precompiled_charsmap");
        if (!cJSON_IsString(cm) || !cm->valuestring) return FAIL_FORMAT("%s.precompiled_charsmap must be a string", where);
        uint8_t *data;
        size_t len;
        char msg[256];
        st = sutra_base64_decode(cm->valuestring, strlen(cm->valuestring), &data, &len, msg, sizeof msg);
        if (st != SUTRA_OK) return sutra_errf(st, err, errcap, "%s.precompiled_charsmap: %s", where, msg);
        st = sutra_charsmap_parse(data, len, &nz->charsmap, msg, sizeof msg);
        free(data);
        if (st != SUTRA_OK) return sutra_errf(st, err, errcap, "%s: %s", where, msg);
        nz->kind = SUTRA_NORM_PRECOMPILED;
        return SUTRA_OK;
    }
    if (strcmp(type, "NFC") == 0 || strcmp(type, "NFD") == 0) {
        nz->kind = type[2] == 'C' ? SUTRA_NORM_NFC : SUTRA_NORM_NFD;
        return SUTRA_OK;
    }
    if (strcmp(type, "Lowercase") == 0) {
        nz->kind = SUTRA_NORM_LOWERCASE;
        return SUTRA_OK;
    }
    if (strcmp(type, "Strip") == 0) {
        nz->kind = SUTRA_NORM_STRIP;
        if ((st = req_bool(n, "strip_left", where, &nz->strip_left, err, errcap)) != SUTRA_OK) return st;
        return req_bool(n, "strip_right", where, &nz->strip_right, err, errcap);
    }
    if (strcmp(type, "Prepend") == 0) {
        const cJSON *p = item(n, "prepend");
        if (!cJSON_IsString(p) || !p->valuestring) return FAIL_FORMAT("%s.prepend must be a string", where);
        nz->kind = SUTRA_NORM_PREPEND;
        return code_points(p->valuestring, where, &nz->content, &nz->content_n, err, errcap);
    }
    if (strcmp(type, "Replace") == 0) {
        const cJSON *pat = item(n, "pattern"), *content = item(n, "content");
        if (!cJSON_IsString(content) || !content->valuestring) return FAIL_FORMAT("%s.content must be a string", where);
        nz->kind = SUTRA_NORM_REPLACE;
        if ((st = code_points(content->valuestring, where, &nz->content, &nz->content_n, err, errcap)) != SUTRA_OK)
            return st;
        const cJSON *lit = cJSON_IsObject(pat) ? item(pat, "String") : NULL;
        const cJSON *re = cJSON_IsObject(pat) ? item(pat, "Regex") : NULL;
        if (cJSON_IsString(lit) && lit->valuestring) {
            nz->replace = SUTRA_REPLACE_LITERAL;
            if ((st = code_points(lit->valuestring, where, &nz->pat, &nz->pat_n, err, errcap)) != SUTRA_OK) return st;
            if (nz->pat_n == 0) return FAIL_FORMAT("%s.pattern is an empty string", where);
            return SUTRA_OK;
        }
        if (cJSON_IsString(re) && re->valuestring) return parse_replace_regex(re->valuestring, nz, where, err, errcap);
        return FAIL_FORMAT("%s.pattern must be {\"String\": ...} or {\"Regex\": ...}", where);
    }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = item(n, "normalizers");
        if (!cJSON_IsArray(list)) return FAIL_FORMAT("%s.normalizers must be an array", where);
        if (depth >= MAX_NESTING) return FAIL_FORMAT("%s: sequences nested more than %d deep", where, MAX_NESTING);
        int cnt = cJSON_GetArraySize(list);
        nz->kind = SUTRA_NORM_SEQUENCE;
        nz->steps = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof *nz->steps);
        if (!nz->steps) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate %s", where);
        int i = 0;
        for (const cJSON *e = list->child; e; e = e->next, i++) {
            char sub[96];
            snprintf(sub, sizeof sub, "%.60s.normalizers[%d]", where, i);
            nz->n_steps++;
            if ((st = parse_norm(e, &nz->steps[i], depth + 1, sub, err, errcap)) != SUTRA_OK) return st;
        }
        return SUTRA_OK;
    }
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                      "%s type '%.64s' is not supported (supported: BertNormalizer, Precompiled, NFC, NFD, "
                      "Lowercase, Strip, Prepend, Replace, Sequence)", where, type);
}

static sutra_status parse_normalizer(const cJSON *n, sutra_tokenizer *tok, char *err, size_t errcap) {
    return parse_norm(n, &tok->normalizer, 0, "normalizer", err, errcap);
}

/* A Split pre-tokenizer: a regex pattern Sutra knows (matched by hand in pretok_ext.c, so the
 * text must be exactly one of these), behavior Isolated, not inverted. */
static sutra_status parse_split(const cJSON *p, sutra_pretokenizer *pt, const char *where, char *err, size_t errcap) {
    static const struct {
        const char *regex;
        sutra_split_pattern id;
    } known[] = {
        {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", SUTRA_SPLIT_GPT2},
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         SUTRA_SPLIT_QWEN2},
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         SUTRA_SPLIT_CL100K},
    };
    const cJSON *pat = item(p, "pattern");
    const cJSON *rx = cJSON_IsObject(pat) ? item(pat, "Regex") : NULL;
    if (!cJSON_IsString(rx) || !rx->valuestring)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: only a Split by a Regex pattern is supported", where);
    size_t k = 0;
    while (k < sizeof known / sizeof known[0] && strcmp(known[k].regex, rx->valuestring) != 0) k++;
    if (k == sizeof known / sizeof known[0])
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: Split pattern '%.120s' is not one Sutra knows "
                          "(GPT-2's, Qwen2's, cl100k's)", where, rx->valuestring);
    pt->pattern = known[k].id;
    sutra_status st = SUTRA_OK;
    const char *behavior = opt_string(p, "behavior", where, &st, err, errcap);
    if (st != SUTRA_OK) return st;
    int invert = 0;
    if ((st = opt_bool(p, "invert", where, &invert, err, errcap)) != SUTRA_OK) return st;
    if (!behavior || strcmp(behavior, "Isolated") != 0 || invert)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: only Split behavior 'Isolated', not inverted, is "
                          "supported (got '%.32s'%s)", where, behavior ? behavior : "(none)", invert ? ", inverted" : "");
    return SUTRA_OK;
}

/* Appends one pre-tokenizer to steps (a Sequence's members are inlined: a sequence of sequences
 * is the same as the flat one). */
static sutra_status parse_pretok(const cJSON *p, sutra_pretokenizer *steps, size_t *n, int depth, const char *where,
                                 char *err, size_t errcap) {
    if (!cJSON_IsObject(p)) return FAIL_FORMAT("%s must be an object", where);
    const char *type = type_of(p);
    if (!type) return FAIL_FORMAT("%s.type is missing or not a string", where);
    sutra_status st = SUTRA_OK;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = item(p, "pretokenizers");
        if (!cJSON_IsArray(list)) return FAIL_FORMAT("%s.pretokenizers must be an array", where);
        if (depth >= MAX_NESTING) return FAIL_FORMAT("%s: sequences nested more than %d deep", where, MAX_NESTING);
        int i = 0;
        for (const cJSON *e = list->child; e; e = e->next, i++) {
            char sub[96];
            snprintf(sub, sizeof sub, "%.60s.pretokenizers[%d]", where, i);
            if ((st = parse_pretok(e, steps, n, depth + 1, sub, err, errcap)) != SUTRA_OK) return st;
        }
        return SUTRA_OK;
    }
    if (*n >= SUTRA_PRETOK_MAX_STEPS)
        return FAIL_FORMAT("%s: more than %d pre-tokenizers in sequence", where, SUTRA_PRETOK_MAX_STEPS);
    sutra_pretokenizer *pt = &steps[*n];
    memset(pt, 0, sizeof *pt);
    if (strcmp(type, "BertPreTokenizer") == 0) {
        pt->kind = SUTRA_PRETOK_BERT;
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        pt->kind = SUTRA_PRETOK_WHITESPACE_SPLIT;
    } else if (strcmp(type, "Metaspace") == 0) {
        pt->kind = SUTRA_PRETOK_METASPACE;
        const cJSON *rep = item(p, "replacement");
        if (!rep || cJSON_IsNull(rep))
            return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "%s: a Metaspace without a replacement character is "
                              "not supported", where);
        size_t rl = cJSON_IsString(rep) && rep->valuestring ? strlen(rep->valuestring) : 0;
        size_t at = 0;
        if (rl == 0 || sutra_utf8_validate(rep->valuestring, rl) != rl ||
            (pt->replacement = sutra_utf8_next(rep->valuestring, &at), at != rl))
            return FAIL_FORMAT("%s.replacement must be a string of one character", where);
        pt->prepend = SUTRA_PREPEND_ALWAYS;
        pt->split = 1;
        const char *scheme = opt_string(p, "prepend_scheme", where, &st, err, errcap);
        if (st != SUTRA_OK) return st;
        if (scheme) {
            if (strcmp(scheme, "always") == 0) pt->prepend = SUTRA_PREPEND_ALWAYS;
            else if (strcmp(scheme, "first") == 0) pt->prepend = SUTRA_PREPEND_FIRST;
            else if (strcmp(scheme, "never") == 0) pt->prepend = SUTRA_PREPEND_NEVER;
            else return FAIL_FORMAT("%s.prepend_scheme '%.32s' is not always, first or never", where, scheme);
        }
        /* Files from before prepend_scheme carry add_prefix_space; HF refuses false with any
         * scheme but never. */
        int aps = -1;
        if ((st = opt_bool(p, "add_prefix_space", where, &aps, err, errcap)) != SUTRA_OK) return st;
        if (aps == 0 && pt->prepend != SUTRA_PREPEND_NEVER)
            return FAIL_FORMAT("%s: add_prefix_space false does not match prepend_scheme", where);
        if ((st = opt_bool(p, "split", where, &pt->split, err, errcap)) != SUTRA_OK) return st;
    } else if (strcmp(type, "ByteLevel") == 0) {
        pt->kind = SUTRA_PRETOK_BYTELEVEL;
        int trim = 0;
        pt->use_regex = 1;
        if ((st = req_bool(p, "add_prefix_space", where, &pt->add_prefix_space, err, errcap)) != SUTRA_OK ||
            (st = req_bool(p, "trim_offsets", where, &trim, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(p, "use_regex", where, &pt->use_regex, err, errcap)) != SUTRA_OK)
            return st;
        /* trim_offsets matters only to a ByteLevel post-processor, not here. */
    } else if (strcmp(type, "Split") == 0) {
        pt->kind = SUTRA_PRETOK_SPLIT;
        if ((st = parse_split(p, pt, where, err, errcap)) != SUTRA_OK) return st;
    } else {
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                          "%s type '%.64s' is not supported (supported: BertPreTokenizer, WhitespaceSplit, "
                          "Metaspace, ByteLevel, Split, Sequence)", where, type);
    }
    (*n)++;
    return SUTRA_OK;
}

static sutra_status parse_pretokenizer(const cJSON *p, sutra_tokenizer *tok, char *err, size_t errcap) {
    tok->pretok.kind = SUTRA_PRETOK_NONE;
    if (!p || cJSON_IsNull(p)) return SUTRA_OK;
    if (!cJSON_IsObject(p)) return FAIL_FORMAT("\"pre_tokenizer\" must be an object or null");
    sutra_pretokenizer *steps = calloc(SUTRA_PRETOK_MAX_STEPS, sizeof *steps);
    if (!steps) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate the pre-tokenizer");
    size_t n = 0;
    sutra_status st = parse_pretok(p, steps, &n, 0, "pre_tokenizer", err, errcap);
    if (st != SUTRA_OK) {
        free(steps);
        return st;
    }
    const char *type = type_of(p);
    if (strcmp(type, "Sequence") != 0) {
        tok->pretok = steps[0];
        free(steps);
    } else {
        tok->pretok.kind = SUTRA_PRETOK_SEQUENCE;
        tok->pretok.steps = steps;
        tok->pretok.n_steps = n;
    }
    return SUTRA_OK;
}

/* ---- post-processor ------------------------------------------------------------------------- */

static sutra_status tmpl_push(sutra_tokenizer *tok, int64_t id, int after, char *err, size_t errcap) {
    size_t n = tok->n_pre + tok->n_post;
    if (n >= 64) return FAIL_FORMAT("post_processor: more than 64 special tokens in the template");
    int32_t *ids = realloc(tok->tmpl_ids, (n + 1) * sizeof *ids);
    if (!ids) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate the template");
    tok->tmpl_ids = ids;
    if (after) {
        ids[n] = (int32_t)id;
        tok->n_post++;
    } else {
        /* Pre ids come first: shift the post ids along by one. */
        memmove(ids + tok->n_pre + 1, ids + tok->n_pre, tok->n_post * sizeof *ids);
        ids[tok->n_pre] = (int32_t)id;
        tok->n_pre++;
    }
    return SUTRA_OK;
}

/* A template item's type_id: absent is 0. */
static int template_type_id(const cJSON *it, int64_t *type_id) {
    const cJSON *t = item(it, "type_id");
    *type_id = 0;
    return !t || as_int(t, 0, 255, type_id);
}

/* TemplateProcessing's "pair": sequences A and B once each, special tokens as in "single". */
static sutra_status parse_template_pair(const cJSON *pair, const cJSON *specials, sutra_tokenizer *tok, char *err,
                                        size_t errcap) {
    if (!pair || cJSON_IsNull(pair)) return SUTRA_OK; /* none: HF's default (A then B) */
    if (!cJSON_IsArray(pair)) return FAIL_FORMAT("post_processor.pair must be an array");
    int seen[2] = {0, 0};
    for (const cJSON *it = pair->child; it; it = it->next) {
        const cJSON *seq = item(it, "Sequence"), *sp = item(it, "SpecialToken");
        const cJSON *body = cJSON_IsObject(seq) ? seq : sp;
        int64_t type_id;
        if (!cJSON_IsObject(body))
            return FAIL_FORMAT("post_processor.pair: items must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
        if (!template_type_id(body, &type_id)) return FAIL_FORMAT("post_processor.pair: type_id must be 0..255");
        const cJSON *name = item(body, "id");
        if (!cJSON_IsString(name)) return FAIL_FORMAT("post_processor.pair: id must be a string");
        sutra_status st;
        if (body == seq) {
            const int which = !strcmp(name->valuestring, "A") ? 0 : !strcmp(name->valuestring, "B") ? 1 : -1;
            if (which < 0) return FAIL_FORMAT("post_processor.pair: a sequence must be \"A\" or \"B\"");
            if (seen[which]++) return FAIL_FORMAT("post_processor.pair: sequence %s twice", which ? "B" : "A");
            st = sutra_tok_pair_push(tok, which ? SUTRA_PAIR_SEQ_B : SUTRA_PAIR_SEQ_A, (int32_t)type_id, err, errcap);
            if (st != SUTRA_OK) return st;
            continue;
        }
        const cJSON *def = specials ? item(specials, name->valuestring) : NULL;
        const cJSON *ids = cJSON_IsObject(def) ? item(def, "ids") : NULL;
        if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) < 1)
            return FAIL_FORMAT("post_processor.pair: special token '%.64s' is not in special_tokens", name->valuestring);
        for (const cJSON *x = ids->child; x; x = x->next) {
            int64_t id;
            if (!as_int(x, 0, (double)INT32_MAX, &id))
                return FAIL_FORMAT("post_processor.special_tokens['%.64s']: id is not a non-negative integer",
                                   name->valuestring);
            if ((st = sutra_tok_pair_push(tok, (int32_t)id, (int32_t)type_id, err, errcap)) != SUTRA_OK) return st;
        }
    }
    if (!seen[0] || !seen[1]) return FAIL_FORMAT("post_processor.pair must hold sequences A and B");
    return SUTRA_OK;
}

static sutra_status parse_template(const cJSON *p, sutra_tokenizer *tok, char *err, size_t errcap) {
    const cJSON *single = item(p, "single");
    const cJSON *specials = item(p, "special_tokens");
    if (!cJSON_IsArray(single)) return FAIL_FORMAT("post_processor.single must be an array");
    if (specials && !cJSON_IsNull(specials) && !cJSON_IsObject(specials))
        return FAIL_FORMAT("post_processor.special_tokens must be an object");
    int seen_seq = 0;
    for (const cJSON *it = single->child; it; it = it->next) {
        const cJSON *seq = item(it, "Sequence"), *sp = item(it, "SpecialToken");
        if (cJSON_IsObject(seq)) {
            const cJSON *sid = item(seq, "id");
            if (!cJSON_IsString(sid) || strcmp(sid->valuestring, "A") != 0)
                return FAIL_FORMAT("post_processor.single: the sequence must be \"A\"");
            if (seen_seq++) return FAIL_FORMAT("post_processor.single: more than one sequence");
        } else if (cJSON_IsObject(sp)) {
            const cJSON *name = item(sp, "id");
            if (!cJSON_IsString(name)) return FAIL_FORMAT("post_processor.single: SpecialToken.id must be a string");
            const cJSON *def = specials ? item(specials, name->valuestring) : NULL;
            if (!cJSON_IsObject(def))
                return FAIL_FORMAT("post_processor: special token '%.64s' is not in special_tokens",
                                   name->valuestring);
            const cJSON *ids = item(def, "ids");
            if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) < 1)
                return FAIL_FORMAT("post_processor.special_tokens['%.64s'].ids must be a non-empty array",
                                   name->valuestring);
            for (const cJSON *x = ids->child; x; x = x->next) {
                int64_t id;
                if (!as_int(x, 0, (double)INT32_MAX, &id))
                    return FAIL_FORMAT("post_processor.special_tokens['%.64s']: id is not a non-negative integer",
                                       name->valuestring);
                sutra_status st = tmpl_push(tok, id, seen_seq, err, errcap);
                if (st != SUTRA_OK) return st;
            }
        } else {
            return FAIL_FORMAT("post_processor.single: items must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
        }
    }
    if (!seen_seq) return FAIL_FORMAT("post_processor.single has no sequence");
    return parse_template_pair(item(p, "pair"), specials, tok, err, errcap);
}

/* BertProcessing / RobertaProcessing: {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]} around the
 * sequence; their pair forms are fixed (pair.c). */
static sutra_status parse_bert_processing(const cJSON *p, sutra_tokenizer *tok, int roberta, char *err, size_t errcap) {
    static const char *const keys[2] = {"cls", "sep"};
    int64_t both[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        const cJSON *pair = item(p, keys[k]);
        int64_t id;
        if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !cJSON_IsString(pair->child) ||
            !as_int(pair->child->next, 0, (double)INT32_MAX, &id))
            return FAIL_FORMAT("post_processor.%s must be [token, id]", keys[k]);
        sutra_status st = tmpl_push(tok, id, k, err, errcap);
        if (st != SUTRA_OK) return st;
        both[k] = id;
    }
    return sutra_tok_pair_bert(tok, (int32_t)both[0], (int32_t)both[1], roberta, err, errcap);
}

static sutra_status parse_post_processor(const cJSON *p, sutra_tokenizer *tok, char *err, size_t errcap) {
    if (!p || cJSON_IsNull(p)) return SUTRA_OK;
    if (!cJSON_IsObject(p)) return FAIL_FORMAT("\"post_processor\" must be an object or null");
    const char *type = type_of(p);
    if (!type) return FAIL_FORMAT("post_processor.type is missing or not a string");
    if (strcmp(type, "TemplateProcessing") == 0) return parse_template(p, tok, err, errcap);
    /* RobertaProcessing adds the same tokens (<s> A </s> for MPNet and RoBERTa); its trim_offsets and
     * add_prefix_space move offsets only (tokenizer.c: trim_offsets) */
    if (strcmp(type, "BertProcessing") == 0) return parse_bert_processing(p, tok, 0, err, errcap);
    if (strcmp(type, "RobertaProcessing") == 0) {
        int trim = 1, prefix = 1;
        sutra_status st = opt_bool(p, "trim_offsets", "post_processor", &trim, err, errcap);
        if (st == SUTRA_OK) st = opt_bool(p, "add_prefix_space", "post_processor", &prefix, err, errcap);
        if (st == SUTRA_OK) st = parse_bert_processing(p, tok, 1, err, errcap);
        tok->trim_offsets = trim;
        tok->trim_keep_prefix = prefix;
        return st;
    }
    if (strcmp(type, "ByteLevel") == 0) return SUTRA_OK; /* adds no tokens; its trim_offsets moves offsets only */
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                      "post_processor type '%.64s' is not supported (supported: TemplateProcessing, BertProcessing, "
                      "RobertaProcessing, ByteLevel)", type);
}

/* ---- added tokens --------------------------------------------------------------------------- */

static sutra_status parse_added(const cJSON *a, sutra_tokenizer *tok, char *err, size_t errcap) {
    if (!a || cJSON_IsNull(a)) return SUTRA_OK;
    if (!cJSON_IsArray(a)) return FAIL_FORMAT("\"added_tokens\" must be an array");
    int i = 0;
    for (const cJSON *t = a->child; t; t = t->next, i++) {
        char where[48];
        snprintf(where, sizeof where, "added_tokens[%d]", i);
        if (!cJSON_IsObject(t)) return FAIL_FORMAT("%s must be an object", where);
        const cJSON *content = item(t, "content");
        if (!cJSON_IsString(content) || !content->valuestring) return FAIL_FORMAT("%s.content must be a string", where);
        const cJSON *id = item(t, "id");
        int64_t idv;
        if (id && !as_int(id, 0, (double)INT32_MAX, &idv))
            return FAIL_FORMAT("%s ('%.64s'): id must be a non-negative integer", where, content->valuestring);
        /* AddedToken's defaults: normalized unless said otherwise, not special. */
        int single_word = 0, lstrip = 0, rstrip = 0, normalized = 1, special = 0;
        sutra_status st;
        if ((st = opt_bool(t, "single_word", where, &single_word, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(t, "lstrip", where, &lstrip, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(t, "rstrip", where, &rstrip, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(t, "normalized", where, &normalized, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(t, "special", where, &special, err, errcap)) != SUTRA_OK)
            return st;
        st = sutra_tok_add_token(tok, content->valuestring, strlen(content->valuestring), single_word, lstrip, rstrip,
                                 normalized, special, err, errcap);
        if (st != SUTRA_OK) return st;
    }
    return SUTRA_OK;
}

/* ---- entry point ---------------------------------------------------------------------------- */

/* Whether the JSON text escapes U+0000 in some string: cJSON ends strings at a NUL, so such a
 * token would silently lose its tail. */
static int has_escaped_nul(const char *json, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (json[i] != '\\') continue;
        if (json[i + 1] == 'u' && i + 5 < len && memcmp(json + i + 2, "0000", 4) == 0) return 1;
        i++; /* skip the escaped character, so that \\ never starts another escape */
    }
    return 0;
}

static sutra_status parse_root(const cJSON *root, sutra_tokenizer *tok, int escaped_nul, char *err, size_t errcap) {
    if (!cJSON_IsObject(root)) return FAIL_FORMAT("the top level must be an object");
    const cJSON *version = item(root, "version");
    if (version && !cJSON_IsNull(version) &&
        (!cJSON_IsString(version) || strcmp(version->valuestring, "1.0") != 0))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                          "tokenizer.json version '%.32s' is not supported (1.0 is)",
                          cJSON_IsString(version) ? version->valuestring : "?");
    sutra_status st;
    /* WordPiece files keep the behaviour they always had; the newer models refuse. */
    const char *mtype = cJSON_IsObject(item(root, "model")) ? type_of(item(root, "model")) : NULL;
    if (escaped_nul && mtype && strcmp(mtype, "WordPiece") != 0)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                          "tokenizer.json has U+0000 (\\u0000) inside a string, which this loader cannot keep");
    if ((st = parse_model(item(root, "model"), tok, err, errcap)) != SUTRA_OK) return st;
    if ((st = parse_normalizer(item(root, "normalizer"), tok, err, errcap)) != SUTRA_OK) return st;
    if ((st = parse_pretokenizer(item(root, "pre_tokenizer"), tok, err, errcap)) != SUTRA_OK) return st;
    if ((st = parse_post_processor(item(root, "post_processor"), tok, err, errcap)) != SUTRA_OK) return st;
    if ((st = parse_added(item(root, "added_tokens"), tok, err, errcap)) != SUTRA_OK) return st;
    return sutra_tok_finish(tok, err, errcap);
}

sutra_status sutra_tokenizer_load_json(const char *json, size_t len, sutra_tokenizer **out, char *err,
                                       size_t errcap) {
    if (!out) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "load: NULL output");
    *out = NULL;
    if (!json && len) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "load: NULL json");
    if (len == 0) return FAIL_FORMAT("tokenizer.json is empty");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        return FAIL_FORMAT("tokenizer.json is not valid JSON (error near byte %zu)", at);
    }
    size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : len;
    while (at < len && (json[at] == ' ' || json[at] == '\t' || json[at] == '\n' || json[at] == '\r')) at++;
    if (at < len) {
        cJSON_Delete(root);
        return FAIL_FORMAT("tokenizer.json has trailing data at byte %zu", at);
    }
    sutra_tokenizer *tok = sutra_tok_alloc();
    if (!tok) {
        cJSON_Delete(root);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate a tokenizer");
    }
    sutra_status st = parse_root(root, tok, has_escaped_nul(json, len), err, errcap);
    cJSON_Delete(root);
    if (st != SUTRA_OK) {
        sutra_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return SUTRA_OK;
}
