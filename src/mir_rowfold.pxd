# Declarations of the C row reduction in mir_rowfold.h (see that file for the math).
from libc.stdint cimport int64_t

cdef extern from "mir_rowfold.h" nogil:
    ctypedef struct mir_row_state:
        double m
        double m2
        double s
        int64_t i

    void mir_state_init(mir_row_state *st)
    void mir_states_init(mir_row_state *states, int64_t n)
    void mir_states_unpack(const mir_row_state *states, int64_t n, int64_t *best,
                           double *dmin, double *dsecond, double *ssum)
    double mir_min(const double *dist, int64_t n)
    void mir_fold_distances(const double *dist, int64_t n, double tile_min,
                            double gamma, int64_t col0, mir_row_state *st)
    void mir_fold_distances_fast(const double *dist, int64_t n, double tile_min,
                                 double gamma, int64_t col0, mir_row_state *st)
    double mir_expand_f64(const double *g, const double *norm_l, int64_t n,
                          double norm_u, double *dist)
    void mir_accumulate_f32(const float *src, double *dst, int64_t n, int first)
    double mir_sqdist_f32(const float *a, const float *b, int64_t d)
    double mir_sqdist_f64(const double *a, const double *b, int64_t d)
    double mir_sqdist_f64_f32(const double *a, const float *b, int64_t d)
    void mir_dd_add_sq_diff(double x, double y, double *s, double *c)
    double mir_dd_normalise(double s, double c, double *lo)
    double mir_sqdist_dd_f32(const float *a, const float *b, int64_t d, double *lo)
    double mir_sqdist_dd_f64(const double *a, const double *b, int64_t d, double *lo)
    void mir_centre_f32_f32(const float *x, const float *mean, int64_t d, float *out)
    void mir_centre_f32_f64(const float *x, const double *mean, int64_t d, double *out)
    void mir_centre_f64_f64(const double *x, const double *mean, int64_t d, double *out)
    double mir_sqnorm_f32(const float *x, int64_t d)
    double mir_sqnorm_f64(const double *x, int64_t d)
