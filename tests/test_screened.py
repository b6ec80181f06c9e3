"""The digit screen for float64 data (``_digits.digit_candidates``,
``_core/screened.py``): the digit bound on float64 data against exact distances,
the candidates a superset of every labelled row the exact pass folds (at the
window's edge too), the results those of the exact pass over all labelled rows
and the oracle's, the same bits for every thread count, tile and chunk, and the
data it must decline."""

import numpy as np
import pytest
from oracle import exact_sq_distances, oracle_mir, sq_distances

from mir_fast import _digits, _exact, major_influence_range
from mir_fast._core import dense, digits, grid, local, screened
from mir_fast._core.dense import DenseEngine, DenseStatistics
from mir_fast._core.local import window

needs_amx = pytest.mark.skipif(digits.ISA == 0, reason="this CPU (or process) has no AMX")

W = digits.BLOCK_ROWS
#: gamma at which the screen pays on ``clusters(rng, 1500, 96)`` with 400 labelled
#: rows (about 14 candidates a row; at 0.5, 38 of 400: its cost model declines)
GAMMA = 8.0


@pytest.fixture
def small_calls_too(monkeypatch):
    """Plan the screen for calls of any size (these data are small)."""
    monkeypatch.setattr(dense, "LOCAL_MIN_WORK", 0)


def clusters(rng, n, d, spread=0.4, scale=1.0, offset=0.0):
    """float64 rows around a few centres: a kernel local at moderate gamma."""
    centres = rng.normal(size=(10, d)) * rng.uniform(0.5, 3.0, size=d)
    X = centres[rng.integers(0, 10, n)] + spread * rng.normal(size=(n, d))
    return X * scale + offset


def labels(rng, n, n_labelled):
    y = np.full(n, -1)
    y[np.sort(rng.choice(n, size=n_labelled, replace=False))] = np.arange(n_labelled) % 3
    return y


def candidates(X, labelled, rows, gamma, n_threads=2, tile=2 * W, block=4 * W,
               slack=grid.NORM_SLACK):
    """``_digits.digit_candidates`` with the screen's margins: (counts, candidate
    lists, anchors)."""
    mean = DenseStatistics.of(X).mean
    counts = np.empty(len(rows), np.int64)
    anchors = np.empty(len(rows), np.int64)
    kept = np.empty((len(rows), len(labelled)), np.int32)
    _digits.digit_candidates(X, labelled, rows, mean, slack, window(gamma, len(labelled)),
                             screened.exact_rounding(X.shape[1]), tile, block,
                             digits.SLICE_STEPS, n_threads, counts, kept, anchors)
    return counts, [set(kept[i, :c].tolist()) for i, c in enumerate(counts)], anchors


@needs_amx
@pytest.mark.parametrize("kind", ["unit", "tiny", "huge", "far from the origin"])
@pytest.mark.parametrize("d", [1, 7, 64, 65, 300])
def test_the_digit_bound_holds_for_float64_data(rng, kind, d):
    """On float64 data (the remainders are not 0 as for float32) every row's nearest
    distance from the digit kernel is within its delta of the one from direct
    differences (whose own rounding, (d + 2) 2^-53 relative, is allowed for)."""
    scale, offset = {"unit": (1.0, 0.0), "tiny": (1e-150, 0.0), "huge": (1e150, 0.0),
                     "far from the origin": (1.0, 1e5)}[kind]
    X = clusters(rng, 260, d, scale=scale, offset=offset * scale)
    labelled, rows = np.arange(60), np.arange(60, 260)
    n, m = len(rows), len(labelled)
    out = [np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n),
           np.empty((n, 5)), np.empty(n), np.empty((m, 5)), np.empty(m)]
    _digits.fold_digits(X, labelled, rows, DenseStatistics.of(X).mean, 1.0 / d, W, 4 * W,
                        4 * W, digits.SLICE_STEPS, 2, *out)
    best, dmin, _, _, norms, sigma, norms_lab, sigma_lab = out
    delta = digits.error_bound(sigma, norms, sigma_lab, norms_lab, d)
    direct = sq_distances(X[rows], X[labelled]).min(axis=1)
    assert np.all(np.abs(dmin - direct) <= delta + 4 * (d + 2) * 2.0**-53 * direct)
    scale = (np.sqrt(norms[:, 0]) + np.sqrt(norms_lab[:, 0].max())) ** 2
    assert np.all(delta <= 2.0**-12 * scale)  # and not vacuous: three digits' precision


@needs_amx
@pytest.mark.parametrize("d", [1, 5, 64, 65, 301])
@pytest.mark.parametrize("gamma", [0.05, 1.0, 20.0])
def test_candidates_hold_every_row_within_the_window(rng, d, gamma):
    """Every labelled row whose exact distance is within the window of the nearest
    (widened by 1e-12 for the exact pass's own rounding) is a candidate, and so is
    the nearest; the candidates are few where the kernel is local."""
    X = clusters(rng, 400, d)
    labelled, rows = np.arange(150), np.arange(150, 400)
    counts, kept, anchors = candidates(X, labelled, rows, gamma)
    D = sq_distances(X[rows], X[labelled])
    w = window(gamma, len(labelled))
    for i in range(len(rows)):
        must = set(np.flatnonzero(D[i] <= D[i].min() + w * (1 + 1e-12) + 1e-12).tolist())
        assert must <= kept[i]
        assert anchors[i] in kept[i]
    if gamma == 20.0 and d >= 64:
        assert counts.mean() < 0.5 * len(labelled)


