"""Restore your own picture in ``00_quickstart``: an ipywidgets upload box that runs the model zoo's MEPSNet.

:func:`upload_restorer` builds the widget: a ``FileUpload`` (one PNG or JPEG), the input and the restored
image side by side (``ipywidgets.Image``, aspect ratio kept) and a line with the size and the seconds taken.
Its handler, :meth:`UploadRestorer.handle`, is a plain method taking the file's name and bytes, so tests call
it without a browser. The bytes are written to a temporary file and read with the project's checked loader
(:func:`companion.data.images.load_image`), so a greyscale, RGBA, 16-bit or corrupt file gets the same
one-line message as ``python -m companion restore``, shown in the widget instead of a traceback. Images above
:data:`MAX_PIXELS` are refused; the others are restored with :func:`companion.engine.inference.restore`,
in tiles of at most :data:`TILE` px (:func:`tiles_for`), in the fastest mode of the hardware
(:func:`companion.engine.inference.inference_mode`).
"""
from __future__ import annotations

import html
import io
import math
import re
import tempfile
import time
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image
from torch import nn

from companion.ch7.commands import zoo_model
from companion.data.images import check_image_file, load_image, to_uint8
from companion.engine.inference import inference_mode, prepare_model, restore
from companion.errors import CompanionError

#: The largest upload restored, in pixels (2 Mpx: about 1730 × 1150); bigger files: `python -m companion restore`.
MAX_PIXELS = 2_000_000
#: Longest side of one tile, in pixels; bigger images are restored in tiles (bounded memory).
TILE = 512
#: Pixels of context around each tile, cropped off before stitching (as `python -m companion restore`).
OVERLAP = 16
#: Longest side of the pictures sent to the browser (the restored array itself keeps full size).
PREVIEW = 800
ACCEPT = "image/png,image/jpeg"


def tiles_for(height: int, width: int, tile: int = TILE) -> tuple[int, int]:
    """(rows, columns) of near-equal tiles with sides of at most ``tile`` px; (1, 1) for a small image."""
    return max(1, math.ceil(height / tile)), max(1, math.ceil(width / tile))


