"""The conclusions of Chapter 7's model notebooks, rendered from the run's measurements (never typed): each
function returns Markdown paragraphs for ``run.conclude`` (:meth:`companion.session.NotebookRun.conclude`),
which keeps them in the results file for the book and returns the text the notebook displays.

* :func:`shdd`: ``07a_shdd`` (how many regions each level gives, which distortions cover the pixels, what
  was written);
* :func:`table_7_1`: ``07b_mepsnet_training`` (Table 7.1: the +1 dB target on validation, the test gains,
  the paper's order as paired claims);
* :func:`sharing`: ``07c_ablations``, why its quick base is what it is (parameter counts, ours and the paper's);
* :func:`ablations`: ``07c_ablations`` (Tables 7.3 / 7.4, Fig. 7.6: the claims' verdicts);
* :func:`experts`: ``07d_what_experts_learn`` (where each expert responds, t-SNE, spectra, fusion weights).
* :func:`table_7_2` and :func:`routing`: ``07e_recognition_after_restoration`` (Table 7.2, or what the full
  profile needs for it; the image-level routing experiment's coverage, PSNR and verdicts).
"""
from __future__ import annotations

from collections import Counter

import numpy as np


def _verdict_counts(claims: list[dict]) -> str:
    counts = Counter(c["verdict"] for c in claims)
    return ", ".join(f"{counts[v]} {v}" for v in ("agrees", "disagrees", "unclear") if counts[v])


def shdd(region_stats: dict[str, dict], lines: dict[str, int], train_images: dict[str, int], *,
         plans: int) -> list[str]:
    """07a's conclusions from :func:`companion.ch7.shdd_figures.region_statistics` (``region_stats``), the
    number of cutting lines of each level (``lines``: :data:`companion.ch7.shdd.LEVELS`) and the training images
    written per level (``train_images``)."""
    counts = "; ".join(
        f"{level} ({lines[level]} lines): {s['mean_regions']:.2f} regions on average, "
        f"{min(s['regions'])}–{max(s['regions'])}" for level, s in region_stats.items())
    first = next(iter(region_stats.values()))
    shares = ", ".join(f"{kind} {share:.0%}" for kind, share in
                       sorted(first["pixel_share"].items(), key=lambda item: -item[1]))
    spread = max(first["pixel_share"].values()) - min(first["pixel_share"].values())
    written = ", ".join(f"{level} {n:,}" for level, n in train_images.items())
    return [f"**Regions per image**, measured over {plans:,} sampled plans per level: {counts}. The thesis names "
            "the levels by how often the image is chopped; the counts are what that reading gives "
            "(`companion.ch7.shdd.plan_regions`).",
            f"**Which distortion covers the pixels** ({next(iter(region_stats))} level): {shares}. Each region "
            "draws its type uniformly, identity included (`companion.ch7.shdd.plan_regions`), so the shares "
            + ("stay within " if spread <= 0.05 else "differ by ") + f"{spread:.0%} of each other"
            + ("." if spread <= 0.05 else ": more plans would even them out."),
            f"**Training images written** per level: {written}."]


