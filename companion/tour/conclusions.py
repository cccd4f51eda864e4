"""The conclusions of ``00_quickstart``, rendered from the run's PSNR table (never typed).

:func:`quickstart` returns Markdown paragraphs for ``run.conclude``
(:meth:`companion.session.NotebookRun.conclude`), which keeps them in the results file for the book and returns
the text the notebook displays. Its input is :func:`companion.tour.quickstart.psnr_table`'s table: PSNR (dB,
RGB) of each image over the whole frame and inside each box.
"""
from __future__ import annotations

import math

#: The boxes of :func:`companion.tour.quickstart.distort_two_boxes`, as the prose names them.
BOXES = {"noise": "the noisy box", "blur": "the blurred box", "clean": "the clean middle"}
#: The table's row of the zoo's MEPSNet (``00_quickstart`` adds it when the zoo holds the model).
ZOO_ROW = "MEPSNet (zoo)"


def _change(row: dict, before: dict, box: str) -> str:
    """``row``'s PSNR in ``box`` against ``before``'s, in words."""
    if math.isinf(before[box]):  # the box was left untouched: PSNR against the clean image is infinite
        return f"{BOXES[box]}, untouched before, at {row[box]:.2f} dB" if not math.isinf(row[box]) else \
            f"{BOXES[box]} untouched"
    return f"{BOXES[box]} {row[box] - before[box]:+.2f} dB ({before[box]:.2f} → {row[box]:.2f})"


def _helped_and_hurt(row: dict, before: dict) -> tuple[list[str], list[str]]:
    """The boxes where ``row`` is better than ``before`` and those where it is worse."""
    helped = [BOXES[b] for b in BOXES if row[b] > before[b]]
    hurt = [BOXES[b] for b in BOXES if row[b] < before[b]]
    return helped, hurt


def restorer(table: dict[str, dict[str, float]], name: str, label: str) -> str:
    """One restorer (the table's row ``name``, called ``label``) against the distorted image, box by box."""
    row, distorted = table[name], table["distorted"]
    helped, hurt = _helped_and_hurt(row, distorted)
    out = (f"**{label}** against the distorted image: " + "; ".join(_change(row, distorted, b) for b in BOXES)
           + f"; over the whole frame {row['whole'] - distorted['whole']:+.2f} dB.")
    if helped and hurt:
        out += f" It helps {' and '.join(helped)} and costs {' and '.join(hurt)}."
    elif helped:
        out += f" It helps {' and '.join(helped)} and costs nothing measured here."
    else:
        out += " It helps no box."
    return out


def quickstart(table: dict[str, dict[str, float]]) -> list[str]:
    """The tour's conclusions: what non-local means does to each box, the zoo's MEPSNet beside it when the run
    had it, and, when one global filter helps one region while it hurts another, why Chapter 7 exists."""
    paragraphs = [restorer(table, "restored", "Non-local means (one filter for the whole frame)")]
    if ZOO_ROW in table:
        paragraphs.append(restorer(table, ZOO_ROW, "The zoo's MEPSNet") + " (The astronaut is one of its "
                          "training photographs, with other distortions: a demonstration, not a held-out test.)")
    helped, hurt = _helped_and_hurt(table["restored"], table["distorted"])
    if helped and hurt:
        paragraphs.append("One filter applied to the whole frame cannot suit every region: that is what Chapter 7's "
                          "region-aware models (notebooks 07a–07d) address.")
    return paragraphs
