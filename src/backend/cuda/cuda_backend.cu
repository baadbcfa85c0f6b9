/*
 * cuda_backend.cu - the CUDA backend (cuda_backend.h): device memory, weight upload, batch
 * staging, CUDA-graph capture and replay per shape key, and the op table that forwards to the
 * kernels of cuda_layernorm.cu, cuda_gemm.cu (cuBLASLt), cuda_elementwise.cu, cuda_pool.cu and
 * the attention files.
 *
 * Rules:
 *  - One non-blocking stream carries every copy and kernel, so ops need no events between them.
 *  - Every buffer an op touches has a fixed address between forwards: the arena (reset to the
 *    same allocation sequence), the weight slab, and the batch-input buffers that begin_batch
 *    fills. A graph recorded for a key therefore stays valid, and a replay reads the new batch.
 *    A buffer that must grow (batch inputs, standard-attention workspace) is reallocated only
 *    outside capture, and every graph is dropped then.
 *  - run() runs a key eagerly the first time it is seen (cuBLASLt plans and the attention
 *    workspace settle then), records it into a graph the second time and replays from then on.
 *    A capture that fails for any reason is thrown away and that key runs eagerly from then on.
 *  - The first failure is kept in the backend (status and message) and later ops become no-ops
 *    until run() or pool() reports it. A failure of the CUDA context itself (a kernel fault)
 *    stays: every later call reports it.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "backend/cuda/attention_standard.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/flash_attn.h"

namespace {

constexpr size_t ALIGN = 256;                     /* arena and weight tensors: cuBLASLt's preferred alignment */
constexpr size_t GEMM_WORKSPACE = 32u << 20;      /* cuBLASLt's recommendation for Hopper */
constexpr size_t STAGE_FLOATS = 4u << 20;         /* weight upload chunk: 16 MB of fp32 */
constexpr size_t STD_WS_LIMIT = 512u << 20;       /* standard-attention workspace growth limit: past it, heads go in groups */
constexpr int STD_WS_FIRST_HEADS = 16;            /* the first workspace holds this many heads of one std_max_seqlen sequence */
/* Batches of at least this many tokens keep a post-norm encoder's residual stream un-normalised
 * (backend.h's ln_fold_tokens) where the Hopper products can take the LayerNorm into their
 * epilogues: bench/results/h100-ln-fold-2026-12-06.txt (bert-base 64x512 1.5-3.3%
 * faster on H100s, MiniLM 1024x32 4.5-5.5%; batch 1 up to 30% slower, level at 8192). */
constexpr long LN_FOLD_MIN_TOKENS = 16384;
constexpr int MAX_GRAPHS = 32;
constexpr int OP_KINDS = 48;                      /* op timer: distinct op names kept */
constexpr int OP_MARKS = 256;                     /* op timer: events between two synchronisations */

size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

struct graph_entry {
    uint64_t key;
    uint64_t last_use;
    cudaGraphExec_t exec; /* NULL until captured */
    int no_graph;         /* capture failed once: always eager */
};

/* The op timer (SUTRA_CUDA_OP_TIMES=1, for profiling under a real workload): graphs off, an event
 * recorded after every op inside run(), and the time between consecutive events added to the
 * op's name when run() ends (one synchronisation per run, or per OP_MARKS ops). Unlike a
 * profiler that serialises kernels, the GPU stays as busy (and as power-capped) as in a timed
 * run; the span of an op includes any wait for the host to issue it, so the first op of a run
 * also carries the launch latency after the previous run's synchronisation. */
struct op_stat {
    char name[40];
    double ms;
    long n;
};
struct op_timer {
    op_stat stat[OP_KINDS];
    int nstat;
    cudaEvent_t ev[OP_MARKS + 1];
    int which[OP_MARKS + 1]; /* ev[i] ends an op of stat[which[i]] (i >= 1) */
    int nmarks;              /* events recorded since the last flush (ev[0] starts them) */
};

struct cuda_ctx {
    int device, cc_major, cc_minor;
    sutra_cuda_dtype dt;
    cudaStream_t stream;
    cudaEvent_t staged; /* recorded after the batch-input copies: the pinned buffer may be reused */

    size_t held, peak; /* device bytes */

    char *wslab;
    size_t wcap, wused;
    float *stage_host, *stage_dev; /* weight-upload staging, freed by the first begin_batch */

    char *arena;
    size_t arena_cap, arena_used;

    int32_t *d_in, *h_in; /* a batch's ids, pos, cu_seqlens at 0, T, 2T (room: 2 tok_cap + seq_cap + 1) */
    int tok_cap, seq_cap;

    int std_max_seqlen, head_dim;
    void *attn_ws;
    size_t attn_ws_bytes, attn_ws_limit;
    long flash_to_std, std_to_flash;

    float *d_pool, *h_pool, *d_pool_ws;
    size_t pool_floats, pool_ws_floats;

    float *d_dl; /* download: activations widened to fp32 */
    size_t dl_floats;

    void *gemm_ws;
    sutra_cuda_gemm *gemm;

    graph_entry graphs[MAX_GRAPHS];
    int ngraphs;
    uint64_t tick;
    int graphs_on, capturing;
    op_timer *timer; /* NULL unless SUTRA_CUDA_OP_TIMES=1 */

    sutra_status st;
    int fatal;
    char msg[512];
};

cuda_ctx *ctx_of(const sutra_backend *be) { return static_cast<cuda_ctx *>(be->ctx); }

/* ---- errors ------------------------------------------------------------------------------- */

/* Keeps the first error: status plus the message the failing launcher left in
 * sutra_cuda_last_error(). Returns the kept status. */
sutra_status note(cuda_ctx *c, sutra_status st) {
    if (st == SUTRA_OK) return c->st;
    if (c->st == SUTRA_OK) {
        c->st = st;
        snprintf(c->msg, sizeof c->msg, "%s", sutra_cuda_last_error());
    }
    return c->st;
}

