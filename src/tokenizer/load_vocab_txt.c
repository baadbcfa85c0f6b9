/*
 * load_vocab_txt.c - builds a BERT WordPiece tokenizer from a vocab.txt (one token a line, the
 * line number is the id) and the options of tokenizer_config.json when there is one: what
 * transformers' BertTokenizerFast makes of such a directory.
 *
 * Rules: BERT's defaults unless the config says otherwise (lowercase, strip accents as
 * lowercase does, CJK spacing, [UNK] [CLS] [SEP] [PAD] [MASK], at most 100 characters a word,
 * "##" continuation, template [CLS] A [SEP]), plus the config's added_tokens_decoder entries. Lines end at \n, \r\n or \r (Python's universal
 * newlines); a repeated token or a line that is not UTF-8 is an error naming the line.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

typedef struct bert_options {
    int lowercase, strip_accents, chinese;
    char unk[128], cls[128], sep[128], pad[128], mask[128];
    cJSON *added; /* tokenizer_config.json's added_tokens_decoder ({"id": {"content": ...}}), or NULL */
} bert_options;

/* A special token in tokenizer_config.json: "[CLS]" or {"content": "[CLS]", ...}. */
static void config_token(const cJSON *cfg, const char *key, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (cJSON_IsString(v) && v->valuestring && strlen(v->valuestring) < cap) snprintf(out, cap, "%s", v->valuestring);
}

static void config_bool(const cJSON *cfg, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsBool(v)) *out = cJSON_IsTrue(v) ? 1 : 0;
}

static sutra_status read_options(const char *dir, bert_options *o, char *err, size_t errcap) {
    memset(o, 0, sizeof *o);
    o->lowercase = 1;
    o->strip_accents = -1;
    o->chinese = 1;
    snprintf(o->unk, sizeof o->unk, "[UNK]");
    snprintf(o->cls, sizeof o->cls, "[CLS]");
    snprintf(o->sep, sizeof o->sep, "[SEP]");
    snprintf(o->pad, sizeof o->pad, "[PAD]");
    snprintf(o->mask, sizeof o->mask, "[MASK]");
    char path[4096];
    if (!sutra_path_join(path, sizeof path, dir, "tokenizer_config.json") || !sutra_file_exists(path))
        return SUTRA_OK;
    char *text;
    size_t len;
    sutra_status st = sutra_read_file(path, &text, &len, err, errcap);
    if (st != SUTRA_OK) return st;
    cJSON *cfg = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: not a JSON object", path);
    }
    config_bool(cfg, "do_lower_case", &o->lowercase);
    config_bool(cfg, "strip_accents", &o->strip_accents);
    config_bool(cfg, "tokenize_chinese_chars", &o->chinese);
    config_token(cfg, "unk_token", o->unk, sizeof o->unk);
    config_token(cfg, "cls_token", o->cls, sizeof o->cls);
    config_token(cfg, "sep_token", o->sep, sizeof o->sep);
    config_token(cfg, "pad_token", o->pad, sizeof o->pad);
    config_token(cfg, "mask_token", o->mask, sizeof o->mask);
    cJSON *added = cJSON_DetachItemFromObjectCaseSensitive(cfg, "added_tokens_decoder");
    if (cJSON_IsObject(added)) o->added = added;
    else cJSON_Delete(added);
    cJSON_Delete(cfg);
    if (o->strip_accents < 0) o->strip_accents = o->lowercase;
    return SUTRA_OK;
}

/* Length of the line at text[i..len) and where the next one starts. */
static size_t line_at(const char *text, size_t len, size_t i, size_t *next) {
    size_t e = i;
    while (e < len && text[e] != '\n' && text[e] != '\r') e++;
    *next = e;
    if (e < len) *next = (text[e] == '\r' && e + 1 < len && text[e + 1] == '\n') ? e + 2 : e + 1;
    return e - i;
}

/* The entries of added_tokens_decoder, in id order as transformers adds them. */
static sutra_status add_decoder_tokens(sutra_tokenizer *tok, const cJSON *added, char *err, size_t errcap) {
    long last = -1;
    for (;;) {
        const cJSON *next = NULL;
        long next_id = 0;
        for (const cJSON *e = added->child; e; e = e->next) {
            char *end;
            long id = strtol(e->string ? e->string : "", &end, 10);
            if (!e->string || *end || id <= last) continue;
            if (!next || id < next_id) {
                next = e;
                next_id = id;
            }
        }
        if (!next) return SUTRA_OK;
        last = next_id;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(next, "content");
        if (!cJSON_IsString(content) || !content->valuestring)
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                              "tokenizer_config.json: added_tokens_decoder[\"%ld\"].content must be a string", next_id);
        int flags[5] = {0, 0, 0, -1, 0}; /* single_word, lstrip, rstrip, normalized, special */
        static const char *const names[5] = {"single_word", "lstrip", "rstrip", "normalized", "special"};
        for (int k = 0; k < 5; k++) config_bool(next, names[k], &flags[k]);
        if (flags[3] < 0) flags[3] = !flags[4];
        sutra_status st = sutra_tok_add_token(tok, content->valuestring, strlen(content->valuestring), flags[0],
                                              flags[1], flags[2], flags[3], flags[4], err, errcap);
        if (st != SUTRA_OK) return st;
    }
}

