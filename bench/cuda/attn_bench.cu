/*
 * attn_bench.cu - times Sutra's GPU attention on the anchor shapes and prints TFLOP/s.
 *
 * Shapes (as /work/shared/anchors): B * N = 32768 tokens, 64 heads at D = 32, 32 at D = 64,
 * 16 at D = 128, N in 512 .. 16384, non-causal, fp16, packed as the engine packs them: one
 * fused (T, 3C) QKV buffer, cu_seqlens of B equal sequences. TFLOP/s = 4 * B * H * N^2 * D / t.
 *
 * Timing: CUDA events around each call, 3 warm-up calls, the median of --reps (default 30)
 * timed calls. The inputs (T x 3C fp16 = 384 MiB at C = 2048) are far larger than the 50 MB L2,
 * so every call streams them from HBM and no buffer rotation is needed. Inputs are random
 * (N(0,1)-like, from a hash on the device), never zeros.
 *
 * Rows: "sutra" is the library entry point sutra_cuda_flash_attention() (the tiles the
 * launcher picks); with --variants, the other tile shapes listed below are timed too, each
 * first checked against the library's output on the same inputs (max |diff|), so a broken
 * variant never reports a time. "standard" is the materialised-scores path (N <= 1024).
 *
 * --small instead times batch-1 shapes (the encoders' latency rows: one sequence of N tokens,
 * H heads) with every kernel the launcher chooses between (mma.sync with 128- and 64-row query
 * blocks; on compute capability 9.0 the wgmma kernel with both), marking its pick for this GPU;
 * each time is a burst of 20 back-to-back calls divided by 20 (a lone call of a few
 * microseconds would mostly time its launch), median of the bursts, after each output is checked
 * against the first one.
 *
 * --decoder instead times the decoder embedders' attention (Qwen3-Embedding-0.6B: 16 query heads
 * over 8 key/value heads of D = 128, read in place from one fused (T, (16 + 2 * 8) * 128) QKV
 * buffer), non-causal and causal, N = 512 .. 16384, B * N = 32768. Causal TFLOP/s count the
 * work causal attention does (half of the square: 2 * B * H * N^2 * D), as FlashAttention's
 * benchmarks count it; the torch peer (torch_attn_peer.py --decoder) counts the same way.
 *
 * Usage: attn_bench [--json FILE] [--reps N] [--variants] [--bf16] [--small | --decoder]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/cuda/attention_standard.h"
#include "backend/cuda/flash_attn.h"
#include "backend/cuda/flash_launch.cuh"
#include "backend/cuda/flash_sm90_launch.cuh"

#define CUDA_OK(call)                                                                                    \
    do {                                                                                                 \
        cudaError_t e_ = (call);                                                                         \
        if (e_ != cudaSuccess) {                                                                         \
            fprintf(stderr, "CUDA error %s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                                     \
        }                                                                                                \
    } while (0)

using namespace sutra_flash;

/* ---- tile variants for tuning (fp16) -------------------------------------------------------- */

typedef sutra_status (*variant_fn)(const flash_fwd_params &, cudaStream_t);
struct variant {
    int d;
    const char *name; /* BMxBN, warps, q = Q fragments in registers, mN = register cap for N CTAs per SM */
    variant_fn fn;
};

template <class KT>
sutra_status launch_variant(const flash_fwd_params &p, cudaStream_t s) {
    return flash_fwd_launch<KT, __half>(p, s);
}

template <class KT>
sutra_status launch_sm90_variant(const flash_fwd_params &p, cudaStream_t s) {
    return flash_fwd_sm90_launch<KT, __half>(p, s);
}

/* sm90 = the wgmma kernel (compute capability 9.0 only): wgN warpgroups of 64 rows, bnN keys per
 * tile, mN = register cap for N CTAs per SM */
