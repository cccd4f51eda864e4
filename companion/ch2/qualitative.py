"""Chapter 2's qualitative figures and Table 2.8 (thesis §2.3.2, §2.4.6, §2.4.7): crops chosen by fixed rules,
each labelled with its PSNR, and the perceptual scores of the PCARN variants across scales.

The thesis' Figs. 2.10, 2.11, 2.13 and 2.14 are hand-picked crops with no numbers. Here every crop window is
chosen by a rule stated before any run, and every crop carries its PSNR (Y of BT.601, outputs rounded to 8 bits,
no border: the window is inside the image), so the figures can be checked rather than believed:

* :func:`highest_gradient_window` (Fig. 2.10, pixel-based ×4): the window with the largest sum of squared
  Sobel gradient magnitude of the HR luma (edges, stripes, lines: what §2.4.6 says CARN restores), chosen on
  the HR image alone;
* :func:`texture_window` (Fig. 2.13, perception-based ×4): the window with the largest *median* |Laplacian| of
  the HR luma: fine detail everywhere in the window (fur, foliage, pebbles), not a few strong edges; chosen on
  the HR image alone;
* :func:`failure_window` (Fig. 2.11, PCARN's failure case): among the dense windows (gradient energy at or
  above the :attr:`QualitativeConfig.dense_quantile` of the image's windows), the one where the adversarially
  trained model loses the most PSNR to its own L1 generator. This rule looks at the outputs on purpose: the
  figure is a failure case, and the rule says which one, instead of an eye picking it.

Fig. 2.14 (text, Manga109 ×4): the quick profile cannot read Manga109 (it has no public download); it renders
text with Pillow's built-in font (:func:`render_text`, ``PIL.ImageFont.load_default`` at a few sizes), which
**is not Manga109**: it shows whether small fonts survive ×4, with a PSNR per font size. The full profile uses
the user's Manga109 (``<data>/benchmark/Manga109/HR/``) when it is there.

Table 2.8 (LPIPS / NIMA of PCARN and PCARN-M at ×2, ×3, ×4): :func:`table_2_8` scores the authors' released
multi-scale PCARN / PCARN-M with LPIPS (torchmetrics' AlexNet, :func:`companion.ch2.pcarn_scores.lpips_metric`) when
its AlexNet weights are already on the machine; nothing is downloaded, and without them each LPIPS cell is
recorded ``full-only``. NIMA is never reproduced: its authors released no weights, and no maintained offline
implementation with ImageNet/AVA weights ships with the libraries the companion uses.

Figure 2.3 (the multi-scale discriminator) is drawn from the real module: :func:`msd_facts` (exact parameter
count and map shapes of the paper-size S = 3 discriminator) and :func:`msd_maps` (each scale's pooled input
and real/fake map from the discriminator trained in ``02c``).

Profiles: :data:`companion.ch2.config.QUALITATIVE_PROFILES` (:class:`QualitativeConfig`); a notebook takes its
profile's from its own spec (``cfg.qualitative`` of :class:`companion.ch2.config.CARNConfig` and
:class:`companion.ch2.config.PCARNConfig`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from skimage.filters import laplace, sobel
from torch.nn import functional as F

from companion.ch2 import zoo as ch2_zoo
from companion.ch2.authors_weights import load_authors_carn
from companion.ch2.config import HELD_OUT, OURS_GAN, OURS_L1, PAPER_SETS, TABLE_2_8_SCALES, QualitativeConfig
from companion.ch2.evaluation import find_authors_weights, sr_pairs, super_resolve
from companion.ch2.pcarn_scores import lpips_score, super_resolve_all, textured_crop
from companion.data.images import centre_crop_at_most, embedded_image
from companion.data.sr import SRBenchmark, lr_hr_pair
from companion.errors import CompanionError
from companion.metrics import psnr, rgb_to_y
from companion.models.common import count_parameters
from companion.models.discriminators import MultiScaleDiscriminator
from companion.zoo import load_entry, status


#: Table 2.8's rows: the authors' release behind each (both multi-scale ×2/×3/×4 networks).
TABLE_2_8_RELEASES = {"PCARN": "pcarn", "PCARN-M": "pcarn-m"}
#: Fig. 2.14's rendered text (a pangram and digits: every Latin letter once at each size).
TEXT = "The quick brown fox jumps over the lazy dog 0123456789"
#: Why NIMA (Tables 2.6, 2.8) is not measured anywhere in the companion.
NIMA_REASON = ("NIMA is not reproduced at any profile: its authors released no trained weights, the scores depend "
               "on which re-implementation and AVA training run is used, and no maintained offline NIMA ships "
               "with the libraries the companion uses")
#: Fig. 2.10's zoo models (quick-size, L1, single-scale ×4; companion.ch2.zoo): stem -> label.
ZOO_PIXEL = {"carn-x4": "CARN (quick size, zoo)", "carn-m-x4": "CARN-M (quick size, zoo)"}
#: Fig. 2.10's authors' releases (pixel-based, ECCV 2018), when found: release name -> label.
AUTHORS_PIXEL = {"carn-m": "CARN-M, authors'", "carn": "CARN, authors'"}


# --------------------------------------------------------------------------------------------------------
# Crop rules.


@dataclass(frozen=True)
class Window:
    """A square crop window: ``top``, ``left``, ``side`` (HR px), the ``score`` the rule ranked it by, the ``rule``."""

    top: int
    left: int
    side: int
    score: float
    rule: str

    def cut(self, image):
        return np.asarray(image)[self.top:self.top + self.side, self.left:self.left + self.side]


def _luma(image) -> np.ndarray:
    return rgb_to_y(np.clip(np.asarray(image, dtype=np.float64), 0, 1))


def _positions(h: int, w: int, side: int) -> list[tuple[int, int]]:
    """Top-left corners of ``side``-px windows on a grid of ``side // 4`` px, the last row/column flush with the
    image's edge."""
    step = max(1, side // 4)
    tops = sorted(set(range(0, h - side + 1, step)) | {h - side})
    lefts = sorted(set(range(0, w - side + 1, step)) | {w - side})
    return [(t, l) for t in tops for l in lefts]


def _side(image, side: int) -> int:
    h, w = np.shape(image)[:2]
    if side < 8:
        raise CompanionError(f"crop side {side} px is too small; use at least 8")
    return int(min(side, h, w))


def _window_sums(energy: np.ndarray, side: int) -> tuple[list[tuple[int, int]], np.ndarray]:
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    pos = _positions(*energy.shape, side)
    t = np.array([p[0] for p in pos])
    l = np.array([p[1] for p in pos])
    sums = integral[t + side, l + side] - integral[t, l + side] - integral[t + side, l] + integral[t, l]
    return pos, sums


def gradient_energy(image) -> np.ndarray:
    """Squared Sobel gradient magnitude of the BT.601 luma (:func:`skimage.filters.sobel`), per pixel."""
    return sobel(_luma(image)) ** 2


def highest_gradient_window(hr, side: int) -> Window:
    """Fig. 2.10's rule: the ``side``-px window of ``hr`` with the largest sum of :func:`gradient_energy` (grid of
    ``side // 4`` px; ties: the first in raster order). Chosen on the HR image alone. ``score``: the mean
    squared gradient magnitude in the window."""
    side = _side(hr, side)
    pos, sums = _window_sums(gradient_energy(hr), side)
    i = int(np.argmax(sums))
    return Window(*pos[i], side, float(sums[i] / side ** 2), "highest HR gradient energy (sum of squared Sobel "
                                                             "magnitude of the luma)")


def texture_window(hr, side: int) -> Window:
    """Fig. 2.13's rule: the ``side``-px window of ``hr`` with the largest median |Laplacian| of its luma
    (:func:`skimage.filters.laplace`): detail spread over the whole window (texture), where a sum would also
    reward one strong edge. Chosen on the HR image alone. ``score``: that median."""
    side = _side(hr, side)
    lap = np.abs(laplace(_luma(hr)))
    best, where = -1.0, (0, 0)
    for top, left in _positions(*lap.shape, side):
        m = float(np.median(lap[top:top + side, left:left + side]))
        if m > best:
            best, where = m, (top, left)
    return Window(*where, side, best, "highest median |Laplacian| of the HR luma (texture)")


def crop_psnr(sr, hr, window: Window) -> float:
    """PSNR (dB) of ``sr`` against ``hr`` inside ``window``: :func:`companion.metrics.psnr` on the Y channel of
    BT.601, both rounded to 8 bits, no border (the window is inside the image)."""
    return _psnr8(window.cut(sr), window.cut(hr))


def _psnr8(sr, hr) -> float:
    """:func:`companion.metrics.psnr` on Y of BT.601 after rounding both images to 8 bits, no border."""
    def q(a):
        return np.floor(np.clip(np.asarray(a, dtype=np.float64), 0, 1) * 255.0 + 0.5) / 255.0

    return float(psnr(q(sr), q(hr), channel="y"))


def failure_window(hr, l1, gan, side: int, quantile: float = 0.75) -> Window:
    """Fig. 2.11's rule: among the ``side``-px windows of ``hr`` whose gradient energy is at or above the
    ``quantile`` of all its windows (dense structure), the one where ``gan`` loses the most PSNR to ``l1``
    (:func:`crop_psnr`, ties: the first in raster order). ``score``: PSNR(gan) − PSNR(l1) there, in dB."""
    if not 0 <= quantile < 1:
        raise CompanionError(f"dense_quantile must be in [0, 1), got {quantile!r}")
    side = _side(hr, side)
    pos, sums = _window_sums(gradient_energy(hr), side)
    threshold = np.quantile(sums, quantile)
    best, where = np.inf, pos[int(np.argmax(sums))]
    for (top, left), s in zip(pos, sums):
        if s < threshold:
            continue
        w = Window(top, left, side, 0.0, "")
        diff = crop_psnr(gan, hr, w) - crop_psnr(l1, hr, w)
        if diff < best:
            best, where = diff, (top, left)
    return Window(*where, side, float(best), f"largest PSNR loss of the GAN model to its L1 model among the "
                                             f"windows in the top {1 - quantile:.0%} of HR gradient energy")


def crop_table(outputs: dict, windows: dict[str, Window]) -> dict[str, dict[str, float]]:
    """``{image: {method: crop PSNR}}`` for every method of ``outputs`` (all but "HR") in each image's window."""
    hr = outputs["HR"]
    return {image: {m: crop_psnr(out[image], hr[image], w) for m, out in outputs.items() if m != "HR"}
            for image, w in windows.items()}


def _top_rows(windows: dict[str, Window], rows: int, *, lowest: bool = False) -> dict[str, Window]:
    order = sorted(windows, key=lambda n: windows[n].score, reverse=not lowest)
    keep = set(order[:max(1, rows)])
    return {n: w for n, w in windows.items() if n in keep}


# --------------------------------------------------------------------------------------------------------
# Figure 2.10 (02a): pixel-based methods.


def pixel_models(authors: dict, *, seed: int = 0) -> tuple[dict, list[str], dict[str, str]]:
    """Fig. 2.10's models: the model zoo's quick-size CARN and CARN-M (:data:`ZOO_PIXEL`, L1, ×4; loaded when
    current: :func:`companion.zoo.status`) and the authors' CARN-M / CARN (:data:`AUTHORS_PIXEL`) from
    ``authors`` (``{release name: model}``, :attr:`companion.ch2.evaluation.WeightsEvaluation.models`).
    Returns ``({label: model}, [why each missing one is missing], {label: where it comes from})``."""
    models, missing, sources = {}, [], {}
    for stem, label in ZOO_PIXEL.items():
        entry = ch2_zoo.main_entry(stem, seed) if seed in ch2_zoo.SEEDS else None
        if entry is None:
            missing.append(f"{label}: the zoo has no ch2/{stem}-seed{seed}")
            continue
        state = status(entry)
        if state != "current":
            missing.append(f"{label}: zoo entry {entry.name} is {state} (`python -m companion zoo build "
                           f"{entry.name}` builds it)")
            continue
        model, meta = load_entry(entry)
        models[label] = model.eval()
        sources[label] = f"zoo {entry.name} ({meta.get('steps', '?')} L1 steps on the embedded training photographs)"
    for name, label in AUTHORS_PIXEL.items():
        if name in authors:
            models[label] = authors[name]
            sources[label] = "the authors' released weights"
        else:
            missing.append(f"{label}: the authors' weights are not on this machine (`python -m companion download "
                           f"{name}`); panel omitted")
    return models, missing, sources


def pixel_pairs(qcfg: QualitativeConfig, scale: int = 4, *, data_root=None) -> list[tuple[str, object, object]]:
    """Fig. 2.10's ``[(name, LR, HR)]`` at ``scale``: the embedded photographs ``qcfg.images`` (centre-cropped
    to ``qcfg.image_crop`` when set), or, with ``qcfg.sets``, one image per set read from the data folder: the
    one whose :func:`highest_gradient_window` scores highest (named ``<set>/<image>``)."""
    if not qcfg.sets:
        return [(n, *lr_hr_pair(centre_crop_at_most(embedded_image(n), qcfg.image_crop) if qcfg.image_crop
                                else embedded_image(n), scale)) for n in qcfg.images]
    pairs = []
    for name in qcfg.sets:
        data = SRBenchmark(name, scale, root=data_root)
        best, chosen = -1.0, None
        for i in range(len(data)):
            lr, hr = data.pair(i)
            score = highest_gradient_window(hr, qcfg.crop).score
            if score > best:
                best, chosen = score, (f"{name}/{data.names[i]}", lr, hr)
        pairs.append(chosen)
    return pairs


def figure_2_10_data(models: dict, pairs, qcfg: QualitativeConfig, scale: int = 4, *, device="cpu") -> dict:
    """Every model's ×``scale`` output on ``pairs`` (:func:`companion.ch2.pcarn_scores.super_resolve_all`, bicubic
    included), each image's :func:`highest_gradient_window` and the :func:`crop_table` of PSNRs in it.
    Returns ``{"outputs", "windows", "psnr", "scale"}``."""
    outputs = super_resolve_all(models, pairs, scale, device=device)
    windows = _top_rows({n: highest_gradient_window(hr, qcfg.crop) for n, hr in outputs["HR"].items()}, qcfg.rows)
    return {"outputs": outputs, "windows": windows, "psnr": crop_table(outputs, windows), "scale": scale}


def _crop_protocol(data: dict, where: str) -> str:
    w = next(iter(data["windows"].values()))
    return (f"{where}, x{data['scale']}; PSNR of the {w.side}-px crop window only: Y (BT.601), 8-bit outputs, no "
            f"border; window rule: {w.rule}, on a grid of {max(1, w.side // 4)} px")


def record_figure_2_10(run, data: dict, missing: list[str] = (), sources: dict | None = None) -> list[str]:
    """Record each crop's PSNR beside Figure 2.10 (``fig2_10/<image>/<method>``) and return printable lines.
    ``missing`` / ``sources``: :func:`pixel_models`' second and third values."""
    images = ", ".join(data["windows"])
    proto = _crop_protocol(data, f"images {images}")
    note = ("the thesis' Fig. 2.10 prints no numbers and uses Set14/B100/Urban100 crops"
            + ("; these are held-out embedded photographs" if "/" not in images else ""))
    if sources:
        note += "; models: " + "; ".join(f"{label}: {where}" for label, where in sources.items())
    if missing:
        note += "; not shown: " + "; ".join(m.split(":")[0] for m in missing)
    lines = []
    for image, row in data["psnr"].items():
        w = data["windows"][image]
        for method, value in row.items():
            run.record(f"fig2_10/{image}/{method}", round(value, 3), entry="Figure 2.10", protocol=proto, note=note)
        lines.append(f"{image} ({w.top}, {w.left}): " + ", ".join(f"{m} {v:.2f} dB" for m, v in row.items()))
    return lines + [f"not shown: {m}" for m in missing]


# --------------------------------------------------------------------------------------------------------
# Figures 2.11 and 2.13 (02c): the perception-based models.


def gan_pair(outputs: dict) -> tuple[str, str]:
    """The (L1, GAN) labels Fig. 2.11's rule compares: the authors' PCARN-M (L1) / PCARN-M when both are in
    ``outputs``, else ours."""
    theirs = ("PCARN-M (L1), authors'", "PCARN-M, authors'")
    if all(t in outputs for t in theirs):
        return theirs
    if OURS_L1 in outputs and OURS_GAN in outputs:
        return OURS_L1, OURS_GAN
    raise CompanionError("Fig. 2.11 needs an L1 model and its GAN fine-tuning in the outputs; found: "
                         + ", ".join(m for m in outputs if m != "HR"))


def figure_2_11_data(outputs: dict, qcfg: QualitativeConfig, scale: int = 4) -> dict:
    """Fig. 2.11 on ``outputs`` (:func:`companion.ch2.pcarn_scores.super_resolve_all`): per image the
    :func:`failure_window` of :func:`gan_pair`, the ``qcfg.rows`` images with the largest loss, their
    :func:`crop_table`. Returns ``{"outputs", "windows", "psnr", "pair", "scale"}``."""
    l1, gan = gan_pair(outputs)
    windows = {n: failure_window(hr, outputs[l1][n], outputs[gan][n], qcfg.crop, qcfg.dense_quantile)
               for n, hr in outputs["HR"].items()}
    windows = _top_rows(windows, qcfg.rows, lowest=True)
    return {"outputs": outputs, "windows": windows, "psnr": crop_table(outputs, windows), "pair": (l1, gan),
            "scale": scale}


def figure_2_13_data(outputs: dict, qcfg: QualitativeConfig, scale: int = 4, *, lpips=None, device="cpu") -> dict:
    """Fig. 2.13 on ``outputs``: per image the :func:`texture_window`, the ``qcfg.rows`` most textured, their
    :func:`crop_table`, and each crop's LPIPS when ``lpips`` (:func:`companion.ch2.pcarn_scores.lpips_metric`) is given.
    Returns ``{"outputs", "windows", "psnr", "lpips" (None without a metric), "scale"}``."""
    windows = _top_rows({n: texture_window(hr, qcfg.crop) for n, hr in outputs["HR"].items()}, qcfg.rows)
    scores = None
    if lpips is not None:
        hr = outputs["HR"]
        scores = {n: {m: lpips_score(lpips, w.cut(o[n]), w.cut(hr[n]), device=device)
                      for m, o in outputs.items() if m != "HR"} for n, w in windows.items()}
    return {"outputs": outputs, "windows": windows, "psnr": crop_table(outputs, windows), "lpips": scores,
            "scale": scale}


def record_crops(run, data: dict, entry: str, *, where: str, note: str = "") -> list[str]:
    """Record every crop PSNR of ``data`` (and LPIPS when present) beside ``entry`` (keys
    ``<fig>/<image>/<method>[/lpips]``); return printable lines."""
    prefix = entry.lower().replace("figure ", "fig").replace(".", "_")
    proto = _crop_protocol(data, where)
    lines = []
    for image, row in data["psnr"].items():
        w = data["windows"][image]
        for method, value in row.items():
            run.record(f"{prefix}/{image}/{method}", round(value, 3), entry=entry, protocol=proto, note=note)
            if data.get("lpips"):
                run.record(f"{prefix}/{image}/{method}/lpips", round(data["lpips"][image][method], 4), entry=entry,
                           protocol=proto + "; LPIPS: torchmetrics AlexNet on the RGB crop", note=note)
        extra = f", rule score {w.score:+.2f} dB" if "pair" in data else ""
        lines.append(f"{image} ({w.top}, {w.left}{extra}): " + ", ".join(f"{m} {v:.2f} dB" for m, v in row.items()))
    return lines


# --------------------------------------------------------------------------------------------------------
# Figure 2.14: text.


def render_text(sizes, width: int, scale: int = 4, text: str = TEXT) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A white page with ``text`` in black, one line per font size of ``sizes`` (HR px, Pillow's built-in font,
    ``PIL.ImageFont.load_default(size)``), ``width`` px wide (cut at the right edge; 0: as wide as the widest
    line). Each line's band is a
    multiple of ``scale`` px high and starts on the ``scale`` grid, so its LR rows are its own. Returns
    ``(H×W×3 float32 in [0, 1], [(size, top, bottom)])``. Rendered text is not Manga109: it checks whether
    small fonts survive ×``scale``, nothing about manga."""
    bands, top, widest = [], 0, 0
    for size in sizes:
        font = ImageFont.load_default(size=int(size))
        _, y0, x1, y1 = font.getbbox(text)
        height = int(np.ceil((y1 + max(2, size // 3)) / scale) * scale)
        bands.append((int(size), top, top + height, font, y0))
        top += height
        widest = max(widest, x1 + 4)
    width = int(width) if width else int(np.ceil(widest / scale) * scale)
    width -= width % scale
    page = Image.new("RGB", (width, top), "white")
    draw = ImageDraw.Draw(page)
    for size, t, _, font, y0 in bands:
        draw.text((2, t + max(1, size // 6) - min(y0, 0)), text, fill="black", font=font)
    return np.asarray(page, dtype=np.float32) / 255.0, [(s, t, b) for s, t, b, _, _ in bands]


def text_pairs(qcfg: QualitativeConfig, scale: int = 4, *, data_root=None) -> tuple[str, list, dict, str]:
    """Fig. 2.14's test images: Manga109 from the data folder (``qcfg.manga`` and ``benchmark/Manga109/HR``
    present: its first ``qcfg.rows`` images) or the rendered text of :func:`render_text`. Returns
    ``(source, [(name, LR, HR)], bands, reason)``: ``source`` "Manga109" or "rendered text"; ``bands``
    ``{name: [(size, top, bottom)]}`` for rendered text; ``reason``: why Manga109 was not used ("" when it was)."""
    reason = "the profile renders text instead" if not qcfg.manga else ""
    if qcfg.manga:
        try:
            data = SRBenchmark("Manga109", scale, root=data_root)
            count = min(len(data), max(1, qcfg.rows))
            return "Manga109", [(data.names[i], *data.pair(i)) for i in range(count)], {}, ""
        except CompanionError as exc:
            reason = f"Manga109 is not in the data folder ({str(exc).splitlines()[0][:200]})"
    hr, bands = render_text(qcfg.text_sizes, qcfg.text_width, scale)
    return "rendered text", [("text", *lr_hr_pair(hr, scale))], {"text": bands}, reason


def figure_2_14_data(models: dict, qcfg: QualitativeConfig, scale: int = 4, *, device="cpu", data_root=None) -> dict:
    """Every model's ×``scale`` output on :func:`text_pairs`; for rendered text, the PSNR of each font size's
    band (Y, 8-bit, the band's full width); for Manga109, each image's :func:`highest_gradient_window` and its
    :func:`crop_table`. Returns ``{"source", "reason", "outputs", "bands", "psnr" ({image: {size or "crop":
    {method: dB}}}), "windows", "scale"}``."""
    source, pairs, bands, reason = text_pairs(qcfg, scale, data_root=data_root)
    outputs = super_resolve_all(models, pairs, scale, device=device)
    psnr, windows = {}, {}
    for name, hr in outputs["HR"].items():
        if name in bands:
            psnr[name] = {}
            for size, top, bottom in bands[name]:
                psnr[name][size] = {m: _psnr8(o[name][top:bottom], hr[top:bottom])
                                    for m, o in outputs.items() if m != "HR"}
        else:
            windows[name] = highest_gradient_window(hr, qcfg.crop)
            psnr[name] = {"crop": {m: crop_psnr(o[name], hr, windows[name]) for m, o in outputs.items() if m != "HR"}}
    return {"source": source, "reason": reason, "outputs": outputs, "bands": bands, "psnr": psnr,
            "windows": windows, "scale": scale}


def record_figure_2_14(run, data: dict, note: str = "") -> list[str]:
    """Record Fig. 2.14's PSNRs (per font size, or per Manga109 crop) and return printable lines."""
    lines = []
    if data["source"] == "rendered text":
        sizes = ", ".join(str(s) for s, _, _ in next(iter(data["bands"].values())))
        proto = (f"text rendered with Pillow's built-in font (PIL.ImageFont.load_default) at {sizes} px, "
                 f"x{data['scale']} by MATLAB bicubic; PSNR per font size over that line's band: Y (BT.601), 8-bit, "
                 "no border")
        note = ("rendered text is NOT Manga109 (the thesis' set; no public download): it shows whether small fonts "
                "survive x4, not manga" + (f"; {data['reason']}" if data["reason"] else "") + (f"; {note}" if note
                                                                                               else ""))
    else:
        w = next(iter(data["windows"].values()))
        proto = (f"Manga109 (first {len(data['windows'])} images), x{data['scale']}; PSNR of the {w.side}-px crop: "
                 f"Y (BT.601), 8-bit, no border; window rule: {w.rule}")
    for image, groups in data["psnr"].items():
        for group, row in groups.items():
            key = f"{group}px" if isinstance(group, int) else group
            for method, value in row.items():
                run.record(f"fig2_14/{image}/{key}/{method}", round(value, 3), entry="Figure 2.14", protocol=proto,
                           note=note)
            lines.append(f"{image} {key}: " + ", ".join(f"{m} {v:.2f} dB" for m, v in row.items()))
    return lines


# --------------------------------------------------------------------------------------------------------
# Figure 2.3: the multi-scale discriminator, from the module.


def msd_facts(patch: int = 192, factors=(1, 2, 4)) -> dict:
    """Exact facts of Eq. 2.6's paper-size multi-scale discriminator
    (:class:`companion.models.discriminators.MultiScaleDiscriminator`, three Fig. 2.1 discriminators): its
    parameters (:func:`companion.models.common.count_parameters`), one discriminator's, and, for a ``patch``-px
    HR input, each scale's input side and output map shape, measured by running the module once on zeros."""

    disc = MultiScaleDiscriminator(factors).eval()
    with torch.no_grad():
        maps = disc(torch.zeros(1, 3, patch, patch))
    return {"params": count_parameters(disc), "params_one": count_parameters(disc.discriminators[0]),
            "patch": int(patch), "factors": list(disc.factors),
            "input_sides": [patch // f for f in disc.factors], "map_shapes": [list(m.shape) for m in maps]}


def msd_crops(outputs: dict, side: int) -> tuple[dict, str]:
    """Fig. 2.3's inputs: the same ``side``-px window (:func:`companion.ch2.pcarn_scores.textured_crop`, Fig. 2.5's rule,
    on the HR image) of the first test image, cut from HR and from every GAN output in ``outputs`` (ours and the
    authors' PCARN-M; L1 and bicubic outputs are left out). Returns ``({label: crop}, where)``."""
    image = next(iter(outputs["HR"]))
    top, left, side = textured_crop(outputs["HR"][image], side)
    w = Window(top, left, side, 0.0, "")
    labels = ["HR"] + [m for m in (OURS_GAN, "PCARN-M, authors'") if m in outputs]
    where = f"{image}, the {side}-px window at ({top}, {left}) of most |Laplacian| (Fig. 2.5's crop)"
    return {m: w.cut(outputs[m][image]) for m in labels}, where


def source_line(cfg, result: dict) -> str:
    """Which images and models 02c's crop figures show, for the ledger (``cfg``: its
    :class:`companion.ch2.config.PCARNConfig`; ``result``: :func:`companion.ch2.pcarn.run_experiment`)."""
    images = ", ".join(result["outputs"]["HR"])
    where = (f"held-out embedded photographs {images}" if cfg.eval_set == "embedded" else f"{cfg.eval_set}: {images}")
    l1 = result["l1"]
    stage1 = l1["checkpoint"] if l1.get("source") == "zoo" else f"L1 trained here, {l1['steps']} steps"
    theirs = [m for m in result["outputs"] if "authors'" in m]
    return (f"{where}; ours: {cfg.size}-size CARN-M x{cfg.scale}, L1 stage {stage1}, then {result['gan']['steps']} "
            f"adversarial steps (Table 2.2's protocol in this notebook)"
            + (f"; the authors' released {' and '.join(theirs)}" if theirs else "; the authors' weights not found"))


def msd_maps(disc, images: dict, *, device="cpu") -> dict:
    """Each scale's pooled input F_i(I) (Eq. 2.6; the discriminator's own average pooling) and its real/fake
    map sigmoid(D_i(F_i(I))) for every H×W×3 image of ``images`` (``{label: image}``) under ``disc`` (a
    :class:`~companion.models.discriminators.MultiScaleDiscriminator`, e.g. 02c's trained one). Returns
    ``{label: {"pooled": [H_i×W_i×3], "prob": [h_i×w_i], "mean": [float]}}``."""
    disc = disc.to(device).eval()
    out = {}
    with torch.no_grad():
        for label, image in images.items():
            x = torch.from_numpy(np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1)))[None]
            x = x.to(device)
            probs = [p[0, 0].float().cpu().numpy() for p in disc.probabilities(x)]
            pooled = [(F.avg_pool2d(x, f) if f > 1 else x)[0].cpu().numpy().transpose(1, 2, 0) for f in disc.factors]
            out[label] = {"pooled": pooled, "prob": probs, "mean": [float(p.mean()) for p in probs]}
    return out


def record_figure_2_3(run, facts: dict, maps: dict | None = None, *, where: str = "", quick_params: int = 0
                      ) -> list[str]:
    """Record Figure 2.3's exact numbers (:func:`msd_facts`) and, with ``maps`` (:func:`msd_maps` of the trained
    discriminator), each input's mean real probability per scale (measured at this profile's scale)."""
    sides = " / ".join(f"{s}x{s}" for s in facts["input_sides"])
    shapes = [f"{s[-2]}x{s[-1]}" for s in facts["map_shapes"]]
    proto = ("trainable parameters (BatchNorm affine included, running statistics excluded) of the paper-size "
             f"multi-scale discriminator: S = {len(facts['factors'])} Fig. 2.1 discriminators on the image "
             f"average-pooled x{', x'.join(map(str, facts['factors']))}")
    run.record("msd/params", facts["params"], entry="Figure 2.3", status="exact", protocol=proto,
               note=f"{facts['params_one']:,} per discriminator, three independent copies")
    run.record(f"msd/map sides for a {facts['patch']}-px HR patch", [int(s[-1]) for s in facts["map_shapes"]],
               entry="Figure 2.3", status="exact",
               protocol=f"output map of each D_i, measured by running the module on a {facts['patch']}x"
                        f"{facts['patch']} input (the full profile's 48-px LR patch at x4); inputs {sides}",
               note="each D_i has three stride-2 convs: a map of side/8 at each scale's input side; maps " +
                    ", ".join(shapes))
    lines = [f"paper-size multi-scale discriminator: {facts['params']:,} parameters ({facts['params_one']:,} each); "
             f"a {facts['patch']}-px patch -> inputs {sides} -> maps {', '.join(shapes)}"]
    if maps:
        note = ("the probability each scale's discriminator gives the crop of being real; the discriminator is 02c's "
                "adversarial stage at this profile's scale"
                + (f" ({quick_params:,} parameters)" if quick_params else ""))
        for label, m in maps.items():
            run.record(f"msd/P(real)/{label}", [round(v, 4) for v in m["mean"]], entry="Figure 2.3",
                       protocol=f"{where}; mean of sigmoid(D_i) over the map, scales x1, x2, x4", note=note)
            lines.append(f"P(real) of {label} per scale: " + ", ".join(f"{v:.2f}" for v in m["mean"]))
    return lines


# --------------------------------------------------------------------------------------------------------
# Table 2.8: LPIPS of the PCARN variants at x2, x3, x4.


def table_2_8(qcfg: QualitativeConfig, *, metric=None, reason: str = "", device="cpu", data_root=None,
              search=("../shared/weights",)) -> dict:
    """LPIPS of the authors' multi-scale PCARN and PCARN-M (:data:`TABLE_2_8_RELEASES`, looked up with
    :func:`companion.ch2.evaluation.find_authors_weights`, never downloaded) at ``qcfg.table_2_8_scales`` on
    ``qcfg.table_2_8_sets`` (benchmark sets from the data folder, or "embedded": the held-out photographs),
    mean over the images (:func:`companion.ch2.pcarn_scores.lpips_score`, whole RGB images), when ``metric``
    (:func:`companion.ch2.pcarn_scores.lpips_metric`) is given. Without it nothing is computed and ``reason`` says
    why. Returns ``{"values": [{row, set, scale, lpips, images}], "missing": {row: why}, "reason"}``."""
    out = {"values": [], "missing": {}, "reason": reason}
    if metric is None:
        return out
    for row, release in TABLE_2_8_RELEASES.items():
        lookup = find_authors_weights(release, data_root=data_root, search=search)
        if not lookup.found:
            out["missing"][row] = lookup.reason
            continue
        model = load_authors_carn(lookup.path)
        for scale in qcfg.table_2_8_scales:
            for name in qcfg.table_2_8_sets:
                if name == "embedded":
                    data = SRBenchmark(None, scale, names=HELD_OUT)
                    pairs = [(data.names[i], *data.pair(i)) for i in range(len(data))]
                else:
                    pairs = sr_pairs(name, scale, root=data_root)
                values = [lpips_score(metric, np.clip(super_resolve(model, lr, scale, device=device), 0, 1), hr,
                                      device=device) for _, lr, hr in pairs]
                out["values"].append(dict(row=f"{row} x{scale}", set=name, scale=scale,
                                          lpips=float(np.mean(values)), images=len(values)))
    return out


def record_table_2_8(run, t28: dict, qcfg: QualitativeConfig) -> list[str]:
    """Record Table 2.8: measured LPIPS in the paper's cells (benchmark sets) or beside the row (embedded
    photographs); where nothing was measured, every LPIPS cell is recorded ``full-only`` with why. NIMA is never
    measured (:data:`NIMA_REASON`)."""
    lines = []
    for v in t28["values"]:
        paper_set = v["set"] in PAPER_SETS
        run.record(f"table2_8/{v['row']}/{v['set']} LPIPS", round(v["lpips"], 4), entry="Table 2.8", row=v["row"],
                   column=f"{v['set']} LPIPS" if paper_set else None,
                   protocol=f"{v['set']} x{v['scale']}, {v['images']} images, whole RGB images, LPIPS torchmetrics "
                            "AlexNet; the authors' released multi-scale weights, scored here",
                   note=("" if paper_set else "the held-out embedded photographs are not a paper test set; ")
                   + NIMA_REASON)
        lines.append(f"{v['row']} on {v['set']}: LPIPS {v['lpips']:.3f} ({v['images']} images)")
    measured = {v["row"] for v in t28["values"]}
    full_note = ("the full profile of 02c scores the authors' released multi-scale PCARN and PCARN-M at x2, x3 and "
                 "x4 on Set5, Set14, B100 and Urban100 with LPIPS (torchmetrics AlexNet), given the user's "
                 "torchvision AlexNet weights in the torch hub cache, the four sets in the data folder and the "
                 "authors' files (`python -m companion download pcarn`, `... pcarn-m`); ")
    for row in TABLE_2_8_RELEASES:
        for scale in TABLE_2_8_SCALES:
            label = f"{row} x{scale}"
            if label in measured:
                continue
            why = t28["missing"].get(row) or t28["reason"] or "not measured at this profile"
            for name in PAPER_SETS:
                run.record(f"table2_8/{label}/{name} LPIPS", None, entry="Table 2.8", row=label,
                           column=f"{name} LPIPS", status="full-only",
                           protocol=f"{name} x{scale}, whole RGB images, LPIPS (torchmetrics AlexNet)",
                           note=f"not measured here: {why}; {full_note}{NIMA_REASON}")
            lines.append(f"{label}: not measured here ({why[:120]})")
    return lines


__all__ = ["TABLE_2_8_RELEASES", "TEXT", "NIMA_REASON", "ZOO_PIXEL", "AUTHORS_PIXEL", "Window",
           "gradient_energy", "highest_gradient_window", "texture_window", "crop_psnr", "failure_window",
           "crop_table", "pixel_models", "pixel_pairs", "figure_2_10_data", "record_figure_2_10", "gan_pair",
           "figure_2_11_data", "figure_2_13_data", "record_crops", "render_text", "text_pairs", "figure_2_14_data",
           "record_figure_2_14", "msd_facts", "msd_crops", "source_line", "msd_maps", "record_figure_2_3",
           "table_2_8", "record_table_2_8"]
