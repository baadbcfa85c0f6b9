/*
 * cuda_gemm.cu - matrix products through cuBLASLt, with the bias (and tanh-GELU) fused into the
 * product's epilogue, plus the activation kernel for the exact GELU; on an sm_90 device, some
 * products go to CUTLASS kernels instead (gemm_sm90.cuh), the exact GELU fused into them.
 *
 * Shapes: out (T,N) = act(inp (T,K) @ w (N,K)^T + bias (N)), all row-major. cuBLASLt is
 * column-major, so the product is computed as out^T (N,T) = w^T' (N,K) * inp^T (K,T): A = w
 * stored as a K x N column-major matrix used transposed, B = inp stored as K x T, C = D = out
 * stored as N x T with leading dimension N. The bias then runs along cuBLASLt's rows (m = N),
 * which is what its BIAS epilogue adds. fp16 (or bf16) A, B, C; fp32 accumulation and scale.
 * (The CUTLASS kernels take the row-major view directly: M = T, bias per column.)
 *
 * GELU: cuBLASLt's GELU epilogue is the tanh approximation. BERT's "gelu" is the exact erf form,
 * so SUTRA_ACT_GELU runs the BIAS epilogue and then an erf-GELU pass over the output
 * (activation_vec_kernel: one more read and write of (T,N)); sutra_config.approximate_gelu makes
 * the model's GELU SUTRA_ACT_GELU_TANH, which trades that pass for the tanh epilogue. The two
 * functions differ by at most 4.7e-4 absolute (at |x| = 2.7), about half an fp16 ulp of the FFN's
 * values of size 1 to 2, so the next product barely sees it; but it is a different function (at
 * x = -2.7 the output itself is off by 5%), so it is opt-in. Measured on an H100
 * (bench/results/h100-encoder-2026-11-24): op
 * error against the CPU's erf GELU, relative L2, 2.8e-4 with the tanh epilogue and 3.1e-4 with
 * the exact pass (which rounds twice); all-MiniLM-L6-v2 end to end, min cosine against the CPU
 * 0.9999979 vs 0.9999991; bert-base 64 x 512 13.8 ms vs 15.0 ms, 1 x 512 0.656 vs 0.677 ms.
 *
 * The exact GELU fused (sm_90, a build with CUTLASS, gpu_gemm not CUBLASLT): CUTLASS TMA
 * kernels (gemm_sm90.cuh) whose epilogue adds the bias and applies the library's erf GELU
 * (cuda_elem.cuh) in fp32 before the one rounding (relative L2 against float64 2.1e-4,
 * cuBLASLt + pass 3.2e-4). How it got here (bench/results/h100-cutlass-gelu-2026-11-24.txt,
 * h100-cutlass-gelu-fast-2026-11-24.txt, h100-gemm-epilogue-2026-11-25.txt; us per product in
 * CUDA graphs, operands cycled through HBM, variants taking turns; identical kernels still
 * differ by up to ~8% between rows of one run, so only larger gaps count), bert-base's FFN-up
 * at T = 32768, where cuBLASLt + the pass takes ~400 and cuBLASLt's product alone ~255:
 *   - cooperative 256 x 128 with CUTLASS's erff GELU: 348-378; its erff is ~30 instructions
 *     per output, issued while the cooperative schedule's tensor cores wait;
 *   - the same with an Abramowitz-Stegun erfc (rcp + ex2): 344-371;
 *   - with the one-ex2 Mills-ratio form (cuda_elem.cuh's before the log2 one): 341; with sub-tiles of
 *     128 x 64 and 4 output buffers instead of 128 x 32 and 2: 318-332;
 *   - pingpong 128 x 128, whose epilogue overlaps the other warpgroup's main loop: 341 with
 *     CUTLASS's epilogue sub-tiles (64 x 32, 2 buffers), but 277 with 64 x 64 and 4 buffers,
 *     its time without the GELU in that run (299-319 vs 286 in the next). That is the kernel now (SUTRA_SM90_GELU), for K >= 768;
 *     at MiniLM's K = 384 its 128 x 128 main loop is too short to hide the epilogue (124 vs
 *     107 for the cooperative kernel, which stays for K < 768).
 * Below 2.5 large tiles per SM, see sm90_kernel_for(): the 128 x 128 and 64 x 128 kernels take
 * products of one wave or less, where one kernel instead of product + pass saved ~0.6-1.2 us of
 * 7-13. Whole encoders (h100-gemm-epilogue-2026-11-25.txt, two passes each, CUTLASS on vs off):
 * bert-base 64 x 512 13.45 / 13.47 vs 14.25 / 14.41 ms, 1 x 512 0.612 / 0.609 vs 0.618 / 0.616,
 * xlm-roberta-large 64 x 512 42.5 / 42.2 vs 45.2 / 45.3, MiniLM 1024 x 32 2.88 / 2.87 vs 3.17 /
 * 3.19.
 * Plain products: cuBLASLt won or tied everywhere except the attention output (768 x 768) from
 * T = 16384, where the pingpong 128 x 128 kernel took 66 us vs 78 (T = 32768), so only such
 * small products go to CUTLASS by default. For QKV and FFN-down at T = 32768 the same kernel
 * measured 1.05-1.13x cuBLASLt alone, but end to end (gpu_gemm CUTLASS) it gained nothing at
 * bert-base 64 x 512 (13.42 / 13.47 ms), 2% on MiniLM 1024 x 32 and lost 2.5% on the mixed batch.
 *
 * Rules: a plan (descriptors, layouts, the heuristic's first algorithm) is made once per (T, N,
 * K, epilogue, operand alignment) and cached; making one is host work only, so a product may be
 * recorded into a CUDA graph even the first time its shape is seen, and every product of a
 * shape runs the same algorithm (bit-identical results, eager or replayed). Timing the
 * heuristic's top 8 candidates per shape was tried on the H100 and gained nothing measurable on
 * bert-base's products at T = 512 and 32768 (bench/results/h100-encoder-*), so it is not done.
 * The CUTLASS path builds its TMA descriptors on the host per call (~10 us, as a cuBLASLt call
 * costs) and needs every pointer 16-byte aligned and N, K multiples of 8, else cuBLASLt runs.
 * Every cuBLASLt call is checked; nothing here allocates device memory (the workspace is the
 * caller's, shared by both paths).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>

#include "backend/cuda/cuda_elem.cuh"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/gemm_sm90.h"

using namespace sutra_cuda;

namespace {

/* Plans kept at once; a workload with more distinct shapes re-plans the oldest (~0.1 ms each). */
constexpr int MAX_PLANS = 512;

