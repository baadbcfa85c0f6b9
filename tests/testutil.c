/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tu_failures = 0;
int tu_checks = 0;

void tu_check(int cond, const char *fmt, ...) {
    tu_checks++;
    if (cond) return;
    tu_failures++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

const char *tu_source_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", env_or("SUTRA_SOURCE_DIR", "."), rel);
    return buf;
}

const char *tu_shared_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", env_or("SUTRA_SHARED_DIR", "../shared"), rel);
    return buf;
}

const char *tu_default_model(void) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/all-MiniLM-L6-v2", env_or("SUTRA_MODELS_DIR", "models"));
    return buf;
}

char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        tu_check(0, "cannot open %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        tu_check(0, "cannot read %s", path);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

int tu_copy_file(const char *from, const char *to) {
    size_t len = 0;
    char *buf = tu_read_file(from, &len);
    if (!buf) return -1;
    FILE *f = fopen(to, "wb");
    int ok = f && fwrite(buf, 1, len, f) == len;
    if (f) ok = fclose(f) == 0 && ok;
    free(buf);
    return ok ? 0 : -1;
}

double tu_cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

int tu_finish(const char *name) {
    if (tu_checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    printf("%s: %d passed, %d failed\n", name, tu_checks - tu_failures, tu_failures);
    return tu_failures ? 1 : 0;
}

/* Parses one CSV field starting at *p; returns a heap string. */
static char *csv_field(const char **p) {
    const char *s = *p;
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    int quoted = *s == '"';
    if (quoted) s++;
    while (*s) {
        if (quoted && *s == '"') {
            if (s[1] != '"') {
                s++;
                break;
            }
            s++;
        } else if (!quoted && (*s == ',' || *s == '\n' || *s == '\r')) {
            break;
        }
        if (n + 2 > cap) out = realloc(out, cap *= 2);
        out[n++] = *s++;
    }
    out[n] = '\0';
    if (*s == ',') s++;
    *p = s;
    return out;
}

int tu_parse_sts(const char *csv, char ***s1, char ***s2, double **score) {
    int cap = 2048, n = 0;
    *s1 = malloc(cap * sizeof **s1);
    *s2 = malloc(cap * sizeof **s2);
    *score = malloc(cap * sizeof **score);
    const char *p = strchr(csv, '\n');
    p = p ? p + 1 : csv + strlen(csv); /* skip the header */
    while (*p && n < cap) {
        (*s1)[n] = csv_field(&p);
        (*s2)[n] = csv_field(&p);
        char *g = csv_field(&p);
        (*score)[n] = atof(g);
        free(g);
        while (*p == '\r' || *p == '\n') p++;
        n++;
    }
    return n;
}
