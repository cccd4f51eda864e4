"""``02c_pcarn``: PCARN's adversarial training at small scale, Fig. 2.5's point (L1 against GAN on the same
crops), and the authors' PCARN-M weights side by side (thesis §2.3.2, Eq. 2.4–2.7, §2.4.1, §2.4.3, §2.4.7).

**Profiles** (:class:`PCARNConfig`, :data:`PCARN_PROFILES`, :data:`NOTEBOOKS`). This module is imported by the
profile discovery (it must stay free of PyTorch at import: every heavy import is inside a function).

* ``full``: the authors' recipe for PCARN-M (nmhkahn/PCARN-pytorch ``script/ecarn_m_l1.sh`` then
  ``script/ecarn_m.sh``, §2.4.1): the paper-size CARN-M (C = 64, G = 4, recursive, thesis reading), L1 on
  DIV2K with batch 64 of 48-px LR patches, Adam (0.9, 0.999, 1e-8), LR 1e-4 halved after 4×10⁵ steps, 6×10⁵
  steps; then adversarial fine-tuning from that generator for 2×10⁵ steps (the thesis; the code runs longer)
  with batch 32, the multi-scale discriminator of Eq. 2.6 (three Fig. 2.1 discriminators on ×1, ×2, ×4
  average-pooled images), ``L_G = 5e-3 · L_GAN + 1.0 · L_VGG`` (VGG19 conv5_4, Eq. 2.5; the code's weights,
  λ = 200 in Eq. 2.7's form), Adam lr 1e-4 for both networks, the generator's gradient norm clipped to 10.
  Scored on Set5, Set14, B100, Urban100 ×4, beside Tables 2.2, 2.5 and 2.7. One difference, said in the
  ledger: our generator is single-scale ×4; the authors train ×2/×3/×4 in one network.
* ``quick``: the same two stages at CPU scale, on the seven embedded training photographs of the model zoo
  (:data:`FIT_IMAGES`: 02b's eight less coffee, the zoo's validation photograph), scored on the three held-out
  ones (:data:`HELD_OUT`, whole images; nothing is tuned on them). Quick-size CARN-M (C = 32), 24-px LR
  patches, batch 8. **Stage 1 comes from the model zoo**: ``ch2/carn-m-x4-seed<SEED>``
  (:data:`ZOO_L1`, :mod:`companion.ch2.zoo`: the same network trained with L1 for 2,000 steps on the same
  photographs, :data:`companion.ch2.config.QUICK_RECIPE`; it beats bicubic on all eleven embedded
  photographs) when that entry is current and matches this profile (:func:`l1_zoo_entry`); otherwise (no
  zoo, a stale entry, another seed) stage 1 is trained here as before, :attr:`PCARNConfig.pretrain`'s 500
  steps at LR 1e-3 (halved twice), and the output says so. Then a short adversarial fine-tuning (300 steps).
  **Stage 2 comes from the model zoo too** when stage 1 did: ``ch2/02c/pcarn-m-gan-seed<SEED>`` (the generator)
  and ``ch2/02c/pcarn-m-gan-disc-seed<SEED>`` (the trained discriminator, Fig. 2.3's maps), one run of
  :func:`finetune_gan` with exactly this profile's settings from that L1 entry (:func:`gan_zoo_entries`,
  :func:`load_gan_from_zoo`; ``gan_zoo``); when they are missing or stale, or stage 1 was trained here, the
  300 steps are trained here (2–4 minutes on one core: 142 s and 205 s when timed) and the output says why.
  Two substitutions, fixed before any run and said wherever a number is shown: the discriminator is
  Fig. 2.1's at 1/4 of its widths (``disc_width_divisor``; the full one costs ~6 s a step on two CPU cores),
  and the VGG term is replaced by an L1 content term (``perceptual="none"``): the VGG19 ImageNet weights are
  not bundled, and the companion never downloads them. The generator loss is then
  ``5e-3 · L_GAN^MS + 1e-2 · L1`` (ESRGAN's L1 weight η = 1e-2 beside the code's adversarial weight). The
  discriminator's LR is 10× the paper's (1e-3), because its 2×10⁵ steps shrink to a few hundred.
* ``smoke``: every code path in seconds (a few steps, a random-weight VGG19 so the perceptual path runs, one
  64-px crop).

**Experiments**: :func:`l1_stage` (stage 1 from the zoo, :func:`load_l1_from_zoo`, or trained,
:func:`pretrain_l1`) and :func:`gan_stage` (stage 2 from the zoo, :func:`load_gan_from_zoo`, or trained,
:func:`finetune_gan`; trained stages are checkpointed under a digest of their settings and of the
generator they start from, so a rerun with the same settings only evaluates), :func:`super_resolve_all`
(every model's output on the same test images), :func:`score_outputs` (PSNR / SSIM under the SR protocol
and LPIPS where the user has its backbone weights: :func:`lpips_metric`), :func:`psd_comparison` (each
output's radially averaged PSD against the HR image's, :func:`companion.analysis.psd.radial_psd`),
:func:`textured_crop` (Fig. 2.5's crop window: the HR image's most detailed square, chosen on the HR image
alone), :func:`authors_models` (the released PCARN-M (L1) and PCARN-M generators, when found),
:func:`stage_lines` (where each stage came from, printable) and :func:`record_results` (the ledger).
Figs. 2.3, 2.11, 2.13, 2.14 and Table 2.8 are drawn and recorded from :func:`run_experiment`'s result (its
``models``, ``outputs``, ``lpips`` and the trained discriminator, ``gan["discriminator"]``) by
:mod:`companion.ch2.qualitative`.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from skimage.filters import laplace

from companion.analysis.psd import radial_psd
from companion.ch2 import zoo as ch2_zoo
from companion.ch2.authors_weights import load_authors_carn
from companion.ch2.config import PAPER_SETS
from companion.ch2.evaluation import find_authors_weights, sr_pairs, super_resolve
from companion.ch2.pcarn_training import (finetune_gan, generator_config, load_gan_from_zoo, load_l1_from_zoo,
                                          pretrain_l1)
from companion.data.images import embedded_image
from companion.data.sr import SRBenchmark, bicubic_upscale, lr_hr_pair
from companion.metrics import protocol_text, rgb_to_y, sr_scores
from companion.summary import markdown_table
from companion.zoo import find, status


#: Frequencies (cycles/pixel) whose power the PSD summary compares: the upper half of the band, where
#: L1 blur removes power and adversarial training is meant to put texture back. Fixed before any run.
HIGH_BAND = (0.25, 0.5)
# --------------------------------------------------------------------------------------------------------
# Data.

_DATA: dict = {}  # per process: the test pairs, built once
def test_pairs(cfg, eval_set: str | None = None, data_root=None) -> list[tuple[str, object, object]]:
    """``[(name, LR, HR)]`` under the SR protocol: the held-out photographs ``cfg.eval_images``
    (``eval_set="embedded"``) or a benchmark set, whole or centre-cropped to ``cfg.eval_crop`` px."""
    eval_set = cfg.eval_set if eval_set is None else eval_set
    key = ("test", eval_set, tuple(cfg.eval_images), cfg.scale, cfg.eval_crop, str(data_root))
    if key not in _DATA:
        if eval_set == "embedded":
            if cfg.eval_crop:
                pairs = []
                for n in cfg.eval_images:
                    hr = embedded_image(n)
                    h, w = hr.shape[:2]
                    s = min(cfg.eval_crop, h, w)
                    pairs.append((n, *lr_hr_pair(hr[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s],
                                                 cfg.scale)))
            else:
                data = SRBenchmark(None, cfg.scale, names=cfg.eval_images)
                pairs = [(data.names[i], *data.pair(i)) for i in range(len(data))]
        else:
            pairs = sr_pairs(eval_set, cfg.scale, crop=cfg.eval_crop, root=data_root)
        _DATA[key] = pairs
    return _DATA[key]


def zoo_mismatch(cfg, entry, seed: int) -> str:
    """Why zoo ``entry`` is not ``cfg``'s stage 1 for ``seed`` ("" when it is): another network or
    configuration, scale, patch side, loss, seed, training photographs, or a held-out image it saw."""
    key = entry.key
    images = key.get("data", {}).get("images", {})
    if not isinstance(images, dict) or cfg.source != "bundled":
        return "it was not trained on the embedded photographs this profile trains on"
    checks = (("model", entry.model, "carn_m"), ("network configuration", entry.config, generator_config(cfg)),
              ("scale", key.get("scale"), int(cfg.scale)), ("LR patch side", key.get("patch"), int(cfg.patch)),
              ("loss", key.get("loss"), "l1"), ("seed", key.get("seed"), int(seed)),
              ("training photographs", sorted(n for n, r in images.items() if r == "train"),
               sorted(cfg.train_images)))
    for what, theirs, ours in checks:
        if theirs != ours:
            return f"its {what} is {theirs!r}, this profile's {ours!r}"
    seen = sorted(n for n in cfg.eval_images if images.get(n) != "test")
    if seen:
        return f"it did not hold out the test images {seen}"
    return ""


def l1_zoo_entry(cfg, seed: int):
    """``(entry, "")`` when stage 1 can come from the zoo: ``cfg.l1_zoo`` names an entry of the Chapter 2 zoo
    (:func:`companion.ch2.zoo.entries`) for ``seed`` that is current (:func:`companion.zoo.status`) and matches
    ``cfg`` (:func:`zoo_mismatch`); else ``(None, why not)`` in one line (empty when ``cfg.l1_zoo`` is)."""
    if not cfg.l1_zoo:
        return None, ""
    name = f"{cfg.l1_zoo}-seed{int(seed)}"
    entry = next((e for e in ch2_zoo.entries() if e.name == name), None)
    if entry is None:
        return None, f"the model zoo declares no {name}"
    state = status(entry)
    if state != "current":
        return None, (f"zoo entry {name} is {state} (`python -m companion zoo build {name}` builds it, "
                      f"about 40 CPU-minutes)")
    mismatch = zoo_mismatch(cfg, entry, seed)
    if mismatch:
        return None, f"zoo entry {name} does not match this profile: {mismatch}"
    return entry, ""


def l1_stage(cfg, seed: int, *, device="cpu", data_root=None, checkpoint_dir=None, progress: bool = True):
    """Stage 1: the zoo's generator when :func:`l1_zoo_entry` finds one (:func:`load_l1_from_zoo`), else trained
    here (:func:`pretrain_l1`); a fallback's reason goes into ``info["fallback"]``."""
    entry, reason = l1_zoo_entry(cfg, seed)
    if entry is not None:
        return load_l1_from_zoo(entry, device=device)
    model, info = pretrain_l1(cfg, seed, device=device, data_root=data_root, checkpoint_dir=checkpoint_dir,
                              progress=progress)
    info["fallback"] = reason
    return model, info


