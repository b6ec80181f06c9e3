"""mir_fast.semi_supervised against scikit-learn's own estimators (the oracle):
``transduction_``, ``n_iter_`` and ``predict`` equal, ``label_distributions_`` to
1e-9 of each row, on dense and CSR, binary and multi-class data, both victims, both
graph modes, several settings and thread counts."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import semi_supervised as reference
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from mir_fast import semi_supervised as ours
from mir_fast.datasets import digits17, labelled_split, rcv1_like


def _digits(n_classes):
    X, y = load_digits(n_class=n_classes, return_X_y=True)
    return X / 16.0, y


def _data(name):
    if name == "digits 1 vs 7":
        X, y, _, _ = digits17(test_size=0)
        return X, y, 3.0
    if name == "digits, 5 classes":
        X, y = _digits(5)
        return X, y, 0.5
    if name == "blobs, 3 classes":
        X, y = make_blobs(400, n_features=5, centers=3, cluster_std=2.5, random_state=0)
        return X, y, 0.2
    X = rcv1_like(n_samples=400, n_features=600, nnz_per_row=20, random_state=1)
    score = np.asarray(X[:, :300].sum(axis=1) - X[:, 300:].sum(axis=1)).ravel()
    return X, (score > np.median(score)).astype(int), 2.0


SETTINGS = {
    "propagation": [dict(max_iter=5), dict(max_iter=1000), dict(max_iter=30, tol=0.0)],
    "spreading": [dict(alpha=0.2, max_iter=5), dict(alpha=0.1, max_iter=30),
                  dict(alpha=0.8, max_iter=100, tol=1e-6)],
}
ESTIMATORS = {"propagation": "LabelPropagation", "spreading": "LabelSpreading"}


def fit_both(variant, X, y, gamma, settings, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = getattr(reference, ESTIMATORS[variant])(gamma=gamma, **settings).fit(X, y)
        mine = getattr(ours, ESTIMATORS[variant])(gamma=gamma, **settings, **extra).fit(X, y)
    return theirs, mine


def assert_same_fit(theirs, mine, rtol=1e-9):
    np.testing.assert_array_equal(mine.classes_, theirs.classes_)
    np.testing.assert_array_equal(mine.transduction_, theirs.transduction_)
    assert mine.n_iter_ == theirs.n_iter_
    scale = theirs.label_distributions_.max(axis=1, keepdims=True)
    error = np.abs(mine.label_distributions_ - theirs.label_distributions_) / scale
    assert error.max() <= rtol, error.max()


@pytest.mark.parametrize("name", ["digits 1 vs 7", "digits, 5 classes", "blobs, 3 classes",
                                  "sparse text"])
@pytest.mark.parametrize("variant", ["propagation", "spreading"])
@pytest.mark.parametrize("mode", ["sparse", "streaming"])
def test_fits_equal_scikit_learn(name, variant, mode):
    X, y, gamma = _data(name)
    for fraction, settings in zip((0.05, 0.15, 0.3), SETTINGS[variant]):
        split = labelled_split(y, fraction, random_state=3)
        theirs, mine = fit_both(variant, X, split, gamma, settings, graph=mode)
        assert_same_fit(theirs, mine)
        assert mine.graph_["mode"] == mode
        X_new = X[:50] * 1.01
        np.testing.assert_array_equal(mine.predict(X_new), theirs.predict(X_new))
        np.testing.assert_allclose(mine.predict_proba(X_new), theirs.predict_proba(X_new),
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_results_do_not_depend_on_the_threads(n_jobs):
    X, y, gamma = _data("digits, 5 classes")
    split = labelled_split(y, 0.1, random_state=0)
    one = ours.LabelSpreading(gamma=gamma, n_jobs=1).fit(X, split)
    many = ours.LabelSpreading(gamma=gamma, n_jobs=n_jobs).fit(X, split)
    np.testing.assert_array_equal(one.label_distributions_, many.label_distributions_)


def test_the_certificate_recomputes_rows_whose_neighbours_carry_no_label():
    """At a large gamma most unlabelled rows have no labelled input among the kept
    entries of their row at first: the certificate must send them to the exact
    computation, and the fit must still equal scikit-learn's."""
    X, y, _ = _data("digits 1 vs 7")
    split = labelled_split(y, 0.05, random_state=0)
    theirs, mine = fit_both("propagation", X, split, 30.0, dict(max_iter=5), graph="sparse")
    assert mine.graph_["recomputed_rows"] > 0
    assert mine.graph_["stored_entries"] < X.shape[0] ** 2 / 2
    assert_same_fit(theirs, mine)


