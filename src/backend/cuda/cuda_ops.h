/*
 * cuda_ops.h - the launchers of the CUDA backend's own kernels and of its cuBLASLt matrix
 * products, shared by cuda_backend.cu and the op-family files (cuda_layernorm.cu, cuda_gemm.cu,
 * cuda_elementwise.cu, cuda_pool.cu, cuda_convert.cu).
 *
 * Dimension letters as in backend.h: T tokens, B sequences, C hidden, N and K the output and
 * inner sizes of a matrix product. Elements are fp16 or bf16 (dt); arithmetic is fp32.
 *
 * Rules: C++ only (CUDA types in the signatures). Every launcher takes the stream, checks its
 * preconditions before launching anything, checks the launch, and returns a sutra_status with
 * the reason recorded through sutra_cuda_fail(). No launcher allocates or synchronises, so all
 * of them may be recorded into a CUDA graph.
 */
#ifndef SUTRA_CUDA_OPS_H
#define SUTRA_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_common.h"

/* ---- cuda_layernorm.cu -------------------------------------------------------------------- */

/* out (T,C) = LayerNorm(wte[ids[t]] + wpe[pos[t]] + wtt[types[t]]) * w + b. ids, pos, types:
 * device (T); wpe, wtt, b may be NULL, types NULL (row 0 of wtt). */
sutra_status sutra_cuda_embed_layernorm(void *out, const int32_t *ids, const int32_t *pos, const int32_t *types,
                                        const void *wte,
                                        const void *wpe, const void *wtt, const void *w, const void *b, int T, int C,
                                        float eps, sutra_cuda_dtype dt, cudaStream_t stream);

/* out (T,C) = LayerNorm(inp + residual) * w + b; residual and b may be NULL; out may alias
 * either. With sum != NULL (residual required): sum (T,C) = inp + residual as well, and the
 * LayerNorm reads that rounded sum (pre-norm residual step); sum may alias inp or residual. */
sutra_status sutra_cuda_add_layernorm(void *out, void *sum, const void *inp, const void *residual, const void *w,
                                      const void *b, int T, int C, float eps, sutra_cuda_dtype dt,
                                      cudaStream_t stream);

/* The same with an RMSNorm: out = (x / sqrt(mean(x^2) + eps)) * w for x = inp + residual (the
 * rounded sum when sum != NULL), no bias. */
sutra_status sutra_cuda_add_rmsnorm(void *out, void *sum, const void *inp, const void *residual, const void *w,
                                    int T, int C, float eps, sutra_cuda_dtype dt, cudaStream_t stream);

/* ---- cuda_gemm.cu, gemm_sm90_*.cu --------------------------------------------------------- */

typedef struct sutra_cuda_gemm sutra_cuda_gemm;

/* A cuBLASLt handle with its workspace (device memory the caller owns, workspace_bytes long) and
 * a cache of matrix-product plans per shape, for the current device. use_cutlass: on an sm_90
 * device, in a build with CUTLASS, run the products it was measured faster for through CUTLASS
 * (gemm_sm90.cuh; cuda_gemm.cu says which): exact-GELU products of about one wave of tiles or
 * more (bert-base's FFN-up at T = 384 .. 512 and from T = 4096), with the GELU in the epilogue,
 * and small plain products of 16384 tokens or more; use_cutlass = 2: every plain product of
 * 16384 tokens or more too. Off, elsewhere, or for other products: cuBLASLt, and the exact GELU
 * as a separate pass. */
sutra_status sutra_cuda_gemm_create(sutra_cuda_gemm **out, void *workspace, size_t workspace_bytes,
                                    sutra_cuda_dtype dt, int use_cutlass);
void sutra_cuda_gemm_destroy(sutra_cuda_gemm *g);

/* 1 when g runs CUTLASS's Hopper products where they apply (see create), else 0 (also for NULL). */
int sutra_cuda_gemm_uses_cutlass(const sutra_cuda_gemm *g);

