"""The packed dense product (``mir_packed.h``, ``_core/packed.py``) against the oracle:
its products within the certificate's bound, its results bit for bit the same for
every thread count, tile height, labelled chunk and instruction set it runs on, and
the certified answers those of the oracle and of the BLAS path."""

import os
import platform

import numpy as np
import pytest
from oracle import oracle_mir, sq_distances

from mir_fast import _dense, _digits, auto_gamma, major_influence_range
from mir_fast._core import dense, grid, packed
from mir_fast._core._certificate import distance_error_bound
from mir_fast._core._tiling import (PACKED_TILE_ROWS, PACKED_TILE_STEP, float32_slice,
                                     packed_tile_rows)
from mir_fast._core.dense import DenseStatistics, centred_sq_norms
from mir_fast._core.grid import MISFIT_TOLERANCE, SCALES

#: Instruction sets this CPU runs (the tests run each one it has).
ISAS = [isa for isa in (2, 1) if isa <= packed.ISA]


def cpu_level():
    """The x86-64 level of this CPU from /proc/cpuinfo's flags (2: v4, 1: v3, 0:
    neither), independently of the kernels' own detection."""
    with open("/proc/cpuinfo") as fh:
        flags = next(set(line.split(":", 1)[1].split()) for line in fh
                     if line.startswith("flags"))
    v3 = {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}
    v4 = v3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}
    return 2 if v4 <= flags else 1 if v3 <= flags else 0


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo") or platform.machine() != "x86_64",
                    reason="reads the x86-64 flags of Linux's /proc/cpuinfo")
def test_the_kernels_detect_the_instruction_set_the_cpu_has():
    """A silent BLAS fallback would leave the packed path untested (CI's machine has
    AVX-512: both instruction sets run here)."""
    assert packed.ISA == cpu_level()


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo") or platform.machine() != "x86_64",
                    reason="reads the x86-64 flags of Linux's /proc/cpuinfo")
def test_the_grid_kernels_run_where_the_cpu_has_vnni():
    """The grid pass (``_core/grid.py``; its tests skip without it) runs wherever the
    CPU has x86-64-v4 and AVX-512 VNNI, as CI's machine does, its products on AMX
    where the process has it (as the digit pass, ``_core/digits.py``)."""
    with open("/proc/cpuinfo") as fh:
        flags = next(set(line.split(":", 1)[1].split()) for line in fh
                     if line.startswith("flags"))
    vnni = int(cpu_level() == 2 and "avx512_vnni" in flags)
    amx = _digits.digits_isa()  # AMX, where the kernel also grants it to the process
    assert amx == 0 or {"amx_tile", "amx_int8"} <= flags
    assert grid.ISA == (vnni + amx if vnni else 0)


@pytest.fixture
def packed_everywhere(monkeypatch):
    """The packed path for passes of any size (these test data are small)."""
    monkeypatch.setattr(packed, "MIN_LABELLED_FEATURES", 0)


def clustered(rng, n, d, dtype, offset=0.0, centres=30):
    points = rng.normal(size=(centres, d))
    X = points[rng.integers(0, centres, n)] + 0.3 * rng.normal(size=(n, d)) + offset
    return X.astype(dtype)


def split(rng, n, n_labelled):
    labelled = np.sort(rng.choice(n, n_labelled, replace=False))
    rows = np.setdiff1d(np.arange(n), labelled)
    return labelled.astype(np.int64), rows.astype(np.int64)


def run_packed(X, labelled, rows, work_dtype, gamma, isa=2, tile_rows=96, block=256,
               chunk=None, n_threads=2):
    """fold_packed's raw outputs (nearest, d_min, d_second, weight_sum, sq_norms)."""
    mean = DenseStatistics.of(X).mean.astype(work_dtype)
    norm_lab = centred_sq_norms(X, labelled, mean, 1)
    width = (float32_slice(X.shape[1]) if work_dtype == np.float32
             else min(packed.FLOAT64_SLICE, X.shape[1]))
    n = len(rows)
    outputs = [np.empty(n, np.int64)] + [np.empty(n) for _ in range(4)]
    _dense.fold_packed(X, labelled, rows, mean, norm_lab, gamma, isa, tile_rows, block,
                       chunk or block * 64, width, n_threads, *outputs)
    return outputs, norm_lab, width


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("data_dtype,work_dtype",
                         [(np.float32, np.float32), (np.float32, np.float64),
                          (np.float64, np.float64)])