def edge_of_the_window(gamma, d=16, groups=12, per_group=11):
    """Groups far apart, each an unlabelled row, its nearest labelled row at squared
    distance 1 and labelled rows at 1 + w (1 + k 1e-13), k = -5 .. 4, in random
    directions: rows at the very edge of the window."""
    rng = np.random.default_rng(7)
    w = window(gamma, groups * per_group)
    X, labelled_rows = [], []
    for g in range(groups):
        u = rng.normal(size=d) * 0.1
        u[g % d] += 40.0 * (1 + g // d)
        X.append(u)
        for k in range(per_group):
            v = rng.normal(size=d)
            v /= np.linalg.norm(v)
            radius = 1.0 if k == 0 else np.sqrt(1.0 + w * (1.0 + (k - 6) * 1e-13))
            labelled_rows.append(u + radius * v)
    X = np.vstack(X + labelled_rows)
    return X, np.arange(groups, len(X)), np.arange(groups)


@needs_amx
def test_candidates_at_the_edge_of_the_window():
    gamma = 1.0
    X, labelled, rows = edge_of_the_window(gamma)
    counts, kept, _ = candidates(X, labelled, rows, gamma)
    exact = exact_sq_distances(X[rows], X[labelled])
    w = window(gamma, len(labelled))
    near_edge = 0
    for i, row in enumerate(exact):
        low = min(row)
        inside = {j for j, value in enumerate(row) if float(value - low) <= w * (1 + 1e-12)}
        assert inside <= kept[i]
        near_edge += sum(abs(float(value - low) - w) < 1e-11 * w for value in row)
    assert near_edge >= len(rows) * 5  # the data do probe the edge
    # and without the digits' bound (every norm scaled to 0: delta_u = 0) the
    # screen misses rows inside the window: the margin is what keeps them
    _, unbounded, _ = candidates(X, labelled, rows, gamma, slack=0.0)
    assert any(not inside <= kept_i for inside, kept_i in zip(
        ({j for j, v in enumerate(row) if float(v - min(row)) <= w * (1 + 1e-12)}
         for row in exact), unbounded))


@needs_amx
def test_the_results_are_the_exact_pass_over_all_labelled_rows(rng, small_calls_too):
    """Through the public call: every row taken by the screen (stage: exact), the
    nearest row and its distance the exact pass's bits, the weight sum within 2^-60
    plus the rounding of its sum, and the oracle's MIR."""
    X = clusters(rng, 1500, 96)
    y = labels(rng, len(X), 400)
    gamma = GAMMA
    result = major_influence_range(X, y, gamma=gamma, n_jobs=2)
    assert np.all(result.stage == result.stage.max())  # exact: the screen took them
    labelled, rows = np.flatnonzero(y >= 0), np.flatnonzero(y < 0)
    n = len(rows)
    full = [np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n)]
    _exact.exact_dense(X, labelled, rows, gamma, 2, *full)
    np.testing.assert_array_equal(result.dominant, labelled[full[0]])
    np.testing.assert_array_equal(result.distance, full[1])
    np.testing.assert_allclose(result.share, 1.0 / full[3], rtol=1e-13, atol=0)
    expected = oracle_mir(X, y, gamma)
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_allclose(result.share, expected.share, rtol=1e-12)


@needs_amx
def test_the_screen_takes_float64_rows_where_it_pays(rng, small_calls_too):
    X = clusters(rng, 1500, 96)
    labelled = np.flatnonzero(labels(rng, len(X), 400) >= 0)
    engine = DenseEngine(X)
    assert engine.screen(labelled, 1100, GAMMA) is not None
    assert engine.basis(labelled, 1100) is not None  # but it is not planned then:
    fold = engine.fold(labelled, np.setdiff1d(np.arange(len(X)), labelled), GAMMA, 0.5, 2)
    assert np.all(fold.stage == fold.stage.max())


@needs_amx
def test_the_same_bits_for_every_thread_count_tile_and_chunk(rng, small_calls_too,
                                                             monkeypatch):
    X = clusters(rng, 1500, 96)
    y = labels(rng, len(X), 400)
    results = [major_influence_range(X, y, gamma=GAMMA, n_jobs=n) for n in (1, 2)]
    monkeypatch.setattr(screened, "KEPT_BYTES", 64 * 400)  # chunks of a few rows
    monkeypatch.setattr(screened, "DISTANCE_BYTES", 8 * 400 * W)  # tiles of 16 rows
    results.append(major_influence_range(X, y, gamma=GAMMA, n_jobs=2))
    for other in results[1:]:
        np.testing.assert_array_equal(other.dominant, results[0].dominant)
        np.testing.assert_array_equal(other.share, results[0].share)  # bit for bit
    counts, _, _ = candidates(X, np.flatnonzero(y >= 0), np.flatnonzero(y < 0), GAMMA,
                                 n_threads=1, tile=W, block=W)
    counts2, _, _ = candidates(X, np.flatnonzero(y >= 0), np.flatnonzero(y < 0), GAMMA,
                                  n_threads=2, tile=4 * W, block=8 * W)
    np.testing.assert_array_equal(counts, counts2)


