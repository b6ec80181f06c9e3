"""flip_robustness and flip_attack against scikit-learn refits: a brute-force search
over every set of flips on small problems, and refits of the returned flip sets."""

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import semi_supervised as reference
from sklearn.exceptions import ConvergenceWarning

from mir_fast import flip_attack, flip_robustness
from mir_fast.datasets import digits17, labelled_split

ESTIMATORS = {"propagation": reference.LabelPropagation,
              "spreading": reference.LabelSpreading}


def _fit(victim, X, y, gamma, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ESTIMATORS[victim](gamma=gamma, **settings).fit(X, y).transduction_


def brute_force_radii(X, y, victim, gamma, **settings):
    """The fewest flips (each labelled input to any other class) that change each
    unlabelled prediction, by refitting every set of flips; -1 when none does."""
    classes = np.unique(y[y != -1])
    labelled, unlabelled = np.flatnonzero(y != -1), np.flatnonzero(y == -1)
    clean = _fit(victim, X, y, gamma, **settings)[unlabelled]
    radius = np.full(len(unlabelled), -1)
    for size in range(1, len(labelled) + 1):
        for chosen in itertools.combinations(labelled, size):
            others = [[c for c in classes if c != y[j]] for j in chosen]
            for targets in itertools.product(*others):
                flipped = y.copy()
                flipped[list(chosen)] = targets
                changed = _fit(victim, X, flipped, gamma, **settings)[unlabelled] != clean
                radius[(radius == -1) & changed] = size
        if (radius != -1).all():
            break
    return clean, radius


def _clusters(n_classes, per_class, seed):
    """Nine points around each of ``n_classes`` centres, ``per_class`` of each labelled."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(n_classes, 2))
    X = np.vstack([c + rng.normal(scale=0.8, size=(9, 2)) for c in centres])
    truth = np.repeat(np.arange(n_classes), 9)
    y = np.full(len(X), -1)
    labelled = np.concatenate([rng.choice(np.flatnonzero(truth == c), per_class, replace=False)
                               for c in range(n_classes)])
    y[labelled] = truth[labelled]
    return X, y


SETTINGS = [("propagation", dict(max_iter=20)), ("spreading", dict(alpha=0.2, max_iter=10)),
            ("spreading", dict(alpha=0.6, max_iter=4))]


@pytest.mark.parametrize("n_classes, per_class", [(2, 4), (3, 3)])
@pytest.mark.parametrize("victim, settings", SETTINGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_radius_equals_a_brute_force_search_at_a_fixed_iteration_count(
        n_classes, per_class, victim, settings, seed):
    X, y = _clusters(n_classes, per_class, seed)
    clean, expected = brute_force_radii(X, y, victim, 0.7, tol=0.0, **settings)
    assert (expected > 1).any()
    result = flip_robustness(X, y, victim=victim, gamma=0.7, tol=0.0, **settings)
    np.testing.assert_array_equal(result.unlabelled, np.flatnonzero(y == -1))
    np.testing.assert_array_equal(result.prediction, clean)
    np.testing.assert_array_equal(result.radius, expected)
    assert result.n_iter == settings["max_iter"]
    assert result.stable_flips == n_classes * per_class  # tol 0: no fit stops early


@pytest.fixture(scope="module")
def digits():
    X, y, _, _ = digits17(test_size=0)
    return X, y, labelled_split(y, 0.1, random_state=0)


@pytest.mark.parametrize("victim, settings, gamma", [
    ("spreading", dict(alpha=0.2, max_iter=30), 1.0),
    ("spreading", dict(alpha=0.5, max_iter=30), 1.0),
    ("propagation", dict(max_iter=1000, tol=1.0), 10.0)])
def test_no_stable_set_of_flips_moves_the_stopping_iteration(digits, victim, settings, gamma):
    """With tol > 0, every set of at most stable_flips flips stops where the clean fit
    does (so radii up to it are those of the fits scikit-learn runs)."""
    X, y, split = digits
    result = flip_robustness(X, split, victim=victim, gamma=gamma, **settings)
    assert result.stable_flips >= 1
    rng = np.random.default_rng(0)
    labelled = np.flatnonzero(split != -1)
    for _ in range(25):
        chosen = rng.choice(labelled, result.stable_flips, replace=False)
        flipped = split.copy()
        flipped[chosen] = 1 - split[chosen]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = ESTIMATORS[victim](gamma=gamma, **settings).fit(X, flipped)
        assert fit.n_iter_ == result.n_iter


@pytest.mark.parametrize("victim, settings", [("propagation", dict(max_iter=8)),
                                              ("spreading", dict(alpha=0.2, max_iter=30))])
def test_the_returned_flips_change_the_prediction_and_one_fewer_do_not(digits, victim,
                                                                        settings):
    X, y, split = digits
    result = flip_robustness(X, split, victim=victim, gamma=3.0, y_true=y, **settings)
    fixed = {**settings, "max_iter": result.n_iter, "tol": 0.0}
    clean = _fit(victim, X, split, 3.0, **fixed)
    assert np.bincount(result.radius[result.radius > 0]).size > 3  # radii 1, 2, 3 and more
    for position in range(0, len(result.unlabelled), 12):
        u, radius = result.unlabelled[position], result.radius[position]
        indices, targets = result.flips[position]
        assert len(indices) == radius and np.isin(indices, np.flatnonzero(split != -1)).all()
        flipped = split.copy()
        flipped[indices] = targets
        assert _fit(victim, X, flipped, 3.0, **fixed)[u] != clean[u]
        if radius > 1:  # the flips that help most, one fewer: not enough
            flipped = split.copy()
            flipped[indices[:-1]] = targets[:-1]
            assert _fit(victim, X, flipped, 3.0, **fixed)[u] == clean[u]


@pytest.mark.parametrize("victim", ["propagation", "spreading"])
def test_every_input_form_and_panel_width_gives_the_same_certificate(digits, victim):
    X, y, split = digits
    X, split = X[:200], split[:200]
    expected = flip_robustness(X, split, victim=victim, gamma=3.0, max_iter=10)
    for data, extra in [(sp.csr_matrix(X), {}), (X.astype(np.float32), {}),
                        (X, dict(panel_columns=3)), (X, dict(n_jobs=2)),
                        (X, dict(graph="streaming", n_jobs=1))]:
        result = flip_robustness(data, split, victim=victim, gamma=3.0, max_iter=10, **extra)
        np.testing.assert_array_equal(result.radius, expected.radius)
        np.testing.assert_array_equal(result.prediction, expected.prediction)
        assert result.stable_flips == expected.stable_flips
        for got, want in zip(result.flips, expected.flips):
            np.testing.assert_array_equal(np.sort(got[0]), np.sort(want[0]))


def test_max_flips_caps_the_search_and_the_certified_shares(digits):
    X, y, split = digits
    full = flip_robustness(X, split, gamma=3.0, max_iter=8, y_true=y)
    capped = flip_robustness(X, split, gamma=3.0, max_iter=8, y_true=y, max_flips=2,
                             panel_columns=7)
    beyond = full.radius > 2
    assert beyond.any()
    np.testing.assert_array_equal(capped.radius, np.where(beyond, 3, full.radius))
    for k in range(3):
        assert capped.certified_fraction(k) == full.certified_fraction(k) \
            == np.mean((full.radius == -1) | (full.radius > k))
        correct = full.prediction == y[full.unlabelled]
        assert capped.certified_accuracy(k) == np.mean(correct & ((full.radius == -1)
                                                                  | (full.radius > k)))
    assert full.certified_fraction(0) == 1.0
    with pytest.raises(ValueError, match="beyond max_flips=2"):
        capped.certified_fraction(3)
    with pytest.raises(ValueError, match="needs y_true"):
        flip_robustness(X, split, gamma=3.0, max_iter=8).certified_accuracy(1)


@pytest.mark.parametrize("victim", ["propagation", "spreading"])
def test_the_attack_changes_its_targets_and_never_beats_the_certificate(digits, victim):
    X, y, split = digits
    settings = dict(max_iter=8) if victim == "propagation" else dict(alpha=0.2)
    result = flip_robustness(X, split, victim=victim, gamma=3.0, **settings)
    fixed = {**settings, "max_iter": result.n_iter, "tol": 0.0}
    clean = _fit(victim, X, split, 3.0, **fixed)
    order = np.argsort(result.radius, kind="stable")
    for chosen in (order[-1:], order[-6:], order[::40]):
        targets = result.unlabelled[chosen]
        attack = flip_attack(X, split, targets, victim=victim, gamma=3.0, **settings)
        assert attack.succeeded and attack.lower_bound == result.radius[chosen].max()
        assert len(attack.flipped) >= attack.lower_bound
        if len(targets) == 1:
            assert len(attack.flipped) == attack.lower_bound
        flipped = split.copy()
        flipped[attack.flipped] = attack.flip_to
        assert (_fit(victim, X, flipped, 3.0, **fixed)[targets] != clean[targets]).all()


@pytest.mark.parametrize("call, kwargs, message", [
    (flip_robustness, dict(max_flips=0), "max_flips must be an int >= 1"),
    (flip_robustness, dict(max_flips=2.5), "max_flips must be an int >= 1"),
    (flip_robustness, dict(max_flips=True), "max_flips must be an int >= 1"),
    (flip_robustness, dict(panel_columns=0), "panel_columns must be an int >= 1"),
    (flip_robustness, dict(victim="knn"), "victim must be one of"),
    (flip_attack, dict(targets=[]), "non-empty array of indices"),
    (flip_attack, dict(targets=[0.5]), "non-empty array of indices"),
    (flip_attack, dict(targets=[10**6]), "index unlabelled inputs"),
    (flip_attack, dict(targets="labelled"), "index unlabelled inputs"),
])
def test_bad_input_gets_a_clear_error(digits, call, kwargs, message):
    X, y, split = digits
    if kwargs.get("targets") == "labelled":
        kwargs = dict(targets=np.flatnonzero(split != -1)[:1])
    with pytest.raises(ValueError, match=message):
        call(X, split, gamma=3.0, **kwargs)
    one_class = np.where(split == 1, -1, split)
    with pytest.raises(ValueError, match="one class only"):
        flip_robustness(X, one_class, gamma=3.0)
