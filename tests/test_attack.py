"""The MIR label-flip attack and the countermeasure."""

import numpy as np
import pytest
from oracle import oracle_mir
from sklearn.semi_supervised import LabelPropagation

from mir_fast import (
    MIRLabelFlipAttack,
    auto_gamma,
    labels_to_recheck,
    major_influence_range,
    poison_labels,
)
from mir_fast.attack import resolve_budget
from mir_fast.datasets import digits17, labelled_split


def oracle_ranking(X, y, gamma):
    """Top-k rule from the definitions: MIR descending, ties to the lower index,
    then (MIR 0) nearest-count and largest share descending."""
    expected = oracle_mir(X, y, gamma)
    keys = []
    for position, index in enumerate(expected.labelled):
        mine = expected.dominant == index
        nearest = int(mine.sum())
        largest = float(expected.share[mine].max()) if nearest else 0.0
        mir = int(expected.scores[position])
        keys.append((-mir, -nearest if mir == 0 else 0, -largest if mir == 0 else 0.0, index))
    return [key[-1] for key in sorted(keys)]


@pytest.fixture
def digits():
    X, y, _, _ = digits17(test_size=0)
    return X, labelled_split(y, 0.25, random_state=2020)


@pytest.mark.parametrize("budget", [1, 5, 0.1, 0.5, 1.0])
def test_selection_matches_oracle_ranking(digits, budget):
    X, y = digits
    y_poisoned, flipped = poison_labels(X, y, budget=budget, gamma=3.0)
    n_labelled = int((y != -1).sum())
    k = budget if isinstance(budget, int) else int(budget * n_labelled)
    assert list(flipped) == oracle_ranking(X, y, 3.0)[:k]
    assert len(set(flipped)) == len(flipped)  # never twice
    assert np.all(y_poisoned[flipped] != y[flipped])
    assert np.all(np.isin(y_poisoned[flipped], [1, 7]))
    untouched = np.setdiff1d(np.arange(len(y)), flipped)
    np.testing.assert_array_equal(y_poisoned[untouched], y[untouched])


def test_budget_beyond_positive_mir_uses_secondary_key(digits):
    """With fewer MIR > 0 inputs than the budget, no padding, no repeats."""
    X, y = digits
    result = major_influence_range(X, y, gamma=3.0)
    positive = int((result.scores > 0).sum())
    _, flipped = poison_labels(X, y, budget=positive + 10, gamma=3.0)
    assert len(set(flipped)) == positive + 10
    assert list(flipped) == oracle_ranking(X, y, 3.0)[: positive + 10]
    mir = dict(zip(result.labelled, result.scores))
    assert all(mir[i] == 0 for i in flipped[positive:])


def test_ties_go_to_the_lower_index():
    # two mirror-image clusters: the labelled centres have equal MIR
    X = np.array([[0.0], [10.0], [0.1], [-0.1], [10.1], [9.9]])
    y = np.array([0, 1, -1, -1, -1, -1])
    _, flipped = poison_labels(X, y, budget=1, gamma=1.0)
    assert list(flipped) == [0]


def test_zero_budget_and_budget_errors(digits):
    X, y = digits
    y_poisoned, flipped = poison_labels(X, y, budget=0, gamma=3.0)
    assert len(flipped) == 0 and np.array_equal(y_poisoned, y)
    for bad, message in [(1000, "exceeds"), (-1, "negative"), (0.0, r"\(0, 1\]"),
                         (1.5, r"\(0, 1\]"), (True, "int or a float"), ("3", "int or a float")]:
        with pytest.raises(ValueError, match=message):
            poison_labels(X, y, budget=bad, gamma=3.0)
    with pytest.raises(ValueError, match="flip_to must be one of"):
        poison_labels(X, y, budget=1, gamma=3.0, flip_to="nearest")
    assert resolve_budget(0.25, 10) == 2


def test_mir_attack_hurts_label_propagation_more_than_random(digits):
    """The paper's claim on real data: top-MIR flips beat random flips."""
    X, y = digits
    X_all, y_true, _, _ = digits17(test_size=0)
    unlabelled = y == -1

    def error(y_train):
        model = LabelPropagation(kernel="rbf", gamma=3.0, max_iter=1000).fit(X, y_train)
        return np.mean(model.transduction_[unlabelled] != y_true[unlabelled])

    clean = error(y)
    mir_error = error(poison_labels(X, y, budget=0.1, gamma=3.0)[0])
    rng = np.random.default_rng(0)
    labelled = np.flatnonzero(~unlabelled)
    random_errors = []
    for _ in range(20):
        y_random = y.copy()
        chosen = rng.choice(labelled, size=int(0.1 * len(labelled)), replace=False)
        y_random[chosen] = np.where(y[chosen] == 1, 7, 1)
        random_errors.append(error(y_random))
    assert mir_error > clean
    assert mir_error > np.mean(random_errors) + 2 * np.std(random_errors) / np.sqrt(20)