static sutra_status load_vocab(const char *path, const char *text, size_t len, sutra_wordpiece *wp, char *err,
                               size_t errcap) {
    size_t lines = 0, next;
    for (size_t i = 0; i < len; i = next) {
        line_at(text, len, i, &next);
        lines++;
    }
    if (lines > (size_t)1 << 28) return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s: too many lines", path);
    sutra_status st = sutra_vocab_init(&wp->vocab, (int32_t)lines, err, errcap);
    if (st != SUTRA_OK) return st;
    char msg[256];
    size_t id = 0;
    for (size_t i = 0; i < len; i = next, id++) {
        size_t n = line_at(text, len, i, &next);
        if (sutra_utf8_validate(text + i, n) != n)
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "%s line %zu: not valid UTF-8", path, id + 1);
        st = sutra_vocab_set(&wp->vocab, (int32_t)id, text + i, n, msg, sizeof msg);
        if (st != SUTRA_OK) return sutra_errf(st, err, errcap, "%s line %zu: %s", path, id + 1, msg);
    }
    return SUTRA_OK;
}

sutra_status sutra_tok_load_vocab_txt(const char *dir, sutra_tokenizer **out, char *err, size_t errcap) {
    *out = NULL;
    char path[4096];
    if (!sutra_path_join(path, sizeof path, dir, "vocab.txt"))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "load: directory name too long");
    if (!sutra_file_exists(path))
        return sutra_errf(SUTRA_ERR_IO, err, errcap, "%s: neither tokenizer.json nor vocab.txt is there", dir);
    char *text;
    size_t len;
    sutra_status st = sutra_read_file(path, &text, &len, err, errcap);
    if (st != SUTRA_OK) return st;
    bert_options o;
    st = read_options(dir, &o, err, errcap);
    if (st != SUTRA_OK) {
        free(text);
        return st;
    }
    sutra_tokenizer *tok = sutra_tok_alloc();
    if (!tok) {
        free(text);
        cJSON_Delete(o.added);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate a tokenizer");
    }
    tok->normalizer.kind = SUTRA_NORM_BERT;
    tok->normalizer.clean_text = 1;
    tok->normalizer.handle_chinese_chars = o.chinese;
    tok->normalizer.strip_accents = o.strip_accents;
    tok->normalizer.lowercase = o.lowercase;
    tok->pretok.kind = SUTRA_PRETOK_BERT;
    tok->model = SUTRA_MODEL_WORDPIECE;
    sutra_wordpiece *wp = &tok->wordpiece;
    wp->unk_token = strdup(o.unk);
    wp->prefix = strdup("##");
    wp->prefix_len = 2;
    wp->max_chars = 100;
    if (!wp->unk_token || !wp->prefix) {
        st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot copy the WordPiece settings");
        goto fail;
    }
    st = load_vocab(path, text, len, wp, err, errcap);
    if (st != SUTRA_OK) goto fail;

    const char *specials[5] = {o.pad, o.unk, o.cls, o.sep, o.mask};
    for (int i = 0; i < 5; i++) {
        st = sutra_tok_add_token(tok, specials[i], strlen(specials[i]), 0, 0, 0, 0, 1, err, errcap);
        if (st != SUTRA_OK) goto fail;
    }
    if (o.added && (st = add_decoder_tokens(tok, o.added, err, errcap)) != SUTRA_OK) goto fail;
    int32_t cls = sutra_tokenizer_token_to_id(tok, o.cls), sep = sutra_tokenizer_token_to_id(tok, o.sep);
    tok->tmpl_ids = malloc(2 * sizeof *tok->tmpl_ids);
    if (!tok->tmpl_ids) {
        st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate the template");
        goto fail;
    }
    tok->tmpl_ids[0] = cls;
    tok->tmpl_ids[1] = sep;
    tok->n_pre = tok->n_post = 1;
    if ((st = sutra_tok_pair_bert(tok, cls, sep, 0, err, errcap)) != SUTRA_OK) goto fail;
    st = sutra_tok_finish(tok, err, errcap);
    if (st != SUTRA_OK) goto fail;
    free(text);
    cJSON_Delete(o.added);
    *out = tok;
    return SUTRA_OK;
fail:
    free(text);
    cJSON_Delete(o.added);
    sutra_tokenizer_free(tok);
    return st;
}
