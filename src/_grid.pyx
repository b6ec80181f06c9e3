"""The grid pass: the dense reduction on exact integer products of 8-bit codes.

For data on a grid of scale ``s`` (``x = s k + r``, codes ``0 <= k <= 255``, the
residual ``r`` only the rounding of ``s k``), the squared distance of the codes,

    D_ul = ||k_u||^2 + ||k_l||^2 - 2 <k_u, k_l>,

is an integer computed exactly (``mir_grid.h``: AVX-512 VNNI or AMX byte
products), and the fold (``mir_rowfold.h``) takes ``fl(s^2) D_ul`` as the distance.  How far that is
from ``||x_u - x_l||^2`` (the residuals and two roundings) is the grid pass's error
bound, in ``mir_fast/_core/grid.py``; for it, every row's squared code norm and
squared residual norm come out with the results.

The labelled rows are coded and packed once per ``chunk`` and shared by the threads;
each thread codes and packs its tiles of unlabelled rows and folds them ``block``
labelled rows at a time.  Products are exact, so the results are the same for every
number of threads, tile height and slice, and for float32 data and their float64
copy.
"""

import numpy as np

from mir_fast._dense import aligned_empty

from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t

from _fused cimport data_t
from _openmp_shim cimport mir_omp_thread_id
from mir_rowfold cimport (
    mir_fold_distances_fast,
    mir_row_state,
    mir_states_init,
    mir_states_unpack,
)

cdef extern from "mir_grid.h" nogil:
    int MIR_GRID_MR
    int MIR_GRID_NR
    int MIR_GRID_MAX_FEATURES
    int mir_grid_isa()
    double mir_grid_misfit_f32(const float *x, int64_t n, double inverse, double tolerance)
    double mir_grid_misfit_f64(const double *x, int64_t n, double inverse, double tolerance)
    void mir_grid_codes_f32(const float *x, int64_t d, double scale, double inverse,
                           uint8_t *code, int64_t *sum, int64_t *sq_norm,
                           double *residual_sq)
    void mir_grid_codes_f64(const double *x, int64_t d, double scale, double inverse,
                           uint8_t *code, int64_t *sum, int64_t *sq_norm,
                           double *residual_sq)
    void mir_grid_scatter(const uint8_t *code, int64_t d, int64_t w, int64_t r,
                          uint32_t flip, uint8_t *panel)
    void mir_grid_products(const uint8_t *a, int64_t n_a, const uint8_t *b, int64_t n_b,
                           int64_t groups, int64_t slice, int32_t *acc, int64_t ldc)
    int MIR_GRID_AMX_MR
    void mir_grid_scatter_rows(const uint8_t *code, int64_t d, int64_t kpad, int64_t r,
                               uint8_t *panel)
    void mir_grid_products_amx(const uint8_t *a, int64_t n_a, const uint8_t *b,
                               int64_t n_b, int64_t groups, int64_t kpad, int32_t *acc,
                               int64_t ldc)
    double mir_grid_distances(const int32_t *acc, int64_t n, int64_t code_sum,
                              int64_t sq_norm_u, const int64_t *sq_norm_l, double s2,
                              double *dist)


#: Doubles per row state (``mir_row_state``).
cdef int64_t STATE_DOUBLES = sizeof(mir_row_state) // sizeof(double)


def grid_isa():
    """The grid kernels this process can run: 2 (AMX, and AVX-512 VNNI), 1 (AVX-512
    VNNI on x86-64-v4) or 0 (none)."""
    return mir_grid_isa()


def register_block(int isa=1):
    """(unlabelled, labelled) rows of the register block of instruction set ``isa``
    (tile heights and blocks must be multiples of them); the most features a
    product may have."""
    return (MIR_GRID_AMX_MR if isa == 2 else MIR_GRID_MR), MIR_GRID_NR, MIR_GRID_MAX_FEATURES


def block_misfits(const data_t[:, ::1] X, int64_t block_rows, const double[::1] scales,
                  double tolerance, int n_threads, double[:, ::1] out):
    """out[b, j]: how far block b of ``block_rows`` rows (from row 0) is from the grid
    of ``scales[j]``: the largest |x / s - k| over its values, k the nearest code in
    0 .. 255, or a value above ``tolerance`` once one is found (``mir_grid.h``),
    measured in order of the scales and only until one is within ``tolerance`` (the
    later ones: infinity).  Each block on one thread: the same for any number of
    threads."""
    cdef int64_t n = X.shape[0], d = X.shape[1], b, j, start, count
    cdef bint found
    cdef int64_t n_blocks = (n + block_rows - 1) // block_rows
    if n == 0:
        return
    with nogil:
        for b in prange(n_blocks, num_threads=n_threads, schedule='static'):
            start = b * block_rows
            count = min(block_rows, n - start) * d
            found = 0
            for j in range(scales.shape[0]):
                if found:
                    out[b, j] = INFINITY
                    continue
                if data_t is float:
                    out[b, j] = mir_grid_misfit_f32(&X[0, 0] + start * d, count,
                                                    1.0 / scales[j], tolerance)
                else:
                    out[b, j] = mir_grid_misfit_f64(&X[0, 0] + start * d, count,
                                                    1.0 / scales[j], tolerance)
                found = out[b, j] <= tolerance


