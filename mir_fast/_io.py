"""Reading (X, y) from files and writing result tables, for the command line.

Formats, chosen by extension or ``fmt``:

* ``.npz``: arrays ``X`` and ``y`` (``numpy.savez``), or a scipy sparse matrix
  saved by ``scipy.sparse.save_npz`` together with ``labels``;
* ``.npy``: X only, with ``labels`` (another ``.npy`` or a text file, one per line);
* ``.csv``: numeric feature columns and one label column (by default the last;
  a header row is detected when its feature cells are not numbers);
* ``.svm``, ``.svmlight``, ``.libsvm``, ``.txt``: LIBSVM / svmlight, kept sparse.

An empty label or one equal to ``unlabelled_value`` (default ``-1``) marks an
unlabelled input.  Every problem raises ``InputError`` with one line saying what.
"""

import csv
import io
import json
import os
import sys

import numpy as np
import scipy.sparse as sp

SVMLIGHT_EXTENSIONS = (".svm", ".svmlight", ".libsvm", ".txt")
FORMATS = ("npz", "npy", "csv", "svmlight")


class InputError(ValueError):
    """A file that cannot be used as (X, y); the message is meant for the user."""


class Dataset:
    """Features and labels read from files.

    ``labels`` holds the labels as read (strings for CSV, numbers otherwise);
    ``unlabelled`` is the boolean mask of unlabelled inputs.
    """

    def __init__(self, X, labels, unlabelled):
        self.X = X
        self.labels = labels
        self.unlabelled = unlabelled
        if X.shape[0] != len(labels):
            raise InputError(f"X has {X.shape[0]} rows but there are {len(labels)} labels")
        if unlabelled.all():
            raise InputError("every input is unlabelled: there is nothing to score")

    def codes(self):
        """(classes, y) with y the class codes 0..C-1 and -1 for unlabelled inputs."""
        classes, codes = np.unique(self.labels[~self.unlabelled], return_inverse=True)
        y = np.full(len(self.labels), -1, dtype=np.int64)
        y[~self.unlabelled] = codes
        return classes, y

    def keep_labelled_fraction(self, fraction, seed):
        """The paper's split: of ``RandomState(seed).permutation(n)`` keep the first
        ``int(n * fraction)`` labels; every other input becomes unlabelled."""
        from .datasets.split import kept_labels

        try:
            keep = kept_labels(len(self.labels), fraction, seed)
        except ValueError as exc:
            raise InputError(f"--labelled-fraction: {exc}") from None
        hidden = np.ones(len(self.labels), dtype=bool)
        hidden[keep] = False
        return Dataset(self.X, self.labels, self.unlabelled | hidden)


def detect_format(path, fmt=None):
    if fmt:
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    extension = os.path.splitext(path)[1].lower()
    if extension in (".npz", ".npy", ".csv"):
        return extension[1:]
    if extension in SVMLIGHT_EXTENSIONS:
        return "svmlight"
    raise InputError(
        f"cannot tell the format of {path!r} from its extension; use --format "
        f"({', '.join(FORMATS)})"
    )


