/*
 * gemm_bench.cu - chooses the CUTLASS configuration of gemm_sm90.cuh: times each variant
 * (schedule, tile, cluster) of bert-base's products on an sm_90 device beside cuBLASLt and
 * beside the library's own choice (sutra_cuda_gemm_run), fp16:
 *   ffn_up+gelu  N 3072, K 768, exact GELU: cuBLASLt = BIAS epilogue + the erf-GELU pass
 *                (cublaslt-bias alone is also timed: the product without any GELU)
 *   qkv, attn_out, ffn_down: N 2304/768/768, K 768/768/3072, bias only: cuBLASLt BIAS epilogue
 * at T = 1, 64, 512, 1024, 2048, 4096, 32768 (the plain products at 512, 4096, 16384, 32768),
 * and the FFN-up products of all-MiniLM (N 1536, K 384) and xlm-roberta-large (N 4096, K 1024)
 * at T = 4096 and 32768.
 *
 * Timing: per impl a CUDA graph of 20 back-to-back products, replays timed with events, divided
 * by 20 (as the encoder's graphs replay them; host work is out of the number); the graphs of
 * one case take turns, 5 rounds of 5 replays each after a warm-up, and each impl's median is
 * reported (timed one after another instead, the first ones ran at a lower clock). The 20
 * calls cycle through enough operand sets (inp, w, bias, out) to exceed 160 MB, so that the
 * weights come from HBM as in a real forward, not from the 50 MB L2. Operands are uniform
 * random fp16 (not zeros). Each variant's output on set 0 is compared with cuBLASLt's
 * (relative L2; for GELU, cuBLASLt rounds twice, so ~3e-4 apart is expected; "BAD" over 3e-3).
 * Also: host microseconds per eager call (descriptor building and launch) at T = 512.
 *
 * Built only with -DSUTRA_GEMM_BENCH=ON and CUTLASS present (its compile takes minutes).
 * Usage: gemm_bench [--quick | --profile]   (--quick: fewer T, see main; --profile: see main)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/gemm_sm90.cuh"
#include "gemm_bench.h"

/* The exact-GELU variants, first half (the other half is in gemm_bench_gelu_b.cu, so that the two
 * sets compile in parallel): the library's large-product kernels, the pingpong one without the
 * GELU (the floor), and its epilogue sub-tile width and output-buffer count varied. */
const gemm_variant GELU_VARIANTS[] = {
    GEMM_VARIANT("pingpong 128x128 e64 D4 (lib)", true, 128, 128, 64, 1, pingpong, 64, 4),
    GEMM_VARIANT("pingpong 128x128 e64 D4 no GELU", false, 128, 128, 64, 1, pingpong, 64, 4),
    GEMM_VARIANT("pingpong 128x128 e128 D2", true, 128, 128, 64, 1, pingpong, 128, 2),
    GEMM_VARIANT("pingpong 128x128 e64 D6", true, 128, 128, 64, 1, pingpong, 64, 6),
    GEMM_VARIANT("coop 256x128 c2 e64 D4 (lib short K)", true, 256, 128, 64, 2, cooperative, 64, 4),
};
const int N_GELU_VARIANTS = (int)(sizeof GELU_VARIANTS / sizeof GELU_VARIANTS[0]);

