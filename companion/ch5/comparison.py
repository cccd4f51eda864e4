"""Table 5.1 and Fig. 5.3 of ``05_simusr`` (thesis §5.4.2): bicubic ×4 super-resolution without HR images in
training: ZSSR (online, per test image) against SimUSR (offline, one forward pass), with bicubic below them and
the supervised network above.

:func:`run_comparison` scores, on every test image of every evaluation set and for every seed:

* **Bicubic**: MATLAB's ``imresize(LR, 4, 'bicubic')`` (:func:`companion.data.sr.bicubic_upscale`);
* **ZSSR** (:func:`companion.ch5.zssr.run_zssr`): a network trained on that LR image alone, in the notebook;
* **SimUSR** with each backbone (:mod:`companion.ch5.simusr`): trained on the LR pool's pseudo-pairs, from the
  model zoo when current;
* **Supervised** (the first backbone): the same network and recipe trained on (LR, HR) pairs.

Scores: PSNR and SSIM on the Y channel, a border of 4 px, 8-bit outputs (:func:`companion.ch5.runs.score`), per
(seed, image), so that the claims are judged on paired differences (:mod:`companion.ch5.tables`). The crops of
Fig. 5.3 (:func:`figure_crops`) come from the first seed's outputs on ``spec.figure_image``.
"""
from __future__ import annotations

import numpy as np

from companion.ch5 import data, runs, simusr
from companion.ch5.config import LABELS, SimUSRSpec
from companion.data.images import to_float
from companion.data.sr import bicubic_upscale


def method_key(kind: str, network: str = "") -> str:
    """``"bicubic"``, ``"zssr"``, ``"simusr-carn"``, ``"supervised-carn"``: the key of a method in the results."""
    return f"{kind}-{network}" if network else kind


def method_label(key: str) -> str:
    """How Table 5.1 names a method: ``"SimUSR CARN"``, ``"Supervised CARN"``, ``"ZSSR"``, ``"Bicubic"``."""
    kind, _, network = key.partition("-")
    return f"{LABELS[kind]} {network.upper()}".strip()


def _grid(per_seed: list[list[dict]], what: str) -> list[list[float]]:
    return [[float(s[what]) for s in row] for row in per_seed]


def _method(rows: list[list[dict]], records=None) -> dict:
    """One method's scores: ``psnr`` and ``ssim`` as seeds × images lists, and its training ``records``."""
    return {"psnr": _grid(rows, "psnr"), "ssim": _grid(rows, "ssim"), "records": records or []}


def run_comparison(spec: SimUSRSpec, *, seed0: int = 0, device="cpu", progress: bool = True, data_root=None,
                   checkpoint_dir=None) -> dict:
    """Table 5.1 at ``spec``'s scale: ``{"seeds", "sets": {set: {"images", "methods": {key: {psnr, ssim,
    records}}, "protocol"}}, "figure": {...}, "zssr_seconds"}``. Every method's scores are seeds × images."""
    seeds = [seed0 + i for i in range(spec.seeds)]
    sets = {name: data.test_images(spec, name, data_root) for name in spec.eval_sets}
    s = spec.scale
    inputs = {("zssr", f"{name}/{image}"): (lr, hr) for name, images in sets.items() for image, lr, hr in images}
    zssr_runs = runs.run_zssr_jobs(inputs, {"zssr": spec.zssr}, seeds, scale=s, channel="y", workers=spec.workers,
                                   device=device, progress=progress, desc="Table 5.1: ZSSR, online per image")
    offline = {}
    for network in spec.simusr.networks:
        kinds = ("simusr", "supervised") if network == spec.supervised_network else ("simusr",)
        for kind in kinds:
            offline[method_key(kind, network)] = [
                runs.offline_network(spec, kind, network, seed, device=device, checkpoint_dir=checkpoint_dir,
                                     progress=progress, data_root=data_root) for seed in seeds]
    out = {"seeds": len(seeds), "sets": {}, "figure": None,
           "zssr_seconds": float(np.mean([r["total_seconds"] for rs in zssr_runs.values() for r in rs]))}
    for name, images in sets.items():
        methods = {"bicubic": _method([[runs.score(bicubic_upscale(lr, s), hr, s) for _, lr, hr in images]] * len(seeds))}
        methods["zssr"] = _method([[zssr_runs[("zssr", f"{name}/{image}")][i] for image, _, _ in images]
                                   for i in range(len(seeds))],
                                  [dict(steps=r["steps"], seconds=r["train_seconds"]) for r in
                                   zssr_runs[("zssr", f"{name}/{images[0][0]}")]])
        for key, trained in offline.items():
            methods[key] = _method([[runs.score(simusr.super_resolve(model, lr, s, device=device), hr, s)
                                     for _, lr, hr in images] for model, _ in trained], [r for _, r in trained])
        out["sets"][name] = {"images": [image for image, _, _ in images], "methods": methods,
                             "protocol": runs.protocol(s, "y")}
    figure_set = spec.eval_sets[0]
    out["figure"] = figure_crops(spec, sets[figure_set], zssr_runs, offline, figure_set, device=device)
    return out


