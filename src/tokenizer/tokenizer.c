/*
 * tokenizer.c - the public tokenizer API: assembling a tokenizer from its parts and running the
 * encode pipeline (added tokens in the raw text -> normalize -> added tokens in the normalized
 * text -> pre-tokenize -> model -> template), with truncation and byte offsets.
 *
 * Rules: encode only reads the tokenizer (thread-safe) and keeps its state in a sutra_tok_work
 * on the stack whose buffers are allocated a few times per call, never per character; text is
 * validated as UTF-8 before anything else; truncation stops the pipeline as soon as the budget
 * of content tokens is spent (the same ids as HF's truncate-after-encoding, since encoding is
 * left to right).
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

/* Offsets are int32 and NFD / CJK spacing can multiply the character count, so one call takes
 * at most 256 MiB of text. */
#define SUTRA_TOK_MAX_TEXT ((size_t)1 << 28)

sutra_tokenizer *sutra_tok_alloc(void) {
    return calloc(1, sizeof(sutra_tokenizer));
}

void sutra_tokenizer_free(sutra_tokenizer *tok) {
    if (!tok) return;
    sutra_normalizer_free(&tok->normalizer);
    sutra_pretokenizer_free(&tok->pretok);
    sutra_wordpiece_free(&tok->wordpiece);
    sutra_unigram_free(&tok->unigram);
    sutra_bpe_free(&tok->bpe);
    sutra_added_free(&tok->added);
    free(tok->tmpl_ids);
    free(tok->pair_items);
    free(tok);
}

void sutra_encoding_free(sutra_encoding *enc) {
    if (!enc) return;
    free(enc->ids);
    free(enc->starts);
    free(enc->ends);
    free(enc->types);
    memset(enc, 0, sizeof *enc);
}

void sutra_tok_work_free(sutra_tok_work *w) {
    sutra_tbuf_free(&w->orig);
    sutra_tbuf_free(&w->norm);
    sutra_tbuf_free(&w->spare);
    free(w->bytes);
    free(w->pos);
    free(w->piece);
    free(w->hash);
    for (size_t k = 0; k < SUTRA_PRETOK_MAX_STEPS; k++) sutra_tbuf_free(&w->pre[k]);
    free(w->score);
    free(w->sym);
    free(w->heap);
    memset(w, 0, sizeof *w);
}

int sutra_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap && *p) return 1;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return 0;
        nc *= 2;
    }
    void *q = realloc(*p, nc * elem);
    if (!q) return 0;
    *p = q;
    *cap = nc;
    return 1;
}

int32_t sutra_tok_model_find(const sutra_tokenizer *tok, const char *s, size_t len) {
    switch (tok->model) {
    case SUTRA_MODEL_WORDPIECE:
        return sutra_vocab_find(&tok->wordpiece.vocab, s, len);
    case SUTRA_MODEL_UNIGRAM:
        return sutra_vocab_find(&tok->unigram.vocab, s, len);
    case SUTRA_MODEL_BPE:
        return sutra_vocab_find(&tok->bpe.vocab, s, len);
    default:
        return -1;
    }
}

int32_t sutra_tok_model_size(const sutra_tokenizer *tok) {
    switch (tok->model) {
    case SUTRA_MODEL_WORDPIECE:
        return tok->wordpiece.vocab.n_ids;
    case SUTRA_MODEL_UNIGRAM:
        return tok->unigram.vocab.n_ids;
    case SUTRA_MODEL_BPE:
        return tok->bpe.vocab.n_ids;
    default:
        return 0;
    }
}

static sutra_added_token *find_added(const sutra_tokenizer *tok, const char *s, size_t len) {
    for (size_t i = 0; i < tok->added.n; i++)
        if (tok->added.tok[i].len == len && memcmp(tok->added.tok[i].content, s, len) == 0) return &tok->added.tok[i];
    return NULL;
}

