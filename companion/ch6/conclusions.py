"""The conclusions of ``06a_distortion_datasets``, rendered from the run's measurements (never typed).

:func:`distortion_datasets` returns Markdown paragraphs for ``run.conclude``
(:meth:`companion.session.NotebookRun.conclude`), which keeps them in the results file for the book and returns
the text the notebook displays: the severity of the levels (:func:`companion.ch6.measurements.severity_table`), the
detection regions of sampled plans (:func:`companion.ch6.measurements.detection_statistics`) beside §6.2.2's
reported means (:data:`companion.ch6.flickr_distortion.THESIS_MEAN_SIDE_RATIO`), and the classification images
written per reference.
"""
from __future__ import annotations

from companion.ch6.flickr_distortion import DETECTION, FLICKR_LEVELS, FLICKR_TYPES, THESIS_MEAN_SIDE_RATIO


def _name(kind: str) -> str:
    return kind.replace("_", " ")


def severity(table: dict[str, list[float]]) -> str:
    """Whether each type's mean PSNR against the reference falls from the mild level to the severe one."""
    def levels(kind):
        return " → ".join(f"{v:.2f}" for v in table[kind])

    falling = [k for k in table if all(a > b for a, b in zip(table[k], table[k][1:]))]
    other = [k for k in table if k not in falling]
    out = (f"**Severity** (mean RGB PSNR against the reference, mild → severe, dB): the PSNR falls level by level "
           f"for {len(falling)} of the {len(table)} types")
    out += (": " + "; ".join(f"{_name(k)} {levels(k)}" for k in falling) if falling else "") + "."
    if other:
        out += (" It does not for " + "; ".join(f"{_name(k)} {levels(k)}" for k in other) + ": PSNR does not order "
                "these levels, whatever else their severity means.")
    return out


def detection(statistics: dict[str, dict]) -> str:
    """The measured regions per crop and mean side ratio of each detection set, beside the thesis' means."""
    parts, closer = [], []
    for set_name, stats in statistics.items():
        low, high = DETECTION[set_name].ratio
        uniform, thesis = (low + high) / 2, THESIS_MEAN_SIDE_RATIO[set_name]
        parts.append(f"{set_name}: {stats['min_regions']}–{stats['max_regions']} regions a crop "
                     f"(mean {stats['mean_regions']:.2f}), mean side ratio {stats['mean_side_ratio']:.3f} against "
                     f"the thesis' {thesis:g} and a plain uniform draw's {uniform:g}")
        closer.append(abs(stats["mean_side_ratio"] - thesis) < abs(stats["mean_side_ratio"] - uniform))
    plans = {stats["plans"] for stats in statistics.values()}
    out = (f"**Detection regions** ({' / '.join(map(str, sorted(plans)))} sampled plans a set): "
           + "; ".join(parts) + ".")
    if all(closer):
        out += (" Rejection sampling without overlaps pulls every mean below the uniform draw's, closer to the "
                "thesis' reported means than to the uniform ones.")
    elif not any(closer):
        out += " The measured means sit closer to the uniform draw's than to the thesis' reported means."
    else:
        out += " One set's mean sits closer to the thesis', the other's to the uniform draw's."
    return out


def classification(per_reference: float) -> str:
    """Classification images written per reference, against one per type and level (§6.2.1)."""
    levels = {len(FLICKR_LEVELS[k]) for k in FLICKR_TYPES}
    expected = sum(len(FLICKR_LEVELS[k]) for k in FLICKR_TYPES)
    grid = (f"{len(FLICKR_TYPES)} types × {levels.pop()} levels" if len(levels) == 1
            else f"{len(FLICKR_TYPES)} types, each at its levels")
    match = "as §6.2.1 has it" if per_reference == expected else f"where §6.2.1 has {expected}"
    return f"**Classification set**: {per_reference:g} images per reference on disk, {match} ({grid})."


def distortion_datasets(severity_table: dict[str, list[float]], detection_statistics: dict[str, dict],
                        classification_per_reference: float) -> list[str]:
    """The notebook's conclusions: the levels' severity, the detection regions, the classification set's size."""
    return [severity(severity_table), detection(detection_statistics),
            classification(classification_per_reference)]
