"""``04b_cutblur_psd`` (thesis §4.4.1-4.4.2, Figs. 4.3-4.5): what augmentation does to an image's frequencies,
and what CutBlur teaches a ×4 model about *where* to restore.

The power spectral density (PSD) is :func:`companion.analysis.psd.radial_psd` (BT.601 luma, mean removed, no
window, rings of width 1/n, cycles/px) and its 1/f^α fit :func:`companion.analysis.psd.fit_power_law` (0.05-0.4
cycles/px); every comparison is between images of one size on one grid.

* **Fig. 4.3** (:func:`psd_versions`): the photograph (HR, the spec's centre crop) against its Cutout, Mixup and
  CutBlur versions, one seeded draw each at Table 4.1's α, with the fitted α of each and its mean log10 PSD
  ratio to the original over :data:`HF_BAND`. The thesis does not say which image of the pair it plots; the
  reading here: each augmentation is applied to the image itself (for Cutout and Mixup the pair is the image
  twice; Mixup's partner is the same crop of :data:`companion.ch4.gallery.PARTNER_IMAGE`), and CutBlur pastes
  the LR image (MATLAB bicubic ↓4, back on the grid by nearest neighbour as in training) into a box of the
  HR image (x̂_LQ→HQ of Eq. 4.1, the direction whose result is mostly the original). The LR image's own PSD is
  drawn as a reference.
* **Fig. 4.4** (:func:`identity_test`): the ×4 same-grid models of the spec (``baseline`` and ``cutblur``: the
  same EDSR, recipe and data, only the augmentation differs; ``seeds`` seeds, from the zoo when current,
  :func:`companion.ch4.runs.trained_model`) fed an input that is already high-resolution: the HR test
  photograph itself. A model that learned "how much" to restore should leave it nearly as it is. Measured per
  seed × test image: (a) PSNR(output, input) under the SR protocol (Y, border 4, 8-bit,
  :func:`companion.metrics.sr_psnr`): closeness to the identity; (b) the **high-frequency excess**
  (:func:`hf_excess`): the mean over the PSD rings with f in :data:`HF_BAND` of log10(P_output / P_input),
  positive when the output holds more high-frequency power than the input (over-sharpening). The thesis'
  Fig. 4.4 feeds a ×2 LR image instead ("the pixel denseness is doubled"); the HR image is the extreme case of
  the same test and needs no reference, so the identity is the target.
* **The real pair** (:func:`real_test`): RealSR v1's Canon_003 (×4, the LR image registered onto the HR grid by
  its authors, :func:`realsr_pair`): the HR image fed as input (the same identity test), and the real LR image
  fed as input (output against HR, beside the LR image's own PSNR), with the PSDs of LR, HR and the outputs.
  Where the pair is not on the machine :func:`realsr_pair` raises a one-line error naming the download.
* **Fig. 4.5** (:func:`delta_test`): a CutBlurred test input (:func:`cutblurred`: the HR image inside a centred
  box of side ratio α = Table 4.1's 0.7, aligned to whole LR pixels; the LR image on the grid outside, x̂_HQ→LQ)
  and the Δ maps of each model: the change |output − input| (where the model restores) and the thesis' Δ,
  |output − HR| (what is left to restore), each averaged inside and outside the box, per seed × test image,
  in 8-bit levels (mean over RGB).

The authors' demo of Figs. 4.4-4.5 (clovaai/cutblur ``example/demo_hr_inputting.ipynb``, read for facts) feeds
the HR image itself to the same-grid EDSR, as here, but compares EDSR trained on RealSR with and without **MoA**
(here: CutBlur alone against none, the thesis' wording); its Fig. 4.5 pastes an HR box into Canon_003's real
LR image and maps the signed mean over RGB of HR − output (×10, shown from 0 to 1), where here both the change
and the absolute error are mapped on the test photographs.

:func:`claims` judges the thesis' statements on the paired per-seed, per-image scores
(:func:`companion.summary.check_claims`); the real pair has one image, so its verdicts rest on the seeds
alone and stay "unclear" below :data:`companion.summary.MIN_PAIRS` pairs.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from companion.analysis.psd import fit_power_law, radial_psd
from companion.ch4.config import AUGMENTATION_LABELS, FrequencySpec
from companion.ch4.gallery import PARTNER_IMAGE
from companion.ch4.runs import apply, lr_on_grid, test_images, trained_model
from companion.data.augments import DEFAULT_ALPHAS, FUNCTIONS, cutblur
from companion.data.folders import ENV_VAR as DATA_ENV_VAR, data_root
from companion.data.images import centre_crop_at_most, embedded_image, load_image
from companion.data.sr import modcrop
from companion.data.tensors import to_chw
from companion.errors import CompanionError
from companion.metrics import sr_psnr
from companion.session import REPO_ROOT
from companion.summary import check_claims, markdown_table, mean_std, pm

#: The band of the high-frequency excess, cycles/px: the upper half of the frequencies up to Nyquist, where a
#: ×4 LR image holds almost nothing and an over-sharpening model adds power.
HF_BAND = (0.25, 0.5)
#: The augmentations of Fig. 4.3, in the thesis' order.
PSD_VERSIONS = ("cutout", "mixup", "cutblur")
#: The two models compared, as tables name them.
MODEL_LABELS = {"baseline": "EDSR (baseline)", "cutblur": "EDSR + CutBlur"}
#: The real pair (RealSR v1, Canon, test, ×4) and where it is looked for.
REALSR_FILES = ("Canon_003_HR.png", "Canon_003_LR4.png")
REALSR_ENV_VAR = "COMPANION_REALSR"
REALSR_SUBFOLDER = Path("Canon") / "Test" / "4"
#: A developer's copy of the pair, beside the checkout (used only when nothing else holds it).
DEVELOPER_REALSR = REPO_ROOT.parent / "shared" / "data" / "realsr"
#: Δ maps in 8-bit levels.
LEVELS = 255.0


def _to_hwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor.permute(1, 2, 0).numpy().astype(np.float32)


def psd(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`companion.analysis.psd.radial_psd` of ``image`` (its luma, no window)."""
    return radial_psd(image)