def table_7_1(gains: dict[str, dict], orders: dict[str, tuple[str, bool]], claims: list[dict], *, level: str,
              seeds: int, target: float = 1.0) -> list[str]:
    """07b's conclusions from :func:`companion.ch7.experiments.record_gains` (``gains``),
    :func:`~companion.ch7.experiments.record_order` (``orders``) and
    :func:`~companion.ch7.experiments.order_claims` (``claims``)."""
    reached = [label for label, g in gains.items() if g["reached"]]
    missed = [label for label, g in gains.items() if not g["reached"]]
    by_validation = sorted(gains, key=lambda label: -gains[label]["validation_gain"])
    target_text = (f"**The +{target:g} dB target, judged on the validation images** ({level} level, mean over "
                   f"{seeds} seeds): " + (f"reached by every model" if not missed else
                                          f"reached by {', '.join(reached) or 'no model'}; missed by "
                                          f"{', '.join(missed)}") + ". Validation gains: "
                   + ", ".join(f"{label} {gains[label]['validation_gain']:+.2f} dB" for label in by_validation)
                   + ".")
    by_test = sorted(gains, key=lambda label: -gains[label]["test_gain"])
    test_text = (f"**The reported number, the test gain** over the distorted input on {level} (scored once, never "
                 "used to choose): " + ", ".join(f"{label} {gains[label]['test_gain']:+.2f} ± "
                                                  f"{gains[label]['test_std']:.2f} dB" for label in by_test) + ".")
    same = [level_name for level_name, (_, is_same) in orders.items() if is_same]
    order_text = ("**Table 7.1's order** (worst to best by mean test PSNR): "
                  + "; ".join(f"{level_name}: {text}" for level_name, (text, _) in orders.items())
                  + (". It matches the paper's on " + ", ".join(same) if same else
                     ". It matches the paper's on no level") + ".")
    agreeing = [c["claim"] for c in claims if c["verdict"] == "agrees"]
    claims_text = (f"**The paper's order as paired claims** (each neighbour pair, 95 % interval over seeds × test "
                   f"images): {_verdict_counts(claims)} of {len(claims)}"
                   + (f"; agreeing: {', '.join(agreeing)}." if agreeing else "."))
    return [target_text, test_text, order_text, claims_text]


def sharing(fractions: dict[str, dict]) -> list[str]:
    """Why 07c's quick base shares as it does, from :func:`companion.ch7.experiments.sharing_fractions`."""
    parts = [f"{name}: {row['without']:,} → {row['with']:,} parameters ({row['removed']:.0%} removed)"
             for name, row in fractions.items()]
    return ["**Parameter sharing has to matter for the ablation to show it.** With 07b's quick MEPSNet the "
            "template bank holds about as many weights as the plain convolutions it replaces, so its quick "
            "ablations start from a base whose sharing removes a fraction of the parameters like the paper's "
            "(`companion.ch7.config`, `ablation_base`). Counted: " + "; ".join(parts) + "."]


def ablations(claims: list[dict]) -> list[str]:
    """07c's conclusions from :func:`companion.ch7.experiments.ablation_claims`."""
    lines = [f"- {c['entry']}, {c['claim']}: **{c['verdict']}** ({c['detail']})" for c in claims]
    return [f"**The thesis' ablation claims at this scale** (paired 95 % intervals over seeds × test images): "
            f"{_verdict_counts(claims)} of {len(claims)}.", "\n".join(lines)]


