"""Figures of ``07e_recognition_after_restoration``: Table 7.2 as a chart (thesis §7.5.1), and the routing
experiment (in no paper): how much of an image's damage its top-1 label covers, PSNR of each way of routing,
and one test image restored each way.

Each function draws one figure from numbers the notebook measured and saves it with ``run.save_figure``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from companion.ch7.recognition import COLUMNS
from companion.ch7.routing import INPUT, ROUTED_TYPES, STRATEGIES
from companion.ch7.shdd_figures import SHORT, draw_regions, label_map_rgb, type_legend

STRATEGY_COLOURS = dict(zip(STRATEGIES, ("#f28e2b", "#edc948", "#59a14f", "#e15759")))
SHORT_STRATEGY = {STRATEGIES[0]: "image-level\n(classifier)", STRATEGIES[1]: "image-level\n(true top-1)",
                  STRATEGIES[2]: "region-level\n(oracle)", STRATEGIES[3]: "MEPSNet\n(per-pixel)"}


def fig_table7_2(run, result: dict, paper_rows: dict | None, *, name: str = "table7_2_map", made: bool = False):
    """mAP per row of Table 7.2 (mean ± std over restorer seeds), detection and segmentation side by side, the
    paper's values beside ours when ``paper_rows`` is given; ``made`` titles it as the made-image pipeline check."""
    rows = list(result["rows"])
    fig, axes = plt.subplots(1, len(COLUMNS), figsize=(5.2 * len(COLUMNS), 3.8), squeeze=False)
    x = np.arange(len(rows))
    for ax, column in zip(axes[0], COLUMNS):
        values = [result["rows"][r][column] for r in rows]
        means = [float(np.nanmean(v)) for v in values]
        stds = [float(np.nanstd(v, ddof=1)) if len(v) > 1 else 0.0 for v in values]
        paper = [paper_rows.get(r, {}).get(column, np.nan) for r in rows] if paper_rows else []
        width = 0.4 if paper else 0.7
        ax.bar(x - (width / 2 if paper else 0), means, width, yerr=stds, capsize=3, color="#4e79a7",
               label="ours (made images, random detector)" if made else "ours")
        if paper:
            ax.bar(x + width / 2, paper, width, color="#bab0ac", label="thesis")
        ax.set_xticks(x, rows, rotation=30)
        top = max([m + e for m, e in zip(means, stds) if np.isfinite(m)] + [v for v in paper if np.isfinite(v)] + [0])
        ax.set_ylim(0, max(5.0, 1.15 * top))
        ax.set_ylabel("COCO AP@[.5:.95] × 100")
        ax.set_title(column)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(("Pipeline check on made images: every code path of Table 7.2" if made else
                  f"Table 7.2: recognition after restoration, SHDD {result['level']} level") +
                 f" ({result['images']} images)", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, name, entry=None if made else "Table 7.2",
                    caption="mAP of Faster R-CNN (detection) and Mask R-CNN (segmentation) on clean, distorted and "
                            "restored images" + (" (made images, random detectors: a code check)" if made else ""))
    return fig


def fig_top1_coverage(run, coverage: dict, level: str, *, name: str = "routing_top1_coverage"):
    """Histogram of the top-1 distorted type's share of each image's distorted pixels, per split, with the
    one-half line."""
    splits = [s for s in coverage if s != "all"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    bins = np.linspace(0.2, 1.0, 17)
    ax.hist([coverage[s]["shares"] for s in splits], bins=bins, stacked=True, label=splits,
            color=sns.color_palette("deep", len(splits)))
    ax.axvline(0.5, color="k", ls="--", lw=1)
    share = coverage["all"]["below_half"]
    ax.set_title(f"SHDD {level}: top-1 type's share of the distorted pixels "
                 f"({share:.0%} of {len(coverage['all']['shares'])} images below one half)", fontsize=9)
    ax.set_xlabel("top-1 distorted type's share of the image's distorted pixels")
    ax.set_ylabel("images")
    ax.legend(title="split", fontsize=8)
    run.save_figure(fig, name, caption="How much of each SHDD image's damage its majority label covers "
                                       "(from the label maps)")
    return fig


def fig_routing_psnr(run, summary: dict, level: str, *, name: str = "routing_psnr"):
    """Left: mean PSNR ± std over seeds of each way of routing, the distorted input as a dashed line. Right: PSNR
    gain over the input per distortion type (label maps)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.9), gridspec_kw={"width_ratios": [1, 1.3]})
    means = [summary[s]["psnr"][0] for s in STRATEGIES]
    left.bar(range(len(STRATEGIES)), means, yerr=[summary[s]["psnr"][1] for s in STRATEGIES], capsize=3,
             color=[STRATEGY_COLOURS[s] for s in STRATEGIES])
    left.axhline(summary[INPUT]["psnr"][0], color="k", ls="--", lw=1, label=INPUT)
    left.set_xticks(range(len(STRATEGIES)), [SHORT_STRATEGY[s] for s in STRATEGIES], fontsize=8)
    span = means + [summary[INPUT]["psnr"][0]]
    left.set_ylim(min(span) - 1.0, max(span) + 0.8)
    left.set_ylabel("PSNR (dB, RGB)")
    left.set_title(f"SHDD {level} test: mean ± std over seeds", fontsize=9)
    left.legend(fontsize=8, loc="upper left")
    types = [t for t in ROUTED_TYPES if t in summary[INPUT]["by_type"]]
    gain = np.array([[summary[s]["by_type"][t][0] - summary[INPUT]["by_type"][t][0] for t in types]
                     for s in STRATEGIES])
    sns.heatmap(gain, annot=True, fmt=".2f", cmap="RdBu", center=0, ax=right, xticklabels=[SHORT[t] for t in types],
                yticklabels=[SHORT_STRATEGY[s].replace("\n", " ") for s in STRATEGIES],
                cbar_kws={"label": "PSNR gain over the input (dB)"})
    right.set_title("gain inside each type's regions (label maps)", fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, name, caption="Image-level routing, region-level routing (oracle) and MEPSNet on SHDD's "
                                       "test images")
    return fig


def fig_routing_example(run, example: dict, *, name: str = "routing_example"):
    """The most mixed test image (lowest top-1 share): its regions, the distorted input, each way of routing and
    the clean image."""
    restored = [(SHORT_STRATEGY[s].replace("\n", " "), example["restored"][s]) for s in STRATEGIES]
    panels = [("label map", None), ("distorted", example["distorted"])] + restored + [("clean", example["clean"])]
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.2))
    for ax in axes.ravel()[len(panels):]:
        ax.set_axis_off()
    for ax, (title, image) in zip(axes.ravel(), panels):
        if image is None:
            ax.imshow(label_map_rgb(example["labels"]))
            draw_regions(ax, example["record"], fontsize=6)
            type_legend(ax, np.unique(example["labels"]))
        else:
            ax.imshow(np.clip(image, 0, 1))
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"{example['name']}: top-1 type {example['top1']} covers {example['top1_share']:.0%} of the "
                 f"distorted pixels; the classifier says {example['predicted']} (seed 0's models)", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, name, caption="One SHDD test image restored by each way of routing")
    return fig
