"""The exact effect of flipping each label alone, for every labelled input at once.

For a fixed set of labelled inputs both victims are linear in the one-hot label
matrix (``mir_fast.victims`` shows why): after ``t`` updates the label scores are
``F_t = A_t C``, with ``C`` (l x classes) the one-hot labels of the labelled inputs
and ``A_t`` (n x l) the responses to a unit label on each labelled input alone,
obtained by running the victim's iteration on the identity (each labelled input
its own class; propagation's row normalisation depends only on which inputs are
labelled).  Flipping labelled input ``k`` from class ``a`` to ``b`` changes ``C`` in
one row, so

    F_t(k) = A_t C + A_t[:, k] (e_b - e_a)^T.

scikit-learn stops a fit before update ``t`` when ``sum |F_t - F_{t-1}| < tol``; with
``D = A_t - A_{t-1}`` and ``G = D C`` the change of flip ``k`` differs from the clean
one only in columns ``a`` and ``b``:

    sum |G| - sum_u (|G_ua| + |G_ub|) + sum_u (|G_ua - D_uk| + |G_ub + D_uk|),

so every flip's own stopping iteration is known, and its predictions are read at
that iteration, as a separate fit would.  One propagation of ``l`` columns (on the
graph engine of ``mir_fast._core``, never the n x n matrix) replaces ``l`` fits.
"""

from dataclasses import dataclass

import numpy as np

from ._core.graph import RBFGraph
from ._core.propagation import GraphOperator
from ._threads import effective_n_threads
from ._validation import check_count, check_features, unlabelled_mask
from .semi_supervised import LabelPropagation, LabelSpreading

VICTIMS = {"propagation": LabelPropagation, "spreading": LabelSpreading}
FLIP_TARGETS = ("other", "next")


@dataclass(frozen=True)
class FlipImpact:
    """What flipping each label alone does to a victim's transductive predictions.

    Attributes
    ----------
    labelled : ndarray of int64, shape (l,)
        Indices (into X) of the labelled inputs, ascending; flip ``k`` flips
        ``labelled[k]``.
    flip_to : ndarray, shape (l,)
        The class each label is flipped to.
    changed : ndarray of int64, shape (l,)
        How many unlabelled predictions differ from the clean fit's after the flip.
    n_iter : ndarray of int64, shape (l,)
        Each flipped fit's ``n_iter_``; ``clean_n_iter`` is the clean fit's.
    error : ndarray of float64 or None
        Transductive error over the unlabelled inputs after each flip (with ``y_true``);
        ``clean_error`` likewise for the clean fit.
    clean_prediction : ndarray, shape (n,)
        The clean fit's ``transduction_``.
    """

    labelled: np.ndarray
    flip_to: np.ndarray
    changed: np.ndarray
    n_iter: np.ndarray
    clean_n_iter: int
    clean_prediction: np.ndarray
    error: object = None
    clean_error: object = None

    def ranking(self):
        """Labelled indices, most damaging flip first: most changed predictions (the
        largest error first when ``y_true`` was given), ties to the lower index."""
        key = self.changed if self.error is None else self.error
        return self.labelled[np.lexsort((self.labelled, -np.asarray(key)))]


def flip_impact(X, y, *, victim="propagation", gamma, y_true=None, flip_to="other",
                n_jobs=None, graph="auto", panel_columns=None, **victim_params):
    """The outcome of flipping each labelled input's label alone, all flips at once.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n, d)
    y : array-like of shape (n,)
        Labels, ``-1`` for unlabelled inputs (scikit-learn's convention).
    victim : {"propagation", "spreading"}
        ``mir_fast.semi_supervised.LabelPropagation`` or ``LabelSpreading``, with
        scikit-learn's defaults unless ``victim_params`` (``max_iter``, ``tol``,
        ``alpha``) say otherwise.
    gamma : float
        RBF width.
    y_true : array-like of shape (n,), optional
        True labels of every input, for the transductive errors.
    flip_to : {"other", "next"}
        ``"other"``: the other class (binary data only); ``"next"``: the next class
        in sorted order (cyclically), for any number of classes.
    n_jobs, graph
        As for the estimators.
    panel_columns : int, optional
        Unit responses propagated at once (default: as many as ``PANEL_BYTES`` of
        buffers hold, all of them where they fit); memory is about ``24 n
        panel_columns`` bytes.

    Returns
    -------
    FlipImpact
        Equal, flip by flip, to separate scikit-learn fits on the flipped labels.
    """
    if flip_to not in FLIP_TARGETS:
        raise ValueError(f"flip_to must be one of {FLIP_TARGETS}, got {flip_to!r}")
    panel_columns = check_count("panel_columns", panel_columns)
    estimator, X, y, unlabelled, y_true = flip_problem(X, y, victim, gamma, y_true, n_jobs,
                                                       graph, victim_params)
    n_classes = len(np.unique(y[~unlabelled]))
    if flip_to == "other" and n_classes != 2:
        raise ValueError(f"flip_to='other' needs exactly two classes, found {n_classes}; "
                         "use flip_to='next'")
    return impact_on_graph(victim_operator(X, estimator, victim, n_jobs, graph), estimator, y,
                           unlabelled, y_true, panel_columns)