def decode_upload(name: str, content, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The uploaded bytes as a float32 ``H×W×3`` image in [0, 1], read with the project's checks.

    The bytes go to a temporary file named like the upload; :func:`companion.data.images.check_image_file`
    reads its header (8-bit RGB, intact) and size, :func:`companion.data.images.load_image` decodes it. A bad
    file or one above ``max_pixels`` is a one-line :class:`CompanionError` naming the upload, not the
    temporary file.
    """
    safe = re.sub(r"[^\w.-]", "_", Path(str(name)).name).lstrip(".") or "upload"
    with tempfile.TemporaryDirectory(prefix="companion-upload-") as folder:
        path = Path(folder) / safe
        path.write_bytes(bytes(content))
        try:
            width, height = check_image_file(path)
            if width * height > max_pixels:
                raise CompanionError(f"image {path} is {width}×{height} = {width * height:,} px, more than the "
                                     f"{max_pixels:,} px ({max_pixels / 1e6:g} Mpx) this widget restores; crop or "
                                     "downscale it, or restore the file with `python -m companion restore FILE "
                                     "--tiles ROWS COLS`")
            return load_image(path)
        except CompanionError as exc:
            # name the upload, never the temporary folder (a suggested new file goes beside the upload's name)
            message = str(exc).replace(str(path), str(name)).replace(str(Path(folder)) + "/", "")
            raise CompanionError(message) from None


def preview_png(image: np.ndarray, longest: int = PREVIEW) -> bytes:
    """A float [0, 1] image as PNG bytes, downscaled (aspect ratio kept) to at most ``longest`` px a side."""
    picture = Image.fromarray(to_uint8(np.clip(image, 0, 1)))
    scale = longest / max(picture.size)
    if scale < 1:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                 Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    picture.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class UploadRestorer:
    """The upload widget's state and handler; ``ui`` is the widget to display.

    ``model``: None for the zoo's MEPSNet, a model name for the zoo's entry of that model
    (:func:`companion.ch7.commands.zoo_model`), or an ``nn.Module`` to use as is. The model is loaded when the
    widget is built and, if that failed (zoo not built yet), again at each upload.
    """

    def __init__(self, model=None, *, device="auto", precision: str = "auto", max_pixels: int = MAX_PIXELS,
                 tile: int = TILE, preview: int = PREVIEW):
        self.model, self.device, self.precision = model, device, precision
        self.max_pixels, self.tile, self.preview = max_pixels, tile, preview
        self.description: str | None = None
        self.image: np.ndarray | None = None     # the last upload, full size
        self.restored: np.ndarray | None = None  # its restoration, full size
        self._runner = None
        self.upload = widgets.FileUpload(accept=ACCEPT, multiple=False, description="Upload image")
        self.input_image, self.output_image = (widgets.Image(format="png", layout=widgets.Layout(
            width="100%", height="auto", object_fit="contain")) for _ in range(2))  # width fits, aspect kept
        self.status = widgets.HTML()
        columns = [widgets.VBox([widgets.HTML(f"<b>{title}</b>"), picture],
                                layout=widgets.Layout(width="50%", max_width=f"{preview}px"))
                   for title, picture in (("input", self.input_image), ("restored", self.output_image))]
        self.ui = widgets.VBox([widgets.HBox([self.upload, self.status]), widgets.HBox(columns)])
        self.ui.add_class("companion-upload")  # for the browser test (tests/test_browser.py) and custom CSS
        self.upload.observe(self._on_upload, names="value")
        try:
            self._load()
            self._say(f"upload a PNG or JPEG (8-bit RGB, at most {max_pixels / 1e6:g} Mpx) to restore it with "
                      f"{self.description}")
        except CompanionError as exc:
            self._say(str(exc), error=True)

    def _say(self, text: str, error: bool = False) -> None:
        colour = "#b00020" if error else "inherit"
        self.status.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"

    def _load(self):
        """The prepared model (:func:`companion.engine.inference.prepare_model`), its restore options and mode."""
        if self._runner is None:
            if isinstance(self.model, nn.Module):
                net, description = self.model.eval(), type(self.model).__name__
            else:
                net, description = zoo_model(self.model or "mepsnet")
            mode = inference_mode(self.device, self.precision)
            runner, options = prepare_model(net, mode)
            self._runner, self.description = (runner, options, mode), description
        return self._runner

    def _on_upload(self, change) -> None:
        files = change["new"]
        if files:
            self.handle(files[0]["name"], files[0]["content"])

    def handle(self, name: str, content) -> bool:
        """Restore one uploaded file (its name and bytes, e.g. a ``memoryview``) and show it; True on success.

        Every problem (a bad file, a too large image, a zoo entry that is missing) is shown in the widget's
        status line; nothing is raised.
        """
        self.input_image.value = self.output_image.value = b""
        self.image = self.restored = None
        try:
            image = decode_upload(name, content, self.max_pixels)
            self.image = image
            self.input_image.value = preview_png(image, self.preview)
            height, width = image.shape[:2]
            self._say(f"{name}: {width}×{height} px, restoring…")
            runner, options, mode = self._load()
            tiles = tiles_for(height, width, self.tile)
            started = time.perf_counter()
            tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
            restored = restore(runner, tensor, tiles=tiles, overlap=OVERLAP, device=mode["device"], **options)
            seconds = time.perf_counter() - started
        except CompanionError as exc:
            self._say(str(exc), error=True)
            return False
        except Exception as exc:  # a bug: say so in the widget (a callback's traceback would go unseen)
            first = (str(exc).splitlines() or [""])[0]
            self._say(f"restoring {name} failed ({type(exc).__name__}: {first}); this is a bug, please report it",
                      error=True)
            return False
        self.restored = restored.permute(1, 2, 0).numpy()
        self.output_image.value = preview_png(self.restored, self.preview)
        tiling = "" if tiles == (1, 1) else f" in {tiles[0]}×{tiles[1]} tiles"
        self._say(f"{name}: {width}×{height} px ({width * height / 1e6:.2f} Mpx) restored in {seconds:.2f} s"
                  f"{tiling} by {self.description}, {mode['label']}")
        return True


def upload_restorer(model=None, *, device="auto", precision: str = "auto", max_pixels: int = MAX_PIXELS):
    """The upload widget (an ``ipywidgets.VBox``): upload one PNG or JPEG, see it restored by the zoo's MEPSNet
    (``model``: see :class:`UploadRestorer`) beside the input, with its size and the seconds taken. The
    :class:`UploadRestorer` is ``ui.restorer`` (its ``handle(name, bytes)`` restores without a browser)."""
    restorer = UploadRestorer(model, device=device, precision=precision, max_pixels=max_pixels)
    ui = restorer.ui
    ui.restorer = restorer
    return ui
