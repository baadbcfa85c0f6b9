/*
 * test_torch_ckpt.c - the torch.save reader (src/model/torch_ckpt.c) against real torch.save files
 * and their safetensors twins (tests/fixtures/torch_ckpt, scripts/gen_torch_ckpt_fixtures.py):
 *   every tensor of a .bin equal, bit for bit, to its twin's: one tensor per dtype and the views a
 *     storage can be shared by (dtypes.bin; dtypes_p4.bin, the same in pickle protocol 4), a small
 *     XLM-R encoder and its Dense module (the twins written here from the seeded recipes), the same
 *     encoder in two .bin shards with an index;
 *   a model folder with only pytorch_model.bin files embeds bit for bit as the safetensors folder,
 *     and so does one with only the sharded .bin; bge-m3 with the .pt heads its repository ships
 *     gives the dense, sparse and ColBERT outputs its .safetensors heads give, bit for bit;
 *   hostile and broken files (a pickle that calls os.system or eval, an unknown or code-running
 *     opcode, truncation, a missing storage, a tensor past its storage, the legacy format, ...)
 *     refused with a message naming the problem, through the reader and through the public API;
 *   the pickle machine's bounds, through hand-made pickles over an in-memory storage source.
 * No tolerances: the same bytes must come out.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "family_fixture.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "model/torch_ckpt.h"
#include "seeded_weights.h"
#include "sutra.h"
#include "testutil.h"

#define NAME "test_torch_ckpt"

static char FX[4096];

static const char *fx(const char *rel) {
    static char buf[4][4200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", FX, rel);
    return buf[k];
}

/* Every tensor of a in b and the other way round, with the same dtype, shape and bytes. */
static void same_tensors(const char *what, const sutra_st_file *a, const sutra_st_file *b) {
    TU_CHECK(a && b && sutra_st_count(a) == sutra_st_count(b) && sutra_st_count(a) > 0, "%s: %zu and %zu tensors",
             what, sutra_st_count(a), sutra_st_count(b));
    if (!a || !b) return;
    size_t bad = 0;
    for (size_t i = 0; i < sutra_st_count(a); i++) {
        const sutra_st_tensor *x = sutra_st_get(a, i), *y = sutra_st_find(b, x->name);
        int same = y && x->dtype == y->dtype && x->ndim == y->ndim && x->nbytes == y->nbytes && x->numel == y->numel &&
                   !memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof x->shape[0]) &&
                   (!x->nbytes || !memcmp(x->data, y->data, x->nbytes));
        if (!same && bad++ < 5)
            TU_CHECK(0, "%s: tensor '%s' differs (%s %s, %zu / %zu bytes)", what, x->name, sutra_dtype_name(x->dtype),
                     y ? sutra_dtype_name(y->dtype) : "absent", x->nbytes, y ? y->nbytes : 0);
    }
    TU_CHECK(bad == 0, "%s: %zu of %zu tensors differ", what, bad, sutra_st_count(a));
}

static sutra_st_file *open_st(const char *path) {
    char err[1024] = "";
    sutra_st_file *f = NULL;
    TU_CHECK(sutra_st_open(path, &f, err, sizeof err) == SUTRA_OK, "%s: %s", path, err);
    return f;
}

static sutra_st_file *open_torch(const char *path) {
    char err[1024] = "";
    sutra_st_file *f = NULL;
    TU_CHECK(sutra_torch_open(path, &f, err, sizeof err) == SUTRA_OK, "%s: %s", path, err);
    return f;
}

static void rm_rf(const char *dir) {
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", dir);
}

static int copy_to(const char *from, const char *dir, const char *name) {
    char to[4200];
    snprintf(to, sizeof to, "%s/%s", dir, name);
    return tu_copy_file(from, to);
}

/* ---- one tensor per dtype, shared and strided storages ---- */

static void check_dtypes(void) {
    sutra_st_file *bin = open_torch(fx("dtypes.bin")), *twin = open_st(fx("dtypes.safetensors"));
    same_tensors("dtypes.bin", bin, twin);
    const sutra_st_tensor *t = sutra_st_find(bin, "expanded");
    TU_CHECK(t && t->ndim == 2 && t->shape[0] == 4 && t->shape[1] == 3 && !memcmp(t->data, t->data + 12, 12),
             "dtypes.bin: a zero stride repeats its row");
    sutra_st_close(bin);
    bin = open_torch(fx("dtypes_p4.bin"));
    same_tensors("dtypes_p4.bin (pickle protocol 4)", bin, twin);
    sutra_st_close(bin);
    /* the same image from memory */
    size_t len = 0;
    char *img = tu_read_file(fx("dtypes.bin"), &len);
    sutra_st_file *mem = NULL;
    char err[1024] = "";
    TU_CHECK(img && sutra_torch_parse((const uint8_t *)img, len, &mem, err, sizeof err) == SUTRA_OK, "from memory: %s",
             err);
    free(img); /* the object holds copies */
    same_tensors("dtypes.bin from memory", mem, twin);
    sutra_st_close(mem);
    sutra_st_close(twin);
}