static const variant VARIANTS[] = {
    {64, "sm90 wg2 bn128 m1", launch_sm90_variant<flash_sm90_traits<64, 2, 128, 1>>},
    {64, "sm90 wg2 bn128 m2", launch_sm90_variant<flash_sm90_traits<64, 2, 128, 2>>},
    {64, "sm90 wg2 bn64 m2", launch_sm90_variant<flash_sm90_traits<64, 2, 64, 2>>},
    {64, "sm90 wg1 bn128 m3", launch_sm90_variant<flash_sm90_traits<64, 1, 128, 3>>},
    {64, "sm90 wg1 bn64 m4", launch_sm90_variant<flash_sm90_traits<64, 1, 64, 4>>},
    {32, "128x128 w4 q", launch_variant<flash_traits<32, 128, 128, 4, 2, true>>},
    {32, "128x64 w4 q m2", launch_variant<flash_traits<32, 128, 64, 4, 2, true>>},
    {64, "128x64 w4", launch_variant<flash_traits<64, 128, 64, 4, 2, false>>},
    {64, "64x64 w4 q m3", launch_variant<flash_traits<64, 64, 64, 4, 3, true>>},
    {128, "128x32 w4", launch_variant<flash_traits<128, 128, 32, 4, 2, false>>},
    {128, "64x64 w4", launch_variant<flash_traits<128, 64, 64, 4, 2, false>>},
};

/* ---- device helpers ----------------------------------------------------------------------- */

/* Sum of 4 uniform hashes, centred: roughly N(0, 1), cheap and reproducible. */
template <class Elem>
__global__ void fill_random(Elem *x, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        float s = 0.f;
        for (int r = 0; r < 4; ++r) {
            h ^= h >> 15;
            h *= 2246822519u;
            h ^= h >> 13;
            h *= 3266489917u;
            h ^= h >> 16;
            s += (h & 0xffffff) / 16777216.f;
        }
        x[i] = (Elem)((s - 2.f) * 1.7320508f);
    }
}

template <class Elem>
__global__ void max_abs_diff(const Elem *a, const Elem *b, size_t n, unsigned int *out) {
    float m = 0.f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float d = fabsf((float)a[i] - (float)b[i]);
        m = fmaxf(m, d != d ? INFINITY : d);
    }
    atomicMax(out, __float_as_uint(m)); /* non-negative floats order like their bits */
}

struct timing {
    double median_ms, min_ms;
};

template <class F>
static timing time_it(F fn, int reps) {
    cudaEvent_t a, b;
    CUDA_OK(cudaEventCreate(&a));
    CUDA_OK(cudaEventCreate(&b));
    for (int i = 0; i < 3; ++i) fn();
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<float> ms(reps);
    for (int i = 0; i < reps; ++i) {
        CUDA_OK(cudaEventRecord(a));
        fn();
        CUDA_OK(cudaEventRecord(b));
        CUDA_OK(cudaEventSynchronize(b));
        CUDA_OK(cudaEventElapsedTime(&ms[i], a, b));
    }
    CUDA_OK(cudaEventDestroy(a));
    CUDA_OK(cudaEventDestroy(b));
    std::sort(ms.begin(), ms.end());
    return {ms[reps / 2], ms[0]};
}

/* Attention over one fused (T, (H + 2 Hkv) D) QKV buffer as the engine lays it out: B sequences
 * of N tokens (cu), H query heads over Hkv key/value heads of D, scale 1/sqrt(D), no window. */
static sutra_attn_params fused_params(uint16_t *qkv, void *out, const int32_t *cu, int B, int N, int H, int Hkv, int D,
                                      int causal) {
    sutra_attn_params p;
    memset(&p, 0, sizeof p);
    const int C = H * D, W = (H + 2 * Hkv) * D;
    p.q = qkv;
    p.k = qkv + C;
    p.v = qkv + C + Hkv * D;
    p.out = out;
    p.q_stride = p.k_stride = p.v_stride = W;
    p.o_stride = C;
    p.cu_seqlens = cu;
    p.batch = B;
    p.max_seqlen = N;
    p.heads = H;
    p.kv_heads = Hkv == H ? 0 : Hkv;
    p.head_dim = D;
    p.causal = causal;
    p.scale = 1.f / sqrtf((float)D);
    p.window_left = p.window_right = -1;
    return p;
}

/* ---- batch 1: the two query-block sizes ---------------------------------------------------- */