def gan_zoo_entries(cfg, seed: int, l1_info: dict):
    """``((generator entry, discriminator entry), "")`` when stage 2 can come from the zoo: ``cfg.gan_zoo`` is on,
    stage 1 came from the zoo (``l1_info["source"] == "zoo"``), the Chapter 2 zoo declares the GAN stage trained
    with exactly ``cfg``'s settings from that generator (:func:`companion.zoo.find` of
    :class:`companion.ch2.zoo.GANStage`, both parts current); else ``(None, why not)`` in one line (empty when
    ``cfg.gan_zoo`` is off)."""
    if not cfg.gan_zoo:
        return None, ""
    if l1_info.get("source") != "zoo" or not l1_info.get("origin"):
        return None, "stage 1 was trained here, and the zoo's GAN stage starts from the zoo's L1 generator"
    stages = [ch2_zoo.GANStage(cfg, part) for part in ch2_zoo.GAN_PARTS]
    if any(stage.zoo_entry(seed).key["l1"] != l1_info["origin"] for stage in stages):
        return None, (f"the model zoo holds no GAN stage trained with these settings from {l1_info['origin']['zoo']} "
                      f"(seed {int(seed)})")
    pair = tuple(find(stage, seed) for stage in stages)
    for stage, entry in zip(stages, pair):
        if entry is None:
            declared = stage.zoo_entry(seed)
            return None, (f"zoo entry {declared.name} is {status(declared)} with these settings (`python -m companion "
                          f"zoo build ch2/02c` builds it and its partner, 2-4 minutes on one core)")
    return pair, ""