def log_ratio(power: np.ndarray, reference: np.ndarray, freqs: np.ndarray, band=HF_BAND) -> float:
    """Mean over the rings with f in ``band`` of log10(``power`` / ``reference``)."""
    inside = (freqs >= band[0]) & (freqs <= band[1])
    return float(np.mean(np.log10(power[inside] / reference[inside])))


def hf_excess(output: np.ndarray, reference: np.ndarray, band=HF_BAND) -> float:
    """The high-frequency excess of ``output`` over ``reference`` (same size): the mean log10 ratio of their
    radial PSDs over ``band`` (:data:`HF_BAND`); 0 when they match, > 0 when the output has more power there."""
    if output.shape != reference.shape:
        raise CompanionError(f"hf_excess compares images of one size; got {output.shape} and {reference.shape}")
    freqs, p_out = psd(output)
    _, p_ref = psd(reference)
    return log_ratio(p_out, p_ref, freqs, band)


# --------------------------------------------------------------------------------------------------------
# Fig. 4.3: the PSD of augmented images.


def psd_versions(spec: FrequencySpec, seed: int) -> dict:
    """Fig. 4.3: ``{"freqs", "scale", "versions": {key: {"name", "label", "image", "power", "alpha", "intercept",
    "hf_ratio", "box", "mask"}}}`` (``mask``: Cutout's loss mask, 0 on the erased pixels) for the original HR
    crop, its LR image on the grid (reference) and one draw of each of :data:`PSD_VERSIONS` (seeded by ``seed``
    and the augmentation's index), in that order."""
    scale = spec.baseline.recipe.scale
    crops = [np.ascontiguousarray(centre_crop_at_most(embedded_image(name), spec.psd_crop))
             for name in (spec.psd_image, PARTNER_IMAGE)]
    side = min(min(c.shape[:2]) for c in crops) // scale * scale
    pairs = [lr_on_grid(centre_crop_at_most(c, side), scale) for c in crops]
    lq = torch.stack([to_chw(lr) for lr, _ in pairs])
    hq = torch.stack([to_chw(hr) for _, hr in pairs])
    images = {"original": ("original", f"original ({spec.psd_image}, HR)", pairs[0][1], None, None),
              "lr": ("LR", f"LR ×{scale} on the grid (reference)", pairs[0][0], None, None)}
    for index, name in enumerate(PSD_VERSIONS):
        generator = torch.Generator().manual_seed(int(seed) * 100 + index)
        mask = None
        if name == "cutblur":
            image, box = _lq_into_hq(lq, hq, DEFAULT_ALPHAS["cutblur"], generator)
        else:                                    # Cutout and Mixup on the pair (image, image)
            out = FUNCTIONS[name](hq, hq, alpha=DEFAULT_ALPHAS[name], generator=generator)
            image, box = out.lq, out.box
            mask = None if out.loss_mask is None else out.loss_mask[0, 0].numpy()
        images[name] = (AUGMENTATION_LABELS[name], f"{AUGMENTATION_LABELS[name]} (α {DEFAULT_ALPHAS[name]:g})",
                        _to_hwc(image[0]), box, mask)
    freqs, reference = psd(images["original"][2])
    versions = {}
    for key, (short, label, image, box, mask) in images.items():
        _, power = psd(image)
        alpha, intercept = fit_power_law(freqs, power)
        versions[key] = {"name": short, "label": label, "image": image, "power": power, "alpha": alpha,
                         "intercept": intercept, "hf_ratio": log_ratio(power, reference, freqs), "box": box,
                         "mask": mask}
    return {"freqs": freqs, "scale": scale, "versions": versions}


