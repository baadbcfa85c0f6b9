/*
 * encoder_bench.c - whole-encoder latency and throughput of the CUDA backend, through the same
 * encoder code the library runs (src/arch: the BERT family, the shared forward, and the backend's
 * own LayerNorm-folded layers where it takes them): batch staging, the forward pass (a CUDA graph
 * after two warm-up passes), pooling, and the copy of the pooled vectors back to the host.
 *
 * Models: random weights (uniform, std 0.02; norm weights 1 + that) in BERT's (or Qwen3's)
 * tensor layout, written into an in-memory safetensors image (no files), fp16 on the GPU (bf16
 * for qwen3, its family's default: sutra_config.gpu_dtype AUTO):
 *   minilm      all-MiniLM-L6-v2's shape: 6 layers, hidden 384, 12 heads of 32, FFN 1536
 *   bert-base   12 layers, hidden 768, 12 heads of 64, FFN 3072, 8192 positions
 *   xlmr-large  xlm-roberta-large's shape (model_type xlm-roberta: positions from 2): 24 layers,
 *               hidden 1024, 16 heads of 64, FFN 4096, 8194 positions. Its 250002-row vocab is
 *               cut to 32000 rows here: only the embedding gather touches that table, so the
 *               times do not change; the weights' MiB are 415 less than the real model's.
 *   qwen3-0.6b  Qwen3-Embedding-0.6B's shape (a decoder: RMSNorm, 16 query / 8 key-value heads
 *               of 128, q/k norms, SwiGLU FFN 3072, causal, last-token pooling): 28 layers,
 *               hidden 1024; its 151669-row vocab cut to 32000 rows as above (-467 MiB).
 *   nomic-v1.5  nomic-embed-text-v1.5's shape (bert-base with rotary base 1000, SwiGLU FFN 3072,
 *               no biases, post-norm; 30528-row vocab, 8192 positions), fp16, mean pooling.
 *   gemma-300m  EmbeddingGemma-300m's shape (24 layers, hidden 768, 3 query heads over 1 key/value
 *               head of 256, GeGLU 1152, four RMSNorms a layer, 512-token windows in five of six
 *               layers, bidirectional), bf16 (its family's default), mean pooling; its 262144-row
 *               vocab cut to 32000 rows as above.
 * Rows: batch-1 latency for N = 128 .. 8192, throughput at B x N, and a mixed batch (lengths
 * log-uniform in 16..2048 from a fixed seed, ~32k tokens, packed without padding; tokens/s
 * counts real tokens). Each row runs flash attention; rows with N <= 512 also run the standard
 * path. --fast-gelu rows repeat some bert-base rows with the tanh GELU (sutra_config's
 * approximate_gelu: cuBLASLt's epilogue).
 *
 * Timing: CUDA events on the backend's stream around sutra_encoder_forward (inputs up,
 * forward, pooled vectors down), 3 warm-up passes (eager, capture, replay), then the median of
 * at least --reps (default 20) timed passes. Each pass is an NVTX range "forward", so a
 * profiler can keep to the forward passes (ncu --nvtx --nvtx-include forward/). Memory: each
 * row gets a fresh backend sized for that row's batch, so its peak device bytes (weights slab,
 * arena, cuBLASLt workspace, attention and pooling workspaces, batch buffers) are that row's
 * alone; the table gives them less the weights, and the cudaMemGetInfo difference as a
 * cross-check.
 *
 * A last section times bert-base's matrix products alone (T = 512, 4096 and 32768): the default
 * path, cuBLASLt only (gpu_gemm CUBLASLT) and the tanh-GELU epilogue (--no-gemm skips it).
 *
 * Usage: encoder_bench [--json FILE] [--reps N] [--models minilm,bert-base,xlmr-large,qwen3-0.6b,nomic-v1.5,gemma-300m]
 *                      [--rows LIST] [--no-standard] [--standard-max N] [--fast-gelu] [--no-gemm]
 *                      [--gemm auto|cublaslt|cutlass] [--no-fold] [--fold-min N] [--no-graphs]
 *                      [--no-wgmma] [--profile]
 * --standard-max N also times the standard path on inputs up to N tokens (default 512).
 * --rows keeps only the listed rows, each model:BxN or model:mixed (bert-base:1x512,...), for
 * profiling one row or comparing settings quickly. The settings flags are the backend's
 * (sutra_config's gpu_* fields); --profile runs eagerly with an event after every op and prints
 * each row's op table (sutra_config.profile).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>
#include <nvtx3/nvToolsExt.h>

#include "arch/arch.h"
#include "arch/family.h"
#include "backend/cuda/cuda_backend.h"
#include "model/safetensors.h"

typedef struct shape {
    const char *name, *model_type;
    int layers, hidden, heads, ffn, vocab, positions, type_vocab, pad_id;
    int kv_heads, head_dim; /* qwen3 and gemma3_text only */
} shape;