sutra_status sutra_tok_add_token(sutra_tokenizer *tok, const char *content, size_t len, int single_word, int lstrip,
                                 int rstrip, int normalized, int special, char *err, size_t errcap) {
    if (len == 0) return SUTRA_OK; /* HF ignores empty added tokens */
    if (sutra_utf8_validate(content, len) != len)
        return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "added token '%.*s' is not valid UTF-8",
                          (int)(len > 64 ? 64 : len), content);
    sutra_added_token *t = find_added(tok, content, len);
    if (!t) {
        int32_t id = sutra_tok_model_find(tok, content, len);
        if (id < 0) {
            /* HF: the next id after the model's vocabulary and every added token so far. */
            int64_t next = sutra_tok_model_size(tok);
            for (size_t i = 0; i < tok->added.n; i++)
                if (tok->added.tok[i].id + (int64_t)1 > next) next = tok->added.tok[i].id + (int64_t)1;
            if (next > INT32_MAX - 1)
                return sutra_errf(SUTRA_ERR_FORMAT, err, errcap, "added token '%.*s': no id left",
                                  (int)(len > 64 ? 64 : len), content);
            id = (int32_t)next;
        }
        if (tok->added.n == tok->added.cap) {
            size_t nc = tok->added.cap ? 2 * tok->added.cap : 16;
            sutra_added_token *nt = realloc(tok->added.tok, nc * sizeof *nt);
            if (!nt) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the added tokens");
            tok->added.tok = nt;
            tok->added.cap = nc;
        }
        t = &tok->added.tok[tok->added.n];
        memset(t, 0, sizeof *t);
        t->content = malloc(len + 1);
        if (!t->content) return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot copy an added token");
        memcpy(t->content, content, len);
        t->content[len] = '\0';
        t->len = len;
        t->id = id;
        tok->added.n++;
    }
    /* A repeated token keeps its id and takes the later flags. */
    t->single_word = single_word;
    t->lstrip = lstrip;
    t->rstrip = rstrip;
    t->normalized = normalized;
    t->special = special;
    return SUTRA_OK;
}

/* sutra_added_build normalizes the contents of normalized tokens with sutra_normalizer_run, which
 * knows only NONE and BERT. For the other kinds the contents are normalized here first and the
 * build runs on them with no normalizer; the original contents are put back afterwards. */
static sutra_status build_added(sutra_tokenizer *tok, char *err, size_t errcap) {
    const sutra_normalizer *nz = &tok->normalizer;
    if (!sutra_norm_is_extended(nz)) return sutra_added_build(&tok->added, nz, err, errcap);
    sutra_added_vocab *av = &tok->added;
    char **saved = calloc(av->n ? av->n : 1, sizeof *saved);
    size_t *saved_len = calloc(av->n ? av->n : 1, sizeof *saved_len);
    sutra_tbuf raw = {0}, norm = {0}, spare = {0};
    sutra_status st = SUTRA_OK;
    if (!saved || !saved_len) goto oom;
    for (size_t i = 0; i < av->n; i++) {
        sutra_added_token *t = &av->tok[i];
        if (!t->normalized) continue;
        raw.n = norm.n = 0;
        for (size_t at = 0; at < t->len;) {
            size_t s = at;
            uint32_t cp = sutra_utf8_next(t->content, &at);
            if (!sutra_tbuf_push(&raw, cp, (int32_t)s, (int32_t)at)) goto oom;
        }
        if (!sutra_norm_apply(nz, raw.c, raw.n, &norm, &spare)) goto oom;
        char *u = malloc(4 * norm.n + 1);
        if (!u) goto oom;
        size_t ul = 0;
        for (size_t k = 0; k < norm.n; k++) ul += (size_t)sutra_utf8_put(norm.c[k].cp, u + ul);
        u[ul] = '\0';
        saved[i] = t->content;
        saved_len[i] = t->len;
        t->content = u;
        t->len = ul;
    }
    {
        sutra_normalizer none;
        memset(&none, 0, sizeof none);
        st = sutra_added_build(av, &none, err, errcap);
    }
    goto done;
oom:
    st = sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot normalize the added tokens");
done:
    for (size_t i = 0; saved && i < av->n; i++) {
        if (!saved[i]) continue;
        free(av->tok[i].content);
        av->tok[i].content = saved[i];
        av->tok[i].len = saved_len[i];
    }
    free(saved);
    free(saved_len);
    sutra_tbuf_free(&raw);
    sutra_tbuf_free(&norm);
    sutra_tbuf_free(&spare);
    return st;
}