@needs_amx
def test_rows_with_too_many_candidates_go_through_the_cascade(rng, small_calls_too,
                                                              monkeypatch):
    X = clusters(rng, 1500, 96)
    y = labels(rng, len(X), 400)
    counts, _, _ = candidates(X, np.flatnonzero(y >= 0), np.flatnonzero(y < 0), GAMMA)
    monkeypatch.setattr(local, "MAX_SHARE", 0.0)
    monkeypatch.setattr(local, "MAX_CANDIDATES", int(np.median(counts)))
    result = major_influence_range(X, y, gamma=GAMMA, n_jobs=2)
    assert 0.2 < np.mean(result.stage < result.stage.max()) < 0.8
    expected = oracle_mir(X, y, GAMMA)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_allclose(result.share, expected.share, rtol=1e-9)


@needs_amx
def test_ties_and_duplicates(rng, small_calls_too):
    """Duplicated labelled rows: exact ties go to the lower index, as in the oracle."""
    X = clusters(rng, 1200, 64)
    X[1::7] = X[0::7][: len(X[1::7])]
    y = labels(rng, len(X), 300)
    result = major_influence_range(X, y, gamma=GAMMA, n_jobs=2)
    expected = oracle_mir(X, y, GAMMA)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_allclose(result.share, expected.share, rtol=1e-12)


@pytest.mark.parametrize("case", ["gamma too small", "float32 data", "8-bit data",
                                  "too small a call", "switched off"])
def test_the_screen_declines_where_it_cannot_pay_or_apply(rng, case, monkeypatch):
    X = clusters(rng, 1500, 96)
    labelled = np.flatnonzero(labels(rng, len(X), 400) >= 0)
    gamma, rows = GAMMA, 1100
    if case == "gamma too small":
        gamma = 1e-4  # every labelled row within the window
    elif case == "float32 data":
        X = X.astype(np.float32)
    elif case == "8-bit data":
        X = np.round(np.clip(X - X.min(), 0, None) / X.max() * 255) / 255
    elif case == "too small a call":
        rows = 10
    else:
        monkeypatch.setattr(screened, "ENABLED", False)
    if case != "too small a call":
        monkeypatch.setattr(dense, "LOCAL_MIN_WORK", 0)
    assert DenseEngine(X).screen(labelled, rows, gamma) is None


@needs_amx
def test_blocks_on_separate_engines_give_the_bits_of_one_call(rng, small_calls_too):
    """As a Dask worker or a chunked call folds its blocks: each block on an engine of
    its own, with the whole call's context, plans the same screen and gets the
    bits of one call."""
    X = clusters(rng, 1500, 96)
    y = labels(rng, len(X), 400)
    labelled, rows = np.flatnonzero(y >= 0), np.flatnonzero(y < 0)
    whole = DenseEngine(X).fold(labelled, rows, GAMMA, 0.5, 2)
    context = DenseEngine(X).context(labelled, rows)
    parts = [DenseEngine(X).fold(labelled, rows[start:start + 256], GAMMA, 0.5, 1, **context)
             for start in range(0, len(rows), 256)]
    assert np.all(whole.stage == whole.stage.max())
    for name in ("nearest", "d_min", "weight_sum", "stage"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, name) for p in parts]),
                                      getattr(whole, name))


def test_the_kernels_refuse_arrays_of_the_wrong_shape(rng):
    X = clusters(rng, 100, 8)
    sigma, norms = np.ones(10), np.ones((10, 5))
    with pytest.raises(ValueError, match="one row per row"):
        _digits.error_bounds(sigma, norms[:9], sigma, norms, 8, 1.0, np.empty(10))
    with pytest.raises(ValueError, match="5 columns"):
        _digits.error_bounds(sigma, norms[:, :4].copy(), sigma, norms, 8, 1.0, np.empty(10))
    with pytest.raises(ValueError, match="at least one labelled row"):
        _digits.error_bounds(sigma, norms, sigma[:0], norms[:0], 8, 1.0, np.empty(10))
    if digits.ISA == 1:
        rows, mean = np.arange(10), DenseStatistics.of(X).mean
        with pytest.raises(ValueError, match="one row per row"):
            _digits.digit_candidates(X, np.arange(10, 100), rows, mean, 1.0, 1.0, 0.0, W, W,
                                     digits.SLICE_STEPS, 1, np.empty(9, np.int64),
                                     np.empty((10, 90), np.int32), np.empty(10, np.int64))
