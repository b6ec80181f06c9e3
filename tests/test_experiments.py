"""The reproduction harness: the quick run end to end, resuming, and RQ1 against
scikit-learn fits computed independently."""

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from blas_probe import blas_thread_counts
from scipy import stats

from mir_fast import datasets, major_influence_range
from mir_fast.experiments import reproduce
from mir_fast.experiments.store import ResultStore
from mir_fast.victims import make_victim


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quick")
    completed = subprocess.run(
        [sys.executable, "-m", "mir_fast", "reproduce", "all", "--quick", "--out", str(folder),
         "--no-progress"], capture_output=True, text=True, timeout=300, cwd=folder)
    assert completed.returncode == 0, completed.stderr
    return folder, completed


def _records(folder, rq):
    with open(folder / "records" / f"{rq}.jsonl") as fh:
        return [json.loads(line) for line in fh]


def test_quick_run_writes_every_table_and_the_figure(quick_run):
    folder, completed = quick_run
    report = (folder / "report.md").read_text()
    for heading in ("RQ1: Kendall tau", "RQ2: inductive error", "RQ3: MIR vs Liu",
                    "RQ3 timing, ", "RQ4: re-check", "RQ5: certified accuracy"):
        assert heading in report
    for victim in ("L. propagation", "L. spreading (code)", "L. spreading (text)"):
        assert f"| {victim} |" in report
    assert "Victims: L. propagation: max_iter 5, tol 0.001; L. spreading (code): alpha 0.2, " \
        "max_iter 5, tol 0.001; L. spreading (text): alpha 0.1, max_iter 30" in report
    assert "Classes coded 1 -> 0, 7 -> 1." in report  # digits17: ascending
    assert "RQ3: paired Wilcoxon signed-rank tests" in report
    assert "Table 3's protocol" in report and "ours (25% labelled, 20 flips)" in report
    for figure in ("rq2-figure.png", "rq5-figure.png"):
        assert (folder / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "report.md" in completed.stdout


def test_quick_records_are_complete_and_carry_their_context(quick_run):
    folder, _ = quick_run
    rq1 = _records(folder, "rq1")
    assert len(rq1) == 3 * 3  # victims x labelled fractions, one repeat
    assert all(r["seed"] == 2020 and r["meta"]["sklearn"] and "n_jobs" in r["meta"]
               for r in rq1)
    rq2 = _records(folder, "rq2")
    assert sorted({r["budget"] for r in rq2}) == [0.0, 0.05, 0.10, 0.15, 0.20]
    rq3 = _records(folder, "rq3")
    assert {r["method"] for r in rq3 if r["rq"] == "rq3"} == {
        "clean", "mir", "greedy", "greedy-supervised", "probabilistic",
        "probabilistic-supervised", "probabilistic-cain", "random"}
    timing = [r for r in rq3 if r["rq"] == "rq3-timing"]
    assert {r["method"] for r in timing if r["protocol"] == "table3"} == {
        "mir", "mir-paper-way", "greedy-supervised", "probabilistic-cain"}
    assert {r["method"] for r in timing if r["protocol"] == "ours"} == {"mir", "greedy",
                                                                        "probabilistic"}
    table3 = [r for r in timing if r["protocol"] == "table3"]
    assert all(r["labelled"] == 0.05 and r["budget"] == int(0.2 * 14) for r in table3)
    assert all(r["meta"]["class_codes"] == [1, 7] and r["meta"]["harness"] == 2 for r in rq3)
    rq4 = _records(folder, "rq4")
    assert {r["state"] for r in rq4} == {"clean", "poisoned", "relabelled", "extra_labels"}
    poisoned = [r for r in rq4 if r["state"] == "poisoned" and r["labelled"] == 0.25]
    clean = [r for r in rq4 if r["state"] == "clean" and r["labelled"] == 0.25]
    assert all(p["transductive_error"] > c["transductive_error"]
               for p, c in zip(poisoned, clean))


def test_mir_attack_raises_the_error_with_the_budget(quick_run):
    folder, _ = quick_run
    rq2 = [r for r in _records(folder, "rq2") if r["victim"] == "propagation"]
    errors = [r["transductive_error"] for r in sorted(rq2, key=lambda r: r["budget"])]
    assert errors[0] < errors[-1]


def test_a_second_run_resumes_instead_of_recomputing(tmp_path):
    kwargs = dict(dataset="digits17", labelled=[0.25], out=str(tmp_path), progress=False)
    reproduce("rq1", repeats=1, **kwargs)
    lines = (tmp_path / "records" / "rq1.jsonl").read_text().splitlines()
    again = reproduce("rq1", **{**kwargs, "repeats": 2})
    after = (tmp_path / "records" / "rq1.jsonl").read_text().splitlines()
    assert after[: len(lines)] == lines and len(after) == 2 * len(lines)
    assert again["files"][0].endswith("rq1.jsonl")


def test_running_one_question_keeps_the_others_in_the_report(quick_run, tmp_path):
    folder, _ = quick_run
    shutil.copytree(folder / "records", tmp_path / "records")
    reproduce("rq3", quick=True, out=str(tmp_path), progress=False)  # all resumed
    report = (tmp_path / "report.md").read_text()
    for heading in ("### RQ1", "### RQ2", "### RQ3", "### RQ4"):
        assert heading in report


def test_rq1_matches_independent_sklearn_fits(tmp_path):
    reproduce("rq1", "digits17", labelled=[0.15], out=str(tmp_path), progress=False)
    stored = ResultStore(str(tmp_path / "records"), "rq1", {}).select(victim="propagation")[0]
    X, y, _, _ = datasets.digits17()
    split = datasets.labelled_split(y, 0.15)
    result = major_influence_range(X, split, gamma=3.0)
    errors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in result.labelled:
            poisoned = split.copy()
            poisoned[j] = 8 - poisoned[j]  # 1 <-> 7
            predicted = make_victim("propagation", 3.0).fit(X, poisoned).transduction_
            errors.append(np.mean(predicted[split == -1] != y[split == -1]))
    tau, _ = stats.kendalltau(result.scores, errors)
    r, _ = stats.pearsonr(result.scores, errors)
    assert stored["kendall_tau"] == pytest.approx(tau)
    assert stored["pearson_r"] == pytest.approx(r)
    assert stored["n_labelled"] == len(result.labelled)


@pytest.mark.parametrize("kwargs, message", [
    (dict(question="rq9", quick=True), "question"),
    (dict(question="rq1"), "--dataset"),
    (dict(question="rq1", quick=True, budgets=[1.5]), "budgets"),
    (dict(question="rq1", quick=True, labelled=[]), "labelled"),
])
def test_bad_requests_are_rejected(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        reproduce(out=str(tmp_path), progress=False, **kwargs)


def test_reproduce_names_the_missing_extra_before_any_work(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(ImportError, match="pip install matplotlib"):
        reproduce("all", quick=True, out=str(tmp_path))
    assert not (tmp_path / "records").exists()  # nothing was run


def test_rq5_records_the_certificates_of_flip_robustness(quick_run):
    from mir_fast import flip_robustness
    from mir_fast.experiments.rq5 import MAX_FLIPS, most_used_labels
    from mir_fast.victims import VICTIMS

    folder, _ = quick_run
    records = _records(folder, "rq5")
    assert len(records) == 3 * 3
    X, y, _, _ = datasets.digits17()
    codes = (y == 7).astype(np.int64)
    for record in (r for r in records if r["labelled"] == 0.15):
        split = datasets.labelled_split(codes, 0.15, random_state=record["seed"])
        variant = record["victim"]
        result = flip_robustness(X, split, victim=VICTIMS[variant].engine_variant, gamma=3.0,
                                 y_true=codes,
                                 max_flips=MAX_FLIPS, **VICTIMS[variant].settings)
        assert record["certified_accuracy"] == pytest.approx(
            [result.certified_accuracy(k) for k in range(MAX_FLIPS + 1)])
        assert record["stable_flips"] == result.stable_flips
        ranking = major_influence_range(X, split, gamma=3.0).ranking()
        labelled = np.flatnonzero(split != -1)
        count = record["top_count"]
        shared = np.intersect1d(ranking[:count], most_used_labels(result.flips, labelled,
                                                                  count))
        assert record["mir_overlap"] == len(shared) / count


def test_a_report_without_rq3_timing_says_so(quick_run, tmp_path):
    """RQ3 run with ``--timing-repeats 0``: the report says the timing has not run,
    instead of the timing tables' footnote under no table."""
    from mir_fast.experiments import rewrite_report

    folder, _ = quick_run
    (tmp_path / "records").mkdir()
    for path in (folder / "records").glob("*.jsonl"):
        lines = [line for line in path.read_text().splitlines()
                 if json.loads(line)["rq"] != "rq3-timing"]
        (tmp_path / "records" / path.name).write_text("\n".join(lines) + "\n")
    rewrite_report(tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "RQ3 timing: not run yet." in report
    assert "RQ3: MIR vs Liu" in report and "RQ3 timing, " not in report
    assert "Liu et al.'s times include" not in report


def test_rq3_without_timing_runs_no_timing(tmp_path):
    """``timing_repeats=0`` (``--timing-repeats 0``) runs RQ3's effectiveness alone;
    counts below their least are refused before any work."""
    from mir_fast.experiments import reproduce

    reproduce("rq3", quick=True, timing_repeats=0, out=str(tmp_path), progress=False)
    records = _records(tmp_path, "rq3")
    assert records and not [r for r in records if r["rq"] == "rq3-timing"]
    assert "RQ3 timing: not run yet." in (tmp_path / "report.md").read_text()
    for name, bad in (("repeats", 0), ("repeats", 1.5), ("timing_repeats", -1),
                      ("timing_repeats", True)):
        with pytest.raises(ValueError, match=f"{name} must be an int"):
            reproduce("rq3", quick=True, out=str(tmp_path), **{name: bad})


def test_rq3_forms_liu_et_als_operator_on_a_fixed_blas_thread_count(monkeypatch, tmp_path):
    """K is ill-conditioned: its bits depend on BLAS's thread count, so the
    effectiveness runs form it on ``OPERATOR_BLAS_THREADS`` threads whatever n_jobs."""
    from mir_fast.experiments import reproduce, rq3

    seen = []

    def spy(*args, **kwargs):
        seen.append(blas_thread_counts())
        return original(*args, **kwargs)

    original = rq3.harmonic_operator
    monkeypatch.setattr(rq3, "harmonic_operator", spy)
    reproduce("rq3", quick=True, timing_repeats=0, n_jobs=1, out=str(tmp_path),
              progress=False)
    assert seen and all(threads == {rq3.OPERATOR_BLAS_THREADS} for threads in seen)
    assert rq3.OPERATOR_BLAS_THREADS != 1  # else n_jobs=1 alone would pass this test


def test_inductive_errors_fit_each_distinct_label_vector_once(monkeypatch):
    from mir_fast.experiments import protocol

    problem = protocol.Problem.load("digits17", n_jobs=1)
    split = problem.split(0.25, 2020)
    other = protocol.flipped(split, np.flatnonzero(split != -1))  # every label wrong
    fitted = []
    real = protocol.inductive_error

    def counted(model, X, labels, *args, **kwargs):
        fitted.append(model)
        return real(model, X, labels, *args, **kwargs)

    monkeypatch.setattr(protocol, "inductive_error", counted)
    guesses = [problem.y, 1 - problem.y, problem.y]
    errors = problem.inductive_errors([split, other, split.copy()], guesses)
    assert sorted(fitted) == sorted(2 * protocol.MODELS)
    assert errors[0] == errors[2] and errors[0] is not errors[2]
    for vector, guess, found in zip((split, other), guesses, errors):
        labels = np.where(vector != -1, vector, guess)
        assert found == {m: real(m, problem.X, labels, problem.X_test, problem.y_test)
                         for m in protocol.MODELS}
    assert errors[0] != errors[1]