sutra_status sutra_tok_finish(sutra_tokenizer *tok, char *err, size_t errcap) {
    sutra_status st = build_added(tok, err, errcap);
    if (st != SUTRA_OK) return st;
    if (tok->model == SUTRA_MODEL_WORDPIECE) sutra_wordpiece_finish(&tok->wordpiece);
    int64_t size = sutra_tok_model_size(tok);
    for (size_t i = 0; i < tok->added.n; i++)
        if (tok->added.tok[i].id + (int64_t)1 > size) size = tok->added.tok[i].id + (int64_t)1;
    tok->vocab_size = (int32_t)size;
    for (size_t i = 0; i < tok->n_pre + tok->n_post; i++)
        if (tok->tmpl_ids[i] < 0 || tok->tmpl_ids[i] >= tok->vocab_size)
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                              "post_processor: special token id %d is outside the vocabulary of %d tokens",
                              (int)tok->tmpl_ids[i], (int)tok->vocab_size);
    for (size_t i = 0; i < tok->n_pair_items; i++)
        if (tok->pair_items[i].id >= tok->vocab_size)
            return sutra_errf(SUTRA_ERR_FORMAT, err, errcap,
                              "post_processor: pair special token id %d is outside the vocabulary of %d tokens",
                              (int)tok->pair_items[i].id, (int)tok->vocab_size);
    return SUTRA_OK;
}

/* ---- output --------------------------------------------------------------------------------- */

int sutra_sink_reserve(sutra_tok_sink *s, size_t extra) {
    sutra_encoding *e = s->enc;
    if (e->n + extra <= e->cap && (!s->offsets || (e->starts && e->ends))) return 1;
    size_t nc = e->cap ? e->cap : 64;
    while (nc < e->n + extra) {
        if (nc > SIZE_MAX / 2 / sizeof(int32_t)) return 0;
        nc *= 2;
    }
    int32_t *ids = realloc(e->ids, nc * sizeof *ids);
    if (!ids) return 0;
    e->ids = ids;
    if (s->offsets) {
        int32_t *st = realloc(e->starts, nc * sizeof *st);
        if (!st) return 0;
        e->starts = st;
        int32_t *en = realloc(e->ends, nc * sizeof *en);
        if (!en) return 0;
        e->ends = en;
    }
    e->cap = nc;
    return 1;
}

int sutra_sink_push(sutra_tok_sink *s, int32_t id, int32_t start, int32_t end, int special) {
    if (!special && s->full) return 1;
    if (s->enc->n == s->enc->cap && !sutra_sink_reserve(s, 1)) return 0;
    sutra_encoding *e = s->enc;
    e->ids[e->n] = id;
    if (s->offsets) {
        e->starts[e->n] = start;
        e->ends[e->n] = end;
    }
    e->n++;
    if (!special && s->limit != SIZE_MAX && --s->limit == 0) s->full = 1;
    return 1;
}

/* ---- the pipeline --------------------------------------------------------------------------- */