#define CK(call)                                                                                  \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                  \
            fprintf(stderr, "gemm_bench: %s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

namespace {

constexpr int BURST = 20, REPS = 5;
constexpr size_t WS_BYTES = 32u << 20;

__global__ void fill_kernel(__half *x, size_t n, uint64_t seed, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + i * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        x[i] = __float2half_rn(((float)(z >> 40) / 16777216.f * 2.f - 1.f) * scale);
    }
}

void fill(void *x, size_t n, uint64_t seed, float scale) {
    fill_kernel<<<1024, 256>>>((__half *)x, n, seed, scale);
    CK(cudaGetLastError());
}

struct operands {
    int nsets;
    std::vector<void *> inp, w, bias, out;
};

/* One impl under test: a library handle (lt: cuBLASLt path, lib: the library's choice) or a
 * CUTLASS variant. */
struct impl {
    const char *name;
    sutra_cuda_gemm *g;
    sutra_act act;
    gemm_variant_fn fn;
};

int g_device, g_sms;
void *g_ws;

cudaError_t call(const impl &m, void *out, const void *inp, const void *w, const void *bias, int T, int N, int K,
                 cudaStream_t s) {
    if (m.fn) return m.fn(out, inp, w, bias, T, N, K, g_ws, WS_BYTES, g_device, g_sms, s);
    return sutra_cuda_gemm_run(m.g, out, inp, w, bias, T, N, K, m.act, s) == SUTRA_OK ? cudaSuccess
                                                                                      : cudaErrorUnknown;
}

std::vector<float> fetch(const void *p, size_t n) {
    std::vector<__half> h(n);
    CK(cudaMemcpy(h.data(), p, n * 2, cudaMemcpyDeviceToHost));
    std::vector<float> f(n);
    for (size_t i = 0; i < n; i++) f[i] = __half2float(h[i]);
    return f;
}

/* A CUDA graph of BURST products cycling through the operand sets, or nullptr if the impl
 * declined the product. */
cudaGraphExec_t make_graph(const impl &m, const operands &o, int T, int N, int K, cudaStream_t s) {
    if (call(m, o.out[0], o.inp[0], o.w[0], o.bias[0], T, N, K, s) != cudaSuccess) {
        cudaGetLastError();
        return nullptr;
    }
    CK(cudaStreamSynchronize(s));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    for (int i = 0; i < BURST; i++) {
        const int j = i % o.nsets;
        if (call(m, o.out[j], o.inp[j], o.w[j], o.bias[j], T, N, K, s) != cudaSuccess) {
            fprintf(stderr, "gemm_bench: %s failed inside capture\n", m.name);
            exit(1);
        }
    }
    CK(cudaStreamEndCapture(s, &graph));
    CK(cudaGraphInstantiate(&exec, graph, 0));
    CK(cudaGraphDestroy(graph));
    return exec;
}

/* Median microseconds per product of each graph (-1 for none). The graphs are timed in turns,
 * ROUNDS rounds of REPS replays each, so that a clock or temperature drift during the case
 * touches every impl alike rather than the ones timed first (the GPU idles at a low clock). */
std::vector<double> time_graphs(const std::vector<cudaGraphExec_t> &g, cudaStream_t s) {
    constexpr int ROUNDS = 5;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 10; i++) /* warm-up: the clocks ramp up */
        for (cudaGraphExec_t x : g)
            if (x) CK(cudaGraphLaunch(x, s));
    CK(cudaStreamSynchronize(s));
    std::vector<std::vector<float>> t(g.size());
    for (int r = 0; r < ROUNDS; r++)
        for (size_t k = 0; k < g.size(); k++) {
            const size_t i = (k + r) % g.size();
            if (!g[i]) continue;
            for (int rep = 0; rep < REPS; rep++) {
                float ms;
                CK(cudaEventRecord(e0, s));
                CK(cudaGraphLaunch(g[i], s));
                CK(cudaEventRecord(e1, s));
                CK(cudaEventSynchronize(e1));
                CK(cudaEventElapsedTime(&ms, e0, e1));
                t[i].push_back(ms);
            }
        }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    std::vector<double> us(g.size(), -1);
    for (size_t i = 0; i < g.size(); i++) {
        if (t[i].empty()) continue;
        std::sort(t[i].begin(), t[i].end());
        us[i] = t[i][t[i].size() / 2] * 1000.0 / BURST;
    }
    return us;
}

double host_us_per_call(const impl &m, const operands &o, int T, int N, int K, cudaStream_t s) {
    for (int i = 0; i < 5; i++) CK(call(m, o.out[0], o.inp[0], o.w[0], o.bias[0], T, N, K, s));
    CK(cudaStreamSynchronize(s));
    const int n = 200;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; i++) CK(call(m, o.out[0], o.inp[0], o.w[0], o.bias[0], T, N, K, s));
    const auto t1 = std::chrono::steady_clock::now();
    CK(cudaStreamSynchronize(s));
    return std::chrono::duration<double, std::micro>(t1 - t0).count() / n;
}

} // namespace