/* Where the CUTLASS products (sm_90) replace cuBLASLt, from gemm_bench's timings (see the file
 * comment; bench/results/h100-gemm-epilogue-2026-11-25.txt). The exact-GELU product, by the
 * number of tiles it makes (132 SMs on an H100 SXM):
 *   - at least 2.5 tiles of 256 x 128 per SM: the large kernel (pingpong for K >= 768, else the
 *     cooperative one). With fewer, up to one wave of 128 x 128 tiles, cuBLASLt + the GELU pass
 *     was as fast or faster (bert-base's FFN-up at T = 2048, 192 tiles: 25.8 us vs 26.3).
 *   - more than half a wave and at most one wave of 128 x 128 tiles: the cooperative 128 x 128
 *     kernel (bert-base T = 512, 96 tiles: 9.4 us vs 10.0; xlm-roberta-large T = 512: 11.1 vs
 *     12.8; MiniLM T = 1024: 7.6 vs 8.7);
 *   - at most half a wave of 128 x 128 tiles but two thirds of a wave or more of 64 x 128 ones:
 *     the pingpong 64 x 128 kernel (bert-base T = 256: 7.6 vs 8.6; MiniLM T = 512: 6.3 vs 7.6).
 *     Fewer tokens (T = 1 .. 64) stay on cuBLASLt, which was 1.2-1.5 us faster there.
 * A plain product: one with N and K <= 1024 (bert-base's attention output) from T = 16384,
 * where CUTLASS's pingpong kernel beat cuBLASLt's heuristic choice by 20%; the larger plain
 * products (QKV, FFN-down) from T = 16384 only at level 2 (gpu_gemm CUTLASS; see below). Returns
 * -1 for cuBLASLt. */
