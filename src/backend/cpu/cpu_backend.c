/*
 * cpu_backend.c - the CPU backend: OpenBLAS for matrix products, OpenMP for everything else.
 *
 * Rules: activations are fp32 and live in one arena allocated at create time; ops never
 * allocate, except the buffers made once at first use (packed weights for few-row products, the
 * per-head weight rows of the long-input layout). Threads are set once per op (OpenBLAS and
 * OpenMP both honour the configured count), and row-parallel loops split T across threads in
 * contiguous chunks.
 */
#include "backend/cpu/cpu_backend.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/attention.h"
#include "backend/cpu/elementwise.h"
#include "backend/cpu/gemm_small.h"
#include "util/common.h"

/* From this many tokens in a sequence, architectures use the long-input layout (backend.h):
 * about 2C floats of activations per token instead of 6C + F. Measured on bert-base, 2 threads,
 * against the plain layout in alternating forwards of one process: per-head keys and values in
 * their own buffers make flash attention 9-15% faster, which pays for the per-head projections
 * and the chunked FFN (BLAS re-packs the weights for every chunk) from 2048 tokens on (flash
 * 1-4% faster at 2048-4096); the standard path gains nothing from it and ran 3% slower at 2048
 * tokens, within 1% at 4096. One threshold serves both paths, so that their memory is always
 * compared in the same layout. */
#define CPU_LONG_INPUT_TOKENS 4096
/* Flash attention spreads blocks of 64 queries over threads: a 4096-token head gives 64, so one
 * head per call keeps up to 64 threads busy. */
#define CPU_FLASH_BLOCKS_PER_HEAD 64

/* Weights packed for the small-T kernel, found by their address (open addressing). */
#define PACK_SLOTS 4096

typedef struct packed_slot {
    const float *w;
    float *panels;
} packed_slot;

typedef struct cpu_ctx {
    int threads;
    packed_slot *packed; /* PACK_SLOTS entries, made at first use */
    char *arena;
    size_t arena_cap, arena_used;
    void *attn_ws[2]; /* workspace per path (standard, flash) */
    size_t attn_ws_bytes[2];
    float *heads_pack; /* one head group's query, key and value weight rows, packed per call */
    size_t heads_pack_floats;
} cpu_ctx;

/* ---- features --------------------------------------------------------------------------- */

const char *sutra_cpu_features(void) {
    static char buf[160];
    buf[0] = '\0';
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) strcat(buf, "avx512f ");
    if (__builtin_cpu_supports("avx512bw")) strcat(buf, "avx512bw ");
    if (__builtin_cpu_supports("avx512vnni")) strcat(buf, "avx512vnni ");
    if (__builtin_cpu_supports("avx512bf16")) strcat(buf, "avx512bf16 ");
    if (__builtin_cpu_supports("avx2")) strcat(buf, "avx2 ");
    if (__builtin_cpu_supports("fma")) strcat(buf, "fma ");
    size_t n = strlen(buf);
    if (n) buf[n - 1] = '\0';
    else strcpy(buf, "baseline");
    return buf;
}

/* ---- ops -------------------------------------------------------------------------------- */

static sutra_status cpu_weights_reserve(sutra_backend *be, size_t floats) {
    (void)be;
    (void)floats;
    return SUTRA_OK;
}

/* fp32 weights are used where they are: mapped from the file or in the encoder's slab. */
static const void *cpu_weights_upload(sutra_backend *be, const float *host, size_t n) {
    (void)be;
    (void)n;
    return host;
}

static sutra_status cpu_begin_batch(sutra_backend *be, const int32_t *ids, const int32_t *pos, const int32_t *cu,
                                    int T, int B, sutra_batch_io *io) {
    (void)be;
    (void)T;
    (void)B;
    *io = (sutra_batch_io){.ids = ids, .pos = pos, .cu_seqlens = cu};
    return SUTRA_OK;
}

static sutra_status cpu_run(sutra_backend *be, uint64_t key, sutra_status (*fn)(void *ctx), void *ctx) {
    (void)be;
    (void)key;
    return fn(ctx);
}