def gan_stage(cfg, l1_model, l1_info: dict, seed: int, *, device="cpu", data_root=None, checkpoint_dir=None,
              progress: bool = True):
    """Stage 2: the zoo's generator and discriminator when :func:`gan_zoo_entries` finds them
    (:func:`load_gan_from_zoo`), else ``l1_model`` fine-tuned here (:func:`finetune_gan`, from
    ``l1_info["origin"]``); a fallback's reason goes into ``info["fallback"]``."""
    pair, reason = gan_zoo_entries(cfg, seed, l1_info)
    if pair is not None:
        return load_gan_from_zoo(cfg, *pair, device=device)
    model, info = finetune_gan(cfg, l1_model, seed, device=device, data_root=data_root, checkpoint_dir=checkpoint_dir,
                               progress=progress, l1_origin=l1_info.get("origin"))
    info["fallback"] = reason
    return model, info


# --------------------------------------------------------------------------------------------------------
# The authors' weights.


def authors_models(cfg, data_root=None) -> tuple[dict, list[str]]:
    """The authors' releases of ``cfg.weights`` found on this machine (never downloaded:
    :func:`companion.ch2.evaluation.find_authors_weights`), loaded with
    :func:`companion.ch2.authors_weights.load_authors_carn`: ``({label: model}, [reason per missing one])``.
    Labels: "PCARN-M (L1), authors'" and "PCARN-M, authors'"."""
    found, missing = {}, []
    for name in cfg.weights:
        lookup = find_authors_weights(name, data_root=data_root, search=cfg.weights_search)
        if lookup.found:
            found[f"{lookup.label}, authors'"] = load_authors_carn(lookup.path)
        else:
            missing.append(lookup.reason)
    return found, missing


