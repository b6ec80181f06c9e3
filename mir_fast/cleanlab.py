"""The countermeasure as a cleanlab ``Datalab`` issue type: labels worth re-checking.

``pip install "mir_fast[cleanlab]"`` installs ``cleanlab[datalab]``.  Importing this
module registers the issue type ``"label_influence"``::

    from cleanlab import Datalab
    import mir_fast.cleanlab  # registers "label_influence"

    lab = Datalab(data={"y": y}, label_name="y")
    lab.find_issues(issue_types={"label_influence": {
        "features": X, "unlabelled": y == -1, "gamma": 5.0}})
    lab.get_issues("label_influence")      # is_label_influence_issue, label_influence_score
    lab.report()

Datalab has no notion of unlabelled inputs (it maps every label value, ``-1``
included, to a class), so the mask of unlabelled inputs is an argument of the issue
type; so are the features, which Datalab hands only to its built-in issue types
(the ``features=`` of ``find_issues`` does not reach a registered one).  For each labelled input the Major Influence Range ``MIR`` (how many
unlabelled inputs it dominates) gives the score ``1 - MIR / max MIR`` (cleanlab's
convention: in [0, 1], near 0 the most severe, so the label whose corruption would
do the most damage scores 0); unlabelled inputs score 1 and are never issues.  The
issues are the labels with MIR > 0 (each is the major influencer of at least one
unlabelled input), or the ``budget`` most influential.  The summary score is the
mean score of the labelled inputs.
"""

import numpy as np
from cleanlab.datalab.internal.issue_manager import IssueManager
from cleanlab.datalab.internal.issue_manager_factory import register

from .attack import flagged_for_recheck
from .influence import major_influence_range


class LabelInfluenceIssueManager(IssueManager):
    """Flags the labels with the most influence on the unlabelled inputs (MIR).

    Parameters (through ``issue_types={"label_influence": {...}}``)
    ----------
    features : array-like or sparse matrix, shape (n, d)
    unlabelled : array-like of bool, shape (n,)
        Which inputs have no label (their label values in Datalab are ignored).
    gamma : float or "auto", default "auto"
    budget : int, float or None
        Flag this many labels (count or fraction of the labelled inputs); None flags
        every label with MIR > 0.
    threshold : float, default 0.5
    n_jobs : int or None
    """

    description = (
        "A label whose input is the major influencer of many unlabelled inputs under an "
        "RBF graph (its Major Influence Range, MIR): if it is wrong, graph-based "
        "semi-supervised learners spread the error to every input it dominates. Re-check "
        "these labels first (Franci et al., CAIN 2022).\n\n"
        "Score: 1 - MIR / (largest MIR); unlabelled inputs score 1.")
    issue_name = "label_influence"
    verbosity_levels = {0: [], 1: ["gamma"], 2: ["largest_mir", "n_unlabelled"], 3: []}

    def __init__(self, datalab, unlabelled=None, gamma="auto", budget=None, threshold=0.5,
                 n_jobs=None, **_):
        super().__init__(datalab)
        self.unlabelled, self.gamma, self.budget = unlabelled, gamma, budget
        self.threshold, self.n_jobs = threshold, n_jobs

    def find_issues(self, features=None, **kwargs):
        if features is None:
            raise ValueError("label_influence needs the features among its arguments: "
                             "issue_types={'label_influence': {'features': X, ...}} "
                             "(Datalab passes find_issues(features=...) to its built-in "
                             "issue types only)")
        labels = np.asarray(self.datalab.labels)
        if self.unlabelled is None:
            raise ValueError("label_influence needs the mask of unlabelled inputs: "
                             "issue_types={'label_influence': {'unlabelled': y == -1}} "
                             "(Datalab maps -1 to a class like any other label)")
        unlabelled = np.asarray(self.unlabelled, dtype=bool)
        if unlabelled.shape != labels.shape:
            raise ValueError(f"unlabelled has shape {unlabelled.shape}, the labels "
                             f"{labels.shape}")
        y = np.where(unlabelled, -1, labels).astype(np.int64)
        result = major_influence_range(features, y, gamma=self.gamma,
                                       threshold=self.threshold, n_jobs=self.n_jobs)
        mir = np.zeros(len(y), dtype=np.int64)
        mir[result.labelled] = result.scores
        largest = int(mir.max(initial=0))
        score = np.ones(len(y)) if largest == 0 else 1.0 - mir / largest
        is_issue = np.zeros(len(y), dtype=bool)
        is_issue[flagged_for_recheck(result, self.budget)] = True
        self.issues = self._frame(is_issue, score)
        self.summary = self.make_summary(score=float(score[result.labelled].mean()))
        self.info = {"gamma": result.gamma, "threshold": result.threshold,
                     "largest_mir": largest, "n_unlabelled": len(result.unlabelled),
                     "mir": mir.tolist()}

    def _frame(self, is_issue, score):
        import pandas as pd

        return pd.DataFrame({f"is_{self.issue_name}_issue": is_issue,
                             self.issue_score_key: score})

    def collect_info(self, *args, **kwargs):
        return self.info


register(LabelInfluenceIssueManager)

__all__ = ["LabelInfluenceIssueManager"]
