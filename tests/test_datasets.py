"""Data set loaders: real files where installed, generated fixtures in the real formats."""

import bz2
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

from mir_fast import datasets
from mir_fast.datasets import MissingDataError


def test_split_reproduces_the_papers_permutation():
    y = np.arange(100) % 2
    split = datasets.labelled_split(y, 0.15, random_state=2020)
    order = np.random.RandomState(2020).permutation(100)
    assert (split[order[:15]] == y[order[:15]]).all()
    assert (split[order[15:]] == -1).all()


def test_fashion_pair_from_the_debian_folder():
    X, y, X_test, y_test = datasets.load("fashion:pullover-coat")
    assert X.shape == (12000, 784) and X_test.shape == (2000, 784)
    assert np.bincount(y)[[2, 4]].tolist() == [6000, 6000]
    assert np.bincount(y_test)[[2, 4]].tolist() == [1000, 1000]
    assert X.min() == 0.0 and X.max() == 1.0
    info = datasets.describe("fashion:2-4")
    assert info.stand_in_for == "CIFAR-10 cat vs ship" and "pullover vs coat" in info.title


@pytest.mark.parametrize("bad, message", [("fashion:2", "fashion:<a>-<b>"),
                                          ("fashion:2-2", "two different"),
                                          ("fashion:2-hat", "unknown Fashion-MNIST class"),
                                          ("imagenet", "unknown data set"),
                                          ("blobs:x", "number of points")])
def test_bad_names_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        datasets.load(bad)


def test_fashion_missing_says_what_to_install(monkeypatch, tmp_path):
    from mir_fast.datasets import images

    monkeypatch.setattr(images, "FASHION_DEBIAN_FOLDER", str(tmp_path / "nowhere"))
    monkeypatch.delenv("MIR_FAST_FASHION", raising=False)
    with pytest.raises(MissingDataError, match="apt-get install dataset-fashion-mnist"):
        datasets.fashion_mnist_pair(0, 6, data_home=str(tmp_path))


def _cifar_fixture(folder, per_batch=40, seed=0):
    rng = np.random.RandomState(seed)
    everything = {}
    for name in datasets.images.CIFAR_FILES:
        images = rng.randint(0, 256, size=(per_batch, 3072)).astype(np.uint8)
        labels = list(rng.randint(0, 10, size=per_batch))
        with open(folder / name, "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"data": images, b"labels": labels,
                         b"filenames": [b"x.png"] * per_batch}, fh, protocol=2)
        everything[name] = (images, np.array(labels))
    return everything


def test_cifar_cat_ship_from_python_pickles(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    written = _cifar_fixture(root)
    X, y, X_test, y_test = datasets.cifar_cat_ship(data_home=str(tmp_path))
    train = [written[f"data_batch_{i}"] for i in range(1, 6)]
    images = np.concatenate([t[0] for t in train])
    labels = np.concatenate([t[1] for t in train])
    keep = np.isin(labels, (3, 8))
    np.testing.assert_array_equal(y, labels[keep])
    np.testing.assert_allclose(X, images[keep] / 255.0)
    test_images, test_labels = written["test_batch"]
    test_keep = np.isin(test_labels, (3, 8))
    np.testing.assert_array_equal(y_test, test_labels[test_keep])
    np.testing.assert_allclose(X_test, test_images[test_keep] / 255.0)
    assert X.shape[1] == 3072 and set(np.unique(y)) <= {3, 8}


def test_cifar_wrong_pickle_and_missing_files(tmp_path):
    with pytest.raises(MissingDataError, match="MIR_FAST_CIFAR"):
        datasets.cifar_cat_ship(data_home=str(tmp_path))
    _cifar_fixture(tmp_path)
    with open(tmp_path / "test_batch", "wb") as fh:
        pickle.dump({b"something": 1}, fh)
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch"):
        datasets.cifar_cat_ship(data_home=str(tmp_path))


def test_rcv1_from_libsvm_files_keeps_sparse_and_reads_the_test_head(tmp_path):
    train = datasets.rcv1_like(60, 47236, nnz_per_row=20, random_state=1)
    test = datasets.rcv1_like(30, 47236, nnz_per_row=20, random_state=2)
    y_train = np.where(np.arange(60) % 3 == 0, 1, -1)
    y_test = np.where(np.arange(30) % 2 == 0, 1, -1)
    dump_svmlight_file(train, y_train, str(tmp_path / "rcv1_train.binary"), zero_based=False)
    dump_svmlight_file(test, y_test, str(tmp_path / "plain"), zero_based=False)
    with open(tmp_path / "plain", "rb") as fh, bz2.open(tmp_path / "rcv1_test.binary.bz2",
                                                        "wb") as out:
        out.write(fh.read())
    X, y, X_test, y_test_read = datasets.rcv1(data_home=str(tmp_path), n_test=25)
    assert sp.issparse(X) and X.format == "csr" and X.shape == (60, 47236)
    assert X_test.shape == (25, 47236)
    np.testing.assert_allclose(X.toarray(), train.toarray(), rtol=1e-12)
    np.testing.assert_allclose(X_test.toarray(), test[:25].toarray(), rtol=1e-12)
    np.testing.assert_array_equal(y, (y_train > 0).astype(int))
    np.testing.assert_array_equal(y_test_read, (y_test[:25] > 0).astype(int))


def test_rcv1_missing_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MIR_FAST_RCV1", raising=False)
    with pytest.raises(MissingDataError, match="LIBSVM"):
        datasets.rcv1(data_home=str(tmp_path))


@pytest.mark.parametrize("name", ["blobs:200", "moons:200"])
def test_synthetic_sets_are_seeded_and_binary(name):
    first = datasets.load(name, random_state=3)
    second = datasets.load(name, random_state=3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert first[0].shape == (160, 2) and set(np.unique(first[1])) == {0, 1}
