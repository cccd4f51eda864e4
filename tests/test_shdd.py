"""SHDD divide-and-distort (thesis §7.3, seed 000 §3): regions, labels, methods, records."""
import json

import numpy as np
import pytest
from PIL import Image

from companion.ch7.shdd import (LEVELS, MIN_REGION_SIDE, SHDD_RANGES, SHDD_TYPES, build_shdd, divide_and_distort,
                                min_image_side, plan_regions)
from companion.data.regions import distort_regions
from companion.errors import CompanionError
from tests.conftest import texture as shared_texture


def texture(h, w, seed=0):
    """A smooth colour texture in [0.15, 0.85] (no clipping by noise at SHDD strengths, blur changes it)."""
    return shared_texture(h, w, seed, freq=(0.15, 0.6), amplitude=0.35, uint8=False)


def test_levels_give_the_promised_regions_tiling_the_image():
    seen = {level: set() for level in LEVELS}
    for level, n in LEVELS.items():
        for i in range(150):
            rng = np.random.default_rng([1, i])
            h = int(rng.integers(min_image_side(level), 400))
            w = int(rng.integers(min_image_side(level), 400))
            lines, regions = plan_regions(h, w, level, rng)
            nh, nv = len(lines["horizontal"]), len(lines["vertical"])
            assert nh + nv == n
            assert len(regions) == (nh + 1) * (nv + 1)
            seen[level].add(len(regions))
            cover = np.zeros((h, w), np.int32)
            for r in regions:
                assert r["ymax"] - r["ymin"] >= MIN_REGION_SIDE and r["xmax"] - r["xmin"] >= MIN_REGION_SIDE
                cover[r["ymin"]:r["ymax"], r["xmin"]:r["xmax"]] += 1
            assert (cover == 1).all()  # no gaps, no overlaps
    # every orientation mix occurs: strips and blocks
    assert seen == {"easy": {3, 4}, "moderate": {4, 6}, "difficult": {5, 8, 9}}


def test_min_side_holds_at_the_smallest_allowed_image():
    for level in LEVELS:
        side = min_image_side(level)
        for i in range(300):
            _, regions = plan_regions(side, side, level, np.random.default_rng([2, i]))
            assert min(min(r["ymax"] - r["ymin"], r["xmax"] - r["xmin"]) for r in regions) >= MIN_REGION_SIDE
        with pytest.raises(CompanionError, match=f"at least {side} px"):
            plan_regions(side - 1, 500, level, np.random.default_rng(0))


def test_lines_are_jittered_around_equal_splits():
    offsets = []
    for i in range(400):
        lines, _ = plan_regions(600, 600, "easy", np.random.default_rng([3, i]))
        for axis in ("horizontal", "vertical"):
            k = len(lines[axis])
            offsets += [(y - (j + 1) * 600 / (k + 1)) / (600 / (k + 1)) for j, y in enumerate(lines[axis])]
    offsets = np.array(offsets)
    assert np.abs(offsets).max() <= 0.3 + 1e-9  # truncated at ±30 % of the mean region size
    assert offsets.std() > 0.08  # and really random
    assert abs(offsets.mean()) < 0.02


def test_types_and_strengths_follow_the_paper():
    counts = dict.fromkeys(SHDD_TYPES, 0)
    for i in range(300):
        _, regions = plan_regions(300, 300, "moderate", np.random.default_rng([4, i]))
        for r in regions:
            counts[r["type"]] += 1
            assert r["label"] == SHDD_TYPES.index(r["type"])
            if r["type"] == "identity":
                assert r["strength"] == 0.0
            else:
                lo, hi = SHDD_RANGES[r["type"]]
                assert lo <= r["strength"] <= hi
    total = sum(counts.values())
    assert all(abs(c / total - 0.2) < 0.04 for c in counts.values()), counts


def test_label_map_matches_where_pixels_changed():
    img = texture(240, 300)
    changed_by_type = {t: [] for t in SHDD_TYPES}
    for i in range(12):
        out, labels, record = divide_and_distort(img, "difficult", np.random.default_rng([5, i]))
        assert out.dtype == np.float32 and out.shape == img.shape and labels.dtype == np.uint8
        changed = (out != img).any(axis=2)
        for r in record["regions"]:
            sl = (slice(r["ymin"], r["ymax"]), slice(r["xmin"], r["xmax"]))
            assert (labels[sl] == r["label"]).all()
            changed_by_type[r["type"]].append(changed[sl].mean())
    assert all(f == 0.0 for f in changed_by_type["identity"])  # bit-identical to the source
    for kind in ("gaussian_noise", "f_noise", "contrast_change"):
        assert min(changed_by_type[kind]) > 0.9, (kind, min(changed_by_type[kind]))
    assert min(changed_by_type["gaussian_blur"]) > 0.5
    assert all(len(v) for v in changed_by_type.values())


def test_input_is_not_modified():
    img = texture(200, 200)
    before = img.copy()
    divide_and_distort(img, "moderate", np.random.default_rng(0))
    assert np.array_equal(img, before)


def regions_of(kind, strength, box):
    y0, x0, y1, x1 = box
    return [{"ymin": y0, "xmin": x0, "ymax": y1, "xmax": x1, "type": kind, "strength": strength}]


@pytest.mark.parametrize("kind,strength", [("gaussian_blur", 1.0), ("gaussian_blur", 2.5),
                                           ("contrast_change", 33.0), ("identity", 0.0)])
