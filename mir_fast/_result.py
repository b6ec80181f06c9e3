"""The result of a Major Influence Range computation, and its degeneracy warning.

Below the kernel seam (``_core``), which assembles results, and above nothing but
numpy: the public API, the Dask version and the harness all return this record.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class MIRResult:
    """Major Influence Range of every labelled input, and how it was obtained.

    Attributes
    ----------
    labelled : ndarray of int64, shape (n_labelled,)
        Indices (into X) of the labelled inputs, ascending.
    scores : ndarray of int64, shape (n_labelled,)
        ``scores[i]`` is the MIR of input ``labelled[i]``.
    unlabelled : ndarray of int64, shape (n_unlabelled,)
        Indices (into X) of the unlabelled inputs, ascending.
    dominant : ndarray of int64, shape (n_unlabelled,)
        For each unlabelled input, the index (into X) of its most influential
        labelled input (the nearest; the lower index on ties).
    share : ndarray of float64, shape (n_unlabelled,)
        That input's share of the labelled influence, in (0, 1].
    distance : ndarray of float64, shape (n_unlabelled,)
        Squared Euclidean distance to that input.
    gamma, threshold : float
        The RBF width and the share an input must exceed to count.
    stage : ndarray of int8, shape (n_unlabelled,)
        Which pass certified each row: 0 is the fast pass; the exact pass is the
        last one (see ``mir_fast._core``).  Diagnostic only.
    """

    labelled: np.ndarray
    scores: np.ndarray
    unlabelled: np.ndarray
    dominant: np.ndarray
    share: np.ndarray
    distance: np.ndarray = field(repr=False)
    gamma: float = field(kw_only=True)
    threshold: float = field(kw_only=True)
    stage: np.ndarray = field(repr=False, kw_only=True)

    @property
    def counted(self):
        """Boolean mask over ``unlabelled``: rows whose share exceeds the threshold."""
        return self.share > self.threshold

    def order(self):
        """Positions into ``labelled``, most influential first.

        Primary key: MIR, highest first.  Inputs with MIR 0 follow, ranked by the
        number of unlabelled inputs they are nearest to (they would dominate those
        if their rivals were removed), then by the largest share they hold over one
        of them.  Remaining ties go to the lower index.
        """
        n_labelled = len(self.labelled)
        position = np.searchsorted(self.labelled, self.dominant)
        nearest_count = np.bincount(position, minlength=n_labelled)
        largest_share = np.zeros(n_labelled)
        np.maximum.at(largest_share, position, self.share)
        has_mir = self.scores > 0
        secondary = np.where(has_mir, 0, nearest_count)
        tertiary = np.where(has_mir, 0.0, largest_share)
        # np.lexsort sorts by its last key first
        return np.lexsort((np.arange(n_labelled), -tertiary, -secondary, -self.scores))

    def ranking(self):
        """Labelled indices, most influential first (see :meth:`order`)."""
        return self.labelled[self.order()]

    def __repr__(self):
        top = ", ".join(
            f"{self.labelled[p]}: {self.scores[p]}" for p in self.order()[:5]
        )
        return (
            f"MIRResult(n_labelled={len(self.labelled)}, n_unlabelled={len(self.unlabelled)}, "
            f"gamma={self.gamma:g}, threshold={self.threshold:g}, "
            f"dominated={int(self.counted.sum())}, top={{{top}}})"
        )


class DegenerateGammaWarning(UserWarning):
    """gamma makes MIR uninformative: every share is ~1, or almost none exceeds the threshold."""


def warn_if_degenerate(result, stacklevel=3):
    n_unlabelled = len(result.unlabelled)
    if n_unlabelled < 20 or len(result.labelled) < 2:
        return
    suggestion = "gamma='auto' makes half of the unlabelled inputs dominated"
    if np.mean(result.share > 0.99) > 0.95:
        warnings.warn(
            f"gamma={result.gamma:g} is so large that {np.mean(result.share > 0.99):.0%} of "
            "the unlabelled inputs give over 99% of their labelled influence to one input: "
            f"MIR reduces to nearest-neighbour counts. Try a smaller gamma ({suggestion}).",
            DegenerateGammaWarning, stacklevel=stacklevel,
        )
    elif np.mean(result.counted) < 0.05:
        warnings.warn(
            f"gamma={result.gamma:g} is so small that only {np.mean(result.counted):.1%} of "
            f"the unlabelled inputs have a major influencer (share > {result.threshold:g}): "
            f"MIR is almost all zeros. Try a larger gamma ({suggestion}).",
            DegenerateGammaWarning, stacklevel=stacklevel,
        )


def assemble(fold, labelled, unlabelled, gamma, threshold):
    """The :class:`MIRResult` of a certified fold (``_core.RowFold``) of every
    unlabelled row: shares, and the counts per labelled input."""
    share = 1.0 / fold.weight_sum
    counted = share > threshold
    scores = np.bincount(fold.nearest[counted], minlength=len(labelled)).astype(np.int64)
    return MIRResult(
        labelled=labelled,
        scores=scores,
        unlabelled=unlabelled,
        dominant=labelled[fold.nearest],
        share=share,
        distance=fold.d_min,
        gamma=gamma,
        threshold=threshold,
        stage=fold.stage,
    )
