"""The SSL victims: cached kernels, the batched evaluator == scikit-learn, inductive models."""

import warnings

import numpy as np
import pytest
from blas_probe import blas_thread_counts

from mir_fast import datasets, victims
from mir_fast.victims import (BatchedVictim, CachedRBFKernel, inductive_error, make_victim,
                              transductive_error)


def _single_flips(y_split, classes):
    """The clean label vector and one vector per labelled input with that label flipped."""
    vectors = [y_split]
    for j in np.flatnonzero(y_split != -1):
        flipped = y_split.copy()
        flipped[j] = classes[classes != flipped[j]][0]
        vectors.append(flipped)
    return np.array(vectors)


def _sklearn(variant, gamma, X, Y, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([make_victim(variant, gamma, **settings).fit(X, y).transduction_
                         for y in Y])


@pytest.fixture(scope="module")
def mnist_subset():
    X, y, _, _ = datasets.mnist17()
    return X[:1200], y[:1200]


@pytest.mark.parametrize("variant", ["propagation", "spreading"])
@pytest.mark.parametrize("name, fraction", [("digits17", 0.05), ("digits17", 0.25),
                                            ("moons:300", 0.15), ("mnist", 0.05)])
def test_batched_equals_sklearn_on_single_flips(variant, name, fraction, mnist_subset):
    if name == "mnist":
        X, y = mnist_subset
        gamma = 5.0
    else:
        X, y, _, _ = datasets.load(name)
        gamma = datasets.describe(name).gamma
    Y = _single_flips(datasets.labelled_split(y, fraction), np.unique(y))
    expected = _sklearn(variant, gamma, X, Y)
    victim = BatchedVictim(X, variant, gamma)
    np.testing.assert_array_equal(victim.predict(Y), expected)
    # the harness's RQ1 path: every single flip at once from the unit responses
    impact = victim.single_flips(Y[0], y)
    unlabelled = Y[0] == -1
    np.testing.assert_array_equal(impact.clean_prediction, expected[0])
    np.testing.assert_array_equal(impact.error,
                                  transductive_error(expected[1:], y, unlabelled))
    assert impact.clean_error == transductive_error(expected[0], y, unlabelled)


@pytest.mark.parametrize("variant", ["propagation", "spreading"])
def test_batched_equals_sklearn_on_budget_attacks_and_masks(variant):
    X, y, _, _ = datasets.load("digits17")
    rng = np.random.RandomState(0)
    Y = []
    for fraction in (0.05, 0.15, 0.25):  # different masks in one call
        split = datasets.labelled_split(y, fraction)
        labelled = np.flatnonzero(split != -1)
        for budget in (0.05, 0.1, 0.2):
            poisoned = split.copy()
            chosen = rng.choice(labelled, int(budget * len(labelled)) + 1, replace=False)
            poisoned[chosen] = np.where(poisoned[chosen] == 1, 7, 1)
            Y.append(poisoned)
    Y = np.array(Y)
    np.testing.assert_array_equal(BatchedVictim(X, variant, 3.0).predict(Y),
                                  _sklearn(variant, 3.0, X, Y))


def test_victims_of_one_problem_share_one_graph_and_stay_equal_to_sklearn(mnist_subset):
    """The harness builds its victims with ``share=``: one graph (and one operator
    per matrix) for all of them, used by every split; each still equals
    scikit-learn's fits, on every split, whichever victim ran first."""
    X, y = mnist_subset
    propagation = BatchedVictim(X, "propagation", 5.0)
    spreading = BatchedVictim(X, "spreading", 5.0, share=[propagation])
    text = BatchedVictim(X, "spreading-text", 5.0, share=[propagation, spreading])
    other_gamma = BatchedVictim(X, "spreading", 3.0, share=[propagation, spreading])
    assert spreading.operator.graph is propagation.operator.graph
    assert text.operator is spreading.operator
    assert other_gamma.operator.graph is not propagation.operator.graph
    for victim in (text, spreading, propagation):
        for fraction in (0.05, 0.25):
            split = datasets.labelled_split(y, fraction)
            Y = _single_flips(split, np.unique(y))[:40]
            expected = _sklearn(victim.variant, 5.0, X, Y)
            np.testing.assert_array_equal(victim.predict(Y), expected)
            impact = victim.single_flips(split, y)
            np.testing.assert_array_equal(impact.error[:39],
                                          transductive_error(expected[1:], y, split == -1))


def test_each_vector_stops_on_its_own():
    """With a loose tol the fits stop after different numbers of iterations, and one
    more iteration would change some labels: a batch that ran every vector as long as
    the slowest would differ from scikit-learn."""
    X, y, _, _ = datasets.load("moons:300")
    Y = _single_flips(datasets.labelled_split(y, 0.05), np.array([0, 1]))
    settings = dict(max_iter=1000, tol=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [make_victim("propagation", 10.0, **settings).fit(X, v) for v in Y]
        longer = np.array([make_victim("propagation", 10.0, max_iter=f.n_iter_ + 1, tol=0)
                           .fit(X, v).transduction_ for f, v in zip(fits, Y)])
    expected = np.array([f.transduction_ for f in fits])
    assert len({f.n_iter_ for f in fits}) > 1 and (longer != expected).any()
    np.testing.assert_array_equal(
        BatchedVictim(X, "propagation", 10.0, **settings).predict(Y), expected)


def test_three_classes_and_a_vector_missing_a_class():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, (1, 4, 7))
    X, y = X[keep] / 16.0, y[keep]
    split = datasets.labelled_split(y, 0.1)
    only_two = split.copy()
    only_two[only_two == 4] = 1
    Y = np.array([split, only_two])
    for variant in ("propagation", "spreading"):
        np.testing.assert_array_equal(BatchedVictim(X, variant, 3.0).predict(Y),
                                      _sklearn(variant, 3.0, X, Y))


def test_batched_rejects_bad_input():
    X, y, _, _ = datasets.load("digits17")
    victim = BatchedVictim(X, "propagation", 3.0)
    with pytest.raises(ValueError, match="entries"):
        victim.predict(y[:-1])
    with pytest.raises(ValueError, match="no labelled input"):
        victim.predict(np.full(len(y), -1))
    with pytest.raises(ValueError, match="variant"):
        BatchedVictim(X, "diffusion", 3.0)
    with pytest.raises(TypeError, match="alpha"):
        BatchedVictim(X, "propagation", 3.0, alpha=0.5)


def test_kernel_is_cached_on_content_not_shape():
    X, y, _, _ = datasets.load("digits17")
    kernel = CachedRBFKernel(3.0)
    victim = make_victim("propagation", 3.0, kernel=kernel)
    split = datasets.labelled_split(y, 0.25)
    first = victim.fit(X, split).transduction_.copy()
    flipped = split.copy()
    flipped[split == 1] = 7
    victim.fit(X, flipped)
    again = victim.fit(X, split).transduction_
    assert kernel.misses == 1
    np.testing.assert_array_equal(first, again)
    other = X[::-1].copy()  # same shape, other contents
    victim.fit(other, split)
    assert kernel.misses == 2
    fresh = make_victim("propagation", 3.0).fit(other, split).transduction_
    np.testing.assert_array_equal(victim.transduction_, fresh)


def test_transductive_error_counts_unlabelled_only():
    y = np.array([0, 1, 1, 0])
    split = np.array([0, -1, -1, 0])
    predicted = np.array([[1, 1, 0, 0], [0, 1, 1, 1]])
    np.testing.assert_allclose(transductive_error(predicted, y, split == -1), [0.5, 0.0])


@pytest.mark.parametrize("model", ["rf", "mlp"])
def test_inductive_models_are_seeded_and_learn(model):
    X, y, X_test, y_test = datasets.load("digits17")
    error = inductive_error(model, X, y, X_test, y_test)
    assert error == inductive_error(model, X, y, X_test, y_test)
    assert error < 0.1
    wrong = np.where(y == 1, 7, 1)
    assert inductive_error(model, X, wrong, X_test, y_test) > 0.9


def test_inductive_fits_run_blas_on_one_thread(monkeypatch):
    from threadpoolctl import threadpool_limits

    seen = []

    class Spy:
        def __init__(self, random_state):
            pass

        def fit(self, X, y):
            seen.append(blas_thread_counts())

        def predict(self, X):
            seen.append(blas_thread_counts())
            return np.zeros(len(X), dtype=np.int64)

    monkeypatch.setitem(victims.INDUCTIVE_MODELS, "spy", Spy)
    with threadpool_limits(limits=2, user_api="blas"):
        assert inductive_error("spy", np.ones((3, 2)), [0, 1, 0], np.ones((2, 2)), [0, 1]) == 0.5
    assert seen == [{1}, {1}]
