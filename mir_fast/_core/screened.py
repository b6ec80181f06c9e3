"""The exact pass screened by digit products: float64 data on AMX.

Float64 data keep float64's accuracy in their shares, so the digit pass
(``digits.py``, float32's accuracy) cannot settle them, and the float64 products
cost a DGEMM.  But a row's share needs the exact distances of only the labelled
rows near its nearest one: a labelled row more than ``w`` farther adds less than
``exp(-gamma w)`` to ``s_u >= 1``, and with ``w = (60 ln 2 + ln l) / gamma``
(``local.window``) all of them together less than ``2^-60`` of it.  The digit
products find those rows for about a third of the DGEMM's time; the exact pass
(``_exact.exact_dense_candidates``, as for the local path, ``local.py``) then
computes their distances from the definition.

The screen
----------
The digit kernels give every ``d~_ul`` with ``|d~_ul - d_ul| <= delta_u``
(``digits.error_bound``, which the kernel computes for each row from the norms
its coding returns, ``mir_digits_delta``; ``d_ul`` the exact squared distance of
the raw rows, the centring included).  Let ``m = min_l d~_ul``, reached at ``l*``.  The exact pass
computes each distance from the definition in double, ``fl_ul = d_ul (1 + t)``
with ``|t| <= r = (f + 4) 2^-53`` (a sum of ``f`` non-negative squares of rounded
differences), and folds the candidates with ``fl_ul <= min fl + w``.  Every such
``l`` of all the labelled rows satisfies

    d~_ul - delta_u  <=  d_ul  <=  fl_ul / (1 - r)  <=  (fl_ul* + w) / (1 - r)
                     <=  (d_ul* (1 + r) + w) / (1 - r)
                     <=  (m + delta_u + w) (1 + r) / (1 - r)  <=  (m + delta_u + w) (1 + 3 r),

as ``d_ul* <= m + delta_u`` (and ``m >= 0``: the kernels clamp distances at 0).
With ``rho = 3 r + 2^-50``, whose ``2^-50`` covers the four roundings of the
limit's own arithmetic (on non-negative numbers), the rows with

    d~_ul <= (m + delta_u + w) (1 + rho) + delta_u

(``_digits.digit_candidates``) hold every row the exact pass folds, and contain
``l*`` (``m`` itself passes): the smallest computed distance among them is the
smallest over all labelled rows, and the exact pass folds the same rows, to the
same bits, as it would from any other superset (the local path's projection).
A row with more than ``cap`` candidates declines and goes through the cascade.

When
----
Float64 data that no grid pass takes (``dense.first_pass`` says float64), with
at most ``digits.MAX_FEATURES`` features, the labelled digits within
``digits.PACK_BYTES``, on a CPU and operating system that give this process AMX,
in calls large enough for the local path (``dense.LOCAL_MIN_WORK``), and where
the cost model says it pays: per unlabelled row, ``CASCADE_COST["digits"] l d``
for the screen plus ``EXACT_COST c d`` for ``c`` candidates, against the float64
cascade's ``l d``; ``c`` is counted exactly (float64 distances) for
``SAMPLE_ROWS`` labelled rows against ``REFERENCE_ROWS`` of the others, a floor
for the candidates of any screen.  The decision depends on X, the labelled rows
and gamma only, and each row's candidates on its own distances only, so every
caller gets the same bits.  On the continuous CIFAR shape (7,500 x 2,500 x 3,072,
gamma 0.55) a row keeps about 50 of 2,500 labelled rows.
"""

from dataclasses import dataclass

import numpy as np

from .. import _digits
from . import local
from ._tiling import packed_tile_rows
from .digits import BLOCK_BYTES, BLOCK_ROWS, ISA, MAX_FEATURES, PACK_BYTES, SLICE_STEPS
from .grid import NORM_SLACK
from .local import evenly_spaced, fold_candidates, kept_positions, window

#: ``False`` switches the screen off (benchmarks compare without it).
ENABLED = True
#: The cost model's sample: labelled rows whose window is counted, against
#: reference labelled rows (evenly spaced).
SAMPLE_ROWS = 32
REFERENCE_ROWS = 384
#: Most bytes of candidate lists held at once (rows are screened in chunks).
KEPT_BYTES = 16 << 20
#: Most bytes of one thread's screened distances (a tile's rows x every labelled row).
DISTANCE_BYTES = 8 << 20


