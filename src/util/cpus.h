/*
 * cpus.h - how many threads the process can really run at once: the CPUs its affinity mask
 * allows, lowered to the CPU quota of its cgroup (v2 `cpu.max`, v1 `cpu.cfs_quota_us` over
 * `cpu.cfs_period_us`, the least along the group's ancestors up to the hierarchy's mount),
 * rounded up to whole CPUs. A container given 1.5 CPUs of a 64-core host gets 2 threads, not 64.
 *
 * The parsers take the files' text and are fuzzed (fuzz/fuzz_cpus.c); sutra_cpu_budget reads the
 * files under `root` ("" for the running system; tests pass a directory laid out like one).
 */
#ifndef SUTRA_CPUS_H
#define SUTRA_CPUS_H

#include <stddef.h>

/* From /proc/self/cgroup: the process's group in the cgroup v2 hierarchy (the "0::" line; v1 = 0)
 * or in the v1 hierarchy that has the `cpu` controller (v1 = 1). 1 if found and it fit in path. */
int sutra_cgroup_own_path(const char *proc_cgroup, int v1, char *path, size_t cap);

/* From /proc/self/mountinfo: where the cgroup2 file system (v1 = 0), or the v1 hierarchy with the
 * `cpu` controller (v1 = 1), is mounted, and which group of the hierarchy is its root (octal
 * escapes such as \040 decoded). 1 if found and both fit. */
int sutra_cgroup_mount(const char *mountinfo, int v1, char *mount_point, size_t mcap, char *root, size_t rcap);

/* A v2 `cpu.max` ("max 100000" or "150000 100000"): *cpus = quota / period, or 0 for no limit.
 * 1 if the text is well formed. */
int sutra_cgroup_parse_cpu_max(const char *text, double *cpus);

/* v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`: *cpus = quota / period, or 0 for no limit (-1).
 * 1 if both are well formed. */
int sutra_cgroup_parse_cfs(const char *quota, const char *period, double *cpus);

/* Threads by default (>= 1), and in why (cap bytes) where the number comes from; *quota (may be
 * NULL) the cgroup CPU quota in CPUs, 0 for none. */
int sutra_cpu_budget(const char *root, char *why, size_t cap, double *quota);

#endif /* SUTRA_CPUS_H */