def test_auto_streams_when_the_sparse_form_does_not_fit_the_budget():
    X, y, gamma = _data("blobs, 3 classes")
    split = labelled_split(y, 0.1, random_state=0)
    small = ours.LabelPropagation(gamma=gamma, max_iter=5, memory_budget=1000).fit(X, split)
    roomy = ours.LabelPropagation(gamma=gamma, max_iter=5).fit(X, split)
    assert small.graph_["mode"] == "streaming" and roomy.graph_["mode"] == "sparse"
    assert 0 < roomy.graph_["density"] <= 1
    np.testing.assert_array_equal(small.transduction_, roomy.transduction_)


def test_float32_and_csc_input():
    X, y, gamma = _data("digits 1 vs 7")
    split = labelled_split(y, 0.15, random_state=0)
    theirs, mine = fit_both("spreading", X.astype(np.float32), split, gamma, {})
    # scikit-learn's affinity of float32 data is float32: agreement to its precision
    np.testing.assert_array_equal(mine.transduction_, theirs.transduction_)
    assert_same_fit(*fit_both("spreading", X, split, gamma, {}))
    exact = ours.LabelSpreading(gamma=gamma).fit(X.astype(np.float64), split)
    np.testing.assert_allclose(mine.label_distributions_, exact.label_distributions_,
                               rtol=1e-6, atol=1e-9)
    csc = ours.LabelSpreading(gamma=gamma).fit(sp.csc_matrix(X), split)
    np.testing.assert_allclose(csc.label_distributions_, exact.label_distributions_,
                               rtol=1e-9, atol=1e-12)


def test_labels_of_any_type_and_the_convergence_warning():
    X, y, gamma = _data("digits 1 vs 7")
    split = labelled_split(y, 0.2, random_state=0)
    named = np.where(split == -1, -1, np.where(split == 1, 10, 70))
    fit = ours.LabelPropagation(gamma=gamma, max_iter=1000).fit(X, named)
    assert set(fit.classes_) == {10, 70}
    with pytest.warns(ConvergenceWarning, match="max_iter=2 was reached"):
        short = ours.LabelPropagation(gamma=gamma, max_iter=2, tol=0.0).fit(X, split)
    assert short.n_iter_ == 2
    assert short.score(X[:40], y[:40]) > 0.9


@pytest.mark.parametrize("estimator, message", [
    (ours.LabelPropagation(kernel="knn"), "use sklearn.semi_supervised.LabelPropagation"),
    (ours.LabelSpreading(kernel=lambda a, b: a @ b.T), "use sklearn.semi_supervised"),
    (ours.LabelSpreading(alpha=1.0), "alpha must be a number in"),
    (ours.LabelSpreading(alpha=0.0), "alpha must be a number in"),
    (ours.LabelPropagation(max_iter=0), "max_iter must be an integer >= 1"),
    (ours.LabelPropagation(tol=-1.0), "tol must be a number >= 0"),
    (ours.LabelPropagation(gamma=-1.0), "gamma must be"),
    (ours.LabelPropagation(graph="dense"), "graph must be one of"),
])
def test_bad_parameters_are_clear_errors(estimator, message):
    X, y, _ = _data("digits 1 vs 7")
    with pytest.raises(ValueError, match=message):
        estimator.fit(X, labelled_split(y, 0.2))


def test_bad_labels_are_clear_errors():
    X, y, _ = _data("digits 1 vs 7")
    with pytest.raises(ValueError, match="no labelled input"):
        ours.LabelPropagation().fit(X, np.full(len(y), -1))
    one_class = np.where(np.arange(len(y)) < 20, 1, -1)
    with pytest.raises(ValueError, match="one class only"):
        ours.LabelSpreading().fit(X, one_class)
    bad = X.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ours.LabelSpreading().fit(bad, labelled_split(y, 0.2))


