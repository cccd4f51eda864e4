"""Images: embedded photographs load offline; load_image refuses everything that is not 8-bit RGB."""
import pickle
import socket
import struct
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.conftest import rgb16_png
from companion.data import images
from companion.data.images import (EMBEDDED_IMAGES, embedded_image, load_image, load_label_map, save_image,
                                   save_label_map, to_float, to_uint8)
from companion.errors import CompanionError


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection (or to import pooch, skimage's downloader) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setitem(sys.modules, "pooch", None)


def _png_chunks(path):
    data = path.read_bytes()[8:]
    kinds = []
    while data:
        (length,) = struct.unpack(">I", data[:4])
        kinds.append(data[4:8].decode())
        data = data[12 + length:]
    return kinds


def _rgb16_png(path, h=4, w=5):
    return rgb16_png(path, h, w)


def test_embedded_list_has_the_usual_photographs():
    assert {"astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right"} <= set(EMBEDDED_IMAGES)


@pytest.mark.parametrize("name", EMBEDDED_IMAGES)
def test_embedded_image_loads_offline_as_float_rgb(name, no_network):
    img = embedded_image(name)
    assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] >= 256 and img.shape[1] >= 256
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert img.std() > 0.02                                   # a photograph, not a flat image
    assert np.abs(img[..., 0] - img[..., 2]).mean() > 0.005   # colour, not grey stored as RGB


def test_embedded_image_matches_skimage(no_network):
    import skimage.data
    assert np.array_equal(to_uint8(embedded_image("astronaut")), skimage.data.astronaut())
    assert embedded_image("coffee").shape == (400, 600, 3)


def test_unknown_embedded_image_lists_the_names():
    with pytest.raises(CompanionError, match="astronaut"):
        embedded_image("lena")


