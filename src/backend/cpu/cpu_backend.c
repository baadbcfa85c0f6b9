/*
 * cpu_backend.c - the CPU backend: OpenBLAS and packed kernels for matrix products, the backend's
 * own thread pool (pool.h) for every parallel loop.
 *
 * Rules: activations are fp32 and live in one arena sized by reserve(); ops never allocate,
 * except the buffers made once at first use (packed weights for few-row products, the per-head
 * weight rows of the grouped layout). Every op runs with the backend's thread count and
 * instruction set, both passed down, nothing process-wide: OpenBLAS is called from this backend's
 * own pool, one block of a product per item (blas_product), so that OpenBLAS's own process-wide
 * thread count plays no part (blas_single_threaded says the one exception) and backends of
 * different settings run side by side.
 * Row-parallel loops cut T into contiguous ranges, about four per thread (sutra_pool_items),
 * taken by whichever thread is free.
 */
#include "backend/cpu/cpu_backend.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backend/cpu/attention.h"
#include "backend/cpu/attention_flash.h"
#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/elementwise.h"
#include "backend/cpu/gemm_small.h"
#include "backend/cpu/pool.h"
#include "backend/optimes.h"
#include "util/common.h"

/* The tuning of this backend, measured on the 2-core machine (docs/BENCHMARKS.md):
 *
 * CPU_FLASH_THRESHOLD: AUTO's default. The seed's premise (standard attention below 512 tokens)
 * did not hold here: the flash kernel was faster at every length measured; 512 is kept so that
 * short batches keep the BLAS path's exact summation order of the reference outputs. Where
 * OpenBLAS runs a core without the CPU's vectors (blas_is_slow), the standard path's products run
 * on that core and flash was 2.5-5x faster at every length (attn_cpu_bench on the Xeon VM: d 32,
 * 64, 128 at N = 16 x 32 .. 1024), so the default there is 0: flash always.
 *
 * CPU_LONG_INPUT_TOKENS: from this many tokens in a batch's longest sequence, the shared forward
 * runs grouped (transformer.c): about 2C floats of activations per token instead of 6C + F.
 * Measured on bert-base, 2 threads, against the all-at-once layout in alternating forwards of one
 * process: per-head keys and values in their own buffers make flash attention 9-15% faster,
 * which pays for the per-head projections and the chunked FFN (BLAS re-packs the weights for
 * every chunk) from 2048 tokens on (flash 1-4% faster at 2048-4096); the standard path gains
 * nothing from it and ran 3% slower at 2048 tokens, within 1% at 4096. One threshold serves both
 * paths, so that their memory is always compared in the same layout.
 *
 * CPU_FLASH_BLOCKS_PER_HEAD: flash attention spreads blocks of 64 queries over threads; a
 * 4096-token head gives 64, so one head per call keeps up to 64 threads busy. The standard path
 * spreads (sequence, head) pairs, so it takes as many heads per call as threads.
 *
 * CPU_CHUNK, CPU_FFN_CHUNK: rows per token-wise step in the grouped layout. BLAS packs the whole
 * weight matrix again for every chunk: the FFN's (F, C) products took 5% longer in 1024-row
 * chunks and 9% longer in 512-row chunks than over all 4096 rows. So the FFN takes up to 1024
 * rows (where its temporaries fit), the output projection, whose weight is 4x smaller, 512. */
#define CPU_FLASH_THRESHOLD 512
#define CPU_LONG_INPUT_TOKENS 4096
#define CPU_FLASH_BLOCKS_PER_HEAD 64
#define CPU_CHUNK 512
#define CPU_FFN_CHUNK 1024

/* Weights packed for the packed kernels, found by their address and shape (open addressing).
 * Weights are the backend's for its life (backend.h: weights_upload), so an address names one
 * matrix; the shape is part of the key all the same, so that a caller breaking that rule gets
 * a second packing rather than panels of another size. */
#define PACK_SLOTS 4096

typedef struct packed_slot {
    const float *w;
    int N, K;
    float *panels;
} packed_slot;

