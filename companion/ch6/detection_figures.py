"""Figures of ``06c_detection`` (thesis §6.3.2, Tables 6.2-6.3, Fig. 6.3): one function per figure, each saved
with ``run.save_figure`` (provenance in the PNG and the results file).

* :func:`fig_table6_2` and :func:`fig_table6_3`: the tables as bars, ours beside the paper's (``companion/paper``);
* :func:`fig6_3_region_size`: Fig. 6.3, AP at IoU 0.9 against the regions' size ratio, per test set, for the
  detectors trained on basic and on difficult (:func:`companion.ch6.detection.ap_by_region_size`);
* :func:`fig_detection_examples`: test images with their regions (dashed) and the detections above a score
  (solid, labelled with type and score);
* :func:`fig_detection_training`: the training loss and the validation mAP that chose the kept step.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from companion.ch6.detection import LABELS, SETS
from companion.ch6.figures import COLOURS, SHORT, type_legend
from companion.ch6.flickr_distortion import FLICKR_TYPES

#: How Table 6.3 names a (train set, test set) pair (``companion/paper/thesis.json`` row labels).
TRANSFER_ROWS = {(tr, te): f"{tr}->{te}" for tr in SETS for te in SETS}
#: At most this many detections drawn per region of an image (the highest-scoring ones).
MOST_DRAWN = 3
TRAIN_STYLE = {"basic": {"color": "#1f77b4", "marker": "o"}, "difficult": {"color": "#d62728", "marker": "s"}}


def _table_bars(ax, rows: list[str], ours: dict[str, dict], paper: dict[str, dict], thresholds) -> None:
    """Grouped bars, one group per row label: for each IoU threshold our mAP (solid) beside the paper's (pale,
    hatched); ``ours`` / ``paper``: row label -> {threshold: value}."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n = len(thresholds)
    width = 0.8 / (2 * n)
    x = np.arange(len(rows))
    for k, t in enumerate(thresholds):
        for j, (source, values, style) in enumerate(
                (("ours", ours, {"alpha": 0.95}), ("paper", paper, {"alpha": 0.35, "hatch": "//"}))):
            heights = np.array([values.get(r, {}).get(t, np.nan) for r in rows], dtype=float)
            offset = (2 * k + j - (2 * n - 1) / 2) * width
            bars = ax.bar(x + offset, np.nan_to_num(heights), width, color=colours[k % len(colours)],
                          label=f"{source} @{t:g}", **style)
            for bar, v in zip(bars, heights):
                if np.isfinite(v):
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, f"{v:.2f}", ha="center",
                            va="bottom", fontsize=5, rotation=90)
    ax.set_xticks(x, rows, fontsize=9)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("mAP")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=n, loc="upper right")


def _paper_maps(paper_rows: dict[str, dict], thresholds) -> dict[str, dict]:
    return {row: {t: values.get(f"mAP@{t:g}", np.nan) for t in thresholds} for row, values in paper_rows.items()}


def fig_table6_2(run, summary: dict, paper: dict[str, dict]):
    """Table 6.2: each backbone's mAP at the IoU thresholds, trained and tested on basic, ours (mean over seeds)
    beside the paper's (``paper``: row label -> {column: value}, from ``companion/paper``)."""
    thresholds = summary["thresholds"]
    ours = {LABELS[b]: {t: maps[t][0] for t in thresholds}
            for (b, tr, te), maps in summary["rows"].items() if (tr, te) == ("basic", "basic")}
    fig, ax = plt.subplots(figsize=(6.5, 4))
    _table_bars(ax, list(ours), ours, _paper_maps(paper, thresholds), thresholds)
    ax.set_title("Table 6.2: SSD backbones, trained and tested on basic", fontsize=10)
    run.save_figure(fig, "table6_2_map", entry="Table 6.2",
                    caption="Table 6.2: mAP at IoU 0.5 / 0.75 / 0.9 per backbone, ours beside the paper's")
    return fig


def fig_table6_3(run, summary: dict, paper: dict[str, dict]):
    """Table 6.3: the transfer backbone's mAP for the four train → test combinations, ours beside the paper's."""
    thresholds = summary["thresholds"]
    ours = {TRANSFER_ROWS[tr, te]: {t: maps[t][0] for t in thresholds}
            for (b, tr, te), maps in summary["rows"].items() if b == summary["transfer_backbone"]}
    rows = [TRANSFER_ROWS[tr, te] for tr in SETS for te in SETS]
    fig, ax = plt.subplots(figsize=(10, 4))
    _table_bars(ax, rows, ours, _paper_maps(paper, thresholds), thresholds)
    ax.set_xticks(range(len(rows)), [r.replace("->", " → ") for r in rows], fontsize=9)
    ax.set_title(f"Table 6.3: {LABELS[summary['transfer_backbone']]}, train set → test set", fontsize=10)
    run.save_figure(fig, "table6_3_transfer", entry="Table 6.3",
                    caption="Table 6.3: mAP at IoU 0.5 / 0.75 / 0.9, train set -> test set, ours beside the paper's")
    return fig