def read_dataset(path, *, labels=None, fmt=None, label_column=None, unlabelled_value="-1"):
    """Read (X, labels) from ``path`` (and ``labels`` for X-only formats)."""
    _check_file(path)
    fmt = detect_format(path, fmt)
    try:
        if fmt == "csv":
            X, raw = _read_csv(path, label_column)
        elif fmt == "svmlight":
            X, raw = _read_svmlight(path)
        else:
            X, raw = _read_numpy(path, fmt, labels)
    except InputError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise InputError(f"cannot read {path} as {fmt}: {exc}") from None
    raw = np.asarray(raw)
    if raw.ndim != 1:
        raise InputError(f"labels must be one per input, got shape {raw.shape}")
    if len(raw) == 0:
        raise InputError(f"{path} holds no inputs")
    _check_class_labels(raw, unlabelled_value)
    if raw.dtype.kind in "US" or raw.dtype == object:
        raw = raw.astype(str)
        unlabelled = (raw == "") | (raw == str(unlabelled_value))
    else:
        try:
            marker = float(unlabelled_value)
        except ValueError:
            raise InputError(f"numeric labels cannot be marked unlabelled by "
                             f"{unlabelled_value!r}; use a number") from None
        unlabelled = raw == marker
    if not sp.issparse(X):
        X = np.asarray(X)
        if X.ndim != 2:
            raise InputError(f"X must be a 2-D table, got shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise InputError(f"features must be numeric, got dtype {X.dtype}")
    return Dataset(X, raw, unlabelled)


def _check_file(path):
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory, not a data file")
    if not os.path.isfile(path):
        raise InputError(f"no such file: {path}")


#: The first bytes of a .npy file and of a .npz file (a zip archive, maybe empty).
NPY_MAGIC = b"\x93NUMPY"
NPZ_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _load_numpy(path, kind):
    """np.load without pickles, with messages that say what the file is."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    if kind == "npy" and not head.startswith(NPY_MAGIC):
        raise InputError(f"{path} is not a NumPy .npy file (it does not start with the "
                         ".npy header)")
    if kind == "npz" and not head.startswith(NPZ_MAGICS):
        raise InputError(f"{path} is not a NumPy .npz file (it is not a zip archive)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise _object_array_error(path, exc) from None


def _object_array_error(path, exc):
    if "pickle" in str(exc):
        return InputError(f"{path} holds an array of Python objects, which mir-fast does not "
                          "load (loading one could run code); save numeric arrays")
    return exc


def _read_numpy(path, fmt, labels_path):
    if fmt == "npz":
        with _load_numpy(path, "npz") as archive:
            try:
                return _read_npz(path, archive, labels_path)
            except ValueError as exc:
                raise _object_array_error(path, exc) from None
    return _load_numpy(path, "npy"), _read_labels(labels_path, "a .npy file")


def _read_npz(path, archive, labels_path):
    keys = set(archive.files)
    if {"X", "y"} <= keys:
        return archive["X"], archive["y"]
    if {"indptr", "format", "shape"} <= keys:
        return sp.load_npz(path), _read_labels(labels_path, "a sparse .npz")
    raise InputError(
        f"{path} must hold arrays 'X' and 'y' (numpy.savez(path, X=X, y=y)); "
        f"it holds {sorted(keys)}"
    )


def _check_class_labels(raw, unlabelled_value):
    """Labels that are numbers must be whole numbers: a column of fractions is a
    feature (or regression target), and would make a class of every value."""
    values = raw
    if raw.dtype.kind in "US":
        values = raw[(raw != "") & (raw != str(unlabelled_value))]
        try:
            values = values.astype(np.float64)
        except ValueError:
            return  # class names
    if values.dtype.kind != "f" or len(values) == 0:
        return
    fractional = values[np.isfinite(values) & (values != np.round(values))]
    if len(fractional):
        raise InputError(f"the labels hold {len(np.unique(fractional))} non-integer numbers "
                         f"(e.g. {fractional[0]:g}): labels must be classes (whole numbers "
                         "or names); is the label column a feature column?")


def _read_labels(labels_path, what):
    if labels_path is None:
        raise InputError(f"{what} holds only X: give the labels with --labels FILE")
    _check_file(labels_path)
    if labels_path.endswith(".npy"):
        return _load_numpy(labels_path, "npy")
    with open(labels_path) as fh:
        return np.array([line.strip() for line in fh if line.strip() != ""])


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path, label_column):
    with open(path, newline="") as fh:
        rows = [row for row in csv.reader(fh) if row]
    if not rows:
        raise InputError(f"{path} is empty")
    width = len(rows[0])
    if width < 2:
        raise InputError(f"{path} needs feature columns and a label column; found {width} column")
    header = None
    if label_column is not None and not str(label_column).lstrip("-").isdigit():
        header = rows.pop(0)
    elif not all(_is_number(cell) or cell == "" for cell in rows[0]):
        header = rows.pop(0)
    column = _label_column_index(label_column, header, width, path)
    features, labels = [], []
    for line, row in enumerate(rows, start=2 if header else 1):
        if len(row) != width:
            raise InputError(f"{path} line {line}: {len(row)} columns, expected {width}")
        labels.append(row[column].strip())
        cells = row[:column] + row[column + 1 :]
        try:
            features.append([float(cell) for cell in cells])
        except ValueError:
            bad = next(cell for cell in cells if not _is_number(cell))
            raise InputError(f"{path} line {line}: feature {bad!r} is not a number") from None
    if not features:
        raise InputError(f"{path} has a header but no rows")
    return np.array(features), np.array(labels)


def _label_column_index(label_column, header, width, path):
    if label_column is None:
        return width - 1
    text = str(label_column)
    if text.lstrip("-").isdigit():
        index = int(text)
        if not -width <= index < width:
            raise InputError(f"{path} has {width} columns; no column {index}")
        return index % width
    if header is None or text not in header:
        raise InputError(f"{path} has no column named {text!r}")
    return header.index(text)


def _read_svmlight(path):
    from sklearn.datasets import load_svmlight_file

    X, y = load_svmlight_file(path)
    return X, y


#: Longest cell of a Markdown table before it is cut (lists of dominated inputs).
MARKDOWN_CELL = 60


def output_format(out=None, fmt=None, terminal=False):
    """The format of a table: ``fmt`` if given, else from ``out``'s extension (.json,
    .md), else Markdown on a terminal and CSV in a pipe or file."""
    if fmt is not None:
        return fmt
    if out:
        lower = out.lower()
        return "json" if lower.endswith(".json") else "markdown" if lower.endswith(".md") \
            else "csv"
    return "markdown" if terminal else "csv"


def _cell(value):
    return " ".join(map(str, value)) if isinstance(value, (list, np.ndarray)) else _plain(value)


def write_table(records, columns, out=None, fmt=None):
    """Write records (dicts) as CSV, JSON or a Markdown table to ``out`` (a path) or
    standard output (Markdown when that is a terminal, unless ``fmt`` says)."""
    fmt = output_format(out, fmt, terminal=not out and sys.stdout.isatty())
    buffer = io.StringIO()
    if fmt == "json":
        json.dump([{c: _plain(r[c]) for c in columns} for r in records], buffer, indent=1)
        buffer.write("\n")
    elif fmt == "markdown":
        rows = [[str(_cell(r[c])) for c in columns] for r in records]
        rows = [[v if len(v) <= MARKDOWN_CELL else v[: MARKDOWN_CELL - 3] + "..." for v in row]
                for row in rows]
        widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
        line = lambda cells: "| " + " | ".join(v.ljust(w) for v, w in zip(cells, widths)) + " |"
        buffer.write("\n".join([line(columns), line(["-" * w for w in widths])]
                               + [line(row) for row in rows]) + "\n")
    else:
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow([_cell(record[c]) for c in columns])
    if out:
        with open(out, "w") as fh:
            fh.write(buffer.getvalue())
    else:
        print(buffer.getvalue(), end="")


def _plain(value):
    """numpy scalars and arrays as plain Python values (for JSON and CSV)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value