def _lq_into_hq(lq: torch.Tensor, hq: torch.Tensor, alpha: float, generator: torch.Generator):
    """x̂_LQ→HQ of Eq. 4.1 (the LR image pasted into a box of the HR image) by
    :func:`companion.data.augments.cutblur`: draws from ``generator`` until one takes that direction (seeded,
    so the result is reproducible). Returns (the batch's inputs, the box)."""
    for _ in range(64):
        out = cutblur(lq, hq, alpha=alpha, generator=generator)
        outside = torch.ones(hq.shape[-2:], dtype=torch.bool)
        top, left, bh, bw = out.box
        outside[top:top + bh, left:left + bw] = False
        if torch.equal(out.lq[..., outside], hq[..., outside]):
            return out.lq, out.box
    raise CompanionError("CutBlur never pasted LR into HR in 64 draws; companion.data.augments.cutblur should "
                         "take each direction half the time")


# --------------------------------------------------------------------------------------------------------
# The models.


def seeds_of(spec: FrequencySpec, seed0: int = 0) -> list[int]:
    """The training seeds: ``seed0``, ``seed0 + 1``, ... (``spec.seeds`` of them; the zoo holds 0, 1, 2)."""
    return [int(seed0) + k for k in range(spec.seeds)]


def load_models(spec: FrequencySpec, seeds: list[int], *, device="cpu", work_dir: Path | None = None,
                progress: bool = True) -> dict:
    """``{"baseline": [(seed, model, Trained)], "cutblur": [...]}``: each run of the spec and seed from the zoo
    when ``spec.use_zoo`` and it holds that exact run, else trained (:func:`companion.ch4.runs.trained_model`)."""
    models = {}
    for kind, run in (("baseline", spec.baseline), ("cutblur", spec.cutblur)):
        models[kind] = []
        for seed in seeds:
            model, record = trained_model(run, seed, use_zoo=spec.use_zoo, work_dir=work_dir, progress=progress,
                                          device=device)
            models[kind].append((seed, model, record))
    return models


def sources_text(models: dict) -> str:
    """Where each model came from (the zoo entry or the checkpoint), with its steps and validation PSNR."""
    lines = []
    for kind, entries in models.items():
        for seed, _, record in entries:
            lines.append(f"{MODEL_LABELS[kind]}, seed {seed}: {record.source} ({record.steps} steps, "
                         f"validation PSNR {record.val_psnr:.2f} dB)")
    return "\n".join(lines)


def _scale(spec: FrequencySpec) -> int:
    return spec.baseline.recipe.scale


def _test_photographs(spec: FrequencySpec) -> dict[str, np.ndarray]:
    """The test photographs (their centre ``eval_crop`` px, 0 = whole), cropped to a multiple of the scale."""
    return {name: modcrop(np.ascontiguousarray(hr), _scale(spec))
            for name, hr in test_images(spec.baseline, spec.eval_crop).items()}


def _bar(total: int, desc: str, progress: bool):
    return tqdm(total=total, desc=desc, unit="image", disable=not progress)


