/*
 * fuzz_st_modules.c - libFuzzer harness for the sentence-transformers pipeline files
 * (modules.json and the Dense modules' config.json; src/model/config.c sutra_st_config_load).
 *
 * The input is two texts split at the first NUL byte: modules.json, then the config.json of a
 * module folder "2_Dense" (the Pooling module's config is a fixed mean pooling). Whatever loads
 * must be safe to run: at most SUTRA_MAX_DENSE Dense modules, each 1 <= in, out <= 2^20, each
 * in_features the one before's out_features, a path without ".." and not absolute, a known
 * activation. A rejection must carry a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/config.h"

static char dir[64];

static int put(const char *name, const uint8_t *data, size_t n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/sutra-fuzz-modules-XXXXXX");
        if (!mkdtemp(dir)) abort();
        char p[128];
        snprintf(p, sizeof p, "%s/1_Pooling", dir);
        mkdir(p, 0700);
        snprintf(p, sizeof p, "%s/2_Dense", dir);
        mkdir(p, 0700);
        static const char pool[] = "{\"pooling_mode_mean_tokens\": true}";
        if (put("1_Pooling/config.json", (const uint8_t *)pool, sizeof pool - 1)) abort();
    }
    const uint8_t *nul = memchr(data, 0, size);
    const size_t n1 = nul ? (size_t)(nul - data) : size;
    if (put("modules.json", data, n1) ||
        put("2_Dense/config.json", nul ? nul + 1 : (const uint8_t *)"", nul ? size - n1 - 1 : 0))
        abort();
    sutra_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    char err[512];
    err[0] = '\0';
    sutra_status st = sutra_st_config_load(dir, &cfg, err, sizeof err);
    if (st != SUTRA_OK) {
        if (!err[0]) abort();
        return 0;
    }
    if (cfg.n_dense < 0 || cfg.n_dense > SUTRA_MAX_DENSE) abort();
    for (int i = 0; i < cfg.n_dense; i++) {
        const sutra_dense_config *d = &cfg.dense[i];
        if (d->in < 1 || d->out < 1 || d->in > (1 << 20) || d->out > (1 << 20)) abort();
        if (i && d->in != cfg.dense[i - 1].out) abort();
        if (strstr(d->path, "..") || d->path[0] == '/' || !memchr(d->path, 0, sizeof d->path)) abort();
        if ((unsigned)d->act > SUTRA_DENSE_SILU) abort();
    }
    if ((unsigned)cfg.pooling > SUTRA_POOLING_LAST || cfg.pooling == SUTRA_POOLING_MODEL) abort();
    return 0;
}