sutra_status fail(cuda_ctx *c, sutra_status st, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sutra_cuda_fail(st, "cuda backend: %s", buf);
    return note(c, st);
}

/* A CUDA runtime failure. Outside capture, a context that no longer answers is marked fatal. */
sutra_status cuda_fail(cuda_ctx *c, cudaError_t e, const char *what) {
    const sutra_status st = e == cudaErrorMemoryAllocation ? SUTRA_ERR_OUT_OF_MEMORY : SUTRA_ERR_INTERNAL;
    fail(c, st, "%s: %s", what, cudaGetErrorString(e));
    if (!c->capturing) {
        cudaGetLastError(); /* clears a non-sticky error; a sticky one stays and is seen below */
        const cudaError_t q = cudaStreamQuery(c->stream);
        if (q != cudaSuccess && q != cudaErrorNotReady) c->fatal = 1;
    }
    return c->st;
}

/* Reports the kept error once (the context's own failure: always), then clears it. */
sutra_status take_error(cuda_ctx *c, sutra_status st) {
    if (c->st != SUTRA_OK) {
        st = c->st;
        sutra_cuda_fail(st, "%s", c->msg);
        if (!c->fatal) c->st = SUTRA_OK;
    }
    return st;
}

/* ---- device memory ------------------------------------------------------------------------ */

sutra_status dev_alloc(cuda_ctx *c, void **p, size_t bytes, const char *what) {
    *p = nullptr;
    if (bytes == 0) return SUTRA_OK;
    const cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *p = nullptr;
        return fail(c, SUTRA_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of device memory for %s: %s", bytes, what,
                    cudaGetErrorString(e));
    }
    c->held += bytes;
    if (c->held > c->peak) c->peak = c->held;
    return SUTRA_OK;
}

void dev_free(cuda_ctx *c, void **p, size_t bytes) {
    if (!*p) return;
    cudaFree(*p);
    *p = nullptr;
    c->held -= bytes;
}

/* ---- graphs ------------------------------------------------------------------------------- */

void drop_graphs(cuda_ctx *c) {
    for (int i = 0; i < c->ngraphs; i++)
        if (c->graphs[i].exec) cudaGraphExecDestroy(c->graphs[i].exec);
    c->ngraphs = 0;
}

graph_entry *find_graph(cuda_ctx *c, uint64_t key) {
    for (int i = 0; i < c->ngraphs; i++)
        if (c->graphs[i].key == key) return &c->graphs[i];
    return nullptr;
}

graph_entry *add_graph(cuda_ctx *c, uint64_t key) {
    graph_entry *g;
    if (c->ngraphs < MAX_GRAPHS) {
        g = &c->graphs[c->ngraphs++];
    } else {
        g = &c->graphs[0];
        for (int i = 1; i < c->ngraphs; i++)
            if (c->graphs[i].last_use < g->last_use) g = &c->graphs[i];
        if (g->exec) cudaGraphExecDestroy(g->exec);
    }
    *g = graph_entry{key, ++c->tick, nullptr, 0};
    return g;
}

/* ---- ops ---------------------------------------------------------------------------------- */

int cuda_supports(const sutra_backend *be, sutra_backend_op op, int head_dim) {
    const cuda_ctx *c = ctx_of(be);
    if (op == SUTRA_OP_ATTENTION_FLASH) return sutra_cuda_flash_supported(head_dim, c->cc_major, c->cc_minor);
    if (op == SUTRA_OP_ATTENTION_STANDARD) return c->std_max_seqlen > 0 && head_dim >= 1 && head_dim <= 256;
    return 0;
}

sutra_status cuda_weights_reserve(sutra_backend *be, size_t floats) {
    cuda_ctx *c = ctx_of(be);
    cudaSetDevice(c->device);
    /* fp16 elements, each tensor starting on an ALIGN boundary: a slack of ALIGN per tensor
     * for up to 256 + floats/65536 tensors (a BERT layer has 12 tensors over 7 million floats) */
    const size_t bytes = round_up(floats * 2 + ALIGN * (256 + floats / 65536), ALIGN);
    if (c->wslab) {
        if (c->wcap - c->wused >= bytes) return SUTRA_OK;
        return take_error(c, fail(c, SUTRA_ERR_UNSUPPORTED, "weights already reserved (%zu bytes, %zu free), %zu more asked",
                                  c->wcap, c->wcap - c->wused, bytes));
    }
    sutra_status st = dev_alloc(c, (void **)&c->wslab, bytes, "the weights");
    if (st != SUTRA_OK) return take_error(c, st);
    c->wcap = bytes;
    c->wused = 0;
    return SUTRA_OK;
}