# --------------------------------------------------------------------------------------------------------
# Fig. 4.4: an input that is already high-resolution.


def identity_test(spec: FrequencySpec, models: dict, *, progress: bool = True) -> dict:
    """Fig. 4.4's test: every model fed each HR test photograph (its centre ``eval_crop``, a multiple of the
    scale). Returns ``{"images", "seeds", "scores": {kind: {"identity_psnr", "hf_excess"}}}`` (seeds × images
    lists), and for ``spec.figure_image`` (``"figure_image"``) with the first seed: ``"freqs"``, ``"psd"`` (input,
    LR, each kind), ``"figure"`` (the input and each kind's output)."""
    scale = _scale(spec)
    images = _test_photographs(spec)
    if spec.figure_image not in images:
        raise CompanionError(f"figure_image {spec.figure_image!r} is not a test photograph ({', '.join(images)})")
    names = list(images)
    result = {"images": names, "seeds": [s for s, _, _ in models["baseline"]], "scores": {}, "figure": {},
              "figure_image": spec.figure_image}
    hr = images[spec.figure_image]
    freqs, p_hr = psd(hr)
    result["freqs"] = freqs
    result["psd"] = {"input": p_hr, "lr": psd(lr_on_grid(hr, scale)[0])[1]}
    result["figure"]["input"] = hr
    bar = _bar(sum(len(v) for v in models.values()) * len(names), "Fig. 4.4: HR input", progress)
    for kind, entries in models.items():
        psnrs, excess = [], []
        for index, (_, model, _) in enumerate(entries):
            row_psnr, row_excess = [], []
            for name in names:
                out = apply(model, images[name])
                row_psnr.append(sr_psnr(out, images[name], scale))
                row_excess.append(hf_excess(out, images[name]))
                if index == 0 and name == spec.figure_image:
                    result["figure"][kind] = out
                    result["psd"][kind] = psd(out)[1]
                bar.update(1)
            psnrs.append(row_psnr)
            excess.append(row_excess)
        result["scores"][kind] = {"identity_psnr": psnrs, "hf_excess": excess}
    bar.close()
    return result


# --------------------------------------------------------------------------------------------------------
# The real pair (RealSR v1, Canon_003, ×4).


def realsr_folder(spec: FrequencySpec) -> Path:
    """The folder holding RealSR's ``Canon_003_HR.png`` and ``Canon_003_LR4.png``: ``spec.realsr_root`` when set
    (nothing else is tried), else ``$COMPANION_REALSR``, else the data root's ``RealSR/Canon/Test/4``
    (:func:`companion.data.folders.data_root`), else a developer's copy beside the checkout
    (:data:`DEVELOPER_REALSR`). Each folder may hold the two files directly or under ``Canon/Test/4``."""
    if spec.realsr_root:
        candidates = [Path(spec.realsr_root).expanduser()]
    else:
        candidates = []
        if os.environ.get(REALSR_ENV_VAR):
            candidates.append(Path(os.environ[REALSR_ENV_VAR]).expanduser())
        try:
            candidates.append(data_root() / "RealSR")
        except CompanionError:
            pass                                       # no data root on this machine
        candidates.append(DEVELOPER_REALSR)
    for folder in candidates:
        for place in (folder, folder / REALSR_SUBFOLDER):
            if all((place / name).is_file() for name in REALSR_FILES):
                return place
    looked = ", ".join(str(c) for c in candidates)
    raise CompanionError(f"RealSR's {REALSR_FILES[0]} / {REALSR_FILES[1]} not found (looked in {looked}); run "
                         f"`python -m companion download RealSR` (see its --archive and --sha256), or set "
                         f"{REALSR_ENV_VAR} (or {DATA_ENV_VAR}) to a folder that holds them")