sutra_status sutra_tok_model_encode(const sutra_tokenizer *tok, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                                    sutra_tok_sink *sink, char *err, size_t errcap) {
    switch (tok->model) {
    case SUTRA_MODEL_WORDPIECE:
        return sutra_wordpiece_encode(&tok->wordpiece, t, n, w, sink, err, errcap);
    case SUTRA_MODEL_UNIGRAM:
        return sutra_unigram_encode(&tok->unigram, t, n, w, sink, err, errcap);
    case SUTRA_MODEL_BPE:
        return sutra_bpe_encode(&tok->bpe, t, n, w, sink, err, errcap);
    default:
        return sutra_errf(SUTRA_ERR_INTERNAL, err, errcap, "tokenizer has no model");
    }
}

/* Pre-tokenizes t[0..n) (normalized) and runs the model on every word. */
static sutra_status encode_words(const sutra_tokenizer *tok, const sutra_tchar *t, size_t n, sutra_tok_work *w,
                                 sutra_tok_sink *sink, char *err, size_t errcap) {
    if (tok->pretok.kind == SUTRA_PRETOK_NONE || tok->pretok.kind == SUTRA_PRETOK_BERT) {
        size_t pos = 0, ws, we;
        while (!sink->full && sutra_pretok_next(&tok->pretok, t, n, &pos, &ws, &we)) {
            sutra_status st = sutra_tok_model_encode(tok, t + ws, we - ws, w, sink, err, errcap);
            if (st != SUTRA_OK) return st;
        }
        return SUTRA_OK;
    }
    return sutra_pretok_run(tok, t, n, w, sink, err, errcap);
}

/* Normalizes one stretch of raw text between added tokens and encodes it, splitting out the
 * added tokens that match normalized text. */
static sutra_status encode_segment(const sutra_tokenizer *tok, const sutra_tchar *raw, size_t n, sutra_tok_work *w,
                                   sutra_tok_sink *sink, char *err, size_t errcap) {
    w->norm.n = 0;
    if (!sutra_norm_apply(&tok->normalizer, raw, n, &w->norm, &w->spare))
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot normalize %zu characters", n);
    const sutra_tchar *t = w->norm.c;
    size_t nn = w->norm.n, from = 0;
    if (nn == 0) return SUTRA_OK; /* normalized away (and the buffer may never have been allocated) */
    while (!sink->full) {
        size_t ms = nn, me = nn;
        int32_t id = -1;
        int found = sutra_added_find(&tok->added, 1, t, nn, from, &ms, &me, &id);
        sutra_status st = encode_words(tok, t + from, (found ? ms : nn) - from, w, sink, err, errcap);
        if (st != SUTRA_OK) return st;
        if (!found) break;
        if (!sutra_sink_push(sink, id, t[ms].start, t[me - 1].end, 0))
            return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the encoding");
        from = me;
    }
    return SUTRA_OK;
}

static sutra_status encode_text(const sutra_tokenizer *tok, const char *text, size_t len, sutra_tok_work *w,
                                sutra_tok_sink *sink, char *err, size_t errcap) {
    if (!sutra_tbuf_reserve(&w->orig, len))
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot decode %zu bytes of text", len);
    for (size_t i = 0; i < len;) {
        size_t s = i;
        uint32_t cp = sutra_utf8_next(text, &i);
        sutra_tchar *c = &w->orig.c[w->orig.n++];
        c->cp = cp;
        c->start = (int32_t)s;
        c->end = (int32_t)i;
    }
    const sutra_tchar *t = w->orig.c;
    size_t n = w->orig.n, from = 0;
    while (!sink->full) {
        size_t ms = n, me = n;
        int32_t id = -1;
        int found = sutra_added_find(&tok->added, 0, t, n, from, &ms, &me, &id);
        size_t seg_end = found ? ms : n;
        if (seg_end > from) {
            sutra_status st = encode_segment(tok, t + from, seg_end - from, w, sink, err, errcap);
            if (st != SUTRA_OK) return st;
        }
        if (!found) break;
        if (!sutra_sink_push(sink, id, t[ms].start, t[me - 1].end, 0))
            return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the encoding");
        from = me;
    }
    return SUTRA_OK;
}