static const shape SHAPES[] = {
    {"minilm", "bert", 6, 384, 12, 1536, 30522, 512, 2, 0, 0, 0},
    {"bert-base", "bert", 12, 768, 12, 3072, 30522, 8192, 2, 0, 0, 0},
    {"xlmr-large", "xlm-roberta", 24, 1024, 16, 4096, 32000, 8194, 1, 1, 0, 0},
    {"qwen3-0.6b", "qwen3", 28, 1024, 16, 3072, 32000, 32768, 0, 0, 8, 128},
    {"nomic-v1.5", "nomic_bert", 12, 768, 12, 3072, 30528, 8192, 2, 0, 0, 0},
    {"gemma-300m", "gemma3_text", 24, 768, 3, 1152, 32000, 2048, 0, 0, 1, 256},
};

typedef struct bcase {
    const char *model;
    int B, N;  /* N = 0: the mixed batch */
    int fast_gelu;
} bcase;

static const bcase CASES[] = {
    {"minilm", 1, 128, 0},     {"minilm", 1, 512, 0},     {"minilm", 1024, 32, 0},   {"minilm", 128, 256, 0},
    {"bert-base", 1, 128, 0},  {"bert-base", 1, 512, 0},  {"bert-base", 1, 1024, 0}, {"bert-base", 1, 2048, 0},
    {"bert-base", 1, 4096, 0}, {"bert-base", 1, 8192, 0}, {"bert-base", 64, 512, 0}, {"bert-base", 16, 2048, 0},
    {"bert-base", 4, 8192, 0}, {"bert-base", 0, 0, 0},    {"bert-base", 1, 512, 1},  {"bert-base", 64, 512, 1},
    {"xlmr-large", 1, 512, 0}, {"xlmr-large", 1, 2048, 0}, {"xlmr-large", 1, 8192, 0}, {"xlmr-large", 64, 512, 0},
    {"xlmr-large", 4, 8192, 0}, {"xlmr-large", 0, 0, 0},
    {"qwen3-0.6b", 1, 512, 0}, {"qwen3-0.6b", 64, 512, 0}, {"qwen3-0.6b", 16, 2048, 0}, {"qwen3-0.6b", 1, 8192, 0},
    {"qwen3-0.6b", 0, 0, 0},
    {"nomic-v1.5", 1, 512, 0}, {"nomic-v1.5", 64, 512, 0}, {"nomic-v1.5", 1, 2048, 0}, {"nomic-v1.5", 1, 8192, 0},
    {"nomic-v1.5", 0, 0, 0},
    {"gemma-300m", 1, 512, 0}, {"gemma-300m", 64, 512, 0}, {"gemma-300m", 1, 2048, 0}, {"gemma-300m", 16, 2048, 0},
    {"gemma-300m", 0, 0, 0},
};

#define MIXED_SEED 42
#define MIXED_TOKENS 32768

/* ---- deterministic random numbers (the torch peer uses the same generator) ----------------- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

/* Mixed-batch lengths: log-uniform in [16, 2048], added while the total stays <= 32768. */
static int mixed_lengths(int *len, int cap) {
    uint64_t s = MIXED_SEED;
    int n = 0, total = 0;
    for (;;) {
        const int l = (int)floor(16.0 * pow(128.0, uniform01(&s)) + 0.5);
        if (total + l > MIXED_TOKENS || n == cap) break;
        len[n++] = l;
        total += l;
    }
    return n;
}

/* 1 if the comma-separated list holds item exactly. */
static int list_has(const char *list, const char *item) {
    const size_t n = strlen(item);
    for (const char *p = list; (p = strstr(p, item)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

/* ---- the synthetic model ------------------------------------------------------------------ */

typedef struct image {
    uint8_t *buf;
    size_t len;
} image;

/* Appends one tensor entry to the JSON header and returns its float count. */
static size_t add_entry(char **hdr, size_t *hlen, size_t *hcap, const char *name, int64_t d0, int64_t d1, size_t off) {
    const size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    char e[320];
    int k = d1 ? snprintf(e, sizeof e, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}",
                          *hlen > 1 ? "," : "", name, (long long)d0, (long long)d1, off * 4, (off + n) * 4)
               : snprintf(e, sizeof e, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%zu,%zu]}",
                          *hlen > 1 ? "," : "", name, (long long)d0, off * 4, (off + n) * 4);
    if (*hlen + (size_t)k + 2 > *hcap) *hdr = realloc(*hdr, *hcap = (*hcap + (size_t)k) * 2);
    memcpy(*hdr + *hlen, e, (size_t)k + 1);
    *hlen += (size_t)k;
    return n;
}