constexpr int SM90_GELU_MIN_TILES_PER_SM_X2 = 5;
constexpr int SM90_GELU_PINGPONG_MIN_K = 768;
constexpr int SM90_PLAIN_MIN_T = 16384, SM90_PLAIN_MAX_NK = 1024;

long tiles_of(int T, int N, int tile_t) {
    return (long)((T + tile_t - 1) / tile_t) * ((N + SUTRA_SM90_TILE_N - 1) / SUTRA_SM90_TILE_N);
}

int sm90_kernel_for(sutra_act act, int T, int N, int K, int sm_count, int level) {
    if (act == SUTRA_ACT_GELU) {
        if (2 * tiles_of(T, N, SUTRA_SM90_LARGE_TILE_T) >= (long)SM90_GELU_MIN_TILES_PER_SM_X2 * sm_count)
            return K >= SM90_GELU_PINGPONG_MIN_K ? SUTRA_SM90_GELU : SUTRA_SM90_GELU_SHORT_K;
        const long wave = tiles_of(T, N, SUTRA_SM90_WAVE_TILE_T);
        if (2 * wave > sm_count && wave <= sm_count) return SUTRA_SM90_GELU_WAVE;
        if (2 * wave <= sm_count && 3 * tiles_of(T, N, SUTRA_SM90_HALF_WAVE_TILE_T) >= 2L * sm_count)
            return SUTRA_SM90_GELU_HALF_WAVE;
        return -1;
    }
    if (act == SUTRA_ACT_NONE && T >= SM90_PLAIN_MIN_T &&
        (level >= 2 || (N <= SM90_PLAIN_MAX_NK && K <= SM90_PLAIN_MAX_NK)))
        return SUTRA_SM90_BIAS;
    return -1;
}

struct gemm_plan {
    int T, N, K;
    cublasLtEpilogue_t epi;
    int align; /* the smallest alignment (bytes, <= 256) among the operands it was planned for */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
};

} // namespace

struct sutra_cuda_gemm {
    cublasLtHandle_t handle;
    void *workspace;
    size_t workspace_bytes;
    sutra_cuda_dtype dt;
    int sm90;                /* the CUTLASS products of gemm_sm90.cuh may run (built, sm_90, allowed): 0, or
                                the use_cutlass level (1 default, 2 the large plain products too) */
    int device, sm_count;
    long n_sm90, n_lt;       /* products run by each path (tests check which one ran) */
    gemm_plan plans[MAX_PLANS];
    int nplans, next_evict;
};

namespace {

/* ---- kernels ------------------------------------------------------------------------------ */

/* x (n) = act(x), 8 elements per thread per step (x 16-byte aligned, n % 8 == 0). Grid-stride. */
template <class E, bool ERF>
__global__ void __launch_bounds__(256) activation_vec_kernel(E *x, size_t n8) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n8; i += (size_t)gridDim.x * blockDim.x) {
        float f[8];
        load8(x + i * 8, f);
#pragma unroll
        for (int j = 0; j < 8; ++j) f[j] = ERF ? gelu_erf(f[j]) : gelu_tanh(f[j]);
        store8(x + i * 8, f);
    }
}

template <class E, bool ERF>
__global__ void __launch_bounds__(256) activation_scalar_kernel(E *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float f = to_f32(x[i]);
        x[i] = from_f32<E>(ERF ? gelu_erf(f) : gelu_tanh(f));
    }
}

/* ---- planning ----------------------------------------------------------------------------- */

int ptr_align(const void *p) {
    const uintptr_t u = (uintptr_t)p;
    int a = 256;
    while (a > 1 && (u & (uintptr_t)(a - 1))) a >>= 1;
    return a;
}

const char *lt_str(cublasStatus_t s) { return cublasLtGetStatusString(s); }

/* What the Hopper products need beyond the call's own checks: TMA's 16-byte rule for every
 * address and row stride. */
