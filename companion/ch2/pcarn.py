"""``02c_pcarn``: PCARN's adversarial training at small scale, Fig. 2.5's point (L1 against GAN on the same
crops), and the authors' PCARN-M weights side by side (thesis §2.3.2, Eq. 2.4–2.7, §2.4.1, §2.4.3, §2.4.7).

The profiles (``full``: the authors' recipe; ``quick``: both stages at CPU scale, from the model zoo; ``smoke``:
every code path in seconds) are :data:`companion.ch2.config.PCARN_PROFILES`, whose docstrings say why each
override. The experiment, module by module:

* :mod:`companion.ch2.pcarn_stages`: stage 1 (L1) and stage 2 (adversarial), each from the model zoo when a
  current entry matches the profile, else trained here (:mod:`companion.ch2.pcarn_training`);
* this module: the test images (:func:`test_pairs`), the authors' released PCARN-M (L1) and PCARN-M
  (:func:`authors_models`, found, never downloaded) and the whole run (:func:`run_experiment`);
* :mod:`companion.ch2.pcarn_scores`: every output, its scores (PSNR / SSIM / LPIPS) and PSD;
* :mod:`companion.ch2.pcarn_report`: the printed tables and the ledger records;
* :mod:`companion.ch2.pcarn_figures` and :mod:`companion.ch2.qualitative`: the figures.
"""
from __future__ import annotations

import time

import torch

from companion.ch2.authors_weights import load_authors_carn
from companion.ch2.config import OURS_GAN, OURS_L1
from companion.ch2.evaluation import find_authors_weights, sr_pairs
from companion.ch2.pcarn_scores import lpips_metric, psd_comparison, score_outputs, super_resolve_all
from companion.ch2.pcarn_stages import gan_stage, l1_stage
from companion.data.images import embedded_image
from companion.data.sr import SRBenchmark, lr_hr_pair


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
# The whole experiment.


def run_experiment(cfg, *, seed: int = 0, device="cpu", data_root=None, checkpoint_dir=None,
                   progress: bool = True) -> dict:
    """02c end to end: :func:`companion.ch2.pcarn_stages.l1_stage` and
    :func:`companion.ch2.pcarn_stages.gan_stage` (each the zoo's or trained here), the authors' models
    (:func:`authors_models`), every output on :func:`test_pairs`
    (:func:`companion.ch2.pcarn_scores.super_resolve_all`), their scores
    (:func:`companion.ch2.pcarn_scores.score_outputs`, LPIPS from :func:`companion.ch2.pcarn_scores.lpips_metric`)
    and PSDs (:func:`companion.ch2.pcarn_scores.psd_comparison`). Returns a
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


__all__ = ["test_pairs", "authors_models", "run_experiment"]
