"""The IBM ART attack and defence and the cleanlab issue type, on the real packages."""

import warnings

import numpy as np
import pytest

from mir_fast import major_influence_range, poison_labels
from mir_fast.datasets import digits17, labelled_split

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # ART warns that PyTorch is not installed
    from art.attacks.attack import PoisoningAttackBlackBox
    from art.defences.detector.poison import PoisonFilteringDefence

    from mir_fast.art import MIRLabelFlipPoisoning, MIRRecheckDefence


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = digits17(test_size=0)
    return X, labelled_split((y == 7).astype(np.int64), 0.25, 2020)


def _one_hot(split, n_classes=2):
    out = np.zeros((len(split), n_classes), dtype=np.float32)
    rows = np.flatnonzero(split >= 0)
    out[rows, split[rows]] = 1
    return out


def test_the_art_attack_is_an_art_black_box_poisoning_attack(data):
    X, split = data
    attack = MIRLabelFlipPoisoning(budget=12, gamma=3.0, verbose=False)
    assert isinstance(attack, PoisoningAttackBlackBox) and attack.estimator is None
    assert attack.is_estimator_valid(None, attack.estimator_requirements)
    expected, flipped = poison_labels(X, split, budget=12, gamma=3.0)
    x_out, y_out = attack.poison(X, split)
    assert x_out is X
    np.testing.assert_array_equal(y_out, expected)
    np.testing.assert_array_equal(attack.poisoned_indices, flipped)
    # one-hot labels (all-zero rows unlabelled) come back one-hot, same dtype
    _, y_hot, indices = attack.poison(X, _one_hot(split), return_indices=True)
    assert y_hot.dtype == np.float32
    np.testing.assert_array_equal(y_hot, _one_hot(expected))
    np.testing.assert_array_equal(indices, flipped)
    # an explicit mask of unlabelled inputs, whatever their label values say
    labels = np.where(split == -1, 0, split)
    _, y_masked = attack.poison(X, labels, unlabelled=split == -1)
    np.testing.assert_array_equal(y_masked[split != -1], expected[split != -1])
    np.testing.assert_array_equal(y_masked[split == -1], 0)


def test_art_set_params_and_checks_work_as_for_arts_own_attacks(data):
    X, split = data
    attack = MIRLabelFlipPoisoning(budget=12, gamma=3.0, verbose=False)
    attack.set_params(budget=0.1, flip_to="runner_up")
    assert attack.budget == 0.1 and attack.flip_to == "runner_up"
    assert len(attack.poison(X, split, return_indices=True)[2]) == int(0.1 * (split != -1).sum())
    with pytest.raises(ValueError, match="cannot be set"):
        attack.set_params(colour="red")
    for bad in (dict(budget=0), dict(budget=True), dict(flip_to="sideways"),
                dict(verbose="yes")):
        with pytest.raises(ValueError):
            attack.set_params(**bad)
    with pytest.raises(ValueError, match="pass the labels y"):
        attack.poison(X)
    with pytest.raises(ValueError, match="at most one 1 per row"):
        attack.poison(X, np.ones((len(split), 2)))
    with pytest.raises(ValueError, match="unknown argument"):
        attack.poison(X, split, colour="red")


def test_the_art_defence_flags_the_top_mir_labels_and_scores_itself(data):
    X, split = data
    attack = MIRLabelFlipPoisoning(budget=10, gamma=3.0, verbose=False)
    _, poisoned, flipped = attack.poison(X, split, return_indices=True)
    defence = MIRRecheckDefence(X, poisoned, gamma=3.0, budget=10)
    assert isinstance(defence, PoisonFilteringDefence)
    report, is_clean = defence.detect_poison()
    result = major_influence_range(X, poisoned, gamma=3.0)
    assert report["flagged"] == list(result.ranking()[:10])
    assert sorted(np.flatnonzero(np.asarray(is_clean) == 0)) == sorted(report["flagged"])
    truth = np.ones(len(split), dtype=int)
    truth[flipped] = 0
    import json

    matrix = json.loads(defence.evaluate_defence(truth))
    assert matrix["true_positives"] + matrix["false_negatives"] == len(flipped)
    assert matrix["true_positives"] == len(set(report["flagged"]) & set(flipped.tolist()))
    defence.set_params(budget=3)
    assert len(defence.detect_poison()[0]["flagged"]) == 3


def test_the_cleanlab_issue_type_ranks_the_labels_by_influence(data, capsys):
    from cleanlab import Datalab

    import mir_fast.cleanlab  # noqa: F401 - registers "label_influence"

    X, split = data
    lab = Datalab(data={"y": split}, label_name="y", verbosity=0)
    lab.find_issues(issue_types={"label_influence": {"features": X, "unlabelled": split == -1,
                                                     "gamma": 3.0}})
    issues = lab.get_issues("label_influence")
    result = major_influence_range(X, split, gamma=3.0)
    mir = np.zeros(len(split))
    mir[result.labelled] = result.scores
    np.testing.assert_allclose(issues["label_influence_score"], 1 - mir / mir.max())
    np.testing.assert_array_equal(issues["is_label_influence_issue"], mir > 0)
    assert issues["label_influence_score"].between(0, 1).all()
    assert issues.sort_values("label_influence_score", kind="stable").index[0] == \
        result.ranking()[0]
    lab.report()
    assert "label_influence issues" in capsys.readouterr().out
    summary = lab.get_issue_summary("label_influence")
    assert summary["score"].iloc[0] == pytest.approx(1 - (mir / mir.max())[split != -1].mean())
    lab.find_issues(issue_types={"label_influence": {"features": X, "unlabelled": split == -1,
                                                     "gamma": 3.0, "budget": 5}})
    assert lab.get_issues("label_influence")["is_label_influence_issue"].sum() == 5
    assert lab.get_info("label_influence")["largest_mir"] == mir.max()


def test_the_cleanlab_issue_type_needs_its_mask_and_features(data, capsys):
    from cleanlab import Datalab

    import mir_fast.cleanlab  # noqa: F401

    X, split = data
    manager = mir_fast.cleanlab.LabelInfluenceIssueManager(
        Datalab(data={"y": split}, label_name="y", verbosity=0), gamma=3.0)
    with pytest.raises(ValueError, match="mask of unlabelled inputs"):
        manager.find_issues(features=X)
    with pytest.raises(ValueError, match="needs the features"):
        manager.find_issues()
