/*
 * file_cmd.c - `sutra embed --input FILE --output FILE`: embeds a file of any size.
 *
 * Rules:
 *  - Constant memory: lines are read in chunks (CHUNK_DOCS documents or CHUNK_BYTES of text,
 *    whichever comes first), embedded, written and flushed before the next chunk is read. Only
 *    the ids of an earlier run's output are kept whole (for --resume).
 *  - Nothing written is lost: every chunk is flushed, the .npy header's row count is rewritten
 *    after every chunk, and SIGINT / SIGTERM only set a flag that the loop checks between chunks.
 *    A run killed outright leaves at most a torn last record, which --resume cuts off.
 *  - Records: jsonl lines {"id": ID, "embedding": [...]} (late chunks add "chunk", "chunks",
 *    "start", "end": the chunk's index, the document's chunk count and its byte span). A .npy
 *    output holds the vectors (float32, rows x dim) and FILE.npy.ids the same records without
 *    the vectors, one line per row.
 *  - An id is written as its JSON text (cJSON_PrintUnformatted), so a resumed run compares ids
 *    exactly as they were written. Texts without an id get their line number.
 *  - Uses only the public header and cJSON.
 */
#include "file_cmd.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* 256 documents keep the batches of the default 8192-token budget full for short texts; the
 * byte bound keeps a chunk of long documents to a few MB of text and its windows. */
#define CHUNK_DOCS 256
#define CHUNK_BYTES ((size_t)1 << 20)
#define NPY_HEADER 128 /* bytes: magic, version, length, the dict padded with spaces (a multiple of 64) */
#define EMB_MARK ",\"embedding\":["

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

typedef struct doc {
    char *id;   /* JSON text */
    char *text;
    size_t line;
    size_t bytes; /* of its input line */
} doc;

/* A set of strings (the ids already done), open addressing. */
typedef struct idset {
    char **slot;
    size_t cap, n;
} idset;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int idset_has(const idset *s, const char *id) {
    if (!s->cap) return 0;
    for (size_t i = hash_str(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slot[i]) return 0;
        if (!strcmp(s->slot[i], id)) return 1;
    }
}

static int idset_add(idset *s, const char *id) {
    if (idset_has(s, id)) return 1;
    if (2 * (s->n + 1) > s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 1024;
        char **ns = calloc(nc, sizeof *ns);
        if (!ns) return 0;
        for (size_t j = 0; j < s->cap; j++) {
            if (!s->slot[j]) continue;
            size_t i = hash_str(s->slot[j]) & (nc - 1);
            while (ns[i]) i = (i + 1) & (nc - 1);
            ns[i] = s->slot[j];
        }
        free(s->slot);
        s->slot = ns;
        s->cap = nc;
    }
    size_t i = hash_str(id) & (s->cap - 1);
    while (s->slot[i]) i = (i + 1) & (s->cap - 1);
    if (!(s->slot[i] = strdup(id))) return 0;
    s->n++;
    return 1;
}

static void idset_free(idset *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->slot[i]);
    free(s->slot);
}

