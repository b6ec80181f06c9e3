"""Liu et al.'s baselines: the harmonic operator, greedy == brute force, the relaxed
attack's gradient, determinism, and that the attacks do damage on real digits."""

import warnings

import numpy as np
import pytest

from mir_fast import datasets
from mir_fast.baselines import (IllConditionedWarning, damage, greedy_flips,
                                harmonic_operator, liu_attack, probabilistic_flips,
                                random_flips, relaxed_objective)
from mir_fast.victims import BatchedVictim, make_victim, transductive_error


def _signed(labels, positive):
    return np.where(labels == positive, 1.0, -1.0)


@pytest.mark.parametrize("name", ["digits17", "moons:400"])
def test_harmonic_predictions_equal_converged_label_propagation(name):
    X, y, _, _ = datasets.load(name)
    gamma = datasets.describe(name).gamma
    split = datasets.labelled_split(y, 0.15)
    operator = harmonic_operator(X, split, gamma)
    assert not operator.ill_conditioned and len(operator.isolated) == 0
    positive = np.unique(y)[1]
    predicted = operator.predict(_signed(split[operator.labelled], positive))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converged = make_victim("propagation", gamma, max_iter=200000, tol=1e-12).fit(X, split)
    np.testing.assert_array_equal(predicted,
                                  _signed(converged.transduction_[operator.unlabelled], positive))


def test_harmonic_operator_matches_the_definition_on_a_small_graph():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3))
    y = np.full(30, -1)
    y[:8] = rng.randint(0, 2, 8)
    operator = harmonic_operator(X, y, 0.5)
    W = np.exp(-0.5 * ((X[:, None] - X[None]) ** 2).sum(-1))
    np.fill_diagonal(W, 0.0)
    u, l = operator.unlabelled, operator.labelled
    L_uu = np.diag(W[u].sum(axis=1)) - W[np.ix_(u, u)]
    np.testing.assert_allclose(operator.K, np.linalg.solve(L_uu, W[np.ix_(u, l)]), rtol=1e-9)


def test_ill_conditioning_is_reported():
    X = np.array([[0.0], [0.1], [5.0], [5.001], [10.0]])
    y = np.array([0, -1, -1, -1, 1])
    with pytest.warns(IllConditionedWarning, match="rcond"):
        operator = harmonic_operator(X, y, 50.0)
    assert operator.ill_conditioned


def _brute_force_greedy(K, y_l, y_u, budget):
    d = np.ones(len(y_l))
    chosen = []
    for _ in range(budget):
        base = damage(K, y_l, d, y_u)
        gains = []
        for j in range(len(y_l)):
            if d[j] < 0:
                gains.append(-np.inf)
                continue
            trial = d.copy()
            trial[j] = -1
            gains.append(damage(K, y_l, trial, y_u) - base)
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        d[j] = -1
        chosen.append(j)
    return chosen


@pytest.mark.parametrize("seed", range(8))
def test_greedy_equals_brute_force(seed):
    rng = np.random.RandomState(seed)
    u, n_labelled = rng.randint(5, 40), rng.randint(3, 12)
    K = rng.exponential(size=(u, n_labelled)) * (rng.random_sample((u, n_labelled)) < 0.7)
    y_l = rng.choice([-1.0, 1.0], n_labelled)
    y_u = rng.choice([-1.0, 1.0], u)
    for budget in (1, 3, n_labelled):
        assert greedy_flips(K, y_l, y_u, budget).tolist() == _brute_force_greedy(K, y_l, y_u,
                                                                                 budget)


def test_greedy_maximises_damage_exhaustively_for_one_flip():
    rng = np.random.RandomState(5)
    K = rng.exponential(size=(25, 6))
    y_l = rng.choice([-1.0, 1.0], 6)
    y_u = np.sign(K @ y_l)
    best = max(damage(K, y_l, np.where(np.arange(6) == j, -1.0, 1.0), y_u) for j in range(6))
    chosen = greedy_flips(K, y_l, y_u, 1)
    d = np.ones(6)
    d[chosen] = -1
    assert damage(K, y_l, d, y_u) == best or (best == 0 and len(chosen) == 0)


@pytest.mark.parametrize("surrogate", ["tanh", "linear"])
def test_relaxed_gradient_matches_finite_differences(surrogate):
    rng = np.random.RandomState(1)
    K = rng.exponential(size=(20, 7)) / 7
    y_l, y_u = rng.choice([-1.0, 1.0], 7), rng.choice([-1.0, 1.0], 20)
    alpha, eps = rng.uniform(0.2, 0.8, 7), rng.logistic(size=7)
    settings = dict(lam=0.01, tau=0.5, T=2.0, surrogate=surrogate)
    _, gradient = relaxed_objective(K, y_l, y_u, alpha, eps, **settings)
    step = 1e-6
    numeric = [(relaxed_objective(K, y_l, y_u, alpha + step * e, eps, **settings)[0]
                - relaxed_objective(K, y_l, y_u, alpha - step * e, eps, **settings)[0])
               / (2 * step) for e in np.eye(7)]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8)


