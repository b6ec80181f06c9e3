"""The grid pass (``src/mir_grid.h``, ``_grid.fold_grid``, ``_core/grid.py``) against
the oracle: its products exact integers, its results the same bits for every thread
count, tile height, slice and labelled chunk and for float32 data and their float64
copy, its error bound tight enough to certify rows near it and wide enough to send
on every row whose order the residuals can change, and the data it must decline."""

import numpy as np
import pytest
from oracle import oracle_mir

from mir_fast import _grid, major_influence_range
from mir_fast._core import dense, grid
from mir_fast._core.dense import DenseStatistics
from mir_fast.datasets import clustered_pixels

pytestmark = pytest.mark.skipif(grid.ISA == 0, reason="this CPU has no AVX-512 VNNI")

MR, NR, _ = _grid.register_block(grid.ISA)
ISAS = [isa for isa in (1, 2) if isa <= grid.ISA]


def pixels(rng, n, d, dtype=np.float32):
    """8-bit codes and the pixels / 255 they stand for, in ``dtype``."""
    codes = rng.integers(0, 256, size=(n, d))
    return codes, codes.astype(dtype) / dtype(255)


def labels(rng, n, labelled):
    y = np.full(n, -1)
    chosen = rng.choice(n, size=labelled, replace=False)
    y[chosen] = np.arange(labelled) % 3
    return y


def fold_grid(X, labelled, rows, scale, gamma, n_threads=2, tile=None, block=grid.BLOCK,
              chunk=None, slice_groups=grid.SLICE_GROUPS, isa=grid.ISA):
    """``_grid.fold_grid`` with its outputs allocated and returned."""
    n, m = len(rows), len(labelled)
    out = [np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n),
           np.empty(n, np.int64), np.empty(n), np.empty(m, np.int64), np.empty(m)]
    tile = tile or 8 * _grid.register_block(isa)[0]
    chunk = chunk or -(-m // block) * block
    _grid.fold_grid(X, labelled, rows, scale, gamma, tile, block, chunk, slice_groups, isa,
                    n_threads, *out)
    return out


@pytest.mark.parametrize("d", [1, 3, 5, 64, 301])
@pytest.mark.parametrize("n_labelled", [1, 33, 300])
def test_products_are_the_exact_integers(rng, d, n_labelled):
    """Distances are fl(s^2) times the codes' integer squared distance (the bits),
    the nearest row the first of the least, the second distance the second least,
    the weight sum exp(-gamma (d - d_min)) summed; the codes' norms and residuals
    those of numpy; every feature count (groups of four padded) and panel filling."""
    n = 250
    codes, X = pixels(rng, n_labelled + n, d)
    labelled = np.arange(n_labelled, dtype=np.int64)
    rows = np.arange(n_labelled, n_labelled + n, dtype=np.int64)
    gamma = 2.0 / d
    best, dmin, dsecond, ssum, sq_rows, res_rows, sq_lab, res_lab = fold_grid(
        X, labelled, rows, 1 / 255, gamma)
    K = codes.astype(np.int64)
    D = ((K[rows, None, :] - K[None, labelled, :]) ** 2).sum(axis=2)
    s2 = (1 / 255) * (1 / 255)
    np.testing.assert_array_equal(best, D.argmin(axis=1))
    np.testing.assert_array_equal(dmin, s2 * D.min(axis=1).astype(np.float64))
    if n_labelled > 1:
        np.testing.assert_array_equal(dsecond, s2 * np.sort(D, axis=1)[:, 1].astype(float))
    weights = np.exp(-gamma * s2 * (D - D.min(axis=1, keepdims=True)))
    np.testing.assert_allclose(ssum, weights.sum(axis=1), rtol=1e-7)
    np.testing.assert_array_equal(sq_rows, (K[rows] ** 2).sum(axis=1))
    np.testing.assert_array_equal(sq_lab, (K[labelled] ** 2).sum(axis=1))
    # numpy's K / 255 is itself rounded (2^-53): squares of residuals within d 2^-100
    residual = X.astype(np.float64) - K / 255
    tolerance = dict(rtol=1e-6, atol=d * 2.0**-100)
    np.testing.assert_allclose(res_rows, (residual[rows] ** 2).sum(axis=1), **tolerance)
    np.testing.assert_allclose(res_lab, (residual[labelled] ** 2).sum(axis=1), **tolerance)


def test_the_bits_do_not_depend_on_threads_tiles_slices_or_chunks(rng):
    """(The fold's grid of ``BLOCK`` labelled rows is fixed: its weight sums follow it.)"""
    codes, X = pixels(rng, 1300, 201)
    labelled = np.sort(rng.choice(1300, size=300, replace=False)).astype(np.int64)
    rows = np.setdiff1d(np.arange(1300), labelled).astype(np.int64)
    reference = fold_grid(X, labelled, rows, 1 / 255, 0.01, n_threads=1)
    settings = [dict(n_threads=2), dict(n_threads=3, tile=MR), dict(tile=6 * MR),
                dict(slice_groups=1), dict(slice_groups=7), dict(chunk=grid.BLOCK)]
    settings += [dict(isa=isa, tile=4 * _grid.register_block(isa)[0]) for isa in ISAS]
    for settings in settings:
        got = fold_grid(X, labelled, rows, 1 / 255, 0.01, **settings)
        for expected, value in zip(reference, got):
            np.testing.assert_array_equal(value, expected, err_msg=str(settings))


def test_float32_data_and_their_float64_copy_give_the_same_products(rng):
    codes, X = pixels(rng, 600, 97)
    labelled = np.arange(100, dtype=np.int64)
    rows = np.arange(100, 600, dtype=np.int64)
    single = fold_grid(X, labelled, rows, 1 / 255, 0.1)
    double = fold_grid(X.astype(np.float64), labelled, rows, 1 / 255, 0.1)
    for a, b in zip(single[:5], double[:5]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1 / 255, 1.0])
