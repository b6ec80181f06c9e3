"""The harness's axes are registries: a new victim, data set or research question is
one entry, and it flows through ``reproduce`` and the report with no other change."""

import json

import numpy as np
import pytest
from blas_probe import blas_thread_counts

from mir_fast import datasets, victims
from mir_fast.experiments import QUESTIONS, reproduce
from mir_fast.experiments import questions


class LongPropagation(victims.Propagation):
    """A toy victim: label propagation run for 10 iterations."""

    name, title, short, colour = "long-propagation", "Long propagation", "LP10", "blue"
    settings = {"max_iter": 10, "tol": 1e-3}


class CountLabelled:
    """A toy question: how many inputs each split labels."""

    NAME = "count"
    TITLE = "labelled inputs per split"

    @staticmethod
    def run(problem, store, plan, progress):
        for fraction in progress(plan.labelled, desc="count"):
            task = f"count/{fraction}"
            if not store.done(task):
                split = problem.split(fraction, plan.seed)
                store.add(task, [dict(rq="count", labelled=fraction, seed=plan.seed,
                                      n_labelled=int((split != -1).sum()))])

    @staticmethod
    def table(store, info, folder):
        rows = "\n".join(f"| {r['labelled']:.0%} | {r['n_labelled']} |"
                         for r in store.select(rq="count"))
        return f"### Count on {info[1]}\n\n| labelled | inputs |\n|---|---|\n{rows}\n", []


@pytest.fixture
def toy_entries(monkeypatch):
    monkeypatch.setitem(victims.VICTIMS, "long-propagation", LongPropagation())
    monkeypatch.setitem(datasets.DATASETS, "toy", datasets.DatasetEntry(
        "toy", "toy", "toy blobs", 1.0,
        lambda argument, home, seed: datasets.two_blobs(80, random_state=seed),
        paper_name="MNIST"))
    monkeypatch.setitem(QUESTIONS, "count", CountLabelled)


def test_a_toy_victim_data_set_and_question_flow_through_reproduce(toy_entries, tmp_path):
    assert datasets.describe("toy").gamma == datasets.DEFAULT_GAMMA["toy"] == 1.0
    assert "toy" in datasets.dataset_names()
    outcome = reproduce("all", "toy", quick=True, out=str(tmp_path), progress=False)
    report = (tmp_path / "report.md").read_text()
    assert "Reproduction of the paper's experiments: toy blobs" in report
    assert "### Count on toy blobs" in report and "| 25% | 16 |" in report  # 64 transductive
    # RQ1; RQ4: 3 tables x 3 splits; RQ5: a row per labelled fraction
    assert report.count("| Long propagation |") == 1 + 3 * 3 + 3
    assert "Long propagation RF" in report  # RQ2's columns
    assert report.count("| Long propagation | 5% |") == 3 + 1  # RQ4's three tables, RQ5
    assert "The paper's numbers are in parentheses." in report  # paper_name="MNIST"
    for rq in ("rq1", "rq2", "rq4", "rq5"):
        with open(tmp_path / "records" / f"{rq}.jsonl") as fh:
            victims_seen = {json.loads(line)["victim"] for line in fh}
        assert victims_seen == {"propagation", "spreading", "spreading-text", "long-propagation"}
    assert any(path.endswith("count.jsonl") for path in outcome["files"])


def test_the_toy_victim_is_scikit_learns_estimator_with_its_settings(toy_entries):
    X, y, _, _ = datasets.two_blobs(60, random_state=0)
    split = datasets.labelled_split(y, 0.2)
    fitted = victims.make_victim("long-propagation", 1.0).fit(X, split)
    assert fitted.max_iter == 10
    batched = victims.BatchedVictim(X, "long-propagation", 1.0).predict(split)
    np.testing.assert_array_equal(batched, fitted.transduction_)


def test_the_command_line_offers_every_registered_question(toy_entries):
    from mir_fast.cli import build_parser

    args = build_parser().parse_args(["reproduce", "count", "--quick"])
    assert args.question == "count"
    assert questions.QUESTIONS is QUESTIONS


def test_unknown_names_list_the_registered_ones(toy_entries):
    with pytest.raises(ValueError, match="toy"):
        datasets.describe("nope")
    with pytest.raises(ValueError, match="long-propagation"):
        victims.make_victim("nope", 1.0)
    with pytest.raises(ValueError, match="count"):
        reproduce("nope", "toy")


class BlasThreads(CountLabelled):
    """A toy question that records the BLAS thread counts it runs under."""

    NAME, seen = "blas-threads", []

    @classmethod
    def run(cls, problem, store, plan, progress):
        cls.seen.append(blas_thread_counts())


def test_reproduce_holds_blas_to_n_jobs_threads(toy_entries, monkeypatch, tmp_path):
    from threadpoolctl import threadpool_limits

    monkeypatch.setitem(QUESTIONS, "blas-threads", BlasThreads)
    monkeypatch.setattr(BlasThreads, "seen", [])
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_thread_counts() == {2}
        reproduce("blas-threads", "toy", quick=True, n_jobs=1, out=str(tmp_path),
                  progress=False)
        assert blas_thread_counts() == {2}
    assert BlasThreads.seen == [{1}]


def test_reproduce_gives_blas_n_jobs_threads_without_openmp(toy_entries, monkeypatch,
                                                            tmp_path):
    import joblib

    from mir_fast import _openmp

    monkeypatch.setitem(QUESTIONS, "blas-threads", BlasThreads)
    monkeypatch.setattr(_openmp, "openmp_enabled", lambda: False)
    monkeypatch.setattr(BlasThreads, "seen", [])
    n_jobs = min(2, joblib.cpu_count())
    reproduce("blas-threads", "toy", quick=True, n_jobs=n_jobs, out=str(tmp_path),
              progress=False)
    assert BlasThreads.seen == [{n_jobs}]
