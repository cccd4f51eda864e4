"""The conclusions of Chapter 4's notebooks (CutBlur and data augmentation), rendered from each run's
measurements (never typed).

Each function returns Markdown paragraphs for ``run.conclude`` (:meth:`companion.session.NotebookRun.conclude`),
which keeps them in the results file for the book and returns the text the notebook displays. The paper's
numbers come from ``companion/paper``; the thesis' settings from :mod:`companion.ch4.config`.

* ``04a_augmentations``: :func:`augmentations`, from :func:`companion.ch4.gallery.measure_properties`' checks;
* ``04b_cutblur_psd``: :func:`cutblur_psd`, from :mod:`companion.ch4.frequencies`' measurements and claims.
"""
from __future__ import annotations

import numpy as np

from companion.ch4.config import TABLES_FULL, WHERE_FULL, AugmentationsSpec, FrequencySpec, TablesSpec, WhereSpec
from companion.ch4.frequencies import HF_BAND, MODEL_LABELS
from companion.ch4.tables import MODEL_ROWS, TABLE_4_2_ROWS, fraction_column, paper_table
from companion.ch4.where import pm as _spm  # the value alone for one seed
from companion.data.augments import DEFAULT_ALPHAS
from companion.summary import MIN_PAIRS, mean_std, pm

# --------------------------------------------------------------------------------------------------------
# 04a_augmentations


def _check(checks, augmentation: str, words: str):
    """The first check of ``augmentation`` whose property mentions ``words`` (None when there is none)."""
    return next((c for c in checks if c.augmentation == augmentation and words in c.prop), None)


def _holds(check) -> str:
    return "holds" if check.holds else "**does not hold**"


def augmentations(checks: list, spec: AugmentationsSpec) -> list[str]:
    """The conclusions of ``04a_augmentations`` from :func:`companion.ch4.gallery.measure_properties`' checks:
    how many held, what CutBlur, Cutout, Mixup / Blend and MoA do as measured, and what the checks cannot say."""
    identities = [c for c in checks if c.kind == "every draw"]
    rates = [c for c in checks if c.kind == "rate"]
    failed = [c for c in checks if not c.holds]
    paragraphs = [
        f"**Every property checked** ({spec.draws} batches of {spec.batch} patches of {spec.patch} px per check, "
        f"Table 4.1's default α): {sum(c.holds for c in identities)} of {len(identities)} identities held on every "
        f"draw and {sum(c.holds for c in rates)} of {len(rates)} sampled rates agree with their exact expectation "
        "(a rate fails when its test rejects at p below 10⁻⁴)."
        + ("" if not failed else " These did not hold: " + "; ".join(f"{c.row}: {c.prop} (measured "
                                                                    f"{c.measured:.4g}, expected {c.expected:.4g})"
                                                                    for c in failed) + ".")]
    target, pixels, ratio, area = (_check(checks, "cutblur", w) for w in ("target", "every input pixel",
                                                                            "side ratio", "area"))
    if target and pixels and ratio and area:
        paragraphs.append(
            f"**CutBlur (Eq. 4.1)**: the target stays the HQ patch ({_holds(target)}: the largest change over all "
            f"draws is {target.measured:.3g}) and every input pixel is the LR image's or the HR image's "
            f"({_holds(pixels)}: a share of {pixels.measured:.4f}), so CutBlur never makes a pixel that neither "
            f"image has. The box's side ratio averages {ratio.measured:.4f} ± {ratio.error:.4f} against α = "
            f"{DEFAULT_ALPHAS['cutblur']:g} (its exact expectation {ratio.expected:.4f}: sides are whole pixels) and "
            f"its area {area.measured:.4f} of the patch against α² = {DEFAULT_ALPHAS['cutblur'] ** 2:.2f} "
            f"({_holds(area)}).")
    rate, loss = _check(checks, "cutout", "drop rate"), _check(checks, "cutout", "masked L1")
    if rate and loss:
        per_patch = DEFAULT_ALPHAS["cutout"] * spec.patch ** 2
        paragraphs.append(
            f"**Cutout** erases {rate.measured:.5f} ± {rate.error:.5f} of the pixels against α = {rate.expected:g} "
            f"({_holds(rate)}), and the masked L1 equals the mean error over the kept pixels ({_holds(loss)}), so "
            f"an erased pixel never counts in the loss. On the HR grid that is about {per_patch:.1f} pixels of a "
            f"{spec.patch}-px patch; the thesis counts \"2∼3 pixels\" of a 48×48 LR input.")
    mixes = [c for c in checks if c.augmentation in ("mixup", "blend") and c.estimates_alpha]
    convex = [c for c in checks if c.augmentation in ("mixup", "blend", "cutmixup") and "convex" in c.prop]
    if mixes:
        paragraphs.append(
            "**Mixup and Blend** are convex combinations on every draw (" + ", ".join(
                f"{c.row} {_holds(c)}" for c in convex) + "); the α recovered from the draws: " + "; ".join(
                f"{c.row} {c.measured:.3f} ± {c.error:.3f} against {c.expected:g}" for c in mixes) + ".")
    moa = [c for c in checks if c.augmentation.startswith("moa:")]
    if moa:
        paragraphs.append(
            "**MoA** (§4.3.2) picks \"no augmentation\" with probability 1 − p and each augmentation with p·r: "
            + "; ".join(f"preset {c.augmentation.split(':')[1]} {_holds(c)} (largest gap between a share and its "
                        f"probability {c.measured:.3f})" for c in moa) + ".")
    paragraphs.append(
        "These are properties of the companion's implementation at the thesis' settings, measured exactly "
        "(identities) or to the stated precision (rates); they say nothing about what the augmentations do to a "
        "model's PSNR, which notebook 04d measures (Tables 4.2-4.3).")
    return paragraphs


