"""Dense data: the whole-data statistics and the cascade of the dense kernels.

Passes: exact integer products of the codes of data on an 8-bit grid (``grid.py``;
it takes the float32 pass's place), or, for other float32 data, exact integer
products of three 8-bit digits of every value on AMX (``digits.py``, where the CPU
has it) or float32 dot products over feature slices (where their products stay far
from float32 overflow); then float64 dot products, then the exact pass.  The float
passes centre the rows on the column mean of all of X first: distances do not
change, and the error bound (``_certificate``) shrinks with the norms.  Before the
cascade, the local exact path (``local.py``) or, for float64 data on AMX, the
digit screen (``screened.py``) may take the rows, where their cost models say so.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .. import _dense, _exact, _grid
from .._threads import effective_n_threads
from .._validation import check_squared_norms
from ._certificate import (FAST_EXP_ERROR, Pass, Reduced, certify,
                           distance_error_bound)
from ._tiling import float32_slice, tile_labelled, tile_rows
from .digits import digits_apply, digits_pass
from .grid import MISFIT_TOLERANCE, SCALES, grid_pass, grid_scale
from .local import CASCADE_COST, Basis, LocalPlan
from .packed import PackedProduct
from .screened import DigitScreen

#: The local path is only planned for calls of at least this much work: pair-features
#: (unlabelled rows x labelled rows x features, all rows of the call) times the cost
#: of the cascade's first pass (``local.CASCADE_COST``, 1 for float64 products): its
#: basis and pilot cost about what the float64 cascade spends on a twentieth of
#: that, and a cheaper cascade must be longer to repay them (MNIST 1 vs 7 on the grid
#: pass, 25% labelled: a pilot of 30-50 ms that declines, on a 90 ms cascade).
LOCAL_MIN_WORK = 2e10

#: float32 dot products are only used when every |<u, l>| stays far from float32 overflow.
FLOAT32_MAX_SQ_NORM = 1e36


@dataclass
class DenseStatistics:
    """What the dense passes need to know about all of X: the mean they centre with,
    the largest squared row norm (which decides whether float32 is safe) and how far
    the values are from each grid of ``grid.SCALES`` (which decides the grid pass).

    All three are computed over fixed blocks of ``BLOCK_ROWS`` rows starting at row
    0, so that any caller (one process, a chunked call, the blocks of a cluster)
    gets the same bits.
    """

    mean: np.ndarray  # float64
    max_sq_norm: float  # of the uncentred rows, in float64
    grid_misfits: np.ndarray  # per s of grid.SCALES: the largest |x / s - k| (or one
    # above grid.MISFIT_TOLERANCE), _grid.block_misfits

    #: Rows per block of the grid.
    BLOCK_ROWS = 1024

    @classmethod
    def of(cls, X):
        return cls.combine(cls.partials(X), X.shape[0])

    @classmethod
    def partials(cls, X, n_threads=None):
        """(column sums in float64, largest squared row norm, grid misfits) of each
        block of X, in order; X may itself be a chunk of rows that starts on the
        blocks' grid."""
        X = np.ascontiguousarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        n_blocks = -(-X.shape[0] // cls.BLOCK_ROWS)
        sums = np.empty((n_blocks, X.shape[1]))
        max_sq_norms = np.empty(n_blocks)
        misfits = np.empty((n_blocks, len(SCALES)))
        n_threads = effective_n_threads(n_threads)
        _dense.block_statistics(X, cls.BLOCK_ROWS, n_threads, sums, max_sq_norms)
        _grid.block_misfits(X, cls.BLOCK_ROWS, SCALES, MISFIT_TOLERANCE, n_threads, misfits)
        return list(zip(sums, max_sq_norms.tolist(), misfits))

    @classmethod
    def combine(cls, partials, n_rows):
        """From the ``partials`` of every block of X, in row order."""
        total = np.zeros_like(partials[0][0])
        for sums, _, _ in partials:
            total += sums
        return cls(total / n_rows, max(p[1] for p in partials),
                   np.max([p[2] for p in partials], axis=0))


def centred_sq_norms(X, rows, mean, n_threads):
    """Squared norms of ``X[rows] - mean``, centred in ``mean``'s precision exactly as
    the kernel centres them."""
    out = np.empty(len(rows))
    _dense.centred_sq_norms(X, rows, mean, out, n_threads)
    return out


def dot_product_pass(X, labelled, rows, statistics, work_dtype, gamma, n_threads):
    """The pass whose dot products are in ``work_dtype`` (see ``_certificate.Pass``)."""
    n_features = X.shape[1]
    mean = statistics.mean.astype(work_dtype)
    sliced = work_dtype == np.float32
    labelled_norms = []  # computed when the pass first runs

    packed = PackedProduct.choose(len(labelled), n_features, work_dtype)

    def kernel(positions, height):
        if not labelled_norms:
            labelled_norms.append(centred_sq_norms(X, labelled, mean, n_threads))
        norm_lab = labelled_norms[0]
        reduced = Reduced.empty(len(positions))
        sq_norms = np.empty(len(positions))
        outputs = (reduced.nearest, reduced.d_min, reduced.d_second, reduced.weight_sum,
                   sq_norms)
        if packed is not None:
            packed.fold(X, labelled, rows[positions], mean, norm_lab, gamma, n_threads,
                        *outputs)
        else:
            _dense.fold_dense(X, labelled, rows[positions], mean, norm_lab, gamma,
                              height or tile_rows(len(positions)),
                              tile_labelled(n_features, work_dtype.itemsize, len(labelled)),
                              float32_slice(n_features), n_threads, *outputs)
        reduced.error_bound = distance_error_bound(sq_norms, norm_lab.max(), terms,
                                                   work_dtype, n_features)
        return reduced

    terms = float32_slice(n_features) if sliced else n_features
    return Pass(kernel=kernel, exp_error=FAST_EXP_ERROR if sliced else 0.0)


def first_pass(X, statistics):
    """The dense cascade's first pass for X (a key of ``local.CASCADE_COST``): "grid"
    (data on an 8-bit grid), "digits" (other float32 data, on AMX), float32 dot
    products (float32 data whose products stay far from float32 overflow: centred
    squared norms are at most (||x|| + ||mean||)^2 <= 4 max ||x||^2) or float64."""
    if grid_scale(statistics, X.shape[1]) is not None:
        return "grid"
    if digits_apply(X, None):
        return "digits"
    if X.dtype == np.float32 and 16.0 * statistics.max_sq_norm < FLOAT32_MAX_SQ_NORM:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def fold_dense(X, labelled, rows, gamma, threshold, n_threads, statistics=None,
               height=None, basis=None, screen=None):
    """Certified reduction of dense ``rows`` of X against ``labelled`` rows.

    GEMM results depend on a row's place in its tile, so to get the bits of one call
    on all rows, a caller holding only some of them (a chunk, a worker's block) folds
    whole super-tiles (``SUPER_TILE_ROWS`` rows, counted from the first row) and
    passes the whole-data context (``DenseEngine.context``): the ``statistics`` of
    all of X (else computed from X) and the tile ``height`` of the whole call.

    ``basis`` (a ``local.Basis`` of the labelled rows) lets the local exact path
    (``local.py``) take the rows first where its cost model says it pays;
    ``screen`` (a ``screened.DigitScreen``) takes them first instead.
    """
    statistics = statistics or DenseStatistics.of(X)
    # centred squared norms are at most (||x|| + ||mean||)^2 <= 4 max ||x||^2
    check_squared_norms(4.0 * statistics.max_sq_norm)
    first = first_pass(X, statistics)
    passes = [dot_product_pass(X, labelled, rows, statistics, np.dtype(np.float64), gamma,
                               n_threads)]
    if first == "grid":
        scale = grid_scale(statistics, X.shape[1])
        passes.insert(0, grid_pass(X, labelled, rows, scale, gamma, n_threads))
    elif first == "digits":
        passes.insert(0, digits_pass(X, labelled, rows, statistics.mean, gamma, n_threads))
    elif first == np.float32:
        passes.insert(0, dot_product_pass(X, labelled, rows, statistics, first, gamma,
                                          n_threads))

    def exact(positions):
        reduced = Reduced.empty(len(positions))
        _exact.exact_dense(X, labelled, rows[positions], gamma, n_threads, reduced.nearest,
                           reduced.d_min, reduced.d_second, reduced.weight_sum)
        return reduced

    local = None
    plan = screen or LocalPlan.of(X, labelled, basis, gamma, n_threads, first_pass=first)
    if plan is not None:
        def local(positions):
            return plan.fold(X, labelled, rows[positions], gamma, n_threads)

    return certify(passes, exact, len(rows), gamma, threshold, len(labelled),
                   height=height or tile_rows(len(rows)), local=local)


class DenseEngine:
    """The seam for dense X (C-contiguous float32 or float64, validated)."""

    kind = "dense"

    def __init__(self, X):
        self.X = X
        self._bases = {}
        self._screens = {}

    @cached_property
    def statistics(self):
        """``DenseStatistics`` of X, computed once for all the folds of a call."""
        return DenseStatistics.of(self.X)

    def local_pays(self, n_labelled, n_rows):
        """Whether a call on ``n_rows`` rows is large enough for the local path (or
        the digit screen) to repay its planning (``LOCAL_MIN_WORK``)."""
        cost = CASCADE_COST[first_pass(self.X, self.statistics)]
        return n_rows * n_labelled * self.X.shape[1] * cost >= LOCAL_MIN_WORK

    def basis(self, labelled, n_rows):
        """The local path's ``Basis`` of these labelled rows for a call on ``n_rows``
        rows (None where the call is too small for it to pay, or it cannot apply),
        computed once per labelled set."""
        if not self.local_pays(len(labelled), n_rows):
            return None
        key = labelled.tobytes()
        if key not in self._bases:
            self._bases = {key: Basis.of(self.X, labelled, self.statistics.mean)}
        return self._bases[key]

    def screen(self, labelled, n_rows, gamma):
        """The ``screened.DigitScreen`` of these labelled rows and gamma for a call on
        ``n_rows`` rows (None where the call is too small, the screen cannot apply
        or its cost model declines), planned once per labelled set and gamma."""
        if not self.local_pays(len(labelled), n_rows):
            return None
        key = (labelled.tobytes(), float(gamma))
        if key not in self._screens:
            self._screens = {key: DigitScreen.of(
                self.X, labelled, self.statistics.mean, gamma,
                first_pass(self.X, self.statistics))}
        return self._screens[key]

    def context(self, labelled, rows):
        """Keyword arguments of :meth:`fold` that depend on all of X and all ``rows``,
        so that folding the rows in whole super-tiles gives the bits of one call."""
        return self.context_from(self.statistics, len(rows))

    @staticmethod
    def context_from(statistics, n_rows):
        """The context of a call on ``n_rows`` rows, from statistics gathered elsewhere
        (``DenseStatistics.combine`` of the ``partials`` of every block): with the
        call's row count, which decides whether the local path is planned."""
        return {"statistics": statistics, "height": tile_rows(n_rows), "call_rows": n_rows}

    def work(self, n_labelled, n_rows):
        """Pair-features of a fold (``_threads.threads_for_work``)."""
        return n_labelled * n_rows * self.X.shape[1]

    def fold(self, labelled, rows, gamma, threshold, n_threads, **context):
        context.setdefault("statistics", self.statistics)
        call_rows = context.pop("call_rows", len(rows))
        screen = self.screen(labelled, call_rows, gamma)
        basis = None if screen is not None else self.basis(labelled, call_rows)
        return fold_dense(self.X, labelled, rows, gamma, threshold, n_threads,
                          basis=basis, screen=screen, **context)
