"""Markdown tables in the paper's layout (our numbers, the paper's beside them) and
the paper's Figure 4, from the stored records."""

import os

import numpy as np

from . import paper
from .protocol import MODELS, VICTIMS

VICTIM_NAMES = {"propagation": "L. propagation", "spreading": "L. spreading"}
METHOD_NAMES = {"mir": "MIR", "greedy": "Greedy", "probabilistic": "Probabilistic",
                "random": "Random", "clean": "clean"}
MODEL_NAMES = {"rf": "RF", "mlp": "MLP"}


def _mean(records, field):
    values = [r[field] for r in records if r.get(field) is not None]
    values = [v for v in values if v == v]  # NaN: undefined correlation
    return float(np.mean(values)) if values else float("nan")


def _pct(value):
    return "n/a" if value != value else f"{100 * value:.2f}%"


def _num(value):
    return "n/a" if value != value else f"{value:.2f}"


def _beside(ours, theirs, formatter):
    return formatter(ours) if theirs is None else f"{formatter(ours)} ({formatter(theirs)})"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _repeats(records):
    return len({r["seed"] for r in records})


def _intro(problem_info, rq, records):
    name, title, stand_in = problem_info
    versus = paper.paper_dataset(name)
    lines = [f"### {rq} on {title} (`{name}`)", ""]
    if stand_in:
        lines.append(f"**Stand-in** for the paper's {stand_in}: the paper's numbers in "
                     "parentheses are for that data set, not this one.")
    elif versus:
        lines.append("The paper's numbers are in parentheses.")
    if records:
        meta = records[-1]["meta"]
        lines.append(f"Repetitions (split seeds): {_repeats(records)}; mir_fast "
                     f"{meta['mir_fast']}, scikit-learn {meta['sklearn']}, n_jobs "
                     f"{meta['n_jobs']} on {meta['cpus']} CPUs.")
    return "\n".join(lines + ["", ""])


def rq1_table(store, info):
    records = store.select(rq="rq1")
    versus = paper.TABLE2.get(paper.paper_dataset(info[0]), {})
    fractions = sorted({r["labelled"] for r in records})
    rows = []
    for variant in VICTIMS:
        row = [VICTIM_NAMES[variant]]
        for fraction in fractions:
            chosen = [r for r in records if r["victim"] == variant and r["labelled"] == fraction]
            theirs = versus.get(variant, {}).get(fraction, (None, None))
            row.append(f"{_beside(_mean(chosen, 'kendall_tau'), theirs[0], _num)} / "
                       f"{_beside(_mean(chosen, 'pearson_r'), theirs[1], _num)}")
        rows.append(row)
    worst_p = max([r[k] for r in records for k in ("kendall_p", "pearson_p")
                   if r[k] == r[k]] or [float("nan")])
    n_labelled = {f: max(r["n_labelled"] for r in records if r["labelled"] == f)
                  for f in fractions}
    header = [""] + [f"l = {n_labelled[f]} ({f:.0%})" for f in fractions]
    return (_intro(info, "RQ1: Kendall tau / Pearson r between MIR and the error after "
                   "flipping one label", records) + _table(header, rows)
            + f"\n\nLargest p-value over all cells and repetitions: {worst_p:.1e}.\n")


def rq2_table(store, info):
    records = store.select(rq="rq2")
    budgets = sorted({r["budget"] for r in records})
    header = ["budget"] + [f"{VICTIM_NAMES[v]} {MODEL_NAMES[m]}" for v in VICTIMS
                           for m in MODELS]
    rows = []
    for budget in budgets:
        row = ["clean" if budget == 0 else f"{budget:.0%}"]
        for variant in VICTIMS:
            for model in MODELS:
                chosen = [r for r in records if r["victim"] == variant and r["budget"] == budget]
                row.append(_pct(_mean(chosen, f"{model}_error")))
        rows.append(row)
    return (_intro(info, "RQ2: inductive error after poisoning the top-MIR labels (25% "
                   "labelled)", records) + _table(header, rows) + "\n")


