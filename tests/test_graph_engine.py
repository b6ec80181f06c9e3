"""The graph engine's compiled passes against plain numpy/scipy from the definitions:
the sparse form's extraction (kept set, degrees, dropped mass), its product, and
products restricted to the columns facing non-zero label rows."""

import numpy as np
import pytest
import scipy.sparse as sp

from mir_fast._core.graph import DROP_RATIO, RBFGraph
from mir_fast._core.propagation import sparse_product
from mir_fast.datasets import clustered_pixels


def _affinity(X, gamma, diagonal):
    X = (X.toarray() if sp.issparse(X) else np.asarray(X)).astype(np.float64)
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    W = np.exp(-gamma * D)
    np.fill_diagonal(W, diagonal)
    return W


def _sparse_form_oracle(W, scale):
    n = len(W)
    degrees = W.sum(axis=1)
    M = W * scale[None, :] if scale is not None else W.copy()
    off = M.copy()
    np.fill_diagonal(off, 0.0)
    keep = (off >= DROP_RATIO * off.max(axis=1, keepdims=True)) & (off > 0)
    keep[np.arange(n), np.arange(n)] = True
    dropped = np.where(keep, 0.0, M).sum(axis=1)
    unscaled_dropped = np.where(keep, 0.0, W).sum(axis=1)
    return np.where(keep, M, 0.0), keep, degrees, dropped, unscaled_dropped


@pytest.mark.parametrize("kind", ["dense, float32 screen", "dense, float64", "csr"])
@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_form_matches_the_definition(kind, scaled, threads, dtype):
    X = clustered_pixels(300, 20, random_state=3).astype(dtype)
    gamma = 40.0  # most entries far below 2^-60 of their row's largest
    X = sp.csr_matrix(X) if kind == "csr" else X
    graph = RBFGraph(X, gamma, n_threads=threads)
    screened = kind == "dense, float32 screen"
    assert (graph.screen is not None) == (kind != "csr")
    if not screened:
        graph.screen = None
    graph.block_rows = 37  # several blocks with a ragged end, in both passes
    graph.pass_rows = 37 if screened else graph.block_rows
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 2.0, 300) if scaled else None
    diagonal = 0.0 if scaled else 1.0
    kept, degrees, dropped = graph.sparse_form(diagonal, scale)
    values, keep, want_degrees, want_dropped, unscaled_dropped = _sparse_form_oracle(
        _affinity(X, gamma, diagonal), scale)
    assert 0.001 < keep.mean() < 0.5  # the test data really drop entries
    got = kept.toarray()
    assert np.array_equal(got != 0, keep & (values != 0))
    np.testing.assert_allclose(got, values, rtol=1e-12, atol=0)
    if not screened:
        np.testing.assert_allclose(degrees, want_degrees, rtol=1e-12)
        np.testing.assert_allclose(dropped, want_dropped, rtol=1e-10, atol=1e-300)
        return
    # the screen works from X and its mean: no centred float64 copy of X was made
    assert graph._rows is None
    # the screen: entries it rules out are bounded above in the dropped mass (within
    # a factor 2 and the float32 slack) and left out of the degrees
    assert np.all(degrees <= want_degrees * (1 + 1e-12))
    assert np.all(want_degrees - degrees <= 1e-12 * want_degrees + unscaled_dropped)
    assert np.all(dropped >= want_dropped * (1 - 1e-10))
    assert np.all(dropped <= 2.5 * want_dropped + 1e-300)
    assert np.any(dropped > want_dropped * (1 + 1e-6))  # the bound really was used


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_sparse_product_matches_scipy_and_every_thread_count(threads):
    rng = np.random.default_rng(1)
    K = sp.random(500, 500, density=0.03, random_state=2, format="csr")
    F = rng.random((500, 7))
    F[rng.random(500) < 0.5] = 0.0  # zero rows are skipped
    left = rng.uniform(0.1, 3.0, 500)
    out, sums = sparse_product(K, F, left, threads)
    want = (K @ F) * left[:, None]
    np.testing.assert_allclose(out, want, rtol=1e-14, atol=0)
    np.testing.assert_allclose(sums, want.sum(axis=1), rtol=1e-13)
    serial, _ = sparse_product(K, F, left, 1)
    assert np.array_equal(out, serial)  # bit-identical across thread counts


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("diagonal", [0.0, 1.0])
def test_products_skip_columns_facing_zero_rows_exactly(sparse, diagonal):
    X = clustered_pixels(200, 15, random_state=5)
    X = sp.csr_matrix(X) if sparse else X
    graph = RBFGraph(X, 2.0)
    F = np.zeros((200, 3))
    facing = np.array([0, 3, 17, 18, 150, 199])  # a few non-zero rows: the restricted path
    F[facing] = np.random.default_rng(4).random((len(facing), 3))
    W = _affinity(X, 2.0, diagonal)
    rows = np.array([0, 5, 17, 100, 199])
    np.testing.assert_allclose(graph.streamed_product(F, diagonal), W @ F, rtol=1e-12)
    np.testing.assert_allclose(graph.streamed_product(F, diagonal, rows=rows), W[rows] @ F,
                               rtol=1e-12)
    block = graph.affinity(rows, diagonal, columns=facing)
    np.testing.assert_allclose(block, W[np.ix_(rows, facing)], rtol=1e-12)