typedef struct fctx {
    const file_opts *o;
    sutra_embedder *emb;
    int dim;
    sutra_window win;
    FILE *in;
    int in_jsonl;
    long long in_size; /* -1 when unknown (stdin, a pipe) */
    FILE *out, *ids;   /* ids: the .npy's record file */
    int npy;
    char ids_path[4200];
    uint64_t rows;     /* records in the output */
    size_t line_no, bytes_read, bytes_embedded;
    uint64_t docs, bad, already, tokens0;
    idset done;
    double t0, last_progress;
    int progress;
    float *vec;
    size_t vec_cap;
    sutra_chunk *chunks;
    size_t chunks_cap;
} fctx;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void report(fctx *f, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(fctx *f, size_t line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (f->progress) fputc('\n', stderr);
    fprintf(stderr, "sutra: %s:%zu: ", f->o->input, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int is_jsonl_name(const char *s) {
    return ends_with(s, ".jsonl") || ends_with(s, ".ndjson") || ends_with(s, ".json");
}

/* ---- .npy --------------------------------------------------------------------------------- */

static int npy_write_header(FILE *f, uint64_t rows, int dim) {
    char h[NPY_HEADER];
    const uint16_t one = 1;
    int little = *(const unsigned char *)&one == 1;
    memset(h, ' ', sizeof h);
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)((NPY_HEADER - 10) & 0xff);
    h[9] = (char)((NPY_HEADER - 10) >> 8);
    char dict[NPY_HEADER];
    int n = snprintf(dict, sizeof dict, "{'descr': '%sf4', 'fortran_order': False, 'shape': (%llu, %d), }",
                     little ? "<" : ">", (unsigned long long)rows, dim);
    if (n < 0 || n > NPY_HEADER - 11) return 0;
    memcpy(h + 10, dict, (size_t)n);
    h[NPY_HEADER - 1] = '\n';
    long pos = ftell(f);
    if (fseek(f, 0, SEEK_SET) || fwrite(h, 1, sizeof h, f) != sizeof h) return 0;
    if (pos > NPY_HEADER && fseek(f, pos, SEEK_SET)) return 0;
    return fflush(f) == 0;
}

/* Reads an earlier .npy's dim; *rows = the whole rows its size holds. */
static int npy_read(const char *path, int *dim, uint64_t *rows) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char h[NPY_HEADER + 1] = {0};
    struct stat st;
    int ok = fread(h, 1, NPY_HEADER, f) == NPY_HEADER && !memcmp(h, "\x93NUMPY", 6) && fstat(fileno(f), &st) == 0;
    fclose(f);
    const char *shape = ok ? strstr(h + 10, "'shape': (") : NULL; /* the length field holds a NUL */
    unsigned long long r;
    if (!shape || sscanf(shape, "'shape': (%llu, %d)", &r, dim) != 2 || *dim <= 0) return 0;
    *rows = ((uint64_t)st.st_size - NPY_HEADER) / ((uint64_t)*dim * sizeof(float));
    return 1;
}

/* ---- resume ------------------------------------------------------------------------------- */

/* Reads the records of an earlier run from path (the jsonl output, or the .npy's record file),
 * keeps at most max complete ones (whole documents only, for late chunks), cuts the file after
 * them, adds their ids to f->done and returns how many records were kept, or -1 on error. */
static long long resume_scan(fctx *f, const char *path, int with_vectors, uint64_t max) {
    FILE *r = fopen(path, "rb");
    if (!r) return errno == ENOENT ? 0 : -1;
    char *line = NULL, *cur_id = NULL;
    size_t cap = 0;
    ssize_t len;
    long long off = 0, keep = 0;
    uint64_t records = 0, kept = 0;
    int chunked = f->o->chunk_tokens > 0, seen = 0, want = 0, err = 0;
    while (records < max && (len = getline(&line, &cap, r)) > 0) {
        if (line[len - 1] != '\n') break; /* torn by an interruption */
        line[len - 1] = '\0';
        char *meta_end = line + len - 1;
        if (with_vectors) {
            char *m = strstr(line, EMB_MARK);
            if (!m || len < 3 || strcmp(line + len - 3, "]}")) break;
            meta_end = m;
        }
        *meta_end = '\0';
        char *meta = malloc((size_t)(meta_end - line) + 2);
        if (!meta) {
            err = 1;
            break;
        }
        sprintf(meta, "%s%s", line, with_vectors ? "}" : "");
        cJSON *j = cJSON_Parse(meta);
        free(meta);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        const cJSON *ck = cJSON_GetObjectItemCaseSensitive(j, "chunk"), *cn = cJSON_GetObjectItemCaseSensitive(j, "chunks");
        char *idt = id ? cJSON_PrintUnformatted(id) : NULL;
        int mode_ok = chunked ? cJSON_IsNumber(ck) && cJSON_IsNumber(cn) : !ck;
        int chunk = mode_ok && chunked ? ck->valueint : 0, chunks = mode_ok && chunked ? cn->valueint : 0;
        cJSON_Delete(j);
        if (!idt) break;
        if (!mode_ok) {
            fprintf(stderr, "sutra: cannot resume: %s holds records %s late chunks (--chunk)\n", path,
                    chunked ? "without" : "with");
            free(idt);
            err = 1;
            break;
        }
        records++;
        if (chunked) {
            if (!cur_id || strcmp(cur_id, idt) || chunk == 0) {
                free(cur_id);
                cur_id = strdup(idt);
                seen = 0;
                want = chunks;
            }
            if (++seen == want) {
                if (!idset_add(&f->done, idt)) err = 1;
                keep = off + len;
                kept = records;
            }
        } else {
            if (!idset_add(&f->done, idt)) err = 1;
            keep = off + len;
            kept = records;
        }
        free(idt);
        off += len;
        if (err) break;
    }
    free(line);
    free(cur_id);
    fclose(r);
    if (err) return -1;
    if (truncate(path, (off_t)keep)) {
        fprintf(stderr, "sutra: cannot resume: truncating %s: %s\n", path, strerror(errno));
        return -1;
    }
    return (long long)kept;
}

/* Prepares the outputs: fresh, or after an earlier run's records when resuming. */
static int open_outputs(fctx *f) {
    const file_opts *o = f->o;
    f->npy = ends_with(o->output, ".npy");
    if (!f->npy && strcmp(o->output, "-") && !is_jsonl_name(o->output)) {
        fprintf(stderr, "sutra: --output %s: the name must end in .jsonl or .npy\n", o->output);
        return 2;
    }
    if (!strcmp(o->output, "-")) {
        if (o->resume) {
            fprintf(stderr, "sutra: --resume needs an output file\n");
            return 2;
        }
        f->out = stdout;
        return 0;
    }
    if (f->npy) {
        snprintf(f->ids_path, sizeof f->ids_path, "%s.ids", o->output);
        int dim = 0;
        uint64_t rows = 0;
        int have = o->resume && access(o->output, F_OK) == 0;
        if (have && !npy_read(o->output, &dim, &rows)) {
            fprintf(stderr, "sutra: cannot resume: %s is not a .npy this tool wrote\n", o->output);
            return 1;
        }
        if (have && dim != f->dim) {
            fprintf(stderr, "sutra: cannot resume: %s has %d columns, this model gives %d\n", o->output, dim, f->dim);
            return 1;
        }
        long long kept = have ? resume_scan(f, f->ids_path, 0, rows) : 0;
        if (kept < 0) return 1;
        f->rows = (uint64_t)kept;
        if (have && truncate(o->output, (off_t)(NPY_HEADER + f->rows * (uint64_t)f->dim * sizeof(float)))) {
            fprintf(stderr, "sutra: cannot resume: truncating %s: %s\n", o->output, strerror(errno));
            return 1;
        }
        f->out = fopen(o->output, have ? "r+b" : "w+b");
        f->ids = f->out ? fopen(f->ids_path, have ? "ab" : "wb") : NULL;
        if (!f->out || !f->ids) {
            fprintf(stderr, "sutra: cannot open %s: %s\n", f->out ? f->ids_path : o->output, strerror(errno));
            return 1;
        }
        if (!npy_write_header(f->out, f->rows, f->dim) || fseek(f->out, 0, SEEK_END)) {
            fprintf(stderr, "sutra: cannot write %s: %s\n", o->output, strerror(errno));
            return 1;
        }
        return 0;
    }
    if (o->resume) {
        long long kept = resume_scan(f, o->output, 1, UINT64_MAX);
        if (kept < 0) return 1;
        f->rows = (uint64_t)kept;
    }
    if (!(f->out = fopen(o->output, o->resume ? "ab" : "wb"))) {
        fprintf(stderr, "sutra: cannot open %s: %s\n", o->output, strerror(errno));
        return 1;
    }
    return 0;
}

/* ---- input -------------------------------------------------------------------------------- */

/* Turns one input line into a document: 1 done, 0 nothing to embed (a blank jsonl line),
 * -1 bad (why says how). */
static int parse_line(fctx *f, char *line, size_t len, doc *d, char *why, size_t whycap) {
    memset(d, 0, sizeof *d);
    d->line = f->line_no;
    if (strlen(line) != len) {
        snprintf(why, whycap, "contains a NUL byte");
        return -1;
    }
    if (!f->in_jsonl) {
        char num[32];
        snprintf(num, sizeof num, "%zu", f->line_no);
        d->id = strdup(num);
        d->text = strdup(line);
        if (d->id && d->text) return 1;
        free(d->id);
        free(d->text);
        d->id = d->text = NULL;
        snprintf(why, whycap, "out of memory");
        return -1;
    }
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len) return 0;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(j)) {
        snprintf(why, whycap, j ? "not a JSON object" : "invalid JSON");
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, f->o->text_field);
    const char *idf = f->o->id_field ? f->o->id_field : "id";
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, idf);
    int ok = 1;
    if (!cJSON_IsString(t)) {
        snprintf(why, whycap, t ? "field \"%s\" is not a string" : "no field \"%s\"", f->o->text_field);
        ok = 0;
    } else if (id && !cJSON_IsString(id) && !cJSON_IsNumber(id)) {
        snprintf(why, whycap, "id field \"%s\" is neither a string nor a number", idf);
        ok = 0;
    } else if (!id && f->o->id_field) {
        snprintf(why, whycap, "no id field \"%s\"", idf);
        ok = 0;
    }
    if (ok) {
        char num[32];
        snprintf(num, sizeof num, "%zu", f->line_no);
        d->id = id ? cJSON_PrintUnformatted(id) : strdup(num);
        d->text = strdup(t->valuestring);
        if (!d->id || !d->text) {
            snprintf(why, whycap, "out of memory");
            ok = 0;
        }
    }
    cJSON_Delete(j);
    if (!ok) {
        free(d->id);
        free(d->text);
        d->id = d->text = NULL;
    }
    return ok ? 1 : -1;
}