# --------------------------------------------------------------------------------------------------------
# Outputs, scores, LPIPS, PSD.


def super_resolve_all(models: dict, pairs, scale: int, *, device="cpu") -> dict:
    """``{"bicubic": {image: SR}, label: {image: SR}, …, "HR": {image: HR}}``: MATLAB-bicubic upscaling and
    every model's ×``scale`` output (:func:`companion.ch2.evaluation.super_resolve`, float32 in [0, 1], clipped)
    on the same test images."""

    out = {"bicubic": {n: np.clip(bicubic_upscale(lr, scale), 0, 1).astype(np.float32) for n, lr, _ in pairs}}
    for label, model in models.items():
        model.eval()
        out[label] = {n: np.clip(super_resolve(model, lr, scale, device=device), 0, 1) for n, lr, _ in pairs}
    out["HR"] = {n: np.asarray(hr, dtype=np.float32) for n, _, hr in pairs}
    return out


def lpips_metric(*, device="cpu", enabled: bool = True):
    """``(metric, reason)``: torchmetrics' LPIPS with the AlexNet backbone (the thesis' LPIPS, §2.4.2) when it
    can be built without a download, else ``(None, why not)``. It needs the ``torchmetrics`` package (which
    ships LPIPS's linear layers) and torchvision's ImageNet AlexNet weights already in the torch hub cache
    (``<torch hub dir>/checkpoints/alexnet-owt-7be5be79.pth``); nothing is ever fetched. The metric takes
    B×3×H×W images in [0, 1] (``normalize=True``)."""
    if not enabled:
        return None, "LPIPS is off in this profile"
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity  # reason: heavy; only where its weights are on disk
    except ImportError:
        return None, ("LPIPS skipped: the torchmetrics package is not installed (pip install torchmetrics; it "
                      "also needs torchvision's AlexNet weights in the torch hub cache)")


    weights = Path(torch.hub.get_dir()) / "checkpoints" / "alexnet-owt-7be5be79.pth"
    if not weights.is_file():
        return None, (f"LPIPS skipped: its AlexNet backbone weights are not on this machine ({weights}); the "
                      "companion never downloads them: put torchvision's alexnet-owt-7be5be79.pth there")
    try:
        metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True).to(device).eval()
    except Exception as exc:  # noqa: BLE001 - a broken install or file is one line, not a traceback
        return None, f"LPIPS skipped: torchmetrics could not build it ({type(exc).__name__}: {exc})"[:300]
    return metric, ""


def lpips_score(metric, sr, hr, *, device="cpu") -> float:
    """LPIPS (AlexNet; lower is closer) between two H×W×3 images in [0, 1]."""
    def t(a):
        return torch.from_numpy(np.ascontiguousarray(np.asarray(a, np.float32).transpose(2, 0, 1)))[None].to(device)

    with torch.no_grad():
        return float(metric(t(np.clip(sr, 0, 1)), t(hr)))


def score_outputs(outputs: dict, scale: int, *, lpips=None, device="cpu") -> dict:
    """Per method of ``outputs`` (:func:`super_resolve_all`, all but "HR"): ``per_image`` {image: psnr, ssim,
    lpips} and the means ``psnr``, ``ssim``, ``lpips`` (None without a metric), ``protocol``. PSNR / SSIM by
    :func:`companion.metrics.sr_scores` (Y of BT.601, a ``scale``-px border, 8-bit outputs); LPIPS on the whole
    RGB images (the protocol of the LPIPS authors; the thesis does not say)."""
    hr = outputs["HR"]
    out = {}
    for method, images in outputs.items():
        if method == "HR":
            continue
        per_image, protocol = {}, None
        for name, sr in images.items():
            s = sr_scores(sr, hr[name], scale)
            protocol = s["protocol"]
            per_image[name] = {"psnr": s["psnr"], "ssim": s["ssim"],
                               "lpips": None if lpips is None else lpips_score(lpips, sr, hr[name], device=device)}
        out[method] = {"per_image": per_image, "protocol": protocol,
                       **{k: (None if per_image[next(iter(per_image))][k] is None
                              else float(np.mean([v[k] for v in per_image.values()])))
                          for k in ("psnr", "ssim", "lpips")}}
    return out