bool sm90_fits(const void *out, const void *inp, const void *w, const void *bias, int N, int K) {
    return N % 8 == 0 && K % 8 == 0 && aligned16(out) && aligned16(inp) && aligned16(w) && (!bias || aligned16(bias));
}

/* The outcome of a Hopper product's launch: true when it ran (counted; *st = OK) or failed (*st
 * says how), false when CUTLASS declined the shape and nothing was launched (cuBLASLt next). */
bool sm90_done(sutra_cuda_gemm *g, cudaError_t e, const char *what, int T, int N, int K, sutra_status *st) {
    *st = SUTRA_OK;
    if (e == cudaSuccess) {
        g->n_sm90++;
        return true;
    }
    if (e == cudaErrorNotSupported) return false;
    *st = sutra_cuda_fail(SUTRA_ERR_INTERNAL, "%s T %d N %d K %d (CUTLASS sm90): %s", what, T, N, K,
                          cudaGetErrorString(e));
    return true;
}

void plan_free(gemm_plan *p) {
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->desc) cublasLtMatmulDescDestroy(p->desc);
    memset(p, 0, sizeof *p);
}

#define LT_TRY(call)                                                                                              \
    do {                                                                                                          \
        const cublasStatus_t s_ = (call);                                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                        \
            plan_free(p);                                                                                         \
            return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "matmul T %d N %d K %d: %s: %s", T, N, K, #call, lt_str(s_)); \
        }                                                                                                         \
    } while (0)

sutra_status plan_make(sutra_cuda_gemm *g, gemm_plan *p, int T, int N, int K, cublasLtEpilogue_t epi, int align) {
    memset(p, 0, sizeof *p);
    const cudaDataType_t et = g->dt == SUTRA_CUDA_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
    LT_TRY(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
    LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
    LT_TRY(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->la, et, (uint64_t)K, (uint64_t)N, (int64_t)K));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->lb, et, (uint64_t)K, (uint64_t)T, (int64_t)K));
    LT_TRY(cublasLtMatrixLayoutCreate(&p->lc, et, (uint64_t)N, (uint64_t)T, (int64_t)N));

    cublasLtMatmulPreference_t pref = nullptr;
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    const uint32_t al = (uint32_t)align;
    cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                            &g->workspace_bytes, sizeof g->workspace_bytes);
    const cublasLtMatmulPreferenceAttributes_t align_attrs[] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && s == CUBLAS_STATUS_SUCCESS; i++)
        s = cublasLtMatmulPreferenceSetAttribute(pref, align_attrs[i], &al, sizeof al);
    cublasLtMatmulHeuristicResult_t res[1];
    int found = 0;
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulAlgoGetHeuristic(g->handle, p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s != CUBLAS_STATUS_SUCCESS || found < 1) {
        plan_free(p);
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "matmul T %d N %d K %d: cuBLASLt has no algorithm (%s)", T, N, K,
                               s == CUBLAS_STATUS_SUCCESS ? "none found" : lt_str(s));
    }
    p->algo = res[0].algo;
    p->T = T;
    p->N = N;
    p->K = K;
    p->epi = epi;
    p->align = align;
    return SUTRA_OK;
}
#undef LT_TRY

sutra_status plan_get(sutra_cuda_gemm *g, int T, int N, int K, cublasLtEpilogue_t epi, int align, gemm_plan **out) {
    for (int i = 0; i < g->nplans; i++) {
        gemm_plan *p = &g->plans[i];
        if (p->T == T && p->N == N && p->K == K && p->epi == epi && p->align == align) {
            *out = p;
            return SUTRA_OK;
        }
    }
    gemm_plan *p;
    if (g->nplans < MAX_PLANS) {
        p = &g->plans[g->nplans++];
    } else {
        p = &g->plans[g->next_evict];
        g->next_evict = (g->next_evict + 1) % MAX_PLANS;
        plan_free(p);
    }
    sutra_status st = plan_make(g, p, T, N, K, epi, align);
    if (st != SUTRA_OK) {
        /* keep the table dense: move the last plan into the hole */
        gemm_plan *last = &g->plans[g->nplans - 1];
        if (p != last) {
            *p = *last;
            memset(last, 0, sizeof *last);
        }
        g->nplans--;
        if (g->next_evict >= g->nplans) g->next_evict = 0;
        return st;
    }
    *out = p;
    return SUTRA_OK;
}

