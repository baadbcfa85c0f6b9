/*
 * test_settings.c - every setting is a config field that takes effect and shows in
 * sutra_model_info, on the default model (CPU):
 *  - the attention decision: the device's threshold when the config leaves it 0 (512 on the CPU),
 *    the config's otherwise; batches on either side of it counted on the path that ran; forced
 *    paths; use_flash_attention 0;
 *  - cpu_isa: resolved and reported; an instruction set the CPU lacks, or no set at all, is an
 *    error at create;
 *  - approximate_gelu: a different function (vectors move, by less than the tanh GELU's 1e-3)
 *    reported in info;
 *  - profile: the op table after a run (matrix products, attention, norms), cleared by
 *    sutra_embedder_stats_reset; without profiling the call is refused;
 *  - models_dir: names are looked up there, and an error names it;
 *  - sutra_models_dir() writes the default into the caller's buffer and says its length.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sutra.h"
#include "testutil.h"

static sutra_embedder *make(const sutra_config *cfg) {
    sutra_embedder *e = NULL;
    char err[512];
    sutra_status st = sutra_embedder_create(cfg, &e, err, sizeof err);
    TU_CHECK(st == SUTRA_OK, "create: %s", err);
    return e;
}

static void base_config(sutra_config *cfg) {
    sutra_config_init(cfg);
    cfg->model = tu_default_model();
    cfg->device = SUTRA_DEVICE_CPU;
    cfg->threads = 2;
}

/* A text of about n tokens. */
static char *words(int n) {
    char *t = malloc((size_t)n * 6 + 1);
    size_t len = 0;
    for (int i = 0; i < n; i++) len += (size_t)sprintf(t + len, "%s%s", i ? " " : "", i % 2 ? "cats" : "sleep");
    return t;
}

static void test_attention_decision(void) {
    sutra_config cfg;
    base_config(&cfg);
    cfg.max_sequence_length = 512;
    sutra_embedder *e = make(&cfg);
    if (!e) return;
    sutra_model_info info;
    sutra_embedder_info(e, &info);
    /* the CPU's default: 512, or 0 (flash always) where its products bypass a slow OpenBLAS core
     * (cpu_backend.c, blas_is_slow; backend_settings says which) */
    const int want = strstr(info.backend_settings, "at every size") ? 0 : 512;
    TU_CHECK(!strcmp(info.attention, "auto") && info.flash_threshold == want,
             "default: attention %s, flash threshold %d (want auto, the CPU's %d; %s)", info.attention,
             info.flash_threshold, want, info.backend_settings);
    sutra_embedder_destroy(e);

    cfg.flash_attention_threshold = 100;
    if (!(e = make(&cfg))) return;
    sutra_embedder_info(e, &info);
    TU_CHECK(info.flash_threshold == 100, "configured threshold 100 reported as %d", info.flash_threshold);
    char *shorter = words(50), *longer = words(200);
    float v[384];
    sutra_stats s;
    TU_CHECK(sutra_embed(e, shorter, (size_t)-1, v, 384) == SUTRA_OK, "short text");
    sutra_embedder_stats(e, &s);
    TU_CHECK(s.batches_standard == 1 && s.batches_flash == 0 && s.last_path == 0,
             "a batch below the threshold runs standard: %llu standard, %llu flash",
             (unsigned long long)s.batches_standard, (unsigned long long)s.batches_flash);
    TU_CHECK(sutra_embed(e, longer, (size_t)-1, v, 384) == SUTRA_OK, "long text");
    sutra_embedder_stats(e, &s);
    TU_CHECK(s.batches_flash == 1 && s.last_path == 1 && s.last_batch_max_len > 100,
             "a batch above the threshold runs flash: %llu flash, longest %d", (unsigned long long)s.batches_flash,
             s.last_batch_max_len);
    sutra_embedder_destroy(e);

    cfg.use_flash_attention = 0;
    if ((e = make(&cfg))) {
        sutra_embedder_info(e, &info);
        TU_CHECK(!strcmp(info.attention, "standard"), "use_flash_attention 0: attention %s", info.attention);
        sutra_embed(e, longer, (size_t)-1, v, 384);
        sutra_embedder_stats(e, &s);
        TU_CHECK(s.batches_flash == 0 && s.batches_standard == 1, "use_flash_attention 0 never runs flash");
        sutra_embedder_destroy(e);
    }
    base_config(&cfg);
    cfg.attention = SUTRA_ATTENTION_FLASH;
    if ((e = make(&cfg))) {
        sutra_embedder_info(e, &info);
        sutra_embed(e, shorter, (size_t)-1, v, 384);
        sutra_embedder_stats(e, &s);
        TU_CHECK(!strcmp(info.attention, "flash") && s.batches_flash == 1, "forced flash: %s, %llu flash batches",
                 info.attention, (unsigned long long)s.batches_flash);
        sutra_embedder_destroy(e);
    }
    free(shorter);
    free(longer);
}

