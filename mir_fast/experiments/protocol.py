"""What every research question shares: the data, the split, the MIR ranking, flips,
and the error rates of the transductive and inductive models."""

from dataclasses import dataclass

import numpy as np

from .. import major_influence_range
from ..datasets import describe, labelled_split, load
from ..victims import VICTIMS, BatchedVictim, inductive_error, transductive_error

PAPER_SEED = 2020
LABELLED_FRACTIONS = (0.05, 0.15, 0.25)
BUDGETS = (0.05, 0.10, 0.15, 0.20)
MODELS = ("rf", "mlp")


def victim_order(name):
    """Sort key of a victim's name: its place in the registry (``victims.VICTIMS``),
    unregistered names last."""
    names = list(VICTIMS)
    return (names.index(name), name) if name in names else (len(names), name)


@dataclass
class Problem:
    """A binary data set as class codes 0 / 1 (``class_codes``), with its RBF width."""

    name: str
    title: str
    gamma: float
    X: object
    y: np.ndarray
    X_test: object
    y_test: np.ndarray
    stand_in_for: object = None
    n_jobs: object = None
    classes: tuple = ()  # the labels coded 0 and 1

    @classmethod
    def load(cls, name, data_home=None, n_jobs=None, max_train=None):
        info = describe(name)
        X, y, X_test, y_test = load(name, data_home=data_home)
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"the experiments are binary; {name} has {len(classes)} classes")
        if max_train is not None and X.shape[0] > max_train:
            X, y = X[:max_train], y[:max_train]
        order = tuple(info.class_order or classes)
        return cls(name, info.title, info.gamma, X, class_codes(y, order), X_test,
                   class_codes(y_test, order), info.stand_in_for, n_jobs,
                   tuple(v.item() if hasattr(v, "item") else v for v in order))

    def split(self, fraction, seed):
        """The paper's split of the transductive set (-1 = unlabelled)."""
        return labelled_split(self.y, fraction, random_state=seed)

    def mir_ranking(self, split):
        """Labelled inputs by decreasing MIR (the attack's order); MIR scores by input."""
        result = major_influence_range(self.X, split, gamma=self.gamma, n_jobs=self.n_jobs)
        scores = np.zeros(len(split), dtype=np.int64)
        scores[result.labelled] = result.scores
        return result.ranking(), scores

    def victim(self, variant):
        """The batched victim (one graph per problem, shared by every victim)."""
        if not hasattr(self, "_victims"):
            self._victims = {}
        if variant not in self._victims:
            self._victims[variant] = BatchedVictim(self.X, variant, self.gamma,
                                                   n_jobs=self.n_jobs,
                                                   share=list(self._victims.values()))
        return self._victims[variant]

    def transductive_error(self, predicted, split):
        return transductive_error(predicted, self.y, split == -1)

    def inductive_errors(self, splits, predicted, seed=PAPER_SEED):
        """RF and MLP test errors for each pair of label vectors, each model trained on
        every transductive input: the given labels where ``splits[i]`` has one
        (poisoned or not), the victim's ``predicted[i]`` elsewhere.  The fits (seeded,
        single-threaded, so identical however they are scheduled) run side by side
        in ``n_jobs`` worker processes: scikit-learn's MLP spends most of its time
        in Python between small products and leaves the other cores idle.  Equal
        label vectors (an attack that stopped short of its budget) are fitted once.

        Returns
        -------
        list of dict
            ``{"rf": error, "mlp": error}`` per pair.
        """
        from joblib import Parallel, delayed

        from .._threads import requested_threads

        labels = [np.where(split != -1, split, guess) for split, guess in zip(splits, predicted)]
        first = {}  # label vector -> position of its first occurrence
        distinct = [first.setdefault(vector.tobytes(), i) for i, vector in enumerate(labels)]
        fits = [(i, model) for i in first.values() for model in MODELS]
        workers = min(len(fits), requested_threads(self.n_jobs))
        errors = Parallel(n_jobs=workers)(
            delayed(inductive_error)(model, self.X, labels[i], self.X_test, self.y_test,
                                     random_state=seed) for i, model in fits)
        found = {i: {} for i in distinct}
        for (i, model), error in zip(fits, errors):
            found[i][model] = error
        return [dict(found[i]) for i in distinct]


def class_codes(labels, class_order=None):
    """Binary labels as codes 0 / 1: ``class_order[0]`` -> 0 and ``class_order[1]`` -> 1
    (the published code codes MNIST's 7 as 0 and 1 as 1), ascending when None."""
    labels = np.asarray(labels)
    order = np.unique(labels) if class_order is None else np.asarray(class_order)
    unknown = ~np.isin(labels, order)
    if unknown.any():
        raise ValueError(f"label {labels[unknown][0].tolist()!r} is not one of the classes "
                         f"{order.tolist()}")
    return (labels == order[1]).astype(np.int64)


def flipped(split, indices):
    """``split`` with the binary labels at ``indices`` flipped."""
    poisoned = split.copy()
    poisoned[indices] = 1 - poisoned[indices]
    return poisoned


def budget_size(budget, n_labelled):
    return int(budget * n_labelled)


def repeat_seeds(seed, repeats):
    """Split seeds of the repetitions: the paper's seed first, then the next ones."""
    return [seed + r for r in range(repeats)]
