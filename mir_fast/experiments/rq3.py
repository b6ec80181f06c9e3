"""RQ3: MIR against Liu et al.'s greedy and probabilistic attacks, and random flips.

Effectiveness: label propagation's transductive error and the RF / MLP inductive
errors after each method poisons its chosen labels, per labelled fraction and
budget.  Both of Liu et al.'s methods run unsupervised (like MIR, they do not see
the unlabelled inputs' true labels: the clean harmonic predictions stand in).  The
greedy order and the probabilistic ranking do not depend on the budget, so one run
at the largest budget gives every smaller one as a prefix.

Efficiency: seconds each method takes to choose 20 labels (25% labelled), repeated.
"""

import time
import warnings

import numpy as np

from .. import major_influence_range
from ..baselines import IllConditionedWarning, harmonic_operator, liu_attack, random_flips
from . import paper, tables
from .protocol import MODELS, budget_size, flipped

NAME = "rq3"
TITLE = "MIR against Liu et al. and random flips"
METHODS = ("mir", "greedy", "probabilistic", "random")
TIMING_LABELLED = 0.25
TIMING_BUDGET = 20


def _choices(problem, split, largest, seed):
    ranking, _ = problem.mir_ranking(split)
    choices = {"mir": ranking[:largest]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IllConditionedWarning)  # recorded as rcond below
        operator = harmonic_operator(problem.X, split, problem.gamma)
    for method in ("greedy", "probabilistic"):
        choices[method] = liu_attack(problem.X, split, largest, problem.gamma, method=method,
                                     random_state=seed, operator=operator).indices
    choices["random"] = random_flips(split, largest, random_state=seed).indices
    return choices, operator


def run(problem, store, plan, progress):
    """Effectiveness, then the timing runs."""
    run_effectiveness(problem, store, plan.labelled, plan.budgets, plan.seeds, progress)
    run_timing(problem, store, plan.timing_repeats, plan.seed, progress)


def run_effectiveness(problem, store, fractions, budgets, seeds, progress):
    tasks = [(p, r, s) for p in fractions for r, s in enumerate(seeds)]
    victim = problem.victim("propagation")
    for fraction, repeat, seed in progress(tasks, desc="RQ3"):
        task = f"rq3/{fraction}/{seed}"
        if store.done(task):
            continue
        split = problem.split(fraction, seed)
        n_labelled = int((split != -1).sum())
        choices, operator = _choices(problem, split, budget_size(max(budgets), n_labelled),
                                     seed)
        rows = [("clean", 0.0, split)]
        for method in METHODS:
            for budget in budgets:
                chosen = choices[method][: budget_size(budget, n_labelled)]
                rows.append((method, budget, flipped(split, chosen)))
        predicted = victim.predict(np.vstack([row[2] for row in rows]))
        records = []
        for (method, budget, poisoned), labels in zip(rows, predicted):
            inductive = problem.inductive_errors(poisoned, labels)
            records.append(dict(rq="rq3", dataset=problem.name, method=method,
                                labelled=fraction, budget=budget, repeat=repeat, seed=seed,
                                n_poisoned=int((poisoned != split).sum()),
                                harmonic_rcond=operator.rcond,
                                transductive_error=float(problem.transductive_error(labels,
                                                                                    split)),
                                **{f"{m}_error": inductive[m] for m in MODELS}))
        store.add(task, records)