def flip_problem(X, y, victim, gamma, y_true, n_jobs, graph, victim_params):
    """Validate a flip computation's inputs: ``(estimator, X, y, unlabelled mask,
    y_true)``, with the clear errors :func:`flip_impact` and
    :func:`~mir_fast.robustness.flip_robustness` share."""
    if victim not in VICTIMS:
        raise ValueError(f"victim must be one of {tuple(VICTIMS)}, got {victim!r}")
    estimator = VICTIMS[victim](gamma=gamma, n_jobs=n_jobs, graph=graph, **victim_params)
    estimator._check_params()
    X, _ = check_features(X)
    y = np.asarray(y)
    unlabelled_mask(y, X.shape[0])  # shape and NaN checks, with their messages
    unlabelled = y == -1 if y.dtype.kind in "biuf" else np.zeros(len(y), dtype=bool)
    if len(np.unique(y[~unlabelled])) < 2:
        raise ValueError("the labelled inputs of y hold one class only: there is no "
                         "label to flip to")
    if y_true is not None:
        y_true = np.asarray(y_true)
        if y_true.shape != y.shape:
            raise ValueError(f"y_true has shape {y_true.shape}, y has {y.shape}")
    return estimator, X, y, unlabelled, y_true


def victim_operator(X, estimator, victim, n_jobs, graph):
    """The victim's certified graph operator on validated features."""
    return GraphOperator(RBFGraph(X, estimator.gamma, effective_n_threads(n_jobs)), victim,
                         mode=graph, memory_budget=estimator.memory_budget)


def impact_on_graph(operator, estimator, y, unlabelled, y_true=None, panel_columns=None):
    """:func:`flip_impact` on a graph operator already built (label-independent, so
    one operator serves every split of the same data): ``estimator`` carries the
    victim's settings, ``y`` the validated labels (two or more classes), each label
    flipped to the next class in sorted order (the other one when binary)."""
    labelled = np.flatnonzero(~unlabelled).astype(np.int64)
    classes, codes = np.unique(y[labelled], return_inverse=True)
    targets = (codes + 1) % len(classes)
    outcome = _propagate_flips(estimator, operator, labelled, unlabelled, codes, targets,
                               len(classes), panel_columns)
    clean_codes, flipped_codes, n_iter, clean_n_iter = outcome
    clean_prediction = classes[clean_codes]
    changed = (flipped_codes[:, unlabelled] != clean_codes[unlabelled]).sum(axis=1)
    error = clean_error = None
    if y_true is not None:
        # compare codes (l x u small integers), not the l x u labels they stand for
        true_codes = np.full(int(unlabelled.sum()), -1, dtype=flipped_codes.dtype)
        for code, label in enumerate(classes):  # -1: a true label no input carries
            true_codes[y_true[unlabelled] == label] = code
        wrong = flipped_codes[:, unlabelled] != true_codes
        error = wrong.mean(axis=1) if unlabelled.any() else np.zeros(len(labelled))
        clean_error = float(np.mean(clean_prediction[unlabelled] != y_true[unlabelled])) \
            if unlabelled.any() else 0.0
    return FlipImpact(labelled=labelled, flip_to=classes[targets],
                      changed=changed.astype(np.int64), n_iter=n_iter,
                      clean_n_iter=clean_n_iter, clean_prediction=clean_prediction,
                      error=error, clean_error=clean_error)


