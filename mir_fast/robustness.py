"""Certified robustness to label flips: the fewest flips that change each prediction.

For a fixed labelled set and a fixed number of updates ``T`` both victims are linear
in the one-hot labels (``mir_fast.impact``): the class scores are ``F = A C`` with
``A = A_T`` (n x l, entries >= 0) the responses to a unit label on each labelled
input and ``C`` (l x classes) the one-hot labels.  The prediction of unlabelled
input ``u`` is ``p``, the first class of largest ``F_u`` (scikit-learn's argmax).

A set of flips ``S`` (labelled input ``j`` from its class ``a_j`` to ``b_j``, each
input at most once) gives ``F'_u = F_u + sum_{j in S} A_uj (e_{b_j} - e_{a_j})``.
The prediction changes exactly when some rival class ``c != p`` beats ``p``:
``F'_uc > F'_up``, or ``F'_uc = F'_up`` with ``c < p`` (the first largest wins).
Flipping ``j`` lowers the margin ``m_uc = F_up - F_uc`` by at most

    g_uj(c) = 2 A_uj   if a_j = p   (flipped to c),
              A_uj     if a_j not in {p, c}   (flipped to c),
              0        if a_j = c,

(flipping ``j`` from ``p`` to a third class lowers it by ``A_uj`` only, flipping it
away from ``c`` raises it).  So the fewest flips that let ``c`` beat ``p`` is the
smallest ``k_c`` whose ``k_c`` largest gains ``g_uj(c)`` close the margin, and

    radius(u) = min_{c != p} k_c(u),

exactly: a flip set that changes the prediction lets its new class ``c`` beat
``p``, which takes at least ``k_c(u)`` flips, and the ``k_c(u)`` largest gains
towards ``c`` do it.  The radius is -1 when no set of flips can (no rival's gains
add up to its margin).

Stopping.  With ``tol > 0`` scikit-learn stops before the first update ``t`` with
``sum |F_t - F_{t-1}| < tol``.  A flip moves column ``j`` of ``D_t = A_t - A_{t-1}``
between two classes, so a set of at most ``k`` flips moves that sum by at most
``2 (the k largest column sums of |D_t|)``; where every test up to the clean
stopping one clears ``tol`` by more, every set of at most ``k`` flips stops where
the clean fit does.  ``stable_flips`` is the largest such ``k``: radii up to it
are exact for the fits as scikit-learn runs them, larger ones exact for the fixed
iteration count ``n_iter`` (and still certify that no ``stable_flips`` flips change
the prediction).

Memory.  ``A`` is never needed whole: panels of its columns are propagated in
turn (propagation's row normalisation travels with each panel, see
:func:`~mir_fast.impact.unit_iterations`) and reduced on the fly to each row's
``max_flips`` largest gains per rival, O(U k (classes - 1) + n panel).
"""

from dataclasses import dataclass

import numpy as np

from ._validation import check_count
from .impact import (DECIDED, _codes, _column_abs_sums, flip_problem, unit_iterations,
                     victim_operator)

#: Bytes the propagation buffers of one panel of unit responses may take (MNIST 1 vs 7
#: at 25% labelled: panels of 859 of the 3,252 columns).
PANEL_BYTES = 1 << 28


