/*
 * cuda_gemm.cu - matrix products through cuBLASLt, with the bias (and tanh-GELU) fused into the
 * product's epilogue, plus the activation kernel for the exact GELU; on an sm_90 device, some
 * products go to CUTLASS kernels instead (gemm_sm90.cuh), the exact GELU fused into one of them.
 *
 * Shapes: out (T,N) = act(inp (T,K) @ w (N,K)^T + bias (N)), all row-major. cuBLASLt is
 * column-major, so the product is computed as out^T (N,T) = w^T' (N,K) * inp^T (K,T): A = w
 * stored as a K x N column-major matrix used transposed, B = inp stored as K x T, C = D = out
 * stored as N x T with leading dimension N. The bias then runs along cuBLASLt's rows (m = N),
 * which is what its BIAS epilogue adds. fp16 (or bf16) A, B, C; fp32 accumulation and scale.
 * (The CUTLASS kernels take the row-major view directly: M = T, bias per column.)
 *
 * GELU: cuBLASLt's GELU epilogue is the tanh approximation. BERT's "gelu" is the exact erf form,
 * so by default SUTRA_ACT_GELU runs the BIAS epilogue and then an erf-GELU pass over the output
 * (activation_vec_kernel: one more read and write of (T,N)); fast_gelu trades that pass for the
 * tanh epilogue. The two functions differ by at most 4.7e-4 absolute (at |x| = 2.7), about half
 * an fp16 ulp of the FFN's values of size 1 to 2, so the next product barely sees it; but it is
 * a different function (at x = -2.7 the output itself is off by 5%), so it is opt-in
 * (SUTRA_CUDA_FAST_GELU=1). Measured on an H100 (bench/results/h100-encoder-2026-11-24): op
 * error against the CPU's erf GELU, relative L2, 2.8e-4 with the tanh epilogue and 3.1e-4 with
 * the exact pass (which rounds twice); all-MiniLM-L6-v2 end to end, min cosine against the CPU
 * 0.9999979 vs 0.9999991; bert-base 64 x 512 13.8 ms vs 15.0 ms, 1 x 512 0.656 vs 0.677 ms.
 *
 * The exact GELU fused (sm_90, a build with CUTLASS, not SUTRA_CUDA_CUTLASS=0): a CUTLASS
 * cooperative TMA kernel, 256 x 128 x 64 tiles, clusters of 2 along T, whose epilogue adds the
 * bias and applies the erf GELU in fp32 before the one rounding (relative L2 against float64
 * 2.1e-4, cuBLASLt + pass 3.2e-4). Numbers from one H100 (bench/results/h100-cutlass-gelu-
 * 2026-11-24.txt; per product: us in CUDA graphs, operands cycled through HBM, the variants
 * taking turns; identical kernels there still differ by up to ~8% between rows, so only larger
 * gaps count). bert-base's FFN-up: T = 4096 45 us vs 52 (cuBLASLt 36 + pass); T = 32768 348-378
 * vs 400, while cuBLASLt's product without any GELU takes 251: the fused GELU is not free. Its
 * erff is ~30 fp32 instructions per output (SASS), ~100 us of issue at T = 32768 that the
 * cooperative schedule cannot hide behind the tensor cores (the pingpong schedule, which
 * should, measured slower: 128 x 128 405 us, 64 x 256 385). Below ~2.5 tiles per SM the fused
 * product lost (T = 2048: 29.3 us vs 25.8; T <= 512: 16-17 us vs 7-11), hence the tile rule in
 * sm90_wanted(). Whole encoders, median of 3 alternating passes, CUTLASS on vs off: bert-base
 * 64 x 512 14.27 vs 14.75 ms, 1 x 4096 3.80 vs 3.88, 1 x 512 0.639 both (cuBLASLt there),
 * all-MiniLM-shaped 128 x 256 2.57 vs 2.77, xlm-roberta-large 64 x 512 45.2 vs 46.4. So the
 * fusion takes back ~0.5 of the pass's ~1.6 ms at bert-base 64 x 512; the tanh epilogue
 * (~300 us a product there) stays faster but is not the exact function.
 * The epilogue then took the library's branch-free erf GELU (cuda_elem.cuh, ~12 instructions
 * and two MUFU ones, within 4.2e-7 of the exact function) instead of CUTLASS's erff one
 * (bench/results/h100-cutlass-gelu-fast-2026-11-24.txt): FFN-up + GELU at T = 32768 344-351 us
 * (cooperative 256 x 128, clusters of 2, still the fastest of 11 variants; pingpong 362-438),
 * cuBLASLt + pass 386-405, the bare product 249: the rest of the gap is the epilogue's own
 * stores, which the schedules do not hide. End to end with the wgmma attention, CUTLASS on vs
 * off, two alternating passes each: bert-base 64 x 512 13.60 / 13.73 vs 14.24 / 14.22 ms,
 * 1 x 4096 3.22 / 3.26 vs 3.32 / 3.33, MiniLM 1024 x 32 2.93 / 2.98 vs 3.23 / 3.20.
 * Plain products: tried on QKV, attention output and FFN-down at T = 512 .. 32768; cuBLASLt won
 * or tied everywhere except the attention output (768 x 768) from T = 16384, where CUTLASS's
 * pingpong 128 x 128 kernel took 33 us vs 41 and 65 vs 77 (T = 32768), so only such small
 * products go to it.
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
 * comment). The exact-GELU product: when its 256 x 128 tiles number at least 2.5 per
 * multiprocessor; with fewer (bert-base's FFN-up at T = 2048: 192 tiles on 132 SMs; MiniLM's at
 * T = 4096, the same) the last wave leaves the GPU half idle and cuBLASLt + the GELU pass was
 * as fast or faster; from 384 tiles (bert-base, T = 4096) the fused product won by 15%. A plain
 * product: only a small one (N and K <= 1024, as bert-base's attention output) from T = 16384,
 * where CUTLASS's pingpong kernel beat cuBLASLt's heuristic choice by 20%; on the larger plain
 * products neither won consistently. */