static void cpu_embed_layernorm(sutra_backend *be, void *out_, const int32_t *ids, const int32_t *pos,
                                const void *wte_, const void *wpe_, const void *wtt_, const void *ln_w,
                                const void *ln_b, int T, int C, float eps) {
    cpu_ctx *c = be->ctx;
    float *out = out_;
    const float *wte = wte_, *wpe = wpe_, *wtt = wtt_;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * C;
        const float *e = wte + (size_t)ids[t] * C;
        for (int i = 0; i < C; i++) o[i] = e[i];
        if (wpe) {
            const float *p = wpe + (size_t)pos[t] * C;
            for (int i = 0; i < C; i++) o[i] += p[i];
        }
        if (wtt) {
            const float *y = wtt; /* token type 0: single-segment inputs */
            for (int i = 0; i < C; i++) o[i] += y[i];
        }
        sutra_add_layernorm_row(o, o, NULL, ln_w, ln_b, C, eps);
    }
}

/* The panels of w for the small-T kernel, packed the first time w is used with few rows; NULL
 * when memory or the table runs out (the caller then uses BLAS). */
static const float *packed_weights(cpu_ctx *c, const float *w, int N, int K) {
    if (!c->packed && !(c->packed = calloc(PACK_SLOTS, sizeof *c->packed))) return NULL;
    size_t h = ((uintptr_t)w >> 6) * 0x9E3779B97F4A7C15ull % PACK_SLOTS;
    for (int probe = 0; probe < 64; probe++, h = (h + 1) % PACK_SLOTS) {
        if (c->packed[h].w == w) return c->packed[h].panels;
        if (!c->packed[h].w) {
            float *p = sutra_gemm_pack(w, N, K);
            if (!p) return NULL;
            c->packed[h] = (packed_slot){w, p};
            return p;
        }
    }
    return NULL;
}

static void cpu_matmul(sutra_backend *be, void *out_, const void *inp, const void *w, const void *bias_,
                       int T, int N, int K, sutra_act act) {
    cpu_ctx *c = be->ctx;
    float *out = out_;
    const float *bias = bias_;
    const float *panels = T <= SUTRA_GEMM_SMALL_MAX_T ? packed_weights(c, w, N, K) : NULL;
    if (panels) {
        sutra_gemm_small(out, inp, panels, bias, T, N, K, act, c->threads);
        return;
    }
    openblas_set_num_threads(c->threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, inp, K, w, K, 0.0f, out, N);
    if (!bias && act == SUTRA_ACT_NONE) return;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int t = 0; t < T; t++) sutra_bias_act_row(out + (size_t)t * N, bias, N, act);
}

static void cpu_add_layernorm(sutra_backend *be, void *out_, const void *inp_, const void *res_,
                              const void *w, const void *b, int T, int C, float eps) {
    cpu_ctx *c = be->ctx;
    float *out = out_;
    const float *inp = inp_, *res = res_;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int t = 0; t < T; t++)
        sutra_add_layernorm_row(out + (size_t)t * C, inp + (size_t)t * C, res ? res + (size_t)t * C : NULL, w, b, C, eps);
}

static void cpu_residual_layernorm(sutra_backend *be, void *sum_, void *norm_, const void *x_, const void *res_,
                                   const void *w, const void *b, int T, int C, float eps) {
    cpu_ctx *c = be->ctx;
    float *sum = sum_, *norm = norm_;
    const float *x = x_, *res = res_;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int t = 0; t < T; t++) {
        float *s = sum + (size_t)t * C;
        for (int i = 0; i < C; i++) s[i] = x[(size_t)t * C + i] + res[(size_t)t * C + i];
        sutra_add_layernorm_row(norm + (size_t)t * C, s, NULL, w, b, C, eps);
    }
}

/* Rotary embedding as HF computes it in fp32: inv_freq_i = 1 / theta^(2i/D) rounded to float,
 * angle = float(pos) * inv_freq_i rounded to float, then cos/sin of that float. Matching those
 * roundings matters: at position 8192 one ulp of inv_freq moves the angle by ~2e-4 rad. */
