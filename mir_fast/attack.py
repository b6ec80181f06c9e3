"""The MIR label-flip attack and its countermeasure.

Attack (Section 4 of the paper): flip the labels of the ``k`` labelled inputs with the
highest MIR.  An input with MIR ``m`` is the major influencer of ``m`` unlabelled
inputs, so flipping it moves (to first order) ``m`` transductive predictions.

Countermeasure (RQ4): the same ranking tells a data engineer which labels to
re-check first.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state

from . import _core
from ._threads import effective_n_threads
from ._validation import check_gamma, check_threshold
from .influence import major_influence_range, mir_of_problem

FLIP_STRATEGIES = ("other", "random", "runner_up")


def resolve_budget(budget, n_labelled):
    """Number of labels to flip: an int, or a float in (0, 1] taken as ``int(b * n_labelled)``."""
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
        raise ValueError(f"budget must be an int or a float in (0, 1], got {budget!r}")
    if isinstance(budget, numbers.Integral):
        if budget < 0:
            raise ValueError(f"budget must not be negative, got {budget}")
        if budget > n_labelled:
            raise ValueError(f"budget={budget} exceeds the {n_labelled} labelled inputs")
        return int(budget)
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"a fractional budget must lie in (0, 1], got {budget!r}")
    return int(budget * n_labelled)


def _flip_targets(flip_to, classes, own, chosen, X, result, labelled_codes, random_state):
    """New class code for every chosen labelled position."""
    n_classes = len(classes)
    if n_classes < 2:
        raise ValueError("all labelled inputs have the same class: there is no label to flip to")
    if flip_to == "other":
        if n_classes != 2:
            raise ValueError(
                f"flip_to='other' needs exactly two classes, found {n_classes}; "
                "use flip_to='random' or 'runner_up'"
            )
        return 1 - own
    if flip_to == "random":
        rng = check_random_state(random_state)
        shift = rng.randint(1, n_classes, size=len(chosen))
        return (own + shift) % n_classes
    return _runner_up(X, result, labelled_codes, chosen, n_classes)


def _runner_up(X, result, labelled_codes, chosen, n_classes):
    """For each chosen input, the other class with the most labelled influence over the
    unlabelled inputs it dominates (W summed per class, relative to the nearest)."""
    from sklearn.metrics.pairwise import euclidean_distances

    X_lab = X[result.labelled]
    counted = result.counted
    dominant_position = np.searchsorted(result.labelled, result.dominant)
    targets = np.empty(len(chosen), dtype=np.int64)
    for k, position in enumerate(chosen):
        rows = result.unlabelled[counted & (dominant_position == position)]
        own = labelled_codes[position]
        if len(rows) == 0:
            targets[k] = (own + 1) % n_classes
            continue
        influence = np.zeros(n_classes)
        for start in range(0, len(rows), 256):
            D = euclidean_distances(X[rows[start : start + 256]], X_lab, squared=True)
            W = np.exp(-result.gamma * (D - D.min(axis=1, keepdims=True)))
            influence += np.bincount(
                np.broadcast_to(labelled_codes, W.shape).ravel(),
                weights=W.ravel(),
                minlength=n_classes,
            )
        influence[own] = -np.inf
        targets[k] = int(np.argmax(influence))
    return targets


def poison_labels(X, y, *, budget, gamma, flip_to="other", threshold=0.5,
                  random_state=None, n_jobs=None, progress=False):
    """Flip the labels of the labelled inputs with the highest MIR.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels of any type scikit-learn accepts; ``-1`` (or ``"-1"``) is unlabelled.
    budget : int or float
        Number of labels to flip, or a fraction in (0, 1] of the labelled inputs
        (``int(budget * n_labelled)``, as in the paper).
    gamma : float or "auto"
        RBF width (see :func:`mir_fast.major_influence_range`).
    flip_to : {"other", "random", "runner_up"}, default="other"
        ``"other"``: binary labels flip to the other class.  ``"random"``: uniformly
        another class (seeded by ``random_state``).  ``"runner_up"``: the other class
        holding the most labelled influence over the inputs the flipped one
        dominates, the most damaging single flip.
    threshold : float, default=0.5
    random_state : int, RandomState or None
        Used by ``flip_to="random"`` only.
    n_jobs : int or None
    progress : bool, default=False
        A progress bar (with the time left) for the MIR pass.

    Returns
    -------
    y_poisoned : ndarray of shape (n_samples,)
        A copy of ``y`` with the chosen labels changed; unlabelled entries untouched.
    flipped : ndarray of int64
        Indices (into X) of the changed labels, in order of selection.

    Notes
    -----
    Selection follows :meth:`MIRResult.order`: highest MIR first, ties to the lower
    index, never the same input twice; when fewer inputs than the budget have
    MIR > 0 the rest are ranked by a secondary key instead of being padded.
    """
    if flip_to not in FLIP_STRATEGIES:
        raise ValueError(f"flip_to must be one of {FLIP_STRATEGIES}, got {flip_to!r}")
    gamma = gamma if isinstance(gamma, str) and gamma == "auto" else check_gamma(gamma)
    threshold = check_threshold(threshold)
    n_threads = effective_n_threads(n_jobs)
    y_array = np.asarray(y)
    if y_array.ndim == 2 and y_array.shape[1] == 1:
        y_array = y_array.ravel()
    problem = _core.prepare(X, y_array)  # validated once, for MIR and the flips
    X_checked = problem.X
    result = mir_of_problem(problem, gamma, threshold, n_threads, progress)
    if not isinstance(gamma, str):
        _core.warn_if_degenerate(result, stacklevel=3)
    n_flip = resolve_budget(budget, len(result.labelled))
    chosen = result.order()[:n_flip]
    labelled_values = y_array[result.labelled]
    classes, labelled_codes = np.unique(labelled_values, return_inverse=True)
    targets = _flip_targets(flip_to, classes, labelled_codes[chosen], chosen, X_checked,
                            result, labelled_codes, random_state)
    y_poisoned = y_array.copy()
    flipped = result.labelled[chosen]
    y_poisoned[flipped] = classes[targets]
    return y_poisoned, flipped


def labels_to_recheck(X, y, *, gamma, budget=None, threshold=0.5,
                      return_indices_ranked_by=None, n_jobs=None):
    """Which labels to re-check first: the labelled inputs with the highest MIR.

    Parameters
    ----------
    X, y, gamma, threshold, n_jobs
        As for :func:`mir_fast.major_influence_range`.
    budget : int, float or None, default=None
        How many labels to flag (int, or a fraction of the labelled inputs); None
        flags every labelled input with MIR > 0 (each is the major influencer of at
        least one unlabelled input).
    return_indices_ranked_by : {None, "influence"}, default=None
        None returns a boolean mask over all inputs (cleanlab's
        ``find_label_issues`` shape); ``"influence"`` returns the flagged indices
        ordered by MIR, most influential first (ties to the lower index).
    """
    if return_indices_ranked_by not in (None, "influence"):
        raise ValueError(
            f"return_indices_ranked_by must be None or 'influence', got "
            f"{return_indices_ranked_by!r}"
        )
    result = major_influence_range(X, y, gamma=gamma, threshold=threshold, n_jobs=n_jobs)
    flagged = flagged_for_recheck(result, budget)
    if return_indices_ranked_by == "influence":
        return flagged
    mask = np.zeros(len(result.labelled) + len(result.unlabelled), dtype=bool)
    mask[flagged] = True
    return mask


def flagged_for_recheck(result, budget=None):
    """The labelled indices to re-check first, most influential first: the first
    ``budget`` of :meth:`MIRResult.order` (int, or a fraction of the labelled
    inputs), or with None every labelled input with MIR > 0."""
    order = result.order()
    if budget is None:
        order = order[result.scores[order] > 0]
    else:
        order = order[: resolve_budget(budget, len(result.labelled))]
    return result.labelled[order]


class MIRLabelFlipAttack:
    """Estimator-style MIR label-flip attack: ``poison(X, y) -> (X, y_poisoned)``.

    Parameters are those of :func:`poison_labels`.  After ``poison``, ``flipped_``
    holds the indices whose labels changed.
    """

    def __init__(self, budget, gamma, flip_to="other", threshold=0.5, random_state=None,
                 n_jobs=None):
        self.budget = budget
        self.gamma = gamma
        self.flip_to = flip_to
        self.threshold = threshold
        self.random_state = random_state
        self.n_jobs = n_jobs

    def poison(self, X, y):
        """Return ``(X, y_poisoned)``; X is returned unchanged."""
        y_poisoned, self.flipped_ = poison_labels(
            X, y, budget=self.budget, gamma=self.gamma, flip_to=self.flip_to,
            threshold=self.threshold, random_state=self.random_state, n_jobs=self.n_jobs,
        )
        return X, y_poisoned

    def __repr__(self):
        return (f"MIRLabelFlipAttack(budget={self.budget!r}, gamma={self.gamma!r}, "
                f"flip_to={self.flip_to!r})")


__all__ = ["MIRLabelFlipAttack", "flagged_for_recheck", "labels_to_recheck", "poison_labels"]
