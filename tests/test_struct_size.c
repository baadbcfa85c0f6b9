/*
 * test_struct_size.c - the public structs that grow (sutra.h, "structs that grow") and the
 * version calls:
 *  - util/struct_size.c with two versions of one struct: a caller's older, smaller struct is read
 *    with the library's defaults for the fields it lacks and is never written past its size; a
 *    newer, larger one is taken when the fields the library does not know are 0 and refused
 *    (SUTRA_ERR_UNSUPPORTED) when one is set; a struct_size never set is refused, naming the
 *    struct and its init call;
 *  - the same rules at each public call that reads or writes such a struct (sutra_config at
 *    create, sutra_window, sutra_tokenize_options, sutra_outputs, sutra_model_info, sutra_stats),
 *    on the default model;
 *  - sutra_version() and sutra_version_number() are the header's.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sutra.h"
#include "testutil.h"
#include "util/struct_size.h"

/* Two versions of one struct: the library knows new_s (c and d added, defaults 7 and 9). */
typedef struct old_s {
    size_t struct_size;
    int a, b;
} old_s;
typedef struct new_s {
    size_t struct_size;
    int a, b;
    int c, d;
} new_s;
#define OLD_SIZE SUTRA_SIZE_THROUGH(old_s, b)

static void test_helpers(void) {
    char err[256];
    /* an older caller: its fields read, the library's defaults for the rest */
    const old_s older = {.struct_size = sizeof older, .a = 1, .b = 2};
    new_s own = {.c = 7, .d = 9};
    sutra_status st = sutra_struct_read(&own, sizeof own, &older, OLD_SIZE, "new_s", err, sizeof err);
    TU_CHECK(st == SUTRA_OK && own.a == 1 && own.b == 2 && own.c == 7 && own.d == 9 && own.struct_size == sizeof own,
             "older struct read: status %d, a %d b %d c %d d %d", st, own.a, own.b, own.c, own.d);

    /* a newer caller: taken when what the library does not know is 0, refused otherwise */
    new_s newer = {.struct_size = sizeof newer, .a = 3, .b = 4};
    old_s lib = {.a = -1};
    st = sutra_struct_read(&lib, sizeof lib, &newer, OLD_SIZE, "old_s", err, sizeof err);
    TU_CHECK(st == SUTRA_OK && lib.a == 3 && lib.b == 4 && lib.struct_size == sizeof lib,
             "newer struct with unknown fields 0: status %d (%s)", st, err);
    newer.d = 5;
    st = sutra_struct_read(&lib, sizeof lib, &newer, OLD_SIZE, "old_s", err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_UNSUPPORTED && strstr(err, "old_s"), "newer struct with d set: status %d (%s)", st, err);

    /* never set */
    old_s unset = {.a = 1};
    st = sutra_struct_read(&lib, sizeof lib, &unset, OLD_SIZE, "old_s", err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && strstr(err, "old_s_init()"), "struct_size 0: status %d (%s)", st, err);

    /* writing: an older caller's struct is written up to its size, a newer one's extra zeroed */
    struct {
        old_s s;
        unsigned char guard[16];
    } small;
    memset(&small, 0xAB, sizeof small);
    const new_s full = {.struct_size = sizeof full, .a = 1, .b = 2, .c = 3, .d = 4};
    sutra_struct_write(&small.s, sizeof small.s, &full, sizeof full);
    int guard_ok = 1;
    for (size_t i = 0; i < sizeof small.guard; i++) guard_ok &= small.guard[i] == 0xAB;
    TU_CHECK(small.s.a == 1 && small.s.b == 2 && guard_ok, "write into an older struct: a %d b %d, guard %s", small.s.a,
             small.s.b, guard_ok ? "intact" : "overwritten");
    new_s big;
    memset(&big, 0xAB, sizeof big);
    const old_s part = {.struct_size = sizeof part, .a = 5, .b = 6};
    sutra_struct_write(&big, sizeof big, &part, sizeof part);
    TU_CHECK(big.a == 5 && big.b == 6 && big.c == 0 && big.d == 0, "write into a newer struct: c %d d %d (want 0)", big.c,
             big.d);
}

/* sutra_config: init within the caller's size; create reads it by its struct_size. */
static void test_config(void) {
    struct {
        sutra_config c;
        unsigned char guard[32];
    } buf;
    memset(&buf, 0xAB, sizeof buf);
    sutra_config_init(&buf.c);
    int guard_ok = 1;
    for (size_t i = 0; i < sizeof buf.guard; i++) guard_ok &= buf.guard[i] == 0xAB;
    TU_CHECK(buf.c.struct_size == sizeof buf.c && buf.c.use_flash_attention == 1 && buf.c.model == NULL && guard_ok,
             "sutra_config_init: struct_size %zu, use_flash_attention %d, guard %s", buf.c.struct_size,
             buf.c.use_flash_attention, guard_ok ? "intact" : "overwritten");
    sutra_config_init_sized(&buf.c, SUTRA_CONFIG_V1_SIZE - 1);
    TU_CHECK(buf.c.struct_size == sizeof buf.c, "init with a size below the first version wrote");

    char err[512] = "";
    sutra_embedder *e = NULL;
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = "/nonexistent/model";
    cfg.struct_size = 0;
    sutra_status st = sutra_embedder_create(&cfg, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && !e && strstr(err, "sutra_config_init()"),
             "create with struct_size 0: status %d (%s)", st, err);

    /* a newer caller's config: accepted with its extra bytes 0 (create goes on to the model, which
     * does not exist), refused with one set */
    struct {
        sutra_config c;
        uint64_t newer_field;
    } grown;
    memset(&grown, 0, sizeof grown);
    sutra_config_init_sized(&grown.c, sizeof grown);
    grown.c.model = "/nonexistent/model";
    TU_CHECK(grown.c.struct_size == sizeof grown && grown.c.use_flash_attention == 1, "init of a larger config");
    st = sutra_embedder_create(&grown.c, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_IO && strstr(err, "/nonexistent/model"), "larger config, extra 0: status %d (%s)", st, err);
    grown.newer_field = 1;
    st = sutra_embedder_create(&grown.c, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_UNSUPPORTED && strstr(err, "sutra_config"), "larger config, extra set: status %d (%s)", st,
             err);
}

