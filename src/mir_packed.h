/*
 * The dense kernel's own product: labelled rows packed once per call, unlabelled
 * rows packed once per tile, a register block summing one feature slice.
 *
 * Layout.  Rows are cut into panels of W rows (W = MIR_MR_* for unlabelled rows,
 * MIR_NR_* for labelled rows; a short last panel is padded with zero rows).  A panel
 * stores its d features feature-major, W values per feature:
 *
 *     packed[p d W + k W + r] = x[p W + r, k]
 *
 * so a slice of features k0 .. k0 + kc - 1 of a panel is one contiguous run.
 *
 * Product.  ``mir_slice_*`` computes, for an MR x NR register block,
 *
 *     c[r ldc + j]  (+)=  -2 sum_{k0 <= k < k0 + kc} a[k MR + r] * b[k NR + j]
 *
 * summing in the work type (float or double) in the order k = k0, k0 + 1, ... for
 * every (r, j), then adding the slice's sum to ``c`` in double (``first``: store
 * instead); the factor -2 is exact, so ``c`` ends as -2 <u, l> (the form
 * ``mir_expand_f64`` takes) with the bits of the unscaled sum.  A dot product is
 * therefore a function of the two rows and of the slice boundaries only: not of the
 * tile, the panel or the thread it was computed in, nor of the instruction set (both
 * sum with fused multiply-adds in the same order), and its rounding is that of a sum
 * of kc terms in the work type per slice (the float32 pass's error bound,
 * ``_certificate``), plus the double sum of the slices.
 *
 * The register block fits the vector registers of the instruction set it is
 * compiled for: x86-64-v4 (32 512-bit registers) takes 6 x 64 floats or 6 x 32
 * doubles (24 accumulators), x86-64-v3 (16 256-bit registers) 3 x 32 floats or
 * 3 x 16 doubles (12).  Measured on an Intel Xeon (Sapphire Rapids class), one
 * core, 192 x 240 x 3,072 doubles: 6 x 32 at 87-90 GFLOP/s where 6 x 16 ran at
 * 69-73 and OpenBLAS's DGEMM at 75; 6 x 64 floats 174-182 GFLOP/s, 6 x 32 155;
 * compiled for x86-64-v3, 3 x 16 doubles 38-43 (4 x 8: 33-35), 3 x 32 floats
 * 84-91 (4 x 16: 74-80).  The
 * instruction set is picked once at run time (``mir_packed_isa``); where neither is
 * available the dense kernel keeps its BLAS path.
 */
#ifndef MIR_FAST_PACKED_H
#define MIR_FAST_PACKED_H

#include <stdint.h>

#include "mir_rowfold.h"

#define MIR_MR_V4 6
#define MIR_NR_V4_F32 64
#define MIR_NR_V4_F64 32
#define MIR_MR_V3 3
#define MIR_NR_V3_F32 32
#define MIR_NR_V3_F64 16

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__INTEL_COMPILER) && !defined(MIR_FAST_NO_CLONES)
#define MIR_PACKED_ENABLED 1
#define MIR_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define MIR_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#else
#define MIR_PACKED_ENABLED 0
#define MIR_TARGET_V4
#define MIR_TARGET_V3
#endif

/* 2: x86-64-v4 kernels, 1: x86-64-v3 kernels, 0: none (use BLAS). */
MIR_STATIC int mir_packed_isa(void)
{
#if MIR_PACKED_ENABLED
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4"))
        return 2;
    if (__builtin_cpu_supports("x86-64-v3"))
        return 1;
#endif
    return 0;
}

/* Register rows (MR) and columns (NR) of the kernels of an instruction set. */
MIR_STATIC int mir_packed_mr(int isa)
{
    return isa == 2 ? MIR_MR_V4 : MIR_MR_V3;
}

MIR_STATIC int mir_packed_nr(int isa, int itemsize)
{
    if (isa == 2)
        return itemsize == 4 ? MIR_NR_V4_F32 : MIR_NR_V4_F64;
    return itemsize == 4 ? MIR_NR_V3_F32 : MIR_NR_V3_F64;
}

#define MIR_DEFINE_SLICE(NAME, TARGET, WTYPE, MR, NR)                                  \
    TARGET MIR_STATIC void NAME(const WTYPE *restrict a, const WTYPE *restrict b,      \
                                int64_t kc, double *restrict c, int64_t ldc,           \
                                int first)                                             \
    {                                                                                  \
        WTYPE acc[MR][NR];                                                             \
        int64_t k;                                                                     \
        int r, j;                                                                      \
        _Pragma("GCC unroll 8") for (r = 0; r < MR; ++r)                               \
            _Pragma("omp simd") for (j = 0; j < NR; ++j) acc[r][j] = 0;                \
        for (k = 0; k < kc; ++k) {                                                     \
            const WTYPE *restrict bk = b + k * NR;                                     \
            const WTYPE *restrict ak = a + k * MR;                                     \
            _Pragma("GCC unroll 8") for (r = 0; r < MR; ++r) {                         \
                WTYPE ar = ak[r];                                                      \
                _Pragma("omp simd") for (j = 0; j < NR; ++j) acc[r][j] += ar * bk[j];  \
            }                                                                          \
        }                                                                              \
        _Pragma("GCC unroll 8") for (r = 0; r < MR; ++r) {                             \
            double *restrict cr = c + r * ldc;                                         \
            if (first) {                                                               \
                _Pragma("omp simd") for (j = 0; j < NR; ++j)                           \
                    cr[j] = -2.0 * (double)acc[r][j];                                  \
            } else {                                                                   \
                _Pragma("omp simd") for (j = 0; j < NR; ++j)                           \
                    cr[j] += -2.0 * (double)acc[r][j];                                 \
            }                                                                          \
        }                                                                              \
    }

