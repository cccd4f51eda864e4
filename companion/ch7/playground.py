"""An interactive SHDD playground for JupyterLab: choose the distortion and strength of each region, watch the
image change (notebook ``07a_shdd``).

The image is split into a rows × cols grid. :class:`SHDDPlayground` renders a setting with
:func:`companion.data.regions.distort_regions` one region at a time and caches every distorted region by
(box, type, strength), so moving one slider re-distorts one region only. The picture goes to the browser
through ``ipywidgets.Image`` as a JPEG at quality 95 without chroma subsampling (:func:`encode_image`): at
512 × 512, 90-360 KB (noise does not compress) and about 5 ms to encode, against 790 KB and 18 ms for the
uncompressed PNG it replaced. Its error stays well under every SHDD distortion: on the astronaut image, the
weakest noise (σ = 0.005) is 23.6 dB PSNR from the clean image and the JPEG of it 36.0 dB from the noisy one
(blur σ = 1: 29.6 and 47.4 dB). ``lossless=True`` sends the uncompressed PNG instead.
The layout is fixed: the controls never shrink, the image keeps its aspect ratio (``object-fit: contain``,
width at most the image's own) and moves under the controls when the notebook is too narrow for both.
``benchmarks/playground.py`` measures the kernel's part of an update; ``tests/test_browser.py`` measures an
update in JupyterLab, from the control change to the new image decoded in the browser.
"""
from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from companion.ch7.shdd import SHDD_RANGES, SHDD_TYPES
from companion.data.regions import distort_regions


def grid_boxes(height: int, width: int, rows: int, cols: int) -> list[tuple[int, int, int, int]]:
    """Equal rows × cols boxes ``(ymin, xmin, ymax, xmax)``, max exclusive, row-major, tiling the image."""
    ys = np.linspace(0, height, rows + 1).round().astype(int)
    xs = np.linspace(0, width, cols + 1).round().astype(int)
    return [(int(ys[r]), int(xs[c]), int(ys[r + 1]), int(xs[c + 1])) for r in range(rows) for c in range(cols)]


class SHDDPlayground:
    """Render per-region SHDD settings on one image, reusing every region already distorted."""

    def __init__(self, image: np.ndarray, seed: int = 0):
        self.image = np.asarray(image, dtype=np.float32)
        self.seed = seed
        self._cache: dict[tuple, np.ndarray] = {}

    def region(self, index: int, box: tuple[int, int, int, int], kind: str, strength: float) -> np.ndarray:
        """The distorted pixels of one box (cached); the noise is seeded by the region's index and setting."""
        key = (box, kind, round(float(strength), 6))
        if key not in self._cache:
            y0, x0, y1, x1 = box
            rng = np.random.default_rng([self.seed, index, SHDD_TYPES.index(kind)])
            region = {"ymin": y0, "xmin": x0, "ymax": y1, "xmax": x1, "type": kind, "strength": strength}
            out, _ = distort_regions(self.image, [region], rng, names=SHDD_TYPES)
            self._cache[key] = out[y0:y1, x0:x1].copy()
        return self._cache[key]

    def render(self, boxes, settings) -> tuple[np.ndarray, np.ndarray]:
        """(distorted image, label map) for ``settings`` = one ``(type, strength)`` per box."""
        out = self.image.copy()
        labels = np.zeros(self.image.shape[:2], np.uint8)
        for index, (box, (kind, strength)) in enumerate(zip(boxes, settings)):
            y0, x0, y1, x1 = box
            labels[y0:y1, x0:x1] = SHDD_TYPES.index(kind)
            if kind != "identity":
                out[y0:y1, x0:x1] = self.region(index, box, kind, strength)
        return out, labels


