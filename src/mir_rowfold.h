/*
 * The per-row online reduction shared by the dense and the CSR kernels.
 *
 * For one unlabelled row u and a tile of labelled columns j = col0 .. col0+n-1 the
 * caller provides g[j] = -2 <u, l_j> and the squared norms ||l_j||^2, so that
 *
 *     d_j = max(||u||^2 + ||l_j||^2 + g[j], 0)        (squared Euclidean distance)
 *
 * The fold keeps four numbers per row across tiles, like an online softmax:
 *
 *     m  = min_j d_j                 (distance to the nearest labelled input)
 *     i  = first argmin_j d_j        (ties go to the lower index)
 *     m2 = second smallest d_j       (its margin tells whether i is certain)
 *     s  = sum_j exp(-gamma (d_j - m))
 *
 * When a tile lowers the minimum from m to m' the running sum is rescaled by
 * exp(-gamma (m - m')).  Every term is at most 1 and the nearest one is exactly 1,
 * so s >= 1 never underflows and the major-influence share is 1 / s.
 *
 * The exponential is a branch-free polynomial that gcc vectorises; the fold
 * functions are compiled for several instruction sets and picked at run time
 * (target_clones), so one portable wheel still runs AVX2 / AVX-512 code.
 */
#ifndef MIR_FAST_ROWFOLD_H
#define MIR_FAST_ROWFOLD_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__INTEL_COMPILER) && !defined(MIR_FAST_NO_CLONES)
#define MIR_MULTIVERSION \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MIR_MULTIVERSION
#endif

#if defined(__GNUC__)
#define MIR_INLINE static inline __attribute__((always_inline, unused))
#define MIR_STATIC static __attribute__((unused))
#else
#define MIR_INLINE static inline
#define MIR_STATIC static
#endif

/* Weights below exp(-MIR_EXP_CUTOFF) are returned as 0.  They are < 1e-307 and are
 * always added to a sum that is >= 1, so dropping them changes nothing. */
#define MIR_EXP_CUTOFF 708.0

/*
 * exp(-x) for x >= 0: x = k ln 2 - r with |r| <= ln(2)/2, then 2^-k times a Taylor
 * polynomial of e^r.  mir_exp_neg (degree 13) has relative error below 4e-16;
 * mir_exp_neg_fast (degree 7) below 1e-8, enough where the result only needs
 * float32 accuracy (the float32 pass accounts for it in its error bound).
 */
#define MIR_EXP_REDUCE(x, r, scale)                                                    \
    const double log2e = 1.4426950408889634074;                                        \
    const double ln2_hi = 6.93147180369123816490e-01;                                  \
    const double ln2_lo = 1.90821492927058770002e-10;                                  \
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: rounds to an integer */ \
    double y = x < MIR_EXP_CUTOFF ? -x : -MIR_EXP_CUTOFF;                              \
    double shifted = y * log2e + shifter;                                              \
    double k = shifted - shifter;                                                      \
    double r = (y - k * ln2_hi) - k * ln2_lo;                                          \
    int64_t shifted_bits, shifter_bits;                                                \
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);                              \
    memcpy(&shifter_bits, &shifter, sizeof shifter_bits);                              \
    int64_t scale_bits = (shifted_bits - shifter_bits + 1023) << 52; /* 2^k */         \
    double scale;                                                                      \
    memcpy(&scale, &scale_bits, sizeof scale)

MIR_INLINE double mir_exp_neg(double x)
{
    MIR_EXP_REDUCE(x, r, scale);
    double p = 1.0 / 6227020800.0;           /* 1/13! */
    p = p * r + 1.0 / 479001600.0;           /* 1/12! */
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return x < MIR_EXP_CUTOFF ? p * scale : 0.0;
}

MIR_INLINE double mir_exp_neg_fast(double x)
{
    MIR_EXP_REDUCE(x, r, scale);
    double p = 1.0 / 5040.0;                 /* 1/7! */
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return x < MIR_EXP_CUTOFF ? p * scale : 0.0;
}

/* Running state of one unlabelled row (see the file comment). */
typedef struct {
    double m;
    double m2;
    double s;
    int64_t i;
} mir_row_state;

MIR_INLINE void mir_state_init(mir_row_state *st)
{
    st->m = INFINITY;
    st->m2 = INFINITY;
    st->s = 0.0;
    st->i = -1;
}

/* n row states, each as mir_state_init leaves it. */
MIR_STATIC void mir_states_init(mir_row_state *states, int64_t n)
{
    int64_t i;
    for (i = 0; i < n; ++i)
        mir_state_init(&states[i]);
}

/* The four results of n row states, each into its own array. */
MIR_STATIC void mir_states_unpack(const mir_row_state *states, int64_t n, int64_t *best,
                                  double *dmin, double *dsecond, double *ssum)
{
    int64_t i;
    for (i = 0; i < n; ++i) {
        best[i] = states[i].i;
        dmin[i] = states[i].m;
        dsecond[i] = states[i].m2;
        ssum[i] = states[i].s;
    }
}

