/*
 * backend.h - the one op interface that the shared forward (src/arch/transformer.c) calls and
 * backends (cpu, cuda) implement.
 *
 * Dimension letters, used in every shape comment below and in the backends:
 *   T = tokens in a packed batch (all sequences end to end, no padding)
 *   B = sequences in the batch, with cu_seqlens (B+1 offsets into T)
 *   C = hidden size, H = attention heads (Hkv key/value heads), D = head dim, F = feed-forward size
 *
 * Rules: ops write outputs first, then read inputs, then weights, then take sizes. Activation
 * pointers hold the backend's activation type (float on the CPU); they come from the backend's
 * arena and weights from its weight slab, so no op allocates. What a backend can run it says
 * through supports(), asked before the first batch, never by failing half-way.
 *
 * A backend owns its optimisations: fusions, tile choices and layouts happen inside its ops, or
 * in the optional hooks below (layout, prepare, layers), which it answers from its own
 * measurements. Nothing here exists for one trick of one backend.
 */
#ifndef SUTRA_BACKEND_H
#define SUTRA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/net.h"
#include "sutra.h"

/* A hook's "not for this one": the caller does the work itself. Never returned by the API. */
#define SUTRA_DECLINED ((sutra_status)1)

typedef enum sutra_attn_path {
    SUTRA_ATTN_STANDARD = 0, /* scores materialised per (sequence, head): O(N^2) workspace */
    SUTRA_ATTN_FLASH = 1,    /* tiled, online softmax: O(N) workspace */
} sutra_attn_path;

/* Packed variable-length multi-head attention:
 *   out[t, h, :] = softmax(scale * q[t,h,:] . k[s,g,:] + bias[h](s - t) over visible s) @ v[s,g,:]
 * with g = h / (H / Hkv), where s runs over t's sequence, within the window, and not past t when
 * causal; bias is 0, or with a relative position table its row for the offset s - t (a family
 * with buckets, as MPNet's, expands them to one row per offset when it binds the table). q, k, v may point into one fused (T, QKV) buffer,
 * hence the row strides. */
typedef struct sutra_attn_params {
    const void *q;         /* (T, H, D) with row stride q_stride elements */
    const void *k;         /* (T, Hkv, D) with row stride k_stride */
    const void *v;         /* (T, Hkv, D) with row stride v_stride */
    void *out;             /* (T, H, D) with row stride o_stride */
    int64_t q_stride, k_stride, v_stride, o_stride;
    const int32_t *cu_seqlens; /* (B+1), cu_seqlens[0] = 0, cu_seqlens[B] = T; host memory on the CPU */
    int batch;                 /* B */
    int max_seqlen;            /* longest sequence in the batch */
    int heads;                 /* H */
    int kv_heads;              /* Hkv (0 means H) */
    int head_dim;              /* D */
    float scale;               /* usually 1/sqrt(D) */
    int causal;                /* 1: key j is visible from query i only if j <= i */
    int window_left;           /* key j is visible from query i if i - j <= window_left (-1: no limit) */
    int window_right;          /* ... and j - i <= window_right (-1: no limit) */
    const void *rel_bias;      /* (2 rel_span - 1, rel_stride): this call's heads' columns of the table, or NULL */
    int64_t rel_stride;        /* elements between the table's rows (the net's H) */
    int rel_span;              /* rel_bias row s - t + rel_span - 1 biases key s of query t; |s - t| < rel_span */
} sutra_attn_params;

/* What supports() is asked. */
typedef enum sutra_op_kind {
    SUTRA_OP_ATTENTION = 0, /* attn (its shape; pointers may be NULL) on path */
    SUTRA_OP_NORM = 1,      /* norms of kind norm (embedding, residual, final) */
    SUTRA_OP_HEAD_NORM = 2, /* head_norm with norms of kind norm */
    SUTRA_OP_ROPE = 3,
    SUTRA_OP_GLU = 4,       /* glu with act */
    SUTRA_OP_ACT = 5,       /* matmul with act */
    SUTRA_OP_PROJECT_HEADS = 6,
    SUTRA_OP_EMBED_PLAIN = 7, /* embed without a norm */
    SUTRA_OP_ADD = 8,         /* add_norm with sum and no norm (a residual add alone) */
} sutra_op_kind;

typedef struct sutra_op_query {
    sutra_op_kind op;
    const sutra_attn_params *attn;
    sutra_attn_path path;
    sutra_norm_kind norm;
    sutra_act act;
    int head_dim; /* rope, head norms: D */
} sutra_op_query;