template <class E>
sutra_status launch_activation(void *x_, size_t n, bool erf_form, cudaStream_t s) {
    E *x = (E *)x_;
    const bool vec = aligned16(x) && n % 8 == 0;
    const size_t work = vec ? n / 8 : n;
    /* enough blocks to fill any current GPU several times over; the loop strides beyond */
    const unsigned blocks = (unsigned)(work / 256 + 1 < 4096 ? work / 256 + 1 : 4096);
    if (vec) {
        if (erf_form) activation_vec_kernel<E, true><<<blocks, 256, 0, s>>>(x, work);
        else activation_vec_kernel<E, false><<<blocks, 256, 0, s>>>(x, work);
    } else {
        if (erf_form) activation_scalar_kernel<E, true><<<blocks, 256, 0, s>>>(x, work);
        else activation_scalar_kernel<E, false><<<blocks, 256, 0, s>>>(x, work);
    }
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "activation launch (n %zu): %s", n, cudaGetErrorString(e));
    return SUTRA_OK;
}

} // namespace

sutra_status sutra_cuda_activation(void *x, size_t n, sutra_act act, sutra_cuda_dtype dt, cudaStream_t stream) {
    if (act == SUTRA_ACT_NONE || n == 0) return SUTRA_OK;
    if (!x) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "activation: NULL pointer");
    if (act != SUTRA_ACT_GELU && act != SUTRA_ACT_GELU_TANH)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "activation: unknown act %d", (int)act);
    const bool erf_form = act == SUTRA_ACT_GELU;
    return dt == SUTRA_CUDA_DTYPE_BF16 ? launch_activation<__nv_bfloat16>(x, n, erf_form, stream)
                                       : launch_activation<__half>(x, n, erf_form, stream);
}

sutra_status sutra_cuda_gemm_create(sutra_cuda_gemm **out, void *workspace, size_t workspace_bytes,
                                    sutra_cuda_dtype dt, int use_cutlass) {
    *out = nullptr;
    sutra_cuda_gemm *g = (sutra_cuda_gemm *)calloc(1, sizeof *g);
    if (!g) return sutra_cuda_fail(SUTRA_ERR_OUT_OF_MEMORY, "matmul: out of host memory");
    const cublasStatus_t s = cublasLtCreate(&g->handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
        free(g);
        return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "cublasLtCreate: %s", lt_str(s));
    }
    g->workspace = workspace;
    g->workspace_bytes = workspace ? workspace_bytes : 0;
    g->dt = dt;
    int major = 0, minor = 0;
    if (use_cutlass && sutra_cuda_sm90_gemm_built() && cudaGetDevice(&g->device) == cudaSuccess &&
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, g->device) == cudaSuccess &&
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, g->device) == cudaSuccess &&
        cudaDeviceGetAttribute(&g->sm_count, cudaDevAttrMultiProcessorCount, g->device) == cudaSuccess)
        g->sm90 = major == 9 && minor == 0 ? use_cutlass : 0; /* sm_90a machine code runs on 9.0 alone */
    cudaGetLastError();
    *out = g;
    return SUTRA_OK;
}

int sutra_cuda_gemm_uses_cutlass(const sutra_cuda_gemm *g) { return g && g->sm90; }

void sutra_cuda_gemm_counts(const sutra_cuda_gemm *g, long *cutlass, long *cublaslt) {
    *cutlass = g ? g->n_sm90 : 0;
    *cublaslt = g ? g->n_lt : 0;
}

void sutra_cuda_gemm_destroy(sutra_cuda_gemm *g) {
    if (!g) return;
    for (int i = 0; i < g->nplans; i++) plan_free(&g->plans[i]);
    cublasLtDestroy(g->handle);
    free(g);
}