def crop_box(hr: np.ndarray, side: int, scale: int) -> tuple[int, int, int]:
    """(top, left, side) of Fig. 5.3's window: the square of ``side`` HR px (a multiple of ``scale``, at most the
    image) whose HR image has the most detail, i.e. the largest sum of gradient magnitudes of its luma, among
    the positions on the ``scale`` grid (a fixed rule: the thesis' crops show textured regions)."""
    h, w = hr.shape[:2]
    side = max(scale, min(side, h, w) // scale * scale)
    luma = np.asarray(hr, dtype=np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.gradient(luma)
    energy = np.hypot(gx, gy)
    summed = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image
    tops, lefts = np.arange(0, h - side + 1, scale), np.arange(0, w - side + 1, scale)
    t, l = tops[:, None], lefts[None, :]
    boxes = summed[t + side, l + side] - summed[t, l + side] - summed[t + side, l] + summed[t, l]
    i, j = np.unravel_index(int(np.argmax(boxes)), boxes.shape)
    return int(tops[i]), int(lefts[j]), side


def figure_crops(spec: SimUSRSpec, images, zssr_runs: dict, offline: dict, set_name: str, *, device="cpu") -> dict:
    """Fig. 5.3's panels for ``spec.figure_image`` (else the set's first image): the HR crop and each method's
    crop of the first seed's output, each with its whole-image PSNR / SSIM, and the absolute residual |SR − HR|
    (mean over RGB) of each. ``{"name", "box", "hr", "outputs": {key: crop}, "residuals": {key: map},
    "scores": {key: {psnr, ssim}}}``."""
    chosen = [im for im in images if im[0] == spec.figure_image] or images[:1]
    name, lr, hr = chosen[0]
    s = spec.scale
    top, left, side = crop_box(hr, spec.figure_crop, s)
    outputs = {"bicubic": bicubic_upscale(lr, s), "zssr": to_float(zssr_runs[("zssr", f"{set_name}/{name}")][0]["sr"])}
    for key, trained in offline.items():
        outputs[key] = simusr.super_resolve(trained[0][0], lr, s, device=device)

    def cut(image):
        return np.ascontiguousarray(image[top:top + side, left:left + side]).astype(np.float32)

    return {"name": name, "box": (top, left, side), "hr": cut(hr),
            "outputs": {k: cut(v) for k, v in outputs.items()},
            "residuals": {k: np.abs(cut(v) - cut(hr)).mean(axis=-1) for k, v in outputs.items()},
            "scores": {k: runs.score(v, hr, s) for k, v in outputs.items()}}


__all__ = ["method_key", "method_label", "run_comparison", "crop_box", "figure_crops"]
