"""The grid pass: exact integer products for data on a grid of 8-bit codes.

Images are stored as bytes: pixels / 255 (or the raw values) are ``x = s k + r``
with a scale ``s`` (``SCALES``), integer codes ``0 <= k <= 255`` and a residual
``r`` that is nothing but the rounding of ``s k`` to the data's precision
(``|r| <= 2^-24 |x|`` in float32).  The squared distance of two rows' codes,

    D_ul = ||k_u||^2 + ||k_l||^2 - 2 <k_u, k_l>,

is an integer, and AVX-512 VNNI computes the byte dot products exactly, 64
multiply-adds an instruction against 16 for a float32 fused multiply-add (about
twice OpenBLAS's SGEMM rate on this project's Intel machine, docs/performance.md;
``src/mir_grid.h``, ``_grid.fold_grid``), or AMX where the process has it
(``tdpbusd``, 16,384 an instruction; the same integers).  The pass folds
``fl(s^2) D_ul`` as the distance, with the error bound below, and the cascade
(``_certificate.certify``) goes on as after any pass: the rows it cannot certify
go to the float64 pass, then the exact one.

The bound.  Write ``a = ||k_u||``, ``A = max_l ||k_l||``, ``rho_u = ||r_u||``,
``P = max_l ||r_l||``.  Since ``x_u - x_l = s (k_u - k_l) + (r_u - r_l)``,

    | ||x_u - x_l||^2 - s^2 D_ul |
        = | 2 s <k_u - k_l, r_u - r_l> + ||r_u - r_l||^2 |
       <= 2 s (a + A) (rho_u + P) + (rho_u + P)^2,

and ``fl(fl(s^2) D_ul)`` is ``s^2 D_ul`` to two roundings, within
``2^-51 s^2 (a + A)^2`` (``D_ul <= (a + A)^2``; ``D_ul < 2^53`` converts exactly).
So the pass's distance error is

    delta_u = 2^-51 s^2 (a + A)^2 + 2 s (a + A) (rho_u + P) + (rho_u + P)^2,

where the residuals are computed with one fused multiply-add each and their
squares summed in double (relative error below (d + 3) 2^-53 < 2^-35 for the
at most 2^16 features the pass takes); every norm is raised by a factor
``1 + 2^-20`` (``NORM_SLACK``), which covers those roundings and the bound's own
arithmetic.  On MNIST in float32 the residual term is about ``4 * 2^-24 (||x_u|| +
max ||x_l||)^2``, some 30 times below the float32 pass's bound (``_certificate``).
Values off the grid only make ``rho`` large: their rows go on to the float64 pass.

When.  ``DenseStatistics`` measures, block by block of all of X, how far the values
are from each grid (``_grid.block_misfits``); the pass runs when every value is
within ``MISFIT_TOLERANCE`` of a code on one of them, the CPU has AVX-512 VNNI and
the rows have at most ``MAX_FEATURES`` features (the 32-bit lanes cannot overflow).
The decision is a fact of all of X, so chunked and Dask calls make it alike.
Products are exact, and the fold runs over fixed blocks of ``BLOCK`` labelled
rows: the results do not depend on threads or tiles, and float32 data and their
float64 copy give the same bits.
"""

import numpy as np

from .. import _grid
from ._certificate import FAST_EXP_ERROR, Pass, Reduced
from ._tiling import packed_tile_rows

#: The grid kernels this process runs: 2 (AMX products, ``mir_grid.h``), 1 (AVX-512
#: VNNI on x86-64-v4) or 0 (none: the pass cannot run); ``ENABLED = False`` switches
#: the pass off (benchmarks compare without it).
ISA = _grid.grid_isa()
ENABLED = True
#: The grids looked for: pixels / 255, and raw bytes.
SCALES = np.array([1.0 / 255.0, 1.0])
#: Largest |x / s - k| for data to count as on the grid of scale s (float32 pixels
#: / 255 reach 1.5e-5; the bound itself uses the true residuals).
MISFIT_TOLERANCE = 1e-3
#: Rows of the register block of ``ISA``'s product and the most features a product
#: may have.
BLOCK_ROWS_UNLABELLED, BLOCK_ROWS_LABELLED, MAX_FEATURES = _grid.register_block(max(ISA, 1))
#: Labelled rows folded at a time (a multiple of the labelled register rows).
BLOCK = 256
#: Groups of four features summed per register pass (a labelled panel's slice,
#: 24 KB, stays in L1; exact either way).
SLICE_GROUPS = 192
#: Largest packed copy of the labelled codes held at once; more go in chunks.
PACK_BYTES = 64 << 20
#: Factor every norm of the bound is raised by (module docstring).
NORM_SLACK = 1.0 + 2.0**-20


def grid_scale(statistics, n_features):
    """The scale of the grid all of X lies on, from its ``DenseStatistics`` (the
    largest misfit to each of ``SCALES``), or None where the pass cannot run or
    would settle nothing: data that never reach half a step (every code 0: all of
    their distance is residual, which the bound must then cover whole)."""
    if not ENABLED or ISA == 0 or n_features > MAX_FEATURES:
        return None
    for scale, misfit in zip(SCALES, statistics.grid_misfits):
        if misfit <= MISFIT_TOLERANCE:
            return float(scale) if 4.0 * statistics.max_sq_norm >= scale * scale else None
    return None


def error_bound(scale, sq_codes, residual_sq, max_sq_codes_labelled,
                max_residual_sq_labelled):
    """``delta_u`` of the module docstring, per row."""
    a = np.sqrt(sq_codes.astype(np.float64)) * NORM_SLACK
    big_a = np.sqrt(float(max_sq_codes_labelled)) * NORM_SLACK
    rho = np.sqrt(residual_sq) * NORM_SLACK + np.sqrt(max_residual_sq_labelled) * NORM_SLACK
    codes = scale * (a + big_a)
    delta = 2.0**-51 * codes * codes + 2.0 * codes * rho + rho * rho
    return np.where(np.isfinite(delta), delta, np.inf)


def grid_pass(X, labelled, rows, scale, gamma, n_threads):
    """The cascade's pass on the codes of the grid of ``scale`` (see module doc)."""
    n_features = X.shape[1]
    groups = -(-n_features // 4)
    blocks = max(1, PACK_BYTES // (BLOCK * groups * 4))
    chunk = int(blocks * BLOCK)
    step = BLOCK_ROWS_UNLABELLED

    def kernel(positions, height):
        reduced = Reduced.empty(len(positions))
        sq_codes = np.empty(len(positions), dtype=np.int64)
        residual_sq = np.empty(len(positions))
        sq_codes_labelled = np.empty(len(labelled), dtype=np.int64)
        residual_sq_labelled = np.empty(len(labelled))
        _grid.fold_grid(X, labelled, rows[positions], scale, gamma,
                        packed_tile_rows(len(positions), n_threads, step), BLOCK, chunk,
                        SLICE_GROUPS, ISA, n_threads, reduced.nearest, reduced.d_min,
                        reduced.d_second, reduced.weight_sum, sq_codes, residual_sq,
                        sq_codes_labelled, residual_sq_labelled)
        reduced.error_bound = error_bound(scale, sq_codes, residual_sq,
                                          sq_codes_labelled.max(), residual_sq_labelled.max())
        return reduced

    return Pass(kernel=kernel, exp_error=FAST_EXP_ERROR)