/* ---- a small encoder: the .bin files against the seeded safetensors twins ---- */

static const char *const TINY_FILES[] = {"config.json", "modules.json", "sentence_bert_config.json",
                                         "1_Pooling/config.json", "2_Dense/config.json"};
static const char *const XLMR_TOK[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
static const char *const TEXTS[] = {"What is BGE M3?", "Déjà vu 東京 🗼 naïve façade", "a", "",
                                    "Defined as a lexical matching model, BM25 ranks documents by the query terms "
                                    "appearing in each, and so on for a while longer than the others."};
#define NTEXTS (sizeof TEXTS / sizeof TEXTS[0])

/* The model's JSON files and the XLM-R fixture's tokenizer into a fresh folder; with_weights also
 * writes the seeded model.safetensors twins (the encoder's and the Dense module's). */
static int tiny_folder(char *dir, int with_weights) {
    strcpy(dir, "/tmp/sutra_torch_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    const char *src = fx("tiny-xlmr");
    if (with_weights) {
        if (tu_fixture_assemble(src, dir, TINY_FILES, sizeof TINY_FILES / sizeof TINY_FILES[0], 0)) return -1;
        char json[4200], sub[4200], err[512];
        snprintf(json, sizeof json, "%s/2_Dense/weights.json", src);
        snprintf(sub, sizeof sub, "%s/2_Dense", dir);
        if (tu_seeded_weights_write(json, sub, 0, err, sizeof err)) {
            TU_CHECK(0, "Dense weights: %s", err);
            return -1;
        }
    } else {
        for (size_t i = 0; i < sizeof TINY_FILES / sizeof TINY_FILES[0]; i++) {
            char from[4200];
            snprintf(from, sizeof from, "%s/%s", src, TINY_FILES[i]);
            if (strchr(TINY_FILES[i], '/')) {
                char d[4200];
                snprintf(d, sizeof d, "%s/%.*s", dir, (int)(strchr(TINY_FILES[i], '/') - TINY_FILES[i]), TINY_FILES[i]);
                mkdir(d, 0755);
            }
            if (copy_to(from, dir, TINY_FILES[i])) return -1;
        }
    }
    for (size_t i = 0; i < sizeof XLMR_TOK / sizeof XLMR_TOK[0]; i++) {
        char from[4200];
        snprintf(from, sizeof from, "%s/%s", tu_source_path("tests/fixtures/longctx/xlmr"), XLMR_TOK[i]);
        if (copy_to(from, dir, XLMR_TOK[i])) return -1;
    }
    return 0;
}

/* The texts' vectors from the model in dir (NTEXTS x dim floats, the caller frees), NULL on failure. */
static float *embed_all(const char *dir, int *dim) {
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = dir;
    cfg.device = SUTRA_DEVICE_CPU;
    cfg.threads = 2;
    sutra_embedder *e = NULL;
    char err[1024] = "";
    if (sutra_embedder_create(&cfg, &e, err, sizeof err) != SUTRA_OK) {
        TU_CHECK(0, "%s: %s", dir, err);
        return NULL;
    }
    *dim = sutra_embedder_dim(e);
    float *v = malloc(NTEXTS * (size_t)*dim * sizeof *v);
    const sutra_status st = v ? sutra_embed_batch(e, TEXTS, NTEXTS, v, NTEXTS * (size_t)*dim) : SUTRA_ERR_OUT_OF_MEMORY;
    TU_CHECK(st == SUTRA_OK, "%s: embed: %s", dir, sutra_embedder_last_error(e));
    sutra_embedder_destroy(e);
    if (st) {
        free(v);
        return NULL;
    }
    return v;
}

static void check_tiny(void) {
    char st_dir[64], bin_dir[64], shard_dir[64], path[4200];
    if (tiny_folder(st_dir, 1) || tiny_folder(bin_dir, 0) || tiny_folder(shard_dir, 0)) {
        TU_CHECK(0, "cannot make the tiny-xlmr folders");
        return;
    }
    /* the tensors */
    snprintf(path, sizeof path, "%s/model.safetensors", st_dir);
    sutra_st_file *twin = open_st(path), *bin = open_torch(fx("tiny-xlmr/pytorch_model.bin"));
    same_tensors("tiny-xlmr/pytorch_model.bin", bin, twin);
    sutra_st_close(bin);
    char err[1024] = "";
    sutra_st_file *sharded = NULL;
    TU_CHECK(sutra_checkpoint_open(fx("tiny-xlmr/sharded"), &sharded, err, sizeof err) == SUTRA_OK, "sharded: %s", err);
    same_tensors("tiny-xlmr/sharded", sharded, twin);
    sutra_st_close(sharded);
    sutra_st_close(twin);
    snprintf(path, sizeof path, "%s/2_Dense/model.safetensors", st_dir);
    twin = open_st(path);
    bin = open_torch(fx("tiny-xlmr/2_Dense/pytorch_model.bin"));
    same_tensors("tiny-xlmr/2_Dense/pytorch_model.bin", bin, twin);
    sutra_st_close(bin);
    sutra_st_close(twin);

    /* the same folders with only torch.save weights, embedded through the API */
    copy_to(fx("tiny-xlmr/pytorch_model.bin"), bin_dir, "pytorch_model.bin");
    copy_to(fx("tiny-xlmr/2_Dense/pytorch_model.bin"), bin_dir, "2_Dense/pytorch_model.bin");
    static const char *const shards[] = {"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin",
                                         "pytorch_model.bin.index.json"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "tiny-xlmr/sharded/%s", shards[i]);
        copy_to(fx(path), shard_dir, shards[i]);
    }
    copy_to(fx("tiny-xlmr/2_Dense/pytorch_model.bin"), shard_dir, "2_Dense/pytorch_model.bin");
    int d0 = 0, d1 = 0, d2 = 0;
    float *a = embed_all(st_dir, &d0), *b = embed_all(bin_dir, &d1), *c = embed_all(shard_dir, &d2);
    TU_CHECK(d0 == 16, "tiny-xlmr: the Dense module's 16 dimensions (%d)", d0);
    TU_CHECK(a && b && d0 == d1 && !memcmp(a, b, NTEXTS * (size_t)d0 * sizeof *a),
             "tiny-xlmr: pytorch_model.bin embeds bit for bit as model.safetensors");
    TU_CHECK(a && c && d0 == d2 && !memcmp(a, c, NTEXTS * (size_t)d0 * sizeof *a),
             "tiny-xlmr: sharded pytorch_model.bin embeds bit for bit as model.safetensors");
    double norm = 0;
    for (int i = 0; a && i < d0; i++) norm += (double)a[i] * a[i];
    TU_CHECK(a && fabs(norm - 1) < 1e-5, "tiny-xlmr: a normalised vector (|v|^2 = %.7f)", norm);
    free(a), free(b), free(c);

    /* safetensors wins when both are there */
    snprintf(path, sizeof path, "%s/pytorch_model.bin", st_dir);
    FILE *fp = fopen(path, "wb");
    if (fp) fclose(fp);
    sutra_st_file *f = NULL;
    TU_CHECK(sutra_checkpoint_open(st_dir, &f, err, sizeof err) == SUTRA_OK,
             "model.safetensors before an empty .bin: %s", err);
    sutra_st_close(f);

    /* a hostile pytorch_model.bin through the public API */
    snprintf(path, sizeof path, "%s/pytorch_model.bin", bin_dir);
    tu_copy_file(fx("bad/os_system.pt"), path);
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = bin_dir;
    cfg.device = SUTRA_DEVICE_CPU;
    sutra_embedder *e = NULL;
    const sutra_status st = sutra_embedder_create(&cfg, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_UNSUPPORTED && !e && strstr(err, "pytorch_model.bin") && strstr(err, "'os.system'"),
             "a pytorch_model.bin that calls os.system is refused by name: %d %s", (int)st, err);
    sutra_embedder_destroy(e);
    /* a .bin index is held to plain .bin names in the folder */
    unlink(path);
    snprintf(path, sizeof path, "%s/pytorch_model.bin.index.json", bin_dir);
    static const char *const index[] = {"{\"weight_map\":{\"a\":\"../pytorch_model.bin\"}}",
                                        "{\"weight_map\":{\"a\":\"model.safetensors\"}}"};
    for (int i = 0; i < 2; i++) {
        fp = fopen(path, "w");
        if (fp) fputs(index[i], fp), fclose(fp);
        f = NULL;
        TU_CHECK(sutra_checkpoint_open(bin_dir, &f, err, sizeof err) == SUTRA_ERR_FORMAT && !f &&
                     strstr(err, "is not a .bin file name in the model directory"),
                 ".bin index %d: %s", i, err);
    }
    unlink(path);
    /* no weights at all: every layout named */
    f = NULL;
    TU_CHECK(sutra_checkpoint_open(bin_dir, &f, err, sizeof err) == SUTRA_ERR_IO && !f &&
                 strstr(err, "model.safetensors.index.json") && strstr(err, "pytorch_model.bin.index.json"),
             "no weights: %s", err);
    rm_rf(st_dir), rm_rf(bin_dir), rm_rf(shard_dir);
}

/* ---- hostile and broken files ---- */

static void check_bad(void) {
    static const struct {
        const char *file;
        sutra_status st;
        const char *needle;
    } bad[] = {
        {"bad/os_system.pt", SUTRA_ERR_UNSUPPORTED, "global 'os.system' is not allowed"},
        {"bad/posix_system.pt", SUTRA_ERR_UNSUPPORTED, "global 'posix.system' is not allowed"},
        {"bad/builtins_eval.pt", SUTRA_ERR_UNSUPPORTED, "global 'builtins.eval' is not allowed"},
        {"bad/stack_global_exec.pt", SUTRA_ERR_UNSUPPORTED, "global 'builtins.exec' is not allowed"},
        {"bad/inst_opcode.pt", SUTRA_ERR_UNSUPPORTED, "opcode INST (0x69)"},
        {"bad/unknown_opcode.pt", SUTRA_ERR_FORMAT, "0xff is not a pickle opcode"},
        {"bad/truncated.pt", SUTRA_ERR_FORMAT, "truncated"},
        {"bad/missing_storage.pt", SUTRA_ERR_FORMAT, "storage '0' is missing"},
        {"bad/past_storage.pt", SUTRA_ERR_FORMAT, "reaches element 2 of storage '0', which holds 2 elements"},
        {"bad/stride_overflow.pt", SUTRA_ERR_FORMAT, "sizes and strides overflow"},
        {"bad/big_endian.pt", SUTRA_ERR_UNSUPPORTED, "big-endian"},
        {"bad/compressed.pt", SUTRA_ERR_UNSUPPORTED, "compressed"},
        {"bad/legacy.bin", SUTRA_ERR_UNSUPPORTED, "legacy torch.save format (pre-1.6); re-save it"},
        {"dtypes.safetensors", SUTRA_ERR_FORMAT, "not a zip archive"},
        {"tiny-xlmr/config.json", SUTRA_ERR_FORMAT, "not a zip archive"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[1024] = "";
        sutra_st_file *f = NULL;
        const sutra_status st = sutra_torch_open(fx(bad[i].file), &f, err, sizeof err);
        TU_CHECK(st == bad[i].st && !f && strstr(err, bad[i].needle) && strstr(err, bad[i].file),
                 "%s: status %d (want %d), '%s' (want '%s')", bad[i].file, (int)st, (int)bad[i].st, err, bad[i].needle);
        sutra_st_close(f);
        /* the same from memory */
        size_t len = 0;
        char *img = tu_read_file(fx(bad[i].file), &len);
        const sutra_status sm = img ? sutra_torch_parse((const uint8_t *)img, len, &f, err, sizeof err) : SUTRA_ERR_IO;
        TU_CHECK(sm == bad[i].st && !f && strstr(err, bad[i].needle), "%s from memory: %d '%s'", bad[i].file, (int)sm,
                 err);
        free(img);
    }
    char err[256] = "";
    sutra_st_file *f = NULL;
    TU_CHECK(sutra_torch_open("/nonexistent/pytorch_model.bin", &f, err, sizeof err) == SUTRA_ERR_IO && !f,
             "a missing file: %s", err);
    TU_CHECK(sutra_torch_open("/tmp", &f, err, sizeof err) == SUTRA_ERR_IO && !f, "a folder: %s", err);
    TU_CHECK(sutra_torch_parse(NULL, 0, &f, err, sizeof err) == SUTRA_ERR_FORMAT && !f, "nothing: %s", err);
}

/* ---- the pickle machine on its own ---- */

/* Storages "0".."9" of 64 bytes each (byte j of storage k is k * 16 + j); others absent. */
static sutra_status mem_size(void *ctx, const char *key, uint64_t declared, uint64_t *nbytes, char *err,
                             size_t errcap) {
    (void)ctx, (void)declared;
    if (key[0] < '0' || key[0] > '9' || key[1]) {
        snprintf(err, errcap, "storage '%s' is missing", key);
        return SUTRA_ERR_FORMAT;
    }
    *nbytes = 64;
    return SUTRA_OK;
}

static sutra_status mem_read(void *ctx, const char *key, uint64_t off, void *dst, size_t len, char *err,
                             size_t errcap) {
    (void)ctx, (void)err, (void)errcap;
    for (size_t j = 0; j < len; j++) ((uint8_t *)dst)[j] = (uint8_t)((key[0] - '0') * 16 + off + j);
    return SUTRA_OK;
}

/* A pickle being written by hand. */
typedef struct pk {
    uint8_t b[8192];
    size_t n;
} pk;

static void put(pk *p, const void *bytes, size_t n) {
    if (p->n + n <= sizeof p->b) memcpy(p->b + p->n, bytes, n), p->n += n;
}
#define PUT(p, lit) put(p, lit, sizeof lit - 1)

static void str(pk *p, const char *s) {
    const size_t n = strlen(s);
    const uint8_t h[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8), 0, 0};
    put(p, h, 5);
    put(p, s, n);
}

static void int1(pk *p, int v) {
    const uint8_t h[2] = {'K', (uint8_t)v};
    put(p, h, 2);
}

/* A tensor of n float elements of storage key (declared 16 floats) from offset with stride 1. */
static void tensor(pk *p, const char *key, const char *stype, int offset, int n, int stride) {
    PUT(p, "ctorch._utils\n_rebuild_tensor_v2\n((");
    str(p, "storage");
    PUT(p, "ctorch\n");
    put(p, stype, strlen(stype));
    PUT(p, "\n");
    str(p, key);
    str(p, "cpu");
    int1(p, 64 / (strcmp(stype, "HalfStorage") ? 4 : 2));
    PUT(p, "tQ");
    int1(p, offset);
    int1(p, n);
    PUT(p, "\x85");
    int1(p, stride);
    PUT(p, "\x85\x89}tR");
}

static sutra_status run_pickle(const pk *p, uint64_t max_bytes, sutra_st_file **f, char *err, size_t errcap) {
    const sutra_torch_storages src = {.size = mem_size, .read = mem_read};
    return sutra_torch_parse_pickle(p->b, p->n, &src, max_bytes, "test.pkl", f, err, errcap);
}

static void check_pickles(void) {
    char err[1024];
    sutra_st_file *f = NULL;
    pk p = {.n = 0};
    /* a good one: two views of one storage, memo reuse, an OrderedDict with _metadata */
    PUT(&p, "\x80\x02\x63" "collections\nOrderedDict\nq\x00)R(");
    str(&p, "a");
    tensor(&p, "3", "FloatStorage", 2, 4, 1);
    str(&p, "b");
    tensor(&p, "3", "FloatStorage", 0, 2, 8);
    PUT(&p, "u}");
    str(&p, "_metadata");
    PUT(&p, "h\x00)R(");
    str(&p, "");
    PUT(&p, "}us");
    PUT(&p, "b.");
    sutra_status st = run_pickle(&p, 1 << 20, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && sutra_st_count(f) == 2, "hand-made state dict: %d %s", (int)st, err);
    const sutra_st_tensor *a = sutra_st_find(f, "a"), *b = sutra_st_find(f, "b");
    TU_CHECK(a && a->nbytes == 16 && a->data[0] == 3 * 16 + 8 && a->data[15] == 3 * 16 + 23, "view at offset 2");
    TU_CHECK(b && b->nbytes == 8 && b->data[0] == 48 && b->data[4] == 48 + 32, "strided view (stride 8)");
    sutra_st_close(f);
    /* the copies of views count against the limit */
    st = run_pickle(&p, 64, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && !f && strstr(err, "more than the 64 bytes"), "byte limit: %s", err);

    static const struct {
        const char *what, *pickle;
        size_t len;
        sutra_status st;
        const char *needle;
    } cases[] = {
#define C(w, s, st, n) {w, s, sizeof s - 1, st, n}
        C("empty", "", SUTRA_ERR_FORMAT, "ends before STOP"),
        C("STOP on an empty stack", "\x80\x02.", SUTRA_ERR_FORMAT, "stack underflow"),
        C("protocol 6", "\x80\x06}.", SUTRA_ERR_UNSUPPORTED, "protocol 6"),
        C("not a dict", "\x80\x02].", SUTRA_ERR_UNSUPPORTED, "a list, not a dict"),
        C("a value that is not a tensor",
          "\x80\x02}X\x01\x00\x00\x00"
          "aK\x01s.",
          SUTRA_ERR_UNSUPPORTED, "entry 'a' is a int, not a tensor"),
        C("a name with NUL", "\x80\x02}X\x01\x00\x00\x00\x00K\x01s.", SUTRA_ERR_FORMAT, "without NUL"),
        C("a name that is not UTF-8", "\x80\x02}X\x01\x00\x00\x00\xffK\x01s.", SUTRA_ERR_FORMAT, "not valid UTF-8"),
        C("a string past the end", "\x80\x02X\xff\xff\xff\x7f", SUTRA_ERR_FORMAT, "runs past the end"),
        C("a memo index never stored", "\x80\x02h\x05.", SUTRA_ERR_FORMAT, "memo index 5 was never stored"),
        C("a memo index out of order", "\x80\x02}r\x00\x00\x01\x00.", SUTRA_ERR_FORMAT, "memo index 65536 is past"),
        C("SETITEM without a dict", "\x80\x02]K\x01K\x02s.", SUTRA_ERR_FORMAT, "SETITEM on a list"),
        C("SETITEMS of an odd count", "\x80\x02}(K\x01u.", SUTRA_ERR_FORMAT, "odd number"),
        C("APPENDS across a MARK",
          "\x80\x02(]K\x01(K\x02"
          "e.",
          SUTRA_ERR_FORMAT, "APPEND on a int"),
        C("TUPLE without a MARK", "\x80\x02K\x01t.", SUTRA_ERR_FORMAT, "no MARK"),
        C("a pop through a MARK", "\x80\x02K\x01(\x85.", SUTRA_ERR_FORMAT, "stack underflow"),
        C("LONG1 of 9 bytes", "\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", SUTRA_ERR_FORMAT, "9 bytes"),
        C("REDUCE of OrderedDict with arguments",
          "\x80\x02\x63"
          "collections\nOrderedDict\n]\x85R.",
          SUTRA_ERR_UNSUPPORTED, "OrderedDict called with 1 arguments"),
        C("REDUCE of a storage type", "\x80\x02\x63torch\nFloatStorage\n)R.", SUTRA_ERR_UNSUPPORTED,
          "REDUCE calls torch.FloatStorage"),
        C("REDUCE of a string",
          "\x80\x02X\x01\x00\x00\x00"
          "a)R.",
          SUTRA_ERR_UNSUPPORTED, "REDUCE calls a str"),
        C("BUILD on a dict", "\x80\x02}}b.", SUTRA_ERR_UNSUPPORTED, "BUILD sets the state of a dict"),
        C("a pid that is not a storage",
          "\x80\x02X\x01\x00\x00\x00"
          "aQ.",
          SUTRA_ERR_FORMAT, "persistent id"),
        C("a storage key with a slash",
          "\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x04\x00\x00\x00../0"
          "X\x03\x00\x00\x00"
          "cpuK\x01tQ.",
          SUTRA_ERR_FORMAT, "not letters, digits"),
        C("torch.load itself", "\x80\x02\x63torch\nload\n.", SUTRA_ERR_UNSUPPORTED, "global 'torch.load'"),
        C("a global of a quote", "\x80\x02\x63os'\nsystem\n.", SUTRA_ERR_UNSUPPORTED, "global 'os?.system'"),
        C("STACK_GLOBAL of ints", "\x80\x04K\x01K\x02\x93.", SUTRA_ERR_FORMAT, "STACK_GLOBAL of a int and a int"),
        C("POP", "\x80\x02}0.", SUTRA_ERR_UNSUPPORTED, "opcode POP"),
        C("NEWOBJ", "\x80\x02\x81.", SUTRA_ERR_UNSUPPORTED, "opcode NEWOBJ"),
#undef C
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pk q = {.n = 0};
        put(&q, cases[i].pickle, cases[i].len);
        err[0] = '\0';
        st = run_pickle(&q, 1 << 20, &f, err, sizeof err);
        TU_CHECK(st == cases[i].st && !f && strstr(err, cases[i].needle) && strstr(err, "test.pkl"),
                 "%s: %d '%s' (want %d '%s')", cases[i].what, (int)st, err, (int)cases[i].st, cases[i].needle);
        sutra_st_close(f);
    }
    /* a GLOBAL line longer than the bound */
    pk longname = {.n = 0};
    PUT(&longname, "\x80\x02\x63torch\n");
    for (int i = 0; i < 200; i++) PUT(&longname, "A");
    PUT(&longname, "\n.");
    st = run_pickle(&longname, 1 << 20, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, "longer than 128 bytes"), "a global with a long name: %s", err);
    /* nesting: 64 MARKs are allowed, the 65th is not */
    pk deep = {.n = 0};
    PUT(&deep, "\x80\x02");
    for (int i = 0; i < 65; i++) PUT(&deep, "(");
    st = run_pickle(&deep, 1 << 20, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, "more than 64 nested MARKs"), "deep MARKs: %s", err);
    /* tensors against their storages */
    static const struct {
        const char *stype;
        int off, n, stride;
        const char *needle;
    } views[] = {
        {"FloatStorage", 0, 17, 1, "reaches element 16 of storage '7', which holds 16 elements"},
        {"FloatStorage", 15, 2, 1, "reaches element 16"},
        {"FloatStorage", 0, 3, 8, "reaches element 16"},
        {"HalfStorage", 0, 33, 1, "reaches element 32 of storage '7', which holds 32 elements"},
        {"FloatStorage", 0, 16, 1, NULL},
        {"FloatStorage", 15, 1, 0, NULL},
        {"HalfStorage", 0, 2, 31, NULL},
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        pk q = {.n = 0};
        PUT(&q, "\x80\x02}");
        str(&q, "w");
        tensor(&q, "7", views[i].stype, views[i].off, views[i].n, views[i].stride);
        PUT(&q, "s.");
        st = run_pickle(&q, 1 << 20, &f, err, sizeof err);
        if (views[i].needle)
            TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, views[i].needle), "view %zu: %d %s", i, (int)st, err);
        else
            TU_CHECK(st == SUTRA_OK && sutra_st_find(f, "w") && sutra_st_find(f, "w")->numel == views[i].n,
                     "view %zu: %d %s", i, (int)st, err);
        sutra_st_close(f);
    }
    /* one key declared with two types; a key the source lacks */
    pk two = {.n = 0};
    PUT(&two, "\x80\x02}(");
    str(&two, "a");
    tensor(&two, "1", "FloatStorage", 0, 1, 1);
    str(&two, "b");
    tensor(&two, "1", "HalfStorage", 0, 1, 1);
    PUT(&two, "u.");
    st = run_pickle(&two, 1 << 20, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, "storage '1' is declared as"), "two types: %s", err);
    pk none = {.n = 0};
    PUT(&none, "\x80\x02}");
    str(&none, "a");
    tensor(&none, "x", "FloatStorage", 0, 1, 1);
    PUT(&none, "s.");
    st = run_pickle(&none, 1 << 20, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, "storage 'x' is missing"), "absent storage: %s", err);
    /* one name twice */
    pk dup = {.n = 0};
    PUT(&dup, "\x80\x02}(");
    str(&dup, "a");
    tensor(&dup, "1", "FloatStorage", 0, 1, 1);
    str(&dup, "a");
    tensor(&dup, "1", "FloatStorage", 0, 1, 1);
    PUT(&dup, "u.");
    st = run_pickle(&dup, 1 << 20, &f, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_FORMAT && strstr(err, "tensor 'a' appears twice"), "a name twice: %s", err);
}

