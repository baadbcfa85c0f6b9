/*
 * embed_check.c - a program outside the project, built against an installed Sutra the ways a
 * user builds one (tests/install/run.sh: pkg-config, pkg-config --static, find_package(Sutra)):
 * it uses only <sutra.h> and the library, and checks what the library gives, not that it runs.
 *
 * Checks: the library's version is the header's; a config whose struct_size was never set is
 * refused; the default model (all-MiniLM-L6-v2, looked up in $SUTRA_MODELS_DIR) gives 384-wide
 * unit vectors; two sentences about a guitar are far closer to each other than to one about the
 * stock market; sutra_embed() and sutra_embed_batch() agree. Exits 1 naming the failed check.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sutra.h>

#define MODEL "all-MiniLM-L6-v2"
#define MODEL_DIM 384

static int failures;

static void check(int ok, const char *what, double value) {
    if (!ok) {
        fprintf(stderr, "embed_check: FAIL: %s (%g)\n", what, value);
        failures++;
    }
}

static double dot(const float *a, const float *b, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "?";
    if (sutra_version_number() != SUTRA_VERSION_NUMBER || strcmp(sutra_version(), SUTRA_VERSION_STRING) != 0) {
        fprintf(stderr, "embed_check: FAIL: library %s (%d), header %s (%d)\n", sutra_version(),
                sutra_version_number(), SUTRA_VERSION_STRING, SUTRA_VERSION_NUMBER);
        return 1;
    }

    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = MODEL;
    cfg.threads = 1;
    char err[512] = "";
    sutra_embedder *e = NULL;
    sutra_config unset = cfg;
    unset.struct_size = 0;
    sutra_status st = sutra_embedder_create(&unset, &e, err, sizeof err);
    check(st == SUTRA_ERR_INVALID_ARGUMENT && e == NULL, "a config without struct_size is refused", st);
    if ((st = sutra_embedder_create(&cfg, &e, err, sizeof err)) != SUTRA_OK) {
        fprintf(stderr, "embed_check: FAIL: %s: %s (%s)\n", MODEL, err, sutra_status_str(st));
        return 1;
    }
    const int dim = sutra_embedder_dim(e);
    sutra_model_info info;
    check(sutra_embedder_info(e, &info) == SUTRA_OK && info.dim == dim, "info.dim is the embedder's", info.dim);
    check(dim == MODEL_DIM, "the model's vectors are 384 wide", dim);
    if (dim != MODEL_DIM) return 1;

    const char *texts[3] = {"A man is playing a guitar.", "Someone is strumming a guitar.",
                            "The stock market fell sharply today."};
    float v[3][MODEL_DIM], one[MODEL_DIM];
    st = sutra_embed_batch(e, texts, 3, &v[0][0], 3 * MODEL_DIM);
    check(st == SUTRA_OK, "sutra_embed_batch", st);
    st = sutra_embed(e, texts[2], (size_t)-1, one, MODEL_DIM);
    check(st == SUTRA_OK, "sutra_embed", st);
    /* the model normalises (its Normalize module); float sums of 384 squares stay within 1e-5 */
    for (int i = 0; i < 3; i++) check(fabs(dot(v[i], v[i], dim) - 1.0) < 1e-4, "unit norm", dot(v[i], v[i], dim));
    /* one text alone and in a batch of three run in different batches: float-level differences */
    double worst = 0.0;
    for (int j = 0; j < dim; j++) worst = fmax(worst, fabs((double)one[j] - v[2][j]));
    check(worst < 1e-5, "sutra_embed and sutra_embed_batch agree", worst);
    /* sentence-transformers gives about 0.8 and 0.0 for these pairs */
    const double near = dot(v[0], v[1], dim), far = dot(v[0], v[2], dim);
    check(near > 0.6, "guitar / strumming a guitar are similar", near);
    check(far < 0.2, "guitar / stock market are not", far);
    sutra_embedder_destroy(e);
    if (failures) return 1;
    printf("embed_check (%s): Sutra %s, %d dims, similar %.3f, dissimilar %.3f\n", how, sutra_version(), dim, near, far);
    return 0;
}
