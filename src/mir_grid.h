/*
 * The grid pass's product: exact integer dot products of 8-bit codes.
 *
 * Data on a grid (pixels / 255, raw bytes) are ``x = s k + r`` with integer codes
 * ``0 <= k <= 255``, a scale ``s`` and a residual ``r`` that is only the rounding
 * of ``s k`` to the data's precision.  The dot products of the codes are integers,
 * computed exactly with AVX-512 VNNI (``vpdpbusd``: four products of an unsigned
 * and a signed byte summed into a 32-bit lane, 64 multiply-adds an instruction):
 *
 *     <k_u, k_l> = <k_u, k_l - 128> + 128 sum_i k_u[i]
 *
 * the labelled codes shifted by -128 to fit a signed byte.  Every partial sum of
 * ``<k_u, k_l - 128>`` is at most 255 * 128 * d in magnitude, inside a 32-bit lane
 * for d <= 65,536 (``MIR_GRID_MAX_FEATURES``).
 *
 * Layout.  Rows are cut into panels of W rows (``MIR_GRID_MR`` unlabelled,
 * ``MIR_GRID_NR`` labelled; a short last panel is padded with zero codes), the
 * features into groups of four (the last one padded with zero codes).  A panel
 * stores, group after group, the four codes of each of its rows:
 *
 *     packed[p G W 4 + g W 4 + r 4 + i] = code(x[p W + r, 4 g + i])
 *
 * (G groups; labelled codes minus 128, as signed bytes), so that one 32-bit
 * broadcast is an unlabelled row's group and one 64-byte load the group of 16
 * labelled rows.
 *
 * The integer products do not round: they are the same whatever the tile, the
 * thread or the slice of groups, and identical for float32 data and their float64
 * copy; the distances built from them round once each (``mir_grid_distances``).
 */
#ifndef MIR_FAST_GRID_H
#define MIR_FAST_GRID_H

#include <math.h>
#include <stdint.h>

#include "mir_amx.h"
#include "mir_rowfold.h"

#define MIR_GRID_MR 8
/* Unlabelled rows of the AMX product's register block (two tiles of 16). */
#define MIR_GRID_AMX_MR 32
#define MIR_GRID_NR 32
#define MIR_GRID_MAX_FEATURES 65536

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__INTEL_COMPILER) && !defined(MIR_FAST_NO_CLONES)
#define MIR_GRID_ENABLED 1
#include <immintrin.h>
#define MIR_TARGET_VNNI __attribute__((target("arch=x86-64-v4,avx512vnni")))
#else
#define MIR_GRID_ENABLED 0
#endif

/* The grid kernels this process can run: 2 with AMX (``mir_amx.h``) besides
 * x86-64-v4 and AVX-512 VNNI, 1 with those two alone, else 0. */
MIR_STATIC int mir_grid_isa(void)
{
#if MIR_GRID_ENABLED
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4") && __builtin_cpu_supports("avx512vnni"))
        return 1 + mir_amx_available();
#endif
    return 0;
}

/*
 * Codes of one row of d features on the grid of scale s (1 / s given as
 * ``inverse``): code[i] = rint(x[i] / s) clamped to 0 .. 255; the row's code sum
 * and squared code norm (integers, summed exactly in double: below 2^53), and the
 * squared norm of its residuals x[i] - s code[i] (each an fma, rounded once; summed
 * in double, in an order that may follow the instruction set: it only enters the
 * error bound).
 */
#define MIR_DEFINE_GRID_CODES(NAME, DTYPE)                                             \
    MIR_MULTIVERSION MIR_STATIC void NAME(const DTYPE *restrict x, int64_t d,         \
                                          double scale, double inverse,                \
                                          uint8_t *restrict code, int64_t *sum,        \
                                          int64_t *sq_norm, double *residual_sq)       \
    {                                                                                  \
        double s = 0.0, q = 0.0, rsq = 0.0, k, r;                                      \
        int64_t i;                                                                     \
        _Pragma("omp simd reduction(+ : s, q, rsq)") for (i = 0; i < d; ++i) {         \
            k = rint((double)x[i] * inverse);                                          \
            k = k < 0.0 ? 0.0 : (k > 255.0 ? 255.0 : k);                               \
            r = fma(-scale, k, (double)x[i]);                                          \
            rsq += r * r;                                                              \
            code[i] = (uint8_t)k;                                                      \
            s += k;                                                                    \
            q += k * k;                                                                \
        }                                                                              \
        *sum = (int64_t)s;                                                             \
        *sq_norm = (int64_t)q;                                                         \
        *residual_sq = rsq;                                                            \
    }

