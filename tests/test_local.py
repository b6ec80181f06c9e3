"""The dense exact pass made local (``mir_fast/_core/local.py``): its lower bounds
against exact distances, its results against the oracle and the full exact pass,
and where it must decline."""

import numpy as np
import pytest
from oracle import exact_sq_distances, oracle_mir, sq_distances

from mir_fast import _exact, major_influence_range
from mir_fast._core import dense, local, screened
from mir_fast._core.dense import DenseEngine, DenseStatistics
from mir_fast._core.local import Basis, LocalPlan


@pytest.fixture(autouse=True)
def projection_path(monkeypatch):
    """These tests are the projection's: the digit screen (``test_screened.py``),
    which takes float64 data first where the CPU has AMX, stays off."""
    monkeypatch.setattr(screened, "ENABLED", False)


@pytest.fixture
def small_calls_too(monkeypatch):
    """Plan the local path for calls of any size, at any modelled cost short of the
    candidates' (these test data are small: the plan's fixed costs exceed the packed
    cascade's, which ``test_the_path_declines_where_it_cannot_pay`` leaves alone)."""
    monkeypatch.setattr(dense, "LOCAL_MIN_WORK", 0)
    monkeypatch.setattr(local, "LOCAL_SHARE", 4.0)


def manifold(n, d, dim, noise, seed=1, offset=0.0):
    """Points near a ``dim``-dimensional subspace of R^d: a local kernel at large gamma."""
    rng = np.random.default_rng(seed)
    Z = rng.random((n, dim)) * 4.0
    A = rng.normal(size=(dim, d)) / np.sqrt(d)
    return Z @ A + noise * rng.normal(size=(n, d)) / np.sqrt(d) + offset


def split(n, n_labelled, seed=0):
    labelled = np.sort(np.random.default_rng(seed).choice(n, n_labelled, replace=False))
    return labelled, np.setdiff1d(np.arange(n), labelled)


def labels_for(n, labelled):
    y = np.full(n, -1)
    y[labelled] = np.arange(len(labelled)) % 3
    return y


def bounds(plan, X, rows):
    G, pu_sq, n_u, r_u = plan.project(X, rows)
    out = np.empty(G.shape)
    _exact.local_bounds(G, pu_sq, r_u, n_u, plan.pl_sq, plan.r_l, plan.n_l, plan.e_p,
                        plan.e_r, out)
    return out


def adversarial(kind):
    """Data on which the bound is tight or its rounding matters."""
    if kind == "in a subspace":  # no residual: the bound is the projected distance
        return manifold(1200, 128, 6, 0.0)
    if kind == "far from the origin":  # centring and cancellation
        return manifold(1200, 128, 6, 0.05, offset=1e4)
    if kind == "duplicates":  # distance 0 and exact ties
        X = manifold(1200, 128, 6, 0.05)
        X[1::7] = X[0::7][: len(X[1::7])]
        return X
    return manifold(1200, 128, 6, 0.05).astype(np.float32)


@pytest.mark.parametrize("kind", ["in a subspace", "far from the origin", "duplicates",
                                  "float32"])
def test_bounds_never_exceed_the_exact_distances(kind):
    X = adversarial(kind)
    labelled, unlabelled = split(len(X), 600)
    basis = Basis.of(X, labelled, DenseStatistics.of(X).mean)
    rows = unlabelled[:150]
    D = sq_distances(X[rows], X[labelled])
    tightest = 0.0
    for k in basis.ranks:
        lb = bounds(basis.plan(X, labelled, k), X, rows)
        assert np.all(lb >= 0.0)
        # pairs the float distances' rounding cannot settle: in exact arithmetic
        close = lb > D * (1.0 - 4 * (X.shape[1] + 2) * 2.0**-53)
        assert close.sum() < 50
        for i, j in zip(*np.nonzero(close)):
            exact = exact_sq_distances(X[[rows[i]]], X[[labelled[j]]])[0][0]
            assert lb[i, j] <= exact, (k, i, j)
        assert np.all(lb[~close] <= D[~close])
        tightest = max(tightest, float(np.median(lb / np.maximum(D, 1e-300))))
    if kind == "in a subspace":
        assert tightest > 0.999  # the bound is the distance itself, up to its margins


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("threshold", [0.5, 0.99])
def test_local_path_matches_the_oracle_for_every_thread_count(dtype, threshold,
                                                             small_calls_too):
    X = manifold(2400, 256, 4, 0.1).astype(dtype)
    labelled, unlabelled = split(len(X), 600)
    y = labels_for(len(X), labelled)
    gamma = 50.0
    basis = Basis.of(X, labelled, DenseStatistics.of(X).mean)
    assert LocalPlan.of(X, labelled, basis, gamma) is not None  # the path is taken
    results = [major_influence_range(X, y, gamma=gamma, threshold=threshold, n_jobs=n)
               for n in (1, 2)]
    expected = oracle_mir(X, y, gamma, threshold)
    last_stage = results[0].stage.max()
    assert np.all(results[0].stage == last_stage)  # every row exact, through the path
    np.testing.assert_array_equal(results[0].dominant, expected.dominant)
    np.testing.assert_array_equal(results[0].scores, expected.scores)
    np.testing.assert_allclose(results[0].share, expected.share, rtol=1e-12)
    assert 0 < expected.scores.sum() < len(unlabelled)
    for other in results[1:]:
        np.testing.assert_array_equal(other.share, results[0].share)
        np.testing.assert_array_equal(other.dominant, results[0].dominant)


