/*
 * device.c - which backend runs the model (the GPU when asked, or when AUTO finds a usable one;
 * else the CPU), and the attention decision for it: made once here, from the config and what the
 * backend says it runs (supports(), default_flash_threshold), so that every batch takes the path
 * it is told and the stats count what ran.
 */
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_isa.h"
#ifdef SUTRA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "embedder.h"

#ifdef SUTRA_HAVE_CUDA
/* Appends " label(d=32,64)" to buf (a string in cap bytes) for the head dims set in mask (bit
 * log2 d), truncating at cap; nothing for an empty mask. */
static void append_head_dims(char *buf, size_t cap, const char *label, int mask) {
    if (!mask) return;
    size_t n = strlen(buf);
    if (n < cap) n += (size_t)snprintf(buf + n, cap - n, " %s(d=", label);
    for (int b = 0, first = 1; b < 16; b++)
        if (mask & (1 << b)) {
            if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "%s%d", first ? "" : ",", 1 << b);
            first = 0;
        }
    if (n < cap) snprintf(buf + n, cap - n, ")");
}

static int switch_on(sutra_switch s) { return s != SUTRA_SWITCH_OFF; }

/* bf16 or fp16 on the GPU: as configured, or for AUTO what the family's shape says (and why, in
 * compute_dtype). */
static int use_bf16(sutra_embedder *e) {
    const sutra_gpu_dtype d = e->cfg.gpu_dtype;
    const int bf16 = d == SUTRA_GPU_DTYPE_BF16 || (d == SUTRA_GPU_DTYPE_AUTO && e->mcfg.shape.fp16_overflows);
    if (d != SUTRA_GPU_DTYPE_AUTO)
        snprintf(e->compute_dtype, sizeof e->compute_dtype, "%s", bf16 ? "bf16" : "fp16");
    else if (bf16)
        snprintf(e->compute_dtype, sizeof e->compute_dtype, "bf16 (auto: %s's activations overflow fp16)",
                 e->mcfg.model_type);
    else
        snprintf(e->compute_dtype, sizeof e->compute_dtype, "fp16 (auto)");
    return bf16;
}
#endif

/* Whether be runs attention for this model on path (before reserve(): whatever the length). */
static int runs(const sutra_embedder *e, sutra_attn_path path) {
    const sutra_attn_params shape = sutra_transformer_attention_shape(&e->mcfg.shape, 1, e->max_tokens);
    const sutra_op_query q = {.op = SUTRA_OP_ATTENTION, .attn = &shape, .path = path};
    return e->be->supports(e->be, &q);
}

/* The attention decision for e->be: e->attention and e->flash_threshold, and the longest
 * sequence the standard path will be given (*std_len). A path the backend cannot run for this
 * model gives way to the other, with a note. */
static sutra_status decide_attention(sutra_embedder *e, int *std_len, char *err, size_t errcap) {
    const int flash = runs(e, SUTRA_ATTN_FLASH), standard = runs(e, SUTRA_ATTN_STANDARD);
    const int D = e->mcfg.shape.D;
    if (!flash && !standard)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "the %s backend runs neither attention path for this "
                          "model (head dim %d%s%s%s)", e->be->name, D, e->mcfg.shape.causal ? ", causal" : "",
                          e->mcfg.shape.Hkv != e->mcfg.shape.H ? ", grouped key/value heads" : "",
                          e->mcfg.shape.rel_span ? ", relative position bias" : "");
    sutra_attention want = e->cfg.attention;
    if (want == SUTRA_ATTENTION_AUTO && !e->cfg.use_flash_attention) want = SUTRA_ATTENTION_STANDARD;
    e->flash_threshold = e->cfg.flash_attention_threshold ? e->cfg.flash_attention_threshold
                                                          : e->be->default_flash_threshold;
    e->attention = want;
    const char *gone = NULL;
    if (want != SUTRA_ATTENTION_STANDARD && !flash) e->attention = SUTRA_ATTENTION_STANDARD, gone = "flash";
    else if (want != SUTRA_ATTENTION_FLASH && !standard) e->attention = SUTRA_ATTENTION_FLASH, gone = "standard";
    if (gone) {
        size_t n = strlen(e->device_note);
        snprintf(e->device_note + n, sizeof e->device_note - n, "%s%s attention does not run here for head dim %d: "
                 "every batch takes the other path", n ? "; " : "", gone, D);
    }
    *std_len = e->attention == SUTRA_ATTENTION_FLASH      ? 0
               : e->attention == SUTRA_ATTENTION_STANDARD ? e->max_tokens
               : e->flash_threshold < e->max_tokens       ? e->flash_threshold
                                                          : e->max_tokens;
    return SUTRA_OK;
}

sutra_attn_path sutra_embedder_path(const sutra_embedder *e, int max_len) {
    switch (e->attention) {
    case SUTRA_ATTENTION_STANDARD: return SUTRA_ATTN_STANDARD;
    case SUTRA_ATTENTION_FLASH: return SUTRA_ATTN_FLASH;
    default: return max_len > e->flash_threshold ? SUTRA_ATTN_FLASH : SUTRA_ATTN_STANDARD;
    }
}

/* The encoder on e->be, after the attention decision. */
static sutra_status open_encoder(sutra_embedder *e, char *err, size_t errcap) {
    int std_len = 0;
    sutra_status st = decide_attention(e, &std_len, err, errcap);
    if (st) return st;
    sutra_encoder_plan plan = {.max_tokens = e->batch_tokens, .std_max_seqlen = std_len};
    plan.token_rows = sutra_heads_token_rows(e->heads, &plan.token_w, &plan.token_b); /* bge-m3's heads */
    return sutra_encoder_create(&e->mcfg, e->weights, e->be, &plan, &e->enc, err, errcap);
}