MIR_DEFINE_SLICE(mir_slice_v4_f32, MIR_TARGET_V4, float, MIR_MR_V4, MIR_NR_V4_F32)
MIR_DEFINE_SLICE(mir_slice_v4_f64, MIR_TARGET_V4, double, MIR_MR_V4, MIR_NR_V4_F64)
MIR_DEFINE_SLICE(mir_slice_v3_f32, MIR_TARGET_V3, float, MIR_MR_V3, MIR_NR_V3_F32)
MIR_DEFINE_SLICE(mir_slice_v3_f64, MIR_TARGET_V3, double, MIR_MR_V3, MIR_NR_V3_F64)

/*
 * c[i ldc + j] = -2 sum_k a_i[k] b_j[k] for the rows of ``n_a`` packed unlabelled
 * panels and ``n_b`` packed labelled panels (both d features), the features summed
 * in slices of ``slice`` (the last one shorter), each slice's sum added in double.
 * ``c`` holds n_a MR rows by ldc >= n_b NR columns.  Loop order: a labelled panel's
 * slice (kc NR values) stays in L1 while every unlabelled panel runs over it.
 */
#define MIR_DEFINE_PANELS(NAME, TARGET, SLICE, WTYPE, MR, NR)                          \
    TARGET MIR_STATIC void NAME(const WTYPE *restrict a, int64_t n_a,                  \
                                const WTYPE *restrict b, int64_t n_b, int64_t d,       \
                                int64_t slice, double *restrict c, int64_t ldc)        \
    {                                                                                  \
        int64_t p, q, k0, kc;                                                          \
        for (p = 0; p < n_b; ++p)                                                      \
            for (k0 = 0; k0 < d; k0 += slice) {                                        \
                kc = d - k0 < slice ? d - k0 : slice;                                  \
                for (q = 0; q < n_a; ++q)                                              \
                    SLICE(a + q * d * MR + k0 * MR, b + p * d * NR + k0 * NR, kc,       \
                          c + q * MR * ldc + p * NR, ldc, k0 == 0);                    \
            }                                                                          \
    }

MIR_DEFINE_PANELS(mir_panels_v4_f32, MIR_TARGET_V4, mir_slice_v4_f32, float,
                  MIR_MR_V4, MIR_NR_V4_F32)
MIR_DEFINE_PANELS(mir_panels_v4_f64, MIR_TARGET_V4, mir_slice_v4_f64, double,
                  MIR_MR_V4, MIR_NR_V4_F64)
MIR_DEFINE_PANELS(mir_panels_v3_f32, MIR_TARGET_V3, mir_slice_v3_f32, float,
                  MIR_MR_V3, MIR_NR_V3_F32)
MIR_DEFINE_PANELS(mir_panels_v3_f64, MIR_TARGET_V3, mir_slice_v3_f64, double,
                  MIR_MR_V3, MIR_NR_V3_F64)

/* The products of ``mir_panels_*`` for the instruction set ``isa`` (2 or 1). */
#define MIR_DEFINE_PRODUCTS(NAME, WTYPE, PANELS_V4, PANELS_V3)                         \
    MIR_STATIC void NAME(int isa, const WTYPE *a, int64_t n_a, const WTYPE *b,         \
                         int64_t n_b, int64_t d, int64_t slice, double *c, int64_t ldc) \
    {                                                                                  \
        if (isa == 2)                                                                  \
            PANELS_V4(a, n_a, b, n_b, d, slice, c, ldc);                               \
        else                                                                           \
            PANELS_V3(a, n_a, b, n_b, d, slice, c, ldc);                               \
    }

MIR_DEFINE_PRODUCTS(mir_packed_products_f32, float, mir_panels_v4_f32, mir_panels_v3_f32)
MIR_DEFINE_PRODUCTS(mir_packed_products_f64, double, mir_panels_v4_f64, mir_panels_v3_f64)

/*
 * The panel of ``w`` rows of d features held row by row in ``rows``, feature-major
 * (``panel[k w + r] = rows[r d + k]``), in blocks of 8 rows x 8 features: each
 * cache line of the panel is written whole while the 8 lines it reads stay in L1
 * (a row at a time, one value in each of d lines, ran at about 2 ns a value).
 */
#define MIR_DEFINE_TRANSPOSE(NAME, WTYPE)                                              \
    MIR_STATIC void NAME(const WTYPE *restrict rows, int64_t w, int64_t d,             \
                         WTYPE *restrict panel)                                        \
    {                                                                                  \
        int64_t r0, k0, r, k, r1, k1;                                                  \
        for (r0 = 0; r0 < w; r0 += 8) {                                                \
            r1 = r0 + 8 < w ? r0 + 8 : w;                                              \
            for (k0 = 0; k0 < d; k0 += 8) {                                            \
                k1 = k0 + 8 < d ? k0 + 8 : d;                                          \
                for (k = k0; k < k1; ++k)                                              \
                    for (r = r0; r < r1; ++r)                                          \
                        panel[k * w + r] = rows[r * d + k];                            \
            }                                                                          \
        }                                                                              \
    }

MIR_DEFINE_TRANSPOSE(mir_transpose_f32, float)
MIR_DEFINE_TRANSPOSE(mir_transpose_f64, double)

#endif /* MIR_FAST_PACKED_H */