def screen_applies(X, n_labelled, first_pass):
    """Whether the screen may run for X (before the cost model)."""
    kpad = -(-X.shape[1] // 64) * 64
    return (ENABLED and ISA == 1 and first_pass == np.float64 and X.dtype == np.float64
            and X.shape[1] <= MAX_FEATURES and n_labelled * 3 * kpad <= PACK_BYTES
            and n_labelled * 8 * BLOCK_ROWS <= DISTANCE_BYTES)


def exact_rounding(n_features):
    """``rho`` of the module docstring."""
    return 3.0 * (n_features + 4) * 2.0**-53 + 2.0**-50


def window_count(X, labelled, mean, gamma):
    """Mean number of labelled rows within ``window(gamma, l)`` of a sample labelled
    row's nearest other one, scaled from ``REFERENCE_ROWS`` to all ``l``."""
    reference = labelled[evenly_spaced(len(labelled), REFERENCE_ROWS)]
    at = evenly_spaced(len(reference), SAMPLE_ROWS)
    centred = np.subtract(X[reference], mean, dtype=np.float64)
    sq = np.einsum("ij,ij->i", centred, centred)
    D = sq[at, None] + sq[None, :] - 2.0 * (centred[at] @ centred.T)
    D[np.arange(len(at)), at] = np.inf  # a row is not its own neighbour
    near = D <= D.min(axis=1, keepdims=True) + window(gamma, len(labelled))
    return float(near.sum(axis=1).mean()) * len(labelled) / len(reference)


@dataclass
class DigitScreen:
    """The screen's settings for one set of labelled rows and gamma."""

    mean: np.ndarray  # float64, the whole data's
    expected_candidates: float

    @classmethod
    def of(cls, X, labelled, mean, gamma, first_pass):
        """The screen where it applies and its modelled cost is at most
        ``LOCAL_SHARE`` of the float64 cascade's, else None."""
        if not screen_applies(X, len(labelled), first_pass) or len(labelled) < 2:
            return None
        mean = np.ascontiguousarray(mean, dtype=np.float64)
        n_lab, d = len(labelled), X.shape[1]
        count = window_count(X, labelled, mean, gamma)
        cost = local.CASCADE_COST["digits"] * n_lab * d + local.EXACT_COST * count * d
        if cost > local.LOCAL_SHARE * local.CASCADE_COST[np.dtype(np.float64)] * n_lab * d:
            return None
        return cls(mean, count)

    def fold(self, X, labelled, rows, gamma, n_threads):
        """The exact pass on ``rows`` over their screened candidates: ``(Reduced,
        done)``, ``done`` False for the rows with more than the cap (as
        ``local.LocalPlan.fold``)."""
        n_lab, d = len(labelled), X.shape[1]
        cap = local.candidate_cap(n_lab)
        kpad = -(-d // 64) * 64
        block = int(min(256, max(BLOCK_ROWS,
                                 BLOCK_BYTES // (3 * kpad) // BLOCK_ROWS * BLOCK_ROWS)))
        height = packed_tile_rows(len(rows), n_threads, BLOCK_ROWS)
        height = int(max(BLOCK_ROWS, min(height, DISTANCE_BYTES // (8 * n_lab)
                                         // BLOCK_ROWS * BLOCK_ROWS)))
        step = int(max(height, KEPT_BYTES // (4 * cap) // height * height))
        counts = np.empty(len(rows), dtype=np.int64)
        anchors = np.empty(len(rows), dtype=np.int64)
        parts = []
        for start in range(0, len(rows), step):
            stop = min(start + step, len(rows))
            kept = np.empty((stop - start, cap), dtype=np.int32)
            _digits.digit_candidates(X, labelled, rows[start:stop], self.mean, NORM_SLACK,
                                     window(gamma, n_lab), exact_rounding(d), height, block,
                                     SLICE_STEPS, n_threads, counts[start:stop], kept,
                                     anchors[start:stop])
            parts.append((start, stop, kept_positions(kept, counts[start:stop])))
        return fold_candidates(X, labelled, rows, counts, anchors, parts, gamma, n_threads)
