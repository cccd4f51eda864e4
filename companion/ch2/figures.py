"""Figures of ``02a_carn`` (the Eq. 2.10 saving curve and a PSNR-against-Mult-Adds bubble plot after Fig. 2.9)
and of ``02b_initialisation`` (Figs. 2.6-2.7 under Table 2.3's six initialisations, the activation spread with
depth, and Table 2.3 beside ours).

Each function draws one figure from numbers computed elsewhere (the paper's from ``companion/paper/thesis.json``,
ours from :mod:`companion.ch2.costs_tables` and :mod:`companion.ch2.evaluation`) and saves it with
``run.save_figure``.
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, NullLocator

from companion.analysis.costs import eq_2_10_ratio
from companion.ch2.init_histograms import GROUPS, activation_reading
from companion.ch2.init_schemes import INITS
from companion.ledger import load_paper


#: Colours: the paper's points, ours, CARN / CARN-M among the paper's.
PAPER_COLOUR, OURS_COLOUR, CARN_COLOUR = "#9ab0c8", "#e15759", "#4e79a7"
#: Marker area (points²) of one million parameters in the bubble plot.
AREA_PER_MILLION = 450.0
#: Markers of our points, one per release.
OURS_MARKERS = ("D", "s", "^", "v")


def paper_points(scale: int = 4, sets: Sequence[str] = ("Set5", "Set14", "B100", "Urban100")) -> list[dict]:
    """Table 2.4's rows at ``scale`` from the paper data: ``label`` (without the scale), ``params``,
    ``mult_adds_g`` and ``psnr`` = {set: PSNR} for the sets the row prints (SelNet and CNF have no Urban100)."""
    [table] = [e for e in load_paper() if e["id"] == "Table 2.4"]
    points = []
    for row in table["rows"]:
        values = row["values"]
        if values.get("Scale") != scale:
            continue
        points.append(dict(label=row["label"].rsplit(" x", 1)[0], params=values["Params"],
                           mult_adds_g=values["Mult-Adds (G)"],
                           psnr={s: values[f"{s} PSNR"] for s in sets if f"{s} PSNR" in values}))
    return points


def _area(params: float) -> float:
    return AREA_PER_MILLION * params / 1e6


def fig_eq_2_10(run, rows: Sequence[dict], *, name: str = "eq2_10_saving"):
    """How many times fewer Mult-Adds an EResidual block costs than a residual block (Eq. 2.10, 1 / (1/G +
    1/(2K²)), K = 3) against the group count G, with the thesis' 1.8× (G = 2) and 14× (G = 64) marked, the
    modules' measured ratio on it, and the whole network's saving at ×4 (CARN over CARN-M's family member).
    ``rows``: :func:`companion.ch2.costs_tables.eq_2_10_curve`."""
    g = np.array([r["groups"] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    smooth = np.geomspace(g.min(), g.max(), 200)
    ax.plot(smooth, 1 / (1 / smooth + 1 / 18), color=CARN_COLOUR, lw=1.5, label="Eq. 2.10: 1 / (1/G + 1/(2K²)), K=3")
    ax.plot(g, [r["block_saving"] for r in rows], "o", color=CARN_COLOUR, ms=5,
            label="measured: EResidual vs residual block Mult-Adds")
    ax.plot(g, [r["network_saving"] for r in rows], "s--", color=OURS_COLOUR, ms=4, lw=1,
            label="whole network ×4: CARN / CARN-M(G) Mult-Adds")
    ax.axhline(18, color="0.5", ls=":", lw=1, label="limit 2K² = 18 (G → ∞)")
    ax.axhline(1, color="0.8", lw=0.8)
    for groups, text, dy in ((2, "thesis: 1.8×", 1.2), (64, "thesis: 14×", -2.4)):
        value = float(1 / eq_2_10_ratio(groups))
        ax.annotate(f"{text}\n(Eq. 2.10: {value:.2f}×)", (groups, value), xytext=(groups, value + dy * 1.6),
                    ha="center", fontsize=8, arrowprops=dict(arrowstyle="->", lw=0.8),
                    bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none"))
    four = next((r for r in rows if r["groups"] == 4), None)
    if four is not None:
        ax.annotate(f"CARN-M (G=4): {four['network_saving']:.2f}× fewer\nMult-Adds than CARN at ×4",
                    (4, four["network_saving"]), xytext=(7, 1.2), fontsize=8,
                    arrowprops=dict(arrowstyle="->", lw=0.8, color=OURS_COLOUR))
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(g))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(int(v)) for v in g])
    ax.set_ylim(0, 20)
    ax.set_xlabel("groups G of the 3×3 convolutions")
    ax.set_ylabel("times fewer Mult-Adds")
    ax.set_title("Eq. 2.10: the EResidual block's saving, and the network's")
    ax.legend(fontsize=7.5, loc="upper left")
    run.save_figure(fig, name, caption="Eq. 2.10 against G (exact); the thesis' 1.8x and 14x are G=2 and G=64; "
                                       "the whole network saves less (entry, fusions, exit are not grouped)")
    return fig


def _annotate(ax, x, y, text, area: float, colour="0.25", weight="normal", dy: float = -2):
    """``text`` just right of a bubble of ``area`` points² centred at (x, y)."""
    r = float(np.sqrt(area)) / 2  # scatter sizes are marker areas: s = diameter²
    return ax.annotate(text, (x, y), xytext=(r + 2, dy), textcoords="offset points", fontsize=6.5, color=colour,
                       fontweight=weight, va="center", zorder=5,
                       path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])


def _declutter(fig, labels, step: float = 3.0, tries: int = 12) -> None:
    """Nudge annotations (``ax.annotate`` with offsets in points) up or down until none overlaps an earlier one
    of the same axes: the paper's points cluster around 100 G Mult-Adds."""
    renderer = fig.canvas.get_renderer()
    placed = []
    for label in labels:
        x0, y0 = label.xyann
        for k in range(tries * 2 + 1):
            shift = step * ((k + 1) // 2) * (1 if k % 2 else -1)
            label.xyann = (x0, y0 + shift)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        placed.append(label.get_window_extent(renderer))


def _paper_panel(ax, paper: Sequence[dict], panel: str) -> tuple[list[float], list]:
    """Table 2.4's points of set ``panel`` on ``ax`` (CARN / CARN-M in their own colour, their labels first so
    they stay put). Returns the PSNRs drawn and the annotations."""
    ys, labels = [], []
    for p in paper:
        if panel not in p["psnr"]:
            continue
        ours_model = p["label"] in ("CARN", "CARN-M")
        y = p["psnr"][panel]
        ax.scatter(p["mult_adds_g"], y, s=_area(p["params"]), color=CARN_COLOUR if ours_model else PAPER_COLOUR,
                   alpha=0.75, edgecolor="k", linewidth=0.5, zorder=2)
        label = _annotate(ax, p["mult_adds_g"], y, p["label"], _area(p["params"]),
                          CARN_COLOUR if ours_model else "0.25", "bold" if ours_model else "normal")
        labels.insert(0, label) if ours_model else labels.append(label)  # CARN's labels stay put
        ys.append(y)
    return ys, labels


def _our_points(ax, mine: Sequence[dict], paper_set: bool, ours_labels: list[str], xlim) -> list[float]:
    """Our points of one panel on ``ax``, hollow red markers (one shape per release); on a panel that is not a
    paper set, each with its gain over bicubic and bicubic's PSNR as a dashed line. Returns the PSNRs drawn."""
    ys = []
    for k, o in enumerate(mine):
        x = o["mult_adds"] / 1e9
        marker = OURS_MARKERS[ours_labels.index(o["label"]) % len(OURS_MARKERS)]
        ax.scatter(x, o["psnr"], s=_area(o["params"]), marker=marker, facecolor="none", edgecolor=OURS_COLOUR,
                   linewidth=1.6, zorder=3)
        text = f"ours: {o['label']}"
        if not paper_set:
            text += f"\n{o['psnr'] - o['bicubic_psnr']:+.2f} dB over bicubic"
        _annotate(ax, x, o["psnr"], text, _area(o["params"]), OURS_COLOUR, "bold",
                  dy=-2 + 22 * (k - (len(mine) - 1) / 2))
        ys.append(o["psnr"])
    if mine and not paper_set:
        bicubic = mine[0]["bicubic_psnr"]
        ax.axhline(bicubic, color="0.3", ls="--", lw=1)
        ax.annotate(f"bicubic {bicubic:.2f} dB", (xlim[0] * 1.1, bicubic), xytext=(0, 3),
                    textcoords="offset points", fontsize=7, color="0.3")
        ys.append(bicubic)
    return ys


def _finish_panel(ax, panel: str, paper_set: bool, scale: int, ys: list[float], has_ours: bool,
                  missing: Sequence[str]) -> None:
    """Limits, title and axis labels of one panel; an empty panel of ours says which weights are missing."""
    if ys:
        lo, hi = min(ys), max(ys)
        pad = max(0.15, 0.12 * (hi - lo))
        ax.set_ylim(lo - pad, hi + 2.5 * pad)
    title = f"{panel} ×{scale}" + (" (Fig. 2.9's set)" if panel == "Set14" else "")
    if not paper_set:
        title = (f"ours: {panel} ×{scale}, not a paper set" if has_ours else "ours: not evaluated")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("Mult-Adds (G, 1280×720 output)", fontsize=8)
    ax.set_ylabel("PSNR (dB, Y)", fontsize=8)
    ax.tick_params(labelsize=7)
    if not has_ours and not paper_set:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "\n\n".join(_wrap(line, 46) for line in missing), ha="center", va="center",
                fontsize=7, transform=ax.transAxes,
                bbox=dict(boxstyle="round", facecolor="#f6f6f6", edgecolor="0.7"))


def _bubble_legend(legend_ax, ours: Sequence[dict], ours_labels: list[str], sets: Sequence[str]) -> None:
    """The last panel: who is who, and what a bubble's area means."""
    legend_ax.axis("off")
    handles = [Line2D([], [], marker="o", ls="", markerfacecolor=PAPER_COLOUR, markeredgecolor="k", ms=8,
                      label="paper, Table 2.4 (other models)"),
               Line2D([], [], marker="o", ls="", markerfacecolor=CARN_COLOUR, markeredgecolor="k", ms=8,
                      label="paper, Table 2.4: CARN, CARN-M"),
               *(Line2D([], [], marker=OURS_MARKERS[i % len(OURS_MARKERS)], ls="", markerfacecolor="none",
                        markeredgecolor=OURS_COLOUR, mew=1.6, ms=8, label=f"ours: authors' {label} weights")
                 for i, label in enumerate(ours_labels))]
    if not ours:
        handles.append(Line2D([], [], ls="", label="ours: none (no weights found)"))
    if any(o["set"] not in sets for o in ours):
        handles.append(Line2D([], [], color="0.3", ls="--", label="bicubic, same images"))
    for params in (100_000, 500_000, 1_500_000):
        handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="none", markeredgecolor="0.3",
                              ms=float(np.sqrt(_area(params))), label=f"{params / 1e6:g}M parameters"))
    legend_ax.legend(handles=handles, loc="center", fontsize=8, frameon=False, labelspacing=1.3,
                     title="bubble area = parameters", title_fontsize=8)