def test_wide_products_leave_out_only_terms_below_the_bound():
    from mir_fast._core import graph as graph_module

    X = clustered_pixels(400, 10, random_state=7)
    rng = np.random.default_rng(8)
    F = rng.random((400, 64)) * (rng.random((400, 1)) < 0.3)  # wide, with zero rows
    W = _affinity(X, 30.0, 0.0)
    mass = F.sum(axis=1)
    got = graph_module.significant_product(W.copy(), F, mass)
    want = W @ F
    totals = W @ mass
    assert np.all(np.abs(got - want) <= 2.0**-50 * totals[:, None])
    kept = W * mass >= graph_module.NEGLIGIBLE / 400 * totals[:, None]
    assert kept.mean() < graph_module.SPARSE_TERMS  # the selective path ran
    assert not np.array_equal(got, want) or kept.all()
    # and through the graph, with spreading's column scale
    scale = rng.uniform(0.5, 2.0, 400)
    rows = np.arange(0, 400, 7)
    graph = RBFGraph(X, 30.0)
    got = graph.streamed_product(F, 0.0, rows=rows, column_scale=scale)
    want = W[rows] @ (F * scale[:, None])
    assert np.all(np.abs(got - want) <= 2.0**-50 * want.sum(axis=1, keepdims=True))


def test_replace_rows_matches_a_dense_replacement():
    from mir_fast._core.propagation import replace_rows

    rng = np.random.default_rng(4)
    K = sp.random(50, 40, density=0.2, random_state=5, format="csr")
    rows = np.array([7, 0, 49, 23])  # any order, first and last rows included
    new = sp.random(4, 40, density=0.5, random_state=6, format="csr")
    new.data[:] = rng.random(new.nnz) + 1.0
    split = new.indptr[2]  # in two parts, as the blocks of a recomputation come
    parts = [(rows[:2], np.diff(new.indptr)[:2], new.indices[:split].astype(np.int32),
              new.data[:split]),
             (rows[2:], np.diff(new.indptr)[2:], new.indices[split:].astype(np.int32),
              new.data[split:])]
    got = replace_rows(K, parts)
    want = K.toarray()
    want[rows] = new.toarray()
    np.testing.assert_array_equal(got.toarray(), want)
    assert got.has_canonical_format or got.has_sorted_indices