/* Merge one tile's (min, first argmin, second min, sum relative to its min). */
MIR_INLINE void mir_state_merge(mir_row_state *st, double gamma, double tile_min,
                                int64_t tile_arg, double tile_second, double tile_sum)
{
    if (st->i < 0) {
        st->m = tile_min;
        st->m2 = tile_second;
        st->s = tile_sum;
        st->i = tile_arg;
    } else if (tile_min < st->m) {
        st->s = st->s * mir_exp_neg(gamma * (st->m - tile_min)) + tile_sum;
        st->m2 = st->m < tile_second ? st->m : tile_second;
        st->m = tile_min;
        st->i = tile_arg;
    } else {
        st->s += tile_sum * mir_exp_neg(gamma * (tile_min - st->m));
        st->m2 = tile_min < st->m2 ? tile_min : st->m2;
    }
}

/* Smallest of dist[0..n). */
MIR_MULTIVERSION
MIR_STATIC double mir_min(const double *restrict dist, int64_t n)
{
    double tile_min = INFINITY;
    int64_t j;
#pragma omp simd reduction(min : tile_min)
    for (j = 0; j < n; ++j)
        tile_min = dist[j] < tile_min ? dist[j] : tile_min;
    return tile_min;
}

/*
 * Fold one tile of distances dist[0..n) (n >= 1), whose minimum is tile_min, into st.
 * Vectorised: one pass for the exponentials and the second minimum.  The _fast
 * variant uses mir_exp_neg_fast for the weights of the tile.
 */
#define MIR_DEFINE_FOLD(NAME, EXP)                                                     \
    MIR_MULTIVERSION                                                                   \
    MIR_STATIC void NAME(const double *restrict dist, int64_t n, double tile_min,     \
                         double gamma, int64_t col0, mir_row_state *st)               \
    {                                                                                  \
        int64_t j;                                                                     \
        int64_t arg = 0;                                                               \
        while (arg < n - 1 && !(dist[arg] <= tile_min))                                \
            ++arg;                                                                     \
        double sum = 0.0, second = INFINITY;                                           \
        _Pragma("omp simd reduction(+ : sum) reduction(min : second)")                 \
        for (j = 0; j < n; ++j) {                                                      \
            double d = dist[j];                                                        \
            sum += EXP(gamma * (d - tile_min));                                        \
            double other = j == arg ? INFINITY : d;                                    \
            second = other < second ? other : second;                                  \
        }                                                                              \
        mir_state_merge(st, gamma, tile_min, col0 + arg, second, sum);                 \
    }

MIR_DEFINE_FOLD(mir_fold_distances, mir_exp_neg)
MIR_DEFINE_FOLD(mir_fold_distances_fast, mir_exp_neg_fast)

/*
 * Turn a row of g[j] = -2 <u, l_j> into clamped squared distances
 * dist[j] = max(norm_u + norm_l[j] + g[j], 0); return their minimum.
 */
MIR_MULTIVERSION
MIR_STATIC double mir_expand_f64(const double *restrict g, const double *restrict norm_l,
                                 int64_t n, double norm_u, double *restrict dist)
{
    double tile_min = INFINITY;
    int64_t j;
#pragma omp simd reduction(min : tile_min)
    for (j = 0; j < n; ++j) {
        double d = norm_u + norm_l[j] + g[j];
        d = d > 0.0 ? d : 0.0;
        dist[j] = d;
        tile_min = d < tile_min ? d : tile_min;
    }
    return tile_min;
}

/* dst[j] = src[j] (first slice) or dst[j] + src[j]: float32 partial dot products
 * summed in double. */
MIR_MULTIVERSION
MIR_STATIC void mir_accumulate_f32(const float *restrict src, double *restrict dst,
                                   int64_t n, int first)
{
    int64_t j;
    if (first) {
#pragma omp simd
        for (j = 0; j < n; ++j)
            dst[j] = (double)src[j];
    } else {
#pragma omp simd
        for (j = 0; j < n; ++j)
            dst[j] += (double)src[j];
    }
}

/* Squared Euclidean distance of two dense rows, accumulated in double: feature k
 * goes to lane k mod MIR_SQDIST_LANES (independent chains, so the loop is not bound
 * by the latency of one accumulator), the lanes are then summed in a fixed order.
 * The bits depend only on the two rows' values: mir_sqdist_f64_f32 of a float32 row
 * converted to double once gives those of mir_sqdist_f32, without converting that
 * row again for every partner. */
