"""Numbers over seeds, and the paper's claims checked against them; shared by every chapter's experiments.

* :func:`mean_std` and :func:`pm`: mean ± sample standard deviation over seeds, and its text;
* :func:`verdict` / :func:`check_claims`: a claim "A beats B" *agrees* when A is ahead by more than the
  combined seed spread ``hypot(std_A, std_B)``, *disagrees* when it is behind by more than that, and is
  *unclear* otherwise (a difference smaller than the seeds' spread is not a difference);
* :func:`markdown_table`: rows of cells as a Markdown table;
* :func:`record_mean_std`: keep one mean ± std in a notebook's results, beside the paper cell it reproduces.
"""
from __future__ import annotations

import math

import numpy as np

VERDICTS = ("agrees", "disagrees", "unclear")


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


def verdict(better: tuple[float, float], worse: tuple[float, float]) -> tuple[str, float, float]:
    """(verdict, difference, spread) of the claim "``better`` beats ``worse``", each a (mean, std)."""
    diff, spread = better[0] - worse[0], math.hypot(better[1], worse[1])
    if not math.isfinite(diff):
        return "unclear", diff, spread
    return ("agrees" if diff > spread else "disagrees" if diff < -spread else "unclear"), diff, spread


def check_claims(claims, *, unit: str = "dB") -> list[dict]:
    """Check ``claims``: (entry, claim text, better (mean, std), worse (mean, std)) tuples. Returns one dict
    per claim with ``entry``, ``claim``, ``verdict`` and ``detail`` (the difference and the seed spread)."""
    out = []
    for entry, claim, better, worse in claims:
        v, diff, spread = verdict(better, worse)
        out.append({"entry": entry, "claim": claim, "verdict": v,
                    "detail": f"difference {diff:+.3f} {unit}, seed spread {spread:.3f} {unit}"})
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
    import numpy as np

    losses = np.asarray(losses, dtype=float)
    if not losses.size:
        return []
    edges = np.linspace(0, losses.size, min(points, losses.size) + 1).astype(int)
    means = [(int(b), float(losses[a:b].mean())) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    return [[b, m if digits is None else round(m, digits)] for b, m in means]
