/*
 * test_concurrency.c - embedders are independent: two of them with different settings, run at
 * the same time in two threads of one process, give exactly (bit for bit) what each gives alone.
 *
 * Pairs, each embedder running its texts REPS times in its own thread while the other does too:
 *  - all-MiniLM-L6-v2 with 1 thread and the AVX2 kernels (where the CPU runs them), against the
 *    same model with 2 threads, the widest kernels and flash attention forced: OpenMP's and
 *    OpenBLAS's thread counts and the instruction set are per embedder, not per process;
 *  - the ModernBERT fixture (tests/fixtures/longctx/modernbert, 8192 positions) on a 4500-token
 *    text, which the CPU runs in its grouped long-input layout, with 1 and with 2 threads
 *    (skipped in the sanitizer build: SUTRA_TEST_QUICK);
 *  - where the build has CUDA and a GPU is present, the fixture on the GPU beside the same on the
 *    CPU (`test_concurrency --gpu` runs this pair alone and fails without a GPU; CTest's run
 *    skips it then, saying so).
 * The references come from each embedder alone, before the threads start. Any difference, in any
 * float of any run, fails. Settings are seen in sutra_model_info (cpu_isa, threads).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sutra.h"
#include "testutil.h"

#define REPS 4
#define MAX_TEXTS 48

typedef struct job {
    sutra_embedder *emb;
    const char *const *texts;
    size_t n;
    const float *ref; /* n x dim */
    size_t dim;
    int mismatches, failures; /* written by the thread, read after join */
    char error[256];
} job;

static void *run_job(void *arg) {
    job *j = arg;
    float *out = malloc(j->n * j->dim * sizeof *out);
    for (int r = 0; r < REPS && out; r++) {
        sutra_status st = sutra_embed_batch(j->emb, j->texts, j->n, out, j->n * j->dim);
        if (st) {
            j->failures++;
            snprintf(j->error, sizeof j->error, "%s", sutra_embedder_last_error(j->emb));
            continue;
        }
        if (memcmp(out, j->ref, j->n * j->dim * sizeof *out)) j->mismatches++;
    }
    if (!out) j->failures++;
    free(out);
    return NULL;
}

static sutra_embedder *open_on(sutra_device dev, const char *model, int threads, sutra_cpu_isa isa,
                               sutra_attention att, int max_len, sutra_status *status) {
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = model;
    cfg.device = dev;
    cfg.threads = threads;
    cfg.cpu_isa = isa;
    cfg.attention = att;
    cfg.max_sequence_length = max_len;
    sutra_embedder *e = NULL;
    char err[512];
    sutra_status st = sutra_embedder_create(&cfg, &e, err, sizeof err);
    if (status) *status = st;
    if (st == SUTRA_ERR_UNSUPPORTED && dev == SUTRA_DEVICE_CUDA) {
        printf("no GPU here: %s\n", err);
        return NULL;
    }
    TU_CHECK(st == SUTRA_OK, "%s (threads %d): %s", model, threads, err);
    return st == SUTRA_OK ? e : NULL;
}

static sutra_embedder *open_embedder(const char *model, int threads, sutra_cpu_isa isa, sutra_attention att,
                                     int max_len) {
    return open_on(SUTRA_DEVICE_CPU, model, threads, isa, att, max_len, NULL);
}

/* Each embedder's texts alone, then both at once; every output of every run must be identical
 * to the one alone. */
static void run_pair(const char *what, sutra_embedder *a, sutra_embedder *b, const char *const *texts, size_t n) {
    job jobs[2] = {{.emb = a}, {.emb = b}};
    float *refs[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        sutra_model_info info;
        sutra_embedder_info(jobs[i].emb, &info);
        printf("%s, embedder %c: threads %d, cpu_isa %s, attention %s\n", what, 'A' + i, info.threads, info.cpu_isa,
               info.attention);
        jobs[i].texts = texts;
        jobs[i].n = n;
        jobs[i].dim = (size_t)sutra_embedder_dim(jobs[i].emb);
        refs[i] = malloc(n * jobs[i].dim * sizeof(float));
        sutra_status st = refs[i] ? sutra_embed_batch(jobs[i].emb, texts, n, refs[i], n * jobs[i].dim)
                                  : SUTRA_ERR_OUT_OF_MEMORY;
        TU_CHECK(st == SUTRA_OK, "%s: embedder %c alone: %s", what, 'A' + i, sutra_embedder_last_error(jobs[i].emb));
        if (st) goto done;
        jobs[i].ref = refs[i];
    }
    pthread_t th[2];
    for (int i = 0; i < 2; i++) TU_CHECK(pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0, "pthread_create");
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        TU_CHECK(jobs[i].failures == 0, "%s: embedder %c failed beside the other: %s", what, 'A' + i, jobs[i].error);
        TU_CHECK(jobs[i].mismatches == 0, "%s: embedder %c: %d of %d runs beside the other differ from it alone",
                 what, 'A' + i, jobs[i].mismatches, REPS);
        printf("%s, embedder %c: %d runs beside the other, %d differ from it alone\n", what, 'A' + i, REPS,
               jobs[i].mismatches);
    }
