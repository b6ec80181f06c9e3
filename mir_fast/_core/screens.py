"""The sparse form's screens: which affinities of a block of rows may be kept.

A screen gives, for every entry of a block of rows, a certified lower bound ``lo``
of ``e_ij = gamma d_ij - log s_j`` (the entry is ``exp(-e_ij)``) and, per row, a
limit above which no entry can be kept; ``_graph.screened_kept`` then computes the
candidates (``lo <= limit``) exactly in float64 and adds an upper bound of every
other entry to the row's dropped mass.  Both screens keep the same entries with the
same values (those of the float64 pass); they differ in cost.

:class:`Float32Screen` bounds every dot product through a float32 GEMM of the rows:
tight bounds (few candidates beyond the kept entries), ``n d`` work per row.

:class:`ProjectedScreen` bounds every distance through a projection on ``k``
principal directions of the data (the bound of ``mir_fast._core.local``, its proof
there): ``n k`` work per row, looser bounds (more candidates, each an exact
distance of ``d`` terms).  The row's limit comes from the exact entry of the
column of smallest bound (``_graph.screened_kept`` bounds its rounding).

:func:`choose_screen` picks the cheaper from a sample of rows (the cost model below);
the choice depends on X and gamma only, never on the thread count.

The cost model
--------------
Per row, in units of one float32 GEMM multiply-add: the float32 screen ``n d`` (its
product) ``+ SCREEN_ENTRY_COST n`` (its bounds) ``+ EXACT_COST c d`` for its ``c``
candidates (about the kept entries: its bounds are tight); the projected screen
``k d`` (the projection) ``+ k n`` (its products) ``+ PROJECTED_ENTRY_COST n`` (its
bounds) ``+ EXACT_COST c_k d``.  ``c`` and ``c_k`` are counted for ``SAMPLE_ROWS``
rows against ``REFERENCE_ROWS`` others and scaled to ``n`` (overestimates, as
their nearest neighbours are farther, alike for both).  The projected screen runs
with the ``k`` of least cost when that is at most ``PROJECTED_SHARE`` of the float32
screen's.
"""

import threading

import numpy as np

from .. import _graph
from .local import Basis, evenly_spaced

#: The cost model's sample (module docstring).
REFERENCE_ROWS = 1024
SAMPLE_ROWS = 128
#: Per-entry and per-feature costs in float32 GEMM multiply-adds (fitted on MNIST
#: 1 vs 7 at gamma 5 and 1, Fashion-MNIST pullover vs coat, the CIFAR shape; one
#: thread of this project's 2-core AVX-512 machine; docs/performance.md).
SCREEN_ENTRY_COST = 5.0
PROJECTED_ENTRY_COST = 70.0
EXACT_COST = 11.0
#: At most this share of the float32 screen's modelled cost (the model is 0.48-0.51
#: where the projected screen measured 0.46-0.47 of its time, but 0.77 on the CIFAR
#: shape, 10,000 rows, where it measured 0.99).
PROJECTED_SHARE = 0.6
#: The pass's row order (``locality_order``): rows per leaf, coordinates split on.
LEAF_ROWS = 32
ORDER_DIMS = 16


