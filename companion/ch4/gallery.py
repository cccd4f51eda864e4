"""``04a_augmentations`` (thesis §4.3, Eq. 4.1, Table 4.1, Fig. 4.1): every augmentation of Table 4.1 on one
(LR, HR) pair, the properties Table 4.1 and §4.3 state measured over many batches, and an explorer widget.

* :func:`example_pair` / :func:`gallery`: the spec's photograph (its centre crop, LR = MATLAB-bicubic ↓s
  put on the HR grid by nearest neighbour, :func:`companion.ch4.runs.lr_on_grid`) and what each augmentation
  of :mod:`companion.data.augments` makes of it (Fig. 4.1). Mixup, CutMix and CutMixup need a second image:
  the batch is the pair and the same crop of :data:`PARTNER_IMAGE` (a batch of one would be its own partner).
* :func:`measure_properties`: ``draws`` batches of ``batch`` random ``patch``-px patches of the pair per
  augmentation (and per MoA preset), each property recovered from the batches themselves, never from the
  augmentation's internals except the box it reports. Two kinds of check:

  - **every draw** (status ``exact`` in the ledger): an identity that must hold on every draw, e.g. CutBlur's
    target is the HQ patch unchanged and its input is Eq. 4.1's composite at the reported box; measured as the
    worst case over all draws, holding only when it is exact (up to float32 rounding, :data:`TOLERANCE`);
  - **rate** (status ``small-scale``, ``full-scale`` in the full profile): a sampled estimate of a setting,
    e.g. Cutout's drop rate against α, the box side ratio against α, α of Mixup's Beta(α, α) by the method of
    moments, MoA's frequencies against p and r. Each is tested against its exact expectation: a z-test of the
    mean or a χ² test of the counts; it holds unless the test rejects at
    p < :data:`P_FAIL` (a correct implementation fails a check about once in 10⁴ runs).

  The expectation of a box side is exact: the side is ⌊rH⌋ with r = α + 0.01·N(0, 1) (the module's reading of
  Table 4.1's "λ ~ N(α, 0.01)"), so E[⌊rH⌋/H] sits about 1/(2H) below α and the mean box area below α²
  (:func:`box_sides` gives the exact distribution; the digest's "≈ 0.49" at α = 0.7). Every z-test uses the
  exact variance of one draw under the expectation, so a setting that never varies at a small patch is
  tested too.
* :func:`explorer`: an ipywidgets explorer (augmentation, p, α, seed → redraw, drawn by
  :func:`companion.ch4.figures.explorer_figure`) that degrades to one static drawing when ``spec.widget`` is
  off, outside IPython, or in a headless run (papermill, nbclient, nbconvert, pytest: :func:`has_frontend`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from tqdm.auto import tqdm

from companion.ch4.config import AUGMENTATION_LABELS, AugmentationsSpec
from companion.ch4.runs import lr_on_grid
from companion.data.augments import (AUGMENTATIONS, BOX_RATIO_STD, DEFAULT_ALPHAS, PRESETS,
                                     Augmentation, AugmentedBatch, FUNCTIONS, augment_batch, single)
from companion.data.images import centre_crop_at_most, embedded_image
from companion.data.tensors import to_chw
from companion.engine.augmented import masked
from companion.errors import CompanionError
from companion.summary import markdown_table

#: The second photograph of the gallery's batch: Mixup, CutMix and CutMixup take their partner from it.
PARTNER_IMAGE = "astronaut"
#: An "every draw" identity holds when its worst deviation is at most this (float32 rounding of values in [0, 1]).
TOLERANCE = 1e-5
#: A "rate" check fails when its test rejects the exact expectation at p below this.
P_FAIL = 1e-4
#: Table 4.1's row of each augmentation (and "MoA").
ROWS = {name: AUGMENTATION_LABELS[name] for name in (*AUGMENTATIONS, "moa")}


# --------------------------------------------------------------------------------------------------------
# The pair and the gallery (Fig. 4.1).


def example_pair(image: str, crop: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(LR on the HR grid, HR): the centre ``crop`` px of embedded photograph ``image`` (a multiple of
    ``scale``), its MATLAB-bicubic ↓``scale`` resized back by nearest neighbour; both H×W×3 float32."""
    return lr_on_grid(np.ascontiguousarray(centre_crop_at_most(embedded_image(image), crop)), scale)


def _hwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor.permute(1, 2, 0).numpy().astype(np.float32)