static void test_cpu_isa(void) {
    static const char *names[] = {"auto", "scalar", "avx2", "avx512"};
    sutra_config cfg;
    base_config(&cfg);
    sutra_embedder *e = make(&cfg);
    if (!e) return;
    sutra_model_info info;
    sutra_embedder_info(e, &info);
    int best = 0;
    for (int i = 1; i < 4; i++)
        if (!strcmp(info.cpu_isa, names[i])) best = i;
    TU_CHECK(best > 0, "AUTO resolves to a set, not '%s'", info.cpu_isa);
    float ref[384], v[384];
    TU_CHECK(sutra_embed(e, "The quick brown fox jumps over the lazy dog.", (size_t)-1, ref, 384) == SUTRA_OK, "embed");
    sutra_embedder_destroy(e);
    for (int want = 1; want <= 3; want++) {
        cfg.cpu_isa = (sutra_cpu_isa)want;
        sutra_embedder *x = NULL;
        char err[512] = "";
        sutra_status st = sutra_embedder_create(&cfg, &x, err, sizeof err);
        if (want > best) {
            TU_CHECK(st == SUTRA_ERR_UNSUPPORTED && !x && strstr(err, names[want]),
                     "cpu_isa %s on a CPU that runs at most %s: status %d, '%s'", names[want], names[best], st, err);
            continue;
        }
        TU_CHECK(st == SUTRA_OK, "cpu_isa %s: %s", names[want], err);
        if (!x) continue;
        sutra_embedder_info(x, &info);
        TU_CHECK(!strcmp(info.cpu_isa, names[want]), "cpu_isa %s reported as %s", names[want], info.cpu_isa);
        TU_CHECK(sutra_embed(x, "The quick brown fox jumps over the lazy dog.", (size_t)-1, v, 384) == SUTRA_OK, "embed");
        double worst = 0;
        for (int k = 0; k < 384; k++) worst = fmax(worst, fabs(v[k] - ref[k]));
        TU_CHECK(worst <= 1e-5, "cpu_isa %s computes the same vectors (max abs diff %.3g)", names[want], worst);
        sutra_embedder_destroy(x);
    }
    cfg.cpu_isa = (sutra_cpu_isa)9;
    sutra_embedder *x = NULL;
    char err[512];
    TU_CHECK(sutra_embedder_create(&cfg, &x, err, sizeof err) == SUTRA_ERR_INVALID_ARGUMENT && !x,
             "cpu_isa 9 refused: %s", err);
}

static void test_approximate_gelu(void) {
    sutra_config cfg;
    base_config(&cfg);
    sutra_embedder *e = make(&cfg);
    cfg.approximate_gelu = 1;
    sutra_embedder *a = make(&cfg);
    if (!e || !a) goto out;
    sutra_model_info info;
    sutra_embedder_info(a, &info);
    TU_CHECK(info.approximate_gelu == 1, "approximate_gelu reported");
    float x[384], y[384];
    const char *t = "It rained all night, and the river rose above its banks by morning.";
    TU_CHECK(sutra_embed(e, t, (size_t)-1, x, 384) == SUTRA_OK && sutra_embed(a, t, (size_t)-1, y, 384) == SUTRA_OK,
             "embed");
    double worst = 0, dot = 0;
    for (int k = 0; k < 384; k++) worst = fmax(worst, fabs(x[k] - y[k])), dot += (double)x[k] * y[k];
    printf("approximate_gelu: max abs diff %.3g, cosine %.9f\n", worst, dot);
    TU_CHECK(worst > 0 && worst < 1e-2 && dot > 0.9999, "the tanh GELU moves the vector a little: max abs %.3g, "
             "cosine %.9f", worst, dot);
out:
    sutra_embedder_destroy(e);
    sutra_embedder_destroy(a);
}

