"""The digit pass: the dense reduction on exact integer products of 8-bit digits.

Every centred row is scaled by a power of two and split into three signed 8-bit
digits and a remainder (``mir_digits.h``); six of the nine digit products are
summed exactly on AMX, in three levels, and give

    -2 <c_u, c_l>  ~  -2 sigma_u sigma_l ((L0 + L1 / 128) + L2 / 128^2),

which the fold (``mir_rowfold.h``) expands with the squared norms of the centred
rows (in double) into distances.  How far those are from the true ones is the
pass's error bound, in ``mir_fast/_core/digits.py``; for it, every row's norms
come out with the results.

The labelled rows are coded and packed once per ``chunk`` and shared by the
threads; each thread codes its tiles of unlabelled rows and folds them ``block``
labelled rows at a time.  The integers do not round and the rest depends only on
the two rows, and the fold runs over blocks of labelled rows on a grid fixed by
the number of features, so the results are the same for every number of threads,
tile height, chunk and slice.
"""

import numpy as np

from mir_fast._dense import aligned_empty

from cython.parallel cimport prange
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint32_t

from _fused cimport data_t
from _openmp_shim cimport mir_omp_thread_id
from mir_rowfold cimport (
    mir_expand_f64,
    mir_fold_distances_fast,
    mir_row_state,
    mir_states_init,
    mir_states_unpack,
)

cdef extern from "mir_amx.h" nogil:
    int mir_amx_available()

cdef extern from "mir_grid.h" nogil:
    void mir_grid_scatter(const uint8_t *code, int64_t d, int64_t w, int64_t r,
                          uint32_t flip, uint8_t *panel)

cdef extern from "mir_digits.h" nogil:
    int MIR_DIGITS_ROWS
    int MIR_DIGITS_MAX_FEATURES
    int MIR_DIGITS_NORMS
    void mir_digits_code_f32(const float *x, const double *mean, int64_t d, int64_t kpad,
                             int64_t stride, int8_t *digits, double *sigma, double *norms)
    void mir_digits_code_f64(const double *x, const double *mean, int64_t d, int64_t kpad,
                             int64_t stride, int8_t *digits, double *sigma, double *norms)
    void mir_digits_products(const int8_t *a, int64_t n_a, int64_t plane_a,
                             const int8_t *b, int64_t n_b, int64_t kpad, int64_t slice,
                             const double *sigma_u, const double *sigma_l, int32_t *levels,
                             double *gbuf, int64_t ldg)


#: Doubles per row state (``mir_row_state``).
cdef int64_t STATE_DOUBLES = sizeof(mir_row_state) // sizeof(double)

#: The norms each row's coding returns (``mir_digits.h``), in this order.
NORMS = ("centred", "digit2", "digit3", "remainder", "kept")
assert len(NORMS) == MIR_DIGITS_NORMS


def digits_isa():
    """1 where this process may run the AMX kernels (``mir_amx.h``), else 0."""
    return mir_amx_available()


def register_block():
    """Rows of a tile block (tile heights and blocks must be multiples of it) and
    the most features a product may have."""
    return MIR_DIGITS_ROWS, MIR_DIGITS_MAX_FEATURES


cdef inline void code_row(const data_t *x, const double *mean, int64_t d, int64_t kpad,
                          int64_t stride, int8_t *digits, double *sigma,
                          double *norms) noexcept nogil:
    if data_t is float:
        mir_digits_code_f32(x, mean, d, kpad, stride, digits, sigma, norms)
    else:
        mir_digits_code_f64(x, mean, d, kpad, stride, digits, sigma, norms)


