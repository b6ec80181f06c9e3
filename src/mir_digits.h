/*
 * The digit pass's product: exact integer dot products of three 8-bit digits of
 * every coordinate, on AMX (Intel's tile matrix unit).
 *
 * Each centred row c (in double) is scaled by a power of two sigma so that
 * |c / sigma| <= 127, and t = c / sigma is split exactly into three signed digits
 * and a remainder:
 *
 *     t = D1 + D2 / 128 + D3 / 128^2 + r / 128^2,   |D1| <= 127, |D2|, |D3| <= 64,
 *                                                    |r| <= 1/2
 *
 * (D1 = rint(t), then twice: scale the remainder by 128 and round; every step is
 * exact in double).  Of the nine digit products <Da_u, Db_l>, the six with
 * a + b <= 4 are summed, each in a 32-bit integer lane that never overflows for
 * d <= 65,536 (MIR_DIGITS_MAX_FEATURES: |<D1, D1>| <= 127^2 d, the largest), in
 * three levels of equal weight:
 *
 *     L0 = <D1_u, D1_l>,   L1 = <D1_u, D2_l> + <D2_u, D1_l>,
 *     L2 = <D1_u, D3_l> + <D2_u, D2_l> + <D3_u, D1_l>,
 *
 *     -2 <c_u, c_l>  ~  -2 sigma_u sigma_l ((L0 + L1 / 128) + L2 / 128^2).
 *
 * What is left out (three digit products and the remainders) is bounded per row
 * in ``mir_fast/_core/digits.py`` from the norms each row's coding returns.
 *
 * AMX: eight tile registers of 16 rows x 64 bytes; ``tdpbssd`` adds to a 16 x 16
 * block of 32-bit sums the products of a 16 x 64 block of signed bytes (A: 16
 * unlabelled rows, 64 features) and a 16 x 64 block (B: 16 groups of 4 features x
 * 16 labelled rows, 4 bytes each), 16,384 multiply-adds an instruction.  Layout:
 * the unlabelled digits row by row, each plane of a tile ``kpad`` bytes a row
 * (d rounded up to 64, zero padded); the labelled digits in panels of 16 rows,
 * group after group of four features, ``packed[g 16 4 + r 4 + i]`` (each plane
 * put there by ``mir_grid_scatter`` with w = 16), one panel of one plane after the
 * other.
 * The integers do not round: the products are the same for every tile, thread
 * and slice.
 */
#ifndef MIR_FAST_DIGITS_H
#define MIR_FAST_DIGITS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "mir_amx.h"
#include "mir_rowfold.h"

#define MIR_DIGITS_ROWS MIR_AMX_ROWS
#define MIR_DIGITS_MAX_FEATURES 65536

/*
 * The digits of one row (see the header comment): x centred on ``mean`` in double,
 * sigma a power of two with max |c| / sigma <= 127 (1 for a zero row), the three
 * planes written to digits[0 .. d-1], digits[stride ..], digits[2 stride ..] (zero
 * up to kpad).  ``norms`` gets, in double: ||c||^2, ||D2||^2, ||D3||^2 (integers,
 * exact), ||r||^2 and ||D1| + |D2| / 128 + |D3| / 128^2||^2 (the sizes of the
 * kept terms, for the bound on the rounding of the sum of the levels).
 */
