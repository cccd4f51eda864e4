"""Tables 3.1-3.2 of thesis Chapter 3 beside ours, the claims checked, and the ledger records of
``03_progressive_x8``.

* :func:`record_table_3_1_costs`: Table 3.1's parameter and Mult-Adds cells, exact, from the paper-size models
  (:func:`companion.analysis.costs.table_3_1`: ×8, one 1920×1080 output; the progressive CARN's ×8 path without
  the detached heads). ``02a_carn`` records the same cells from the same function; equal numbers are listed
  once in the ledger.
* :func:`summarise`: mean ± std over seeds of every head after every stage, the "+" and the baseline;
* :func:`x8_rows` / :func:`table_text`: Table 3.2's ×8 columns (Bicubic, the single-stage baseline,
  Progressive CARN, Progressive CARN+) with the paper's beside them;
* :func:`claims`: the chapter's claims (progressive beats bicubic, beats the single-stage model of the same
  modules, "+" adds to it), each judged on the paired per-seed, per-image ×8 PSNRs
  (:func:`companion.summary.check_claims`: a two-way bootstrap interval over seeds and test images);
* :func:`record_results`: every measured cell, beside Table 3.1 / 3.2 where the set is the paper's (DIV2K
  validation / Set5 ... Urban100), as a plain measurement of the entry otherwise (the embedded photographs are
  not a paper test set: compare the gain over bicubic, not the absolute PSNR), and the per-stage heads beside
  Figure 3.1.
"""
from __future__ import annotations

import numpy as np

from companion.analysis import costs
from companion.ch3.config import LABELS, ProgressiveSpec, baseline_label
from companion.ch3.staged import HEAD_SCALES, SCALE
from companion.ledger import load_paper
from companion.metrics import protocol_text
from companion.summary import check_claims, markdown_table, mean_std, pm
from companion import zoo

PARAMS_PROTOCOL = "trainable parameters of the paper-size model, biases included, each shared tensor once"
MACS_PROTOCOL = ("Mult-Adds = conv weight MACs (no bias) x output pixels of each conv, for one {h}x{w} output "
                 "(companion.analysis.costs.mult_adds)")
#: Table 3.2's columns by set, and the set of Table 3.1's PSNR column.
TABLE_3_2_SETS = ("Set5", "Set14", "B100", "Urban100")
TABLE_3_1_SET = "DIV2K"


# --------------------------------------------------------------------------------------------------------
# Table 3.1's costs (exact).


def record_table_3_1_costs(run) -> list[dict]:
    """Record Table 3.1's Params and Mult-Adds cells (exact, paper-size models, ×8, 1920×1080 output) and return
    :func:`companion.analysis.costs.table_3_1`'s rows."""
    rows = costs.table_3_1()
    h, w = costs.TABLE_3_1_OUTPUT
    for r in rows:
        printed = r["printed_params"] / 1e6
        how = (f"printed {printed:.2f}M = {r['params']:,} to 0.01M" if r["params_match"]
               else f"printed {printed:.2f}M differs from the recount {r['params']:,}")
        proto = PARAMS_PROTOCOL
        if r["label"].startswith("progressive"):
            proto += "; the x8 path only (earlier toRGB heads detached)"
        elif r["label"] == "EDSR":
            proto = "EDSR's parameters from its layer list (companion.analysis.costs.edsr_costs), biases included"
        run.record(f"table3_1/{r['label']}/Params", r["params"], entry="Table 3.1", row=r["label"], column="Params",
                   status="exact", protocol=proto, note=f"{how}; {r['params_weights_only']:,} without biases")
        note = f"{r['mult_adds']:,} MACs; printed {r['printed_mult_adds_g']:,.0f}G" + \
            (" (matches to 1G)" if r["mult_adds_match"] else " (differs)")
        if r["label"] == "progressive CARN+":
            note += "; one pass (the 8-pass self-ensemble costs 8x)"
        macs_proto = MACS_PROTOCOL.format(h=h, w=w)
        if r["label"] == "EDSR":
            macs_proto = macs_proto.replace("companion.analysis.costs.mult_adds",
                                            "EDSR's layer list: companion.analysis.costs.edsr_costs")
        run.record(f"table3_1/{r['label']}/Mult-Adds", r["mult_adds"] / 1e9, entry="Table 3.1", row=r["label"],
                   column="Mult-Adds (G)", status="exact", protocol=macs_proto, note=note)
    return rows