@parametrize_with_checks([ours.LabelPropagation(), ours.LabelSpreading()])
def test_scikit_learn_estimator_checks(estimator, check):
    """Every check of scikit-learn's passes.  The array API check does not apply:
    like scikit-learn's own LabelPropagation these estimators compute with NumPy
    only, and say so in their tags (scikit-learn would skip the check)."""
    if getattr(check, "func", check).__name__ == "check_array_api_input":
        assert not estimator.__sklearn_tags__().array_api_support
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_a_stopping_test_too_close_to_tol_is_reported():
    """With tol equal to the change before the second update, the stopping test sits on
    its own rounding: the fit must say its n_iter_ is not certified (and is certified
    with tol well away from it)."""
    X, y, gamma = _data("digits 1 vs 7")
    split = labelled_split(y, 0.15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = reference.LabelPropagation(gamma=gamma, max_iter=1, tol=0).fit(X, split)
        second = reference.LabelPropagation(gamma=gamma, max_iter=2, tol=0).fit(X, split)
    change = np.abs(second.label_distributions_ - first.label_distributions_).sum()
    on_the_edge = ours.LabelPropagation(gamma=gamma, max_iter=50, tol=change).fit(X, split)
    assert on_the_edge.graph_["stop_certified"] is False
    clear = ours.LabelPropagation(gamma=gamma, max_iter=50, tol=2 * change).fit(X, split)
    assert clear.graph_["stop_certified"] is True


DEEPENING = {"digits 1 vs 7": 30.0, "blobs, 3 classes": 2.0, "sparse text": 80.0}


@pytest.mark.parametrize("name", list(DEEPENING))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_deepened_rows_leave_the_fit_equal_to_scikit_learn(name, dtype, n_jobs):
    """Rows the certificate rejects once are stored deeper (propagation's module
    docstring) and not recomputed again; the fit still equals scikit-learn's, bit
    for bit whatever the thread count."""
    X, y, _ = _data(name)
    X = X.astype(dtype)  # float32 values, which the engine computes with in float64
    split = labelled_split(y, 0.05, random_state=3)
    settings = dict(alpha=0.2, max_iter=30)
    # scikit-learn's affinity of float32 data is float32: its oracle is the float64 copy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = reference.LabelSpreading(gamma=DEEPENING[name], **settings).fit(
            X.astype(np.float64), split)
        mine = ours.LabelSpreading(gamma=DEEPENING[name], **settings, graph="sparse",
                                   n_jobs=n_jobs).fit(X, split)
    assert mine.graph_["deepened_rows"] > 0
    assert mine.graph_["recomputed_rows"] < mine.graph_["deepened_rows"] * 3
    # dense rows are deepened through the float32 screen, CSR rows from whole rows
    assert (mine.graph_["screened_rows"] > 0) == (not sp.issparse(X))
    assert_same_fit(theirs, mine)
    one = ours.LabelSpreading(gamma=DEEPENING[name], **settings, n_jobs=1).fit(X, split)
    np.testing.assert_array_equal(one.label_distributions_, mine.label_distributions_)


def test_deepening_stops_at_the_memory_budget_and_the_fit_stays_exact():
    from mir_fast._core.graph import RBFGraph
    from mir_fast._core.propagation import BYTES_PER_ENTRY, GraphOperator

    X, y, _ = _data("digits 1 vs 7")
    gamma = 30.0
    split = labelled_split(y, 0.05, random_state=3)
    settings = dict(alpha=0.2, max_iter=30)
    initial = GraphOperator(RBFGraph(X, gamma), "spreading", mode="sparse").kept.nnz
    budget = (initial + 200) * BYTES_PER_ENTRY
    theirs, tight = fit_both("spreading", X, split, gamma, settings, memory_budget=budget)
    roomy = ours.LabelSpreading(gamma=gamma, **settings).fit(X, split)
    assert tight.graph_["mode"] == "sparse"
    assert tight.graph_["stored_entries"] <= initial + 200
    assert 0 < tight.graph_["deepened_rows"] < roomy.graph_["deepened_rows"]
    assert tight.graph_["recomputed_rows"] > roomy.graph_["recomputed_rows"]
    assert_same_fit(theirs, tight)
