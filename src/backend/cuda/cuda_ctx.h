/*
 * cuda_ctx.h - the CUDA backend's state and the helpers its files share (C++ only; the files are
 * listed in cuda_backend.h). Every function here works on one backend's context: nothing is
 * shared between backends.
 *
 * Rules of the backend:
 *  - One non-blocking stream carries every copy and kernel, so ops need no events between them.
 *  - Every buffer an op touches has a fixed address between forwards: the arena (reset to the
 *    same allocation sequence), the weight slab, and the batch-input buffers that begin_batch
 *    fills. A graph recorded for a key therefore stays valid, and a replay reads the new batch.
 *    A buffer that must grow (batch inputs, standard-attention workspace) is reallocated only
 *    outside capture, and every graph is dropped then.
 *  - The first failure is kept in the context (status and message) and later ops become no-ops
 *    until run() or pool() reports it. A failure of the CUDA context itself (a kernel fault)
 *    stays: every later call reports it.
 */
#ifndef SUTRA_CUDA_CTX_H
#define SUTRA_CUDA_CTX_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/flash_attn.h"
#include "backend/optimes.h"

namespace sutra_cudabe {

constexpr size_t ALIGN = 256;                /* arena and weight tensors: cuBLASLt's preferred alignment */
constexpr size_t GEMM_WORKSPACE = 32u << 20; /* cuBLASLt's recommendation for Hopper */
constexpr size_t STAGE_FLOATS = 4u << 20;    /* weight upload chunk: 16 MB of fp32 */
constexpr size_t STD_WS_LIMIT = 512u << 20;  /* standard-attention workspace growth limit: past it, heads go in groups */
constexpr int STD_WS_FIRST_HEADS = 16;       /* the first workspace holds this many heads of one std_max_seqlen sequence */
constexpr int MAX_GRAPHS = 32;
constexpr int OP_MARKS = 256; /* op timer: events between two synchronisations */

inline size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

struct graph_entry {
    uint64_t key;
    uint64_t last_use;
    cudaGraphExec_t exec; /* NULL until captured */
    int no_graph;         /* capture failed once: always eager */
};

/* The op timer (sutra_config.profile): graphs off, an event recorded after every op inside run(),
 * and the time between consecutive events added to the op's row when run() ends (one
 * synchronisation per run, or per OP_MARKS ops). Unlike a profiler that serialises kernels, the
 * GPU stays as busy (and as power-capped) as in a timed run; the span of an op includes any wait
 * for the host to issue it, so the first op of a run also carries the launch latency after the
 * previous run's synchronisation. */
struct op_timer {
    sutra_optimes table;
    cudaEvent_t ev[OP_MARKS + 1];
    int which[OP_MARKS + 1]; /* ev[i] ends an op of table row which[i] (i >= 1) */
    int nmarks;              /* events recorded since the last flush (ev[0] starts them) */
};

/* One layer's vectors for the LayerNorm-folded forward (cuda_fold.cu), device memory. */
struct fold_layer {
    const void *qkv_s, *qkv_c;       /* (QKV): qkv_w g_prev, qkv_w b_prev + qkv_b */
    const void *attn_out_d;          /* (C): o_b + b_prev */
    const void *ffn_up_s, *ffn_up_c; /* (F): up_w attn_post_w, up_w attn_post_b + up_b */
    const void *ffn_down_d;          /* (C): down_b + attn_post_b */
};

struct cuda_ctx {
    int device, cc_major, cc_minor;
    sutra_cuda_dtype dt;
    sutra_cuda_options opt;
    sutra_flash_device flash;
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

    int reserved; /* reserve() has run */
    int std_max_seqlen, head_dim;
    void *attn_ws;
    size_t attn_ws_bytes, attn_ws_limit;

    float *d_pool, *h_pool, *d_pool_ws;
    size_t pool_floats, pool_ws_floats;

    float *d_dl; /* download: activations widened to fp32 */
    size_t dl_floats;

    void *gemm_ws;
    sutra_cuda_gemm *gemm;