/* RobertaProcessing's trim_offsets on tokens [from, n) of enc: the whitespace characters at the
 * start and end of each token's span leave it (HF counts them in the token's string, which for
 * the tokens that have any, lstrip / rstrip added tokens and byte-level tokens, is the span's
 * text). A single leading space of a token that starts the text stays when add_prefix_space. */
static void trim_offsets(const sutra_tokenizer *tok, const char *text, sutra_encoding *enc, size_t from) {
    for (size_t t = from; t < enc->n; t++) {
        size_t s = (size_t)enc->starts[t], e = (size_t)enc->ends[t], i = s, lead = 0, lead_chars = 0;
        while (i < e) {
            size_t j = i;
            if (!(sutra_uc_class(sutra_utf8_next(text, &j)) & SUTRA_UC_WHITESPACE)) break;
            lead += j - i;
            lead_chars++;
            i = j;
        }
        if (lead_chars == 1 && (t == 0 || s == 0) && tok->trim_keep_prefix) lead = 0;
        size_t trail = 0;
        for (size_t k = e; k > s + lead;) { /* back over whole characters */
            size_t b = k - 1;
            while (b > s && ((unsigned char)text[b] & 0xC0) == 0x80) b--;
            size_t j = b;
            if (!(sutra_uc_class(sutra_utf8_next(text, &j)) & SUTRA_UC_WHITESPACE)) break;
            trail += k - b;
            k = b;
        }
        enc->starts[t] = (int32_t)(s + lead < e ? s + lead : e);
        enc->ends[t] = (int32_t)(e - trail > (size_t)enc->starts[t] ? e - trail : (size_t)enc->starts[t]);
    }
}

/* Encodes text with the single-sequence template (with_template) or without any special token. */
static sutra_status encode_impl(const sutra_tokenizer *tok, const char *text, size_t len, size_t max_tokens,
                                int want_offsets, int with_template, sutra_encoding *enc, char *err, size_t errcap) {
    if (!tok || !enc || (!text && len))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "encode: NULL tokenizer, encoding or text");
    enc->n = 0;
    free(enc->types);
    enc->types = NULL;
    if (!want_offsets) {
        free(enc->starts);
        free(enc->ends);
        enc->starts = enc->ends = NULL;
    }
    if (len > SUTRA_TOK_MAX_TEXT)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                          "encode: %zu bytes of text is more than the %zu a call takes", len, SUTRA_TOK_MAX_TEXT);
    size_t bad = sutra_utf8_validate(text, len);
    if (bad != len)
        return sutra_errf(SUTRA_ERR_INVALID_UTF8, err, errcap, "encode: invalid UTF-8 at byte %zu (0x%02X)", bad,
                          (unsigned)(unsigned char)text[bad]);
    const size_t n_pre = with_template ? tok->n_pre : 0, n_post = with_template ? tok->n_post : 0;
    size_t nspec = n_pre + n_post;
    if (max_tokens > 0 && max_tokens < nspec)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap,
                          "encode: max_tokens %zu leaves no room for the %zu special tokens of the template",
                          max_tokens, nspec);

    sutra_tok_sink sink = {enc, want_offsets ? 1 : 0, max_tokens ? max_tokens - nspec : SIZE_MAX, 0};
    if (sink.limit == 0) sink.full = 1;
    /* One token per byte is a generous first guess for most text; it grows if not. */
    size_t guess = nspec + (len < 4096 ? len : 4096);
    if (max_tokens && guess > max_tokens) guess = max_tokens;
    if (!sutra_sink_reserve(&sink, guess))
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot allocate the encoding");
    for (size_t i = 0; i < n_pre; i++) sutra_sink_push(&sink, tok->tmpl_ids[i], 0, 0, 1);

    sutra_tok_work w;
    memset(&w, 0, sizeof w);
    sutra_status st = encode_text(tok, text, len, &w, &sink, err, errcap);
    sutra_tok_work_free(&w);
    if (st != SUTRA_OK) {
        enc->n = 0;
        return st;
    }
    if (tok->trim_offsets && want_offsets) trim_offsets(tok, text, enc, n_pre);
    for (size_t i = 0; i < n_post; i++)
        if (!sutra_sink_push(&sink, tok->tmpl_ids[tok->n_pre + i], 0, 0, 1)) {
            enc->n = 0;
            return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cannot grow the encoding");
        }
    return SUTRA_OK;
}