def realsr_pair(spec: FrequencySpec) -> dict:
    """RealSR v1's Canon_003 ×4 pair: ``{"lr", "hr", "folder"}``, both H×W×3 float32 on the HR grid (the LR image
    is registered onto it by RealSR's authors), centre-cropped to ``spec.realsr_crop`` px (0 = whole) and to a
    multiple of the scale. A one-line :class:`CompanionError` when the files are not found."""
    folder = realsr_folder(spec)
    hr, lr = (load_image(folder / name) for name in REALSR_FILES)
    if hr.shape != lr.shape:
        raise CompanionError(f"RealSR pair in {folder}: HR is {hr.shape[1]}×{hr.shape[0]} but LR "
                             f"{lr.shape[1]}×{lr.shape[0]}; v1's LR images are on the HR grid (same size)")
    if spec.realsr_crop:
        hr, lr = centre_crop_at_most(hr, spec.realsr_crop), centre_crop_at_most(lr, spec.realsr_crop)
    scale = _scale(spec)
    return {"hr": modcrop(np.ascontiguousarray(hr), scale), "lr": modcrop(np.ascontiguousarray(lr), scale),
            "folder": str(folder)}


def real_test_or_reason(spec: FrequencySpec, models: dict, *, progress: bool = True) -> tuple[dict | None, str]:
    """(:func:`real_test` on :func:`realsr_pair`, "") when the real pair is on this machine, else (None, the
    one-line reason it is not), so a notebook can skip the section and say why."""
    try:
        pair = realsr_pair(spec)
    except CompanionError as error:
        return None, str(error)
    return real_test(spec, models, pair, progress=progress), ""


def real_test(spec: FrequencySpec, models: dict, pair: dict, *, progress: bool = True) -> dict:
    """The real pair: each model fed the HR image (identity: PSNR(output, HR), HF excess over HR) and the real LR
    image (PSNR(output, HR), HF excess over HR); seeds × 1 lists in ``"scores"``, the LR image's own PSNR and
    HF excess in ``"lr"``, the first seed's PSDs and outputs in ``"psd"`` and ``"figure"``."""
    scale = _scale(spec)
    hr, lr = pair["hr"], pair["lr"]
    freqs, p_hr = psd(hr)
    result = {"freqs": freqs, "psd": {"hr": p_hr, "lr": psd(lr)[1]}, "figure": {"hr": hr, "lr": lr},
              "lr": {"psnr": sr_psnr(lr, hr, scale), "hf_excess": hf_excess(lr, hr)}, "scores": {},
              "seeds": [s for s, _, _ in models["baseline"]], "folder": pair["folder"]}
    bar = _bar(2 * sum(len(v) for v in models.values()), "RealSR pair", progress)
    for kind, entries in models.items():
        scores = {"identity_psnr": [], "identity_hf_excess": [], "real_psnr": [], "real_hf_excess": []}
        for index, (_, model, _) in enumerate(entries):
            from_hr, from_lr = apply(model, hr), apply(model, lr)
            scores["identity_psnr"].append([sr_psnr(from_hr, hr, scale)])
            scores["identity_hf_excess"].append([hf_excess(from_hr, hr)])
            scores["real_psnr"].append([sr_psnr(from_lr, hr, scale)])
            scores["real_hf_excess"].append([hf_excess(from_lr, hr)])
            if index == 0:
                result["figure"][f"{kind}_from_hr"], result["figure"][f"{kind}_from_lr"] = from_hr, from_lr
                result["psd"][f"{kind}_from_hr"], result["psd"][f"{kind}_from_lr"] = psd(from_hr)[1], psd(from_lr)[1]
            bar.update(2)
        result["scores"][kind] = scores
    bar.close()
    return result


# --------------------------------------------------------------------------------------------------------
# Fig. 4.5: a CutBlurred input and the Δ maps.


