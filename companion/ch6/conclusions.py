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


# --------------------------------------------------------------------------------------------------------
# 06c_detection (§6.3.2, Tables 6.2-6.3, Fig. 6.3): rendered from companion.ch6.detection.summarise and
# companion.ch6.detection.claims; the paper's numbers come from companion/paper/thesis.json.


def _maps(values, thresholds) -> str:
    return " / ".join(f"{values[t]:.3f}" for t in thresholds)


def _verdict(checked: list[dict], entry: str, words: str) -> str:
    """``"<claim>: <verdict> (<interval>)"`` for the first checked claim of ``entry`` whose text holds ``words``."""
    for c in checked:
        if c["entry"] == entry and words in c["claim"]:
            return f"{c['claim']}: **{c['verdict']}** ({c['detail']})"
    return ""


#: Two measured speeds closer than this share of the faster are "about the same": medians of a few CPU calls move
#: by that much from one run to the next on a shared 2-core machine, and the timings carry no interval.
SPEED_TIE = 0.10


def about_as_fast(x: float, y: float) -> bool:
    """Whether two frames-per-second figures are within :data:`SPEED_TIE` of the faster one."""
    return abs(x - y) <= SPEED_TIE * max(x, y)


def detection_backbones(summary: dict, checked: list[dict], paper: dict[str, dict]) -> str:
    """Table 6.2: each backbone's mAP beside the thesis', the verdict, and the measured speeds."""
    thresholds, labels = summary["thresholds"], summary["labels"]
    backbones = [b for (b, tr, te) in summary["rows"] if (tr, te) == ("basic", "basic")]
    ours = "; ".join(f"{labels[b]} {_maps({t: summary['rows'][b, 'basic', 'basic'][t][0] for t in thresholds}, thresholds)}"
                     for b in backbones)
    theirs = "; ".join(f"{labels[b]} {_maps({t: paper[labels[b]][f'mAP@{t:g}'] for t in thresholds}, thresholds)}"
                       for b in backbones if labels[b] in paper)
    out = (f"**Table 6.2** (trained and tested on basic, mAP at IoU {' / '.join(f'{t:g}' for t in thresholds)}): "
           f"ours {ours}; the thesis {theirs}.")
    verdict = _verdict(checked, "Table 6.2", "better than")
    if verdict:
        out += f" {verdict[0].upper() + verdict[1:]}."
    fps = summary["fps"]
    if len(backbones) > 1:
        a, b = backbones[0], backbones[1]
        paper_faster = labels[a] if paper[labels[a]]["FPS"] > paper[labels[b]]["FPS"] else labels[b]

        def faster(speeds: dict) -> str:
            if about_as_fast(speeds[a], speeds[b]):
                return (f"the two run at about the same speed (within {SPEED_TIE:.0%} of each other), so the "
                        "thesis' order is not seen")
            winner = labels[a] if speeds[a] > speeds[b] else labels[b]
            return f"{winner} is the faster, {'as in' if winner == paper_faster else 'unlike'} the thesis"

        out += (f" Speed, one image at a time on {summary['device']} ({summary['threads']} thread(s)), against the "
                f"thesis' GPU timing ({paper[labels[a]]['FPS']:g} and {paper[labels[b]]['FPS']:g} frames per "
                f"second): the trained detectors run at {fps[a]:.1f} ({labels[a]}) and {fps[b]:.1f} ({labels[b]}) "
                f"images per second, so at this width {faster(fps)}")
        if summary["paper_fps"]:
            p = summary["paper_fps"]
            out += f"; the paper-size networks run at {p[a]:.2f} and {p[b]:.2f}, so at paper size {faster(p)}"
        out += "."
    return out