class Float32Screen:
    """Rule out most affinities with a float32 product, certified.

    With ``u32 = fl32(u)``, a float32 dot product of ``d`` terms (any summation
    order) is within ``gamma_d |u32||v32|`` of ``<u32, v32>`` (``gamma_d = d eps /
    (1 - d eps)``, ``eps = 2^-24``), and ``|<u32, v32> - <u, v>| <= (2^-23 + 2^-47)
    |u||v|``, so the float32 GEMM's dot is within ``c0 |u||v|`` of the float64 one with
    ``c0 = gamma_d (1 + eps)^2 + 2^-23 + 2^-47``.  Squared distances (``-2`` times the
    dot) get twice that, plus ``2^-48 (|u|^2 + |v|^2)`` for the float64 assembly.
    ``mir_graph.h`` turns the interval into bounds on every entry: the entries
    that may be kept are computed exactly in float64 from X and the mean (the
    values of the centred float64 copy; same kept set and values as the float64
    pass, up to rounding); every other entry is below the drop ratio of
    the row's largest, enters the dropped mass by an upper bound (within a factor
    ``2 exp(4 gamma c0 |u||v|)`` of its value) and is left out of the degree.

    Used when ``d eps < 1/100`` and a block's candidates are at most
    ``MAX_CANDIDATES`` of its entries (otherwise the float64 pass is cheaper).
    """

    MAX_CANDIDATES = 0.2
    name = "float32"
    order = None  # the pass takes the rows in ascending order

    def __init__(self, graph):
        eps = 2.0**-24
        d = graph.data.shape[1]
        self.graph = graph
        self.enabled = d * eps < 0.01
        gamma_d = d * eps / (1.0 - d * eps)
        self.c0 = gamma_d * (1.0 + eps) ** 2 + 2.0**-23 + 2.0**-47
        self.norms = np.sqrt(graph.sq_norms)
        self.rows32 = np.empty(graph.data.shape if self.enabled else (0, d), dtype=np.float32)
        for part, rows in graph.centred_chunks() if self.enabled else ():
            self.rows32[part] = rows

    def kept(self, rows, gamma, diagonal, scale, ratio, depths=None, columns=None,
             keep_candidates=False):
        """``_graph.screened_kept`` of the block ``rows`` against every input (or the
        inputs ``columns``, ascending), or None.

        ``scale``: a ``graph.ColumnScale`` (over those columns); ``depths``: per
        row, ``-log`` of the smallest entry to keep, instead of ``ratio`` of the
        row's largest; ``keep_candidates``: keep every entry the bound cannot put
        below ``ratio`` of the row's largest (see the kernel)."""
        if not self.enabled:
            return None
        others = self.rows32 if columns is None else self.rows32[columns]
        G = products(self.rows32[rows], others)
        side = _Sides(self.graph, rows, columns, self.norms)
        return side.kept(G, gamma, diagonal, scale, ratio, depths, keep_candidates,
                         self.MAX_CANDIDATES, c0=self.c0)


class ProjectedScreen:
    """Rule out most affinities with a projection's lower bound of the distances
    (``mir_fast._core.local``), certified; the projections of every row (float32,
    ``n x k``) are held.

    Parameters
    ----------
    graph : RBFGraph
        A dense graph.
    plan : local.LocalPlan
        The projection of every row of the graph (``Basis.plan`` with all rows).
    """

    MAX_CANDIDATES = 0.2
    enabled = True

    def __init__(self, graph, plan):
        self.graph = graph
        self.plan = plan
        self.name = f"projected (k={plan.basis.shape[0]})"
        self.order = locality_order(plan.projected_l)

    def kept(self, rows, gamma, diagonal, scale, ratio, depths=None, columns=None,
             keep_candidates=False):
        """As :meth:`Float32Screen.kept`, the bounds from the projection."""
        plan = self.plan
        others = plan.projected_l if columns is None else plan.projected_l[columns]
        G = products(plan.projected_l[rows], others)
        side = _Sides(self.graph, rows, columns, plan.n_l, plan.pl_sq, plan.r_l)
        return side.kept(G, gamma, diagonal, scale, ratio, depths, keep_candidates,
                         self.MAX_CANDIDATES, projection=plan)


_BUFFERS = threading.local()


def products(left, right):
    """``left @ right.T`` (float32) in a buffer the calling thread reuses from block
    to block (a fresh block of this size cost the pass 7% in page faults)."""
    size = left.shape[0] * right.shape[0]
    buffer = getattr(_BUFFERS, "products", None)
    if buffer is None or buffer.size < size:
        buffer = _BUFFERS.products = np.empty(size, dtype=np.float32)
    out = buffer[:size].reshape(left.shape[0], right.shape[0])
    return np.matmul(left, right.T, out=out)


def locality_order(points, leaf=LEAF_ROWS, dims=ORDER_DIMS):
    """The rows of ``points`` in the order of the leaves of a median-split tree on
    their first ``dims`` coordinates (each node split at the median of its widest
    coordinate, down to ``leaf`` rows): rows close to each other come close
    together.  Deterministic (a function of ``points`` only)."""
    coords = np.asarray(points[:, :dims], dtype=np.float64)
    order = np.arange(len(coords))
    spans = [(0, len(coords))]
    while spans:
        start, stop = spans.pop()
        if stop - start <= leaf:
            continue
        node = order[start:stop]
        sub = coords[node]
        widest = int(np.argmax(sub.max(axis=0) - sub.min(axis=0)))
        half = (stop - start) // 2
        order[start:stop] = node[np.argsort(sub[:, widest], kind="stable")]
        spans += [(start, start + half), (start + half, stop)]
    return order


def _pick(values, index):
    """``values[index]``, contiguous (empty for no values)."""
    return np.empty(0) if values is None else np.ascontiguousarray(values[index])


