"""The paper's experiments (RQ1-RQ4) and ours (RQ5, certified robustness), resumable,
with reports beside the paper's numbers.

``reproduce("all", dataset="mnist17")`` runs section 6 of the paper on one data set and
writes, under ``out``, one JSON-lines file of records per research question and a
``report.md`` with the tables (and ``rq2-figure.png``, the paper's Figure 4).
"""

import os
import time

from .._figures import require_figure_library
from .._threads import blas_threads, requested_threads
from .._validation import check_count
from . import rq1, rq2, rq3, rq4, rq5
from .protocol import BUDGETS, LABELLED_FRACTIONS, PAPER_SEED, Problem, repeat_seeds
from .questions import QUESTIONS, Plan, register_question
from .report import write_report
from .store import ResultStore, run_metadata

for _question in (rq1, rq2, rq3, rq4, rq5):
    register_question(_question)

QUICK_DATASET = "digits17"
#: The harness generation stored with every record.  2: the published code's class
#: coding, label spreading in both settings, Liu et al. in five configurations, two
#: timing protocols (records of 1 can be reported, not resumed).
HARNESS = 2


def figure_4(folders, path):
    """The paper's Figure 4 across results folders, one panel per data set side by
    side, from each folder's RQ2 records (``rq2.figure_4`` draws it); returns ``path``."""
    from ..datasets import describe

    require_figure_library("Figure 4")
    panels = []
    for folder in folders:
        records = ResultStore(os.path.join(folder, "records"), "rq2", {}).select(rq="rq2")
        if not records:
            raise ValueError(f"{folder} holds no RQ2 records (records/rq2.jsonl)")
        info = describe(records[0]["dataset"])
        panels.append(((info.name, info.title, info.stand_in_for), records))
    return rq2.figure_4(panels, path)


def _progress(enabled):
    if not enabled:
        return lambda items, desc=None: items
    from tqdm.auto import tqdm

    return lambda items, desc=None: tqdm(list(items), desc=desc, leave=False)


def reproduce(question="all", dataset=None, *, labelled=LABELLED_FRACTIONS, budgets=BUDGETS,
              repeats=None, timing_repeats=None, seed=PAPER_SEED, out=None, quick=False,
              data_home=None, n_jobs=None, max_train=None, progress=True):
    """Run one research question (``"rq1"`` ... ``"rq4"``) or ``"all"`` and report.

    Parameters
    ----------
    question : str
        A registered question (``"rq1"`` ... ``"rq4"``; ``questions.QUESTIONS``) or
        ``"all"``.
    dataset : str
        A name understood by ``mir_fast.datasets.load``; ``quick`` defaults it to
        ``digits17``.
    labelled, budgets : sequences of float
        Labelled fractions (RQ1, RQ3, RQ4) and poison budgets (RQ2, RQ3).
    repeats : int
        Splits per setting (seeds ``seed, seed + 1, ...``); default 3, 1 with ``quick``.
    timing_repeats : int
        RQ3 timing runs per method and protocol; default 50 (the paper's), 2 with
        ``quick``; 0 runs RQ3's effectiveness alone.
    n_jobs : int, optional
        Threads, BLAS included (scikit-learn's meaning; ``--n-jobs 1`` keeps the run
        on one core), except for Liu et al.'s ill-conditioned operator, always formed
        on ``rq3.OPERATOR_BLAS_THREADS`` so that its choices do not follow ``n_jobs``.
    out : str
        Folder for records and reports (default ``mir-fast-results/<dataset>``).
        Records already there are reused: an interrupted run resumes.
    max_train : int, optional
        Keep only the first ``max_train`` transductive inputs (for trial runs).

    Returns
    -------
    dict
        ``{"folder", "files", "seconds"}``.
    """
    if question != "all" and question not in QUESTIONS:
        raise ValueError(f"question must be one of {tuple(QUESTIONS)} or 'all', got "
                         f"{question!r}")
    dataset = dataset or (QUICK_DATASET if quick else None)
    if dataset is None:
        raise ValueError("name a data set (--dataset), or use --quick (quick=True) for digits17")
    repeats = check_count("repeats", repeats, default=1 if quick else 3)
    timing_repeats = check_count("timing_repeats", timing_repeats, smallest=0,
                                 default=2 if quick else 50)
    for name, values in (("labelled", labelled), ("budgets", budgets)):
        if not values or not all(0 < v < 1 for v in values):
            raise ValueError(f"{name} must be fractions in (0, 1), got {list(values)}")
    require_figure_library("the reproduction report's figures")
    start = time.perf_counter()
    problem = Problem.load(dataset, data_home=data_home, n_jobs=n_jobs, max_train=max_train)
    folder = out or os.path.join("mir-fast-results", dataset.replace(":", "-"))
    metadata = {**run_metadata(n_jobs), "harness": HARNESS, "class_codes": list(problem.classes)}
    records = os.path.join(folder, "records")
    _check_same_coding(records, problem.classes)
    plan = Plan(labelled=tuple(labelled), budgets=tuple(budgets),
                seeds=tuple(repeat_seeds(seed, repeats)), timing_repeats=timing_repeats,
                seed=seed)
    show = _progress(progress)
    chosen = tuple(QUESTIONS) if question == "all" else (question,)
    stores = {rq: ResultStore(records, rq, metadata) for rq in chosen}
    with blas_threads(requested_threads(n_jobs)):
        for name, store in stores.items():
            QUESTIONS[name].run(problem, store, plan, show)
    files = rewrite_report(folder, dataset)
    return {"folder": folder, "files": [s.path for s in stores.values()] + files,
            "seconds": time.perf_counter() - start}


def rewrite_report(folder, dataset=None):
    """Write ``<folder>/report.md`` (and its figures) again from the records under
    ``<folder>/records``, every question recorded there; returns the paths written.
    A report is a function of its records alone: the test suite regenerates the
    committed ones and compares. ``dataset`` names the data set when the records
    do not (a registered question need not write one); otherwise it is read from
    them, and every record naming one must name the same."""
    from ..datasets import describe

    records = os.path.join(folder, "records")
    stores = {rq: ResultStore(records, rq, {}) for rq in QUESTIONS
              if os.path.exists(os.path.join(records, f"{rq}.jsonl"))}
    names = {r["dataset"] for store in stores.values() for r in store.records
             if "dataset" in r}
    if dataset is not None:
        names.add(dataset)
    if len(names) != 1:
        raise ValueError(f"{records} must hold the records of one data set, found "
                         f"{sorted(names) or 'none'}")
    info = describe(names.pop())
    return write_report(stores, (info.name, info.title, info.stand_in_for), folder)


def _check_same_coding(records, classes):
    """Refuse to resume onto records of an earlier harness or another class coding:
    their tasks would be skipped as done although they measured something else."""
    for rq in QUESTIONS:
        if not os.path.exists(os.path.join(records, f"{rq}.jsonl")):
            continue
        for record in ResultStore(records, rq, {}).records:
            harness, coded = record["meta"].get("harness"), record["meta"].get("class_codes")
            if harness != HARNESS or coded != list(classes):
                raise ValueError(
                    f"{records}/{rq}.jsonl was recorded by harness {harness or 1} with "
                    f"classes coded {coded or 'ascending'}; this run is harness {HARNESS} "
                    f"coding them {list(classes)}: give a fresh --out folder")