const void *cuda_weights_upload(sutra_backend *be, const float *host, size_t n) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return nullptr;
    cudaSetDevice(c->device);
    const size_t off = round_up(c->wused, ALIGN);
    if (!c->wslab || off > c->wcap || n * 2 > c->wcap - off) {
        fail(c, SUTRA_ERR_OUT_OF_MEMORY, "weight slab full: %zu of %zu bytes used, %zu more asked", c->wused, c->wcap,
             n * 2);
        return nullptr;
    }
    char *dst = c->wslab + off;
    if (n && !host) {
        fail(c, SUTRA_ERR_INVALID_ARGUMENT, "weights_upload: NULL host tensor");
        return nullptr;
    }
    if (n && !c->stage_host) {
        cudaError_t e = cudaMallocHost((void **)&c->stage_host, STAGE_FLOATS * sizeof(float));
        if (e != cudaSuccess) {
            c->stage_host = nullptr;
            cuda_fail(c, e, "pinned upload buffer");
            return nullptr;
        }
        if (dev_alloc(c, (void **)&c->stage_dev, STAGE_FLOATS * sizeof(float), "the upload buffer") != SUTRA_OK)
            return nullptr;
    }
    for (size_t i = 0; i < n; i += STAGE_FLOATS) {
        const size_t m = n - i < STAGE_FLOATS ? n - i : STAGE_FLOATS;
        memcpy(c->stage_host, host + i, m * sizeof(float));
        cudaError_t e = cudaMemcpyAsync(c->stage_dev, c->stage_host, m * sizeof(float), cudaMemcpyHostToDevice, c->stream);
        if (e != cudaSuccess) {
            cuda_fail(c, e, "weight upload copy");
            return nullptr;
        }
        if (note(c, sutra_cuda_convert_f32(dst + i * 2, c->stage_dev, m, c->dt, c->stream)) != SUTRA_OK) return nullptr;
        e = cudaStreamSynchronize(c->stream); /* the pinned chunk is reused next */
        if (e != cudaSuccess) {
            cuda_fail(c, e, "weight upload");
            return nullptr;
        }
    }
    c->wused = off + n * 2;
    return dst;
}

/* Batch-input buffers for at least T tokens and B sequences; growing drops the graphs. */
sutra_status ensure_batch_buffers(cuda_ctx *c, int T, int B) {
    if (T <= c->tok_cap && B <= c->seq_cap && c->d_in) return SUTRA_OK;
    const int tok = T > c->tok_cap ? (int)round_up((size_t)T, 1024) : c->tok_cap;
    const int seq = B > c->seq_cap ? (int)round_up((size_t)B, 256) : c->seq_cap;
    const size_t bytes = ((size_t)2 * tok + seq + 1) * sizeof(int32_t);
    drop_graphs(c);
    if (c->d_in) {
        cudaStreamSynchronize(c->stream);
        dev_free(c, (void **)&c->d_in, ((size_t)2 * c->tok_cap + c->seq_cap + 1) * sizeof(int32_t));
        cudaFreeHost(c->h_in);
        c->h_in = nullptr;
    }
    c->tok_cap = c->seq_cap = 0;
    sutra_status st = dev_alloc(c, (void **)&c->d_in, bytes, "the batch inputs");
    if (st != SUTRA_OK) return st;
    const cudaError_t e = cudaMallocHost((void **)&c->h_in, bytes);
    if (e != cudaSuccess) {
        c->h_in = nullptr;
        dev_free(c, (void **)&c->d_in, bytes);
        return cuda_fail(c, e, "pinned batch-input buffer");
    }
    c->tok_cap = tok;
    c->seq_cap = seq;
    return SUTRA_OK;
}

sutra_status cuda_begin_batch(sutra_backend *be, const int32_t *ids, const int32_t *pos, const int32_t *cu, int T,
                              int B, sutra_batch_io *io) {
    cuda_ctx *c = ctx_of(be);
    if (c->fatal) return take_error(c, c->st);
    cudaSetDevice(c->device);
    if (T < 0 || B < 0 || !ids || !cu || !io)
        return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "begin_batch: T %d, B %d, or a NULL pointer", T, B));
    /* kernels index rows by these offsets: check them once here */
    if (cu[0] != 0 || cu[B] != T)
        return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "begin_batch: cu_seqlens[0] %d, cu_seqlens[B] %d, T %d",
                                  cu[0], cu[B], T));
    for (int b = 0; b < B; b++)
        if (cu[b + 1] < cu[b])
            return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "begin_batch: cu_seqlens decreases at %d", b));
    cudaError_t e = cudaEventSynchronize(c->staged); /* the previous batch's copies have left h_in */
    if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "begin_batch: waiting for the previous copies"));
    if (c->stage_dev) { /* weights are in; the upload buffers are not needed any more */
        e = cudaStreamSynchronize(c->stream);
        if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "begin_batch"));
        dev_free(c, (void **)&c->stage_dev, STAGE_FLOATS * sizeof(float));
        cudaFreeHost(c->stage_host);
        c->stage_host = nullptr;
    }
    sutra_status st = ensure_batch_buffers(c, T, B);
    if (st != SUTRA_OK) return take_error(c, st);
    /* ids, positions and offsets packed back to back (ids at 0, positions at T, offsets at 2T,
     * in both buffers) so that one copy carries them: at batch 1 each cudaMemcpyAsync costs a few
     * microseconds of a forward of ~0.5 ms. The addresses depend on T alone, which every graph's
     * key holds. */
    const size_t n_in = 2 * (size_t)T + (size_t)B + 1;
    int32_t *h_ids = c->h_in, *h_pos = c->h_in + T, *h_cu = c->h_in + 2 * (size_t)T;
    int32_t *d_ids = c->d_in, *d_pos = c->d_in + T, *d_cu = c->d_in + 2 * (size_t)T;
    memcpy(h_ids, ids, (size_t)T * sizeof *ids);
    if (pos) memcpy(h_pos, pos, (size_t)T * sizeof *pos);
    else memset(h_pos, 0, (size_t)T * sizeof *h_pos);
    memcpy(h_cu, cu, (size_t)(B + 1) * sizeof *cu);
    e = cudaMemcpyAsync(d_ids, h_ids, n_in * sizeof *h_ids, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaEventRecord(c->staged, c->stream);
    if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "begin_batch: copy"));
    *io = sutra_batch_io{d_ids, pos ? d_pos : nullptr, d_cu};
    return SUTRA_OK;
}

/* ---- op timer ------------------------------------------------------------------------------ */

/* Adds the spans between the recorded events to their ops (synchronises). */
void timer_flush(cuda_ctx *c) {
    op_timer *t = c->timer;
    if (!t || t->nmarks == 0) return;
    if (cudaEventSynchronize(t->ev[t->nmarks]) == cudaSuccess)
        for (int i = 1; i <= t->nmarks; i++) {
            float ms = 0.f;
            if (cudaEventElapsedTime(&ms, t->ev[i - 1], t->ev[i]) == cudaSuccess) {
                t->stat[t->which[i]].ms += ms;
                t->stat[t->which[i]].n++;
            }
        }
    cudaGetLastError();
    t->nmarks = 0;
}

