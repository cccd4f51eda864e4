"""Figures of ``06b_classification`` (thesis §6.3.2, Table 6.1, Fig. 6.2): one function per figure, each drawn
from the numbers :mod:`companion.ch6.classification` measured and saved with ``run.save_figure`` (provenance in
the PNG and the results file).

* :func:`table6_1_chart`: Table 6.1 beside ours: test accuracy without and with fine-tuning, frames per second;
* :func:`confusion_figure`: the test confusion matrices of the classifier chosen on validation, by type (8 × 8)
  and by class, with Fig. 6.2's pairs outlined;
* :func:`fig6_2_misclassified`: misclassified test images (Fig. 6.2), the thesis' pairs first;
* :func:`training_curves`: each classifier's validation accuracy while training, and the step kept.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from companion.ch6.classification import (COLUMNS, THESIS_PAIRS, TYPE_NAMES, class_names, pooled_type_confusion,
                                          type_of)
from companion.ch6.flickr_distortion import FLICKR_TYPES
from companion.figures.style import colorbar

OURS_FROZEN, OURS_TUNED, PAPER_FROZEN, PAPER_TUNED = "#9ab0c8", "#4e79a7", "#f4c28f", "#f28e2b"
PAIR_COLOUR = "#e15759"


def _annotate(ax, xs, values, digits: int = 2) -> None:
    for x, v in zip(xs, values):
        if v is not None and np.isfinite(v):
            ax.annotate(f"{v:.{digits}f}", (x, v), xytext=(0, 2), textcoords="offset points", ha="center",
                        fontsize=6)


def table6_1_chart(run, rows: list[dict], paper: dict, crop: int, fps_size: int, *,
                   name: str = "table6_1_accuracy_fps"):
    """(left) Test accuracy of every model without fine-tuning (frozen backbone, new FC) and with it (the IQA
    networks: trained from scratch), ours beside the paper's; (right) frames per second, ours (the trained
    network at the profile's crop, and the paper-width network when timed) beside the paper's, log scale.
    ``rows``: :func:`companion.ch6.classification.table_rows`; ``paper``: row label -> Table 6.1's values;
    ``crop`` / ``fps_size``: the input sides the trained and the paper-width networks were timed at."""
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12.5, 4.2), gridspec_kw=dict(width_ratios=[1.3, 1]))
    x = np.arange(len(rows))
    bars = [("ours w/o fine-tuning", [r["frozen"] for r in rows], OURS_FROZEN),
            ("ours w/ fine-tuning (IQA-CNNs: from scratch)", [r["tuned"] for r in rows], OURS_TUNED),
            ("paper w/o fine-tuning", [paper.get(r["label"], {}).get(COLUMNS["frozen"]) for r in rows], PAPER_FROZEN),
            ("paper w/ fine-tuning", [paper.get(r["label"], {}).get(COLUMNS["fine-tuned"]) for r in rows], PAPER_TUNED)]
    width = 0.2
    for k, (label, values, colour) in enumerate(bars):
        xs = x + (k - 1.5) * width
        a0.bar(xs, [np.nan if v is None else v for v in values], width, color=colour, label=label)
        _annotate(a0, xs, values)
    a0.set_xticks(x, [r["label"] for r in rows], fontsize=8)
    a0.set_ylim(0, 1.28)  # room for the legend above the bars
    a0.set_yticks(np.linspace(0, 1, 6))
    a0.set_ylabel("test accuracy", fontsize=8)
    a0.axhline(1 / 24, color="0.5", lw=0.8, ls=":")
    a0.annotate("chance (1/24)", (x[-1] + 0.45, 1 / 24), fontsize=6, ha="right", va="bottom", color="0.4")
    a0.legend(fontsize=7, frameon=False, ncol=2, loc="upper left")
    a0.set_title("Table 6.1: accuracy (–: no such regime)", fontsize=9)
    a0.tick_params(labelsize=7)

    fps = [(f"ours, trained network, {crop} px", [r["fps"] for r in rows], OURS_TUNED),
           (f"ours, paper-width network (random weights), {fps_size} px", [r["paper_fps"] for r in rows],
            OURS_FROZEN),
           ("paper", [paper.get(r["label"], {}).get("FPS") for r in rows], PAPER_TUNED)]
    fps = [f for f in fps if any(v is not None for v in f[1])]
    width = 0.8 / len(fps)
    for k, (label, values, colour) in enumerate(fps):
        xs = x + (k - (len(fps) - 1) / 2) * width
        a1.bar(xs, [np.nan if v is None else v for v in values], width, color=colour, label=label)
        _annotate(a1, xs, values, digits=0)
    a1.set_yscale("log")
    a1.set_xticks(x, [r["label"] for r in rows], fontsize=7, rotation=15)
    a1.set_ylabel("frames per second (one image a call)", fontsize=8)
    a1.legend(fontsize=7, frameon=False)
    a1.set_title("Table 6.1: speed (ours: this machine; paper: its GPU)", fontsize=9)
    a1.tick_params(labelsize=7)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Table 6.1",
                    caption="Table 6.1 beside ours: test accuracy without / with fine-tuning, and frames per second")
    return fig


def _matrix(ax, fig, matrix: np.ndarray, names: list[str], title: str, *, annotate: bool) -> None:
    shown = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6 if len(names) > 8 else 7)
    ax.set_yticks(range(len(names)), names, fontsize=6 if len(names) > 8 else 7)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.set_title(title, fontsize=9)
    if annotate:
        top = matrix.max() if matrix.size else 0
        for (i, j), v in np.ndenumerate(matrix):
            if v:
                ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=7,
                        color="white" if v > top / 2 else "black")
    colorbar(fig, shown, ax, label="test images")


def confusion_figure(run, results: dict, name: str, labels: str, *, figure: str = "fig6_2_confusion"):
    """The test confusion of classifier ``name`` (summed over its seeds): (left) by type, Fig. 6.2's pairs
    outlined; (right) by class (type × level when ``labels="type_level"``)."""
    types = pooled_type_confusion(results, name)
    classes = np.sum([np.asarray(s["test"]["confusion"]) for s in results["runs"][name]["seeds"]], axis=0)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 5.6), gridspec_kw=dict(width_ratios=[1, 1.3]))
    _matrix(a0, fig, types, [TYPE_NAMES[t] for t in FLICKR_TYPES], "by type", annotate=True)
    for true, predicted in THESIS_PAIRS:
        i, j = FLICKR_TYPES.index(true), FLICKR_TYPES.index(predicted)
        a0.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=PAIR_COLOUR, lw=1.6))
    a0.annotate("outlined: Fig. 6.2's pairs", (0, -0.16), xycoords="axes fraction", fontsize=7, color=PAIR_COLOUR)
    _matrix(a1, fig, classes, class_names(labels), "by class" + (" (type, level 1 mild … 3 severe)"
                                                               if labels == "type_level" else ""),
            annotate=len(classes) <= 8)
    label = results["runs"][name]["label"]
    fig.suptitle(f"Test confusion of {label} (the best validation accuracy), {len(results['runs'][name]['seeds'])} "
                 f"seed(s)", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, figure, entry="Figure 6.2",
                    caption=f"Test confusion matrices of {label}, by type and by class; Fig. 6.2's pairs outlined")
    return fig


def fig6_2_misclassified(run, items: list[dict], test_images, labels: str, results_label: str, *,
                         name: str = "fig6_2_misclassified"):
    """Fig. 6.2 after the thesis: misclassified test images (``items``: :func:`companion.ch6.classification.
    misclassified`) as the classifier saw them (``test_images``: the test :class:`~companion.ch6.classification.
    Crops`), each titled "true → predicted", the thesis' pairs in red."""
    names = class_names(labels)
    cols = max(1, min(4, len(items)))
    fig, axes = plt.subplots(1, cols, figsize=(3.3 * cols, 3.6), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    if not items:
        axes[0, 0].text(0.5, 0.5, "no misclassified test image", ha="center", va="center", fontsize=9)
    for ax, item in zip(axes.flat, items):
        image = test_images[item["index"]][0].permute(1, 2, 0).numpy()
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
        pair = (FLICKR_TYPES[int(type_of(item["true"], labels))], FLICKR_TYPES[int(type_of(item["predicted"], labels))])
        ax.set_title(f"{names[item['true']]} → {names[item['predicted']]}\n{item['file']}", fontsize=7,
                     color=PAIR_COLOUR if pair in THESIS_PAIRS else "black")
    fig.suptitle(f"Misclassified test images of {results_label} (true → predicted; red: Fig. 6.2's pairs)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    run.save_figure(fig, name, entry="Figure 6.2",
                    caption=f"Misclassified test images of {results_label}, true → predicted (after Fig. 6.2)")
    return fig


def training_curves(run, results: dict, *, name: str = "fig6b_training"):
    """Each classifier's validation accuracy while training (first seed; from the zoo's record when loaded),
    with the step whose weights were kept marked."""
    fig, ax = plt.subplots(figsize=(8.5, 4.0))
    for k, (key, entry) in enumerate(results["runs"].items()):
        curve = np.asarray(entry["seeds"][0]["val_curve"], dtype=float).reshape(-1, 2)
        if not len(curve):
            continue
        line, = ax.plot(curve[:, 0], curve[:, 1], lw=1.2, marker=".", ms=3, label=entry["label"],
                        ls="-" if entry["regime"] != "frozen" else "--")
        kept = entry["seeds"][0]["kept"]
        if kept.startswith("best at step "):
            step = int(kept.rsplit(" ", 1)[1])
            at = curve[curve[:, 0] == step]
            if len(at):
                ax.plot([step], [at[0, 1]], marker="o", mfc="none", ms=8, color=line.get_color())
    ax.set_xlabel("training step", fontsize=8)
    ax.set_ylabel("validation accuracy (selection score)", fontsize=8)
    ax.set_title("Validation accuracy while training (circles: the step kept)", fontsize=9)
    ax.legend(fontsize=6, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.tick_params(labelsize=7)
    ax.grid(True, lw=0.3, alpha=0.4)
    fig.tight_layout()
    run.save_figure(fig, name, caption="Validation accuracy of every classifier while training; the step kept")
    return fig