typedef struct cpu_ctx {
    sutra_pool *pool; /* its thread count is the backend's */
    sutra_cpu_isa isa;
    packed_slot *packed; /* PACK_SLOTS entries, made at first use */
    char *arena;
    size_t arena_cap, arena_used;
    void *attn_ws[2]; /* workspace per path (standard, flash) */
    size_t attn_ws_bytes[2];
    int std_max_seqlen, head_dim; /* what the workspaces were sized for */
    float *heads_pack; /* one head group's query, key and value weight rows, packed per call */
    size_t heads_pack_floats;
    int blas_slow;     /* 1: OpenBLAS runs a core without this ISA's vectors; products of any T run packed */
    sutra_optimes *prof; /* NULL unless profiling */
} cpu_ctx;

/* ---- profiling ------------------------------------------------------------------------------ */

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

/* Start of an op: its clock when profiling, else 0. */
static double op_start(const cpu_ctx *c) { return c->prof ? now_ms() : 0.0; }

/* End of an op begun at t0, named by fmt. */
static void op_end(cpu_ctx *c, double t0, const char *fmt, ...) SUTRA_PRINTF(3, 4);
static void op_end(cpu_ctx *c, double t0, const char *fmt, ...) {
    if (!c->prof) return;
    const double ms = now_ms() - t0;
    char name[sizeof c->prof->row[0].name];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    sutra_optimes_add(c->prof, sutra_optimes_slot(c->prof, name), ms);
}

static const char *act_name(sutra_act act) {
    return act == SUTRA_ACT_GELU ? " gelu" : act == SUTRA_ACT_GELU_TANH ? " gelu-tanh" : act == SUTRA_ACT_SILU ? " silu" : "";
}

/* ---- row-parallel loops ------------------------------------------------------------------- */

/* ROW_MIN: rows per item at least. The row ops cost about a microsecond per row of 384 floats, so
 * a batch of one short sentence runs on the caller alone and a batch of 32 in about eight items. */
#define ROW_MIN 32

typedef void (*rows_fn)(const void *ctx, int t0, int t1);

typedef struct rows_job {
    rows_fn fn;
    const void *ctx;
    int n, items;
} rows_job;

static void rows_item(void *arg, int item, int worker) {
    (void)worker;
    const rows_job *j = arg;
    int lo, hi;
    sutra_pool_range(j->n, j->items, item, &lo, &hi);
    j->fn(j->ctx, lo, hi);
}

