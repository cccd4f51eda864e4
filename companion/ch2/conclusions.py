"""The conclusions of Chapter 2's notebooks, rendered from a run's measurements (never typed numbers).

Each function returns Markdown paragraphs for :meth:`companion.session.NotebookRun.conclude`, which keeps them in
the results file (the book renders them from there) and returns the text the notebook displays:

* :func:`table_2_3` (``02b_initialisation``): Table 2.3 at the profile's scale against the thesis, from
  :func:`companion.ch2.initialisation.summarise`, :func:`companion.ch2.initialisation.table_2_3_claims` and
  :func:`companion.ch2.initialisation.paper_table_2_3`;
* :func:`figure_2_8` (``02d_efficiency``): Fig. 2.8's exact costs and the trained sweep's paired verdicts, from
  :func:`companion.ch2.efficiency.cost_table` and :func:`companion.ch2.efficiency.claims`.
"""
from __future__ import annotations

from companion.ch2.efficiency import THESIS_TEXT
from companion.ch2.init_schemes import BEST, INITS
from companion.summary import pm


def _span(values, digits: int = 2, unit: str = " dB") -> str:
    """``"from a to b dB"`` (or one value when they round alike)."""
    low, high = f"{min(values):+.{digits}f}", f"{max(values):+.{digits}f}"
    return f"{low}{unit}" if low == high else f"from {low} to {high}{unit}"


def table_2_3(summary: dict[str, dict], claims: list[dict], paper: dict[str, dict]) -> list[str]:
    """02b's conclusions: which scheme wins at this scale and by how much, how many of the thesis' five claims
    the paired interval supports, how our gaps compare with the paper's, and where the means sit against
    bicubic."""
    order = sorted(summary, key=lambda k: -summary[k]["psnr"][0])
    winner = order[0]
    best = summary[BEST]
    leads = [best["psnr"][0] - summary[k]["psnr"][0] for k in summary if k != BEST]
    paper_gaps = [paper[BEST]["psnr"][0] - paper[k]["psnr"][0] for k in paper if k != BEST]
    agree = [c for c in claims if c["verdict"] == "agrees"]
    others = [c for c in claims if c["verdict"] != "agrees"]
    first = (f"**Table 2.3 at this scale.** The thesis' best scheme, {INITS[BEST].label}, "
             + ("has the highest mean PSNR" if winner == BEST else
                f"is not the best here: {INITS[winner].label} has the highest mean PSNR")
             + f" on the held-out images ({pm(best['psnr'])} dB over {best['seeds']} seeds, {best['params']:,} "
             f"parameters, {best['steps']:,} steps); its lead over the other schemes is {_span(leads)} (the paper's: "
             f"{_span(paper_gaps, 3)}). The paired interval over seeds × images (95 %) supports "
             f"{len(agree)} of the {len(claims)} claims")
    if others:
        first += "; " + "; ".join(f"{c['verdict']} against {INITS[c['other']].label} ({c['detail']})" for c in others)
    below = [k for k in summary if summary[k]["psnr"][0] < summary[k]["bicubic_psnr"]]
    second = (f"**Against bicubic** ({best['bicubic_psnr']:.2f} dB on the same images): "
              + (f"{len(below)} of the {len(summary)} schemes' means are still below it"
                 + (f", the winner by {best['bicubic_psnr'] - best['psnr'][0]:.2f} dB" if BEST in below else "")
                 + ": after so short a run the schemes differ in how fast training gets going, not in where the "
                   "paper's 400K steps end." if below else "every scheme's mean is above it."))
    third = ("**Our order, best to worst:** " + " > ".join(INITS[k].label for k in order)
             + ". Only the winner is a claim of the thesis; the rest of the order is not checked.")
    return [first + ".", second, third]


def figure_2_8(cost_rows: list[dict], claims: list[dict], cfg) -> list[str]:
    """02d's conclusions: CARN-M's exact savings against CARN and how they flatten past G = 4 (from
    :func:`companion.ch2.efficiency.cost_table`), and each trained variant's paired verdict against CARN beside
    the thesis' text (:func:`companion.ch2.efficiency.claims`)."""
    rows = {r["variant"]: r for r in cost_rows}
    lines = []
    if "G4R" in rows and "CARN" in rows:
        g4r, carn = rows["G4R"], rows["CARN"]
        lines.append(
            f"**Costs (exact, paper size, {cfg.cost_output[1]}×{cfg.cost_output[0]} output ×{cfg.scale}).** G4R "
            f"(CARN-M) has {g4r['params']:,} parameters and {g4r['mult_adds'] / 1e9:.1f} G Mult-Adds against CARN's "
            f"{carn['params']:,} and {carn['mult_adds'] / 1e9:.1f} G: CARN has {g4r['params_vs_carn']:.2f}× the "
            f"parameters (the thesis: about {THESIS_TEXT['G4R params ratio']:g}×) and {g4r['mult_adds_vs_carn']:.2f}× "
            f"the operations (nearly {THESIS_TEXT['G4R mult-adds ratio']:g}×).")
    recursive = [rows[n] for n in ("G4R", "G8R", "G16R", "G32R", "G64R") if n in rows]
    if len(recursive) > 1:
        steps = ", ".join(f"{b['variant']} saves {(a['mult_adds'] - b['mult_adds']) / 1e9:.1f} G over {a['variant']}"
                          for a, b in zip(recursive, recursive[1:]))
        lines.append(f"**The savings flatten past G = 4**: more groups save fewer and fewer Mult-Adds ({steps}), "
                     "because the entry, the 1×1 fusions, the upsampler and the exit, which G does not touch, "
                     "dominate.")
    if claims:
        verdicts = "; ".join(
            f"{c['variant']}: {c['verdict']} ({c['detail']})"
            + ("" if c["thesis"] is None else f", the thesis {c['thesis']:+.2f} dB on Set14 at paper size")
            for c in claims)
        lines.append(f"**PSNR at this scale** (CARN against each variant, paired over seeds × held-out images, "
                     f"95 %): {verdicts}. A difference here mixes capacity with how fast each variant trains in "
                     f"{cfg.train.steps:,} steps.")
    return lines


__all__ = ["table_2_3", "figure_2_8"]
