"""Figures of ``02d_efficiency`` (Fig. 2.8, thesis §2.4.5): one function per figure, saved with
``run.save_figure`` (provenance in the PNG and the results file).

* :func:`fig2_8_costs`: the exact parameters and Mult-Adds of the paper-size G/R family against G, with and
  without recursion, CARN as a line, Eq. 2.10's block ratio on a second axis, and the measured CPU latency;
* :func:`fig2_8_tradeoff`: Fig. 2.8 itself at this profile's scale: the PSNR of each trained variant against
  its parameters and against its Mult-Adds (the trained size's exact costs), mean ± std over seeds.
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np


#: Colours: recursive variants, non-recursive ones, CARN.
RECURSIVE, PLAIN, CARN = "#e15759", "#4e79a7", "0.2"


def _family(rows: Sequence[dict], key: str, recursive: bool) -> tuple[list[int], list[float]]:
    picked = sorted((r["groups"], r[key]) for r in rows if r["groups"] is not None and r["recursive"] == recursive)
    return [g for g, _ in picked], [v for _, v in picked]


def fig2_8_costs(run, cost_rows: Sequence[dict], latency_rows: Sequence[dict] = (), *, name: str = "fig2_8_costs"):
    """Paper-size costs of Fig. 2.8's family against the group count G (log2 axis): (a) parameters, (b) Mult-Adds
    at 720p ×4 with Eq. 2.10's ratio 1/G + 1/18 on a second axis, (c) CPU latency per backend when measured.
    Solid: with recursion (R); dashed: without; grey line: CARN."""
    panels = 3 if latency_rows else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.9), constrained_layout=True)
    carn = next((r for r in cost_rows if r["variant"] == "CARN"), None)
    for ax, key, scale, title in ((axes[0], "params", 1e3, "(a) parameters (K)"),
                                  (axes[1], "mult_adds", 1e9, "(b) Mult-Adds (G), 720p output ×4")):
        for recursive, colour, style in ((True, RECURSIVE, "-"), (False, PLAIN, "--")):
            g, v = _family(cost_rows, key, recursive)
            if g:
                ax.plot(g, np.asarray(v) / scale, style, marker="o", color=colour,
                        label=f"G·{'R' if recursive else ''} ({'recursive' if recursive else 'no recursion'})")
        if carn is not None:
            ax.axhline(carn[key] / scale, color=CARN, lw=1, label="CARN")
        for r in cost_rows:
            if r["variant"] in ("G4R", "G64R"):
                text = r["variant"] + (" = CARN-M" if r["variant"] == "G4R" else "")
                ax.annotate(text, (r["groups"], r[key] / scale), textcoords="offset points", xytext=(4, 6), fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("groups G of the EResidual's 3×3 convolutions")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    g, ratio = _family(cost_rows, "eq_2_10", True)
    if g:
        twin = axes[1].twinx()
        twin.plot(g, ratio, ":", color="0.5", label="Eq. 2.10: 1/G + 1/(2K²)")
        twin.set_ylabel("EResidual / residual block cost (Eq. 2.10)", fontsize=8, color="0.4")
        twin.set_ylim(0, 1.2)
        twin.legend(loc="center right", fontsize=7)
    axes[0].legend(fontsize=7, loc="center right")
    if latency_rows:
        ax = axes[2]
        by = {r["variant"]: r for r in latency_rows}
        for backend, marker in (("eager", "o"), ("auto", "s")):
            for recursive, colour, style in ((True, RECURSIVE, "-"), (False, PLAIN, "--")):
                rows = [(c["groups"], by[c["variant"]][backend]) for c in cost_rows if c["groups"] is not None
                        and c["recursive"] == recursive and backend in by.get(c["variant"], {})]
                if rows:
                    rows.sort()
                    backend_name = "eager" if backend == "eager" else by[next(iter(by))].get("auto_backend", "fast")
                    ax.plot([a for a, _ in rows], [1000 * b for _, b in rows], style, marker=marker, color=colour,
                            alpha=1.0 if backend == "eager" else 0.6,
                            label=f"{'R' if recursive else 'no R'}, {backend_name}")
            if "CARN" in by and backend in by["CARN"]:
                ax.axhline(1000 * by["CARN"][backend], color=CARN, lw=1, ls="-" if backend == "eager" else ":",
                           label=f"CARN, {backend if backend == 'eager' else by['CARN'].get('auto_backend')}")
        first = latency_rows[0]
        ax.set_xscale("log", base=2)
        ax.set_xlabel("groups G")
        ax.set_ylabel("ms per image")
        ax.set_title(f"(c) CPU time, {first['lr'][1]}×{first['lr'][0]} LR input, {first['threads']} thread(s)",
                     fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Fig. 2.8's family at paper size (C = 64): exact costs and measured CPU time", fontsize=11)
    run.save_figure(fig, name, entry="Figure 2.8",
                    caption="Exact parameters and Mult-Adds (720p, x4) of CARN and its efficient variants over G, "
                            "with and without recursion, and CPU time per image on this machine")
    return fig


def fig2_8_tradeoff(run, summary: dict[str, dict], *, protocol: str = "", name: str = "fig2_8_tradeoff"):
    """Fig. 2.8 at this profile's scale: PSNR (mean ± std over seeds) of each trained variant against (a) its
    parameters and (b) its Mult-Adds at 720p ×4 (exact, at the trained size), CARN's PSNR as a line; bicubic's
    PSNR on the same images as a dotted line."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    carn = summary.get("CARN")
    for ax, key, scale, label in ((axes[0], "params", 1e3, "parameters (K)"),
                                  (axes[1], "mult_adds", 1e9, "Mult-Adds (G), 720p output ×4")):
        for name_, row in summary.items():
            colour = CARN if name_ == "CARN" else RECURSIVE if name_.endswith("R") else PLAIN
            ax.errorbar(row[key] / scale, row["psnr"][0], yerr=row["psnr"][1] if row["seeds"] > 1 else None,
                        fmt="o", color=colour, capsize=3, ms=6)
            ax.annotate(name_, (row[key] / scale, row["psnr"][0]), textcoords="offset points", xytext=(5, 4),
                        fontsize=8)
        if carn is not None:
            ax.axhline(carn["psnr"][0], color=CARN, lw=0.8, ls="--", label="CARN")
        bicubic = next(iter(summary.values()))["bicubic_psnr"]
        ax.axhline(bicubic, color="0.6", lw=0.8, ls=":", label="bicubic")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("PSNR (dB, Y)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    seeds = next(iter(summary.values()))["seeds"]
    fig.suptitle(f"Fig. 2.8 at small scale: red = recursive (R), blue = no recursion; "
                 f"{seeds} seed{'s' if seeds > 1 else ''}" + ("" if seeds > 1 else " (no error bars)"), fontsize=10)
    if protocol:
        fig.text(0.5, -0.02, _wrap(protocol, 150), ha="center", va="top", fontsize=7, color="0.3")
    run.save_figure(fig, name, entry="Figure 2.8",
                    caption="PSNR against parameters and Mult-Adds of the trained efficient variants; " + protocol)
    return fig


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))
