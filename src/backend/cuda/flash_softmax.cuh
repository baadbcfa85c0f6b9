/*
 * flash_softmax.cuh - the online softmax of one warp's query rows, in fp32.
 *
 * For each query row the kernel keeps m (a reference maximum, in log2 units: raw score times
 * scale_log2) and l (the sum of the weights p = exp2(s * scale_log2 - m) over the keys seen so
 * far). Each K tile's scores become p, one FFMA and one MUFU.EX2 per score; p is rounded to
 * fp16 / bf16 for the P V product, and l sums the ROUNDED weights, exactly, in fp32, as one
 * more mma against a column of ones (the kernel issues it): the output acc / l is then a
 * weighted mean whose weights sum to one, so a row dominated by one key returns that key's
 * value without the rounding of its weight, and the row sum costs no ALU instruction.
 *
 * Lazy rescaling: m is raised only when a tile's maximum exceeds it by more than
 * RESCALE_LOG2 = 8, and only then are l and the accumulator multiplied by exp2(m_old - m_new).
 * In between, p may exceed 1 but never 2^8 = 256: well inside fp16 / bf16 range and with the
 * same relative rounding, while the accumulator rescale (D/2 multiplies per row and tile, the
 * largest softmax cost at D = 128) is skipped on almost every tile after the first. A warp
 * skips the rescale when none of its rows moved (one vote).
 *
 * Rules: a row whose scores are all -inf so far (fully masked) keeps m = -inf and uses 0 as its
 * exponent base, so p = exp2(-inf) = 0, and its accumulator is zero: no inf - inf, no NaN. A
 * row's scores live in the 4 threads of a quad (lanes 4g .. 4g+3), so the row max needs two
 * shuffles; the row sum comes out of the mma already summed over the quad.
 */
#ifndef SUTRA_CUDA_FLASH_SOFTMAX_CUH
#define SUTRA_CUDA_FLASH_SOFTMAX_CUH

#include <math.h>

#include "backend/cuda/flash_ptx.cuh"

namespace sutra_flash {

/* Running statistics of the 2*MT rows a thread holds: m[mt][0] is row lane/4 of m-tile mt,
 * m[mt][1] is row lane/4 + 8, in log2 units (score * scale_log2). l[mt] is an mma accumulator
 * tile (16 rows x 8 identical columns of row sums): l[mt][0] and [1] hold row lane/4, [2] and
 * [3] row lane/4 + 8. */
template <int MT>
struct softmax_state {
    float m[MT][2];
    float l[MT][4];

    __device__ __forceinline__ void init() {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
            m[mt][0] = m[mt][1] = -INFINITY;
            l[mt][0] = l[mt][1] = l[mt][2] = l[mt][3] = 0.f;
        }
    }

    /* Folds one tile of raw scores s (mma accumulator layout, masked entries -inf) into the
     * state: overwrites s with p and rescales acc (the O accumulator) and l for rows whose
     * reference maximum moved. The kernel then adds the tile's rounded weights to l. */
    template <int NT, int DT>
    __device__ __forceinline__ void update(float (&s)[MT][NT][4], float (&acc)[MT][DT][4], float scale_log2) {
        constexpr float RESCALE_LOG2 = 8.f;
        float corr[MT][2];
        bool moved = false;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                float mx = -INFINITY;
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * h], s[mt][nt][2 * h + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                mx *= scale_log2;
                const bool up = mx > m[mt][h] + RESCALE_LOG2; /* false while both are -inf */
                corr[mt][h] = up ? ex2(m[mt][h] - mx) : 1.f;  /* m = -inf: 0, acc is 0 anyway */
                if (up) m[mt][h] = mx;
                moved |= up;
                const float base = m[mt][h] == -INFINITY ? 0.f : m[mt][h];
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) {
                    s[mt][nt][2 * h] = ex2(fmaf(s[mt][nt][2 * h], scale_log2, -base));
                    s[mt][nt][2 * h + 1] = ex2(fmaf(s[mt][nt][2 * h + 1], scale_log2, -base));
                }
            }
        }
        if (__any_sync(0xffffffffu, moved)) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                l[mt][0] *= corr[mt][0];
                l[mt][1] *= corr[mt][0];
                l[mt][2] *= corr[mt][1];
                l[mt][3] *= corr[mt][1];
            }
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int dt = 0; dt < DT; ++dt) {
                    acc[mt][dt][0] *= corr[mt][0];
                    acc[mt][dt][1] *= corr[mt][0];
                    acc[mt][dt][2] *= corr[mt][1];
                    acc[mt][dt][3] *= corr[mt][1];
                }
        }
    }

    /* Rounds p (update()'s output) to Elem as the A fragments of P V: pa[mt][kk] covers keys
     * 16kk .. 16kk+15, S tiles 2kk and 2kk+1, whose accumulator layout is exactly that of an
     * A fragment. */
    template <class Elem, int NT>
    __device__ __forceinline__ static void pack(const float (&s)[MT][NT][4], uint32_t (&pa)[MT][NT / 2][4]) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int kk = 0; kk < NT / 2; ++kk)
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const float(&c)[4] = s[mt][2 * kk + half];
                    pa[mt][kk][2 * half] = pack2<Elem>(c[0], c[1]);     /* row lane/4 */
                    pa[mt][kk][2 * half + 1] = pack2<Elem>(c[2], c[3]); /* row lane/4 + 8 */
                }
    }

    /* 1 / (row sum), or 0 for a row that saw no key (never stored anyway). */
    __device__ __forceinline__ float inv_sum(int mt, int h) const {
        const float sum = l[mt][2 * h];
        return sum > 0.f ? 1.f / sum : 0.f;
    }
};

} // namespace sutra_flash

#endif /* SUTRA_CUDA_FLASH_SOFTMAX_CUH */