/* Adds up what is recorded, then starts the next span here. */
void timer_start(cuda_ctx *c) {
    if (!c->timer) return;
    timer_flush(c);
    if (cudaEventRecord(c->timer->ev[0], c->stream) != cudaSuccess) cudaGetLastError();
}

/* Marks the end of an op named by fmt (the name is cut to 39 characters). */
void timer_mark(cuda_ctx *c, const char *fmt, ...) {
    op_timer *t = c->timer;
    if (!t || c->st != SUTRA_OK) return;
    char name[sizeof t->stat[0].name];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int k = 0;
    while (k < t->nstat && strcmp(t->stat[k].name, name)) k++;
    if (k == t->nstat) {
        if (t->nstat == OP_KINDS) return;
        memcpy(t->stat[k].name, name, sizeof name);
        t->nstat++;
    }
    t->nmarks++;
    t->which[t->nmarks] = k;
    if (cudaEventRecord(t->ev[t->nmarks], c->stream) != cudaSuccess) {
        cudaGetLastError();
        t->nmarks--;
    }
    if (t->nmarks == OP_MARKS) timer_start(c); /* full: add them up, go on from here (nothing ran since) */
}

/* The timer's table, the ops by total time. */
void timer_print(cuda_ctx *c, FILE *f) {
    op_timer *t = c->timer;
    timer_flush(c);
    double total = 0;
    for (int k = 0; k < t->nstat; k++) total += t->stat[k].ms;
    if (total <= 0) return;
    int order[OP_KINDS];
    for (int k = 0; k < t->nstat; k++) order[k] = k;
    for (int i = 1; i < t->nstat; i++) /* insertion sort, largest total first */
        for (int j = i; j > 0 && t->stat[order[j]].ms > t->stat[order[j - 1]].ms; j--) {
            const int x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    fprintf(f, "op times (SUTRA_CUDA_OP_TIMES=1: eager, an event after every op), %.3f ms in all\n", total);
    fprintf(f, "  %-40s %7s %11s %10s %6s\n", "op", "calls", "total ms", "mean us", "share");
    for (int i = 0; i < t->nstat; i++) {
        const op_stat &o = t->stat[order[i]];
        fprintf(f, "  %-40s %7ld %11.3f %10.2f %5.1f%%\n", o.name, o.n, o.ms, o.n ? o.ms * 1e3 / o.n : 0.0,
                100.0 * o.ms / total);
    }
}

const char *act_name(sutra_act act) {
    return act == SUTRA_ACT_GELU ? " gelu" : act == SUTRA_ACT_GELU_TANH ? " gelu-tanh" : "";
}

sutra_status cuda_run(sutra_backend *be, uint64_t key, sutra_status (*fn)(void *ctx), void *ctx) {
    cuda_ctx *c = ctx_of(be);
    if (c->fatal) return take_error(c, c->st);
    cudaSetDevice(c->device);
    if (c->st != SUTRA_OK) return take_error(c, c->st); /* an op called outside run() failed */
    c->msg[0] = '\0';
    if (c->timer) {
        timer_start(c);
        const sutra_status st = fn(ctx);
        timer_start(c); /* this run's ops added up; ops called outside run() count from here */
        return take_error(c, st);
    }
    if (!c->graphs_on) return take_error(c, fn(ctx));

    graph_entry *g = find_graph(c, key);
    if (!g) { /* first sight: eager, so that plans and workspaces settle */
        add_graph(c, key);
        return take_error(c, fn(ctx));
    }
    g->last_use = ++c->tick;
    if (!g->exec && !g->no_graph) {
        cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed);
        cudaGraph_t graph = nullptr;
        sutra_status st = SUTRA_OK;
        if (e == cudaSuccess) {
            c->capturing = 1;
            st = fn(ctx);
            c->capturing = 0;
            e = cudaStreamEndCapture(c->stream, &graph);
        }
        if (e == cudaSuccess && st == SUTRA_OK && c->st == SUTRA_OK)
            e = cudaGraphInstantiate(&g->exec, graph, 0);
        if (graph) cudaGraphDestroy(graph);
        if (e != cudaSuccess || st != SUTRA_OK || c->st != SUTRA_OK || !g->exec) {
            /* nothing recorded ran: forget the failure and run this key eagerly from now on */
            cudaGetLastError();
            if (g->exec) cudaGraphExecDestroy(g->exec);
            g->exec = nullptr;
            g->no_graph = 1;
            c->st = SUTRA_OK;
        }
    }
    if (!g->exec) return take_error(c, fn(ctx));
    const cudaError_t e = cudaGraphLaunch(g->exec, c->stream);
    if (e != cudaSuccess) cuda_fail(c, e, "graph launch");
    return take_error(c, SUTRA_OK);
}

void cuda_embed_layernorm(sutra_backend *be, void *out, const int32_t *ids, const int32_t *pos, const void *wte,
                          const void *wpe, const void *wtt, const void *ln_w, const void *ln_b, int T, int C,
                          float eps) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_embed_layernorm(out, ids, pos, wte, wpe, wtt, ln_w, ln_b, T, C, eps, c->dt, c->stream));
    timer_mark(c, "embed+LN");
}

void cuda_matmul(sutra_backend *be, void *out, const void *inp, const void *w, const void *bias, int T, int N, int K,
                 sutra_act act) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_gemm_run(c->gemm, out, inp, w, bias, T, N, K, act, c->stream));
    timer_mark(c, "matmul N %d K %d%s", N, K, act_name(act));
}