/* fn(ctx, t0, t1) over [0, n) in ranges of at least min_rows rows. */
static void rows_parallel(const cpu_ctx *c, int n, int min_rows, rows_fn fn, const void *ctx) {
    rows_job j = {fn, ctx, n, sutra_pool_items(c->pool, n, min_rows)};
    sutra_pool_run(c->pool, j.items, rows_item, &j);
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

static sutra_status cpu_begin_batch(sutra_backend *be, const int32_t *ids, const int32_t *pos, const int32_t *types,
                                    const int32_t *cu, int T, int B, sutra_batch_io *io) {
    (void)be;
    (void)T;
    (void)B;
    *io = (sutra_batch_io){.ids = ids, .pos = pos, .types = types, .cu_seqlens = cu};
    return SUTRA_OK;
}

static sutra_status cpu_run(sutra_backend *be, uint64_t key, sutra_status (*fn)(void *ctx), void *ctx) {
    (void)be;
    (void)key;
    return fn(ctx);
}

/* out (C) = norm(x + res): LayerNorm through the row kernels (res may be NULL). */
/* out (C) = norm(x + res); res may be NULL. An RMSNorm's bias, if a family ever binds one, is added
 * after the scale. */
static void norm_row(const cpu_ctx *c, float *out, const float *x, const float *res, const sutra_norm *n, int C) {
    if (n->kind == SUTRA_NORM_LAYER) {
        sutra_add_layernorm_row(out, x, res, n->w, n->b, C, n->eps, c->isa);
        return;
    }
    sutra_add_rmsnorm_row(out, x, res, n->w, C, n->eps, c->isa);
    if (n->b)
        for (int i = 0; i < C; i++) out[i] += ((const float *)n->b)[i];
}

typedef struct embed_job {
    const cpu_ctx *c;
    float *out;
    const int32_t *ids, *pos, *types;
    const float *tok, *pos_tab, *type_tab;
    const sutra_norm *norm;
    int C, normed;
} embed_job;

static void embed_rows(const void *ctx, int t0, int t1) {
    const embed_job *j = ctx;
    const int C = j->C;
    for (int t = t0; t < t1; t++) {
        float *o = j->out + (size_t)t * C;
        const float *e = j->tok + (size_t)j->ids[t] * C;
        for (int i = 0; i < C; i++) o[i] = e[i];
        if (j->pos_tab) {
            const float *p = j->pos_tab + (size_t)j->pos[t] * C;
            for (int i = 0; i < C; i++) o[i] += p[i];
        }
        if (j->type_tab) {
            const float *y = j->type_tab + (size_t)(j->types ? j->types[t] : 0) * C;
            for (int i = 0; i < C; i++) o[i] += y[i];
        }
        if (j->normed) norm_row(j->c, o, o, NULL, j->norm, C);
    }
}

static void cpu_embed(sutra_backend *be, void *out_, const int32_t *ids, const int32_t *pos, const int32_t *types,
                      const void *tok_, const void *pos_tab_, const void *type_tab_, const sutra_norm *norm, int T,
                      int C) {
    cpu_ctx *c = be->ctx;
    const double t0 = op_start(c);
    const int normed = norm && norm->w;
    const embed_job j = {c, out_, ids, pos, types, tok_, pos_tab_, type_tab_, norm, C, normed};
    rows_parallel(c, T, ROW_MIN, embed_rows, &j);
    op_end(c, t0, "%s", normed ? (norm->kind == SUTRA_NORM_RMS ? "embed+RMS" : "embed+LN") : "embed");
}

/* The panels of w for the small-T kernel, packed the first time w is used with few rows; NULL
 * when memory or the table runs out (the caller then uses BLAS). */
static const float *packed_weights(cpu_ctx *c, const float *w, int N, int K) {
    if (!c->packed && !(c->packed = calloc(PACK_SLOTS, sizeof *c->packed))) return NULL;
    size_t h = ((uintptr_t)w >> 6) * 0x9E3779B97F4A7C15ull % PACK_SLOTS;
    for (int probe = 0; probe < 64; probe++, h = (h + 1) % PACK_SLOTS) {
        if (c->packed[h].w == w && c->packed[h].N == N && c->packed[h].K == K) return c->packed[h].panels;
        if (!c->packed[h].w) {
            float *p = sutra_gemm_pack(w, N, K);
            if (!p) return NULL;
            c->packed[h] = (packed_slot){w, N, K, p};
            return p;
        }
    }
    return NULL;
}

typedef struct blas_job {
    const cpu_ctx *c;
    float *out;
    int64_t ldo;
    const float *x, *w, *bias;
    int T, N, K, pt, rows, cols;
    sutra_act act;
} blas_job;

static void blas_block(void *arg, int item, int worker) {
    (void)worker;
    const blas_job *b = arg;
    const int i = item % b->pt, j = item / b->pt, T = b->T, N = b->N, K = b->K;
    const int t0 = i * b->rows, t1 = T - t0 < b->rows ? T : t0 + b->rows;
    const int n0 = j * b->cols, n1 = N - n0 < b->cols ? N : n0 + b->cols;
    if (t0 >= t1 || n0 >= n1) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t1 - t0, n1 - n0, K, 1.0f, b->x + (size_t)t0 * K, K,
                b->w + (size_t)n0 * K, K, 0.0f, b->out + (size_t)t0 * b->ldo + n0, (int)b->ldo);
    for (int t = t0; (b->bias || b->act != SUTRA_ACT_NONE) && t < t1; t++)
        sutra_bias_act_row(b->out + (size_t)t * b->ldo + n0, b->bias ? b->bias + n0 : NULL, n1 - n0, b->act, b->c->isa);
}

/* out (T, N; rows ldo apart) = act(x (T,K) @ w (N,K)^T + bias (N)) through OpenBLAS, in blocks run
 * by the backend's pool, each block's OpenBLAS call followed by its bias and activation while it
 * is warm. The blocks are pt row ranges times pn column ranges, pt * pn the thread count, chosen
 * so that what the blocks pack in all, pt times the weights and pn times the input, is least;
 * column ranges are whole vectors of 16 floats. Blocks are taken by whichever thread is free, so a
 * descheduled thread's block is taken by another if it has not begun. sutra_pool_run_blas keeps
 * OpenBLAS single-threaded inside the blocks. */
