/*
 * cuda_graphs.cu - run() of the CUDA backend (cuda_ctx.h): the work of a shape key runs eagerly
 * the first time the key is seen (cuBLASLt plans and the attention workspace settle then), is
 * recorded into a CUDA graph the second time and replayed from then on; a capture that fails for
 * any reason is thrown away and that key runs eagerly from then on. The graphs of the 32 most
 * recently used keys are kept.
 */
#include "backend/cuda/cuda_ctx.h"

namespace sutra_cudabe {

void drop_graphs(cuda_ctx *c) {
    for (int i = 0; i < c->ngraphs; i++)
        if (c->graphs[i].exec) cudaGraphExecDestroy(c->graphs[i].exec);
    c->ngraphs = 0;
}

static graph_entry *find_graph(cuda_ctx *c, uint64_t key) {
    for (int i = 0; i < c->ngraphs; i++)
        if (c->graphs[i].key == key) return &c->graphs[i];
    return nullptr;
}

static graph_entry *add_graph(cuda_ctx *c, uint64_t key) {
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

sutra_status run_graph(sutra_backend *be, uint64_t key, sutra_status (*fn)(void *ctx), void *ctx) {
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
    if (!c->opt.graphs) return take_error(c, fn(ctx));

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

} // namespace sutra_cudabe
