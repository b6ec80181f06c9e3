"""The dense kernel against the oracle: values, ties, precision, threads, memory."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import exact_sq_distances, oracle_mir, oracle_mir_exact, sq_distances

from mir_fast import _exact, major_influence_range
from mir_fast._core import grid
from mir_fast._core._certificate import FAST_EXP_ERROR, distance_error_bound, uncertain_rows
from mir_fast._core._tiling import float32_slice
from mir_fast._core.dense import DenseStatistics, dot_product_pass
from mir_fast._openmp import openmp_enabled

THREADS = [1, 2, None]


def random_problem(rng, n=300, d=7, labelled=0.25, offset=0.0, dtype=np.float64):
    X = (rng.normal(size=(n, d)) + offset).astype(dtype)
    y = rng.integers(0, 3, size=n)
    y[rng.random(n) > labelled] = -1
    y[0] = 1
    return X, y


def assert_matches_oracle(result, expected, share_rtol):
    np.testing.assert_array_equal(result.labelled, expected.labelled)
    np.testing.assert_array_equal(result.unlabelled, expected.unlabelled)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_allclose(result.share, expected.share, rtol=share_rtol)
    assert result.scores.dtype == np.int64 and result.dominant.dtype == np.int64
    assert result.share.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_jobs", THREADS)
@pytest.mark.parametrize("gamma", [0.4, 1.5, 8.0])
def test_matches_oracle(rng, dtype, n_jobs, gamma):
    X, y = random_problem(rng, dtype=dtype)
    result = major_influence_range(X, y, gamma=gamma, n_jobs=n_jobs)
    expected = oracle_mir(X, y, gamma)
    assert_matches_oracle(result, expected, share_rtol=1e-4 if dtype == np.float32 else 1e-9)
    assert expected.scores.sum() > 0  # the case is not vacuous


@pytest.mark.parametrize("shape", [(3000, 40), (1200, 300)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_tiles_match_oracle(rng, shape, dtype):
    """Enough rows and labelled inputs for several tiles in both directions."""
    X, y = random_problem(rng, n=shape[0], d=shape[1], labelled=0.4, dtype=dtype)
    gamma = 2.0 / shape[1]
    result = major_influence_range(X, y, gamma=gamma, n_jobs=2)
    assert_matches_oracle(result, oracle_mir(X, y, gamma), share_rtol=1e-3)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.9])
def test_threshold(rng, threshold):
    X, y = random_problem(rng)
    result = major_influence_range(X, y, gamma=0.5, threshold=threshold)
    assert_matches_oracle(result, oracle_mir(X, y, 0.5, threshold), share_rtol=1e-9)


def test_exact_ties_go_to_lower_index_and_half_share_does_not_count():
    # Labelled inputs at 0, 1, 9 and 0 again (a duplicate).  gamma makes the one at
    # 9 vanish exactly next to the others.  u = 0.5 is equidistant from 0, 1 and the
    # duplicate 0: share exactly 1/3; u = 0 is split by the two 0s: share exactly 1/2.
    X = np.array([[0.0], [1.0], [9.0], [0.0], [0.5], [0.0], [1.0]])
    y = np.array([0, 1, 0, 1, -1, -1, -1])
    result = major_influence_range(X, y, gamma=40.0)
    np.testing.assert_array_equal(result.dominant, [0, 0, 1])
    np.testing.assert_array_equal(result.share, [1.0 / 3.0, 0.5, 1.0])
    np.testing.assert_array_equal(result.scores, [0, 1, 0, 0])
    at_third = major_influence_range(X, y, gamma=40.0, threshold=1.0 / 3.0)
    np.testing.assert_array_equal(at_third.scores, [1, 1, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_symmetric_ties_in_decimal_data(rng, dtype):
    """Points mirrored about u tie exactly although their terms come in another order."""
    base = np.round(rng.normal(size=(40, 6)), 1)
    mirrored = base[:, ::-1]  # u = 0 below: same distance, terms reversed
    X = np.vstack([base, mirrored, np.zeros((3, 6)), base[:5] + 0.1]).astype(dtype)
    y = np.r_[np.zeros(40), np.ones(40), -np.ones(8)].astype(int)
    expected = oracle_mir_exact(X, y, 0.7)
    result = major_influence_range(X, y, gamma=0.7)
    assert_matches_oracle(result, expected, share_rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_share_never_underflows():
    """Rows far from every labelled input keep an exact share (the paper's code drops them)."""
    X = np.array([[0.0], [1.0], [1000.0], [-1000.0]])
    y = np.array([0, 1, -1, -1])
    result = major_influence_range(X, y, gamma=10.0)
    np.testing.assert_array_equal(result.dominant, [1, 0])
    np.testing.assert_array_equal(result.share, [1.0, 1.0])
    np.testing.assert_array_equal(result.scores, [1, 1])


def test_no_unlabelled_input_gives_zero_scores(rng):
    X = rng.normal(size=(10, 3))
    result = major_influence_range(X, np.arange(10), gamma=1.0)
    np.testing.assert_array_equal(result.scores, np.zeros(10))
    assert result.dominant.shape == (0,) and result.share.shape == (0,)


def test_single_labelled_input_dominates_everything(rng):
    X = rng.normal(size=(50, 4))
    y = np.full(50, -1)
    y[7] = 3
    result = major_influence_range(X, y, gamma=1.0)
    np.testing.assert_array_equal(result.scores, [49])
    np.testing.assert_array_equal(result.dominant, np.full(49, 7))
    np.testing.assert_array_equal(result.share, np.ones(49))


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e5])
def test_float32_gives_the_float64_answer(rng, offset):
    """float32 input: same dominant and scores as the float64 computation on its values."""
    n, d = 2000, 30
    centres = rng.normal(size=(40, d))
    X = (centres[rng.integers(0, 40, n)] + 0.05 * rng.normal(size=(n, d)) + offset)
    X32 = X.astype(np.float32)
    X32[1000:1100] = X32[:100]  # exact duplicates of labelled rows: ties
    y = np.where(rng.random(n) < 0.3, 0, -1)
    y[:100] = 1
    gamma = 2.0
    r32 = major_influence_range(X32, y, gamma=gamma)
    r64 = major_influence_range(X32.astype(np.float64), y, gamma=gamma)
    expected = oracle_mir(X32.astype(np.float64), y, gamma)
    for result in (r32, r64):
        np.testing.assert_array_equal(result.dominant, expected.dominant)
        np.testing.assert_array_equal(result.scores, expected.scores)
    if offset >= 1e5:
        assert (r32.stage > 0).any()  # the bound did send rows to a finer pass


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_for_every_thread_count(rng, dtype):
    X, y = random_problem(rng, n=5000, d=50, dtype=dtype)
    results = [major_influence_range(X, y, gamma=0.05, n_jobs=n) for n in (1, 2, 3, None, -1)]
    for other in results[1:]:
        np.testing.assert_array_equal(other.scores, results[0].scores)
        np.testing.assert_array_equal(other.dominant, results[0].dominant)
        np.testing.assert_array_equal(other.share, results[0].share)  # bit for bit


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X.tolist(),
        lambda X: np.asfortranarray(X),
        lambda X: np.repeat(X, 2, axis=1)[:, ::2],
        lambda X: np.round(X * 10).astype(np.int64),
    ],
    ids=["list", "fortran", "strided", "int64"],
)
def test_array_likes(rng, make):
    X, y = random_problem(rng, n=200, d=5)
    X_in = make(X)
    expected = oracle_mir(np.asarray(X_in, dtype=np.float64), y, 0.5)
    assert_matches_oracle(major_influence_range(X_in, y, gamma=0.5), expected, 1e-9)