#define MIR_DIGITS_NORMS 5
#define MIR_DEFINE_DIGITS_CODE(NAME, DTYPE)                                            \
    MIR_MULTIVERSION MIR_STATIC void NAME(const DTYPE *restrict x,                     \
                                          const double *restrict mean, int64_t d,      \
                                          int64_t kpad, int64_t stride,                \
                                          int8_t *restrict digits,                     \
                                          double *restrict sigma,                      \
                                          double *restrict norms)                      \
    {                                                                                  \
        double peak = 0.0, inverse, t, r, d1, d2, d3, size;                            \
        double sc = 0.0, s2 = 0.0, s3 = 0.0, sr = 0.0, ss = 0.0;                       \
        int64_t i;                                                                     \
        int e = 0;                                                                     \
        _Pragma("omp simd reduction(max : peak)") for (i = 0; i < d; ++i) {            \
            double c = fabs((double)x[i] - mean[i]);                                   \
            peak = c > peak ? c : peak;                                                \
        }                                                                              \
        if (peak > 0.0)                                                                \
            frexp(peak / 127.0, &e);                                                   \
        *sigma = ldexp(1.0, e);                                                        \
        inverse = ldexp(1.0, -e);                                                      \
        _Pragma("omp simd reduction(+ : sc, s2, s3, sr, ss)") for (i = 0; i < d; ++i) { \
            double c = (double)x[i] - mean[i];                                         \
            t = c * inverse;                                                           \
            d1 = rint(t);                                                              \
            r = (t - d1) * 128.0;                                                      \
            d2 = rint(r);                                                              \
            r = (r - d2) * 128.0;                                                      \
            d3 = rint(r);                                                              \
            r -= d3;                                                                   \
            digits[i] = (int8_t)d1;                                                    \
            digits[stride + i] = (int8_t)d2;                                           \
            digits[2 * stride + i] = (int8_t)d3;                                       \
            size = fabs(d1) + fabs(d2) * 0x1p-7 + fabs(d3) * 0x1p-14;                  \
            sc += c * c;                                                               \
            s2 += d2 * d2;                                                             \
            s3 += d3 * d3;                                                             \
            sr += r * r;                                                               \
            ss += size * size;                                                         \
        }                                                                              \
        for (i = d; i < kpad; ++i) {                                                   \
            digits[i] = 0;                                                             \
            digits[stride + i] = 0;                                                    \
            digits[2 * stride + i] = 0;                                                \
        }                                                                              \
        norms[0] = sc;                                                                 \
        norms[1] = s2;                                                                 \
        norms[2] = s3;                                                                 \
        norms[3] = sr;                                                                 \
        norms[4] = ss;                                                                 \
    }

MIR_DEFINE_DIGITS_CODE(mir_digits_code_f32, float)
MIR_DEFINE_DIGITS_CODE(mir_digits_code_f64, double)

/*
 * The pass's error bound (its proof: ``mir_fast/_core/digits.py``), in two halves.
 * ``mir_digits_maxima``: from the labelled rows' norms and scales, b[0..4] = the
 * largest sigma ||D2||, sigma ||D3||, ||c||, sigma ||E|| (E = r / 128^2) and
 * sigma ||s||; ``mir_digits_delta``: one row's delta_u from its own and those.  Every
 * norm is raised by ``slack`` (grid.NORM_SLACK), and so is the result (infinite
 * where it is not finite).
 */
#define MIR_DIGITS_MAXIMA 5

MIR_STATIC void mir_digits_maxima(const double *norms_lab, const double *sigma_lab,
                                  int64_t n, double slack, double *b)
{
    int64_t j, i;
    double v;
    for (i = 0; i < MIR_DIGITS_MAXIMA; ++i)
        b[i] = 0.0;
    for (j = 0; j < n; ++j) {
        const double *nj = norms_lab + j * MIR_DIGITS_NORMS;
        const double sj = sigma_lab[j];
        v = sj * (sqrt(nj[1]) * slack);
        b[0] = v > b[0] ? v : b[0];
        v = sj * (sqrt(nj[2]) * slack);
        b[1] = v > b[1] ? v : b[1];
        v = sqrt(nj[0]) * slack;
        b[2] = v > b[2] ? v : b[2];
        v = sj * (sqrt(nj[3]) * slack);
        b[3] = v > b[3] ? v : b[3];
        v = sj * (sqrt(nj[4]) * slack);
        b[4] = v > b[4] ? v : b[4];
    }
    b[3] *= 0x1p-14;
}

MIR_STATIC double mir_digits_delta(const double *norms, double sigma, const double *b,
                                   int64_t f, double slack)
{
    const double c = sqrt(norms[0]) * slack, d2 = sqrt(norms[1]) * slack;
    const double d3 = sqrt(norms[2]) * slack, e = sqrt(norms[3]) * slack * 0x1p-14;
    const double s = sqrt(norms[4]) * slack;
    const double g = sigma * (0x1p-21 * (d2 * b[1] + d3 * b[0]) + 0x1p-28 * d3 * b[1] +
                              e * b[2]) +
                     (c + sigma * e) * b[3];
    const double rounding = 0x1p-51 * sigma * s * b[4] +
                            (double)(f + 6) * 0x1p-53 * ((c + b[2]) * (c + b[2]));
    const double delta = 2.0 * g + rounding + 4.0 * (double)(f + 1) * 0x1p-1074;
    return isfinite(delta) ? delta * slack : INFINITY;
}

#if MIR_AMX_ENABLED

/*
 * The three level sums of one 16 x 16 block over ``steps`` steps of 64 features:
 * unlabelled rows ``a1`` (planes ``plane_a`` bytes apart, rows ``kpad`` bytes),
 * labelled panel ``b1`` (planes ``panel`` bytes apart), added to the sums in
 * ``level`` (or starting from zero: ``first``).
 */