def costs_text(rows) -> str:
    """Table 3.1's cost columns, ours beside the printed ones, as Markdown."""
    out = [[r["label"], f"{r['printed_params'] / 1e6:.2f}M", f"{r['params']:,}", f"{r['printed_mult_adds_g']:,.0f}G",
            f"{r['mult_adds'] / 1e9:,.1f}G", "yes" if r["params_match"] and r["mult_adds_match"] else "no"]
           for r in rows]
    return markdown_table(["Table 3.1 row", "printed Params", "ours", "printed Mult-Adds", "ours (1920x1080)",
                           "match"], out)


# --------------------------------------------------------------------------------------------------------
# Our numbers.


def value(ms: tuple[float, float], seeds: int, digits: int = 2):
    """A (mean, std) over seeds as recorded and shown: the number itself for one seed, ``"mean ± std"`` for
    several."""
    return round(ms[0], digits) if seeds == 1 else pm(ms, digits)


def text(ms: tuple[float, float], seeds: int, digits: int = 2) -> str:
    return f"{ms[0]:.{digits}f}" if seeds == 1 else pm(ms, digits)


def summarise(results: dict[str, list[dict]], eval_set: str) -> dict:
    """Mean ± std over seeds on ``eval_set``: ``stages`` ({stage: {head: {psnr, ssim, gain}}}), ``final``
    and ``plus`` ({head: {psnr, ssim, gain}}: after the last stage, without / with "+"), ``bicubic`` ({head:
    {psnr, ssim}}), ``baseline`` ({psnr, ssim, gain, plus_psnr, plus_ssim, plus_gain} at ×8, or None),
    ``seeds``, ``per_image`` (the first seed's ×8 numbers), ``protocol``, ``steps``, ``seconds``,
    ``checkpoints`` (where every stage's weights came from: ``"zoo:<entry>"`` or a work file; the baseline's
    in ``baseline["checkpoints"]``), ``scores`` (:func:`x8_scores`: every seed's ×8 PSNR per test image)."""
    runs = results["progressive"]
    last = [r["stages"][-1]["heads"][eval_set] for r in runs]

    def ms(values):
        return mean_std(values)

    stages = {}
    for i, st in enumerate(runs[0]["stages"]):
        stages[st["stage"]] = {s: {k: ms([r["stages"][i]["heads"][eval_set][s][k] for r in runs])
                                   for k in ("psnr", "ssim", "gain")} for s in st["heads"][eval_set]}
    heads = list(last[0])
    out = dict(seeds=len(runs), stages=stages, protocol=last[0][heads[-1]]["protocol"],
               final={s: stages[max(stages)][s] for s in heads},
               bicubic={s: {"psnr": last[0][s]["bicubic_psnr"], "ssim": last[0][s]["bicubic_ssim"]} for s in heads},
               steps=[st["steps"] for st in runs[0]["stages"]], seconds=float(np.mean([r["seconds"] for r in runs])),
               per_image={n: dict(v) for n, v in last[0][heads[-1]]["per_image"].items()}, plus=None, baseline=None,
               params=runs[0]["params"], mult_adds=runs[0]["mult_adds"],
               checkpoints=[st["checkpoint"] for r in runs for st in r["stages"]])
    if runs[0]["plus"]:
        out["plus"] = {s: {k: ms([r["plus"][eval_set][s][f"plus_{k}"] for r in runs]) for k in ("psnr", "ssim", "gain")}
                       for s in heads}
        for name, v in runs[0]["plus"][eval_set][heads[-1]]["per_image"].items():
            out["per_image"][name]["plus_psnr"] = v["plus_psnr"]
    if results.get("baseline"):
        base = [b["heads"][eval_set][SCALE] for b in results["baseline"]]
        keys = ["psnr", "ssim", "gain"] + (["plus_psnr", "plus_ssim", "plus_gain"] if "plus_psnr" in base[0] else [])
        out["baseline"] = {k: ms([b[k] for b in base]) for k in keys}
        out["baseline"].update(layout=results["baseline"][0]["layout"], steps=results["baseline"][0]["steps"],
                               seconds=float(np.mean([b["seconds"] for b in results["baseline"]])),
                               params=results["baseline"][0]["params"], mult_adds=results["baseline"][0]["mult_adds"],
                               checkpoints=[b["checkpoint"] for b in results["baseline"]])
        for name, v in base[0]["per_image"].items():
            out["per_image"][name]["baseline_psnr"] = v["psnr"]
    out["scores"] = x8_scores(results, eval_set)
    first = out["per_image"].values()
    out["wins"] = {key: sum(v[col] > v["bicubic_psnr"] for v in first) for key, col in
                   (("progressive", "psnr"), ("progressive+", "plus_psnr"), ("baseline", "baseline_psnr"))
                   if all(col in v for v in first)}
    return out