sutra_status sutra_tokenizer_encode(const sutra_tokenizer *tok, const char *text, size_t len, size_t max_tokens,
                                    int want_offsets, sutra_encoding *enc, char *err, size_t errcap) {
    return encode_impl(tok, text, len, max_tokens, want_offsets, 1, enc, err, errcap);
}

sutra_status sutra_tok_encode_plain(const sutra_tokenizer *tok, const char *text, size_t len, sutra_encoding *enc,
                                    char *err, size_t errcap) {
    return encode_impl(tok, text, len, 0, 0, 0, enc, err, errcap);
}

/* ---- loading and queries -------------------------------------------------------------------- */

sutra_status sutra_tokenizer_load_dir(const char *dir, sutra_tokenizer **out, char *err, size_t errcap) {
    if (!out) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "load: NULL output");
    *out = NULL;
    if (!dir) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "load: NULL directory");
    char path[4096];
    if (!sutra_path_join(path, sizeof path, dir, "tokenizer.json"))
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "load: directory name too long");
    if (!sutra_file_exists(path)) return sutra_tok_load_vocab_txt(dir, out, err, errcap);
    char *json;
    size_t len;
    sutra_status st = sutra_read_file(path, &json, &len, err, errcap);
    if (st != SUTRA_OK) return st;
    char msg[512];
    msg[0] = '\0';
    st = sutra_tokenizer_load_json(json, len, out, msg, sizeof msg);
    free(json);
    if (st != SUTRA_OK) return sutra_errf(st, err, errcap, "%s: %s", path, msg);
    return SUTRA_OK;
}

int sutra_tokenizer_vocab_size(const sutra_tokenizer *tok) {
    return tok ? tok->vocab_size : 0;
}

const char *sutra_tokenizer_kind(const sutra_tokenizer *tok) {
    if (!tok) return "none";
    switch (tok->model) {
    case SUTRA_MODEL_WORDPIECE:
        return "wordpiece";
    case SUTRA_MODEL_UNIGRAM:
        return "unigram";
    case SUTRA_MODEL_BPE:
        return "bpe";
    default:
        return "none";
    }
}

int sutra_tokenizer_num_special(const sutra_tokenizer *tok) {
    return tok ? (int)(tok->n_pre + tok->n_post) : 0;
}

int32_t sutra_tokenizer_token_to_id(const sutra_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    size_t len = strlen(token);
    const sutra_added_token *t = find_added(tok, token, len);
    if (t) return t->id;
    return sutra_tok_model_find(tok, token, len);
}

const char *sutra_tokenizer_id_to_token(const sutra_tokenizer *tok, int32_t id) {
    if (!tok) return NULL;
    for (size_t i = 0; i < tok->added.n; i++)
        if (tok->added.tok[i].id == id) return tok->added.tok[i].content;
    switch (tok->model) {
    case SUTRA_MODEL_WORDPIECE:
        return sutra_vocab_str(&tok->wordpiece.vocab, id, NULL);
    case SUTRA_MODEL_UNIGRAM:
        return sutra_vocab_str(&tok->unigram.vocab, id, NULL);
    case SUTRA_MODEL_BPE:
        return sutra_vocab_str(&tok->bpe.vocab, id, NULL);
    default:
        return NULL;
    }
}
