"""Public API: input checking, the result object, the estimator, the demo."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from oracle import oracle_mir
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

import mir_fast
from mir_fast import MajorInfluenceRange, major_influence_range
from mir_fast.datasets import digits17


@pytest.fixture
def problem(rng):
    X = rng.normal(size=(80, 4))
    y = np.where(rng.random(80) < 0.3, 1, -1)
    y[:2] = [0, 1]
    return X, y


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(gamma=0.0), "gamma must be a finite positive number"),
        (dict(gamma=-1.0), "gamma must be a finite positive number"),
        (dict(gamma=float("inf")), "gamma must be a finite positive number"),
        (dict(gamma=float("nan")), "gamma must be a finite positive number"),
        (dict(gamma="5"), "gamma must be a finite positive number"),
        (dict(gamma=True), "gamma must be a finite positive number"),
        (dict(gamma=1.0, threshold=0.0), r"threshold must be a number in \(0, 1\)"),
        (dict(gamma=1.0, threshold=1.0), r"threshold must be a number in \(0, 1\)"),
        (dict(gamma=1.0, threshold=None), r"threshold must be a number in \(0, 1\)"),
        (dict(gamma=1.0, n_jobs=0), "n_jobs == 0"),
        (dict(gamma=1.0, n_jobs=1.5), "n_jobs must be None or a non-zero integer"),
    ],
)
def test_parameter_errors(problem, kwargs, message):
    X, y = problem
    with pytest.raises(ValueError, match=message):
        major_influence_range(X, y, **kwargs)


def test_gamma_is_required(problem):
    X, y = problem
    with pytest.raises(TypeError):
        major_influence_range(X, y)


@pytest.mark.parametrize(
    "X_change, y_change, message",
    [
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X), None,
         "X contains NaN"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.inf, X), None,
         "X contains infinite values"),
        (lambda X: X[:, 0], None, "X must be 2-D"),
        (lambda X: X[None], None, "X must be 2-D"),
        (lambda X: X[:, :0], None, "X has no features"),
        (lambda X: X.astype(str), None, "X must be numeric"),
        (lambda X: np.full(X.shape, "a", dtype=object), None, "X must be numeric"),
        (lambda X: X * 1e200, None, "too large"),
        (lambda X: "not an array", None, "X must be an array-like"),
        (None, lambda y: y[:-1], "y has 79 entries but X has 80 rows"),
        (None, lambda y: np.full_like(y, -1), "y has no labelled input"),
        (None, lambda y: np.where(y == 1, np.nan, -1.0), "y contains NaN"),
        (None, lambda y: np.stack([y, y]), "y must be 1-D"),
    ],
)
def test_input_errors(problem, X_change, y_change, message):
    X, y = problem
    X = X_change(X) if X_change else X
    y = y_change(y) if y_change else y
    with pytest.raises(ValueError, match=message):
        major_influence_range(X, y, gamma=1.0)


def test_sparse_errors(problem):
    X, y = problem
    bad = sp.csr_matrix(X)
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        major_influence_range(bad, y, gamma=1.0)
    with pytest.raises(ValueError, match="y has 79 entries"):
        major_influence_range(sp.csr_matrix(X), y[:-1], gamma=1.0)


@pytest.mark.parametrize(
    "labels",
    [
        lambda y: y.astype(float),
        lambda y: np.where(y == -1, "-1", np.where(y == 1, "cat", "dog")),
        lambda y: np.array([-1 if v == -1 else ("cat" if v else "dog") for v in y], dtype=object),
        lambda y: y.reshape(-1, 1),
        lambda y: list(y),
    ],
    ids=["float", "str", "object", "column", "list"],
)
def test_label_types(problem, labels):
    X, y = problem
    expected = oracle_mir(X, y, 1.0)
    result = major_influence_range(X, labels(y), gamma=1.0)
    np.testing.assert_array_equal(result.labelled, expected.labelled)
    np.testing.assert_array_equal(result.scores, expected.scores)


def test_result_ranking_and_counted(problem):
    X, y = problem
    result = major_influence_range(X, y, gamma=1.0)
    ranking = result.ranking()
    scores_by_index = dict(zip(result.labelled, result.scores))
    ranked_scores = [scores_by_index[i] for i in ranking]
    assert ranked_scores == sorted(ranked_scores, reverse=True)
    for a, b in zip(ranking, ranking[1:]):  # equal positive MIR: lower index first
        if scores_by_index[a] == scores_by_index[b] > 0:
            assert a < b
    assert result.counted.sum() == result.scores.sum()
    assert "MIRResult(n_labelled=" in repr(result)


def test_estimator(problem):
    X, y = problem
    estimator = MajorInfluenceRange(gamma=1.0, threshold=0.4, n_jobs=1)
    assert clone(estimator).get_params() == estimator.get_params()
    assert estimator.set_params(threshold=0.5) is estimator
    assert estimator.fit(X, y) is estimator
    expected = oracle_mir(X, y, 1.0, 0.5)
    np.testing.assert_array_equal(estimator.scores_, expected.scores)
    np.testing.assert_array_equal(estimator.labelled_, expected.labelled)
    np.testing.assert_array_equal(estimator.dominant_, expected.dominant)
    np.testing.assert_allclose(estimator.share_, expected.share, rtol=1e-9)
    assert estimator.n_features_in_ == 4
    sparse_fit = MajorInfluenceRange(gamma=1.0).fit(sp.csr_matrix(X), y)
    np.testing.assert_array_equal(sparse_fit.scores_, expected.scores)
    assert sparse_fit.n_features_in_ == 4


def test_show_config(capsys):
    config = mir_fast.show_config()
    out = capsys.readouterr().out
    assert config["version"] == mir_fast.__version__ in out
    assert isinstance(config["openmp"], bool) and config["default_threads"] >= 1
    assert "OpenMP" in out and "threads" in out


def test_python_dash_m_runs_the_demo(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mir_fast"], capture_output=True, text=True,
                         check=True, timeout=120, cwd=tmp_path).stdout
    assert "digits, 1 vs 7: 361 images" in out
    assert "rank  input  label   MIR" in out and "time:" in out


def test_threads_follow_scikit_learn_convention(monkeypatch):
    import joblib

    from mir_fast._openmp import openmp_enabled
    from mir_fast._threads import effective_n_threads

    if not openmp_enabled():
        assert effective_n_threads(None) == effective_n_threads(-1) == 1
        return
    if joblib.cpu_count() >= 3:
        assert effective_n_threads(3) == 3
    else:  # capped at the CPUs, with a warning (tests/test_hostile_input.py)
        with pytest.warns(UserWarning, match="more threads than"):
            assert effective_n_threads(3) == joblib.cpu_count()
    assert effective_n_threads(-1) == joblib.cpu_count()
    assert effective_n_threads(-joblib.cpu_count() - 5) == 1
    from mir_fast._openmp import max_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    physical = joblib.cpu_count(only_physical_cores=True)
    assert effective_n_threads(None) == min(max_threads(), physical)


@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_folding_in_chunks_gives_the_same_bits(sparse_input, dtype):
    """The progress path folds the rows in chunks (as the Dask workers do): the
    whole-data context makes every chunk's arithmetic that of one call."""
    from mir_fast.datasets import clustered_pixels, rcv1_like

    if sparse_input:
        X = rcv1_like(40000, 3000, nnz_per_row=30, dtype=dtype, random_state=5)
        gamma = 5.0
    else:
        X = clustered_pixels(40000, 20, random_state=5).astype(dtype)
        gamma = 2.0
    y = np.where(np.random.RandomState(1).random_sample(X.shape[0]) < 0.05, 1, -1)
    y[y == 1] = np.arange((y == 1).sum()) % 3
    whole = major_influence_range(X, y, gamma=gamma)
    chunked = major_influence_range(X, y, gamma=gamma, progress=True)
    for name in ("dominant", "share", "distance", "scores"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))


@parametrize_with_checks([MajorInfluenceRange(gamma=1.0)])
def test_scikit_learn_estimator_checks(estimator, check):
    """Every check of scikit-learn's passes (pickling, read-only memmaps,
    n_features_in_, sparse input, fully labelled y among them).  The array API check
    does not apply: MIR computes with NumPy and its compiled kernels only, as the
    tags say (scikit-learn would skip it)."""
    if getattr(check, "func", check).__name__ == "check_array_api_input":
        assert not estimator.__sklearn_tags__().array_api_support
        return
    check(estimator)


def test_fully_labelled_y_gives_mir_zero_everywhere():
    X, y, _, _ = digits17(test_size=0)
    fitted = MajorInfluenceRange(gamma=3.0).fit(X, y)
    assert len(fitted.unlabelled_) == 0
    assert fitted.scores_.shape == (len(y),) and not fitted.scores_.any()