def x8_scores(results: dict[str, list[dict]], eval_set: str) -> dict:
    """Every seed's ×8 PSNR (dB, Y) on every test image of ``eval_set``, as lists shaped seeds × images:
    ``images`` (the names, in order), ``bicubic``, ``progressive``, and ``progressive+`` / ``baseline`` when
    they ran. Seed ``k`` of the baseline pairs with seed ``k`` of the progressive model."""
    runs = results["progressive"]
    images = list(runs[0]["stages"][-1]["heads"][eval_set][SCALE]["per_image"])

    def grid(heads_per_seed, column):
        return [[heads[eval_set][SCALE]["per_image"][name][column] for name in images] for heads in heads_per_seed]

    last = [r["stages"][-1]["heads"] for r in runs]
    out = {"images": images, "bicubic": grid(last, "bicubic_psnr"), "progressive": grid(last, "psnr")}
    if runs[0]["plus"]:
        out["progressive+"] = grid([r["plus"] for r in runs], "plus_psnr")
    if results.get("baseline"):
        out["baseline"] = grid([b["heads"] for b in results["baseline"]], "psnr")
    return out


def per_image_text(summary: dict) -> str:
    """×8 PSNR per test image (the first seed): bicubic, the baseline, Progressive CARN and "+", as Markdown."""
    cols = [("bicubic_psnr", "bicubic"), ("baseline_psnr", "single stage"), ("psnr", LABELS["progressive"]),
            ("plus_psnr", LABELS["progressive+"])]
    first = next(iter(summary["per_image"].values()))
    cols = [(k, h) for k, h in cols if k in first]
    rows = [[name] + [f"{v[k]:.2f}" for k, _ in cols] for name, v in summary["per_image"].items()]
    rows.append(["better than bicubic"] + ["—"] + [f"{summary['wins'][w]}/{len(rows)}" for w in
                                                  (("baseline",) if "baseline_psnr" in first else ())
                                                  + ("progressive",) + (("progressive+",) if "plus_psnr" in first
                                                                        else ())])
    return markdown_table(["x8 PSNR (dB, Y)"] + [h for _, h in cols], rows)




def weights_text(checkpoints) -> str:
    """:func:`companion.zoo.weights_text`, counting stages."""
    return zoo.weights_text(checkpoints, unit="stage")


