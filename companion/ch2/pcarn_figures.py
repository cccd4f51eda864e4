"""Figures of ``02c_pcarn`` (thesis §2.3.2, §2.4.3, Fig. 2.5): the same crops under bicubic, L1 and adversarial
training (ours and, when found, the authors'), each output's radially averaged PSD against the HR image's, and
the two training stages.

Each function draws one figure from numbers computed in :mod:`companion.ch2.pcarn` and saves it with
``run.save_figure`` (atomic, provenance in the PNG and the results file).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from companion.ch2.pcarn_scores import textured_crop

#: One colour per method, the same in every figure (others cycle through the default palette).
COLOURS = {"HR": "black", "bicubic": "#9c9c9c", "PCARN-M (L1), ours": "#4e79a7", "PCARN-M (GAN), ours": "#e15759",
           "PCARN-M (L1), authors'": "#76b7b2", "PCARN-M, authors'": "#f28e2b"}
#: Labelled frequencies of the PSD plots (cycles/pixel).
FREQ_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
STYLES = {"PCARN-M (L1), authors'": "--", "PCARN-M, authors'": "--"}


def _methods(outputs: dict) -> list[str]:
    """Methods in the figure's order: bicubic, ours, the authors', HR last."""
    return [m for m in outputs if m != "HR"] + ["HR"]


def fig2_5_crops(run, outputs: dict, scores: dict, *, crop: int, name: str = "fig2_5_crops"):
    """Fig. 2.5's comparison on our test images: one row per image, one column per method (bicubic, our L1 and
    GAN models, the authors' PCARN-M (L1) and PCARN-M when found, HR), each showing the same ``crop``-px square
    of the output (:func:`companion.ch2.pcarn_scores.textured_crop`, chosen on the HR image), titled with that
    image's PSNR (Y) and LPIPS when measured. ``outputs``: :func:`companion.ch2.pcarn_scores.super_resolve_all`;
    ``scores``: :func:`companion.ch2.pcarn_scores.score_outputs`."""
    methods = _methods(outputs)
    images = list(outputs["HR"])
    fig, axes = plt.subplots(len(images), len(methods), figsize=(2.0 * len(methods), 2.15 * len(images)),
                             squeeze=False)
    for r, image in enumerate(images):
        top, left, side = textured_crop(outputs["HR"][image], crop)
        for c, method in enumerate(methods):
            ax = axes[r][c]
            ax.imshow(np.clip(outputs[method][image][top:top + side, left:left + side], 0, 1),
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            title = method.replace(", ", "\n", 1)
            if method != "HR":
                s = scores[method]["per_image"][image]
                title += f"\n{s['psnr']:.2f} dB" + ("" if s["lpips"] is None else f" · LPIPS {s['lpips']:.3f}")
            else:
                title += f"\n{image} ({top}, {left})"
            ax.set_title(title, fontsize=7)
            for spine in ax.spines.values():
                spine.set_edgecolor(COLOURS.get(method, "0.5"))
                spine.set_linewidth(2)
    fig.suptitle(f"Fig. 2.5 at our scale: the same {crop}-px HR crops, ×4 (PSNR on the whole image, Y channel)",
                 fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Figure 2.5",
                    caption="Crops of bicubic, L1- and adversarially trained PCARN-M (ours at small scale, the "
                            "authors' when found) and HR on the held-out images; the crop is the most detailed "
                            "window of the HR image")
    return fig


def pcarn_psd(run, psd: dict, *, name: str = "fig2_5_psd"):
    """Radially averaged PSD (:func:`companion.analysis.psd.radial_psd`) of every output against the HR
    image's: top row, the power per image (log-log); bottom row, the power relative to HR (log10 ratio), with
    the high band of :data:`companion.ch2.pcarn_scores.HIGH_BAND` shaded. ``psd``:
    :func:`companion.ch2.pcarn_scores.psd_comparison`."""
    images = list(psd["curves"])
    fig, axes = plt.subplots(2, len(images), figsize=(4.2 * len(images), 6.2), squeeze=False, sharex=True)
    lo, hi = psd["band"]
    for c, image in enumerate(images):
        curves = psd["curves"][image]
        f_hr, p_hr = curves["HR"]
        for method, (f, p) in curves.items():
            colour = COLOURS.get(method)
            ls = STYLES.get(method, "-")
            lw = 1.8 if method == "HR" else 1.2
            axes[0][c].loglog(f, np.maximum(p, 1e-12), ls, color=colour, lw=lw, label=method)
            if method != "HR":
                axes[1][c].semilogx(f, np.log10(np.maximum(p, 1e-12) / np.maximum(p_hr, 1e-12)), ls, color=colour,
                                    lw=lw, label=f"{method} ({psd['high_band'][method][image]:+.2f} / "
                                                     f"{psd['high_band_median'][method][image]:+.2f})")
        axes[1][c].axhline(0, color="black", lw=1)
        for row in (0, 1):
            ax = axes[row][c]
            ax.xaxis.set_major_locator(FixedLocator([t for t in FREQ_TICKS if f_hr[0] <= t <= f_hr[-1] * 1.01]))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.axvspan(lo, hi, color="0.9", zorder=0)
            axes[row][c].grid(True, which="both", lw=0.3, alpha=0.4)
            axes[row][c].tick_params(labelsize=7)
        axes[0][c].set_title(image, fontsize=9)
        axes[0][c].set_ylabel("power (luma)", fontsize=8)
        axes[1][c].set_ylabel("log10(power / HR power)", fontsize=8)
        axes[1][c].set_xlabel("frequency (cycles/pixel)", fontsize=8)
        axes[1][c].legend(fontsize=6, frameon=False, loc="lower left",
                          title=f"log10 ratio over {lo:g}–{hi:g} (shaded): mean power / median ring",
                          title_fontsize=6)
    axes[0][0].legend(fontsize=6, frameon=False, loc="lower left")
    fig.suptitle("Radially averaged PSD of each ×4 output against the HR image's (0 = HR's power; below = blurrier)",
                 fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Figure 2.5",
                    caption="Radial PSD of bicubic, L1 and adversarial outputs against HR, and their ratio to HR")
    return fig


def pcarn_training(run, l1: dict, gan: dict, *, scales: int, name: str = "pcarn_training"):
    """The two training stages: the L1 loss of stage 1 (left), the discriminator's loss (middle) and the mean
    probability it gives HR and SR patches (right) in stage 2, each smoothed over a window of ~5 % of the run.
    ``l1``/``gan``: the ``info`` of :func:`companion.ch2.pcarn_stages.l1_stage` / :func:`~companion.ch2.pcarn_training.finetune_gan`;
    a stage 1 taken from the model zoo has no per-step losses, only its sidecar's ``loss_curve`` (mean loss over
    equal windows of its run), drawn as points. ``scales``: the discriminator's number of scales S (its loss at
    chance is S · 2 ln 2)."""
    def smooth(values):
        v = np.asarray(values, dtype=float)
        k = max(1, len(v) // 20)
        return np.convolve(v, np.ones(k) / k, mode="valid"), k

    fig, (a0, a1, a2) = plt.subplots(1, 3, figsize=(12.5, 3.4))
    if l1.get("losses"):
        loss, k = smooth(l1["losses"])
        a0.plot(np.arange(len(loss)) + k, loss, color=COLOURS["PCARN-M (L1), ours"], lw=1.4)
        where = "trained here"
    else:
        curve = np.asarray(l1.get("loss_curve") or [[0, np.nan]], dtype=float)
        a0.plot(curve[:, 0], curve[:, 1], "o-", ms=2.5, color=COLOURS["PCARN-M (L1), ours"], lw=1.2,
                label="window means (zoo sidecar)")
        a0.legend(fontsize=7, frameon=False)
        where = l1.get("checkpoint") or "loaded"
    a0.set_yscale("log")
    a0.set_xlabel("step", fontsize=8)
    a0.set_ylabel("L1 loss (training patches)", fontsize=8)
    a0.set_title(f"stage 1: L1, {l1['steps']} steps ({where})", fontsize=9)
    h = gan["history"]
    d, k = smooth(h["d"])
    a1.plot(np.arange(len(d)) + k, d, color="#59a14f", lw=1.4, label="D loss")
    a1.axhline(2 * np.log(2) * scales, color="0.4", ls=":", lw=1, label="chance (D outputs ½ everywhere)")
    a1.set_xlabel("adversarial step", fontsize=8)
    a1.set_ylabel("Σ over scales of BCE(HR, 1) + BCE(SR, 0)", fontsize=8)
    a1.set_title(f"stage 2: discriminator, {gan['steps']} steps", fontsize=9)
    a1.legend(fontsize=7, frameon=False)
    for key, colour, label in (("d_real", "black", "D(HR)"), ("d_fake", COLOURS["PCARN-M (GAN), ours"], "D(G(LR))")):
        v, k = smooth(h[key])
        a2.plot(np.arange(len(v)) + k, v, color=colour, lw=1.4, label=label)
    a2.axhline(0.5, color="0.4", ls=":", lw=1)
    a2.set_ylim(0, 1)
    a2.set_xlabel("adversarial step", fontsize=8)
    a2.set_ylabel("mean probability of 'real'", fontsize=8)
    a2.set_title("stage 2: what D says (training patches)", fontsize=9)
    a2.legend(fontsize=7, frameon=False)
    for ax in (a0, a1, a2):
        ax.tick_params(which="both", labelsize=7)
        ax.grid(True, which="both", lw=0.3, alpha=0.4)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Table 2.2",
                    caption="PCARN-M training at small scale: the L1 stage's loss and the adversarial stage's "
                            "discriminator loss and probabilities")
    return fig


__all__ = ["COLOURS", "fig2_5_crops", "pcarn_psd", "pcarn_training"]
