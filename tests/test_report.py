"""The reports: every committed report regenerated from its records, the spreads and
paired tests against scipy computed here, the class coding, the victims' settings,
the guard against resuming onto another harness's records, and Figure 4."""

import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from mir_fast.datasets import describe
from mir_fast.experiments import reproduce, rewrite_report, tables
from mir_fast.experiments.protocol import class_codes
from mir_fast.experiments.store import ResultStore
from mir_fast.victims import VICTIMS, recorded_victim

RESULTS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "results"
COMMITTED = sorted({p.parent.parent for p in RESULTS.glob("**/records/*.jsonl")})


def test_the_results_folders_are_found():
    assert len(COMMITTED) >= 3, COMMITTED


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: str(p.relative_to(RESULTS)))
def test_each_committed_report_is_its_records_tables(folder, tmp_path):
    """A report is a function of its records: regenerated, it is the committed one."""
    shutil.copytree(folder / "records", tmp_path / "records")
    written = rewrite_report(str(tmp_path))
    assert (tmp_path / "report.md").read_text() == (folder / "report.md").read_text()
    for figure in written[1:]:
        assert pathlib.Path(figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (folder / pathlib.Path(figure).name).exists()


def test_spread_is_mean_and_sample_deviation_and_counts_undefined_values():
    records = [{"v": 0.10}, {"v": 0.20}, {"v": 0.60}, {"v": float("nan")}]
    values = [0.10, 0.20, 0.60]
    expected = f"{100 * np.mean(values):.2f} ± {100 * np.std(values, ddof=1):.2f}% [3]"
    assert tables.spread(records, "v", tables.pct) == expected + " (1 undefined)"
    assert tables.spread(records[:1], "v", tables.pct, 0.5) == "10.00% [1] (50.00%)"
    assert tables.spread([{"v": None}], "v", tables.num) == "n/a (1 undefined)"


def test_paired_test_is_scipy_s_wilcoxon():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=12), rng.normal(size=12) + 0.5
    statistic, p, n = tables.paired_test(a, b)
    reference = stats.wilcoxon(a, b)
    assert (statistic, p, n) == (pytest.approx(reference.statistic),
                                 pytest.approx(reference.pvalue), 12)
    assert np.isnan(tables.paired_test(a, a)[1])  # every pair equal: no test
    assert tables.paired_test([1.0, np.nan], [2.0, 3.0])[2] == 1


def _rq3_records(values):
    """RQ3 records of MIR and greedy over two seeds and two budgets."""
    records = []
    for (method, seed, budget), error in values.items():
        records.append(dict(rq="rq3", dataset="digits17", method=method, labelled=0.25,
                            budget=budget, seed=seed, repeat=seed - 2020, budget_size=10,
                            n_poisoned=4 if method == "greedy" and budget == 0.2 else 10,
                            transductive_error=error, rf_error=error / 2, mlp_error=error / 3,
                            meta={"mir_fast": "x", "sklearn": "y", "n_jobs": 1, "cpus": 2}))
    return records


def test_rq3_tables_show_spreads_wilcoxon_and_greedy_s_early_stop(tmp_path):
    from mir_fast.experiments import rq3

    values = {}
    rng = np.random.RandomState(1)
    for seed in (2020, 2021):
        for budget in (0.1, 0.2):
            values[("mir", seed, budget)] = rng.uniform(0.3, 0.5)
            values[("greedy", seed, budget)] = rng.uniform(0.1, 0.2)
        values[("clean", seed, 0.0)] = 0.01
    store = ResultStore(str(tmp_path), "rq3", {})
    store.records = _rq3_records(values)
    info = ("digits17", "digits", None)
    text = rq3.effectiveness_tables(store, info)
    mir = [values[("mir", s, 0.1)] for s in (2020, 2021)]
    assert f"{100 * np.mean(mir):.2f} ± {100 * np.std(mir, ddof=1):.2f}% [2]" in text
    assert "Greedy (unsup.) at 25% labelled, budget 20%, seed 2020: 4 of 10 flips" in text
    tests = rq3.wilcoxon_table(store, info)
    pairs = [(values[("mir", s, b)], values[("greedy", s, b)])
             for b in (0.1, 0.2) for s in (2020, 2021)]
    p = stats.wilcoxon([a for a, _ in pairs], [b for _, b in pairs]).pvalue
    assert f"p = {p:.1e}, MIR higher in 4 of 4" in tests


def test_the_published_class_coding():
    assert describe("mnist17").class_order == (7, 1)  # the published code: 7 -> 0, 1 -> 1
    np.testing.assert_array_equal(class_codes([1, 7, 7, 1], (7, 1)), [1, 0, 0, 1])
    np.testing.assert_array_equal(class_codes([1, 7, 7, 1]), [0, 1, 1, 0])  # ascending
    with pytest.raises(ValueError, match="label 3 is not one of the classes"):
        class_codes([1, 3], (7, 1))


def test_both_label_spreading_settings_are_victims():
    assert VICTIMS["spreading"].settings == {"alpha": 0.2, "max_iter": 5, "tol": 1e-3}
    assert VICTIMS["spreading-text"].settings == {"alpha": 0.1, "max_iter": 30, "tol": 1e-3}
    assert VICTIMS["spreading-text"].paper_victim == "spreading"
    legacy = recorded_victim("spreading-sklearn-defaults",
                             {"alpha": 0.2, "max_iter": 30, "tol": 1e-3})
    assert legacy.title == "L. spreading (alpha 0.2, max_iter 30)"
    assert recorded_victim("spreading", VICTIMS["spreading"].settings) is VICTIMS["spreading"]
    assert recorded_victim("spreading", {"alpha": 0.5, "max_iter": 5}).title == \
        "L. spreading (alpha 0.5, max_iter 5)"
    with pytest.raises(ValueError, match="not registered"):
        recorded_victim("nothing", None)


def test_a_run_refuses_to_resume_onto_another_harness_s_records(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    legacy = {"task": "rq1/propagation/0.25/2020", "rq": "rq1", "dataset": "digits17",
              "meta": {"mir_fast": "0.1.0"}}
    (records / "rq1.jsonl").write_text(json.dumps(legacy) + "\n")
    with pytest.raises(ValueError, match="recorded by harness 1 .* give a fresh --out"):
        reproduce("rq1", "digits17", labelled=[0.25], out=str(tmp_path), progress=False)


def test_figure_4_has_a_panel_per_folder(tmp_path):
    reproduce("rq2", "digits17", budgets=[0.1, 0.2], out=str(tmp_path / "a"), progress=False)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    done = subprocess.run([sys.executable, "-m", "mir_fast", "figure4", str(tmp_path / "a"),
                           str(tmp_path / "b"), "--out", str(tmp_path / "f.png")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from matplotlib.image import imread

    wide, single = imread(tmp_path / "f.png"), imread(tmp_path / "a" / "rq2-figure.png")
    assert wide.shape[1] > 1.8 * single.shape[1]  # two panels side by side
    missing = subprocess.run([sys.executable, "-m", "mir_fast", "figure4", str(tmp_path / "z")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no results folder" in missing.stderr