MIR_DEFINE_GRID_CODES(mir_grid_codes_f32, float)
MIR_DEFINE_GRID_CODES(mir_grid_codes_f64, double)

/*
 * How far n values are from the grid of scale s (1 / s given as ``inverse``): the
 * largest |x / s - k|, k the nearest code in 0 .. 255 (X is finite: validated).
 * Pixels / 255 in float32 give about 255 * 2^-24; values off the grid or outside
 * 0 .. 255 s at least 0.5 or so.  The values are scanned in chunks of
 * MIR_GRID_MISFIT_CHUNK; once a chunk's largest is above ``tolerance`` it is
 * returned (the values are off the grid: by how much no longer matters).
 */
#define MIR_GRID_MISFIT_CHUNK 4096
#define MIR_DEFINE_GRID_MISFIT(NAME, DTYPE)                                            \
    MIR_MULTIVERSION MIR_STATIC double NAME(const DTYPE *restrict x, int64_t n,        \
                                            double inverse, double tolerance)          \
    {                                                                                  \
        double worst = 0.0, t, k, m;                                                   \
        int64_t i, start, stop;                                                        \
        for (start = 0; start < n && worst <= tolerance;                               \
             start += MIR_GRID_MISFIT_CHUNK) {                                         \
            stop = start + MIR_GRID_MISFIT_CHUNK;                                      \
            stop = stop < n ? stop : n;                                                \
            _Pragma("omp simd reduction(max : worst)") for (i = start; i < stop; ++i) { \
                t = (double)x[i] * inverse;                                            \
                k = rint(t);                                                           \
                k = k < 0.0 ? 0.0 : (k > 255.0 ? 255.0 : k);                           \
                m = fabs(t - k);                                                       \
                worst = m > worst ? m : worst;                                         \
            }                                                                          \
        }                                                                              \
        return worst;                                                                  \
    }

MIR_DEFINE_GRID_MISFIT(mir_grid_misfit_f32, float)
MIR_DEFINE_GRID_MISFIT(mir_grid_misfit_f64, double)

/* Put a row's d codes into row ``r`` of its panel (width w, groups of four),
 * XOR ``flip`` (0 unlabelled; 0x80808080 labelled: k - 128 as a signed byte); zero
 * codes pad the last group. */
MIR_STATIC void mir_grid_scatter(const uint8_t *restrict code, int64_t d, int64_t w,
                                 int64_t r, uint32_t flip, uint8_t *restrict panel)
{
    int64_t g, full = d / 4;
    uint32_t word;
    uint8_t last[4] = {0, 0, 0, 0};
    for (g = 0; g < full; ++g) {
        memcpy(&word, code + 4 * g, 4);
        word ^= flip;
        memcpy(panel + (g * w + r) * 4, &word, 4);
    }
    if (d % 4) {
        memcpy(last, code + 4 * full, (size_t)(d % 4));
        memcpy(&word, last, 4);
        word ^= flip;
        memcpy(panel + (full * w + r) * 4, &word, 4);
    }
}

#if MIR_GRID_ENABLED
/*
 * acc[r ldc + j] (+)= <a_r, b_j> over groups g0 .. g0 + n_groups - 1 of one
 * MR x NR register block (``first``: store instead of add).
 */
