"""Figures of thesis Ch.7 about the models (§7.5): Table 7.1 as a chart, per-type PSNR, training curves,
Fig. 7.6 (the block and template sweeps), Fig. 7.7 (what each expert sees), t-SNE, PSD and fusion weights.

Each function draws one figure from numbers the notebook measured and saves it with ``run.save_figure``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.ticker import NullFormatter

from companion.ch7.shdd import SHDD_TYPES
from companion.ch7.shdd_figures import SHORT, TYPE_COLOURS, label_map_rgb, type_legend
from companion.figures.style import colorbar

MODEL_COLOURS = {"DnCNN": "#8c8c8c", "VDSR": "#b07aa1", "OWAN": "#edc948", "RIDNet": "#4e79a7", "MEPSNet": "#e15759"}


def _colour(label: str, i: int) -> str:

    return MODEL_COLOURS.get(label, plt.rcParams["axes.prop_cycle"].by_key()["color"][i % 10])


def fig_table7_1(run, summary: dict, levels, *, name: str = "table7_1_psnr", entry: str = "Table 7.1"):
    """Mean PSNR ± std over seeds per model and level, with the distorted input's PSNR as a dashed line."""

    labels = list(summary)
    fig, axes = plt.subplots(1, len(levels), figsize=(4.2 * len(levels), 3.6), sharey=True, squeeze=False)
    for ax, level in zip(axes[0], levels):
        means = [summary[m][(level, "psnr")][0] for m in labels]
        stds = [summary[m][(level, "psnr")][1] for m in labels]
        ax.bar(labels, means, yerr=stds, capsize=3, color=[_colour(m, i) for i, m in enumerate(labels)])
        ax.axhline(summary[labels[0]][(level, "input_psnr")], ls="--", c="k", lw=1, label="distorted input")
        ax.set_title(f"SHDD {level} (test)")
        ax.tick_params(axis="x", rotation=30)
        finite = [m for m in means if np.isfinite(m)]
        if finite:
            ax.set_ylim(min(finite + [summary[labels[0]][(level, "input_psnr")]]) - 1.5, max(finite) + 1.0)
    axes[0, 0].set_ylabel("PSNR (dB, RGB)")
    axes[0, 0].legend(loc="lower left", fontsize=8)
    run.save_figure(fig, name, entry=entry, caption="PSNR per model and SHDD level, mean ± std over seeds")
    return fig


def fig_psnr_by_type(run, summary: dict, level: str, *, name: str = "table7_1_psnr_by_type",
                     entry: str | None = "Table 7.1"):
    """Heat map of the PSNR *gain over the input* per model and distortion type (from the SHDD label maps)."""

    labels = list(summary)
    types = [t for t in SHDD_TYPES if t != "identity" and any(t in summary[m][(level, "psnr_by_type")]
                                                               for m in labels)]
    base = summary[labels[0]][(level, "input_psnr_by_type")]
    gain = np.array([[summary[m][(level, "psnr_by_type")].get(t, (np.nan, 0))[0] - base.get(t, np.nan)
                      for t in types] for m in labels])
    fig, ax = plt.subplots(figsize=(1.4 * len(types) + 2.5, 0.5 * len(labels) + 1.5))
    sns.heatmap(gain, annot=True, fmt=".2f", cmap="RdBu", center=0, xticklabels=[SHORT[t] for t in types],
                yticklabels=labels, cbar_kws={"label": "PSNR gain over the input (dB)"}, ax=ax)
    ax.set_title(f"SHDD {level}: restoration gain per distortion type")
    run.save_figure(fig, name, entry=entry, caption=f"PSNR gain over the input per distortion type, SHDD {level}")
    return fig