sutra_status sutra_cuda_gemm_run(sutra_cuda_gemm *g, void *out, const void *inp, const void *w, const void *bias,
                                 int T, int N, int K, sutra_act act, cudaStream_t stream) {
    if (T < 0 || N < 1 || K < 1)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "matmul: T %d, N %d, K %d", T, N, K);
    if (!out || !inp || !w) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "matmul: NULL pointer");
    if (act != SUTRA_ACT_NONE && act != SUTRA_ACT_GELU && act != SUTRA_ACT_GELU_TANH)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "matmul: unknown act %d", (int)act);
    if (T == 0) return SUTRA_OK;
    const bool exact_gelu = act == SUTRA_ACT_GELU;
    const int kind =
        g->sm90 && (act == SUTRA_ACT_NONE || exact_gelu) ? sm90_kernel_for(act, T, N, K, g->sm_count, g->sm90) : -1;
    if (kind >= 0 && sm90_fits(out, inp, w, bias, N, K)) {
        const cudaError_t e = sutra_cuda_sm90_gemm(g->dt, (sutra_sm90_kernel)kind, out, inp, w, bias, T, N, K,
                                                   g->workspace, g->workspace_bytes, g->device, g->sm_count, stream);
        sutra_status st;
        if (sm90_done(g, e, "matmul", T, N, K, &st)) return st;
        /* declined (a shape CUTLASS refuses): cuBLASLt below */
    }
    const bool epi_gelu = act == SUTRA_ACT_GELU_TANH;
    cublasLtEpilogue_t epi;
    if (epi_gelu) epi = bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    else epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    int align = ptr_align(out);
    const int ai = ptr_align(inp), aw = ptr_align(w);
    if (ai < align) align = ai;
    if (aw < align) align = aw;
    if (align < 2) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "matmul: operands not 2-byte aligned");

    gemm_plan *p;
    sutra_status st = plan_get(g, T, N, K, epi, align, &p);
    if (st != SUTRA_OK) return st;
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (bias) s = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    const float alpha = 1.f, beta = 0.f;
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmul(g->handle, p->desc, &alpha, w, p->la, inp, p->lb, &beta, out, p->lc, out, p->lc, &p->algo,
                           g->workspace, g->workspace_bytes, stream);
    if (s != CUBLAS_STATUS_SUCCESS)
        return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "matmul T %d N %d K %d: cublasLtMatmul: %s", T, N, K, lt_str(s));
    g->n_lt++;
    if (act == SUTRA_ACT_GELU && !epi_gelu) return sutra_cuda_activation(out, (size_t)T * N, act, g->dt, stream);
    return SUTRA_OK;
}

/* ---- LayerNorm folded into the products (cuda_ops.h; the algebra is in gemm_sm90.cuh) ------ */

/* cuda_ops.h sizes the statistics buffer for the residual product's partial sums: one per row
 * rounded up to its 128-row tiles, per 128-column tile. */
static_assert(SUTRA_SM90_TILE_N == 128 && SUTRA_LN_STATS_ROWS(1) == 128,
              "SUTRA_LN_STATS_FLOATS (cuda_ops.h) assumes the RES_LN kernel's 128 x 128 tiles");

