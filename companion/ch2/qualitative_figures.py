"""Figures 2.3, 2.10, 2.11, 2.13 and 2.14 at the companion's scale (thesis §2.3.2, §2.4.6, §2.4.7).

Each function draws one figure from numbers computed in :mod:`companion.ch2.qualitative` and saves it with
``run.save_figure`` (atomic, provenance in the PNG and the results file). Crops are drawn pixel for pixel
(nearest-neighbour), each titled with its PSNR in the crop window; the window and the rule that chose it are
in the row's HR panel and the caption.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

#: One colour per method, the same in every figure (others cycle through grey).
COLOURS = {"HR": "black", "bicubic": "#9c9c9c", "CARN (quick size, zoo)": "#4e79a7",
           "CARN-M (quick size, zoo)": "#59a14f", "CARN-M, authors'": "#f28e2b", "CARN, authors'": "#b07aa1",
           "PCARN-M (L1), ours": "#4e79a7", "PCARN-M (GAN), ours": "#e15759",
           "PCARN-M (L1), authors'": "#76b7b2", "PCARN-M, authors'": "#f28e2b"}


def _label(method: str) -> str:
    """A method's name on two lines: ``CARN\n(quick size, zoo)``, ``CARN-M\nauthors'``."""
    return method.replace(" (", "\n(", 1) if " (" in method else method.replace(", ", "\n", 1)


def _methods(outputs: dict) -> list[str]:
    """HR first (the reference), then bicubic and the models in ``outputs``' order."""
    return ["HR"] + [m for m in outputs if m != "HR"]