/* ---- output ------------------------------------------------------------------------------- */

static int write_record(fctx *f, const doc *d, const float *v, const sutra_chunk *ch, size_t k, size_t n_chunks) {
    char meta[512];
    if (ch)
        snprintf(meta, sizeof meta, ",\"chunk\":%zu,\"chunks\":%zu,\"start\":%zu,\"end\":%zu", k, n_chunks, ch->start,
                 ch->end);
    else
        meta[0] = '\0';
    if (f->npy) {
        fwrite(v, sizeof(float), (size_t)f->dim, f->out);
        fprintf(f->ids, "{\"id\":%s%s}\n", d->id, meta);
    } else {
        fprintf(f->out, "{\"id\":%s%s" EMB_MARK, d->id, meta);
        /* 9 significant digits: a float32 reads back exactly */
        for (int i = 0; i < f->dim; i++) fprintf(f->out, i ? ",%.9g" : "%.9g", v[i]);
        fputs("]}\n", f->out);
    }
    f->rows++;
    return !ferror(f->out) && !(f->ids && ferror(f->ids));
}

/* Flushes the outputs and makes the .npy's row count current. */
static int flush_outputs(fctx *f) {
    int ok = fflush(f->out) == 0;
    if (f->ids) ok &= fflush(f->ids) == 0;
    if (f->npy) ok &= npy_write_header(f->out, f->rows, f->dim);
    if (!ok) fprintf(stderr, "sutra: cannot write %s: %s\n", f->o->output, strerror(errno));
    return ok;
}

