/*
 * test_cli_file.c - `sutra embed --input FILE --output FILE` end to end: the CLI built beside
 * this test (build/sutra for build/tests/test_cli_file) runs on temporary files.
 *
 * Checks: jsonl in and out with ids, text lines in, .npy out (header, row count, size), bad lines
 * with --on-error skip and fail, --resume after a torn output (jsonl and .npy), an interrupted
 * run (SIGINT) that leaves a valid file and resumes, windows and late chunks.
 * Vectors are compared with what the library gives for the same texts: the CLI writes 9
 * significant digits (exact for float32) but batches texts differently, so 1e-6 (max abs), as in
 * test_embed's batch-versus-single check.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sutra.h"
#include "testutil.h"

#define DIM 384
#define TOL 1e-6

static char cli[4096], dir[256];

static const char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static char *slurp(const char *path, size_t *len);

/* In the sanitizer build the CLI is instrumented too: its reports count as failures. */
static void check_sanitizers(const char *what) {
    char *e = slurp(tmp("err.txt"), NULL);
    TU_CHECK(!e || (!strstr(e, "Sanitizer") && !strstr(e, "runtime error")), "%s: sanitizer report:\n%s", what, e);
    free(e);
}

/* Runs the CLI's embed with args; returns its exit status (stderr goes to err.txt). */
static int run(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' embed --model '%s' --threads 2 %s 2> '%s'", cli, tu_default_model(), args,
             tmp("err.txt"));
    int st = system(cmd);
    check_sanitizers(args);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    b[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

static void spit(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : (long long)st.st_size;
}

/* The records of a jsonl output or a .npy's .ids file. */
typedef struct rec {
    char id[64];
    int chunk, chunks;
    float v[DIM];
} rec;

static int read_jsonl(const char *path, rec *r, int cap) {
    char *text = slurp(path, NULL);
    if (!text) return -1;
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < cap; line = strtok(NULL, "\n"), n++) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItem(j, "id"), *e = cJSON_GetObjectItem(j, "embedding");
        char *idt = id ? cJSON_PrintUnformatted(id) : NULL;
        snprintf(r[n].id, sizeof r[n].id, "%s", idt ? idt : "?");
        free(idt);
        r[n].chunk = cJSON_GetObjectItem(j, "chunk") ? cJSON_GetObjectItem(j, "chunk")->valueint : -1;
        r[n].chunks = cJSON_GetObjectItem(j, "chunks") ? cJSON_GetObjectItem(j, "chunks")->valueint : -1;
        for (int k = 0; k < DIM; k++) r[n].v[k] = e ? (float)cJSON_GetArrayItem(e, k)->valuedouble : NAN;
        cJSON_Delete(j);
    }
    free(text);
    return n;
}