/* ---- bge-m3's .pt heads ---- */

typedef struct m3_out {
    float *dense, *w, *mv;
    int32_t *ids;
    size_t soff[NTEXTS + 1], moff[NTEXTS + 1], count, rows;
    int dim, mv_dim;
} m3_out;

static int m3_run(const char *dir, m3_out *o) {
    memset(o, 0, sizeof *o);
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = dir;
    cfg.device = SUTRA_DEVICE_CPU;
    cfg.threads = 2;
    sutra_embedder *e = NULL;
    char err[1024] = "";
    if (sutra_embedder_create(&cfg, &e, err, sizeof err) != SUTRA_OK) {
        TU_CHECK(0, "bge-m3 %s: %s", dir, err);
        return -1;
    }
    sutra_model_info info;
    sutra_embedder_info(e, &info);
    o->dim = info.dim;
    o->mv_dim = info.multivector_dim;
    const size_t cap = 4096;
    o->dense = malloc(NTEXTS * (size_t)o->dim * sizeof *o->dense);
    o->ids = malloc(cap * sizeof *o->ids);
    o->w = malloc(cap * sizeof *o->w);
    o->mv = malloc(cap * (size_t)(o->mv_dim ? o->mv_dim : 1) * sizeof *o->mv);
    sutra_outputs out = {.struct_size = sizeof out, .dense = o->dense, .dense_cap = NTEXTS * (size_t)o->dim, .sparse_offsets = o->soff,
                         .sparse_ids = o->ids, .sparse_weights = o->w, .sparse_cap = cap, .mv_offsets = o->moff,
                         .mv = o->mv, .mv_cap = cap * (size_t)o->mv_dim};
    const sutra_status st = sutra_embed_outputs(e, TEXTS, NTEXTS, &out);
    TU_CHECK(st == SUTRA_OK && !strcmp(info.outputs, "dense sparse multivector"), "bge-m3 %s: '%s' %s", dir,
             info.outputs, sutra_embedder_last_error(e));
    o->count = out.sparse_count;
    o->rows = out.mv_rows;
    sutra_embedder_destroy(e);
    return st ? -1 : 0;
}