static sutra_status open_cpu(sutra_embedder *e, char *err, size_t errcap) {
    const sutra_cpu_options o = {.threads = e->threads, .isa = e->cfg.cpu_isa, .profile = e->cfg.profile,
                                 .cpu_quota = e->cpu_quota};
    sutra_status st = sutra_cpu_backend_create(&o, &e->be, err, errcap);
    if (st) return st;
    e->cpu_isa = sutra_cpu_isa_name(sutra_cpu_backend_isa(e->be));
    snprintf(e->attention_kernels, sizeof e->attention_kernels, "standard flash");
    sutra_cpu_backend_describe(e->be, e->backend_settings, sizeof e->backend_settings);
    snprintf(e->compute_dtype, sizeof e->compute_dtype, "f32");
    return open_encoder(e, err, errcap);
}

sutra_status sutra_device_open(sutra_embedder *e, char *err, size_t errcap) {
    sutra_cpu_isa isa;
    sutra_status st = sutra_cpu_isa_resolve(e->cfg.cpu_isa, &isa);
    if (st == SUTRA_ERR_UNSUPPORTED)
        return sutra_errf(st, err, errcap, "cpu_isa %s: this CPU runs at most %s", sutra_cpu_isa_name(e->cfg.cpu_isa),
                          sutra_cpu_isa_name(sutra_cpu_isa_best()));
    e->cpu_isa = sutra_cpu_isa_name(isa);
    sutra_cpu_features_string(e->cpu_features, sizeof e->cpu_features);
#ifdef SUTRA_HAVE_CUDA
    if (e->cfg.device != SUTRA_DEVICE_CPU) {
        char why[512] = "";
        sutra_cuda_device_info gi;
        st = sutra_cuda_device_query(e->cfg.gpu_index, &gi, why, sizeof why);
        if (st == SUTRA_OK) {
            const sutra_cuda_options o = {
                .device = e->cfg.gpu_index,
                .bf16 = use_bf16(e),
                .graphs = switch_on(e->cfg.gpu_graphs) && !e->cfg.profile,
                .gemm = e->cfg.gpu_gemm,
                .flash_wgmma = switch_on(e->cfg.gpu_flash_wgmma),
                .fold = switch_on(e->cfg.gpu_layernorm_fold),
                .fold_min_tokens = e->cfg.gpu_fold_min_tokens,
                .profile = e->cfg.profile,
            };
            st = sutra_cuda_backend_create(&o, &e->be, why, sizeof why);
        }
        if (st == SUTRA_OK) {
            e->on_gpu = 1;
            snprintf(e->gpu_name, sizeof e->gpu_name, "%s", gi.name);
            e->gpu_cc_major = gi.cc_major;
            e->gpu_cc_minor = gi.cc_minor;
            snprintf(e->attention_kernels, sizeof e->attention_kernels, "standard");
            append_head_dims(e->attention_kernels, sizeof e->attention_kernels, "flash", gi.flash_head_dims_mask);
            append_head_dims(e->attention_kernels, sizeof e->attention_kernels, "flash-wgmma", gi.wgmma_head_dims_mask);
            st = open_encoder(e, why, sizeof why);
            if (st == SUTRA_OK) {
                sutra_cuda_backend_describe(e->be, e->backend_settings, sizeof e->backend_settings);
                return SUTRA_OK;
            }
            e->be->destroy(e->be);
            e->be = NULL;
            e->on_gpu = 0;
            e->gpu_name[0] = '\0';
            e->device_note[0] = '\0';
            /* the GPU lacks an op this model needs, or the memory for it: AUTO runs it on the CPU instead */
            if ((st != SUTRA_ERR_UNSUPPORTED && st != SUTRA_ERR_OUT_OF_MEMORY) || e->cfg.device == SUTRA_DEVICE_CUDA)
                return sutra_errf(st, err, errcap, "%s%s", e->cfg.device == SUTRA_DEVICE_CUDA ? "device cuda: " : "", why);
        } else if (e->cfg.device == SUTRA_DEVICE_CUDA) {
            return sutra_errf(st, err, errcap, "device cuda: %s", why);
        }
        snprintf(e->device_note, sizeof e->device_note, "running on the CPU: %.400s", why);
    }
#else
    if (e->cfg.device == SUTRA_DEVICE_CUDA)
        return sutra_errf(SUTRA_ERR_UNSUPPORTED, err, errcap, "device cuda: this build has no CUDA backend "
                                                              "(configure with -DSUTRA_CUDA=ON)");
#endif
    return open_cpu(e, err, errcap);
}

void sutra_device_attention_here(sutra_device device, int gpu_index, char *out, size_t cap) {
#ifdef SUTRA_HAVE_CUDA
    if (device != SUTRA_DEVICE_CPU) {
        sutra_cuda_device_info gi;
        char why[256];
        if (sutra_cuda_device_query(gpu_index, &gi, why, sizeof why) == SUTRA_OK) {
            snprintf(out, cap, "cuda: standard");
            append_head_dims(out, cap, "flash", gi.flash_head_dims_mask);
            append_head_dims(out, cap, "flash-wgmma", gi.wgmma_head_dims_mask);
            return;
        }
    }
#else
    (void)device, (void)gpu_index;
#endif
    snprintf(out, cap, "cpu: standard flash");
}

void sutra_device_memory(const sutra_embedder *e, size_t *held, size_t *peak) {
    *held = *peak = 0;
#ifdef SUTRA_HAVE_CUDA
    if (e->on_gpu) {
        *held = sutra_cuda_backend_held_bytes(e->be);
        *peak = sutra_cuda_backend_peak_bytes(e->be);
    }
#else
    (void)e;
#endif
}
