"""The certificate that makes the kernels' answers exact, and the cascade it drives.

Every unlabelled row ``u`` needs three facts about its distances
``d_ul = ||u - l||^2`` to the labelled rows: the nearest labelled row (first on
ties), ``d_min``, and ``s_u = sum_l exp(-gamma (d_ul - d_min))``, whose inverse is
the share of the labelled influence held by the nearest one.  The fast kernels
compute ``d_ul`` by the expansion ``||u||^2 + ||l||^2 - 2 <u, l>``; their error is
bounded by

    delta_u = ((k / 2 + 3 + k^2 eps) eps + (f + f / k + 4) 2^-53)
              * (||u|| + max_l ||l||)^2  +  4 (f + 1) eta,

with ``eps`` the unit roundoff of the precision of the dot products (2^-24 for
float32, 2^-53 for float64), ``eta`` its smallest subnormal number (2^-149,
2^-1074), ``k`` the number of terms summed in that precision
(the number of features; in float32 the width of a feature slice, whose partial
sums are added in double; for CSR the largest number of non-zeros in a row), ``f``
the number of terms of each squared norm, always summed in double (the features;
for CSR ``k`` again), and norms taken after centring (dense).  Term by term, with
``a = ||u||``, ``b = ||l||`` and ``2ab <= (a + b)^2 / 2``:

* the dot product of the rounded centred rows, a sum of ``k`` products per
  slice: ``2 gamma_k (1 + eps)^2 ab <= (k / 2 + k^2 eps) eps (a + b)^2`` (Higham's
  ``gamma_k = k eps / (1 - k eps)``, any order of summation, fused or not);
* the centring, each coordinate rounded once (relative ``eps``): it moves
  ``||u - l||^2`` by at most ``2 eps (1 + eps) (a + b)^2 <= 3 eps (a + b)^2``;
* the squared norms, ``f`` terms in double: ``(f + 1) 2^-53 (a^2 + b^2)``;
* the ``f / k`` slice sums added in double, ``(f / k + 1) 2^-53 ab``, and the two
  additions of the expansion, ``2^-52 (a + b)^2``;
* underflow, which the relative terms above do not cover: a rounding whose
  result falls below the normal range errs by up to ``eta / 2`` absolute (Higham's
  model ``fl(t) = t (1 + theta) + eta'``).  A dot product has at most ``2 f``
  roundings (a product and a sum per term), doubled by the expansion: ``2 f eta``;
  the squared norms and the double sums at most ``2 f + 2`` more of at most
  ``2^-1075 <= eta / 2`` each.  The centring adds none: a difference of two
  floats of one precision that falls below the normal range is exact, and the
  float32 data of the float64 pass are exact in double.  It matters only for
  data so small that their products leave the normal range (float32 values
  below about 1e-19): the bound then sends the rows on.

(Before 2026-12-06 the bound was ``(k + 4)(eps + 2^-53)``: the float32 dot
product's share doubled; this one is what the items above sum to, rounded up.)

A row's decision is certain when

* the gap between the second-nearest and the nearest distance exceeds
  ``2 delta_u`` (so the nearest labelled row is the true one, and no exact tie is
  possible), and
* ``|log(s_u) + log(threshold)| > 2 gamma delta_u + (l + 64) 2^-50 (+ 2 e_exp)``:
  each weight's exponent is off by at most ``2 gamma delta_u``, and the other
  terms bound the rounding of the exponentials (``e_exp``: the relative error of a
  pass's shorter polynomial, below 1e-8), the sums and the rescalings, so
  ``share > threshold`` cannot change.

Each pass's kernel returns ``delta_u`` with its results: the float passes that of
:func:`distance_error_bound`, the grid pass (``grid.py``) one of its own; the two
tests are the same for all.

Rows that fail either test go to the next pass of the cascade (a list of
:class:`Pass`, walked by :func:`certify`), and what no pass certifies goes to the
exact pass, which computes every distance from its definition.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._tiling import SUPER_TILE_ROWS

UNIT_ROUNDOFF = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
SMALLEST_SUBNORMAL = {np.dtype(np.float32): 2.0**-149, np.dtype(np.float64): 2.0**-1074}
#: A pass after the first runs on the rows a super-tile still has pending only when
#: they are at least this many; fewer go straight to the exact pass, which costs less
#: for them than preparing the pass (packing every labelled row: 22-89 ms on the
#: CIFAR shape for 3 rows, where the exact pass took 6.5 ms for the three).
MIN_LATER_PASS_ROWS = 16
#: Relative error bound of the shorter exponentials (degree-7 polynomial) of the
#: float32 passes.
FAST_EXP_ERROR = 1e-8


@dataclass
class RowFold:
    """Per-unlabelled-row results of the reduction (one entry per row)."""

    nearest: np.ndarray  # position in ``labelled`` of the nearest labelled row
    d_min: np.ndarray  # its squared distance
    weight_sum: np.ndarray  # s_u = sum_l exp(-gamma (d_ul - d_min)) >= 1
    stage: np.ndarray  # 0, 1, ...: the pass that certified the row (last = exact)

    @classmethod
    def concatenate(cls, parts):
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("nearest", "d_min", "weight_sum", "stage")))

    @classmethod
    def empty(cls, n_rows):
        return cls(
            nearest=np.empty(n_rows, dtype=np.int64),
            d_min=np.empty(n_rows),
            weight_sum=np.empty(n_rows),
            stage=np.zeros(n_rows, dtype=np.int8),
        )

    def store(self, positions, stage, reduced):
        """Record a kernel's ``reduced`` rows (:class:`Reduced`) at ``positions``."""
        self.nearest[positions] = reduced.nearest
        self.d_min[positions] = reduced.d_min
        self.weight_sum[positions] = reduced.weight_sum
        self.stage[positions] = stage


