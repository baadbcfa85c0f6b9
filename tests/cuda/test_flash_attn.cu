/*
 * test_flash_attn.cu - checks both GPU attention paths (flash, with each of its two query-block
 * sizes and, on compute capability 9.0, its wgmma kernel "flash90" / "flash90s"; and standard) against a
 * CPU float64 reference computed here, for head dims 32 / 64 /
 * 128, fp16 and bf16, packed mixed-length batches, fused-QKV and padded strides, with and
 * without local windows, causal, and with grouped key/value heads (query head h reads key/value
 * head h / (H / Hkv), as transformers' repeat_kv lays them out).
 *
 * Tolerance (FlashAttention's rule): a kernel's max |out - ref| must be at most
 *   2 * (max |baseline - ref|) + EPS
 * where ref is float64 attention on the same rounded inputs and baseline is the plain
 * same-precision implementation (fp32 scores, fp32 safe softmax, fp32 P V, output rounded to
 * fp16 / bf16). The baseline's error is, to first order, the output's own rounding; a correct
 * kernel adds only the rounding of P to fp16 / bf16 before P V (flash normalises by the sum of
 * the rounded weights, so this mostly cancels), which stays well inside the same factor.
 * EPS = 1e-6 covers cases where both errors are ~0 (a single visible key).
 *
 * Rules: fresh seeded random inputs per case; the output (padding columns included) is
 * poisoned with NaN before each run; every element is checked, padding must stay untouched.
 * Prints one line per (path, dtype, head dim, case) and a summary; exits 1 on any failure,
 * 77 ("SKIP: no CUDA device", CTest SKIP_RETURN_CODE) where no GPU is present.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/cuda/attention_standard.h"
#include "backend/cuda/flash_attn.h"

static const double EPS = 1e-6;
static int g_failures = 0;

#define CUDA_OK(call)                                                                                    \
    do {                                                                                                 \
        cudaError_t e_ = (call);                                                                         \
        if (e_ != cudaSuccess) {                                                                         \
            fprintf(stderr, "FAIL: %s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                                     \
        }                                                                                                \
    } while (0)

/* ---- element conversion (host) ------------------------------------------------------------ */

static uint16_t to_bits(float x, int bf16) {
    if (bf16) {
        __nv_bfloat16 h = __float2bfloat16_rn(x);
        uint16_t b;
        memcpy(&b, &h, 2);
        return b;
    }
    __half h = __float2half_rn(x);
    uint16_t b;
    memcpy(&b, &h, 2);
    return b;
}

static float from_bits(uint16_t b, int bf16) {
    if (bf16) {
        __nv_bfloat16 h;
        memcpy(&h, &b, 2);
        return __bfloat162float(h);
    }
    __half h;
    memcpy(&h, &b, 2);
    return __half2float(h);
}

static float round_to(float x, int bf16) { return from_bits(to_bits(x, bf16), bf16); }

/* ---- one test case ---------------------------------------------------------------------- */

struct test_case {
    const char *name;
    std::vector<int> lens;
    int heads;
    int fused;       /* q, k, v slices of one (T, 3C) buffer; else separate padded buffers */
    float q_mul;     /* scales q: larger means peakier softmax rows */
    int window_left, window_right;
    int std_head_groups; /* standard path: workspace for this many heads (0 = all) */
    int causal;          /* key j visible from query i only if j <= i */
    int kv_heads;        /* key/value heads (0: as many as query heads) */
    int rel;             /* 1: a relative position bias table (one row per offset, random, as MPNet's expands) */
};

/* Host copies (rounded values as float) and the layout of q, k, v, out. Token t, head h,
 * feature d of x is at x[t * stride + h * D + d]. */
struct problem {
    int T, H, Hkv, D, B, maxlen;
    int64_t qs, ks, vs, os; /* row strides, elements */
    std::vector<int> cu;
    std::vector<float> q, k, v; /* views into qkv when fused */
    std::vector<float> qkv;
    std::vector<double> ref;  /* (T, H, D) */
    std::vector<float> base;  /* (T, H, D), rounded to the dtype */
    std::vector<float> rel;   /* (2 span - 1, H) relative bias rows, or empty */
    int span = 0;
};