@dataclass(frozen=True)
class FlipRobustness:
    """How many label flips each transductive prediction survives.

    Attributes
    ----------
    unlabelled : ndarray of int64, shape (U,)
        Indices (into X) of the unlabelled inputs, ascending.
    prediction : ndarray, shape (U,)
        Their clean predicted classes (the victim's ``transduction_``).
    radius : ndarray of int64, shape (U,)
        The fewest label flips that change each prediction; -1 when no set of
        flips can; ``max_flips + 1`` means more than ``max_flips``.
    flips : list of (ndarray, ndarray)
        For each unlabelled input, labelled indices (into X) and the classes they
        are flipped to, a set of ``radius`` flips that changes its prediction
        (empty where the radius is -1 or more than ``max_flips``).
    n_iter : int
        The clean fit's ``n_iter_``: the certificate's iteration count.
    stable_flips : int
        Every set of at most this many flips stops at ``n_iter`` too.
    max_flips : int or None
    correct : ndarray of bool or None
        Whether each clean prediction is right (given ``y_true``).
    """

    unlabelled: np.ndarray
    prediction: np.ndarray
    radius: np.ndarray
    flips: list
    n_iter: int
    stable_flips: int
    max_flips: object = None
    correct: object = None

    def robust(self, k):
        """Whether each prediction is unchanged by every set of at most ``k`` flips."""
        k = _check_k(k, self.max_flips)
        return (self.radius == -1) | (self.radius > k)

    def certified_fraction(self, k):
        """Share of the unlabelled inputs whose prediction no ``k`` flips change."""
        return float(self.robust(k).mean()) if len(self.radius) else 1.0

    def certified_accuracy(self, k):
        """Share of the unlabelled inputs predicted correctly whatever ``k`` flips
        an attacker makes (needs ``y_true``)."""
        if self.correct is None:
            raise ValueError("certified_accuracy needs y_true: pass it to flip_robustness")
        return float((self.robust(k) & self.correct).mean()) if len(self.radius) else 1.0


def _check_k(k, max_flips):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    if max_flips is not None and k > max_flips:
        raise ValueError(f"k={k} is beyond max_flips={max_flips}: radii above it were not "
                         "computed")
    return int(k)


def flip_robustness(X, y, *, victim="propagation", gamma, max_flips=None, y_true=None,
                    n_jobs=None, graph="auto", panel_columns=None, **victim_params):
    """For every unlabelled input, the fewest label flips that change its prediction.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n, d)
    y : array-like of shape (n,)
        Labels, ``-1`` for unlabelled inputs.
    victim : {"propagation", "spreading"}
        The victim and its settings (``max_iter``, ``tol``, ``alpha``) as for
        :func:`mir_fast.flip_impact`.
    gamma : float
        RBF width.
    max_flips : int, optional
        Look for radii up to this many flips (memory and time grow with it); all
        radii by default.
    y_true : array-like of shape (n,), optional
        True labels, for :meth:`FlipRobustness.certified_accuracy`.
    n_jobs, graph
        As for the estimators.
    panel_columns : int, optional
        Unit responses propagated at once (default: as many as ``PANEL_BYTES``
        of buffers hold).

    Returns
    -------
    FlipRobustness
    """
    max_flips = check_count("max_flips", max_flips)
    estimator, X, y, unlabelled, y_true = flip_problem(X, y, victim, gamma, y_true, n_jobs,
                                                       graph, victim_params)
    panel_columns = check_count("panel_columns", panel_columns)
    operator = victim_operator(X, estimator, victim, n_jobs, graph)
    return robustness_on_graph(operator, estimator, y, unlabelled, max_flips, y_true,
                               panel_columns)


