/*
 * cpus.c - see cpus.h.
 */
#include "util/cpus.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FILE (1 << 20) /* mountinfo of a host with many mounts: tens of KiB */

/* The next line of text at *p (without its newline) as [*s, *e); 0 at the end. */
static int next_line(const char **p, const char **s, const char **e) {
    if (!**p) return 0;
    *s = *p;
    const char *nl = strchr(*p, '\n');
    *e = nl ? nl : *p + strlen(*p);
    *p = nl ? nl + 1 : *e;
    return 1;
}

/* 1 if the comma-separated list [s, e) has the item `want`. */
static int list_has(const char *s, const char *e, const char *want) {
    const size_t n = strlen(want);
    while (s < e) {
        const char *c = memchr(s, ',', (size_t)(e - s));
        const char *end = c ? c : e;
        if ((size_t)(end - s) == n && !memcmp(s, want, n)) return 1;
        s = end + 1;
    }
    return 0;
}

static int copy_span(char *out, size_t cap, const char *s, const char *e) {
    if (!cap || (size_t)(e - s) >= cap) return 0;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return 1;
}

int sutra_cgroup_own_path(const char *text, int v1, char *path, size_t cap) {
    const char *p = text, *s, *e;
    while (next_line(&p, &s, &e)) {
        const char *c1 = memchr(s, ':', (size_t)(e - s));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(e - c1 - 1)) : NULL;
        if (!c2 || c2 + 1 >= e || c2[1] != '/') continue;
        const int found = v1 ? list_has(c1 + 1, c2, "cpu") : (c1 - s == 1 && *s == '0' && c2 == c1 + 1);
        if (found) return copy_span(path, cap, c2 + 1, e);
    }
    return 0;
}

/* Copies the mountinfo field [s, e) into out, decoding \ooo escapes; 0 if it does not fit. */
static int copy_unescaped(char *out, size_t cap, const char *s, const char *e) {
    size_t n = 0;
    while (s < e) {
        char c = *s++;
        if (c == '\\' && e - s >= 3 && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' &&
            s[2] <= '7') {
            c = (char)((s[0] - '0') * 64 + (s[1] - '0') * 8 + (s[2] - '0'));
            s += 3;
        }
        if (c == '\0' || n + 1 >= cap) return 0;
        out[n++] = c;
    }
    if (!cap) return 0;
    out[n] = '\0';
    return 1;
}

int sutra_cgroup_mount(const char *text, int v1, char *mount_point, size_t mcap, char *root, size_t rcap) {
    const char *p = text, *s, *e;
    while (next_line(&p, &s, &e)) {
        /* id parent major:minor root mount-point options [optional fields...] - fstype source super-options */
        const char *f[16][2];
        int nf = 0, sep = -1;
        for (const char *q = s; q < e && nf < 16;) {
            while (q < e && *q == ' ') q++;
            if (q >= e) break;
            const char *t = q;
            while (q < e && *q != ' ') q++;
            f[nf][0] = t, f[nf][1] = q;
            if (sep < 0 && q - t == 1 && *t == '-' && nf >= 6) sep = nf;
            nf++;
        }
        if (sep < 0 || nf < sep + 4) continue;
        const char *fs = f[sep + 1][0], *fs_end = f[sep + 1][1];
        const size_t fsn = (size_t)(fs_end - fs);
        const int match = v1 ? fsn == 6 && !memcmp(fs, "cgroup", 6) && list_has(f[sep + 3][0], f[sep + 3][1], "cpu")
                             : fsn == 7 && !memcmp(fs, "cgroup2", 7);
        if (!match) continue;
        return copy_unescaped(root, rcap, f[3][0], f[3][1]) && copy_unescaped(mount_point, mcap, f[4][0], f[4][1]);
    }
    return 0;
}

/* A decimal integer filling [s, e) (optionally signed); 1 if well formed and in range. */
static int parse_int(const char *s, const char *e, long long *v) {
    int neg = 0;
    if (s < e && *s == '-') neg = 1, s++;
    if (s >= e || e - s > 18) return 0;
    long long x = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9') return 0;
        x = x * 10 + (*s - '0');
    }
    *v = neg ? -x : x;
    return 1;
}

