"""Pick an SHDD image and one of its regions, see what every MEPSNet expert makes of it (notebook ``07d``).

:class:`ExpertExplorer` runs the model once per image (hooks on every expert, :mod:`companion.analysis.features`)
and caches the per-expert maps, so switching regions or the summary method only re-crops and re-draws; each
view's picture is cached too, and once an image's maps exist the widget renders its other views (every region,
both summaries) in a background thread (:meth:`ExpertExplorer.prefetch`), so later changes only send a picture. A view is one strip of fixed-size panels (:func:`panel_strip`) drawn with numpy
and Pillow, not matplotlib: the distorted, clean and restored crop, then every expert's map in the ``magma``
colour map, each scaled to fit a :data:`PANEL` px square (aspect ratio kept; small regions are enlarged with
nearest-neighbour so their pixels stay visible) under its title, with the map's value range written under
it (each map has its own scale, as the colourbars of Fig. 7.7). The strip's size never depends on the region,
so the widget does not jump when the region changes. :func:`expert_explorer` wraps it in ipywidgets: an
image dropdown, a region dropdown (named by distortion type, strength and size, wide enough to read) and a
summary choice; the picture goes to the browser as a PNG.
"""
from __future__ import annotations

import io
import threading
import time

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from companion.analysis.features import expert_feature_maps, summarise_map
from companion.ch7.playground import SHDDPlayground, default_settings, grid_boxes
from companion.engine.inference import restore
from companion.errors import CompanionError


def _rgb(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float().numpy().transpose(1, 2, 0)
    return np.clip(np.asarray(image, np.float32), 0, 1)


class ExpertExplorer:
    """Per-expert maps of SHDD evaluation items (dicts with ``distorted``, ``clean``, ``label``, ``record``)."""

    def __init__(self, model, items, *, device="cpu"):
        self.model, self.items, self.device = model, list(items), device
        if not self.items:

            raise CompanionError("the expert explorer needs at least one SHDD test item")
        self._maps: dict[int, tuple[list[torch.Tensor], np.ndarray]] = {}
        self._pictures: dict[tuple, bytes] = {}
        self._prefetching = None

    def regions(self, index: int) -> list[str]:
        """Readable names of the regions of item ``index``, in record order."""
        return [f"{i}: {r['type']}" + ("" if r["type"] == "identity" else f" {r['strength']:.3g}")
                + f" ({r['xmax'] - r['xmin']}×{r['ymax'] - r['ymin']} px)"
                for i, r in enumerate(self.items[index]["record"]["regions"])]

    def maps(self, index: int) -> tuple[list[torch.Tensor], np.ndarray]:
        """(one C×H×W output per expert, restored H×W×3) for item ``index``; computed once."""
        if index not in self._maps:
            x = self.items[index]["distorted"][None].to(self.device)
            features = [f[0].float() for f in expert_feature_maps(self.model, x)]
            restored = _rgb(restore(self.model, x[0], tiles=(1, 1), device=self.device))
            self._maps[index] = (features, restored)
        return self._maps[index]

    def panels(self, index: int, region: int, method: str = "mean_abs") -> dict[str, np.ndarray]:
        """The pictures of one view: the distorted, clean and restored crop and every expert's summarised map."""
        item = self.items[index]
        r = item["record"]["regions"][region]
        ys, xs = slice(r["ymin"], r["ymax"]), slice(r["xmin"], r["xmax"])
        features, restored = self.maps(index)
        out = {"distorted": _rgb(item["distorted"])[ys, xs], "clean": _rgb(item["clean"])[ys, xs],
               "restored": restored[ys, xs]}
        for k, f in enumerate(features):
            out[f"expert {k + 1}"] = summarise_map(f[:, ys, xs], method=method)
        return out

    def render_png(self, index: int, region: int, method: str = "mean_abs") -> bytes:
        """One row of panels (:func:`panel_strip`) as PNG bytes; cached per view."""
        key = (index, region, method)
        if key not in self._pictures:  # setdefault: a view drawn meanwhile by the prefetch thread wins
            return self._pictures.setdefault(key, panel_strip(self.panels(index, region, method)))
        return self._pictures[key]


    def prefetch(self, index: int, methods=("mean_abs", "pca1")):
        """Render every view of item ``index`` into the cache in a daemon thread; returns the thread (None when
        one is still running or the item's maps are not computed yet: the model itself is never run here, as
        its feature hooks must not be shared between threads). Errors are left to the foreground draw."""
        if index not in self._maps or (self._prefetching is not None and self._prefetching.is_alive()):
            return None
        def work():
            try:
                for method in methods:
                    for region in range(len(self.items[index]["record"]["regions"])):
                        self.render_png(index, region, method)
            except Exception:  # noqa: BLE001 -- the view is drawn (and its error shown) when it is chosen
                pass

        self._prefetching = threading.Thread(target=work, name="expert-explorer-prefetch", daemon=True)
        self._prefetching.start()
        return self._prefetching


#: Side of one panel of the explorer's strip, in pixels (the crop is scaled to fit, aspect ratio kept).
PANEL = 160
_TITLE, _FOOT, _GAP = 22, 18, 8


def _font():
    """Pillow's default font at 13 px (FreeType), loaded once."""
    global _FONT
    if _FONT is None:
        _FONT = ImageFont.load_default(size=13)
    return _FONT


_FONT = None


def _fit(picture: "Image.Image", side: int) -> "Image.Image":
    """``picture`` scaled to fit a ``side`` square, aspect kept: nearest-neighbour up, area-averaging down."""
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.BOX)


