/*
 * backend.h - the one op interface that architectures call and backends (cpu, cuda) implement.
 *
 * Dimension letters, used in every shape comment below and in the backends:
 *   T = tokens in a packed batch (all sequences end to end, no padding)
 *   B = sequences in the batch, with cu_seqlens (B+1 offsets into T)
 *   C = hidden size, H = attention heads, D = head dim (C = H*D), F = feed-forward size
 *
 * Rules: ops write outputs first, then read inputs, then weights, then take sizes. Activation
 * pointers hold the backend's activation type (float on the CPU); they come from the backend's
 * arena and weights from its weight slab, so no op allocates. An op that cannot run reports it
 * through supports(), never by failing half-way.
 */
#ifndef SUTRA_BACKEND_H
#define SUTRA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "sutra.h"

typedef enum sutra_act {
    SUTRA_ACT_NONE = 0,
    SUTRA_ACT_GELU = 1,      /* exact erf GELU, as BERT's "gelu" */
    SUTRA_ACT_GELU_TANH = 2, /* tanh approximation ("gelu_new", "gelu_pytorch_tanh") */
} sutra_act;

typedef enum sutra_attn_path {
    SUTRA_ATTN_STANDARD = 0, /* scores materialised per (sequence, head): O(N^2) workspace */
    SUTRA_ATTN_FLASH = 1,    /* tiled, online softmax: O(N) workspace */
} sutra_attn_path;

/* Packed variable-length, non-causal multi-head attention:
 *   out[t, h, :] = softmax(scale * q[t,h,:] . k[s,h,:] over s in t's sequence (and window)) @ v
 * q, k, v may point into one fused (T, 3C) buffer, hence the row strides. */
typedef struct sutra_attn_params {
    const void *q;         /* (T, H, D) with row stride q_stride elements */
    const void *k;         /* (T, H, D) with row stride k_stride */
    const void *v;         /* (T, H, D) with row stride v_stride */
    void *out;             /* (T, H, D) with row stride o_stride */
    int64_t q_stride, k_stride, v_stride, o_stride;
    const int32_t *cu_seqlens; /* (B+1), cu_seqlens[0] = 0, cu_seqlens[B] = T; host memory on the CPU */
    int batch;                 /* B */
    int max_seqlen;            /* longest sequence in the batch */
    int heads;                 /* H */
    int head_dim;              /* D */
    float scale;               /* usually 1/sqrt(D) */
    int window_left;           /* key j is visible from query i if i - j <= window_left (-1: no limit) */
    int window_right;          /* ... and j - i <= window_right (-1: no limit) */
} sutra_attn_params;

/* Rows and floats of a LayerNorm-folding statistics buffer (ln_fold_tokens below) for T rows of
 * width C: mu and r per row, then the per-row partial sums a backend may accumulate over column
 * tiles of 128. */
#define SUTRA_LN_STATS_ROWS(T) (((size_t)(T) + 127) / 128 * 128)
#define SUTRA_LN_STATS_FLOATS(T, C) (SUTRA_LN_STATS_ROWS(T) * (2 + 2 * (((size_t)(C) + 127) / 128)))

/* A backend: a table of ops plus its private state. An architecture drives it like this:
 *
 *   weights_reserve(total floats); p = weights_upload(host fp32 tensor)   once, at load
 *   begin_batch(host ids, positions, cu_seqlens) -> io (backend-side copies)   per batch
 *   arena_reset(); arena_alloc(...)                 activation buffers, same sequence every time
 *   run(key, fn, ctx): fn issues the ops of the forward pass; a backend may record them once per
 *                      key as a replayable graph (CUDA graphs) and replay it for the same key
 *   pool(host out, ...)                             results back to the host
 *
 * Ops are asynchronous on a GPU; a failure inside an op is remembered and reported by run() or
 * pool(). Pointers to activations and weights are the backend's own (device memory on a GPU),
 * holding act_bytes-sized elements (fp32 on the CPU, fp16/bf16 on a GPU). */
