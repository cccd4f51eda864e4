"""Flickr-Distortion classification and detection sets (thesis §6.2)."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from companion.ch6.flickr_distortion import FLICKR_LEVELS, FLICKR_TYPES, flickr_range
from companion.ch6.flickr_distortion import (CROP, DETECTION, build_flickr_distortion, centre_crop,
                                              plan_detection)
from companion.errors import CompanionError
from tests.conftest import texture


def make_refs(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(texture(h, w, i)).save(folder / f"ref{i}.png")
    return folder


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_classification_24_images_per_reference(tmp_path):
    src = make_refs(tmp_path / "src", [(48, 64)] * 5)
    report = build_flickr_distortion(src, tmp_path / "out", sets=("classification",), progress=False)
    root = tmp_path / "out" / "flickr-distortion" / "classification"
    assert report.n_written == 5
    seen = {}
    for split in ("train", "val", "test"):
        rows = read_csv(root / split / "labels.csv")
        files = sorted(p.name for p in (root / split).glob("*.png"))
        assert sorted(r["file"] for r in rows) == files
        for r in rows:
            seen.setdefault(r["file"].split("_")[0], []).append(r)
            assert FLICKR_TYPES[int(r["class_id"])] == r["type"]
            assert float(r["strength"]) == FLICKR_LEVELS[r["type"]][int(r["level"]) - 1]
            assert r["file"] == f"{r['file'].split('_')[0]}_{r['type']}_{r['level']}.png"
    assert sorted(seen) == [f"ref{i}" for i in range(5)]
    assert all(len(rows) == 24 for rows in seen.values())
    assert all({(r["type"], r["level"]) for r in rows} == {(t, str(lv)) for t in FLICKR_TYPES for lv in (1, 2, 3)}
               for rows in seen.values())
    # levels go mild -> severe: the error against the reference grows with the level (except where a
    # type saturates), for every reference
    for stem, rows in seen.items():
        split = next(s for s in ("train", "val", "test") if (root / s / f"{stem}_jpeg_1.png").exists())
        ref = np.asarray(Image.open(src / f"{stem}.png"), np.float64)
        for kind in ("gaussian_noise", "gaussian_blur", "salt_and_pepper", "f_noise", "low_resolution"):
            mse = [np.mean((np.asarray(Image.open(root / split / f"{stem}_{kind}_{lv}.png"), np.float64) - ref) ** 2)
                   for lv in (1, 2, 3)]
            assert 0 < mse[0] < mse[1] < mse[2], (kind, mse)


def test_detection_plans_follow_the_sets():
    for set_name, spec in DETECTION.items():
        counts, ratios = set(), []
        for i in range(400):
            regions = plan_detection(set_name, np.random.default_rng([9, i]))
            counts.add(len(regions))
            occupied = np.zeros((CROP, CROP), np.int32)
            for r in regions:
                h, w = r["ymax"] - r["ymin"], r["xmax"] - r["xmin"]
                assert 0 <= r["ymin"] and r["ymax"] <= CROP and 0 <= r["xmin"] and r["xmax"] <= CROP
                for side in (h, w):
                    assert spec.ratio[0] * CROP - 0.5 <= side <= spec.ratio[1] * CROP + 0.5
                ratios.append((h + w) / (2 * CROP))
                occupied[r["ymin"]:r["ymax"], r["xmin"]:r["xmax"]] += 1
                assert FLICKR_TYPES[r["class_id"]] == r["type"] and r["label"] == r["class_id"] + 1
                lo, hi = flickr_range(r["type"])
                assert lo <= r["strength"] <= hi
            assert occupied.max() <= 1  # non-overlapping
        assert counts == set(range(spec.count[0], spec.count[1] + 1))
        mean = float(np.mean(ratios))
        # measured on 20,000 images: basic 0.439, difficult 0.200 (thesis: 0.43, 0.18)
        expected = {"basic": 0.439, "difficult": 0.200}[set_name]
        assert abs(mean - expected) < 0.015, (set_name, mean)


def test_detection_build_coco_matches_label_maps(tmp_path):
    src = make_refs(tmp_path / "src", [(300, 300), (320, 340), (310, 300)])
    build_flickr_distortion(src, tmp_path / "out", sets=("basic", "difficult"), per_reference=2, progress=False)
    top = tmp_path / "out" / "flickr-distortion"
    n_images = 0
    for set_name, spec in DETECTION.items():
        for split in ("train", "test"):
            coco = json.loads((top / f"detection-{set_name}" / split / "annotations.json").read_text())
            assert [c["id"] for c in coco["categories"]] == list(range(1, 9))
            assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])
            n_images += len(coco["images"])
            for image in coco["images"]:
                folder = top / f"detection-{set_name}" / split
                pixels = np.asarray(Image.open(folder / image["file_name"]))
                labels = np.asarray(Image.open(folder / "labels" / image["file_name"].split("/")[1]))
                assert pixels.shape == (CROP, CROP, 3) and (image["width"], image["height"]) == (CROP, CROP)
                anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
                assert spec.count[0] <= len(anns) <= spec.count[1]
                expected = np.zeros((CROP, CROP), np.uint8)
                for a in anns:
                    x, y, w, h = a["bbox"]
                    assert a["area"] == w * h and a["iscrowd"] == 0
                    assert x >= 0 and y >= 0 and x + w <= CROP and y + h <= CROP
                    assert (expected[y:y + h, x:x + w] == 0).all()
                    expected[y:y + h, x:x + w] = a["category_id"]
                assert np.array_equal(labels, expected)
                # outside the boxes the crop is the clean reference's centre crop, bit for bit
                ref = centre_crop(np.asarray(Image.open(src / f"{image['reference']}.png")))
                assert np.array_equal(pixels[expected == 0], ref[expected == 0])
                assert (pixels[expected > 0] != ref[expected > 0]).any()
    assert n_images == 2 * 3 * 2


def test_too_small_reference_is_refused_for_detection_only(tmp_path):
    small = make_refs(tmp_path / "small", [(40, 48), (40, 48), (32, 40)])
    build_flickr_distortion(small, tmp_path / "cls", sets=("classification",), progress=False)  # no minimum
    src = make_refs(tmp_path / "src", [(300, 320), (300, 300), (299, 400)])
    with pytest.raises(CompanionError, match=r"ref2\.png is 400×299 px.*at least 300 px"):
        build_flickr_distortion(src, tmp_path / "det", sets=("basic",), per_reference=1, progress=False)


def test_unknown_set_is_refused(tmp_path):
    with pytest.raises(CompanionError, match="unknown Flickr-Distortion set 'hard'"):
        build_flickr_distortion("bundled", tmp_path, sets=("hard",), progress=False)
    with pytest.raises(CompanionError, match="per_reference"):
        build_flickr_distortion("bundled", tmp_path, per_reference=0, progress=False)


def test_the_conclusions_are_rendered_from_the_measurements():
    """06a's conclusions: measured detection statistics beside §6.2.2's means, a severity table whose ordering
    decides the wording, the classification count against one image per type and level."""
    from companion.ch6 import conclusions
    from companion.ch6.measurements import detection_statistics

    stats = {name: detection_statistics(name, 200, 0) for name in ("basic", "difficult")}
    text = conclusions.detection(stats)
    for name, s in stats.items():
        assert f"{name}: {s['min_regions']}–{s['max_regions']} regions" in text
        assert f"mean side ratio {s['mean_side_ratio']:.3f} against the thesis' " in text
    assert "200 sampled plans" in text
    falling = {kind: [30.0, 25.0, 20.0] for kind in FLICKR_TYPES}
    assert "falls level by level for 8 of the 8 types" in conclusions.severity(falling)
    assert "It does not" not in conclusions.severity(falling)
    mixed = {**falling, "jpeg": [30.0, 31.0, 20.0]}
    assert "for 7 of the 8 types" in conclusions.severity(mixed)
    assert "It does not for jpeg 30.00 → 31.00 → 20.00" in conclusions.severity(mixed)
    per_reference = sum(len(FLICKR_LEVELS[k]) for k in FLICKR_TYPES)
    assert "as §6.2.1 has it (8 types × 3 levels)" in conclusions.classification(per_reference)
    assert f"where §6.2.1 has {per_reference}" in conclusions.classification(per_reference - 1)
    assert len(conclusions.distortion_datasets(falling, stats, per_reference)) == 3