static void visible(int i, int len, int left, int right, int *lo, int *hi) {
    *lo = left < 0 ? 0 : std::max(0, i - left);
    *hi = right < 0 ? len - 1 : std::min(len - 1, i + right);
}

/* Reference (float64) and baseline (fp32, rounded output) for rows [r0, r1) of the flat
 * (token, head) index. */
static void reference_rows(problem &P, const float *q, const float *k, const float *v, float scale, int left,
                           int right, int bf16, int r0, int r1) {
    std::vector<double> sd;
    std::vector<float> sf;
    for (int r = r0; r < r1; ++r) {
        const int t = r / P.H, h = r % P.H;
        int b = 0;
        while (P.cu[b + 1] <= t) ++b;
        const int start = P.cu[b], len = P.cu[b + 1] - start, i = t - start;
        int lo, hi;
        visible(i, len, left, right, &lo, &hi);
        const int n = hi - lo + 1;
        sd.assign(n, 0.0);
        sf.assign(n, 0.f);
        const float *qi = q + (int64_t)t * P.qs + h * P.D;
        double md = -INFINITY;
        float mf = -INFINITY;
        for (int j = lo; j <= hi; ++j) {
            const float *kj = k + (int64_t)(start + j) * P.ks + h / (P.H / P.Hkv) * P.D;
            double ad = 0;
            float af = 0;
            for (int d = 0; d < P.D; ++d) {
                ad += (double)qi[d] * kj[d];
                af += qi[d] * kj[d];
            }
            const float bias = P.rel.empty() ? 0.f : P.rel[(size_t)(j - i + P.span - 1) * P.H + h];
            sd[j - lo] = ad * scale + bias;
            sf[j - lo] = af * scale + bias;
            md = std::max(md, sd[j - lo]);
            mf = std::max(mf, sf[j - lo]);
        }
        double ld = 0;
        float lf = 0;
        for (int x = 0; x < n; ++x) {
            sd[x] = exp(sd[x] - md);
            sf[x] = expf(sf[x] - mf);
            ld += sd[x];
            lf += sf[x];
        }
        for (int x = 0; x < n; ++x) sf[x] /= lf;
        double *od = &P.ref[(size_t)r * P.D];
        float *of = &P.base[(size_t)r * P.D];
        for (int d = 0; d < P.D; ++d) od[d] = 0, of[d] = 0;
        for (int j = lo; j <= hi; ++j) {
            const float *vj = v + (int64_t)(start + j) * P.vs + h / (P.H / P.Hkv) * P.D;
            const double pd = sd[j - lo] / ld;
            const float pf = sf[j - lo];
            for (int d = 0; d < P.D; ++d) {
                od[d] += pd * vj[d];
                of[d] += pf * vj[d];
            }
        }
        for (int d = 0; d < P.D; ++d) of[d] = round_to(of[d], bf16);
    }
}

static void compute_reference(problem &P, float scale, int left, int right, int bf16) {
    const float *q = P.q.empty() ? P.qkv.data() : P.q.data();
    const float *k = P.k.empty() ? P.qkv.data() + P.H * P.D : P.k.data();
    const float *v = P.v.empty() ? P.qkv.data() + (P.H + P.Hkv) * P.D : P.v.data();
    P.ref.assign((size_t)P.T * P.H * P.D, 0.0);
    P.base.assign((size_t)P.T * P.H * P.D, 0.f);
    const int rows = P.T * P.H, chunk = 8;
    std::atomic<int> next(0);
    unsigned nthreads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned w = 0; w < nthreads; ++w)
        pool.emplace_back([&]() {
            for (;;) {
                const int r0 = next.fetch_add(chunk);
                if (r0 >= rows) break;
                reference_rows(P, q, k, v, scale, left, right, bf16, r0, std::min(rows, r0 + chunk));
            }
        });
    for (auto &th : pool) th.join();
}