def fig2_9_bubbles(run, paper: Sequence[dict], ours: Sequence[dict] = (), *, sets: Sequence[str], scale: int = 4,
                   missing: Sequence[str] = (), name: str = "fig2_9_psnr_vs_mult_adds", entry: str | None = "auto"):
    """PSNR against Mult-Adds (log axis) with bubble area proportional to the parameters, after Fig. 2.9.

    ``paper``: :func:`paper_points` (one panel per set of ``sets``, Set14 being Fig. 2.9's own); ``ours``: dicts
    with ``label``, ``set``, ``psnr``, ``bicubic_psnr``, ``params``, ``mult_adds`` (MACs): drawn as hollow red
    markers (one shape per release) on the panel of their set, and on panels of their own for sets the paper does not have (the
    embedded photographs), with bicubic's PSNR as a dashed line there. ``missing``: lines saying which weights
    were not found, written into an empty panel when there is nothing of ours. The last panel is the legend.
    ``entry="auto"`` files the figure under Figure 2.9 in the ledger only when it holds a point of ours (a redraw
    of the paper's numbers alone reproduces nothing)."""
    extra = list(dict.fromkeys(o["set"] for o in ours if o["set"] not in sets))
    ours_labels = list(dict.fromkeys(o["label"] for o in ours))
    panels = list(sets) + (extra or (["(ours)"] if missing else []))
    n = len(panels) + 1
    cols = 3 if n > 4 else n
    rows_ = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows_, cols, figsize=(4.3 * cols, 3.6 * rows_), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.remove()
    xs_all = [p["mult_adds_g"] for p in paper] + [o["mult_adds"] / 1e9 for o in ours]
    xlim = (min(xs_all) / 1.8, max(xs_all) * 2.2) if xs_all else (1, 1e4)
    axis_labels = []
    for ax, panel in zip(flat, panels):
        ax.set_xscale("log")
        ax.set_xlim(*xlim)
        ax.grid(True, which="major", lw=0.4, alpha=0.5)
        ys, labels = _paper_panel(ax, paper, panel)
        mine = [o for o in ours if o["set"] == panel]
        ys += _our_points(ax, mine, panel in sets, ours_labels, xlim)
        _finish_panel(ax, panel, panel in sets, scale, ys, bool(mine), missing)
        axis_labels.append(labels)
    _bubble_legend(flat[n - 1], ours, ours_labels, sets)
    fig.suptitle(f"PSNR against Mult-Adds at ×{scale} (after Fig. 2.9)", fontsize=11)
    fig.tight_layout()
    for labels in axis_labels:
        _declutter(fig, labels)
    caption = (f"Table 2.4's x{scale} PSNR against Mult-Adds, bubble area = parameters; ours: "
               + (", ".join(sorted({f"{o['label']} on {o['set']}" for o in ours})) or "none (weights not found)"))
    if entry == "auto":
        entry = "Figure 2.9" if ours else None
    run.save_figure(fig, name, entry=entry, caption=caption)
    return fig


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))