def cutblurred(hr: np.ndarray, scale: int, alpha: float = DEFAULT_ALPHAS["cutblur"]
               ) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(the CutBlurred input, the LR image on the grid, the box (top, left, height, width)): the HR image inside a
    centred box of side ratio ``alpha`` (sides rounded down to whole LR pixels, corners on the LR grid), the LR
    image (MATLAB bicubic ↓``scale``, nearest-neighbour back) outside: x̂_HQ→LQ of Eq. 4.1. ``hr`` must be a
    multiple of ``scale`` in size."""
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise CompanionError(f"cutblurred needs an image whose sides are multiples of {scale}; got {hr.shape[:2]}")
    lr, _ = lr_on_grid(hr, scale)
    h, w = hr.shape[:2]
    bh, bw = (int(alpha * side) // scale * scale for side in (h, w))
    if min(bh, bw) < scale:
        raise CompanionError(f"a {w}×{h} image is too small for a box of side ratio {alpha}")
    top, left = (h - bh) // 2 // scale * scale, (w - bw) // 2 // scale * scale
    image = lr.copy()
    image[top:top + bh, left:left + bw] = hr[top:top + bh, left:left + bw]
    return image, lr, (top, left, bh, bw)


def _inside_mask(shape, box) -> np.ndarray:
    mask = np.zeros(shape[:2], dtype=bool)
    top, left, bh, bw = box
    mask[top:top + bh, left:left + bw] = True
    return mask


def box_means(values: np.ndarray, box) -> tuple[float, float]:
    """(mean of an H×W map inside ``box``, mean outside it)."""
    inside = _inside_mask(values.shape, box)
    return float(values[inside].mean()), float(values[~inside].mean())


def delta_maps(output: np.ndarray, image: np.ndarray, hr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|output − input|, |output − HR|), each H×W, mean over RGB, in 8-bit levels."""
    return (np.abs(output - image).mean(axis=2) * LEVELS, np.abs(output - hr).mean(axis=2) * LEVELS)


def delta_test(spec: FrequencySpec, models: dict, *, progress: bool = True) -> dict:
    """Fig. 4.5: every model fed each test photograph CutBlurred (:func:`cutblurred`). Returns ``{"images",
    "seeds", "scores": {kind: {"change_hr", "change_lr", "error_hr", "error_lr"}}}`` (seeds × images; "hr" is
    inside the box, "lr" outside), ``"input_error"`` (the input's own mean |input − HR| inside and outside, per
    image), and for ``spec.figure_image`` with the first seed ``"figure"`` (HR, input, box and each kind's
    output and maps)."""
    scale = _scale(spec)
    images = _test_photographs(spec)
    names = list(images)
    inputs = {name: cutblurred(hr, scale) for name, hr in images.items()}
    result = {"images": names, "seeds": [s for s, _, _ in models["baseline"]], "scores": {}, "input_error": {}}
    for name, (image, _, box) in inputs.items():
        inside_error, outside_error = box_means(np.abs(image - images[name]).mean(axis=2) * LEVELS, box)
        result["input_error"][name] = {"hr": inside_error, "lr": outside_error}
    image, lr, box = inputs[spec.figure_image]
    result["figure"] = {"hr": images[spec.figure_image], "input": image, "box": box}
    bar = _bar(sum(len(v) for v in models.values()) * len(names), "Fig. 4.5: CutBlurred input", progress)
    for kind, entries in models.items():
        scores = {"change_hr": [], "change_lr": [], "error_hr": [], "error_lr": []}
        for index, (_, model, _) in enumerate(entries):
            rows = {key: [] for key in scores}
            for name in names:
                image, _, box = inputs[name]
                out = apply(model, image)
                change, error = delta_maps(out, image, images[name])
                (change_hr, change_lr), (error_hr, error_lr) = box_means(change, box), box_means(error, box)
                rows["change_hr"].append(change_hr)
                rows["change_lr"].append(change_lr)
                rows["error_hr"].append(error_hr)
                rows["error_lr"].append(error_lr)
                if index == 0 and name == spec.figure_image:
                    result["figure"][kind] = {"output": out, "change": change, "error": error}
                bar.update(1)
            for key in scores:
                scores[key].append(rows[key])
        result["scores"][kind] = scores
    bar.close()
    return result


# --------------------------------------------------------------------------------------------------------
# Claims, tables and the ledger.


def _negated(grid) -> list:
    return (-np.asarray(grid, dtype=float)).tolist()


