"""The exact pass made local: a projection bounds every distance from below, and
each unlabelled row computes only the labelled rows that may matter.

MIR needs, for an unlabelled row ``u``, its nearest labelled row and ``s_u =
sum_l exp(-gamma (d_ul - d_min))``.  A labelled row more than ``w`` farther than
the nearest adds less than ``exp(-gamma w)`` to ``s_u >= 1``.  Where the kernel is
local (gamma large against the spread of the distances) most labelled rows are that
far, and a cheap lower bound of ``d_ul`` proves it.

The bound
---------
Let ``Q`` (k x d) have orthonormal rows, ``u``, ``l`` centred rows, ``n_u = |u|``,
and ``r_u = |u - Q^T Q u|`` the norm of the residual.  Splitting each vector into
its part in the row space of ``Q`` and the rest,

    d_ul = |Q u - Q l|^2 + |(u - Q^T Q u) - (l - Q^T Q l)|^2
         >= |Q u - Q l|^2 + (r_u - r_l)^2.

We hold ``P``, float64 directions from a randomized range finder made orthonormal
to rounding, with ``P P^T = I + F`` (computed);
``eta = ||F||_F + k^2 2^-50`` bounds ``||P - Q||_2`` for ``Q`` the polar factor of
``P`` (``|sigma - 1| <= |sigma^2 - 1|``).  Then ``|P v|^2 <= |Q v|^2 + 3 eta |v|^2``;
the projected coordinates ``p = fl(P u)`` are within ``e1 = 1.01 sqrt(k) d 2^-53``
of ``P u`` relative to ``n_u``; the float64 evaluation of ``|p_u|^2 + |p_l|^2 -
2 <p_u, p_l>`` adds ``1.1 (k + 2) 2^-53 (n_u + n_l)^2``, the centring of the raw
rows ``2^-51 (n_u + n_l)^2``; the dot products come from a float32 product of the
projections rounded to float32, within ``(k + 3) 2^-24 |p_u| |p_l|`` of the
double ones, which moves the expression by at most ``(k + 3) 2^-24 (n_u + n_l)^2``.
So with

    e_p = 2 (3 eta + 3 e1 + 1.1 (k + 2) 2^-53 + 2^-51 + 2^-50) + (k + 3) 2^-24,

``max(|p_u - p_l|^2 - e_p (n_u + n_l)^2, 0)`` is at most ``|Q u - Q l|^2``.  The
residuals are computed as ``sqrt(max(n_u^2 - |p_u|^2, 0))``; their squares are
within ``e2 n_u^2`` of ``r_u^2`` (``e2 = 1.1 (3 eta + 3 e1 + (d + k + 4) 2^-53)``), so
``|r_u' - r_u| <= (sqrt(e2) + 2^-50) n_u`` (as ``|a - b| <= sqrt(|a^2 - b^2|)``)
and with ``e_r = 2 (sqrt(e2) + 2^-50)``, ``max(|r_u' - r_l'| - e_r (n_u + n_l), 0)``
is at most ``|r_u - r_l|``.  The sum of the two is ``lb_ul <= d_ul`` (``mir_local.h``).

The path
--------
Row ``u`` takes the labelled row of smallest bound, computes its distance from the
definition (raised by its rounding: ``ub >= d_min``) and keeps the labelled rows
with ``lb_ul <= ub + w``, ``w = (60 ln 2 + ln l) / gamma``: a superset of the rows
within ``w`` of the nearest.  Their distances are computed from the definition and
those within ``w`` of the smallest are folded (a set that does not depend on the
bounds' rounding, so neither do the bits of the result); every other labelled row
adds less than ``2^-60 / l`` of the nearest's weight, in all less than ``2^-60`` of
``s_u``: below the rounding of the exact pass's own sum of ``l`` terms.  The kept
rows go through the exact pass (``_exact.local_candidates``, then
``_exact.exact_dense_candidates``): the same nearest
row, the same distance and ties, ``s_u`` within that ``2^-60`` plus the rounding of
a sum of ``l`` terms (the kept terms are summed in another grouping).  A row with more
than ``MAX_CANDIDATES`` of the labelled rows kept declines and goes through the
usual cascade.

The cost model
--------------
Per unlabelled row, in units of one float64 multiply-add of a GEMM: the projection
``k d`` and its float32 products ``l k / 2``, the bounds ``BOUND_COST l``, the kept
rows ``EXACT_COST c d`` (``c`` their mean number, counted for a sample of the
labelled rows against some of the others and scaled to all ``l``), against the
cascade's ``CASCADE_COST l d`` (by the cascade's first pass: the grid pass,
``grid.py``, the digit pass, ``digits.py``, float32 or float64 dot products).  The
path runs with the ``k`` of least cost, when that is below ``LOCAL_SHARE`` of the
cascade's.  The plan depends on X, the labelled rows and gamma only: every caller
(chunks, Dask workers) gets the same one, and the same bits.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .. import _exact
from .._threads import single_threaded_blas
from ._certificate import Reduced

#: Ranks of the projection the cost model tries.
RANKS = (16, 32, 64, 128)
#: Labelled rows the basis is computed from; the cost model's reference rows and
#: the sample of them it counts candidates for.
BASIS_ROWS = 512
REFERENCE_ROWS = 1024
SAMPLE_ROWS = 128
#: The cost model's pilot: a basis of PILOT_RANK directions from PILOT_ROWS
#: labelled rows, candidates counted for every PILOT_STRIDE-th row of the sample
#: against PILOT_REFERENCE of the reference rows.
PILOT_ROWS = 128
PILOT_RANK = 64
PILOT_REFERENCE = 384
PILOT_STRIDE = 4
#: A basis from at most this many rows comes from their Gram matrix directly (one
#: product and an eigendecomposition: cheaper than sketching so few rows).
GRAM_ROWS = 160
#: Per-unlabelled-row costs, in float64 GEMM multiply-adds (fitted on MNIST 1 vs 7,
#: 25% labelled, this project's 2-core AVX-512 machine; docs/performance.md): one
#: bound and candidate test, one feature of a kept row's exact distance, and one
#: pair-feature of the cascade, by its first pass: float32 and float64 dot products
#: (refitted 2026-12-06 for the packed dense product, ``packed.py``: 0.66 and 1.15 on
#: BLAS), the grid pass's exact integer products (fitted 2026-12-06 on MNIST 1 vs 7
#: and the 8-bit CIFAR shape: 0.27-0.30 of the float64 cascade's time), the digit
#: pass's (``digits.py``; 0.25-0.30 of it on the continuous CIFAR shape, same day).
BOUND_COST = 50.0
EXACT_COST = 6.0
CASCADE_COST = {np.dtype(np.float32): 0.55, np.dtype(np.float64): 1.0, "grid": 0.3,
                "digits": 0.3}
#: The path runs when its modelled cost is at most this share of the cascade's.
LOCAL_SHARE = 0.8
#: A row keeping more than this many labelled rows, or this share of them, declines.
MAX_CANDIDATES = 4096
MAX_SHARE = 0.25
#: Unlabelled rows per block of the projection: a power of two (so that blocks,
#: counted from the first row, tile every super-tile and chunked callers get the
#: same bits), 16..256, about BLOCK_BYTES of float32 projected products per thread.
BLOCK_ROWS = 256
BLOCK_BYTES = 4 << 20


def block_rows(n_labelled):
    """Rows per block of :meth:`LocalPlan.fold` (a function of ``l`` only)."""
    rows = min(max(BLOCK_BYTES // (4 * max(n_labelled, 1)), 16), BLOCK_ROWS)
    return 1 << (int(rows).bit_length() - 1)


def window(gamma, n_labelled):
    """``w`` of the module docstring (squared distance)."""
    return (60.0 * np.log(2.0) + np.log(max(n_labelled, 1))) / gamma


class Basis:
    """The leading principal directions of the centred labelled rows (computed from
    at most ``BASIS_ROWS`` of them, evenly spaced): all that plans on the same
    labelled rows share, whatever gamma.  Only the ``k_max x d`` directions are
    kept."""

    def __init__(self, X, labelled, mean):
        self.ranks = [k for k in RANKS if 4 * k <= X.shape[1]]
        self.mean = mean
        self.rows = labelled[evenly_spaced(len(labelled), BASIS_ROWS)]
        self._X = X

    @cached_property
    def directions(self):
        """``k_max x d``, computed when a plan first needs them."""
        with single_threaded_blas():
            return _principal_directions(
                np.subtract(self._X[self.rows], self.mean, dtype=np.float64), max(self.ranks))

    @classmethod
    def of(cls, X, labelled, mean):
        """The basis, or None where no rank applies or too few rows are labelled."""
        if len(labelled) < 2 * SAMPLE_ROWS or 4 * RANKS[0] > X.shape[1]:
            return None
        return cls(X, labelled, mean)

    def plan(self, X, labelled, k, projections=None):
        """The :class:`LocalPlan` of the first ``k`` directions for these labelled
        rows, with its margins (``projections``: their :meth:`projections`, when
        already at hand)."""
        d = self.directions.shape[1]
        basis = np.ascontiguousarray(self.directions[:k])
        with single_threaded_blas():
            gram = basis @ basis.T
        eta = float(np.linalg.norm(gram - np.eye(k))) + k * k * 2.0**-50
        e1 = 1.01 * np.sqrt(k) * d * 2.0**-53
        e_p = (2.0 * (3 * eta + 3 * e1 + 1.1 * (k + 2) * 2.0**-53 + 2.0**-51 + 2.0**-50)
               + (k + 3) * 2.0**-24)
        e2 = 1.1 * (3 * eta + 3 * e1 + (d + k + 4) * 2.0**-53)
        e_r = 2.0 * (np.sqrt(e2) + 2.0**-50)
        projected, sq_norms = projections or self.projections(X, labelled, k)
        projected = np.ascontiguousarray(projected[:, :k])
        pl_sq = np.einsum("ij,ij->i", projected, projected)
        r_l = np.sqrt(np.maximum(sq_norms - pl_sq, 0.0))
        return LocalPlan(basis, self.mean, pl_sq, r_l, np.sqrt(sq_norms),
                         projected.astype(np.float32), e_p, e_r, 0.0)

    def projections(self, X, rows, k, n_threads=1):
        """(the centred ``rows`` projected on the first ``k`` directions, their
        squared norms), ``BLOCK_ROWS`` at a time, each block on one BLAS thread and
        the blocks on ``n_threads`` threads (the same bits for any number)."""
        basis = self.directions[:k]
        projected = np.empty((len(rows), k))
        sq_norms = np.empty(len(rows))

        def block(start):
            part = slice(start, start + BLOCK_ROWS)
            centred = np.subtract(X[rows[part]], self.mean, dtype=np.float64)
            projected[part] = centred @ basis.T
            sq_norms[part] = np.einsum("ij,ij->i", centred, centred)

        with single_threaded_blas(), ThreadPoolExecutor(max(1, n_threads)) as pool:
            list(pool.map(block, range(0, len(rows), BLOCK_ROWS)))
        return projected, sq_norms


def candidate_cap(n_labelled):
    """The most candidates a row may keep before it declines (``MAX_CANDIDATES``, or
    ``MAX_SHARE`` of the labelled rows, at least 16, at most all of them)."""
    return int(min(MAX_CANDIDATES, max(16, MAX_SHARE * n_labelled), max(n_labelled, 1)))


def kept_positions(kept, counts):
    """The candidates of a block of rows, row after row: ``kept[i, :counts[i]]`` (none
    for a row that declined, ``counts[i] = -1``)."""
    return kept[np.arange(kept.shape[1])[None, :] < counts[:, None]]


def fold_candidates(X, labelled, rows, counts, anchors, parts, gamma, n_threads):
    """The exact pass over each row's candidates: ``(Reduced, done)``, ``done`` False
    (and the row's results meaningless) where ``counts`` is -1.

    ``parts``: ``(start, stop, candidates)`` covering the rows, the candidates of
    rows start .. stop - 1 one after the other (:func:`kept_positions`);
    ``anchors``: each row's labelled row of smallest bound, by which the rows are
    ordered so that neighbours share the candidates they read."""
    done = counts >= 0
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(np.where(done, counts, 0), out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int32)
    for start, stop, kept in parts:
        indices[indptr[start] : indptr[stop]] = kept
    order = np.flatnonzero(done)[np.argsort(anchors[done], kind="stable")]
    out = Reduced(np.zeros(len(rows), dtype=np.int64), np.zeros(len(rows)),
                  np.zeros(len(rows)), np.ones(len(rows)))
    _exact.exact_dense_candidates(X, labelled, rows, indptr, indices, order,
                                  window(gamma, len(labelled)), gamma, max(1, n_threads),
                                  out.nearest, out.d_min, out.d_second, out.weight_sum)
    return out, done


def evenly_spaced(n, m):
    """``min(n, m)`` positions spread evenly over ``range(n)``, ascending."""
    return np.unique(np.linspace(0, n - 1, min(n, m)).astype(np.int64))


@dataclass
class LocalPlan:
    """The projection of the labelled rows (module docstring) and its margins."""

    basis: np.ndarray  # k x d, float64
    mean: np.ndarray
    pl_sq: np.ndarray  # |p_l|^2
    r_l: np.ndarray  # residual norms
    n_l: np.ndarray  # centred norms
    projected_l: np.ndarray  # l x k, rounded to float32
    e_p: float
    e_r: float
    expected_candidates: float

    @classmethod
    def of(cls, X, labelled, basis, gamma, n_threads=1, first_pass=None):
        """The plan of least modelled cost on ``basis`` (a :class:`Basis`), or None
        when the cascade is cheaper.  The model's candidates are counted for
        ``SAMPLE_ROWS`` labelled rows against ``REFERENCE_ROWS`` of them (scaled up
        to all ``l``: an overestimate, their nearest being farther), rows that are
        not among those the bases were computed from.  Once the pilot passes, the
        projections of all labelled rows on every direction are computed once (on
        ``n_threads`` threads), for the model and the plan.  ``first_pass``: the
        cascade's first pass, a key of ``CASCADE_COST`` ("grid", "digits" or the
        dtype of its dot products; default: X's dtype)."""
        if basis is None:
            return None
        n_lab, d = len(labelled), X.shape[1]
        positions = evenly_spaced(n_lab, REFERENCE_ROWS)
        reference = labelled[positions]
        pilot = Basis(X, reference[evenly_spaced(len(reference), PILOT_ROWS)], basis.mean)
        # sample rows outside both bases (a row in a basis's span is bounded too well)
        outside = np.flatnonzero(~np.isin(reference, np.concatenate([basis.rows, pilot.rows])))
        sample = outside[evenly_spaced(len(outside), SAMPLE_ROWS)]
        if not isinstance(first_pass, str):
            first_pass = np.dtype(X.dtype if first_pass is None else first_pass)
        cascade = n_lab * d * CASCADE_COST[first_pass]
        # a pilot: a rough basis from a few rows, a few sample rows; decline when even
        # half its candidates would cost too much, before the real basis is computed
        k = min(PILOT_RANK, max(pilot.ranks))
        near = np.union1d(evenly_spaced(len(reference), PILOT_REFERENCE),
                          sample[::PILOT_STRIDE])  # positions into reference
        count = pilot.plan(X, reference[near], k).sample_candidates(
            X, reference[near], np.searchsorted(near, sample[::PILOT_STRIDE]),
            window(gamma, len(near)))
        if (k * d + 0.5 * n_lab * k + BOUND_COST * n_lab
                + EXACT_COST * 0.5 * count * n_lab / len(near) * d) > LOCAL_SHARE * cascade:
            return None
        best = None
        projected, sq_norms = basis.projections(X, labelled, max(basis.ranks), n_threads)
        for k in basis.ranks:
            count = basis.plan(X, reference, k,
                               (projected[positions], sq_norms[positions])).sample_candidates(
                X, reference, sample, window(gamma, len(reference)))
            count *= n_lab / len(reference)
            cost = k * d + 0.5 * n_lab * k + BOUND_COST * n_lab + EXACT_COST * count * d
            if best is None or cost < best[0]:
                best = (cost, k, count)
        if best[0] > LOCAL_SHARE * cascade:
            return None
        plan = basis.plan(X, labelled, best[1], (projected, sq_norms))
        plan.expected_candidates = best[2]
        return plan

    def sample_candidates(self, X, labelled, sample, width):
        """Mean number of labelled rows kept by the labelled rows ``sample`` (each
        one's own row set apart, as an unlabelled row never meets itself) with the
        window ``width`` (squared distance)."""
        counts = np.empty(len(sample), dtype=np.int64)
        anchors = np.empty(len(sample), dtype=np.int64)
        height = block_rows(len(labelled))
        for start in range(0, len(sample), height):
            part = slice(start, start + height)
            some = sample[part]
            with single_threaded_blas():
                G = self.projected_l[some] @ self.projected_l.T
            G[np.arange(len(some)), some] = -np.inf  # bound +inf: never a candidate
            kept = np.empty((len(some), len(labelled)), dtype=np.int32)
            _exact.local_candidates(X, labelled, labelled[some], G, self.pl_sq[some],
                                    self.r_l[some], self.n_l[some], self.pl_sq, self.r_l,
                                    self.n_l, self.e_p, self.e_r, width, 1, kept, counts[part],
                                    anchors[part])
        return float(np.mean(counts))

    def fold(self, X, labelled, rows, gamma, n_threads):
        """The local exact pass on ``rows``: ``(Reduced, done)``, ``done`` False for
        the rows that declined.

        First the candidates of every row (blocks of :func:`block_rows` rows on
        ``n_threads`` threads, each block's products on one BLAS thread), then the
        exact pass over them, the rows ordered by the labelled row of their smallest
        bound so that neighbours share the candidates they read."""
        n_lab = len(labelled)
        cap = candidate_cap(n_lab)
        height = block_rows(n_lab)
        counts = np.empty(len(rows), dtype=np.int64)
        anchors = np.empty(len(rows), dtype=np.int64)
        parts = {}

        def block(start):
            part = slice(start, start + height)
            G, pu_sq, n_u, r_u = self.project(X, rows[part])
            kept = np.empty((G.shape[0], cap), dtype=np.int32)
            _exact.local_candidates(X, labelled, rows[part], G, pu_sq, r_u, n_u, self.pl_sq,
                                    self.r_l, self.n_l, self.e_p, self.e_r,
                                    window(gamma, n_lab), 1, kept, counts[part],
                                    anchors[part])
            parts[start] = (start, min(start + height, len(rows)),
                            kept_positions(kept, counts[part]))

        with single_threaded_blas(), ThreadPoolExecutor(max(1, n_threads)) as pool:
            list(pool.map(block, range(0, len(rows), height)))
        return fold_candidates(X, labelled, rows, counts, anchors, parts.values(), gamma,
                               n_threads)

    def project(self, X, rows):
        """``(G, |p_u|^2, n_u, r_u)`` of ``rows``: their projected dot products with
        every labelled row (float32) and their norms (module docstring), on the
        calling thread's BLAS."""
        centred = np.subtract(X[rows], self.mean, dtype=np.float64)
        projected = centred @ self.basis.T
        G = projected.astype(np.float32) @ self.projected_l.T
        return (G, *_norms(centred, projected))


def _principal_directions(rows, k):
    """About the ``k`` leading right singular vectors of ``rows`` (m x d), as
    orthonormal rows: the eigenvectors of the rows' Gram matrix where there are few
    rows (``m <= GRAM_ROWS``: the pilot's basis), else a randomized range finder
    (fixed seed, one power iteration) and the eigenvectors of the small projected
    Gram matrix.  Any orthonormal rows make the bound valid (their distance from
    orthonormality is measured, ``Basis.plan``); how well they capture the data only
    decides how much is pruned."""
    m, d = rows.shape
    if m <= GRAM_ROWS:
        small = rows
    else:
        width = min(d, m, k + 8)
        sketch = rows @ np.random.default_rng(0).standard_normal((d, width))
        q, _ = np.linalg.qr(rows @ (rows.T @ np.linalg.qr(sketch)[0]))
        small = q.T @ rows  # width x d: the rows' span, sketched
    values, vectors = np.linalg.eigh(small @ small.T)
    top = np.argsort(values)[::-1][:k]
    floor = max(values[top[0]], 1e-300) * 1e-12  # directions the rows barely span
    directions = (vectors[:, top].T @ small) / np.sqrt(np.maximum(values[top], floor))[:, None]
    return _orthonormal_rows(directions)


def _orthonormal_rows(A):
    """The rows of ``A`` (k x d, nearly orthonormal) made orthonormal to rounding, in
    the same order: as they are where they already are (eigenvectors of a Gram
    matrix usually are), else one Cholesky QR step (k^2 d work; the triangular
    factor inverted, then one product: a triangular solve with d right-hand sides
    took 5 ms for k = 64, d = 3,072), a Householder QR where the Gram matrix is too
    ill-conditioned for it."""
    import scipy.linalg

    gram = A @ A.T
    identity = np.eye(len(A))
    if np.abs(gram - identity).max() <= 1e-12:
        return np.ascontiguousarray(A)
    try:
        lower = scipy.linalg.cholesky(gram, lower=True)
        Q = scipy.linalg.solve_triangular(lower, identity, lower=True) @ A
        if np.abs(Q @ Q.T - identity).max() <= 1e-12:
            return np.ascontiguousarray(Q)
    except np.linalg.LinAlgError:
        pass
    return np.ascontiguousarray(np.linalg.qr(A.T)[0].T)


def _norms(centred, projected):
    """(|p|^2, |x|, residual norm) per row, as the module docstring computes them."""
    p_sq = np.einsum("ij,ij->i", projected, projected)
    sq = np.einsum("ij,ij->i", centred, centred)
    return p_sq, np.sqrt(sq), np.sqrt(np.maximum(sq - p_sq, 0.0))