@dataclass(frozen=True)
class Example:
    """One augmentation of the pair (image 0 of the batch): ``input`` and ``target`` (H×W×3), the loss mask
    (H×W, 1 where a pixel counts; Cutout only), the box (top, left, height, width) of a box augmentation,
    and what was applied (``"none"`` when MoA's p said no)."""

    name: str
    label: str
    input: np.ndarray
    target: np.ndarray
    loss_mask: np.ndarray | None
    box: tuple[int, int, int, int] | None
    applied: str


def _gallery_batch(spec: AugmentationsSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The pair and the same crop of :data:`PARTNER_IMAGE` as a batch of two (LQ on the grid, HQ)."""
    pairs = [example_pair(name, spec.crop, spec.scale) for name in (spec.image, PARTNER_IMAGE)]
    side = min(min(lq.shape[:2]) for lq, _ in pairs) // spec.scale * spec.scale
    lq = torch.stack([to_chw(centre_crop_at_most(lq, side)) for lq, _ in pairs])
    hq = torch.stack([to_chw(centre_crop_at_most(hq, side)) for _, hq in pairs])
    return lq, hq


def _example(name: str, label: str, out: AugmentedBatch) -> Example:
    mask = None if out.loss_mask is None else out.loss_mask[0, 0].numpy()
    return Example(name=name, label=label, input=_hwc(out.lq[0]), target=_hwc(out.hq[0]), loss_mask=mask,
                   box=out.box, applied=out.applied)


def apply_one(spec: AugmentationsSpec, name: str, *, alpha: float | None = None, prob: float = 1.0,
              seed: int | None = None, batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> Example:
    """``name`` (an augmentation of :data:`companion.data.augments.AUGMENTATIONS`, or ``"moa"`` for the SR
    preset with its p replaced by ``prob``) applied to the pair, seeded by ``seed`` (default the spec's)."""
    lq, hq = batch if batch is not None else _gallery_batch(spec)
    if name == "moa":
        preset = PRESETS["sr"]
        augmentation = Augmentation(names=preset.names, ratios=preset.ratios, prob=prob, alphas=preset.alphas)
    elif name in AUGMENTATIONS:
        augmentation = single(name, alpha=alpha, prob=prob)
    else:
        raise CompanionError(f"unknown augmentation {name!r}; choose among {', '.join((*AUGMENTATIONS, 'moa'))}")
    generator = torch.Generator().manual_seed(int(spec.seed if seed is None else seed))
    out = augment_batch(lq, hq, augmentation, generator=generator)
    return _example(name, ROWS[name], out)


def gallery(spec: AugmentationsSpec, *, seed: int | None = None) -> dict[str, Example]:
    """Fig. 4.1: every augmentation of :data:`companion.data.augments.AUGMENTATIONS` at its default α
    (:data:`companion.data.augments.DEFAULT_ALPHAS`) applied once to the pair, each with its own seeded draw
    (``seed`` + its index), plus ``"original"`` (LR on the grid as input, HR as target)."""
    batch = _gallery_batch(spec)
    seed = spec.seed if seed is None else int(seed)
    examples = {"original": _example("original", "LR (on the HR grid) / HR",
                                     AugmentedBatch(batch[0], batch[1], None, "none"))}
    for index, name in enumerate(AUGMENTATIONS):
        examples[name] = apply_one(spec, name, seed=seed + index, batch=batch)
    return examples


# --------------------------------------------------------------------------------------------------------
# Property checks (Table 4.1, §4.3).


@dataclass(frozen=True)
class PropertyCheck:
    """One measured property of one augmentation: ``measured`` against ``expected``; ``kind`` is ``"every draw"``
    (an identity, worst case over all draws) or ``"rate"`` (a sampled estimate, ``error`` its standard error,
    ``p_value`` its test); ``estimates_alpha`` marks a measured α (Table 4.1's "Default alpha" column)."""

    augmentation: str
    prop: str
    expected: float
    measured: float
    holds: bool
    kind: str
    detail: str
    error: float = 0.0
    p_value: float = float("nan")
    estimates_alpha: bool = False

    @property
    def row(self) -> str:
        return ROWS[self.augmentation.split(":")[0]]


def _identity(name: str, prop: str, worst: float, what: str, *, expected: float = 0.0) -> PropertyCheck:
    """An every-draw identity: ``worst`` is the largest deviation seen (0 when it always holds)."""
    return PropertyCheck(name, prop, expected, float(worst), bool(abs(worst - expected) <= TOLERANCE), "every draw",
                         what)


def _share(name: str, prop: str, share: float, what: str) -> PropertyCheck:
    """An every-draw identity stated as the share of draws (or pixels) where it held (1 when it always did)."""
    return PropertyCheck(name, prop, 1.0, float(share), bool(share == 1.0), "every draw", what)


def _mean_test(name: str, prop: str, values, expected: float, variance: float, *, estimates_alpha: bool = False,
               transform=None) -> PropertyCheck:
    """A rate: the mean of ``values`` (one per draw) against its exact ``expected`` by a two-sided z-test with
    the exact ``variance`` of one value under the expectation (so a value that never varies is tested too);
    ``transform`` (mean, standard error) -> (reported value, its standard error) maps the mean to what is
    reported (an α)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    error = float(np.sqrt(variance / values.size))
    p = float(2 * stats.norm.sf(abs(mean - expected) / error)) if error > 0 else float(mean == expected)
    measured, shown_error, shown_expected = mean, error, expected
    if transform is not None:
        (measured, shown_error), (shown_expected, _) = transform(mean, error), transform(expected, 0.0)
    detail = f"{values.size} draws, z-test p = {p:.3g}"
    return PropertyCheck(name, prop, float(shown_expected), float(measured), bool(p >= P_FAIL), "rate", detail,
                         float(shown_error), p, estimates_alpha)


def _count_test(name: str, prop: str, counts: dict[str, int], expected: dict[str, float]) -> PropertyCheck:
    """A rate over categories: χ² test of ``counts`` against the ``expected`` probabilities; ``measured`` is the
    largest gap between a category's share and its probability."""
    keys = [k for k in expected if expected[k] > 0]
    observed = np.array([counts.get(k, 0) for k in keys], dtype=np.float64)
    total = observed.sum()
    probs = np.array([expected[k] for k in keys])
    unexpected = sum(v for k, v in counts.items() if expected.get(k, 0) == 0)
    gap = float(np.max(np.abs(observed / total - probs))) if total else float("nan")
    p = float(stats.chisquare(observed, probs / probs.sum() * total).pvalue) if len(keys) > 1 else 1.0
    holds = bool(p >= P_FAIL and unexpected == 0)
    shares = ", ".join(f"{k} {counts.get(k, 0) / total:.3f} (p·r {expected[k]:.3f})" for k in keys)
    detail = f"{int(total)} draws; {shares}; χ² p = {p:.3g}" + (f"; {unexpected} unexpected" if unexpected else "")
    return PropertyCheck(name, prop, 0.0, gap, holds, "rate", detail, 0.0, p)


def box_sides(side: int, alpha: float, std: float = BOX_RATIO_STD) -> tuple[np.ndarray, np.ndarray]:
    """The exact distribution of a box's side ratio ⌊rH⌋/H for H = ``side`` and r = clip(α + std·N(0, 1), 0, 1):
    (the possible ratios k/H, k = 0..H, and their probabilities)."""
    k = np.arange(side + 1, dtype=np.float64)
    cdf = stats.norm.cdf((k / side - alpha) / std)                   # P(r < k/H)
    prob = np.diff(np.append(cdf, 1.0))                              # P(k/H ≤ r < (k+1)/H); r ≥ 1 gives k = H
    prob[0] += cdf[0]                                                # r < 0 is clipped to 0
    return k / side, prob


def moments(values: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """(mean, variance) of a discrete distribution."""
    mean = float(np.sum(probs * values))
    return mean, float(np.sum(probs * (values - mean) ** 2))


def patch_batches(spec: AugmentationsSpec, generator: torch.Generator):
    """``spec.draws`` batches of ``spec.batch`` distinct random ``spec.patch``-px patches of the pair (LQ on the
    grid, HQ), top-left corners on multiples of the scale so every patch holds whole LR pixels."""
    lq_image, hq_image = (to_chw(a) for a in example_pair(spec.image, spec.crop, spec.scale))
    h, w = hq_image.shape[-2:]
    if spec.patch > min(h, w) or spec.patch % spec.scale:
        raise CompanionError(f"patch {spec.patch} px must be a multiple of the scale {spec.scale} and fit the "
                             f"{w}×{h} crop of {spec.image!r}")
    ys = torch.arange(0, h - spec.patch + 1, spec.scale)
    xs = torch.arange(0, w - spec.patch + 1, spec.scale)
    if len(ys) * len(xs) < spec.batch:
        raise CompanionError(f"the crop holds {len(ys) * len(xs)} patch positions, fewer than the batch of "
                             f"{spec.batch}; raise the crop or lower the batch")
    for _ in range(spec.draws):
        chosen = torch.randperm(len(ys) * len(xs), generator=generator)[:spec.batch]
        corners = [(int(ys[i // len(xs)]), int(xs[i % len(xs)])) for i in chosen]
        lq = torch.stack([lq_image[:, y:y + spec.patch, x:x + spec.patch] for y, x in corners])
        hq = torch.stack([hq_image[:, y:y + spec.patch, x:x + spec.patch] for y, x in corners])
        yield lq, hq


def _inside(box) -> tuple[slice, slice]:
    top, left, bh, bw = box
    return slice(top, top + bh), slice(left, left + bw)


def _box_mask(shape, box) -> torch.Tensor:
    mask = torch.zeros(shape[-2:], dtype=torch.bool)
    rows, cols = _inside(box)
    mask[rows, cols] = True
    return mask


def _mix_fit(out: torch.Tensor, x: torch.Tensor, where: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each image i: the partner j ≠ i and λ with out_i = λ·x_i + (1 − λ)·x_j fitting best (least squares over
    ``where``'s pixels, or all), and that fit's worst pixel residual. Returns (partner, λ, residual) per image.

    λ_ij = <out_i − x_j, x_i − x_j> / ‖x_i − x_j‖², and the squared residual ‖out_i − x_j‖² − λ_ij²‖x_i − x_j‖²,
    both from Gram matrices (every pair at once, in float64); the worst pixel residual of the chosen pair is
    then measured directly."""
    n = x.shape[0]
    pick = (lambda t: t[..., where]) if where is not None else (lambda t: t)
    xs, outs = pick(x).reshape(n, -1).double(), pick(out).reshape(n, -1).double()
    gxx, gox = xs @ xs.T, outs @ xs.T
    sq_x, sq_o = gxx.diagonal(), (outs ** 2).sum(1)
    dot = gox.diagonal()[:, None] - gox - gxx + sq_x[None, :]          # <out_i − x_j, x_i − x_j>
    norm = sq_x[:, None] - 2 * gxx + sq_x[None, :]                     # ‖x_i − x_j‖²
    lam = torch.where(norm > 0, dot / norm.clamp_min(1e-30), torch.ones_like(norm))
    resid2 = sq_o[:, None] - 2 * gox + sq_x[None, :] - lam ** 2 * norm  # ‖out_i − x_j − λ(x_i − x_j)‖²
    if n > 1:
        resid2.fill_diagonal_(float("inf"))
    partner = resid2.argmin(1)
    rows = torch.arange(n)
    lam_best = lam[rows, partner]
    fitted = lam_best[:, None] * xs + (1 - lam_best[:, None]) * xs[partner]
    residual = (outs - fitted).abs().amax(1)
    return partner, lam_best, residual


def _draw(name: str, lq, hq, generator, alpha=None) -> AugmentedBatch:
    return FUNCTIONS[name](lq, hq, alpha=DEFAULT_ALPHAS[name] if alpha is None else alpha, generator=generator)


def _check_cutblur(spec, batches, generator) -> list[PropertyCheck]:
    alpha = DEFAULT_ALPHAS["cutblur"]
    target_change = composite_miss = 0.0
    pixel_hits = pixel_total = 0
    ratios, areas, hq_into_lq = [], [], []
    for lq, hq in batches:
        out = _draw("cutblur", lq, hq, generator)
        target_change = max(target_change, float((out.hq - hq).abs().max()))
        from_either = (out.lq == lq).all(1) | (out.lq == hq).all(1)
        pixel_hits += int(from_either.sum())
        pixel_total += from_either.numel()
        inside = _box_mask(lq.shape, out.box)
        composites = [torch.where(inside, hq, lq), torch.where(inside, lq, hq)]   # HQ→LQ, LQ→HQ (Eq. 4.1)
        misses = [float((out.lq - c).abs().max()) for c in composites]
        composite_miss = max(composite_miss, min(misses))
        hq_into_lq.append(float(misses[0] <= misses[1]))
        top, left, bh, bw = out.box
        ratios.append(bh / lq.shape[-2])
        areas.append(bh * bw / (lq.shape[-2] * lq.shape[-1]))
    ratio_values, probs = box_sides(spec.patch, alpha)
    return [
        _identity("cutblur", "the target is the HQ patch, unchanged", target_change, "max |target − HQ| over draws"),
        _identity("cutblur", "the input is Eq. 4.1's composite at the reported box (HQ→LQ or LQ→HQ)", composite_miss,
                  "max |input − composite| over draws"),
        _share("cutblur", "every input pixel is LQ↑'s or HQ's", pixel_hits / pixel_total,
               "share of pixels equal to LQ↑ or HQ in every channel"),
        _mean_test("cutblur", "box side ratio (mean) vs α", ratios, *moments(ratio_values, probs),
                   estimates_alpha=True),
        _mean_test("cutblur", "box area (share of the patch) vs ≈ α²", areas, *moments(ratio_values ** 2, probs)),
        _mean_test("cutblur", "share of HQ→LQ draws vs 1/2", hq_into_lq, 0.5, 0.25),
    ]


def _check_cutout(spec, batches, generator) -> list[PropertyCheck]:
    alpha = DEFAULT_ALPHAS["cutout"]
    target_change = erase_miss = loss_miss = 0.0
    dropped = total = 0
    loss = masked(F.l1_loss)
    for lq, hq in batches:
        out = _draw("cutout", lq, hq, generator)
        target_change = max(target_change, float((out.hq - hq).abs().max()))
        keep = out.loss_mask.bool()                                   # N×1×H×W
        expected_input = torch.where(keep, lq, torch.zeros_like(lq))
        erase_miss = max(erase_miss, float((out.lq - expected_input).abs().max()))
        dropped += int((~keep).sum())
        total += keep.numel()
        noise = torch.randn(hq.shape, generator=generator) * 0.1
        prediction = torch.where(keep, hq + noise, hq + 10.0)          # nonsense where the pixel was erased
        by_hand = (noise.abs() * keep).sum() / (keep.sum() * hq.shape[1]).clamp_min(1)
        loss_miss = max(loss_miss, float((loss(prediction, (out.hq, out.loss_mask)) - by_hand).abs()))
    rate = dropped / total
    error = float(np.sqrt(alpha * (1 - alpha) / total))
    p = float(2 * stats.norm.sf(abs(rate - alpha) / error))
    return [
        _identity("cutout", "the target is the HQ patch, unchanged", target_change, "max |target − HQ| over draws"),
        _identity("cutout", "erased pixels are 0 in every channel and masked; the rest unchanged", erase_miss,
                  "max |input − LQ↑·mask| over draws"),
        _identity("cutout", "the masked L1 is the mean error over the kept pixels", loss_miss,
                  "max |masked loss − mean over kept pixels| (erased pixels given an error of 10)"),
        PropertyCheck("cutout", "drop rate vs α", alpha, rate, bool(p >= P_FAIL), "rate",
                      f"{total} pixels, z-test p = {p:.3g}", error, p, True),
    ]


def _beta_alpha(mean_square: float) -> float:
    """α of a symmetric Beta(α, α) from E[(λ − ½)²] = 1 / (4(2α + 1)) (method of moments)."""
    return (1.0 / (4.0 * mean_square) - 1.0) / 2.0


def _check_mixup(spec, batches, generator) -> list[PropertyCheck]:
    alpha = DEFAULT_ALPHAS["mixup"]
    worst = target_worst = 0.0
    lams, self_partner, outside = [], 0, 0
    for lq, hq in batches:
        out = _draw("mixup", lq, hq, generator)
        partner, lam, resid = _mix_fit(out.lq, lq)
        worst = max(worst, float(resid.max()), float((lam - lam[0]).abs().max()))
        expected_target = lam[:, None, None, None].float() * hq + (1 - lam[:, None, None, None].float()) * hq[partner]
        target_worst = max(target_worst, float((out.hq - expected_target).abs().max()))
        self_partner += int((partner == torch.arange(len(partner))).sum())
        outside += int(((lam < -TOLERANCE) | (lam > 1 + TOLERANCE)).sum())
        lams.append(float(lam[0]))
    squares = (np.asarray(lams) - 0.5) ** 2
    return [
        _identity("mixup", "each input is λ·x_i + (1 − λ)·x_j (j ≠ i), one λ per batch", worst,
                  "max residual of the fit over draws"),
        _identity("mixup", "the target is mixed with the same λ and partner", target_worst,
                  "max |target − (λ·HQ_i + (1 − λ)·HQ_j)|"),
        _identity("mixup", "convex (0 ≤ λ ≤ 1) and never its own partner", float(outside + self_partner),
                  "images outside [0, 1] or paired with themselves"),
        _mean_test("mixup", "α of Beta(α, α), from the spread of λ", squares, *_beta_square_moments(alpha),
                   estimates_alpha=True, transform=_moment_to_alpha),
    ]


def _beta_square_moments(alpha: float) -> tuple[float, float]:
    """(mean, variance) of (λ − ½)² for λ ~ Beta(α, α)."""
    beta = stats.beta(alpha, alpha)
    second, fourth = beta.expect(lambda x: (x - 0.5) ** 2), beta.expect(lambda x: (x - 0.5) ** 4)
    return float(second), float(fourth - second ** 2)


def _moment_to_alpha(mean_square: float, error: float) -> tuple[float, float]:
    """(α, its standard error by the delta method) from the mean of (λ − ½)² and that mean's standard error."""
    value = _beta_alpha(mean_square)
    return value, error / (8.0 * mean_square ** 2)


def _check_blend(spec, batches, generator) -> list[PropertyCheck]:
    alpha = DEFAULT_ALPHAS["blend"]
    worst = 0.0
    vs, outside = [], 0
    for lq, hq in batches:
        out = _draw("blend", lq, hq, generator)
        fits = []
        for before, after in ((lq, out.lq), (hq, out.hq)):
            x, y = before.flatten(2).double(), after.flatten(2).double()        # N×C×P
            xc, yc = x - x.mean(2, keepdim=True), y - y.mean(2, keepdim=True)
            v = (xc * yc).sum(2) / (xc ** 2).sum(2)                              # N×C slopes
            offset = y.mean(2) - v * x.mean(2)                                   # (1 − v)·c
            resid = (y - v[..., None] * x - offset[..., None]).abs().max()
            fits.append((v, offset, float(resid)))
        (v_lq, c_lq, r_lq), (v_hq, c_hq, r_hq) = fits
        v = float(v_lq.mean())
        worst = max(worst, r_lq, r_hq, float((v_lq - v).abs().max()), float((v_hq - v).abs().max()),
                    float((c_lq - c_hq).abs().max()))
        colour_ok = bool(((c_lq >= -TOLERANCE) & (c_lq <= 1 - v + TOLERANCE)).all())
        outside += int(not colour_ok or v < alpha - TOLERANCE or v > 1 + TOLERANCE)
        vs.append(v)
    return [
        _identity("blend", "x' = v·x + (1 − v)·c: one v per batch, one colour per image, the same for LQ and HQ",
                  worst, "max residual / mismatch over draws"),
        _identity("blend", "convex: v in [α, 1] and the colour c in [0, 1]", float(outside), "draws outside"),
        _mean_test("blend", "α from the mean of v ~ U(α, 1) (α = 2·mean − 1)", vs,
                   *(float(m) for m in stats.uniform(alpha, 1 - alpha).stats("mv")), estimates_alpha=True,
                   transform=lambda m, e: (2 * m - 1, 2 * e)),
    ]


def _check_rgb(spec, batches, generator) -> list[PropertyCheck]:
    worst = 0
    counts: dict[str, int] = {}
    for lq, hq in batches:
        out = _draw("rgb", lq, hq, generator)
        order = []
        for k in range(lq.shape[1]):
            match = [m for m in range(lq.shape[1]) if torch.equal(out.lq[:, k], lq[:, m])]
            order.append(match[0] if len(match) == 1 else -1)
        ok = -1 not in order and sorted(order) == list(range(lq.shape[1])) and torch.equal(out.hq, hq[:, order])
        worst += int(not ok)
        key = "".join("RGB"[m] for m in order) if ok else "?"
        counts[key] = counts.get(key, 0) + 1
    orders = ["RGB", "RBG", "GRB", "GBR", "BRG", "BGR"]
    return [
        _identity("rgb", "a permutation of the channels, the same for LQ and HQ", float(worst), "draws that are not"),
        _count_test("rgb", "each of the 6 channel orders ≈ 1/6", counts, {o: 1 / 6 for o in orders}),
    ]


def _check_boxmix(name: str, spec, batches, generator) -> list[PropertyCheck]:
    """CutMix and CutMixup: inside the box the partner's box (CutMix) or the Mixup image (CutMixup, or outside)."""
    alpha = DEFAULT_ALPHAS[name]
    worst = 0.0
    ratios, mixup_inside, outside_range = [], [], 0
    for lq, hq in batches:
        out = _draw(name, lq, hq, generator)
        inside = _box_mask(lq.shape, out.box)
        ratios.append(out.box[2] / lq.shape[-2])
        if name == "cutmix":
            partner, _, _ = _mix_fit(out.lq, lq, inside)         # the partner j ≠ i whose box was pasted
            for before, after in ((lq, out.lq), (hq, out.hq)):
                expected = torch.where(inside, before[partner], before)
                worst = max(worst, float((after - expected).abs().max()))
            continue
        untouched_outside = bool(torch.equal(out.lq[..., ~inside], lq[..., ~inside]))
        mixed = inside if untouched_outside else ~inside
        mixup_inside.append(float(untouched_outside))
        partner, lam, resid = _mix_fit(out.lq, lq, mixed)
        lam_b = float(lam[0])
        outside_range += int(lam_b < -TOLERANCE or lam_b > 1 + TOLERANCE)
        for before, after in ((lq, out.lq), (hq, out.hq)):
            expected = torch.where(mixed, lam_b * before + (1 - lam_b) * before[partner], before)
            worst = max(worst, float((after - expected).abs().max()))
        worst = max(worst, float((lam - lam_b).abs().max()))
    checks = [_mean_test(name, "box side ratio (mean) vs α", ratios, *moments(*box_sides(spec.patch, alpha)),
                         estimates_alpha=True)]
    if name == "cutmix":
        return [_identity(name, "inside the box: another image's same box; outside unchanged; same for LQ and HQ",
                          worst, "max deviation over draws"), *checks]
    return [_identity(name, "the box (or its outside) is the Mixup image λ·x_i + (1 − λ)·x_j, the rest unchanged; "
                            "same for LQ and HQ", worst, "max deviation over draws"),
            _identity(name, "convex: 0 ≤ λ ≤ 1", float(outside_range), "draws outside"),
            *checks,
            _mean_test(name, "share of draws with the Mixup image inside the box vs 1/2", mixup_inside, 0.5, 0.25)]


def _check_moa(preset: str, spec, batches, generator) -> PropertyCheck:
    augmentation = PRESETS[preset]
    counts: dict[str, int] = {}
    for lq, hq in batches:
        applied = augment_batch(lq, hq, augmentation, generator=generator).applied
        counts[applied] = counts.get(applied, 0) + 1
    total = sum(augmentation.ratios)
    expected = {"none": 1 - augmentation.prob}
    expected.update({n: augmentation.prob * r / total for n, r in zip(augmentation.names, augmentation.ratios)})
    return _count_test(f"moa:{preset}", f"preset {preset!r} (p {augmentation.prob:g}): share of each choice vs "
                                        "1 − p and p·r", counts, expected)


def measure_properties(spec: AugmentationsSpec, *, seed: int | None = None, progress: bool = True
                       ) -> list[PropertyCheck]:
    """Every check of the module docstring: each augmentation of Table 4.1 on ``spec.draws`` fresh batches of
    patches (one generator per augmentation seeded by ``seed``, default ``spec.seed``, and its index, so each
    check is reproducible on its own), then MoA's four presets (:data:`companion.data.augments.PRESETS`)."""
    seed = spec.seed if seed is None else int(seed)
    checkers = {"cutblur": _check_cutblur, "cutout": _check_cutout, "mixup": _check_mixup, "blend": _check_blend,
                "rgb": _check_rgb, "cutmix": lambda *a: _check_boxmix("cutmix", *a),
                "cutmixup": lambda *a: _check_boxmix("cutmixup", *a)}
    jobs = [(name, checker) for name, checker in checkers.items()]
    jobs += [(f"moa:{preset}", lambda *a, preset=preset: [_check_moa(preset, *a)]) for preset in PRESETS]
    checks: list[PropertyCheck] = []
    bar = tqdm(total=len(jobs) * spec.draws, desc="Table 4.1 properties", unit="batch", disable=not progress)
    for index, (name, checker) in enumerate(jobs):
        generator = torch.Generator().manual_seed(seed * 1000 + index)

        def counted(batches):
            for item in batches:
                yield item
                bar.update(1)
        checks += checker(spec, counted(patch_batches(spec, generator)), generator)
    bar.close()
    return checks


def _number(value: float) -> str:
    if not np.isfinite(value):
        return "–"
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    return f"{value:.3g}"


def properties_table(checks: list[PropertyCheck]) -> str:
    """The checks as a Markdown table: augmentation, property, kind, expected, measured (± standard error),
    holds, and how it was measured."""
    rows = []
    for c in checks:
        measured = _number(c.measured) + (f" ± {_number(c.error)}" if c.kind == "rate" and c.error else "")
        rows.append([c.row + (f" ({c.augmentation.split(':')[1]})" if ":" in c.augmentation else ""), c.prop, c.kind,
                     _number(c.expected), measured, "yes" if c.holds else "**no**", c.detail])
    return markdown_table(["augmentation", "property", "kind", "expected", "measured", "holds", "how"], rows)


def _slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())[:60]


def protocol(spec: AugmentationsSpec, seed: int) -> str:
    """How the checks were measured, in one line (for the ledger)."""
    return (f"{spec.draws} batches per check of {spec.batch} distinct random {spec.patch}-px patches of "
            f"{spec.image} (centre {spec.crop} px; LR = MATLAB bicubic ×1/{spec.scale} on the HR grid by nearest "
            f"neighbour), default α of Table 4.1, seed {seed}")


def record_properties(run, checks: list[PropertyCheck], spec: AugmentationsSpec) -> None:
    """Each check (measured with the run's seed) beside Table 4.1's row (a measured α in its "Default alpha"
    column): identities as ``exact`` (they hold on every draw or they do not), sampled rates as ``small-scale``
    (their precision grows with the draws; the full profile's are ``full-scale``)."""
    where = protocol(spec, run.seed)
    for c in checks:
        verdict = "holds" if c.holds else "FAILS"
        run.record(f"table4_1/{c.augmentation}/{_slug(c.prop)}", c.measured, entry="Table 4.1", row=c.row,
                   column="Default alpha" if c.estimates_alpha else None,
                   status="exact" if c.kind == "every draw" else "small-scale", protocol=where,
                   note=f"{c.prop}: expected {_number(c.expected)}, {verdict} ({c.detail})")


# --------------------------------------------------------------------------------------------------------
# The explorer.

#: The α slider of each augmentation: (min, max, step); RGB permutation and MoA have none.
ALPHA_SLIDERS = {"blend": (0.05, 1.0, 0.05), "mixup": (0.1, 4.0, 0.1), "cutout": (0.001, 0.5, 0.001),
                 "cutmix": (0.05, 1.0, 0.05), "cutmixup": (0.05, 1.0, 0.05), "cutblur": (0.05, 1.0, 0.05)}
#: What a headless run draws instead of the widget.
STATIC_SETTING = {"name": "cutblur", "prob": 1.0}
#: Words in the kernel's parent command line that mean nobody is looking (a headless execution).
HEADLESS_PARENTS = ("papermill", "nbclient", "nbconvert", "pytest", "companion run")


def _parent_command() -> str:
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").replace("\0", " ")
    except OSError:
        return ""


def has_frontend() -> bool:
    """Whether a person can see widgets: inside an IPython kernel (not a plain interpreter or terminal IPython)
    whose parent process is not a headless executor (:data:`HEADLESS_PARENTS`; read from ``/proc`` on Linux,
    elsewhere the kernel is assumed to be looked at)."""
    try:
        from IPython import get_ipython  # reason: IPython is only needed (and only cheap) inside a notebook
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    parent = _parent_command()
    return not any(word in parent for word in HEADLESS_PARENTS)


def explorer(spec: AugmentationsSpec, draw, *, seed: int | None = None):
    """Pick an augmentation, p and α, watch the pair change: an ipywidgets explorer when ``spec.widget`` and a
    person can see it (:func:`has_frontend`), else one static drawing of :data:`STATIC_SETTING`. ``draw`` makes
    a figure from an :class:`Example` (:func:`companion.ch4.figures.explorer_figure`). The widget is displayed
    here; returns it, or the static figure (which the notebook's inline backend shows once)."""
    seed = spec.seed if seed is None else int(seed)
    batch = _gallery_batch(spec)
    if not (spec.widget and has_frontend()):
        return draw(apply_one(spec, STATIC_SETTING["name"], prob=STATIC_SETTING["prob"], seed=seed, batch=batch))
    import ipywidgets as w  # reason: the widget library loads only where a live notebook draws the explorer
    import matplotlib.pyplot as plt  # reason: pyplot is only needed to close the explorer's figures
    from IPython.display import display  # reason: IPython is present only inside a notebook

    names = w.Dropdown(options=[(ROWS[n], n) for n in (*AUGMENTATIONS, "moa")], value=STATIC_SETTING["name"],
                       description="augmentation")
    prob = w.FloatSlider(value=STATIC_SETTING["prob"], min=0.0, max=1.0, step=0.05, description="p")
    alpha = w.FloatSlider(description="α", continuous_update=False)
    seed_box = w.IntText(value=seed, description="seed")
    out = w.Output()

    def set_alpha_range(name: str) -> None:
        if name in ALPHA_SLIDERS:
            low, high, step = ALPHA_SLIDERS[name]
            alpha.min, alpha.max = low, high      # every low is below every other slider's high: min never passes max
            alpha.step, alpha.value, alpha.disabled = step, DEFAULT_ALPHAS[name], False
        else:
            alpha.disabled = True

    def redraw(*_):
        name = names.value
        example = apply_one(spec, name, alpha=alpha.value if name in ALPHA_SLIDERS else None, prob=prob.value,
                            seed=seed_box.value, batch=batch)
        with out:
            out.clear_output(wait=True)
            fig = draw(example)
            display(fig)
            plt.close(fig)

    def on_name(change):
        set_alpha_range(change["new"])
        redraw()

    alpha.min, alpha.max = 0.001, 4.0
    set_alpha_range(names.value)
    names.observe(on_name, names="value")
    for control in (prob, alpha, seed_box):
        control.observe(redraw, names="value")
    redraw()
    widget = w.VBox([w.HBox([names, prob]), w.HBox([alpha, seed_box]), out])
    display(widget)
    return widget