# --------------------------------------------------------------------------------------------------------
# 04b_cutblur_psd


def _flat(grid) -> list[float]:
    return [float(v) for row in grid for v in row]


def _claim(checked: list[dict], words: str) -> dict | None:
    return next((c for c in checked if words in c["claim"]), None)


def _verdict(claim: dict | None) -> str:
    return "not judged" if claim is None else f"*{claim['verdict']}* ({claim['detail']})"


def psd_of_versions(versions: dict) -> str:
    """Fig. 4.3: each version's fitted α and HF log ratio, and which one departs most from the original."""
    v = versions["versions"]
    augmented = [k for k in ("cutout", "mixup", "cutblur") if k in v]
    furthest = max(augmented, key=lambda k: abs(v[k]["hf_ratio"]))
    nearest = min(augmented, key=lambda k: abs(v[k]["hf_ratio"]))
    fits = ", ".join(f"{v[k]['label']} {v[k]['alpha']:.2f}" for k in augmented)
    return (f"**Fig. 4.3** (one seeded draw each): the original's fitted exponent is α = {v['original']['alpha']:.2f} "
            f"(the thesis: natural images lie in [1, 2]); {fits}. Over f in {HF_BAND} cycles/px the PSD moves "
            f"furthest from the original's for {v[furthest]['name']} ({v[furthest]['hf_ratio']:+.3f} in log10) and "
            f"least for {v[nearest]['name']} ({v[nearest]['hf_ratio']:+.3f}). The thesis says CutBlur follows the "
            "original while Cutout and Mixup do not; here CutBlur's version holds the LR image in its box, so its "
            "high frequencies can only fall there, towards the LR image's curve. One draw on one photograph is an "
            "illustration, not a measurement with an interval.")


def hr_input(identity: dict, checked: list[dict]) -> str:
    """Fig. 4.4: both models fed HR test photographs: PSNR to the input, HF excess, the three verdicts."""
    s = identity["scores"]
    n, m = len(identity["seeds"]), len(identity["images"])
    numbers = "; ".join(f"{MODEL_LABELS[k]} {pm(mean_std(_flat(s[k]['identity_psnr'])))} dB to the input, HF "
                        f"excess {pm(mean_std(_flat(s[k]['hf_excess'])), 3)}" for k in s)
    return (f"**Fig. 4.4, an input that is already HR** ({n} seed{'s' if n != 1 else ''} × {m} test photographs, "
            f"mean ± std): {numbers}. The CutBlur model stays nearer the identity: "
            f"{_verdict(_claim(checked, 'stays nearer the identity than'))}. The baseline over-sharpens: "
            f"{_verdict(_claim(checked, 'baseline over-sharpens'))}. It adds more high-frequency power than the "
            f"CutBlur model: {_verdict(_claim(checked, 'adds more high-frequency'))}.")