def unit_iterations(estimator, operator, labelled, columns=None, labels=None):
    """The victim's iteration run on unit labels: yields ``(t, A_t, D_t)`` for
    ``t = 0, ..., max_iter``.

    ``A_t`` (n x m) holds the responses after ``t`` updates to a unit label on the
    labelled inputs ``labelled[columns]`` (all of them by default), ``D_t = A_t -
    A_{t-1}`` (``A_{-1} = 0``, scikit-learn's first previous iterate).  Both live in
    buffers the next step reuses: read them before asking for the next.  With
    ``labels`` (l x m, rows summing to one) the labelled rows hold those instead of
    units (``labels = C``, the one-hot labels, is the clean fit itself).

    Label propagation divides each row by its sum over *all* unit columns; when
    ``columns`` is a part of them, that sum travels with the panel as one extra
    column (the response to a unit on every labelled input, which is 1 on every
    row it has reached), so a panel's columns equal the whole run's.
    """
    n, spreading = operator.graph.n, operator.variant == "spreading"
    if labels is None:
        columns = np.arange(len(labelled)) if columns is None else np.asarray(columns)
        m = len(columns)
        rows, cols, values = labelled[columns], np.arange(m), 1.0
    else:
        m = labels.shape[1]
        held = np.nonzero(labels)
        rows, cols, values = labelled[held[0]], held[1], labels[held]
    partial = m < len(labelled) and labels is None and not spreading
    operator.forget_deepened()
    A = np.zeros((n, m + partial))
    A[rows, cols] = values
    if partial:
        A[labelled, m] = 1.0
    floor = None
    if spreading:  # (1 - alpha) E, in the product's units
        floor = np.zeros(n)
        clamp = np.broadcast_to(values, rows.shape) * (1.0 - estimator.alpha)
        np.add.at(floor, rows, clamp / estimator.alpha)
    previous = None  # n x m buffers: A, the previous A (reused for D), the product
    for t in range(estimator.max_iter + 1):
        D = A if previous is None else np.subtract(A, previous, out=previous)
        yield t, A[:, :m], D[:, :m]
        if t == estimator.max_iter:
            return
        del D  # its buffer is free once the caller drops it: two n x m arrays, not three
        previous = A
        product = operator.apply(A, floor)
        if spreading:  # alpha S A + (1 - alpha) E
            product *= estimator.alpha
            product[rows, cols] += (1.0 - estimator.alpha) * values
        else:  # rows normalised, the labelled rows clamped to E
            normaliser = product[:, m:] if partial else product.sum(axis=1, keepdims=True)
            normaliser = np.where(normaliser == 0, 1.0, normaliser)
            product /= normaliser
            product[labelled] = 0.0
            product[rows, cols] = values
            if partial:
                product[labelled, m] = 1.0
        A = product