/* Errors of one output against the reference; also checks padding stayed poisoned. */
struct errors {
    double max_err, max_base;
    long bad; /* NaN / unwritten / clobbered padding */
    long first_bad_index;
};

static errors compare(const problem &P, const std::vector<uint16_t> &out, int bf16) {
    errors e = {0, 0, 0, -1};
    for (int t = 0; t < P.T; ++t)
        for (int c = 0; c < P.os; ++c) {
            const float x = from_bits(out[(size_t)t * P.os + c], bf16);
            if (c >= P.H * P.D) { /* padding: must still be the NaN poison */
                if (!isnan(x)) {
                    if (e.bad++ == 0) e.first_bad_index = (long)t * P.os + c;
                }
                continue;
            }
            const size_t r = (size_t)t * P.H * P.D + c;
            if (!isfinite(x)) {
                if (e.bad++ == 0) e.first_bad_index = (long)t * P.os + c;
                continue;
            }
            e.max_err = std::max(e.max_err, fabs((double)x - P.ref[r]));
            e.max_base = std::max(e.max_base, fabs((double)P.base[r] - P.ref[r]));
        }
    return e;
}

/* ---- running the kernels ------------------------------------------------------------------- */

struct device_buffers {
    uint16_t *qkv = nullptr, *q = nullptr, *k = nullptr, *v = nullptr, *out = nullptr, *rel = nullptr;
    int32_t *cu = nullptr;
    void *ws = nullptr;
    size_t ws_bytes = 0;
};

static void upload(const std::vector<float> &x, uint16_t **dev, int bf16) {
    std::vector<uint16_t> bits(x.size());
    for (size_t i = 0; i < x.size(); ++i) bits[i] = to_bits(x[i], bf16);
    CUDA_OK(cudaMalloc(dev, bits.size() * 2 + 16));
    CUDA_OK(cudaMemcpy(*dev, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice));
}

/* paths: 1 flash with 128-row query blocks, 4 flash with 64-row blocks (flash_launch.cuh's
 * `small` tiles, for short batches), 2 standard, 8 and 16 the wgmma kernel (flash_sm90_kernel.cuh)
 * with 128- and 64-row query blocks */
