"""Zero-shot super-resolution (ZSSR, Shocher et al. [9]; thesis §5.3.1): train a small network on one test LR image
alone, at test time, then super-resolve that image with it.

"They use a test input image as LR father and generate LR son by downscaling LR father with an arbitrary kernel
k. Then they create the pseudo-pair (I'_LR, I'_HR) = (I_son, I_father)" (§5.3.1, with I_son = I_father ↓s,k).
Each step of :func:`train_zssr`:

1. **Fathers** (:func:`fathers`): ``batch`` crops of ``crop`` px of the test LR image, each drawn in one of ZSSR's
   three augmentation modes (its released ``utils.random_augment`` with ``configs.py``'s probabilities): as it is
   (5 %), flipped and rotated by a multiple of 90° (45 %, no interpolation), or **affine** (50 %): the image
   downscaled by a factor in [``min_scale``, 1] (the ZSSR paper's "downscaled versions of the test image"), then
   stretched anisotropically (σ 0.25), rotated by any angle, sheared (σ 0.1) and mirrored, resampled bicubically
   (:func:`torch.nn.functional.grid_sample`; where the window leaves the image it is mirrored in, ZSSR's code pads
   with black). ``affine=False`` (Table 5.3's "w/o Affine") moves the affine mode's share to flips and rotations,
   which need no interpolation. One reading differs from ZSSR's code: the code zooms out inside one
   ``cv2.warpPerspective`` (bicubic, no antialiasing), we downscale with MATLAB's antialiased bicubic first. On
   the validation photograph (coffee, ×4, the paper-size network, 300 steps of four 64-px fathers; Y PSNR, bicubic
   27.29 dB) the code's aliased zoom stopped the network from learning anything (27.29 dB), the antialiased zoom
   gave 27.67 dB, the affine mode without any zoom 27.93 dB: aliased fathers have no consistent son → father
   mapping at ×4.
2. **Sons**: each father ↓s with the test image's own kernel, MATLAB's bicubic (ZSSR's ``'cubic'``; the
   ``bicubic_pytorch`` implementation of the SR protocol), rounded to 8 bits like the test LR image.
3. **One Adam step** on the L1 loss between ``network(son)`` and the father (ZSSR's loss); the network
   (:class:`companion.models.zssr.ZSSR`) upsamples the son bicubically and adds its residual.

The learning rate is divided by ``1/gamma`` after each milestone (a fixed reading of ZSSR's adaptive policy,
which cuts the rate when the reconstruction error stops falling). Then :func:`super_resolve` feeds the whole test
LR image once (or through the geometric self-ensemble, ZSSR's ``output_flip``); ZSSR's back-projection and its
gradual increments of the scale are not used (the thesis does not mention them). No HR image appears anywhere:
:func:`fathers` sees only the image it is given.

Every draw of step ``t`` comes from ``numpy.random.default_rng([seed, t])``, and the weights from
``torch.manual_seed(seed)``, so a run is a function of (image, recipe, seed); with ``checkpoint_path`` it saves
(:mod:`companion.engine.checkpoint`) every :data:`CHECKPOINT_EVERY` steps and at the end, and a rerun resumes
(a finished run only loads). This is online per-image training, so it is its own small loop, not
:func:`companion.engine.loop.train`.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from bicubic_pytorch import imresize  # MATLAB's imresize(x, 1/s, 'bicubic'), antialiased: the SR protocol's
from tqdm.auto import tqdm

from companion.ch5.config import ZSSRRecipe
from companion.engine.checkpoint import load_checkpoint, save_checkpoint
from companion.engine.ensemble import self_ensemble, transform
from companion.errors import CompanionError
from companion.models import build_model
from companion.summary import loss_curve

#: ZSSR's augmentation modes and their probabilities (configs.py: leave as is 0.05, no interpolation 0.45).
LEAVE_AS_IS, NO_INTERPOLATION = 0.05, 0.45
#: The affine mode's anisotropy of the zoom and its shear (configs.py: scale_diff_sigma, shear_sigma).
SCALE_DIFF_SIGMA, SHEAR_SIGMA = 0.25, 0.1
#: The smallest son side, px: MATLAB's bicubic reaches two pixels on each side (a ×4 kernel needs 4).
MIN_SON = 4
#: Steps between checkpoints (with a checkpoint file).
CHECKPOINT_EVERY = 500


def chw(image: np.ndarray) -> torch.Tensor:
    """An H×W×3 array as a 1×3×H×W float tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(image, dtype=np.float32).transpose(2, 0, 1)))[None]


def hwc(x: torch.Tensor) -> np.ndarray:
    """A 1×3×H×W tensor as an H×W×3 float32 array clipped to [0, 1]."""
    return x[0].detach().clamp(0, 1).cpu().numpy().transpose(1, 2, 0).astype(np.float32)


