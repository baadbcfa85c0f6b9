/*
 * seeded_weights.c - writes a test model's seeded weights (seeded_weights.h) as safetensors.
 */
#include "seeded_weights.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static uint64_t splitmix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t tu_seeded_key(const char *name, uint64_t seed) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001B3ull;
    return splitmix64(h ^ seed);
}

float tu_seeded_value(uint64_t key, uint64_t i, double centre, double half_width) {
    const uint64_t u = splitmix64(key + (i + 1) * 0x9E3779B97F4A7C15ull) >> 40;
    const double x = ((double)u + 0.5) / 16777216.0;
    return (float)(centre + half_width * (2.0 * x - 1.0));
}

typedef struct tensor {
    const char *name;
    int ndim;
    int64_t shape[4], numel;
    double centre, half;
} tensor;

static int fail(char *err, size_t errcap, const char *msg, const char *what) {
    snprintf(err, errcap, "%s: %s", what, msg);
    return -1;
}

/* One safetensors file of the tensors t[first], t[first + step], ... */
static int write_file(const char *path, const tensor *t, size_t n, size_t first, size_t step, uint64_t seed,
                      char *err, size_t errcap) {
    size_t cap = 1 << 16, len = 0;
    char *hdr = malloc(cap);
    if (!hdr) return fail(err, errcap, "out of memory", path);
    len += (size_t)snprintf(hdr, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (size_t i = first; i < n; i += step) {
        if (cap - len < 512) {
            cap *= 2;
            char *h2 = realloc(hdr, cap);
            if (!h2) {
                free(hdr);
                return fail(err, errcap, "out of memory", path);
            }
            hdr = h2;
        }
        len += (size_t)snprintf(hdr + len, cap - len, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", t[i].name);
        for (int d = 0; d < t[i].ndim; d++)
            len += (size_t)snprintf(hdr + len, cap - len, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        const uint64_t end = off + 4 * (uint64_t)t[i].numel;
        len += (size_t)snprintf(hdr + len, cap - len, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                                (unsigned long long)end);
        off = end;
    }
    hdr[len++] = '}';
    while (len % 8) hdr[len++] = ' '; /* data 8-byte aligned, as the reference writer pads */
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(hdr);
        return fail(err, errcap, "cannot create", path);
    }
    uint8_t l8[8];
    for (int b = 0; b < 8; b++) l8[b] = (uint8_t)((uint64_t)len >> (8 * b));
    int ok = fwrite(l8, 1, 8, f) == 8 && fwrite(hdr, 1, len, f) == len;
    free(hdr);
    enum { CHUNK = 1 << 20 };
    float *buf = malloc(CHUNK * sizeof(float));
    ok = ok && buf;
    for (size_t i = first; ok && i < n; i += step) {
        const uint64_t key = tu_seeded_key(t[i].name, seed);
        for (int64_t a = 0; ok && a < t[i].numel; a += CHUNK) {
            const int64_t m = t[i].numel - a < CHUNK ? t[i].numel - a : CHUNK;
#pragma omp parallel for schedule(static)
            for (int64_t j = 0; j < m; j++) buf[j] = tu_seeded_value(key, (uint64_t)(a + j), t[i].centre, t[i].half);
            ok = fwrite(buf, sizeof(float), (size_t)m, f) == (size_t)m;
        }
    }
    free(buf);
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : fail(err, errcap, "write failed", path);
}

int tu_seeded_weights_write(const char *weights_json, const char *dir, int shards, char *err, size_t errcap) {
    size_t len = 0;
    char *text = tu_read_file(weights_json, &len);
    if (!text) return fail(err, errcap, "cannot read", weights_json);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *list = root ? cJSON_GetObjectItem(root, "tensors") : NULL;
    const cJSON *seedj = root ? cJSON_GetObjectItem(root, "seed") : NULL;
    if (!cJSON_IsArray(list) || !cJSON_IsNumber(seedj)) {
        cJSON_Delete(root);
        return fail(err, errcap, "not a weights recipe", weights_json);
    }
    if (shards <= 0) shards = cJSON_GetObjectItem(root, "shards") ? cJSON_GetObjectItem(root, "shards")->valueint : 1;
    const uint64_t seed = (uint64_t)seedj->valuedouble;
    const size_t n = (size_t)cJSON_GetArraySize(list);
    tensor *t = calloc(n ? n : 1, sizeof *t);
    size_t i = 0;
    for (const cJSON *e = list->child; e && t; e = e->next, i++) {
        const cJSON *shape = cJSON_GetObjectItem(e, "shape");
        t[i].name = cJSON_GetObjectItem(e, "name")->valuestring;
        t[i].ndim = cJSON_GetArraySize(shape);
        t[i].numel = 1;
        for (int d = 0; d < t[i].ndim && d < 4; d++) {
            t[i].shape[d] = (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
            t[i].numel *= t[i].shape[d];
        }
        t[i].centre = cJSON_GetObjectItem(e, "centre")->valuedouble;
        t[i].half = cJSON_GetObjectItem(e, "half_width")->valuedouble;
    }
    int rc = t ? 0 : fail(err, errcap, "out of memory", weights_json);
    char path[4096];
    if (!rc && shards == 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = write_file(path, t, n, 0, 1, seed, err, errcap);
    }
    for (int s = 0; !rc && shards > 1 && s < shards; s++) {
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, shards);
        rc = write_file(path, t, n, (size_t)s, (size_t)shards, seed, err, errcap);
    }
    if (!rc && shards > 1) { /* the index: every tensor's shard, as transformers writes it */
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        cJSON *idx = cJSON_CreateObject(), *map = cJSON_CreateObject();
        cJSON_AddItemToObject(idx, "metadata", cJSON_CreateObject());
        for (size_t k = 0; k < n; k++) {
            char fn[64];
            snprintf(fn, sizeof fn, "model-%05d-of-%05d.safetensors", (int)(k % (size_t)shards) + 1, shards);
            cJSON_AddStringToObject(map, t[k].name, fn);
        }
        cJSON_AddItemToObject(idx, "weight_map", map);
        char *out = cJSON_Print(idx);
        FILE *f = fopen(path, "w");
        rc = f && out && fputs(out, f) >= 0 ? 0 : -1;
        if (f) rc |= fclose(f);
        if (rc) fail(err, errcap, "write failed", path);
        free(out);
        cJSON_Delete(idx);
    }
    free(t);
    cJSON_Delete(root);
    return rc;
}