def sources_text(summary: dict) -> str:
    """Where the progressive model's stages and the baseline came from (:func:`weights_text`), one line each."""
    lines = [f"{LABELS['progressive']}: {weights_text(summary['checkpoints'])}"]
    if summary["baseline"]:
        lines.append(f"{baseline_label(summary['baseline']['layout'])}: "
                     f"{weights_text(summary['baseline']['checkpoints'])}")
    return "\n".join(lines)


def cost_line(summary: dict) -> str:
    """The trained models' size, Mult-Adds (one ×8 pass for a 1920×1080 output) and training seconds."""
    line = (f"progressive CARN ({summary['params']:,} parameters on the x8 path, {summary['mult_adds'] / 1e9:.2f}G "
            f"Mult-Adds at 1920x1080): {sum(summary['steps']):,} steps in {summary['seconds']:.0f} s")
    b = summary["baseline"]
    if b:
        line += (f"; single stage ({b['params']:,} parameters, {b['mult_adds'] / 1e9:.2f}G Mult-Adds): {b['steps']:,} "
                 f"steps in {b['seconds']:.0f} s (training seconds, one thread each)")
    return line


def paper_table(entry_id: str) -> dict[str, dict]:
    """A paper table from ``companion/paper/thesis.json``: ``{row label: {column: value}}``."""
    [table] = [e for e in load_paper() if e["id"] == entry_id]
    return {r["label"]: r["values"] for r in table["rows"]}


def x8_rows(summary: dict) -> list[dict]:
    """Table 3.2's ×8 rows of ours: ``label``, ``key``, ``psnr`` / ``ssim`` / ``gain`` as (mean, std)."""
    b = summary["bicubic"][SCALE]
    rows = [dict(label=LABELS["bicubic"], key="bicubic", psnr=(b["psnr"], 0.0), ssim=(b["ssim"], 0.0),
                 gain=(0.0, 0.0))]
    if summary["baseline"]:
        base = summary["baseline"]
        rows.append(dict(label=baseline_label(base["layout"]), key="baseline", psnr=base["psnr"], ssim=base["ssim"],
                         gain=base["gain"]))
    rows.append(dict(label=LABELS["progressive"], key="progressive", **summary["final"][SCALE]))
    if summary["plus"]:
        rows.append(dict(label=LABELS["progressive+"], key="progressive+", **summary["plus"][SCALE]))
    return rows


def table_text(summary: dict, eval_set: str) -> str:
    """Our ×8 rows beside Table 3.2 (the paper's gain over bicubic, averaged over its four sets) as Markdown."""
    paper = paper_table("Table 3.2")
    rows = []
    for r in x8_rows(summary):
        label = {"baseline": None, "bicubic": "Bicubic", "progressive": "Progressive CARN",
                 "progressive+": "Progressive CARN+"}[r["key"]]
        if label is not None:
            gains = [paper[label][f"{s} PSNR"] - paper["Bicubic"][f"{s} PSNR"] for s in TABLE_3_2_SETS]
            where = f"{np.mean(gains):+.2f} ({min(gains):+.2f} to {max(gains):+.2f})"
        else:
            t31 = paper_table("Table 3.1")
            behind = t31["progressive CARN"]["DIV2K valid PSNR"] - t31["CARN-B24U4"]["DIV2K valid PSNR"]
            where = f"(Table 3.1: CARN-B24U4 is {behind:.2f} dB behind progressive CARN on DIV2K valid)"
        n = summary["seeds"]
        rows.append([r["label"], text(r["psnr"], n), text(r["ssim"], n, 4), f"{r['gain'][0]:+.2f}", where])
    return markdown_table([f"x8 on {eval_set}", "ours PSNR", "ours SSIM", "ours gain vs bicubic",
                           "paper gain vs bicubic (mean of 4 sets, range)"], rows)