def crop_side(image: torch.Tensor, crop: int, scale: int) -> int:
    """The father side used on ``image`` (1×3×H×W): ``crop``, at most the image's shorter side, a multiple of
    ``scale``; a one-line error when a son would be smaller than :data:`MIN_SON` px (the bicubic kernel's reach)."""
    side = min(int(crop), *image.shape[-2:]) // scale * scale
    if side < MIN_SON * scale:
        raise CompanionError(f"the image or crop is {min(int(crop), *image.shape[-2:])} px: too small for ×{scale} "
                             f"fathers (ZSSR needs {MIN_SON * scale} px, sons of {MIN_SON} px); use a larger image "
                             "or crop")
    return side


def _affine_father(image: torch.Tensor, side: int, min_scale: float, rng: np.random.Generator) -> torch.Tensor:
    """ZSSR's affine mode: a ``side`` px window of ``image`` downscaled by s ∈ [min_scale, 1] (MATLAB's
    antialiased bicubic), then stretched anisotropically (σ 0.25), rotated by θ ∈ [0, 2π), sheared (σ 0.1) and
    mirrored with probability 1/2, sampled bicubically (mirrored in where the window leaves the image)."""
    zoom = rng.uniform(min_scale, 1.0)
    if zoom < 1.0:
        source = imresize(image, scale=zoom).clamp(0, 1)
        if min(source.shape[-2:]) < 2:
            source = image
    else:
        source = image
    _, _, h, w = source.shape
    diff = rng.normal(0.0, SCALE_DIFF_SIGMA)
    sx, sy = max(1 + diff / 2, 0.5) * (1 if rng.random() < 0.5 else -1), max(1 - diff / 2, 0.5)
    theta = rng.uniform(0.0, 2 * math.pi)
    shear = np.array([[1.0, rng.normal(0.0, SHEAR_SIGMA)], [rng.normal(0.0, SHEAR_SIGMA), 1.0]])
    rotation = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    # source offset = (shear · rotation · stretch)⁻¹ · output offset
    to_source = np.linalg.inv(shear @ rotation @ np.diag([sx, sy]))
    reach = side / 2 / min(abs(sx), abs(sy))  # half the window's extent in the source, about
    cx = rng.uniform(min(reach, w / 2), max(w - reach, w / 2))
    cy = rng.uniform(min(reach, h / 2), max(h - reach, h / 2))
    offsets = torch.arange(side, dtype=torch.float64) - (side - 1) / 2
    oy, ox = torch.meshgrid(offsets, offsets, indexing="ij")
    m = torch.from_numpy(to_source)
    x = m[0, 0] * ox + m[0, 1] * oy + cx - 0.5
    y = m[1, 0] * ox + m[1, 1] * oy + cy - 0.5
    grid = torch.stack([(2 * x + 1) / w - 1, (2 * y + 1) / h - 1], dim=-1)[None].to(source.dtype)
    return F.grid_sample(source, grid, mode="bicubic", padding_mode="reflection", align_corners=False).clamp(0, 1)


def fathers(image: torch.Tensor, recipe: ZSSRRecipe, scale: int, rng: np.random.Generator) -> tuple[torch.Tensor, list]:
    """``recipe.batch`` fathers cut from ``image`` (1×3×H×W, the test LR image and nothing else), each in one of
    ZSSR's modes (module docstring), and the mode of each ("as is", "dihedral", "affine")."""
    side = crop_side(image, recipe.crop, scale)
    _, _, h, w = image.shape
    out, modes = [], []
    for _ in range(recipe.batch):
        draw = rng.random()
        if recipe.affine and draw >= LEAVE_AS_IS + NO_INTERPOLATION:
            out.append(_affine_father(image, side, recipe.min_scale, rng))
            modes.append("affine")
            continue
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        father = image[..., top:top + side, left:left + side]
        if draw >= LEAVE_AS_IS:
            father = transform(father, bool(rng.integers(2)), int(rng.integers(4)))
            modes.append("dihedral")
        else:
            modes.append("as is")
        out.append(father)
    return torch.cat(out), modes


def sons(fathers_batch: torch.Tensor, scale: int) -> torch.Tensor:
    """Each father ↓``scale`` by MATLAB's antialiased bicubic, clipped and rounded to 8 bits (as the LR image)."""
    small = imresize(fathers_batch, scale=1.0 / scale)
    return torch.floor(small.clamp(0, 1) * 255.0 + 0.5) / 255.0