static int small_section(int reps, int sms) {
    const int SHAPES[][2] = {{32, 12}, {64, 12}, {64, 16}, {128, 8}}; /* (d, H): MiniLM, bert-base, xlmr-large, d=128 */
    const int NS[] = {128, 256, 512, 1024, 2048, 4096, 8192};
    const size_t max_elems = (size_t)8192 * 3 * 1024;
    uint16_t *qkv, *out, *out2;
    unsigned int *diff;
    int32_t *cu;
    CUDA_OK(cudaMalloc(&qkv, max_elems * 2));
    CUDA_OK(cudaMalloc(&out, max_elems / 3 * 2));
    CUDA_OK(cudaMalloc(&out2, max_elems / 3 * 2));
    CUDA_OK(cudaMalloc(&diff, 4));
    CUDA_OK(cudaMalloc(&cu, 8));
    int dev = 0, major = 0, minor = 0;
    CUDA_OK(cudaGetDevice(&dev));
    CUDA_OK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    CUDA_OK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    const sutra_flash_kernel KERNELS[] = {SUTRA_FLASH_KERNEL_SM80_128, SUTRA_FLASH_KERNEL_SM80_64,
                                          SUTRA_FLASH_KERNEL_SM90_128, SUTRA_FLASH_KERNEL_SM90_64};
    printf("batch 1, fp16, microseconds per call (burst of 20), median of %d; * = the launcher's pick;\n"
           "maxdiff = largest |difference| from the sm80 128-row output\n", reps);
    printf("%-4s %-4s %-6s %10s %10s %10s %10s %10s\n", "d", "H", "N", "sm80 128", "sm80 64", "sm90 128", "sm90 64",
           "maxdiff");
    for (const auto &sh : SHAPES) {
        const int d = sh[0], H = sh[1], C = H * d;
        fill_random<<<1024, 256>>>((__half *)qkv, (size_t)8192 * 3 * C, 31u * d + H);
        CUDA_OK(cudaGetLastError());
        for (int N : NS) {
            const int32_t cuh[2] = {0, N};
            CUDA_OK(cudaMemcpy(cu, cuh, 8, cudaMemcpyHostToDevice));
            sutra_attn_params p = fused_params(qkv, NULL, cu, 1, N, H, H, d, 0);
            const sutra_flash_device dev = {sms, major, minor, 1};
            const sutra_flash_kernel pick = sutra_cuda_flash_pick(&p, &dev);
            printf("%-4d %-4d %-6d", d, H, N);
            float worst = 0.f;
            for (int i = 0; i < 4; ++i) {
                const sutra_flash_kernel kern = KERNELS[i];
                if (i >= 2 && !sutra_cuda_flash_sm90_supported(d, major, minor)) {
                    printf(" %10s", "-");
                    continue;
                }
                p.out = i ? out2 : out;
                CUDA_OK(cudaMemset(p.out, 0xff, (size_t)N * C * 2)); /* NaN poison */
                if (sutra_cuda_flash_attention_kernel(&p, SUTRA_CUDA_DTYPE_F16, kern, NULL) != SUTRA_OK) {
                    fprintf(stderr, "flash attention failed: %s\n", sutra_cuda_last_error());
                    return 1;
                }
                const double us = time_it([&] {
                                      for (int k = 0; k < 20; ++k)
                                          sutra_cuda_flash_attention_kernel(&p, SUTRA_CUDA_DTYPE_F16, kern, NULL);
                                  },
                                          reps).median_ms * 1e3 / 20;
                if (i) {
                    CUDA_OK(cudaMemset(diff, 0, 4));
                    max_abs_diff<<<1024, 256>>>((const __half *)out, (const __half *)out2, (size_t)N * C, diff);
                    unsigned int bits;
                    float md;
                    CUDA_OK(cudaMemcpy(&bits, diff, 4, cudaMemcpyDeviceToHost));
                    memcpy(&md, &bits, 4);
                    worst = std::max(worst, md);
                }
                printf(" %9.1f%s", us, kern == pick ? "*" : " ");
            }
            printf(" %10.2e\n", worst);
            fflush(stdout);
        }
    }
    CUDA_OK(cudaDeviceSynchronize());
    cudaFree(qkv);
    cudaFree(out);
    cudaFree(out2);
    cudaFree(diff);
    cudaFree(cu);
    return 0;
}

static int g_cc_major, g_cc_minor;

struct row {
    int d, h, n, b;
    std::string impl;
    double ms, tflops, check;
};

/* ---- decoders: grouped key/value heads, causal and not ------------------------------------ */