cdef void pack_labelled(const data_t *X, int64_t d, int64_t kpad, const int64_t *rows,
                        int64_t n, const double *mean, int8_t *rowbuf, int8_t *panel,
                        double *sigma, double *norms) noexcept nogil:
    """Code rows[0 .. n-1] (n <= 16) into one labelled panel of three planes; the
    panel's other rows get zero digits and sigma 1."""
    cdef int64_t i, plane
    for i in range(MIR_DIGITS_ROWS):
        if i < n:
            code_row(X + rows[i] * d, mean, d, kpad, kpad, rowbuf, &sigma[i],
                     norms + i * MIR_DIGITS_NORMS)
        elif i == n:
            for plane in range(3 * kpad):
                rowbuf[plane] = 0
        if i >= n:
            sigma[i] = 1.0
        for plane in range(3):
            mir_grid_scatter(<const uint8_t *>rowbuf + plane * kpad, kpad, MIR_DIGITS_ROWS,
                             i, 0, <uint8_t *>panel + plane * kpad * MIR_DIGITS_ROWS)


cdef void fold_digits_tile(const data_t *X, int64_t d, int64_t kpad,
                           const int8_t *packed_lab, const double *sigma_lab,
                           const double *norm_lab, int64_t lab0, int64_t n_lab,
                           const int64_t *rows, int64_t n_u, int64_t tile_rows,
                           const double *mean, double gamma, int64_t block,
                           int64_t slice, int32_t *levels, int8_t *packed_u,
                           double *sigma_u, double *gbuf, double *dist,
                           double *norms, double *sigma_out,
                           mir_row_state *states) noexcept nogil:
    """Fold unlabelled ``rows`` against the packed labelled rows lab0 .. lab0 + n_lab
    - 1 (``packed_lab`` starts at lab0's panel), ``block`` labelled rows at a time."""
    cdef int64_t i, k, b0, n_b, plane = tile_rows * kpad
    cdef int64_t n_a = (n_u + MIR_DIGITS_ROWS - 1) // MIR_DIGITS_ROWS
    cdef double tile_min
    for i in range(n_u):
        code_row(X + rows[i] * d, mean, d, kpad, plane, packed_u + i * kpad, &sigma_u[i],
                 norms + i * MIR_DIGITS_NORMS)
        sigma_out[i] = sigma_u[i]
    for i in range(n_u, n_a * MIR_DIGITS_ROWS):
        sigma_u[i] = 1.0
        for k in range(kpad):
            packed_u[i * kpad + k] = 0
            packed_u[plane + i * kpad + k] = 0
            packed_u[2 * plane + i * kpad + k] = 0
    b0 = 0
    while b0 < n_lab:
        n_b = min(block, n_lab - b0)
        mir_digits_products(packed_u, n_a, plane, packed_lab + b0 * 3 * kpad,
                            (n_b + MIR_DIGITS_ROWS - 1) // MIR_DIGITS_ROWS, kpad, slice,
                            sigma_u, sigma_lab + lab0 + b0, levels, gbuf, block)
        for i in range(n_u):
            tile_min = mir_expand_f64(gbuf + i * block, norm_lab + lab0 + b0, n_b,
                                      norms[i * MIR_DIGITS_NORMS], dist)
            mir_fold_distances_fast(dist, n_b, tile_min, gamma, lab0 + b0, &states[i])
        b0 += n_b