/* The structs of the calls on an embedder. */
static void test_calls(void) {
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = tu_default_model();
    cfg.device = SUTRA_DEVICE_CPU;
    cfg.threads = 1;
    char err[512] = "";
    sutra_embedder *e = NULL;
    if (sutra_embedder_create(&cfg, &e, err, sizeof err) != SUTRA_OK) {
        TU_CHECK(0, "create: %s", err);
        return;
    }
    const int dim = sutra_embedder_dim(e);
    const char *texts[1] = {"A man is playing a guitar."};
    float out[1024];

    /* sutra_model_info and sutra_stats: a newer caller's extra bytes are zeroed; a size below the
     * first version is refused */
    struct {
        sutra_model_info info;
        unsigned char newer[24];
    } info;
    memset(&info, 0xAB, sizeof info);
    sutra_status st = sutra_embedder_info_sized(e, &info.info, sizeof info);
    int zero = 1;
    for (size_t i = 0; i < sizeof info.newer; i++) zero &= info.newer[i] == 0;
    TU_CHECK(st == SUTRA_OK && info.info.dim == dim && zero, "info into a larger struct: status %d, dim %d, extra %s", st,
             info.info.dim, zero ? "zeroed" : "not zeroed");
    TU_CHECK(sutra_embedder_info_sized(e, &info.info, SUTRA_MODEL_INFO_V1_SIZE - 1) == SUTRA_ERR_INVALID_ARGUMENT,
             "info with a size below the first version");
    sutra_stats stats;
    TU_CHECK(sutra_embedder_stats_sized(e, &stats, 4) == SUTRA_ERR_INVALID_ARGUMENT, "stats with 4 bytes");

    /* sutra_window: a struct_size never set is refused, naming the struct */
    sutra_window w;
    sutra_window_init(e, &w);
    TU_CHECK(w.struct_size == sizeof w && w.size == sutra_embedder_max_tokens(e) && w.overlap == w.size / 4,
             "sutra_window_init: size %d overlap %d", w.size, w.overlap);
    w.struct_size = 0;
    st = sutra_embed_windowed(e, texts, 1, &w, out, sizeof out / sizeof *out);
    TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && strstr(sutra_embedder_last_error(e), "sutra_window_init()"),
             "windowed with struct_size 0: status %d (%s)", st, sutra_embedder_last_error(e));
    sutra_window_init(e, &w);
    st = sutra_embed_windowed(e, texts, 1, &w, out, sizeof out / sizeof *out);
    TU_CHECK(st == SUTRA_OK, "windowed: %s", sutra_embedder_last_error(e));

    /* sutra_tokenize_options */
    int32_t ids[64];
    size_t n = 0;
    sutra_tokenize_options o = {.no_special = 1};
    st = sutra_tokenize_ex(e, texts[0], (size_t)-1, &o, ids, NULL, NULL, 64, &n, err, sizeof err);
    TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && strstr(err, "sutra_tokenize_options"),
             "tokenize_ex with struct_size 0: status %d (%s)", st, err);
    sutra_tokenize_options_init(&o);
    o.no_special = 1;
    st = sutra_tokenize_ex(e, texts[0], (size_t)-1, &o, ids, NULL, NULL, 64, &n, err, sizeof err);
    size_t n_all = 0;
    sutra_status st2 = sutra_tokenize_ex(e, texts[0], (size_t)-1, NULL, ids, NULL, NULL, 64, &n_all, err, sizeof err);
    TU_CHECK(st == SUTRA_OK && st2 == SUTRA_OK && n + 2 == n_all, "tokenize_ex no_special: %zu tokens, %zu with [CLS] [SEP]",
             n, n_all);

    /* sutra_outputs */
    sutra_outputs outs = {.dense = out, .dense_cap = (size_t)dim};
    st = sutra_embed_outputs(e, texts, 1, &outs);
    TU_CHECK(st == SUTRA_ERR_INVALID_ARGUMENT && strstr(sutra_embedder_last_error(e), "sutra_outputs"),
             "outputs with struct_size 0: status %d (%s)", st, sutra_embedder_last_error(e));
    sutra_outputs_init(&outs);
    TU_CHECK(outs.struct_size == sizeof outs && !outs.dense && !outs.sparse_offsets && !outs.mv_offsets,
             "sutra_outputs_init");
    outs.dense = out;
    outs.dense_cap = (size_t)dim;
    st = sutra_embed_outputs(e, texts, 1, &outs);
    TU_CHECK(st == SUTRA_OK, "outputs: %s", sutra_embedder_last_error(e));
    sutra_embedder_destroy(e);
}

int main(void) {
    TU_CHECK(sutra_version_number() == SUTRA_VERSION_NUMBER && !strcmp(sutra_version(), SUTRA_VERSION_STRING),
             "library version %s (%d), header %s (%d)", sutra_version(), sutra_version_number(), SUTRA_VERSION_STRING,
             SUTRA_VERSION_NUMBER);
    test_helpers();
    test_config();
    test_calls();
    return tu_finish("test_struct_size");
}