#: How the playground's picture is sent to the browser: JPEG quality and no chroma subsampling (4:4:4).
JPEG_QUALITY = 95


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float [0, 1] image as uint8 (rounded), or a uint8 image as is."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def encode_image(image: np.ndarray, *, lossless: bool = False, quality: int = JPEG_QUALITY) -> bytes:
    """Encode a float [0, 1] (or uint8) image for ``ipywidgets.Image``: JPEG (4:4:4, ``quality``) by default, or
    an uncompressed PNG with ``lossless=True`` (lossless but six times bigger; slower to ship to the browser)."""
    buf = io.BytesIO()
    picture = Image.fromarray(to_uint8(image))
    if lossless:
        picture.save(buf, format="PNG", compress_level=0)
    else:
        picture.save(buf, format="JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a float [0, 1] image as PNG without compression (lossless; what ``lossless=True`` sends)."""
    return encode_image(image, lossless=True)


def default_settings(n: int) -> list[tuple[str, float]]:
    """A starting point that shows every type in turn: identity, noise, blur, f-noise, contrast change."""
    kinds = [SHDD_TYPES[i % len(SHDD_TYPES)] for i in range(n)]
    return [(k, 0.0 if k == "identity" else float(np.mean(SHDD_RANGES[k]))) for k in kinds]


def picture_layout(width: int):
    """The layout of a picture that keeps its aspect ratio: at most ``width`` px (its own size) and at most the
    width of the output area, height from the aspect ratio, never stretched by its neighbours."""
    import ipywidgets as w  # reason: the widget library loads only where a live notebook draws the playground

    return w.Layout(width=f"{width}px", max_width="100%", height="auto", object_fit="contain",
                    align_self="flex-start", flex="0 1 auto")


def shdd_playground(image: np.ndarray, *, rows: int = 2, cols: int = 2, seed: int = 0, lossless: bool = False):
    """The ipywidgets UI: grid size sliders, one type dropdown and strength slider per region, the image.

    The controls keep their width (``flex: 0 0 auto``); the row wraps, so on a narrow notebook the image goes
    under them instead of squeezing them. ``lossless=True`` sends PNG instead of JPEG (see :func:`encode_image`).
    """
    import ipywidgets as w  # reason: the widget library loads only where a live notebook draws the playground

    play = SHDDPlayground(image, seed)
    height, width = play.image.shape[:2]
    picture = w.Image(format="png" if lossless else "jpeg", layout=picture_layout(width))
    status = w.HTML()
    narrow = {"description_width": "70px"}
    rows_slider = w.IntSlider(value=rows, min=1, max=4, description="rows", style=narrow,
                              continuous_update=False, layout=w.Layout(width="265px"))
    cols_slider = w.IntSlider(value=cols, min=1, max=4, description="columns", style=narrow,
                              continuous_update=False, layout=w.Layout(width="265px"))
    controls_box = w.VBox()
    state = {"boxes": [], "controls": [], "hold": False}

    def redraw(*_):
        if state["hold"]:
            return
        started = time.perf_counter()
        settings = [(kind.value, strength.value) for kind, strength in state["controls"]]
        out, _ = play.render(state["boxes"], settings)
        picture.value = encode_image(out, lossless=lossless)
        status.value = f"<small>rendered in {1000 * (time.perf_counter() - started):.0f} ms</small>"

    def on_type(strength_slider, change):
        kind = change["new"]
        state["hold"] = True  # one redraw for the whole change, not one per slider attribute
        try:
            strength_slider.disabled = kind == "identity"
            if kind != "identity":
                lo, hi = SHDD_RANGES[kind]
                strength_slider.min, strength_slider.max = min(lo, strength_slider.min), max(hi, strength_slider.max)
                strength_slider.value = float(np.clip(strength_slider.value, lo, hi))
                strength_slider.min, strength_slider.max = lo, hi
                strength_slider.step = (hi - lo) / 50
        finally:
            state["hold"] = False
        redraw()

    def rebuild(*_):
        state["boxes"] = grid_boxes(height, width, rows_slider.value, cols_slider.value)
        state["controls"] = []
        rows_ui = []
        for i, (kind, strength) in enumerate(default_settings(len(state["boxes"]))):
            lo, hi = SHDD_RANGES.get(kind, (0.0, 1.0))
            dropdown = w.Dropdown(options=SHDD_TYPES, value=kind, description=f"region {i + 1}", style=narrow,
                                  layout=w.Layout(width="240px", flex="0 0 auto"))
            slider = w.FloatSlider(value=strength if kind != "identity" else lo, min=lo, max=hi,
                                   step=(hi - lo) / 50, readout_format=".3g", continuous_update=False,
                                   disabled=kind == "identity", description="strength", style=narrow,
                                   layout=w.Layout(width="290px", flex="0 0 auto"))
            dropdown.observe(lambda change, s=slider: on_type(s, change), names="value")
            slider.observe(redraw, names="value")
            state["controls"].append((dropdown, slider))
            rows_ui.append(w.HBox([dropdown, slider], layout=w.Layout(flex_flow="row nowrap")))
        controls_box.children = rows_ui
        redraw()

    rows_slider.observe(rebuild, names="value")
    cols_slider.observe(rebuild, names="value")
    rebuild()
    controls = w.VBox([w.HBox([rows_slider, cols_slider]), controls_box, status],
                      layout=w.Layout(flex="0 0 auto", width="540px", margin="0 12px 8px 0"))
    ui = w.HBox([controls, picture], layout=w.Layout(flex_flow="row wrap", align_items="flex-start"))
    ui.add_class("companion-shdd-playground")
    picture.add_class("companion-picture")
    ui.playground, ui.state = play, state  # for tests and for users who want the arrays
    return ui