static void blas_product(const cpu_ctx *c, float *out, int64_t ldo, const float *x, const float *w,
                         const float *bias, int T, int N, int K, sutra_act act) {
    const int p = sutra_pool_threads(c->pool);
    int pn = 1;
    for (int d = 1; d <= p; d++) /* pt = p / d row ranges, d column ranges: pt N + d T floats packed per K */
        if (p % d == 0 && (double)(p / d) * N + (double)d * T < (double)(p / pn) * N + (double)pn * T) pn = d;
    const int pt = p / pn, rows = (T + pt - 1) / pt, cols = ((N + pn - 1) / pn + 15) / 16 * 16;
    blas_job b = {c, out, ldo, x, w, bias, T, N, K, pt, rows, cols, act};
    sutra_pool_run_blas(c->pool, pt * pn, blas_block, &b);
}

static void cpu_matmul(sutra_backend *be, void *out_, const void *inp, const void *w, const void *bias_,
                       int T, int N, int K, sutra_act act) {
    cpu_ctx *c = be->ctx;
    const double t0 = op_start(c);
    float *out = out_;
    const float *bias = bias_;
    const float *panels = T <= SUTRA_GEMM_SMALL_MAX_T || c->blas_slow ? packed_weights(c, w, N, K) : NULL;
    if (panels && T <= SUTRA_GEMM_SMALL_MAX_T) {
        sutra_gemm_small(out, inp, panels, bias, T, N, K, act, c->pool, c->isa);
    } else if (panels) {
        const sutra_gemm_seg seg = {.out = out, .ldo = N, .packed = panels, .bias = bias, .N = N, .act = act};
        sutra_gemm_rows(&seg, 1, inp, T, K, c->pool, c->isa);
    } else {
        blas_product(c, out, N, inp, w, bias, T, N, K, act);
    }
    op_end(c, t0, "matmul N %d K %d%s", N, K, act_name(act));
}

typedef struct add_norm_job {
    const cpu_ctx *c;
    float *sum, *out;
    const float *a, *b;
    const sutra_norm *norm;
    int C, normed;
} add_norm_job;

static void add_norm_rows(const void *ctx, int t0, int t1) {
    const add_norm_job *j = ctx;
    const int C = j->C;
    for (int t = t0; t < t1; t++) {
        const float *at = j->a + (size_t)t * C, *bt = j->b ? j->b + (size_t)t * C : NULL;
        if (j->sum) { /* the norm reads the stored sum */
            float *s = j->sum + (size_t)t * C;
            for (int i = 0; i < C; i++) s[i] = at[i] + (bt ? bt[i] : 0.0f);
            at = s;
            bt = NULL;
        }
        if (j->normed) norm_row(j->c, j->out + (size_t)t * C, at, bt, j->norm, C);
    }
}

static void cpu_add_norm(sutra_backend *be, void *sum_, void *out_, const void *a_, const void *b_,
                         const sutra_norm *norm, int T, int C) {
    cpu_ctx *c = be->ctx;
    const double t0 = op_start(c);
    float *sum = sum_, *out = out_;
    const float *b = b_;
    const int normed = out && norm && norm->w;
    const add_norm_job j = {c, sum, out, a_, b, norm, C, normed};
    rows_parallel(c, T, ROW_MIN, add_norm_rows, &j);
    const int rms = normed && norm->kind == SUTRA_NORM_RMS;
    op_end(c, t0, "%s", sum ? (normed ? (rms ? "residual+RMS" : "residual+LN") : "residual")
                            : b ? (rms ? "add+RMS" : "add+LN") : rms ? "RMS" : "LN");
}

/* Per-head norms (query/key norms): each of the T rows holds `heads` heads of D values from its
 * start, rows stride floats apart. */
typedef struct head_norm_job {
    const cpu_ctx *c;
    float *x;
    int64_t stride;
    int heads, D;
    const sutra_norm *norm;
} head_norm_job;