static int grow_vec(fctx *f, size_t floats) {
    if (floats <= f->vec_cap) return 1;
    float *v = realloc(f->vec, floats * sizeof *v);
    if (!v) return 0;
    f->vec = v;
    f->vec_cap = floats;
    return 1;
}

/* A document that failed: reported; 1 if the run must stop. */
static int failed(fctx *f, const doc *d, sutra_status st) {
    report(f, d->line, "%s: %s", sutra_status_str(st), sutra_embedder_last_error(f->emb));
    f->bad++;
    return f->o->on_error_fail;
}

/* One document's outputs (--output-kind) as a jsonl record: its rows [i] of o. */
static int write_outputs_record(fctx *f, const doc *d, const sutra_outputs *o, size_t i, int mv_dim) {
    fprintf(f->out, "{\"id\":%s", d->id);
    if (o->dense) {
        fputs(EMB_MARK, f->out);
        for (int k = 0; k < f->dim; k++) fprintf(f->out, k ? ",%.9g" : "%.9g", o->dense[i * (size_t)f->dim + k]);
        fputs("]", f->out);
    }
    if (o->sparse_offsets) {
        const size_t a = o->sparse_offsets[i], b = o->sparse_offsets[i + 1];
        fputs(",\"sparse\":{\"indices\":[", f->out);
        for (size_t k = a; k < b; k++) fprintf(f->out, k > a ? ",%d" : "%d", o->sparse_ids[k]);
        fputs("],\"values\":[", f->out);
        for (size_t k = a; k < b; k++) fprintf(f->out, k > a ? ",%.9g" : "%.9g", o->sparse_weights[k]);
        fputs("]}", f->out);
    }
    if (o->mv_offsets) {
        fputs(",\"colbert\":[", f->out);
        for (size_t r = o->mv_offsets[i]; r < o->mv_offsets[i + 1]; r++) {
            fputs(r > o->mv_offsets[i] ? ",[" : "[", f->out);
            for (int k = 0; k < mv_dim; k++) fprintf(f->out, k ? ",%.9g" : "%.9g", o->mv[r * (size_t)mv_dim + k]);
            fputs("]", f->out);
        }
        fputs("]", f->out);
    }
    fputs("}\n", f->out);
    f->rows++;
    return !ferror(f->out);
}