@pytest.mark.parametrize("box", [(40, 50, 140, 200), (0, 0, 100, 300), (150, 210, 240, 300)])
def test_regional_equals_whole_for_blur_and_pointwise(kind, strength, box):
    img = texture(240, 300)
    regional, lab_r = distort_regions(img, regions_of(kind, strength, box), np.random.default_rng(0), "regional",
                                      names=SHDD_TYPES)
    whole, lab_w = distort_regions(img, regions_of(kind, strength, box), np.random.default_rng(0), "whole",
                                   names=SHDD_TYPES)
    assert np.array_equal(regional, whole)  # exact: the blur margin covers the kernel
    assert np.array_equal(lab_r, lab_w)
    y0, x0, y1, x1 = box
    inside = np.zeros(lab_r.shape, bool)
    inside[y0:y1, x0:x1] = True
    assert (lab_r[inside] == SHDD_TYPES.index(kind)).all() and (lab_r[~inside] == 0).all()


def test_regional_and_whole_noise_are_statistically_alike():
    img = texture(256, 320)
    box = (40, 50, 168, 210)
    sl = (slice(40, 168), slice(50, 210))
    for kind, strength, lo, hi in [("gaussian_noise", 0.01, 0.97, 1.03), ("f_noise", 8.0, 0.85, 1.0)]:
        stds = np.zeros(2)
        for k in range(10):
            for m, method in enumerate(("regional", "whole")):
                out, _ = distort_regions(img, regions_of(kind, strength, box), np.random.default_rng([m, k]), method,
                                         names=SHDD_TYPES)
                stds[m] += (out - img)[sl].std() / 10
        ratio = stds[1] / stds[0]
        # Gaussian noise: same distribution. f-noise: the whole-image 1/f field loses part of its std to a
        # region-wide offset (measured ≈ 0.95 here), the regional one has exactly std = scale / 100.
        assert lo < ratio < hi, (kind, stds)
    assert abs(stds[0] - 0.08) < 1e-3


def test_record_and_method_validation():
    img = texture(200, 220)
    _, _, record = divide_and_distort(img, "easy", np.random.default_rng(0))
    assert record["level"] == "easy" and record["n_lines"] == 2
    assert (record["height"], record["width"]) == (200, 220)
    json.dumps(record)  # JSON-serialisable
    with pytest.raises(CompanionError, match="unknown SHDD level"):
        divide_and_distort(img, "hard", np.random.default_rng(0))
    with pytest.raises(CompanionError, match="unknown method"):
        divide_and_distort(img, "easy", np.random.default_rng(0), method="fast")
    with pytest.raises(CompanionError, match="float"):
        divide_and_distort((img * 255).astype(np.uint8), "easy", np.random.default_rng(0))


def test_build_writes_the_documented_layout(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray((texture(150, 180, i) * 255).round().astype(np.uint8)).save(src / f"im{i}.png")
    report = build_shdd(src, tmp_path / "out", levels=("easy",), versions=2, progress=False)
    root = tmp_path / "out" / "shdd"
    assert report.out == root and report.n_written == 3 * (1 + 2) and report.n_skipped == 0
    clean = sorted(p.relative_to(root).as_posix() for p in root.glob("*/clean/*.png"))
    assert len(clean) == 3
    for rel in clean:
        split, _, name = rel.split("/")
        stem = name[:-4]
        for v in ("00", "01"):
            record = json.loads((root / "easy" / split / "records" / f"{stem}_{v}.json").read_text())
            labels = np.asarray(Image.open(root / "easy" / split / "labels" / f"{stem}_{v}.png"))
            distorted = np.asarray(Image.open(root / "easy" / split / "distorted" / f"{stem}_{v}.png"))
            assert distorted.shape == (150, 180, 3) and labels.shape == (150, 180)
            assert record["stem"] == stem and record["split"] == split and record["version"] == int(v)
            assert record["source"] == f"{stem}.png"
            for r in record["regions"]:
                assert (labels[r["ymin"]:r["ymax"], r["xmin"]:r["xmax"]] == r["label"]).all()
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["seed"] == 0 and len(manifest["files"]) == 3 + 3 * 2 * 3


def test_build_refuses_images_too_small_for_the_level(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i, size in enumerate([(220, 220), (220, 220), (200, 150)]):
        Image.fromarray((texture(*size, i) * 255).astype(np.uint8)).save(src / f"im{i}.png")
    build_shdd(src, tmp_path / "ok", levels=("easy",), versions=1, progress=False)  # 150 px ≥ 128: fine
    with pytest.raises(CompanionError, match=r"im2\.png is 150×200 px.*at least 213 px"):
        build_shdd(src, tmp_path / "out", levels=("easy", "difficult"), versions=1, progress=False)
    with pytest.raises(CompanionError, match="unknown SHDD level"):
        build_shdd(src, tmp_path / "out", levels=("hard",), progress=False)


def test_embedded_photographs_split_into_seven_train_one_val_three_test():
    from companion.ch7.shdd import BUNDLED_SPLITS, clean_images

    splits = {c.stem: c.split for c in clean_images("bundled")}
    assert [s for s, split in splits.items() if split == "test"] == ["china", "flower", "rocket"]
    assert [s for s, split in splits.items() if split == "val"] == ["chelsea"]
    assert sum(split == "train" for split in splits.values()) == 7 and "motorcycle_left" in splits
    assert set(BUNDLED_SPLITS["test"]) | set(BUNDLED_SPLITS["val"]) <= set(splits)