static void run_case(const test_case &tc, int D, int bf16, uint64_t seed, int paths) {
    problem P;
    P.H = tc.heads;
    P.Hkv = tc.kv_heads ? tc.kv_heads : tc.heads;
    P.D = D;
    P.B = (int)tc.lens.size();
    P.cu.assign(1, 0);
    P.maxlen = 0;
    for (int n : tc.lens) {
        P.cu.push_back(P.cu.back() + n);
        P.maxlen = std::max(P.maxlen, n);
    }
    P.T = P.cu.back();
    const int C = P.H * D, Ckv = P.Hkv * D;
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    auto fill = [&](std::vector<float> &x, size_t n, float mul) {
        x.resize(n);
        for (auto &y : x) y = round_to(nd(rng) * mul, bf16);
    };
    if (tc.fused) {
        P.qs = P.ks = P.vs = C + 2 * Ckv;
        fill(P.qkv, (size_t)P.T * P.qs, 1.f);
        for (int t = 0; t < P.T; ++t)
            for (int c = 0; c < C; ++c) {
                float &x = P.qkv[(size_t)t * P.qs + c];
                x = round_to(x * tc.q_mul, bf16);
            }
        P.os = C;
    } else {
        P.qs = C + 8;
        P.ks = Ckv + 16;
        P.vs = Ckv + 24;
        P.os = C + 8;
        fill(P.q, (size_t)P.T * P.qs, tc.q_mul);
        fill(P.k, (size_t)P.T * P.ks, 1.f);
        fill(P.v, (size_t)P.T * P.vs, 1.f);
    }
    if (tc.rel) { /* wide enough to move the softmax: N(0, 2^2) */
        P.span = P.maxlen;
        fill(P.rel, (size_t)(2 * P.span - 1) * P.H, 2.f);
    }
    const float scale = 1.f / sqrtf((float)D);
    compute_reference(P, scale, tc.window_left, tc.causal ? 0 : tc.window_right, bf16);

    device_buffers db;
    sutra_attn_params p;
    memset(&p, 0, sizeof p);
    if (tc.fused) {
        upload(P.qkv, &db.qkv, bf16);
        p.q = db.qkv;
        p.k = db.qkv + C;
        p.v = db.qkv + C + Ckv;
    } else {
        upload(P.q, &db.q, bf16);
        upload(P.k, &db.k, bf16);
        upload(P.v, &db.v, bf16);
        p.q = db.q;
        p.k = db.k;
        p.v = db.v;
    }
    const size_t out_elems = (size_t)P.T * P.os;
    CUDA_OK(cudaMalloc(&db.out, out_elems * 2));
    CUDA_OK(cudaMalloc(&db.cu, P.cu.size() * 4));
    CUDA_OK(cudaMemcpy(db.cu, P.cu.data(), P.cu.size() * 4, cudaMemcpyHostToDevice));
    p.out = db.out;
    p.q_stride = P.qs;
    p.k_stride = P.ks;
    p.v_stride = P.vs;
    p.o_stride = P.os;
    p.cu_seqlens = db.cu;
    p.batch = P.B;
    p.max_seqlen = P.maxlen;
    p.heads = P.H;
    p.head_dim = D;
    p.scale = scale;
    p.window_left = tc.window_left;
    p.window_right = tc.window_right;
    p.causal = tc.causal;
    p.kv_heads = tc.kv_heads;
    if (tc.rel) {
        upload(P.rel, &db.rel, bf16);
        p.rel_bias = db.rel;
        p.rel_stride = P.H;
        p.rel_span = P.span;
    }

    const sutra_cuda_dtype dt = bf16 ? SUTRA_CUDA_DTYPE_BF16 : SUTRA_CUDA_DTYPE_F16;
    const uint16_t poison = bf16 ? 0x7fc0 : 0x7e00;
    std::vector<uint16_t> poison_host(out_elems, poison), out(out_elems);
    for (int path = 1; path <= 16; path <<= 1) {
        if (!(paths & path)) continue;
        CUDA_OK(cudaMemcpy(db.out, poison_host.data(), out_elems * 2, cudaMemcpyHostToDevice));
        sutra_status st;
        if (path == 8 || path == 16) {
            st = sutra_cuda_flash_attention_kernel(&p, dt, path == 8 ? SUTRA_FLASH_KERNEL_SM90_128 : SUTRA_FLASH_KERNEL_SM90_64,
                                                   NULL);
        } else if (path == 1 || path == 4) {
            st = sutra_cuda_flash_attention_rows(&p, dt, path == 1 ? 128 : 64, NULL);
        } else {
            const size_t full = sutra_cuda_standard_attention_workspace(P.B, P.H, P.maxlen);
            const size_t bytes = tc.std_head_groups ? full / P.H * tc.std_head_groups : full;
            CUDA_OK(cudaMalloc(&db.ws, bytes));
            st = sutra_cuda_standard_attention(&p, dt, db.ws, bytes, NULL);
        }
        if (st == SUTRA_OK) CUDA_OK(cudaDeviceSynchronize());
        if (db.ws) {
            CUDA_OK(cudaFree(db.ws));
            db.ws = nullptr;
        }
        const char *pname = path == 1 ? "flash" : path == 4 ? "flash64" : path == 8 ? "flash90" : path == 16 ? "flash90s" : "standard";
        if (st != SUTRA_OK) {
            printf("FAIL %-8s %s d=%-3d %-14s status %d: %s\n", pname, bf16 ? "bf16" : "fp16", D, tc.name, (int)st,
                   sutra_cuda_last_error());
            g_failures++;
            continue;
        }
        CUDA_OK(cudaMemcpy(out.data(), db.out, out_elems * 2, cudaMemcpyDeviceToHost));
        const errors e = compare(P, out, bf16);
        const double limit = 2 * e.max_base + EPS;
        const bool ok = e.bad == 0 && e.max_err <= limit;
        printf("%s %-8s %s d=%-3d %-14s T=%-6d max_err %.3e  baseline %.3e  ratio %.2f", ok ? "ok  " : "FAIL", pname,
               bf16 ? "bf16" : "fp16", D, tc.name, P.T, e.max_err, e.max_base,
               e.max_base > 0 ? e.max_err / e.max_base : 0.0);
        if (e.bad) printf("  %ld bad elements (first at flat index %ld)", e.bad, e.first_bad_index);
        printf("\n");
        if (!ok) g_failures++;
    }
    cudaFree(db.qkv);
    cudaFree(db.q);
    cudaFree(db.k);
    cudaFree(db.v);
    cudaFree(db.out);
    cudaFree(db.cu);
    cudaFree(db.rel);
}

