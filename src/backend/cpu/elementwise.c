/*
 * elementwise.c - fused row kernels of the CPU backend (see elementwise.h).
 *
 * Why fused: after a matrix product the output rows are still in L1/L2; adding the bias and
 * applying the activation (GELU, SiLU) in the same pass, and the residual add inside LayerNorm's first pass, saves full
 * round trips over (T, N) activations and replaces libm's scalar erff with a vector erf.
 */
#include "backend/cpu/elementwise.h"

#include <stdlib.h>
#include <string.h>

#include "backend/cpu/simd_math.h"

static inline float gelu_tanh(float x) {
    const float k = 0.79788456080286536f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

/* SiLU, x * sigmoid(x), from e = exp(-|x|) in (0, 1], which never overflows:
 * sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below. */
#define SILU_LOG2E 1.44269504088896341f

static inline float silu_scalar(float x) {
    const float e = sutra_exp2_scalar(-fabsf(x) * SILU_LOG2E);
    return x * (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

__attribute__((target("avx512f"))) static inline __m512 silu_avx512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 e = sutra_exp2_avx512(_mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(-SILU_LOG2E)));
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_div_ps(_mm512_mul_ps(x, _mm512_mask_blend_ps(neg, one, e)), _mm512_add_ps(one, e));
}

__attribute__((target("avx2,fma"))) static inline __m256 silu_avx2(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const __m256 e = sutra_exp2_avx2(_mm256_mul_ps(ax, _mm256_set1_ps(-SILU_LOG2E)));
    const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_div_ps(_mm256_mul_ps(x, _mm256_blendv_ps(one, e, neg)), _mm256_add_ps(one, e));
}

/* ---- bias + activation ---------------------------------------------------------------------- */

static inline float act_scalar(float v, sutra_act act) {
    switch (act) {
    case SUTRA_ACT_GELU: return sutra_gelu_scalar(v);
    case SUTRA_ACT_GELU_TANH: return gelu_tanh(v);
    case SUTRA_ACT_SILU: return silu_scalar(v);
    default: return v;
    }
}

static void bias_act_scalar(float *row, const float *bias, int n, sutra_act act, int from) {
    for (int j = from; j < n; j++) row[j] = act_scalar(row[j] + (bias ? bias[j] : 0.0f), act);
}

__attribute__((target("avx512f"))) static void bias_act_avx512(float *row, const float *bias, int n, sutra_act act) {
    int j = 0;
    if (act == SUTRA_ACT_GELU_TANH) {
        bias_act_scalar(row, bias, n, act, 0);
        return;
    }
    for (; j + 16 <= n; j += 16) {
        __m512 v = _mm512_loadu_ps(row + j);
        if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + j));
        if (act == SUTRA_ACT_GELU) v = sutra_gelu_avx512(v);
        else if (act == SUTRA_ACT_SILU) v = silu_avx512(v);
        _mm512_storeu_ps(row + j, v);
    }
    bias_act_scalar(row, bias, n, act, j);
}

__attribute__((target("avx2,fma"))) static void bias_act_avx2(float *row, const float *bias, int n, sutra_act act) {
    int j = 0;
    if (act == SUTRA_ACT_GELU_TANH) {
        bias_act_scalar(row, bias, n, act, 0);
        return;
    }
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(row + j);
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
        if (act == SUTRA_ACT_GELU) v = sutra_gelu_avx2(v);
        else if (act == SUTRA_ACT_SILU) v = silu_avx2(v);
        _mm256_storeu_ps(row + j, v);
    }
    bias_act_scalar(row, bias, n, act, j);
}

void sutra_bias_act_row(float *row, const float *bias, int n, sutra_act act, sutra_cpu_isa isa) {
    switch (isa) {
    case SUTRA_CPU_ISA_AVX512: bias_act_avx512(row, bias, n, act); break;
    case SUTRA_CPU_ISA_AVX2: bias_act_avx2(row, bias, n, act); break;
    default: bias_act_scalar(row, bias, n, act, 0); break;
    }
}

/* ---- residual add + LayerNorm ---------------------------------------------------------------- */

static void add_layernorm_scalar(float *out, const float *x, const float *res, const float *w, const float *b, int C,
                                 float eps) {
    float mean = 0.0f;
    for (int i = 0; i < C; i++) {
        out[i] = x[i] + (res ? res[i] : 0.0f);
        mean += out[i];
    }
    mean /= (float)C;
    float var = 0.0f;
    for (int i = 0; i < C; i++) {
        float d = out[i] - mean;
        var += d * d;
    }
    float rstd = 1.0f / sqrtf(var / (float)C + eps);
    for (int i = 0; i < C; i++) out[i] = (out[i] - mean) * rstd * w[i] + (b ? b[i] : 0.0f);
}

