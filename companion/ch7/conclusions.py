"""The conclusions of Chapter 7's model notebooks, rendered from the run's measurements (never typed): each
function returns Markdown paragraphs for ``run.conclude`` (:meth:`companion.session.NotebookRun.conclude`),
which keeps them in the results file for the book and returns the text the notebook displays.

* :func:`shdd`: ``07a_shdd`` (how many regions each level gives, which distortions cover the pixels, what
  was written);
* :func:`table_7_1`: ``07b_mepsnet_training`` (Table 7.1: the +1 dB target on validation, the test gains,
  the paper's order as paired claims);
* :func:`sharing`: ``07c_ablations``, why its quick base is what it is (parameter counts, ours and the paper's);
* :func:`ablations`: ``07c_ablations`` (Tables 7.3 / 7.4, Fig. 7.6: the claims' verdicts).
"""
from __future__ import annotations

from collections import Counter


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