/* Parses a .npy this tool wrote: checks magic, dtype, shape and size; fills rows of r. */
static long long read_npy(const char *path, rec *r, int cap) {
    size_t len;
    char *b = slurp(path, &len);
    if (!b || len < 128 || memcmp(b, "\x93NUMPY\x01\x00", 8)) {
        TU_CHECK(0, "%s: not a .npy v1", path);
        free(b);
        return -1;
    }
    size_t hl = (unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8;
    unsigned long long rows = 0;
    int dim = 0;
    const char *shape = strstr(b + 10, "'shape': (");
    TU_CHECK(hl + 10 == 128 && b[hl + 9] == '\n' && strstr(b + 10, "'descr': '<f4'") &&
                 strstr(b + 10, "'fortran_order': False") && shape &&
                 sscanf(shape, "'shape': (%llu, %d)", &rows, &dim) == 2 && dim == DIM,
             "%s: header '%.118s'", path, b + 10);
    TU_CHECK(len == 128 + rows * DIM * sizeof(float), "%s: %zu bytes for %llu rows", path, len, rows);
    for (unsigned long long i = 0; i < rows && (int)i < cap; i++) memcpy(r[i].v, b + 128 + i * DIM * 4, DIM * 4);
    free(b);
    return (long long)rows;
}

static double max_abs(const float *a, const float *b) {
    double m = 0;
    for (int i = 0; i < DIM; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static int err_has(const char *what) {
    char *e = slurp(tmp("err.txt"), NULL);
    int ok = e && strstr(e, what);
    if (!ok) fprintf(stderr, "stderr was: %s\n", e ? e : "(none)");
    free(e);
    return ok;
}

/* A text file of n lines, line i being a sentence that names i. */
static void make_lines(const char *path, int n) {
    FILE *f = fopen(path, "wb");
    for (int i = 1; i <= n; i++)
        fprintf(f, "Line %d tells of %s and %s.\n", i, i % 3 ? "rivers" : "mountains", i % 5 ? "rain" : "snow");
    fclose(f);
}

static void line_text(int i, char *buf, size_t cap) {
    snprintf(buf, cap, "Line %d tells of %s and %s.", i, i % 3 ? "rivers" : "mountains", i % 5 ? "rain" : "snow");
}

static void test_jsonl(sutra_embedder *e) {
    spit(tmp("in.jsonl"), "{\"id\":\"a\",\"text\":\"A man is playing a guitar.\"}\n"
                          "{\"id\":7,\"text\":\"Someone plays an instrument.\",\"extra\":[1,2]}\n"
                          "{\"id\":\"c\",\"text\":\"unterminated\n"
                          "\n"
                          "{\"id\":\"d\",\"body\":\"no text field\"}\n"
                          "{\"text\":\"no id: the line number is the id\"}\n");
    char args[2048];
    snprintf(args, sizeof args, "--input '%s' --output '%s'", tmp("in.jsonl"), tmp("out.jsonl"));
    int rc = run(args);
    TU_CHECK(rc == 1, "bad lines skipped: exit %d, want 1", rc);
    TU_CHECK(err_has("in.jsonl:3: invalid JSON") && err_has("in.jsonl:5: no field \"text\""),
             "bad lines named by line number");
    rec r[8];
    int n = read_jsonl(tmp("out.jsonl"), r, 8);
    TU_CHECK(n == 3 && !strcmp(r[0].id, "\"a\"") && !strcmp(r[1].id, "7") && !strcmp(r[2].id, "6"),
             "jsonl records: %d (%s %s %s)", n, n > 0 ? r[0].id : "", n > 1 ? r[1].id : "", n > 2 ? r[2].id : "");
    const char *texts[] = {"A man is playing a guitar.", "Someone plays an instrument.",
                           "no id: the line number is the id"};
    for (int i = 0; i < 3 && n == 3; i++) {
        float v[DIM];
        sutra_embed(e, texts[i], (size_t)-1, v, DIM);
        TU_CHECK(max_abs(v, r[i].v) <= TOL, "jsonl record %d differs from the library by %.3g", i, max_abs(v, r[i].v));
    }
    /* --on-error fail: what came before the bad line is written, nothing after */
    snprintf(args, sizeof args, "--input '%s' --output '%s' --on-error fail", tmp("in.jsonl"), tmp("out.jsonl"));
    rc = run(args);
    n = read_jsonl(tmp("out.jsonl"), r, 8);
    TU_CHECK(rc == 1 && n == 2, "on-error fail: exit %d, %d records (want 1, 2)", rc, n);
    /* --id-field / --text-field */
    spit(tmp("in2.jsonl"), "{\"key\":\"k1\",\"body\":\"first\"}\n{\"key\":\"k2\",\"body\":\"second\"}\n");
    snprintf(args, sizeof args, "--input '%s' --output '%s' --id-field key --text-field body", tmp("in2.jsonl"),
             tmp("out2.jsonl"));
    rc = run(args);
    n = read_jsonl(tmp("out2.jsonl"), r, 8);
    TU_CHECK(rc == 0 && n == 2 && !strcmp(r[1].id, "\"k2\""), "custom fields: exit %d, %d records", rc, n);
}

static void test_txt_npy(sutra_embedder *e) {
    make_lines(tmp("lines.txt"), 300);
    char args[2048];
    snprintf(args, sizeof args, "--input '%s' --output '%s'", tmp("lines.txt"), tmp("out.npy"));
    int rc = run(args);
    TU_CHECK(rc == 0, "txt -> npy: exit %d", rc);
    rec *r = malloc(400 * sizeof *r), *ids = malloc(400 * sizeof *ids);
    long long rows = read_npy(tmp("out.npy"), r, 400);
    int n = read_jsonl(tmp("out.npy.ids"), ids, 400);
    TU_CHECK(rows == 300 && n == 300 && !strcmp(ids[0].id, "1") && !strcmp(ids[299].id, "300"),
             "npy: %lld rows, %d ids", rows, n);
    double worst = 0;
    for (int i = 0; i < 300 && rows == 300; i += 37) {
        char t[128];
        float v[DIM];
        line_text(i + 1, t, sizeof t);
        sutra_embed(e, t, (size_t)-1, v, DIM);
        worst = fmax(worst, max_abs(v, r[i].v));
    }
    TU_CHECK(worst <= TOL, "npy rows differ from the library by %.3g", worst);
    free(r);
    free(ids);
}

/* Cuts path to frac of its size, mid-record. */
static void tear(const char *path, double frac) {
    long long s = file_size(path);
    TU_CHECK(truncate(path, (off_t)(s * frac)) == 0, "truncate %s", path);
}

static void test_resume(void) {
    const int N = 600; /* more than one chunk of 256 lines */
    make_lines(tmp("many.txt"), N);
    char args[2048];
    rec *full = malloc((size_t)N * sizeof *full), *r = malloc((size_t)N * sizeof *r);
    snprintf(args, sizeof args, "--input '%s' --output '%s'", tmp("many.txt"), tmp("full.jsonl"));
    TU_CHECK(run(args) == 0, "full run");
    TU_CHECK(read_jsonl(tmp("full.jsonl"), full, N) == N, "full run records");

    /* jsonl: torn mid-line, resumed: every id once, in order, with the same vectors */
    snprintf(args, sizeof args, "--input '%s' --output '%s'", tmp("many.txt"), tmp("res.jsonl"));
    run(args);
    tear(tmp("res.jsonl"), 0.37);
    snprintf(args, sizeof args, "--input '%s' --output '%s' --resume -v", tmp("many.txt"), tmp("res.jsonl"));
    int rc = run(args);
    int n = read_jsonl(tmp("res.jsonl"), r, N);
    TU_CHECK(rc == 0 && n == N, "jsonl resume: exit %d, %d records", rc, n);
    TU_CHECK(err_has("resuming after"), "resume reported");
    double worst = 0;
    int order_ok = 1;
    for (int i = 0; i < n && n == N; i++) {
        order_ok &= !strcmp(r[i].id, full[i].id);
        worst = fmax(worst, max_abs(r[i].v, full[i].v));
    }
    TU_CHECK(order_ok && worst <= TOL, "jsonl resume: ids in order %d, vectors differ by %.3g", order_ok, worst);

    /* npy: rows and ids torn at different places */
    snprintf(args, sizeof args, "--input '%s' --output '%s'", tmp("many.txt"), tmp("res.npy"));
    run(args);
    tear(tmp("res.npy"), 0.55);
    tear(tmp("res.npy.ids"), 0.4);
    snprintf(args, sizeof args, "--input '%s' --output '%s' --resume", tmp("many.txt"), tmp("res.npy"));
    rc = run(args);
    long long rows = read_npy(tmp("res.npy"), r, N);
    rec *ids = malloc((size_t)N * sizeof *ids);
    n = read_jsonl(tmp("res.npy.ids"), ids, N);
    worst = 0;
    order_ok = 1;
    for (int i = 0; i < n && n == N && rows == N; i++) {
        order_ok &= !strcmp(ids[i].id, full[i].id);
        worst = fmax(worst, max_abs(r[i].v, full[i].v));
    }
    TU_CHECK(rc == 0 && rows == N && n == N && order_ok && worst <= TOL,
             "npy resume: exit %d, %lld rows, %d ids, in order %d, max diff %.3g", rc, rows, n, order_ok, worst);

    /* SIGINT mid-run: the file stays valid (count = rows written), and --resume finishes it */
    make_lines(tmp("big.txt"), 5000);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "exec '%s' embed --model '%s' --threads 2 --input '%s' --output '%s' 2> '%s'", cli,
             tu_default_model(), tmp("big.txt"), tmp("int.npy"), tmp("err.txt"));
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* signal once the first rows are on disk, so that the run is mid-way */
    for (int i = 0; i < 600 && file_size(tmp("int.npy")) <= 128; i++) usleep(50000);
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    check_sanitizers("interrupted run");
    TU_CHECK(rc == 130 || rc == 0, "interrupted run: exit %d (want 130, or 0 if it had finished)", rc);
    rec *big = malloc(5000 * sizeof *big);
    rows = read_npy(tmp("int.npy"), big, 5000);
    char *idt = slurp(tmp("int.npy.ids"), NULL);
    int lines = 0;
    for (char *p = idt; p && *p; p++) lines += *p == '\n';
    free(idt);
    printf("interrupted with exit %d after %lld of 5000 rows\n", rc, rows);
    TU_CHECK(rows >= 0 && lines == rows, "interrupted: %lld rows in the header and file, %d ids", rows, lines);
    if (rc == 130) TU_CHECK(err_has("--resume"), "interruption says how to go on");
    snprintf(args, sizeof args, "--input '%s' --output '%s' --resume", tmp("big.txt"), tmp("int.npy"));
    rc = run(args);
    rows = read_npy(tmp("int.npy"), big, 5000);
    TU_CHECK(rc == 0 && rows == 5000, "resumed after SIGINT: exit %d, %lld rows", rc, rows);
    free(big);
    free(ids);
    free(full);
    free(r);
}

static void test_windows(sutra_embedder *e) {
    /* a long text (about 1500 tokens) and a short one */
    FILE *f = fopen(tmp("long.jsonl"), "wb");
    char *longt = malloc(20000);
    longt[0] = '\0';
    for (int i = 1; i <= 120; i++) {
        char s[128];
        line_text(i, s, sizeof s);
        strcat(longt, s);
        strcat(longt, " ");
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", "long");
    cJSON_AddStringToObject(j, "text", longt);
    char *js = cJSON_PrintUnformatted(j);
    fprintf(f, "%s\n{\"id\":\"short\",\"text\":\"A short one.\"}\n", js);
    fclose(f);
    free(js);
    cJSON_Delete(j);
    char args[2048];
    snprintf(args, sizeof args, "--input '%s' --output '%s' --window 128 --overlap 16 --aggregate weighted",
             tmp("long.jsonl"), tmp("win.jsonl"));
    int rc = run(args);
    rec r[64];
    int n = read_jsonl(tmp("win.jsonl"), r, 64);
    sutra_window w = {.struct_size = sizeof w, .size = 128, .overlap = 16, .aggregate = SUTRA_AGGREGATE_WEIGHTED};
    const char *texts[] = {longt, "A short one."};
    float v[2 * DIM];
    sutra_embed_windowed(e, texts, 2, &w, v, 2 * DIM);
    TU_CHECK(rc == 0 && n == 2 && max_abs(v, r[0].v) <= TOL && max_abs(v + DIM, r[1].v) <= TOL,
             "windows: exit %d, %d records, diff %.3g", rc, n, n ? max_abs(v, r[0].v) : -1.0);
    snprintf(args, sizeof args, "--input '%s' --output '%s' --chunk 100", tmp("long.jsonl"), tmp("chunks.jsonl"));
    rc = run(args);
    n = read_jsonl(tmp("chunks.jsonl"), r, 64);
    size_t nc = 0;
    float *cv = malloc(64 * DIM * sizeof *cv);
    sutra_status st = sutra_embed_late_chunks(e, longt, (size_t)-1, NULL, 0, 100, NULL, cv, 64 * DIM, NULL, 0, &nc);
    double worst = 0;
    for (size_t k = 0; k < nc && (int)k < n; k++) worst = fmax(worst, max_abs(cv + k * DIM, r[k].v));
    TU_CHECK(rc == 0 && st == SUTRA_OK && n == (int)nc + 1 && r[0].chunks == (int)nc && r[nc].chunks == 1 &&
                 worst <= TOL,
             "late chunks: exit %d, %d records for %zu + 1 chunks, diff %.3g", rc, n, nc, worst);
    /* resume of chunked output drops an unfinished document */
    tear(tmp("chunks.jsonl"), 0.5);
    snprintf(args, sizeof args, "--input '%s' --output '%s' --chunk 100 --resume", tmp("long.jsonl"),
             tmp("chunks.jsonl"));
    rc = run(args);
    n = read_jsonl(tmp("chunks.jsonl"), r, 64);
    TU_CHECK(rc == 0 && n == (int)nc + 1 && r[0].chunk == 0 && r[nc - 1].chunk == (int)nc - 1,
             "chunked resume: exit %d, %d records", rc, n);
    /* and windows with invalid parameters are refused before anything is read */
    snprintf(args, sizeof args, "--input '%s' --output '%s' --window 0", tmp("long.jsonl"), tmp("bad.jsonl"));
    rc = run(args);
    TU_CHECK(rc == 2 && err_has("window size 0"), "--window 0: exit %d", rc);
    snprintf(args, sizeof args, "--input '%s' --output '%s' --window 64 --overlap 64", tmp("long.jsonl"),
             tmp("bad.jsonl"));
    rc = run(args);
    TU_CHECK(rc == 2 && err_has("overlap 64"), "--overlap 64 of 64: exit %d", rc);
    free(cv);
    free(longt);
}

int main(void) {
    char self[3000];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        TU_CHECK(0, "cannot find this test's path");
        return tu_finish("test_cli_file");
    }
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(cli, sizeof cli, "%s/../sutra", self);
    TU_CHECK(access(cli, X_OK) == 0, "no CLI at %s", cli);
    snprintf(dir, sizeof dir, "/tmp/sutra_cli_test_XXXXXX");
    TU_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    sutra_config cfg;
    sutra_config_init(&cfg);
    cfg.model = tu_default_model();
    cfg.threads = 2;
    char err[512];
    sutra_embedder *e = NULL;
    TU_CHECK(sutra_embedder_create(&cfg, &e, err, sizeof err) == SUTRA_OK, "create: %s", err);
    if (e && access(cli, X_OK) == 0) {
        test_jsonl(e);
        test_txt_npy(e);
        test_resume();
        test_windows(e);
    }
    sutra_embedder_destroy(e);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!tu_failures && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_cli_file");
}