def stage_text(summary: dict) -> str:
    """Every head's gain over bicubic after every stage (and "+"), as Markdown."""
    heads = list(summary["final"])
    n = summary["seeds"]
    rows = [[f"after stage {st}"] + [text(v[s]["gain"], n) if s in v else "—" for s in heads]
            for st, v in summary["stages"].items()]
    if summary["plus"]:
        rows.append(["after stage 3, +"] + [text(summary["plus"][s]["gain"], n) for s in heads])
    rows.append(["bicubic PSNR (dB)"] + [f"{summary['bicubic'][s]['psnr']:.2f}" for s in heads])
    return markdown_table(["gain over bicubic (dB)"] + [f"x{s} head" for s in heads], rows)


def claim_scores(summary: dict) -> list[tuple[str, str, list, list]]:
    """The chapter's claims at ×8 as (entry, claim, better scores, worse scores), each scores list seeds × test
    images (:func:`x8_scores`): the progressive model beats bicubic; it beats the single-stage model (Table 3.1);
    "+" beats the plain model (Tables 3.1-3.2)."""
    scores = summary["scores"]
    items = [("Table 3.2", "Progressive CARN beats bicubic at x8", scores["progressive"], scores["bicubic"])]
    if "baseline" in scores:
        label = baseline_label(summary["baseline"]["layout"])
        items.append(("Table 3.1", f"Progressive CARN beats the single-stage {label}", scores["progressive"],
                      scores["baseline"]))
    if "progressive+" in scores:
        items.append(("Table 3.2", "Progressive CARN+ (self-ensemble) beats Progressive CARN",
                      scores["progressive+"], scores["progressive"]))
    return items


def claims(summary: dict) -> list[dict]:
    """The chapter's claims (:func:`claim_scores`), each judged on the paired differences over seeds and test
    images (:func:`companion.summary.check_claims`): "agrees" when the 95 % interval of the mean difference is
    above zero, "disagrees" below, "unclear" when it holds zero."""
    return check_claims(claim_scores(summary))


def _protocol(spec: ProgressiveSpec, summary, eval_set) -> str:
    where = (f"held-out embedded photographs {', '.join(spec.split.test)}" if eval_set == "embedded" else eval_set)
    where += f" ({spec.eval_crop}-px centre crops)" if spec.eval_crop else ", whole images"
    recipe = spec.recipe
    t = recipe.train
    return (f"{where} x8 (MATLAB-bicubic LR), {protocol_text(summary['protocol'])}; {spec.size}-size progressive "
            f"CARN, stages of {', '.join(map(str, recipe.steps))} steps at batch "
            f"{', '.join(map(str, recipe.batches))} of {recipe.patch}-px LR patches, {recipe.loss.upper()} loss, "
            f"Adam {tuple(t.betas)} at {t.lr:g} with "
            f"{'Algorithm 1' if recipe.decay == 'algorithm' else 'the prose'}'s 0.1x decay of earlier modules; "
            f"{summary['seeds']} seed(s)")