cdef inline void code_row(const data_t *x, int64_t d, double scale, double inverse,
                         uint8_t *code, int64_t *sum, int64_t *sq_norm,
                         double *residual_sq) noexcept nogil:
    if data_t is float:
        mir_grid_codes_f32(x, d, scale, inverse, code, sum, sq_norm, residual_sq)
    else:
        mir_grid_codes_f64(x, d, scale, inverse, code, sum, sq_norm, residual_sq)


cdef void pack_codes(const data_t *X, int64_t d, const int64_t *rows, int64_t n,
                     double scale, int64_t width, uint32_t flip, uint8_t *code,
                     uint8_t *panels, int64_t *sums, int64_t *sq_norms,
                     double *residual_sq) noexcept nogil:
    """Code rows[0 .. n-1] into ``panels`` (width rows each, codes XOR ``flip``; the
    last panel padded with zero codes) through the scratch ``code`` (d bytes)."""
    cdef int64_t i, k, groups = (d + 3) // 4, padded = (n + width - 1) // width * width
    for i in range(n):
        code_row(X + rows[i] * d, d, scale, 1.0 / scale, code, &sums[i], &sq_norms[i],
                 &residual_sq[i])
        mir_grid_scatter(code, d, width, i % width, flip,
                         panels + (i // width) * width * groups * 4)
    for k in range(d):
        code[k] = 0
    for i in range(n, padded):
        mir_grid_scatter(code, d, width, i % width, flip,
                         panels + (i // width) * width * groups * 4)


cdef void pack_rows_amx(const data_t *X, int64_t d, const int64_t *rows, int64_t n,
                        double scale, uint8_t *code, uint8_t *panels, int64_t *sums,
                        int64_t *sq_norms, double *residual_sq) noexcept nogil:
    """Code rows[0 .. n-1] into the AMX product's unlabelled panels of 16 rows (the
    rows up to a multiple of 32 zero codes) through the scratch ``code``."""
    cdef int64_t i, k, kpad = (d + 63) // 64 * 64
    cdef int64_t padded = (n + MIR_GRID_AMX_MR - 1) // MIR_GRID_AMX_MR * MIR_GRID_AMX_MR
    for i in range(n):
        code_row(X + rows[i] * d, d, scale, 1.0 / scale, code, &sums[i], &sq_norms[i],
                 &residual_sq[i])
        mir_grid_scatter_rows(code, d, kpad, i % 16, panels + (i // 16) * kpad * 16)
    for k in range(d):
        code[k] = 0
    for i in range(n, padded):
        mir_grid_scatter_rows(code, d, kpad, i % 16, panels + (i // 16) * kpad * 16)


cdef void fold_grid_tile(const data_t *X, int64_t d, const uint8_t *packed_lab,
                         int64_t lab0, int64_t n_lab, const int64_t *sq_norm_lab,
                         const int64_t *rows, int64_t n_u, double scale, double gamma,
                         int isa, int64_t block, int64_t slice, uint8_t *code,
                         uint8_t *packed_u, int32_t *products, double *dist, int64_t *sums,
                         int64_t *sq_norms, mir_row_state *states,
                         double *residual_sq) noexcept nogil:
    """Fold unlabelled ``rows`` against the packed labelled rows lab0 .. lab0 + n_lab
    - 1 (``packed_lab`` starts at lab0's panel), ``block`` labelled rows at a time."""
    cdef int64_t i, b0, n_b, groups = (d + 3) // 4, kpad = (d + 63) // 64 * 64
    cdef int64_t mr = MIR_GRID_AMX_MR if isa == 2 else MIR_GRID_MR
    cdef int64_t n_a = (n_u + mr - 1) // mr
    cdef double s2 = scale * scale, tile_min
    if isa == 2:
        pack_rows_amx(X, d, rows, n_u, scale, code, packed_u, sums, sq_norms, residual_sq)
    else:
        pack_codes(X, d, rows, n_u, scale, MIR_GRID_MR, 0, code, packed_u, sums, sq_norms,
                   residual_sq)
    b0 = 0
    while b0 < n_lab:
        n_b = min(block, n_lab - b0)
        if isa == 2:
            mir_grid_products_amx(packed_u, n_a, packed_lab + b0 * groups * 4,
                                  (n_b + MIR_GRID_NR - 1) // MIR_GRID_NR, groups, kpad,
                                  products, block)
        else:
            mir_grid_products(packed_u, n_a, packed_lab + b0 * groups * 4,
                              (n_b + MIR_GRID_NR - 1) // MIR_GRID_NR, groups, slice,
                              products, block)
        for i in range(n_u):
            tile_min = mir_grid_distances(products + i * block, n_b, sums[i], sq_norms[i],
                                          sq_norm_lab + lab0 + b0, s2, dist)
            mir_fold_distances_fast(dist, n_b, tile_min, gamma, lab0 + b0, &states[i])
        b0 += n_b


def fold_grid(const data_t[:, ::1] X, const int64_t[::1] labelled, const int64_t[::1] rows,
              double scale, double gamma, int64_t tile_rows, int64_t block, int64_t chunk,
              int64_t slice, int isa, int n_threads, int64_t[::1] best, double[::1] dmin,
              double[::1] dsecond, double[::1] ssum, int64_t[::1] sq_codes_rows,
              double[::1] residual_sq_rows, int64_t[::1] sq_codes_lab,
              double[::1] residual_sq_lab):
    """The fold of ``rows`` against ``labelled`` on the codes of the grid of ``scale``.

    ``isa``: the product's instruction set (``grid_isa``: 1 AVX-512 VNNI, 2 AMX;
    the same integers either way).  ``tile_rows`` and ``block`` are multiples of
    the register block's rows (``register_block(isa)``), ``chunk`` (labelled rows
    packed at a time) a multiple of ``block``; ``slice``: groups of four features
    per register pass (VNNI).  Outputs per row as ``_dense.fold_dense``'s
    (``best``, ``dmin``, ``dsecond``, ``ssum``), and the squared code norms and
    squared residual norms of the rows and of the labelled rows.
    """
    cdef int64_t n_rows = rows.shape[0], n_lab = labelled.shape[0], d = X.shape[1]
    cdef int64_t groups = (d + 3) // 4, nr = MIR_GRID_NR, kpad = (d + 63) // 64 * 64
    cdef int64_t mr = MIR_GRID_AMX_MR if isa == 2 else MIR_GRID_MR
    cdef int64_t n_tiles = (n_rows + tile_rows - 1) // tile_rows
    cdef int64_t t, p, r0, n_u, c0, n_c, n_panels
    cdef int tid
    if isa not in (1, 2) or isa > mir_grid_isa():
        raise RuntimeError(f"the grid kernels of instruction set {isa} cannot run here "
                           f"(grid_isa() = {mir_grid_isa()})")
    if d > MIR_GRID_MAX_FEATURES:
        raise ValueError(f"the grid pass takes at most {MIR_GRID_MAX_FEATURES} features")
    if n_rows == 0:
        return
    if n_lab == 0:
        raise ValueError("fold_grid needs at least one labelled row")
    if tile_rows % mr or block % nr or chunk % block:
        raise ValueError("tile_rows, block and chunk must be multiples of the panel widths")
    # 2 KB of slack: past the last group the AMX product reads up to 16 groups more
    cdef uint8_t[:, ::1] packed_lab = aligned_empty(
        1, (min(chunk, n_lab) + nr - 1) // nr * nr * groups * 4 + 2048, np.uint8)
    cdef uint8_t[:, ::1] packed_u = aligned_empty(
        n_threads, tile_rows * (kpad if isa == 2 else groups * 4), np.uint8)
    cdef uint8_t[:, ::1] code = np.empty((n_threads, d), dtype=np.uint8)
    cdef int32_t[:, ::1] products = np.empty((n_threads, tile_rows * block), dtype=np.int32)
    cdef double[:, ::1] dist = np.empty((n_threads, block))
    cdef int64_t[::1] sums_lab = np.empty(n_lab, dtype=np.int64)
    cdef int64_t[::1] sums_rows = np.empty(n_rows, dtype=np.int64)
    cdef double[:, ::1] state_buf = np.empty((n_rows, STATE_DOUBLES))
    cdef mir_row_state *states = <mir_row_state *>&state_buf[0, 0]
    with nogil:
        mir_states_init(states, n_rows)
        c0 = 0
        while c0 < n_lab:
            n_c = min(chunk, n_lab - c0)
            n_panels = (n_c + nr - 1) // nr
            for p in prange(n_panels, num_threads=n_threads, schedule='static'):
                tid = mir_omp_thread_id()
                pack_codes(&X[0, 0], d, &labelled[c0 + p * nr], min(nr, n_c - p * nr),
                           scale, nr, 0x80808080u, &code[tid, 0],
                           &packed_lab[0, 0] + p * nr * groups * 4, &sums_lab[c0 + p * nr],
                           &sq_codes_lab[c0 + p * nr], &residual_sq_lab[c0 + p * nr])
            for t in prange(n_tiles, num_threads=n_threads, schedule='dynamic'):
                tid = mir_omp_thread_id()
                r0 = t * tile_rows
                n_u = min(tile_rows, n_rows - r0)
                fold_grid_tile(&X[0, 0], d, &packed_lab[0, 0], c0, n_c, &sq_codes_lab[0],
                               &rows[r0], n_u, scale, gamma, isa, block, slice, &code[tid, 0],
                               &packed_u[tid, 0], &products[tid, 0], &dist[tid, 0],
                               &sums_rows[r0], &sq_codes_rows[r0], &states[r0],
                               &residual_sq_rows[r0])
            c0 += n_c
        mir_states_unpack(states, n_rows, &best[0], &dmin[0], &dsecond[0], &ssum[0])
