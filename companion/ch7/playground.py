"""An interactive SHDD playground for JupyterLab: choose the distortion and strength of each region, watch the
image change (notebook ``07a_shdd``).

The image is split into a rows × cols grid. :class:`SHDDPlayground` renders a setting with
:func:`companion.data.regions.distort_regions` one region at a time and caches every distorted region by
(box, type, strength), so moving one slider re-distorts one region only; the picture goes to the browser as
a PNG through ``ipywidgets.Image``, which is far cheaper than redrawing a matplotlib figure.
``benchmarks/playground.py`` measures the update latency on a 512 × 512 image.
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


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a float [0, 1] image as PNG without compression: twice as fast as level 1 and lossless, which matters
    when the thing on show is a distortion."""
    buf = io.BytesIO()
    Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)).save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def default_settings(n: int) -> list[tuple[str, float]]:
    """A starting point that shows every type: identity, noise, blur, f-noise, contrast, repeating."""
    kinds = [SHDD_TYPES[i % len(SHDD_TYPES)] for i in range(n)]
    return [(k, 0.0 if k == "identity" else float(np.mean(SHDD_RANGES[k]))) for k in kinds]


def shdd_playground(image: np.ndarray, *, rows: int = 2, cols: int = 2, seed: int = 0):
    """The ipywidgets UI: grid size sliders, one type dropdown and strength slider per region, the image."""
    import ipywidgets as w

    play = SHDDPlayground(image, seed)
    height, width = play.image.shape[:2]
    picture = w.Image(format="png", layout=w.Layout(max_width=f"{width}px"))
    status = w.HTML()
    rows_slider = w.IntSlider(value=rows, min=1, max=4, description="rows")
    cols_slider = w.IntSlider(value=cols, min=1, max=4, description="columns")
    controls_box = w.VBox()
    state = {"boxes": [], "controls": []}

    def redraw(*_):
        started = time.perf_counter()
        settings = [(kind.value, strength.value) for kind, strength in state["controls"]]
        out, _ = play.render(state["boxes"], settings)
        picture.value = png_bytes(out)
        status.value = f"<small>rendered in {1000 * (time.perf_counter() - started):.0f} ms</small>"

    def on_type(strength_slider, change):
        kind = change["new"]
        strength_slider.disabled = kind == "identity"
        if kind != "identity":
            lo, hi = SHDD_RANGES[kind]
            strength_slider.min, strength_slider.max = min(lo, strength_slider.min), max(hi, strength_slider.max)
            strength_slider.value = float(np.clip(strength_slider.value, lo, hi))
            strength_slider.min, strength_slider.max = lo, hi
            strength_slider.step = (hi - lo) / 50
        redraw()

    def rebuild(*_):
        state["boxes"] = grid_boxes(height, width, rows_slider.value, cols_slider.value)
        state["controls"] = []
        rows_ui = []
        for i, (kind, strength) in enumerate(default_settings(len(state["boxes"]))):
            lo, hi = SHDD_RANGES.get(kind, (0.0, 1.0))
            dropdown = w.Dropdown(options=SHDD_TYPES, value=kind, description=f"region {i + 1}")
            slider = w.FloatSlider(value=strength if kind != "identity" else lo, min=lo, max=hi,
                                   step=(hi - lo) / 50, readout_format=".3g", continuous_update=False,
                                   disabled=kind == "identity", description="strength")
            dropdown.observe(lambda change, s=slider: on_type(s, change), names="value")
            slider.observe(redraw, names="value")
            state["controls"].append((dropdown, slider))
            rows_ui.append(w.HBox([dropdown, slider]))
        controls_box.children = rows_ui
        redraw()

    rows_slider.observe(rebuild, names="value")
    cols_slider.observe(rebuild, names="value")
    rebuild()
    ui = w.HBox([w.VBox([w.HBox([rows_slider, cols_slider]), controls_box, status]), picture])
    ui.playground, ui.state = play, state  # for tests and for users who want the arrays
    return ui
