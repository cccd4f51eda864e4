"""The conclusions of Chapter 2's notebooks, rendered from a run's measurements (never typed numbers).

Each function returns Markdown paragraphs for :meth:`companion.session.NotebookRun.conclude`, which keeps them in
the results file (the book renders them from there) and returns the text the notebook displays:

* :func:`carn_costs`, :func:`authors_weights` and :func:`figure_2_10` (``02a_carn``): the recounted costs
  against the print (:mod:`companion.ch2.costs_tables`), the authors' weights against bicubic and in each reading
  (:mod:`companion.ch2.evaluation`), Fig. 2.10's crops (:func:`companion.ch2.qualitative.figure_2_10_data`);
* :func:`table_2_3` (``02b_initialisation``): Table 2.3 at the profile's scale against the thesis, from
  :func:`companion.ch2.initialisation.summarise`, :func:`companion.ch2.initialisation.table_2_3_claims` and
  :func:`companion.ch2.initialisation.paper_table_2_3`;
* :func:`figure_2_8` (``02d_efficiency``): Fig. 2.8's exact costs and the trained sweep's paired verdicts, from
  :func:`companion.ch2.efficiency.cost_table` and :func:`companion.ch2.efficiency.claims`;
* :func:`pcarn` and :func:`pcarn_figures` (``02c_pcarn``): the two stages and the authors' PCARN-M against Table 2.2
  and Fig. 2.5 (:func:`companion.ch2.pcarn.run_experiment`), and Figs. 2.3, 2.11, 2.13, 2.14 and Table 2.8
  (:mod:`companion.ch2.qualitative`).
"""
from __future__ import annotations

from companion.analysis.costs import params_printed_as
from companion.ch2.config import OURS_GAN, OURS_L1
from companion.ch2.efficiency import THESIS_TEXT
from companion.ch2.init_schemes import BEST, INITS
from companion.ch2.pcarn_report import paper_table_2_2
from companion.summary import pm

#: The authors' released PCARN-M (L1) and PCARN-M, as :func:`companion.ch2.pcarn.authors_models` labels them.
AUTHORS_L1, AUTHORS_GAN = "PCARN-M (L1), authors'", "PCARN-M, authors'"


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


# --------------------------------------------------------------------------------------------------------
# 02a: costs, the authors' weights, Fig. 2.10.


def _count(rows, key: str) -> str:
    return f"{sum(bool(r[key]) for r in rows)} of {len(rows)}"


def carn_costs(t21: list[dict], t24: list[dict], t25: list[dict], t31: list[dict], curve: list[dict]) -> list[str]:
    """02a's costs: how many printed cost cells the recount matches and how (rows of
    :func:`companion.ch2.costs_tables.record_table_2_1`, ``record_table_2_4``, ``record_tables_2_5_to_2_7``,
    ``record_table_3_1``), and Eq. 2.10's block saving against the whole network's
    (:func:`companion.ch2.costs_tables.eq_2_10_curve`)."""
    def printed_as(row, key: str) -> bool:  # is the printed cell the count with (key="params") or without biases?
        return params_printed_as(row[key]) == row["printed_params"]

    cells = t24 + t25
    with_biases = [r for r in cells if printed_as(r, "params")]
    without = [r for r in cells if not printed_as(r, "params") and printed_as(r, "params_weights_only")]
    neither = len(cells) - len(with_biases) - len(without)
    first = (f"**Costs, by counting.** Table 2.1: {_count(t21, 'params_match')} parameter cells are the recount "
             f"truncated to K. Table 2.4: {_count(t24, 'mult_adds_match')} Mult-Adds cells match to 0.1 G. Of the "
             f"{len(cells)} parameter cells of Tables 2.4-2.7, {len(with_biases)} are the recount rounded to K")
    if without:
        labels = sorted({f"{r.get('table', 'Table 2.4')} {r['label']}" for r in without})
        first += (f" and {len(without)} the count *without biases* ({', '.join(labels)}): the thesis counted both "
                  "ways")
    if neither:
        first += f"; {neither} match neither count"
    first += (f". Table 3.1: {_count(t31, 'params_match')} parameter cells match to 0.01M "
              f"({sum(bool(r['params_match']) and not r['params_match_rounded'] for r in t31)} only when truncated, "
              f"not rounded) and {_count(t31, 'mult_adds_match')} Mult-Adds cells to 1 G.")
    lines = [first]
    by_groups = {r["groups"]: r for r in curve}
    if curve:
        low, high = curve[0] if curve[0]["groups"] > 1 or len(curve) == 1 else curve[1], curve[-1]
        line = (f"**Eq. 2.10.** One efficient residual block costs {low['saving']:.2f}× fewer Mult-Adds than a "
                f"residual block at G = {low['groups']} and {high['saving']:.2f}× fewer at G = {high['groups']} "
                f"(K = 3); the modules' own Mult-Adds agree at {_count(curve, 'block_matches')} group counts.")
        if 4 in by_groups:
            g4 = by_groups[4]
            line += (f" The whole network saves less: CARN costs {g4['network_saving']:.2f}× the Mult-Adds of "
                     f"CARN-M (G = 4) at ×4 where the block ratio alone gives {g4['saving']:.2f}×, because the "
                     "entry, the exit and the 1×1 fusions are not grouped.")
        lines.append(line)
    return lines