typedef struct sutra_backend sutra_backend;

typedef enum sutra_backend_op {
    SUTRA_OP_ATTENTION_STANDARD = 0,
    SUTRA_OP_ATTENTION_FLASH = 1,
} sutra_backend_op;

/* Backend-side copies of one batch's inputs, made by begin_batch. */
typedef struct sutra_batch_io {
    const int32_t *ids;        /* (T) */
    const int32_t *pos;        /* (T) position ids */
    const int32_t *cu_seqlens; /* (B+1) */
} sutra_batch_io;

struct sutra_backend {
    const char *name;  /* "cpu", "cuda" */
    void *ctx;         /* backend state */
    size_t act_bytes;  /* bytes per activation element */

    /* 1 if the op can run with this head dim on this device. */
    int (*supports)(const sutra_backend *be, sutra_backend_op op, int head_dim);

    /* Weights: reserve room for `floats` weight values in all (once), then hand each host fp32
     * tensor to upload, which returns the backend's copy (the CPU returns the pointer itself). */
    sutra_status (*weights_reserve)(sutra_backend *be, size_t floats);
    const void *(*weights_upload)(sutra_backend *be, const float *host, size_t n);

    /* Copies one batch's inputs where the ops can read them. Host arrays; T tokens, B sequences. */
    sutra_status (*begin_batch)(sutra_backend *be, const int32_t *ids, const int32_t *pos, const int32_t *cu_seqlens,
                                int T, int B, sutra_batch_io *io);

    /* Runs fn(ctx), which issues ops; key identifies the shape of the work (same key = same op
     * sequence on the same buffers), so a backend may capture and replay it. */
    sutra_status (*run)(sutra_backend *be, uint64_t key, sutra_status (*fn)(void *ctx), void *ctx);

    /* out (T,C) = LayerNorm(wte[ids] + wpe[pos] + wtt[0]) * ln_w + ln_b; ids/pos from io;
     * wpe and wtt may be NULL (no such table). */
    void (*embed_layernorm)(sutra_backend *be, void *out, const int32_t *ids, const int32_t *pos, const void *wte,
                            const void *wpe, const void *wtt, const void *ln_w, const void *ln_b, int T, int C,
                            float eps);

    /* out (T,N) = act(inp (T,K) @ w (N,K)^T + bias (N)); bias may be NULL. */
    void (*matmul)(sutra_backend *be, void *out, const void *inp, const void *w, const void *bias,
                   int T, int N, int K, sutra_act act);

    /* out (T,C) = LayerNorm(inp + residual) * w + b; residual and b may be NULL; out may alias inp. */
    void (*add_layernorm)(sutra_backend *be, void *out, const void *inp, const void *residual,
                          const void *w, const void *b, int T, int C, float eps);

    /* Optional (NULL when the backend lacks them; architectures that need them check):
     * sum (T,C) = x + res and norm (T,C) = LayerNorm(sum) * w + b (pre-norm residual step; sum
     * may alias x; b may be NULL) */
    void (*residual_layernorm)(sutra_backend *be, void *sum, void *norm, const void *x, const void *res,
                               const void *w, const void *b, int T, int C, float eps);
    /* rotary position embedding, in place, on the first 2*H*D columns of qkv (T, stride): the
     * query heads then the key heads; pairs (i, i + D/2) rotate by pos * theta^(-2i/D) */
    void (*rope)(sutra_backend *be, void *qkv, const int32_t *pos, int T, int H, int D, int64_t stride, float theta);
    /* gated unit: out (T,F) = act(inp[:, :F]) * inp[:, F:2F] for inp (T, 2F) */
    void (*glu)(sutra_backend *be, void *out, const void *inp, int T, int F, sutra_act act);
    /* host (n floats) = activations src (n elements), after the work before it */
    sutra_status (*download)(sutra_backend *be, float *host, const void *src, size_t n);

    /* Attention as described at sutra_attn_params (cu_seqlens from io), on the given path. */
    sutra_status (*attention)(sutra_backend *be, const sutra_attn_params *p, sutra_attn_path path);

