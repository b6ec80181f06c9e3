"""The digit pass: exact integer products of three 8-bit digits per value, on AMX.

Continuous float32 data are on no grid, but every centred row ``c`` (centred in
double) is, after scaling by a power of two ``sigma`` with ``|c / sigma| <= 127``,
exactly

    t = c / sigma = D1 + D2 / 128 + D3 / 128^2 + E,     |E| <= 2^-15 per value,

with signed 8-bit digits (``src/mir_digits.h``).  Six of the nine digit products
are summed exactly in 32-bit integers by AMX, Intel's tile unit (``tdpbssd``:
16,384 byte multiply-adds an instruction, about 25 times a core's float32 FMA
rate), in three levels ``L0, L1, L2`` of weight ``1, 2^-7, 2^-14``; the fold takes

    d_ul = ||c_u||^2 + ||c_l||^2 - 2 sigma_u sigma_l ((L0 + L1 / 128) + L2 / 128^2)

(norms in double) as the distance.  ``_digits.fold_digits`` runs it.

The bound.  Per row, the coding returns ``||c||^2``, ``||D2||^2``, ``||D3||^2``,
``||r||^2`` (``E = r / 128^2``, ``|r| <= 1/2``) and ``||s||^2`` with ``s = |D1|
+ |D2| / 128 + |D3| / 128^2`` (element by element).  With ``T = t - E`` (the
digits' part), ``<t_u, t_l>`` is the six kept products plus

    2^-21 (<D2_u, D3_l> + <D3_u, D2_l>) + 2^-28 <D3_u, D3_l> + <E_u, t_l> + <T_u, E_l>,

so by Cauchy-Schwarz, with ``B2, B3, Bt, BE, BS`` the largest ``sigma_l ||D2_l||,
sigma_l ||D3_l||, ||c_l||, sigma_l ||E_l||, sigma_l ||s_l||`` over the labelled
rows,

    |<c_u, c_l> - sigma_u sigma_l (L0 + L1 / 128 + L2 / 128^2)|  <=  G_u
    G_u = sigma_u (2^-21 (||D2_u|| B3 + ||D3_u|| B2) + 2^-28 ||D3_u|| B3 + ||E_u|| Bt)
          + (||c_u|| + sigma_u ||E_u||) BE.

The levels are integers, exact in double; their weighted sum rounds twice, each
time within ``2^-53`` of a partial sum at most ``<s_u, s_l>`` in magnitude
(every term of the full product of the sizes is non-negative), and the scaling by
``-2 sigma_u sigma_l`` is exact: ``2^-51 sigma_u ||s_u|| BS`` on the distance.  The
rest is as for the float passes (``_certificate``) with every rounding in double:
the centring (``3``), the squared norms (``f + 1``) and the two additions of the
expansion (``2``), in units of ``2^-53 (||c_u|| + max ||c_l||)^2``, and underflow
``4 (f + 1) 2^-1074``.  So the pass's distance error is

    delta_u = 2 G_u + 2^-51 sigma_u ||s_u|| BS + (f + 6) 2^-53 (a + A)^2 + 4 (f + 1) 2^-1074

with ``a = ||c_u||`` and ``A = max ||c_l||``.  Every norm is raised by
``grid.NORM_SLACK`` (``1 + 2^-20``), which covers the rounding of the sums of
squares (below ``(f + 3) 2^-53 < 2^-35``) and the bound's own arithmetic.  The
remainder term dominates: ``||E_u|| ||c_l||`` is about ``2^-15 / sqrt(12)`` of
``sigma_u sqrt(f) ||c_l||``, some 50 times below the float32 pass's bound on the
CIFAR shape.

When.  Float32 data on no 8-bit grid (the grid pass takes those), with at most
``MAX_FEATURES`` features (the 32-bit sums cannot overflow), on a CPU and
operating system that give this process AMX (``_digits.digits_isa``).  The
integers do not round and the fold runs over fixed blocks of labelled rows, so
the results do not depend on threads or tiles.  Float64 data do not take this
pass: their shares would lose the accuracy float64 promises (the decisions
would not change); the same products serve them as a screen instead
(``screened.py``), whose rows the exact pass settles.
"""

import numpy as np

from .. import _digits
from ._certificate import FAST_EXP_ERROR, Pass, Reduced
from ._tiling import packed_tile_rows
from .grid import NORM_SLACK

#: 1 where this process may run the AMX kernels, else 0; ``ENABLED = False``
#: switches the pass off (benchmarks compare without it).
ISA = _digits.digits_isa()
ENABLED = True
#: Rows of a tile block and the most features a product may have.
BLOCK_ROWS, MAX_FEATURES = _digits.register_block()
#: Bytes of the labelled digits folded at a time (with a block of 16 unlabelled
#: rows they stay in L2 while the block runs over them).
BLOCK_BYTES = 768 << 10
#: Largest packed copy of the labelled digits held at once; more go in chunks.
PACK_BYTES = 96 << 20
#: Steps of 64 features per pass of a block over 16 unlabelled rows (their three
#: planes, 24 KB, stay in L1).
SLICE_STEPS = 8


def digits_apply(X, grid_scale):
    """Whether the digit pass takes the float32 pass's place for X."""
    return (ENABLED and ISA == 1 and X.dtype == np.float32 and grid_scale is None
            and X.shape[1] <= MAX_FEATURES)


def error_bound(sigma, norms, sigma_lab, norms_lab, n_features):
    """``delta_u`` of the module docstring, per row (``norms``: rows x 5 in the
    order of ``_digits.NORMS``), every norm raised by ``NORM_SLACK``: computed by
    ``mir_digits_delta`` (``src/mir_digits.h``), which the digit screen's kernel
    calls too."""
    out = np.empty(len(sigma))
    _digits.error_bounds(np.ascontiguousarray(sigma, dtype=np.float64),
                         np.ascontiguousarray(norms, dtype=np.float64),
                         np.ascontiguousarray(sigma_lab, dtype=np.float64),
                         np.ascontiguousarray(norms_lab, dtype=np.float64),
                         n_features, NORM_SLACK, out)
    return out


def digits_pass(X, labelled, rows, mean, gamma, n_threads):
    """The cascade's pass on the digits of the rows centred on ``mean`` (float64)."""
    n_features = X.shape[1]
    kpad = -(-n_features // 64) * 64
    block = BLOCK_BYTES // (3 * kpad) // BLOCK_ROWS * BLOCK_ROWS
    block = int(min(256, max(BLOCK_ROWS, block)))
    chunk = int(max(1, PACK_BYTES // (3 * kpad * block)) * block)
    mean = np.ascontiguousarray(mean, dtype=np.float64)

    def kernel(positions, height):
        reduced = Reduced.empty(len(positions))
        norms = np.empty((len(positions), len(_digits.NORMS)))
        sigma = np.empty(len(positions))
        norms_lab = np.empty((len(labelled), len(_digits.NORMS)))
        sigma_lab = np.empty(len(labelled))
        _digits.fold_digits(X, labelled, rows[positions], mean, gamma,
                            packed_tile_rows(len(positions), n_threads, BLOCK_ROWS), block,
                            chunk, SLICE_STEPS, n_threads, reduced.nearest, reduced.d_min,
                            reduced.d_second, reduced.weight_sum, norms, sigma, norms_lab,
                            sigma_lab)
        reduced.error_bound = error_bound(sigma, norms, sigma_lab, norms_lab, n_features)
        return reduced

    return Pass(kernel=kernel, exp_error=FAST_EXP_ERROR)