def fig6_3_region_size(run, summary: dict):
    """Fig. 6.3: AP per region size-ratio bin, (a) on the basic test set and (b) on the difficult one, for the
    detectors trained on basic and on difficult: solid at the paper's IoU (the first of ``size_ious``), dashed
    at the looser ones; the points of the paper's IoU are labelled with the number of regions in their bin (bins
    without regions are left out)."""
    ious = summary["size_ious"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, test_set, letter in zip(axes, SETS, "ab"):
        for train_set in SETS:
            by_iou = summary["sizes"].get((train_set, test_set)) or {}
            for iou in ious:
                rows = [r for r in by_iou.get(iou) or [] if r["regions"]]
                if not rows:
                    continue
                x = [(r["low"] + r["high"]) / 2 for r in rows]
                y = [r["ap"] for r in rows]
                ax.plot(x, y, label=f"trained on {train_set}, IoU {iou:g}", ls="-" if iou == ious[0] else "--",
                        alpha=1.0 if iou == ious[0] else 0.6, **TRAIN_STYLE[train_set])
                if train_set == test_set and iou == ious[0]:
                    for xi, yi, r in zip(x, y, rows):
                        ax.annotate(f"n={r['regions']}", (xi, yi if np.isfinite(yi) else 0), fontsize=6,
                                    textcoords="offset points", xytext=(0, 6), ha="center")
        ax.set_title(f"({letter}) test on {test_set}", fontsize=10)
        ax.set_xlabel("region size ratio √(w·h) / 300 (bin centre)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("AP")
    axes[0].legend(fontsize=7)
    run.save_figure(fig, "fig6_3_region_size", entry="Figure 6.3",
                    caption=f"AP against region size at IoU {' and '.join(f'{i:g}' for i in ious)} (the paper's: "
                            f"{ious[0]:g}), per test set and training set")
    return fig


def _box(ax, box, kind: str, *, dashed: bool, text: str | None) -> None:
    x0, y0, x1, y1 = box
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.6 if dashed else 1.3,
                           ec=COLOURS[kind], ls="--" if dashed else "-"))
    if text:
        ax.text(x0, y1 + 1, text, fontsize=6, color="white", va="top",
                bbox={"facecolor": COLOURS[kind], "alpha": 0.85, "pad": 1, "lw": 0})


def fig_detection_examples(run, examples: list[dict], display_score: float):
    """Test images (rows: the test sets) with their regions dashed and the detections scoring at least
    ``display_score`` solid (the best :data:`MOST_DRAWN` per region at most), labelled "type score";
    ``examples``: dicts with ``image`` (H×W×3), ``target``, ``prediction``, ``set``, ``file`` and ``model``."""
    sets = list(dict.fromkeys(e["set"] for e in examples))
    cols = max(sum(e["set"] == s for e in examples) for s in sets)
    fig, axes = plt.subplots(len(sets), cols, figsize=(3.6 * cols, 3.9 * len(sets)), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    regions = []
    for row, set_name in enumerate(sets):
        for ax, e in zip(axes[row], [e for e in examples if e["set"] == set_name]):
            ax.imshow(np.clip(e["image"], 0, 1))
            for box, label in zip(e["target"]["boxes"].tolist(), e["target"]["labels"].tolist()):
                kind = FLICKR_TYPES[int(label) - 1]
                _box(ax, box, kind, dashed=True, text=None)
                regions.append({"type": kind})
            p = e["prediction"]
            shown, most = 0, MOST_DRAWN * len(e["target"]["labels"])
            for box, label, score in zip(p["boxes"].tolist(), p["labels"].tolist(), p["scores"].tolist()):
                if score >= display_score and shown < most:  # torchvision returns them by decreasing score
                    kind = FLICKR_TYPES[int(label) - 1]
                    _box(ax, box, kind, dashed=False, text=f"{SHORT[kind]} {score:.2f}")
                    regions.append({"type": kind})
                    shown += 1
            regions_here = len(e["target"]["labels"])
            ax.set_title(f"{set_name}: {regions_here} region{'s' if regions_here != 1 else ''}, {shown} detection"
                         f"{'s' if shown != 1 else ''} drawn\n{e['model']}", fontsize=8)
    type_legend(axes[0, -1], regions, title="type")
    run.save_figure(fig, "fig6_detection_examples",
                    caption=f"Test images: regions dashed, detections with score ≥ {display_score:g} solid "
                            f"(at most {MOST_DRAWN} per region)")
    return fig


def fig_detection_training(run, trained: dict):
    """Per detector: the training loss (left) and the validation mean mAP every few steps (right), the kept
    step marked; ``trained``: label -> {"loss_curve", "val", "kept"}."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for label, t in trained.items():
        if t["loss_curve"]:
            steps, losses = zip(*t["loss_curve"])
            axes[0].plot(steps, losses, label=label)
        if t["val"]:
            steps, values = zip(*t["val"])
            line, = axes[1].plot(steps, values, marker=".", label=label)
            best = int(np.argmax(values))
            axes[1].scatter([steps[best]], [values[best]], s=60, facecolors="none", edgecolors=line.get_color())
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("SSD loss (smooth L1 + cross-entropy)")
    axes[0].set_yscale("log")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("validation mAP, mean over IoU thresholds")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    run.save_figure(fig, "fig6_detection_training",
                    caption="Training loss and validation mAP of each detector; circles: the kept steps")
    return fig