constexpr int SM90_GELU_MIN_TILES_PER_SM_X2 = 5;
constexpr int SM90_PLAIN_MIN_T = 16384, SM90_PLAIN_MAX_NK = 1024;

bool sm90_wanted(sutra_act act, int T, int N, int K, int sm_count) {
    if (act == SUTRA_ACT_GELU) {
        const long tiles = (long)((T + SUTRA_SM90_GELU_TILE_T - 1) / SUTRA_SM90_GELU_TILE_T) *
                           ((N + SUTRA_SM90_GELU_TILE_N - 1) / SUTRA_SM90_GELU_TILE_N);
        return 2 * tiles >= (long)SM90_GELU_MIN_TILES_PER_SM_X2 * sm_count;
    }
    return act == SUTRA_ACT_NONE && T >= SM90_PLAIN_MIN_T && N <= SM90_PLAIN_MAX_NK && K <= SM90_PLAIN_MAX_NK;
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
    int fast_gelu;
    int sm90;                /* the CUTLASS products of gemm_sm90.cuh may run (built, sm_90, allowed) */
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
                                    sutra_cuda_dtype dt, int fast_gelu, int use_cutlass) {
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
    g->fast_gelu = fast_gelu;
    int major = 0, minor = 0;
    if (use_cutlass && sutra_cuda_sm90_gemm_built() && cudaGetDevice(&g->device) == cudaSuccess &&
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, g->device) == cudaSuccess &&
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, g->device) == cudaSuccess &&
        cudaDeviceGetAttribute(&g->sm_count, cudaDevAttrMultiProcessorCount, g->device) == cudaSuccess)
        g->sm90 = major == 9 && minor == 0; /* sm_90a machine code runs on 9.0 alone */
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
    const bool exact_gelu = act == SUTRA_ACT_GELU && !g->fast_gelu;
    if (g->sm90 && (act == SUTRA_ACT_NONE || exact_gelu) && sm90_wanted(act, T, N, K, g->sm_count) &&
        sm90_fits(out, inp, w, bias, N, K)) {
        const cudaError_t e = sutra_cuda_sm90_gemm(g->dt, exact_gelu, out, inp, w, bias, T, N, K, g->workspace,
                                                   g->workspace_bytes, g->device, g->sm_count, stream);
        if (e == cudaSuccess) {
            g->n_sm90++;
            return SUTRA_OK;
        }
        if (e != cudaErrorNotSupported)
            return sutra_cuda_fail(SUTRA_ERR_INTERNAL, "matmul T %d N %d K %d (CUTLASS sm90): %s", T, N, K,
                                   cudaGetErrorString(e));
        /* declined (a shape CUTLASS refuses): cuBLASLt below */
    }
    const bool epi_gelu = act == SUTRA_ACT_GELU_TANH || (act == SUTRA_ACT_GELU && g->fast_gelu);
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