static void cpu_rope(sutra_backend *be, void *qkv_, const int32_t *pos, int T, int H, int D, int64_t stride,
                     float theta) {
    cpu_ctx *c = be->ctx;
    float *qkv = qkv_;
    const int half = D / 2;
    float inv[512];
    for (int i = 0; i < half && i < 512; i++) {
        float e = (float)(2 * i) / (float)D;
        inv[i] = 1.0f / (float)pow((double)theta, (double)e);
    }
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int t = 0; t < T; t++) {
        float cs[512], sn[512];
        for (int i = 0; i < half; i++) {
            float a = (float)pos[t] * inv[i];
            cs[i] = (float)cos((double)a);
            sn[i] = (float)sin((double)a);
        }
        float *row = qkv + (size_t)t * stride;
        for (int h = 0; h < 2 * H; h++) { /* query heads, then key heads */
            float *v = row + (size_t)h * D;
            for (int i = 0; i < half; i++) {
                float x1 = v[i], x2 = v[i + half];
                v[i] = x1 * cs[i] - x2 * sn[i];
                v[i + half] = x2 * cs[i] + x1 * sn[i];
            }
        }
    }
}

static void cpu_glu(sutra_backend *be, void *out_, const void *inp_, int T, int F, sutra_act act) {
    cpu_ctx *c = be->ctx;
    float *out = out_;
    const float *inp = inp_;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int t = 0; t < T; t++) sutra_glu_row(out + (size_t)t * F, inp + (size_t)t * 2 * F, F, act);
}

static sutra_status cpu_download(sutra_backend *be, float *host, const void *src, size_t n) {
    (void)be;
    memcpy(host, src, n * sizeof(float));
    return SUTRA_OK;
}

/* See project_heads in backend.h. The weight rows are packed on every call (576 KiB for one
 * bert-base head, well under a millisecond) into a buffer made at first use, so that a process
 * that only embeds long inputs keeps no packed copy of the weights; without that buffer, BLAS. */
static void cpu_project_heads(sutra_backend *be, void *q, int64_t ldq, void *k, void *v, int64_t ldkv, const void *x,
                              const void *wqkv_, const void *bqkv_, int T, int C, int D, int h0, int g) {
    cpu_ctx *c = be->ctx;
    const float *wqkv = wqkv_, *bqkv = bqkv_;
    const int n = g * D;
    float *dst[3] = {q, k, v};
    const int64_t ld[3] = {ldq, ldkv, ldkv};
    const size_t per = sutra_gemm_packed_floats(n, C);
    if (3 * per > c->heads_pack_floats) {
        free(c->heads_pack);
        c->heads_pack = sutra_alloc64(3 * per * sizeof(float));
        c->heads_pack_floats = c->heads_pack ? 3 * per : 0;
    }
    sutra_gemm_seg seg[3];
    for (int s = 0; s < 3; s++) {
        const size_t row0 = (size_t)s * C + (size_t)h0 * D; /* first weight row of this block */
        const float *b = bqkv ? bqkv + row0 : NULL;
        if (!c->heads_pack) {
            openblas_set_num_threads(c->threads);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n, C, 1.0f, x, C, wqkv + row0 * C, C, 0.0f,
                        dst[s], (int)ld[s]);
            if (b) {
#pragma omp parallel for num_threads(c->threads) schedule(static)
                for (int t = 0; t < T; t++) sutra_bias_act_row(dst[s] + t * ld[s], b, n, SUTRA_ACT_NONE);
            }
            continue;
        }
        sutra_gemm_pack_into(c->heads_pack + s * per, wqkv + row0 * C, n, C, c->threads);
        seg[s] = (sutra_gemm_seg){.out = dst[s], .ldo = ld[s], .packed = c->heads_pack + s * per, .bias = b, .N = n};
    }
    if (c->heads_pack) sutra_gemm_rows(seg, 3, x, T, C, c->threads);
}

static sutra_status cpu_attention(sutra_backend *be, const sutra_attn_params *p, sutra_attn_path path) {
    cpu_ctx *c = be->ctx;
    return sutra_cpu_attention(p, path, c->threads, c->attn_ws[path], c->attn_ws_bytes[path]);
}