/* Products g has run so far through CUTLASS and through cuBLASLt (0 and 0 for NULL). */
void sutra_cuda_gemm_counts(const sutra_cuda_gemm *g, long *cutlass, long *cublaslt);

/* out (T,N) = act(inp (T,K) @ w (N,K)^T + bias (N)); bias may be NULL. The first product of a
 * shape asks cuBLASLt's heuristic for an algorithm (host work only); later ones reuse it. */
sutra_status sutra_cuda_gemm_run(sutra_cuda_gemm *g, void *out, const void *inp, const void *w, const void *bias,
                                 int T, int N, int K, sutra_act act, cudaStream_t stream);

/* x (n) = act(x) in place, act GELU (erf) or GELU_TANH. */
sutra_status sutra_cuda_activation(void *x, size_t n, sutra_act act, sutra_cuda_dtype dt, cudaStream_t stream);

/* ---- LayerNorm folded into the products (cuda_gemm.cu, cuda_lnfold.cu) --------------------
 *
 * A post-norm residual stream kept un-normalised: per row, z = y * g in the activation type (y
 * the residual sum, g the weight of the LayerNorm that follows it) and fp32 statistics of y in a
 * stats buffer of sutra_cuda_ln_stats_floats(T, N) floats: mu (the mean) at [0, Tr), r (1 /
 * sqrt(var + eps)) at [Tr, 2 Tr), then room for the Hopper product's partial sums; Tr =
 * sutra_cuda_ln_stats_rows(T). LN(y) = r (z - mu g) + b. A NULL stats means mu = 0 and r = 1
 * (an input that is already normalised, with g = 1 and b = 0). The algebra is in gemm_sm90.cuh.
 * SUTRA_LN_STATS_FLOATS(T, N) is the size of a statistics buffer for T rows of width N.
 * On an sm_90 device with CUTLASS each product runs as one kernel with the rest in its epilogue
 * (the residual one plus a statistics kernel); elsewhere cuBLASLt runs the product and a pass of
 * cuda_lnfold.cu the rest. */
#define SUTRA_LN_STATS_ROWS(T) (((size_t)(T) + 127) / 128 * 128)
#define SUTRA_LN_STATS_FLOATS(T, C) (SUTRA_LN_STATS_ROWS(T) * (2 + 2 * (((size_t)(C) + 127) / 128)))
size_t sutra_cuda_ln_stats_rows(int T);
size_t sutra_cuda_ln_stats_floats(int T, int N);

/* out (T,N) = act(LN(y) @ w (N,K)^T + bias) computed from z (T,K) as act(r (z @ w^T - mu s) + c)
 * with s = w g and c = w b + bias (N, activation type). out must not alias z. */
sutra_status sutra_cuda_matmul_ln(sutra_cuda_gemm *g, void *out, const void *z, const float *stats, const void *w,
                                  const void *s, const void *c, int T, int N, int K, sutra_act act,
                                  cudaStream_t stream);

/* The product that closes a residual block: y' = inp (T,K) @ w (N,K)^T + d + LN(y_prev), i.e.
 * acc + d + r_prev (z_prev - mu_prev g_prev) with d = bias + b_prev; writes z_out = y' * g_next
 * and stats_out (of y', with eps). z_out must not alias z_prev or inp; stats_out must not be
 * stats_prev. g_prev may be NULL only with stats_prev NULL. */
sutra_status sutra_cuda_matmul_residual_ln(sutra_cuda_gemm *g, void *z_out, float *stats_out, const void *inp,
                                           const void *w, const void *d, const void *z_prev, const float *stats_prev,
                                           const void *g_prev, const void *g_next, int T, int N, int K, float eps,
                                           cudaStream_t stream);

/* out (T,C) = r (z - mu g) + b (b may be NULL); out may alias z. */
sutra_status sutra_cuda_ln_apply(void *out, const void *z, const float *stats, const void *g, const void *b, int T,
                                 int C, sutra_cuda_dtype dt, cudaStream_t stream);

