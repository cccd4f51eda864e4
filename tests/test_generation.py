"""Shared generator machinery: sources and splits, determinism, resumability, bad input."""
import json

import numpy as np
import pytest
from PIL import Image

from companion.ch6.flickr_distortion import build_flickr_distortion
from companion.ch6.flickr_distortion import clean_images as flickr_clean_images, detection_split
from companion.ch7.shdd import clean_images as shdd_clean_images
from companion.data.generation import stable_int
from companion.ch7.shdd import build_shdd
from companion.errors import CompanionError
from tests.conftest import texture


def make_refs(folder, n, size=(130, 140), prefix="im"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(texture(*size, i)).save(folder / f"{prefix}{i}.png")
    return folder


def tree(root):
    """{relative path: bytes} of every file under root."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- sources and splits -----------------------------------------------------------------------------------


def fake_div2k(root):
    for folder, numbers in (("DIV2K_train_HR", (1, 800)), ("DIV2K_valid_HR", (801, 850, 851, 900))):
        (root / "DIV2K" / folder).mkdir(parents=True)
        for n in numbers:
            Image.fromarray(texture(16, 16, n)).save(root / "DIV2K" / folder / f"{n:04d}.png")
    return root


def test_shdd_uses_the_paper_div2k_split(tmp_path):
    root = fake_div2k(tmp_path / "data")
    for source in (root, root / "DIV2K"):
        images = shdd_clean_images(source)
        splits = {c.stem: c.split for c in images}
        assert splits == {"0001": "train", "0800": "train", "0801": "val", "0850": "val",
                          "0851": "test", "0900": "test"}
        assert all(c.path.name == f"{c.stem}.png" for c in images)


def test_shdd_plain_folder_and_bundled_splits_are_non_empty_and_disjoint(tmp_path):
    src = make_refs(tmp_path / "plain", 20, size=(8, 8))
    for source in (src, "bundled"):
        images = shdd_clean_images(source, seed=3)
        by_split = {s: {c.stem for c in images if c.split == s} for s in ("train", "val", "test")}
        assert all(by_split.values()), by_split
        assert sum(len(v) for v in by_split.values()) == len(images) == len({c.stem for c in images})
    assert {c.split for c in shdd_clean_images("bundled")} == {"train", "val", "test"}


def test_flickr_splits_by_reference(tmp_path):
    src = make_refs(tmp_path / "refs", 10, size=(8, 8))
    images = flickr_clean_images(src, seed=0)
    by_split = {s: {c.stem for c in images if c.split == s} for s in ("train", "val", "test")}
    assert [len(by_split[s]) for s in ("train", "val", "test")] == [6, 2, 2]  # 60/20/20
    assert set.union(*by_split.values()) == {f"im{i}" for i in range(10)}
    detection = {s: {c.stem for c in images if detection_split(c.split) == s} for s in ("train", "test")}
    assert [len(detection["train"]), len(detection["test"])] == [8, 2]  # 80/20
    assert detection["test"] == by_split["test"] and not detection["train"] & detection["test"]
    # seeded: same seed, same split; another seed, another one
    assert flickr_clean_images(src, seed=0) == images
    assert any(flickr_clean_images(src, seed=s) != images for s in (1, 2, 3))
    bundled = flickr_clean_images("bundled")
    assert {c.split for c in bundled} == {"train", "val", "test"}


def test_source_errors(tmp_path):
    with pytest.raises(CompanionError, match="does not exist"):
        shdd_clean_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompanionError, match="DIV2K/DIV2K_train_HR"):
        shdd_clean_images(tmp_path / "empty")
    with pytest.raises(CompanionError, match="at least 3"):
        flickr_clean_images(make_refs(tmp_path / "two", 2, size=(8, 8)))


def test_stable_int_is_stable():
    # SHA-256 based, so the same in every process (Python's hash() of a str is salted per process):
    # the first 8 bytes of sha256(b"0001") = 88 8b 19 a4 3b 15 16 83, read little-endian
    assert stable_int("0001") == 0x8316153BA4198B88
    assert stable_int("0002") != stable_int("0001")


# --- bad input ----------------------------------------------------------------------------------------------


def bad_file(folder, kind):
    path = folder / "bad.png"
    if kind == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    elif kind == "greyscale":
        Image.fromarray(texture(140, 140)[..., 0]).save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([texture(140, 140), np.full((140, 140), 255, np.uint8)])).save(path)
    elif kind == "16-bit":
        Image.fromarray((texture(140, 140)[..., 0].astype(np.uint16) * 257)).save(path)
    return path


@pytest.mark.parametrize("kind", ["corrupt", "greyscale", "rgba", "16-bit"])
def test_bad_source_files_are_named(tmp_path, kind):
    src = make_refs(tmp_path / "src", 3)
    bad = bad_file(src, kind)
    with pytest.raises(CompanionError, match=str(bad)):
        build_shdd(src, tmp_path / "out", levels=("easy",), versions=1, progress=False)
    with pytest.raises(CompanionError, match=str(bad)):
        build_flickr_distortion(src, tmp_path / "out", sets=("classification",), progress=False)
    assert not list(tmp_path.glob("out/**/*.png"))


def test_errors_cross_the_process_pool(tmp_path):
    src = make_refs(tmp_path / "src", 3)
    bad = bad_file(src, "greyscale")
    with pytest.raises(CompanionError, match=f"{bad}.*greyscale"):
        build_shdd(src, tmp_path / "out", levels=("easy",), versions=1, workers=2, progress=False)
    assert not (tmp_path / "out").exists()  # the pre-flight stops the build before anything is written


# --- determinism and resumability ------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(tmp_path):
    src = make_refs(tmp_path / "src", 4)
    one = build_shdd(src, tmp_path / "a", levels=("easy",), versions=2, workers=1, progress=False)
    two = build_shdd(src, tmp_path / "b", levels=("easy",), versions=2, workers=2, progress=False)
    assert one.n_written == two.n_written == 4 * 3
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert len(a) == 1 + 4 + 4 * 2 * 3 and a == b  # manifest included
    flickr = make_refs(tmp_path / "refs", 3, size=(40, 48))
    build_flickr_distortion(flickr, tmp_path / "c", sets=("classification",), workers=1, progress=False)
    build_flickr_distortion(flickr, tmp_path / "d", sets=("classification",), workers=2, progress=False)
    assert tree(tmp_path / "c") == tree(tmp_path / "d")
    # and another seed changes every picture (a plain folder's split is seeded too, so match by file name)
    build_shdd(src, tmp_path / "e", levels=("easy",), versions=2, seed=1, progress=False)
    pictures = [{k.rsplit("/", 1)[1]: v for k, v in t.items() if "/distorted/" in k} for t in (a, tree(tmp_path / "e"))]
    assert len(pictures[0]) == 8 and all(pictures[0][k] != pictures[1][k] for k in pictures[0])


def test_rerun_skips_and_repairs(tmp_path):
    src = make_refs(tmp_path / "src", 3, size=(170, 180))
    out = tmp_path / "out"
    first = build_shdd(src, out, levels=("easy",), versions=2, progress=False)
    before = tree(out)
    again = build_shdd(src, out, levels=("easy",), versions=2, progress=False)
    assert (again.n_written, again.n_skipped) == (0, first.n_written)
    root = out / "shdd"
    manifest = json.loads((root / "manifest.json").read_text())
    distorted = sorted(k for k in manifest["files"] if "/distorted/" in k)
    (root / distorted[0]).unlink()  # deleted
    (root / distorted[1]).write_bytes(b"not a png")  # corrupted
    record = distorted[2].replace("/distorted/", "/records/").replace(".png", ".json")
    (root / record).write_text("{}")  # a unit's other file corrupted
    repaired = build_shdd(src, out, levels=("easy",), versions=2, progress=False)
    assert (repaired.n_written, repaired.n_skipped) == (3, first.n_written - 3)
    assert tree(out) == before
    # adding a level only makes the new level
    more = build_shdd(src, out, levels=("easy", "moderate"), versions=2, progress=False)
    assert (more.n_written, more.n_skipped) == (3 * 2, first.n_written)
    with pytest.raises(CompanionError, match="seed=0"):
        build_shdd(src, out, levels=("easy",), versions=2, seed=5, progress=False)


def test_flickr_rerun_skips(tmp_path):
    src = make_refs(tmp_path / "src", 3, size=(40, 48))
    out = tmp_path / "out"
    build_flickr_distortion(src, out, sets=("classification",), progress=False)
    before = tree(out)
    again = build_flickr_distortion(src, out, sets=("classification",), progress=False)
    assert (again.n_written, again.n_skipped) == (0, 3)
    labels = next((out / "flickr-distortion" / "classification").glob("*/labels.csv"))
    labels.write_text("broken")
    build_flickr_distortion(src, out, sets=("classification",), progress=False)
    assert tree(out) == before