def real_pair(real: dict | None, checked: list[dict], skipped: str = "") -> str:
    """The real RealSR pair: both tests, or why the section was skipped."""
    if real is None:
        return f"**The real pair (RealSR v1 Canon_003)** was not measured: {skipped}"
    s = real["scores"]
    n = len(real["seeds"])
    numbers = "; ".join(
        f"{MODEL_LABELS[k]}: from the HR image {pm(mean_std(_flat(s[k]['identity_psnr'])))} dB to it, from the real LR "
        f"image {pm(mean_std(_flat(s[k]['real_psnr'])))} dB to HR" for k in s)
    few = (f" With one image and {n} seed{'s' if n != 1 else ''} there are fewer than {MIN_PAIRS} pairs, so the "
           "verdicts are \"unclear\" by rule whatever the differences' signs." if n < MIN_PAIRS else "")
    return (f"**The real pair (RealSR v1 Canon_003 ×4)**: the real LR image itself is {real['lr']['psnr']:.2f} dB "
            f"from HR; {numbers}. Nearer the identity on the HR image: "
            f"{_verdict(_claim(checked, 'RealSR HR input'))}; nearer HR from the real LR image: "
            f"{_verdict(_claim(checked, 'RealSR LR input'))}.{few} The models were trained on bicubic LR images put "
            "on the grid by nearest neighbour; the real LR image is a registered photograph, a different "
            "degradation from either.")


def delta(delta_result: dict, checked: list[dict]) -> str:
    """Fig. 4.5: the change and error inside the HR box and over the LR part, and the three verdicts."""
    s = delta_result["scores"]
    numbers = "; ".join(
        f"{MODEL_LABELS[k]} changes the HR box by {np.mean(_flat(s[k]['change_hr'])):.2f} and the LR part by "
        f"{np.mean(_flat(s[k]['change_lr'])):.2f}, leaving errors of {np.mean(_flat(s[k]['error_hr'])):.2f} and "
        f"{np.mean(_flat(s[k]['error_lr'])):.2f}" for k in s)
    return (f"**Fig. 4.5, a CutBlurred input** (mean |Δ| in 8-bit levels over seeds × test photographs): {numbers}. "
            f"The thesis: the CutBlur model leaves the HR region alone and restores the LR part. It changes the HR "
            f"box less than the baseline: {_verdict(_claim(checked, 'changes the HR region less'))}; its error is "
            f"lower in the HR box: {_verdict(_claim(checked, 'error in the HR region'))}; and in the LR part: "
            f"{_verdict(_claim(checked, 'error in the LR region'))}.")


def scale(spec: FrequencySpec) -> str:
    """How this profile differs from the thesis' setting."""
    run = spec.baseline
    return (f"**Scale.** These models are {run.size}-size {run.model.upper()} trained for "
            f"{run.recipe.train.steps:,} steps at batch {run.recipe.train.batch_size} on {run.recipe.patch}-px LR "
            f"patches of the embedded photographs, {spec.seeds} seed{'s' if spec.seeds != 1 else ''}; the thesis' "
            "EDSR has 43.2M parameters and trained for 700k steps on DIV2K. This is far below the paper's scale: "
            "the verdicts say what these small models do, not what the paper's would; a claim that is unclear here "
            "is untested at this scale, not refuted.")


def cutblur_psd(versions: dict, identity: dict, delta_result: dict, checked: list[dict], spec: FrequencySpec,
                real: dict | None = None, real_skipped: str = "") -> list[str]:
    """The conclusions of ``04b_cutblur_psd``: Fig. 4.3's spectra, Fig. 4.4's identity test (embedded photographs
    and the real pair), Fig. 4.5's Δ maps, and the scale."""
    return [psd_of_versions(versions), hr_input(identity, checked), real_pair(real, checked, real_skipped),
            delta(delta_result, checked), scale(spec)]