/* ---- argument checks -------------------------------------------------------------------------- */

static void check_status(const char *what, sutra_status got, sutra_status want) {
    const bool ok = got == want && (got == SUTRA_OK || sutra_cuda_last_error()[0] != '\0');
    printf("%s arg check: %-40s status %d (want %d) %s\n", ok ? "ok  " : "FAIL", what, (int)got, (int)want,
           got != SUTRA_OK ? sutra_cuda_last_error() : "");
    if (!ok) g_failures++;
}

static void argument_checks(void) {
    uint16_t *buf;
    int32_t *cu;
    CUDA_OK(cudaMalloc(&buf, 64 * 3 * 64 * 2 + 64));
    CUDA_OK(cudaMalloc(&cu, 8));
    const int32_t cu_host[2] = {0, 64};
    CUDA_OK(cudaMemcpy(cu, cu_host, 8, cudaMemcpyHostToDevice));
    sutra_attn_params base;
    memset(&base, 0, sizeof base);
    base.q = buf;
    base.k = buf + 64;
    base.v = buf + 128;
    base.out = buf;
    base.q_stride = base.k_stride = base.v_stride = 192;
    base.o_stride = 64;
    base.cu_seqlens = cu;
    base.batch = 1;
    base.max_seqlen = 64;
    base.heads = 1;
    base.head_dim = 64;
    base.scale = 0.125f;
    base.window_left = base.window_right = -1;
    sutra_attn_params p = base;
    p.head_dim = 80;
    p.q_stride = p.k_stride = p.v_stride = 240;
    p.o_stride = 80;
    check_status("flash head_dim 80", sutra_cuda_flash_attention(&p, SUTRA_CUDA_DTYPE_F16, NULL), SUTRA_ERR_UNSUPPORTED);
    p = base;
    p.cu_seqlens = cu_host;
    check_status("flash host cu_seqlens", sutra_cuda_flash_attention(&p, SUTRA_CUDA_DTYPE_F16, NULL),
                 SUTRA_ERR_INVALID_ARGUMENT);
    p = base;
    p.scale = 0.f;
    check_status("flash scale 0", sutra_cuda_flash_attention(&p, SUTRA_CUDA_DTYPE_BF16, NULL), SUTRA_ERR_INVALID_ARGUMENT);
    p = base;
    p.q_stride = 32;
    check_status("flash stride below H*D", sutra_cuda_flash_attention(&p, SUTRA_CUDA_DTYPE_F16, NULL),
                 SUTRA_ERR_INVALID_ARGUMENT);
    p = base;
    p.q = buf + 1;
    check_status("flash misaligned q", sutra_cuda_flash_attention(&p, SUTRA_CUDA_DTYPE_F16, NULL), SUTRA_ERR_UNSUPPORTED);
    /* key/value heads must divide the query heads; k and v rows hold kv_heads * head_dim */
    p = base;
    p.heads = 3;
    p.kv_heads = 2;
    p.q_stride = p.k_stride = p.v_stride = 192 * 3;
    p.o_stride = 192;
    check_status("flash 3 heads over 2 kv heads", sutra_cuda_flash_attention(&p, SUTRA_CUDA_DTYPE_F16, NULL),
                 SUTRA_ERR_INVALID_ARGUMENT);
    check_status("standard 3 heads over 2 kv heads",
                 sutra_cuda_standard_attention(&p, SUTRA_CUDA_DTYPE_F16, buf, 1 << 20, NULL), SUTRA_ERR_INVALID_ARGUMENT);
    p.heads = 4;
    p.o_stride = 256;
    p.q_stride = 256;
    p.k_stride = p.v_stride = 64; /* two kv heads need 128 */
    check_status("flash kv stride below kv_heads*D", sutra_cuda_flash_attention(&p, SUTRA_CUDA_DTYPE_F16, NULL),
                 SUTRA_ERR_INVALID_ARGUMENT);
    /* a relative position bias: a span without a table, or one shorter than the longest sequence,
     * is refused; the wgmma kernel has none */
    p = base;
    p.rel_span = 32;
    check_status("flash bias span without a table", sutra_cuda_flash_attention(&p, SUTRA_CUDA_DTYPE_F16, NULL),
                 SUTRA_ERR_INVALID_ARGUMENT);
    check_status("standard bias span without a table",
                 sutra_cuda_standard_attention(&p, SUTRA_CUDA_DTYPE_F16, buf, 1 << 20, NULL), SUTRA_ERR_INVALID_ARGUMENT);
    p.rel_bias = buf;
    p.rel_stride = p.heads;
    p.rel_span = p.max_seqlen - 1;
    check_status("flash bias table short of max_seqlen", sutra_cuda_flash_attention(&p, SUTRA_CUDA_DTYPE_F16, NULL),
                 SUTRA_ERR_INVALID_ARGUMENT);
    p.rel_span = p.max_seqlen;
    check_status("wgmma kernel with a bias",
                 sutra_cuda_flash_attention_kernel(&p, SUTRA_CUDA_DTYPE_F16, SUTRA_FLASH_KERNEL_SM90_64, NULL),
                 SUTRA_ERR_UNSUPPORTED);
    p = base;
    check_status("flash block_rows 96", sutra_cuda_flash_attention_rows(&p, SUTRA_CUDA_DTYPE_F16, 96, NULL),
                 SUTRA_ERR_INVALID_ARGUMENT);
    p.heads = 12;
    /* the block rule: 64 rows when 128-row blocks would not fill 132 SMs, or no sequence exceeds 64 */
    static const struct { int batch, max_seqlen, rows; } rule[] = {
        {1, 512, 64}, {64, 512, 128}, {1024, 64, 64}, {1024, 65, 128}};
    for (const auto &r : rule) {
        p.batch = r.batch;
        p.max_seqlen = r.max_seqlen;
        char what[96];
        snprintf(what, sizeof what, "flash block rows, %d x %d x 12 heads, 132 SMs", r.batch, r.max_seqlen);
        check_status(what, sutra_cuda_flash_block_rows(&p, 132) == r.rows ? SUTRA_OK : SUTRA_ERR_INTERNAL, SUTRA_OK);
    }
    p.batch = 64;
    p.max_seqlen = 512;
    /* the pick on an H100 (cc 9.0, 132 SMs) and on an A100 (8.0, 108 SMs): 64 x 512 x 12 heads of 64;
     * with the wgmma kernel turned off (sutra_config.gpu_flash_wgmma), the mma.sync one */
    const sutra_flash_device h100 = {132, 9, 0, 1}, a100 = {108, 8, 0, 1}, h100_no_wgmma = {132, 9, 0, 0};
    p.head_dim = 64;
    check_status("flash pick, 64 x 512 x 12, H100", sutra_cuda_flash_pick(&p, &h100) == SUTRA_FLASH_KERNEL_SM90_128
                                                        ? SUTRA_OK : SUTRA_ERR_INTERNAL, SUTRA_OK);
    p.batch = 1;
    check_status("flash pick, 1 x 512 x 12, H100", sutra_cuda_flash_pick(&p, &h100) == SUTRA_FLASH_KERNEL_SM90_64
                                                       ? SUTRA_OK : SUTRA_ERR_INTERNAL, SUTRA_OK);
    p.max_seqlen = 4096;
    check_status("flash pick, 1 x 4096 x 12, H100", sutra_cuda_flash_pick(&p, &h100) == SUTRA_FLASH_KERNEL_SM90_128
                                                        ? SUTRA_OK : SUTRA_ERR_INTERNAL, SUTRA_OK);
    check_status("flash pick, 1 x 4096 x 12, A100", sutra_cuda_flash_pick(&p, &a100) == SUTRA_FLASH_KERNEL_SM80_128
                                                        ? SUTRA_OK : SUTRA_ERR_INTERNAL, SUTRA_OK);
    check_status("flash pick, 1 x 4096 x 12, H100 without wgmma",
                 sutra_cuda_flash_pick(&p, &h100_no_wgmma) == SUTRA_FLASH_KERNEL_SM80_128 ? SUTRA_OK : SUTRA_ERR_INTERNAL,
                 SUTRA_OK);
    p.head_dim = 128;
    p.batch = 64;
    p.max_seqlen = 512;
    check_status("flash pick, 64 x 512 x 12, d 128, H100", sutra_cuda_flash_pick(&p, &h100) == SUTRA_FLASH_KERNEL_SM90_128
                                                              ? SUTRA_OK : SUTRA_ERR_INTERNAL, SUTRA_OK);
    p.batch = 1;
    p.head_dim = 32;
    check_status("flash pick, d 32, H100", sutra_cuda_flash_pick(&p, &h100) == SUTRA_FLASH_KERNEL_SM80_64
                                               ? SUTRA_OK : SUTRA_ERR_INTERNAL, SUTRA_OK);
    p = base;
    p.window_left = -2;
    check_status("standard window -2", sutra_cuda_standard_attention(&p, SUTRA_CUDA_DTYPE_F16, buf, 1 << 20, NULL),
                 SUTRA_ERR_INVALID_ARGUMENT);
    p = base;
    check_status("standard workspace too small", sutra_cuda_standard_attention(&p, SUTRA_CUDA_DTYPE_F16, buf, 100, NULL),
                 SUTRA_ERR_BUFFER_TOO_SMALL);
    check_status("flash supported(64, 8, 0)", sutra_cuda_flash_supported(64, 8, 0) ? SUTRA_OK : SUTRA_ERR_UNSUPPORTED,
                 SUTRA_OK);
    check_status("flash sm90 kernel on head dim 32",
                 sutra_cuda_flash_sm90_supported(32, 9, 0) ? SUTRA_OK : SUTRA_ERR_UNSUPPORTED, SUTRA_ERR_UNSUPPORTED);
    check_status("flash sm90 kernel on head dim 128",
                 sutra_cuda_flash_sm90_supported(128, 9, 0) ? SUTRA_OK : SUTRA_ERR_UNSUPPORTED, SUTRA_OK);
    check_status("flash sm90 kernel on cc 8.0", sutra_cuda_flash_sm90_supported(64, 8, 0) ? SUTRA_OK : SUTRA_ERR_UNSUPPORTED,
                 SUTRA_ERR_UNSUPPORTED);
    check_status("flash kernel 91", sutra_cuda_flash_attention_kernel(&base, SUTRA_CUDA_DTYPE_F16, (sutra_flash_kernel)91, NULL),
                 SUTRA_ERR_INVALID_ARGUMENT);
    check_status("flash supported(96, 9, 0)", sutra_cuda_flash_supported(96, 9, 0) ? SUTRA_OK : SUTRA_ERR_UNSUPPORTED,
                 SUTRA_ERR_UNSUPPORTED);
    CUDA_OK(cudaDeviceSynchronize());
    cudaFree(buf);
    cudaFree(cu);
}

