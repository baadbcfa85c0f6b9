/*
 * cuda_backend.cu - the CUDA backend (cuda_backend.h): create and destroy, the op table (its
 * entries live in cuda_memory.cu, cuda_graphs.cu, cuda_ops_table.cu, cuda_profile.cu and
 * cuda_fold.cu), the kept-error helpers, and the device query.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_ctx.h"

namespace sutra_cudabe {

/* ---- errors ------------------------------------------------------------------------------- */

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

} // namespace sutra_cudabe

using namespace sutra_cudabe;

namespace {

void cuda_destroy(sutra_backend *be) {
    if (!be) return;
    cuda_ctx *c = ctx_of(be);
    if (c) {
        cudaSetDevice(c->device);
        if (c->stream) cudaStreamSynchronize(c->stream);
        drop_graphs(c);
        timer_destroy(c);
        fold_free(c);
        sutra_cuda_gemm_destroy(c->gemm);
        free_memory(c);
        if (c->staged) cudaEventDestroy(c->staged);
        if (c->stream) cudaStreamDestroy(c->stream);
        cudaGetLastError();
        free(c);
    }
    free(be);
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
    for (int d = 32; d <= 256; d *= 2)
        if (sutra_cuda_flash_supported(d, prop.major, prop.minor)) info->flash_head_dims_mask |= d;
    for (int d = 32; d <= 128; d *= 2)
        if (sutra_cuda_flash_sm90_supported(d, prop.major, prop.minor)) info->wgmma_head_dims_mask |= d;
    return SUTRA_OK;
}

extern "C" sutra_status sutra_cuda_backend_create(const sutra_cuda_options *o, sutra_backend **out, char *err,
                                                  size_t errcap) {
    char buf[512];
    if (!err) {
        err = buf;
        errcap = sizeof buf;
    }
    if (!out || !o) {
        snprintf(err, errcap, "cuda backend: NULL options or out");
        return SUTRA_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    if ((unsigned)o->gemm > SUTRA_GPU_GEMM_CUTLASS || o->fold_min_tokens < 0) {
        snprintf(err, errcap, "cuda backend: gemm %d, fold_min_tokens %d", (int)o->gemm, o->fold_min_tokens);
        return SUTRA_ERR_INVALID_ARGUMENT;
    }
    cudaDeviceProp prop;
    sutra_status st = open_device(o->device, &prop, err, errcap);
    if (st != SUTRA_OK) return st;
    if (prop.major < 8) {
        snprintf(err, errcap, "CUDA device %d (%s) has compute capability %d.%d; the CUDA backend needs 8.0 or newer",
                 o->device, prop.name, prop.major, prop.minor);
        return SUTRA_ERR_UNSUPPORTED;
    }
    cudaError_t e = cudaSetDevice(o->device);
    if (e != cudaSuccess || !sutra_cuda_have_code_for_device()) {
        cudaGetLastError();
        snprintf(err, errcap, "this build has no machine code for %s (sm_%d%d); rebuild with its architecture", prop.name,
                 prop.major, prop.minor);
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
    /* flash at every length: the standard kernel measured 2.4-48x slower on the H100 at every
     * length (docs/BENCHMARKS.md), so it is only the path for what flash cannot run */
    be->default_flash_threshold = 0;
    install_memory_ops(be);
    install_compute_ops(be);
    be->run = run_graph;
    be->prepare = fold_prepare;
    be->layers = fold_layers;
    be->op_times = timer_times;
    be->error = sutra_cuda_backend_error;
    be->destroy = cuda_destroy;
    c->opt = *o;
    c->device = o->device;
    c->cc_major = prop.major;
    c->cc_minor = prop.minor;
    c->dt = o->bf16 ? SUTRA_CUDA_DTYPE_BF16 : SUTRA_CUDA_DTYPE_F16;
    c->attn_ws_limit = STD_WS_LIMIT;
    c->flash = sutra_flash_device{prop.multiProcessorCount, prop.major, prop.minor, o->flash_wgmma != 0};

    e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&c->staged, cudaEventDisableTiming);
    if (e != cudaSuccess) cuda_fail(c, e, "stream");
    if (c->st == SUTRA_OK && o->profile) timer_create(c);
    if (c->st == SUTRA_OK) dev_alloc(c, &c->gemm_ws, GEMM_WORKSPACE, "the cuBLASLt workspace");
    if (c->st == SUTRA_OK)
        note(c, sutra_cuda_gemm_create(&c->gemm, c->gemm_ws, GEMM_WORKSPACE, c->dt,
                                       o->gemm == SUTRA_GPU_GEMM_CUBLASLT ? 0 : o->gemm == SUTRA_GPU_GEMM_CUTLASS ? 2 : 1));
    if (c->st != SUTRA_OK) {
        snprintf(err, errcap, "%s", c->msg);
        st = c->st;
        cuda_destroy(be);
        return st;
    }
    *out = be;
    return SUTRA_OK;
}

extern "C" void sutra_cuda_backend_describe(const sutra_backend *be, char *buf, size_t cap) {
    if (!buf || !cap) return;
    const cuda_ctx *c = be ? ctx_of(be) : nullptr;
    if (!c) {
        buf[0] = '\0';
        return;
    }
    const int cutlass = sutra_cuda_gemm_uses_cutlass(c->gemm);
    const int wgmma = c->flash.wgmma && sutra_cuda_flash_sm90_supported(64, c->cc_major, c->cc_minor);
    char fold[128];
    if (c->fold_tokens) snprintf(fold, sizeof fold, "from %d tokens", c->fold_tokens);
    else snprintf(fold, sizeof fold, "%s", !c->opt.fold ? "off" : !cutlass ? "off (needs sm_90 and CUTLASS)"
                                           : c->fold_note[0]                 ? c->fold_note
                                                                             : "not for this model");
    const char *products = !cutlass                              ? ""
                           : c->opt.gemm == SUTRA_GPU_GEMM_CUTLASS ? " + CUTLASS (sm_90, every large product)"
                                                                   : " + CUTLASS (sm_90)";
    snprintf(buf, cap, "%s, graphs %s, products cuBLASLt%s, LayerNorm folding %s, flash wgmma %s%s",
             c->dt == SUTRA_CUDA_DTYPE_BF16 ? "bf16" : "fp16", c->opt.graphs ? "on" : "off", products, fold,
             wgmma ? "on" : "off", c->opt.profile ? ", profiling" : "");
}

extern "C" size_t sutra_cuda_backend_peak_bytes(const sutra_backend *be) { return be ? ctx_of(be)->peak : 0; }

extern "C" size_t sutra_cuda_backend_held_bytes(const sutra_backend *be) { return be ? ctx_of(be)->held : 0; }

extern "C" size_t sutra_cuda_backend_weight_bytes(const sutra_backend *be) {
    const cuda_ctx *c = be ? ctx_of(be) : nullptr;
    return c ? c->wcap + (c->stage_dev ? STAGE_FLOATS * sizeof(float) : 0) : 0;
}

extern "C" void *sutra_cuda_backend_stream(const sutra_backend *be) { return be ? ctx_of(be)->stream : nullptr; }

extern "C" int sutra_cuda_backend_graphs(const sutra_backend *be) {
    if (!be) return 0;
    const cuda_ctx *c = ctx_of(be);
    int n = 0;
    for (int i = 0; i < c->ngraphs; i++) n += c->graphs[i].exec != nullptr;
    return n;
}

extern "C" const char *sutra_cuda_backend_error(const sutra_backend *be) { return be ? ctx_of(be)->msg : ""; }

extern "C" int sutra_cuda_backend_fold_tokens(const sutra_backend *be) { return be ? ctx_of(be)->fold_tokens : 0; }