def test_save_then_load_round_trips_uint8_exactly(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    save_image(tmp_path / "a.png", rgb)
    back = load_image(tmp_path / "a.png")
    assert back.dtype == np.float32 and back.shape == (17, 23, 3)
    assert np.array_equal(to_uint8(back), rgb)
    save_image(tmp_path / "b.png", back)                      # float path gives the same pixels
    assert np.array_equal(to_uint8(load_image(tmp_path / "b.png")), rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp files left


def test_save_image_is_byte_deterministic_without_metadata(tmp_path):
    img = np.random.default_rng(2).random((31, 29, 3)).astype(np.float32)
    save_image(tmp_path / "one.png", img)
    save_image(tmp_path / "two.png", img)
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()
    assert set(_png_chunks(tmp_path / "one.png")) == {"IHDR", "IDAT", "IEND"}


def test_save_image_greyscale_and_clipping(tmp_path):
    save_image(tmp_path / "g.png", np.array([[-0.5, 0.5], [1.0, 7.0]]))
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "L"
        assert np.array_equal(np.asarray(im), [[0, 128], [255, 255]])
    with pytest.raises(ValueError):
        save_image(tmp_path / "bad.png", np.zeros((4, 4, 4)))


def test_converters():
    assert np.array_equal(to_uint8(np.array([0.0, 0.2, 1.0])), [0, 51, 255])
    assert to_float(np.array([255], dtype=np.uint8)).dtype == np.float32
    assert to_float(np.array([255], dtype=np.uint8))[0] == 1.0
    with pytest.raises(ValueError):
        to_uint8(np.array([np.nan]))


def _save(path, array, mode=None):
    im = Image.fromarray(array)
    im = im.convert(mode) if mode else im
    im.save(path)
    return path


@pytest.mark.parametrize("kind, message", [
    ("missing", "does not exist"),
    ("random", "corrupt"),
    ("truncated", "truncated"),
    ("grey", "convert to 8-bit RGB"),
    ("bilevel", "convert to 8-bit RGB"),
    ("grey_palette", "convert to 8-bit RGB"),
    ("rgba", "alpha"),
    ("la", "alpha"),
    ("palette_transparent", "alpha"),
    ("grey16", "8 bits"),
    ("rgb16", "8 bits"),
    ("int32", "8 bits"),
    ("cmyk", "8-bit RGB"),
])
def test_load_image_refuses_what_is_not_8bit_rgb(tmp_path, kind, message):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    path = tmp_path / f"bad_{kind}.png"
    if kind == "random":
        path.write_bytes(rng.bytes(5000))
    elif kind == "truncated":
        _save(path, rgb)
        path.write_bytes(path.read_bytes()[:6000])
    elif kind == "grey":
        _save(path, grey)
    elif kind == "bilevel":
        _save(path, grey, "1")
    elif kind == "grey_palette":
        _save(path, grey, "P")
    elif kind == "rgba":
        _save(path, rgb, "RGBA")
    elif kind == "la":
        _save(path, grey, "LA")
    elif kind == "palette_transparent":
        im = Image.fromarray(rgb).convert("P")
        im.save(path, transparency=0)
    elif kind == "grey16":
        _save(path, (grey.astype(np.uint16) * 257))
    elif kind == "rgb16":
        _rgb16_png(path)
    elif kind == "int32":
        path = path.with_suffix(".tif")
        Image.fromarray(grey.astype(np.int32) * 1000).save(path)
    elif kind == "cmyk":
        path = path.with_suffix(".jpg")
        _save(path, rgb, "CMYK")
    with pytest.raises(CompanionError, match=message) as info:
        load_image(path)
    assert path.name in str(info.value)
    assert "\n" not in str(info.value)
    # a few words for lists of several bad files, kept when the error crosses a process pool
    reason = info.value.reason
    assert 0 < len(reason) <= 45 and path.name not in reason and "\n" not in reason
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, CompanionError) and (str(copy), copy.reason) == (str(info.value), reason)


def test_rgb16_png_really_is_16_bit_to_pillow(tmp_path):
    """Guards the test above: Pillow opens this file as plain RGB, so only the bit-depth check catches it."""
    with Image.open(_rgb16_png(tmp_path / "x.png")) as im:
        assert im.mode == "RGB"


def test_colour_palette_image_is_expanded_to_rgb(tmp_path):
    rgb = np.random.default_rng(4).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    im = Image.fromarray(rgb).convert("P")
    im.save(tmp_path / "p.png")
    expected = np.asarray(im.convert("RGB"))
    assert np.array_equal(to_uint8(load_image(tmp_path / "p.png")), expected)


def test_label_map_round_trip(tmp_path):
    labels = np.random.default_rng(5).integers(0, 7, (12, 9), dtype=np.uint8)
    save_label_map(tmp_path / "l.png", labels)
    back = load_label_map(tmp_path / "l.png")
    assert back.dtype == np.uint8 and np.array_equal(back, labels)
    save_image(tmp_path / "rgb.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(CompanionError, match="rgb.png"):
        load_label_map(tmp_path / "rgb.png")
    with pytest.raises(ValueError):
        save_label_map(tmp_path / "x.png", labels.astype(np.int64))


def test_embedded_images_are_read_from_the_skimage_folder():
    assert images._PACKAGE_DIRS["skimage"] is not None and images._embedded_path("astronaut").is_file()


def test_check_image_file_catches_bad_files_without_decoding(tmp_path):
    from PIL import Image as PILImage

    from companion.data.images import check_image_file

    good = save_image(tmp_path / "good.png", np.random.default_rng(0).random((30, 40, 3)).astype(np.float32))
    assert check_image_file(good) == (40, 30)
    data = good.read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    PILImage.fromarray(np.zeros((8, 8), np.uint16)).save(tmp_path / "deep.png")
    PILImage.fromarray(np.zeros((8, 8, 4), np.uint8)).save(tmp_path / "alpha.png")
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "grey.png")
    for name, message in [("truncated.png", "corrupt or truncated"), ("deep.png", "more than 8 bits"),
                          ("alpha.png", "alpha channel"), ("grey.png", "greyscale")]:
        with pytest.raises(CompanionError, match=message) as info:
            check_image_file(tmp_path / name)
        assert name in str(info.value)
