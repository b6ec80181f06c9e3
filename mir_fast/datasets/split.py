"""The paper's labelled / unlabelled split: the only place it is written."""

import numbers

import numpy as np


def kept_labels(n_samples, labelled_fraction, random_state=2020):
    """Positions that keep their labels: of ``RandomState(seed).permutation(n)``, the
    first ``int(n * labelled_fraction)``.

    Raises
    ------
    ValueError
        If ``labelled_fraction`` is not a number in (0, 1], or labels no input.
    """
    if isinstance(labelled_fraction, bool) or not isinstance(labelled_fraction, numbers.Real):
        raise ValueError(f"labelled_fraction must be a number in (0, 1], got "
                         f"{labelled_fraction!r}")
    if not 0.0 < labelled_fraction <= 1.0:
        raise ValueError(f"labelled_fraction must be in (0, 1], got {labelled_fraction!r}")
    n_labelled = int(n_samples * labelled_fraction)
    if n_labelled == 0:
        raise ValueError(f"labelled_fraction={labelled_fraction} labels no input of {n_samples}")
    return np.random.RandomState(random_state).permutation(n_samples)[:n_labelled]


def labelled_split(y, labelled_fraction, random_state=2020):
    """The paper's split: ``RandomState(seed).permutation(n)``, first ``int(n p)`` keep labels.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels: integers, floats (kept as floats), booleans (become 0 / 1) or
        strings.
    labelled_fraction : float in (0, 1]
    random_state : int, default=2020

    Returns
    -------
    ndarray of shape (n_samples,)
        A copy of ``y`` with every other entry set to -1 (``"-1"`` for strings, in an
        object array): integer labels as int64, float labels as float64.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    keep = kept_labels(len(y), labelled_fraction, random_state)
    if y.dtype.kind in "USO":
        y_out = np.full(len(y), "-1", dtype=object)
    elif y.dtype.kind == "f":
        if np.isnan(y).any():
            raise ValueError("y contains NaN; mark unlabelled inputs with -1")
        y_out = np.full(len(y), -1.0)
    elif y.dtype.kind in "biu":
        y_out = np.full(len(y), -1, dtype=np.int64)
    else:
        raise ValueError(f"y must hold class labels (numbers or strings), got dtype {y.dtype}")
    y_out[keep] = y[keep]
    return y_out
