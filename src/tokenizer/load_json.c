/*
 * load_json.c - builds a tokenizer from HF's tokenizer.json: "model", "normalizer",
 * "pre_tokenizer", "post_processor" and "added_tokens" ("truncation" and "padding" are the
 * caller's business and "decoder" is not needed to encode, so all three are ignored).
 *
 * Rules: the file is untrusted: every field is type-checked, every id range-checked, and an
 * error names the field or token at fault; a component type we do not implement is
 * SUTRA_ERR_UNSUPPORTED naming the type. Added tokens get HF's ids (those of the model
 * vocabulary, else the next free one), not necessarily the "id" the file records, as HF does.
 * To support a new component, add its type to the matching parse_* switch.
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

static sutra_status parse_model(const cJSON *m, sutra_tokenizer *tok, char *err, size_t errcap) {
    if (!m || cJSON_IsNull(m)) return FAIL_FORMAT("\"model\" is missing");
    if (!cJSON_IsObject(m)) return FAIL_FORMAT("\"model\" must be an object");
    const char *type = type_of(m);
    if (!type) return FAIL_FORMAT("model.type is missing or not a string");
    if (strcmp(type, "WordPiece") == 0) return parse_wordpiece(m, tok, err, errcap);
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "model type '%.64s' is not supported (supported: WordPiece)",
                      type);
}

/* ---- normalizer and pre-tokenizer ----------------------------------------------------------- */

static sutra_status parse_normalizer(const cJSON *n, sutra_tokenizer *tok, char *err, size_t errcap) {
    sutra_normalizer *nz = &tok->normalizer;
    nz->kind = SUTRA_NORM_NONE;
    if (!n || cJSON_IsNull(n)) return SUTRA_OK;
    if (!cJSON_IsObject(n)) return FAIL_FORMAT("\"normalizer\" must be an object or null");
    const char *type = type_of(n);
    if (!type) return FAIL_FORMAT("normalizer.type is missing or not a string");
    if (strcmp(type, "BertNormalizer") == 0) {
        nz->kind = SUTRA_NORM_BERT;
        nz->clean_text = nz->handle_chinese_chars = nz->lowercase = 1;
        nz->strip_accents = -1; /* null: do what lowercase does */
        sutra_status st;
        if ((st = opt_bool(n, "clean_text", "normalizer", &nz->clean_text, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(n, "handle_chinese_chars", "normalizer", &nz->handle_chinese_chars, err, errcap)) !=
                SUTRA_OK ||
            (st = opt_bool(n, "strip_accents", "normalizer", &nz->strip_accents, err, errcap)) != SUTRA_OK ||
            (st = opt_bool(n, "lowercase", "normalizer", &nz->lowercase, err, errcap)) != SUTRA_OK)
            return st;
        if (nz->strip_accents < 0) nz->strip_accents = nz->lowercase;
        return SUTRA_OK;
    }
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                      "normalizer type '%.64s' is not supported (supported: BertNormalizer)", type);
}

static sutra_status parse_pretokenizer(const cJSON *p, sutra_tokenizer *tok, char *err, size_t errcap) {
    tok->pretok.kind = SUTRA_PRETOK_NONE;
    if (!p || cJSON_IsNull(p)) return SUTRA_OK;
    if (!cJSON_IsObject(p)) return FAIL_FORMAT("\"pre_tokenizer\" must be an object or null");
    const char *type = type_of(p);
    if (!type) return FAIL_FORMAT("pre_tokenizer.type is missing or not a string");
    if (strcmp(type, "BertPreTokenizer") == 0) {
        tok->pretok.kind = SUTRA_PRETOK_BERT;
        return SUTRA_OK;
    }
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                      "pre_tokenizer type '%.64s' is not supported (supported: BertPreTokenizer)", type);
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
    return SUTRA_OK;
}

/* BertProcessing: {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]} around the sequence. */
static sutra_status parse_bert_processing(const cJSON *p, sutra_tokenizer *tok, char *err, size_t errcap) {
    static const char *const keys[2] = {"cls", "sep"};
    for (int k = 0; k < 2; k++) {
        const cJSON *pair = item(p, keys[k]);
        int64_t id;
        if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || !cJSON_IsString(pair->child) ||
            !as_int(pair->child->next, 0, (double)INT32_MAX, &id))
            return FAIL_FORMAT("post_processor.%s must be [token, id]", keys[k]);
        sutra_status st = tmpl_push(tok, id, k, err, errcap);
        if (st != SUTRA_OK) return st;
    }
    return SUTRA_OK;
}

static sutra_status parse_post_processor(const cJSON *p, sutra_tokenizer *tok, char *err, size_t errcap) {
    if (!p || cJSON_IsNull(p)) return SUTRA_OK;
    if (!cJSON_IsObject(p)) return FAIL_FORMAT("\"post_processor\" must be an object or null");
    const char *type = type_of(p);
    if (!type) return FAIL_FORMAT("post_processor.type is missing or not a string");
    if (strcmp(type, "TemplateProcessing") == 0) return parse_template(p, tok, err, errcap);
    if (strcmp(type, "BertProcessing") == 0) return parse_bert_processing(p, tok, err, errcap);
    return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                      "post_processor type '%.64s' is not supported (supported: TemplateProcessing, BertProcessing)",
                      type);
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

static sutra_status parse_root(const cJSON *root, sutra_tokenizer *tok, char *err, size_t errcap) {
    if (!cJSON_IsObject(root)) return FAIL_FORMAT("the top level must be an object");
    const cJSON *version = item(root, "version");
    if (version && !cJSON_IsNull(version) &&
        (!cJSON_IsString(version) || strcmp(version->valuestring, "1.0") != 0))
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap,
                          "tokenizer.json version '%.32s' is not supported (1.0 is)",
                          cJSON_IsString(version) ? version->valuestring : "?");
    sutra_status st;
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
    sutra_status st = parse_root(root, tok, err, errcap);
    cJSON_Delete(root);
    if (st != SUTRA_OK) {
        sutra_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return SUTRA_OK;
}