def detection_transfer(summary: dict, checked: list[dict], paper: dict[str, dict]) -> str:
    """Table 6.3: the four train → test rows beside the thesis', the two verdicts, and the fall of the basic-trained
    detector on difficult images as the IoU threshold tightens."""
    thresholds, backbone = summary["thresholds"], summary["transfer_backbone"]
    rows = []
    for train_set in ("basic", "difficult"):
        for test_set in ("basic", "difficult"):
            label = f"{train_set}->{test_set}"
            ours = {t: summary["rows"][backbone, train_set, test_set][t][0] for t in thresholds}
            theirs = {t: paper[label][f"mAP@{t:g}"] for t in thresholds}
            rows.append(f"{train_set} → {test_set} {_maps(ours, thresholds)} (thesis {_maps(theirs, thresholds)})")
    out = (f"**Table 6.3** ({summary['labels'][backbone]}, train set → test set, mAP at IoU "
           f"{' / '.join(f'{t:g}' for t in thresholds)}): " + "; ".join(rows) + ".")
    for words in ("on basic test images", "on difficult test images"):
        verdict = _verdict(checked, "Table 6.3", words)
        if verdict:
            out += f" {verdict[0].upper() + verdict[1:]}."
    lo, hi = min(thresholds), max(thresholds)
    ours = summary["rows"][backbone, "basic", "difficult"]
    theirs = paper["basic->difficult"]
    out += (f" Trained on basic and tested on difficult, the mAP goes from {ours[lo][0]:.3f} at IoU {lo:g} to "
            f"{ours[hi][0]:.3f} at {hi:g} (thesis: {theirs[f'mAP@{lo:g}']:.3f} to {theirs[f'mAP@{hi:g}']:.3f}).")
    return out


def _size_leaders(summary: dict, iou: float) -> tuple[list[str], list[bool]]:
    """Per test set, in which size bins (AP at ``iou``) each training set's detector is ahead; and, per test set
    where both lead somewhere, whether the difficult-trained one leads only on smaller regions than the
    basic-trained one."""
    parts, pattern = [], []
    for test_set in ("basic", "difficult"):
        basic = (summary["sizes"].get(("basic", test_set)) or {}).get(iou) or []
        difficult = (summary["sizes"].get(("difficult", test_set)) or {}).get(iou) or []
        ahead_basic, ahead_difficult, ties = [], [], []
        for a, b in zip(basic, difficult):
            if not a["regions"] or not (a["ap"] == a["ap"] and b["ap"] == b["ap"]):
                continue
            where = ((a["low"] + a["high"]) / 2, f"[{a['low']:g}, {a['high']:g})")
            (ahead_basic if a["ap"] > b["ap"] else ahead_difficult if b["ap"] > a["ap"] else ties).append(where)
        text = (f"on {test_set} test images the basic-trained detector leads in "
                + (", ".join(w for _, w in ahead_basic) or "no bin") + ", the difficult-trained one in "
                + (", ".join(w for _, w in ahead_difficult) or "no bin"))
        parts.append(text + (f" (tied in {', '.join(w for _, w in ties)})" if ties else ""))
        if ahead_basic and ahead_difficult:
            pattern.append(max(c for c, _ in ahead_difficult) < min(c for c, _ in ahead_basic))
    return parts, pattern


def detection_region_size(summary: dict) -> str:
    """Fig. 6.3: on each test set and at each IoU threshold, in which size bins the detector trained on basic and
    the one trained on difficult lead, against the thesis' reading (basic-trained better on large regions,
    difficult-trained on small ones)."""
    ious = summary["size_ious"]
    sentences = []
    for iou in ious:
        parts, pattern = _size_leaders(summary, iou)
        text = f"at IoU {iou:g}" + (" (the figure's)" if iou == ious[0] and len(ious) > 1 else "") + ", "
        text += "; ".join(parts)
        if pattern and all(pattern):
            text += ": where both lead somewhere, the difficult-trained detector leads on the smaller regions and " \
                    "the basic-trained one on the larger, the thesis' reading"
        elif pattern:
            text += ": the bins do not split into small regions won by the difficult-trained detector and large " \
                    "ones won by the basic-trained one, as the thesis reads its figure"
        else:
            text += ": within a test set no bin goes one way and another bin the other, so the size split the " \
                    "thesis reads is not seen"
        sentences.append(text[0].upper() + text[1:] + ".")
    return ("**Fig. 6.3** (AP per region size ratio √(w·h)/300, pycocotools' area ranges as bins). "
            + " ".join(sentences))


def detection_scale(summary: dict) -> str:
    """How this run differs from the thesis' setting."""
    starts = ", ".join(summary["start_texts"])
    steps = " / ".join(str(s) for s in summary["steps"])
    seeds = summary["seeds"]
    return (f"**Scale**: these detectors have {summary['width']:g}× the channels of the paper's networks, start "
            f"as: {starts}, and trained for {steps} steps on the profile's references (the thesis: 804 Flickr "
            f"photographs, ImageNet backbones fine-tuned on classification, full SSD300). With {seeds} seed"
            f"{'s' if seeds != 1 else ''}, the verdicts resample "
            f"{'seeds and ' if seeds > 1 else ''}test images; compare the pattern across rows, not the absolute mAP.")