MIR_TARGET_VNNI MIR_STATIC void mir_grid_block(const uint8_t *restrict a,
                                               const uint8_t *restrict b,
                                               int64_t n_groups, int32_t *restrict acc,
                                               int64_t ldc, int first)
{
    __m512i c[MIR_GRID_MR][2];
    int64_t g;
    int r;
    for (r = 0; r < MIR_GRID_MR; ++r) {
        c[r][0] = _mm512_setzero_si512();
        c[r][1] = _mm512_setzero_si512();
    }
    for (g = 0; g < n_groups; ++g) {
        const __m512i b0 = _mm512_loadu_si512((const void *)(b + g * MIR_GRID_NR * 4));
        const __m512i b1 = _mm512_loadu_si512((const void *)(b + g * MIR_GRID_NR * 4 + 64));
        const uint8_t *ag = a + g * MIR_GRID_MR * 4;
#pragma GCC unroll 8
        for (r = 0; r < MIR_GRID_MR; ++r) {
            int32_t word;
            __builtin_memcpy(&word, ag + r * 4, 4);
            const __m512i ar = _mm512_set1_epi32(word);
            c[r][0] = _mm512_dpbusd_epi32(c[r][0], ar, b0);
            c[r][1] = _mm512_dpbusd_epi32(c[r][1], ar, b1);
        }
    }
    for (r = 0; r < MIR_GRID_MR; ++r) {
        int32_t *row = acc + r * ldc;
        if (!first) {
            c[r][0] = _mm512_add_epi32(c[r][0], _mm512_loadu_si512((const void *)row));
            c[r][1] = _mm512_add_epi32(c[r][1],
                                       _mm512_loadu_si512((const void *)(row + 16)));
        }
        _mm512_storeu_si512((void *)row, c[r][0]);
        _mm512_storeu_si512((void *)(row + 16), c[r][1]);
    }
}

/*
 * acc[i ldc + j] = <a_i, b_j - 128> for the rows of ``n_a`` unlabelled panels and
 * ``n_b`` labelled panels of ``groups`` groups, in slices of ``slice`` groups (a
 * labelled panel's slice stays in L1 while every unlabelled panel runs over it).
 */
MIR_TARGET_VNNI MIR_STATIC void mir_grid_products(const uint8_t *a, int64_t n_a,
                                                  const uint8_t *b, int64_t n_b,
                                                  int64_t groups, int64_t slice,
                                                  int32_t *acc, int64_t ldc)
{
    int64_t p, q, g0, gc;
    for (p = 0; p < n_b; ++p)
        for (g0 = 0; g0 < groups; g0 += slice) {
            gc = groups - g0 < slice ? groups - g0 : slice;
            for (q = 0; q < n_a; ++q)
                mir_grid_block(a + (q * groups + g0) * MIR_GRID_MR * 4,
                               b + (p * groups + g0) * MIR_GRID_NR * 4, gc,
                               acc + q * MIR_GRID_MR * ldc + p * MIR_GRID_NR, ldc, g0 == 0);
        }
}
#else
MIR_STATIC void mir_grid_products(const uint8_t *a, int64_t n_a, const uint8_t *b,
                                  int64_t n_b, int64_t groups, int64_t slice,
                                  int32_t *acc, int64_t ldc)
{
    (void)a; (void)n_a; (void)b; (void)n_b; (void)groups; (void)slice; (void)acc;
    (void)ldc;
}
#endif

/*
 * The AMX product (isa 2): the same integers as ``mir_grid_products`` on AMX
 * (``tdpbusd``, unsigned unlabelled codes by signed labelled ones: the VNNI
 * convention, 16,384 multiply-adds an instruction).  The labelled panels are the
 * VNNI ones (32 rows: a tile of B is 16 groups of one half, 128 bytes apart); the
 * unlabelled rows go in panels of 16, step after step of 64 features, a step 16
 * rows of 64 codes (one tile, 1 KB contiguous), zero codes past d
 * (``mir_grid_scatter_rows``).  Each 32 x 32 block takes four tiles of sums,
 * two of unlabelled and two of labelled codes.  Past the last group a tile of B
 * reads the next panel (or, after the last one, the 2 KB of slack the caller
 * leaves): those codes meet zero codes and add nothing.
 */