def fig_training_curves(run, results: dict, *, name: str = "mepsnet_training_curves"):
    """Training loss of every model and seed against the step (the 20-step means kept in ``loss_curve``)."""

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for i, (label, runs) in enumerate(results.items()):
        for j, r in enumerate(runs):
            curve = np.asarray(r["loss_curve"], dtype=float).reshape(-1, 2)
            ax.plot(curve[:, 0], curve[:, 1], color=_colour(label, i), alpha=0.8, label=label if j == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("L2 loss (20-step mean)")
    ax.legend(fontsize=8)
    run.save_figure(fig, name, caption="Training loss of every model and seed")
    return fig


def validation_curves(results: dict, x: str = "steps") -> dict:
    """``{label: (x, mean PSNR, std PSNR)}`` over seeds from each run's validation curve ``val`` [(step, PSNR)].

    ``x="steps"`` keeps the steps; ``x="seconds"`` converts each step to training seconds at the run's mean
    time per step (``seconds / steps``), the equal-time view. Runs without a validation curve are left out.
    """
    out = {}
    for label, runs in results.items():
        curves = [np.asarray(r["val"], dtype=float).reshape(-1, 2) for r in runs if r.get("val")]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        psnr = np.stack([c[:n, 1] for c in curves])
        steps = curves[0][:n, 0]
        xs = steps if x == "steps" else steps * np.mean([r["seconds"] / max(r["steps"], 1) for r in runs])
        out[label] = (xs, psnr.mean(0), psnr.std(0))
    return out


def fig_validation_curves(run, results: dict, input_psnr: float, *, x: str = "steps",
                          name: str = "table7_1_validation_curves", entry: str | None = "Table 7.1"):
    """Validation PSNR of every model (mean over seeds, band = ± std) on one axis, against the training step
    (``x="steps"``: the paper's equal-steps comparison) or the training seconds (``x="seconds"``)."""

    curves = validation_curves(results, x)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, (label, (xs, mean, std)) in enumerate(curves.items()):
        colour = _colour(label, i)
        ax.plot(xs, mean, marker="o", ms=3, color=colour, label=label)
        ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.2, lw=0)
    ax.axhline(input_psnr, ls="--", c="k", lw=1, label="distorted input")
    ax.set_xlabel("training step" if x == "steps" else "training seconds (one CPU thread)")
    ax.set_ylabel("validation PSNR (dB, RGB)")
    seeds = max((len(r) for r in results.values()), default=0)
    ax.set_title(f"Validation PSNR during training (mean ± std over {seeds} seeds)", fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    what = "step" if x == "steps" else "training second"
    run.save_figure(fig, name, entry=entry,
                    caption=f"Validation PSNR against the {what}, every model on one axis, mean ± std over seeds")
    return fig


def fig7_6_sweeps(run, blocks: dict, templates: dict, level: str, *, name: str = "fig7_6_sweeps"):
    """Fig. 7.6: PSNR against SResidual blocks per expert (left) and templates K (right), mean ± std."""

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, sweep, xlabel in ((axes[0], blocks, "SResidual blocks per expert"), (axes[1], templates, "templates K")):
        xs = sorted(sweep)
        means = [sweep[x][(level, "psnr")][0] for x in xs]
        stds = [sweep[x][(level, "psnr")][1] for x in xs]
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, color="#e15759")
        ax.set_xticks(xs)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"PSNR (dB), SHDD {level}")
    axes[1].set_xscale("log", base=2)
    axes[1].set_xticks(sorted(templates), [str(x) for x in sorted(templates)])
    run.save_figure(fig, name, entry="Figure 7.6", caption="PSNR vs blocks per expert and vs templates")
    return fig