class _Problem:
    """The labelled set, its class codes and the clean fit, on one operator."""

    def __init__(self, operator, estimator, y, unlabelled):
        self.operator, self.estimator = operator, estimator
        self.labelled = np.flatnonzero(~unlabelled).astype(np.int64)
        self.unlabelled = np.flatnonzero(unlabelled).astype(np.int64)
        self.classes, self.codes = np.unique(y[self.labelled], return_inverse=True)
        C = np.zeros((len(self.labelled), len(self.classes)))
        C[np.arange(len(self.labelled)), self.codes] = 1.0
        self.n_iter, self.changes, F = _clean_fit(estimator, operator, self.labelled, C)
        self.scores = F[self.unlabelled]
        self.prediction = _codes(self.scores)
        # the stopping tests the flips must not change: every one before n_iter
        # (no stop) and n_iter's own when it stopped the clean fit
        last = self.n_iter if self.n_iter < estimator.max_iter else self.n_iter - 1
        self.tests = np.arange(last + 1)
        self.reach = np.zeros((len(self.tests), len(self.labelled)))

    def panels(self, panel_columns=None):
        """Yield ``(columns, A_T[:, columns])``, recording each column's reach
        (``sum_u |D_t|`` at every stopping test) on the way."""
        n, l = self.operator.graph.n, len(self.labelled)
        width = panel_columns or max(1, PANEL_BYTES // (24 * max(n, 1)) - 1)
        for start in range(0, l, width):
            columns = np.arange(start, min(l, start + width))
            for t, A, D in unit_iterations(self.estimator, self.operator, self.labelled,
                                           columns):
                if t < len(self.tests):
                    self.reach[t, columns] = _column_abs_sums(D)
                if t == self.n_iter:
                    yield columns, A
                    break

    def stable_flips(self):
        """The most flips that cannot move any stopping test across ``tol``."""
        tol = self.estimator.tol
        stable = len(self.labelled)
        if tol <= 0:  # a change is never below tol: every fit runs max_iter updates
            return stable
        for t in self.tests:
            room = abs(self.changes[t] - tol) - DECIDED * self.changes[t]
            reach = np.cumsum(2.0 * np.sort(self.reach[t])[::-1])
            stable = min(stable, int(np.searchsorted(reach, room, side="left")))
        return stable


def _clean_fit(estimator, operator, labelled, C):
    """scikit-learn's loop on the one-hot labels: (n_iter_, the change at every
    test, F after n_iter_ updates)."""
    changes = []
    for t, F, D in unit_iterations(estimator, operator, labelled, labels=C):
        if t == estimator.max_iter:
            return t, np.asarray(changes), F.copy()
        changes.append(np.abs(D).sum())
        if changes[-1] < estimator.tol:
            return t, np.asarray(changes), F.copy()


def _rival_classes(prediction, n_classes):
    """(U x classes - 1): each row's rivals, the classes other than its prediction."""
    slots = np.arange(n_classes - 1)[None, :]
    return slots + (slots >= prediction[:, None])


def _gains(A_rows, codes, prediction, rivals):
    """g(c) of the module docstring for one rival per row: (U x columns)."""
    own = codes[None, :] == prediction[:, None]
    towards = codes[None, :] == rivals[:, None]
    return A_rows * np.where(own, 2.0, np.where(towards, 0.0, 1.0))


class _TopGains:
    """Each row's ``k`` largest gains per rival and their columns, merged panel by
    panel (free places hold gain -1, column -1), and the total gain per rival."""

    def __init__(self, n_rows, n_rivals, k):
        self.k = k
        self.values = np.full((n_rows, n_rivals, k), -1.0)
        self.columns = np.full((n_rows, n_rivals, k), -1, dtype=np.int64)
        self.total = np.zeros((n_rows, n_rivals))

    def add(self, slot, gains, columns):
        self.total[:, slot] += gains.sum(axis=1)
        values = np.concatenate([self.values[:, slot], gains], axis=1)
        where = np.concatenate([self.columns[:, slot],
                                np.broadcast_to(columns, gains.shape)], axis=1)
        keep = np.argpartition(-values, self.k - 1, axis=1)[:, : self.k]
        self.values[:, slot] = np.take_along_axis(values, keep, axis=1)
        self.columns[:, slot] = np.take_along_axis(where, keep, axis=1)

    def sorted(self):
        order = np.argsort(-self.values, axis=2, kind="stable")
        return (np.take_along_axis(self.values, order, axis=2),
                np.take_along_axis(self.columns, order, axis=2))


def _radii(top, scores, prediction, rivals, max_flips):
    """(radius, best rival slot, sorted columns) from the gains of every row."""
    values, columns = top.sorted()
    rows = np.arange(len(prediction))
    margin = scores[rows, prediction][:, None] - np.take_along_axis(scores, rivals, axis=1)
    ties_win = rivals < prediction[:, None]  # a tie goes to the first class

    def beats(gain, margin, ties_win):
        return (gain > margin) | ((gain == margin) & ties_win)

    closed = beats(np.cumsum(values, axis=2), margin[:, :, None], ties_win[:, :, None])
    found = closed.any(axis=2)
    needed = np.where(found, np.argmax(closed, axis=2) + 1, np.iinfo(np.int64).max)
    best = np.argmin(needed, axis=1)
    radius = np.where(found.any(axis=1), needed[rows, best], -1)
    if max_flips is not None:  # -1 only where no rival's total gain closes its margin
        beyond = ~found.any(axis=1) & beats(top.total, margin, ties_win).any(axis=1)
        radius = np.where(beyond, max_flips + 1, radius)
    return radius.astype(np.int64), best, columns


def _certify(problem, rows, max_flips, panels):
    """Radii and witness flips of the unlabelled inputs at positions ``rows`` of
    ``problem.unlabelled``, from ``panels``: ``(columns, A_T[those inputs, columns])``."""
    n_classes = len(problem.classes)
    prediction, scores = problem.prediction[rows], problem.scores[rows]
    rivals = _rival_classes(prediction, n_classes)
    k = len(problem.labelled) if max_flips is None else min(max_flips, len(problem.labelled))
    top = _TopGains(len(rows), n_classes - 1, k)
    for columns, A_rows in panels:
        for slot in range(n_classes - 1):
            top.add(slot, _gains(A_rows, problem.codes[columns], prediction, rivals[:, slot]),
                    columns)
    radius, best, columns = _radii(top, scores, prediction, rivals, max_flips)
    flips = []
    for u, r in enumerate(radius):
        if 0 < r <= k:
            chosen = columns[u, best[u], :r]
            flips.append((problem.labelled[chosen],
                          np.full(r, problem.classes[rivals[u, best[u]]])))
        else:
            flips.append((np.zeros(0, dtype=np.int64), problem.classes[:0]))
    return radius, flips


def robustness_on_graph(operator, estimator, y, unlabelled, max_flips=None, y_true=None,
                        panel_columns=None):
    """:func:`flip_robustness` on a graph operator already built."""
    problem = _Problem(operator, estimator, y, unlabelled)
    panels = ((columns, A[problem.unlabelled]) for columns, A in problem.panels(panel_columns))
    radius, flips = _certify(problem, np.arange(len(problem.unlabelled)), max_flips, panels)
    correct = None
    if y_true is not None:
        correct = problem.classes[problem.prediction] == y_true[problem.unlabelled]
    return FlipRobustness(unlabelled=problem.unlabelled,
                          prediction=problem.classes[problem.prediction], radius=radius,
                          flips=flips, n_iter=int(problem.n_iter),
                          stable_flips=problem.stable_flips(), max_flips=max_flips,
                          correct=correct)


@dataclass(frozen=True)
class FlipAttack:
    """A set of label flips meant to change chosen predictions, checked by a refit.

    Attributes
    ----------
    targets : ndarray of int64
        The unlabelled inputs (indices into X) whose predictions it attacks.
    flipped : ndarray of int64
        Labelled inputs flipped (indices into X), in the order chosen.
    flip_to : ndarray
        The class each is flipped to.
    changed : ndarray of bool
        For each target, whether the victim refitted on the flipped labels predicts
        another class than the clean fit.
    lower_bound : int
        No set of fewer flips can change every target: the largest of their radii
        (-1 when some target's prediction no flips can change).
    """

    targets: np.ndarray
    flipped: np.ndarray
    flip_to: np.ndarray
    changed: np.ndarray
    lower_bound: int

    @property
    def succeeded(self):
        return bool(self.changed.all())


def flip_attack(X, y, targets, *, victim="propagation", gamma, max_flips=None, n_jobs=None,
                graph="auto", **victim_params):
    """The fewest label flips found that change every target prediction.

    Greedy over the targets' rows of ``A`` (module docstring): each step takes the
    flip that changes the most targets, ties broken by the smallest remaining
    margins (each in units of its clean margin); one target alone gets its
    certified smallest set.  The result is checked by refitting the victim on the
    flipped labels, and the largest certified radius bounds it from below.

    Parameters
    ----------
    targets : array-like of int
        Indices (into X) of unlabelled inputs.
    max_flips : int, optional
        Give up after this many flips (default: as many as there are labels).
    Other parameters as for :func:`flip_robustness`.

    Returns
    -------
    FlipAttack
    """
    max_flips = check_count("max_flips", max_flips)
    estimator, X, y, unlabelled, _ = flip_problem(X, y, victim, gamma, None, n_jobs, graph,
                                                  victim_params)
    targets = np.unique(np.asarray(targets))
    if targets.dtype.kind not in "iu" or not len(targets):
        raise ValueError("targets must be a non-empty array of indices of unlabelled inputs")
    if targets.min() < 0 or targets.max() >= len(y) or not unlabelled[targets].all():
        raise ValueError("targets must index unlabelled inputs of y (entries -1)")
    operator = victim_operator(X, estimator, victim, n_jobs, graph)
    problem = _Problem(operator, estimator, y, unlabelled)
    rows = np.searchsorted(problem.unlabelled, targets)
    A_rows = np.concatenate([A[targets] for _, A in problem.panels()], axis=1)
    radius, witness = _certify(problem, rows, None, [(np.arange(len(problem.labelled)),
                                                      A_rows)])
    lower_bound = -1 if (radius == -1).any() else int(radius.max())
    budget = len(problem.labelled) if max_flips is None else max_flips
    if len(targets) == 1 and 0 < radius[0] <= budget:
        flipped, flip_to = witness[0]
        flip_to = np.searchsorted(problem.classes, flip_to)
        positions = np.searchsorted(problem.labelled, flipped)
    else:
        positions, flip_to = _greedy(A_rows, problem.scores[rows], problem.prediction[rows],
                                     problem.codes, len(problem.classes), budget)
    codes = problem.codes.copy()
    codes[positions] = flip_to
    changed = _refit_codes(problem, codes)[rows] != problem.prediction[rows]
    return FlipAttack(targets=targets, flipped=problem.labelled[positions],
                      flip_to=problem.classes[flip_to], changed=changed,
                      lower_bound=lower_bound)


def _greedy(A, scores, prediction, codes, n_classes, budget):
    """Greedy flips (labelled positions, target codes) until every row's argmax
    leaves ``prediction`` or ``budget`` flips are made."""
    S = scores.copy()
    rows = np.arange(len(S))
    scale = _gaps(S, prediction)
    scale[scale <= 0] = 1.0
    free = np.ones(len(codes), dtype=bool)
    positions, flip_to = [], []
    while len(positions) < budget and (_codes(S) == prediction).any():
        best = None
        for b in range(n_classes):
            J = np.flatnonzero(free & (codes != b))
            if not len(J):
                continue
            moved = np.repeat(S[:, None, :], len(J), axis=1)  # targets x J x classes
            moved[:, np.arange(len(J)), codes[J]] -= A[:, J]
            moved[:, :, b] += A[:, J]
            still = np.argmax(moved, axis=2) == prediction[:, None]
            n_changed = (~still).sum(axis=0)
            gaps = _gaps(moved, prediction[:, None])
            remaining = np.where(still, np.maximum(gaps, 0.0) / scale[:, None], 0.0).sum(axis=0)
            pick = np.lexsort((remaining, -n_changed))[0]
            key = (-int(n_changed[pick]), float(remaining[pick]))
            if best is None or key < best[0]:
                best = key, int(J[pick]), b
        if best is None:
            break
        _, j, b = best
        S[rows, codes[j]] -= A[:, j]
        S[rows, b] += A[:, j]
        free[j] = False
        positions.append(j)
        flip_to.append(b)
    return np.asarray(positions, dtype=np.int64), np.asarray(flip_to, dtype=np.int64)


def _gaps(S, prediction):
    """The score of ``prediction`` minus the best rival's, along the last axis of
    ``S`` (``prediction`` shaped like ``S`` without it)."""
    at = prediction[..., None]
    own = np.take_along_axis(S, at, axis=-1)
    rival = S.copy()
    np.put_along_axis(rival, at, -np.inf, axis=-1)
    return own[..., 0] - rival.max(axis=-1)


def _refit_codes(problem, codes):
    """The victim's transduction (class codes of the unlabelled inputs) refitted on
    the labelled set with class ``codes``: scikit-learn's loop on the same graph."""
    C = np.zeros((len(problem.labelled), len(problem.classes)))
    C[np.arange(len(problem.labelled)), codes] = 1.0
    for t, F, D in unit_iterations(problem.estimator, problem.operator, problem.labelled,
                                   labels=C):
        if t == problem.estimator.max_iter or np.abs(D).sum() < problem.estimator.tol:
            return _codes(F[problem.unlabelled])


__all__ = ["FlipAttack", "FlipRobustness", "flip_attack", "flip_robustness"]