def run_timing(problem, store, repeats, seed, progress):
    """Seconds to choose ``TIMING_BUDGET`` labels, ``repeats`` times per method."""
    split = problem.split(TIMING_LABELLED, seed)
    budget = min(TIMING_BUDGET, int((split != -1).sum()))
    for repeat in progress(range(repeats), desc="RQ3 timing"):
        task = f"rq3-timing/{seed}/{repeat}"
        if store.done(task):
            continue
        records = []
        start = time.perf_counter()
        result = major_influence_range(problem.X, split, gamma=problem.gamma,
                                       n_jobs=problem.n_jobs)
        result.ranking()[:budget]
        records.append(dict(method="mir", seconds=time.perf_counter() - start))
        for method in ("greedy", "probabilistic"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", IllConditionedWarning)  # in the RQ3 records
                chosen = liu_attack(problem.X, split, budget, problem.gamma, method=method,
                                    random_state=seed + repeat)
            records.append(dict(method=method, seconds=chosen.seconds))
        store.add(task, [dict(rq="rq3-timing", dataset=problem.name, labelled=TIMING_LABELLED,
                              budget=budget, repeat=repeat, seed=seed, **r) for r in records])


def table(store, info, folder):
    """RQ3's sections: effectiveness tables and the timing table."""
    return effectiveness_tables(store, info) + "\n" + timing_table(store, info), []


def effectiveness_tables(store, info):
    records = store.select(rq="rq3")
    versus = paper.paper_dataset(info[0])
    fractions = sorted({r["labelled"] for r in records})
    budgets = sorted({r["budget"] for r in records if r["budget"] > 0})
    methods = ("mir", "greedy", "probabilistic", "random")
    parts = [tables.intro(info, "RQ3: MIR vs Liu et al. (label propagation victim)", records)]
    rconds = [r["harmonic_rcond"] for r in records if "harmonic_rcond" in r]
    if rconds:
        parts.append(f"Liu et al.'s methods run unsupervised. Their harmonic operator K "
                     f"(formed by a stable solve) has reciprocal condition number down to "
                     f"{min(rconds):.1e}" + (" (ill-conditioned: its entries, not only "
                                             "their signs, are unreliable)."
                                             if min(rconds) < 1e-12 else ".") + "\n")
    for metric, title in (("transductive", "LP transductive error"),
                          ("rf", "RF inductive error"), ("mlp", "MLP inductive error")):
        field = "transductive_error" if metric == "transductive" else f"{metric}_error"
        published = paper.TABLE4.get(metric, {}).get(versus, {})
        rows = []
        for fraction in fractions:
            theirs = published.get(fraction, {})
            clean = [r for r in records if r["labelled"] == fraction and r["method"] == "clean"]
            rows.append([f"{fraction:.0%}", "clean",
                         tables.beside(tables.mean(clean, field), theirs.get(("clean", 0.0)), tables.pct)]
                        + [""] * (len(methods) - 1))
            for budget in budgets:
                row = [f"{fraction:.0%}", f"{budget:.0%}"]
                for method in methods:
                    chosen = [r for r in records if r["labelled"] == fraction
                              and r["method"] == method and r["budget"] == budget]
                    row.append(tables.beside(tables.mean(chosen, field), theirs.get((method, budget)), tables.pct))
                rows.append(row)
        parts.append(f"**{title}**\n\n" + tables.table(["labelled", "budget"] + [
            tables.METHOD_NAMES[m] for m in methods], rows) + "\n")
    return "\n".join(parts)


def timing_table(store, info):
    records = store.select(rq="rq3-timing")
    published = paper.TABLE3.get(paper.paper_dataset(info[0]), {})
    rows = []
    for method in ("greedy", "probabilistic", "mir"):
        seconds = [r["seconds"] for r in records if r["method"] == method]
        if not seconds:
            continue
        theirs = published.get(method, (None, None))
        rows.append([tables.METHOD_NAMES[method],
                     tables.beside(float(np.median(seconds)), theirs[0], lambda v: f"{v:.3g}"),
                     tables.beside(float(np.std(seconds)), theirs[1], lambda v: f"{v:.2g}"),
                     len(seconds)])
    budget = records[0]["budget"] if records else 20
    intro = tables.intro(info, f"RQ3: seconds to choose {budget} labels (25% labelled)", records)
    return intro + tables.table(["method", "median s", "std s", "runs"], rows) + (
        "\n\nGreedy and probabilistic times include forming their harmonic operator K.\n")