@pytest.mark.parametrize("kind", ["dense, screened", "dense, screen declined", "csr"])
def test_deepened_rows_keep_what_the_certificate_needs_and_their_exact_dropped_mass(kind):
    """A row the certificate rejects while F is non-zero on every row is stored
    again with its entries down to tau_i (propagation's module docstring): from its
    whole affinity row, exactly those entries and the exact sum of the rest; through
    the float32 screen, every entry that may reach tau_i (computed from a lower
    bound of the row's total: a superset), exact, and an upper bound of the rest.
    The next product passes the certificate."""
    from mir_fast._core.graph import CERTIFY_RATIO
    from mir_fast._core.propagation import DEPTH_MARGIN, GraphOperator

    X = clustered_pixels(300, 20, random_state=2)
    if kind == "csr":
        X = sp.csr_matrix(np.where(X > np.median(X), X, 0.0))
    gamma = 40.0
    operator = GraphOperator(RBFGraph(X, gamma, 2), "spreading", mode="sparse")
    operator.graph.pass_rows = 16  # several blocks of rows through the screen
    if kind == "dense, screen declined":
        operator.graph.screen.MAX_CANDIDATES = 0.0
    rng = np.random.default_rng(0)
    F = rng.random((300, 3)) * np.where(rng.random((300, 1)) < 0.5, 1.0, 1e-6)
    before_kept, before_dropped = operator.kept.copy(), operator.dropped.copy()
    operator.apply(F)
    deepened = np.flatnonzero(operator.deepened)
    assert len(deepened) > 0
    screened = kind == "dense, screened"
    assert (operator.screened_rows == len(deepened)) if screened else operator.screened_rows == 0
    W = _affinity(X, gamma, 0.0)
    D0 = W.sum(axis=1)
    M = W / np.sqrt(D0)[None, :]
    stored = operator.kept.toarray()
    mass = F.sum(axis=1)
    for i in deepened:
        tau = CERTIFY_RATIO * (M[i] @ mass) / (DEPTH_MARGIN * mass.max() * 300)
        keep = (M[i] >= tau) & (M[i] > 0)
        keep[i] = True
        rest = np.where(stored[i] != 0, 0.0, M[i])
        rest[i] = 0.0
        if screened:
            assert np.all(stored[i][keep & (M[i] != 0)] != 0)
            assert np.all(rest < tau)
            assert rest.sum() * (1 - 1e-10) <= operator.dropped[i] <= 2.0 * 300 * tau
        else:
            np.testing.assert_array_equal(stored[i] != 0, keep & (M[i] != 0))
            np.testing.assert_allclose(operator.dropped[i], rest.sum(), rtol=1e-9,
                                       atol=1e-300)
        nonzero = stored[i] != 0
        np.testing.assert_allclose(stored[i][nonzero], M[i][nonzero], rtol=1e-12)
        assert operator.dropped[i] < before_dropped[i]
    untouched = np.setdiff1d(np.arange(300), deepened)
    np.testing.assert_array_equal(operator.kept[untouched].toarray(),
                                  before_kept[untouched].toarray())
    # the next product with the same F recomputes none of the deepened rows
    recomputed = operator.recomputed_rows
    product = operator.apply(F)
    assert operator.recomputed_rows == recomputed
    exact = (M @ F) / np.sqrt(D0)[:, None]
    assert np.all(np.abs(product - exact).sum(axis=1)
                  <= 2.0**-40 * exact.sum(axis=1))
    # a new propagation starts from the sparse form as built, unchanged
    operator.forget_deepened()
    assert not operator.deepened.any()
    np.testing.assert_array_equal(operator.kept.toarray(), before_kept.toarray())
    np.testing.assert_array_equal(operator.dropped, before_dropped)


def _concentrated_rows(n, m, rng):
    """Non-negative rows whose mass sits on a few columns, the rest spread over
    many orders of magnitude (as the unit responses of a local graph), some zero."""
    F = rng.random((n, m)) * 2.0 ** -rng.integers(0, 600, size=(n, m))
    F[rng.random(n) < 0.2] = 0.0
    return F


@pytest.mark.parametrize("group", [None, 4])
@pytest.mark.parametrize("threads", [1, 2])
def test_significant_rows_keep_the_entries_of_the_definition(group, threads):
    from mir_fast import _graph

    rng = np.random.default_rng(3)
    F = _concentrated_rows(300, 48, rng)
    ratio = 2.0**-52 / 48
    indptr, indices, data = _graph.significant_rows(F, group or 48, ratio, F.size, threads)
    vectors = F.reshape(300, -1, group or 48)
    threshold = ratio * vectors.sum(axis=2, keepdims=True)
    keep = ((vectors >= threshold) & (vectors > 0)).reshape(300, 48)
    want = sp.csr_matrix(np.where(keep, F, 0.0))
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(indices, want.indices)
    np.testing.assert_array_equal(data, want.data)
    assert 0 < len(data) < keep.size / 2
    assert _graph.significant_rows(F, group or 48, ratio, len(data) - 1, threads) is None