int main(int argc, char **argv) {
    const bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    const bool profile = argc > 1 && !strcmp(argv[1], "--profile");
    cudaDeviceProp prop;
    if (cudaGetDevice(&g_device) != cudaSuccess || cudaGetDeviceProperties(&prop, g_device) != cudaSuccess) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    if (prop.major != 9 || prop.minor != 0) {
        printf("SKIP: %s is sm_%d%d; the variants are sm_90a code\n", prop.name, prop.major, prop.minor);
        return 77;
    }
    g_sms = prop.multiProcessorCount;
    CK(cudaMalloc(&g_ws, WS_BYTES));
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    sutra_cuda_gemm *lt = nullptr, *lib = nullptr;
    if (sutra_cuda_gemm_create(&lt, g_ws, WS_BYTES, SUTRA_CUDA_DTYPE_F16, 0) != SUTRA_OK ||
        sutra_cuda_gemm_create(&lib, g_ws, WS_BYTES, SUTRA_CUDA_DTYPE_F16, 1) != SUTRA_OK) {
        fprintf(stderr, "gemm_bench: %s\n", sutra_cuda_last_error());
        return 1;
    }
    printf("gemm_bench: %s (sm_%d%d, %d SMs), fp16, us per product: median of 5 x %d graph replays of %d, in turns\n",
           prop.name, prop.major, prop.minor, g_sms, REPS, BURST);
    printf("library handle uses CUTLASS: %d\n", sutra_cuda_gemm_uses_cutlass(lib));

    if (profile) {
        /* For a profiler (ncu): bert-base's FFN-up at T = 32768, each GELU variant once, in the
         * order listed, then cuBLASLt's bias-only product. */
        const int T = 32768, N = 3072, K = 768;
        void *p[4];
        CK(cudaMalloc(&p[0], (size_t)T * K * 2));
        CK(cudaMalloc(&p[1], (size_t)N * K * 2));
        CK(cudaMalloc(&p[2], (size_t)N * 2));
        CK(cudaMalloc(&p[3], (size_t)T * N * 2));
        fill(p[0], (size_t)T * K, 1, 1.f);
        fill(p[1], (size_t)N * K, 2, 1.7f / sqrtf((float)K));
        fill(p[2], N, 3, 0.8f);
        std::vector<gemm_variant> vs(GELU_VARIANTS, GELU_VARIANTS + N_GELU_VARIANTS);
        vs.insert(vs.end(), GELU_VARIANTS_B, GELU_VARIANTS_B + N_GELU_VARIANTS_B);
        int k = 0;
        for (const gemm_variant &v : vs) {
            if (v.fn(p[3], p[0], p[1], p[2], T, N, K, g_ws, WS_BYTES, g_device, g_sms, s) != cudaSuccess) continue;
            printf("profile: launch %d = %s\n", k++, v.name);
        }
        CK(sutra_cuda_gemm_run(lt, p[3], p[0], p[1], p[2], T, N, K, SUTRA_ACT_NONE, s) == SUTRA_OK ? cudaSuccess
                                                                                                   : cudaErrorUnknown);
        printf("profile: launch %d = cublaslt bias only\n", k);
        CK(cudaStreamSynchronize(s));
        return 0;
    }

    struct bcase {
        const char *name;
        int N, K;
        bool gelu;
        std::vector<int> Ts;
    };
    const std::vector<int> gelu_T = {1, 64, 512, 1024, 2048, 4096, 32768}, plain_T = {512, 4096, 16384, 32768},
                           big_T = {4096, 32768};
    std::vector<bcase> cases = {{"ffn_up+gelu", 3072, 768, true, gelu_T},   {"qkv", 2304, 768, false, plain_T},
                                {"attn_out", 768, 768, false, plain_T},      {"ffn_down", 768, 3072, false, plain_T},
                                {"minilm_up+gelu", 1536, 384, true, big_T}, {"xlmr_up+gelu", 4096, 1024, true, big_T}};
    if (quick)
        for (bcase &c : cases)
            c.Ts = !c.gelu ? std::vector<int>{512, 32768}
                   : c.N == 3072 ? std::vector<int>{256, 384, 512, 1024, 32768}
                                 : std::vector<int>{512, 1024, 32768};

    printf("%-14s %6s %-28s %9s %7s %9s\n", "product", "T", "impl", "us", "TF/s", "relL2/lt");
    for (const bcase &c : cases) {
        for (int T : c.Ts) {
            const size_t ni = (size_t)T * c.K, nw = (size_t)c.N * c.K, no = (size_t)T * c.N;
            const size_t set_bytes = (ni + nw + no + c.N) * 2;
            operands o;
            o.nsets = (int)std::min<size_t>(16, std::max<size_t>(1, ((size_t)160 << 20) / set_bytes + 1));
            for (int j = 0; j < o.nsets; j++) {
                void *p[4];
                CK(cudaMalloc(&p[0], ni * 2));
                CK(cudaMalloc(&p[1], nw * 2));
                CK(cudaMalloc(&p[2], (size_t)c.N * 2));
                CK(cudaMalloc(&p[3], no * 2));
                fill(p[0], ni, 1000 + j, 1.f);
                fill(p[1], nw, 2000 + j, 1.7f / sqrtf((float)c.K)); /* uniform: std 1/sqrt(K) */
                fill(p[2], c.N, 3000 + j, 0.8f);
                o.inp.push_back(p[0]), o.w.push_back(p[1]), o.bias.push_back(p[2]), o.out.push_back(p[3]);
            }
            std::vector<impl> impls = {{"cublaslt", lt, c.gelu ? SUTRA_ACT_GELU : SUTRA_ACT_NONE, nullptr},
                                       {"library", lib, c.gelu ? SUTRA_ACT_GELU : SUTRA_ACT_NONE, nullptr}};
            if (c.gelu) impls.push_back({"cublaslt-bias (no gelu)", lt, SUTRA_ACT_NONE, nullptr});
            if (c.gelu) {
                for (int v = 0; v < N_GELU_VARIANTS; v++)
                    impls.push_back({GELU_VARIANTS[v].name, nullptr, SUTRA_ACT_NONE, GELU_VARIANTS[v].fn});
                for (int v = 0; v < N_GELU_VARIANTS_B; v++)
                    impls.push_back({GELU_VARIANTS_B[v].name, nullptr, SUTRA_ACT_NONE, GELU_VARIANTS_B[v].fn});
            } else {
                for (int v = 0; v < N_PLAIN_VARIANTS; v++)
                    impls.push_back({PLAIN_VARIANTS[v].name, nullptr, SUTRA_ACT_NONE, PLAIN_VARIANTS[v].fn});
            }

            CK(call(impls[0], o.out[0], o.inp[0], o.w[0], o.bias[0], T, c.N, c.K, s));
            CK(cudaStreamSynchronize(s));
            const std::vector<float> ref = fetch(o.out[0], no);
            std::vector<cudaGraphExec_t> graphs;
            for (const impl &m : impls) graphs.push_back(make_graph(m, o, T, c.N, c.K, s));
            const std::vector<double> us_all = time_graphs(graphs, s);
            double best = 1e30, lt_us = 0;
            const char *best_name = "";
            for (size_t k = 0; k < impls.size(); k++) {
                const impl &m = impls[k];
                const double us = us_all[k];
                if (!graphs[k]) {
                    printf("%-14s %6d %-28s  declined\n", c.name, T, m.name);
                    continue;
                }
                cudaGraphExecDestroy(graphs[k]);
                CK(cudaMemsetAsync(o.out[0], 0xff, no * 2, s)); /* NaN: an unwritten element shows */
                CK(call(m, o.out[0], o.inp[0], o.w[0], o.bias[0], T, c.N, c.K, s));
                CK(cudaStreamSynchronize(s));
                const std::vector<float> got = fetch(o.out[0], no);
                double num = 0, den = 0;
                for (size_t i = 0; i < no; i++) {
                    const double d = (double)got[i] - ref[i];
                    num += std::isfinite(d) ? d * d : 1e30;
                    den += (double)ref[i] * ref[i];
                }
                const double rel = sqrt(num / den);
                if (k == 0) lt_us = us;
                const bool comparable = !(c.gelu && m.g == lt && m.act == SUTRA_ACT_NONE);
                printf("%-14s %6d %-28s %9.2f %7.1f %9.2e%s\n", c.name, T, m.name, us,
                       2.0 * T * c.N * c.K / us / 1e6, comparable ? rel : 0.0,
                       comparable && rel > 3e-3 ? " BAD" : "");
                if (m.fn && rel <= 3e-3 && us < best) best = us, best_name = m.name;
            }
            printf("%-14s %6d best CUTLASS: %s %.2f us = %.2fx cuBLASLt\n", c.name, T, best_name, best, lt_us / best);
            if (T == 512) {
                printf("%-14s %6d host us per eager call: cublaslt %.1f, library %.1f\n", c.name, T,
                       host_us_per_call(impls[0], o, T, c.N, c.K, s), host_us_per_call(impls[1], o, T, c.N, c.K, s));
            }
            fflush(stdout);
            for (int j = 0; j < o.nsets; j++) {
                cudaFree(o.inp[j]), cudaFree(o.w[j]), cudaFree(o.bias[j]), cudaFree(o.out[j]);
            }
        }
    }
    sutra_cuda_gemm_destroy(lt);
    sutra_cuda_gemm_destroy(lib);
    cudaFree(g_ws);
    cudaStreamDestroy(s);
    return 0;
}