/* BERT (or Qwen3) tensors with random values. Returns the image (caller frees buf). */
static image make_image(const shape *sh) {
    const int64_t C = sh->hidden, F = sh->ffn;
    size_t hcap = 1 << 16, hlen = 1, off = 0;
    char *hdr = malloc(hcap);
    hdr[0] = '{';
    typedef struct ln_span { size_t off, n; } ln_span; /* norm weights: 1 + noise */
    ln_span *lns = calloc((size_t)(4 * sh->layers + 1), sizeof *lns);
    int nln = 0;
    char n[160];
#define ADD(name, d0, d1) (off += add_entry(&hdr, &hlen, &hcap, name, d0, d1, off))
    if (!strcmp(sh->model_type, "qwen3")) {
        const int64_t D = sh->head_dim, Q = (int64_t)sh->heads * D, KV = (int64_t)sh->kv_heads * D;
        ADD("embed_tokens.weight", sh->vocab, C);
        for (int l = 0; l < sh->layers; l++) {
#define ADDL(fmt, d0, d1) (snprintf(n, sizeof n, fmt, l), ADD(n, d0, d1))
            lns[nln++] = (ln_span){off, (size_t)C};
            ADDL("layers.%d.input_layernorm.weight", C, 0);
            ADDL("layers.%d.self_attn.q_proj.weight", Q, C);
            ADDL("layers.%d.self_attn.k_proj.weight", KV, C);
            ADDL("layers.%d.self_attn.v_proj.weight", KV, C);
            lns[nln++] = (ln_span){off, (size_t)D};
            ADDL("layers.%d.self_attn.q_norm.weight", D, 0);
            lns[nln++] = (ln_span){off, (size_t)D};
            ADDL("layers.%d.self_attn.k_norm.weight", D, 0);
            ADDL("layers.%d.self_attn.o_proj.weight", C, Q);
            lns[nln++] = (ln_span){off, (size_t)C};
            ADDL("layers.%d.post_attention_layernorm.weight", C, 0);
            ADDL("layers.%d.mlp.gate_proj.weight", F, C);
            ADDL("layers.%d.mlp.up_proj.weight", F, C);
            ADDL("layers.%d.mlp.down_proj.weight", C, F);
#undef ADDL
        }
        lns[nln++] = (ln_span){off, (size_t)C};
        ADD("norm.weight", C, 0);
        goto done;
    }
    if (!strcmp(sh->model_type, "gemma3_text")) { /* Gemma's names: four norms a layer, q/k norms, GeGLU */
        const int64_t D = sh->head_dim, Q = (int64_t)sh->heads * D, KV = (int64_t)sh->kv_heads * D;
        ADD("embed_tokens.weight", sh->vocab, C);
        for (int l = 0; l < sh->layers; l++) {
#define ADDL(fmt, d0, d1) (snprintf(n, sizeof n, fmt, l), ADD(n, d0, d1))
            ADDL("layers.%d.input_layernorm.weight", C, 0); /* (1 + w): noise around 0 is right */
            ADDL("layers.%d.self_attn.q_proj.weight", Q, C);
            ADDL("layers.%d.self_attn.k_proj.weight", KV, C);
            ADDL("layers.%d.self_attn.v_proj.weight", KV, C);
            ADDL("layers.%d.self_attn.q_norm.weight", D, 0);
            ADDL("layers.%d.self_attn.k_norm.weight", D, 0);
            ADDL("layers.%d.self_attn.o_proj.weight", C, Q);
            ADDL("layers.%d.post_attention_layernorm.weight", C, 0);
            ADDL("layers.%d.pre_feedforward_layernorm.weight", C, 0);
            ADDL("layers.%d.mlp.gate_proj.weight", F, C);
            ADDL("layers.%d.mlp.up_proj.weight", F, C);
            ADDL("layers.%d.mlp.down_proj.weight", C, F);
            ADDL("layers.%d.post_feedforward_layernorm.weight", C, 0);
#undef ADDL
        }
        ADD("norm.weight", C, 0);
        goto done;
    }
    if (!strcmp(sh->model_type, "nomic_bert")) { /* Nomic's names: no biases, SwiGLU */
        ADD("embeddings.word_embeddings.weight", sh->vocab, C);
        ADD("embeddings.token_type_embeddings.weight", sh->type_vocab, C);
        lns[nln++] = (ln_span){off, (size_t)C};
        ADD("emb_ln.weight", C, 0);
        ADD("emb_ln.bias", C, 0);
        for (int l = 0; l < sh->layers; l++) {
#define ADDL(fmt, d0, d1) (snprintf(n, sizeof n, fmt, l), ADD(n, d0, d1))
            ADDL("encoder.layers.%d.attn.Wqkv.weight", 3 * C, C);
            ADDL("encoder.layers.%d.attn.out_proj.weight", C, C);
            lns[nln++] = (ln_span){off, (size_t)C};
            ADDL("encoder.layers.%d.norm1.weight", C, 0);
            ADDL("encoder.layers.%d.norm1.bias", C, 0);
            ADDL("encoder.layers.%d.mlp.fc11.weight", F, C);
            ADDL("encoder.layers.%d.mlp.fc12.weight", F, C);
            ADDL("encoder.layers.%d.mlp.fc2.weight", C, F);
            lns[nln++] = (ln_span){off, (size_t)C};
            ADDL("encoder.layers.%d.norm2.weight", C, 0);
            ADDL("encoder.layers.%d.norm2.bias", C, 0);
#undef ADDL
        }
        goto done;
    }
    ADD("embeddings.word_embeddings.weight", sh->vocab, C);
    ADD("embeddings.position_embeddings.weight", sh->positions, C);
    ADD("embeddings.token_type_embeddings.weight", sh->type_vocab, C);
    lns[nln++] = (ln_span){off, (size_t)C};
    ADD("embeddings.LayerNorm.weight", C, 0);
    ADD("embeddings.LayerNorm.bias", C, 0);
    for (int l = 0; l < sh->layers; l++) {
        static const char *qkv[] = {"query", "key", "value"};
        for (int i = 0; i < 3; i++) {
            snprintf(n, sizeof n, "encoder.layer.%d.attention.self.%s.weight", l, qkv[i]);
            ADD(n, C, C);
            snprintf(n, sizeof n, "encoder.layer.%d.attention.self.%s.bias", l, qkv[i]);
            ADD(n, C, 0);
        }
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.dense.weight", l);
        ADD(n, C, C);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.dense.bias", l);
        ADD(n, C, 0);
        lns[nln++] = (ln_span){off, (size_t)C};
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.LayerNorm.weight", l);
        ADD(n, C, 0);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.LayerNorm.bias", l);
        ADD(n, C, 0);
        snprintf(n, sizeof n, "encoder.layer.%d.intermediate.dense.weight", l);
        ADD(n, F, C);
        snprintf(n, sizeof n, "encoder.layer.%d.intermediate.dense.bias", l);
        ADD(n, F, 0);
        snprintf(n, sizeof n, "encoder.layer.%d.output.dense.weight", l);
        ADD(n, C, F);
        snprintf(n, sizeof n, "encoder.layer.%d.output.dense.bias", l);
        ADD(n, C, 0);
        lns[nln++] = (ln_span){off, (size_t)C};
        snprintf(n, sizeof n, "encoder.layer.%d.output.LayerNorm.weight", l);
        ADD(n, C, 0);
        snprintf(n, sizeof n, "encoder.layer.%d.output.LayerNorm.bias", l);
        ADD(n, C, 0);
    }
#undef ADD
done:
    hdr[hlen++] = '}';
    while (hlen % 8) hdr[hlen++] = ' ';
    image im;
    im.len = 8 + hlen + off * 4;
    im.buf = malloc(im.len);
    const uint64_t hl = hlen;
    memcpy(im.buf, &hl, 8); /* little-endian host */
    memcpy(im.buf + 8, hdr, hlen);
    float *data = (float *)(im.buf + 8 + hlen);
    uint64_t s = 1234;
    const float a = 0.02f * sqrtf(3.f); /* U(-a, a) has standard deviation 0.02 */
    for (size_t i = 0; i < off; i++) data[i] = (float)((2.0 * (double)(splitmix64(&s) >> 40) / 16777216.0 - 1.0) * a);
    for (int i = 0; i < nln; i++)
        for (size_t j = 0; j < lns[i].n; j++) data[lns[i].off + j] += 1.f;
    free(lns);
    free(hdr);
    return im;
}

