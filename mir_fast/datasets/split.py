"""The paper's labelled / unlabelled split."""

import numpy as np


def labelled_split(y, labelled_fraction, random_state=2020):
    """The paper's split: ``RandomState(seed).permutation(n)``, first ``int(n p)`` keep labels.

    Returns a copy of ``y`` (as an integer or object array) with every other entry
    set to -1.
    """
    y = np.asarray(y)
    if not 0.0 < labelled_fraction <= 1.0:
        raise ValueError(f"labelled_fraction must be in (0, 1], got {labelled_fraction!r}")
    order = np.random.RandomState(random_state).permutation(len(y))
    n_labelled = int(len(y) * labelled_fraction)
    if n_labelled == 0:
        raise ValueError(f"labelled_fraction={labelled_fraction} labels no input of {len(y)}")
    y_out = y.astype(object) if y.dtype.kind in "USO" else y.astype(np.int64)
    y_out[order[n_labelled:]] = "-1" if y.dtype.kind in "US" else -1
    return y_out