__attribute__((target("avx512f"))) static void add_layernorm_avx512(float *out, const float *x, const float *res,
                                                                    const float *w, const float *b, int C, float eps) {
    if (C % 16) {
        add_layernorm_scalar(out, x, res, w, b, C, eps);
        return;
    }
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < C; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        if (res) v = _mm512_add_ps(v, _mm512_loadu_ps(res + i));
        _mm512_storeu_ps(out + i, v);
        s = _mm512_add_ps(s, v);
    }
    float mean = _mm512_reduce_add_ps(s) / (float)C;
    __m512 m = _mm512_set1_ps(mean), q = _mm512_setzero_ps();
    for (int i = 0; i < C; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(out + i), m);
        q = _mm512_fmadd_ps(d, d, q);
    }
    float rstd = 1.0f / sqrtf(_mm512_reduce_add_ps(q) / (float)C + eps);
    __m512 r = _mm512_set1_ps(rstd);
    for (int i = 0; i < C; i += 16) {
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(out + i), m), r);
        _mm512_storeu_ps(out + i, _mm512_fmadd_ps(d, _mm512_loadu_ps(w + i), b ? _mm512_loadu_ps(b + i) : _mm512_setzero_ps()));
    }
}

__attribute__((target("avx2,fma"))) static float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) static void add_layernorm_avx2(float *out, const float *x, const float *res,
                                                                   const float *w, const float *b, int C, float eps) {
    if (C % 8) {
        add_layernorm_scalar(out, x, res, w, b, C, eps);
        return;
    }
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < C; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + i));
        _mm256_storeu_ps(out + i, v);
        s = _mm256_add_ps(s, v);
    }
    float mean = hsum256(s) / (float)C;
    __m256 m = _mm256_set1_ps(mean), q = _mm256_setzero_ps();
    for (int i = 0; i < C; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(out + i), m);
        q = _mm256_fmadd_ps(d, d, q);
    }
    float rstd = 1.0f / sqrtf(hsum256(q) / (float)C + eps);
    __m256 r = _mm256_set1_ps(rstd);
    for (int i = 0; i < C; i += 8) {
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(out + i), m), r);
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(w + i), b ? _mm256_loadu_ps(b + i) : _mm256_setzero_ps()));
    }
}

void sutra_add_layernorm_row(float *out, const float *x, const float *res, const float *w, const float *b, int C,
                             float eps, sutra_cpu_isa isa) {
    switch (isa) {
    case SUTRA_CPU_ISA_AVX512: add_layernorm_avx512(out, x, res, w, b, C, eps); break;
    case SUTRA_CPU_ISA_AVX2: add_layernorm_avx2(out, x, res, w, b, C, eps); break;
    default: add_layernorm_scalar(out, x, res, w, b, C, eps); break;
    }
}

/* ---- residual add + RMSNorm ------------------------------------------------------------------ */

static void add_rmsnorm_scalar(float *out, const float *x, const float *res, const float *w, int C, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < C; i++) {
        out[i] = x[i] + (res ? res[i] : 0.0f);
        ss += out[i] * out[i];
    }
    const float r = 1.0f / sqrtf(ss / (float)C + eps);
    for (int i = 0; i < C; i++) out[i] = w[i] * (out[i] * r);
}

__attribute__((target("avx512f"))) static void add_rmsnorm_avx512(float *out, const float *x, const float *res,
                                                                  const float *w, int C, float eps) {
    if (C % 16) {
        add_rmsnorm_scalar(out, x, res, w, C, eps);
        return;
    }
    __m512 q = _mm512_setzero_ps();
    for (int i = 0; i < C; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        if (res) v = _mm512_add_ps(v, _mm512_loadu_ps(res + i));
        _mm512_storeu_ps(out + i, v);
        q = _mm512_fmadd_ps(v, v, q);
    }
    const __m512 r = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(q) / (float)C + eps));
    for (int i = 0; i < C; i += 16)
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(w + i), _mm512_mul_ps(_mm512_loadu_ps(out + i), r)));
}

__attribute__((target("avx2,fma"))) static void add_rmsnorm_avx2(float *out, const float *x, const float *res,
                                                                 const float *w, int C, float eps) {
    if (C % 8) {
        add_rmsnorm_scalar(out, x, res, w, C, eps);
        return;
    }
    __m256 q = _mm256_setzero_ps();
    for (int i = 0; i < C; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + i));
        _mm256_storeu_ps(out + i, v);
        q = _mm256_fmadd_ps(v, v, q);
    }
    const __m256 r = _mm256_set1_ps(1.0f / sqrtf(hsum256(q) / (float)C + eps));
    for (int i = 0; i < C; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(_mm256_loadu_ps(out + i), r)));
}

