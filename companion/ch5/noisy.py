"""Table 5.3 of ``05_simusr`` (thesis §5.4.3): super-resolution of noisy LR images, with BM3D before both methods
and without ZSSR's affine augmentation.

The thesis uses NTIRE 2020's real-world track (unknown degradations, unpaired); the companion does not bundle it,
so the noisy setting is Gaussian noise of a known σ on every LR image, the training pool's and the test images'
alike (:func:`companion.ch5.data.add_noise`), and BM3D with that σ (:func:`companion.ch5.data.denoise`). The test
image's HR image is the clean photograph. :func:`run_noisy` scores, for every test image and seed of the ablation
(``spec.noisy_seeds``), Table 5.3's rows (:func:`companion.ch5.config.zssr_variants`):

* **ZSSR**: on the noisy LR image as it is, with its affine augmentation (the original);
* **ZSSR +BM3D**: on the BM3D output; **ZSSR +BM3D −Affine**: the same without the affine mode;
* **SimUSR+<backbone>**: the network trained on the pool's noisy LR images after BM3D (the zoo's
  ``simusr-bm3d`` entries), fed the BM3D output of the test image;

and, as references outside the table, bicubic of the noisy and of the denoised LR image. Scores are PSNR and SSIM
on RGB (§5.4.1: "on RGB channels for the NTIRE dataset"), a border of 4 px, 8-bit outputs.
"""
from __future__ import annotations

import numpy as np

from companion.ch5 import data, runs, simusr
from companion.ch5.config import SimUSRSpec, zssr_variants
from companion.data.sr import bicubic_upscale
from companion.metrics import psnr

#: The reference rows outside Table 5.3 (bicubic of what each method is given).
REFERENCES = {"Bicubic (noisy LR)": "noisy", "Bicubic (BM3D LR)": "denoised"}


def simusr_row(network: str) -> str:
    """Table 5.3's row name of SimUSR with ``network``: ``"SimUSR+CARN"``."""
    return f"SimUSR+{network.upper()}"


def run_noisy(spec: SimUSRSpec, *, seed0: int = 0, device="cpu", progress: bool = True, data_root=None,
              checkpoint_dir=None) -> dict:
    """Table 5.3 at ``spec``'s scale: ``{"seeds", "images", "rows": {row: {psnr, ssim, records}}, "references":
    {row: {psnr, ssim}}, "protocol", "noise", "lr_psnr"}``; every row's scores are seeds × images (RGB);
    ``lr_psnr``: the mean RGB PSNR of the noisy and of the BM3D LR images against the clean LR images."""
    seeds = [seed0 + i for i in range(spec.noisy_seeds)]
    images = data.noisy_test_images(spec, data_root)
    s = spec.scale
    variants = zssr_variants(spec)
    inputs = {(row, im["name"]): (im["denoised"] if bm3d else im["noisy"], im["hr"])
              for row, (_, bm3d) in variants.items() for im in images}
    zssr_runs = runs.run_zssr_jobs(inputs, {row: recipe for row, (recipe, _) in variants.items()}, seeds, scale=s,
                                   channel="rgb", workers=spec.workers, device=device, progress=progress,
                                   desc="Table 5.3: ZSSR variants, online per image")
    rows = {}
    for row in variants:
        per_seed = [[zssr_runs[(row, im["name"])][i] for im in images] for i in range(len(seeds))]
        rows[row] = {"psnr": [[r["psnr"] for r in rs] for rs in per_seed],
                     "ssim": [[r["ssim"] for r in rs] for rs in per_seed],
                     "records": [dict(steps=r["steps"], seconds=r["train_seconds"]) for r in per_seed[0][:1]]}
    for network in spec.simusr.networks:
        trained = [runs.offline_network(spec, "simusr-bm3d", network, seed, device=device,
                                        checkpoint_dir=checkpoint_dir, progress=progress, data_root=data_root)
                   for seed in seeds]
        scores = [[runs.score(simusr.super_resolve(model, im["denoised"], s, device=device), im["hr"], s, "rgb")
                   for im in images] for model, _ in trained]
        rows[simusr_row(network)] = {"psnr": [[x["psnr"] for x in r] for r in scores],
                                     "ssim": [[x["ssim"] for x in r] for r in scores],
                                     "records": [r for _, r in trained]}
    references = {}
    for row, which in REFERENCES.items():
        scores = [runs.score(bicubic_upscale(im[which], s), im["hr"], s, "rgb") for im in images]
        references[row] = {"psnr": [[x["psnr"] for x in scores]] * len(seeds),
                           "ssim": [[x["ssim"] for x in scores]] * len(seeds)}
    return {"seeds": len(seeds), "images": [im["name"] for im in images], "rows": rows, "references": references,
            "protocol": runs.protocol(s, "rgb"), "noise": dict(sigma=spec.noise.sigma, bm3d_sigma=spec.noise.bm3d_sigma),
            "lr_psnr": {which: float(np.mean([psnr(im[which], im["lr"]) for im in images]))
                        for which in ("noisy", "denoised")}}


__all__ = ["REFERENCES", "simusr_row", "run_noisy"]
