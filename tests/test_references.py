"""Notebook sources: bundled, a cropped subset through the folder code path, or the real dataset folder."""
import numpy as np
import pytest

from companion.data.images import EMBEDDED_IMAGES, embedded_image, load_image
from companion.data.images import centre_square
from companion.data.references import fit_square, prepare_source
from companion.errors import CompanionError


def test_bundled_is_passed_through():
    assert prepare_source("bundled", "DIV2K") == "bundled"


def test_subset_is_written_cropped_and_exact(tmp_path):
    folder = prepare_source("bundled", "flickr_references", limit=2, crop=300, work_dir=tmp_path)
    files = sorted(folder.glob("*.png"))
    first = sorted(EMBEDDED_IMAGES)[0]
    assert [f.stem for f in files] == sorted(EMBEDDED_IMAGES)[:2]
    assert np.array_equal(load_image(files[0]), centre_square(embedded_image(first), 300))
    again = prepare_source("bundled", "flickr_references", limit=2, crop=300, work_dir=tmp_path)
    assert again == folder


def test_crop_larger_than_an_image_names_it(tmp_path):
    with pytest.raises(CompanionError, match="chelsea is 451×300 px, smaller than the 400×400 crop"):
        prepare_source("bundled", "DIV2K", crop=400, work_dir=tmp_path)


def test_real_source_needs_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    with pytest.raises(CompanionError, match="flickr_references is missing"):
        prepare_source("data", "flickr_references")
    (tmp_path / "DIV2K").mkdir()
    assert prepare_source("data", "DIV2K") == tmp_path / "DIV2K"
    with pytest.raises(CompanionError, match="unknown source"):
        prepare_source("web", "DIV2K")


def test_fit_square():
    out = fit_square(embedded_image("chelsea"), 128)
    assert out.shape == (128, 128, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
