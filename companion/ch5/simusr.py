"""SimUSR, the simple baseline for unsupervised super-resolution (thesis §5.3.2), and the supervised reference it
is compared with (Table 5.1), trained the same way: shared by the notebook's experiments and the zoo build.

**SimUSR** relaxes ZSSR: with N LR images {I_LR1 … I_LRN} it trains on the pseudo-pairs
``(I'_LRk, I'_HRk) = (I_son_k, I_father_k)``, k = 1 … N, "generated with the same protocol as ZSSR": the father is
an LR image of the pool (:func:`companion.ch5.data.lr_pool`: LR images only) and the son its ×s MATLAB-bicubic
downscale, the SR protocol's own kernel. :func:`pseudo_pairs` cuts them as random aligned patches
(:class:`companion.data.sr.SRPatches` over the pool's arrays: ``patch`` px of the son, s × ``patch`` of the father,
the same random flips and 90° rotations on both). Then "a standard SR network" is trained once, offline, by the
one SR trainer (:func:`companion.engine.sr_training.train_sr` with ``patches=`` the pseudo-pairs), and a test
image takes one forward pass (:func:`super_resolve`). The thesis adds MoA (§5.4.2: "we use MoA with SimUSR by
default"), which the trainer applies to every batch (``augmentation=`` a :data:`companion.data.augments.PRESETS`
setting); CutBlur needs the same grid, so every network is built same-grid (Chapter 4's input, §4.4: the LR image
resized to the output size by nearest neighbour, :func:`companion.data.augments.to_hq_grid`, then pixel-unshuffled
inside the network), at training and at test time alike.

**The supervised reference** (Table 5.1's "Supervised CARN") is the same network with the same recipe and
augmentation, trained on the (LR, HR) pairs of the same photographs (``train_sr(source=..., images=...)``): only
the pairs differ, so the gap between the two is what the HR images are worth. (The thesis' supervised row is
Chapter 2's CARN, trained without MoA; the Chapter 2 zoo's quick CARN is not same-grid and has another recipe,
so it is not reused.)

Every network's weights are drawn by PyTorch's default initialisation after ``torch.manual_seed(seed)``; a run
is keyed by :func:`run_key` (its digest names the checkpoint and the zoo entry).
"""
from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from companion.ch5 import data
from companion.ch5.config import NOTEBOOK, SimUSRSpec
from companion.ch5.zssr import chw, hwc
from companion.data.augments import NONE, PRESETS, to_hq_grid
from companion.data.sr import SRPatches
from companion.engine.sr_training import psnr_validator, train_sr
from companion.errors import CompanionError
from companion.models import MODELS, build_model, model_config
from companion.zoo import digest

#: What one trained network is: SimUSR on the clean LR pool, SimUSR on the BM3D-denoised noisy pool (Table 5.3),
#: or the supervised reference on (LR, HR) pairs.
KINDS = ("simusr", "simusr-bm3d", "supervised")
#: What :func:`run_key` leaves out: how often the loop reports and saves does not shape the weights.
_NOT_SHAPING = ("checkpoint_every", "val_every", "max_seconds")
#: Each pool image's patches per pass of the data (the engine draws batches with replacement).
REPEAT = 8


def augmentation_of(spec: SimUSRSpec):
    """The recipe's :class:`companion.data.augments.Augmentation` (``"none"``: :data:`companion.data.augments.NONE`)."""
    name = spec.simusr.augmentation
    if name == "none":
        return NONE
    if name not in PRESETS:
        raise CompanionError(f"unknown augmentation preset {name!r}; choose one of: none, {', '.join(PRESETS)}")
    return PRESETS[name]


def network_config(name: str, size: str, scale: int, overrides=()) -> dict:
    """Constructor arguments of backbone ``name`` at ``size``: single-scale ×``scale``, same-grid, with the
    constructor ``overrides`` ((key, value) pairs); JSON-ready."""
    if name not in MODELS:
        raise CompanionError(f"unknown backbone {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    base = model_config(name, size)
    which = dict(scales=(int(scale),)) if "scales" in base else dict(scale=int(scale))
    config = model_config(name, size, **which, same_grid=True, **dict(overrides))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def recipe_config(spec: SimUSRSpec, name: str) -> dict:
    """:func:`network_config` of backbone ``name`` at the recipe's size and overrides."""
    return network_config(name, spec.simusr.size, spec.scale, spec.simusr.overrides)


def build_network(spec: SimUSRSpec, name: str, seed: int = 0):
    """Backbone ``name`` as ``spec``'s recipe builds it (:func:`recipe_config`), its weights drawn after
    ``torch.manual_seed(seed)``."""
    torch.manual_seed(int(seed))
    return build_model(name, **recipe_config(spec, name))


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise CompanionError(f"unknown kind {kind!r}; choose one of: {', '.join(KINDS)}")
    return kind


def data_key(spec: SimUSRSpec, kind: str) -> dict:
    """What the training data of ``kind`` is, in words and names (part of :func:`run_key`)."""
    images = list(spec.split.train) if spec.source == "bundled" else "DIV2K train 0001-0800"
    lr = f"matlab bicubic x{spec.scale}, 8-bit"
    if kind == "supervised":
        return dict(pairs="(LR, HR)", images=images, lr=lr)
    out = dict(pairs="(LR downscaled, LR): LR images only", images=images, lr=lr, son="matlab bicubic, 8-bit")
    if kind == "simusr-bm3d":
        out.update(noise=asdict(spec.noise), denoiser="bm3d.bm3d_rgb, sigma_psd = bm3d_sigma / 255, 8-bit")
    return out


def run_key(spec: SimUSRSpec, kind: str, network: str, seed: int) -> dict:
    """Everything that decides the weights of (``kind``, ``network``, ``seed``) under ``spec``; its digest names
    the checkpoint and keys the zoo entry."""
    check_kind(kind)
    recipe = spec.simusr
    train = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(replace(recipe.train, seed=int(seed))).items()
             if k not in _NOT_SHAPING}
    return dict(notebook=NOTEBOOK, kind=kind, model=network, config=recipe_config(spec, network),
                init="pytorch default after torch.manual_seed(seed)", scale=int(spec.scale), patch=int(recipe.patch),
                loss=recipe.loss, augmentation=augmentation_of(spec).as_dict(), same_grid="nearest-neighbour LR",
                flips="flips + rotations", train=train, data=data_key(spec, kind), seed=int(seed))