def psd_comparison(outputs: dict, band: tuple[float, float] = HIGH_BAND) -> dict:
    """Each output's radially averaged PSD against the HR image's (:func:`companion.analysis.psd.radial_psd`,
    on BT.601 luma, no window; each SR output has its HR image's size, so their rings coincide).
    Returns ``{"curves": {image: {method: (freqs, power)}}, "high_band": {method: {image: r}},
    "high_band_median": {method: {image: m}}, "mean_high_band": {method: mean r},
    "mean_high_band_median": {method: mean m}, "band"}`` with ``r = log10(mean power of the method in band /
    mean power of HR in band)`` (0 = the HR image's high-frequency power, negative = less, i.e. blur, positive =
    more) and ``m`` = the median over the band's rings of ``log10(power / HR power)``. The two differ when a few
    rings carry spikes (periodic artefacts such as a ×4 sub-pixel upsampler's checkerboard, at multiples of 1/8
    cycles/pixel): the mean counts them as detail, the median follows the broadband level."""
    curves, ratio, median = {}, {}, {}
    for name, hr in outputs["HR"].items():
        freqs, p_hr = radial_psd(hr)
        inside = (freqs >= band[0]) & (freqs <= band[1])
        curves[name] = {"HR": (freqs, p_hr)}
        for method, images in outputs.items():
            if method == "HR":
                continue
            f, p = radial_psd(images[name])
            curves[name][method] = (f, p)
            ratio.setdefault(method, {})[name] = float(np.log10(p[inside].mean() / p_hr[inside].mean()))
            median.setdefault(method, {})[name] = float(np.median(np.log10(p[inside] / p_hr[inside])))
    return {"curves": curves, "high_band": ratio, "high_band_median": median, "band": tuple(band),
            "mean_high_band": {m: float(np.mean(list(r.values()))) for m, r in ratio.items()},
            "mean_high_band_median": {m: float(np.mean(list(r.values()))) for m, r in median.items()}}


def textured_crop(hr, side: int) -> tuple[int, int, int]:
    """``(top, left, side)`` of the ``side``-px square of ``hr`` with the most detail: the largest sum of
    |Laplacian| of its luma (:func:`skimage.filters.laplace`), searched on a grid of ``side // 4`` px. Chosen on
    the HR image alone, so the crop does not favour any method."""
    y = rgb_to_y(np.asarray(hr, dtype=np.float64))
    h, w = y.shape
    side = int(min(side, h, w))
    energy = np.abs(laplace(y))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, side // 4)
    best, where = -1.0, (0, 0)
    for top in range(0, h - side + 1, step):
        for left in range(0, w - side + 1, step):
            total = (integral[top + side, left + side] - integral[top, left + side] - integral[top + side, left]
                     + integral[top, left])
            if total > best:
                best, where = total, (top, left)
    return where[0], where[1], side


# --------------------------------------------------------------------------------------------------------
# The whole experiment, and the ledger.


def run_experiment(cfg, *, seed: int = 0, device="cpu", data_root=None, checkpoint_dir=None,
                   progress: bool = True) -> dict:
    """02c end to end: :func:`l1_stage` (the zoo's or trained), :func:`finetune_gan`, the authors' models
    (:func:`authors_models`), every output on :func:`test_pairs` (:func:`super_resolve_all`), their scores
    (:func:`score_outputs`, LPIPS from :func:`lpips_metric`) and PSDs (:func:`psd_comparison`). Returns a
    dict with ``l1`` / ``gan`` (the stages' info), ``outputs``, ``scores``, ``psd``, ``lpips_reason``, ``lpips``
    (the metric, or None), ``models`` (``{label: model}``: ours and the authors' found, for Figs. 2.11-2.14),
    ``authors_missing``, ``pairs``, ``sets`` (scores per extra set of ``cfg.eval_sets``), ``eval_seconds``,
    ``labels`` (ours). On a CPU it runs on
    ``cfg.cpu_threads`` intra-op threads (the setting is restored afterwards): two threads of small convolutions
    wait on each other whenever the machine is busy."""
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu" and cfg.cpu_threads:
        torch.set_num_threads(int(cfg.cpu_threads))
    try:
        return _run_experiment(cfg, seed=seed, device=device, data_root=data_root, checkpoint_dir=checkpoint_dir,
                               progress=progress)
    finally:
        torch.set_num_threads(threads)


