"""Figures of ``04d_augmentation_tables`` (Tables 4.2-4.3: the gains with their intervals) and of
``04c_where_to_restore`` (the real pair's Δ maps after Fig. 4.5, Fig. 4.9's denoising crops, Table 4.7's σ sweep,
MoA in MEPSNet's experts). Each function draws one figure from numbers computed in :mod:`companion.ch4.tables` /
:mod:`companion.ch4.where` and saves it with ``run.save_figure`` (provenance in the PNG and the results file).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from companion.ch4.config import AUGMENTATION_LABELS, TablesSpec
from companion.ch4.tables import MODEL_ROWS, fraction_column
from companion.figures.style import colorbar

OURS, PAPER, PAPER_REALSR = "#4e79a7", "#e15759", "#f28e2b"
MODEL_COLOURS = {"srcnn": "#76b7b2", "carn": "#59a14f", "rcan": "#b07aa1", "edsr": "#4e79a7"}
KIND_COLOURS = {"baseline": "#9c755f", "moa": "#4e79a7", "cutblur": "#4e79a7"}


def _interval_bars(ax, ys, claims, colour, label):
    diffs = np.array([c["difference"] for c in claims])
    low = diffs - np.array([c["low"] for c in claims])
    high = np.array([c["high"] for c in claims]) - diffs
    ax.errorbar(diffs, ys, xerr=[low, high], fmt="o", color=colour, ecolor=colour, capsize=3, ms=5, lw=1.2,
                label=label)


def table_4_2_gains(run, claims: list[dict], spec: TablesSpec, *, name: str = "table4_2_gains"):
    """Table 4.2 beside ours: each augmentation's mean paired PSNR gain over the baseline with its 95 % interval
    (seeds × test images, :func:`companion.ch4.tables.claims_4_2`), and the paper's δ on DIV2K and on RealSR."""
    fig, ax = plt.subplots(figsize=(7.2, 0.45 * len(claims) + 1.6))
    ys = np.arange(len(claims))[::-1]
    _interval_bars(ax, ys, claims, OURS, f"ours: mean gain, 95 % interval ({claims[0]['detail'].split(' over ')[-1]})")
    ax.scatter([c["paper_delta"] for c in claims], ys + 0.18, marker="D", color=PAPER, s=22, zorder=3,
               label="paper δ, DIV2K (EDSR, 700k steps)")
    ax.scatter([c["paper_delta_realsr"] for c in claims], ys - 0.18, marker="s", color=PAPER_REALSR, s=22, zorder=3,
               label="paper δ, RealSR")
    ax.axvline(0, color="0.2", lw=1)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{AUGMENTATION_LABELS[c['augmentation']]}\n({c['verdict']})" for c in claims], fontsize=8)
    ax.set_xlabel("PSNR gain over the baseline (dB, Y channel)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(True, axis="x", lw=0.3, alpha=0.5)
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16 - 0.3 / len(claims)), ncol=2)
    ax.set_title(f"Table 4.2 at small scale: {MODEL_ROWS.get(spec.table_4_2_model, spec.table_4_2_model)} "
                 f"({spec.size} size, {spec.recipe.train.steps:,} steps) with each augmentation", fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Table 4.2",
                    caption="Each augmentation's PSNR gain over the baseline with its 95 % paired interval, beside "
                            "the paper's δ on DIV2K and RealSR")
    return fig