static void head_norm_rows(const void *ctx, int t0, int t1) {
    const head_norm_job *j = ctx;
    for (int t = t0; t < t1; t++)
        for (int h = 0; h < j->heads; h++) {
            float *v = j->x + (size_t)t * j->stride + (size_t)h * j->D;
            norm_row(j->c, v, v, NULL, j->norm, j->D);
        }
}

static void cpu_head_norm(sutra_backend *be, void *x_, int64_t stride, int T, int heads, int D, const sutra_norm *norm) {
    cpu_ctx *c = be->ctx;
    const double t0 = op_start(c);
    const head_norm_job j = {c, x_, stride, heads, D, norm};
    rows_parallel(c, T, ROW_MIN, head_norm_rows, &j);
    op_end(c, t0, "head %s", norm->kind == SUTRA_NORM_RMS ? "RMS" : "LN");
}

/* Rotary embedding as HF computes it in fp32: inv_freq_i = 1 / theta^(2i/D) rounded to float,
 * angle = float(pos) * inv_freq_i rounded to float, then cos/sin of that float. Matching those
 * roundings matters: at position 8192 one ulp of inv_freq moves the angle by ~2e-4 rad. */
typedef struct rope_job {
    float *x;
    int64_t stride;
    const int32_t *pos;
    int heads, D;
    float inv[512];
} rope_job;

static void rope_rows(const void *ctx, int t0, int t1) {
    const rope_job *j = ctx;
    const int half = j->D / 2;
    for (int t = t0; t < t1; t++) {
        float cs[512], sn[512];
        for (int i = 0; i < half; i++) {
            float a = (float)j->pos[t] * j->inv[i];
            cs[i] = (float)cos((double)a);
            sn[i] = (float)sin((double)a);
        }
        float *row = j->x + (size_t)t * j->stride;
        for (int h = 0; h < j->heads; h++) {
            float *v = row + (size_t)h * j->D;
            for (int i = 0; i < half; i++) {
                float x1 = v[i], x2 = v[i + half];
                v[i] = x1 * cs[i] - x2 * sn[i];
                v[i + half] = x2 * cs[i] + x1 * sn[i];
            }
        }
    }
}

static void cpu_rope(sutra_backend *be, void *x_, int64_t stride, const int32_t *pos, int T, int heads, int D,
                     float theta) {
    cpu_ctx *c = be->ctx;
    const double t0 = op_start(c);
    rope_job j = {x_, stride, pos, heads, D, {0}};
    const int half = D / 2;
    for (int i = 0; i < half && i < 512; i++) {
        float e = (float)(2 * i) / (float)D;
        j.inv[i] = 1.0f / (float)pow((double)theta, (double)e);
    }
    rows_parallel(c, T, ROW_MIN / 4, rope_rows, &j); /* a row's sines and cosines: heavier than a norm */
    op_end(c, t0, "rope");
}

typedef struct glu_job {
    float *out;
    const float *inp;
    int F;
    sutra_act act;
    sutra_cpu_isa isa;
} glu_job;

static void glu_rows(const void *ctx, int t0, int t1) {
    const glu_job *j = ctx;
    for (int t = t0; t < t1; t++)
        sutra_glu_row(j->out + (size_t)t * j->F, j->inp + (size_t)t * 2 * j->F, j->F, j->act, j->isa);
}