def fig7_7_feature_maps(run, distorted: np.ndarray, restored: np.ndarray, maps: list[np.ndarray],
                        labels: np.ndarray, *, name: str = "fig7_7_feature_maps", method: str = "mean_abs"):
    """Fig. 7.7: the distorted input, its label map, each expert's summarised output feature, the result.

    The label map has a legend of the distortion types present; each expert map has its own colorbar (the
    maps are not normalised, so the bars say how strongly each expert responds).
    """

    n = len(maps)
    fig, axes = plt.subplots(1, n + 3, figsize=(3.0 * (n + 3), 3.1))
    axes[0].imshow(np.clip(distorted, 0, 1))
    axes[0].set_title("distorted")
    axes[1].imshow(label_map_rgb(labels))
    axes[1].set_title("distortion map")
    legend = type_legend(axes[1], labels, outside=False, loc="upper center")
    legend.set_bbox_to_anchor((0.5, -0.03))  # below the map, in axes coordinates
    unit = "mean |activation|" if method == "mean_abs" else method
    for k, m in enumerate(maps):
        shown = axes[2 + k].imshow(m, cmap="magma")
        axes[2 + k].set_title(f"expert {k + 1}: {unit}", fontsize=10)
        colorbar(fig, shown, axes[2 + k])  # the unit is in the title: a bar label would run into the next map
    fig.subplots_adjust(wspace=0.3)
    axes[-1].imshow(np.clip(restored, 0, 1))
    axes[-1].set_title("restored")
    for ax in axes:
        ax.set_axis_off()
    run.save_figure(fig, name, entry="Figure 7.7", caption="Output feature of each expert, summarised per pixel")
    return fig


def fig_tsne(run, scores: dict, *, name: str = "mepsnet_tsne", title: str = "expert features"):
    """t-SNE of pixel features coloured by distortion type, with the silhouette scores in the title."""

    emb, lab = scores["embedding"], scores["labels"]
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for t in np.unique(lab):
        kind = SHDD_TYPES[int(t)]
        sel = lab == t
        ax.scatter(emb[sel, 0], emb[sel, 1], s=6, color=TYPE_COLOURS[kind], label=SHORT[kind], alpha=0.8)
    ax.set_title(f"t-SNE of {title}\nsilhouette: features {scores['silhouette_features']:.3f}, "
                 f"embedding {scores['silhouette_embedding']:.3f}", fontsize=9)
    ax.legend(fontsize=7, markerscale=2)
    ax.set_xticks([])
    ax.set_yticks([])
    run.save_figure(fig, name, caption=f"t-SNE of {title} by distortion type, with silhouette scores")
    return fig


def fig_psd_by_type(run, psd: dict, *, name: str = "mepsnet_psd_by_type"):
    """Radially averaged PSD of clean, distorted and restored regions per distortion type (log–log), with α."""

    types = list(psd)
    fig, axes = plt.subplots(1, len(types), figsize=(3.3 * len(types), 3.2), squeeze=False)
    for ax, t in zip(axes[0], types):
        entry = psd[t]
        for kind, style in (("clean", "k-"), ("distorted", "r--"), ("restored", "b-")):
            if kind in entry:
                ax.loglog(entry["freqs"], entry[kind]["power"], style, lw=1.2,
                          label=f"{kind} α={entry[kind]['alpha']:.2f}")
        ax.set_title(f"{SHORT[t]} ({entry['n_tiles']} tiles)", fontsize=9)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("cycles / pixel")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("power")
    run.save_figure(fig, name, caption="PSD per distortion type: clean vs distorted vs restored regions")
    return fig


def fig_fusion_weights(run, fusion: dict, n_experts: int, *, name: str = "mepsnet_fusion_weights"):
    """Mean attention weight of each expert's channels (Eq. 7.5) for crops of each distortion type."""

    types = list(fusion)
    width = 0.8 / n_experts
    fig, ax = plt.subplots(figsize=(1.3 * len(types) + 2.5, 3.3))
    x = np.arange(len(types))
    for k in range(n_experts):
        ax.bar(x + (k - (n_experts - 1) / 2) * width, [fusion[t]["mean"][k] for t in types], width,
               yerr=[fusion[t]["std"][k] for t in types], capsize=2, label=f"expert {k + 1}")
    ax.set_xticks(x, [f"{SHORT[t]}\n(n={fusion[t]['n_crops']})" for t in types])
    ax.set_ylabel("mean fusion weight S")
    ax.legend(fontsize=8)
    run.save_figure(fig, name, caption="Attentive fusion weights per expert for each distortion type")
    return fig