void cuda_add_layernorm(sutra_backend *be, void *out, const void *inp, const void *residual, const void *w,
                        const void *b, int T, int C, float eps) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_add_layernorm(out, nullptr, inp, residual, w, b, T, C, eps, c->dt, c->stream));
    timer_mark(c, residual ? "add+LN" : "LN");
}

void cuda_residual_layernorm(sutra_backend *be, void *sum, void *norm, const void *x, const void *res, const void *w,
                             const void *b, int T, int C, float eps) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    if (!sum) {
        fail(c, SUTRA_ERR_INVALID_ARGUMENT, "residual_layernorm: NULL sum");
        return;
    }
    note(c, sutra_cuda_add_layernorm(norm, sum, x, res, w, b, T, C, eps, c->dt, c->stream));
    timer_mark(c, "residual+LN");
}

void cuda_matmul_ln(sutra_backend *be, void *out, const void *z, const float *stats, const void *w, const void *s,
                    const void *cv, int T, int N, int K, sutra_act act) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_matmul_ln(c->gemm, out, z, stats, w, s, cv, T, N, K, act, c->stream));
    timer_mark(c, "matmul+LN-in N %d K %d%s", N, K, act_name(act));
}

void cuda_matmul_residual_ln(sutra_backend *be, void *z_out, float *stats_out, const void *inp, const void *w,
                             const void *d, const void *z_prev, const float *stats_prev, const void *g_prev,
                             const void *g_next, int T, int N, int K, float eps) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_matmul_residual_ln(c->gemm, z_out, stats_out, inp, w, d, z_prev, stats_prev, g_prev, g_next,
                                          T, N, K, eps, c->stream));
    timer_mark(c, "matmul+res+LN-stats N %d K %d", N, K);
}

void cuda_ln_apply(sutra_backend *be, void *out, const void *z, const float *stats, const void *g, const void *b,
                   int T, int C) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_ln_apply(out, z, stats, g, b, T, C, c->dt, c->stream));
    timer_mark(c, "LN apply");
}

void cuda_rope(sutra_backend *be, void *qkv, const int32_t *pos, int T, int H, int D, int64_t stride, float theta) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_rope(qkv, pos, T, H, D, stride, theta, c->dt, c->stream));
    timer_mark(c, "rope");
}

void cuda_glu(sutra_backend *be, void *out, const void *inp, int T, int F, sutra_act act) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return;
    note(c, sutra_cuda_glu(out, inp, T, F, act, c->dt, c->stream));
    timer_mark(c, "glu");
}

/* host (n floats) = src (n activations): widened on the device, copied, waited for. */
sutra_status cuda_download(sutra_backend *be, float *host, const void *src, size_t n) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return take_error(c, c->st);
    cudaSetDevice(c->device);
    if (c->capturing) return take_error(c, fail(c, SUTRA_ERR_INTERNAL, "download called inside run()"));
    if (n == 0) return SUTRA_OK;
    if (!host || !src) return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "download: NULL pointer"));
    if (n > c->dl_floats) {
        dev_free(c, (void **)&c->d_dl, c->dl_floats * sizeof(float));
        c->dl_floats = 0;
        if (dev_alloc(c, (void **)&c->d_dl, n * sizeof(float), "the download buffer") != SUTRA_OK)
            return take_error(c, c->st);
        c->dl_floats = n;
    }
    if (note(c, sutra_cuda_convert_to_f32(c->d_dl, src, n, c->dt, c->stream)) != SUTRA_OK) return take_error(c, c->st);
    cudaError_t e = cudaMemcpyAsync(host, c->d_dl, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "download"));
    return SUTRA_OK;
}

/* Makes the standard-attention workspace hold all heads of this batch when that fits under
 * the limit, else as many heads as fit (at least one). Outside capture only. */
sutra_status grow_attn_workspace(cuda_ctx *c, size_t need_one, size_t need_all) {
    size_t want = need_all <= c->attn_ws_limit ? need_all : c->attn_ws_limit / need_one * need_one;
    if (want < need_one) want = need_one;
    if (want <= c->attn_ws_bytes) return SUTRA_OK;
    const cudaError_t e = cudaStreamSynchronize(c->stream); /* earlier layers may still read the old one */
    if (e != cudaSuccess) return cuda_fail(c, e, "attention workspace");
    drop_graphs(c);
    dev_free(c, &c->attn_ws, c->attn_ws_bytes);
    c->attn_ws_bytes = 0;
    if (dev_alloc(c, &c->attn_ws, want, "the standard-attention workspace") != SUTRA_OK) {
        if (want == need_one) return c->st;
        c->st = SUTRA_OK; /* try once more with one head's share */
        if (dev_alloc(c, &c->attn_ws, need_one, "the standard-attention workspace") != SUTRA_OK) return c->st;
        want = need_one;
    }
    c->attn_ws_bytes = want;
    return SUTRA_OK;
}

sutra_status attention_op(cuda_ctx *c, const sutra_attn_params *p, sutra_attn_path path, bool *flash_ran);

sutra_status cuda_attention(sutra_backend *be, const sutra_attn_params *p, sutra_attn_path path) {
    cuda_ctx *c = ctx_of(be);
    bool flash_ran = false;
    const sutra_status st = attention_op(c, p, path, &flash_ran);
    if (p) timer_mark(c, "attention %s d %d", flash_ran ? "flash" : "standard", p->head_dim);
    return st;
}