    /* Optional long-input layout, for a backend whose memory is the host's (the CPU sets these;
     * a backend that leaves them 0 / NULL runs every batch in the plain layout). For a batch
     * whose longest sequence has at least long_input_tokens tokens, an architecture may run
     * attention head group by head group: project_heads writes a group's queries into their
     * own columns of the attention output and its keys and values into a scratch buffer, and
     * attention then overwrites those queries with the output (on such a backend, attention's
     * out may be q with the same stride: each query row is read before its output is written).
     * The token-wise ops then run over chunks of rows. Activations then take about 2C floats per
     * token instead of 6C + F, so that the attention workspace is what distinguishes the two
     * paths' memory. long_input_heads[path] is how many heads one attention call should get on
     * that path: the standard path spreads (sequence, head) pairs over threads, flash also
     * spreads blocks of queries. */
    int long_input_tokens;
    int long_input_heads[2];
    /* q (T, g*D; rows ldq apart), k and v (T, g*D; rows ldkv apart) = x (T, C) @ W^T + b for the
     * rows of heads [h0, h0+g) of the query, key and value blocks of a fused (3C, C) weight wqkv
     * (bias bqkv (3C), may be NULL). */
    void (*project_heads)(sutra_backend *be, void *q, int64_t ldq, void *k, void *v, int64_t ldkv, const void *x,
                          const void *wqkv, const void *bqkv, int T, int C, int D, int h0, int g);

    /* Optional LayerNorm folding for post-norm encoders (a backend sets these where it is faster
     * than a LayerNorm pass; 0 / NULL: never). For a batch of at least ln_fold_tokens tokens an
     * architecture may keep its residual stream un-normalised: per row z = y * g (y the residual
     * sum, g the weight of the LayerNorm after it) plus float statistics of y (mean mu, and r =
     * 1/sqrt(var + eps)) in a buffer of SUTRA_LN_STATS_FLOATS(T, C) floats; LN(y) = r (z - mu g)
     * + b. stats NULL: mu 0, r 1 (z already normalised). Vectors (s, c, d, g, b) are weights.
     *   matmul_ln: out (T,N) = act(LN(y) @ w^T + bias), given s = w g and c = w b + bias (N)
     *   matmul_residual_ln: y' = inp (T,K) @ w (N,K)^T + d + LN(y_prev), d = bias + b_prev,
     *     LN(y_prev) from z_prev, stats_prev, g_prev; writes z_out = y' * g_next and stats_out
     *     (outputs distinct from the inputs)
     *   ln_apply: out (T,C) = LN(y) from z, stats, g, b; out may alias z */
    int ln_fold_tokens;
    void (*matmul_ln)(sutra_backend *be, void *out, const void *z, const float *stats, const void *w, const void *s,
                      const void *c, int T, int N, int K, sutra_act act);
    void (*matmul_residual_ln)(sutra_backend *be, void *z_out, float *stats_out, const void *inp, const void *w,
                               const void *d, const void *z_prev, const float *stats_prev, const void *g_prev,
                               const void *g_next, int T, int N, int K, float eps);
    void (*ln_apply)(sutra_backend *be, void *out, const void *z, const float *stats, const void *g, const void *b,
                     int T, int C);

    /* out (B,C) host floats = pooling of inp (T,C) over each sequence; cu_seqlens from io,
     * host_cu the same offsets on the host. Waits for the work before it. */
    sutra_status (*pool)(sutra_backend *be, float *out, const void *inp, const int32_t *cu_seqlens,
                         const int32_t *host_cu, int B, int C, sutra_pooling mode);

    /* Activation buffers from the arena planned at create time; NULL if it is exhausted.
     * arena_reset() returns all of them at once (start of every forward). */
    void *(*arena_alloc)(sutra_backend *be, size_t bytes);
    void (*arena_reset)(sutra_backend *be);

    void (*destroy)(sutra_backend *be);
};

#endif /* SUTRA_BACKEND_H */