static void m3_free(m3_out *o) { free(o->dense), free(o->ids), free(o->w), free(o->mv); }

static void check_bge_m3(void) {
    static const char *const files[] = {"config.json", "modules.json", "sentence_bert_config.json",
                                        "1_Pooling/config.json"};
    char src[4096];
    snprintf(src, sizeof src, "%s", tu_source_path("tests/fixtures/rerank/bge-m3"));
    char dir[64] = "/tmp/sutra_torch_m3_XXXXXX";
    if (!mkdtemp(dir) || tu_fixture_assemble(src, dir, files, 4, 0)) {
        TU_CHECK(0, "bge-m3: cannot make the model folder");
        return;
    }
    for (size_t i = 0; i < sizeof XLMR_TOK / sizeof XLMR_TOK[0]; i++) {
        char from[4200];
        snprintf(from, sizeof from, "%s/%s", tu_source_path("tests/fixtures/longctx/xlmr"), XLMR_TOK[i]);
        copy_to(from, dir, XLMR_TOK[i]);
    }
    /* the .safetensors heads from the recipes the .pt files were drawn from */
    char recipes[2][4200], sub[4200], from[4300], to[4300], err[512];
    snprintf(recipes[0], sizeof recipes[0], "%s/sparse_linear.json", src);
    snprintf(recipes[1], sizeof recipes[1], "%s", fx("bge-m3/colbert_linear.json"));
    static const char *const heads[] = {"sparse_linear", "colbert_linear"};
    for (int k = 0; k < 2; k++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, heads[k]);
        mkdir(sub, 0755);
        if (tu_seeded_weights_write(recipes[k], sub, 0, err, sizeof err)) TU_CHECK(0, "bge-m3 %s: %s", heads[k], err);
        snprintf(from, sizeof from, "%s/model.safetensors", sub);
        snprintf(to, sizeof to, "%s/%s.safetensors", dir, heads[k]);
        TU_CHECK(!rename(from, to) && !rmdir(sub), "bge-m3: %s.safetensors", heads[k]);
        /* the head files themselves */
        snprintf(from, sizeof from, "bge-m3/%s.pt", heads[k]);
        sutra_st_file *pt = open_torch(fx(from)), *twin = open_st(to);
        same_tensors(from, pt, twin);
        sutra_st_close(pt);
        sutra_st_close(twin);
    }
    m3_out a, b;
    const int ra = m3_run(dir, &a);
    for (int k = 0; k < 2; k++) {
        snprintf(to, sizeof to, "%s/%s.safetensors", dir, heads[k]);
        unlink(to);
        snprintf(from, sizeof from, "bge-m3/%s.pt", heads[k]);
        snprintf(to, sizeof to, "%s.pt", heads[k]);
        copy_to(fx(from), dir, to);
    }
    const int rb = m3_run(dir, &b);
    if (!ra && !rb) {
        TU_CHECK(a.mv_dim == 16 && b.mv_dim == 16, "bge-m3: the fixture's 16-wide ColBERT head (%d, %d)", a.mv_dim,
                 b.mv_dim);
        TU_CHECK(a.count > 0 && a.count == b.count && !memcmp(a.soff, b.soff, sizeof a.soff) &&
                     !memcmp(a.ids, b.ids, a.count * sizeof *a.ids) && !memcmp(a.w, b.w, a.count * sizeof *a.w),
                 "bge-m3: sparse outputs from the .pt heads are the .safetensors heads' (%zu / %zu entries)", a.count,
                 b.count);
        TU_CHECK(a.rows > 0 && a.rows == b.rows && !memcmp(a.moff, b.moff, sizeof a.moff) &&
                     !memcmp(a.mv, b.mv, a.rows * (size_t)a.mv_dim * sizeof *a.mv),
                 "bge-m3: ColBERT vectors from the .pt heads are the .safetensors heads' (%zu / %zu rows)", a.rows,
                 b.rows);
        TU_CHECK(a.dim == b.dim && !memcmp(a.dense, b.dense, NTEXTS * (size_t)a.dim * sizeof *a.dense),
                 "bge-m3: dense vectors the same");
    }
    m3_free(&a), m3_free(&b);
    /* a hostile head is refused by name */
    snprintf(to, sizeof to, "%s/colbert_linear.pt", dir);
    tu_copy_file(fx("bad/builtins_eval.pt"), to);
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = dir;
    cfg.device = SUTRA_DEVICE_CPU;
    sutra_embedder *e = NULL;
    char msg[1024] = "";
    TU_CHECK(sutra_embedder_create(&cfg, &e, msg, sizeof msg) == SUTRA_ERR_UNSUPPORTED &&
                 strstr(msg, "colbert_linear.pt") && strstr(msg, "'builtins.eval'"),
             "bge-m3: a hostile colbert_linear.pt is refused by name: %s", msg);
    sutra_embedder_destroy(e);
    rm_rf(dir);
}

int main(void) {
    snprintf(FX, sizeof FX, "%s", tu_source_path("tests/fixtures/torch_ckpt"));
    check_dtypes();
    check_bad();
    check_pickles();
    check_tiny();
    check_bge_m3();
    return tu_finish(NAME);
}