/* How the shared forward lays out one batch (layout below). 0 means "all at once". */
typedef struct sutra_layout {
    int head_group; /* heads per attention call, each group's queries projected into the attention
                     * output and overwritten there (needs project_heads); 0: one fused product */
    int row_chunk;  /* rows per step of the token-wise work after attention (output projection, norms) */
    int ffn_chunk;  /* rows per FFN step, at most: the forward takes fewer where its temporaries
                     * would not fit in the attention buffer, never fewer than row_chunk */
} sutra_layout;

/* Backend-side copies of one batch's inputs, made by begin_batch. */
typedef struct sutra_batch_io {
    const int32_t *ids;        /* (T) */
    const int32_t *pos;        /* (T) position ids */
    const int32_t *types;      /* (T) token type ids; NULL on the CPU when the batch has none (all 0) */
    const int32_t *cu_seqlens; /* (B+1) */
} sutra_batch_io;

/* One forward's layers, as handed to a backend's own way of running them (layers below). */
typedef struct sutra_layers_call {
    const sutra_net *net;           /* the backend's weights */
    const sutra_batch_io *io;
    const sutra_attn_params *attn;  /* the batch's sequences, heads, scale, path's mask; no pointers */
    sutra_attn_path path;
    int T;
    uint64_t key;                   /* as for run() */
    char *err;
    size_t errcap;
} sutra_layers_call;


/* A backend: a table of ops plus its private state. The library drives it like this:
 *
 *   prepare(host net)                    once, optional: the backend's derived weights
 *   reserve(arena bytes, ...)            once: working memory
 *   weights_reserve(total); p = weights_upload(host fp32 tensor)   once per weight
 *   begin_batch(host ids, positions, types, cu_seqlens) -> io (backend-side copies)   per batch
 *   layers(call) or: arena_reset(); arena_alloc(...); run(key, fn, ctx): fn issues the ops
 *   pool(host out, ...)                  results back to the host
 *
 * Ops are asynchronous on a GPU; a failure inside an op is remembered and reported by run() or
 * pool(). Pointers to activations and weights are the backend's own (device memory on a GPU),
 * holding act_bytes-sized elements (fp32 on the CPU, fp16/bf16 on a GPU). */
typedef struct sutra_backend sutra_backend;

struct sutra_backend {
    const char *name;  /* "cpu", "cuda" */
    void *ctx;         /* backend state */
    size_t act_bytes;  /* bytes per activation element */
    /* The flash threshold this backend runs best with when the config leaves it 0: AUTO takes
     * flash when a batch's longest sequence exceeds it (0: flash at every length). */
    int default_flash_threshold;

    /* 1 if the op as described can run here. */
    int (*supports)(const sutra_backend *be, const sutra_op_query *q);

    /* Working memory for batches: an activation arena of arena_bytes (plus what prepare asked
     * for), and attention workspaces for heads of head_dim, the standard path taking sequences
     * of up to std_max_seqlen tokens (0: no standard path). Once, before the first batch. */
    sutra_status (*reserve)(sutra_backend *be, size_t arena_bytes, int std_max_seqlen, int head_dim, char *err,
                            size_t errcap);

    /* Weights: reserve room for `floats` weight values in all (once), then hand each host fp32
     * tensor to upload, which returns the backend's copy (the CPU returns the pointer itself). */
    sutra_status (*weights_reserve)(sutra_backend *be, size_t floats);
    const void *(*weights_upload)(sutra_backend *be, const float *host, size_t n);

    /* Copies one batch's inputs where the ops can read them. Host arrays; T tokens, B sequences;
     * pos and types may be NULL (all 0). */
    sutra_status (*begin_batch)(sutra_backend *be, const int32_t *ids, const int32_t *pos, const int32_t *types,
                                const int32_t *cu_seqlens, int T, int B, sutra_batch_io *io);

    /* Runs fn(ctx), which issues ops; key identifies the shape of the work (same key = same op
     * sequence on the same buffers), so a backend may capture and replay it. */
    sutra_status (*run)(sutra_backend *be, uint64_t key, sutra_status (*fn)(void *ctx), void *ctx);

    /* out (T,C) = norm(tok[ids] + pos_tab[positions] + type_tab[types]); ids, positions and types
     * from io (types NULL: row 0 of type_tab); pos_tab and type_tab may be NULL (no such table),
     * norm NULL or without weight: the plain sum. */
    void (*embed)(sutra_backend *be, void *out, const int32_t *ids, const int32_t *pos, const int32_t *types,
                  const void *tok, const void *pos_tab, const void *type_tab, const sutra_norm *norm, int T, int C);

    /* out (T,N) = act(inp (T,K) @ w (N,K)^T + bias (N)); bias may be NULL. */
    void (*matmul)(sutra_backend *be, void *out, const void *inp, const void *w, const void *bias, int T, int N, int K,
                   sutra_act act);