def table_4_3_gains(run, claims: list[dict], spec: TablesSpec, *, name: str = "table4_3_gains"):
    """Table 4.3 beside ours: MoA's mean paired gain over the baseline for every model and data fraction with its
    95 % interval (:func:`companion.ch4.tables.claims_4_3`), and the paper's δ at the same fraction."""
    per_fraction = [c for c in claims if c["fraction"] is not None]
    models = list(dict.fromkeys(c["model"] for c in per_fraction))
    fractions = sorted({c["fraction"] for c in per_fraction}, reverse=True)
    fig, ax = plt.subplots(figsize=(7.2, 3.6))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        mine = [next(c for c in per_fraction if c["model"] == model and c["fraction"] == f) for f in fractions]
        xs = np.arange(len(fractions)) + (i - (len(models) - 1) / 2) * width
        diffs = np.array([c["difference"] for c in mine])
        ax.errorbar(xs, diffs, yerr=[diffs - [c["low"] for c in mine], np.array([c["high"] for c in mine]) - diffs],
                    fmt="o", color=MODEL_COLOURS.get(model, "0.3"), capsize=3, ms=5, lw=1.2,
                    label=f"{MODEL_ROWS[model]}: ours")
        paper = [c["paper_delta"] for c in mine]
        ax.scatter(xs, [np.nan if p is None else p for p in paper], marker="D", facecolor="none", s=30,
                   edgecolor=MODEL_COLOURS.get(model, "0.3"), zorder=3,
                   label=f"{MODEL_ROWS[model]}: paper δ" if any(p is not None for p in paper) else None)
    ax.axhline(0, color="0.2", lw=1)
    ax.set_xticks(range(len(fractions)))
    ax.set_xticklabels([fraction_column(f) for f in fractions], fontsize=8)
    ax.set_ylabel("MoA's PSNR gain over the baseline (dB, Y)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(True, axis="y", lw=0.3, alpha=0.5)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Table 4.3 at small scale: MoA's gain per model and data fraction ({spec.seeds} seed(s) × test "
                 "images; 95 % intervals)", fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Table 4.3",
                    caption="MoA's PSNR gain over the baseline per model and data fraction with its 95 % paired "
                            "interval, beside the paper's δ (hollow diamonds)")
    return fig


# --------------------------------------------------------------------------------------------------------
# 04c.


def _show(ax, image, title, *, fontsize=7):
    ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=fontsize)
    ax.set_xticks([])
    ax.set_yticks([])