static void cpu_glu(sutra_backend *be, void *out_, const void *inp_, int T, int F, sutra_act act) {
    cpu_ctx *c = be->ctx;
    const double t0 = op_start(c);
    const glu_job j = {out_, inp_, F, act, c->isa};
    rows_parallel(c, T, ROW_MIN / 4, glu_rows, &j); /* F is several times C */
    op_end(c, t0, "glu");
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
                              const sutra_linear *qkv, int T, int C, int D, int H, int Hkv, int h0, int g) {
    cpu_ctx *c = be->ctx;
    const double t0 = op_start(c);
    const float *w = qkv->w, *bias = qkv->b;
    const int r = H / Hkv, kv0 = h0 / r, nq = g * D, nkv = g / r * D;
    float *dst[3] = {q, k, v};
    const int64_t ld[3] = {ldq, ldkv, ldkv};
    const int n[3] = {nq, nkv, nkv};
    const size_t row0[3] = {(size_t)h0 * D, (size_t)(H + kv0) * D, (size_t)(H + Hkv + kv0) * D};
    const size_t per = sutra_gemm_packed_floats(nq, C); /* the widest of the three */
    if (3 * per > c->heads_pack_floats) {
        free(c->heads_pack);
        c->heads_pack = sutra_alloc64(3 * per * sizeof(float));
        c->heads_pack_floats = c->heads_pack ? 3 * per : 0;
    }
    sutra_gemm_seg seg[3];
    for (int s = 0; s < 3; s++) {
        const float *b = bias ? bias + row0[s] : NULL;
        if (!c->heads_pack) {
            blas_product(c, dst[s], ld[s], x, w + row0[s] * C, b, T, n[s], C, SUTRA_ACT_NONE);
            continue;
        }
        sutra_gemm_pack_into(c->heads_pack + s * per, w + row0[s] * C, n[s], C, c->pool);
        seg[s] = (sutra_gemm_seg){.out = dst[s], .ldo = ld[s], .packed = c->heads_pack + s * per, .bias = b, .N = n[s]};
    }
    if (c->heads_pack) sutra_gemm_rows(seg, 3, x, T, C, c->pool, c->isa);
    op_end(c, t0, "project heads");
}

static sutra_status cpu_attention(sutra_backend *be, const sutra_attn_params *p, sutra_attn_path path) {
    cpu_ctx *c = be->ctx;
    const double t0 = op_start(c);
    sutra_status st = sutra_cpu_attention(p, path, c->pool, c->attn_ws[path], c->attn_ws_bytes[path], c->isa);
    if (p) op_end(c, t0, "attention %s d %d", path == SUTRA_ATTN_FLASH ? "flash" : "standard", p->head_dim);
    return st;
}

typedef struct pool_job {
    float *out;
    const float *inp;
    const int32_t *cu;
    int C;
    sutra_pooling mode;
} pool_job;