def authors_weights(results: list[dict], missing_reasons: list[str], readings: dict[str, dict[str, dict]]
                    ) -> list[str]:
    """02a's paragraph on the authors' released weights: each release's PSNR against bicubic on the same images
    (``results``: :attr:`companion.ch2.evaluation.WeightsEvaluation.results`), and which reading the weights
    score best in (``readings``: ``{release label: companion.ch2.evaluation.readings_check(...)}``)."""
    if not results:
        return ["**The authors' weights** were not on this machine, so nothing was evaluated"
                + (f" ({'; '.join(missing_reasons)})." if missing_reasons else ".")]
    scored = "; ".join(f"{r['label']} ({r['reading']} reading) on {r['set']} ×{r['scale']}: {r['psnr']:.2f} dB "
                       f"against bicubic's {r['bicubic_psnr']:.2f} ({r['gain']:+.2f} dB, better on {r['wins']} of "
                       f"{r['images']} images)" for r in results)
    lines = [f"**The authors' weights** under the SR protocol: {scored}."
             + (f" Not evaluated: {'; '.join(missing_reasons)}." if missing_reasons else "")]
    for label, checks in readings.items():
        best = max(checks, key=lambda v: checks[v]["psnr"])
        own = next(v for v in checks if v.startswith("own reading"))
        shown = ", ".join(f"{v} {c['psnr']:.2f} dB" for v, c in checks.items())
        lines.append(f"**Which reading ({label}).** {shown} (bicubic {checks[own]['bicubic_psnr']:.2f} dB): "
                     + ("the weights restore best in the reading they were released in."
                        if best == own else f"the best is {best}, not the reading the weights were released in."))
    return lines


def figure_2_10(data: dict, missing: list[str]) -> list[str]:
    """02a's Fig. 2.10 paragraph, from :func:`companion.ch2.qualitative.figure_2_10_data`'s ``psnr`` (crop PSNRs
    per image and method): each model's gain over bicubic inside the most edge-dense window of each image."""
    table = data["psnr"]
    models = [m for m in next(iter(table.values())) if m != "bicubic"]
    gains = "; ".join(f"{m} {_span([row[m] - row['bicubic'] for row in table.values()])}" for m in models)
    images = ", ".join(f"{image} {row['bicubic']:.2f} → {max(v for m, v in row.items() if m != 'bicubic'):.2f} dB"
                       for image, row in table.items()) if models else ""
    line = (f"**Fig. 2.10 at our scale** (the most edge-dense window of each of {', '.join(table)}): over bicubic, "
            f"{gains}." + (f" Bicubic against the best model per crop: {images}." if images else ""))
    if missing:
        line += " Not shown: " + "; ".join(m.split(":")[0] for m in missing) + "."
    return [line]


# --------------------------------------------------------------------------------------------------------
# 02c: the two stages against Table 2.2, and the qualitative figures.


def _last(history: list[float], share: float = 0.1) -> float:
    k = max(1, int(len(history) * share))
    return sum(history[-k:]) / k


def pcarn(result: dict) -> list[str]:
    """02c's conclusions from :func:`companion.ch2.pcarn.run_experiment`'s ``result``: the authors' PCARN-M against
    their PCARN-M (L1), our L1 stage against bicubic, our adversarial stage against its L1 start and against the
    authors', in PSNR / SSIM (``scores``) and the PSD's high band (``psd``: mean power and median ring), beside
    Table 2.2's PSNR drop (:func:`companion.ch2.pcarn_report.paper_table_2_2`)."""
    scores, psd = result["scores"], result["psd"]
    mean, median = psd["mean_high_band"], psd["mean_high_band_median"]
    paper = paper_table_2_2()
    paper_drop = _span([paper[row]["PSNR"] - paper["CARN (L1)"]["PSNR"] for row in ("+GAN", "+MSD")])

    def move(a: str, b: str) -> str:
        return (f"PSNR {scores[a]['psnr']:.2f} → {scores[b]['psnr']:.2f} dB "
                f"({scores[b]['psnr'] - scores[a]['psnr']:+.2f}), SSIM {scores[a]['ssim']:.3f} → "
                f"{scores[b]['ssim']:.3f}; high-band power (log10 of HR's) {mean[a]:+.2f} → {mean[b]:+.2f} of the "
                f"mean, {median[a]:+.2f} → {median[b]:+.2f} of the median ring")

    lines = []
    if AUTHORS_L1 in scores and AUTHORS_GAN in scores:
        lines.append(f"**The authors' PCARN-M against their PCARN-M (L1)** on the held-out images: "
                     f"{move(AUTHORS_L1, AUTHORS_GAN)}. In Table 2.2 the paper-size CARN's PSNR changes {paper_drop} "
                     "with adversarial training.")
    bicubic, l1 = scores["bicubic"], scores[OURS_L1]
    ahead = [n for n, v in l1["per_image"].items() if v["psnr"] > bicubic["per_image"][n]["psnr"]]
    lines.append(f"**Our L1 stage against bicubic**: {l1['psnr']:.2f} dB / SSIM {l1['ssim']:.3f} against "
                 f"{bicubic['psnr']:.2f} dB / {bicubic['ssim']:.3f} ({l1['psnr'] - bicubic['psnr']:+.2f} dB, ahead on "
                 f"{len(ahead)} of {len(l1['per_image'])} images); high-band power {mean['bicubic']:+.2f} for "
                 f"bicubic, {mean[OURS_L1]:+.2f} for it (mean)."
                 + (f" The authors' PCARN-M (L1) is {scores[AUTHORS_L1]['psnr'] - bicubic['psnr']:+.2f} dB from "
                    "bicubic." if AUTHORS_L1 in scores else ""))
    history = result["gan"]["history"]
    gan_line = (f"**Our adversarial stage** ({result['gan']['steps']} steps): {move(OURS_L1, OURS_GAN)}. Over the "
                f"last 10 % of steps the discriminator's loss is {_last(history['d']):.2f} (first step "
                f"{history['d'][0]:.2f}), D(HR) {_last(history['d_real']):.2f} and D(SR) "
                f"{_last(history['d_fake']):.2f}.")
    if AUTHORS_GAN in scores:
        gan_line += (f" The mean high-band power moves {mean[OURS_GAN] - mean[OURS_L1]:+.2f} for ours and "
                     f"{mean[AUTHORS_GAN] - mean[AUTHORS_L1]:+.2f} for the authors'; the median ring "
                     f"{median[OURS_GAN] - median[OURS_L1]:+.2f} for ours and {median[AUTHORS_GAN] - median[AUTHORS_L1]:+.2f} "
                     "for theirs: where the mean rises much more than the median, the new power sits in a few "
                     "rings (a periodic artefact), not in broadband texture.")
    lines.append(gan_line)
    return lines