/* The shape's config.json, read as the library reads one. */
static int make_config(const shape *sh, sutra_model_config *cfg) {
    char json[1024], err[256];
    const int n = !strcmp(sh->model_type, "gemma3_text") ? snprintf(json, sizeof json,
                           "{\"model_type\": \"gemma3_text\", \"vocab_size\": %d, \"hidden_size\": %d, "
                           "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d, "
                           "\"head_dim\": %d, \"intermediate_size\": %d, \"max_position_embeddings\": %d, "
                           "\"rms_norm_eps\": 1e-6, \"query_pre_attn_scalar\": 256, \"sliding_window\": 512, "
                           "\"use_bidirectional_attention\": true, \"rope_theta\": 1000000.0, "
                           "\"rope_local_base_freq\": 10000.0, \"hidden_activation\": \"gelu_pytorch_tanh\", "
                           "\"_sliding_window_pattern\": 6}",
                           sh->vocab, sh->hidden, sh->layers, sh->heads, sh->kv_heads, sh->head_dim, sh->ffn,
                           sh->positions)
                  : !strcmp(sh->model_type, "nomic_bert") ? snprintf(json, sizeof json,
                           "{\"model_type\": \"nomic_bert\", \"vocab_size\": %d, \"n_embd\": %d, \"n_layer\": %d, "
                           "\"n_head\": %d, \"n_inner\": %d, \"n_positions\": %d, \"type_vocab_size\": %d, "
                           "\"layer_norm_epsilon\": 1e-12, \"activation_function\": \"swiglu\", \"rotary_emb_base\": 1000, "
                           "\"rotary_emb_fraction\": 1.0, \"qkv_proj_bias\": false, \"mlp_fc1_bias\": false, "
                           "\"mlp_fc2_bias\": false, \"prenorm\": false}",
                           sh->vocab, sh->hidden, sh->layers, sh->heads, sh->ffn, sh->positions, sh->type_vocab)
                  : !strcmp(sh->model_type, "qwen3") ? snprintf(json, sizeof json,
                           "{\"model_type\": \"qwen3\", \"vocab_size\": %d, \"hidden_size\": %d, \"num_hidden_layers\": %d, "
                           "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"head_dim\": %d, "
                           "\"intermediate_size\": %d, \"max_position_embeddings\": %d, \"rms_norm_eps\": 1e-6, "
                           "\"rope_theta\": 1000000, \"hidden_act\": \"silu\", \"attention_bias\": false, "
                           "\"tie_word_embeddings\": true, \"use_sliding_window\": false}",
                           sh->vocab, sh->hidden, sh->layers, sh->heads, sh->kv_heads, sh->head_dim, sh->ffn,
                           sh->positions) : snprintf(json, sizeof json,
                           "{\"model_type\": \"%s\", \"vocab_size\": %d, \"hidden_size\": %d, \"num_hidden_layers\": %d, "
                           "\"num_attention_heads\": %d, \"intermediate_size\": %d, \"max_position_embeddings\": %d, "
                           "\"type_vocab_size\": %d, \"pad_token_id\": %d, \"layer_norm_eps\": 1e-12, "
                           "\"hidden_act\": \"gelu\"}",
                           sh->model_type, sh->vocab, sh->hidden, sh->layers, sh->heads, sh->ffn, sh->positions,
                           sh->type_vocab, sh->pad_id);
    if (sutra_model_config_parse(json, (size_t)n, "config.json", cfg, err, sizeof err) != SUTRA_OK) {
        fprintf(stderr, "%s: %s\n", sh->name, err);
        return 0;
    }
    cfg->pooling = cfg->shape.causal ? SUTRA_POOLING_LAST : SUTRA_POOLING_MEAN;
    return 1;
}