def _propagate_flips(estimator, operator, labelled, unlabelled, codes, targets, n_classes,
                     panel_columns=None):
    """Run the victim on the unit responses; read the clean fit and every flip at the
    iteration its own stopping test ends it.  Returns (clean codes, flipped codes
    (l x n), flips' n_iter, clean n_iter).

    The unit responses run ``panel_columns`` at a time (by default as many as
    ``PANEL_BYTES`` of buffers hold, all of them where they fit): a panel that is
    not all of them runs beside the clean fit itself (``labels=C``), which gives
    the clean change ``G`` and scores that the panel cannot sum up alone."""
    n_labelled, n = len(labelled), operator.graph.n
    C = np.zeros((n_labelled, n_classes))
    C[np.arange(n_labelled), codes] = 1.0
    width = panel_columns or max(1, PANEL_BYTES // (24 * max(n, 1)) - 1)
    flipped = np.empty((n_labelled, len(unlabelled)), dtype=_code_dtype(n_classes))
    n_iter = np.full(n_labelled, estimator.max_iter, dtype=np.int64)
    clean, clean_n_iter = None, estimator.max_iter
    for start in range(0, n_labelled, width):
        panel = np.arange(start, min(n_labelled, start + width))
        whole = len(panel) == n_labelled
        units = unit_iterations(estimator, operator, labelled, None if whole else panel)
        beside = None if whole else unit_iterations(estimator, operator, labelled, labels=C)
        pending = np.ones(len(panel), dtype=bool)
        for t, A, D in units:
            if not whole:
                _, F, D_clean = next(beside)

            def clean_scores():
                return A @ C if whole else F

            if t == estimator.max_iter:
                break
            G = D @ C if whole else D_clean
            clean_change = np.abs(G).sum()
            if clean is None and clean_change < estimator.tol:
                clean, clean_n_iter = _codes(clean_scores()), t
            stop = pending & _flips_stop(D, G, clean_change, codes[panel], targets[panel],
                                         estimator.tol)
            if stop.any():
                at = np.flatnonzero(stop)
                flipped[panel[at]] = _flipped_codes(clean_scores(), A, at, codes[panel[at]],
                                                    targets[panel[at]])
                n_iter[panel[at]], pending[at] = t, False
            if clean is not None and not pending.any():
                break
            del D  # its buffer is the next product's input: no fourth n x l array
        if clean is None:
            clean = _codes(clean_scores())
        if pending.any():
            at = np.flatnonzero(pending)
            flipped[panel[at]] = _flipped_codes(clean_scores(), A, at, codes[panel[at]],
                                                targets[panel[at]])
    return clean, flipped, n_iter, clean_n_iter


#: Bytes of the unit responses' buffers (three n x panel arrays) flip_impact holds.
PANEL_BYTES = 1 << 29


#: A flip's stopping test is decided from the bound when it clears ``tol`` by more
#: than this fraction of the clean change (far beyond the rounding of either sum).
DECIDED = 1e-9


def _flips_stop(D, G, clean_change, codes, targets, tol):
    """Whether each flip's stopping test ``sum |F_t(k) - F_{t-1}(k)| < tol`` holds.

    A flip moves two columns by ``D[:, k]``, so its change is within
    ``2 sum_u |D_uk|`` of the clean one; only the flips that bound cannot decide
    are summed exactly (:func:`_flip_changes`).
    """
    reach = 2.0 * _column_abs_sums(D)
    margin = DECIDED * clean_change
    stop = clean_change + reach < tol - margin
    open_ = np.flatnonzero(~stop & (clean_change - reach < tol + margin))
    for start in range(0, len(open_), FLIP_BLOCK):
        part = open_[start : start + FLIP_BLOCK]
        stop[part] = _flip_changes(D[:, part], G, clean_change, codes[part],
                                   targets[part]) < tol
    return stop


#: Flips whose changes are summed at a time (bounds the n x flips temporaries).
FLIP_BLOCK = 256


def _code_dtype(n_classes):
    """The smallest signed integer type that holds class codes and -1."""
    return np.int8 if n_classes < 128 else np.int16 if n_classes < 2**15 else np.int64


def _column_abs_sums(D, block=4096):
    """``np.abs(D).sum(axis=0)`` by blocks of rows (no n x l temporary)."""
    sums = np.zeros(D.shape[1])
    for start in range(0, D.shape[0], block):
        sums += np.abs(D[start : start + block]).sum(axis=0)
    return sums


def _flip_changes(D, G, clean_change, codes, targets):
    """``sum |F_t(k) - F_{t-1}(k)|`` of the flips whose moved columns are ``D``,
    flipped from class ``codes`` to ``targets`` (see the module docstring)."""
    Ga, Gb = G[:, codes], G[:, targets]  # n x flips: the columns each flip touches
    return (clean_change - np.abs(Ga).sum(axis=0) - np.abs(Gb).sum(axis=0)
            + np.abs(Ga - D).sum(axis=0) + np.abs(Gb + D).sum(axis=0))


def _flipped_codes(scores, A, flips, codes, targets, block=64):
    """Predicted class codes (len(flips) x n) of the flipped fits (``scores``: the
    clean fit's, n x classes; ``A[:, flips]``: the flipped labels' unit responses),
    ``block`` flips at a time (their scores side by side: block x n x classes)."""
    out = np.empty((len(flips), A.shape[0]), dtype=_code_dtype(scores.shape[1]))
    for start in range(0, len(flips), block):
        part = slice(start, start + block)
        moved = A[:, flips[part]].T  # block x n
        at = np.arange(len(moved))
        F = np.repeat(scores[np.newaxis], len(moved), axis=0)
        F[at, :, codes[part]] -= moved
        F[at, :, targets[part]] += moved
        out[part] = _codes(F)
    return out


def _codes(F):
    """scikit-learn's transduction: rows (the last axis) normalised, then the first
    largest class (normalising by a positive row sum never changes which class is
    largest)."""
    normaliser = F.sum(axis=-1, keepdims=True)
    normaliser[normaliser == 0] = 1.0
    return np.argmax(F / normaliser, axis=-1)


__all__ = ["FlipImpact", "flip_impact"]
