"""The quickstart's zoo MEPSNet (companion.tour.quickstart.restore_with_zoo) and the upload widget
(companion.tour.upload): restored with a temporary model zoo, and every problem a one-line message."""
from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from PIL import Image

from companion.data.images import centre_square, embedded_image, to_uint8
from companion.engine.inference import restore
from companion.errors import CompanionError
from companion.models import build_model
from companion.tour.quickstart import psnr_key, psnr_table, restore_with_zoo
from companion.tour.upload import ACCEPT, UploadRestorer, decode_upload, preview_png, tiles_for, upload_restorer
from tests.conftest import rgb16_png

pytestmark = pytest.mark.usefixtures("one_thread")

ENTRY = "ch7/07b/mepsnet-seed0"


@pytest.fixture
def no_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "empty"))


def _crop(h=64, w=64) -> np.ndarray:
    return embedded_image("astronaut")[:h, :w]


def _png(image: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    picture = Image.fromarray(to_uint8(image))
    (picture.convert(mode) if mode else picture).save(buf, format=fmt)
    return buf.getvalue()


def _expected(model, image: np.ndarray) -> np.ndarray:
    return restore(model, torch.from_numpy(image).permute(2, 0, 1)).permute(1, 2, 0).numpy()


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as im:
        return im.size


# --- the quickstart's zoo MEPSNet --------------------------------------------------------------------------------

def test_restore_with_zoo_uses_the_zoo_entry(zoo):
    _, model = zoo
    image = _crop(40, 56)
    restored, description = restore_with_zoo(image)
    assert restored.shape == image.shape and restored.dtype == np.float32
    assert np.allclose(restored, _expected(model, image), atol=1e-5)
    assert description == f"zoo {ENTRY} (1 steps, val 20.0 dB)"
    table = psnr_table(image, {"MEPSNet (zoo)": restored}, {"all": (slice(None), slice(None))})
    assert set(table["MEPSNet (zoo)"]) == {"whole", "all"}


def test_restore_with_zoo_names_zoo_build_when_the_entry_is_missing(no_zoo):
    with pytest.raises(CompanionError, match=f"{ENTRY} is missing.*`python -m companion zoo build {ENTRY}`") as err:
        restore_with_zoo(_crop(32, 32))
    assert "\n" not in str(err.value) and "--checkpoint" not in str(err.value)


def test_restore_with_zoo_names_zoo_build_when_the_entry_is_stale(zoo):
    entry, _ = zoo
    entry.sidecar_path.write_text(json.dumps({**json.loads(entry.sidecar_path.read_text()), "digest": "0" * 16}))
    with pytest.raises(CompanionError, match=f"{ENTRY} is stale.*zoo build {ENTRY}"):
        restore_with_zoo(_crop(32, 32))


def test_psnr_key_keeps_the_ledger_keys_and_slugs_new_rows():
    assert psnr_key("restored", "whole") == "psnr_restored_whole"
    assert psnr_key("distorted", "noise") == "psnr_distorted_noise"
    assert psnr_key("MEPSNet (zoo)", "blur") == "psnr_mepsnet_zoo_blur"


# --- the upload widget -------------------------------------------------------------------------------------------

def test_tiles_for_bounds_each_tile():
    assert tiles_for(64, 64) == (1, 1) and tiles_for(512, 513) == (1, 2) and tiles_for(1100, 1700) == (3, 4)
    assert tiles_for(100, 65, tile=32) == (4, 3)


def test_preview_keeps_the_aspect_ratio():
    assert _size(preview_png(_crop(40, 100), longest=50)) == (50, 20)
    assert _size(preview_png(_crop(40, 100), longest=800)) == (100, 40)


def test_upload_restores_a_png_with_the_zoo_model(zoo):
    _, model = zoo
    ui = upload_restorer(precision="fp32", device="cpu")
    restorer = ui.restorer
    assert restorer.upload.accept == ACCEPT == "image/png,image/jpeg" and restorer.upload.multiple is False
    assert ENTRY in restorer.status.value and "at most 2 Mpx" in restorer.status.value
    image = _crop()
    assert restorer.handle("astronaut crop.png", memoryview(_png(image))) is True
    assert _size(restorer.input_image.value) == _size(restorer.output_image.value) == (64, 64)
    assert restorer.restored.shape == (64, 64, 3)
    assert np.abs(restorer.restored - _expected(model, to_uint8(image) / np.float32(255))).max() < 1e-5
    status = restorer.status.value
    assert "astronaut crop.png: 64×64 px" in status and "restored in" in status and " s " in status
    assert f"zoo {ENTRY} (1 steps, val 20.0 dB)" in status and "fp32 channels-last on cpu" in status


def test_upload_through_the_file_upload_value_and_in_tiles(zoo):
    restorer = UploadRestorer(tile=32, device="cpu")
    content = _png(_crop(48, 80), fmt="JPEG")
    restorer.upload.value = ({"name": "wide.jpg", "type": "image/jpeg", "size": len(content),
                              "content": memoryview(content),
                              "last_modified": datetime.now(timezone.utc)},)  # as ipywidgets 8 holds it
    assert restorer.restored.shape == (48, 80, 3)
    assert _size(restorer.output_image.value) == (80, 48)
    assert "wide.jpg: 80×48 px" in restorer.status.value and "in 2×3 tiles" in restorer.status.value


def _bad(kind: str, tmp_path) -> bytes:
    image = _crop(20, 20)
    if kind == "greyscale":
        return _png(image, "L")
    if kind == "rgba":
        return _png(image, "RGBA")
    if kind == "16-bit":
        return rgb16_png(tmp_path / "16.png", 20, 20).read_bytes()
    if kind == "corrupt":
        return b"this is not an image" * 10
    if kind == "truncated":
        return _png(_crop())[:300]
    return b""


BAD = {"greyscale": "is greyscale", "rgba": "alpha channel", "16-bit": "more than 8 bits", "corrupt": "corrupt",
       "truncated": "corrupt", "empty": "corrupt or not an image"}


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_upload_shows_the_loaders_one_line_message(zoo, tmp_path, kind):
    restorer = UploadRestorer(device="cpu")
    assert restorer.handle("good.png", _png(_crop(32, 32)))
    assert restorer.handle(f"my {kind}.png", memoryview(_bad(kind, tmp_path))) is False  # nothing raised
    status = restorer.status.value
    assert BAD[kind] in status and f"my {kind}.png" in status and "companion-upload-" not in status, status
    assert "<br" not in status and "Traceback" not in status
    assert restorer.restored is None and restorer.output_image.value == b""  # the previous result is cleared


def test_an_image_above_the_limit_is_refused(zoo):
    restorer = UploadRestorer(device="cpu", max_pixels=1000)
    assert restorer.handle("big.png", _png(_crop(40, 30))) is False
    assert "big.png is 30×40 = 1,200 px, more than the 1,000 px (0.001 Mpx)" in restorer.status.value
    assert "python -m companion restore" in restorer.status.value
    with pytest.raises(CompanionError, match=r"2001×1000 = 2,001,000 px, more than the 2,000,000 px \(2 Mpx\)"):
        decode_upload("huge.png", _png(np.zeros((1000, 2001, 3), np.float32)))


def test_without_the_zoo_the_widget_says_how_to_build_it(no_zoo):
    restorer = UploadRestorer(device="cpu")
    assert f"zoo build {ENTRY}" in restorer.status.value
    assert restorer.handle("fine.png", _png(_crop(32, 32))) is False
    assert f"{ENTRY} is missing" in restorer.status.value and f"zoo build {ENTRY}" in restorer.status.value


def test_a_given_module_is_used_as_is(zoo):
    _, model = zoo
    restorer = UploadRestorer(model, device="cpu", precision="fp32")
    assert restorer.handle("a.png", _png(_crop(32, 32)))
    assert "MEPSNet" in restorer.status.value and restorer.restored.shape == (32, 32, 3)


def test_the_conclusions_follow_the_measured_table():
    """The tour's conclusions come from psnr_table's numbers: a real run of the tour's restorer, then tables
    that flip the outcome."""
    from companion.tour import conclusions, quickstart

    clean = centre_square(embedded_image("astronaut"), 96, "astronaut")
    distorted, boxes = quickstart.distort_two_boxes(clean, 0.02, 2.0, np.random.default_rng(0))
    restored = quickstart.restore_nl_means(distorted, 0.08)
    table = psnr_table(clean, {"distorted": distorted, "restored": restored}, boxes)
    [paragraph, *rest] = conclusions.quickstart(table)
    noise = table["restored"]["noise"] - table["distorted"]["noise"]
    assert f"the noisy box {noise:+.2f} dB" in paragraph
    assert f"the clean middle, untouched before, at {table['restored']['clean']:.2f} dB" in paragraph
    assert paragraph.endswith("the clean middle.")  # among the costs: the filter blurs what was clean
    assert rest and "Chapter 7" in rest[-1]
    # a restorer better everywhere is no argument for Chapter 7; the zoo's row adds its own paragraph
    better = {"distorted": {"whole": 20.0, "noise": 18.0, "clean": 30.0, "blur": 22.0},
              "restored": {"whole": 21.0, "noise": 19.0, "clean": 31.0, "blur": 23.0},
              conclusions.ZOO_ROW: {"whole": 19.0, "noise": 17.5, "clean": 29.0, "blur": 22.5}}
    paragraphs = conclusions.quickstart(better)
    assert len(paragraphs) == 2 and "costs nothing measured here" in paragraphs[0]
    assert "the blurred box +0.50 dB (22.00 → 22.50)" in paragraphs[1] and "not a held-out test" in paragraphs[1]
