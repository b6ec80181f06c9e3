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

``digit_candidates`` runs the same products as the digit screen of float64 data
(``mir_fast/_core/screened.py``): every distance of a tile's rows, then per row
the labelled rows within a limit of its smallest, its bound from its norms
(``error_bounds``, the pass's bound, computes the same for the digit pass).
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
    int MIR_DIGITS_MAXIMA
    void mir_digits_maxima(const double *norms_lab, const double *sigma_lab, int64_t n,
                           double slack, double *b)
    double mir_digits_delta(const double *norms, double sigma, const double *b, int64_t f,
                            double slack)
    void mir_digits_products(const int8_t *a, int64_t n_a, int64_t plane_a,
                             const int8_t *b, int64_t n_b, int64_t kpad, int64_t slice,
                             const double *sigma_u, const double *sigma_l, int32_t *levels,
                             double *gbuf, int64_t ldg)


#: Doubles per row state (``mir_row_state``).
cdef int64_t STATE_DOUBLES = sizeof(mir_row_state) // sizeof(double)

#: The norms each row's coding returns (``mir_digits.h``), in this order.
NORMS = ("centred", "digit2", "digit3", "remainder", "kept")
assert len(NORMS) == MIR_DIGITS_NORMS
assert MIR_DIGITS_MAXIMA == 5  # the bound's labelled maxima (arrays of 5 below)


def digits_isa():
    """1 where this process may run the AMX kernels (``mir_amx.h``), else 0."""
    return mir_amx_available()


def register_block():
    """Rows of a tile block (tile heights and blocks must be multiples of it) and
    the most features a product may have."""
    return MIR_DIGITS_ROWS, MIR_DIGITS_MAX_FEATURES


cdef check_kernel_inputs(int64_t d, int64_t n_mean, str kernel):
    """What every product kernel here checks first: AMX, at most
    ``MIR_DIGITS_MAX_FEATURES`` features, a mean entry per feature."""
    if mir_amx_available() == 0:
        raise RuntimeError(f"this CPU (or process) has no AMX: the {kernel} cannot run")
    if d > MIR_DIGITS_MAX_FEATURES:
        raise ValueError(f"the {kernel} takes at most {MIR_DIGITS_MAX_FEATURES} features")
    if n_mean != d:
        raise ValueError("mean must have one entry per feature")


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


cdef void code_tile(const data_t *X, int64_t d, int64_t kpad, const int64_t *rows,
                    int64_t n_u, int64_t tile_rows, const double *mean, int8_t *packed_u,
                    double *sigma_u, double *norms) noexcept nogil:
    """Code rows[0 .. n_u - 1] into the unlabelled tile ``packed_u`` (three planes of
    ``tile_rows`` rows of ``kpad`` bytes), their scales into ``sigma_u`` and their
    norms into ``norms``; the rows that pad the tile to a multiple of 16 get zero
    digits and sigma 1."""
    cdef int64_t i, k, plane = tile_rows * kpad
    cdef int64_t n_a = (n_u + MIR_DIGITS_ROWS - 1) // MIR_DIGITS_ROWS
    for i in range(n_u):
        code_row(X + rows[i] * d, mean, d, kpad, plane, packed_u + i * kpad, &sigma_u[i],
                 norms + i * MIR_DIGITS_NORMS)
    for i in range(n_u, n_a * MIR_DIGITS_ROWS):
        sigma_u[i] = 1.0
        for k in range(kpad):
            packed_u[i * kpad + k] = 0
            packed_u[plane + i * kpad + k] = 0
            packed_u[2 * plane + i * kpad + k] = 0


cdef void products_block(const int8_t *packed_u, int64_t n_u, int64_t tile_rows,
                         int64_t kpad, const int8_t *packed_lab, const double *sigma_u,
                         const double *sigma_lab, int64_t b0, int64_t n_b, int64_t block,
                         int64_t slice, int32_t *levels, double *gbuf) noexcept nogil:
    """``gbuf`` (rows of ``block``) = -2 sigma_u sigma_l (levels) of the coded tile
    against the ``n_b`` labelled rows from ``b0`` (``packed_lab`` starts at the
    chunk's first panel, ``sigma_lab`` at its first row)."""
    mir_digits_products(packed_u, (n_u + MIR_DIGITS_ROWS - 1) // MIR_DIGITS_ROWS,
                        tile_rows * kpad, packed_lab + b0 * 3 * kpad,
                        (n_b + MIR_DIGITS_ROWS - 1) // MIR_DIGITS_ROWS, kpad, slice,
                        sigma_u, sigma_lab + b0, levels, gbuf, block)


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
    cdef int64_t i, b0, n_b
    cdef double tile_min
    code_tile(X, d, kpad, rows, n_u, tile_rows, mean, packed_u, sigma_u, norms)
    for i in range(n_u):
        sigma_out[i] = sigma_u[i]
    b0 = 0
    while b0 < n_lab:
        n_b = min(block, n_lab - b0)
        products_block(packed_u, n_u, tile_rows, kpad, packed_lab, sigma_u, sigma_lab + lab0,
                       b0, n_b, block, slice, levels, gbuf)
        for i in range(n_u):
            tile_min = mir_expand_f64(gbuf + i * block, norm_lab + lab0 + b0, n_b,
                                      norms[i * MIR_DIGITS_NORMS], dist)
            mir_fold_distances_fast(dist, n_b, tile_min, gamma, lab0 + b0, &states[i])
        b0 += n_b


cdef void pack_chunk(const data_t *X, int64_t d, int64_t kpad, const int64_t *labelled,
                     int64_t n_c, const double *mean, int n_threads, int8_t *rowbuf,
                     int8_t *packed_lab, double *sigma, double *norms) noexcept nogil:
    """Code and pack the ``n_c`` labelled rows ``labelled[0 .. n_c - 1]`` in panels of
    16 (threads share the panels; ``rowbuf``: 3 kpad bytes a thread)."""
    cdef int64_t p, w = MIR_DIGITS_ROWS
    cdef int tid
    for p in prange((n_c + w - 1) // w, num_threads=n_threads, schedule='static'):
        tid = mir_omp_thread_id()
        pack_labelled(X, d, kpad, labelled + p * w, min(w, n_c - p * w), mean,
                      rowbuf + tid * 3 * kpad, packed_lab + p * 3 * kpad * w, sigma + p * w,
                      norms + p * w * MIR_DIGITS_NORMS)


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
    cdef int64_t t, i, r0, n_u, c0, n_c
    cdef int tid
    check_kernel_inputs(d, mean.shape[0], "digit pass")
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
            pack_chunk(&X[0, 0], d, kpad, &labelled[c0], n_c, &mean[0], n_threads,
                       &rowbuf[0, 0], &packed_lab[0, 0], &sigma_pad[c0], &norms_pad[c0, 0])
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


def error_bounds(const double[::1] sigma, const double[:, ::1] norms,
                 const double[::1] sigma_lab, const double[:, ::1] norms_lab,
                 int64_t n_features, double slack, double[::1] out):
    """``out`` = each row's delta_u (``mir_digits_delta``) from its ``sigma`` and
    ``NORMS`` (rows x 5) and those of the labelled rows."""
    cdef double b[5]
    cdef int64_t i, n = sigma.shape[0], m = sigma_lab.shape[0]
    if norms.shape[0] != n or out.shape[0] != n or norms_lab.shape[0] != m:
        raise ValueError("norms and out need one row per row, norms_lab per labelled row")
    if norms.shape[1] != MIR_DIGITS_NORMS or norms_lab.shape[1] != MIR_DIGITS_NORMS:
        raise ValueError("norms have 5 columns (NORMS)")
    if m == 0:
        raise ValueError("the bound needs at least one labelled row")
    mir_digits_maxima(&norms_lab[0, 0], &sigma_lab[0], m, slack, b)
    for i in range(n):
        out[i] = mir_digits_delta(&norms[i, 0], sigma[i], b, n_features, slack)


cdef void select_candidates(const double *dist, int64_t n_lab, double delta, double window,
                            double rho, int64_t cap, int64_t *count_out, int *kept,
                            int64_t *anchor_out) noexcept nogil:
    """The labelled rows (ascending) whose screened distance is at most
    ``(m + delta + window) (1 + rho) + delta``, ``m`` the smallest (at ``anchor_out``,
    first on ties); ``count_out`` -1 when they are more than ``cap``."""
    cdef int64_t j, count = 0, anchor = 0
    cdef double low = dist[0], limit
    for j in range(1, n_lab):
        if dist[j] < low:
            low = dist[j]
            anchor = j
    limit = (low + delta + window) * (1.0 + rho) + delta
    for j in range(n_lab):
        if dist[j] <= limit:
            if count < cap:
                kept[count] = <int>j
            count += 1
    count_out[0] = count if count <= cap else -1
    anchor_out[0] = anchor


cdef void screen_digits_tile(const data_t *X, int64_t d, int64_t kpad,
                             const int8_t *packed_lab, const double *sigma_lab,
                             const double *norm_lab, int64_t n_lab, const int64_t *rows,
                             int64_t n_u, int64_t tile_rows, const double *mean,
                             int64_t block, int64_t slice, int32_t *levels,
                             int8_t *packed_u, double *sigma_u, double *gbuf, double *norms,
                             double *dist, const double *maxima, double slack,
                             double window, double rho, int64_t cap, int64_t *counts,
                             int *kept, int64_t *anchors) noexcept nogil:
    """The candidates of unlabelled ``rows`` among all (packed) labelled rows: every
    screened distance of the tile's rows (``dist``: n_u x n_lab), then
    ``select_candidates`` row by row with its bound (``mir_digits_delta``)."""
    cdef int64_t i, b0, n_b
    code_tile(X, d, kpad, rows, n_u, tile_rows, mean, packed_u, sigma_u, norms)
    b0 = 0
    while b0 < n_lab:
        n_b = min(block, n_lab - b0)
        products_block(packed_u, n_u, tile_rows, kpad, packed_lab, sigma_u, sigma_lab, b0,
                       n_b, block, slice, levels, gbuf)
        for i in range(n_u):
            mir_expand_f64(gbuf + i * block, norm_lab + b0, n_b, norms[i * MIR_DIGITS_NORMS],
                           dist + i * n_lab + b0)
        b0 += n_b
    for i in range(n_u):
        select_candidates(dist + i * n_lab, n_lab,
                          mir_digits_delta(norms + i * MIR_DIGITS_NORMS, sigma_u[i], maxima,
                                           d, slack),
                          window, rho, cap, &counts[i], kept + i * cap, &anchors[i])


def digit_candidates(const data_t[:, ::1] X, const int64_t[::1] labelled,
                     const int64_t[::1] rows, const double[::1] mean, double slack,
                     double window, double rho, int64_t tile_rows, int64_t block,
                     int64_t slice, int n_threads, int64_t[::1] counts, int[:, ::1] kept,
                     int64_t[::1] anchors):
    """The labelled rows each of ``rows`` must compute exactly (``screened.py``): the
    screened distances ``d~`` of the digit products (every labelled row packed at
    once), and per row those with ``d~ <= (m + delta + window) (1 + rho) + delta``,
    ``m`` its smallest ``d~`` and ``delta`` its error bound (``mir_digits_delta``,
    norms raised by ``slack``).

    Outputs per row: ``counts`` (-1 where more than ``kept.shape[1]``), the
    positions into ``labelled`` (ascending) in ``kept[row, :count]``, ``anchors``
    the position of the smallest ``d~`` (first on ties).  ``tile_rows`` and
    ``block`` are multiples of 16; ``slice`` as for ``fold_digits``.
    """
    cdef int64_t n_rows = rows.shape[0], n_lab = labelled.shape[0], d = X.shape[1]
    cdef int64_t w = MIR_DIGITS_ROWS, kpad = (d + 63) // 64 * 64, cap = kept.shape[1]
    cdef int64_t n_tiles = (n_rows + tile_rows - 1) // tile_rows
    cdef int64_t t, r0, n_u
    cdef int tid
    check_kernel_inputs(d, mean.shape[0], "digit screen")
    if kept.shape[0] != n_rows or counts.shape[0] != n_rows or anchors.shape[0] != n_rows:
        raise ValueError("kept, counts and anchors need one row per row")
    if n_rows == 0:
        return
    if n_lab == 0 or cap == 0:
        raise ValueError("digit_candidates needs labelled rows and room for candidates")
    if tile_rows % w or block % w:
        raise ValueError("tile_rows and block must be multiples of 16")
    cdef int64_t n_pad = (n_lab + w - 1) // w * w
    cdef int8_t[:, ::1] packed_lab = aligned_empty(1, n_pad * 3 * kpad, np.int8)
    cdef double[::1] sigma_lab = np.empty(n_pad)
    cdef double[:, ::1] norms_lab = np.empty((n_pad, MIR_DIGITS_NORMS))
    cdef double[::1] norm_lab = np.empty(n_lab)
    cdef int8_t[:, ::1] rowbuf = np.empty((n_threads, 3 * kpad), dtype=np.int8)
    cdef int8_t[:, ::1] packed_u = aligned_empty(n_threads, 3 * tile_rows * kpad, np.int8)
    cdef double[:, ::1] sigma_u = np.empty((n_threads, tile_rows))
    cdef double[:, ::1] norms_u = np.empty((n_threads, tile_rows * MIR_DIGITS_NORMS))
    cdef double[:, ::1] gbuf = np.empty((n_threads, tile_rows * block))
    cdef int32_t[:, ::1] levels = aligned_empty(n_threads, block // w * 768, np.int32)
    cdef double[:, ::1] dist = np.empty((n_threads, tile_rows * n_lab))
    cdef double maxima[5]
    with nogil:
        pack_chunk(&X[0, 0], d, kpad, &labelled[0], n_lab, &mean[0], n_threads,
                   &rowbuf[0, 0], &packed_lab[0, 0], &sigma_lab[0], &norms_lab[0, 0])
        mir_digits_maxima(&norms_lab[0, 0], &sigma_lab[0], n_lab, slack, maxima)
        for t in range(n_lab):
            norm_lab[t] = norms_lab[t, 0]
        for t in prange(n_tiles, num_threads=n_threads, schedule='dynamic'):
            tid = mir_omp_thread_id()
            r0 = t * tile_rows
            n_u = min(tile_rows, n_rows - r0)
            screen_digits_tile(&X[0, 0], d, kpad, &packed_lab[0, 0], &sigma_lab[0],
                               &norm_lab[0], n_lab, &rows[r0], n_u, tile_rows, &mean[0],
                               block, slice, &levels[tid, 0], &packed_u[tid, 0],
                               &sigma_u[tid, 0], &gbuf[tid, 0], &norms_u[tid, 0],
                               &dist[tid, 0], maxima, slack, window, rho, cap,
                               &counts[r0], &kept[r0, 0], &anchors[r0])
