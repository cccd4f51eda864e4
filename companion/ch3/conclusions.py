"""The conclusions of ``03_progressive_x8``, rendered from the run's measurements (never typed).

:func:`progressive_x8` returns Markdown paragraphs for ``run.conclude``
(:meth:`companion.session.NotebookRun.conclude`), which keeps them in the results file for the book and returns
the text the notebook displays. Each paragraph is made from the notebook's own results: Table 3.1's recounted
costs (:func:`companion.ch3.tables.record_table_3_1_costs`), the summary over seeds
(:func:`companion.ch3.tables.summarise`) and the claims judged on the paired interval
(:func:`companion.ch3.tables.claims`); the paper's numbers come from ``companion/paper``
(:func:`companion.ch3.tables.paper_table`), the thesis' setting from :data:`companion.ch3.config.FULL`.
"""
from __future__ import annotations

from companion.ch3.config import FULL, LABELS, ProgressiveSpec, baseline_label
from companion.ch3.staged import SCALE
from companion.ch3.tables import TABLE_3_2_SETS, paper_table, text


def progressive_x8(cost_rows: list[dict], summary: dict, claims: list[dict], spec: ProgressiveSpec) -> list[str]:
    """The notebook's conclusions: Table 3.1's costs, the staged training, each claim at ×8 with its paired
    interval, what the stages do to the earlier heads, and how this profile differs from the thesis' setting."""
    by_claim = {_claim_key(c["claim"]): c for c in claims}
    paragraphs = [costs(cost_rows), training(summary, spec), against_bicubic(summary, by_claim["bicubic"])]
    if summary["baseline"] and "baseline" in by_claim:
        paragraphs.append(against_baseline(summary, by_claim["baseline"]))
    if summary["plus"] and "plus" in by_claim:
        paragraphs.append(self_ensemble(summary, by_claim["plus"]))
    paragraphs += [earlier_heads(summary), scale(spec)]
    return [p for p in paragraphs if p]


def _claim_key(claim: str) -> str:
    """Which of :func:`companion.ch3.tables.claim_scores`' claims ``claim`` is: bicubic, baseline or plus."""
    if "self-ensemble" in claim:
        return "plus"
    return "bicubic" if claim.endswith("bicubic at x8") else "baseline"


def _verdict(claim: dict) -> str:
    return f"*{claim['verdict']}* ({claim['detail']})"


def costs(rows: list[dict]) -> str:
    """Table 3.1's cost cells, ours beside the printed ones, and what the progressive layout costs."""
    cells = "; ".join(f"{r['label']} {r['params']:,} parameters (printed {r['printed_params'] / 1e6:.2f}M) and "
                      f"{r['mult_adds'] / 1e9:,.1f}G Mult-Adds (printed {r['printed_mult_adds_g']:,.0f}G)"
                      for r in rows)
    differ = [r["label"] for r in rows if not (r["params_match"] and r["mult_adds_match"])]
    match = ("every cell matches the printed value to its rounding" if not differ
             else f"these rows differ from the printed values: {', '.join(differ)}")
    out = (f"**Table 3.1's costs** (no training; the paper-size models, ×8, one 1920×1080 output): {cells}: "
           f"{match}.")
    by_label = {r["label"]: r for r in rows}
    progressive, end = by_label.get("progressive CARN"), by_label.get("CARN-B24U4")
    if progressive and end and progressive["params"] == end["params"]:
        out += (f" With the same parameters the progressive model costs "
                f"{progressive['mult_adds'] / end['mult_adds']:.1f}× the Mult-Adds of CARN-B24U4, because its "
                "later modules run at 2× and 4× the LR resolution.")
    return out


def training(summary: dict, spec: ProgressiveSpec) -> str:
    """How the stages were trained, from the settings that ran."""
    recipe = spec.recipe
    rates = ("Algorithm 1's rates (every earlier module's rate divided by ten at each new stage)"
             if recipe.decay == "algorithm" else "the prose's rates (every earlier module at a tenth of the rate)")
    steps = " / ".join(f"{s:,}" for s in summary["steps"])
    return (f"**Staged training** ran through the shared loop with {rates}: stages of {steps} "
            f"steps at batch {' / '.join(map(str, recipe.batches))} on {recipe.patch}-px LR patches, "
            f"{summary['seeds']} seed{'s' if summary['seeds'] != 1 else ''}; Fig. 3.1 above shows each stage's loss "
            "and each head's gain.")


def _paper_gains(row: str, over: str) -> tuple[float, float]:
    """The smallest and largest PSNR gain of Table 3.2's ``row`` over its ``over`` row across its four sets."""
    paper = paper_table("Table 3.2")
    gains = [paper[row][f"{s} PSNR"] - paper[over][f"{s} PSNR"] for s in TABLE_3_2_SETS]
    return min(gains), max(gains)