def _run_experiment(cfg, *, seed, device, data_root, checkpoint_dir, progress) -> dict:
    l1_model, l1_info = l1_stage(cfg, seed, device=device, data_root=data_root, checkpoint_dir=checkpoint_dir,
                                 progress=progress)
    gan_model, gan_info = gan_stage(cfg, l1_model, l1_info, seed, device=device, data_root=data_root,
                                    checkpoint_dir=checkpoint_dir, progress=progress)
    start = time.perf_counter()
    ours = {OURS_L1: l1_model, OURS_GAN: gan_model}
    theirs, missing = authors_models(cfg, data_root)
    metric, reason = lpips_metric(device=device, enabled=cfg.lpips)
    pairs = test_pairs(cfg, data_root=data_root)
    outputs = super_resolve_all({**ours, **theirs}, pairs, cfg.scale, device=device)
    scores = score_outputs(outputs, cfg.scale, lpips=metric, device=device)
    sets = {}
    for other in cfg.eval_sets:
        if other != cfg.eval_set:
            extra = super_resolve_all({**ours, **theirs}, test_pairs(cfg, other, data_root), cfg.scale, device=device)
            sets[other] = score_outputs(extra, cfg.scale, lpips=metric, device=device)
    sets[cfg.eval_set] = scores
    return dict(l1=l1_info, gan=gan_info, outputs=outputs, scores=scores, psd=psd_comparison(outputs),
                lpips_reason=reason, lpips=metric, models={**ours, **theirs}, authors_missing=missing,
                pairs=[(n, lr.shape, hr.shape) for n, lr, hr in pairs],
                sets=sets, eval_seconds=round(time.perf_counter() - start, 2), labels=(OURS_L1, OURS_GAN),
                seed=int(seed))


def config_that_ran(cfg, result: dict):
    """``cfg`` with the settings that actually ran: when stage 1 came from the model zoo, ``pretrain`` is the
    recipe that entry was trained with (from its sidecar, :func:`companion.ch2.pcarn_training.load_l1_from_zoo`),
    not the profile's fallback; a results file records this (``run.config``). Stage 2 from the zoo was trained
    with exactly ``cfg``'s GAN settings (:func:`gan_zoo_entries` matches them), so nothing else changes."""
    l1 = result["l1"]
    return replace(cfg, pretrain=l1["train"]) if l1.get("source") == "zoo" else cfg


def _l1_source(l1: dict) -> str:
    if l1.get("source") == "zoo":
        return l1["checkpoint"]
    return f"trained here, {l1['steps']} steps" + (f" (fallback: {l1['fallback']})" if l1.get("fallback") else "")


def _gan_source(gan: dict) -> str:
    if gan.get("source") == "zoo":
        return gan["checkpoint"]
    return f"trained here, {gan['steps']} steps" + (f" (fallback: {gan['fallback']})" if gan.get("fallback") else "")