void sutra_add_rmsnorm_row(float *out, const float *x, const float *res, const float *w, int C, float eps,
                           sutra_cpu_isa isa) {
    switch (isa) {
    case SUTRA_CPU_ISA_AVX512: add_rmsnorm_avx512(out, x, res, w, C, eps); break;
    case SUTRA_CPU_ISA_AVX2: add_rmsnorm_avx2(out, x, res, w, C, eps); break;
    default: add_rmsnorm_scalar(out, x, res, w, C, eps); break;
    }
}

/* ---- softmax -------------------------------------------------------------------------------- */

static void softmax2_scalar(float *row, int lo, int hi) {
    float m = -INFINITY;
    for (int j = lo; j < hi; j++) m = fmaxf(m, row[j]);
    float sum = 0.0f;
    for (int j = lo; j < hi; j++) sum += row[j] = sutra_exp2_scalar(row[j] - m);
    float inv = 1.0f / sum;
    for (int j = lo; j < hi; j++) row[j] *= inv;
}

__attribute__((target("avx512f"))) static void softmax2_avx512(float *row, int lo, int hi) {
    int n = hi - lo;
    float *r = row + lo;
    __m512 mv = _mm512_set1_ps(-INFINITY);
    int j = 0;
    for (; j + 16 <= n; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(r + j));
    float m = _mm512_reduce_max_ps(mv);
    for (int k = j; k < n; k++) m = fmaxf(m, r[k]);
    __m512 mm = _mm512_set1_ps(m), sv = _mm512_setzero_ps();
    for (j = 0; j + 16 <= n; j += 16) {
        __m512 e = sutra_exp2_avx512(_mm512_sub_ps(_mm512_loadu_ps(r + j), mm));
        _mm512_storeu_ps(r + j, e);
        sv = _mm512_add_ps(sv, e);
    }
    float sum = _mm512_reduce_add_ps(sv);
    for (int k = j; k < n; k++) sum += r[k] = sutra_exp2_scalar(r[k] - m);
    __m512 inv = _mm512_set1_ps(1.0f / sum);
    for (j = 0; j + 16 <= n; j += 16) _mm512_storeu_ps(r + j, _mm512_mul_ps(_mm512_loadu_ps(r + j), inv));
    for (int k = j; k < n; k++) r[k] *= 1.0f / sum;
}

__attribute__((target("avx2,fma"))) static void softmax2_avx2(float *row, int lo, int hi) {
    int n = hi - lo;
    float *r = row + lo;
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int j = 0;
    for (; j + 8 <= n; j += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(r + j));
    float lanes[8], m = -INFINITY;
    _mm256_storeu_ps(lanes, mv);
    for (int k = 0; k < 8; k++) m = fmaxf(m, lanes[k]);
    for (int k = j; k < n; k++) m = fmaxf(m, r[k]);
    __m256 mm = _mm256_set1_ps(m), sv = _mm256_setzero_ps();
    for (j = 0; j + 8 <= n; j += 8) {
        __m256 e = sutra_exp2_avx2(_mm256_sub_ps(_mm256_loadu_ps(r + j), mm));
        _mm256_storeu_ps(r + j, e);
        sv = _mm256_add_ps(sv, e);
    }
    float sum = hsum256(sv);
    for (int k = j; k < n; k++) sum += r[k] = sutra_exp2_scalar(r[k] - m);
    __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(r + j, _mm256_mul_ps(_mm256_loadu_ps(r + j), inv));
    for (int k = j; k < n; k++) r[k] *= 1.0f / sum;
}

void sutra_softmax2_row(float *row, int lo, int hi, int n, sutra_cpu_isa isa) {
    for (int j = 0; j < lo; j++) row[j] = 0.0f;
    for (int j = hi; j < n; j++) row[j] = 0.0f;
    if (hi <= lo) return;
    switch (isa) {
    case SUTRA_CPU_ISA_AVX512: softmax2_avx512(row, lo, hi); break;
    case SUTRA_CPU_ISA_AVX2: softmax2_avx2(row, lo, hi); break;
    default: softmax2_scalar(row, lo, hi); break;
    }
}

/* ---- gated unit ----------------------------------------------------------------------------- */

void sutra_glu_row(float *out, const float *inp, int F, sutra_act act, sutra_cpu_isa isa) {
    const float *gate = inp + F;
    int j = 0;
    if (act == SUTRA_ACT_GELU || act == SUTRA_ACT_SILU || act == SUTRA_ACT_NONE) {
        /* the activation in place on a copy of the row's first half, then the product */
        for (; j < F; j++) out[j] = inp[j];
        sutra_bias_act_row(out, NULL, F, act, isa);
        for (j = 0; j < F; j++) out[j] *= gate[j];
        return;
    }
    for (; j < F; j++) out[j] = gelu_tanh(inp[j]) * gate[j];
}