def test_probabilistic_noise_is_independent_per_coordinate():
    """One noise draw shared by all coordinates (the published defect) moves every
    alpha by the same factor on a K whose columns are identical; independent draws
    separate them."""
    from mir_fast.baselines import probabilistic_alpha

    K = np.ones((10, 5))
    y_l, y_u = np.ones(5), np.ones(10)
    alpha = probabilistic_alpha(K, y_l, y_u, random_state=0, lr=1e-4, n_iter=20)
    assert len(np.unique(alpha)) == 5
    assert ((alpha > 1e-3) & (alpha < 1 - 1e-3)).all()


@pytest.fixture(scope="module")
def digits_problem():
    X, y, _, _ = datasets.load("digits17")
    split = datasets.labelled_split(y, 0.25)
    return X, y, split, BatchedVictim(X, "propagation", 3.0)


def _error_after(flipped, problem):
    X, y, split, victim = problem
    poisoned = split.copy()
    poisoned[flipped] = np.where(poisoned[flipped] == 1, 7, 1)
    return float(transductive_error(victim.predict(poisoned), y, split == -1))


def test_probabilistic_is_seeded_and_beats_random_on_digits(digits_problem):
    X, y, split, _ = digits_problem
    budget = 7
    first = liu_attack(X, split, budget, 3.0, method="probabilistic", random_state=4)
    again = liu_attack(X, split, budget, 3.0, method="probabilistic", random_state=4)
    np.testing.assert_array_equal(first.indices, again.indices)
    assert len(first.indices) == budget and (split[first.indices] != -1).all()
    random_errors = [_error_after(random_flips(split, budget, seed).indices, digits_problem)
                     for seed in range(10)]
    assert _error_after(first.indices, digits_problem) > 1.5 * np.mean(random_errors)


@pytest.mark.parametrize("supervised", [False, True])
def test_greedy_attack_beats_random_on_digits(digits_problem, supervised):
    X, y, split, _ = digits_problem
    chosen = liu_attack(X, split, 7, 3.0, y_true=y if supervised else None)
    assert chosen.seconds > 0 and chosen.details["supervised"] == supervised
    random_errors = [_error_after(random_flips(split, 7, seed).indices, digits_problem)
                     for seed in range(10)]
    assert _error_after(chosen.indices, digits_problem) > np.mean(random_errors)


def test_random_flips_are_seeded_labelled_and_capped():
    split = np.array([-1, 0, 1, -1, 1, 0])
    first = random_flips(split, 3, 0).indices
    np.testing.assert_array_equal(first, random_flips(split, 3, 0).indices)
    assert (split[first] != -1).all() and len(set(first)) == 3
    assert len(random_flips(split, 10, 0).indices) == 4


def test_random_flips_prefixes_are_uniform():
    """The harness takes smaller budgets as prefixes of the largest draw: each labelled
    input must be equally likely in a prefix (sorted draws put the low indices first)."""
    split = np.zeros(40, dtype=int)
    counts = np.zeros(40)
    for seed in range(2000):
        counts[random_flips(split, 20, seed).indices[:4]] += 1
    expected = 2000 * 4 / 40
    assert counts.min() > 0.6 * expected and counts.max() < 1.4 * expected, counts


def test_linear_surrogate_is_the_cain_package_s_and_differs_from_tanh():
    from mir_fast.baselines import CAIN_PACKAGE_PROBABILISTIC, probabilistic_alpha

    rng = np.random.RandomState(3)
    K = rng.exponential(size=(30, 8)) / 8
    y_l, y_u = rng.choice([-1.0, 1.0], 8), rng.choice([-1.0, 1.0], 30)
    linear = probabilistic_alpha(K, y_l, y_u, random_state=0, lr=1e-2, n_iter=30,
                                 surrogate="linear")
    tanh = probabilistic_alpha(K, y_l, y_u, random_state=0, lr=1e-2, n_iter=30)
    assert not np.allclose(linear, tanh)
    chosen = probabilistic_flips(K, y_l, y_u, 3, random_state=0, **CAIN_PACKAGE_PROBABILISTIC)
    assert len(chosen) <= 3
    with pytest.raises(ValueError, match="surrogate must be one of"):
        probabilistic_alpha(K, y_l, y_u, surrogate="relu")


def test_liu_attack_rejects_bad_input():
    X = np.random.RandomState(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="binary"):
        liu_attack(X, np.array([0, 1, 2] + [-1] * 7), 1, 1.0)
    with pytest.raises(ValueError, match="method"):
        liu_attack(X, np.array([0, 1] + [-1] * 8), 1, 1.0, method="annealing")
    with pytest.raises(ValueError, match="labelled and unlabelled"):
        harmonic_operator(X, np.zeros(10, dtype=int), 1.0)
