/*
 * fuzz_cpus.c - libFuzzer harness for the CPU-budget parsers (src/util/cpus.c): /proc/self/cgroup,
 * /proc/self/mountinfo, a v2 cpu.max and a v1 quota/period pair.
 *
 * Input: the bytes up to the first NUL are a /proc/self/cgroup, then up to the next NUL a
 * mountinfo, the rest tried as a cpu.max and, split at its first newline, as a v1 quota and
 * period. Whatever is accepted must be sane: paths NUL-terminated within their buffers and
 * starting with '/', quotas finite and positive (or 0 for none).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/cpus.h"

static char *part(const uint8_t **p, const uint8_t *end) {
    const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
    const size_t n = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nul ? nul + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    char *cg = part(&p, end), *mi = part(&p, end), *rest = part(&p, end);
    for (int v1 = 0; v1 < 2; v1++) {
        char path[64], mnt[64], root[64];
        if (sutra_cgroup_own_path(cg, v1, path, sizeof path) && (strnlen(path, sizeof path) == sizeof path || path[0] != '/'))
            abort();
        if (sutra_cgroup_mount(mi, v1, mnt, sizeof mnt, root, sizeof root) &&
            (strnlen(mnt, sizeof mnt) == sizeof mnt || strnlen(root, sizeof root) == sizeof root))
            abort();
    }
    double cpus = -1;
    if (sutra_cgroup_parse_cpu_max(rest, &cpus) && !(isfinite(cpus) && cpus >= 0)) abort();
    char *nl = strchr(rest, '\n');
    if (nl) {
        *nl = '\0';
        cpus = -1;
        if (sutra_cgroup_parse_cfs(rest, nl + 1, &cpus) && !(isfinite(cpus) && cpus >= 0)) abort();
    }
    free(cg);
    free(mi);
    free(rest);
    return 0;
}
