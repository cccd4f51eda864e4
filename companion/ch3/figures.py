"""Figures of ``03_progressive_x8``: the stages measured (after Fig. 3.1's diagram), the ×8 crops (after
Fig. 3.2) and Table 3.2 beside ours. Each function draws one figure from numbers computed in
:mod:`companion.ch3.progressive` / :mod:`companion.ch3.tables` and saves it with ``run.save_figure``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from companion.ch3.config import baseline_label
from companion.ch3.staged import HEAD_SCALES, SCALE
from companion.ch3.tables import TABLE_3_2_SETS, paper_table, x8_rows

#: One colour per stage (its module and head), the "+" and the single-stage baseline.
STAGE_COLOURS = {1: "#4e79a7", 2: "#f28e2b", 3: "#59a14f"}
PLUS_COLOUR, BASELINE_COLOUR, PAPER_COLOUR = "#b07aa1", "#9c755f", "#9ab0c8"


def stage_target(stage: int) -> str:
    """What stage ``stage`` learns to produce, as the thesis names it: "x4 LR (HR/4)", "x2 LR (HR/2)", "HR"."""
    down = SCALE // 2 ** stage
    return "HR" if down == 1 else f"x{down} LR (HR/{down})"


def fig3_1_stages(run, results: dict, summary: dict, *, name: str = "fig3_1_stages"):
    """Progressive training as measured: (left) the L1 training loss of the three stages end to end (each
    stage's target is twice the size of the last's) and of the single-stage baseline; (right) every head's
    PSNR gain over bicubic on the test images after each stage, the "+" of the last, and the baseline's ×8.
    ``results``: :func:`companion.ch3.progressive.run_experiment` (its first seed's curves); ``summary``:
    :func:`companion.ch3.tables.summarise`."""
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12.5, 4.2), gridspec_kw=dict(width_ratios=[1.1, 1]))
    run0 = results["progressive"][0]
    offset = 0
    for st in run0["stages"]:
        curve = np.array(st["loss_curve"])
        new_lr = st["lrs"][f"to_rgb{st['stage']}"]
        if curve.size:
            a0.plot(curve[:, 0] + offset, curve[:, 1], color=STAGE_COLOURS[st["stage"]], lw=1.6,
                    label=f"stage {st['stage']}: x8 LR → {stage_target(st['stage'])}, batch {st['batch']}, "
                          f"new module at {new_lr:g}")
        offset += st["steps"]
        a0.axvline(offset, color="0.6", lw=0.8, ls=":")
    if results.get("baseline"):
        b = results["baseline"][0]
        curve = np.array(b["loss_curve"])
        if curve.size:
            a0.plot(curve[:, 0], curve[:, 1], color=BASELINE_COLOUR, lw=1.2, ls="--",
                    label=f"{baseline_label(b['layout'])}: x8 → HR, batch {b['batch']}")
    a0.set_yscale("log")
    a0.set_xlabel("training step (stages end to end)", fontsize=8)
    a0.set_ylabel("L1 training loss (window means)", fontsize=8)
    a0.legend(fontsize=7, frameon=False)
    a0.grid(True, which="both", lw=0.3, alpha=0.4)
    a0.tick_params(which="both", labelsize=7)
    a0.set_title("training: each stage's loss is on a larger target", fontsize=9)

    heads = [s for s in HEAD_SCALES if s in summary["final"]]
    stages = sorted(summary["stages"])
    groups = stages + (["+"] if summary["plus"] else [])
    width = 0.8 / (len(groups) + (1 if summary["baseline"] else 0))
    for i, g in enumerate(groups):
        values = summary["plus"] if g == "+" else summary["stages"][g]
        xs = [heads.index(s) + (i - len(groups) / 2) * width + width / 2 for s in heads if s in values]
        ms = [values[s]["gain"][0] for s in heads if s in values]
        ss = [values[s]["gain"][1] for s in heads if s in values]
        colour = PLUS_COLOUR if g == "+" else STAGE_COLOURS[g]
        a1.bar(xs, ms, width, yerr=ss, color=colour, capsize=2,
               label="after stage 3, self-ensemble +" if g == "+" else f"after stage {g}")
        for x, m in zip(xs, ms):
            a1.annotate(f"{m:+.2f}", (x, m), xytext=(0, 2 if m >= 0 else -9), textcoords="offset points",
                        ha="center", fontsize=6)
    if summary["baseline"]:
        b = summary["baseline"]
        x = heads.index(SCALE) + (len(groups) - len(groups) / 2) * width + width / 2
        a1.bar([x], [b["gain"][0]], width, yerr=[b["gain"][1]], color=BASELINE_COLOUR, capsize=2,
               label=f"{baseline_label(b['layout'])}, {b['steps']} steps")
        a1.annotate(f"{b['gain'][0]:+.2f}", (x, b["gain"][0]), xytext=(0, 2 if b["gain"][0] >= 0 else -9),
                    textcoords="offset points", ha="center", fontsize=6)
    a1.axhline(0, color="0.2", lw=1)
    a1.set_xticks(range(len(heads)))
    a1.set_xticklabels([f"x{s} head → {stage_target(s.bit_length() - 1)}\n"
                        f"(bicubic {summary['bicubic'][s]['psnr']:.2f} dB)" for s in heads], fontsize=7)
    a1.set_ylabel("PSNR gain over bicubic (dB, Y)", fontsize=8)
    a1.tick_params(axis="y", labelsize=7)
    a1.grid(True, axis="y", lw=0.3, alpha=0.5)
    a1.legend(fontsize=7, frameon=False, loc="best")
    a1.set_title(f"every head after every stage ({summary['seeds']} seed(s); test images held out)", fontsize=9)
    fig.suptitle("Fig. 3.1 measured: progressive training of CARN for x8, stage by stage", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Figure 3.1",
                    caption="Progressive training measured: loss per stage and every head's gain over bicubic "
                            "after each stage, with the self-ensemble and the single-stage baseline")
    return fig


def _show(ax, image, title):
    ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def fig3_2_crops(run, crops: dict, baseline_crops: dict | None = None, *, name: str = "fig3_2_crops"):
    """The crop of one test image (after Fig. 3.2): the HR image, bicubic ×8, the ×2 and ×4 heads beside their
    targets (shown at the crop's size; they are 4× and 2× smaller), the ×8 head, its "+", and the single-stage
    baseline; each titled with the whole image's PSNR / SSIM. ``crops``:
    :func:`companion.ch3.progressive.figure_crops` of the progressive model."""
    sc = crops["scores"]
    panels = [(crops["hr"], "HR (PSNR / SSIM)")]
    panels.append((crops["bicubic"], f"bicubic x8\n{sc['bicubic']['psnr']:.2f} / {sc['bicubic']['ssim']:.4f}"))
    for s in HEAD_SCALES:
        if s in crops["heads"] and s != SCALE:
            panels.append((crops["targets"][s], f"target of the x{s} head\n(HR / {SCALE // s}, shown enlarged)"))
            panels.append((crops["heads"][s], f"x{s} head (stage {s.bit_length() - 1})\n"
                                              f"{sc[s]['psnr']:.2f} / {sc[s]['ssim']:.4f}"))
    if SCALE in crops["heads"]:
        panels.append((crops["heads"][SCALE], f"x8 head, Progressive CARN\n{sc[SCALE]['psnr']:.2f} / "
                                              f"{sc[SCALE]['ssim']:.4f}"))
    if "plus" in crops:
        panels.append((crops["plus"], f"Progressive CARN+\n{sc['plus']['psnr']:.2f} / {sc['plus']['ssim']:.4f}"))
    if baseline_crops is not None and SCALE in baseline_crops["heads"]:
        b = baseline_crops["scores"][SCALE]
        panels.append((baseline_crops["heads"][SCALE], f"single stage x8\n{b['psnr']:.2f} / {b['ssim']:.4f}"))
    cols = 5
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.85 * rows))
    axes = np.atleast_1d(axes).ravel()
    for ax, (image, title) in zip(axes, panels):
        _show(ax, image, title)
    for ax in axes[len(panels):]:
        ax.axis("off")
    top, left, side = crops["box"]
    fig.suptitle(f"Fig. 3.2 after the thesis: {crops['name']}, {side}x{side} HR crop at ({top}, {left}); "
                 "PSNR / SSIM of the whole image (Y, border = scale)", fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Figure 3.2",
                    caption=f"x8 crops of {crops['name']}: HR, bicubic, each stage's head, the self-ensemble and the "
                            "single-stage baseline, with whole-image PSNR / SSIM")
    return fig


def table3_2_gains(run, summary: dict, eval_set: str, *, name: str = "table3_2_x8"):
    """Table 3.2 beside ours, as gains over bicubic at ×8: the paper's CARN, EDSR, Progressive CARN and
    Progressive CARN+ on each of its four sets (bars), and ours on ``eval_set`` (the single-stage baseline,
    Progressive CARN and "+", mean ± std over seeds)."""
    paper = paper_table("Table 3.2")
    methods = ["LapSRN", "CARN", "EDSR", "Progressive CARN", "Progressive CARN+"]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 3.9), gridspec_kw=dict(width_ratios=[1.6, 1]))
    width = 0.8 / len(methods)
    shades = ["#c9d5e3", "#9ab0c8", "#6b8cae", STAGE_COLOURS[3], PLUS_COLOUR]
    for i, m in enumerate(methods):
        gains = [paper[m][f"{s} PSNR"] - paper["Bicubic"][f"{s} PSNR"] for s in TABLE_3_2_SETS]
        a0.bar(np.arange(len(TABLE_3_2_SETS)) + (i - len(methods) / 2 + 0.5) * width, gains, width,
               color=shades[i], label=m)
    a0.set_xticks(range(len(TABLE_3_2_SETS)))
    a0.set_xticklabels([f"{s}\n(bicubic {paper['Bicubic'][f'{s} PSNR']:.2f} dB)" for s in TABLE_3_2_SETS], fontsize=7)
    a0.set_ylabel("PSNR gain over bicubic (dB)", fontsize=8)
    a0.set_title("paper, Table 3.2 (x8, paper-size models, DIV2K-trained)", fontsize=9)
    a0.legend(fontsize=7, frameon=False, ncol=2)
    rows = [r for r in x8_rows(summary) if r["key"] != "bicubic"]
    colours = {"baseline": BASELINE_COLOUR, "progressive": STAGE_COLOURS[3], "progressive+": PLUS_COLOUR}
    for i, r in enumerate(rows):
        a1.bar([i], [r["gain"][0]], 0.6, yerr=[r["gain"][1]], color=colours[r["key"]], capsize=3)
        a1.annotate(f"{r['gain'][0]:+.2f} dB\n({r['psnr'][0]:.2f} / {r['ssim'][0]:.3f})", (i, r["gain"][0]),
                    xytext=(0, 3 if r["gain"][0] >= 0 else -20), textcoords="offset points", ha="center", fontsize=6)
    a1.set_xticks(range(len(rows)))
    a1.set_xticklabels([r["label"].replace(" (", "\n(") for r in rows], fontsize=7)
    low, high = min(0.0, *(r["gain"][0] for r in rows)), max(0.0, *(r["gain"][0] for r in rows))
    pad = 0.3 * max(high - low, 0.1)
    a1.set_ylim(low - (pad if low < 0 else 0), high + pad)
    b = summary["bicubic"][SCALE]
    a1.set_title(f"ours: {eval_set}, bicubic {b['psnr']:.2f} / {b['ssim']:.3f} ({summary['seeds']} seed(s))",
                 fontsize=9)
    for ax in (a0, a1):
        ax.axhline(0, color="0.2", lw=1)
        ax.grid(True, axis="y", lw=0.3, alpha=0.5)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle("Table 3.2 at x8: gain over bicubic, the paper's and ours at this profile's scale", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Table 3.2",
                    caption="Table 3.2's gains over bicubic at x8 beside ours (single-stage baseline, Progressive "
                            "CARN, Progressive CARN+) at this profile's scale")
    return fig
