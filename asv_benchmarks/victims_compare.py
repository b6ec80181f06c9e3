"""The graph engine's targets in one run, as ratios measured side by side (not in CI).

* ``impact``: ``flip_impact`` on real MNIST 1 vs 7 (5% labelled, seed 2020, label
  propagation, max_iter 5, gamma 5) against a dense batched propagation of all the
  flipped label vectors (scikit-learn's ``rbf_kernel``, one GEMM per iteration),
  interleaved repeats, medians; the errors must be identical.
* ``mnist60k``: ``LabelSpreading(gamma=5, alpha=0.2, max_iter=30)`` on all 60,000
  MNIST training images (10 classes, 1% labelled, seed 2020): time, peak memory
  added to the input's, transductive accuracy, what the graph did.
* ``streaming``: label spreading on 200,000 RCV1-like rows (gamma 20), the graph
  forced to stream (every product recomputes the affinity): seconds per product
  against one pass of all pairwise sparse dot products (scipy's CSR product, the
  part of the work no exact product avoids) and against one dense float64 GEMM of
  the same shape (the issue's reference; both extrapolated), peak memory added.

Usage: python asv_benchmarks/victims_compare.py [impact] [mnist60k] [streaming]
"""

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from benchmarks.victims import _dense_batched_flips, _mnist17  # noqa: E402

from mir_fast import flip_impact  # noqa: E402
from mir_fast.datasets import labelled_split  # noqa: E402


def impact(repeats=3):
    X, labels = _mnist17()
    y = labelled_split(labels, 0.05, 2020)
    labelled = np.flatnonzero(y != -1)
    ours = flip_impact(X, y, gamma=5.0, y_true=labels, max_iter=5)
    F = _dense_batched_flips(X, y, 5.0)
    predicted = np.argmax(F.reshape(len(X), -1, 2), axis=2)  # n x (1 + l): clean, each flip
    unlabelled = y == -1
    dense_errors = (predicted[unlabelled].T != labels[unlabelled]).mean(axis=1)
    identical = (np.array_equal(ours.error, dense_errors[1:])
                 and ours.clean_error == dense_errors[0])
    times = compare.median_times(
        {"flip_impact": lambda: flip_impact(X, y, gamma=5.0, y_true=labels, max_iter=5),
         "dense batched": lambda: _dense_batched_flips(X, y, 5.0)}, repeats)
    print(f"flip_impact, MNIST 1 vs 7, {len(labelled)} flips, label propagation (max_iter 5): "
          f"{times['flip_impact']:.2f} s; dense batched {times['dense batched']:.2f} s; "
          f"{times['dense batched'] / times['flip_impact']:.1f}x; errors identical: "
          f"{identical} (medians of {repeats}, interleaved)")


def _mnist_all():
    from mir_fast.datasets.images import mnist_folder, read_idx

    folder = mnist_folder()
    images = read_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    return images.reshape(len(images), -1).astype(np.float32) / 255.0, y


def mnist60k():
    from mir_fast.semi_supervised import LabelSpreading

    X, labels = _mnist_all()
    y = labelled_split(labels, 0.01, 2020)
    before = compare._rss_bytes()
    compare._reset_peak_rss()
    start = time.perf_counter()
    model = LabelSpreading(gamma=5.0, alpha=0.2, max_iter=30, verbose=sys.stderr.isatty())
    model.fit(X, y)
    seconds = time.perf_counter() - start
    added = (compare._peak_rss_bytes() - before) / 1e9
    unlabelled = y == -1
    accuracy = float(np.mean(model.transduction_[unlabelled] == labels[unlabelled]))
    print(f"LabelSpreading(gamma=5, alpha=0.2, max_iter=30), all 60,000 MNIST images, 1% "
          f"labelled: {seconds:.1f} s, peak memory added {added:.2f} GB (input "
          f"{X.nbytes / 1e9:.2f} GB), n_iter {model.n_iter_}, transductive accuracy "
          f"{accuracy:.4f}; graph {model.graph_}")


def streaming(n_samples=200_000, products=2):
    from mir_fast._core.graph import RBFGraph
    from mir_fast._core.propagation import GraphOperator
    from mir_fast.datasets import rcv1_like

    X = rcv1_like(n_samples=n_samples, random_state=0)
    labels = (np.arange(n_samples) * 7919) % 2
    y = labelled_split(labels, 0.05, 2020)
    F = np.full((n_samples, 2), 0.5)  # every row live: products over whole rows
    F[y == 0] = (1.0, 0.0)
    F[y == 1] = (0.0, 1.0)
    before = compare._rss_bytes()
    compare._reset_peak_rss()
    start = time.perf_counter()
    operator = GraphOperator(RBFGraph(X, 20.0, compare.environment()["mir_fast threads"],
                                      verbose=sys.stderr.isatty()), "spreading",
                             mode="streaming")
    degrees = time.perf_counter() - start
    seconds = []
    for _ in range(products):
        start = time.perf_counter()
        F = 0.2 * operator.apply(F) + 0.8 * (F > 0)
        seconds.append(time.perf_counter() - start)
    added = (compare._peak_rss_bytes() - before) / 1e9
    columns = X.T.tocsr()
    start = time.perf_counter()
    for first in range(0, 2048, 64):
        (X[first : first + 64] @ columns).toarray()  # 64 rows' dot products with every row
    dots = (time.perf_counter() - start) * n_samples / 2048
    dense = np.random.default_rng(0).random((2048, 4096))
    start = time.perf_counter()
    dense @ dense.T
    gemm = (time.perf_counter() - start) * (n_samples / 2048) ** 2 * X.shape[1] / 4096
    per_product = float(np.median(seconds))
    print(f"streaming label spreading, {n_samples:,} RCV1-like rows, gamma 20: degree pass "
          f"{degrees:.0f} s, products {', '.join(f'{s:.0f}' for s in seconds)} s: "
          f"{per_product / dots:.2f}x one pass of all pairwise sparse dot products (scipy, "
          f"blocks of 64 rows, {dots:.0f} s), {per_product / gemm:.4f}x one dense float64 GEMM "
          f"of the same shape ({gemm:.0f} s); both references extrapolated from 2,048 rows; "
          f"peak memory added {added:.2f} GB (F: {F.nbytes / 1e6:.1f} MB)")


def main(argv):
    warnings.simplefilter("ignore")
    print(compare.environment())
    runs = {"impact": impact, "mnist60k": mnist60k, "streaming": streaming}
    for name in argv or ["impact"]:
        runs[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
