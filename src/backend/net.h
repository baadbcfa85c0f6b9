/*
 * net.h - a transformer encoder as data: its hyper-parameters (sutra_net_shape) and the weights
 * bound to them (sutra_net). Family files (src/arch/<family>.c) fill it from config.json and the
 * weights file; the shared forward (src/arch/transformer.c) runs it; a backend may read it to
 * prepare its own way of running some nets (backend.h: prepare, layers). Nothing here names a
 * family: a difference between families is a value in these structs.
 *
 * Dimension letters as in backend.h, plus Hkv key/value heads (H is a multiple of Hkv), Q = H*D
 * (the query and attention-output width) and QKV = (H + 2 Hkv) D (rows of the fused projection).
 *
 * One layer, every norm optional (w NULL: absent):
 *   h = attn_in(x)                                   pre-norm families; else h = x
 *   q, k, v = split(h Wqkv^T + bqkv); q = q_norm(q), k = k_norm(k) per head; rotary on q and k
 *   a = attention(q, k, v)                           causal or not, window, GQA, relative bias
 *   x = attn_post(x + attn_out(a Wo^T + bo))
 *   h = ffn_in(x)
 *   u = h Wup^T + bup; g = act(u) or act(u[:, :F]) * u[:, F:2F] (gated)
 *   x = ffn_post(x + ffn_out(g Wdown^T + bdown))
 * then final_norm(x). BERT: attn_post and ffn_post. ModernBERT / Qwen3: attn_in and ffn_in (and
 * a final norm). Gemma: in and out norms. Embeddings: tok[id] (+ pos[position]) (+ type row),
 * then emb_norm.
 */
#ifndef SUTRA_NET_H
#define SUTRA_NET_H

#include <stddef.h>
#include <stdint.h>

#include "sutra.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SUTRA_MAX_LAYERS 1024

typedef enum sutra_act {
    SUTRA_ACT_NONE = 0,
    SUTRA_ACT_GELU = 1,      /* exact erf GELU, as BERT's "gelu" */
    SUTRA_ACT_GELU_TANH = 2, /* tanh approximation ("gelu_new", "gelu_pytorch_tanh") */
    SUTRA_ACT_SILU = 3,      /* x * sigmoid(x) ("silu", "swish"): SwiGLU's activation */
} sutra_act;

typedef enum sutra_norm_kind {
    SUTRA_NORM_LAYER = 0, /* (x - mean) / sqrt(var + eps) * w + b */
    SUTRA_NORM_RMS = 1,   /* x / sqrt(mean(x^2) + eps) * w */
} sutra_norm_kind;

/* One norm over rows of some width. */
typedef struct sutra_norm {
    const void *w; /* (width); NULL: no norm here */
    const void *b; /* (width) or NULL */
    sutra_norm_kind kind;
    float eps;
} sutra_norm;

/* A matrix product's weights: out (T, N) = inp (T, K) @ w^T + b. */
typedef struct sutra_linear {
    const void *w; /* (N, K) */
    const void *b; /* (N) or NULL */
} sutra_linear;

/* What config.json says, as the forward needs it. */
typedef struct sutra_net_shape {
    int C, L, H, Hkv, D, F; /* hidden, layers, heads, key/value heads, head dim, FFN width */
    int vocab;              /* rows of the token table */
    int positions;          /* longest input the position scheme allows, offset included */
    int pos_offset;         /* the first position id (RoBERTa: padding_idx + 1) */
    int pos_table;          /* 1: a learned (positions, C) table; 0: none (rotary or nothing) */
    int type_rows;          /* rows of the token-type table, 0: none (row 0 is added) */
    sutra_norm_kind norm;
    float eps;
    int emb_norm, final_norm;                       /* 1: present */
    int post_norm;                                  /* 1: attn_post / ffn_post (BERT); 0: attn_in / ffn_in */
    int norm_bias, attn_bias, mlp_bias;             /* 1: those weights carry biases */
    sutra_act act;
    int gated; /* 1: the FFN's up projection is (2F, C), act on the first half times the second */
    int causal;
    /* 1: the family's activations are known to exceed fp16's range (65504), so a GPU runs bf16
     * unless told otherwise (sutra_config.gpu_dtype) */
    int fp16_overflows;
    float attn_scale; /* softmax scale; 1/sqrt(D) unless the family says otherwise */
    /* relative position bias (MPNet): rel_bias holds one row per offset s - t of a key from its
     * query, for |s - t| < rel_span; 0: none */
    int rel_span;
    int window[SUTRA_MAX_LAYERS];       /* per layer: keys within this distance, -1: all */
    float rope_theta[SUTRA_MAX_LAYERS]; /* per layer: rotary base, 0: no rotary */
} sutra_net_shape;

typedef struct sutra_layer {
    sutra_norm attn_in;
    sutra_linear qkv;          /* (QKV, C): query rows, then key rows, then value rows */
    sutra_norm q_norm, k_norm; /* (D), per head */
    sutra_linear o;            /* (C, Q) */
    sutra_norm attn_out, attn_post;
    sutra_norm ffn_in;
    sutra_linear up;   /* (F, C), or (2F, C) when gated */
    sutra_linear down; /* (C, F) */
    sutra_norm ffn_out, ffn_post;
} sutra_layer;

/* A net: the shape and its weights. Weight pointers are host fp32 while a family binds them, then
 * the backend's (backend.h weights_upload). */
typedef struct sutra_net {
    const sutra_net_shape *shape;
    const void *tok_emb;  /* (vocab, C) */
    const void *pos_emb;  /* (positions, C) or NULL */
    const void *type_emb; /* (type_rows, C): the token-type table (pairs read row 1 too), or NULL */
    sutra_norm emb_norm;
    const void *rel_bias; /* (2 rel_span - 1, H), row s - t + rel_span - 1: added to every layer's scores, or NULL */
    sutra_layer *layers;  /* L */
    sutra_norm final_norm;
} sutra_net;

/* Element counts derived from the shape. */
static inline int sutra_net_q(const sutra_net_shape *s) { return s->H * s->D; }
static inline int sutra_net_qkv(const sutra_net_shape *s) { return (s->H + 2 * s->Hkv) * s->D; }
static inline int sutra_net_up(const sutra_net_shape *s) { return s->gated ? 2 * s->F : s->F; }

/* Calls fn for every weight pointer of net with its element count (tables, then layer by layer),
 * so that a caller can count, upload or replace them all; stops at the first non-zero return. */
int sutra_net_each_weight(sutra_net *net, int (*fn)(void *ctx, const void **slot, size_t numel), void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SUTRA_NET_H */
