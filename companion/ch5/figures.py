"""Figures of ``05_simusr``: Fig. 5.3's crops with their residual maps, and Table 5.4's runtimes as bars. Each
function draws one figure from numbers computed in :mod:`companion.ch5.comparison` / :mod:`companion.ch5.latency`
and saves it with ``run.save_figure`` (provenance in the PNG and the results file, 150 dpi).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from companion.ch5.comparison import method_label
from companion.ch5.config import FULL
from companion.ch5.latency import paper_table

#: The order of Fig. 5.3's panels (those the run has).
PANEL_ORDER = ("bicubic", "zssr", "simusr-carn", "simusr-rcan", "simusr-edsr", "supervised-carn")
ZSSR_TRAIN, ZSSR_INFER, SIMUSR_COLOUR, PAPER_COLOUR = "#e15759", "#f1a3a4", "#4e79a7", "#bab0ac"


def _show(ax, image, title):
    ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def fig5_3_crops(run, figure: dict, *, name: str = "fig5_3_crops"):
    """Fig. 5.3 after the thesis: the crop of one test image under bicubic, ZSSR, SimUSR and the supervised
    network, and the HR crop (top), each titled with the whole image's PSNR / SSIM; below, Δ = |SR − HR| (mean
    over RGB) of each on one colour scale. ``figure``: :func:`companion.ch5.comparison.figure_crops`."""
    keys = [k for k in PANEL_ORDER if k in figure["outputs"]] + \
        [k for k in figure["outputs"] if k not in PANEL_ORDER]
    cols = len(keys) + 1
    fig, axes = plt.subplots(2, cols, figsize=(2.2 * cols, 5.6))
    top_peak = max(float(figure["residuals"][k].max()) for k in keys)
    image = None
    for i, key in enumerate(keys):
        sc = figure["scores"][key]
        _show(axes[0, i], figure["outputs"][key], f"{method_label(key)}\n{sc['psnr']:.2f} dB / {sc['ssim']:.4f}")
        image = axes[1, i].imshow(figure["residuals"][key], cmap="magma", vmin=0, vmax=max(top_peak, 1e-6),
                                  interpolation="nearest")
        axes[1, i].set_title(f"Δ {method_label(key)} (mean {figure['residuals'][key].mean():.4f})", fontsize=7)
        axes[1, i].set_xticks([])
        axes[1, i].set_yticks([])
    _show(axes[0, -1], figure["hr"], "HR (not available to\nZSSR or SimUSR)")
    axes[1, -1].axis("off")
    bar = fig.colorbar(image, cax=axes[1, -1].inset_axes([0.05, 0.05, 0.08, 0.9]))
    bar.ax.tick_params(labelsize=7)
    bar.set_label("Δ = |SR − HR|, mean over RGB", fontsize=7)
    top, left, side = figure["box"]
    fig.suptitle(f"Fig. 5.3 after the thesis: {figure['name']}, {side}x{side} HR crop at ({top}, {left}), x4; "
                 "PSNR / SSIM of the whole image (Y, border 4 px)", fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Figure 5.3",
                    caption=f"x4 crops of {figure['name']}: bicubic, ZSSR, SimUSR, the supervised network and HR, "
                            "with the absolute residual maps |SR - HR|")
    return fig


def table5_4_latency(run, latency: dict, *, name: str = "table5_4_latency"):
    """Table 5.4 as bars on a log scale: ours (ZSSR's online training and inference stacked, each SimUSR
    backbone's one forward pass, on the same image) beside the paper's (TITAN X). ``latency``:
    :func:`companion.ch5.latency.measure_latency`."""
    paper = paper_table("Table 5.4")
    z = latency["zssr"]
    h, w = latency["lr_size"]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 3.4))
    labels = ["ZSSR"] + [f"SimUSR {n.upper()}" for n in latency["simusr"]]
    a0.barh([0], [z["train"]], color=ZSSR_TRAIN, label=f"ZSSR online training ({z['steps']} steps)")
    a0.barh([0], [z["infer"]], left=[z["train"]], color=ZSSR_INFER, label="ZSSR inference")
    for i, (network, t) in enumerate(latency["simusr"].items(), start=1):
        a0.barh([i], [t["seconds"]], color=SIMUSR_COLOUR, label="SimUSR: one forward pass" if i == 1 else None)
        a0.annotate(f"{t['seconds']:.3f} s (ZSSR {latency['ratio'][network]:,.0f}× longer)", (t["seconds"], i),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=7)
    a0.annotate(f"{z['total']:.3g} s", (z["total"], 0), xytext=(4, 0), textcoords="offset points", va="center",
                fontsize=7)
    a0.set_title(f"ours: {latency['image']}, {w}x{h} LR -> x4, {latency['device']}, "
                 f"{latency['threads']} thread(s)", fontsize=9)
    rows = [r for r in ("ZSSR", "SimUSR CARN", "SimUSR EDSR", "SimUSR RCAN") if "Runtime (s)" in paper.get(r, {})]
    a1.barh(range(len(rows)), [paper[r]["Runtime (s)"] for r in rows], color=PAPER_COLOUR)
    for i, r in enumerate(rows):
        a1.annotate(f"{paper[r]['Runtime (s)']:g} s", (paper[r]["Runtime (s)"], i), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=7)
    a1.set_title(f"paper, Table 5.4: TITAN X GPU, {FULL.latency_lr[1]}x{FULL.latency_lr[0]} LR -> x4", fontsize=9)
    for ax, names in ((a0, labels), (a1, rows)):
        ax.set_xscale("log")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("seconds per image (log scale)", fontsize=8)
        ax.grid(True, axis="x", which="both", lw=0.3, alpha=0.4)
        ax.tick_params(axis="x", labelsize=7)
        low, high = ax.get_xlim()
        ax.set_xlim(low, high * 30)  # room for the labels
    a0.legend(fontsize=7, frameon=False, loc="lower right")
    fig.suptitle("Table 5.4: ZSSR trains at test time, SimUSR only runs a forward pass", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Table 5.4",
                    caption="Runtime per image: ZSSR's online training and inference against SimUSR's forward pass, "
                            "measured on the same image, beside the paper's")
    return fig


__all__ = ["PANEL_ORDER", "fig5_3_crops", "table5_4_latency"]