def experts(measurements: list[dict]) -> list[str]:
    """07d's conclusions from its recorded measurements (``run.measurements``: ``expert_response/<type>``,
    ``tsne/silhouette_*``, ``psd_alpha/<type>`` as [clean, distorted, restored], ``fusion/<type>``)."""
    values = {m["key"]: m["value"] for m in measurements}

    def by_type(prefix: str) -> dict[str, list[float]]:
        return {key[len(prefix):]: value for key, value in values.items() if key.startswith(prefix)}

    paragraphs = []
    response = by_type("expert_response/")
    if response:
        experts_count = len(next(iter(response.values())))
        lines = []
        for k in range(experts_count):
            most = max(response, key=lambda kind: response[kind][k])
            least = min(response, key=lambda kind: response[kind][k])
            lines.append(f"expert {k + 1} most inside {most} ({response[most][k]:.2f}×), least inside {least} "
                         f"({response[least][k]:.2f}×)")
        shared = {max(response, key=lambda kind: response[kind][k]) for k in range(experts_count)}
        paragraphs.append("**Where each expert responds** (its mean |activation| inside a type's regions over its "
                          "mean everywhere): " + "; ".join(lines) + "."
                          + (" Every expert responds most to the same type, so at this scale they do not split "
                             "the work by distortion as Fig. 7.7 reads the paper's." if len(shared) == 1 else ""))
    if "tsne/silhouette_features" in values:
        features = values["tsne/silhouette_features"]
        shape = ("near zero: the distortion types do not form separate clusters in the experts' features"
                 if abs(features) < 0.1 else "positive: the types form clusters" if features > 0 else
                 "negative: pixels sit nearer other types' pixels than their own")
        paragraphs.append(f"**t-SNE of the expert features by type**: silhouette {features:+.3f} in feature space "
                          f"({shape}); {values.get('tsne/silhouette_embedding', float('nan')):+.3f} in the 2-D "
                          f"embedding; the distorted input's RGB at the same pixels "
                          f"{values.get('tsne/silhouette_input_rgb', float('nan')):+.3f}. The embedding's score "
                          "moves by about ±0.01 with float-level differences (another CPU; docs/decisions.md), so "
                          "the feature-space score is the one to read.")
    alphas = by_type("psd_alpha/")
    if alphas:
        back = [kind for kind, (clean, distorted, restored) in alphas.items()
                if abs(restored - clean) < abs(distorted - clean)]
        away = [kind for kind in alphas if kind not in back]
        paragraphs.append("**Spectra** (fitted slope α of the radial power spectrum, clean → distorted → restored): "
                          + "; ".join(f"{kind} {c:.2f} → {d:.2f} → {r:.2f}" for kind, (c, d, r) in alphas.items())
                          + ". Restoration brings α closer to the clean image's for "
                          + (", ".join(back) or "no type") + ("; not for " + ", ".join(away) if away else "") + ".")
    fusion = by_type("fusion/")
    if fusion:
        rows = list(fusion.values())
        across_types = max(max(col) - min(col) for col in zip(*rows))
        across_experts = min(max(row) - min(row) for row in rows)
        paragraphs.append("**Fusion weights** (mean weight S per expert, by the type of a single-type crop): "
                          + "; ".join(f"{kind} " + " / ".join(f"{w:.3f}" for w in row) for kind, row in
                                      fusion.items())
                          + f". They change by at most {across_types:.3f} from one type to another and by at "
                          f"least {across_experts:.3f} from one expert to another: the fusion "
                          + ("weighs experts, not distortions." if across_types < across_experts else
                             "changes with the distortion as much as with the expert."))
    return paragraphs


def table_7_2(outcome: dict, paper_rows: dict[str, dict]) -> list[str]:
    """07e's Table 7.2 conclusions from :func:`companion.ch7.recognition.table_7_2` (``outcome``) and the paper's
    rows (``paper_rows``: row label -> {column: value}, from ``companion/paper/thesis.json``)."""
    paper = paper_rows
    point = (f"restoration wins back part of the recognition that distortion costs (the thesis' detection mAP: "
             f"clean {paper['Clean']['Detection mAP']:g}, distorted {paper['Distorted']['Detection mAP']:g}, MEPSNet "
             f"{paper['MEPSNet']['Detection mAP']:g})")
    result = outcome.get("result")
    if outcome["mode"] != "coco" or result is None:
        why = (f"This profile ran the whole pipeline (SHDD distortion, every Table 7.1 model, Faster / Mask R-CNN, "
               f"torchmetrics' mAP) on {result['images']} made images with small randomly initialised detectors: its "
               "numbers check the code and say nothing about the paper" if result is not None else
               outcome["why"][:1].upper() + outcome["why"][1:])
        return [f"**Table 7.2 is measured by the full profile only.** {why}. The point the full run tests: {point}."]
    rows = result["rows"]

    def mean(row, column="Detection mAP"):
        return float(np.nanmean(rows[row][column]))

    clean, distorted = mean("Clean"), mean("Distorted")
    models = [r for r in rows if r not in ("Clean", "Distorted")]
    above = [r for r in models if mean(r) > distorted]
    shares = {r: (mean(r) - distorted) / (clean - distorted) if clean != distorted else float("nan") for r in models}
    paper_share = ((paper["MEPSNet"]["Detection mAP"] - paper["Distorted"]["Detection mAP"])
                   / (paper["Clean"]["Detection mAP"] - paper["Distorted"]["Detection mAP"]))
    table = "; ".join(f"{r} {mean(r):.1f} / {mean(r, 'Segmentation mAP'):.1f}" for r in rows)
    return [f"**Table 7.2, measured** on {result['images']} COCO images (SHDD {result['level']} level; box / mask "
            f"mAP): {table}.",
            f"**Distortion costs** {clean - distorted:.1f} points of detection mAP (the thesis: "
            f"{paper['Clean']['Detection mAP'] - paper['Distorted']['Detection mAP']:.1f}). Restoration wins some back "
            f"for {', '.join(above) or 'no model'}" + (f"; not for {', '.join(r for r in models if r not in above)}"
                                                       if len(above) < len(models) else "")
            + ". Share of the loss won back: " + ", ".join(f"{r} {s:.0%}" for r, s in shares.items())
            + f" (the thesis' MEPSNet: {paper_share:.0%}). The point tested: {point}."]