static sutra_status cpu_pool(sutra_backend *be, float *out, const void *inp_, const int32_t *cu,
                             const int32_t *host_cu, int B, int C, sutra_pooling mode) {
    (void)host_cu;
    cpu_ctx *c = be->ctx;
    const float *inp = inp_;
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * C;
        int s0 = cu[b], s1 = cu[b + 1], n = s1 - s0;
        switch (mode) {
        case SUTRA_POOLING_CLS:
            memcpy(o, inp + (size_t)s0 * C, (size_t)C * sizeof(float));
            break;
        case SUTRA_POOLING_LAST:
            memcpy(o, inp + (size_t)(s1 - 1) * C, (size_t)C * sizeof(float));
            break;
        case SUTRA_POOLING_MAX:
            memcpy(o, inp + (size_t)s0 * C, (size_t)C * sizeof(float));
            for (int t = s0 + 1; t < s1; t++)
                for (int i = 0; i < C; i++) o[i] = fmaxf(o[i], inp[(size_t)t * C + i]);
            break;
        default: /* mean, accumulated in double so that the result does not depend on n's size */
            for (int i = 0; i < C; i++) {
                double s = 0.0;
                for (int t = s0; t < s1; t++) s += inp[(size_t)t * C + i];
                o[i] = (float)(s / (double)n);
            }
            break;
        }
    }
    return SUTRA_OK;
}

static int cpu_supports(const sutra_backend *be, sutra_backend_op op, int head_dim) {
    (void)be;
    (void)op;
    return head_dim > 0 && head_dim <= 256;
}


/* Arena allocations are 64-byte aligned so that every buffer starts on a cache line. */
static void *cpu_arena_alloc(sutra_backend *be, size_t bytes) {
    cpu_ctx *c = be->ctx;
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need > c->arena_cap - c->arena_used) return NULL;
    void *p = c->arena + c->arena_used;
    c->arena_used += need;
    return p;
}

static void cpu_arena_reset(sutra_backend *be) { ((cpu_ctx *)be->ctx)->arena_used = 0; }

static void cpu_destroy(sutra_backend *be) {
    if (!be) return;
    cpu_ctx *c = be->ctx;
    if (c) {
        for (int i = 0; c->packed && i < PACK_SLOTS; i++) free(c->packed[i].panels);
        free(c->packed);
        free(c->arena);
        free(c->attn_ws[0]);
        free(c->attn_ws[1]);
        free(c->heads_pack);
        free(c);
    }
    free(be);
}

sutra_status sutra_cpu_backend_create(int threads, size_t arena_bytes, int max_seqlen, int head_dim,
                                      sutra_backend **out, char *err, size_t errcap) {
    *out = NULL;
    if (threads <= 0 || max_seqlen <= 0 || head_dim <= 0)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "cpu backend: bad sizes");
    sutra_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cpu backend: out of memory");
    }
    be->name = "cpu";
    be->ctx = c;
    be->act_bytes = sizeof(float);
    be->supports = cpu_supports;
    be->weights_reserve = cpu_weights_reserve;
    be->weights_upload = cpu_weights_upload;
    be->begin_batch = cpu_begin_batch;
    be->run = cpu_run;
    be->embed_layernorm = cpu_embed_layernorm;
    be->matmul = cpu_matmul;
    be->add_layernorm = cpu_add_layernorm;
    be->attention = cpu_attention;
    be->long_input_tokens = CPU_LONG_INPUT_TOKENS;
    be->long_input_heads[SUTRA_ATTN_STANDARD] = threads;
    be->long_input_heads[SUTRA_ATTN_FLASH] = (threads + CPU_FLASH_BLOCKS_PER_HEAD - 1) / CPU_FLASH_BLOCKS_PER_HEAD;
    be->project_heads = cpu_project_heads;
    be->residual_layernorm = cpu_residual_layernorm;
    be->rope = cpu_rope;
    be->glu = cpu_glu;
    be->download = cpu_download;
    be->pool = cpu_pool;
    be->arena_alloc = cpu_arena_alloc;
    be->arena_reset = cpu_arena_reset;
    be->destroy = cpu_destroy;
    c->threads = threads;
    c->arena_cap = (arena_bytes + 63) & ~(size_t)63;
    if (!(c->arena = sutra_alloc64(c->arena_cap))) {
        cpu_destroy(be);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cpu backend: cannot allocate %zu-byte arena", arena_bytes);
    }
    for (int path = 0; path < 2; path++) {
        size_t n = sutra_cpu_attention_workspace((sutra_attn_path)path, max_seqlen, head_dim, threads);
        c->attn_ws_bytes[path] = n;
        if (n && !(c->attn_ws[path] = sutra_alloc64(n))) {
            cpu_destroy(be);
            return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cpu backend: cannot allocate %zu bytes of %s attention "
                              "workspace", n, path ? "flash" : "standard");
        }
    }
    *out = be;
    return SUTRA_OK;
}