/* --output-kind: n documents' outputs from one call (a failed call is redone one document at a
 * time, so that only the bad ones are lost); 0 to go on, 1 when the run must stop. */
static int embed_docs_outputs(fctx *f, doc *d, size_t n) {
    sutra_model_info mi;
    sutra_embedder_info(f->emb, &mi);
    const int kinds = f->o->output_kind, D = mi.multivector_dim;
    /* the library's bounds: vocab_size entries a text (SPLADE) or one a token; one row a token */
    const size_t per_sparse = !strcmp(mi.sparse_kind, "splade") ? (size_t)mi.vocab_size : (size_t)mi.max_tokens;
    size_t soff[CHUNK_DOCS + 1], moff[CHUNK_DOCS + 1];
    sutra_outputs o;
    sutra_outputs_init(&o);
    if (kinds & SUTRA_OUTPUT_DENSE) o.dense_cap = n * (size_t)f->dim, o.dense = malloc(o.dense_cap * sizeof(float));
    if (kinds & SUTRA_OUTPUT_SPARSE) {
        o.sparse_cap = n * per_sparse, o.sparse_offsets = soff;
        o.sparse_ids = malloc(o.sparse_cap * sizeof *o.sparse_ids);
        o.sparse_weights = malloc(o.sparse_cap * sizeof *o.sparse_weights);
    }
    if (kinds & SUTRA_OUTPUT_MULTIVECTOR) {
        o.mv_cap = n * (size_t)mi.max_tokens * (size_t)(D > 0 ? D : 1), o.mv_offsets = moff;
        o.mv = malloc(o.mv_cap * sizeof *o.mv);
    }
    int stop = 0;
    if ((o.dense_cap && !o.dense) || (o.sparse_cap && (!o.sparse_ids || !o.sparse_weights)) || (o.mv_cap && !o.mv)) {
        fprintf(stderr, "sutra: out of memory for the outputs of %zu documents\n", n);
        stop = 1;
    }
    const char *texts[CHUNK_DOCS];
    for (size_t i = 0; i < n; i++) texts[i] = d[i].text;
    sutra_status st = stop ? SUTRA_ERR_OUT_OF_MEMORY : sutra_embed_outputs(f->emb, texts, n, &o);
    for (size_t i = 0; !stop && i < n; i++) {
        if (st) {
            sutra_status si = sutra_embed_outputs(f->emb, texts + i, 1, &o);
            if (si) {
                stop = failed(f, &d[i], si);
                continue;
            }
            if (!write_outputs_record(f, &d[i], &o, 0, D)) stop = 1;
        } else if (!write_outputs_record(f, &d[i], &o, i, D)) {
            stop = 1;
        }
        if (!stop) {
            f->docs++;
            f->bytes_embedded += d[i].bytes;
        }
    }
    free(o.dense);
    free(o.sparse_ids);
    free(o.sparse_weights);
    free(o.mv);
    return stop;
}