def routing(coverage: dict, summary: dict, claims: list[dict], agreement: dict, *, level: str,
            restorer_steps: int, mepsnet_steps: float) -> list[str]:
    """07e's routing conclusions from :func:`companion.ch7.routing.top1_coverage` (``coverage``),
    :func:`~companion.ch7.routing.summarise`, :func:`~companion.ch7.routing.routing_claims` and
    :func:`~companion.ch7.routing.agreement`; the steps of the per-type restorers and of the MEPSNets."""
    pooled = coverage["all"]
    splits = ", ".join(f"{s} {c['below_half']:.0%} of {len(c['shares'])}" for s, c in coverage.items() if s != "all")
    below = int(round(pooled["below_half"] * len(pooled["shares"])))
    first = [f"**The top-1 label covers less than half of the damage** in {below} of {len(pooled['shares'])} "
             f"images ({pooled['below_half']:.0%}) of the SHDD {level} copy ({splits}; {pooled['undistorted']} "
             "images with no distorted pixel left out), counted on the label maps "
             "(`companion.ch7.routing.top1_share`). An image-level router leaves the rest of those images' damage to a "
             "restorer trained for another distortion."]
    ranked = sorted((s for s in summary if s != "distorted input"), key=lambda s: -summary[s]["psnr"][0])
    psnr = "; ".join(f"{s} {summary[s]['psnr'][0]:.2f} ± {summary[s]['psnr'][1]:.2f} dB" for s in ranked)
    psnr += f" (the distorted input: {summary['distorted input']['psnr'][0]:.2f} dB)"
    top1 = agreement["top1"]
    identity = agreement["identity"]
    second = (f"**PSNR on the test images**, best first (mean ± std over {len(top1)} seeds): {psnr}. The "
              f"classifier's label is the true top-1 label on {np.mean(top1):.0%} of the test images (per seed "
              + ", ".join(f"{v:.0%}" for v in top1) + f"); it says identity on {np.mean(identity):.0%}.")
    lines = [f"- {c['claim']}: **{c['verdict']}** ({c['detail']})" for c in claims]
    third = (f"**Verdicts** (paired 95 % intervals over seeds × test images): {_verdict_counts(claims)} of "
             f"{len(claims)}.\n\n" + "\n".join(lines))
    fourth = (f"**What the MEPSNet rows compare.** The per-type restorers train {restorer_steps:,} steps each on "
              f"whole-image single distortions; the MEPSNets are 07b's models of this profile, {mepsnet_steps:,.0f} "
              "steps on SHDD itself. Image-level against region-level routing uses the same restorers, so that "
              "comparison is about routing alone; against MEPSNet, the training budget and data differ as well.")
    return first + [second, third, fourth]
