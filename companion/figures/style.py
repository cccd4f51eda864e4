"""Shared figure conventions: resolution, coloured label maps with a legend, colorbars.

Wherever colour carries meaning a figure shows what it means: a label map gets a legend of its classes
(:func:`label_legend`), a heat map a colorbar (:func:`colorbar`).
"""
from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

#: Resolution of every saved figure (a paper figure wants 150 dpi or more).
DPI = 150


def colour_label_map(labels: np.ndarray, colours) -> np.ndarray:
    """An H×W integer label map as an H×W×3 RGB image; ``colours[i]`` is the colour of label ``i``."""
    palette = np.array([to_rgb(c) for c in colours])
    return palette[np.asarray(labels)]


def label_legend(ax, names, colours, *, present=None, loc: str = "upper left", outside: bool = True,
                 fontsize: int = 7, title: str | None = None):
    """A legend of coloured patches, one per label (only those in ``present`` when given).

    ``outside`` puts it to the right of ``ax`` so it never hides the image.
    """
    keep = range(len(names)) if present is None else sorted({int(i) for i in np.unique(present)})
    handles = [Patch(facecolor=colours[i], edgecolor="none", label=names[i]) for i in keep]
    where = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)} if outside else {"loc": loc}
    return ax.legend(handles=handles, fontsize=fontsize, frameon=False, borderaxespad=0.0, title=title,
                     title_fontsize=fontsize, **where)


def colorbar(fig, mappable, ax, *, label: str = "", fontsize: int = 7):
    """A slim colorbar beside ``ax`` for ``mappable`` (what ``imshow`` returned), with ``label``."""
    bar = fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.03)
    bar.ax.tick_params(labelsize=fontsize)
    if label:
        bar.set_label(label, fontsize=fontsize)
    return bar
