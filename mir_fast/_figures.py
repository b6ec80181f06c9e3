"""Figures shared by the command line and the reproduction harness, and the check
that the library drawing them is installed."""


def require_figure_library(what="the figures"):
    """Raise a clear ImportError, before any work, when matplotlib is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError(f"drawing {what} needs matplotlib, a dependency of mir_fast that "
                          "is not installed here: pip install matplotlib")


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def certified_curves(curves, path, title, ylabel):
    """The certified-accuracy figure: the share of predictions certain to survive (and
    be right after) any k label flips against k, on a log scale (a share of 0 ends
    its curve).  Draws ``curves`` (label -> (ks, shares in [0, 1], colour, line style)) into the
    PNG ``path``; returns ``path``."""
    import matplotlib.ticker

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5, 3.5))
    for label, (ks, shares, colour, style) in curves.items():
        shown = [(k, 100 * s) for k, s in zip(ks, shares) if s > 0]  # log scale: 0 is off it
        axes.plot([k for k, _ in shown], [s for _, s in shown], style, color=colour,
                  marker="o", markersize=3, label=label)
    last = max([k for ks, shares, _, _ in curves.values() for k, s in zip(ks, shares) if s > 0],
               default=0)
    axes.set_xlim(-0.2, max(last + 1, 3) + 0.2)  # past the last k any prediction survives
    axes.set_xlabel("label flips k")
    axes.set_ylabel(ylabel)
    axes.set_yscale("log")
    axes.set_ylim(1e-2, 100)
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