MIR_TARGET_AMX MIR_INLINE void mir_digits_block(const int8_t *a1, int64_t plane_a,
                                                int64_t kpad, const int8_t *b1,
                                                int64_t panel, int64_t steps,
                                                int32_t *level, int first)
{
    int64_t s;
    if (first) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
    } else {
        _tile_loadd(0, level, 64);
        _tile_loadd(1, level + 256, 64);
        _tile_loadd(2, level + 512, 64);
    }
    for (s = 0; s < steps; ++s) {
        _tile_loadd(3, a1 + s * 64, kpad);
        _tile_loadd(4, a1 + plane_a + s * 64, kpad);
        _tile_loadd(5, a1 + 2 * plane_a + s * 64, kpad);
        _tile_loadd(6, b1 + s * 1024, 64);
        _tile_dpbssd(0, 3, 6);
        _tile_dpbssd(1, 4, 6);
        _tile_dpbssd(2, 5, 6);
        _tile_loadd(7, b1 + panel + s * 1024, 64);
        _tile_dpbssd(1, 3, 7);
        _tile_dpbssd(2, 4, 7);
        _tile_loadd(6, b1 + 2 * panel + s * 1024, 64);
        _tile_dpbssd(2, 3, 6);
    }
    _tile_stored(0, level, 64);
    _tile_stored(1, level + 256, 64);
    _tile_stored(2, level + 512, 64);
}

/*
 * gbuf[i ldg + j] = -2 sigma_u[i] sigma_l[j] ((L0 + L1 / 128) + L2 / 128^2) for
 * the ``n_a`` x 16 unlabelled rows of ``a`` (three planes of rows of ``kpad``
 * bytes, ``plane_a`` bytes apart) and the ``n_b`` labelled panels of ``b``
 * (``kpad`` / 4 groups each, three planes), in 16 x 16 blocks.  The features go
 * in slices of ``slice`` steps of 64: a slice of 16 unlabelled rows stays in L1
 * while every panel runs over it, the block's level sums kept in ``levels`` (n_b
 * x 768 32-bit integers, 64-byte aligned).
 */
MIR_TARGET_AMX MIR_STATIC void mir_digits_products(const int8_t *a, int64_t n_a,
                                                   int64_t plane_a, const int8_t *b,
                                                   int64_t n_b, int64_t kpad, int64_t slice,
                                                   const double *sigma_u,
                                                   const double *sigma_l, int32_t *levels,
                                                   double *gbuf, int64_t ldg)
{
    const int64_t panel = kpad * MIR_DIGITS_ROWS, steps = kpad / 64;
    int64_t p, q, s0, i, j;
    mir_amx_configure();
    for (q = 0; q < n_a; ++q) {
        const int8_t *a1 = a + q * MIR_DIGITS_ROWS * kpad;
        for (s0 = 0; s0 < steps; s0 += slice) {
            const int64_t n_s = steps - s0 < slice ? steps - s0 : slice;
            for (p = 0; p < n_b; ++p)
                mir_digits_block(a1 + s0 * 64, plane_a, kpad, b + p * 3 * panel + s0 * 1024,
                                 panel, n_s, levels + p * 768, s0 == 0);
        }
        for (p = 0; p < n_b; ++p) {
            const int32_t *level = levels + p * 768;
            for (i = 0; i < MIR_DIGITS_ROWS; ++i) {
                const double scale_u = -2.0 * sigma_u[q * MIR_DIGITS_ROWS + i];
                double *g = gbuf + (q * MIR_DIGITS_ROWS + i) * ldg + p * MIR_DIGITS_ROWS;
                const double *scale_l = sigma_l + p * MIR_DIGITS_ROWS;
                const int32_t *l0 = level + i * MIR_DIGITS_ROWS;
                for (j = 0; j < MIR_DIGITS_ROWS; ++j)
                    g[j] = scale_u * scale_l[j] *
                           (((double)l0[j] + (double)l0[256 + j] * 0x1p-7) +
                            (double)l0[512 + j] * 0x1p-14);
            }
        }
    }
    _tile_release();
}
#else
MIR_STATIC void mir_digits_products(const int8_t *a, int64_t n_a, int64_t plane_a,
                                    const int8_t *b, int64_t n_b, int64_t kpad,
                                    int64_t slice, const double *sigma_u,
                                    const double *sigma_l, int32_t *levels, double *gbuf,
                                    int64_t ldg)
{
    (void)a; (void)n_a; (void)plane_a; (void)b; (void)n_b; (void)kpad; (void)slice;
    (void)sigma_u; (void)sigma_l; (void)levels; (void)gbuf; (void)ldg;
}
#endif

#endif /* MIR_FAST_DIGITS_H */