def fold_digits(const data_t[:, ::1] X, const int64_t[::1] labelled,
                const int64_t[::1] rows, const double[::1] mean, double gamma,
                int64_t tile_rows, int64_t block, int64_t chunk, int64_t slice,
                int n_threads,
                int64_t[::1] best, double[::1] dmin, double[::1] dsecond,
                double[::1] ssum, double[:, ::1] norms_rows, double[::1] sigma_rows,
                double[:, ::1] norms_lab, double[::1] sigma_lab):
    """The fold of ``rows`` against ``labelled`` on the digits of their rows centred
    on ``mean``.

    ``tile_rows``, ``block`` and ``chunk`` (labelled rows packed at a time) are
    multiples of 16, ``chunk`` of ``block``; ``slice``: steps of 64 features per
    pass of a block of labelled rows over 16 unlabelled rows.  Outputs per row as
    ``_dense.fold_dense``'s (``best``, ``dmin``, ``dsecond``, ``ssum``), and each
    row's and labelled row's ``NORMS`` (rows x 5) and scale sigma.
    """
    cdef int64_t n_rows = rows.shape[0], n_lab = labelled.shape[0], d = X.shape[1]
    cdef int64_t w = MIR_DIGITS_ROWS, kpad = (d + 63) // 64 * 64
    cdef int64_t n_tiles = (n_rows + tile_rows - 1) // tile_rows
    cdef int64_t t, p, i, r0, n_u, c0, n_c, n_panels
    cdef int tid
    if mir_amx_available() == 0:
        raise RuntimeError("this CPU (or process) has no AMX: the digit pass cannot run")
    if d > MIR_DIGITS_MAX_FEATURES:
        raise ValueError(f"the digit pass takes at most {MIR_DIGITS_MAX_FEATURES} features")
    if mean.shape[0] != d:
        raise ValueError("mean must have one entry per feature")
    if n_rows == 0:
        return
    if n_lab == 0:
        raise ValueError("fold_digits needs at least one labelled row")
    if tile_rows % w or block % w or chunk % block:
        raise ValueError("tile_rows, block and chunk must be multiples of 16, chunk of block")
    cdef int64_t lab_panels = (min(chunk, n_lab) + w - 1) // w
    cdef int8_t[:, ::1] packed_lab = aligned_empty(1, lab_panels * 3 * kpad * w, np.int8)
    cdef double[::1] sigma_pad = np.empty((n_lab + w - 1) // w * w)
    cdef double[:, ::1] norms_pad = np.empty(((n_lab + w - 1) // w * w, MIR_DIGITS_NORMS))
    cdef double[::1] norm_lab = np.empty(n_lab)
    cdef int8_t[:, ::1] rowbuf = np.empty((n_threads, 3 * kpad), dtype=np.int8)
    cdef int8_t[:, ::1] packed_u = aligned_empty(n_threads, 3 * tile_rows * kpad, np.int8)
    cdef double[:, ::1] sigma_u = np.empty((n_threads, tile_rows))
    cdef double[:, ::1] gbuf = np.empty((n_threads, tile_rows * block))
    cdef int32_t[:, ::1] levels = aligned_empty(n_threads, block // w * 768, np.int32)
    cdef double[:, ::1] dist = np.empty((n_threads, block))
    cdef double[:, ::1] state_buf = np.empty((n_rows, STATE_DOUBLES))
    cdef mir_row_state *states = <mir_row_state *>&state_buf[0, 0]
    with nogil:
        mir_states_init(states, n_rows)
        c0 = 0
        while c0 < n_lab:
            n_c = min(chunk, n_lab - c0)
            n_panels = (n_c + w - 1) // w
            for p in prange(n_panels, num_threads=n_threads, schedule='static'):
                tid = mir_omp_thread_id()
                pack_labelled(&X[0, 0], d, kpad, &labelled[c0 + p * w], min(w, n_c - p * w),
                              &mean[0], &rowbuf[tid, 0], &packed_lab[0, 0] + p * 3 * kpad * w,
                              &sigma_pad[c0 + p * w], &norms_pad[c0 + p * w, 0])
            for i in range(c0, c0 + n_c):
                norm_lab[i] = norms_pad[i, 0]
            for t in prange(n_tiles, num_threads=n_threads, schedule='dynamic'):
                tid = mir_omp_thread_id()
                r0 = t * tile_rows
                n_u = min(tile_rows, n_rows - r0)
                fold_digits_tile(&X[0, 0], d, kpad, &packed_lab[0, 0], &sigma_pad[0],
                                 &norm_lab[0], c0, n_c, &rows[r0], n_u, tile_rows, &mean[0],
                                 gamma, block, slice, &levels[tid, 0], &packed_u[tid, 0],
                                 &sigma_u[tid, 0], &gbuf[tid, 0], &dist[tid, 0],
                                 &norms_rows[r0, 0], &sigma_rows[r0], &states[r0])
            c0 += n_c
        mir_states_unpack(states, n_rows, &best[0], &dmin[0], &dsecond[0], &ssum[0])
    np.asarray(norms_lab)[:] = np.asarray(norms_pad)[:n_lab]
    np.asarray(sigma_lab)[:] = np.asarray(sigma_pad)[:n_lab]