done:
    free(refs[0]);
    free(refs[1]);
}

/* The fixture on the GPU beside the same on the CPU. Returns 0 when there is no GPU. */
static int gpu_pair(const char *const *texts, size_t n) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tu_source_path("tests/fixtures/longctx/modernbert"));
    sutra_status st;
    sutra_embedder *g = open_on(SUTRA_DEVICE_CUDA, dir, 0, SUTRA_CPU_ISA_AUTO, SUTRA_ATTENTION_AUTO, 8192, &st);
    if (!g) return 0;
    sutra_embedder *c = open_embedder(dir, 2, SUTRA_CPU_ISA_AUTO, SUTRA_ATTENTION_AUTO, 8192);
    if (c) run_pair("modernbert fixture, GPU and CPU", g, c, texts, n);
    sutra_embedder_destroy(g);
    sutra_embedder_destroy(c);
    return 1;
}

int main(int argc, char **argv) {
    const int gpu_only = argc > 1 && !strcmp(argv[1], "--gpu");
    /* short texts of varied lengths (one batch of several sequences) */
    static const char *words[] = {"the", "river", "rose", "above", "its", "banks", "by", "morning", "and", "a",
                                  "guitar", "played", "softly", "while", "markets", "fell", "sharply", "today"};
    char *texts[MAX_TEXTS];
    unsigned s = 12345;
    for (int i = 0; i < MAX_TEXTS; i++) {
        const int n = 1 + (i * 7) % 60;
        size_t cap = (size_t)n * 10 + 1, len = 0;
        texts[i] = malloc(cap);
        for (int w = 0; w < n; w++) {
            s = s * 1103515245u + 12345u;
            len += (size_t)snprintf(texts[i] + len, cap - len, "%s%s", w ? " " : "", words[(s >> 16) % 18]);
        }
    }
    if (gpu_only) {
        TU_CHECK(gpu_pair((const char *const *)texts, MAX_TEXTS), "--gpu: no CUDA device, or a build without CUDA");
        for (int i = 0; i < MAX_TEXTS; i++) free(texts[i]);
        return tu_finish("test_concurrency --gpu");
    }
    sutra_cpu_isa narrow = SUTRA_CPU_ISA_AVX2;
    {
        sutra_embedder *probe = open_embedder(tu_default_model(), 1, SUTRA_CPU_ISA_AUTO, SUTRA_ATTENTION_AUTO, 0);
        sutra_model_info info;
        if (probe && sutra_embedder_info(probe, &info) == SUTRA_OK && !strcmp(info.cpu_isa, "scalar"))
            narrow = SUTRA_CPU_ISA_SCALAR;
        sutra_embedder_destroy(probe);
    }
    sutra_embedder *a = open_embedder(tu_default_model(), 1, narrow, SUTRA_ATTENTION_AUTO, 0);
    sutra_embedder *b = open_embedder(tu_default_model(), 2, SUTRA_CPU_ISA_AUTO, SUTRA_ATTENTION_FLASH, 0);
    if (a && b) run_pair("all-MiniLM-L6-v2", a, b, (const char *const *)texts, MAX_TEXTS);
    sutra_embedder_destroy(a);
    sutra_embedder_destroy(b);

    /* one long text: the grouped layout (4096 tokens or more) on both */
    if (!getenv("SUTRA_TEST_QUICK")) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", tu_source_path("tests/fixtures/longctx/modernbert"));
        const size_t cap = 4500 * 8;
        char *doc = malloc(cap);
        size_t len = 0;
        for (int w = 0; w < 4500 && len + 16 < cap; w++) {
            s = s * 1103515245u + 12345u;
            len += (size_t)snprintf(doc + len, cap - len, "%s%s", w ? " " : "", words[(s >> 16) % 18]);
        }
        const char *long_texts[2] = {doc, texts[3]};
        sutra_embedder *c = open_embedder(dir, 1, SUTRA_CPU_ISA_AUTO, SUTRA_ATTENTION_FLASH, 8192);
        sutra_embedder *d = open_embedder(dir, 2, SUTRA_CPU_ISA_AUTO, SUTRA_ATTENTION_FLASH, 8192);
        size_t n_ids = 0;
        if (c) sutra_tokenize(c, doc, (size_t)-1, NULL, 0, &n_ids);
        TU_CHECK(n_ids >= 4096, "the long text has %zu tokens (the grouped layout starts at 4096)", n_ids);
        if (c && d) run_pair("modernbert fixture, 4500 words", c, d, long_texts, 2);
        sutra_embedder_destroy(c);
        sutra_embedder_destroy(d);
        free(doc);
    }
    if (!gpu_pair((const char *const *)texts, MAX_TEXTS)) printf("SKIP: the GPU pair (no CUDA device here)\n");
    for (int i = 0; i < MAX_TEXTS; i++) free(texts[i]);
    return tu_finish("test_concurrency");
}
