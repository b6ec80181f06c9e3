"""flip_impact against a separate scikit-learn fit for every flip (the oracle)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import semi_supervised as reference
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from mir_fast import flip_impact
from mir_fast.datasets import digits17, labelled_split

ESTIMATORS = {"propagation": reference.LabelPropagation,
              "spreading": reference.LabelSpreading}


def refit_every_flip(X, split, victim, gamma, flip_to, y_true, **settings):
    """changed, error and n_iter of one scikit-learn fit per flipped label."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clean = ESTIMATORS[victim](gamma=gamma, **settings).fit(X, split)
        labelled = np.flatnonzero(split != -1)
        classes = np.unique(split[labelled])
        unlabelled = split == -1
        rows = []
        for k in labelled:
            flipped = split.copy()
            position = np.searchsorted(classes, split[k])
            flipped[k] = classes[(position + 1) % len(classes)] if flip_to == "next" \
                else classes[1 - position]
            fit = ESTIMATORS[victim](gamma=gamma, **settings).fit(X, flipped)
            rows.append((int((fit.transduction_[unlabelled]
                              != clean.transduction_[unlabelled]).sum()),
                         float(np.mean(fit.transduction_[unlabelled] != y_true[unlabelled])),
                         fit.n_iter_))
    return clean, np.array(rows)


def _problem(kind):
    if kind == "binary":
        X, y, _, _ = digits17(test_size=0)
        return X[:150], y[:150], 3.0, "other"
    X, y = load_digits(n_class=3, return_X_y=True)
    return X[:150] / 16.0, y[:150], 0.5, "next"


@pytest.mark.parametrize("kind", ["binary", "three classes"])
@pytest.mark.parametrize("victim, settings", [
    ("propagation", dict(max_iter=5)), ("propagation", dict(max_iter=1000, tol=1e-3)),
    ("spreading", dict(alpha=0.2, max_iter=30)), ("spreading", dict(alpha=0.5, max_iter=10,
                                                                    tol=1e-6)),
])
@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("panel_columns", [None, 4])
def test_every_flip_equals_its_own_scikit_learn_fit(kind, victim, settings, sparse_input,
                                                    panel_columns):
    """All flips in one propagation of the unit responses, or in panels of 4 (each
    beside the clean fit itself), equal one refit per flip."""
    X, y, gamma, flip_to = _problem(kind)
    split = labelled_split(y, 0.1, random_state=1)
    clean, expected = refit_every_flip(X, split, victim, gamma, flip_to, y, **settings)
    data = sp.csr_matrix(X) if sparse_input else X
    impact = flip_impact(data, split, victim=victim, gamma=gamma, y_true=y, flip_to=flip_to,
                         panel_columns=panel_columns, **settings)
    np.testing.assert_array_equal(impact.labelled, np.flatnonzero(split != -1))
    np.testing.assert_array_equal(impact.clean_prediction, clean.transduction_)
    assert impact.clean_n_iter == clean.n_iter_
    np.testing.assert_array_equal(impact.changed, expected[:, 0])
    np.testing.assert_allclose(impact.error, expected[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(impact.n_iter, expected[:, 2])
    assert impact.clean_error == pytest.approx(
        np.mean(clean.transduction_[split == -1] != y[split == -1]))


@pytest.mark.parametrize("panel_columns", [None, 3])
def test_flips_that_stop_at_other_iterations_than_the_clean_fit(panel_columns):
    """With a loose tolerance some flips converge earlier or later than the clean
    fit: each is read at its own stopping iteration, as a refit would (in panels
    too: a panel whose flips all stopped before the clean fit ends early)."""
    X, y, gamma, _ = _problem("binary")
    split = labelled_split(y, 0.1, random_state=1)
    settings = dict(max_iter=200, tol=0.05)
    clean, expected = refit_every_flip(X, split, "propagation", gamma, "other", y, **settings)
    impact = flip_impact(X, split, victim="propagation", gamma=gamma, y_true=y,
                         panel_columns=panel_columns, **settings)
    assert len(set(expected[:, 2])) > 1  # the test means something
    np.testing.assert_array_equal(impact.n_iter, expected[:, 2])
    np.testing.assert_array_equal(impact.changed, expected[:, 0])
    assert impact.clean_n_iter == clean.n_iter_


def test_ranking_and_bad_input():
    X, y, gamma, _ = _problem("binary")
    split = labelled_split(y, 0.1, random_state=1)
    impact = flip_impact(X, split, gamma=gamma, y_true=y, max_iter=5)
    ranked = impact.ranking()
    errors = impact.error[np.searchsorted(impact.labelled, ranked)]
    assert (np.diff(errors) <= 0).all()
    with pytest.raises(ValueError, match="victim must be one of"):
        flip_impact(X, split, gamma=gamma, victim="knn")
    with pytest.raises(ValueError, match="alpha must be a number in"):
        flip_impact(X, split, gamma=gamma, victim="spreading", alpha=1.5)
    with pytest.raises(ValueError, match="one class only"):
        flip_impact(X, np.where(split == 1, 1, -1), gamma=gamma)
    with pytest.raises(ValueError, match="needs exactly two classes"):
        X3, y3, g3, _ = _problem("three classes")
        flip_impact(X3, labelled_split(y3, 0.2), gamma=g3)
    with pytest.raises(ValueError, match="no labelled input"):
        flip_impact(X, np.full(len(y), -1), gamma=gamma)
    with pytest.raises(ValueError, match="max_iter must be"):
        flip_impact(X, split, gamma=gamma, max_iter=0)
    for bad in (0, -2, 1.5, True, "4"):
        with pytest.raises(ValueError, match="panel_columns must be an int >= 1"):
            flip_impact(X, split, gamma=gamma, panel_columns=bad)


def test_the_command_line_prints_the_ranking(tmp_path):
    import csv
    import io

    from test_cli import run

    X, y, gamma, _ = _problem("binary")
    split = labelled_split(y, 0.1, random_state=1)
    np.savez(tmp_path / "d.npz", X=X, y=split)
    done = run("impact", str(tmp_path / "d.npz"), "--victim", "spreading", "--gamma",
               str(gamma), "--max-iter", "10")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    impact = flip_impact(X, split, victim="spreading", gamma=gamma, max_iter=10)
    assert [int(r["index"]) for r in rows] == impact.ranking().tolist()
    by_index = dict(zip(impact.labelled.tolist(), impact.changed.tolist()))
    assert all(int(r["changed"]) == by_index[int(r["index"])] for r in rows)