/* The pieces the two products are made of (cuda_lnfold.cu): mu and r from the partial sums
 * (column-tile-major, Tr apart) the Hopper residual product leaves in stats; the consumer's
 * epilogue as a pass over out (= z @ w^T); the residual product's epilogue as a row pass over
 * z (= inp @ w^T, in place), which also writes the statistics. */
sutra_status sutra_cuda_ln_stats(float *stats, int T, int N, float eps, cudaStream_t stream);
sutra_status sutra_cuda_ln_in_pass(void *x, const float *stats, const void *s, const void *c, int T, int N,
                                   sutra_act act, sutra_cuda_dtype dt, cudaStream_t stream);
sutra_status sutra_cuda_res_ln_pass(void *z, float *stats, const void *d, const void *res, const float *stats_prev,
                                    const void *g_prev, const void *g_next, int T, int N, float eps,
                                    sutra_cuda_dtype dt, cudaStream_t stream);

/* ---- cuda_elementwise.cu ------------------------------------------------------------------ */

/* Rotary embedding in place on the first heads*D columns of x (T rows, row stride `stride`
 * elements; the query then key heads of a fused QKV buffer); pairs (i, i + D/2) rotate by
 * pos[t] * theta^(-2i/D), with the angles rounded to fp32 as the CPU backend (and HF) round them.
 * pos: device (T). */
sutra_status sutra_cuda_rope(void *x, int64_t stride, const int32_t *pos, int T, int heads, int D, float theta,
                             sutra_cuda_dtype dt, cudaStream_t stream);

/* Gated unit: out (T,F) = act(inp[:, :F]) * inp[:, F:2F] for inp (T, 2F); act NONE, GELU,
 * GELU_TANH or SILU (SwiGLU). */
sutra_status sutra_cuda_glu(void *out, const void *inp, int T, int F, sutra_act act, sutra_cuda_dtype dt,
                            cudaStream_t stream);

/* Per-head RMSNorm in place: for each of T rows (row stride `stride` elements) and each of its
 * first `heads` heads of D (<= 256) values, x = x / sqrt(mean(x^2) + eps) * w (w: D values,
 * shared by the heads). The query and key norms of Qwen3 and Gemma3. */
sutra_status sutra_cuda_head_rmsnorm(void *x, int64_t stride, int T, int heads, int D, const void *w, float eps,
                                     sutra_cuda_dtype dt, cudaStream_t stream);

/* out (T,C) = wte[ids[t]] (an embedding with no norm after it; ids already checked against the
 * vocabulary by the caller). */
sutra_status sutra_cuda_embed_rows(void *out, const int32_t *ids, const void *wte, int T, int C, sutra_cuda_dtype dt,
                                   cudaStream_t stream);

/* ---- cuda_pool.cu ------------------------------------------------------------------------- */

/* Floats of workspace sutra_cuda_pool needs for B sequences of width C. */
size_t sutra_cuda_pool_workspace_floats(int B, int C);

/* out (B,C) fp32 device = pooling of inp (T,C) over each sequence of cu_seqlens (device, B+1);
 * mean and max accumulate in fp32 over token splits, then reduce in a fixed order
 * (deterministic). max_len: the longest sequence (sizes the splits). */
sutra_status sutra_cuda_pool(float *out, const void *inp, const int32_t *cu_seqlens, int B, int C, int max_len,
                             sutra_pooling mode, float *workspace, size_t workspace_floats, sutra_cuda_dtype dt,
                             cudaStream_t stream);

/* ---- cuda_convert.cu ---------------------------------------------------------------------- */

/* dst (n) elements of dt = src (n) device fp32, rounded to nearest even. */
sutra_status sutra_cuda_convert_f32(void *dst, const float *src, size_t n, sutra_cuda_dtype dt, cudaStream_t stream);

/* dst (n) device fp32 = src (n) elements of dt. */
sutra_status sutra_cuda_convert_to_f32(float *dst, const void *src, size_t n, sutra_cuda_dtype dt, cudaStream_t stream);

/* 1 if this build holds machine code the current device can run (probes one kernel). */
int sutra_cuda_have_code_for_device(void);

#endif /* SUTRA_CUDA_OPS_H */