def test_read_only_input(rng):
    X, y = random_problem(rng, n=200, d=5, dtype=np.float32)
    X.setflags(write=False)
    y.setflags(write=False)
    assert_matches_oracle(major_influence_range(X, y, gamma=0.5), oracle_mir(X, y, 0.5), 1e-4)


@st.composite
def integer_problems(draw):
    """Small integer grids: many exact ties and duplicates, exact in every precision."""
    n = draw(st.integers(2, 40))
    d = draw(st.integers(1, 5))
    values = draw(st.lists(st.integers(-3, 3), min_size=n * d, max_size=n * d))
    scale = draw(st.sampled_from([1.0, 0.25, 8.0]))
    X = np.array(values, dtype=np.float64).reshape(n, d) * scale
    labelled = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    y = np.where(labelled, 1, -1)
    y[draw(st.integers(0, n - 1))] = 0
    gamma = draw(st.sampled_from([0.01, 0.3, 1.0, 7.0, 60.0]))
    threshold = draw(st.sampled_from([0.5, 0.3, 0.75, 1.0 / 3.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return X.astype(dtype), y, gamma, threshold


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(integer_problems())
def test_property_integer_grids(problem):
    X, y, gamma, threshold = problem
    result = major_influence_range(X, y, gamma=gamma, threshold=threshold, n_jobs=2)
    expected = oracle_mir(X, y, gamma, threshold)
    assert_matches_oracle(result, expected, share_rtol=1e-5 if X.dtype == np.float32 else 1e-12)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 120),
    d=st.integers(1, 20),
    fraction=st.floats(0.05, 0.95),
    gamma=st.floats(1e-3, 50.0),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_continuous(n, d, fraction, gamma, dtype, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    y = np.where(rng.random(n) < fraction, 1, -1)
    y[0] = 0
    result = major_influence_range(X, y, gamma=gamma)
    expected = oracle_mir(X, y, gamma)
    assert_matches_oracle(result, expected, share_rtol=1e-3 if dtype == np.float32 else 1e-9)


def test_memory_is_a_few_mb_per_thread(rng):
    """Besides the O(n) outputs, the call allocates per-thread tiles and (the packed
    path) one packed copy of the labelled rows, at most ``packed.PACK_BYTES``."""
    from mir_fast._core import packed

    n, d = 20000, 400
    X = rng.random((n, d))
    y = np.where(rng.random(n) < 0.25, 0, -1)
    major_influence_range(X[:100], y[:100], gamma=0.1)  # warm up imports and caches
    tracemalloc.start()
    major_influence_range(X, y, gamma=0.1, n_jobs=2)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_row = 12 * 8  # a handful of O(n) int64/float64 arrays and the row states
    per_thread = 7e6  # one unlabelled tile, one labelled tile and their product
    labelled_copy = min((y != -1).sum() * d * 8, packed.PACK_BYTES) if packed.ISA else 0
    assert peak < n * per_row + 2 * per_thread + labelled_copy, f"peak {peak / 1e6:.1f} MB"
    # nothing close to a copy of X, let alone U x L
    assert peak < labelled_copy + 0.1 * X.nbytes


def test_build_matches_expectation():
    """CI builds twice: with OpenMP, and serially (MIR_FAST_EXPECT_SERIAL=1)."""
    import os

    from mir_fast._threads import effective_n_threads

    if os.environ.get("MIR_FAST_EXPECT_SERIAL") == "1":
        assert not openmp_enabled()
        assert effective_n_threads(4) == 1
    else:
        assert openmp_enabled()
        assert effective_n_threads(2) == 2


@pytest.mark.parametrize("d", [7, 32, 100])
def test_exact_pass_float32_is_its_float64_copy_bit_for_bit(rng, d):
    """The exact pass converts a float32 row to double once and reuses it: every
    output is the bits of the same pass on the float64 copy (the feature count
    below, at and above the sum's lane count)."""
    X32 = rng.normal(size=(600, d)).astype(np.float32)
    X32[500:520] = X32[:20]  # duplicates of labelled rows: exact ties
    labelled, rows = np.arange(0, 600, 3), np.setdiff1d(np.arange(600), np.arange(0, 600, 3))
    outputs = []
    for X in (X32, X32.astype(np.float64)):
        out = (np.empty(len(rows), np.int64), np.empty(len(rows)), np.empty(len(rows)),
               np.empty(len(rows)))
        _exact.exact_dense(X, labelled, rows, 0.5, 2, *out)
        outputs.append(out)
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a, b)
    y = np.full(600, -1)
    y[labelled] = np.arange(len(labelled)) % 2
    oracle = oracle_mir(X32.astype(np.float64), y, 0.5)
    np.testing.assert_array_equal(labelled[outputs[0][0]], oracle.dominant)
    np.testing.assert_allclose(1.0 / outputs[0][3], oracle.share, rtol=1e-12)


@pytest.mark.parametrize("kind", ["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_pass_nearest_is_the_true_one_across_the_rounding(rng, dtype, kind):
    """Dense and CSR: each unlabelled row has two labelled rows: duplicates; mirror
    images (the same coordinates in reverse order, an exact tie whose double sums
    round differently) with one coordinate moved 1-3 units in the last place (gaps far
    below the double sum's rounding); and relative gaps of 1e-15 .. 1e-6. Near ties
    within the rounding are recomputed in double-double, a nearest row alone beyond
    it keeps its double distance: every nearest row is the one of exact (rational)
    arithmetic (the lower index on exact ties), every distance within 1e-14 of the
    exact one."""
    n_pairs, d = 240, 100
    U = np.zeros((n_pairs, d), dtype=dtype)
    U[:, 0] = 1000.0 * np.arange(1, n_pairs + 1)  # far apart: each row's pair is nearest
    V = rng.normal(size=(n_pairs, d)).astype(dtype)
    V[:, 0] = 0.0  # so that U + V is exact
    mirror = np.concatenate([[0], np.arange(d - 1, 0, -1)])
    gaps = np.logspace(-15, -6, n_pairs - 120).astype(dtype)
    near = U + V
    far = near.copy()  # rows 0-19: duplicates
    far[20:120] = U[20:120] + V[20:120][:, mirror]
    for i in range(20, 120):  # 1-3 units in the last place away from the row
        away = np.copysign(np.inf, far[i, 1]).astype(dtype)
        for _ in range(1 + i % 3):
            far[i, 1] = np.nextafter(far[i, 1], away)
    far[120:] = U[120:] + V[120:] * (1 + gaps[:, None])
    flip = rng.random(n_pairs) < 0.5  # the farther row first half of the time
    first = np.where(flip[:, None], far, near)
    second = np.where(flip[:, None], near, far)
    X = np.vstack([first, second, U])
    labelled = np.arange(2 * n_pairs)
    rows = np.arange(2 * n_pairs, 3 * n_pairs)
    out = (np.empty(n_pairs, np.int64), np.empty(n_pairs), np.empty(n_pairs),
           np.empty(n_pairs))
    if kind == "dense":
        _exact.exact_dense(X, labelled, rows, 1.0, 2, *out)
    else:
        A = sp.csr_matrix(X)
        _exact.exact_csr(A.data, A.indices, A.indptr, labelled, rows, 1.0, 2, *out)
    expected_nearest, expected_distance, tie = [], [], []
    for i, row in enumerate(rows):
        to_first, to_second = exact_sq_distances(X[[row]], X[[i, n_pairs + i]])[0]
        expected_nearest.append(i if to_first <= to_second else n_pairs + i)
        expected_distance.append(float(min(to_first, to_second)))
        tie.append(to_first == to_second)
    np.testing.assert_array_equal(out[0], expected_nearest)
    np.testing.assert_allclose(out[1], expected_distance, rtol=1e-14)
    assert (out[0] >= n_pairs).any() and (out[0] < n_pairs).any()
    assert 20 <= sum(tie) < n_pairs
    np.testing.assert_array_equal(out[3][tie], 2.0)  # an exact tie: two weights of 1


@pytest.mark.parametrize("d", [40, 700])
def test_near_ties_at_the_float32_bound_are_settled_exactly(rng, d):
    """Each unlabelled row has two labelled rows whose distances differ by a
    relative gap spread over 1e-9 .. 3, so that some gaps fall just outside the
    float32 pass's error bound (certified there) and some inside (sent on): every
    nearest row and score is the oracle's (exact distances of the float32 values),
    and the float32 pass did certify rows with gaps within four times its bound."""
    n_pairs = 400
    U = rng.normal(size=(n_pairs, d))
    V = rng.normal(size=(n_pairs, d))
    V *= 2.0 / np.linalg.norm(V, axis=1, keepdims=True)
    W = rng.normal(size=(n_pairs, d))
    W -= (W * V).sum(axis=1, keepdims=True) * V / 4.0  # W orthogonal to V
    W *= 2.0 / np.linalg.norm(W, axis=1, keepdims=True)
    gaps = np.logspace(-9, 0.5, n_pairs)
    # ||u - l1||^2 = 4, ||u - l2||^2 = 4 (1 + gap): l2 on a sphere a little larger
    L1 = U + V
    L2 = U + W * np.sqrt(1.0 + gaps)[:, None]
    X = np.vstack([U, L1, L2, rng.normal(size=(200, d))]).astype(np.float32)
    y = np.full(len(X), -1)
    y[n_pairs:] = np.arange(len(X) - n_pairs) % 3
    # a threshold away from the near-ties' share of about 1/2: the tie test decides
    result = major_influence_range(X, y, gamma=0.05, threshold=0.3)
    expected = oracle_mir(X.astype(np.float64), y, 0.05, threshold=0.3)  # ties settled exactly
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)

    X64 = X.astype(np.float64)
    labelled = np.flatnonzero(y != -1)
    centred = X64 - X64.mean(axis=0)
    sq = (centred**2).sum(axis=1)
    delta = distance_error_bound(sq[:n_pairs], sq[labelled].max(), float32_slice(d),
                                 np.float32, norm_terms=d)
    D = np.sort(sq_distances(X64[:n_pairs], X64[labelled]), axis=1)
    true_gap = D[:, 1] - D[:, 0]
    edge = (result.stage == 0) & (true_gap < 4.0 * delta)
    assert edge.sum() >= 5, "no row certified close to the float32 bound"
    assert ((result.stage > 0) & (true_gap > 0)).any(), "no near tie sent on"


@pytest.mark.parametrize("scale", [1e-19, 1e-21, 1e-23])
def test_float32_products_below_the_normal_range_are_bounded(rng, monkeypatch, scale):
    """float32 data so small that their products fall below float32's normal range
    (where rounding errs by up to 2^-150 absolute, not relative): every row's
    distances stay within the bound, and every row the pass certifies has the true
    nearest.  Without the bound's underflow term, hundreds of wrong rows were
    certified at 1e-22 (a CPU without VNNI, where no grid pass takes such data
    first, returned them)."""
    n, d, n_lab = 3000, 40, 700
    centres = rng.normal(size=(30, d))
    X = ((centres[rng.integers(0, 30, n)] + 0.3 * rng.normal(size=(n, d))) * scale)
    X = X.astype(np.float32)
    labelled, rows = np.arange(n_lab), np.arange(n_lab, n)
    gamma = 0.05 / scale**2
    float32_pass = dot_product_pass(X, labelled, rows, DenseStatistics.of(X),
                                    np.dtype(np.float32), gamma, 2)
    reduced = float32_pass.kernel(np.arange(len(rows)), None)
    D = sq_distances(X[rows], X[labelled])
    true_min = D.min(axis=1)
    assert np.all(np.abs(reduced.d_min - true_min) <= reduced.error_bound)
    unsure = uncertain_rows(reduced.d_second - reduced.d_min, reduced.weight_sum,
                            reduced.error_bound, gamma, 0.5, n_lab, FAST_EXP_ERROR)
    certified = ~unsure
    np.testing.assert_array_equal(reduced.nearest[certified], D.argmin(axis=1)[certified])

    monkeypatch.setattr(grid, "ENABLED", False)  # as on a CPU without VNNI
    y = np.full(n, -1)
    y[:n_lab] = rng.integers(0, 2, n_lab)
    result = major_influence_range(X, y, gamma=gamma)
    expected = oracle_mir(X.astype(np.float64), y, gamma)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