static void pool_rows(const void *ctx, int b0, int b1) {
    const pool_job *j = ctx;
    const float *inp = j->inp;
    const int32_t *cu = j->cu;
    const int C = j->C;
    for (int b = b0; b < b1; b++) {
        float *o = j->out + (size_t)b * C;
        int s0 = cu[b], s1 = cu[b + 1], n = s1 - s0;
        switch (j->mode) {
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
}

static sutra_status cpu_pool(sutra_backend *be, float *out, const void *inp_, const int32_t *cu,
                             const int32_t *host_cu, int B, int C, sutra_pooling mode) {
    (void)host_cu;
    cpu_ctx *c = be->ctx;
    const double t0 = op_start(c);
    const pool_job j = {out, inp_, cu, C, mode};
    rows_parallel(c, B, 4, pool_rows, &j);
    op_end(c, t0, "pool");
    return SUTRA_OK;
}

static int cpu_supports(const sutra_backend *be, const sutra_op_query *q) {
    const cpu_ctx *c = be->ctx;
    switch (q->op) {
    case SUTRA_OP_ATTENTION: {
        const sutra_attn_params *p = q->attn;
        if (!p || p->head_dim < 1) return 0;
        if (p->kv_heads && (p->kv_heads < 1 || p->heads % p->kv_heads)) return 0;
        if (q->path == SUTRA_ATTN_FLASH) return p->head_dim <= SUTRA_CPU_FLASH_MAX_HEAD_DIM;
        /* the standard path's scores need room for the longest sequence, once reserve() sized it */
        return !c->arena || (c->std_max_seqlen > 0 && p->max_seqlen <= c->std_max_seqlen && p->head_dim == c->head_dim);
    }
    case SUTRA_OP_NORM:
    case SUTRA_OP_HEAD_NORM: return q->norm == SUTRA_NORM_LAYER || q->norm == SUTRA_NORM_RMS;
    case SUTRA_OP_ROPE: return q->head_dim >= 2 && q->head_dim % 2 == 0 && q->head_dim <= 1024; /* cpu_rope's tables */
    case SUTRA_OP_PROJECT_HEADS:
    case SUTRA_OP_EMBED_PLAIN:
    case SUTRA_OP_ADD: return 1;
    case SUTRA_OP_GLU:
    case SUTRA_OP_ACT:
        return q->act == SUTRA_ACT_NONE || q->act == SUTRA_ACT_GELU || q->act == SUTRA_ACT_GELU_TANH ||
               q->act == SUTRA_ACT_SILU;
    default: return 0;
    }
}

/* The grouped layout for batches whose longest sequence is long (see CPU_LONG_INPUT_TOKENS). */
static void cpu_layout(const sutra_backend *be, const sutra_net_shape *shape, int T, int max_seqlen,
                       sutra_attn_path path, sutra_layout *out) {
    const cpu_ctx *c = be->ctx;
    (void)shape;
    (void)T;
    *out = (sutra_layout){0, 0, 0};
    if (max_seqlen < CPU_LONG_INPUT_TOKENS) return;
    const int threads = sutra_pool_threads(c->pool);
    out->head_group = path == SUTRA_ATTN_FLASH ? (threads + CPU_FLASH_BLOCKS_PER_HEAD - 1) / CPU_FLASH_BLOCKS_PER_HEAD
                                               : threads;
    out->row_chunk = CPU_CHUNK;
    out->ffn_chunk = CPU_FFN_CHUNK;
}

static size_t cpu_op_times(sutra_backend *be, sutra_op_time *out, size_t cap, int reset) {
    cpu_ctx *c = be->ctx;
    if (!c->prof) return 0;
    const size_t n = sutra_optimes_export(c->prof, out, cap);
    if (reset) sutra_optimes_reset(c->prof);
    return n;
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

static sutra_status cpu_reserve(sutra_backend *be, size_t arena_bytes, int std_max_seqlen, int head_dim, char *err,
                                size_t errcap) {
    cpu_ctx *c = be->ctx;
    if (c->arena) return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "cpu backend: memory already reserved");
    if (std_max_seqlen < 0 || head_dim < 1)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "cpu backend: std_max_seqlen %d, head_dim %d",
                          std_max_seqlen, head_dim);
    c->arena_cap = (arena_bytes + 63) & ~(size_t)63;
    if (!(c->arena = sutra_alloc64(c->arena_cap ? c->arena_cap : 64)))
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cpu backend: cannot allocate %zu-byte arena", arena_bytes);
    c->std_max_seqlen = std_max_seqlen;
    c->head_dim = head_dim;
    for (int path = 0; path < 2; path++) {
        const int len = path == SUTRA_ATTN_STANDARD ? std_max_seqlen : 1; /* flash: independent of length */
        size_t n = sutra_cpu_attention_workspace((sutra_attn_path)path, len, head_dim, sutra_pool_threads(c->pool));
        c->attn_ws_bytes[path] = n;
        if (n && !(c->attn_ws[path] = sutra_alloc64(n)))
            return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cpu backend: cannot allocate %zu bytes of %s "
                              "attention workspace", n, path ? "flash" : "standard");
    }
    return SUTRA_OK;
}

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
        free(c->prof);
        sutra_pool_destroy(c->pool);
        free(c);
    }
    free(be);
}

sutra_cpu_isa sutra_cpu_backend_isa(const sutra_backend *be) { return ((const cpu_ctx *)be->ctx)->isa; }

void sutra_cpu_backend_describe(const sutra_backend *be, char *buf, size_t cap) {
    const cpu_ctx *c = be->ctx;
    const char *core = openblas_get_corename();
    if (c->blas_slow)
        snprintf(buf, cap, "products: packed %s kernels at every size (OpenBLAS runs its %s core)",
                 sutra_cpu_isa_name(c->isa), core ? core : "unknown");
    else
        snprintf(buf, cap, "products: packed %s kernels up to %d rows, OpenBLAS (%s) above", sutra_cpu_isa_name(c->isa),
                 SUTRA_GEMM_SMALL_MAX_T, core ? core : "unknown");
}