def test_results_are_the_oracles(rng, dtype, scale):
    """Clustered 8-bit images (pixels / 255, or the raw values): the grid pass runs,
    certifies nearly every row, and every answer is the oracle's."""
    X = clustered_pixels(1500, 150, n_clusters=12, noise=0.1, random_state=3, levels=256)
    X = (X.astype(np.float64) * (255 * scale)).astype(dtype)
    assert grid.grid_scale(DenseStatistics.of(X), X.shape[1]) == scale
    y = labels(rng, len(X), 400)
    gamma = 0.2 / (255 * scale) ** 2
    result = major_influence_range(X, y, gamma=gamma)
    expected = oracle_mir(X, y, gamma)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_allclose(result.share, expected.share, rtol=1e-6)
    assert np.mean(result.stage == 0) > 0.95


def test_the_same_bits_for_every_thread_count_and_for_the_float64_copy(rng):
    X = clustered_pixels(2000, 120, n_clusters=10, noise=0.1, random_state=5, levels=256)
    y = labels(rng, len(X), 500)
    one, two = (major_influence_range(X, y, gamma=20.0, n_jobs=n) for n in (1, 2))
    for name in ("scores", "dominant", "share", "distance", "stage"):
        np.testing.assert_array_equal(getattr(two, name), getattr(one, name))
    # the float64 copy's residuals are smaller, so its bound may certify more rows;
    # the rows both certified in the grid pass have the same bits
    copy = major_influence_range(X.astype(np.float64), y, gamma=20.0)
    np.testing.assert_array_equal(copy.scores, one.scores)
    both = (one.stage == 0) & (copy.stage == 0)
    assert both.mean() > 0.9
    for name in ("dominant", "share", "distance"):
        np.testing.assert_array_equal(getattr(copy, name)[both], getattr(one, name)[both])


def near_ties_moved_by_residuals(rng, n_pairs=240, d=200):
    """Unlabelled rows ``u`` on the grid of 1 / 255 plus a residual ``t v`` and two
    labelled rows (exactly on the grid) whose codes are 2,500 and 2,501 from ``u``'s:
    the codes say the first is nearer; the residual, along ``v`` (unit, spread over
    100 features, at most 10 / 100 of its length in any), narrows the true gap
    ``s^2 - 2 s t ||k_2 - k_1||`` and beyond ``t_flip = s / (2 ||k_2 - k_1||)``
    reverses it.  ``t`` runs over 0.001 .. 1.5 ``t_flip`` (every value within 1e-3 of
    the grid's step: the pass runs)."""
    s = 1 / 255
    base = rng.integers(20, 236, size=(n_pairs, d))
    first = base.copy()
    first[:, :100] += 5
    second = base.copy()
    second[:, :100] -= 5
    second[:, 100] += 1
    step = (second - first).astype(np.float64)  # norm about 100
    flip = s / (2 * np.linalg.norm(step, axis=1))
    t = flip * np.logspace(-3, np.log10(1.5), n_pairs)
    t = t[np.abs(t / flip - 1) > 1e-3]  # leave the oracle's own rounding out
    n_pairs = len(t)
    v = step[:n_pairs] / np.linalg.norm(step[:n_pairs], axis=1, keepdims=True)
    U = base[:n_pairs] * s + t[:, None] * v
    far = rng.integers(0, 256, size=(60, d)) * s
    X = np.vstack([U, first[:n_pairs] * s, second[:n_pairs] * s, far])
    y = np.full(len(X), -1)
    y[n_pairs:] = np.arange(len(X) - n_pairs) % 3
    return X, y, t / flip