# --------------------------------------------------------------------------------------------------------
# 02b_initialisation: Figs. 2.6-2.7 and Table 2.3 (data from companion.ch2.initialisation).

#: One colour per Table 2.3 scheme (keys of companion.ch2.init_schemes.INITS): 0.1× light, 1.0× dark.
INIT_COLOURS = {"msra_normal_0.1": "#9ecae1", "msra_uniform_0.1": "#fdae6b", "default_0.1": "#a1d99b",
                "msra_normal_1.0": "#2171b5", "msra_uniform_1.0": "#d94801", "default_1.0": "#238b45"}
#: Colours of a CARN's parts in Fig. 2.6 (companion.ch2.init_histograms.KINDS).
KIND_COLOURS = {"entry 3×3": "#e15759", "residual 3×3": "#4e79a7", "1×1 local fusion": "#f28e2b",
                "1×1 global fusion": "#edc948", "upsampler 3×3": "#76b7b2", "exit 3×3": "#b07aa1"}


def _init_label(key: str) -> str:
    return INITS[key].label


def fig2_6_weight_histograms(run, weights: dict, *, limit: float, name: str = "fig2_6_weight_histograms"):
    """Fig. 2.6 for every scheme: one panel per row of Table 2.3 with the histogram of the sampled conv weights of
    the untrained CARN, stacked by the part of the network they come from (so the mixture of fan-ins the caption
    mentions shows), and the ResNet's weights under the same scheme as a black line. ``weights``:
    :func:`companion.ch2.init_histograms.weight_histograms`. y: share of the sampled weights per bin."""
    keys = list(weights)
    cols = 3 if len(keys) > 2 else len(keys)
    rows = int(np.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows), squeeze=False)
    kinds_seen: list[str] = []
    resnet_name = None
    for ax, key in zip(axes.ravel(), keys):
        w = weights[key]
        edges, n = w["total"]["edges"], w["total"]["n"]
        base = np.zeros(len(edges) - 1)
        for kind in w["kinds"]:
            share = w["by_kind"][kind] / n
            ax.stairs(base + share, edges, baseline=base, fill=True, color=KIND_COLOURS.get(kind, "0.6"), lw=0)
            base = base + share
            if kind not in kinds_seen:
                kinds_seen.append(kind)
        text = f"CARN std {w['total']['std']:.4f}"
        if "resnet" in w:
            r = w["resnet"]
            resnet_name = w["resnet_name"]
            ax.stairs(r["counts"] / r["n"], edges, color="k", lw=0.7)
            text += f"\n{resnet_name} std {r['std']:.4f}"
        text += f"\nbeyond ±{limit:g}: {w['total']['outside'] / n:.1%}"
        ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=7,
                bbox=dict(boxstyle="round,pad=0.25", facecolor="white", edgecolor="0.8"))
        ax.set_xlim(-limit, limit)
        ax.set_ylim(0, None)
        ax.set_title(_init_label(key), fontsize=9, fontweight="bold")
        ax.tick_params(labelsize=7)
        ax.set_xlabel("initial weight value", fontsize=8)
        ax.set_ylabel(f"share of {n:,} weights per bin", fontsize=8)
    for ax in axes.ravel()[len(keys):]:
        ax.remove()
    handles = [Patch(facecolor=KIND_COLOURS.get(k, "0.6"), label=f"CARN: {k}") for k in kinds_seen]
    if resnet_name:
        handles.append(Line2D([], [], color="k", lw=1, label=f"{resnet_name} (torchvision), same scheme"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.01))
    bins = len(weights[keys[0]]["total"]["edges"]) - 1
    fig.suptitle(f"Fig. 2.6: initial conv weights of the paper-size CARN under Table 2.3's schemes "
                 f"({weights[keys[0]]['total']['n']:,} weights, {bins} bins, zero biases left out)", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    run.save_figure(fig, name, entry="Figure 2.6",
                    caption="Initial conv-weight histograms of the untrained paper-size CARN per Table 2.3 scheme, "
                            "stacked by part (fan-in), with a torchvision ResNet under the same scheme")
    return fig


def fig2_7_activation_histograms(run, acts: dict, *, clip: float, name: str = "fig2_7_activation_histograms"):
    """Fig. 2.7 for every scheme: normalised histograms of the pre-ReLU activations of the untrained CARN on one
    real batch, clipped to ±``clip`` as the thesis does, at (a) the first layer, (b) the second and (c) the last
    cascading block (rows), one column per scheme. Each panel gives the std and the shares within half a bin
    of zero and beyond the clip (piled into the edge bins). ``acts``:
    :func:`companion.ch2.init_histograms.activation_histograms`."""
    keys = list(acts)
    fig, axes = plt.subplots(len(GROUPS), len(keys), figsize=(2.55 * len(keys), 2.2 * len(GROUPS)),
                             squeeze=False, sharex=True)
    for c, key in enumerate(keys):
        for r, group in enumerate(GROUPS):
            ax = axes[r, c]
            g = acts[key]["groups"][group]
            h = g["hist"]
            ax.stairs(h["counts"] / h["n"], h["edges"], fill=True, color=INIT_COLOURS.get(key, "0.5"))
            ax.set_xlim(-clip, clip)
            ax.set_ylim(0, None)
            ax.text(0.03, 0.96, f"std {g['std']:.3g}\n|a|<{clip / len(h['counts']):.3g}: {g['share_near_zero']:.0%}"
                                f"\n|a|>{clip:g}: {g['share_beyond_clip']:.0%}",
                    transform=ax.transAxes, ha="left", va="top", fontsize=6,
                    bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="0.85", alpha=0.9))
            ax.tick_params(labelsize=6)
            if r == 0:
                ax.set_title(_init_label(key), fontsize=8, fontweight="bold")
            if c == 0:
                ax.set_ylabel(f"({'abc'[r]}) {group}\nshare per bin", fontsize=7)
            if r == len(GROUPS) - 1:
                ax.set_xlabel("pre-ReLU activation (clipped)", fontsize=7)
    handles = [Patch(facecolor=INIT_COLOURS.get(k, "0.5"),
                     label=f"{_init_label(k)}: {activation_reading(acts[k], clip)['reading']}") for k in keys]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7.5, frameon=False, bbox_to_anchor=(0.5, -0.01),
               title="scheme: what the last block does (measured)", title_fontsize=7.5)
    fig.suptitle(f"Fig. 2.7: pre-ReLU activations of the untrained paper-size CARN, clipped to ±{clip:g}, "
                 "normalised", fontsize=10)
    fig.tight_layout(rect=(0, 0.09, 1, 0.97))
    run.save_figure(fig, name, entry="Figure 2.7",
                    caption="Pre-ReLU activation histograms (clipped, normalised) at the first layer, the second and "
                            "the last cascading block of the untrained CARN, per Table 2.3 scheme")
    return fig


