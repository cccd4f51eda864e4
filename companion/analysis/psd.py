"""Radially averaged power spectral density (PSD) and its 1/f^α fit (thesis Ch.4 §4.4, Fig. 4.3 and 4.4).

The thesis uses the PSD "to visualise the distribution of frequency content in an image", plotted on a log
scale, and models it as ``1/f^α`` with ``α ∈ [1, 2]`` depending on the scene (natural vs man-made). Cutout
shows "a sudden jump ... with spuriously enhanced high-frequency responses", Mixup "changed envelopes", and
CutBlur follows the original; in Fig. 4.4 an over-sharpening model shows "peaks" in the envelope. The thesis
does not say how the PSD was computed. The same tool also serves Ch.7: the spectrum of each SHDD distortion
type, before and after restoration (:func:`psd_by_label`).

Readings chosen (the companion's, the thesis leaves them open):

* **Colour**: an H×W×3 image is reduced to its BT.601 luma Y (:func:`companion.metrics.rgb_to_y`, the channel
  the thesis' SR metrics use); an H×W image is taken as it is. Any finite float range is accepted.
* **Mean removal**: the (mask-weighted) mean is subtracted, so the DC term carries no image brightness. A
  constant image (or masked area) therefore has zero power at every frequency: :func:`radial_psd` returns
  zeros (exactly), and :func:`fit_power_law` refuses it with a :class:`CompanionError` (log 0).
* **Window**: none by default, so that the hard edges Cutout pastes in show up as in Fig. 4.3; ``"hann"``
  (periodic 2-D separable Hann) suppresses the image-border discontinuity of the implied periodic tiling.
* **Normalisation**: ``P = |fftshift(fft2(w·x))|² / Σw²`` with ``w`` = window × mask (all ones by default,
  so ``Σw² = H·W``). With this, white noise of variance σ² has a flat PSD of height σ² whatever the size,
  window or mask, so PSDs of different crops are on one scale.
* **Frequency grid and binning**: frequencies in cycles/pixel (``numpy.fft.fftfreq``) along each axis,
  radius ``f = hypot(fy, fx)``. With ``n = min(H, W)`` the ring width is ``Δf = 1/n`` and ring ``k`` holds the
  coefficients with ``round(f/Δf) = k``, ``k = 1 .. n//2`` (so the last ring is centred at or just below 0.5;
  the corners beyond it are dropped). Ring ``k`` is reported at ``f = k·Δf`` with the *mean* (not the sum)
  of its power. ``k = 0`` (DC) is excluded. Every ring is non-empty, because the shorter axis contributes a
  coefficient at exactly ``k·Δf``. Compare only crops of the same size, so that the grids coincide.
* **Fit**: ordinary least squares of ``ln P = c − α ln f`` over the rings with ``fmin ≤ f ≤ fmax``
  (default 0.05-0.4 cycles/pixel: the lowest rings have few coefficients and reflect layout and crop edges,
  the rings near Nyquist carry aliasing and compression residue). Each ring counts once (rings are evenly
  spaced in f, so the high end of the band has more weight per decade). ``P ≈ exp(c) · f^(−α)``.
* **Per-region spectra** (:func:`psd_by_label`): each SHDD region is tiled by non-overlapping
  ``tile × tile`` squares (a centred grid; default 32 px), the PSD of every tile is computed and the powers
  are averaged per distortion type (Welch-style averaging on one common grid), then α is fitted on that mean
  (the log of the mean, not the mean of logs). The clean, distorted and restored images use the same tiles.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
from scipy.signal.windows import hann

from companion.errors import CompanionError
from companion.metrics import rgb_to_y

DEFAULT_BAND = (0.05, 0.4)  # cycles/pixel, the fit band of fit_power_law
DEFAULT_TILE = 32  # px, the tile side of psd_by_label
MIN_SIDE = 16  # px: the smallest region side with 8 frequency rings


def to_grey(image) -> np.ndarray:
    """``image`` (H×W or H×W×3, float) as a float64 H×W array: RGB becomes BT.601 luma Y."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 3:
        if not np.issubdtype(arr.dtype, np.floating):
            raise CompanionError(f"PSD needs a float image, got dtype {arr.dtype}; use skimage.util.img_as_float")
        arr = rgb_to_y(arr)
    elif arr.ndim != 2:
        raise CompanionError(f"PSD needs an H×W or H×W×3 image, got shape {arr.shape}")
    elif not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise CompanionError(f"PSD needs a numeric image, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise CompanionError("PSD needs a finite image (no NaN/inf); clean the input first")
    return arr


@lru_cache(maxsize=64)
def _rings(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ring index per fftshifted coefficient, counts per ring, ring frequencies) for an h×w grid."""
    n = min(h, w)
    fy = np.fft.fftshift(np.fft.fftfreq(h))
    fx = np.fft.fftshift(np.fft.fftfreq(w))
    k = np.rint(np.hypot(fy[:, None], fx[None, :]) * n).astype(np.int64)
    k[k > n // 2] = 0  # corners beyond the last ring join DC, which is dropped
    counts = np.bincount(k.ravel(), minlength=n // 2 + 1)
    freqs = np.arange(1, n // 2 + 1) / n
    return k.ravel(), counts, freqs


def _window(name, h: int, w: int) -> np.ndarray | None:
    if name is None:
        return None
    if name != "hann":
        raise CompanionError(f"unknown window {name!r}; use None or 'hann'")
    return np.outer(hann(h, sym=False), hann(w, sym=False))


def _radial(x: np.ndarray, window, mask) -> tuple[np.ndarray, np.ndarray]:
    h, w = x.shape
    if min(h, w) < 2:
        raise CompanionError(f"PSD needs an image of at least 2×2 px, got {w}×{h}")
    weights = np.ones_like(x)
    if mask is not None:
        m = np.asarray(mask, dtype=np.float64)
        if m.shape != x.shape:
            raise CompanionError(f"PSD mask has shape {m.shape}, image {x.shape}; they must match")
        if not np.all(np.isfinite(m)) or np.any(m < 0) or m.sum() <= 0:
            raise CompanionError("PSD mask must be non-negative, finite and not all zero")
        weights = m
    win = _window(window, h, w)
    inside = x[weights > 0]
    if np.all(inside == inside[0]):  # constant: exactly zero power (no rounding residue)
        x = np.zeros_like(x)
    else:
        x = x - np.sum(weights * x) / np.sum(weights)
    taper = weights if win is None else weights * win
    spectrum = np.fft.fftshift(np.fft.fft2(taper * x))
    power2d = (spectrum.real ** 2 + spectrum.imag ** 2) / np.sum(taper ** 2)
    k, counts, freqs = _rings(h, w)
    sums = np.bincount(k, weights=power2d.ravel(), minlength=len(counts))
    return freqs.copy(), sums[1:] / counts[1:]


def radial_psd(image, *, window: str | None = None, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged PSD of ``image``: ``(freqs, power)``, both 1-D of length ``min(H, W)//2``.

    ``freqs`` are ring centres in cycles/pixel (``1/n, 2/n, ... ≤ 0.5``, ``n = min(H, W)``, DC excluded);
    ``power`` the mean of ``|fftshift(fft2(w·(x − mean)))|² / Σw²`` over each ring (see the module's
    *Readings chosen*). ``window``: None (default) or ``"hann"``. ``mask``: optional H×W non-negative weights
    (e.g. a boolean region); the mean is taken over it and pixels outside it are zeroed before the FFT.
    A constant image gives zero power everywhere.
    """
    return _radial(to_grey(image), window, mask)


def fit_power_law(freqs, power, *, fmin: float = DEFAULT_BAND[0], fmax: float = DEFAULT_BAND[1]
                  ) -> tuple[float, float]:
    """Least-squares fit of ``ln P = c − α ln f`` over ``fmin ≤ f ≤ fmax``; returns ``(alpha, c)``.

    ``P ∝ 1/f^α``: α ≈ 0 for white noise, 1-2 for natural images (thesis §4.4); blur raises α. Needs at least
    3 rings in the band, all with positive power (a constant image has none: :class:`CompanionError`).
    """
    f = np.asarray(freqs, dtype=np.float64)
    p = np.asarray(power, dtype=np.float64)
    if f.shape != p.shape or f.ndim != 1:
        raise CompanionError(f"fit_power_law needs 1-D freqs and power of one length, got {f.shape} and {p.shape}")
    if not 0 < fmin < fmax:
        raise CompanionError(f"fit band must satisfy 0 < fmin < fmax, got fmin={fmin}, fmax={fmax}")
    band = (f >= fmin) & (f <= fmax)
    if band.sum() < 3:
        raise CompanionError(f"only {int(band.sum())} PSD rings lie in [{fmin}, {fmax}] cycles/pixel; "
                             "use a larger image or a wider band")
    fb, pb = f[band], p[band]
    if not np.all(np.isfinite(pb)) or np.any(pb <= 0):
        raise CompanionError("PSD power is zero (or not finite) in the fit band -- is the image constant? "
                             "A power law cannot be fitted to it")
    slope, intercept = np.polyfit(np.log(fb), np.log(pb), 1)
    return float(-slope), float(intercept)


def _box(box) -> tuple[int, int, int, int]:
    if isinstance(box, Mapping):
        try:
            box = (box["ymin"], box["xmin"], box["ymax"], box["xmax"])
        except KeyError as e:
            raise CompanionError(f"region is missing {e.args[0]!r}; region dicts have ymin, xmin, ymax, xmax") from None
    try:
        y0, x0, y1, x1 = (int(v) for v in box)
    except (TypeError, ValueError):
        raise CompanionError(f"region must be (ymin, xmin, ymax, xmax) or a region dict, got {box!r}") from None
    return y0, x0, y1, x1


def _check_box(box, shape, min_side: int) -> tuple[int, int, int, int]:
    y0, x0, y1, x1 = _box(box)
    h, w = shape[:2]
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise CompanionError(f"region (ymin={y0}, xmin={x0}, ymax={y1}, xmax={x1}) does not lie inside the "
                             f"{w}×{h} image (max is exclusive)")
    if min(y1 - y0, x1 - x0) < min_side:
        raise CompanionError(f"region {x1 - x0}×{y1 - y0} px is too small for a PSD; regions need a side of "
                             f"at least {min_side} px")
    return y0, x0, y1, x1


def region_psd(image, box, *, window: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`radial_psd` of the rectangle ``box`` of ``image``.

    ``box``: ``(ymin, xmin, ymax, xmax)`` (max exclusive) or an SHDD region dict with those keys. Regions with
    a side under 16 px (:data:`MIN_SIDE`) are refused: they have fewer than 8 rings.
    """
    arr = np.asarray(image)
    y0, x0, y1, x1 = _check_box(box, arr.shape, MIN_SIDE)
    return radial_psd(arr[y0:y1, x0:x1], window=window)


def _tiles(y0: int, x0: int, y1: int, x1: int, tile: int):
    ny, nx = (y1 - y0) // tile, (x1 - x0) // tile
    oy, ox = y0 + ((y1 - y0) - ny * tile) // 2, x0 + ((x1 - x0) - nx * tile) // 2
    for i in range(ny):
        for j in range(nx):
            yield oy + i * tile, ox + j * tile


def psd_by_label(clean, distorted, records, *, restored=None, tile: int = DEFAULT_TILE,
                 window: str | None = None, fmin: float = DEFAULT_BAND[0], fmax: float = DEFAULT_BAND[1]
                 ) -> dict[str, dict]:
    """Mean radial PSD and fitted α per region type, for clean / distorted / restored regions.

    ``clean``, ``distorted`` (and optionally ``restored``): one image (H×W×3 or H×W float) or a sequence of
    them, aligned with ``records`` (one record dict, or a sequence of them, such as SHDD's; each ``"regions"``
    lists dicts with ``ymin, xmin, ymax, xmax, type, label, strength``). Each region is tiled by
    ``tile × tile`` squares (see *Readings chosen*); regions with a side under ``tile`` are skipped and
    counted. ``tile`` must be at least 16 px.

    Returns ``{type: {"label", "n_regions", "n_tiles", "n_skipped", "freqs", "clean", "distorted"
    [, "restored"]}}`` in label order, for every type with at least one tile; each of "clean"/"distorted"/
    "restored" is ``{"power": mean PSD, "alpha": α, "intercept": c}`` (α and c are NaN when the mean PSD
    is zero in the band, i.e. every tile was constant).
    """
    if int(tile) != tile or tile < MIN_SIDE:
        raise CompanionError(f"tile must be a whole number of at least {MIN_SIDE} px, got {tile!r}")
    tile = int(tile)
    single = isinstance(records, Mapping)
    records = [records] if single else list(records)
    versions = {"clean": clean, "distorted": distorted}
    if restored is not None:
        versions["restored"] = restored
    images = {}
    for name, value in versions.items():
        seq = [value] if single else list(value)
        if len(seq) != len(records):
            raise CompanionError(f"got {len(seq)} {name} images for {len(records)} records; pass one per record")
        images[name] = [to_grey(im) for im in seq]
    acc: dict[str, dict] = {}
    for idx, record in enumerate(records):
        shape = images["clean"][idx].shape
        for name in images:
            if images[name][idx].shape != shape:
                raise CompanionError(f"image {idx}: {name} is {images[name][idx].shape[::-1]} but clean is "
                                     f"{shape[::-1]}; they must be the same size")
        if not isinstance(record, Mapping) or "regions" not in record:
            raise CompanionError(f"record {idx} has no 'regions'; pass record dicts with a 'regions' list (as SHDD's records/*.json)")
        for region in record["regions"]:
            kind = str(region.get("type", region.get("label")))
            entry = acc.setdefault(kind, {"label": region.get("label"), "n_regions": 0, "n_tiles": 0,
                                          "n_skipped": 0, "sums": {n: 0.0 for n in images}})
            y0, x0, y1, x1 = _check_box(region, shape, 1)
            if min(y1 - y0, x1 - x0) < tile:
                entry["n_skipped"] += 1
                continue
            entry["n_regions"] += 1
            for ty, tx in _tiles(y0, x0, y1, x1, tile):
                entry["n_tiles"] += 1
                for name in images:
                    freqs, power = _radial(images[name][idx][ty:ty + tile, tx:tx + tile], window, None)
                    entry["sums"][name] = entry["sums"][name] + power
    freqs = _rings(tile, tile)[2].copy()
    out = {}
    for kind, entry in sorted(acc.items(), key=lambda kv: (kv[1]["label"] is None, kv[1]["label"] or 0, kv[0])):
        if entry["n_tiles"] == 0:
            continue
        result = {k: entry[k] for k in ("label", "n_regions", "n_tiles", "n_skipped")}
        result["freqs"] = freqs
        for name in images:
            power = entry["sums"][name] / entry["n_tiles"]
            try:
                alpha, intercept = fit_power_law(freqs, power, fmin=fmin, fmax=fmax)
            except CompanionError:
                if not np.all(power == 0):
                    raise
                alpha = intercept = float("nan")
            result[name] = {"power": power, "alpha": alpha, "intercept": intercept}
        out[kind] = result
    if not out:
        raise CompanionError(f"no region has a side of at least tile={tile} px; pass a smaller tile (>= 16)")
    return out