def checkpoint_path(folder, spec: SimUSRSpec, kind: str, network: str, seed: int) -> Path:
    """``<folder>/<kind>-<network>-seed<seed>-<digest>.pt``: a rerun with the same settings resumes."""
    return Path(folder) / f"{kind}-{network}-seed{seed}-{digest(run_key(spec, kind, network, seed))[:10]}.pt"


def pseudo_pairs(pool: list[tuple[str, np.ndarray]], spec: SimUSRSpec, seed: int) -> SRPatches:
    """SimUSR's training pairs: random (son, father) patches of the pool's LR images (the father an LR image,
    the son its ×s MATLAB-bicubic downscale; ``spec.simusr.patch`` px of the son), flips and rotations."""
    if not pool:
        raise CompanionError("SimUSR's LR pool is empty; name some training photographs")
    return SRPatches([lr for _, lr in pool], scales=spec.scale, patch=spec.simusr.patch, seed=int(seed),
                     repeat=REPEAT)


def pool_of(spec: SimUSRSpec, kind: str, data_root=None) -> list[tuple[str, np.ndarray]]:
    """The LR pool ``kind`` trains on: clean (``"simusr"``) or noisy then BM3D (``"simusr-bm3d"``)."""
    return data.lr_pool(spec, denoised=kind == "simusr-bm3d", data_root=data_root)


def validator(spec: SimUSRSpec, kind: str):
    """The validation curve's callback: RGB PSNR of the network on the validation photograph's centre crop
    (its noisy, then BM3D, LR image for ``"simusr-bm3d"``), same-grid input. None without a validation photograph
    or with ``val_every = 0``."""
    if not spec.split.validation or not spec.simusr.train.val_every:
        return None
    lr, hr = data.validation_pair(spec)
    if kind == "simusr-bm3d":
        noisy = data.add_noise(lr, spec.noise.sigma, seed=spec.noise.seed, name=f"val/{spec.split.validation[0]}")
        lr = data.denoise(noisy, spec.noise.bm3d_sigma)
    return psnr_validator([(chw(lr)[0], chw(hr)[0])], same_grid=True)


def train_network(spec: SimUSRSpec, kind: str, network: str, seed: int, *, device="cpu", checkpoint_dir=None,
                  threads: int | None = None, progress: bool = False, data_root=None):
    """Train one network of ``kind`` with the one SR trainer; returns ``(network in eval mode, TrainResult)``.

    ``"simusr"`` / ``"simusr-bm3d"``: on :func:`pseudo_pairs` of the pool (no HR image); ``"supervised"``: on the
    training photographs' (LR, HR) patches. Same network, recipe, augmentation, seed. With ``checkpoint_dir`` the
    run saves to and resumes from :func:`checkpoint_path`."""
    check_kind(kind)
    recipe = spec.simusr
    model = build_network(spec, network, seed)
    path = None if checkpoint_dir is None else checkpoint_path(checkpoint_dir, spec, kind, network, seed)
    common = dict(seed=int(seed), scale=spec.scale, patch=recipe.patch, loss=recipe.loss,
                  validate=validator(spec, kind), device=device, threads=threads, progress=progress,
                  checkpoint_path=path, model_name=f"{kind}-{network}", augmentation=augmentation_of(spec),
                  same_grid=True, data_root=data_root)
    if kind == "supervised":
        source = "bundled" if spec.source == "bundled" else "data"
        result = train_sr(model, recipe.train, source=source, images=spec.split.train, **common)
    else:
        result = train_sr(model, recipe.train, patches=pseudo_pairs(pool_of(spec, kind, data_root), spec, seed),
                          **common)
    return model.eval(), result


@torch.no_grad()
def super_resolve(model, lr_image: np.ndarray, scale: int, *, device="cpu") -> np.ndarray:
    """One forward pass: the LR image on the output grid (nearest neighbour, as in training), through the
    same-grid network; H·s×W·s×3 float32 clipped to [0, 1]."""
    model.eval().to(device)
    x = chw(lr_image).to(device)
    x = to_hq_grid(x, (x.shape[-2] * scale, x.shape[-1] * scale))
    return hwc(model(x).float())


__all__ = ["KINDS", "REPEAT", "augmentation_of", "network_config", "recipe_config", "build_network", "check_kind", "data_key",
           "run_key", "checkpoint_path", "pseudo_pairs", "pool_of", "validator", "train_network", "super_resolve"]