def rq2_figure(store, info, path):
    """The paper's Figure 4: error vs budget; RF plain, MLP dotted; LP black, LS red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = store.select(rq="rq2")
    budgets = sorted({r["budget"] for r in records})
    figure, axes = plt.subplots(figsize=(5, 3.5))
    for variant, colour in zip(VICTIMS, ("black", "red")):
        for model, style in zip(MODELS, ("-", ":")):
            errors = [_mean([r for r in records if r["victim"] == variant
                             and r["budget"] == b], f"{model}_error") for b in budgets]
            axes.plot([100 * b for b in budgets], [100 * e for e in errors], style,
                      color=colour, marker="o", label=f"{MODEL_NAMES[model]} on "
                      f"{'LP' if variant == 'propagation' else 'LS'} labels")
    axes.set_xlabel("poison budget (% of labelled inputs)")
    axes.set_ylabel("inductive error rate (%)")
    axes.set_title(info[1] + (" (stand-in)" if info[2] else ""))
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def rq3_tables(store, info):
    records = store.select(rq="rq3")
    versus = paper.paper_dataset(info[0])
    fractions = sorted({r["labelled"] for r in records})
    budgets = sorted({r["budget"] for r in records if r["budget"] > 0})
    methods = ("mir", "greedy", "probabilistic", "random")
    parts = [_intro(info, "RQ3: MIR vs Liu et al. (label propagation victim)", records)]
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
                         _beside(_mean(clean, field), theirs.get(("clean", 0.0)), _pct)]
                        + [""] * (len(methods) - 1))
            for budget in budgets:
                row = [f"{fraction:.0%}", f"{budget:.0%}"]
                for method in methods:
                    chosen = [r for r in records if r["labelled"] == fraction
                              and r["method"] == method and r["budget"] == budget]
                    row.append(_beside(_mean(chosen, field), theirs.get((method, budget)), _pct))
                rows.append(row)
        parts.append(f"**{title}**\n\n" + _table(["labelled", "budget"] + [
            METHOD_NAMES[m] for m in methods], rows) + "\n")
    return "\n".join(parts)


def rq3_timing_table(store, info):
    records = store.select(rq="rq3-timing")
    published = paper.TABLE3.get(paper.paper_dataset(info[0]), {})
    rows = []
    for method in ("greedy", "probabilistic", "mir"):
        seconds = [r["seconds"] for r in records if r["method"] == method]
        if not seconds:
            continue
        theirs = published.get(method, (None, None))
        rows.append([METHOD_NAMES[method],
                     _beside(float(np.median(seconds)), theirs[0], lambda v: f"{v:.3g}"),
                     _beside(float(np.std(seconds)), theirs[1], lambda v: f"{v:.2g}"),
                     len(seconds)])
    budget = records[0]["budget"] if records else 20
    intro = _intro(info, f"RQ3: seconds to choose {budget} labels (25% labelled)", records)
    return intro + _table(["method", "median s", "std s", "runs"], rows) + (
        "\n\nGreedy and probabilistic times include forming their harmonic operator K.\n")


def rq4_table(store, info):
    from .rq4 import STATES

    records = store.select(rq="rq4")
    fractions = sorted({r["labelled"] for r in records})
    parts = [_intro(info, "RQ4: re-check the top-MIR labels vs label extra inputs (10% "
                    "poisoned, effort = a third of that)", records)]
    for field, title in (("transductive_error", "transductive error of the victim"),
                         ("rf_error", "RF inductive error"), ("mlp_error", "MLP inductive error")):
        rows = []
        for variant in VICTIMS:
            for fraction in fractions:
                chosen = [r for r in records if r["victim"] == variant
                          and r["labelled"] == fraction]
                rows.append([VICTIM_NAMES[variant], f"{fraction:.0%}"] + [
                    _pct(_mean([r for r in chosen if r["state"] == s], field)) for s in STATES])
        parts.append(f"**{title}**\n\n" + _table(
            ["victim", "labelled", "clean", "poisoned", "re-check top MIR", "label extra"],
            rows) + "\n")
    return "\n".join(parts)


def write_report(stores, info, folder):
    """Write ``<folder>/report.md`` (every table) and ``rq2-figure.png``; return paths."""
    sections = [f"# Reproduction of the paper's experiments: {info[1]}", ""]
    written = []
    if "rq1" in stores:
        sections.append(rq1_table(stores["rq1"], info))
    if "rq2" in stores:
        sections.append(rq2_table(stores["rq2"], info))
        figure = rq2_figure(stores["rq2"], info, os.path.join(folder, "rq2-figure.png"))
        sections.append("![RQ2: error vs budget](rq2-figure.png)\n")
        written.append(figure)
    if "rq3" in stores:
        sections.append(rq3_tables(stores["rq3"], info))
        sections.append(rq3_timing_table(stores["rq3"], info))
    if "rq4" in stores:
        sections.append(rq4_table(stores["rq4"], info))
    path = os.path.join(folder, "report.md")
    with open(path, "w") as fh:
        fh.write("\n".join(sections))
    return [path] + written
