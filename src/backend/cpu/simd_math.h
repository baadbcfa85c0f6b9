/*
 * simd_math.h - vectorised fp32 math shared by the CPU kernels: exp2 and erf-GELU, in AVX-512,
 * AVX2+FMA and scalar forms.
 *
 * Rules: every vector function is `static inline` with the target attribute of its ISA, so it
 * can only be inlined into functions compiled for that ISA (the build has no -march; callers
 * dispatch at run time). Accuracy is stated at each function and checked by tests.
 */
#ifndef SUTRA_SIMD_MATH_H
#define SUTRA_SIMD_MATH_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- exp2 -----------------------------------------------------------------------------------
 * 2^x, x clamped to [-127, 127]; x = n + f with n = round(x), f in [-1/2, 1/2];
 * 2^f = 1 + f*(c1 + f*(c2 + ... + f*c6)), a relative-error minimax fit on [-1/2, 1/2]
 * (approximation error 2.0e-9, below fp32's half-ulp), so the result is within 2 ulp (measured
 * 1 ulp on [-127, 0]). 2^n is built in the exponent field; n = -127 gives +0, so results below
 * 2^-126.5 flush to 0 and exp2(-inf) = 0, which masked softmax scores rely on. */
#define SUTRA_EXP2_C1 0.693147182464599609f
#define SUTRA_EXP2_C2 0.240226477384567261f
#define SUTRA_EXP2_C3 0.0555033236742019653f
#define SUTRA_EXP2_C4 0.00961843691766262054f
#define SUTRA_EXP2_C5 0.00133988750167191029f
#define SUTRA_EXP2_C6 0.000153533634147606790f

static inline float sutra_exp2_scalar(float x) {
    x = x < -127.0f ? -127.0f : x; /* also maps -inf to -127 */
    x = x > 127.0f ? 127.0f : x;
    /* round to nearest via the 1.5*2^23 trick, valid for |x| < 2^22 in the default rounding mode */
    float n = (x + 12582912.0f) - 12582912.0f;
    float f = x - n;
    float p = SUTRA_EXP2_C6;
    p = p * f + SUTRA_EXP2_C5;
    p = p * f + SUTRA_EXP2_C4;
    p = p * f + SUTRA_EXP2_C3;
    p = p * f + SUTRA_EXP2_C2;
    p = p * f + SUTRA_EXP2_C1;
    p = p * f + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

__attribute__((target("avx512f"))) static inline __m512 sutra_exp2_avx512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-127.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(127.0f));
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(SUTRA_EXP2_C6);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SUTRA_EXP2_C5));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SUTRA_EXP2_C4));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SUTRA_EXP2_C3));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SUTRA_EXP2_C2));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(SUTRA_EXP2_C1));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

__attribute__((target("avx2,fma"))) static inline __m256 sutra_exp2_avx2(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-127.0f));
    x = _mm256_min_ps(x, _mm256_set1_ps(127.0f));
    __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_sub_ps(x, n);
    __m256 p = _mm256_set1_ps(SUTRA_EXP2_C6);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SUTRA_EXP2_C5));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SUTRA_EXP2_C4));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SUTRA_EXP2_C3));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SUTRA_EXP2_C2));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(SUTRA_EXP2_C1));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* ---- GELU (exact, erf form) ------------------------------------------------------------------
 * gelu(x) = 0.5 x (1 + erf(x / sqrt 2)). erf(z) = 1 - erfc(|z|) for z >= 0 (odd), with
 * erfc(a) = t exp2(log2e (-a^2 + P(t))), t = 1 / (1 + a/2), P the degree-9 Chebyshev fit of
 * Numerical Recipes' erfcc (fractional error < 1.2e-7 in exact arithmetic; measured in float64:
 * |erf error| <= 8.3e-8, so |gelu error| <= 1.4e-8 + fp32 rounding). */
#define SUTRA_ERFC_P0 -1.26551223f
#define SUTRA_ERFC_P1 1.00002368f
#define SUTRA_ERFC_P2 0.37409196f
#define SUTRA_ERFC_P3 0.09678418f
#define SUTRA_ERFC_P4 -0.18628806f
#define SUTRA_ERFC_P5 0.27886807f
#define SUTRA_ERFC_P6 -1.13520398f
#define SUTRA_ERFC_P7 1.48851587f
#define SUTRA_ERFC_P8 -0.82215223f
#define SUTRA_ERFC_P9 0.17087277f
#define SUTRA_LOG2E 1.44269504088896341f

__attribute__((target("avx512f"))) static inline __m512 sutra_gelu_avx512(__m512 x) {
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    __m512 a = _mm512_abs_ps(z);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(SUTRA_ERFC_P9);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SUTRA_ERFC_P8));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SUTRA_ERFC_P7));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SUTRA_ERFC_P6));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SUTRA_ERFC_P5));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SUTRA_ERFC_P4));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SUTRA_ERFC_P3));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SUTRA_ERFC_P2));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SUTRA_ERFC_P1));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(SUTRA_ERFC_P0));
    __m512 arg = _mm512_fnmadd_ps(a, a, p); /* -a^2 + P(t) */
    __m512 erfc = _mm512_mul_ps(t, sutra_exp2_avx512(_mm512_mul_ps(arg, _mm512_set1_ps(SUTRA_LOG2E))));
    /* 1 + erf(z) = 2 - erfc(a) for z >= 0, erfc(a) for z < 0 */
    __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 onep = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(2.0f), erfc), erfc);
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), onep);
}

__attribute__((target("avx2,fma"))) static inline __m256 sutra_gelu_avx2(__m256 x) {
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(a, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(SUTRA_ERFC_P9);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SUTRA_ERFC_P8));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SUTRA_ERFC_P7));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SUTRA_ERFC_P6));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SUTRA_ERFC_P5));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SUTRA_ERFC_P4));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SUTRA_ERFC_P3));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SUTRA_ERFC_P2));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SUTRA_ERFC_P1));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(SUTRA_ERFC_P0));
    __m256 arg = _mm256_fnmadd_ps(a, a, p);
    __m256 erfc = _mm256_mul_ps(t, sutra_exp2_avx2(_mm256_mul_ps(arg, _mm256_set1_ps(SUTRA_LOG2E))));
    __m256 neg = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 onep = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), erfc), erfc, neg);
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), onep);
}

static inline float sutra_gelu_scalar(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

#endif /* SUTRA_SIMD_MATH_H */
