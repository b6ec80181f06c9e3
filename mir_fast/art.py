"""The MIR label-flip attack and its countermeasure as IBM ART components.

``pip install "mir_fast[art]"`` installs the Adversarial Robustness Toolbox.
:class:`MIRLabelFlipPoisoning` is a black-box poisoning attack
(``art.attacks.PoisoningAttackBlackBox``: it needs no model, only the data), and
:class:`MIRRecheckDefence` a poison-filtering defence
(``art.defences.detector.poison.PoisonFilteringDefence``) that flags the labels to
re-check first; it takes no classifier, because MIR needs none.

Label layout.  ART passes labels either as class indices (n,) or one-hot (n, C).
Semi-supervised data also has unlabelled inputs: with class indices they are
``-1`` (scikit-learn's marker), with one-hot labels they are all-zero rows, and with
either an explicit boolean mask ``unlabelled=`` can be given to ``poison`` /
``detect_poison``.  The poisoned labels come back in the layout they came in.
"""

import warnings

import numpy as np

with warnings.catch_warnings():  # ART warns on import when PyTorch is not installed
    warnings.simplefilter("ignore")
    from art.attacks.attack import PoisoningAttackBlackBox
    from art.defences.detector.poison import PoisonFilteringDefence

from .attack import FLIP_STRATEGIES, flagged_for_recheck, poison_labels
from .influence import major_influence_range


def _class_codes(y, unlabelled=None):
    """(codes with -1 for unlabelled, one-hot?, number of classes) from ART's layouts."""
    if y is None:
        raise ValueError("the MIR attack flips labels: pass the labels y (class indices "
                         "with -1 for unlabelled, or one-hot rows with all-zero rows "
                         "unlabelled)")
    y = np.asarray(y)
    one_hot = y.ndim == 2 and y.shape[1] > 1
    if one_hot:
        if not np.isin(y, (0, 1)).all() or (y.sum(axis=1) > 1).any():
            raise ValueError("one-hot labels must hold 0/1 with at most one 1 per row "
                             "(all-zero rows are unlabelled)")
        codes = np.where(y.any(axis=1), np.argmax(y, axis=1), -1)
        n_classes = y.shape[1]
    else:
        codes = y.ravel() if y.ndim == 2 else y
        whole_floats = codes.dtype.kind == "f" and np.isfinite(codes).all() \
            and (codes == np.round(codes)).all()
        if codes.ndim != 1 or not (codes.dtype.kind in "iu" or whole_floats) \
                or (codes < -1).any():
            raise ValueError("labels must be class indices (-1 for unlabelled) or one-hot "
                             "rows")
        codes = codes.astype(np.int64)
        n_classes = int(codes.max()) + 1 if len(codes) else 0
    if unlabelled is not None:
        unlabelled = np.asarray(unlabelled, dtype=bool)
        if unlabelled.shape != codes.shape:
            raise ValueError(f"unlabelled has shape {unlabelled.shape}, the labels "
                             f"{codes.shape}")
        codes = np.where(unlabelled, -1, codes)
    return codes, one_hot, n_classes


def _in_layout(codes, one_hot, n_classes, like):
    if not one_hot:
        return codes.astype(np.asarray(like).dtype, copy=False).reshape(np.shape(like))
    out = np.zeros(np.shape(like), dtype=np.asarray(like).dtype)
    rows = np.flatnonzero(codes >= 0)
    out[rows, codes[rows]] = 1
    return out


