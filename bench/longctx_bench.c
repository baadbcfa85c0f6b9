/*
 * longctx_bench.c - one long input through the public API on one attention path, in its own
 * process so that its peak resident memory is its own.
 *
 *   longctx_bench --model DIR --tokens N --attention standard|flash [--threads T] [--repeats R] [--device cpu|cuda]
 *
 * Prints one JSON line: tokens, path, median latency (ms, wall clock, after one warm-up), the
 * process's peak RSS, and the peak RSS the forward pass added over the loaded model (measured
 * after a warm-up on a 16-token input, which faults in the weights and fixed buffers). Of that,
 * file_paged_mib is what the long input faulted in of the mapped model file (Linux RssFile):
 * position-embedding rows the 16-token warm-up did not reach, the same for both paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sutra.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double rss_file_mib(void) { /* -1 where /proc is not there */
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "RssFile:", 8)) kb = atof(line + 8);
    if (f) fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *words(int n) { /* "a a a ...": one token per word in a WordPiece vocabulary */
    char *t = malloc((size_t)n * 2 + 1);
    for (int i = 0; i < n; i++) t[2 * i] = 'a', t[2 * i + 1] = ' ';
    t[n > 0 ? 2 * n - 1 : 0] = '\0';
    return t;
}

int main(int argc, char **argv) {
    const char *model = NULL, *path = "flash", *device = "cpu";
    int tokens = 512, threads = 2, repeats = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--tokens")) tokens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--attention")) path = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeats")) repeats = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--device")) device = argv[i + 1];
    }
    if (!model || tokens < 3 || repeats < 1 || repeats > 100) {
        fprintf(stderr, "usage: longctx_bench --model DIR --tokens N --attention standard|flash [--threads T] [--repeats R]\n");
        return 2;
    }
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = model;
    cfg.threads = threads;
    cfg.max_sequence_length = tokens;
    cfg.max_batch_tokens = tokens;
    cfg.attention = !strcmp(path, "standard") ? SUTRA_ATTENTION_STANDARD : SUTRA_ATTENTION_FLASH;
    cfg.device = !strcmp(device, "cuda") ? SUTRA_DEVICE_CUDA : SUTRA_DEVICE_CPU;
    char err[512];
    sutra_embedder *e;
    if (sutra_embedder_create(&cfg, &e, err, sizeof err)) {
        fprintf(stderr, "longctx_bench: %s\n", err);
        return 1;
    }
    float *out = malloc((size_t)sutra_embedder_dim(e) * sizeof(float));
    char *warm = words(14), *text = words(tokens - 2);
    sutra_embed(e, warm, (size_t)-1, out, (size_t)sutra_embedder_dim(e));
    double base = peak_rss_mib(), file_base = rss_file_mib();
    double *t = malloc((size_t)repeats * sizeof *t);
    for (int r = -1; r < repeats; r++) {
        double t0 = now_s();
        if (sutra_embed(e, text, (size_t)-1, out, (size_t)sutra_embedder_dim(e))) {
            fprintf(stderr, "longctx_bench: %s\n", sutra_embedder_last_error(e));
            return 1;
        }
        if (r >= 0) t[r] = (now_s() - t0) * 1e3;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp_double);
    sutra_stats s;
    sutra_embedder_stats(e, &s);
    double peak = peak_rss_mib(), file_paged = file_base < 0 ? -1 : rss_file_mib() - file_base;
    sutra_model_info mi;
    sutra_embedder_info(e, &mi);
    printf("{\"device\": \"%s\", \"tokens\": %d, \"attention\": \"%s\", \"path_taken\": \"%s\", \"threads\": %d, \"ms\": %.3f, "
           "\"peak_rss_mib\": %.1f, \"forward_added_mib\": %.1f, \"file_paged_mib\": %.1f}\n",
           mi.device, s.last_batch_max_len, path, s.last_path == 1 ? "flash" : "standard", threads, t[repeats / 2], peak,
           peak - base, file_paged);
    sutra_embedder_destroy(e);
    return 0;
}