static int decoder_section(int reps, int bf16, const char *json) {
    const int D = 128, H = 16, HKV = 8, TOK = 32768, C = H * D, W = (H + 2 * HKV) * D;
    const int NS[] = {512, 1024, 2048, 4096, 8192, 16384};
    uint16_t *qkv, *out;
    int32_t *cu;
    CUDA_OK(cudaMalloc(&qkv, (size_t)TOK * W * 2));
    CUDA_OK(cudaMalloc(&out, (size_t)TOK * C * 2));
    CUDA_OK(cudaMalloc(&cu, (TOK / 512 + 1) * 4));
    if (bf16) fill_random<<<1024, 256>>>((__nv_bfloat16 *)qkv, (size_t)TOK * W, 4242u);
    else fill_random<<<1024, 256>>>((__half *)qkv, (size_t)TOK * W, 4242u);
    CUDA_OK(cudaGetLastError());
    const sutra_cuda_dtype dt = bf16 ? SUTRA_CUDA_DTYPE_BF16 : SUTRA_CUDA_DTYPE_F16;
    printf("decoder attention: D %d, %d query heads over %d key/value heads, B * N = %d\n", D, H, HKV, TOK);
    printf("%-6s %-4s %-8s %-9s %9s %9s\n", "N", "B", "mask", "kernel", "ms", "TFLOP/s");
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (jf) fprintf(jf, "{\"section\": \"decoder\", \"dtype\": \"%s\", \"d\": %d, \"H\": %d, \"Hkv\": %d, \"rows\": [",
                    bf16 ? "bf16" : "fp16", D, H, HKV);
    int first = 1;
    for (int N : NS) {
        const int B = TOK / N;
        std::vector<int32_t> cuh(B + 1);
        for (int b = 0; b <= B; ++b) cuh[b] = b * N;
        CUDA_OK(cudaMemcpy(cu, cuh.data(), (B + 1) * 4, cudaMemcpyHostToDevice));
        for (int causal = 0; causal < 2; ++causal) {
            sutra_attn_params p = fused_params(qkv, out, cu, B, N, H, HKV, D, causal);
            if (sutra_cuda_flash_attention(&p, dt, NULL) != SUTRA_OK) {
                fprintf(stderr, "flash attention failed: %s\n", sutra_cuda_last_error());
                return 1;
            }
            CUDA_OK(cudaDeviceSynchronize());
            const double flops = (causal ? 2.0 : 4.0) * B * H * (double)N * N * D;
            /* the launcher's pick, then the mma.sync kernel forced (where the pick is the wgmma one) */
            for (int forced = 0; forced < 2; ++forced) {
                const sutra_flash_kernel kern = forced ? SUTRA_FLASH_KERNEL_SM80_128 : SUTRA_FLASH_KERNEL_AUTO;
                if (forced && !sutra_cuda_flash_sm90_supported(D, g_cc_major, g_cc_minor)) break;
                const timing t = time_it([&] { sutra_cuda_flash_attention_kernel(&p, dt, kern, NULL); }, reps);
                const double tf = flops / (t.median_ms * 1e-3) / 1e12;
                const char *impl = forced ? "mma.sync" : "sutra";
                printf("%-6d %-4d %-8s %-9s %9.3f %9.1f\n", N, B, causal ? "causal" : "full", impl, t.median_ms, tf);
                fflush(stdout);
                if (jf)
                    fprintf(jf, "%s\n {\"N\": %d, \"B\": %d, \"causal\": %s, \"impl\": \"%s\", \"ms\": %.5f, "
                                "\"tflops\": %.2f}",
                            first ? "" : ",", N, B, causal ? "true" : "false", impl, t.median_ms, tf);
                first = 0;
            }
        }
    }
    if (jf) {
        fprintf(jf, "\n]}\n");
        fclose(jf);
    }
    cudaFree(qkv);
    cudaFree(out);
    cudaFree(cu);
    return 0;
}