def record_results(run, summary: dict, spec: ProgressiveSpec, eval_set: str) -> None:
    """Record ours on ``eval_set``: ×8 rows beside Table 3.2 (in its cells where the set is one of its four) and
    Table 3.1 (in its cells on DIV2K validation), every head after every stage beside Figure 3.1. On another set
    (the embedded photographs) the numbers go to the entry's measurement list under their keys, not into a
    paper cell."""
    proto = _protocol(spec, summary, eval_set)
    paper_set = eval_set if eval_set in TABLE_3_2_SETS else None
    caveat = "" if eval_set in (*TABLE_3_2_SETS, TABLE_3_1_SET) else \
        "not a paper test set: compare the gain over bicubic, not the absolute PSNR; "
    for r in x8_rows(summary):
        n = summary["seeds"]
        wins = summary["wins"].get(r["key"])
        note = (f"{caveat}gain over bicubic {text(r['gain'], n)} dB"
                + (f", better than bicubic on {wins}/{len(summary['per_image'])} images" if wins is not None else "")
                + f"; {n} seed(s)"
                + (f"; {summary['steps']} steps per stage, {summary['seconds']:.0f} s of training (one thread); "
                   f"{weights_text(summary['checkpoints'])}" if r["key"].startswith("progressive") else ""))
        if r["key"] == "baseline":
            b = summary["baseline"]
            note += (f"; trained in one stage for {b['steps']} steps at batch {spec.recipe.baseline_batch} "
                     f"({b['seconds']:.0f} s, one thread), {b['params']:,} parameters; "
                     f"{weights_text(b['checkpoints'])}")
            row1 = "CARN-B24U4" if b["layout"] == "end" else None
            for metric in ("psnr", "ssim"):
                column = "DIV2K valid PSNR" if eval_set == TABLE_3_1_SET and metric == "psnr" else None
                run.record(f"{eval_set}/x8/{r['key']}/{metric}", value(r[metric], n, 2 if metric == "psnr" else 4),
                           entry="Table 3.1", row=row1 if column else None, column=column, protocol=proto,
                           note=note)
            continue
        row2 = {"bicubic": "Bicubic", "progressive": "Progressive CARN", "progressive+": "Progressive CARN+"}[r["key"]]
        for metric in ("psnr", "ssim"):
            column = f"{paper_set} {metric.upper()}" if paper_set else None
            run.record(f"{eval_set}/x8/{r['key']}/{metric}", value(r[metric], n, 2 if metric == "psnr" else 4),
                       entry="Table 3.2", row=row2 if column else None, column=column, protocol=proto, note=note)
        if r["key"].startswith("progressive"):
            row1 = {"progressive": "progressive CARN", "progressive+": "progressive CARN+"}[r["key"]]
            column = "DIV2K valid PSNR" if eval_set == TABLE_3_1_SET else None
            run.record(f"{eval_set}/x8/{r['key']}/psnr (Table 3.1)", value(r["psnr"], n), entry="Table 3.1",
                       row=row1 if column else None, column=column, protocol=proto, note=note)
    for stage, heads in summary["stages"].items():
        for s, v in heads.items():
            run.record(f"{eval_set}/stage{stage}/x{s} head/gain", value(v["gain"], summary["seeds"]),
                       entry="Figure 3.1", protocol=proto,
                       note=f"PSNR gain (dB) of the x{s} head over bicubic x{s} after stage {stage} (target: the HR "
                            f"image downscaled by {SCALE // s}); PSNR {text(v['psnr'], summary['seeds'])} dB vs "
                            f"bicubic {summary['bicubic'][s]['psnr']:.2f} dB; "
                            + weights_text(summary["checkpoints"][stage - 1::len(summary["stages"])]))


def record_crops(run, crops: dict, baseline_crops: dict | None = None) -> list[str]:
    """Record the figure image's whole-image scores beside Figure 3.2 and return one line each."""
    lines = []
    items = [("bicubic x8", crops["scores"]["bicubic"])]
    items += [(f"x{s} head" + (" (x8 output)" if s == SCALE else f" (vs HR/{SCALE // s})"), crops["scores"][s])
              for s in HEAD_SCALES if s in crops["scores"]]
    if "plus" in crops["scores"]:
        items.append(("x8 head +", crops["scores"]["plus"]))
    if baseline_crops is not None:
        items.append(("single stage x8", baseline_crops["scores"][SCALE]))
    for label, score in items:
        run.record(f"figure3_2/{crops['name']}/{label}", f"{score['psnr']:.2f} / {score['ssim']:.4f}",
                   entry="Figure 3.2", note="PSNR / SSIM (Y, border = scale, 8-bit) of the whole image; "
                                            "the paper's Fig. 3.2 shows Set14/B100/Urban100 images")
        lines.append(f"{label:<28s} {score['psnr']:6.2f} dB / {score['ssim']:.4f}")
    return lines