@dataclass
class Reduced:
    """What a kernel returns for its rows, named as in :class:`RowFold` (the
    kernels' C arguments ``best, dmin, dsecond, ssum`` are these), plus the second
    smallest distance and the bound ``delta_u`` of each row's distances (the
    kernels of the cascade's passes; the exact pass has none).

    One quantity, one name down to the kernels; ``MIRResult`` (``_result.assemble``)
    then turns positions into indices (``nearest`` -> ``dominant``), ``d_min`` into
    ``distance`` and ``weight_sum`` into ``share = 1 / weight_sum``."""

    nearest: np.ndarray
    d_min: np.ndarray
    d_second: np.ndarray
    weight_sum: np.ndarray
    error_bound: np.ndarray = None

    @classmethod
    def empty(cls, n_rows):
        return cls(np.empty(n_rows, dtype=np.int64), np.empty(n_rows), np.empty(n_rows),
                   np.empty(n_rows))

    def subset(self, mask):
        """The rows ``mask`` selects (the four per-row arrays)."""
        return Reduced(self.nearest[mask], self.d_min[mask], self.d_second[mask],
                       self.weight_sum[mask])


@dataclass(frozen=True)
class Pass:
    """One pass of the cascade.

    ``kernel(rows, height)`` reduces ``rows`` (positions into the caller's rows) in
    tiles of ``height`` rows (None: the kernel's own choice for that many rows) and
    returns :class:`Reduced` with its ``error_bound``; ``exp_error`` is the
    relative error of its exponentials beyond double.
    """

    kernel: Callable
    exp_error: float = 0.0


def distance_error_bound(sq_norms, max_sq_norm_labelled, terms, work_dtype,
                         norm_terms=None):
    """``delta_u`` of the module docstring for rows of centred squared norms
    ``sq_norms``, dot products in ``work_dtype``."""
    work_dtype = np.dtype(work_dtype)
    eps = UNIT_ROUNDOFF[work_dtype]
    terms = np.asarray(terms, dtype=np.float64)
    norm_terms = terms if norm_terms is None else np.float64(norm_terms)
    slices = norm_terms / np.maximum(terms, 1.0)  # rows with no terms: no slices
    relative = ((terms / 2.0 + 3.0 + terms * terms * eps) * eps
                + (norm_terms + slices + 4.0) * 2.0**-53)
    underflow = 4.0 * (norm_terms + 1.0) * SMALLEST_SUBNORMAL[work_dtype]
    return (relative * (np.sqrt(sq_norms) + np.sqrt(max_sq_norm_labelled)) ** 2
            + underflow)


def uncertain_rows(nearest_gap, weight_sum, delta, gamma, threshold, n_labelled,
                   exp_error=0.0):
    """Boolean mask of rows whose decision the pass cannot certify (see module doc),
    given their distance error bound ``delta``."""
    close_to_tie = nearest_gap <= 2.0 * delta
    slack = 2.0 * gamma * delta + (n_labelled + 64) * 2.0**-50 + 2.0 * exp_error
    close_to_threshold = np.abs(np.log(weight_sum) + np.log(threshold)) <= slack
    return close_to_tie | close_to_threshold


def by_super_tile(positions):
    """``positions`` (sorted) split by the super-tile they fall in."""
    cuts = np.flatnonzero(np.diff(positions // SUPER_TILE_ROWS)) + 1
    return np.split(positions, cuts)


def certify(passes, exact, n_rows, gamma, threshold, n_labelled, height=None, local=None):
    """Walk the cascade: every row through the first pass, the rows it cannot
    certify through the next, and so on; what is left through ``exact(rows)``.

    The first pass tiles all rows (in tiles of ``height``); later passes tile the
    pending rows of each super-tile on their own (and leave them to the exact pass
    when they are fewer than ``MIN_LATER_PASS_ROWS``), so that a caller folding whole
    super-tiles of a larger set of rows gets the bits of one call on all of them.
    ``local(rows)``, when given, runs before the cascade and returns ``(Reduced,
    done)``: the exact results of the rows it took (``local.py``); the cascade
    then tiles the other rows by super-tile from its first pass on.
    ``RowFold.stage`` says which pass certified each row (``len(passes)``: exact,
    the local path included).
    """
    fold = RowFold.empty(n_rows)
    pending = np.arange(n_rows)
    if local is not None:
        reduced, done = local(pending)
        fold.store(pending[done], len(passes), reduced.subset(done))
        pending = pending[~done]
    for stage, step in enumerate(passes):
        if pending.size == 0:
            return fold
        groups = [pending] if stage == 0 and local is None else by_super_tile(pending)
        still = []
        for group in groups:
            if stage > 0 and len(group) < MIN_LATER_PASS_ROWS:
                still.append(group)
                continue
            reduced = step.kernel(group, height if stage == 0 else None)
            fold.store(group, stage, reduced)
            unsure = uncertain_rows(reduced.d_second - reduced.d_min, reduced.weight_sum,
                                    reduced.error_bound, gamma, threshold,
                                    n_labelled, exp_error=step.exp_error)
            still.append(group[unsure])
        pending = np.concatenate(still)
    if pending.size:
        fold.store(pending, len(passes), exact(pending))
    return fold