def build_network(recipe: ZSSRRecipe, scale: int, seed: int):
    """ZSSR's network of ``recipe.size`` for ×``scale``, its weights drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(int(seed))
    return build_model("zssr", recipe.size, scale=int(scale))


def _rate(recipe: ZSSRRecipe, step: int) -> float:
    """The learning rate of step ``step`` (0-based): ``lr`` times ``gamma`` per milestone passed."""
    return recipe.lr * recipe.gamma ** sum(step >= m for m in recipe.milestones)


def train_zssr(lr_image: np.ndarray, recipe: ZSSRRecipe, *, scale: int, seed: int, device="cpu",
               checkpoint_path=None, progress: bool = False, desc: str = "ZSSR") -> tuple[torch.nn.Module, dict]:
    """ZSSR's online training on ``lr_image`` (H×W×3 in [0, 1]) alone; returns ``(network in eval mode,
    record)`` with ``steps``, ``seconds`` (training wall time, across resumes), ``first_loss``, ``final_loss``
    (mean of the last tenth) and ``loss_curve``."""
    if recipe.steps < 1 or recipe.batch < 1 or recipe.crop % scale:
        raise CompanionError(f"ZSSR needs steps >= 1, batch >= 1 and a crop that is a multiple of ×{scale}; got "
                             f"steps={recipe.steps}, batch={recipe.batch}, crop={recipe.crop}")
    device = torch.device(device)
    image = chw(lr_image).to(device)
    crop_side(image, recipe.crop, scale)
    model = build_network(recipe, scale, seed).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    losses, done, seconds = [], 0, 0.0
    path = Path(checkpoint_path) if checkpoint_path else None
    if path is not None and path.is_file():
        state = load_checkpoint(path, model=model, model_name="zssr-online", optimizer=optimizer)
        done, losses, seconds = int(state["step"]), list(state["extra"]["losses"]), float(state["extra"]["seconds"])
    model.train()
    bar = tqdm(total=recipe.steps, initial=done, desc=desc, disable=not progress, leave=False)
    start = time.perf_counter()
    for step in range(done, recipe.steps):
        rng = np.random.default_rng([int(seed), step])
        father, _ = fathers(image, recipe, scale, rng)
        for group in optimizer.param_groups:
            group["lr"] = _rate(recipe, step)
        loss = F.l1_loss(model(sons(father, scale)), father)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.update()
        last = step + 1 == recipe.steps
        if path is not None and (last or (step + 1) % CHECKPOINT_EVERY == 0):
            save_checkpoint(path, model=model, model_name="zssr-online", optimizer=optimizer, step=step + 1,
                            cfg=recipe.as_dict(), extra={"losses": losses,
                                                         "seconds": seconds + time.perf_counter() - start})
    bar.close()
    seconds += time.perf_counter() - start
    tail = max(1, len(losses) // 10)
    return model.eval(), dict(steps=len(losses), seconds=round(seconds, 3), first_loss=float(losses[0]),
                              final_loss=float(np.mean(losses[-tail:])), loss_curve=loss_curve(losses, digits=5))


@torch.no_grad()
def super_resolve(model, lr_image: np.ndarray, scale: int, *, ensemble: bool = False, device="cpu") -> np.ndarray:
    """The ×``scale`` image of ``lr_image`` by a trained ZSSR network (one pass, or the geometric self-ensemble),
    H·s×W·s×3 float32 clipped to [0, 1]."""
    model.eval().to(device)
    x = chw(lr_image).to(device)
    y = self_ensemble(lambda t: model(t, scale), x) if ensemble else model(x, scale)
    return hwc(y.float())


def run_zssr(lr_image: np.ndarray, recipe: ZSSRRecipe, *, scale: int, seed: int, device="cpu",
             checkpoint_path=None, progress: bool = False, desc: str = "ZSSR") -> dict:
    """ZSSR end to end on one image, timed: :func:`train_zssr`, then :func:`super_resolve`. Returns the
    training record plus ``sr`` (the output), ``train_seconds``, ``infer_seconds`` and ``total_seconds``."""
    model, record = train_zssr(lr_image, recipe, scale=scale, seed=seed, device=device,
                               checkpoint_path=checkpoint_path, progress=progress, desc=desc)
    start = time.perf_counter()
    sr = super_resolve(model, lr_image, scale, ensemble=recipe.ensemble, device=device)
    infer = time.perf_counter() - start
    return dict(record, sr=sr, train_seconds=record["seconds"], infer_seconds=round(infer, 3),
                total_seconds=round(record["seconds"] + infer, 3))


__all__ = ["LEAVE_AS_IS", "NO_INTERPOLATION", "SCALE_DIFF_SIGMA", "SHEAR_SIGMA", "chw", "hwc", "crop_side", "fathers",
           "sons", "build_network", "train_zssr", "super_resolve", "run_zssr"]
