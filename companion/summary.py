"""Numbers over seeds, and the paper's claims checked against them; shared by every chapter's experiments.

* :func:`mean_std` and :func:`pm`: mean ± sample standard deviation over seeds, and its text;
* :func:`paired_interval` / :func:`check_claims`: a claim "A beats B" is judged on the **paired** differences
  ``A[s, i] - B[s, i]`` over seeds ``s`` and test images ``i`` (the same seed and image for both). A two-way
  bootstrap (seeds and images resampled independently, with replacement) gives a 95 % percentile interval of
  the mean difference; the claim *agrees* when the whole interval is above zero, *disagrees* when it is below,
  and is *unclear* when it holds zero. Resampling the seeds as well as the images keeps the interval honest
  about training noise: with three seeds a difference must hold for every seed's model to be called;
  resampling images alone would treat 3 × 12 scores as 36 independent ones;
* :func:`markdown_table`: rows of cells as a Markdown table;
* :func:`record_mean_std`: keep one mean ± std in a notebook's results, beside the paper cell it reproduces.
"""
from __future__ import annotations

import math

import numpy as np

VERDICTS = ("agrees", "disagrees", "unclear")
#: The interval's coverage, the bootstrap's resamples and its seed (fixed: a rerun gives the same interval).
CONFIDENCE = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
#: Fewer paired differences than this give "unclear" whatever they say: even when every one has the same sign,
#: a two-sided sign test cannot reject "no difference" at 5 % below six (2 · 2⁻⁵ = 0.0625), and a bootstrap
#: of so few values only restates their range.
MIN_PAIRS = 6


def mean_std(values) -> tuple[float, float]:
    """(mean, sample std) of the finite values (``None``, NaN and inf are left out); std 0 for one value,
    (nan, nan) for none."""
    values = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def pm(value: tuple[float, float], digits: int = 2) -> str:
    """``"33.47 ± 0.05"``."""
    mean, std = value
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _as_seed_image_grid(scores, what: str) -> np.ndarray:
    """``scores`` as a float array of shape (seeds, images): a list of per-seed lists of per-image scores, or a
    plain list of per-seed scores (one image each)."""
    grid = np.asarray(scores, dtype=float)
    if grid.ndim == 1:
        grid = grid[:, None]
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"{what}: expected scores per seed and image (seeds × images), got shape {grid.shape}")
    return grid


def paired_interval(better, worse, *, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                    seed: int = BOOTSTRAP_SEED) -> dict:
    """The claim "``better`` beats ``worse``" judged on paired differences over seeds and images.

    ``better`` and ``worse`` hold one score per (seed, image), the same seeds and images in the same order
    (shape seeds × images; a 1-D list is one score per seed). Returns ``{"verdict", "difference", "low",
    "high", "seeds", "images"}``: the mean paired difference and its two-way bootstrap percentile interval at
    ``confidence`` (seeds and images resampled independently, ``resamples`` times). With one seed and one
    image there is nothing to resample: the interval is the difference itself. Fewer than :data:`MIN_PAIRS`
    paired differences (e.g. the smoke profile's 2 seeds × 1 image) always give "unclear", as do non-finite
    scores.

    What the rule asks, in words: with three seeds a resample draws the worst seed three times in 1 of 27
    cases (3.7 %, more than the 2.5 % tail), so the interval's lower end sits near the worst seed's own mean
    difference, lowered further by the images' spread: "agrees" means every seed's model is ahead, on these
    images, beyond the images' noise. With one seed only the images are resampled, so the verdict says nothing
    about how another training run would come out (the results say how many seeds stood behind each verdict).
    """
    a, b = _as_seed_image_grid(better, "better"), _as_seed_image_grid(worse, "worse")
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have the same shape (seeds × images): {a.shape} against {b.shape}")
    diff = a - b
    seeds, images = diff.shape
    out = {"seeds": seeds, "images": images, "difference": float(diff.mean()) if np.isfinite(diff).all() else
           float("nan"), "low": float("nan"), "high": float("nan"), "verdict": "unclear"}
    if not np.isfinite(diff).all():
        return out
    if seeds * images == 1:
        out["low"] = out["high"] = out["difference"]
        return out
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, seeds, size=(resamples, seeds))
    cols = rng.integers(0, images, size=(resamples, images))
    # mean over the resampled grid = mean over rows r of (mean over the resampled columns of diff[r])
    per_row = diff[:, cols].mean(axis=2)            # seeds × resamples: each seed's mean over resampled images
    means = np.take_along_axis(per_row.T, rows, axis=1).mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    out["low"], out["high"] = float(low), float(high)
    if seeds * images >= MIN_PAIRS:
        out["verdict"] = "agrees" if low > 0 else "disagrees" if high < 0 else "unclear"
    return out


def interval_text(result: dict, unit: str = "dB", digits: int = 3) -> str:
    """``"difference +0.120 dB, 95 % interval [+0.031, +0.204] dB over 3 seeds × 12 images"``."""
    level = round(CONFIDENCE * 100)
    return (f"difference {result['difference']:+.{digits}f} {unit}, {level} % interval "
            f"[{result['low']:+.{digits}f}, {result['high']:+.{digits}f}] {unit} over "
            f"{result['seeds']} seed{'s' if result['seeds'] != 1 else ''} × {result['images']} "
            f"image{'s' if result['images'] != 1 else ''}")


def check_claims(claims, *, unit: str = "dB") -> list[dict]:
    """Check ``claims``: (entry, claim text, better scores, worse scores) tuples, each scores array seeds ×
    images (see :func:`paired_interval`). Returns one dict per claim with ``entry``, ``claim``, ``verdict``,
    ``difference``, ``low``, ``high`` and ``detail`` (the interval in words)."""
    out = []
    for entry, claim, better, worse in claims:
        result = paired_interval(better, worse)
        out.append({"entry": entry, "claim": claim, "verdict": result["verdict"],
                    "difference": result["difference"], "low": result["low"], "high": result["high"],
                    "detail": interval_text(result, unit)})
    return out


def markdown_table(header, rows) -> str:
    """A Markdown table of ``header`` (cell texts) and ``rows`` (lists of cell texts of the same length)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def record_mean_std(run, key: str, value: tuple[float, float], *, digits: int = 2, **where) -> str:
    """``run.record`` of a mean ± std as text (``where``: entry, row, column, protocol, note, status)."""
    return run.record(key, pm(value, digits), **where)


def loss_curve(losses, points: int = 30, digits: int | None = None) -> list[list[float]]:
    """``[[step, mean loss]]`` over ``points`` equal windows of a run (fewer when it is shorter); each mean
    rounded to ``digits`` when given."""
    losses = np.asarray(losses, dtype=float)
    if not losses.size:
        return []
    edges = np.linspace(0, losses.size, min(points, losses.size) + 1).astype(int)
    means = [(int(b), float(losses[a:b].mean())) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    return [[b, m if digits is None else round(m, digits)] for b, m in means]