int main(void) {
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s (cc %d.%d)\n", prop.name, prop.major, prop.minor);

    const std::vector<int> small = {1, 7, 64, 127, 128, 129, 511, 512, 513};
    const test_case cases[] = {
        {"mixed", small, 3, 1, 1.f, -1, -1, 2},
        {"mixed-peaky", small, 2, 0, 3.f, -1, -1, 0},
        {"mixed-win64", small, 3, 0, 1.f, 64, 64, 0},
        {"long", {2048, 3, 8192, 700}, 1, 1, 1.f, -1, -1, 0},
        {"long-win64", {8192, 2048, 5}, 2, 1, 1.f, 64, 64, 0},
        {"win-left100", {513, 1000, 64, 1}, 2, 0, 1.f, 100, 0, 0},
        {"win-right10", {300, 129}, 2, 1, 1.f, -1, 10, 0},
        /* decoders: causal (tiles past the diagonal skipped), key/value heads in groups */
        {"causal", small, 2, 1, 1.f, -1, -1, 0, 1, 0},
        {"causal-gqa", small, 4, 0, 1.f, -1, -1, 2, 1, 2},
        {"causal-long", {2048, 3, 4100, 700}, 2, 1, 1.f, -1, -1, 0, 1, 1},
        {"gqa-8over2", {1500, 64, 1}, 8, 1, 1.f, -1, -1, 0, 0, 2},
        {"causal-win100", {1000, 513, 100, 101}, 4, 0, 1.f, 100, -1, 0, 1, 2},
        /* MPNet: a relative position bias row per offset, added to the scaled scores */
        {"relbias", small, 3, 1, 1.f, -1, -1, 2, 0, 0, 1},
        {"relbias-long", {2048, 3, 700}, 2, 0, 1.f, -1, -1, 0, 0, 0, 1},
    };
    /* Many work items (more than fit on the GPU at once), of different lengths, many of them past
     * their sequence's end. */
    std::vector<int> many;
    {
        std::mt19937 lr(77);
        for (int i = 0; i < 40; ++i) many.push_back(1 + (int)(lr() % 700));
    }
    const test_case many_cases[] = {
        {"many", many, 12, 1, 1.f, -1, -1, 0},
        {"many-win64", many, 12, 1, 1.f, 64, 64, 0},
    };
    /* The wgmma kernel (paths 8, 16) where the GPU has it: compute capability 9.0, head dim 64. */
    const int sm90 = sutra_cuda_flash_sm90_supported(64, prop.major, prop.minor);
    if (!sm90) printf("note: flash90 (the wgmma kernel) not checked: it needs compute capability 9.0\n");
    uint64_t seed = 1234;
    for (int bf16 = 0; bf16 <= 1; ++bf16)
        for (int D : {32, 64, 128})
            for (const test_case &tc : cases)
                run_case(tc, D, bf16, seed++,
                         7 | (sm90 && !tc.rel && sutra_cuda_flash_sm90_supported(D, 9, 0) ? 8 | 16 : 0));
    for (int bf16 = 0; bf16 <= 1; ++bf16)
        for (const test_case &tc : many_cases) run_case(tc, 64, bf16, seed++, 1 | (sm90 ? 8 : 0));
    /* D = 256 (Gemma), mma.sync only, from a seed of its own so that the cases above keep theirs */
    uint64_t seed256 = 256000;
    for (int bf16 = 0; bf16 <= 1; ++bf16)
        for (const test_case &tc : cases) run_case(tc, 256, bf16, seed256++, 7);
    /* The standard path also serves head dims flash lacks. */
    const test_case odd = {"mixed", small, 2, 0, 1.f, -1, -1, 0};
    run_case(odd, 80, 0, seed++, 2);
    const test_case odd_win = {"mixed-win64", small, 2, 1, 1.f, 64, 64, 0};
    run_case(odd_win, 96, 1, seed++, 2);
    argument_checks();

    printf("test_flash_attn: %s (%d failure%s)\n", g_failures ? "FAILED" : "passed", g_failures,
           g_failures == 1 ? "" : "s");
    return g_failures ? 1 : 0;
}