static void test_profile(void) {
    sutra_config cfg;
    base_config(&cfg);
    sutra_embedder *e = make(&cfg);
    size_t n = 99;
    if (e) {
        TU_CHECK(sutra_embedder_profile(e, NULL, 0, &n) == SUTRA_ERR_INVALID_ARGUMENT && n == 0,
                 "profile refused without config.profile");
        sutra_embedder_destroy(e);
    }
    cfg.profile = 1;
    if (!(e = make(&cfg))) return;
    sutra_model_info info;
    sutra_embedder_info(e, &info);
    TU_CHECK(info.profile == 1, "profile reported");
    const char *texts[3] = {"a short one", "another sentence, a little longer than that", "x"};
    float out[3 * 384];
    TU_CHECK(sutra_embed_batch(e, texts, 3, out, 3 * 384) == SUTRA_OK, "embed");
    TU_CHECK(sutra_embedder_profile(e, NULL, 0, &n) == SUTRA_ERR_BUFFER_TOO_SMALL && n > 3, "%zu kinds of op", n);
    sutra_op_time t[64];
    sutra_status st = sutra_embedder_profile(e, t, 64, &n);
    TU_CHECK(st == SUTRA_OK, "profile: status %d", st);
    int matmul = 0, attention = 0, norm = 0, sorted = 1;
    uint64_t calls = 0;
    for (size_t i = 0; st == SUTRA_OK && i < n; i++) {
        matmul += !strncmp(t[i].name, "matmul", 6);
        attention += !strncmp(t[i].name, "attention", 9);
        norm += strstr(t[i].name, "LN") != NULL;
        if (!strncmp(t[i].name, "matmul", 6)) calls += t[i].calls;
        if (i && t[i].ms > t[i - 1].ms) sorted = 0;
        TU_CHECK(t[i].ms >= 0 && t[i].calls > 0, "row %s: %llu calls, %.3f ms", t[i].name,
                 (unsigned long long)t[i].calls, t[i].ms);
    }
    TU_CHECK(matmul == 4 && attention >= 1 && norm >= 2 && sorted,
             "rows: %d matmul kinds (want MiniLM's 4), %d attention, %d norm, sorted %d", matmul, attention, norm, sorted);
    TU_CHECK(calls == 4 * 6, "%llu products (one batch: 4 per layer, 6 layers)", (unsigned long long)calls);
    sutra_embedder_stats_reset(e);
    TU_CHECK(sutra_embedder_profile(e, t, 64, &n) == SUTRA_OK && n == 0, "stats reset clears the profile (%zu rows)", n);
    sutra_embedder_destroy(e);
}

static void test_models_dir(void) {
    char dflt[4096];
    const size_t len = sutra_models_dir(dflt, sizeof dflt);
    TU_CHECK(len == strlen(dflt) && len > 0, "sutra_models_dir: %zu, '%s'", len, dflt);
    char tiny[4];
    TU_CHECK(sutra_models_dir(tiny, sizeof tiny) == len && strlen(tiny) == 3, "sutra_models_dir truncates");
    /* the default model by name, from the directory it lives in */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_default_model());
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = '\0';
    sutra_config cfg;
    base_config(&cfg);
    cfg.model = slash + 1;
    cfg.models_dir = dir;
    sutra_embedder *e = make(&cfg);
    if (e) {
        sutra_model_info info;
        sutra_embedder_info(e, &info);
        TU_CHECK(!strcmp(info.models_dir, dir), "models_dir reported: %s", info.models_dir);
        sutra_embedder_destroy(e);
    }
    cfg.models_dir = "/nonexistent/models";
    sutra_embedder *x = NULL;
    char err[1024];
    TU_CHECK(sutra_embedder_create(&cfg, &x, err, sizeof err) == SUTRA_ERR_IO && strstr(err, "/nonexistent/models"),
             "a name missing from models_dir: %s", err);
}

int main(void) {
    test_attention_decision();
    test_cpu_isa();
    test_approximate_gelu();
    test_profile();
    test_models_dir();
    return tu_finish("test_settings");
}