int main(int argc, char **argv) {
    const char *json = NULL;
    int reps = 30, variants = 0, bf16 = 0, small = 0, decoder = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::max(20, atoi(argv[++i]));
        else if (!strcmp(argv[i], "--variants")) variants = 1;
        else if (!strcmp(argv[i], "--bf16")) bf16 = 1;
        else if (!strcmp(argv[i], "--small")) small = 1;
        else if (!strcmp(argv[i], "--decoder")) decoder = 1;
        else {
            fprintf(stderr, "usage: %s [--json FILE] [--reps N>=20] [--variants] [--bf16] [--small | --decoder]\n",
                    argv[0]);
            return 2;
        }
    }
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %d SMs, L2 %d MB, cc %d.%d; dtype %s; median of %d\n", prop.name, prop.multiProcessorCount,
           prop.l2CacheSize >> 20, prop.major, prop.minor, bf16 ? "bf16" : "fp16", reps);
    if (small) return small_section(reps, prop.multiProcessorCount);
    g_cc_major = prop.major;
    g_cc_minor = prop.minor;
    if (decoder) return decoder_section(reps, bf16, json);

    const int TOK = 32768;
    const int NS[] = {512, 1024, 2048, 4096, 8192, 16384};
    std::vector<row> rows;
    const size_t max_elems = (size_t)TOK * 3 * 2048;
    uint16_t *qkv, *out, *out2;
    unsigned int *diff;
    CUDA_OK(cudaMalloc(&qkv, max_elems * 2));
    CUDA_OK(cudaMalloc(&out, max_elems / 3 * 2));
    CUDA_OK(cudaMalloc(&out2, max_elems / 3 * 2));
    CUDA_OK(cudaMalloc(&diff, 4));
    int32_t *cu;
    CUDA_OK(cudaMalloc(&cu, (TOK / 512 + 1) * 4));
    const size_t ws_cap = (size_t)4 << 30;
    void *ws = NULL;
    CUDA_OK(cudaMalloc(&ws, ws_cap));

    printf("%-4s %-4s %-6s %-4s %-14s %9s %9s %10s\n", "d", "H", "N", "B", "impl", "ms", "TFLOP/s", "maxdiff");
    for (int d : {32, 64, 128}) {
        const int H = d == 32 ? 64 : d == 64 ? 32 : 16, C = H * d;
        const size_t T = TOK;
        if (bf16) fill_random<<<1024, 256>>>((__nv_bfloat16 *)qkv, T * 3 * C, 17u * d);
        else fill_random<<<1024, 256>>>((__half *)qkv, T * 3 * C, 17u * d);
        CUDA_OK(cudaGetLastError());
        for (int N : NS) {
            const int B = TOK / N;
            std::vector<int32_t> cuh(B + 1);
            for (int b = 0; b <= B; ++b) cuh[b] = b * N;
            CUDA_OK(cudaMemcpy(cu, cuh.data(), (B + 1) * 4, cudaMemcpyHostToDevice));
            sutra_attn_params p = fused_params(qkv, out, cu, B, N, H, H, d, 0);
            const sutra_cuda_dtype dt = bf16 ? SUTRA_CUDA_DTYPE_BF16 : SUTRA_CUDA_DTYPE_F16;
            const double flops = 4.0 * B * H * (double)N * N * d;
            auto record = [&](const char *impl, timing t, double check) {
                row r = {d, H, N, B, impl, t.median_ms, flops / (t.median_ms * 1e-3) / 1e12, check};
                rows.push_back(r);
                printf("%-4d %-4d %-6d %-4d %-14s %9.3f %9.1f %10.2e\n", d, H, N, B, impl, r.ms, r.tflops, check);
                fflush(stdout);
            };

            sutra_status st = sutra_cuda_flash_attention(&p, dt, NULL);
            if (st != SUTRA_OK) {
                fprintf(stderr, "flash attention failed: %s\n", sutra_cuda_last_error());
                return 1;
            }
            CUDA_OK(cudaDeviceSynchronize());
            record("sutra", time_it([&] { sutra_cuda_flash_attention(&p, dt, NULL); }, reps), 0.0);
            if (sutra_cuda_flash_sm90_supported(d, prop.major, prop.minor)) {
                /* the mma.sync kernel on the same inputs, for comparison with the wgmma one */
                sutra_attn_params p2 = p;
                p2.out = out2;
                CUDA_OK(cudaMemset(out2, 0xff, T * C * 2));
                if (sutra_cuda_flash_attention_kernel(&p2, dt, SUTRA_FLASH_KERNEL_SM80_128, NULL) != SUTRA_OK) {
                    fprintf(stderr, "flash attention (sm80) failed: %s\n", sutra_cuda_last_error());
                    return 1;
                }
                CUDA_OK(cudaMemset(diff, 0, 4));
                if (bf16) max_abs_diff<<<1024, 256>>>((const __nv_bfloat16 *)out, (const __nv_bfloat16 *)out2, T * C, diff);
                else max_abs_diff<<<1024, 256>>>((const __half *)out, (const __half *)out2, T * C, diff);
                unsigned int bits;
                CUDA_OK(cudaMemcpy(&bits, diff, 4, cudaMemcpyDeviceToHost));
                float md;
                memcpy(&md, &bits, 4);
                record("sm80 mma.sync",
                       time_it([&] { sutra_cuda_flash_attention_kernel(&p2, dt, SUTRA_FLASH_KERNEL_SM80_128, NULL); }, reps),
                       md);
            }

            if (variants && !bf16) {
                flash_fwd_params fp;
                fp.q = p.q;
                fp.k = p.k;
                fp.v = p.v;
                fp.o = out2;
                fp.q_row_stride = fp.k_row_stride = fp.v_row_stride = 3 * C;
                fp.o_row_stride = C;
                fp.head_stride = d;
                fp.cu_seqlens = cu;
                fp.batch = B;
                fp.max_seqlen = N;
                fp.heads = H;
                fp.scale_log2 = p.scale * 1.4426950408889634f;
                fp.window_left = fp.window_right = -1;
                for (const variant &v : VARIANTS) {
                    if (v.d != d) continue;
                    CUDA_OK(cudaMemset(out2, 0xff, T * C * 2)); /* NaN poison */
                    if (v.fn(fp, NULL) != SUTRA_OK) {
                        printf("variant %s: %s\n", v.name, sutra_cuda_last_error());
                        continue;
                    }
                    CUDA_OK(cudaMemset(diff, 0, 4));
                    max_abs_diff<<<1024, 256>>>((const __half *)out, (const __half *)out2, T * C, diff);
                    unsigned int bits;
                    CUDA_OK(cudaMemcpy(&bits, diff, 4, cudaMemcpyDeviceToHost));
                    float md;
                    memcpy(&md, &bits, 4);
                    if (!(md < 1e-2f)) {
                        printf("variant %s: output differs from the library's by %g, not timed\n", v.name, md);
                        continue;
                    }
                    record(v.name, time_it([&] { v.fn(fp, NULL); }, reps), md);
                }
            }

            if (N <= 1024) {
                CUDA_OK(cudaMemset(out2, 0xff, T * C * 2));
                p.out = out2;
                st = sutra_cuda_standard_attention(&p, dt, ws, ws_cap, NULL);
                if (st != SUTRA_OK) {
                    fprintf(stderr, "standard attention failed: %s\n", sutra_cuda_last_error());
                    return 1;
                }
                CUDA_OK(cudaMemset(diff, 0, 4));
                if (bf16)
                    max_abs_diff<<<1024, 256>>>((const __nv_bfloat16 *)out, (const __nv_bfloat16 *)out2, T * C, diff);
                else
                    max_abs_diff<<<1024, 256>>>((const __half *)out, (const __half *)out2, T * C, diff);
                unsigned int bits;
                CUDA_OK(cudaMemcpy(&bits, diff, 4, cudaMemcpyDeviceToHost));
                float md;
                memcpy(&md, &bits, 4);
                record("standard", time_it([&] { sutra_cuda_standard_attention(&p, dt, ws, ws_cap, NULL); }, 20), md);
            }
        }
    }
    CUDA_OK(cudaDeviceSynchronize());

    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            fprintf(stderr, "cannot write %s\n", json);
            return 1;
        }
        fprintf(f, "{\n \"device\": \"%s\",\n \"dtype\": \"%s\",\n \"reps\": %d,\n \"rows\": [\n", prop.name,
                bf16 ? "bf16" : "fp16", reps);
        for (size_t i = 0; i < rows.size(); ++i) {
            const row &r = rows[i];
            fprintf(f,
                    "  {\"d\": %d, \"H\": %d, \"N\": %d, \"B\": %d, \"impl\": \"%s\", \"ms\": %.4f, \"tflops\": %.1f, "
                    "\"maxdiff\": %.3g}%s\n",
                    r.d, r.h, r.n, r.b, r.impl.c_str(), r.ms, r.tflops, r.check, i + 1 < rows.size() ? "," : "");
        }
        fprintf(f, " ]\n}\n");
        fclose(f);
    }
    cudaFree(qkv);
    cudaFree(out);
    cudaFree(out2);
    cudaFree(diff);
    cudaFree(cu);
    cudaFree(ws);
    return 0;
}