@pytest.mark.parametrize("shape", [(700, 7, 75), (900, 530, 301), (640, 300, 64)])
def test_products_are_within_the_certificates_bound(rng, isa, data_dtype, work_dtype, shape):
    """Every row's smallest and second smallest distance within the bound of the
    oracle's (direct differences in float64), its sum of weights consistent with
    them: d features not a multiple of the slice, labelled rows not a multiple of
    the register width, rows not a multiple of the tile."""
    n, d, n_lab = shape
    X = clustered(rng, n, d, data_dtype)
    labelled, rows = split(rng, n, n_lab)
    gamma = 1.0 / d
    (nearest, d_min, d_second, weight_sum, sq_norms), norm_lab, width = run_packed(
        X, labelled, rows, work_dtype, gamma, isa=isa)
    D = np.sort(sq_distances(X[rows], X[labelled]), axis=1)
    terms = width if work_dtype == np.float32 else d
    delta = distance_error_bound(sq_norms, norm_lab.max(), terms,
                                 work_dtype, norm_terms=d)
    assert np.all(np.abs(d_min - D[:, 0]) <= delta)
    assert np.all(np.abs(d_second - D[:, 1]) <= delta)
    true_nearest = sq_distances(X[rows], X[labelled]).argmin(axis=1)
    clear = D[:, 1] - D[:, 0] > 2 * delta
    assert clear.mean() > 0.5  # the check below is not vacuous
    np.testing.assert_array_equal(nearest[clear], true_nearest[clear])
    expected_sum = np.exp(-gamma * (D - D[:, :1])).sum(axis=1)
    np.testing.assert_allclose(weight_sum, expected_sum, rtol=4 * gamma * delta.max() + 1e-7)
    # the squared norms are those the kernel centred with, to double rounding
    mean = DenseStatistics.of(X).mean.astype(work_dtype)
    centred = X[rows].astype(np.float64) - mean.astype(np.float64)
    np.testing.assert_allclose(sq_norms, (centred**2).sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize("work_dtype", [np.float32, np.float64])
def test_bits_do_not_depend_on_threads_tiles_chunks_or_instruction_set(rng, work_dtype):
    X = clustered(rng, 1500, 300, np.float32)
    labelled, rows = split(rng, 1500, 610)
    reference, _, _ = run_packed(X, labelled, rows, work_dtype, 0.01)
    variants = [dict(n_threads=1), dict(n_threads=3), dict(tile_rows=12),
                dict(tile_rows=192, n_threads=3), dict(chunk=256), dict(chunk=512, n_threads=1)]
    for variant in variants:
        outputs, _, _ = run_packed(X, labelled, rows, work_dtype, 0.01, **variant)
        for got, want in zip(outputs, reference):
            np.testing.assert_array_equal(got, want, err_msg=str(variant))
    # the other instruction set's register blocks sum every product in the same
    # order, with the same fused multiply-adds
    other, _, _ = run_packed(X, labelled, rows, work_dtype, 0.01, isa=1)
    for got, want in zip(other, reference):
        np.testing.assert_array_equal(got, want)


def test_rejects_tiles_that_do_not_fit_the_register_blocks(rng):
    X = clustered(rng, 100, 8, np.float64)
    labelled, rows = split(rng, 100, 40)
    with pytest.raises(ValueError, match="multiples"):
        run_packed(X, labelled, rows, np.float64, 0.1, tile_rows=10)
    with pytest.raises(ValueError, match="multiples"):
        run_packed(X, labelled, rows, np.float64, 0.1, block=100)
    with pytest.raises(TypeError, match="float64 data"):
        run_packed(X, labelled, rows, np.float32, 0.1)
    with pytest.raises(ValueError, match="at least one labelled row"):
        run_packed(X, labelled[:0], rows, np.float64, 0.1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_jobs", [1, 2, None])
def test_certified_answers_are_the_oracles(rng, dtype, n_jobs, packed_everywhere):
    X = clustered(rng, 1200, 260, dtype)
    y = np.where(rng.random(1200) < 0.3, 0, -1)
    gamma = auto_gamma(X, y)  # about half the rows dominated
    result = major_influence_range(X, y, gamma=gamma, n_jobs=n_jobs)
    expected = oracle_mir(X, y, gamma)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_allclose(result.share, expected.share, rtol=1e-4)
    assert 0 < expected.scores.sum() < (y == -1).sum()


def test_float32_rows_the_bound_leaves_go_to_the_float64_pass(rng, packed_everywhere):
    """Far from the origin the float32 bound is loose: some rows need the float64
    pass (float32 data in float64 products), and the answer is the oracle's."""
    X = clustered(rng, 1500, 40, np.float32, offset=1e3)
    X[900:960] = X[:60]  # exact duplicates: ties
    y = np.where(rng.random(1500) < 0.3, 0, -1)
    y[:60] = 1
    result = major_influence_range(X, y, gamma=0.5)
    expected = oracle_mir(X.astype(np.float64), y, 0.5)
    assert (result.stage > 0).any()
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_and_blas_paths_agree(rng, dtype, monkeypatch):
    X = clustered(rng, 2000, 200, dtype)
    y = np.where(rng.random(2000) < 0.25, 0, -1)
    assert packed.PackedProduct.choose((y != -1).sum(), 200, dtype) is not None
    with_packed = major_influence_range(X, y, gamma=0.03)
    monkeypatch.setattr(packed, "ENABLED", False)
    with_blas = major_influence_range(X, y, gamma=0.03)
    np.testing.assert_array_equal(with_packed.dominant, with_blas.dominant)
    np.testing.assert_array_equal(with_packed.scores, with_blas.scores)
    np.testing.assert_allclose(with_packed.share, with_blas.share, rtol=1e-4)


def test_the_cost_model_keeps_blas_for_small_passes():
    assert packed.PackedProduct.choose(30, 784, np.float32) is None
    assert packed.PackedProduct.choose(4000, 4, np.float64) is None
    chosen = packed.PackedProduct.choose(3251, 784, np.float32)
    assert chosen.slice == float32_slice(784) and chosen.chunk % packed.BLOCK == 0


def test_large_labelled_sets_are_packed_in_chunks(monkeypatch):
    monkeypatch.setattr(packed, "PACK_BYTES", 1 << 20)
    chosen = packed.PackedProduct.choose(5000, 784, np.float64)
    assert chosen.chunk * 784 * 8 <= 1 << 20 or chosen.chunk == packed.BLOCK


@pytest.mark.parametrize("n_rows,n_threads", [(1, 2), (100, 2), (355, 2), (1000, 3),
                                              (7500, 2), (100000, 3)])
def test_tiles_fit_the_registers_and_share_out_evenly(n_rows, n_threads):
    height = packed_tile_rows(n_rows, n_threads)
    assert height % 6 == 0 and height % 4 == 0
    assert height <= PACKED_TILE_ROWS
    tiles = -(-n_rows // height)
    if n_rows >= 2 * n_threads * PACKED_TILE_STEP:
        assert tiles >= n_threads
        # no thread gets two tiles more than another... or the tiles are as tall as
        # they may be
        assert tiles % n_threads in (0, n_threads - 1) or height == PACKED_TILE_ROWS


class TestBlockStatistics:
    """The whole-data statistics (column sums, largest squared norm and misfits to
    the grids of ``grid.SCALES`` per block)."""

    @staticmethod
    def misfits(block):
        """The largest |x / s - k|, k the nearest code in 0 .. 255, for each scale
        until one is within the tolerance (the later ones: infinity)."""
        out = []
        for scale in SCALES:
            if out and out[-1] <= MISFIT_TOLERANCE:
                out.append(np.inf)
                continue
            t = block.astype(np.float64) / scale
            out.append(np.abs(t - np.clip(np.rint(t), 0, 255)).max())
        return np.array(out)

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("on_grid", [False, True])
    def test_against_numpy(self, rng, dtype, on_grid):
        X = rng.normal(size=(2500, 37)).astype(dtype) * 3 + 1
        if on_grid:  # pixels / 255, one block with a value off the grid
            X = rng.integers(0, 256, size=X.shape).astype(dtype) / dtype(255)
            X[1500, 7] = 0.5
        partials = DenseStatistics.partials(X)
        assert len(partials) == 3  # blocks of 1024 rows, the last one short
        for b, (sums, largest, misfits) in enumerate(partials):
            block = X[b * 1024:(b + 1) * 1024].astype(np.float64)
            np.testing.assert_allclose(sums, block.sum(axis=0), rtol=1e-12, atol=1e-9)
            assert largest == pytest.approx((block**2).sum(axis=1).max(), rel=1e-12)
            expected = self.misfits(X[b * 1024:(b + 1) * 1024])
            within = expected <= MISFIT_TOLERANCE  # the largest; off the grid: one above
            np.testing.assert_allclose(misfits[within], expected[within], rtol=1e-12)
            assert (misfits[~within] > MISFIT_TOLERANCE).all()
            assert (misfits[~within] <= expected[~within]).all()
        if on_grid:
            statistics = DenseStatistics.of(X)
            assert statistics.grid_misfits[0] == 0.5  # 0.5 * 255 = 127.5: half a step
            assert [p[2][0] < 1e-4 for p in partials] == [True, False, True]

    def test_identical_for_every_thread_count(self, rng):
        X = rng.normal(size=(5000, 20))
        one = DenseStatistics.partials(X, n_threads=1)
        for n_threads in (2, 3):
            for (s1, m1, g1), (s2, m2, g2) in zip(one, DenseStatistics.partials(X, n_threads)):
                np.testing.assert_array_equal(s1, s2)
                assert m1 == m2
                np.testing.assert_array_equal(g1, g2)

    def test_nan_reaches_the_largest_norm(self, rng):
        X = rng.normal(size=(3000, 5))
        X[2000, 3] = np.nan
        partials = DenseStatistics.partials(X)
        assert np.isnan(partials[1][1]) and np.isnan(partials[1][0][3])
        assert np.isfinite(partials[0][1]) and np.isfinite(partials[2][1])

    def test_other_dtypes_and_layouts(self, rng):
        X = rng.integers(-5, 5, size=(300, 6))
        expected = DenseStatistics.partials(X.astype(np.float64))
        for got in (DenseStatistics.partials(X), DenseStatistics.partials(np.asfortranarray(X))):
            np.testing.assert_array_equal(got[0][0], expected[0][0])
            assert got[0][1] == expected[0][1]
