"""The sparse form's screens (``mir_fast/_core/screens.py``): the projected screen
against the definition and against the float32 screen, bit for bit; the pass order;
the screened products of the certificate's recomputed rows; the cost model's choice;
and the victims on the projected screen against scikit-learn."""

import numpy as np
import pytest
import scipy.sparse as sp
from test_graph_engine import _affinity, _sparse_form_oracle, check_rows_down_to
from test_local import manifold
from test_semi_supervised import assert_same_fit

from mir_fast._core import screens
from mir_fast._core.graph import DROP_RATIO, NEGLIGIBLE, RBFGraph
from mir_fast.datasets import clustered_pixels

GAMMA = 20.0  # 1-6% of the entries kept on these data


def data(kind, dtype=np.float64):
    """Data on which the projection's bound is loose, tight, or its rounding matters."""
    if kind == "clustered":
        X = clustered_pixels(600, 64, random_state=3)
    elif kind == "in a subspace":  # no residual: the bound is the projected distance
        X = manifold(600, 64, 6, 0.0)
    elif kind == "far from the origin":  # centring and cancellation
        X = manifold(600, 64, 6, 0.05, offset=1e3)
    else:  # duplicates: distance 0 and exact ties
        X = manifold(600, 64, 6, 0.05)
        X[1::7] = X[0::7][: len(X[1::7])]
    return X.astype(dtype)


KINDS = ["clustered", "in a subspace", "far from the origin", "duplicates"]


def graph_with(X, screen, threads=1, pass_rows=None):
    """A graph on the named screen that never declines a block (a declined block
    goes through the float64 pass, whose GEMM rounds otherwise)."""
    graph = RBFGraph(X, GAMMA, n_threads=threads, screen=screen)
    assert graph.screen.name.startswith(screen)
    graph.screen.MAX_CANDIDATES = 1.0
    if pass_rows:
        graph.pass_rows = pass_rows
    return graph


def csr_arrays(K):
    return K.indptr, K.indices, K.data


# float32 data far from the origin keep too few digits of their differences to test
CASES = [(kind, dtype) for kind in KINDS for dtype in (np.float32, np.float64)
         if (kind, dtype) != ("far from the origin", np.float32)]


@pytest.mark.parametrize("kind, dtype", CASES)
@pytest.mark.parametrize("scaled", [False, True])
def test_projected_screen_keeps_the_entries_of_the_definition(kind, dtype, scaled):
    X = data(kind, dtype)
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 2.0, len(X)) if scaled else None
    diagonal = 0.0 if scaled else 1.0
    projected = graph_with(X, "projected", threads=2, pass_rows=37)
    kept, degrees, dropped = projected.sparse_form(diagonal, scale)
    values, keep, want_degrees, want_dropped, unscaled_dropped = _sparse_form_oracle(
        _affinity(X, GAMMA, diagonal), scale)
    assert 0.001 < keep.mean() < 0.2
    got = kept.toarray()
    assert np.array_equal(got != 0, keep & (values != 0))
    np.testing.assert_allclose(got, values, rtol=1e-11, atol=0)
    # entries the screen rules out: bounded above in the dropped mass, each below
    # 2^-60 of the row's largest (within the bound's factor 2), left out of the degrees
    assert np.all(degrees <= want_degrees * (1 + 1e-12))
    assert np.all(want_degrees - degrees <= 1e-12 * want_degrees + unscaled_dropped)
    assert np.all(dropped >= want_dropped * (1 - 1e-10))
    off = np.where(np.eye(len(X), dtype=bool), 0.0, values if scaled else _affinity(
        X, GAMMA, diagonal))
    assert np.all(dropped <= 2.0 * len(X) * DROP_RATIO * off.max(axis=1) * (1 + 1e-9))
    # the float32 screen keeps the same entries with the same bits
    float32 = graph_with(X, "float32", threads=1, pass_rows=64)
    for a, b in zip(csr_arrays(kept), csr_arrays(float32.sparse_form(diagonal, scale)[0])):
        np.testing.assert_array_equal(a, b)
    assert projected._rows is None  # no centred float64 copy of X was made


@pytest.mark.parametrize("kind", ["clustered", "duplicates"])
def test_the_projected_pass_gives_the_same_bits_for_every_thread_count_and_block(kind):
    """The pass takes the rows in the screen's locality order, in blocks; every row
    is computed alone, so neither the threads nor the blocks change a bit."""
    X = data(kind)
    results = []
    for threads, pass_rows in [(1, 600), (2, 37), (3, 64)]:
        graph = graph_with(X, "projected", threads, pass_rows)
        kept, degrees, dropped = graph.sparse_form(1.0)
        results.append((*csr_arrays(kept), degrees, dropped, graph.degrees(1.0)))
    order = graph.screen.order
    assert sorted(order) == list(range(len(X))) and not np.array_equal(order, np.arange(len(X)))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(results[0][3], results[0][5])  # degrees alone: same pass


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_down_to_their_floor_through_the_projected_screen(scaled, dtype):
    """``rows_down_to`` with the projected screen: every entry of at least the row's
    floor is stored, exact, with the diagonal; the dropped mass bounds the rest."""
    X = data("clustered", dtype)
    graph = graph_with(X, "projected", threads=2, pass_rows=23)
    check_rows_down_to(graph, X, scaled, n_rows=90, depths=(60, 90))
    assert graph._rows is None


