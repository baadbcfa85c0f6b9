/*
 * engine_opts.c - see engine_opts.h.
 */
#include "engine_opts.h"

#include <stdlib.h>
#include <string.h>

enum {
    O_ATTENTION = SUTRA_ENGINE_OPT_FIRST,
    O_THRESHOLD,
    O_NO_FLASH,
    O_DEVICE,
    O_GPU,
    O_BF16,
    O_GPU_DTYPE,
    O_CPU_ISA,
    O_APPROX_GELU,
    O_GPU_GRAPHS,
    O_GPU_GEMM,
    O_FLASH_WGMMA,
    O_LN_FOLD,
    O_FOLD_MIN,
    O_PROFILE,
    O_MODELS_DIR,
    O_HUB_CACHE,
    O_HUB_ENDPOINT,
    O_HUB_TOKEN,
    O_OFFLINE,
};

static const struct option ENGINE[] = {
    {"attention", required_argument, 0, O_ATTENTION},
    {"flash-threshold", required_argument, 0, O_THRESHOLD},
    {"no-flash", no_argument, 0, O_NO_FLASH},
    {"device", required_argument, 0, O_DEVICE},
    {"gpu", required_argument, 0, O_GPU},
    {"bf16", no_argument, 0, O_BF16},
    {"gpu-dtype", required_argument, 0, O_GPU_DTYPE},
    {"cpu-isa", required_argument, 0, O_CPU_ISA},
    {"approximate-gelu", no_argument, 0, O_APPROX_GELU},
    {"gpu-graphs", required_argument, 0, O_GPU_GRAPHS},
    {"gpu-gemm", required_argument, 0, O_GPU_GEMM},
    {"flash-wgmma", required_argument, 0, O_FLASH_WGMMA},
    {"layernorm-fold", required_argument, 0, O_LN_FOLD},
    {"fold-min-tokens", required_argument, 0, O_FOLD_MIN},
    {"profile", no_argument, 0, O_PROFILE},
    {"models-dir", required_argument, 0, O_MODELS_DIR},
    {"hub-cache", required_argument, 0, O_HUB_CACHE},
    {"hub-endpoint", required_argument, 0, O_HUB_ENDPOINT},
    {"hub-token", required_argument, 0, O_HUB_TOKEN},
    {"offline", no_argument, 0, O_OFFLINE},
};
#define N_ENGINE (sizeof ENGINE / sizeof ENGINE[0])

int sutra_engine_options(const struct option *own, struct option *out, size_t cap) {
    size_t n = 0;
    while (own[n].name) n++;
    if (n + N_ENGINE + 1 > cap) return 0;
    memcpy(out, own, n * sizeof *own);
    memcpy(out + n, ENGINE, sizeof ENGINE);
    memset(out + n + N_ENGINE, 0, sizeof *out);
    return 1;
}

static int choice(const char *arg, const char *const *names, int n, const char *opt, const char *prog) {
    for (int i = 0; i < n; i++)
        if (!strcmp(arg, names[i])) return i;
    fprintf(stderr, "%s: invalid value '%s' for --%s (", prog, arg, opt);
    for (int i = 0; i < n; i++) fprintf(stderr, "%s%s", i ? "|" : "", names[i]);
    fprintf(stderr, ")\n");
    exit(2);
}

static int count(const char *arg, const char *opt, const char *prog) {
    char *end;
    const long v = strtol(arg, &end, 10);
    if (end == arg || *end || v < 0 || v > 1 << 24) {
        fprintf(stderr, "%s: --%s expects a non-negative integer, got '%s'\n", prog, opt, arg);
        exit(2);
    }
    return (int)v;
}

int sutra_engine_option(int o, const char *arg, sutra_config *cfg, const char *prog) {
    static const char *const atts[] = {"auto", "standard", "flash"}, *const devices[] = {"auto", "cpu", "cuda"},
                             *const isas[] = {"auto", "scalar", "avx2", "avx512"},
                             *const switches[] = {"auto", "on", "off"},
                             *const gemms[] = {"auto", "cublaslt", "cutlass"},
                             *const dtypes[] = {"auto", "fp16", "bf16"};
    switch (o) {
    case O_ATTENTION: cfg->attention = (sutra_attention)choice(arg, atts, 3, "attention", prog); return 1;
    case O_THRESHOLD: cfg->flash_attention_threshold = count(arg, "flash-threshold", prog); return 1;
    case O_NO_FLASH: cfg->use_flash_attention = 0; return 1;
    case O_DEVICE: cfg->device = (sutra_device)choice(arg, devices, 3, "device", prog); return 1;
    case O_GPU: cfg->gpu_index = count(arg, "gpu", prog); return 1;
    case O_BF16: cfg->gpu_dtype = SUTRA_GPU_DTYPE_BF16; return 1;
    case O_GPU_DTYPE: cfg->gpu_dtype = (sutra_gpu_dtype)choice(arg, dtypes, 3, "gpu-dtype", prog); return 1;
    case O_CPU_ISA: cfg->cpu_isa = (sutra_cpu_isa)choice(arg, isas, 4, "cpu-isa", prog); return 1;
    case O_APPROX_GELU: cfg->approximate_gelu = 1; return 1;
    case O_GPU_GRAPHS: cfg->gpu_graphs = (sutra_switch)choice(arg, switches, 3, "gpu-graphs", prog); return 1;
    case O_GPU_GEMM: cfg->gpu_gemm = (sutra_gpu_gemm)choice(arg, gemms, 3, "gpu-gemm", prog); return 1;
    case O_FLASH_WGMMA: cfg->gpu_flash_wgmma = (sutra_switch)choice(arg, switches, 3, "flash-wgmma", prog); return 1;
    case O_LN_FOLD: cfg->gpu_layernorm_fold = (sutra_switch)choice(arg, switches, 3, "layernorm-fold", prog); return 1;
    case O_FOLD_MIN: cfg->gpu_fold_min_tokens = count(arg, "fold-min-tokens", prog); return 1;
    case O_PROFILE: cfg->profile = 1; return 1;
    case O_MODELS_DIR: cfg->models_dir = arg; return 1;
    case O_HUB_CACHE: cfg->hub.cache_dir = arg; return 1;
    case O_HUB_ENDPOINT: cfg->hub.endpoint = arg; return 1;
    case O_HUB_TOKEN: cfg->hub.token = arg; return 1;
    case O_OFFLINE: cfg->hub.offline = SUTRA_SWITCH_ON; return 1;
    default: return 0;
    }
}