sutra_status attention_op(cuda_ctx *c, const sutra_attn_params *p, sutra_attn_path path, bool *flash_ran) {
    if (c->st != SUTRA_OK) return c->st;
    if (!p) return fail(c, SUTRA_ERR_INVALID_ARGUMENT, "attention: NULL params");
    const int flash_ok = sutra_cuda_flash_supported(p->head_dim, c->cc_major, c->cc_minor);
    bool flash = path == SUTRA_ATTN_FLASH;
    if (flash && !flash_ok) {
        flash = false;
        c->flash_to_std++;
    }
    if (!flash && c->std_max_seqlen == 0) {
        if (!flash_ok)
            return fail(c, SUTRA_ERR_UNSUPPORTED, "attention: head dim %d has no flash kernel and the standard path is off",
                        p->head_dim);
        flash = true;
        c->std_to_flash++;
    }
    if (flash) {
        const sutra_status st = sutra_cuda_flash_attention(p, c->dt, c->stream);
        *flash_ran = st == SUTRA_OK;
        if (st != SUTRA_ERR_UNSUPPORTED || c->std_max_seqlen == 0) return note(c, st);
        c->flash_to_std++; /* misaligned strides, or no code for this GPU: the standard path takes it */
    }
    const size_t need_one = sutra_cuda_standard_attention_workspace(p->batch, 1, p->max_seqlen);
    const size_t need_all = sutra_cuda_standard_attention_workspace(p->batch, p->heads, p->max_seqlen);
    if (need_one == 0 || need_all == 0) {
        if (p->batch == 0 || p->max_seqlen == 0) return SUTRA_OK;
        return fail(c, SUTRA_ERR_INVALID_ARGUMENT, "attention: workspace size overflows (B %d, N %d, H %d)", p->batch,
                    p->max_seqlen, p->heads);
    }
    if (c->attn_ws_bytes < need_all && c->attn_ws_bytes < c->attn_ws_limit) {
        if (!c->capturing) {
            const sutra_status st = grow_attn_workspace(c, need_one, need_all);
            if (st != SUTRA_OK) return st;
        } else if (c->attn_ws_bytes < need_one) { /* cannot allocate now; the eager run will */
            return fail(c, SUTRA_ERR_BUFFER_TOO_SMALL, "attention: workspace too small during capture");
        }
    }
    return note(c, sutra_cuda_standard_attention(p, c->dt, c->attn_ws, c->attn_ws_bytes, c->stream));
}

sutra_status ensure_pool_buffers(cuda_ctx *c, int B, int C) {
    const size_t out_floats = (size_t)B * C, ws_floats = sutra_cuda_pool_workspace_floats(B, C);
    if (out_floats > c->pool_floats) {
        dev_free(c, (void **)&c->d_pool, c->pool_floats * sizeof(float));
        cudaFreeHost(c->h_pool);
        c->h_pool = nullptr;
        c->pool_floats = 0;
        sutra_status st = dev_alloc(c, (void **)&c->d_pool, out_floats * sizeof(float), "the pooled vectors");
        if (st != SUTRA_OK) return st;
        const cudaError_t e = cudaMallocHost((void **)&c->h_pool, out_floats * sizeof(float));
        if (e != cudaSuccess) {
            c->h_pool = nullptr;
            dev_free(c, (void **)&c->d_pool, out_floats * sizeof(float));
            return cuda_fail(c, e, "pinned pooling buffer");
        }
        c->pool_floats = out_floats;
    }
    if (ws_floats > c->pool_ws_floats) {
        dev_free(c, (void **)&c->d_pool_ws, c->pool_ws_floats * sizeof(float));
        c->pool_ws_floats = 0;
        sutra_status st = dev_alloc(c, (void **)&c->d_pool_ws, ws_floats * sizeof(float), "the pooling workspace");
        if (st != SUTRA_OK) return st;
        c->pool_ws_floats = ws_floats;
    }
    return SUTRA_OK;
}

sutra_status cuda_pool(sutra_backend *be, float *out, const void *inp, const int32_t *cu, const int32_t *host_cu, int B,
                       int C, sutra_pooling mode) {
    cuda_ctx *c = ctx_of(be);
    if (c->st != SUTRA_OK) return take_error(c, c->st);
    cudaSetDevice(c->device);
    if (c->capturing) return take_error(c, fail(c, SUTRA_ERR_INTERNAL, "pool called inside run()"));
    if (B < 0 || C < 1 || !out || !host_cu)
        return take_error(c, fail(c, SUTRA_ERR_INVALID_ARGUMENT, "pool: B %d, C %d, or a NULL pointer", B, C));
    if (B == 0) return SUTRA_OK;
    int max_len = 0;
    for (int b = 0; b < B; b++)
        if (host_cu[b + 1] - host_cu[b] > max_len) max_len = host_cu[b + 1] - host_cu[b];
    if (mode == SUTRA_POOLING_MODEL) mode = SUTRA_POOLING_MEAN; /* as the CPU backend's default */
    sutra_status st = ensure_pool_buffers(c, B, C);
    if (st != SUTRA_OK) return take_error(c, st);
    st = note(c, sutra_cuda_pool(c->d_pool, inp, cu, B, C, max_len, mode, c->d_pool_ws, c->pool_ws_floats, c->dt,
                                 c->stream));
    if (st != SUTRA_OK) return take_error(c, st);
    const size_t bytes = (size_t)B * C * sizeof(float);
    cudaError_t e = cudaMemcpyAsync(c->h_pool, c->d_pool, bytes, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return take_error(c, cuda_fail(c, e, "pool: waiting for the forward pass"));
    memcpy(out, c->h_pool, bytes);
    return take_error(c, SUTRA_OK);
}

void *cuda_arena_alloc(sutra_backend *be, size_t bytes) {
    cuda_ctx *c = ctx_of(be);
    const size_t need = round_up(bytes, ALIGN);
    if (need > c->arena_cap - c->arena_used) return nullptr;
    void *p = c->arena + c->arena_used;
    c->arena_used += need;
    return p;
}

void cuda_arena_reset(sutra_backend *be) { ctx_of(be)->arena_used = 0; }

void cuda_destroy(sutra_backend *be) {
    if (!be) return;
    cuda_ctx *c = ctx_of(be);
    if (c) {
        cudaSetDevice(c->device);
        if (c->stream) cudaStreamSynchronize(c->stream);
        drop_graphs(c);
        if (c->timer) {
            timer_print(c, stderr);
            for (int i = 0; i <= OP_MARKS; i++) cudaEventDestroy(c->timer->ev[i]);
            free(c->timer);
        }
        sutra_cuda_gemm_destroy(c->gemm);
        cudaFree(c->gemm_ws);
        cudaFree(c->wslab);
        cudaFree(c->arena);
        cudaFree(c->stage_dev);
        cudaFreeHost(c->stage_host);
        cudaFree(c->d_in);
        cudaFreeHost(c->h_in);
        cudaFree(c->attn_ws);
        cudaFree(c->d_pool);
        cudaFree(c->d_pool_ws);
        cudaFree(c->d_dl);
        cudaFreeHost(c->h_pool);
        if (c->staged) cudaEventDestroy(c->staged);
        if (c->stream) cudaStreamDestroy(c->stream);
        cudaGetLastError();
        free(c);
    }
    free(be);
}

int env_flag(const char *name, int dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    return strcmp(v, "0") != 0;
}

/* A small non-negative level: "0", "1", "2", ...; unset, empty or anything else: dflt. */
int env_level(const char *name, int dflt) {
    const char *v = getenv(name);
    if (!v || v[0] < '0' || v[0] > '9' || v[1]) return dflt;
    return v[0] - '0';
}

/* The device, its properties, and whether this build can run on it. */
sutra_status open_device(int device, cudaDeviceProp *prop, char *err, size_t errcap) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        snprintf(err, errcap, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return SUTRA_ERR_UNSUPPORTED;
    }
    if (device < 0 || device >= n) {
        snprintf(err, errcap, "no CUDA device %d (%d present)", device, n);
        return SUTRA_ERR_UNSUPPORTED;
    }
    e = cudaGetDeviceProperties(prop, device);
    if (e != cudaSuccess) {
        cudaGetLastError();
        snprintf(err, errcap, "CUDA device %d: %s", device, cudaGetErrorString(e));
        return SUTRA_ERR_UNSUPPORTED;
    }
    return SUTRA_OK;
}

} // namespace