def detection_results(summary: dict, checked: list[dict], paper_6_2: dict[str, dict],
                      paper_6_3: dict[str, dict]) -> list[str]:
    """The conclusions of ``06c_detection``: Table 6.2, Table 6.3, Fig. 6.3 and the run's scale."""
    return [detection_backbones(summary, checked, paper_6_2), detection_transfer(summary, checked, paper_6_3),
            detection_region_size(summary), detection_scale(summary)]


# --------------------------------------------------------------------------------------------------------
# 06b_classification (§6.3.2, Table 6.1, Fig. 6.2): rendered from companion.ch6.classification's table rows,
# claims and confusions; the paper's numbers come from companion/paper/thesis.json.

#: Table 6.1's accuracy columns (companion/paper/thesis.json) of the rows' "frozen" and "tuned" slots.
_PAPER_COLUMNS = {"frozen": "Acc w/o finetuning", "tuned": "Acc w/ finetuning"}
_TYPE_WORDS = {"gaussian_noise": "Gaussian white noise", "gaussian_blur": "Gaussian blur",
               "salt_and_pepper": "salt & pepper", "quantization": "quantization", "jpeg": "JPEG",
               "low_resolution": "low-pass", "nl_means_denoising": "denoising", "f_noise": "f-noise"}


def _accuracy(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def classification_accuracy(rows: list[dict], paper: dict[str, dict], test_images: int, classes: int) -> str:
    """Table 6.1's accuracies: ours (test, without / with fine-tuning, and the type accuracy) beside the thesis',
    and which model is best with fine-tuning, in ours and in the thesis."""
    parts = []
    for r in rows:
        theirs = paper.get(r["label"], {})
        parts.append(f"{r['label']} {_accuracy(r['frozen'])} / {_accuracy(r['tuned'])} (type "
                     f"{_accuracy(r['type_frozen'])} / {_accuracy(r['type_tuned'])}; thesis "
                     f"{theirs.get(_PAPER_COLUMNS['frozen'], '–')} / {theirs.get(_PAPER_COLUMNS['tuned'], '–')})")
    out = (f"**Table 6.1** (test accuracy over {classes} classes on {test_images} images, without / with fine-tuning; "
           f"the type accuracy ignores the level): " + "; ".join(parts) + ".")
    tuned = [r for r in rows if r["tuned"] is not None]
    if tuned:
        ours = max(tuned, key=lambda r: r["tuned"])
        known = [r for r in tuned if _PAPER_COLUMNS["tuned"] in paper.get(r["label"], {})]
        theirs = max(known, key=lambda r: paper[r["label"]][_PAPER_COLUMNS["tuned"]]) if known else None
        out += f" With fine-tuning (or from scratch) {ours['label']} is best here"
        out += (f", as in the thesis." if theirs is not None and theirs["label"] == ours["label"] else
                f"; in the thesis {theirs['label']} is." if theirs is not None else ".")
    inits = sorted({r["init"] for r in rows if r["init"]})
    if inits:
        out += " Starting points: " + "; ".join(inits) + "."
    return out


def classification_speed(rows: list[dict], paper: dict[str, dict], where: str) -> str:
    """Frames per second: our order of the models (the paper-width networks when timed, else the trained ones)
    against the thesis' order."""
    key = "paper_fps" if all(r["paper_fps"] is not None for r in rows) else "fps"
    ours = sorted(rows, key=lambda r: -r[key])
    known = [r for r in rows if "FPS" in paper.get(r["label"], {})]
    theirs = sorted(known, key=lambda r: -paper[r["label"]]["FPS"])
    what = "paper-width networks" if key == "paper_fps" else "trained networks"
    out = (f"**Speed** ({what}, {where}), fastest first: "
           + ", ".join(f"{r['label']} {r[key]:.1f}" for r in ours) + " frames per second")
    if theirs:
        out += "; the thesis: " + ", ".join(f"{r['label']} {paper[r['label']]['FPS']}" for r in theirs)
        same = [r["label"] for r in ours if r in theirs] == [r["label"] for r in theirs]
        out += ". The order is the thesis' own." if same else \
            ". The order differs from the thesis' (its GPU, and batch sizes it does not give, are not this machine)."
    else:
        out += "."
    fps = {r["model"]: r[key] for r in rows}
    if {"resnet101", "vgg16", "atrous_vgg16"} <= set(fps):
        slowest = fps["resnet101"] < min(fps["vgg16"], fps["atrous_vgg16"]) and not \
            about_as_fast(fps["resnet101"], min(fps["vgg16"], fps["atrous_vgg16"]))
        tied = about_as_fast(fps["atrous_vgg16"], fps["vgg16"])
        faster = fps["atrous_vgg16"] > fps["vgg16"] and not tied
        out += (f" §6.3.2 says ResNet-101 is much slower than the VGG family: {'so' if slowest else 'not'} here; "
                f"and that Atrous VGG-16 is faster than VGG-16 (its FC layers are subsampled): "
                + ("so here." if faster else
                   f"about the same here (within {SPEED_TIE:.0%})." if tied else
                   "not here (its conv5 and fc6 work at 1/8 of the input's side, VGG-16's conv5 at 1/16)."))
    return out


def classification_claims(checked: list[dict]) -> str:
    """Each of Table 6.1's claims with its verdict and paired interval."""
    if not checked:
        return ""
    counts = {v: sum(c["verdict"] == v for c in checked) for v in ("agrees", "disagrees", "unclear")}
    lines = "; ".join(f"{c['claim']}: **{c['verdict']}** ({c['detail']})" for c in checked)
    return (f"**The thesis' claims**, on the paired per-image correctness of the test images "
            f"({counts['agrees']} agree, {counts['disagrees']} disagree, {counts['unclear']} unclear): {lines}.")


def _pair(p: dict) -> str:
    return f"{_TYPE_WORDS[p['true']]} → {_TYPE_WORDS[p['predicted']]}"


def classification_confusions(confusions: dict) -> str:
    """Fig. 6.2: whether the chosen classifier confuses the thesis' pairs, read off its measured test confusion
    matrix, and which type pairs it confuses most."""
    parts = []
    for p in confusions["pairs"]:
        if p["count"]:
            parts.append(f"{_pair(p)}: yes, {p['count']} of {p['of']} images (rank {p['rank']} of the off-diagonal "
                         f"cells)")
        else:
            parts.append(f"{_pair(p)}: no, none of {p['of']} images")
    top = "; ".join(f"{_pair(p)} {p['count']} ({p['share']:.0%} of {_TYPE_WORDS[p['true']]})"
                    for p in confusions["top"])
    return (f"**Fig. 6.2's confusions** in the test confusion matrix of {confusions['label']} (the best validation "
            f"accuracy): " + "; ".join(parts) + ". Most confused type pairs: " + (top or "none, every type is right")
            + ".")


def classification_scale(cfg, results: dict) -> str:
    """How this run differs from the thesis' experiment."""
    runs = results["runs"].values()
    sources = sorted({"trained here" if s["source"] == "trained" else "from the model zoo"
                      for r in runs for s in r["seeds"]})
    random_start = any(r["init_text"].startswith("random") and r["regime"] != "scratch" for r in runs)
    out = (f"**Scale**: {results['test_images']} test and {results['val_images']} validation images "
           f"({'the bundled photographs' if cfg.source == 'bundled' else 'your references'}), "
           f"{cfg.crop} px centre crops, recognisers at width {cfg.width:g}, {cfg.seeds} seed(s), weights "
           f"{' and '.join(sources)}.")
    if random_start:
        out += (" The recognisers start from random weights, so the frozen regime is a linear classifier on random "
                "features, not on ImageNet features as in the thesis, and fine-tuning is training from scratch; the "
                "thesis' point is what pretraining adds, which only the full profile (ImageNet weights in "
                "torchvision's cache) can test.")
    return out


def distortion_classification(rows: list[dict], paper: dict[str, dict], checked: list[dict], confusions: dict,
                              results: dict, cfg) -> list[str]:
    """The conclusions of ``06b_classification``: Table 6.1's accuracies and speeds, the claims, Fig. 6.2's
    confusions and the run's scale."""
    where = f"{results['device']}, {results['threads']} thread(s)"
    classes = len(next(iter(results["runs"].values()))["seeds"][0]["test"]["confusion"])
    return [p for p in (classification_accuracy(rows, paper, results["test_images"], classes),
                        classification_speed(rows, paper, where), classification_claims(checked),
                        classification_confusions(confusions), classification_scale(cfg, results)) if p]
