/*
 * cpu_isa.c - see cpu_isa.h.
 */
#include "backend/cpu/cpu_isa.h"

#include <stdio.h>
#include <string.h>

sutra_cpu_isa sutra_cpu_isa_best(void) {
    __builtin_cpu_init(); /* idempotent */
    if (__builtin_cpu_supports("avx512f")) return SUTRA_CPU_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SUTRA_CPU_ISA_AVX2;
    return SUTRA_CPU_ISA_SCALAR;
}

sutra_status sutra_cpu_isa_resolve(sutra_cpu_isa want, sutra_cpu_isa *out) {
    if ((unsigned)want > SUTRA_CPU_ISA_AVX512) return SUTRA_ERR_INVALID_ARGUMENT;
    const sutra_cpu_isa best = sutra_cpu_isa_best();
    if (want > best) return SUTRA_ERR_UNSUPPORTED;
    *out = want == SUTRA_CPU_ISA_AUTO ? best : want;
    return SUTRA_OK;
}

const char *sutra_cpu_isa_name(sutra_cpu_isa isa) {
    switch (isa) {
    case SUTRA_CPU_ISA_AVX512: return "avx512";
    case SUTRA_CPU_ISA_AVX2: return "avx2";
    case SUTRA_CPU_ISA_SCALAR: return "scalar";
    default: return "auto";
    }
}

void sutra_cpu_features_string(char *buf, size_t cap) {
    static const char *const names[] = {"avx512f", "avx512bw", "avx512vnni", "avx512bf16", "avx2", "fma"};
    if (!buf || !cap) return;
    __builtin_cpu_init();
    const int have[] = {__builtin_cpu_supports("avx512f"),    __builtin_cpu_supports("avx512bw"),
                        __builtin_cpu_supports("avx512vnni"), __builtin_cpu_supports("avx512bf16"),
                        __builtin_cpu_supports("avx2"),       __builtin_cpu_supports("fma")};
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (have[i] && n < cap) n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? " " : "", names[i]);
    if (!buf[0]) snprintf(buf, cap, "baseline");
}