def claims(identity: dict, delta: dict, real: dict | None = None) -> list[dict]:
    """The thesis' statements judged on paired scores (:func:`companion.summary.check_claims`): "A beats B" is
    the mean paired difference A − B over seeds × images, with its interval. Lower-is-better scores (Δ, HF
    excess of the CutBlur model) are negated so the difference reads "how much better"."""
    base, cut = identity["scores"]["baseline"], identity["scores"]["cutblur"]
    zeros = np.zeros_like(np.asarray(base["hf_excess"], dtype=float)).tolist()
    items = [
        ("Figure 4.4",
         "on an HR input the CutBlur model stays nearer the identity than the baseline (PSNR to the input)",
         cut["identity_psnr"], base["identity_psnr"], "dB"),
        ("Figure 4.4", "on an HR input the baseline over-sharpens (HF excess above zero)", base["hf_excess"], zeros,
         "log10"),
        ("Figure 4.4", "on an HR input the baseline adds more high-frequency power than the CutBlur model",
         base["hf_excess"], cut["hf_excess"], "log10"),
    ]
    d_base, d_cut = delta["scores"]["baseline"], delta["scores"]["cutblur"]
    items += [
        ("Figure 4.5", "on a CutBlurred input the CutBlur model changes the HR region less than the baseline",
         _negated(d_cut["change_hr"]), _negated(d_base["change_hr"]), "levels"),
        ("Figure 4.5", "on a CutBlurred input the CutBlur model's error in the HR region is lower",
         _negated(d_cut["error_hr"]), _negated(d_base["error_hr"]), "levels"),
        ("Figure 4.5", "on a CutBlurred input the CutBlur model's error in the LR region is lower",
         _negated(d_cut["error_lr"]), _negated(d_base["error_lr"]), "levels"),
    ]
    if real is not None:
        r_base, r_cut = real["scores"]["baseline"], real["scores"]["cutblur"]
        items += [
            ("Figure 4.4", "RealSR HR input: the CutBlur model stays nearer the identity", r_cut["identity_psnr"],
             r_base["identity_psnr"], "dB"),
            ("Figure 4.4", "RealSR LR input: the CutBlur model's output is nearer the HR image", r_cut["real_psnr"],
             r_base["real_psnr"], "dB"),
        ]
    checked = []
    for entry, claim, better, worse, unit in items:
        [result] = check_claims([(entry, claim, better, worse)], unit=unit)
        checked.append(result)
    return checked


def _flat(grid) -> list[float]:
    return [float(v) for row in grid for v in row]


def identity_table(identity: dict) -> str:
    """Fig. 4.4's numbers as a Markdown table: per model, mean ± std over seeds × images of the PSNR to the input
    and the HF excess, and each image's mean over seeds."""
    names = identity["images"]
    rows = []
    for kind, scores in identity["scores"].items():
        per_image = np.asarray(scores["identity_psnr"], dtype=float).mean(axis=0)
        per_image_hf = np.asarray(scores["hf_excess"], dtype=float).mean(axis=0)
        rows.append([MODEL_LABELS[kind], pm(mean_std(_flat(scores["identity_psnr"]))),
                     pm(mean_std(_flat(scores["hf_excess"])), 3),
                     ", ".join(f"{n} {p:.2f} / {h:+.3f}" for n, p, h in zip(names, per_image, per_image_hf))])
    return markdown_table(["model", "PSNR(output, HR input) dB", f"HF excess (log10, f in {HF_BAND})",
                           "per image: PSNR / HF excess (mean over seeds)"], rows)


def delta_table(delta: dict) -> str:
    """Fig. 4.5's numbers as a Markdown table: mean ± std over seeds × images of the change and the error inside
    (HR) and outside (LR) the box, in 8-bit levels, and the input's own error."""
    error = delta["input_error"].values()
    rows = [["input (CutBlurred)", "0", "0", pm(mean_std([e["hr"] for e in error])),
             pm(mean_std([e["lr"] for e in error]))]]
    for kind, s in delta["scores"].items():
        rows.append([MODEL_LABELS[kind], *(pm(mean_std(_flat(s[key]))) for key in
                                           ("change_hr", "change_lr", "error_hr", "error_lr"))])
    return markdown_table(["", "|out − in|, HR box", "|out − in|, LR part", "|out − HR|, HR box",
                           "|out − HR|, LR part"], rows)


def real_table(real: dict) -> str:
    """The real pair's numbers as a Markdown table (mean ± std over seeds; one image)."""
    rows = [["LR image itself", "–", "–", f"{real['lr']['psnr']:.2f}", f"{real['lr']['hf_excess']:+.3f}"]]
    for kind, s in real["scores"].items():
        rows.append([MODEL_LABELS[kind], pm(mean_std(_flat(s["identity_psnr"]))),
                     pm(mean_std(_flat(s["identity_hf_excess"])), 3), pm(mean_std(_flat(s["real_psnr"]))),
                     pm(mean_std(_flat(s["real_hf_excess"])), 3)])
    return markdown_table(["", "HR input: PSNR to HR (dB)", "HR input: HF excess", "LR input: PSNR to HR (dB)",
                           "LR input: HF excess over HR"], rows)