# --------------------------------------------------------------------------------------------------------
# 04c_where_to_restore and 04d_augmentation_tables (appended; the functions take what companion.ch4.where and
# companion.ch4.tables return, and read the paper's numbers through companion.ch4.tables.paper_table).

def _verdicts(claims: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"agrees": [], "disagrees": [], "unclear": []}
    for c in claims:
        out[c["verdict"]].append(c)
    return out


def _names(claims: list[dict], key) -> str:
    return ", ".join(key(c) for c in claims) or "none"


def _widest(claims: list[dict]) -> tuple[float, float]:
    """The narrowest and widest 95 % interval among ``claims`` (dB)."""
    widths = [c["high"] - c["low"] for c in claims if c["high"] == c["high"] and c["low"] == c["low"]]
    return (min(widths), max(widths)) if widths else (float("nan"), float("nan"))


def tables_4_2(rows: list[dict], claims: list[dict], eval_set: str) -> str:
    """Table 4.2 at this scale: each augmentation's gain over the baseline, which claims the paired interval
    settles, and the paper's range of δ beside ours."""
    by = _verdicts(claims)
    label = {c["augmentation"]: TABLE_4_2_ROWS[c["augmentation"]] for c in claims}
    gains = sorted(((r["gain"], r["row"]) for r in rows if r["augmentation"] != "none"), reverse=True)
    paper = paper_table("Table 4.2")
    deltas = [paper[label[c["augmentation"]]]["DIV2K delta"] for c in claims]
    narrow, wide = _widest(claims)
    seeds = rows[0]["seeds"]
    out = (f"**Table 4.2 at this scale** ({seeds} seed{'s' if seeds != 1 else ''} × {rows[0]['images']} test images "
           f"on {eval_set}): the gains over the baseline run from {gains[-1][0]:+.3f} dB ({gains[-1][1]}) to "
           f"{gains[0][0]:+.3f} dB ({gains[0][1]}). The paired interval says *agrees* for "
           f"{_names(by['agrees'], lambda c: label[c['augmentation']])}, *disagrees* for "
           f"{_names(by['disagrees'], lambda c: label[c['augmentation']])} and *unclear* for "
           f"{_names(by['unclear'], lambda c: label[c['augmentation']])}. The paper's δ on DIV2K run from "
           f"{min(deltas):+.2f} to {max(deltas):+.2f} dB; our intervals are {narrow:.3f} to {wide:.3f} dB wide, so "
           "a difference of the paper's size can only be settled where the interval is narrower than it.")
    moa = next((c for c in claims if c["augmentation"] == "moa"), None)
    if moa is not None:
        out += (f" MoA, the thesis' best row ({moa['paper_delta']:+.2f} dB on DIV2K, {moa['paper_delta_realsr']:+.2f} "
                f"dB on RealSR): *{moa['verdict']}* ({moa['detail']}).")
    return out


def tables_4_3(rows: list[dict], claims: list[dict]) -> str:
    """Table 4.3 at this scale: MoA's gain per model and data fraction, and whether it grows as the data shrinks."""
    per_cell = [c for c in claims if c["fraction"] is not None]
    trend = [c for c in claims if c["fraction"] is None]
    cells = "; ".join(f"{MODEL_ROWS[c['model']]} at {fraction_column(c['fraction'])} {c['difference']:+.3f} dB "
                      f"(*{c['verdict']}*; paper {'—' if c['paper_delta'] is None else format(c['paper_delta'], '+.2f')})"
                      for c in per_cell)
    out = f"**Table 4.3 at this scale**, MoA's paired gain over the baseline: {cells}."
    if trend:
        out += (" \"MoA helps more with less data\" (the gain at the smallest fraction against the gain at the "
                "largest): " + "; ".join(f"{MODEL_ROWS[c['model']]} {c['difference']:+.3f} dB, *{c['verdict']}*"
                                         + ("" if c["paper_delta"] is None else
                                            f" (paper {c['paper_delta']:+.2f} dB)") for c in trend) + ".")
    out += (" The thesis reads its table as: the large models (RCAN, EDSR) gain at every fraction, more with less "
            "data; the small ones (SRCNN, CARN, MoA at p = 0.2) barely move.")
    return out