/* The backend settings the command line chose. */
static sutra_cuda_options g_opt = {.graphs = 1, .flash_wgmma = 1, .fold = 1};
static int g_profile;

/* ---- timing ------------------------------------------------------------------------------- */

static int cmp_f(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

#define CK(call)                                                                                \
    do {                                                                                        \
        cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess) {                                                                \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

typedef struct result {
    double ms, host_ms, peak_mib, memgetinfo_mib, weights_mib;
    double t0, t1; /* wall clock (s since the epoch) around the timed passes: to match clock samples */
    int graphs, ok;
} result;

static double wall_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* One row on one path: fresh backend and encoder, warm-up, timed passes. */
static result run_case(const shape *sh, const sutra_model_config *cfg, const sutra_st_file *st, const int32_t *ids,
                       const int32_t *cu, int B, int T, int max_len, sutra_attn_path path, int fast_gelu, int reps) {
    result r;
    memset(&r, 0, sizeof r);
    char err[1024];
    size_t free0, free1, total;
    CK(cudaDeviceSynchronize());
    CK(cudaMemGetInfo(&free0, &total));
    sutra_model_config c = *cfg;
    if (fast_gelu) c.shape.act = SUTRA_ACT_GELU_TANH; /* sutra_config.approximate_gelu */
    sutra_backend *be = NULL;
    sutra_encoder *enc = NULL;
    sutra_cuda_options o = g_opt;
    o.bf16 = cfg->shape.fp16_overflows; /* the family's default dtype (sutra_config.gpu_dtype AUTO) */
    o.profile = g_profile;
    o.graphs = g_opt.graphs && !g_profile;
    sutra_status s = sutra_cuda_backend_create(&o, &be, err, sizeof err);
    if (s != SUTRA_OK) {
        fprintf(stderr, "backend: %s\n", err);
        return r;
    }
    const sutra_encoder_plan plan = {.max_tokens = T, .std_max_seqlen = 512};
    if (sutra_encoder_create(&c, st, be, &plan, &enc, err, sizeof err) != SUTRA_OK) {
        fprintf(stderr, "encoder: %s\n", err);
        be->destroy(be);
        return r;
    }
    /* the slab and the upload's staging buffer, still held before the first batch: what the weights
     * took beside the arena and workspaces (reserved inside sutra_encoder_create) */
    const size_t weights = sutra_cuda_backend_weight_bytes(be);
    float *pooled = malloc((size_t)B * sh->hidden * sizeof *pooled);
    sutra_batch batch = {.ids = ids, .cu_seqlens = cu, .B = B, .T = T, .max_seqlen = max_len};
    cudaStream_t stream = (cudaStream_t)sutra_cuda_backend_stream(be);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    int n = reps;
    float *ms = malloc(sizeof *ms * 2000), *host = malloc(sizeof *host * 2000);
    for (int i = -3; i < n; i++) {
        if (i == 0) r.t0 = wall_s();
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CK(cudaEventRecord(e0, stream));
        nvtxRangePushA("forward"); /* for profilers: ncu --nvtx --nvtx-include forward/ */
        s = sutra_encoder_forward(enc, be, &batch, path, cfg->pooling, pooled, NULL, err, sizeof err);
        nvtxRangePop();
        CK(cudaEventRecord(e1, stream));
        CK(cudaEventSynchronize(e1));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (s != SUTRA_OK) {
            fprintf(stderr, "forward: %s (%s)\n", err, sutra_cuda_backend_error(be));
            goto out;
        }
        if (i < 0) continue;
        CK(cudaEventElapsedTime(&ms[i], e0, e1));
        host[i] = (float)((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6);
        /* short rows: more passes (about 1 s in all, at most 2000) for a steadier median */
        if (i == reps - 1 && n == reps) {
            int want = (int)(1000.0 / (ms[0] + 1e-3));
            n = want > 2000 ? 2000 : want < reps ? reps : want;
        }
    }
    r.t1 = wall_s();
    for (int i = 0; i < B * sh->hidden; i++)
        if (!isfinite(pooled[i])) {
            fprintf(stderr, "forward: non-finite output\n");
            goto out;
        }
    qsort(ms, (size_t)n, sizeof *ms, cmp_f);
    qsort(host, (size_t)n, sizeof *host, cmp_f);
    CK(cudaMemGetInfo(&free1, &total));
    r.ms = ms[n / 2];
    r.host_ms = host[n / 2];
    r.weights_mib = weights / 1048576.0;
    r.peak_mib = (sutra_cuda_backend_peak_bytes(be) - weights) / 1048576.0;
    r.memgetinfo_mib = ((double)free0 - (double)free1) / 1048576.0 - r.weights_mib;
    r.graphs = sutra_cuda_backend_graphs(be);
    r.ok = 1;
    if (g_profile) { /* the op table of this row's passes, warm-up included */
        sutra_op_time t[64];
        const size_t n_ops = be->op_times(be, t, 64, 0);
        double all = 0;
        for (size_t i = 0; i < n_ops && i < 64; i++) all += t[i].ms;
        printf("op times, %.3f ms in all (eager, an event after every op)\n  %-40s %7s %11s %10s %6s\n", all, "op",
               "calls", "total ms", "mean us", "share");
        for (size_t i = 0; i < n_ops && i < 64; i++)
            printf("  %-40s %7llu %11.3f %10.2f %5.1f%%\n", t[i].name, (unsigned long long)t[i].calls, t[i].ms,
                   t[i].calls ? t[i].ms * 1e3 / (double)t[i].calls : 0.0, all > 0 ? 100.0 * t[i].ms / all : 0.0);
    }
out:
    free(ms);
    free(host);
    free(pooled);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    sutra_encoder_destroy(enc);
    be->destroy(be);
    return r;
}

/* ---- the matrix products alone -------------------------------------------------------------- */

static sutra_status no_op(void *ctx) {
    (void)ctx;
    return SUTRA_OK;
}

/* bert-base's four products per layer at T = 512, 4096 and 32768, through the backend's matmul
 * op. Each time is a CUDA graph of 20 back-to-back calls divided by 20, as the forward replays
 * them (a lone call's time would be mostly its launch at T = 512); the operands stay the same,
 * so at T = 512 the weights come from L2. TFLOP/s = 2 T N K / time. Three modes: the default
 * (on an sm_90 device with CUTLASS built, the exact GELU fused into the product), cuBLASLt only
 * (gpu_gemm CUBLASLT: BIAS epilogue + the erf-GELU pass) and the tanh GELU (cuBLASLt's epilogue). */
static void gemm_section(FILE *jf, int reps) {
    static const struct { int N, K; sutra_act act; const char *name; } G[] = {
        {2304, 768, SUTRA_ACT_NONE, "qkv"}, {768, 768, SUTRA_ACT_NONE, "attn_out"},
        {3072, 768, SUTRA_ACT_GELU, "ffn_up+gelu"}, {768, 3072, SUTRA_ACT_NONE, "ffn_down"},
        {3072, 768, SUTRA_ACT_NONE, "ffn_up"}};
    static const int Ts[] = {512, 4096, 32768};
    enum { NT = sizeof Ts / sizeof Ts[0] };
    const size_t in_floats = (size_t)32768 * 3072, w_floats = (size_t)3072 * 768 * 3 + 2304 * 768 + 768 * 768 + 16384;
    float *host = malloc(in_floats * sizeof *host);
    uint64_t s = 99;
    for (size_t i = 0; i < in_floats; i++) host[i] = (float)((double)(splitmix64(&s) >> 40) / 16777216.0 * 2.0 - 1.0);
    if (jf) fprintf(jf, ", \"gemm\": [");
    printf("\nmatrix products (bert-base shapes), TFLOP/s = 2TNK/t, per call in a graph of 20, median of >= %d\n", reps);
    printf("%-12s %6s %5s %5s %9s %9s %9s %8s %8s\n", "product", "T", "N", "K", "ms", "noCUTL ms", "tanhG ms", "TF/s",
           "noCUTL");
    double ms[3][NT][5];
    for (int mode = 0; mode < 3; mode++) { /* 0: default, 1: tanh-GELU epilogue, 2: cuBLASLt only */
        char err[512];
        sutra_backend *be = NULL;
        sutra_cuda_options o = g_opt;
        if (mode == 2) o.gemm = SUTRA_GPU_GEMM_CUBLASLT;
        sutra_status st = sutra_cuda_backend_create(&o, &be, err, sizeof err);
        if (st == SUTRA_OK) st = be->reserve(be, (size_t)256 << 20, 0, 64, err, sizeof err);
        if (st != SUTRA_OK || be->weights_reserve(be, in_floats + w_floats) != SUTRA_OK) {
            fprintf(stderr, "gemm section: %s\n", err);
            if (jf) fprintf(jf, "]");
            free(host);
            return;
        }
        const void *inp = be->weights_upload(be, host, in_floats); /* random fp16 operands from the slab */
        const void *w[5], *bias[5];
        sutra_act act[5];
        for (int g = 0; g < 5; g++) {
            act[g] = mode == 1 && G[g].act == SUTRA_ACT_GELU ? SUTRA_ACT_GELU_TANH : G[g].act;
            w[g] = be->weights_upload(be, host + 1000, (size_t)G[g].N * G[g].K);
            bias[g] = be->weights_upload(be, host + 7, (size_t)G[g].N);
        }
        void *out = be->arena_alloc(be, (size_t)32768 * 3072 * 2);
        cudaStream_t stream = (cudaStream_t)sutra_cuda_backend_stream(be);
        cudaEvent_t e0, e1;
        CK(cudaEventCreate(&e0));
        CK(cudaEventCreate(&e1));
        for (int ti = 0; ti < NT; ti++)
            for (int g = 0; g < 5; g++) {
                enum { BURST = 20 };
                float t[64];
                const int n = reps > 64 ? 64 : reps;
                cudaGraph_t graph;
                cudaGraphExec_t exec;
                be->matmul(be, out, inp, w[g], bias[g], Ts[ti], G[g].N, G[g].K, act[g]); /* plans it */
                CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
                for (int i = 0; i < BURST; i++) be->matmul(be, out, inp, w[g], bias[g], Ts[ti], G[g].N, G[g].K, act[g]);
                CK(cudaStreamEndCapture(stream, &graph));
                CK(cudaGraphInstantiate(&exec, graph, 0));
                for (int i = -3; i < n; i++) {
                    CK(cudaEventRecord(e0, stream));
                    CK(cudaGraphLaunch(exec, stream));
                    CK(cudaEventRecord(e1, stream));
                    CK(cudaEventSynchronize(e1));
                    if (i >= 0) CK(cudaEventElapsedTime(&t[i], e0, e1));
                }
                cudaGraphExecDestroy(exec);
                cudaGraphDestroy(graph);
                qsort(t, (size_t)n, sizeof *t, cmp_f);
                ms[mode][ti][g] = t[n / 2] / BURST;
            }
        if (be->run(be, 1, no_op, NULL) != SUTRA_OK) fprintf(stderr, "gemm section: %s\n", sutra_cuda_backend_error(be));
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
        be->destroy(be);
    }
    for (int ti = 0; ti < NT; ti++)
        for (int g = 0; g < 5; g++) {
            const double fl = 2.0 * Ts[ti] * G[g].N * G[g].K;
            printf("%-12s %6d %5d %5d %9.4f %9.4f %9.4f %8.1f %8.1f\n", G[g].name, Ts[ti], G[g].N, G[g].K, ms[0][ti][g],
                   ms[2][ti][g], ms[1][ti][g], fl / ms[0][ti][g] / 1e9, fl / ms[2][ti][g] / 1e9);
            if (jf)
                fprintf(jf,
                        "%s\n {\"gemm\": \"%s\", \"T\": %d, \"N\": %d, \"K\": %d, \"ms\": %.4f, \"no_cutlass_ms\": %.4f, "
                        "\"tanh_gelu_ms\": %.4f}",
                        ti + g ? "," : "", G[g].name, Ts[ti], G[g].N, G[g].K, ms[0][ti][g], ms[2][ti][g], ms[1][ti][g]);
        }
    if (jf) fprintf(jf, "\n]");
    free(host);
}

int main(int argc, char **argv) {
    int standard_max = 512;
    const char *json = NULL, *models = "minilm,bert-base,xlmr-large,qwen3-0.6b,nomic-v1.5,gemma-300m", *rows = NULL;
    int reps = 20, standard = 1, fast_gelu = 0, gemm = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--models") && i + 1 < argc) models = argv[++i];
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = argv[++i];
        else if (!strcmp(argv[i], "--no-standard")) standard = 0;
        else if (!strcmp(argv[i], "--standard-max") && i + 1 < argc) standard_max = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fast-gelu")) fast_gelu = 1;
        else if (!strcmp(argv[i], "--no-gemm")) gemm = 0;
        else if (!strcmp(argv[i], "--gemm") && i + 1 < argc) {
            const char *v = argv[++i];
            g_opt.gemm = !strcmp(v, "cublaslt") ? SUTRA_GPU_GEMM_CUBLASLT
                         : !strcmp(v, "cutlass") ? SUTRA_GPU_GEMM_CUTLASS
                                                 : SUTRA_GPU_GEMM_AUTO;
        } else if (!strcmp(argv[i], "--no-fold")) g_opt.fold = 0;
        else if (!strcmp(argv[i], "--fold-min") && i + 1 < argc) g_opt.fold_min_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-graphs")) g_opt.graphs = 0;
        else if (!strcmp(argv[i], "--no-wgmma")) g_opt.flash_wgmma = 0;
        else if (!strcmp(argv[i], "--profile")) g_profile = 1;
        else {
            fprintf(stderr, "usage: %s [--json FILE] [--reps N>=20] [--models a,b] [--rows model:BxN,...] [--no-standard] "
                            "[--fast-gelu] [--no-gemm] [--gemm auto|cublaslt|cutlass] [--no-fold] [--fold-min N] "
                            "[--no-graphs] [--no-wgmma] [--profile]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 20) reps = 20;
    sutra_cuda_device_info info;
    char err[512];
    if (sutra_cuda_device_query(0, &info, err, sizeof err) != SUTRA_OK) {
        printf("SKIP: no CUDA device (%s)\n", err);
        return 77;
    }
    printf("encoder_bench: %s (sm_%d%d), fp16 (qwen3, gemma: bf16), median of >= %d passes after 3 warm-up, CUDA events\n",
           info.name,
           info.cc_major, info.cc_minor, reps);
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (json && !jf) {
        fprintf(stderr, "cannot write %s\n", json);
        return 1;
    }
    if (jf) {
        fprintf(jf, "{\"device\": \"%s\", \"dtype\": \"fp16\", \"reps_min\": %d, \"mixed_seed\": %d, \"rows\": [\n", info.name,
                reps, MIXED_SEED);
    }
    printf("%-11s %-10s %7s %-8s %9s %9s %11s %9s %9s\n", "model", "batch", "tokens", "path", "ms", "host ms",
           "tokens/s", "act MiB", "memgi MiB");
    int first_row = 1;
    int mixed_len[4096];
    const int n_mixed = mixed_lengths(mixed_len, 4096);
    for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) {
        const shape *sh = &SHAPES[si];
        if (!strstr(models, sh->name)) continue;
        image im = make_image(sh);
        sutra_st_file *st = NULL;
        if (sutra_st_parse(im.buf, im.len, &st, err, sizeof err) != SUTRA_OK) {
            fprintf(stderr, "%s: synthetic image rejected: %s\n", sh->name, err);
            return 1;
        }
        sutra_model_config cfg;
        if (!make_config(sh, &cfg)) return 1;
        for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++) {
            const bcase *bc = &CASES[ci];
            if (strcmp(bc->model, sh->name) || (bc->fast_gelu && !fast_gelu)) continue;
            const int B = bc->N ? bc->B : n_mixed;
            int32_t *cu = malloc((size_t)(B + 1) * sizeof *cu);
            int max_len = 0;
            cu[0] = 0;
            for (int b = 0; b < B; b++) {
                const int l = bc->N ? bc->N : mixed_len[b];
                cu[b + 1] = cu[b] + l;
                if (l > max_len) max_len = l;
            }
            const int T = cu[B];
            int32_t *ids = malloc((size_t)T * sizeof *ids);
            uint64_t s = 7 + ci;
            for (int t = 0; t < T; t++) ids[t] = 1000 + (int32_t)(splitmix64(&s) % (uint64_t)(sh->vocab - 1000));
            char label[32], want[64];
            if (bc->N) snprintf(label, sizeof label, "%dx%d", B, bc->N);
            else snprintf(label, sizeof label, "mixed(%d)", B);
            snprintf(want, sizeof want, "%s:%s", sh->name, bc->N ? label : "mixed");
            if (rows && !list_has(rows, want)) {
                free(ids);
                free(cu);
                continue;
            }
            for (int path = SUTRA_ATTN_FLASH; path >= SUTRA_ATTN_STANDARD; path--) {
                if (path == SUTRA_ATTN_STANDARD && (!standard || max_len > standard_max)) continue;
                const result r = run_case(sh, &cfg, st, ids, cu, B, T, max_len, (sutra_attn_path)path, bc->fast_gelu, reps);
                const char *pname = path == SUTRA_ATTN_FLASH ? (bc->fast_gelu ? "flash+tg" : "flash")
                                                             : (bc->fast_gelu ? "std+tg" : "standard");
                if (!r.ok) {
                    printf("%-11s %-10s %7d %-8s FAILED\n", sh->name, label, T, pname);
                    continue;
                }
                printf("%-11s %-10s %7d %-8s %9.3f %9.3f %10.3fM %9.0f %9.0f\n", sh->name, label, T, pname, r.ms,
                       r.host_ms, T / r.ms / 1e3, r.peak_mib, r.memgetinfo_mib);
                fflush(stdout);
                if (jf) {
                    fprintf(jf,
                            "%s {\"model\": \"%s\", \"B\": %d, \"N\": %d, \"mixed\": %s, \"tokens\": %d, \"path\": \"%s\", "
                            "\"fast_gelu\": %d, \"ms\": %.4f, \"host_ms\": %.4f, \"tok_per_s\": %.0f, "
                            "\"act_peak_MiB\": %.1f, \"memgetinfo_act_MiB\": %.1f, \"weights_MiB\": %.1f, "
                            "\"graphs\": %d, \"dtype\": \"%s\", \"t0\": %.3f, \"t1\": %.3f}",
                            first_row ? "" : ",\n", sh->name, B, bc->N ? bc->N : max_len, bc->N ? "false" : "true", T,
                            path == SUTRA_ATTN_FLASH ? "flash" : "standard", bc->fast_gelu, r.ms, r.host_ms,
                            T / r.ms * 1e3, r.peak_mib, r.memgetinfo_mib, r.weights_mib, r.graphs,
                            cfg.shape.fp16_overflows ? "bf16" : "fp16", r.t0, r.t1);
                    first_row = 0;
                }
            }
            free(ids);
            free(cu);
        }
        sutra_st_close(st);
        free(im.buf);
    }
    if (jf) fprintf(jf, "\n]");
    if (gemm) gemm_section(jf, reps);
    if (jf) {
        fprintf(jf, ", \"mixed_lengths\": [");
        for (int i = 0; i < n_mixed; i++) fprintf(jf, "%s%d", i ? ", " : "", mixed_len[i]);
        fprintf(jf, "]}\n");
        fclose(jf);
    }
    return 0;
}