    /* The residual step: y = a + b (b NULL: y = a); sum (T,C) = y when sum is not NULL (the norm
     * then reads y as stored), out (T,C) = norm(y) when out is not NULL. sum and out may alias a
     * or b, not each other. */
    void (*add_norm)(sutra_backend *be, void *sum, void *out, const void *a, const void *b, const sutra_norm *norm,
                     int T, int C);

    /* Optional (NULL when absent; supports() says no):
     * head_norm: norm over each head of D values, in place, for `heads` consecutive heads of
     *   each row of x (T rows, stride elements apart)
     * rope: rotary embedding in place on `heads` consecutive heads of each row of x (T rows,
     *   stride apart); pairs (i, i + D/2) rotate by pos * theta^(-2i/D)
     * glu: out (T,F) = act(inp[:, :F]) * inp[:, F:2F] for inp (T, 2F)
     * download: host (n floats) = activations src (n elements), after the work before it
     * project_heads: for the fused (QKV, C) weight qkv of a net with H query and Hkv key/value
     *   heads: q (T, g*D; rows ldq apart) = x (T, C) @ the rows of query heads [h0, h0+g), and k,
     *   v (T, g*D*Hkv/H; rows ldkv apart) = x @ the rows of the key and value heads those query
     *   heads read (g a multiple of H/Hkv, h0 too); biases added when qkv has them */
    void (*head_norm)(sutra_backend *be, void *x, int64_t stride, int T, int heads, int D, const sutra_norm *norm);
    void (*rope)(sutra_backend *be, void *x, int64_t stride, const int32_t *pos, int T, int heads, int D, float theta);
    void (*glu)(sutra_backend *be, void *out, const void *inp, int T, int F, sutra_act act);
    sutra_status (*download)(sutra_backend *be, float *host, const void *src, size_t n);
    void (*project_heads)(sutra_backend *be, void *q, int64_t ldq, void *k, void *v, int64_t ldkv, const void *x,
                          const sutra_linear *qkv, int T, int C, int D, int H, int Hkv, int h0, int g);

    /* Attention as described at sutra_attn_params (cu_seqlens from io) on the given path, which
     * supports() said this backend runs for this shape. */
    sutra_status (*attention)(sutra_backend *be, const sutra_attn_params *p, sutra_attn_path path);

    /* out (B,C) host floats = pooling of inp (T,C) over each sequence; cu_seqlens from io,
     * host_cu the same offsets on the host. Waits for the work before it. */
    sutra_status (*pool)(sutra_backend *be, float *out, const void *inp, const int32_t *cu_seqlens,
                         const int32_t *host_cu, int B, int C, sutra_pooling mode);

    /* Activation buffers from the arena planned by reserve(); NULL if it is exhausted.
     * arena_reset() returns all of them at once (start of every forward). */
    void *(*arena_alloc)(sutra_backend *be, size_t bytes);
    void (*arena_reset)(sutra_backend *be);

    /* Optional hooks, each the backend's own decision from its own measurements:
     * layout: how the shared forward should lay out this batch (NULL, or all zeros: all at
     *   once); shape is the net's, max_seqlen the batch's longest sequence
     * prepare: once, before reserve, with the net's host fp32 weights: whatever the backend's
     *   own ways of running this net need (derived weights); *arena_extra receives the arena
     *   bytes those need beyond the shared forward's, for batches of up to max_tokens tokens
     * layers: runs the layers of call->net for this batch its own way and sets *final to the
     *   final hidden states (T, C) in its arena; SUTRA_DECLINED (nothing done) where it has no
     *   own way for this net and batch, and the shared forward runs them
     * op_times: the profile (sutra_config.profile): up to cap rows into out, returns how many
     *   it has; reset clears them */
    void (*layout)(const sutra_backend *be, const sutra_net_shape *shape, int T, int max_seqlen, sutra_attn_path path,
                   sutra_layout *out);
    sutra_status (*prepare)(sutra_backend *be, const sutra_net *host, int max_tokens, size_t *arena_extra, char *err,
                            size_t errcap);
    sutra_status (*layers)(sutra_backend *be, const sutra_layers_call *call, const void **final);
    size_t (*op_times)(sutra_backend *be, sutra_op_time *out, size_t cap, int reset);

    /* Optional: the message of the failure run(), pool() or begin_batch() last reported ("" if
     * none), owned by the backend. */
    const char *(*error)(const sutra_backend *be);

    void (*destroy)(sutra_backend *be);
};

#endif /* SUTRA_BACKEND_H */
