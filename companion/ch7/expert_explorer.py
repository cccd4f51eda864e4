"""Pick an SHDD image and one of its regions, see what every MEPSNet expert makes of it (notebook ``07d``).

:class:`ExpertExplorer` runs the model once per image (hooks on every expert, :mod:`companion.analysis.features`)
and caches the per-expert maps, so switching regions or the summary method only re-crops and re-draws.
:func:`expert_explorer` wraps it in ipywidgets: an image dropdown, a region dropdown (named by distortion type
and strength) and a summary choice; the picture goes to the browser as a PNG.
"""
from __future__ import annotations

import io

import numpy as np
import torch

from companion.analysis.features import expert_feature_maps, summarise_map
from companion.engine.inference import restore


def _rgb(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float().numpy().transpose(1, 2, 0)
    return np.clip(np.asarray(image, np.float32), 0, 1)


class ExpertExplorer:
    """Per-expert maps of SHDD evaluation items (dicts with ``distorted``, ``clean``, ``label``, ``record``)."""

    def __init__(self, model, items, *, device="cpu"):
        self.model, self.items, self.device = model, list(items), device
        if not self.items:
            from companion.errors import CompanionError

            raise CompanionError("the expert explorer needs at least one SHDD test item")
        self._maps: dict[int, tuple[list[torch.Tensor], np.ndarray]] = {}

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
        """One row of panels as PNG bytes."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        panels = self.panels(index, region, method)
        fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.4))
        for ax, (title, img) in zip(axes, panels.items()):
            ax.imshow(img, cmap=None if img.ndim == 3 else "magma")
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")
        plt.close(fig)
        return buf.getvalue()


def expert_explorer(model, items, *, device="cpu"):
    """An ipywidgets box: choose an image and a region, see the crop, the restoration and every expert's map."""
    import ipywidgets as widgets

    explorer = ExpertExplorer(model, items, device=device)
    image = widgets.Dropdown(options=[(it.get("name", str(i)), i) for i, it in enumerate(explorer.items)],
                             description="image")
    region = widgets.Dropdown(options=[(n, i) for i, n in enumerate(explorer.regions(0))], description="region")
    method = widgets.ToggleButtons(options=[("mean |activation|", "mean_abs"), ("1st principal comp.", "pca1")])
    picture = widgets.Image(format="png")

    def draw(*_):
        picture.value = explorer.render_png(image.value, region.value or 0, method.value)

    def new_image(change):
        region.options = [(n, i) for i, n in enumerate(explorer.regions(change["new"]))]
        region.value = 0
        draw()

    image.observe(new_image, names="value")
    region.observe(draw, names="value")
    method.observe(draw, names="value")
    draw()
    box = widgets.VBox([widgets.HBox([image, region]), method, picture])
    box.explorer = explorer
    return box