class MIRLabelFlipPoisoning(PoisoningAttackBlackBox):
    """Flip the labels of the labelled inputs with the highest Major Influence Range.

    Parameters
    ----------
    budget : int or float
        Labels to flip: a count, or a fraction in (0, 1] of the labelled inputs.
    gamma : float or "auto"
        RBF width of the victim's graph.
    flip_to : {"other", "random", "runner_up"}
        As for :func:`mir_fast.poison_labels`.
    threshold : float, default 0.5
    random_state : int or None
    n_jobs : int or None
    verbose : bool, default True
        A progress bar (with the time left) for the MIR pass.

    Attributes
    ----------
    poisoned_indices : ndarray of int64
        After :meth:`poison`: the indices whose labels it flipped, most influential first.
    """

    attack_params = ["budget", "gamma", "flip_to", "threshold", "random_state", "n_jobs",
                     "verbose"]
    _estimator_requirements = ()

    def __init__(self, budget, gamma, flip_to="other", threshold=0.5, random_state=None,
                 n_jobs=None, verbose=True):
        super().__init__()
        self.budget, self.gamma, self.flip_to = budget, gamma, flip_to
        self.threshold, self.random_state, self.n_jobs = threshold, random_state, n_jobs
        self.verbose = verbose
        self.poisoned_indices = None
        self._check_params()

    def _check_params(self):
        if isinstance(self.budget, bool) or not isinstance(self.budget, (int, float,
                                                                          np.integer,
                                                                          np.floating)) \
                or not self.budget > 0:
            raise ValueError(f"budget must be a positive count or fraction, got "
                             f"{self.budget!r}")
        if self.flip_to not in FLIP_STRATEGIES:
            raise ValueError(f"flip_to must be one of {FLIP_STRATEGIES}, got {self.flip_to!r}")
        if not isinstance(self.verbose, bool):
            raise ValueError(f"verbose must be a bool, got {self.verbose!r}")

    def poison(self, x, y=None, unlabelled=None, return_indices=False, **kwargs):
        """Return ``(x, y_poisoned)`` (``x`` unchanged), and the flipped indices too
        when ``return_indices`` is True (also kept in ``poisoned_indices``).

        ``y``: class indices (-1 unlabelled) or one-hot rows (all-zero unlabelled);
        ``unlabelled``: an optional boolean mask of the unlabelled inputs.
        """
        if kwargs:
            raise ValueError(f"unknown argument(s) to poison: {sorted(kwargs)}")
        codes, one_hot, n_classes = _class_codes(y, unlabelled)
        poisoned, flipped = poison_labels(x, codes, budget=self.budget, gamma=self.gamma,
                                          flip_to=self.flip_to, threshold=self.threshold,
                                          random_state=self.random_state, n_jobs=self.n_jobs,
                                          progress=self.verbose)
        self.poisoned_indices = flipped
        labels = np.asarray(y).copy()
        layout = _in_layout(poisoned, one_hot, n_classes, labels)
        changed = np.zeros(len(codes), dtype=bool)
        changed[flipped] = True
        labels[changed] = layout[changed]  # unlabelled and untouched rows as they came
        return (x, labels, flipped) if return_indices else (x, labels)


class MIRRecheckDefence(PoisonFilteringDefence):
    """The countermeasure: the labels with the highest MIR are flagged to be re-checked.

    ``detect_poison()`` returns ART's ``(report, is_clean)``: ``is_clean[i] = 0`` for
    every flagged label, 1 otherwise (unlabelled inputs are never flagged); the
    report holds the flagged indices, most influential first, and their MIR.

    Parameters
    ----------
    x_train, y_train
        The data and its labels (layouts as for :class:`MIRLabelFlipPoisoning`).
    gamma : float or "auto"
    budget : int, float or None
        How many labels to flag (count or fraction of the labelled inputs); None flags
        every label with MIR > 0.
    threshold, n_jobs
    """

    defence_params = ["gamma", "budget", "threshold", "n_jobs"]

    def __init__(self, x_train, y_train, gamma, budget=None, threshold=0.5, n_jobs=None):
        super().__init__(None, x_train, y_train)
        self.gamma, self.budget, self.threshold, self.n_jobs = gamma, budget, threshold, n_jobs

    def detect_poison(self, unlabelled=None, **kwargs):
        if kwargs:
            self.set_params(**kwargs)
        codes, _, _ = _class_codes(self.y_train, unlabelled)
        result = major_influence_range(self.x_train, codes, gamma=self.gamma,
                                       threshold=self.threshold, n_jobs=self.n_jobs)
        flagged = flagged_for_recheck(result, self.budget)
        is_clean = np.ones(len(codes), dtype=np.int64)
        is_clean[flagged] = 0
        mir = result.scores[np.searchsorted(result.labelled, flagged)]
        report = {"flagged": flagged.tolist(), "mir": mir.tolist(), "gamma": result.gamma}
        return report, is_clean.tolist()

    def evaluate_defence(self, is_clean, **kwargs):
        """A detection's confusion matrix against the truth ``is_clean`` (1 = clean), as
        ART's defences give it (a JSON string): the flagged labels as positives."""
        import json

        is_clean = np.asarray(is_clean).astype(bool)
        _, found = self.detect_poison(**kwargs)
        flagged = ~np.asarray(found, dtype=bool)
        matrix = {"true_positives": int((flagged & ~is_clean).sum()),
                  "false_positives": int((flagged & is_clean).sum()),
                  "true_negatives": int((~flagged & is_clean).sum()),
                  "false_negatives": int((~flagged & ~is_clean).sum())}
        return json.dumps(matrix)


__all__ = ["MIRLabelFlipPoisoning", "MIRRecheckDefence"]