/* [s, e) with surrounding white space taken off. */
static void trim(const char **s, const char **e) {
    while (*s < *e && (**s == ' ' || **s == '\t' || **s == '\n')) (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\n')) (*e)--;
}

int sutra_cgroup_parse_cpu_max(const char *text, double *cpus) {
    const char *s = text, *e = text + strlen(text);
    trim(&s, &e);
    const char *sp = memchr(s, ' ', (size_t)(e - s));
    if (!sp) return 0;
    long long period;
    if (!parse_int(sp + 1, e, &period) || period <= 0) return 0;
    if (sp - s == 3 && !memcmp(s, "max", 3)) {
        *cpus = 0;
        return 1;
    }
    long long quota;
    if (!parse_int(s, sp, &quota) || quota <= 0) return 0;
    *cpus = (double)quota / (double)period;
    return 1;
}

int sutra_cgroup_parse_cfs(const char *quota_text, const char *period_text, double *cpus) {
    const char *qs = quota_text, *qe = qs + strlen(qs), *ps = period_text, *pe = ps + strlen(ps);
    trim(&qs, &qe);
    trim(&ps, &pe);
    long long quota, period;
    if (!parse_int(qs, qe, &quota) || !parse_int(ps, pe, &period) || period <= 0 || quota == 0 || quota < -1) return 0;
    *cpus = quota < 0 ? 0 : (double)quota / (double)period;
    return 1;
}

/* The file at root + path, NUL-terminated, at most MAX_FILE bytes (free() it); NULL if unreadable. */
static char *read_text(const char *root, const char *path) {
    char full[4096];
    if (snprintf(full, sizeof full, "%s%s", root, path) >= (int)sizeof full) return NULL;
    FILE *f = fopen(full, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1 || cap >= MAX_FILE) break;
        char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

/* The quota of the group at directory dir (a path under root), in CPUs; 0: none or unreadable. */
static double group_quota(const char *root, const char *dir, int v1, char *detail, size_t cap) {
    char path[4096];
    double cpus = 0;
    if (!v1) {
        if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path) return 0;
        char *t = read_text(root, path);
        if (t && sutra_cgroup_parse_cpu_max(t, &cpus) && cpus > 0) {
            char *nl = strchr(t, '\n');
            if (nl) *nl = '\0';
            snprintf(detail, cap, "%.400s: %.60s", path, t);
        }
        free(t);
        return cpus;
    }
    char ppath[4096];
    if (snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir) >= (int)sizeof path ||
        snprintf(ppath, sizeof ppath, "%s/cpu.cfs_period_us", dir) >= (int)sizeof ppath)
        return 0;
    char *q = read_text(root, path), *p = read_text(root, ppath);
    if (q && p && sutra_cgroup_parse_cfs(q, p, &cpus) && cpus > 0) {
        long long qv = atoll(q), pv = atoll(p);
        snprintf(detail, cap, "%.400s/cpu.cfs_quota_us %lld over cpu.cfs_period_us %lld", dir, qv, pv);
    }
    free(q);
    free(p);
    return cpus;
}

/* The least CPU quota along the process's group and its ancestors in one hierarchy; 0: none. */
static double cgroup_quota(const char *root, int v1, char *detail, size_t cap) {
    char *cg = read_text(root, "/proc/self/cgroup"), *mi = read_text(root, "/proc/self/mountinfo");
    char own[2048], mnt[2048], mroot[2048], dir[4096];
    double best = 0;
    if (cg && mi && sutra_cgroup_own_path(cg, v1, own, sizeof own) &&
        sutra_cgroup_mount(mi, v1, mnt, sizeof mnt, mroot, sizeof mroot)) {
        /* the group's directory: the mount point, then the group's path below the mount's root */
        const size_t rl = strcmp(mroot, "/") ? strlen(mroot) : 0;
        const char *below = !strncmp(own, mroot, rl) && (own[rl] == '/' || own[rl] == '\0') ? own + rl : "";
        if (snprintf(dir, sizeof dir, "%s%s", mnt, below) < (int)sizeof dir) {
            size_t len = strlen(dir);
            while (len > 1 && dir[len - 1] == '/') dir[--len] = '\0';
            const size_t mlen = strlen(mnt);
            for (;;) {
                char d[512];
                const double c = group_quota(root, dir, v1, d, sizeof d);
                if (c > 0 && (best == 0 || c < best)) {
                    best = c;
                    snprintf(detail, cap, "%s", d);
                }
                char *slash = strrchr(dir, '/');
                if (strlen(dir) <= mlen || !slash || slash == dir) break;
                *slash = '\0';
                if (strlen(dir) < mlen) break;
            }
        }
    }
    free(cg);
    free(mi);
    return best;
}

static int affinity_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int sutra_cpu_budget(const char *root, char *why, size_t cap, double *quota_out) {
    const int cpus = affinity_cpus();
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    char detail[512] = "";
    double quota = cgroup_quota(root, 1, detail, sizeof detail);
    if (quota <= 0) quota = cgroup_quota(root, 0, detail, sizeof detail);
    if (quota_out) *quota_out = quota > 0 ? quota : 0;
    const int q = quota > 0 ? (int)ceil(quota - 1e-9) : 0;
    if (q > 0 && q < cpus) {
        snprintf(why, cap, "cgroup CPU quota %.2f CPU (%s), rounded up; affinity allows %d", quota, detail, cpus);
        return q < 1 ? 1 : q;
    }
    if (q > 0)
        snprintf(why, cap, "CPU affinity: %d of %ld online CPUs (cgroup quota %.2f CPU)", cpus, online, quota);
    else
        snprintf(why, cap, "CPU affinity: %d of %ld online CPUs, no cgroup CPU quota", cpus, online);
    return cpus;
}