def pcarn_figures(facts: dict, maps: dict, failure: dict, texture: dict, text: dict, t28: dict) -> list[str]:
    """02c's Figs. 2.3, 2.11, 2.13, 2.14 and Table 2.8, from :func:`companion.ch2.qualitative.msd_facts` /
    ``msd_maps``, ``figure_2_11_data``, ``figure_2_13_data``, ``figure_2_14_data`` and ``table_2_8``."""
    shapes = ", ".join(f"{s[-2]}×{s[-1]}" for s in facts["map_shapes"])
    lines = [f"**Fig. 2.3** (exact): the paper-size multi-scale discriminator has {facts['params']:,} parameters "
             f"({facts['params_one']:,} per scale) and turns a {facts['patch']}-px patch into {shapes} maps. Our "
             "trained one's mean P(real) per scale (×" + ", ×".join(map(str, facts["factors"])) + "): "
             + "; ".join(f"{label} " + ", ".join(f"{v:.2f}" for v in m["mean"]) for label, m in maps.items()) + "."]
    l1, gan = failure["pair"]
    losses = {n: row[l1] - row[gan] for n, row in failure["psnr"].items()}
    lines.append(f"**Fig. 2.11** (the dense window where {gan} loses most to {l1}): it loses {_span(losses.values())} "
                 "(" + ", ".join(f"{n} {failure['psnr'][n][l1]:.2f} → {failure['psnr'][n][gan]:.2f} dB"
                                 for n in losses) + ").")
    texture_line = f"**Fig. 2.13** (the most textured windows of {', '.join(texture['psnr'])}): "
    methods = [m for m in next(iter(texture["psnr"].values())) if m != "bicubic"]
    texture_line += "; ".join(f"{m} {_span([row[m] - row['bicubic'] for row in texture['psnr'].values()])} from "
                              "bicubic" for m in methods) + "."
    lines.append(texture_line)
    gains: dict[str, dict] = {}
    for groups in text["psnr"].values():
        for size, row in groups.items():
            for m, v in row.items():
                if m != "bicubic":
                    gains.setdefault(m, {})[size] = v - row["bicubic"]
    where = "rendered text, **not Manga109**" if text["source"] == "rendered text" else text["source"]
    lines.append(f"**Fig. 2.14** ({where}), PSNR against bicubic per "
                 + ("font size: " if text["source"] == "rendered text" else "crop: ")
                 + "; ".join(f"{m} " + ", ".join(f"{size}{' px' if isinstance(size, int) else ''} {g:+.2f}"
                                                  for size, g in by_size.items()) for m, by_size in gains.items())
                 + " dB.")
    if t28["values"]:
        lines.append("**Table 2.8**: " + "; ".join(f"{v['row']} on {v['set']}: LPIPS {v['lpips']:.3f}"
                                                   for v in t28["values"]) + ".")
    else:
        lines.append(f"**Table 2.8** is not measured at this profile ({t28['reason'] or 'no release found'}); NIMA "
                     "is not reproduced at any profile.")
    return lines


__all__ = ["AUTHORS_L1", "AUTHORS_GAN", "carn_costs", "authors_weights", "figure_2_10", "table_2_3", "figure_2_8",
           "pcarn", "pcarn_figures"]
