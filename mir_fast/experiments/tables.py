"""What every question's report shares: averages over records, number formats,
Markdown tables and the introduction of a section."""

import numpy as np

from . import paper

METHOD_NAMES = {"mir": "MIR", "greedy": "Greedy", "probabilistic": "Probabilistic",
                "random": "Random", "clean": "clean"}
MODEL_NAMES = {"rf": "RF", "mlp": "MLP"}


def victims_of(records):
    """Victim name -> the victim (``victims.recorded_victim``) the records ran, in
    the registry's order."""
    from ..victims import recorded_victim
    from .protocol import victim_order

    found = {}
    for record in records:
        found.setdefault(record["victim"], record.get("victim_settings"))
    return {name: recorded_victim(name, found[name]) for name in sorted(found, key=victim_order)}


def values(records, field):
    """The field's values over ``records``, None and NaN (an undefined correlation)
    left out; :func:`undefined` counts those."""
    found = [r[field] for r in records if r.get(field) is not None]
    return [v for v in found if v == v]


def undefined(records, field):
    return sum(1 for r in records if r.get(field) is None or r[field] != r[field])


def mean(records, field):
    chosen = values(records, field)
    return float(np.mean(chosen)) if chosen else float("nan")


def spread(records, field, formatter, theirs=None):
    """``mean ± standard deviation [n]`` over the records (the sample deviation,
    ``ddof=1``; none for one record), the paper's value in parentheses when given,
    and how many records had no value (an undefined correlation), never dropped
    silently."""
    chosen = values(records, field)
    if not chosen:
        text = "n/a"
    else:
        text = formatter(float(np.mean(chosen)))
        if len(chosen) > 1:
            unit = "%" if text.endswith("%") else ""
            deviation = formatter(float(np.std(chosen, ddof=1)))
            text = f"{text.removesuffix(unit)} ± {deviation}"
        text += f" [{len(chosen)}]"
    missing = undefined(records, field)
    if missing:
        text += f" ({missing} undefined)"
    return text if theirs is None else f"{text} ({formatter(theirs)})"


def paired_test(ours, theirs):
    """Wilcoxon's signed-rank test of paired samples (scipy, two-sided), as the paper
    compares methods: ``(statistic, p_value, n_pairs)``; p is NaN when every pair is
    equal or there are none."""
    from scipy import stats

    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    keep = np.isfinite(ours) & np.isfinite(theirs)
    ours, theirs = ours[keep], theirs[keep]
    if len(ours) == 0 or np.all(ours == theirs):
        return float("nan"), float("nan"), int(len(ours))
    result = stats.wilcoxon(ours, theirs)
    return float(result.statistic), float(result.pvalue), int(len(ours))


def p_value(value):
    return "n/a" if value != value else f"{value:.1e}"


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


def intro(problem_info, rq, records, compared=False, spreads=True):
    """A section's heading and what it rests on; ``compared``: its tables hold the
    paper's numbers (in parentheses); ``spreads``: its cells are :func:`spread`'s."""
    name, title, stand_in = problem_info
    versus = paper.paper_dataset(name)
    lines = [f"### {rq} on {title} (`{name}`)", ""]
    if compared and stand_in:
        lines.append(f"**Stand-in** for the paper's {stand_in}: the paper's numbers in "
                     "parentheses are for that data set, not this one.")
    elif compared and versus:
        lines.append("The paper's numbers are in parentheses.")
    elif stand_in:
        lines.append(f"**Stand-in** for the paper's {stand_in}.")
    if records:
        meta = records[-1]["meta"]
        seeds = sorted({r["seed"] for r in records})
        cells = (" each cell is mean ± standard deviation [number of repetitions];"
                 if spreads else "")
        lines.append(f"Repetitions (split seeds): {len(seeds)} ({', '.join(map(str, seeds))});"
                     f"{cells} mir_fast {meta['mir_fast']}, scikit-learn {meta['sklearn']}, n_jobs "
                     f"{meta['n_jobs']} on {meta['cpus']} CPUs.")
        if meta.get("class_codes"):
            zero, one = meta["class_codes"]
            lines.append(f"Classes coded {zero} -> 0, {one} -> 1.")
    ran = victims_of([r for r in records if "victim" in r])
    if ran:
        lines.append("Victims: " + "; ".join(
            f"{v.title}: " + ", ".join(f"{k} {value}" for k, value in v.settings.items())
            for v in ran.values()) + ".")
    return "\n".join(lines + ["", ""])