def multiclass_problem(rng):
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
    X = np.vstack([c + rng.normal(scale=0.8, size=(40, 2)) for c in centres])
    y = np.repeat([0, 1, 2, 3], 40)
    y[rng.random(len(y)) > 0.3] = -1
    for c in range(4):
        y[c * 40] = c
    return X, y


def test_other_needs_two_classes(rng):
    X, y = multiclass_problem(rng)
    with pytest.raises(ValueError, match="exactly two classes"):
        poison_labels(X, y, budget=3, gamma=1.0)


def test_random_flip_is_seeded_and_uniform_over_other_classes(rng):
    X, y = multiclass_problem(rng)
    runs = [poison_labels(X, y, budget=20, gamma=1.0, flip_to="random", random_state=s)[0]
            for s in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    labelled = np.flatnonzero(y != -1)
    counts = np.zeros((4, 4))
    for seed in range(200):
        y_p, flipped = poison_labels(X, y, budget=20, gamma=1.0, flip_to="random",
                                     random_state=seed)
        np.add.at(counts, (y[flipped], y_p[flipped]), 1)
    assert np.all(np.diag(counts) == 0)
    off = counts[~np.eye(4, dtype=bool)].reshape(4, 3)
    rows = off[off.sum(axis=1) > 0]
    assert np.all(np.abs(rows / rows.sum(axis=1, keepdims=True) - 1 / 3) < 0.06)
    assert len(labelled) > 20


def test_runner_up_picks_the_class_with_most_influence():
    # labelled input 0 (class 0) dominates u; class 2's input is much nearer u than class 1's
    X = np.array([[0.0], [3.0], [-1.2], [0.3], [0.35], [0.25]])
    y = np.array([0, 1, 2, -1, -1, -1])
    y_p, flipped = poison_labels(X, y, budget=1, gamma=1.0, flip_to="runner_up")
    assert list(flipped) == [0] and y_p[0] == 2


def test_string_labels(digits):
    X, y = digits
    names = np.where(y == -1, "-1", np.where(y == 1, "one", "seven"))
    y_p, flipped = poison_labels(X, names, budget=5, gamma=3.0)
    _, flipped_int = poison_labels(X, y, budget=5, gamma=3.0)
    np.testing.assert_array_equal(flipped, flipped_int)
    assert set(y_p[flipped]) <= {"one", "seven"} and np.all(y_p[flipped] != names[flipped])
    assert np.sum(y_p == "-1") == np.sum(names == "-1")


def test_estimator_style_attack(digits):
    X, y = digits
    attack = MIRLabelFlipAttack(budget=4, gamma=3.0)
    X_out, y_p = attack.poison(X, y)
    assert X_out is X
    np.testing.assert_array_equal(y_p, poison_labels(X, y, budget=4, gamma=3.0)[0])
    assert len(attack.flipped_) == 4 and "MIRLabelFlipAttack" in repr(attack)


def test_labels_to_recheck(digits):
    X, y = digits
    ranked = labels_to_recheck(X, y, gamma=3.0, budget=6, return_indices_ranked_by="influence")
    assert list(ranked) == oracle_ranking(X, y, 3.0)[:6]
    mask = labels_to_recheck(X, y, gamma=3.0, budget=6)
    assert mask.dtype == bool and mask.shape == y.shape and set(np.flatnonzero(mask)) == set(ranked)
    every = labels_to_recheck(X, y, gamma=3.0, return_indices_ranked_by="influence")
    result = major_influence_range(X, y, gamma=3.0)
    assert len(every) == int((result.scores > 0).sum())
    with pytest.raises(ValueError, match="return_indices_ranked_by"):
        labels_to_recheck(X, y, gamma=3.0, return_indices_ranked_by="mir")


def test_ranking_is_a_permutation_in_oracle_order(digits):
    X, y = digits
    result = major_influence_range(X, y, gamma=3.0)
    assert sorted(result.order()) == list(range(len(result.labelled)))
    assert list(result.ranking()) == oracle_ranking(X, y, 3.0)


def test_auto_gamma_makes_half_the_inputs_dominated(digits):
    X, y = digits
    gamma = auto_gamma(X, y)
    result = major_influence_range(X, y, gamma="auto")
    assert result.gamma == pytest.approx(gamma)
    assert np.median(result.share) == pytest.approx(0.5, abs=1e-4)
    # the same gamma on the oracle: about half the rows counted
    expected = oracle_mir(X, y, gamma)
    assert abs(np.mean(expected.share > 0.5) - 0.5) < 0.05


def test_degenerate_gamma_warns(digits):
    from mir_fast import DegenerateGammaWarning

    X, y = digits
    with pytest.warns(DegenerateGammaWarning, match="try a larger gamma|Try a larger gamma"):
        major_influence_range(X, y, gamma=0.01)
    with pytest.warns(DegenerateGammaWarning, match="smaller gamma"):
        major_influence_range(X, y, gamma=1000.0)