/* OpenBLAS keeps one thread count per process. Its OpenMP build takes the count from the calling
 * thread's OpenMP setting instead, which is 1 on every thread of the pool while it calls OpenBLAS
 * (sutra_pool_run_blas), so nothing process-wide is touched. An OpenBLAS built with pthreads cannot
 * see that and would start its own threads under each of ours: for it the count is set to 1 once, at create, under a lock so that no two of
 * Sutra's backends change it at once. It then stays 1, which is what every call of Sutra's wants (a
 * program that uses that build's own threading beside Sutra sets its count back with
 * openblas_set_num_threads). A serial build needs nothing. */
static void blas_single_threaded(void) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (openblas_get_parallel() != 1) return; /* 0: serial, 2: OpenMP */
    pthread_mutex_lock(&lock);
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    pthread_mutex_unlock(&lock);
}

/* 1 if the OpenBLAS loaded runs a core whose kernels lack the vectors of isa: DYNAMIC_ARCH builds
 * pick their kernels by CPU model, and a model they do not know gets a generic core (Debian 12's
 * 0.3.21 runs this project's Xeon VMs as "Prescott", SSE3 only, 4-5x slower than the packed
 * kernels; gemm_small.h has the numbers). The cores named here have AVX2 kernels or better. */
static int blas_is_slow(sutra_cpu_isa isa) {
    static const char *const vector_cores[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"};
    if (isa == SUTRA_CPU_ISA_SCALAR) return 0;
    const char *core = openblas_get_corename();
    for (size_t i = 0; core && i < sizeof vector_cores / sizeof vector_cores[0]; i++)
        if (!strcasecmp(core, vector_cores[i])) return 0;
    return 1;
}

sutra_status sutra_cpu_backend_create(const sutra_cpu_options *opt, sutra_backend **out, char *err, size_t errcap) {
    *out = NULL;
    if (!opt || opt->threads <= 0)
        return sutra_errf(SUTRA_ERR_INVALID_ARGUMENT, err, errcap, "cpu backend: threads must be at least 1");
    sutra_cpu_isa isa;
    sutra_status st = sutra_cpu_isa_resolve(opt->isa, &isa);
    if (st == SUTRA_ERR_UNSUPPORTED)
        return sutra_errf(st, err, errcap, "cpu_isa %s: this CPU runs at most %s", sutra_cpu_isa_name(opt->isa),
                          sutra_cpu_isa_name(sutra_cpu_isa_best()));
    if (st) return sutra_errf(st, err, errcap, "cpu_isa %d is not an instruction set", (int)opt->isa);
    sutra_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c || (opt->profile && !(c->prof = calloc(1, sizeof *c->prof)))) {
        free(be);
        if (c) free(c->prof);
        free(c);
        return sutra_errf(SUTRA_ERR_OUT_OF_MEMORY, err, errcap, "cpu backend: out of memory");
    }
    st = sutra_pool_create(opt->threads, &c->pool, err, errcap);
    if (st) {
        free(c->prof);
        free(c);
        free(be);
        return st;
    }
    sutra_pool_short_spins(c->pool, opt->cpu_quota);
    c->isa = isa;
    c->blas_slow = blas_is_slow(isa);
    blas_single_threaded();
    be->name = "cpu";
    be->ctx = c;
    be->act_bytes = sizeof(float);
    be->default_flash_threshold = c->blas_slow ? 0 : CPU_FLASH_THRESHOLD;
    be->supports = cpu_supports;
    be->reserve = cpu_reserve;
    be->weights_reserve = cpu_weights_reserve;
    be->weights_upload = cpu_weights_upload;
    be->begin_batch = cpu_begin_batch;
    be->run = cpu_run;
    be->embed = cpu_embed;
    be->matmul = cpu_matmul;
    be->add_norm = cpu_add_norm;
    be->rope = cpu_rope;
    be->head_norm = cpu_head_norm;
    be->glu = cpu_glu;
    be->download = cpu_download;
    be->project_heads = cpu_project_heads;
    be->attention = cpu_attention;
    be->pool = cpu_pool;
    be->arena_alloc = cpu_arena_alloc;
    be->arena_reset = cpu_arena_reset;
    be->layout = cpu_layout;
    be->op_times = cpu_op_times;
    be->destroy = cpu_destroy;
    *out = be;
    return SUTRA_OK;
}