def test_near_ties_across_the_bound_are_settled_exactly(rng, monkeypatch):
    """Every answer is the oracle's: the rows whose order the residuals reverse were
    sent on; some rows were certified by the grid pass with a true gap within four
    times its bound; and with the residual terms cut from the bound the same data
    give wrong answers (the test can fail)."""
    X, y, t = near_ties_moved_by_residuals(rng)
    n_pairs = len(t)
    assert grid.grid_scale(DenseStatistics.of(X), X.shape[1]) == 1 / 255
    expected = oracle_mir(X, y, 1.0, threshold=0.3)
    result = major_influence_range(X, y, gamma=1.0, threshold=0.3)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    reversed_ = t > 1
    assert reversed_.sum() >= 10 and (result.stage[reversed_] > 0).all()

    statistics = DenseStatistics.of(X)
    labelled = np.flatnonzero(y != -1)
    rows = np.flatnonzero(y == -1)
    out = fold_grid(X, labelled, rows, 1 / 255, 1.0)
    delta = grid.error_bound(1 / 255, out[4], out[5], out[6].max(), out[7].max())
    s = 1 / 255
    true_gap = s * s - 2 * s * (t * s / 2)  # s^2 (1 - t / t_flip)
    edge = (result.stage == 0)[:n_pairs] & (true_gap < 4 * delta[:n_pairs])
    assert edge.sum() >= 5, "no row certified close to the grid pass's bound"
    assert statistics.grid_misfits[0] <= grid.MISFIT_TOLERANCE

    def rounding_only(scale, sq_codes, residual_sq, max_sq_codes, max_residual_sq):
        a = scale * (np.sqrt(sq_codes.astype(float)) + np.sqrt(float(max_sq_codes)))
        return 2.0**-51 * a * a

    monkeypatch.setattr(grid, "error_bound", rounding_only)
    wrong = major_influence_range(X, y, gamma=1.0, threshold=0.3)
    assert (wrong.dominant != expected.dominant).sum() >= 10


def test_values_off_the_grid_within_the_tolerance_are_still_exact(rng):
    """Residuals as large as the tolerance lets through make the bound wide: the
    rows go on to the float64 pass, and the answers stay the oracle's."""
    codes, X = pixels(rng, 1200, 60, dtype=np.float64)
    X += rng.uniform(-0.9, 0.9, size=X.shape) * grid.MISFIT_TOLERANCE / 255
    assert grid.grid_scale(DenseStatistics.of(X), X.shape[1]) == 1 / 255
    y = labels(rng, len(X), 300)
    result = major_influence_range(X, y, gamma=0.5)
    expected = oracle_mir(X, y, 0.5)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)


@pytest.mark.parametrize("make", [
    lambda rng: clustered_pixels(500, 30, random_state=0),  # continuous
    lambda rng: pixels(rng, 500, 30)[1] * np.float32(1.5),  # beyond 255 s, not 255
    lambda rng: pixels(rng, 500, 30)[1] - np.float32(0.5),  # negative values
    lambda rng: np.vstack([pixels(rng, 1500, 30)[1], [[0.5] * 30]]),  # one row off
    lambda rng: clustered_pixels(500, 30, random_state=0) * 1e-9,  # all below half a step
])
def test_data_off_every_grid_decline_the_pass(rng, make, monkeypatch):
    X = np.ascontiguousarray(make(rng), dtype=np.float32)
    assert grid.grid_scale(DenseStatistics.of(X), X.shape[1]) is None
    called = []
    monkeypatch.setattr(dense, "grid_pass", lambda *a: called.append(a))
    y = labels(rng, len(X), 120)
    result = major_influence_range(X, y, gamma=1.0)
    assert not called
    expected = oracle_mir(X, y, 1.0)
    np.testing.assert_array_equal(result.scores, expected.scores)


def test_without_the_pass_the_float_passes_give_the_same_answers(rng, monkeypatch):
    X = clustered_pixels(1500, 100, n_clusters=10, noise=0.1, random_state=1, levels=256)
    y = labels(rng, len(X), 300)
    with_grid = major_influence_range(X, y, gamma=5.0)
    monkeypatch.setattr(grid, "ENABLED", False)
    without = major_influence_range(X, y, gamma=5.0)
    np.testing.assert_array_equal(without.dominant, with_grid.dominant)
    np.testing.assert_array_equal(without.scores, with_grid.scores)
    # the float32 pass's shares carry its wider bound; the grid pass's are the oracle's
    expected = oracle_mir(X, y, 5.0)
    np.testing.assert_allclose(with_grid.share, expected.share, rtol=1e-6)
    np.testing.assert_allclose(without.share, expected.share, rtol=1e-3)


def test_too_many_features_decline_and_the_kernel_refuses(rng):
    on_grid = DenseStatistics(np.zeros(1), 1.0, np.array([0.0, np.inf]))
    assert grid.grid_scale(on_grid, grid.MAX_FEATURES + 1) is None
    X = np.zeros((4, grid.MAX_FEATURES + 1), dtype=np.float32)
    with pytest.raises(ValueError, match="at most"):
        fold_grid(X, np.arange(2, dtype=np.int64), np.arange(2, 4, dtype=np.int64), 1.0, 1.0)


def test_clustered_pixels_levels(rng):
    X = clustered_pixels(50, 20, random_state=0, levels=256)
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, np.rint(X * np.float32(255)) / np.float32(255))
    assert len(np.unique(clustered_pixels(50, 20, random_state=0, levels=3))) <= 3
    for bad in (1, 2.5):
        with pytest.raises(ValueError, match="levels"):
            clustered_pixels(5, 2, levels=bad)