/* Embeds and writes n documents in order; 0 to go on, 1 when the run must stop. */
static int embed_docs(fctx *f, doc *d, size_t n) {
    const size_t dim = (size_t)f->dim;
    if (f->o->output_kind & ~SUTRA_OUTPUT_DENSE) return embed_docs_outputs(f, d, n);
    if (f->o->chunk_tokens > 0) {
        for (size_t i = 0; i < n; i++) {
            size_t nc = 0;
            sutra_status st;
            for (;;) {
                st = sutra_embed_late_chunks(f->emb, d[i].text, (size_t)-1, NULL, 0, f->o->chunk_tokens, &f->win,
                                             f->vec, f->vec_cap, f->chunks, f->chunks_cap, &nc);
                if (st != SUTRA_ERR_BUFFER_TOO_SMALL || (nc * dim <= f->vec_cap && nc <= f->chunks_cap)) break;
                sutra_chunk *c = realloc(f->chunks, nc * sizeof *c);
                if (c) f->chunks = c, f->chunks_cap = nc;
                if (!c || !grow_vec(f, nc * dim)) {
                    fprintf(stderr, "sutra: out of memory for %zu chunks\n", nc);
                    return 1;
                }
            }
            if (st) {
                if (failed(f, &d[i], st)) return 1;
                continue;
            }
            for (size_t k = 0; k < nc; k++)
                if (!write_record(f, &d[i], f->vec + k * dim, &f->chunks[k], k, nc)) return 1;
            f->docs++;
            f->bytes_embedded += d[i].bytes;
        }
        return 0;
    }
    const char *texts[CHUNK_DOCS];
    for (size_t i = 0; i < n; i++) texts[i] = d[i].text;
    if (!grow_vec(f, n * dim)) {
        fprintf(stderr, "sutra: out of memory\n");
        return 1;
    }
    sutra_status st = f->o->windowed ? sutra_embed_windowed(f->emb, texts, n, &f->win, f->vec, n * dim)
                                     : sutra_embed_batch(f->emb, texts, n, f->vec, n * dim);
    for (size_t i = 0; i < n; i++) {
        sutra_status si = st;
        /* a failed batch is redone one text at a time, so that only the bad ones are lost */
        if (st) si = f->o->windowed ? sutra_embed_windowed(f->emb, texts + i, 1, &f->win, f->vec + i * dim, dim)
                                    : sutra_embed(f->emb, texts[i], (size_t)-1, f->vec + i * dim, dim);
        if (si) {
            if (failed(f, &d[i], si)) return 1;
            continue;
        }
        if (!write_record(f, &d[i], f->vec + i * dim, NULL, 0, 0)) return 1;
        f->docs++;
        f->bytes_embedded += d[i].bytes;
    }
    return 0;
}

