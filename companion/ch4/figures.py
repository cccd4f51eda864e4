"""Figures of ``04a_augmentations`` (Fig. 4.1 and the explorer's drawing) and ``04b_cutblur_psd`` (Figs. 4.3-4.5),
one function per figure, each drawn from numbers computed in :mod:`companion.ch4.gallery` /
:mod:`companion.ch4.frequencies` and saved with ``run.save_figure`` (provenance in the PNG and the results file).

Colours follow the thesis' figures where it names them: the original image light green, Cutout red, Mixup
blue, CutBlur dark green (dotted) in Fig. 4.3; LR purple, HR light green, the baseline red and the CutBlur
model blue in Fig. 4.4.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.gridspec import GridSpec
from matplotlib.patches import Rectangle
from matplotlib.ticker import NullFormatter

from companion.ch4.frequencies import HF_BAND, MODEL_LABELS, box_means
from companion.figures.style import colorbar

ORIGINAL, LR_COLOUR = "#7fc97f", "#7b3294"
VERSION_STYLE = {"original": dict(color=ORIGINAL, lw=2.6), "lr": dict(color=LR_COLOUR, lw=1.0, ls="--"),
                 "cutout": dict(color="#d7191c", lw=1.3), "mixup": dict(color="#2c7bb6", lw=1.3),
                 "cutblur": dict(color="#1a7a1a", lw=2.0, ls=":")}
MODEL_COLOURS = {"baseline": "#d7191c", "cutblur": "#2c7bb6"}


def _show(ax, image, title: str, *, fontsize: int = 7):
    ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=fontsize)
    ax.set_xticks([])
    ax.set_yticks([])


def _outline(ax, box, colour: str = "yellow", label: str | None = None):
    """Draw ``box`` (top, left, height, width) on ``ax``."""
    if box is None:
        return
    top, left, bh, bw = box
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), bw, bh, fill=False, edgecolor=colour, lw=1.2, ls="--",
                           label=label))


def _erased(ax, mask):
    """Circle the pixels a loss mask leaves out (Cutout's erased pixels are single pixels: too small to see)."""
    if mask is None:
        return 0
    ys, xs = np.nonzero(mask < 0.5)
    ax.scatter(xs, ys, s=14, facecolors="none", edgecolors="red", linewidths=0.7)
    return len(xs)


def _example_panels(ax_in, ax_target, example, *, fontsize: int = 7):
    """An :class:`companion.ch4.gallery.Example` as an input panel and a target panel, with its box and erased
    pixels marked."""
    _show(ax_in, example.input, f"{example.label}: input", fontsize=fontsize)
    _show(ax_target, example.target, f"{example.label}: target", fontsize=fontsize)
    for ax in (ax_in, ax_target):
        _outline(ax, example.box)
    erased = _erased(ax_in, example.loss_mask)
    _erased(ax_target, example.loss_mask)
    if example.loss_mask is not None:
        ax_target.set_title(f"{example.label}: target\n({erased} px out of the loss, circled)", fontsize=fontsize)
    if example.applied != example.name and example.name != "original":
        ax_in.set_title(f"{example.label}: input\n(drawn: {example.applied})", fontsize=fontsize)


def fig4_1_augmentations(run, examples: dict, *, name: str = "fig4_1_augmentations"):
    """Fig. 4.1 after the thesis: the (LR, HR) pair and every augmentation of Table 4.1 at its default α applied
    once to it (``examples``: :func:`companion.ch4.gallery.gallery`); top row the input the network sees, bottom
    row the target; boxes dashed, Cutout's erased pixels circled (left out of the loss)."""
    keys = list(examples)
    fig, axes = plt.subplots(2, len(keys), figsize=(2.1 * len(keys), 5.3))
    for column, key in enumerate(keys):
        _example_panels(axes[0, column], axes[1, column], examples[key])
    axes[0, 0].set_title("LQ: LR ×4 on the HR grid\n(the network's input)", fontsize=7)
    axes[1, 0].set_title("HQ: HR (the target)", fontsize=7)
    fig.suptitle("Fig. 4.1 after the thesis: each augmentation of Table 4.1 once on one pair (top: input, "
                 "bottom: target; boxes dashed)", fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Figure 4.1",
                    caption="Every augmentation of Table 4.1 at its default alpha applied once to one LR/HR pair: "
                            "input and target, boxes dashed, Cutout's erased pixels circled")
    return fig


def explorer_figure(example):
    """The explorer's drawing of one :class:`companion.ch4.gallery.Example`: its input and target side by side
    (not saved: the widget redraws it on every change)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.9))
    _example_panels(axes[0], axes[1], example, fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------------
# 04b


def _psd_axes(ax, title: str):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvspan(*HF_BAND, color="0.85", alpha=0.5, lw=0, label=f"HF band {HF_BAND[0]}-{HF_BAND[1]} cycles/px")
    ax.set_xlabel("spatial frequency f (cycles/px)", fontsize=8)
    ax.set_ylabel("radially averaged PSD of the luma", fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", lw=0.3, alpha=0.4)
    ax.set_title(title, fontsize=9)


def fig4_3_psd(run, versions: dict, *, name: str = "fig4_3_psd"):
    """Fig. 4.3: the PSD of the original image against its Cutout, Mixup and CutBlur versions (one seeded draw
    each; the LR image as a reference), each with its fitted 1/f^α exponent in the legend, beside the images
    (``versions``: :func:`companion.ch4.frequencies.psd_versions`)."""
    fig = plt.figure(figsize=(12.5, 5.0), layout="constrained")
    grid = GridSpec(2, 4, figure=fig, width_ratios=[1.3, 1.3, 1, 1])
    ax = fig.add_subplot(grid[:, :2])
    freqs = versions["freqs"]
    for key, v in versions["versions"].items():
        ax.plot(freqs, v["power"], label=f"{v['label']}: α = {v['alpha']:.2f}", **VERSION_STYLE[key])
    _psd_axes(ax, "Fig. 4.3: PSD of augmented images (fitted 1/f^α over 0.05-0.4 cycles/px)")
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    places = [grid[0, 2], grid[0, 3], grid[1, 2], grid[1, 3]]
    for place, key in zip(places, ("original", "cutout", "mixup", "cutblur")):
        v = versions["versions"][key]
        image_ax = fig.add_subplot(place)
        _show(image_ax, v["image"], v["label"])
        _outline(image_ax, v["box"])
        if v["mask"] is not None:
            _erased(image_ax, v["mask"])
            image_ax.set_title(f"{v['label']}\n(erased pixels circled)", fontsize=7)
    run.save_figure(fig, name, entry="Figure 4.3",
                    caption="Radially averaged PSD of one photograph and of its Cutout, Mixup and CutBlur versions "
                            "(one seeded draw each), with each fitted 1/f^alpha exponent")
    return fig


def _strip(ax, scores: dict, key: str, images: list[str], ylabel: str, *, zero: bool = False):
    """Per seed × image scores of both models as points (one per seed) and each image's mean as a bar edge."""
    width = 0.35
    for offset, (kind, s) in zip((-width / 2, width / 2), scores.items()):
        grid = np.asarray(s[key], dtype=float)
        for i in range(grid.shape[1]):
            ax.scatter(np.full(grid.shape[0], i + offset), grid[:, i], s=14, color=MODEL_COLOURS[kind],
                       label=MODEL_LABELS[kind] if i == 0 else None, zorder=3)
            ax.hlines(grid[:, i].mean(), i + offset - width / 2.5, i + offset + width / 2.5, color=MODEL_COLOURS[kind],
                      lw=2)
    if zero:
        ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(range(len(images)))
    ax.set_xticklabels(images, fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(True, axis="y", lw=0.3, alpha=0.5)
    ax.legend(fontsize=7, frameon=False)


def fig4_4_hr_input(run, identity: dict, *, name: str = "fig4_4_hr_input"):
    """Fig. 4.4 at the companion's scale: both ×4 models fed an input that is already HR. Top: the PSD of the HR
    input, its LR image and the two outputs (first seed, the figure image), and the images; bottom: PSNR to the
    input and the HF excess of every seed (points) on every test image (bars: means)
    (``identity``: :func:`companion.ch4.frequencies.identity_test`)."""
    fig = plt.figure(figsize=(14, 7.8), layout="constrained")
    grid = GridSpec(2, 5, figure=fig, height_ratios=[1.15, 1])
    ax = fig.add_subplot(grid[0, :2])
    freqs, curves = identity["freqs"], identity["psd"]
    ax.plot(freqs, curves["input"], color=ORIGINAL, lw=2.6, label="HR (the input)")
    ax.plot(freqs, curves["lr"], color=LR_COLOUR, lw=1.0, ls="--", label="LR ×4 on the grid (what training fed)")
    for kind in ("baseline", "cutblur"):
        ax.plot(freqs, curves[kind], color=MODEL_COLOURS[kind], lw=1.3, label=f"{MODEL_LABELS[kind]} output")
    _psd_axes(ax, "PSD: HR input and outputs")
    ax.legend(fontsize=6.5, frameon=False, loc="lower left")
    panels = [("input", "HR input (= target of the identity)")] + [(k, f"{MODEL_LABELS[k]}: output") for k in
                                                                   ("baseline", "cutblur")]
    first = {k: (np.asarray(s["identity_psnr"])[0], np.asarray(s["hf_excess"])[0])
             for k, s in identity["scores"].items()}
    index = identity["images"].index(identity["figure_image"])
    for column, (key, title) in enumerate(panels, start=2):
        image_ax = fig.add_subplot(grid[0, column])
        if key in first:
            title += f"\nPSNR to input {first[key][0][index]:.2f} dB, HF excess {first[key][1][index]:+.3f}"
        _show(image_ax, identity["figure"][key], title)
    scores = identity["scores"]
    _strip(fig.add_subplot(grid[1, :2]), scores, "identity_psnr", identity["images"],
           "PSNR(output, HR input), dB (Y, border 4)")
    _strip(fig.add_subplot(grid[1, 2:]), scores, "hf_excess", identity["images"],
           f"HF excess: mean log10 PSD ratio, f in {HF_BAND}", zero=True)
    fig.suptitle(f"Fig. 4.4 at small scale: x4 models fed an HR input ({len(identity['seeds'])} seed(s) × "
                 f"{len(identity['images'])} test images)", fontsize=10)
    run.save_figure(fig, name, entry="Figure 4.4",
                    caption="A x4 model with and without CutBlur fed an input that is already high-resolution: PSD "
                            "of the input and the outputs, the outputs, and per seed and image the PSNR to the "
                            "input and the high-frequency excess")
    return fig


def fig4_4_realsr(run, real: dict, *, name: str = "fig4_4_realsr"):
    """The real pair (RealSR v1 Canon_003 ×4): the PSD of its LR and HR images and of each model's outputs from
    the LR image (solid) and from the HR image (dashed), first seed, beside the images
    (``real``: :func:`companion.ch4.frequencies.real_test`)."""
    fig = plt.figure(figsize=(13, 6.6), layout="constrained")
    grid = GridSpec(2, 4, figure=fig, width_ratios=[1.3, 1.3, 1, 1])
    ax = fig.add_subplot(grid[:, :2])
    freqs, curves = real["freqs"], real["psd"]
    ax.plot(freqs, curves["hr"], color=ORIGINAL, lw=2.6, label="HR")
    ax.plot(freqs, curves["lr"], color=LR_COLOUR, lw=1.2, label="real LR (on the HR grid)")
    for kind in ("baseline", "cutblur"):
        ax.plot(freqs, curves[f"{kind}_from_lr"], color=MODEL_COLOURS[kind], lw=1.3,
                label=f"{MODEL_LABELS[kind]} from the LR image")
        ax.plot(freqs, curves[f"{kind}_from_hr"], color=MODEL_COLOURS[kind], lw=1.0, ls="--",
                label=f"{MODEL_LABELS[kind]} from the HR image")
    _psd_axes(ax, "RealSR Canon_003 x4: PSD of the pair and the outputs")
    ax.legend(fontsize=6.5, frameon=False, loc="lower left")
    first = {k: s for k, s in real["scores"].items()}
    panels = [(grid[0, 2], "lr", f"real LR (PSNR to HR {real['lr']['psnr']:.2f} dB)"), (grid[0, 3], "hr", "HR")]
    for place, kind in ((grid[1, 2], "baseline"), (grid[1, 3], "cutblur")):
        psnr_lr = first[kind]["real_psnr"][0][0]
        panels.append((place, f"{kind}_from_lr", f"{MODEL_LABELS[kind]} from LR\n(PSNR to HR {psnr_lr:.2f} dB)"))
    for place, key, title in panels:
        _show(fig.add_subplot(place), real["figure"][key], title)
    run.save_figure(fig, name, entry="Figure 4.4",
                    caption="A real x4 pair (RealSR v1 Canon_003): PSD of LR, HR and each model's outputs from the "
                            "LR and from the HR image, and the images")
    return fig


def fig4_5_delta_maps(run, delta: dict, *, name: str = "fig4_5_delta_maps"):
    """Fig. 4.5 after the thesis: a CutBlurred test input (HR inside the dashed box, LR outside) and the Δ maps of
    both models (first seed): where each changes its input, |output − input|, and what is left to restore,
    |output − HR| (the thesis' Δ), in 8-bit levels with one colour scale per row
    (``delta``: :func:`companion.ch4.frequencies.delta_test`)."""
    figure = delta["figure"]
    box = figure["box"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
    _show(axes[0, 0], figure["hr"], "HR")
    _show(axes[1, 0], figure["input"], "CutBlurred input\n(HR inside the box, LR ×4 outside)")
    for ax in axes[:, 0]:
        _outline(ax, box, colour="red")
    for row, (key, what) in enumerate((("change", "|output − input|: where it restores"),
                                       ("error", "|output − HR|: the thesis' Δ"))):
        top = max(float(np.percentile(figure[kind][key], 99.5)) for kind in ("baseline", "cutblur")) or 1.0
        for column, kind in enumerate(("baseline", "cutblur"), start=1):
            ax = axes[row, column]
            shown = ax.imshow(figure[kind][key], cmap="magma", vmin=0, vmax=top, interpolation="nearest")
            inside = box_means(figure[kind][key], box)
            ax.set_title(f"{MODEL_LABELS[kind]}: {what}\nmean in the HR box {inside[0]:.2f}, in the LR part "
                         f"{inside[1]:.2f} levels", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            _outline(ax, box, colour="cyan")
        colorbar(fig, shown, axes[row, 2], label="8-bit levels (mean over RGB)")
    fig.suptitle("Fig. 4.5 at small scale: where each model restores a CutBlurred input", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Figure 4.5",
                    caption="A CutBlurred test input and the change and error maps of the x4 model with and without "
                            "CutBlur, averaged inside the HR box and over the LR part")
    return fig