def tables_full_only(status: dict[str, dict]) -> str:
    """What Tables 4.4-4.10 need, and what this machine lacks for them."""
    parts = [f"{table} needs {', '.join(s['needs'])}" + (f" (missing here: {', '.join(s['missing'])})"
                                                          if s["missing"] else " (all present)")
             for table, s in status.items()]
    return ("**Tables 4.4–4.10** need data the embedded photographs cannot stand in for: " + "; ".join(parts)
            + ". Only Table 4.4 is computed by the full profile from what the companion has (Table 4.3's "
            "DIV2K-trained models scored on the benchmark sets found), and Table 4.7's EDSR denoising rows are "
            "measured at small scale by `04c_where_to_restore`; the others are recorded *full profile only* and need "
            "trainers or degradations the companion does not have, which the ledger notes name.")


def tables_scale(spec: TablesSpec, full: TablesSpec = TABLES_FULL) -> str:
    """How this profile's tables differ from the thesis' setting."""
    if spec == full:
        return ""
    t, p = spec.recipe.train, full.recipe.train
    data = f"{len(spec.split.train)} embedded photographs" if spec.source == "bundled" else "DIV2K"
    return (f"**This profile against the thesis' setting**: {spec.size}-size models against paper-size ones; {data} "
            f"against DIV2K's 800 images; {t.steps:,} steps at batch {t.batch_size} of {spec.recipe.patch}-px LR "
            f"patches against {p.steps:,} at {p.batch_size} of {full.recipe.patch} px; fractions "
            f"{', '.join(fraction_column(f) for f in spec.fractions)} against "
            f"{', '.join(fraction_column(f) for f in full.fractions)}; {spec.seeds} seed(s). Differences as small as "
            "the paper's are expected to read *unclear* here (the seed-spread pilot, "
            "`pilots/ch4_seed_spread.py`, measures how small a difference this scale can resolve).")


def augmentation_tables(spec: TablesSpec, rows42: list[dict], claims42: list[dict], rows43: list[dict],
                        claims43: list[dict], status: dict[str, dict], eval_set: str) -> list[str]:
    """The conclusions of ``04d_augmentation_tables``: Table 4.2, Table 4.3, what Tables 4.4-4.10 need, and the
    scale of this profile against the thesis'."""
    paragraphs = [tables_4_2(rows42, claims42, eval_set), tables_4_3(rows43, claims43), tables_full_only(status),
                  tables_scale(spec)]
    return [p for p in paragraphs if p]


def _claim_about(claims: list[dict], words: str) -> dict | None:
    return next((c for c in claims if words in c["claim"]), None)


def where_real_pair(summary: dict | None, claims: list[dict], skipped: str = "") -> str:
    """The real pair: the real LR image restored, and the CutBlurred input's Δ inside and outside the box."""
    if summary is None:
        return f"**The real pair** was not measured: {skipped}"
    base, cut, lr = summary["baseline"], summary["cutblur"], summary["lr"]
    psnr_claim = _claim_about(claims, "restores the real LR")
    inside, outside = _claim_about(claims, "inside"), _claim_about(claims, "outside")
    return (f"**The real pair** (RealSR Canon_003, models trained on bicubic ×4): the real LR image restored reaches "
            f"{_spm(base['real_psnr'])} dB (baseline) and {_spm(cut['real_psnr'])} dB (CutBlur) against the LR image's "
            f"own {lr['real_psnr'][0]:.2f} dB; CutBlur better: *{psnr_claim['verdict']}* ({psnr_claim['detail']}). "
            f"On the CutBlurred input the error left inside the HR box is {_spm(base['inside'])} against "
            f"{_spm(cut['inside'])} levels (*{inside['verdict']}*), outside {_spm(base['outside'])} against "
            f"{_spm(cut['outside'])} (*{outside['verdict']}*). The tiles of one photograph stand in for images here, so "
            "these intervals say how the models differ on this scene, not on real photographs in general.")