def real_pair_deltas(run, real: dict, summary: dict, *, name: str = "fig4_5_real_pair"):
    """The real pair after Fig. 4.5: HR, the real LR input and its CutBlurred version (the HR box outlined), and
    the Δ = |output − HR| maps (8-bit levels, one colour scale with its colorbar) of the LR input itself and of
    each seed-0 model on both inputs, each titled with its mean Δ inside / outside the box.
    ``real``: :func:`companion.ch4.where.real_pair_deltas`; ``summary``: :func:`companion.ch4.where.real_summary`."""
    f = real["figure"]
    top, left, bh, bw = real["box"]
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.4))
    _show(axes[0, 0], f["hr"], "HR (Canon_003)")
    _show(axes[0, 1], f["lr"], "real LR x4 (on the HR grid)")
    _show(axes[0, 2], f["mixed"], "CutBlurred input: HR inside the box")
    axes[0, 2].add_patch(Rectangle((left - 0.5, top - 0.5), bw, bh, fill=False, edgecolor="#e15759", lw=1.2))
    kinds = [k for k in ("baseline", "cutblur") if k in f]
    vmax = float(np.percentile(np.concatenate([f["lr_delta"].ravel()] + [f[k]["delta_lr"].ravel() for k in kinds]), 99))
    labels = {"baseline": "EDSR (baseline)", "cutblur": "EDSR + CutBlur"}
    im = axes[0, 3].imshow(f["lr_delta"], cmap="magma", vmin=0, vmax=vmax)
    axes[0, 3].set_title(f"Δ of the LR input itself\nPSNR {summary['lr']['real_psnr'][0]:.2f} dB (tile mean)",
                         fontsize=7)
    for i, kind in enumerate(kinds):
        s = summary[kind]
        axes[1, i].imshow(f[kind]["delta_lr"], cmap="magma", vmin=0, vmax=vmax)
        axes[1, i].set_title(f"Δ {labels[kind]}, real LR input\nPSNR {s['real_psnr'][0]:.2f} dB", fontsize=7)
        axes[1, 2 + i].imshow(f[kind]["delta_mixed"], cmap="magma", vmin=0, vmax=vmax)
        axes[1, 2 + i].add_patch(Rectangle((left - 0.5, top - 0.5), bw, bh, fill=False, edgecolor="#4e79a7", lw=1))
        axes[1, 2 + i].set_title(f"Δ {labels[kind]}, CutBlurred input\ninside {s['inside'][0]:.2f}, outside "
                                 f"{s['outside'][0]:.2f} (8-bit)", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    colorbar(fig, im, list(axes.ravel()), label="Δ = |output − HR| (8-bit levels, mean over RGB)")
    fig.suptitle("Where the x4 models restore on a real pair (RealSR v1 Canon_003; models trained on bicubic x4)",
                 fontsize=10)
    run.save_figure(fig, name, entry="Figure 4.5",
                    caption="The real pair: Δ maps of the LR input and of both models fed the real LR image and its "
                            "CutBlurred version (HR inside the outlined box)")
    return fig


def fig4_9_denoise(run, crops: dict, *, name: str = "fig4_9_denoise"):
    """Fig. 4.9 at small scale: the clean crop, the noisy input (trained at σ 70, tested at a milder σ), the
    baseline's and the MoA model's outputs, each titled with its whole image's PSNR / SSIM (RGB); below, each
    output's |output − clean| map with one colour scale. ``crops``: :func:`companion.ch4.where.figure_crops`."""
    p = crops["panels"]
    sc = crops["scores"]
    fig, axes = plt.subplots(2, 4, figsize=(11, 5.8))
    _show(axes[0, 0], p["clean"], f"clean ({crops['image']})")
    _show(axes[0, 1], p["noisy"], f"noisy input, sigma {crops['sigma']:g}\n{sc['noisy'][0]:.2f} dB / "
                                  f"{sc['noisy'][1]:.4f}")
    labels = {"baseline": "EDSR (baseline)", "moa": "EDSR + MoA"}
    deltas = {k: np.abs(p[k] - p["clean"]).mean(axis=2) * 255 for k in labels}
    vmax = float(np.percentile(np.concatenate([d.ravel() for d in deltas.values()]), 99))
    im = None
    for i, kind in enumerate(labels):
        _show(axes[0, 2 + i], p[kind], f"{labels[kind]}, trained at sigma 70\n{sc[kind][0]:.2f} dB / {sc[kind][1]:.4f}")
        im = axes[1, 2 + i].imshow(deltas[kind], cmap="magma", vmin=0, vmax=vmax)
        axes[1, 2 + i].set_title(f"|{labels[kind]} − clean|", fontsize=7)
    axes[1, 1].imshow(np.abs(p["noisy"] - p["clean"]).mean(axis=2) * 255, cmap="magma", vmin=0, vmax=vmax)
    axes[1, 1].set_title("|noisy input − clean|", fontsize=7)
    axes[1, 0].axis("off")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    colorbar(fig, im, list(axes[1, 2:]), label="|output − clean| (8-bit levels)")
    fig.suptitle(f"Fig. 4.9 at small scale: trained on sigma 70, tested on sigma {crops['sigma']:g} "
                 "(PSNR / SSIM of the whole test crop)", fontsize=10)
    run.save_figure(fig, name, entry="Figure 4.9",
                    caption="Denoisers trained at sigma 70 tested at a milder sigma: crops and error maps of the "
                            "baseline and the MoA model")
    return fig


def denoise_sigmas(run, summary: dict, *, name: str = "table4_7_sigmas"):
    """Table 4.7's denoising columns as curves: PSNR, SSIM and the high-frequency excess of both denoisers
    against the test σ (mean ± std over seeds). ``summary``: :func:`companion.ch4.where.denoise_summary`."""
    sigmas = sorted(summary)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    labels = {"baseline": "EDSR (baseline)", "moa": "EDSR + MoA"}
    for ax, (metric, what) in zip(axes, (("psnr", "PSNR (dB, RGB)"), ("ssim", "SSIM (RGB)"),
                                         ("hf_excess", "HF excess over the clean image (log10)"))):
        for kind, label in labels.items():
            m = [summary[s][kind][metric][0] for s in sigmas]
            e = [summary[s][kind][metric][1] for s in sigmas]
            ax.errorbar(sigmas, m, yerr=e, marker="o", capsize=3, color=KIND_COLOURS[kind], label=label)
        if metric == "hf_excess":
            ax.axhline(0, color="0.3", lw=0.8, ls=":")
        ax.axvline(70, color="0.6", lw=0.8, ls="--")
        ax.set_xlabel("test noise sigma (trained at 70, dashed)", fontsize=8)
        ax.set_ylabel(what, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, lw=0.3, alpha=0.5)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle("Table 4.7 at small scale: denoisers trained at sigma 70, tested at each sigma (mean ± std over "
                 "seeds)", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Table 4.7",
                    caption="PSNR, SSIM and high-frequency excess of the baseline and MoA denoisers against the test "
                            "noise level")
    return fig


def mepsnet_experts(run, summary: dict, *, name: str = "mepsnet_moa_experts"):
    """MoA in MEPSNet's training (in no paper): left, PSNR per SHDD test level of Chapter 7's MEPSNet and of the
    one trained with MoA (mean ± std over seeds, the input's PSNR dashed); right, each expert's response ratio
    per distortion type for both (mean over seeds; above 1: the expert responds more in that type's regions).
    ``summary``: :func:`companion.ch4.where.mepsnet_summary`."""
    levels = list(summary["levels"])
    kinds = {"baseline": "MEPSNet (Ch. 7)", "moa": "MEPSNet + MoA"}
    types = list(summary["responses"]["baseline"])
    experts = len(next(iter(summary["responses"]["baseline"].values())))
    fig = plt.figure(figsize=(12, 3.8))
    grid = fig.add_gridspec(1, 3, width_ratios=[1.1, 1, 1])
    ax = fig.add_subplot(grid[0])
    width = 0.38
    for i, (kind, label) in enumerate(kinds.items()):
        xs = np.arange(len(levels)) + (i - 0.5) * width
        ax.bar(xs, [summary["levels"][lv][kind][0] for lv in levels], width,
               yerr=[summary["levels"][lv][kind][1] for lv in levels], capsize=3, color=KIND_COLOURS[kind], label=label)
    for j, lv in enumerate(levels):
        ax.hlines(summary["levels"][lv]["input"], j - 0.45, j + 0.45, colors="0.2", linestyles="--", lw=1,
                  label="distorted input" if j == 0 else None)
    low = min(min(summary["levels"][lv]["input"], *(summary["levels"][lv][k][0] for k in kinds)) for lv in levels)
    ax.set_ylim(low - 1.0, None)
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels(levels, fontsize=8)
    ax.set_ylabel("PSNR (dB, RGB), SHDD test split", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    ratios = {k: np.array([summary["responses"][k][t] for t in types]) for k in kinds}
    vmax = max(float(np.nanmax(np.abs(r - 1))) for r in ratios.values()) or 1.0
    im = None
    for i, (kind, label) in enumerate(kinds.items()):
        a = fig.add_subplot(grid[1 + i])
        im = a.imshow(ratios[kind], cmap="RdBu_r", vmin=1 - vmax, vmax=1 + vmax, aspect="auto")
        a.set_xticks(range(experts))
        a.set_xticklabels([f"expert {e + 1}" for e in range(experts)], fontsize=7)
        a.set_yticks(range(len(types)))
        a.set_yticklabels(types if i == 0 else [], fontsize=7)
        a.set_title(f"{label}: response ratio\n(selectivity {summary['selectivity'][kind][0]:.3f})", fontsize=8)
        for (r, c), v in np.ndenumerate(ratios[kind]):
            a.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6)
    colorbar(fig, im, fig.axes[-1], label="mean |activation| in the type's regions / on the image")
    fig.suptitle("MoA in MEPSNet's training on SHDD (not in the thesis): restoration and what the experts respond to",
                 fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, name, caption="MEPSNet with and without MoA: PSNR per SHDD level and each expert's "
                                       "response ratio per distortion type")
    return fig