#define MIR_SQDIST_LANES 32
#define MIR_DEFINE_SQDIST(NAME, ATYPE, BTYPE)                                          \
    MIR_MULTIVERSION                                                                   \
    MIR_STATIC double NAME(const ATYPE *restrict a, const BTYPE *restrict b, int64_t d)   \
    {                                                                                  \
        double lane[MIR_SQDIST_LANES] = {0.0};                                         \
        int64_t k = 0, j;                                                              \
        for (; k + MIR_SQDIST_LANES <= d; k += MIR_SQDIST_LANES) {                     \
            _Pragma("omp simd")                                                        \
            for (j = 0; j < MIR_SQDIST_LANES; ++j) {                                   \
                double diff = (double)a[k + j] - (double)b[k + j];                     \
                lane[j] += diff * diff;                                                \
            }                                                                          \
        }                                                                              \
        for (j = 0; k + j < d; ++j) {                                                  \
            double diff = (double)a[k + j] - (double)b[k + j];                         \
            lane[j] += diff * diff;                                                    \
        }                                                                              \
        double acc = 0.0;                                                              \
        for (j = 0; j < MIR_SQDIST_LANES; ++j)                                         \
            acc += lane[j];                                                            \
        return acc;                                                                    \
    }

MIR_DEFINE_SQDIST(mir_sqdist_f32, float, float)
MIR_DEFINE_SQDIST(mir_sqdist_f64, double, double)
MIR_DEFINE_SQDIST(mir_sqdist_f64_f32, double, float)

/*
 * Double-double accumulation for the exact pass: (*s, *c) += (x - y)^2 with the
 * difference (TwoSum), its square (FMA) and the sum (TwoSum) all carried to about
 * 2^-106, so that distances equal in exact arithmetic (a duplicate, or a symmetric
 * point whose terms come in another order) come out equal.
 */
MIR_INLINE void mir_dd_add_sq_diff(double x, double y, double *s, double *c)
{
    double diff = x - y;
    double back = diff - x;
    double diff_lo = (x - (diff - back)) + (-y - back);
    double sq = diff * diff;
    double sq_lo = fma(diff, diff, -sq) + diff_lo * (2.0 * diff + diff_lo);
    double t = *s + sq;
    double z = t - *s;
    *c += ((*s - (t - z)) + (sq - z)) + sq_lo;
    *s = t;
}

/* Normalise (s, c) to hi + lo with |lo| <= ulp(hi) / 2. */
MIR_INLINE double mir_dd_normalise(double s, double c, double *lo)
{
    double hi = s + c;
    *lo = c - (hi - s);
    return hi;
}

#define MIR_DEFINE_SQDIST_DD(NAME, XTYPE)                                              \
    MIR_STATIC double NAME(const XTYPE *a, const XTYPE *b, int64_t d, double *lo)     \
    {                                                                                  \
        double s = 0.0, c = 0.0;                                                       \
        int64_t k;                                                                     \
        for (k = 0; k < d; ++k)                                                        \
            mir_dd_add_sq_diff((double)a[k], (double)b[k], &s, &c);                    \
        return mir_dd_normalise(s, c, lo);                                             \
    }

MIR_DEFINE_SQDIST_DD(mir_sqdist_dd_f32, float)
MIR_DEFINE_SQDIST_DD(mir_sqdist_dd_f64, double)

/* out[k] = x[k] - mean[k], rounded to the work precision (the dense kernel's gather). */
#define MIR_DEFINE_CENTRE(NAME, XTYPE, WTYPE)                                          \
    MIR_MULTIVERSION                                                                   \
    MIR_STATIC void NAME(const XTYPE *restrict x, const WTYPE *restrict mean,         \
                         int64_t d, WTYPE *restrict out)                              \
    {                                                                                  \
        int64_t k;                                                                     \
        _Pragma("omp simd")                                                            \
        for (k = 0; k < d; ++k)                                                        \
            out[k] = (WTYPE)x[k] - mean[k];                                            \
    }

MIR_DEFINE_CENTRE(mir_centre_f32_f32, float, float)
MIR_DEFINE_CENTRE(mir_centre_f32_f64, float, double)
MIR_DEFINE_CENTRE(mir_centre_f64_f64, double, double)

/* Squared norm of a row, accumulated in double. */
#define MIR_DEFINE_SQNORM(NAME, WTYPE)                                                 \
    MIR_MULTIVERSION                                                                   \
    MIR_STATIC double NAME(const WTYPE *restrict x, int64_t d)                        \
    {                                                                                  \
        double acc = 0.0;                                                              \
        int64_t k;                                                                     \
        _Pragma("omp simd reduction(+ : acc)")                                         \
        for (k = 0; k < d; ++k)                                                        \
            acc += (double)x[k] * (double)x[k];                                        \
        return acc;                                                                    \
    }

MIR_DEFINE_SQNORM(mir_sqnorm_f32, float)
MIR_DEFINE_SQNORM(mir_sqnorm_f64, double)

#endif /* MIR_FAST_ROWFOLD_H */