MIR_STATIC void mir_grid_scatter_rows(const uint8_t *restrict code, int64_t d,
                                      int64_t kpad, int64_t r, uint8_t *restrict panel)
{
    int64_t step, width;
    for (step = 0; step < kpad / 64; ++step) {
        uint8_t *dst = panel + step * 1024 + r * 64;
        width = d - step * 64;
        width = width < 0 ? 0 : (width > 64 ? 64 : width);
        memcpy(dst, code + step * 64, (size_t)width);
        memset(dst + width, 0, (size_t)(64 - width));
    }
}

#if MIR_AMX_ENABLED
/* acc[i ldc + j] = <a_i, b_j - 128> for ``n_a`` blocks of 32 unlabelled rows (two
 * panels each) and ``n_b`` labelled panels of ``groups`` groups. */
MIR_TARGET_AMX MIR_STATIC void mir_grid_products_amx(const uint8_t *a, int64_t n_a,
                                                     const uint8_t *b, int64_t n_b,
                                                     int64_t groups, int64_t kpad,
                                                     int32_t *acc, int64_t ldc)
{
    const int64_t panel_a = kpad * 16, steps = kpad / 64, stride = ldc * 4;
    int64_t p, q, s;
    mir_amx_configure();
    for (q = 0; q < n_a; ++q) {
        const uint8_t *a0 = a + 2 * q * panel_a, *a1 = a0 + panel_a;
        for (p = 0; p < n_b; ++p) {
            const uint8_t *b0 = b + p * groups * MIR_GRID_NR * 4;
            int32_t *c = acc + q * MIR_GRID_AMX_MR * ldc + p * MIR_GRID_NR;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (s = 0; s < steps; ++s) {
                _tile_loadd(4, a0 + s * 1024, 64);
                _tile_loadd(5, a1 + s * 1024, 64);
                _tile_loadd(6, b0 + s * 16 * MIR_GRID_NR * 4, MIR_GRID_NR * 4);
                _tile_loadd(7, b0 + s * 16 * MIR_GRID_NR * 4 + 64, MIR_GRID_NR * 4);
                _tile_dpbusd(0, 4, 6);
                _tile_dpbusd(1, 4, 7);
                _tile_dpbusd(2, 5, 6);
                _tile_dpbusd(3, 5, 7);
            }
            _tile_stored(0, c, stride);
            _tile_stored(1, c + 16, stride);
            _tile_stored(2, c + 16 * ldc, stride);
            _tile_stored(3, c + 16 * ldc + 16, stride);
        }
    }
    _tile_release();
}
#else
MIR_STATIC void mir_grid_products_amx(const uint8_t *a, int64_t n_a, const uint8_t *b,
                                      int64_t n_b, int64_t groups, int64_t kpad,
                                      int32_t *acc, int64_t ldc)
{
    (void)a; (void)n_a; (void)b; (void)n_b; (void)groups; (void)kpad; (void)acc;
    (void)ldc;
}
#endif

/*
 * The squared distances of one unlabelled row u to n labelled rows l as the fold
 * takes them, from acc[j] = <k_u, k_l - 128>, the row's code sum and squared code
 * norms (integers):
 *
 *     dist[j] = fl(s^2) (||k_u||^2 + ||k_l||^2 - 2 <k_u, k_l>)
 *
 * the integer exact (its terms below 2 * 255^2 * 65,536 < 2^34, far from 2^53),
 * one rounding for the product (``s2`` = fl(s^2), one more).  Returns their
 * minimum.
 */
MIR_MULTIVERSION MIR_STATIC double mir_grid_distances(const int32_t *restrict acc,
                                                      int64_t n, int64_t code_sum,
                                                      int64_t sq_norm_u,
                                                      const int64_t *restrict sq_norm_l,
                                                      double s2, double *restrict dist)
{
    double tile_min = INFINITY;
    int64_t j;
    const int64_t base = sq_norm_u - 256 * code_sum;
#pragma omp simd reduction(min : tile_min)
    for (j = 0; j < n; ++j) {
        double d = s2 * (double)(base + sq_norm_l[j] - 2 * (int64_t)acc[j]);
        dist[j] = d;
        tile_min = d < tile_min ? d : tile_min;
    }
    return tile_min;
}

#endif /* MIR_FAST_GRID_H */
