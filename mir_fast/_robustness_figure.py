"""The certified-accuracy figure: the share of predictions certain to survive (and be
right after) any k label flips, against k, one curve per victim and setting."""


def certified_curves(curves, path, title, ylabel):
    """Draw ``curves`` (label -> (ks, shares in [0, 1], colour, line style)) into the
    PNG ``path``; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.5))
    for label, (ks, shares, colour, style) in curves.items():
        axes.plot(ks, [100 * s for s in shares], style, color=colour, marker="o",
                  markersize=3, label=label)
    axes.set_xlabel("label flips k")
    axes.set_ylabel(ylabel)
    axes.set_ylim(0, 100)
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
