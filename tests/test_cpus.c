/*
 * test_cpus.c - the default thread count (src/util/cpus.c): the parsers of /proc/self/cgroup,
 * /proc/self/mountinfo, cpu.max and the v1 quota files on good and malformed text, and
 * sutra_cpu_budget over directories laid out like a system's /proc and /sys/fs/cgroup: cgroup
 * v2 and v1, a quota on an ancestor lower than the group's own, a mount whose root is a group
 * (as in a container), an escaped mount point, no quota, nothing readable. The expected count is
 * min(the quota rounded up, the CPUs this process's affinity allows).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "util/cpus.h"

static char base[256];

static void put(const char *rel, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s%s", base, rel);
    for (char *s = path + strlen(base) + 1; (s = strchr(s, '/')); s++) { /* make the directories */
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    TU_CHECK(f != NULL, "cannot write %s", path);
    if (f) fputs(text, f), fclose(f);
}

static void clear(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/proc '%s'/sys", base, base);
    TU_CHECK(system(cmd) == 0, "cannot clear %s", base);
}

static int affinity(void) {
    cpu_set_t s;
    return sched_getaffinity(0, sizeof s, &s) == 0 ? CPU_COUNT(&s) : (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static void expect(const char *what, int quota_threads, const char *why_has) {
    const int aff = affinity(), want = quota_threads > 0 && quota_threads < aff ? quota_threads : aff;
    char why[640];
    double quota = -1;
    const int got = sutra_cpu_budget(base, why, sizeof why, &quota);
    TU_CHECK(quota >= 0 && (quota > 0) == (quota_threads > 0), "%s: quota %g", what, quota);
    printf("  %-44s %d thread(s): %s\n", what, got, why);
    TU_CHECK(got == want, "%s: %d threads, want %d (%s)", what, got, want, why);
    if (quota_threads > 0 && quota_threads < aff)
        TU_CHECK(strstr(why, why_has) != NULL, "%s: the reason '%s' lacks '%s'", what, why, why_has);
    else
        TU_CHECK(strstr(why, "affinity") != NULL, "%s: the reason '%s' does not name the affinity", what, why);
}

static const char *V2_MOUNTS = "24 30 0:22 / /proc rw,nosuid - proc proc rw\n"
                               "29 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
static const char *V1_MOUNTS = "25 24 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                               "26 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
                               "27 24 0:25 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n";

static void parsers(void) {
    char p[128], m[128], r[128];
    TU_CHECK(sutra_cgroup_own_path("12:memory:/m\n3:cpu,cpuacct:/bench/a\n0::/user.slice\n", 1, p, sizeof p) &&
                 !strcmp(p, "/bench/a"), "v1 path: %s", p);
    TU_CHECK(sutra_cgroup_own_path("12:memory:/m\n3:cpu,cpuacct:/bench/a\n0::/user.slice\n", 0, p, sizeof p) &&
                 !strcmp(p, "/user.slice"), "v2 path: %s", p);
    TU_CHECK(!sutra_cgroup_own_path("3:cpuset:/x\n4:cpuacct:/y\n", 1, p, sizeof p), "cpuset / cpuacct taken for cpu");
    TU_CHECK(!sutra_cgroup_own_path("1:name=systemd:/\n", 0, p, sizeof p), "a named v1 hierarchy taken for v2");
    TU_CHECK(!sutra_cgroup_own_path("0::relative\n0:/\n::\n", 0, p, sizeof p), "a malformed line accepted");
    TU_CHECK(!sutra_cgroup_own_path("0::/a-long-group-name-that-does-not-fit\n", 0, p, 8), "a path past its buffer");
    TU_CHECK(!sutra_cgroup_own_path("", 0, p, sizeof p), "empty text");
    TU_CHECK(sutra_cgroup_mount(V2_MOUNTS, 0, m, sizeof m, r, sizeof r) && !strcmp(m, "/sys/fs/cgroup") && !strcmp(r, "/"),
             "v2 mount: %s %s", m, r);
    TU_CHECK(sutra_cgroup_mount(V1_MOUNTS, 1, m, sizeof m, r, sizeof r) && !strcmp(m, "/sys/fs/cgroup/cpu,cpuacct"),
             "v1 mount: %s", m);
    TU_CHECK(!sutra_cgroup_mount(V1_MOUNTS, 0, m, sizeof m, r, sizeof r), "v1 mounts taken for cgroup2");
    TU_CHECK(sutra_cgroup_mount("7 6 0:9 /docker/c\\0401 /cg/my\\040dir rw - cgroup2 none rw\n", 0, m, sizeof m, r, sizeof r) &&
                 !strcmp(m, "/cg/my dir") && !strcmp(r, "/docker/c 1"), "escapes: '%s' '%s'", m, r);
    TU_CHECK(!sutra_cgroup_mount("7 6 0:9 / /cg\\000x rw - cgroup2 none rw\n", 0, m, sizeof m, r, sizeof r),
             "an escaped NUL accepted");
    TU_CHECK(!sutra_cgroup_mount("7 6 0:9 / /cg rw cgroup2 none rw\n- x\n", 0, m, sizeof m, r, sizeof r),
             "a line without its separator accepted");
    double c = -1;
    TU_CHECK(sutra_cgroup_parse_cpu_max("150000 100000\n", &c) && c == 1.5, "cpu.max 1.5: %g", c);
    TU_CHECK(sutra_cgroup_parse_cpu_max("max 100000\n", &c) && c == 0, "cpu.max max: %g", c);
    const char *bad[] = {"", "max", "100000", "abc 100000", "100 0", "-5 100", "100 -5", "1 2 3", "99999999999999999999 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TU_CHECK(!sutra_cgroup_parse_cpu_max(bad[i], &c), "cpu.max '%s' accepted", bad[i]);
    TU_CHECK(sutra_cgroup_parse_cfs("50000\n", "100000\n", &c) && c == 0.5, "cfs 0.5: %g", c);
    TU_CHECK(sutra_cgroup_parse_cfs("-1\n", "100000\n", &c) && c == 0, "cfs -1: %g", c);
    TU_CHECK(!sutra_cgroup_parse_cfs("0", "100000", &c) && !sutra_cgroup_parse_cfs("-2", "100000", &c) &&
                 !sutra_cgroup_parse_cfs("100", "0", &c) && !sutra_cgroup_parse_cfs("x", "100000", &c),
             "a malformed v1 quota accepted");
}

int main(void) {
    parsers();
    snprintf(base, sizeof base, "/tmp/sutra-cpus-XXXXXX");
    if (!mkdtemp(base)) {
        TU_CHECK(0, "mkdtemp");
        return tu_finish("test_cpus");
    }
    printf("affinity allows %d CPU(s)\n", affinity());

    /* cgroup v2: the group's own cpu.max is "max", its parent's half a CPU */
    put("/proc/self/cgroup", "0::/user.slice/job\n");
    put("/proc/self/mountinfo", V2_MOUNTS);
    put("/sys/fs/cgroup/user.slice/job/cpu.max", "max 100000\n");
    put("/sys/fs/cgroup/user.slice/cpu.max", "50000 100000\n");
    expect("v2, the parent's quota 0.5", 1, "user.slice/cpu.max: 50000 100000");
    /* the group's own quota lower than the parent's */
    put("/sys/fs/cgroup/user.slice/cpu.max", "max 100000\n");
    put("/sys/fs/cgroup/user.slice/job/cpu.max", "100000 100000\n");
    expect("v2, the group's quota 1.0", 1, "quota 1.00 CPU");
    /* no quota anywhere */
    put("/sys/fs/cgroup/user.slice/job/cpu.max", "max 100000\n");
    expect("v2, no quota", 0, "");
    /* 1.5 CPUs: two threads (below the affinity only on a machine of 3 or more CPUs) */
    put("/sys/fs/cgroup/user.slice/job/cpu.max", "150000 100000\n");
    expect("v2, quota 1.5 rounded up", 2, "quota 1.50 CPU");
    /* malformed cpu.max: ignored */
    put("/sys/fs/cgroup/user.slice/job/cpu.max", "lots\n");
    expect("v2, malformed cpu.max", 0, "");
    clear();

    /* cgroup v1, the cpu controller mounted with cpuacct; the quota on the group */
    put("/proc/self/cgroup", "5:memory:/other\n3:cpu,cpuacct:/bench\n0::/\n");
    put("/proc/self/mountinfo", V1_MOUNTS);
    put("/sys/fs/cgroup/cpu,cpuacct/bench/cpu.cfs_quota_us", "100000\n");
    put("/sys/fs/cgroup/cpu,cpuacct/bench/cpu.cfs_period_us", "100000\n");
    put("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    put("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    expect("v1, quota 1.0", 1, "cpu.cfs_quota_us 100000 over cpu.cfs_period_us 100000");
    put("/sys/fs/cgroup/cpu,cpuacct/bench/cpu.cfs_quota_us", "-1\n");
    expect("v1, no quota", 0, "");
    clear();

    /* a container's view: the hierarchy mounted from the container's own group, and an escaped
     * mount point */
    put("/proc/self/cgroup", "0::/docker/c1/inner\n");
    put("/proc/self/mountinfo", "40 30 0:26 /docker/c1 /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n");
    put("/sys/fs/my cgroup/inner/cpu.max", "40000 100000\n");
    expect("v2 mounted from a group, escaped mount", 1, "my cgroup/inner/cpu.max");
    clear();

    /* nothing to read */
    expect("no /proc, no cgroup files", 0, "");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    TU_CHECK(system(cmd) == 0, "cannot remove %s", base);
    return tu_finish("test_cpus");
}