def versions_table(versions: dict) -> str:
    """Fig. 4.3's numbers as a Markdown table: each version's fitted α and its HF log10 ratio to the original."""
    rows = [[v["label"], f"{v['alpha']:.3f}", f"{v['hf_ratio']:+.3f}"] for v in versions["versions"].values()]
    return markdown_table(["image", "fitted α (1/f^α, 0.05-0.4 cycles/px)",
                           f"mean log10 PSD ratio to the original, f in {HF_BAND}"], rows)


def _protocol(spec: FrequencySpec, what: str) -> str:
    run = spec.baseline
    return (f"{what}; {run.model} {run.size} ×{run.recipe.scale} same-grid, {run.recipe.train.steps} steps, "
            f"{spec.seeds} seed(s), baseline vs CutBlur (α {DEFAULT_ALPHAS['cutblur']:g}); radial PSD of the luma, "
            f"no window; HF band {HF_BAND} cycles/px")


def record_versions(run, spec: FrequencySpec, versions: dict) -> None:
    """Fig. 4.3's fitted α and HF ratio of each version beside the figure's entry."""
    where = (f"one seeded draw per augmentation at Table 4.1's α on the {spec.psd_crop}-px centre of "
             f"{spec.psd_image}; radial PSD of the luma, no window; α fitted over 0.05-0.4 cycles/px")
    for key, v in versions["versions"].items():
        run.record(f"fig4_3/{key}/alpha", round(v["alpha"], 4), entry="Figure 4.3", row=v["label"],
                   column="fitted alpha", protocol=where)
        if key != "original":
            run.record(f"fig4_3/{key}/hf_log_ratio", round(v["hf_ratio"], 4), entry="Figure 4.3", row=v["label"],
                       column=f"mean log10 PSD ratio to the original, f in {HF_BAND}", protocol=where)


def record_results(run, spec: FrequencySpec, identity: dict, delta: dict, checked: list[dict],
                   real: dict | None = None) -> None:
    """Figs. 4.4-4.5's means over seeds × images (and the real pair's over seeds) and every claim's verdict."""
    for kind, s in identity["scores"].items():
        where = _protocol(spec, f"the HR test photographs ({spec.eval_crop or 'whole'} px) as input")
        run.record(f"fig4_4/{kind}/identity_psnr", pm(mean_std(_flat(s["identity_psnr"]))), entry="Figure 4.4",
                   row=MODEL_LABELS[kind], column="PSNR(output, HR input) dB", protocol=where)
        run.record(f"fig4_4/{kind}/hf_excess", pm(mean_std(_flat(s["hf_excess"])), 3), entry="Figure 4.4",
                   row=MODEL_LABELS[kind], column="HF excess (log10)", protocol=where)
    for kind, s in delta["scores"].items():
        where = _protocol(spec, "the test photographs CutBlurred (HR in a centred box, LR outside); Δ in 8-bit levels")
        for key, column in (("change_hr", "|out − in|, HR box"), ("change_lr", "|out − in|, LR part"),
                            ("error_hr", "|out − HR|, HR box"), ("error_lr", "|out − HR|, LR part")):
            run.record(f"fig4_5/{kind}/{key}", pm(mean_std(_flat(s[key]))), entry="Figure 4.5",
                       row=MODEL_LABELS[kind], column=column, protocol=where)
    if real is not None:
        where = _protocol(spec, f"RealSR v1 Canon_003 ×4 ({spec.realsr_crop or 'whole'} px centre)")
        for kind, s in real["scores"].items():
            for key in ("identity_psnr", "identity_hf_excess", "real_psnr", "real_hf_excess"):
                run.record(f"fig4_4/realsr/{kind}/{key}", pm(mean_std(_flat(s[key])), 3), entry="Figure 4.4",
                           row=f"{MODEL_LABELS[kind]}, RealSR", column=key.replace("_", " "), protocol=where)
    for claim in checked:
        run.record(f"claim/{claim['claim']}", claim["verdict"], entry=claim["entry"], note=claim["detail"])