@pytest.mark.parametrize("screen", ["float32", "projected"])
@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("width", [3, 40])
def test_screened_rows_against_a_few_columns_leave_out_only_negligible_terms(screen, scaled,
                                                                            width):
    """The certificate's recomputed rows when F is non-zero on a few rows only (the
    first products of a propagation): through the screen, every term of at least
    ``NEGLIGIBLE / m`` of the row's largest is formed, so each row is within
    ``NEGLIGIBLE`` of the exact product (plus rounding), whatever F's width."""
    X = data("clustered")
    n = len(X)
    graph = graph_with(X, screen, threads=2)
    rng = np.random.default_rng(2)
    columns = np.sort(rng.choice(n, 60, replace=False))
    F = np.zeros((n, width))
    F[columns] = rng.random((60, width)) * 2.0 ** -rng.integers(0, 40, (60, 1))
    scale = rng.uniform(0.5, 2.0, n) if scaled else None
    rows = np.sort(rng.choice(n, 200, replace=False))
    calls = []
    original = screens.ProjectedScreen.kept if screen == "projected" else screens.Float32Screen.kept

    def counting(self, *args, **kwargs):
        part = original(self, *args, **kwargs)
        calls.append(part is not None and kwargs.get("keep_candidates"))
        return part

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(graph.screen), "kept", counting)
        got = graph.streamed_product(F, 1.0, rows=rows, column_scale=scale)
    assert calls and all(calls)  # the screened path ran
    M = _affinity(X, GAMMA, 1.0)[rows] * (scale[None, :] if scaled else 1.0)
    exact = M @ F
    assert np.all(np.abs(got - exact) <= (NEGLIGIBLE + 1e-12) * exact.sum(axis=1,
                                                                          keepdims=True))
    terms = M[:, columns] * F[columns].sum(axis=1)[None, :]
    assert np.mean(terms < NEGLIGIBLE / 60 * terms.max(axis=1, keepdims=True)) > 0.3


def test_a_declined_screen_forms_the_recomputed_rows_in_float64():
    X = data("clustered")
    graph = graph_with(X, "projected")
    graph.screen.MAX_CANDIDATES = 0.0
    F = np.zeros((len(X), 2))
    F[::20] = 1.0
    rows = np.arange(0, 600, 3)
    exact = _affinity(X, GAMMA, 1.0)[rows] @ F
    np.testing.assert_allclose(graph.streamed_product(F, 1.0, rows=rows), exact, rtol=1e-11)


def test_the_cost_model_takes_the_projection_where_the_kernel_is_local(monkeypatch):
    """Local data at a large gamma: the projected screen; the same data at a small
    gamma (most entries kept), few features, or too few rows to sample: the float32
    one."""
    X = manifold(2400, 512, 6, 0.05)
    assert isinstance(RBFGraph(X, 40.0).screen, screens.ProjectedScreen)
    assert isinstance(RBFGraph(X, 0.05).screen, screens.Float32Screen)
    # the bounds cost about as much as a product of 70 + k features
    assert isinstance(RBFGraph(X[:, :128], 40.0).screen, screens.Float32Screen)
    assert isinstance(RBFGraph(X[:, :48], 40.0).screen, screens.Float32Screen)
    assert isinstance(RBFGraph(X[:1500], 40.0).screen, screens.Float32Screen)
    monkeypatch.setattr(screens, "PROJECTED_SHARE", 0.0)
    assert isinstance(RBFGraph(X, 40.0).screen, screens.Float32Screen)


@pytest.fixture
def projected_screen_always(monkeypatch):
    """Small data sampled as big ones, every dense graph on the projected screen."""
    monkeypatch.setattr(screens, "REFERENCE_ROWS", 128)
    monkeypatch.setattr(screens, "PROJECTED_SHARE", np.inf)


@pytest.mark.parametrize("victim", ["propagation", "spreading"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_victims_on_the_projected_screen_equal_scikit_learn(victim, dtype,
                                                               projected_screen_always):
    from sklearn import semi_supervised as reference

    from mir_fast import semi_supervised

    X = data("clustered", dtype)
    rng = np.random.default_rng(4)
    y_true = rng.integers(0, 3, len(X))
    y = np.where(rng.random(len(X)) < 0.1, y_true, -1)
    name = "LabelPropagation" if victim == "propagation" else "LabelSpreading"
    settings = dict(gamma=GAMMA, max_iter=50)
    ours = getattr(semi_supervised, name)(**settings).fit(X, y)
    assert ours.graph_["screen"].startswith("projected")
    # scikit-learn's affinity of float32 data is float32: its oracle is the float64 copy
    theirs = getattr(reference, name)(kernel="rbf", **settings).fit(X.astype(np.float64), y)
    assert_same_fit(theirs, ours)  # distributions to 1e-9 of each row's largest


def test_flip_impact_on_the_projected_screen_equals_separate_refits(projected_screen_always):
    from sklearn.semi_supervised import LabelPropagation

    from mir_fast import flip_impact

    X = data("clustered")
    rng = np.random.default_rng(6)
    y_true = (X[:, 0] > np.median(X[:, 0])).astype(int)
    y = np.where(rng.random(len(X)) < 0.08, y_true, -1)
    result = flip_impact(X, y, gamma=GAMMA, y_true=y_true, max_iter=20)
    unlabelled = y == -1
    for q, i in enumerate(result.labelled[::5]):
        flipped = y.copy()
        flipped[i] = 1 - flipped[i]
        model = LabelPropagation(kernel="rbf", gamma=GAMMA, max_iter=20).fit(X, flipped)
        error = np.mean(model.transduction_[unlabelled] != y_true[unlabelled])
        assert result.error[5 * q] == error
        assert result.n_iter[5 * q] == model.n_iter_


def test_a_sparse_graph_has_no_screen():
    X = sp.csr_matrix(data("clustered"))
    assert RBFGraph(X, GAMMA).screen is None
