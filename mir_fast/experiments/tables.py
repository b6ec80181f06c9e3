"""What every question's report shares: averages over records, number formats,
Markdown tables and the introduction of a section."""

import numpy as np

from . import paper

METHOD_NAMES = {"mir": "MIR", "greedy": "Greedy", "probabilistic": "Probabilistic",
                "random": "Random", "clean": "clean"}
MODEL_NAMES = {"rf": "RF", "mlp": "MLP"}


def mean(records, field):
    values = [r[field] for r in records if r.get(field) is not None]
    values = [v for v in values if v == v]  # NaN: undefined correlation
    return float(np.mean(values)) if values else float("nan")


def pct(value):
    return "n/a" if value != value else f"{100 * value:.2f}%"


def num(value):
    return "n/a" if value != value else f"{value:.2f}"


def beside(ours, theirs, formatter):
    return formatter(ours) if theirs is None else f"{formatter(ours)} ({formatter(theirs)})"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def repeats(records):
    return len({r["seed"] for r in records})


def intro(problem_info, rq, records):
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
        lines.append(f"Repetitions (split seeds): {repeats(records)}; mir_fast "
                     f"{meta['mir_fast']}, scikit-learn {meta['sklearn']}, n_jobs "
                     f"{meta['n_jobs']} on {meta['cpus']} CPUs.")
    return "\n".join(lines + ["", ""])