def fig2_7_depth_profile(run, acts: dict, *, name: str = "fig2_7_activation_std_by_depth"):
    """The std of every ReLU input of the untrained CARN against its depth, one line per scheme (log scale), the
    cascading blocks shaded: the numbers behind Fig. 2.7's three rows, at every depth. ``acts``:
    :func:`companion.ch2.init_histograms.activation_histograms`."""
    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    keys = list(acts)
    profile = acts[keys[0]]["profile"]
    blocks = sorted({p["name"].split(".")[0] for p in profile if p["name"].startswith("block")})
    for i, block in enumerate(blocks):
        depths = [p["depth"] for p in profile if p["name"].startswith(block + ".")]
        ax.axvspan(min(depths) - 0.5, max(depths) + 0.5, color="0.93" if i % 2 == 0 else "0.97", zorder=0)
        ax.text((min(depths) + max(depths)) / 2, 1.01, f"cascading block {block[5:]}",
                transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7, color="0.35")
    for key in keys:
        p = acts[key]["profile"]
        ax.plot([q["depth"] for q in p], [q["std"] for q in p], "o-", ms=3, lw=1.3, color=INIT_COLOURS.get(key, "k"),
                label=_init_label(key))
    ax.set_yscale("log")
    ax.set_xticks([q["depth"] for q in profile])
    ax.set_xticklabels([q["name"].replace("block", "b").replace(".unit", ".u").replace(".relu", ".r")
                        .replace("upsample", "up") for q in profile], rotation=90, fontsize=6)
    ax.set_ylabel("std of the ReLU input (log)", fontsize=8)
    ax.set_xlabel("ReLU input, in forward order (b: block, u: residual unit, r1: after conv1, r2: skip + conv2)",
                  fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(True, axis="y", which="major", lw=0.4, alpha=0.5)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, title="Table 2.3 scheme",
              title_fontsize=7)
    ax.set_title("Pre-ReLU activation spread with depth, untrained paper-size CARN, one real batch", fontsize=9,
                 pad=14)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Figure 2.7",
                    caption="Std of every pre-ReLU activation of the untrained CARN against depth, per Table 2.3 "
                            "scheme")
    return fig