def against_bicubic(summary: dict, claim: dict) -> str:
    """The ×8 output against bicubic: PSNR, SSIM, the claim's verdict, the first seed's wins, the paper's gain."""
    n = summary["seeds"]
    final, bicubic = summary["final"][SCALE], summary["bicubic"][SCALE]
    images = len(summary["per_image"])
    low, high = _paper_gains("Progressive CARN", "Bicubic")
    beats = claim["verdict"] == "agrees"
    out = (f"**{LABELS['progressive']} against bicubic at ×8**: {text(final['psnr'], n)} dB against "
           f"{bicubic['psnr']:.2f} dB ({final['gain'][0]:+.2f} dB), SSIM {text(final['ssim'], n, 3)} against "
           f"{bicubic['ssim']:.3f}: {_verdict(claim)}. The first seed's model, which the per-image table and the "
           f"crops show, is better than bicubic on {summary['wins'].get('progressive', 0)} of {images} test "
           f"image{'s' if images != 1 else ''}. The paper's model gains {low:+.2f} to {high:+.2f} dB over bicubic "
           "(Table 3.2's four sets).")
    if not beats:
        out += " At this scale the notebook shows the mechanics of the comparisons, not the paper's quality."
    return out


def against_baseline(summary: dict, claim: dict) -> str:
    """Progressive against the single-stage model of the same modules, at equal steps, and what a step costs."""
    n = summary["seeds"]
    base = summary["baseline"]
    table_3_1 = paper_table("Table 3.1")
    gap = table_3_1["progressive CARN"]["DIV2K valid PSNR"] - table_3_1["CARN-B24U4"]["DIV2K valid PSNR"]
    return (f"**{LABELS['progressive']} against the single-stage {baseline_label(base['layout'])}** at equal "
            f"steps: {text(summary['final'][SCALE]['psnr'], n)} against {text(base['psnr'], n)} dB: "
            f"{_verdict(claim)}. The thesis' gap is {gap:+.2f} dB (Table 3.1, DIV2K valid). Equal steps are not "
            f"equal compute: one ×8 pass of the progressive model costs "
            f"{summary['mult_adds'] / base['mult_adds']:.1f}× the Mult-Adds of the single-stage one, and it "
            f"trained for {summary['seconds']:.0f} s against {base['seconds']:.0f} s (training seconds per seed, "
            "mean).")


def self_ensemble(summary: dict, claim: dict) -> str:
    """The geometric self-ensemble "+" against the plain model, beside the thesis' range."""
    n = summary["seeds"]
    plain, plus = summary["final"][SCALE], summary["plus"][SCALE]
    low, high = _paper_gains("Progressive CARN+", "Progressive CARN")
    return (f"**The self-ensemble \"+\"** (8 passes: 8× the inference cost): {text(plus['psnr'], n)} dB, "
            f"{plus['psnr'][0] - plain['psnr'][0]:+.2f} dB over the plain model, SSIM {plain['ssim'][0]:.3f} → "
            f"{plus['ssim'][0]:.3f}: {_verdict(claim)}. The thesis' \"+\" adds {low:+.2f} to {high:+.2f} dB "
            "(Table 3.2's four sets).")


#: A change of a head's gain (dB) from the stage that trained it to the last that counts as losing ground.
LOST = 0.1


def earlier_heads(summary: dict) -> str:
    """What the later stages do to the heads trained before them (not in the thesis, measured here): each
    head's gain after every stage, and whether it fell by more than :data:`LOST` dB once detached."""
    n = summary["seeds"]
    heads = [s for s in summary["final"] if s != SCALE]
    if len(summary["stages"]) < 2 or not heads:
        return ""
    lines, fell = [], []
    for head in heads:
        after = [(stage, values[head]["gain"]) for stage, values in summary["stages"].items() if head in values]
        change = after[-1][1][0] - after[0][1][0]
        lines.append(f"the ×{head} head " + ", ".join(f"{text(gain, n)} dB after stage {stage}"
                                                      for stage, gain in after) + f" ({change:+.2f} dB)")
        fell.append(change < -LOST)
    if all(fell):
        reading = (f"every earlier head loses more than {LOST:g} dB once detached: the modules below it keep "
                   "learning (at γ/10, γ/100) for the next stage's head, so the intermediate outputs are a "
                   "training device, not usable outputs of the final model")
    elif not any(fell):
        reading = f"no earlier head loses more than {LOST:g} dB once detached"
    else:
        reading = f"some earlier heads lose more than {LOST:g} dB once detached, others do not"
    return (f"**What the stages do to the earlier heads** (not in the thesis; gain over bicubic, each head against "
            f"its own target): {'; '.join(lines)}. So {reading}.")


def scale(spec: ProgressiveSpec, full: ProgressiveSpec = FULL) -> str:
    """How this profile's experiment differs from the thesis' setting (:data:`companion.ch3.config.FULL`)."""
    if spec == full:
        return ""
    recipe, paper = spec.recipe, full.recipe
    photographs = len(spec.split.train)
    data = (f"{photographs} embedded photograph{'s' if photographs != 1 else ''}" if spec.source == "bundled"
            else "DIV2K")
    scored = (", ".join(spec.split.test) if spec.eval_sets == ("embedded",) else ", ".join(spec.eval_sets))
    batches, paper_batches = " / ".join(map(str, recipe.batches)), " / ".join(map(str, paper.batches))
    return (f"**This profile against the thesis' setting**: the {spec.size}-size model against the {full.size}-size "
            f"one; {data} against DIV2K's training images; {recipe.patch}-px LR patches at batch {batches} against "
            f"{paper.patch} px at {paper_batches}; "
            f"{recipe.total_steps:,} steps at γ = {recipe.train.lr:g} against {paper.total_steps:,} at "
            f"{paper.train.lr:g}; scored on {scored} against {', '.join(full.eval_sets)}; {spec.seeds} "
            f"seed{'s' if spec.seeds != 1 else ''}. The full profile configures the thesis' experiment for a GPU.")
