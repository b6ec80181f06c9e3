"""asv benchmarks of mir_fast: time, peak memory, and ratios measured in-process.

Benchmarks run with mir_fast's default threads (all physical cores, or
``OMP_NUM_THREADS`` when asv is started with it set); ``ThreadScaling`` measures 1 vs
2 threads directly, in one process.  ``track_`` benchmarks report
ratios taken in the same process on the same data, which survive a noisy machine:
mir_fast's time over one GEMM of the unlabelled x labelled shape (the physical
floor for dense data), and the paper's way (``rbf_kernel(X, X)`` then reductions)
over mir_fast's time.
"""

import contextlib
import time

import numpy as np

from mir_fast import major_influence_range
from mir_fast.datasets import clustered_pixels, labelled_split, rcv1_like

DENSE_ROWS = {"1k": 1000, "mnist": 13007}
#: about gamma="auto" for clustered_pixels(..., 784): half the rows dominated
DENSE_GAMMA = 1.18
SPARSE_ROWS = {"2k": 2000, "rcv1": 20242}


def _labels(n, fraction):
    return labelled_split(np.zeros(n, dtype=np.int64), fraction, 2020)


def _median_seconds(call, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _paper_way(X, y, gamma):
    from sklearn.metrics.pairwise import rbf_kernel

    W = rbf_kernel(X, X, gamma=gamma)
    block = W[np.ix_(np.flatnonzero(y == -1), np.flatnonzero(y != -1))]
    share = block.max(axis=1) / block.sum(axis=1)
    return np.bincount(block.argmax(axis=1)[share > 0.5], minlength=block.shape[1])


@contextlib.contextmanager
def cascade_only():
    """mir_fast with its local exact path (and the digit screen, planned under the
    same work threshold) switched off: the GEMM cascade alone."""
    from mir_fast._core import dense

    planned, dense.LOCAL_MIN_WORK = dense.LOCAL_MIN_WORK, np.inf
    try:
        yield
    finally:
        dense.LOCAL_MIN_WORK = planned


@contextlib.contextmanager
def float_passes():
    """mir_fast with its integer passes off (the grid pass, ``mir_fast/_core/grid.py``,
    the digit pass, ``digits.py``, and the digit screen, ``screened.py``): the data
    go through the float32 / float64 passes as before them."""
    from mir_fast._core import digits, grid, screened

    enabled = grid.ENABLED, digits.ENABLED, screened.ENABLED
    grid.ENABLED = digits.ENABLED = screened.ENABLED = False
    try:
        yield
    finally:
        grid.ENABLED, digits.ENABLED, screened.ENABLED = enabled


@contextlib.contextmanager
def blas_cascade():
    """The GEMM cascade on BLAS (the packed product, the local path and the integer
    passes off): the dense kernel as it was before ``mir_fast/_core/packed.py``."""
    from mir_fast._core import packed

    enabled, packed.ENABLED = packed.ENABLED, False
    try:
        with cascade_only(), float_passes():
            yield
    finally:
        packed.ENABLED = enabled


def _dense_setup(bench, rows, dtype, labelled):
    n = DENSE_ROWS[rows]
    bench.X = clustered_pixels(n, 784, random_state=0).astype(dtype)
    bench.y = _labels(n, labelled)
    bench.gamma = DENSE_GAMMA
    bench.XU = np.ascontiguousarray(bench.X[bench.y == -1])
    bench.XL = np.ascontiguousarray(bench.X[bench.y != -1])
    major_influence_range(bench.X, bench.y, gamma=bench.gamma)  # warm caches


def _sparse_setup(bench, rows, dtype, labelled):
    n = SPARSE_ROWS[rows]
    bench.X = rcv1_like(n_samples=n, random_state=0, dtype=dtype)
    bench.y = _labels(n, labelled)
    major_influence_range(bench.X, bench.y, gamma=20.0)


class DenseMIR:
    """Dense kernel on clustered pixel-like data of the MNIST width (784 features)."""

    params = (["1k", "mnist"], ["float32", "float64"], [0.05, 0.25])
    param_names = ["rows", "dtype", "labelled"]
    timeout = 300

    def setup(self, rows, dtype, labelled):
        _dense_setup(self, rows, dtype, labelled)

    def time_mir(self, rows, dtype, labelled):
        major_influence_range(self.X, self.y, gamma=self.gamma)

    def peakmem_mir(self, rows, dtype, labelled):
        major_influence_range(self.X, self.y, gamma=self.gamma)

    def track_ratio_to_gemm(self, rows, dtype, labelled):
        mir = _median_seconds(lambda: major_influence_range(self.X, self.y, gamma=self.gamma))
        gemm = _median_seconds(lambda: self.XU @ self.XL.T)
        return mir / gemm

    track_ratio_to_gemm.unit = "mir_fast / GEMM"


class DenseVsPaper:
    """The paper's way (rbf_kernel(X, X) then reductions) over mir_fast, 25% labelled."""

    params = (["1k", "mnist"], ["float32", "float64"])
    param_names = ["rows", "dtype"]
    timeout = 300

    def setup(self, rows, dtype):
        _dense_setup(self, rows, dtype, 0.25)

    def track_speedup_vs_paper(self, rows, dtype):
        mir = _median_seconds(lambda: major_influence_range(self.X, self.y, gamma=self.gamma))
        paper = _median_seconds(lambda: _paper_way(self.X, self.y, self.gamma), repeats=1)
        return paper / mir

    track_speedup_vs_paper.unit = "paper / mir_fast"


class SparseMIR:
    """CSR kernel on RCV1-shaped synthetic tf-idf (47,236 features)."""

    params = (["2k", "rcv1"], ["float32", "float64"], [0.05, 0.25])
    param_names = ["rows", "dtype", "labelled"]
    timeout = 300

    def setup(self, rows, dtype, labelled):
        _sparse_setup(self, rows, dtype, labelled)

    def time_mir(self, rows, dtype, labelled):
        major_influence_range(self.X, self.y, gamma=20.0)

    def peakmem_mir(self, rows, dtype, labelled):
        major_influence_range(self.X, self.y, gamma=20.0)


class SparseVsArgmin:
    """scikit-learn's pairwise_distances_argmin_min (nearest only) over mir_fast, 25%."""

    params = (["2k", "rcv1"], ["float32", "float64"])
    param_names = ["rows", "dtype"]
    timeout = 300

    def setup(self, rows, dtype):
        _sparse_setup(self, rows, dtype, 0.25)

    def track_speedup_vs_sklearn_argmin(self, rows, dtype):
        from sklearn.metrics import pairwise_distances_argmin_min

        XU, XL = self.X[self.y == -1], self.X[self.y != -1]
        mir = _median_seconds(lambda: major_influence_range(self.X, self.y, gamma=20.0))
        argmin = _median_seconds(lambda: pairwise_distances_argmin_min(XU, XL), repeats=1)
        return argmin / mir

    track_speedup_vs_sklearn_argmin.unit = "sklearn argmin / mir_fast"


class ThreadScaling:
    """Time at 1 thread over time at 2 threads, dense (MNIST shape) and CSR (RCV1 shape)."""

    params = ["dense", "csr"]
    param_names = ["kind"]
    timeout = 300

    def setup(self, kind):
        if kind == "dense":
            self.X = clustered_pixels(13007, 784, random_state=0)
            self.gamma = DENSE_GAMMA
        else:
            self.X = rcv1_like(random_state=0)
            self.gamma = 20.0
        self.y = _labels(self.X.shape[0], 0.25)

    def track_speedup_2_threads(self, kind):
        def at(n_jobs):
            return _median_seconds(
                lambda: major_influence_range(self.X, self.y, gamma=self.gamma, n_jobs=n_jobs)
            )

        return at(1) / at(2)

    track_speedup_2_threads.unit = "t(1 thread) / t(2 threads)"


class LocalMIR:
    """The dense exact path made local (``mir_fast/_core/local.py``) on real MNIST
    1 vs 7 at the paper's gamma 5, where it runs: its time, and its ratios to one GEMM
    of the unlabelled x labelled shape and to the GEMM cascade with the path off.  The
    grid pass is off throughout (its cascade is cheaper than the path on these 8-bit
    images, so the cost model would decline it): MNIST stands in for data off the
    grid."""

    params = (["float32", "float64"], [0.05, 0.25])
    param_names = ["dtype", "labelled"]
    timeout = 300

    def setup(self, dtype, labelled):
        from mir_fast.datasets import mnist17

        self.X = mnist17(dtype=np.dtype(dtype).type)[0]
        self.y = _labels(len(self.X), labelled)
        self.XU = np.ascontiguousarray(self.X[self.y == -1])
        self.XL = np.ascontiguousarray(self.X[self.y != -1])
        major_influence_range(self.X, self.y, gamma=5.0)

    def _mir(self):
        with float_passes():
            return major_influence_range(self.X, self.y, gamma=5.0)

    def _cascade(self):
        with cascade_only():
            return self._mir()

    def time_mir(self, dtype, labelled):
        self._mir()

    def track_ratio_to_gemm(self, dtype, labelled):
        return _median_seconds(self._mir) / _median_seconds(lambda: self.XU @ self.XL.T)

    track_ratio_to_gemm.unit = "mir_fast / GEMM"

    def track_ratio_to_cascade(self, dtype, labelled):
        return _median_seconds(self._mir) / _median_seconds(self._cascade)

    track_ratio_to_cascade.unit = "mir_fast / cascade"


class PackedProduct:
    """The dense cascade (local path and grid pass off) on its packed product against
    the same cascade on BLAS, on real MNIST 1 vs 7 (gamma 5) and the CIFAR shape
    (``clustered_pixels(10000, 3072)``), 25% labelled: time, and ratios to one GEMM
    of the unlabelled x labelled shape and to the BLAS cascade."""

    params = (["mnist", "cifar"], ["float32", "float64"], ["packed", "blas"])
    param_names = ["data", "dtype", "product"]
    timeout = 600

    def setup(self, data, dtype, product):
        if data == "mnist":
            from mir_fast.datasets import mnist17

            self.X = mnist17(dtype=np.dtype(dtype).type)[0]
            self.gamma = 5.0
        else:
            self.X = clustered_pixels(10000, 3072, random_state=0).astype(dtype)
            self.gamma = 0.55  # about gamma="auto"
        self.y = _labels(len(self.X), 0.25)
        self.XU = np.ascontiguousarray(self.X[self.y == -1])
        self.XL = np.ascontiguousarray(self.X[self.y != -1])
        self.product = product

    def _cascade(self, product):
        from mir_fast._core import packed

        with float_passes(), (cascade_only() if product == "packed" else blas_cascade()):
            assert (packed.PackedProduct.choose(len(self.XL), self.X.shape[1], self.X.dtype)
                    is None) == (product == "blas")
            return major_influence_range(self.X, self.y, gamma=self.gamma)

    def time_cascade(self, data, dtype, product):
        self._cascade(product)

    def track_ratio_to_gemm(self, data, dtype, product):
        return (_median_seconds(lambda: self._cascade(product))
                / _median_seconds(lambda: self.XU @ self.XL.T))

    track_ratio_to_gemm.unit = "cascade / GEMM"

    def track_ratio_to_blas(self, data, dtype, product):
        return (_median_seconds(lambda: self._cascade(product))
                / _median_seconds(lambda: self._cascade("blas")))

    track_ratio_to_blas.unit = "cascade / BLAS cascade"


class GridPass:
    """The dense cascade on 8-bit data (``mir_fast/_core/grid.py``): real MNIST 1 vs 7
    (gamma 5) and the CIFAR shape with 8-bit pixels (``clustered_pixels(10000, 3072,
    levels=256)``), 25% labelled: mir_fast's time, and its ratios to one GEMM of the
    unlabelled x labelled shape and to the same call with the grid pass off (the
    float passes)."""

    params = (["mnist", "cifar8"], ["float32", "float64"])
    param_names = ["data", "dtype"]
    timeout = 600

    def setup(self, data, dtype):
        if data == "mnist":
            from mir_fast.datasets import mnist17

            self.X = mnist17(dtype=np.dtype(dtype).type)[0]
            self.gamma = 5.0
        else:
            self.X = clustered_pixels(10000, 3072, random_state=0, levels=256).astype(dtype)
            self.gamma = 0.55  # about gamma="auto"
        self.y = _labels(len(self.X), 0.25)
        self.XU = np.ascontiguousarray(self.X[self.y == -1])
        self.XL = np.ascontiguousarray(self.X[self.y != -1])

    def _mir(self):
        return major_influence_range(self.X, self.y, gamma=self.gamma)

    def _float_passes(self):
        with float_passes():
            return self._mir()

    def time_mir(self, data, dtype):
        self._mir()

    def track_ratio_to_gemm(self, data, dtype):
        return _median_seconds(self._mir) / _median_seconds(lambda: self.XU @ self.XL.T)

    track_ratio_to_gemm.unit = "mir_fast / GEMM"

    def track_ratio_to_float_passes(self, data, dtype):
        return _median_seconds(self._mir) / _median_seconds(self._float_passes)

    track_ratio_to_float_passes.unit = "mir_fast / float passes"


class DigitPass(GridPass):
    """The dense cascade on continuous float32 data through the digit pass
    (``mir_fast/_core/digits.py``, AMX): the CIFAR shape (``clustered_pixels(10000,
    3072)``, gamma 0.55), 25% labelled; the same ratios as ``GridPass``, the float
    passes being the float32 pass here."""

    params = (["cifar"], ["float32"])

    def setup(self, data, dtype):
        from mir_fast._core import digits

        if digits.ISA == 0:
            raise NotImplementedError("no AMX on this machine: the digit pass cannot run")
        self.X = clustered_pixels(10000, 3072, random_state=0).astype(dtype)
        self.gamma = 0.55
        self.y = _labels(len(self.X), 0.25)
        self.XU = np.ascontiguousarray(self.X[self.y == -1])
        self.XL = np.ascontiguousarray(self.X[self.y != -1])


class DigitScreen(DigitPass):
    """Continuous float64 data through the digit screen and the exact pass on the
    labelled rows it keeps (``mir_fast/_core/screened.py``, AMX): the CIFAR shape,
    gamma 0.55, 25% labelled; the ratios to one GEMM and to the float passes (here
    the float64 pass)."""

    params = (["cifar"], ["float64"])


class GridProducts:
    """The grid pass's kernel alone (``_grid.fold_grid``, fold included) on real
    MNIST 1 vs 7 (25% labelled, float32) with each product this machine has: AVX-512
    VNNI (``isa`` 1) and AMX (``isa`` 2; the same integers)."""

    params = ([1, 2],)
    param_names = ["isa"]

    def setup(self, isa):
        from mir_fast import _grid
        from mir_fast._core import grid
        from mir_fast._core._tiling import packed_tile_rows
        from mir_fast.datasets import mnist17

        if isa > grid.ISA:
            raise NotImplementedError(f"this machine's grid kernels stop at isa {grid.ISA}")
        X = mnist17(dtype=np.float32)[0]
        y = _labels(len(X), 0.25)
        labelled = np.flatnonzero(y != -1)
        rows = np.flatnonzero(y == -1)
        n, m = len(rows), len(labelled)
        outputs = [np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n),
                   np.empty(n, np.int64), np.empty(n), np.empty(m, np.int64), np.empty(m)]
        tile = packed_tile_rows(n, 2, _grid.register_block(isa)[0])
        chunk = -(-m // grid.BLOCK) * grid.BLOCK

        def fold():
            _grid.fold_grid(X, labelled, rows, 1 / 255, 5.0, tile, grid.BLOCK, chunk,
                            grid.SLICE_GROUPS, isa, 2, *outputs)

        self.fold = fold

    def time_fold_grid(self, isa):
        self.fold()