def fig_table_2_3(run, results: dict, summary: dict, paper: dict, *, name: str = "table2_3_initialisation"):
    """Table 2.3 side by side: the paper's PSNR ± std per scheme (left), ours at this profile's scale as the gain
    over bicubic on the held-out images, every seed a dot and the mean ± std a bar (middle), and the mean
    training loss curves (right, log scale). ``results``: :func:`companion.ch2.initialisation.run_table_2_3`;
    ``summary``: its :func:`companion.ch2.initialisation.summarise`; ``paper``:
    :func:`companion.ch2.initialisation.paper_table_2_3`."""
    keys = list(summary)
    labels = [_init_label(k) for k in keys]
    y = np.arange(len(keys))[::-1]
    fig, (a0, a1, a2) = plt.subplots(1, 3, figsize=(14.5, 3.9), gridspec_kw=dict(width_ratios=[1, 1, 1.15]))
    for yi, key in zip(y, keys):
        colour = INIT_COLOURS.get(key, "k")
        m, s = paper[key]["psnr"]
        a0.errorbar(m, yi, xerr=s, fmt="o", color=colour, capsize=3, ms=6)
        gains = [r["gain"] for r in results[key]]
        a1.scatter(gains, [yi] * len(gains), s=14, color=colour, alpha=0.6, zorder=3)
        gm, gs = summary[key]["gain"]
        a1.errorbar(gm, yi, xerr=gs, fmt="D", color=colour, mec="k", capsize=3, ms=6, zorder=4)
        curves = [r["loss_curve"] for r in results[key] if r["loss_curve"]]
        if curves:
            steps = [p[0] for p in curves[0]]
            mean = np.mean([[p[1] for p in c] for c in curves], axis=0)
            a2.plot(steps, mean, color=colour, lw=1.5, label=labels[keys.index(key)])
    for ax in (a0, a1):
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8)
        ax.grid(True, axis="x", lw=0.4, alpha=0.5)
        ax.tick_params(axis="x", labelsize=7)
    a0.set_xlabel("PSNR (dB), ± over repeated runs", fontsize=8)
    a0.set_title("paper, Table 2.3 (x4, L1 CARN, 400K steps)", fontsize=9)
    row = summary[keys[0]]
    a1.axvline(0, color="0.3", ls="--", lw=1)
    a1.set_xlabel(f"PSNR gain over bicubic (dB, Y); bicubic {row['bicubic_psnr']:.2f} dB", fontsize=8)
    a1.set_title(f"ours: {row['steps']} steps, {row['seeds']} seeds (dots), mean ± std", fontsize=9)
    a2.set_yscale("log")
    a2.set_xlabel("training step", fontsize=8)
    a2.set_ylabel("L1 training loss (mean over seeds)", fontsize=8)
    a2.tick_params(which="both", labelsize=7)
    a2.grid(True, which="both", lw=0.3, alpha=0.4)
    a2.legend(fontsize=7, frameon=False, loc="best")
    a2.set_title("ours: training loss", fontsize=9)
    fig.suptitle("Table 2.3: the six initialisations, the paper's numbers and ours at small scale", fontsize=10)
    fig.tight_layout()
    run.save_figure(fig, name, entry="Table 2.3",
                    caption="Table 2.3: paper PSNR per initialisation beside our small-scale gain over bicubic on "
                            "held-out images (seeds as dots) and the training loss curves")
    return fig