def panel_strip(panels: dict[str, np.ndarray], side: int = PANEL) -> bytes:
    """PNG bytes of one row of titled panels: RGB crops as they are, H×W maps through ``magma`` (scaled from
    their own min to max, which is written under the panel)."""
    font = _font()
    cell = side + _GAP
    strip = Image.new("RGB", (cell * len(panels) - _GAP, _TITLE + side + _FOOT), "white")
    draw = ImageDraw.Draw(strip)
    for k, (title, img) in enumerate(panels.items()):
        img = np.asarray(img, np.float32)
        foot = ""
        if img.ndim == 2:
            lo, hi = float(img.min()), float(img.max())
            img = colormaps["magma"]((img - lo) / (hi - lo) if hi > lo else np.zeros_like(img))[..., :3]
            foot = f"{lo:.3g} to {hi:.3g}"
        picture = _fit(Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)), side)
        x = k * cell
        strip.paste(picture, (x + (side - picture.width) // 2, _TITLE + (side - picture.height) // 2))
        draw.text((x + side // 2, _TITLE // 2), title, fill="black", font=font, anchor="mm")
        if foot:
            draw.text((x + side // 2, _TITLE + side + _FOOT // 2), foot, fill="dimgray", font=font, anchor="mm")
    buf = io.BytesIO()
    strip.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def demo_items(images, *, rows: int = 2, cols: int = 2, seed: int = 0) -> list[dict]:
    """Explorer items made from any H×W×3 float images: a rows × cols grid of regions, each distorted with the
    playground's default setting (:func:`companion.ch7.playground.default_settings`), with the same keys as an
    SHDD test item (``distorted``, ``clean``, ``label``, ``record``, ``name``). For trying the explorer on
    pictures of your own size (the browser test uses 512 × 512)."""
    items = []
    for n, image in enumerate(images):
        play = SHDDPlayground(image, seed=seed + n)
        height, width = play.image.shape[:2]
        boxes = grid_boxes(height, width, rows, cols)
        settings = default_settings(len(boxes))
        out, labels = play.render(boxes, settings)
        regions = [{"ymin": y0, "xmin": x0, "ymax": y1, "xmax": x1, "type": kind, "strength": strength}
                   for (y0, x0, y1, x1), (kind, strength) in zip(boxes, settings)]
        items.append({"distorted": torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))),
                      "clean": torch.from_numpy(np.ascontiguousarray(play.image.transpose(2, 0, 1))),
                      "label": torch.from_numpy(labels.astype(np.int64)), "record": {"regions": regions},
                      "name": f"image {n + 1} ({width}×{height})"})
    return items


def expert_explorer(model, items, *, device="cpu"):
    """An ipywidgets box: choose an image and a region, see the crop, the restoration and every expert's map.

    Children: the two dropdowns (an HBox), the summary choice, the picture (``widgets.Image``), a status line.
    The picture has a fixed size (:func:`panel_strip`) and keeps its aspect ratio when the notebook is narrower.
    """
    import ipywidgets as widgets  # reason: the widget library loads only where a live notebook draws the explorer

    explorer = ExpertExplorer(model, items, device=device)
    image = widgets.Dropdown(options=[(it.get("name", str(i)), i) for i, it in enumerate(explorer.items)],
                             description="image", layout=widgets.Layout(width="260px"))
    region = widgets.Dropdown(options=[(n, i) for i, n in enumerate(explorer.regions(0))], description="region",
                              layout=widgets.Layout(width="420px"))
    method = widgets.ToggleButtons(options=[("mean |activation|", "mean_abs"), ("1st principal comp.", "pca1")])
    first = explorer.render_png(0, 0, method.value)
    width = Image.open(io.BytesIO(first)).width
    picture = widgets.Image(value=first, format="png", layout=widgets.Layout(
        width=f"{width}px", max_width="100%", height="auto", object_fit="contain", align_self="flex-start"))
    status = widgets.HTML()
    state = {"hold": False}

    def draw(*_):
        if state["hold"]:
            return
        started = time.perf_counter()
        picture.value = explorer.render_png(image.value, region.value or 0, method.value)
        status.value = f"<small>drawn in {1000 * (time.perf_counter() - started):.0f} ms</small>"
        explorer.prefetch(image.value)

    def new_image(change):
        state["hold"] = True  # one draw for the new image, not one per region option change
        try:
            region.options = [(n, i) for i, n in enumerate(explorer.regions(change["new"]))]
            region.value = 0
        finally:
            state["hold"] = False
        draw()

    image.observe(new_image, names="value")
    region.observe(draw, names="value")
    method.observe(draw, names="value")
    box = widgets.VBox([widgets.HBox([image, region], layout=widgets.Layout(flex_flow="row wrap")), method,
                        picture, status])
    explorer.prefetch(0)
    box.add_class("companion-expert-explorer")
    picture.add_class("companion-picture")
    box.explorer = explorer
    return box