def test_local_path_is_the_exact_pass_on_the_rows_that_matter():
    """Nearest and distance bit for bit those of the full exact pass; the weight
    sum within 2^-60 plus the rounding of a sum of l terms (module docstring)."""
    X = manifold(2400, 256, 4, 0.1)
    labelled, unlabelled = split(len(X), 600)
    gamma = 50.0
    basis = Basis.of(X, labelled, DenseStatistics.of(X).mean)
    plan = LocalPlan.of(X, labelled, basis, gamma)
    reduced, done = plan.fold(X, labelled, unlabelled, gamma, 2)
    assert done.all()
    best, d_min = np.empty(len(unlabelled), np.int64), np.empty(len(unlabelled))
    d_second, weight_sum = np.empty(len(unlabelled)), np.empty(len(unlabelled))
    _exact.exact_dense(X, labelled, unlabelled, gamma, 2, best, d_min, d_second, weight_sum)
    np.testing.assert_array_equal(reduced.nearest, best)
    np.testing.assert_array_equal(reduced.d_min, d_min)
    np.testing.assert_allclose(reduced.weight_sum, weight_sum, rtol=len(labelled) * 2.0**-53,
                               atol=0)


def test_rows_keeping_too_many_labelled_rows_go_through_the_cascade(monkeypatch,
                                                                   small_calls_too):
    X = manifold(2400, 256, 4, 0.1)
    labelled, unlabelled = split(len(X), 600)
    y = labels_for(len(X), labelled)
    gamma = 50.0
    monkeypatch.setattr(local, "MAX_SHARE", 0.0)
    monkeypatch.setattr(local, "MAX_CANDIDATES", 12)  # about half the rows decline
    result = major_influence_range(X, y, gamma=gamma, n_jobs=2)
    exact_stage = result.stage.max()
    assert 0.1 < np.mean(result.stage < exact_stage) < 0.9
    expected = oracle_mir(X, y, gamma)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_allclose(result.share, expected.share, rtol=1e-9)


@pytest.mark.parametrize("case", ["gamma too small", "too few features", "too few labelled"])
def test_the_path_declines_where_it_cannot_pay(case):
    X = manifold(2400, 256, 4, 0.1)
    labelled, _ = split(len(X), 600)
    gamma = 50.0
    if case == "gamma too small":
        gamma = 0.5  # every labelled row within the window
    elif case == "too few features":
        X = X[:, :48]
    else:
        labelled = labelled[:100]
    basis = Basis.of(X, labelled, DenseStatistics.of(X).mean)
    assert LocalPlan.of(X, labelled, basis, gamma) is None


def test_small_calls_do_not_plan_the_path():
    X = manifold(2400, 256, 4, 0.1)
    labelled, unlabelled = split(len(X), 600)
    engine = DenseEngine(X)
    assert engine.basis(labelled, len(unlabelled)) is None
    result = major_influence_range(X, labels_for(len(X), labelled), gamma=50.0)
    assert np.all(result.stage == 0)  # the float64 pass settled every row


def test_the_threshold_of_work_weighs_the_cascades_first_pass(monkeypatch):
    """The same call is planned for float64 data and not for their 8-bit copy, whose
    grid cascade costs 0.3 of the float64 one (``local.CASCADE_COST``)."""
    codes = np.random.default_rng(3).integers(0, 256, size=(2400, 256))
    labelled, unlabelled = split(2400, 600)
    work = len(unlabelled) * len(labelled) * 256
    monkeypatch.setattr(dense, "LOCAL_MIN_WORK", 0.5 * work)
    continuous = codes + np.random.default_rng(4).random(codes.shape)
    assert dense.first_pass(continuous, DenseStatistics.of(continuous)) == np.float64
    assert DenseEngine(continuous).basis(labelled, len(unlabelled)) is not None
    pixels = (codes / 255.0).astype(np.float32)
    expected = "grid" if dense.grid_scale(DenseStatistics.of(pixels), 256) else np.float32
    assert dense.first_pass(pixels, DenseStatistics.of(pixels)) == expected
    planned = local.CASCADE_COST[expected if expected == "grid" else np.dtype(expected)] >= 0.5
    assert (DenseEngine(pixels).basis(labelled, len(unlabelled)) is not None) == planned