class _Sides:
    """The row side and the column side of a block, as ``_graph.screened_kept``
    takes them: norms (and a projection's squared norms and residual norms) of the
    rows and of the columns, and where each row sits among the columns."""

    def __init__(self, graph, rows, columns, norms, p_sq=None, residuals=None):
        self.graph, self.rows = graph, rows
        self.columns = np.asarray([] if columns is None else columns, dtype=np.int64)
        every = slice(None) if columns is None else self.columns
        self.row_nrm, self.col_nrm = _pick(norms, rows), _pick(norms, every)
        self.row_p, self.col_p = _pick(p_sq, rows), _pick(p_sq, every)
        self.row_r, self.col_r = _pick(residuals, rows), _pick(residuals, every)
        self.col_sq = _pick(graph.sq_norms, every)
        self.own_at = np.asarray(rows, dtype=np.int64)
        if columns is not None:  # each row's position among the columns, or -1
            where = np.searchsorted(self.columns, rows)
            inside = where < len(self.columns)
            found = inside & (self.columns[np.where(inside, where, 0)] == rows) \
                if len(self.columns) else inside
            self.own_at = np.where(found, where, -1).astype(np.int64)

    def kept(self, G, gamma, diagonal, scale, ratio, depths, keep_candidates, max_share,
             c0=0.0, projection=None):
        graph = self.graph
        depths = np.empty(0) if depths is None else np.ascontiguousarray(depths, np.float64)
        e_p, e_r = (projection.e_p, projection.e_r) if projection is not None else (0.0, 0.0)
        return _graph.screened_kept(
            G, self.rows, self.own_at, self.columns, graph.data, graph.mean, graph.sq_norms,
            self.row_nrm, self.col_sq, self.col_nrm, self.row_p, self.col_p, self.row_r,
            self.col_r, scale.logs, scale.values, scale.scaled, gamma, projection is not None,
            c0, e_p, e_r, diagonal, ratio, depths, keep_candidates, max_share, 1)


def choose_screen(graph, ratio, force=None):
    """The screen of least modelled cost for a dense ``graph`` keeping entries down
    to ``ratio`` of their row's largest (module docstring); the float32 one where
    no projection applies.  ``force`` ("float32" or "projected") overrides the
    model."""
    n = graph.n
    basis = None if force == "float32" else Basis.of(graph.data, np.arange(n), graph.mean)
    if basis is None:
        return Float32Screen(graph)
    rank, share = _cheapest_rank(graph, basis, ratio)
    if force == "projected" or (force is None and share <= PROJECTED_SHARE):
        return ProjectedScreen(graph, basis.plan(graph.data, np.arange(n), rank))
    return Float32Screen(graph)


def _cheapest_rank(graph, basis, ratio):
    """(the rank of least modelled cost, that cost over the float32 screen's);
    (the largest rank, inf) where there are too few rows to sample."""
    X = graph.data
    n, d = X.shape
    if n < 2 * REFERENCE_ROWS:
        return max(basis.ranks), np.inf
    window = -np.log(ratio) / graph.gamma
    reference = evenly_spaced(n, REFERENCE_ROWS)
    outside = np.flatnonzero(~np.isin(reference, basis.rows))
    sample = outside[evenly_spaced(len(outside), SAMPLE_ROWS)]
    scale = n / len(reference)
    projections = basis.projections(X, reference, max(basis.ranks))
    costs = {}
    for k in basis.ranks:
        candidates = basis.plan(X, reference, k, projections).sample_candidates(
            X, reference, sample, window) * scale
        costs[k] = k * d + k * n + PROJECTED_ENTRY_COST * n + EXACT_COST * candidates * d
    rank = min(costs, key=costs.get)
    kept = _sample_kept(X, graph.mean, reference, sample, window) * scale
    return rank, costs[rank] / (n * d + SCREEN_ENTRY_COST * n + EXACT_COST * kept * d)


def _sample_kept(X, mean, reference, sample, window):
    """Mean number of the ``reference`` rows within ``window`` (squared distance)
    of the nearest of them, for the ``sample`` among them (their own row apart)."""
    centred = np.subtract(X[reference], mean, dtype=np.float64)
    sq = np.einsum("ij,ij->i", centred, centred)
    D = sq[sample, None] + sq[None, :] - 2.0 * (centred[sample] @ centred.T)
    D[np.arange(len(sample)), sample] = np.inf
    return float(np.mean((D <= D.min(axis=1, keepdims=True) + window).sum(axis=1)))