extern "C" sutra_status sutra_cuda_device_query(int device, sutra_cuda_device_info *info, char *err, size_t errcap) {
    char buf[256];
    cudaDeviceProp prop;
    if (!info) {
        snprintf(err ? err : buf, err ? errcap : sizeof buf, "device_query: NULL info");
        return SUTRA_ERR_INVALID_ARGUMENT;
    }
    memset(info, 0, sizeof *info);
    sutra_status st = open_device(device, &prop, err ? err : buf, err ? errcap : sizeof buf);
    if (st != SUTRA_OK) return st;
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->cc_major = prop.major;
    info->cc_minor = prop.minor;
    info->total_bytes = prop.totalGlobalMem;
    for (int d = 32; d <= 128; d *= 2)
        if (sutra_cuda_flash_supported(d, prop.major, prop.minor)) info->flash_head_dims_mask |= d;
    for (int d = 32; d <= 128; d *= 2)
        if (sutra_cuda_flash_sm90_supported(d, prop.major, prop.minor)) info->wgmma_head_dims_mask |= d;
    return SUTRA_OK;
}

extern "C" sutra_status sutra_cuda_backend_create(int device, size_t arena_bytes, int std_max_seqlen, int head_dim,
                                                  int use_bf16, sutra_backend **out, char *err, size_t errcap) {
    char buf[512];
    if (!err) {
        err = buf;
        errcap = sizeof buf;
    }
    if (!out) {
        snprintf(err, errcap, "cuda backend: NULL out");
        return SUTRA_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    if (arena_bytes == 0 || std_max_seqlen < 0 || head_dim < 1) {
        snprintf(err, errcap, "cuda backend: arena %zu bytes, std_max_seqlen %d, head_dim %d", arena_bytes,
                 std_max_seqlen, head_dim);
        return SUTRA_ERR_INVALID_ARGUMENT;
    }
    cudaDeviceProp prop;
    sutra_status st = open_device(device, &prop, err, errcap);
    if (st != SUTRA_OK) return st;
    if (prop.major < 8) {
        snprintf(err, errcap, "CUDA device %d (%s) has compute capability %d.%d; the CUDA backend needs 8.0 or newer",
                 device, prop.name, prop.major, prop.minor);
        return SUTRA_ERR_UNSUPPORTED;
    }
    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess || !sutra_cuda_have_code_for_device()) {
        cudaGetLastError();
        snprintf(err, errcap, "this build has no machine code for %s (sm_%d%d); rebuild with its architecture", prop.name,
                 prop.major, prop.minor);
        return SUTRA_ERR_UNSUPPORTED;
    }
    if (!sutra_cuda_flash_supported(head_dim, prop.major, prop.minor) && (std_max_seqlen == 0 || head_dim > 256)) {
        snprintf(err, errcap, "cuda backend: head dim %d has no flash kernel%s", head_dim,
                 head_dim > 256 ? " and is over the standard path's 256" : " and the standard path is off");
        return SUTRA_ERR_UNSUPPORTED;
    }

    sutra_backend *be = (sutra_backend *)calloc(1, sizeof *be);
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        snprintf(err, errcap, "cuda backend: out of host memory");
        return SUTRA_ERR_OUT_OF_MEMORY;
    }
    be->name = "cuda";
    be->ctx = c;
    be->act_bytes = 2;
    be->supports = cuda_supports;
    be->weights_reserve = cuda_weights_reserve;
    be->weights_upload = cuda_weights_upload;
    be->begin_batch = cuda_begin_batch;
    be->run = cuda_run;
    be->embed_layernorm = cuda_embed_layernorm;
    be->matmul = cuda_matmul;
    be->add_layernorm = cuda_add_layernorm;
    be->residual_layernorm = cuda_residual_layernorm;
    be->matmul_ln = cuda_matmul_ln;
    be->matmul_residual_ln = cuda_matmul_residual_ln;
    be->ln_apply = cuda_ln_apply;
    be->rope = cuda_rope;
    be->glu = cuda_glu;
    be->download = cuda_download;
    be->attention = cuda_attention;
    be->pool = cuda_pool;
    be->arena_alloc = cuda_arena_alloc;
    be->arena_reset = cuda_arena_reset;
    be->destroy = cuda_destroy;
    c->device = device;
    c->cc_major = prop.major;
    c->cc_minor = prop.minor;
    c->dt = use_bf16 ? SUTRA_CUDA_DTYPE_BF16 : SUTRA_CUDA_DTYPE_F16;
    c->std_max_seqlen = std_max_seqlen;
    c->head_dim = head_dim;
    c->attn_ws_limit = STD_WS_LIMIT;
    c->graphs_on = env_flag("SUTRA_CUDA_GRAPHS", 1);
    if (env_flag("SUTRA_CUDA_OP_TIMES", 0)) {
        c->timer = (op_timer *)calloc(1, sizeof *c->timer);
        for (int i = 0; c->timer && i <= OP_MARKS; i++)
            if (cudaEventCreate(&c->timer->ev[i]) != cudaSuccess) {
                cudaGetLastError();
                while (i-- > 0) cudaEventDestroy(c->timer->ev[i]);
                free(c->timer);
                c->timer = nullptr;
            }
        if (!c->timer) fprintf(stderr, "sutra: SUTRA_CUDA_OP_TIMES: could not make the timer's events; timing off\n");
    }

    e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&c->staged, cudaEventDisableTiming);
    if (e != cudaSuccess) cuda_fail(c, e, "stream");
    if (c->st == SUTRA_OK) {
        c->arena_cap = round_up(arena_bytes, ALIGN);
        dev_alloc(c, (void **)&c->arena, c->arena_cap, "the activation arena");
    }
    if (c->st == SUTRA_OK) dev_alloc(c, &c->gemm_ws, GEMM_WORKSPACE, "the cuBLASLt workspace");
    const int fast_gelu = env_flag("SUTRA_CUDA_FAST_GELU", 0);
    if (c->st == SUTRA_OK)
        note(c, sutra_cuda_gemm_create(&c->gemm, c->gemm_ws, GEMM_WORKSPACE, c->dt, fast_gelu,
                                       env_level("SUTRA_CUDA_CUTLASS", 1)));
    /* LayerNorm folding (backend.h): where the products run on CUTLASS with the LayerNorm in their
     * epilogues, from LN_FOLD_MIN_TOKENS; SUTRA_CUDA_LN_FOLD=0 turns it off, =N (a count of
     * tokens) moves the threshold. Not with the tanh GELU: the folded kernels fuse only the exact
     * one, and cuBLASLt + the folding pass is slower than no folding (bert-base 64x512 17.0 ms
     * against 13.1) */
    if (c->st == SUTRA_OK && sutra_cuda_gemm_uses_cutlass(c->gemm) && !fast_gelu) {
        const char *v = getenv("SUTRA_CUDA_LN_FOLD");
        const long n = v && *v ? strtol(v, nullptr, 10) : LN_FOLD_MIN_TOKENS;
        be->ln_fold_tokens = n > 0 && n < (1L << 30) ? (int)n : 0;
    }
    /* batch inputs for the tokens the arena can hold at 4 KB per token (any model of hidden size
     * 256 or more needs at least that); a larger batch grows them */
    if (c->st == SUTRA_OK) ensure_batch_buffers(c, (int)(arena_bytes / 4096 < (1u << 30) ? arena_bytes / 4096 + 1 : 1u << 30), 1024);
    if (c->st == SUTRA_OK && std_max_seqlen > 0) {
        const size_t first = sutra_cuda_standard_attention_workspace(1, STD_WS_FIRST_HEADS, std_max_seqlen);
        if (first && first <= c->attn_ws_limit && dev_alloc(c, &c->attn_ws, first, "the standard-attention workspace") == SUTRA_OK)
            c->attn_ws_bytes = first;
    }
    if (c->st != SUTRA_OK) {
        snprintf(err, errcap, "%s", c->msg);
        st = c->st;
        cuda_destroy(be);
        return st;
    }
    *out = be;
    return SUTRA_OK;
}

extern "C" size_t sutra_cuda_backend_peak_bytes(const sutra_backend *be) { return be ? ctx_of(be)->peak : 0; }

extern "C" size_t sutra_cuda_backend_held_bytes(const sutra_backend *be) { return be ? ctx_of(be)->held : 0; }

extern "C" void *sutra_cuda_backend_stream(const sutra_backend *be) { return be ? ctx_of(be)->stream : nullptr; }

extern "C" int sutra_cuda_backend_graphs(const sutra_backend *be) {
    if (!be) return 0;
    const cuda_ctx *c = ctx_of(be);
    int n = 0;
    for (int i = 0; i < c->ngraphs; i++) n += c->graphs[i].exec != nullptr;
    return n;
}

extern "C" void sutra_cuda_backend_fallbacks(const sutra_backend *be, long *flash_to_standard, long *standard_to_flash) {
    const cuda_ctx *c = be ? ctx_of(be) : nullptr;
    if (flash_to_standard) *flash_to_standard = c ? c->flash_to_std : 0;
    if (standard_to_flash) *standard_to_flash = c ? c->std_to_flash : 0;
}

extern "C" const char *sutra_cuda_backend_error(const sutra_backend *be) { return be ? ctx_of(be)->msg : ""; }