def stage_lines(result: dict) -> list[str]:
    """Printable lines about the two stages of :func:`run_experiment`'s ``result``: where stage 1 came from (the
    zoo, or trained here, and why it fell back), its loss; stage 2's steps, the discriminator's loss and mean
    probabilities over the last 10 % of steps; the evaluation time and the authors' releases not found."""
    l1, gan = result["l1"], result["gan"]
    lines = []
    if l1.get("source") == "zoo":
        curve = l1.get("loss_curve") or [[0, float("nan")]]
        lines.append(f"stage 1: L1 from the model zoo, {l1['checkpoint']} ({l1['steps']} steps, "
                     f"{l1['seconds']:.0f} s when it was built; L1 loss {curve[0][1]:.4f} -> {curve[-1][1]:.4f}"
                     + (f"; validation {l1['val_psnr']:.2f} dB on {', '.join(l1['val_images'])}"
                        if l1.get("val_psnr") is not None else "") + ")")
    else:
        if l1.get("fallback"):
            lines.append(f"stage 1 is trained here instead of taken from the model zoo: {l1['fallback']}")
        losses = l1["losses"]
        k = max(1, len(losses) // 10)
        lines.append(f"stage 1: L1 trained here, {l1['steps']} steps in {l1['seconds']:.0f} s; L1 loss "
                     f"{losses[0]:.4f} -> {sum(losses[-k:]) / k:.4f} (last 10 %); {l1['checkpoint']}")
    h = gan["history"]
    k = max(1, len(h["d"]) // 10)
    d_line = (f"D loss {h['d'][0]:.3f} -> {sum(h['d'][-k:]) / k:.3f}, D(HR) {sum(h['d_real'][-k:]) / k:.2f}, D(SR) "
              f"{sum(h['d_fake'][-k:]) / k:.2f} (last 10 %)")
    if gan.get("source") == "zoo":
        lines.append(f"stage 2: adversarial, from the model zoo, {gan['checkpoint']} ({gan['steps']} steps, "
                     f"{gan['seconds']:.0f} s when it was built; {d_line})")
    else:
        if gan.get("fallback"):
            lines.append(f"stage 2 is trained here instead of taken from the model zoo: {gan['fallback']}")
        lines.append(f"stage 2: {gan['steps']} adversarial steps in {gan['seconds']:.0f} s; {d_line}; "
                     f"{gan['checkpoint']}")
    lines.append(f"evaluation: {result['eval_seconds']:.0f} s")
    lines += [f"not compared: {reason}" for reason in result.get("authors_missing", ())]
    return lines


#: Our two models' labels in tables and figures.
OURS_L1, OURS_GAN = "PCARN-M (L1), ours", "PCARN-M (GAN), ours"


def scores_table(scores: dict) -> str:
    """PSNR / SSIM / LPIPS per method (mean over the test images), as Markdown."""
    rows = [[m, f"{s['psnr']:.2f}", f"{s['ssim']:.4f}", "—" if s["lpips"] is None else f"{s['lpips']:.3f}"]
            for m, s in scores.items()]
    return markdown_table(["method", "PSNR (dB, Y)", "SSIM (Y)", "LPIPS (Alex, lower better)"], rows)


def psd_table(psd: dict) -> str:
    """The high-band power of each method relative to HR (log10), per image and mean, as Markdown."""
    images = list(next(iter(psd["high_band"].values())))
    med = psd["high_band_median"]
    rows = [[m, *(f"{r[i]:+.2f} ({med[m][i]:+.2f})" for i in images),
             f"{psd['mean_high_band'][m]:+.2f} ({psd['mean_high_band_median'][m]:+.2f})"]
            for m, r in psd["high_band"].items()]
    lo, hi = psd["band"]
    return markdown_table(["method", *images, "mean over images"], rows) + \
        (f"\n\nlog10(power / HR power) over {lo:g}–{hi:g} cycles/pixel: of the mean power (of the median ring in "
         "brackets); 0 = the HR image's, −1 = a tenth of it")


def protocol_line(cfg, result: dict, eval_set: str | None = None) -> str:
    """How our numbers were made at this profile, for the ledger."""
    eval_set = cfg.eval_set if eval_set is None else eval_set
    scores = result["sets"][eval_set]
    proto = next(iter(scores.values()))["protocol"]
    where = (f"held-out embedded photographs {', '.join(cfg.eval_images)}" if eval_set == "embedded"
             else eval_set) + (f" ({cfg.eval_crop}-px centre crops)" if cfg.eval_crop else ", whole images")
    l1 = result["l1"]
    r = l1.get("recipe") or dict(batch_size=cfg.pretrain.batch_size, lr=cfg.pretrain.lr,
                                 milestones=list(cfg.pretrain.milestones), patch=cfg.patch)
    origin = "from the model zoo" if l1.get("source") == "zoo" else "trained here"
    perc = {"none": "no VGG term (L1 content in its place)", "vgg19": "VGG19 conv5_4 loss (Eq. 2.5)",
            "random": "a random-weight VGG19 (code path only)"}[cfg.perceptual]
    return (f"{where} x{cfg.scale}, {protocol_text(proto)}; LPIPS: torchmetrics AlexNet on whole RGB images; "
            f"{cfg.size}-size CARN-M x{cfg.scale} (thesis reading), seed {result['seed']}; stage 1: L1 {origin}, "
            f"{l1['steps']} steps, batch {r['batch_size']} of {r['patch']}-px LR patches, Adam LR {r['lr']:g}"
            + (f" halved at {', '.join(map(str, r['milestones']))}" if r["milestones"] else "")
            + f" (checkpoint {l1['checkpoint']}); stage 2: {result['gan']['steps']} adversarial steps"
            + (" (from the model zoo)" if result["gan"].get("source") == "zoo" else "") + ", "
            f"batch {cfg.gan_batch}, L_G = {cfg.adversarial_weight:g}·L_GAN^MS"
            + (f" + {cfg.perceptual_weight:g}·L_VGG" if cfg.perceptual != "none" else "")
            + (f" + {cfg.content_weight:g}·L1" if cfg.content_weight else "")
            + f", {perc}, "
            f"S = {len(cfg.disc_factors)} discriminators"
            + (f" at 1/{cfg.disc_width_divisor} of Fig. 2.1's widths" if cfg.disc_width_divisor > 1 else "")
            + f", Adam LR G {cfg.lr_g:g} / D {cfg.lr_d:g}, G grad-norm clip {cfg.grad_clip:g} "
            f"(checkpoint {result['gan']['checkpoint']})")


def record_results(run, cfg, result: dict) -> list[str]:
    """Record our L1 and GAN models beside Table 2.2 ("CARN (L1)" and "+MSD": PSNR, SSIM, LPIPS), the authors'
    PCARN-M beside Tables 2.5 (LPIPS) and 2.7 (PSNR / SSIM) — in the paper's cells when the set is one of
    theirs, beside the entry otherwise — and every method's high-band PSD ratio beside Figure 2.5. Returns one
    line per record group."""
    lines = []
    for eval_set, scores in result["sets"].items():
        protocol = protocol_line(cfg, result, eval_set)
        paper_set = eval_set in PAPER_SETS
        caveat = ("" if paper_set else "the embedded photographs are not a paper test set: compare the L1-vs-GAN "
                  "differences, not absolute values; ")
        for label, row in ((OURS_L1, "CARN (L1)"), (OURS_GAN, "+MSD")):
            s = scores[label]
            note = (f"{caveat}our {cfg.size}-size CARN-M (the thesis' Table 2.2 is the paper-size CARN); "
                    f"L1 stage: {_l1_source(result['l1'])}; GAN stage: {_gan_source(result['gan'])}; "
                    f"bicubic {scores['bicubic']['psnr']:.2f} dB")
            for metric, column in (("psnr", "PSNR"), ("ssim", "SSIM"), ("lpips", "LPIPS")):
                if s[metric] is not None:
                    run.record(f"{eval_set}/{label}/{metric}", s[metric], entry="Table 2.2", row=row, column=column,
                               protocol=protocol, note=note)
        for label, s in scores.items():
            if "authors'" not in label:
                continue
            gan = label.startswith("PCARN-M,")
            note = f"{caveat}the authors' released weights ({label}), scored here; no training"
            for metric, table, column in (("psnr", "Table 2.7", "PSNR"), ("ssim", "Table 2.7", "SSIM"),
                                          ("lpips", "Table 2.5", "LPIPS")):
                if s[metric] is None:
                    continue
                if gan:
                    run.record(f"{eval_set}/{label}/{metric}", s[metric], entry=table, row="PCARN-M",
                               column=f"{eval_set} {column}" if paper_set else None, protocol=protocol, note=note)
                else:  # PCARN-M (L1) has no row in Tables 2.5-2.7: beside Figure 2.5, its visual comparison
                    run.record(f"{eval_set}/{label}/{metric}", s[metric], entry="Figure 2.5", protocol=protocol,
                               note=note)
        lines.append(f"{eval_set}: " + "; ".join(
            f"{m} {s['psnr']:.2f} dB" + ("" if s["lpips"] is None else f" / LPIPS {s['lpips']:.3f}")
            for m, s in scores.items()))
    psd = result["psd"]
    lo, hi = psd["band"]
    for method, value in psd["mean_high_band"].items():
        protocol = (protocol_line(cfg, result) + f"; radial PSD of BT.601 luma, whole images, log10(power / HR "
                    f"power) over {lo:g}-{hi:g} cycles/pixel, averaged over the test images")
        run.record(f"psd_high_band/{method}", round(value, 4), entry="Figure 2.5", protocol=protocol + " (of the band's mean power)",
                   note="0 = the HR image's high-frequency power; negative = less (smoother), positive = more")
        run.record(f"psd_high_band_median/{method}", round(psd["mean_high_band_median"][method], 4),
                   entry="Figure 2.5", protocol=protocol + " (median over the band's rings)",
                   note="the broadband level: insensitive to a few spiky rings (periodic artefacts)")
    lines.append("PSD high band vs HR (log10, mean / median ring): " + ", ".join(
        f"{m} {v:+.2f} / {psd['mean_high_band_median'][m]:+.2f}" for m, v in psd["mean_high_band"].items()))
    return lines


__all__ = ["HIGH_BAND", "test_pairs", "zoo_mismatch", "l1_zoo_entry", "l1_stage", "gan_zoo_entries", "gan_stage",
           "authors_models", "super_resolve_all", "lpips_metric", "lpips_score", "score_outputs", "psd_comparison",
           "textured_crop", "run_experiment", "config_that_ran", "stage_lines", "OURS_L1", "OURS_GAN", "scores_table",
           "psd_table", "protocol_line", "record_results"]