def where_denoise(summary: dict, claims: list[dict]) -> str:
    """Fig. 4.9 and Table 4.7: both denoisers at each test σ, PSNR against SSIM against high frequencies."""
    paper = paper_table("Table 4.7")
    parts = []
    for sigma, cells in summary.items():
        verdicts = {c["metric"]: c for c in claims if c["sigma"] == sigma}
        parts.append(f"at σ 70 → {sigma:g} PSNR {_spm(cells['baseline']['psnr'])} against {_spm(cells['moa']['psnr'])} dB "
                     f"(*{verdicts['psnr']['verdict']}*), SSIM {_spm(cells['baseline']['ssim'], 4)} against "
                     f"{_spm(cells['moa']['ssim'], 4)} (*{verdicts['ssim']['verdict']}*), high-frequency excess "
                     f"{_spm(cells['baseline']['hf_excess'], 3)} against {_spm(cells['moa']['hf_excess'], 3)} "
                     f"(*{verdicts['hf_excess']['verdict']}*)")
    e, m = paper["EDSR"], paper["EDSR +MoA"]
    return ("**Trained on heavy noise, tested on milder noise** (baseline against MoA, seeds × held-out photographs): "
            + "; ".join(parts) + ". A negative excess means the output holds less high-frequency power than the clean "
            f"image (smoother). The thesis' EDSR on Kodak24 at σ 70 → 50: {e['Kodak24 sigma70->50 PSNR']:.2f} / "
            f"{e['Kodak24 sigma70->50 SSIM']:.4f} without MoA, {m['Kodak24 sigma70->50 PSNR']:.2f} / "
            f"{m['Kodak24 sigma70->50 SSIM']:.4f} with it; for RDN and RNAN the baseline keeps the higher PSNR while "
            "MoA wins SSIM, which Fig. 4.9 explains as the baseline over-smoothing.")


def where_mepsnet(summary: dict, claims: list[dict], moa_setting: str) -> str:
    """MoA in MEPSNet's training: PSNR per SHDD level, and the experts' selectivity."""
    levels = "; ".join(f"{level} {_spm(c['baseline'])} against {_spm(c['moa'])} dB "
                       f"(*{_claim_about(claims, 'SHDD ' + level)['verdict']}*)" for level, c in summary["levels"].items())
    sel = _claim_about(claims, "selective")
    return (f"**MoA in MEPSNet's training** (in no paper; {moa_setting}; Chapter 7's recipe and seeds): Chapter 7's "
            f"MEPSNet against the one trained with MoA on the SHDD test split, {levels}. The experts' selectivity "
            f"between distortion types moves from {_spm(summary['selectivity']['baseline'], 3)} to "
            f"{_spm(summary['selectivity']['moa'], 3)}: *{sel['verdict']}* ({sel['detail']}); a higher value means each "
            "expert's response differs more from one distortion type to another.")


def where_scale(spec: WhereSpec, full: WhereSpec = WHERE_FULL) -> str:
    """How this profile's 04c differs from the thesis' setting."""
    if spec == full:
        return ""
    t, p = spec.denoise_baseline.recipe.train, full.denoise_baseline.recipe.train
    return (f"**This profile against the thesis' setting**: {spec.denoise_baseline.size}-size denoisers trained for "
            f"{t.steps:,} steps on the embedded photographs against paper-size ones for {p.steps:,} steps on DIV2K, "
            f"scored on {spec.eval_crop}-px crops of the held-out photographs against Kodak24; {spec.seeds} seed(s); "
            f"MEPSNet at Chapter 7's {spec.ch7_profile} profile.")


def where_to_restore(spec: WhereSpec, real: dict | None, real_claims: list[dict], skipped: str, denoise: dict,
                     denoise_claims: list[dict], mepsnet: dict, mepsnet_claims: list[dict],
                     moa_setting: str) -> list[str]:
    """The conclusions of ``04c_where_to_restore``: the real pair, the denoisers on milder noise, MoA in MEPSNet,
    and the scale of this profile against the thesis'."""
    paragraphs = [where_real_pair(real, real_claims, skipped), where_denoise(denoise, denoise_claims),
                  where_mepsnet(mepsnet, mepsnet_claims, moa_setting), where_scale(spec)]
    return [p for p in paragraphs if p]