def _crop_grid(data: dict, *, title: str, lpips: dict | None = None):
    """One row per image of ``data["windows"]``, one column per method; each panel the same window."""
    outputs, windows = data["outputs"], data["windows"]
    methods = _methods(outputs)
    fig, axes = plt.subplots(len(windows), len(methods), figsize=(1.95 * len(methods), 2.8 * len(windows)),
                             squeeze=False)
    for r, (image, w) in enumerate(windows.items()):
        for c, method in enumerate(methods):
            ax = axes[r][c]
            ax.imshow(np.clip(w.cut(outputs[method][image]), 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            label = _label(method)
            if method == "HR":
                label += f"\n{image}\n({w.top}, {w.left}), {w.side} px"
            else:
                label += f"\n{data['psnr'][image][method]:.2f} dB"
                if lpips:
                    label += f" · LPIPS {lpips[image][method]:.3f}"
            ax.set_title(label, fontsize=6.5)
            for spine in ax.spines.values():
                spine.set_edgecolor(COLOURS.get(method, "0.5"))
                spine.set_linewidth(2)
    fig.suptitle(title, fontsize=8.5)
    fig.tight_layout()
    return fig


def fig2_10_crops(run, data: dict, *, missing=(), name: str = "fig2_10_pixel_crops"):
    """Fig. 2.10 at our scale: HR, bicubic, the zoo's quick-size CARN and CARN-M and the authors' CARN-M / CARN
    when found, ×4, each image's window of highest HR gradient energy
    (:func:`companion.ch2.qualitative.highest_gradient_window`), PSNR (Y, 8-bit) of each crop in its title.
    ``data``: :func:`companion.ch2.qualitative.figure_2_10_data`."""
    w = next(iter(data["windows"].values()))
    title = (f"Fig. 2.10 at our scale: pixel-based x{data['scale']} SR, {w.side}-px window of highest HR gradient "
             "energy per image (chosen on HR alone); PSNR of the crop (Y, 8-bit)")
    if missing:
        title += "\nnot shown: " + "; ".join(m.split(":")[0] for m in missing)
    fig = _crop_grid(data, title=title)
    run.save_figure(fig, name, entry="Figure 2.10",
                    caption="Pixel-based x4 SR crops (bicubic, quick-size zoo CARN / CARN-M, the authors' CARN-M "
                            "when found) on held-out photographs; window: highest HR gradient energy; PSNR per crop")
    return fig


def fig2_11_failure(run, data: dict, *, name: str = "fig2_11_failure"):
    """Fig. 2.11 at our scale: the dense window where the GAN model loses most PSNR to its L1 generator
    (:func:`companion.ch2.qualitative.failure_window` on :attr:`data["pair"]`), every method's crop with its
    PSNR. ``data``: :func:`companion.ch2.qualitative.figure_2_11_data`."""
    l1, gan = data["pair"]
    w = next(iter(data["windows"].values()))
    fig = _crop_grid(data, title=(f"Fig. 2.11 at our scale: the {w.side}-px window, among the densest quarter "
                                  f"(HR gradient energy), where {gan} loses most PSNR to {l1}; x{data['scale']}, "
                                  "PSNR of the crop (Y, 8-bit)"))
    run.save_figure(fig, name, entry="Figure 2.11",
                    caption=f"Failure case by rule: the dense window where {gan} loses most PSNR to {l1} (x4 crops, "
                            "PSNR per crop)")
    return fig


def fig2_13_crops(run, data: dict, *, name: str = "fig2_13_perceptual_crops"):
    """Fig. 2.13 at our scale: each image's most textured window
    (:func:`companion.ch2.qualitative.texture_window`, chosen on HR alone) under bicubic, our L1 and GAN models
    and the authors' PCARN-M (L1) / PCARN-M when found, PSNR (and LPIPS when measured) per crop. ``data``:
    :func:`companion.ch2.qualitative.figure_2_13_data`."""
    w = next(iter(data["windows"].values()))
    extra = "" if data.get("lpips") else "; LPIPS not measured (no AlexNet weights on this machine)"
    fig = _crop_grid(data, lpips=data.get("lpips"),
                     title=(f"Fig. 2.13 at our scale: perception-based x{data['scale']} SR, the {w.side}-px window "
                            f"of highest median |Laplacian| of HR (texture); PSNR of the crop (Y, 8-bit){extra}"))
    run.save_figure(fig, name, entry="Figure 2.13",
                    caption="Perception-based x4 SR crops (bicubic, our L1/GAN PCARN-M, the authors' PCARN-M (L1) and "
                            "PCARN-M when found); window: most textured HR window; PSNR per crop")
    return fig


def fig2_14_text(run, data: dict, *, name: str = "fig2_14_text"):
    """Fig. 2.14 at our scale: rendered text (Pillow's built-in font at several sizes; not Manga109) or the
    user's Manga109 crops, ×4, one row per method with the PSNR of each font size (rendered text) or of the
    crop (Manga109). ``data``: :func:`companion.ch2.qualitative.figure_2_14_data`."""
    outputs = data["outputs"]
    methods = _methods(outputs)
    images = list(outputs["HR"])
    rendered = data["source"] == "rendered text"
    if rendered:
        image = images[0]
        hr = outputs["HR"][image]
        h, w = hr.shape[:2]
        panel = min(11.0, 0.02 * w)  # inches: about 50 HR px per inch, at most 11
        fig, axes = plt.subplots(len(methods), 1, figsize=(panel + 1.4, len(methods) * (panel * h / w + 0.35)),
                                 squeeze=False)
        for r, method in enumerate(methods):
            ax = axes[r][0]
            ax.imshow(np.clip(outputs[method][image], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([(t + b) / 2 for _, t, b in data["bands"][image]])
            if method == "HR":
                ax.set_yticklabels([f"{s} px" for s, _, _ in data["bands"][image]], fontsize=6)
            else:
                ax.set_yticklabels([f"{s} px: {data['psnr'][image][s][method]:.1f} dB"
                                    for s, _, _ in data["bands"][image]], fontsize=6)
            ax.tick_params(axis="y", length=0)
            ax.set_title(method, fontsize=7, loc="left")
            for spine in ax.spines.values():
                spine.set_edgecolor(COLOURS.get(method, "0.5"))
                spine.set_linewidth(2)
        title = (f"Fig. 2.14 at our scale: text rendered with Pillow's built-in font (NOT Manga109), x{data['scale']} "
                 "from MATLAB-bicubic LR; PSNR (Y, 8-bit) per font size")
    else:
        fig, axes = plt.subplots(len(images), len(methods), figsize=(1.95 * len(methods), 2.25 * len(images)),
                                 squeeze=False)
        for r, image in enumerate(images):
            win = data["windows"][image]
            for c, method in enumerate(methods):
                ax = axes[r][c]
                ax.imshow(np.clip(win.cut(outputs[method][image]), 0, 1), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                label = _label(method) + ("\n" + image if method == "HR" else
                                                         f"\n{data['psnr'][image]['crop'][method]:.2f} dB")
                ax.set_title(label, fontsize=6.5)
        title = f"Fig. 2.14: Manga109 x{data['scale']}, window of highest HR gradient energy; PSNR of the crop"
    fig.suptitle(title, fontsize=8.5)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Figure 2.14",
                    caption=("x4 text restoration on text rendered with Pillow's built-in font (not Manga109), PSNR "
                             "per font size" if rendered else "x4 Manga109 crops, PSNR per crop"))
    return fig


def fig2_3_msd(run, facts: dict, maps: dict, *, name: str = "fig2_3_msd"):
    """Fig. 2.3 from the module: for each input (HR and SR crops), each scale's average-pooled input F_i(I) and
    the real/fake map sigmoid(D_i(F_i(I))) of 02c's trained discriminator, with their shapes; the paper-size
    module's exact parameter count and map shapes in the title. ``facts``:
    :func:`companion.ch2.qualitative.msd_facts`; ``maps``: :func:`companion.ch2.qualitative.msd_maps`."""
    labels = list(maps)
    scales = len(facts["factors"])
    fig, axes = plt.subplots(len(labels), 2 * scales, figsize=(2.0 * 2 * scales, 2.35 * len(labels) + 0.4),
                             squeeze=False)
    image = None
    for r, label in enumerate(labels):
        m = maps[label]
        for i, f in enumerate(facts["factors"]):
            a_img, a_map = axes[r][2 * i], axes[r][2 * i + 1]
            pooled = np.clip(m["pooled"][i], 0, 1)
            a_img.imshow(pooled, interpolation="nearest")
            a_img.set_title(f"{_label(label)}\nF_{i + 1}(I): avg-pool x{f}, "
                            f"{pooled.shape[0]}x{pooled.shape[1]}", fontsize=6.5)
            image = a_map.imshow(m["prob"][i], cmap="RdBu", vmin=0, vmax=1, interpolation="nearest")
            a_map.set_title(f"D_{i + 1}: {m['prob'][i].shape[0]}x{m['prob'][i].shape[1]} map\n"
                            f"mean P(real) {m['mean'][i]:.2f}", fontsize=6.5)
            for ax in (a_img, a_map):
                ax.set_xticks([])
                ax.set_yticks([])
    shapes = ", ".join(f"{s[-2]}x{s[-1]}" for s in facts["map_shapes"])
    fig.suptitle(f"Fig. 2.3 from the module: S = {scales} discriminators on the image average-pooled "
                 f"x{', x'.join(map(str, facts['factors']))}; L_D^MS = sum over i of BCE(D_i(F_i(I))) (Eq. 2.6)\n"
                 f"paper size: {facts['params']:,} parameters; a {facts['patch']}-px patch gives maps {shapes}. "
                 "Maps below: 02c's trained discriminator at this profile's scale", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    cax = fig.add_axes((0.945, 0.15, 0.012, 0.6))
    fig.colorbar(image, cax=cax).set_label("P(real) = sigmoid(D_i)", fontsize=7)
    cax.tick_params(labelsize=6)
    run.save_figure(fig, name, entry="Figure 2.3",
                    caption="Multi-scale discriminator (Eq. 2.6) from the module: each scale's pooled input and its "
                            "real/fake map for an HR and an SR crop; exact size and map shapes of the paper-size one")
    return fig


__all__ = ["COLOURS", "fig2_10_crops", "fig2_11_failure", "fig2_13_crops", "fig2_14_text", "fig2_3_msd"]