@pytest.mark.parametrize("group", [None, 8])
@pytest.mark.parametrize("threads", [1, 2])
def test_wide_sparse_products_leave_out_at_most_negligible_of_each_vector(group, threads):
    from mir_fast._core.graph import NEGLIGIBLE

    rng = np.random.default_rng(5)
    K = sp.random(400, 400, density=0.05, random_state=6, format="csr")
    F = _concentrated_rows(400, 48, rng)
    left = rng.uniform(0.1, 3.0, 400)
    out, sums = sparse_product(K, F, left, threads, group=group)
    vectors = F.reshape(400, -1, group or 48)
    kept = ((vectors >= NEGLIGIBLE / 48 * vectors.sum(axis=2, keepdims=True))
            & (vectors > 0)).reshape(400, 48)
    assert 0.02 < kept.mean() < 0.25  # the sparse path runs
    np.testing.assert_allclose(out, (K @ np.where(kept, F, 0.0)) * left[:, None],
                               rtol=1e-13, atol=0)
    want = (K @ F) * left[:, None]
    left_out = (K @ np.where(kept, 0.0, F)) * left[:, None]
    assert np.all(left_out.reshape(400, -1, group or 48).sum(axis=2)
                  <= NEGLIGIBLE * want.reshape(400, -1, group or 48).sum(axis=2))
    np.testing.assert_allclose(sums, out.sum(axis=1), rtol=1e-13)
    serial, _ = sparse_product(K, F, left, 1, group=group)
    assert np.array_equal(out, serial)  # bit-identical across thread counts
    exact, _ = sparse_product(K, F, left, threads, leave_out=False)
    np.testing.assert_allclose(exact, want, rtol=1e-13, atol=0)


def test_a_declined_screen_falls_back_to_float64_block_by_block():
    """The screen's blocks are taller than the float64 ones; when the screen
    declines a block, its rows are computed in float64 ``block_rows`` at a time,
    with the result of the float64 pass (up to the rounding of other GEMM shapes)."""
    X = clustered_pixels(300, 20, random_state=3)
    screened = RBFGraph(X, 40.0, n_threads=2)
    screened.block_rows, screened.pass_rows = 37, 90
    screened.screen.MAX_CANDIDATES = 0.0  # every block declined
    plain = RBFGraph(X, 40.0, n_threads=2)
    plain.screen = None
    for got, want in zip(screened.sparse_form(1.0), plain.sparse_form(1.0)):
        if sp.issparse(got):
            got, want = got.toarray(), want.toarray()
            np.testing.assert_array_equal(got != 0, want != 0)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_down_to_their_floor_match_the_definition(scaled, threads, dtype):
    """``rows_down_to``: every entry of at least the row's floor is stored, exact,
    with the diagonal; the dropped mass bounds the rest from above (within the
    screen's factor) and each left-out entry is below the floor."""
    X = clustered_pixels(300, 20, random_state=4).astype(dtype)
    graph = RBFGraph(X, 40.0, n_threads=threads)
    graph.pass_rows = 23  # several blocks with a ragged end
    check_rows_down_to(graph, X, scaled, n_rows=70, depths=(60, 120))


def check_rows_down_to(graph, X, scaled, n_rows, depths):
    """Deepen ``n_rows`` rows of ``graph`` (on X) to floors ``2^-depths`` (a uniform
    draw in that range) below their largest off-diagonal entry and check the
    stored rows against the definition."""
    n = len(X)
    rng = np.random.default_rng(5)
    scale = rng.uniform(0.5, 2.0, n) if scaled else None
    diagonal = 0.0 if scaled else 1.0
    M = _affinity(X, graph.gamma, diagonal) * (scale[None, :] if scaled else 1.0)
    rows = np.sort(rng.choice(n, n_rows, replace=False))
    off = M[rows].copy()
    off[np.arange(len(rows)), rows] = 0.0
    floors = off.max(axis=1) * 2.0 ** -rng.uniform(*depths, len(rows))
    parts, declined = graph.rows_down_to(rows, floors, diagonal, scale)
    assert len(declined) == 0
    np.testing.assert_array_equal(np.concatenate([part[0] for part in parts]), rows)
    stored = np.zeros((len(rows), n))
    at = 0
    for part_rows, counts, indices, values, _ in parts:
        for q, count in enumerate(counts):
            stored[at + q, indices[:count]] = values[:count]
            indices, values = indices[count:], values[count:]
        at += len(part_rows)
    dropped = np.concatenate([part[4] for part in parts])
    must = (M[rows] >= floors[:, None]) & (M[rows] > 0)
    assert np.all(stored[must] != 0) and must.sum() > 2 * len(rows)
    np.testing.assert_allclose(stored[stored != 0], M[rows][stored != 0], rtol=1e-11)
    rest = np.where(stored != 0, 0.0, M[rows])
    rest[np.arange(len(rows)), rows] = 0.0
    assert np.all(rest < floors[:, None])
    assert np.all(dropped >= rest.sum(axis=1) * (1 - 1e-10))
    assert np.all(dropped <= 2.0 * n * floors * (1 + 1e-9))
    assert (stored != 0).mean() < 0.5  # the screen really left entries out
    assert graph._rows is None  # no centred float64 copy of X was needed
