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
    """A binary data set as class codes 0 / 1, with its RBF width."""

    name: str
    title: str
    gamma: float
    X: object
    y: np.ndarray
    X_test: object
    y_test: np.ndarray
    stand_in_for: object = None
    n_jobs: object = None

    @classmethod
    def load(cls, name, data_home=None, n_jobs=None, max_train=None):
        info = describe(name)
        X, y, X_test, y_test = load(name, data_home=data_home)
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"the experiments are binary; {name} has {len(classes)} classes")
        if max_train is not None and X.shape[0] > max_train:
            X, y = X[:max_train], y[:max_train]
        codes = np.searchsorted(classes, y)
        test_codes = np.searchsorted(classes, y_test)
        return cls(name, info.title, info.gamma, X, codes, X_test, test_codes,
                   info.stand_in_for, n_jobs)

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
        """The batched victim (its graph is built once per problem)."""
        if not hasattr(self, "_victims"):
            self._victims = {}
        if variant not in self._victims:
            self._victims[variant] = BatchedVictim(self.X, variant, self.gamma,
                                                   n_jobs=self.n_jobs)
        return self._victims[variant]

    def transductive_error(self, predicted, split):
        return transductive_error(predicted, self.y, split == -1)

    def inductive_errors(self, split, predicted, seed=PAPER_SEED):
        """RF and MLP test errors, trained on every transductive input: the given labels
        where ``split`` has one (poisoned or not), the victim's elsewhere."""
        labels = np.where(split != -1, split, predicted)
        return {model: inductive_error(model, self.X, labels, self.X_test, self.y_test,
                                       random_state=seed)
                for model in MODELS}


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
