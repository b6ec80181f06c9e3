"""RQ1: does a labelled input's MIR predict the transductive error after flipping it?

For every labelled input alone, flip its label, run the victim (all flips at once
by ``flip_impact`` on the victim's graph, equal to scikit-learn's fits), and correlate the
error rate on the unlabelled inputs with MIR (Kendall's tau, Pearson's r).
"""

import time
import warnings

import numpy as np
from scipy import stats

from ..victims import VICTIMS
from . import paper, tables

NAME = "rq1"
TITLE = "MIR against the error after flipping one label"


def _correlation(function, x, y):
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # undefined for a constant sample
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        statistic, p_value = function(x, y)
    return float(statistic), float(p_value)


def run(problem, store, plan, progress):
    fractions, seeds = plan.labelled, plan.seeds
    victims = {variant: problem.victim(variant) for variant in VICTIMS}
    tasks = [(v, p, r, s) for v in VICTIMS for p in fractions for r, s in enumerate(seeds)]
    for variant, fraction, repeat, seed in progress(tasks, desc="RQ1"):
        task = f"rq1/{variant}/{fraction}/{seed}"
        if store.done(task):
            continue
        start, cpu_start = time.perf_counter(), time.process_time()
        split = problem.split(fraction, seed)
        _, scores = problem.mir_ranking(split)
        labelled = np.flatnonzero(split != -1)
        impact = victims[variant].single_flips(split, problem.y)
        errors = np.concatenate([[impact.clean_error], impact.error])
        mir = scores[labelled]
        tau, tau_p = _correlation(stats.kendalltau, mir, errors[1:])
        r, r_p = _correlation(stats.pearsonr, mir, errors[1:])
        store.add(task, [dict(rq="rq1", dataset=problem.name, victim=variant,
                              victim_settings=VICTIMS[variant].settings,
                              labelled=fraction, repeat=repeat, seed=seed,
                              n_labelled=len(labelled), kendall_tau=tau, kendall_p=tau_p,
                              pearson_r=r, pearson_p=r_p, clean_error=float(errors[0]),
                              mean_flip_error=float(errors[1:].mean()),
                              seconds=time.perf_counter() - start,
                              cpu_seconds=time.process_time() - cpu_start)])


def table(store, info, folder):
    """RQ1's section: Kendall tau / Pearson r per victim and labelled fraction, and
    which label-spreading setting comes closer to the paper's Table 2."""
    records = store.select(rq="rq1")
    versus = paper.TABLE2.get(paper.paper_dataset(info[0]), {})
    fractions = sorted({r["labelled"] for r in records})
    ran = tables.victims_of(records)
    rows, distances = [], {}
    for variant, victim in ran.items():
        row = [victim.title]
        published = versus.get(victim.paper_victim, {})
        gaps = []
        for fraction in fractions:
            chosen = [r for r in records if r["victim"] == variant and r["labelled"] == fraction]
            theirs = published.get(fraction, (None, None))
            row.append(f"{tables.spread(chosen, 'kendall_tau', tables.num, theirs[0])} / "
                       f"{tables.spread(chosen, 'pearson_r', tables.num, theirs[1])}")
            if theirs[0] is not None:
                gaps += [abs(tables.mean(chosen, "kendall_tau") - theirs[0]),
                         abs(tables.mean(chosen, "pearson_r") - theirs[1])]
        rows.append(row)
        if gaps and victim.paper_victim == "spreading" and not info[2]:  # not a stand-in
            distances[variant] = float(np.nanmean(gaps))
    worst_p = max([r[k] for r in records for k in ("kendall_p", "pearson_p")
                   if r[k] == r[k]] or [float("nan")])
    n_labelled = {f: max(r["n_labelled"] for r in records if r["labelled"] == f)
                  for f in fractions}
    header = [""] + [f"l = {n_labelled[f]} ({f:.0%})" for f in fractions]
    text = (tables.intro(info, "RQ1: Kendall tau / Pearson r between MIR and the error after "
                         "flipping one label", records, compared=bool(versus))
            + tables.table(header, rows)
            + f"\n\nLargest p-value over all cells and repetitions: {worst_p:.1e}.\n")
    if len(distances) > 1:
        closest = min(distances, key=distances.get)
        text += ("\nMean absolute distance to the paper's label spreading row (tau and r "
                 "over the labelled fractions): " + "; ".join(
                     f"{ran[v].title} {d:.3f}" for v, d in distances.items())
                 + f". Closer: {ran[closest].title}.\n")
    return text, []