sutra_status sutra_cuda_matmul_ln(sutra_cuda_gemm *g, void *out, const void *z, const float *stats, const void *w,
                                  const void *s, const void *c, int T, int N, int K, sutra_act act,
                                  cudaStream_t stream) {
    if (T < 0 || N < 1 || K < 1)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "matmul_ln: T %d, N %d, K %d", T, N, K);
    if (!g || !out || !z || !w || !s) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "matmul_ln: NULL pointer");
    if (out == z) return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "matmul_ln: the output aliases the input");
    if (act != SUTRA_ACT_NONE && act != SUTRA_ACT_GELU && act != SUTRA_ACT_GELU_TANH)
        return sutra_cuda_fail(SUTRA_ERR_UNSUPPORTED, "matmul_ln: unknown act %d", (int)act);
    if (T == 0) return SUTRA_OK;
    const bool exact_gelu = act == SUTRA_ACT_GELU;
    int kind = -1;
    if (g->sm90 && act == SUTRA_ACT_NONE) kind = SUTRA_SM90_LN_IN;
    else if (g->sm90 && exact_gelu)
        kind = K >= SM90_GELU_PINGPONG_MIN_K ? SUTRA_SM90_LN_IN_GELU : SUTRA_SM90_LN_IN_GELU_SHORT_K;
    if (kind >= 0 && sm90_fits(out, z, w, c, N, K) && aligned16(s) && aligned16(stats)) {
        const size_t Tr = sutra_cuda_ln_stats_rows(T);
        sutra_sm90_ln ln = {};
        ln.mu = stats;
        ln.rs = stats ? stats + Tr : nullptr;
        ln.s = s;
        const cudaError_t e = sutra_cuda_sm90_gemm_ln(g->dt, (sutra_sm90_kernel)kind, out, z, w, c, &ln, T, N, K,
                                                      g->workspace, g->workspace_bytes, g->device, g->sm_count, stream);
        sutra_status st;
        if (sm90_done(g, e, "matmul_ln", T, N, K, &st)) return st;
    }
    const sutra_status st = sutra_cuda_gemm_run(g, out, z, w, nullptr, T, N, K, SUTRA_ACT_NONE, stream);
    if (st != SUTRA_OK) return st;
    return sutra_cuda_ln_in_pass(out, stats, s, c, T, N, act, g->dt, stream);
}

sutra_status sutra_cuda_matmul_residual_ln(sutra_cuda_gemm *g, void *z_out, float *stats_out, const void *inp,
                                           const void *w, const void *d, const void *z_prev, const float *stats_prev,
                                           const void *g_prev, const void *g_next, int T, int N, int K, float eps,
                                           cudaStream_t stream) {
    if (T < 0 || N < 1 || K < 1)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "matmul_residual_ln: T %d, N %d, K %d", T, N, K);
    if (!g || !z_out || !stats_out || !inp || !w || !z_prev || !g_next || (stats_prev && !g_prev))
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "matmul_residual_ln: NULL pointer");
    if (z_out == z_prev || z_out == inp || stats_out == stats_prev)
        return sutra_cuda_fail(SUTRA_ERR_INVALID_ARGUMENT, "matmul_residual_ln: an output aliases an input");
    if (T == 0) return SUTRA_OK;
    if (g->sm90 && sm90_fits(z_out, inp, w, d, N, K) && aligned16(z_prev) && aligned16(g_prev) && aligned16(g_next) &&
        aligned16(stats_out) && aligned16(stats_prev)) {
        const size_t Tr = sutra_cuda_ln_stats_rows(T), nt = (size_t)(N + SUTRA_SM90_TILE_N - 1) / SUTRA_SM90_TILE_N;
        sutra_sm90_ln ln = {};
        ln.mu = stats_prev;
        ln.rs = stats_prev ? stats_prev + Tr : nullptr;
        ln.res = z_prev;
        ln.g_prev = g_prev;
        ln.g_next = g_next;
        ln.part_sum = stats_out + 2 * Tr;
        ln.part_sq = ln.part_sum + nt * Tr;
        const cudaError_t e = sutra_cuda_sm90_gemm_ln(g->dt, SUTRA_SM90_RES_LN, z_out, inp, w, d, &ln, T, N, K,
                                                      g->workspace, g->workspace_bytes, g->device, g->sm_count, stream);
        sutra_status st;
        if (sm90_done(g, e, "matmul_residual_ln", T, N, K, &st))
            return st != SUTRA_OK ? st : sutra_cuda_ln_stats(stats_out, T, N, eps, stream);
    }
    const sutra_status st = sutra_cuda_gemm_run(g, z_out, inp, w, nullptr, T, N, K, SUTRA_ACT_NONE, stream);
    if (st != SUTRA_OK) return st;
    return sutra_cuda_res_ln_pass(z_out, stats_out, d, z_prev, stats_prev, g_prev, g_next, T, N, eps, g->dt, stream);
}
