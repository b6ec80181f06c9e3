"""``mir-fast audit --report``: the labels to re-check as a Markdown or HTML page, with
the inputs each dominates, and for image data thumbnails of the labelled input beside
a few of the inputs it dominates."""

import html
import math
import os

import numpy as np

#: Dominated inputs drawn beside each labelled one.
THUMBNAILS = 5


def image_side(X):
    """The side of a square grey image when the rows of dense ``X`` look like one
    (a perfect square of at least 16 features), else None."""
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        return None
    side = math.isqrt(X.shape[1])
    return side if side * side == X.shape[1] and side >= 4 else None


def _thumbnails(X, side, index, dominated, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [index] + list(dominated[:THUMBNAILS])
    figure, axes = plt.subplots(1, len(shown), figsize=(1.1 * len(shown), 1.3))
    for axis, (k, row) in zip(np.atleast_1d(axes), enumerate(shown)):
        axis.imshow(X[row].reshape(side, side), cmap="gray_r")
        axis.set_title(f"{row} (labelled)" if k == 0 else f"{row}", fontsize=7)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_audit_report(path, records, X, source):
    """Write the page for ``records`` (rank, index, label, mir, dominated) to ``path``
    (``.html`` or Markdown otherwise); thumbnails go to ``<path stem>-images/``."""
    side = image_side(X)
    html_page = path.lower().endswith((".html", ".htm"))
    folder = os.path.splitext(path)[0] + "-images"
    if side is not None and records:
        os.makedirs(folder, exist_ok=True)
    parts = []
    for record in records:
        title = (f"{record['rank']}. input {record['index']} (label {record['label']}): "
                 f"MIR {record['mir']}")
        dominated = ", ".join(map(str, record["dominated"])) or "none"
        image = None
        if side is not None:
            image = os.path.join(folder, f"label-{record['index']}.png")
            _thumbnails(X, side, record["index"], record["dominated"], image)
            image = os.path.relpath(image, os.path.dirname(os.path.abspath(path)))
        if html_page:
            parts.append(f"<h3>{html.escape(title)}</h3>\n<p>Dominates: "
                         f"{html.escape(dominated)}</p>"
                         + (f'\n<img src="{html.escape(image)}" alt="input '
                            f'{record["index"]} and inputs it dominates">' if image else ""))
        else:
            parts.append(f"### {title}\n\nDominates: {dominated}\n"
                         + (f"\n![input {record['index']} and inputs it dominates]({image})\n"
                            if image else ""))
    heading = f"Labels to re-check first: {source}"
    intro = (f"{len(records)} labels, most influential first (MIR: how many unlabelled "
             "inputs each one is the major influencer of)." +
             (" Thumbnails: the labelled input, then up to "
              f"{THUMBNAILS} of the inputs it dominates." if side is not None else ""))
    if html_page:
        text = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
                f"{html.escape(heading)}</title></head><body>\n<h1>{html.escape(heading)}</h1>"
                f"\n<p>{html.escape(intro)}</p>\n" + "\n".join(parts) + "\n</body></html>\n")
    else:
        text = f"# {heading}\n\n{intro}\n\n" + "\n".join(parts)
    with open(path, "w") as fh:
        fh.write(text)
    return path