    graph_entry graphs[MAX_GRAPHS];
    int ngraphs;
    uint64_t tick;
    int capturing;
    op_timer *timer; /* NULL unless profiling */

    /* the LayerNorm-folded forward (cuda_fold.cu): per-layer vectors, when prepare() found the net
     * foldable, in one device allocation */
    int fold_tokens; /* batches of at least this many tokens fold; 0: never */
    char fold_note[96]; /* why a foldable net does not fold here, or "" */
    fold_layer *fold;
    void *fold_mem;
    size_t fold_bytes;

    sutra_status st;
    int fatal;
    char msg[512];
};

inline cuda_ctx *ctx_of(const sutra_backend *be) { return static_cast<cuda_ctx *>(be->ctx); }

/* ---- errors (cuda_backend.cu) ---- */

/* Keeps the first error: status plus the message the failing launcher left in
 * sutra_cuda_last_error(). Returns the kept status. */
sutra_status note(cuda_ctx *c, sutra_status st);
/* Records a failure of the backend's own with a formatted message. */
sutra_status fail(cuda_ctx *c, sutra_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A CUDA runtime failure. Outside capture, a context that no longer answers is marked fatal. */
sutra_status cuda_fail(cuda_ctx *c, cudaError_t e, const char *what);
/* Reports the kept error once (the context's own failure: always), then clears it. */
sutra_status take_error(cuda_ctx *c, sutra_status st);

/* ---- memory (cuda_memory.cu) ---- */

sutra_status dev_alloc(cuda_ctx *c, void **p, size_t bytes, const char *what);
void dev_free(cuda_ctx *c, void **p, size_t bytes);
/* dst (n device elements of the backend's dtype) = host (n fp32), through the pinned staging
 * buffers; synchronous. */
sutra_status upload_converted(cuda_ctx *c, void *dst, const float *host, size_t n);
/* Batch-input buffers for at least T tokens and B sequences; growing drops the graphs. */
sutra_status ensure_batch_buffers(cuda_ctx *c, int T, int B);
sutra_status ensure_pool_buffers(cuda_ctx *c, int B, int C);
/* Makes the standard-attention workspace hold all heads of a batch when that fits under the
 * limit, else as many heads as fit (at least one). Outside capture only. */
sutra_status grow_attn_workspace(cuda_ctx *c, size_t need_one, size_t need_all);
/* The memory ops of the table: reserve, weights_reserve, weights_upload, begin_batch,
 * arena_alloc, arena_reset, download. */
void install_memory_ops(sutra_backend *be);
void free_memory(cuda_ctx *c);

/* ---- graphs (cuda_graphs.cu) ---- */

void drop_graphs(cuda_ctx *c);
/* run(): fn eagerly the first time key is seen, captured into a graph the second, replayed
 * from then on (eager always while profiling or with graphs off). */
sutra_status run_graph(sutra_backend *be, uint64_t key, sutra_status (*fn)(void *ctx), void *ctx);

/* ---- profiling (cuda_profile.cu) ---- */

sutra_status timer_create(cuda_ctx *c);
void timer_destroy(cuda_ctx *c);
/* Adds up what is recorded, then starts the next span here. */
void timer_start(cuda_ctx *c);
/* Marks the end of an op named by fmt. */
void timer_mark(cuda_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* op_times() of the table. */
size_t timer_times(sutra_backend *be, sutra_op_time *out, size_t cap, int reset);

/* ---- the ops (cuda_ops_table.cu) ---- */

void install_compute_ops(sutra_backend *be);

/* ---- LayerNorm folding (cuda_fold.cu) ---- */

sutra_status fold_prepare(sutra_backend *be, const sutra_net *host, int max_tokens, size_t *arena_extra, char *err,
                          size_t errcap);
sutra_status fold_layers(sutra_backend *be, const sutra_layers_call *call, const void **final);
void fold_free(cuda_ctx *c);

} // namespace sutra_cudabe

#endif /* SUTRA_CUDA_CTX_H */
