/*
 * embed_bench.c - CPU throughput of a model through the public API, on STS Benchmark sentences.
 *
 *   embed_bench [--model M] [--threads N] [--batch B ...] [--repeats R] [--long-tokens N] [--gap-us G]
 *               [--json FILE]
 *
 * For each batch size B: the first `count` sentences of the STS-B test split (both columns, in
 * file order) are embedded in calls of B texts; one repeat times the whole set; the table shows
 * the median over repeats of sentences/s and tokens/s (special tokens included) and the median
 * latency of one call. --long-tokens also times one input of exactly that many tokens. --gap-us
 * sleeps G microseconds before every call, as a server between requests (the sleeps are not in
 * the rates or latencies).
 * A warm-up pass runs first. Timings are wall-clock (CLOCK_MONOTONIC).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sutra.h"
#include "testutil.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    const char *model = "all-MiniLM-L6-v2", *json_path = NULL;
    int threads = 2, repeats = 5, count = 1024, long_tokens = 0, nb = 0, batches[8], gap_us = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc && nb < 8) batches[nb++] = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--long-tokens") && i + 1 < argc) long_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!strcmp(argv[i], "--gap-us") && i + 1 < argc) gap_us = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--model M] [--threads N] [--batch B]... [--repeats R] [--count N] "
                            "[--long-tokens N] [--gap-us G] [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    if (nb == 0) batches[nb++] = 1, batches[nb++] = 32;
    if (repeats < 1 || repeats > 1000) repeats = 5;

    char *csv = tu_read_file(tu_shared_path("data/sts-test.csv"), NULL);
    if (!csv) return 1;
    char **s1, **s2;
    double *gold;
    int pairs = tu_parse_sts(csv, &s1, &s2, &gold);
    if (count > 2 * pairs) count = 2 * pairs;
    const char **texts = malloc((size_t)count * sizeof *texts);
    for (int i = 0; i < count; i++) texts[i] = i % 2 ? s2[i / 2] : s1[i / 2];

    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = model;
    cfg.threads = threads;
    cfg.device = SUTRA_DEVICE_CPU; /* this benchmark is the CPU's */
    if (long_tokens > 0) cfg.max_sequence_length = long_tokens;
    char err[512];
    sutra_embedder *e;
    if (sutra_embedder_create(&cfg, &e, err, sizeof err)) {
        fprintf(stderr, "embed_bench: %s\n", err);
        return 1;
    }
    int dim = sutra_embedder_dim(e);
    sutra_model_info info;
    if (sutra_embedder_info(e, &info) == SUTRA_OK) threads = info.threads; /* the count chosen where 0 asked for the default */
    float *out = malloc((size_t)count * dim * sizeof(float));
    long tokens = 0;
    for (int i = 0; i < count; i++) {
        size_t n = 0;
        sutra_tokenize(e, texts[i], (size_t)-1, NULL, 0, &n);
        tokens += (long)n;
    }
    FILE *js = json_path ? fopen(json_path, "w") : NULL;
    if (js) fprintf(js, "{\"model\": \"%s\", \"threads\": %d, \"sentences\": %d, \"tokens\": %ld, \"rows\": [", model,
                    threads, count, tokens);
    printf("model %s, %d threads, %d STS-B sentences (%ld tokens, %.1f per sentence), median of %d repeats\n", model,
           threads, count, tokens, (double)tokens / count, repeats);
    printf("%8s %14s %14s %16s\n", "batch", "sentences/s", "tokens/s", "ms per call");
    for (int bi = 0; bi < nb; bi++) {
        int B = batches[bi];
        double *rate = malloc((size_t)repeats * sizeof *rate);
        int calls = (count + B - 1) / B;
        double *lat = malloc((size_t)repeats * calls * sizeof *lat);
        int nl = 0;
        for (int r = -1; r < repeats; r++) { /* r = -1 is the warm-up */
            double t0 = now_s(), slept = 0;
            for (int i = 0; i < count; i += B) {
                int m = count - i < B ? count - i : B;
                if (gap_us > 0) {
                    const double g0 = now_s();
                    nanosleep(&(struct timespec){gap_us / 1000000, (long)(gap_us % 1000000) * 1000}, NULL);
                    slept += now_s() - g0;
                }
                double c0 = now_s();
                if (sutra_embed_batch(e, texts + i, (size_t)m, out + (size_t)i * dim, (size_t)m * dim)) {
                    fprintf(stderr, "embed_bench: %s\n", sutra_embedder_last_error(e));
                    return 1;
                }
                if (r >= 0) lat[nl++] = now_s() - c0;
            }
            if (r >= 0) rate[r] = count / (now_s() - t0 - slept);
        }
        double sps = median(rate, repeats), ms = median(lat, nl) * 1e3;
        printf("%8d %14.1f %14.0f %16.3f\n", B, sps, sps * tokens / count, ms);
        if (js) fprintf(js, "%s{\"batch\": %d, \"sentences_per_s\": %.2f, \"tokens_per_s\": %.1f, \"ms_per_call\": %.4f}",
                        bi ? ", " : "", B, sps, sps * tokens / count, ms);
        free(rate);
        free(lat);
    }
    if (long_tokens > 0) {
        /* "a a a ..." tokenises to one token per word for WordPiece vocabularies */
        size_t len = (size_t)long_tokens * 2;
        char *text = malloc(len + 1);
        for (size_t i = 0; i < len; i += 2) text[i] = 'a', text[i + 1] = ' ';
        text[len] = '\0';
        size_t n = 0;
        sutra_tokenize(e, text, len, NULL, 0, &n);
        double *t = malloc((size_t)repeats * sizeof *t);
        sutra_embed(e, text, len, out, (size_t)dim);
        for (int r = 0; r < repeats; r++) {
            double t0 = now_s();
            sutra_embed(e, text, len, out, (size_t)dim);
            t[r] = now_s() - t0;
        }
        double ms = median(t, repeats) * 1e3;
        printf("one input of %zu tokens: %.2f ms\n", n, ms);
        if (js) fprintf(js, ", {\"long_tokens\": %zu, \"ms\": %.4f}", n, ms);
        free(t);
        free(text);
    }
    if (js) {
        fprintf(js, "]}\n");
        fclose(js);
    }
    sutra_embedder_destroy(e);
    return 0;
}