static void fmt_time(char *buf, size_t cap, double s) {
    if (s < 0 || s > 1e7) snprintf(buf, cap, "?");
    else if (s >= 3600) snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void show_progress(fctx *f, int final) {
    if (!f->progress) return;
    double now = now_s();
    if (!final && now - f->last_progress < 0.25) return;
    f->last_progress = now;
    sutra_stats s;
    sutra_embedder_stats(f->emb, &s);
    double el = now - f->t0, tps = el > 0 ? (double)(s.tokens - f->tokens0) / el : 0;
    char eta[32] = "?", bar[21];
    double frac = f->in_size > 0 ? (double)f->bytes_read / (double)f->in_size : 0;
    if (frac > 1) frac = 1;
    int filled = (int)(frac * 20);
    for (int i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '.';
    bar[20] = '\0';
    if (f->in_size > 0 && f->bytes_embedded > 0)
        fmt_time(eta, sizeof eta, (double)(f->in_size - (long long)f->bytes_read) * el / (double)f->bytes_embedded);
    if (f->in_size > 0)
        fprintf(stderr, "\r[%s] %5.1f%%  %llu docs  %.0f tokens/s  ETA %s   ", bar, 100 * frac,
                (unsigned long long)f->docs, tps, final ? "0m00s" : eta);
    else
        fprintf(stderr, "\r%llu docs  %.0f tokens/s   ", (unsigned long long)f->docs, tps);
    if (final) fputc('\n', stderr);
}

static void free_docs(doc *d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(d[i].id);
        free(d[i].text);
    }
}

int file_embed(sutra_embedder *emb, const file_opts *o) {
    fctx f = {.o = o, .emb = emb, .dim = sutra_embedder_dim(emb), .in_size = -1};
    sutra_window_init(emb, &f.win);
    if (o->window.size >= 0) f.win.size = o->window.size;
    if (o->window.overlap >= 0) f.win.overlap = o->window.overlap;
    else if (o->window.size >= 0) f.win.overlap = f.win.size / 4;
    f.win.aggregate = o->window.aggregate;
    /* Parameters are checked once, before any line is read. */
    sutra_status st = SUTRA_OK;
    size_t nc;
    if (o->chunk_tokens) st = sutra_embed_late_chunks(emb, "", 0, NULL, 0, o->chunk_tokens, &f.win, NULL, 0, NULL, 0, &nc);
    else if (o->windowed) st = sutra_embed_windowed(emb, NULL, 0, &f.win, NULL, 0);
    if (st) {
        fprintf(stderr, "sutra: %s\n", sutra_embedder_last_error(emb));
        return 2;
    }
    if (o->output_kind & ~SUTRA_OUTPUT_DENSE) {
        const char *why = o->windowed || o->chunk_tokens ? "windows and late chunks give dense vectors only"
                          : o->resume                     ? "--resume reads dense records only"
                          : ends_with(o->output, ".npy")  ? "a .npy file holds dense rows only; write .jsonl"
                          : (o->output_kind & ~sutra_embedder_outputs(emb))
                              ? "the model does not give that output (see `sutra info`: outputs)"
                              : NULL;
        if (why) {
            fprintf(stderr, "sutra: --output-kind: %s\n", why);
            return 2;
        }
    }
    f.in_jsonl = is_jsonl_name(o->input);
    f.in = strcmp(o->input, "-") ? fopen(o->input, "rb") : stdin;
    if (!f.in) {
        fprintf(stderr, "sutra: cannot open %s: %s\n", o->input, strerror(errno));
        return 1;
    }
    struct stat sb;
    if (fstat(fileno(f.in), &sb) == 0 && S_ISREG(sb.st_mode)) f.in_size = (long long)sb.st_size;
    int rc = open_outputs(&f);
    if (rc) {
        if (f.in != stdin) fclose(f.in);
        if (f.out && f.out != stdout) fclose(f.out);
        idset_free(&f.done);
        return rc;
    }
    if (o->resume && o->verbose)
        fprintf(stderr, "sutra: resuming after %llu records (%zu documents done)\n", (unsigned long long)f.rows,
                f.done.n);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second signal ends the process at once */
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    f.progress = isatty(2);
    f.t0 = now_s();
    sutra_stats s0;
    sutra_embedder_stats(emb, &s0);
    f.tokens0 = s0.tokens;
    doc batch[CHUNK_DOCS];
    size_t n = 0, bytes = 0, cap = 0;
    char *line = NULL, why[256];
    ssize_t len;
    int stop = 0;
    while (!stop && !g_stop && (len = getline(&line, &cap, f.in)) >= 0) {
        f.line_no++;
        f.bytes_read += (size_t)len;
        size_t l = (size_t)len;
        if (l && line[l - 1] == '\n') line[--l] = '\0';
        if (l && line[l - 1] == '\r') line[--l] = '\0';
        doc d;
        int r = parse_line(&f, line, l, &d, why, sizeof why);
        if (r < 0) {
            report(&f, f.line_no, "%s", why);
            f.bad++;
            if (o->on_error_fail) stop = 1; /* the chunk read so far is still embedded below */
            continue;
        }
        if (r == 0) continue;
        if (idset_has(&f.done, d.id)) {
            f.already++;
            free(d.id);
            free(d.text);
            continue;
        }
        d.bytes = (size_t)len;
        batch[n++] = d;
        bytes += l;
        if (n == CHUNK_DOCS || bytes >= CHUNK_BYTES) {
            stop |= embed_docs(&f, batch, n);
            free_docs(batch, n);
            n = bytes = 0;
            if (!flush_outputs(&f)) stop = 1;
            show_progress(&f, 0);
        }
    }
    /* The documents read before an interruption are left for --resume; those before a bad
     * line that stops the run are embedded. */
    if (n && !g_stop) stop |= embed_docs(&f, batch, n);
    free_docs(batch, n);
    free(line);
    if (!flush_outputs(&f)) stop = 1;
    show_progress(&f, 1);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    double el = now_s() - f.t0;
    sutra_stats s1;
    sutra_embedder_stats(emb, &s1);
    if (o->verbose || f.progress)
        fprintf(stderr,
                "sutra: %llu documents (%llu records) embedded, %llu bad lines, %llu already done; %llu tokens in "
                "%.2f s: %.1f docs/s, %.0f tokens/s\n",
                (unsigned long long)f.docs, (unsigned long long)f.rows, (unsigned long long)f.bad,
                (unsigned long long)f.already, (unsigned long long)(s1.tokens - f.tokens0), el,
                el > 0 ? (double)f.docs / el : 0, el > 0 ? (double)(s1.tokens - f.tokens0) / el : 0);
    if (g_stop)
        fprintf(stderr, "sutra: interrupted at line %zu; %llu records are in %s; rerun with --resume to go on\n",
                f.line_no, (unsigned long long)f.rows, o->output);
    if (f.in != stdin) fclose(f.in);
    if (f.out != stdout) fclose(f.out);
    if (f.ids) fclose(f.ids);
    idset_free(&f.done);
    free(f.vec);
    free(f.chunks);
    if (g_stop) return 128 + (int)g_stop;
    return stop || f.bad ? 1 : 0;
}