void sutra_engine_usage(FILE *f) {
    fprintf(f,
            "engine options:\n"
            "      --attention A        auto|standard|flash (auto: flash above the device's threshold)\n"
            "      --flash-threshold N  tokens above which auto picks flash attention (default: the device's,\n"
            "                           `info` shows it: 512 on the CPU, every length on the GPU)\n"
            "      --no-flash           never pick flash attention automatically\n"
            "      --device D           auto|cpu|cuda (auto: a supported GPU if the build has CUDA)\n"
            "      --gpu N              CUDA device index\n"
            "      --gpu-dtype T        auto|fp16|bf16: activations on a GPU (auto: fp16, bf16 for families\n"
            "                           that overflow fp16, e.g. qwen3; `info` says which)\n"
            "      --bf16               the same as --gpu-dtype bf16\n"
            "      --cpu-isa I          auto|scalar|avx2|avx512: the CPU kernels' instruction set\n"
            "      --approximate-gelu   the tanh GELU in place of the exact one (a different function)\n"
            "      --gpu-graphs S       auto|on|off: CUDA graphs per batch shape (auto: on)\n"
            "      --gpu-gemm G         auto|cublaslt|cutlass: the GPU's matrix-product library\n"
            "      --flash-wgmma S      auto|on|off: the Hopper flash kernel (auto: on)\n"
            "      --layernorm-fold S   auto|on|off: LayerNorms folded into the GPU's products (auto: on)\n"
            "      --fold-min-tokens N  ... in batches of N tokens or more (default 16384)\n"
            "      --profile            time every kind of op; the table goes to stderr at the end\n"
            "      --models-dir DIR     where model names are looked up (default $SUTRA_MODELS_DIR,\n"
            "                           else ~/.cache/sutra/models)\n"
            "      --hub-cache DIR      the Hugging Face hub cache models by id are read from and downloaded\n"
            "                           into (default $HF_HUB_CACHE, else $HF_HOME/hub, else\n"
            "                           ~/.cache/huggingface/hub)\n"
            "      --hub-endpoint URL   the hub (default $HF_ENDPOINT, else https://huggingface.co)\n"
            "      --hub-token T        token for gated / private models (default $HF_TOKEN, else the\n"
            "                           token `hf auth login` saved)\n"
            "      --offline            never download (also $HF_HUB_OFFLINE=1)\n");
}

void sutra_engine_progress(void *user, const char *file, uint64_t done, uint64_t total) {
    sutra_progress_state *p = user;
    if (!p) return;
    const int finished = total && done >= total;
    const int same = !strcmp(p->file, file);
    if (!same) {
        if (p->file[0] && p->tty && !p->ended) fputc('\n', stderr);
        snprintf(p->file, sizeof p->file, "%s", file);
        p->ended = 0;
        p->last_pct = -1;
    }
    if (p->ended) return;
    if (!p->tty) { /* a log: one line per file, when it is complete */
        if (finished) {
            fprintf(stderr, "sutra: downloaded %s (%.1f MB)\n", file, (double)total / 1e6);
            p->ended = 1;
        }
        return;
    }
    const int pct = total ? (int)(100.0 * (double)done / (double)total) : -1;
    if (pct == p->last_pct && !finished) return;
    p->last_pct = pct;
    char bar[31];
    const int fill = total ? (int)(30.0 * (double)done / (double)total) : 0;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%-40.40s [%s] %7.1f / %.1f MB", file, bar, (double)done / 1e6, (double)total / 1e6);
    if (finished) {
        fputc('\n', stderr);
        p->ended = 1;
    }
    fflush(stderr);
}

void sutra_engine_print_profile(const sutra_embedder *emb, FILE *f) {
    size_t n = 0;
    if (sutra_embedder_profile(emb, NULL, 0, &n) == SUTRA_ERR_INVALID_ARGUMENT || n == 0) return;
    sutra_op_time *t = calloc(n, sizeof *t);
    if (!t || sutra_embedder_profile(emb, t, n, &n) != SUTRA_OK) {
        free(t);
        return;
    }
    double all = 0;
    for (size_t i = 0; i < n; i++) all += t[i].ms;
    fprintf(f, "op times, %.3f ms in all\n  %-40s %9s %11s %10s %6s\n", all, "op", "calls", "total ms", "mean us",
            "share");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-40s %9llu %11.3f %10.2f %5.1f%%\n", t[i].name, (unsigned long long)t[i].calls, t[i].ms,
                t[i].calls ? t[i].ms * 1e3 / (double)t[i].calls : 0.0, all > 0 ? 100.0 * t[i].ms / all : 0.0);
    free(t);
}
