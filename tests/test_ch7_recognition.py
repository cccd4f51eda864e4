"""Table 7.2's pipeline (companion.ch7.recognition) end to end on images and objects made here: a COCO-format json
written by the test, SHDD distortion, restorers, small randomly initialised Faster / Mask R-CNNs, and torchmetrics'
mAP; plus what the full profile needs and how Table 7.2 is recorded when it is not there."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils
from scipy import ndimage
from torch import nn
from torchvision.models.detection import fasterrcnn_resnet50_fpn

from companion.ch7 import conclusions, recognition
from companion.ch7.config import RECOGNITION
from companion.errors import CompanionError
from companion.ledger import load_paper
from conftest import RecordingRun

pytestmark = pytest.mark.usefixtures("one_thread")

SIDE = 192
COLOURS = {1: (220, 40, 40), 2: (40, 200, 60)}  # category id -> the colour its objects are painted in


def _write_coco(folder, sides=(SIDE, SIDE), suffix=".png"):
    """Two kinds of painted rectangles on a grey background, one crowd region, and their COCO json; PNG by default,
    so that the stand-in detector's colours stay exact on the clean images."""
    images, annotations = [], []
    (folder / "val2017").mkdir(parents=True)
    for index, side in enumerate(sides, start=1):
        canvas = Image.new("RGB", (side, side), (128, 128, 128))
        draw = ImageDraw.Draw(canvas)
        for k, (category, (x, y, w, h)) in enumerate([(1, (20, 30, 60, 50)), (2, (110, 100, 50, 70))]):
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=COLOURS[category])
            polygon = [x, y, x + w, y, x + w, y + h, x, y + h]
            annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": category,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
                                "segmentation": [[float(v) for v in polygon]]})
        crowd = np.zeros((side, side), np.uint8, order="F")
        crowd[150:170, 10:40] = 1
        rle = mask_utils.encode(crowd)
        rle["counts"] = rle["counts"].decode()
        annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": 1, "bbox": [10, 150, 30, 20],
                            "area": 600, "iscrowd": 1, "segmentation": rle})
        name = f"{index:012d}{suffix}"
        canvas.save(folder / "val2017" / name)
        images.append({"id": index, "file_name": name, "height": side, "width": side})
    (folder / "annotations").mkdir()
    path = folder / "annotations" / "instances_val2017.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "red"}, {"id": 2, "name": "green"}]}))
    return folder / "val2017", path


class ColourDetector(nn.Module):
    """A stand-in detector that finds the painted rectangles by their exact colour (connected components): perfect
    on the clean images, hurt by anything that changes the colours."""

    def forward(self, images):
        out = []
        for image in images:
            pixels = (image.permute(1, 2, 0).numpy() * 255).round()
            boxes, labels, masks = [], [], []
            for category, colour in COLOURS.items():
                found, count = ndimage.label(np.abs(pixels - np.array(colour)).max(axis=2) <= 20)
                for k in range(1, count + 1):
                    ys, xs = np.nonzero(found == k)
                    if len(ys) < 50:
                        continue
                    boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                    labels.append(category)
                    masks.append(found == k)
            h, w = image.shape[1:]
            out.append({"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                        "labels": torch.tensor(labels, dtype=torch.int64), "scores": torch.ones(len(boxes)),
                        "masks": torch.from_numpy(np.array(masks, dtype=np.float32).reshape(-1, 1, h, w))})
        return out


def test_coco_images_reads_boxes_masks_and_crowds(tmp_path):
    images, annotations = _write_coco(tmp_path)
    data = recognition.CocoImages(images, annotations)
    assert len(data) == 2 and len(recognition.CocoImages(images, annotations, limit=1)) == 1
    item = data[0]
    target = item["target"]
    assert item["image"].shape == (SIDE, SIDE, 3) and item["id"] == 1
    assert target["boxes"][0].tolist() == [20, 30, 80, 80] and target["labels"].tolist() == [1, 2, 1]
    assert target["iscrowd"].tolist() == [0, 0, 1] and target["masks"].dtype == torch.bool
    assert abs(int(target["masks"][0].sum()) - 60 * 50) <= 60 + 50  # the polygon's pixels, give or take its border
    assert int(target["masks"][2].sum()) == 600  # the crowd's RLE, exactly
    with pytest.raises(CompanionError, match="no annotation file"):
        recognition.CocoImages(images, tmp_path / "missing.json")
    info = json.loads(annotations.read_text())
    info["images"][0]["width"] = 100
    annotations.write_text(json.dumps(info))
    with pytest.raises(CompanionError, match="annotations say 100"):
        recognition.CocoImages(images, annotations)[0]


def test_made_coco_is_read_back(tmp_path):
    paths = recognition.write_made_coco(tmp_path, images=2, side=SIDE, seed=3)
    data = recognition.CocoImages(paths["images"], paths["annotations"])
    assert len(data) == 2
    for item in data:
        t = item["target"]
        assert len(t["labels"]) == 3 and set(t["labels"].tolist()) <= {1, 2, 3}
        for box, mask in zip(t["boxes"], t["masks"]):
            ys, xs = np.nonzero(mask.numpy())
            assert xs.min() >= box[0] - 1 and xs.max() <= box[2] + 1
            assert ys.min() >= box[1] - 1 and ys.max() <= box[3] + 1


def test_the_pipeline_scores_clean_distorted_and_restored_images(tmp_path):
    images, annotations = _write_coco(tmp_path)
    data = recognition.CocoImages(images, annotations)
    detector = ColourDetector()
    result = recognition.score_conditions(data, {"Nothing": [nn.Identity()]},
                                          {"detection": detector, "segmentation": detector}, level="moderate",
                                          seed=0, progress=False)
    rows = result["rows"]
    assert list(rows) == ["Clean", "Distorted", "Nothing"] and result["images"] == 2 and result["skipped"] == []
    assert rows["Clean"]["Detection mAP"] == [pytest.approx(100.0)]
    assert rows["Clean"]["Segmentation mAP"][0] > 90.0  # a polygon's rasterised border may differ by a pixel
    assert rows["Distorted"]["Detection mAP"][0] < rows["Clean"]["Detection mAP"][0]
    assert rows["Nothing"] == rows["Distorted"]  # restoring with the identity changes nothing
    again = recognition.score_conditions(data, {}, {"detection": detector, "segmentation": detector},
                                         level="moderate", seed=0, progress=False)
    assert again["rows"]["Distorted"] == rows["Distorted"]  # the distortion is seeded by (seed, image id, level)
    share = recognition.recovered_share(result, "Nothing")
    assert share == pytest.approx(0.0)


def test_the_pipeline_runs_small_random_faster_and_mask_rcnns_and_skips_small_images(tmp_path):
    images, annotations = _write_coco(tmp_path, sides=(SIDE, 150))  # 150 px: below SHDD moderate's 170
    data = recognition.CocoImages(images, annotations)
    detectors = recognition.tiny_detectors(3, seed=0, size=SIDE)
    torch.manual_seed(0)
    restorers = {"A": [nn.Identity(), nn.Conv2d(3, 3, 3, padding=1)]}
    result = recognition.score_conditions(data, restorers, detectors, level="moderate", seed=1, progress=False)
    assert result["images"] == 1 and result["skipped"] == [2]
    assert len(result["rows"]["A"]["Detection mAP"]) == 2 and len(result["mask_rcnn_box"]["A"]) == 2
    for row in result["rows"].values():
        for values in row.values():
            assert all(np.isnan(v) or 0.0 <= v <= 100.0 for v in values)
    prediction = recognition.detect(detectors["segmentation"], torch.rand(3, SIDE, SIDE))
    assert prediction["masks"].dtype == torch.bool and prediction["masks"].shape[1:] == (SIDE, SIDE)
    with pytest.raises(CompanionError, match="segmentation"):
        recognition.score_conditions(data, {}, {"detection": detectors["detection"]}, level="moderate", seed=0)
    with pytest.raises(CompanionError, match="at least 213 px"):
        recognition.score_conditions(recognition.CocoImages(images, annotations, limit=1), {}, detectors,
                                     level="difficult", seed=0, progress=False)


def test_availability_names_every_missing_file_and_the_weights_load_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "data"))
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        (tmp_path / "data").mkdir()
        status = recognition.availability()
        assert len(status["missing"]) == 4
        text = recognition.missing_text(status)
        for path in (tmp_path / "data" / "coco" / "val2017", tmp_path / "hub" / "checkpoints"):
            assert str(path) in text
        assert "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth" in text and "maskrcnn_resnet50_fpn_coco" in text
        _write_coco(tmp_path / "data" / "coco", suffix=".jpg")  # COCO's file type
        weights = recognition.detector_weight_paths()
        weights["detection"].parent.mkdir(parents=True)
        torch.manual_seed(0)
        model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
        torch.save(model.state_dict(), weights["detection"])
        weights["segmentation"].write_bytes(b"not a checkpoint")
        assert recognition.availability()["missing"] == []
        loaded = recognition.coco_detectors(tasks=("detection",))["detection"]
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
            assert torch.equal(a, b)
        with pytest.raises(CompanionError, match="does not load into torchvision's maskrcnn_resnet50_fpn"):
            recognition.coco_detectors(tasks=("segmentation",))
        weights["segmentation"].unlink()
        with pytest.raises(CompanionError, match="never downloads"):
            recognition.coco_detectors()
    finally:
        torch.hub.set_dir(hub)


def _paper_rows():
    return {row["label"]: row["values"] for entry in load_paper() if entry["id"] == "Table 7.2"
            for row in entry["rows"]}


def test_without_coco_table_7_2_is_full_only_and_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "nowhere"))
    full = RECOGNITION["full"]

    @dataclasses.dataclass
    class Run(RecordingRun):
        work_dir: object = tmp_path
        seed: int = 0
        device: str = "cpu"

        def __post_init__(self):
            RecordingRun.__init__(self)

    for cfg in (full, RECOGNITION["quick"]):
        run = Run()
        outcome = recognition.table_7_2(run, cfg)
        assert outcome["result"] is None and outcome["missing"] and "nowhere" in outcome["why"]
        cells = {(w["row"], w["column"]) for _, _, w in run.records if w.get("entry") == "Table 7.2"}
        assert cells == {(row, column) for row in _paper_rows() for column in recognition.COLUMNS}
        assert all(w["status"] == "full-only" and v is None for _, v, w in run.records)
        assert all("40.2" in w["note"] for _, _, w in run.records)  # the point the full run tests
        text = conclusions.table_7_2(outcome, _paper_rows())
        assert text[0].startswith("**Table 7.2 is measured by the full profile only.**") and "nowhere" in text[0]
    with pytest.raises(CompanionError, match="choose one of coco, made, check"):
        recognition.table_7_2(Run(), dataclasses.replace(full, coco="imagenet"))


def test_measured_table_7_2_conclusions_and_recovered_share():
    paper = _paper_rows()
    assert recognition.paper_share(paper) == pytest.approx((29.5 - 26.4) / (40.2 - 26.4))
    result = {"rows": {"Clean": {"Detection mAP": [40.0], "Segmentation mAP": [36.0]},
                       "Distorted": {"Detection mAP": [20.0], "Segmentation mAP": [18.0]},
                       "DnCNN": {"Detection mAP": [19.0, 19.5], "Segmentation mAP": [17.0, 17.0]},
                       "MEPSNet": {"Detection mAP": [25.0, 27.0], "Segmentation mAP": [22.0, 23.0]}},
              "images": 10, "skipped": [], "level": "moderate", "seed": 0}
    assert recognition.recovered_share(result, "MEPSNet") == pytest.approx(0.3)
    text = conclusions.table_7_2({"mode": "coco", "result": result, "why": ""}, paper)
    assert "MEPSNet 26.0 / 22.5" in text[0] and "costs** 20.0 points" in text[1]
    assert "for MEPSNet; not for DnCNN" in text[1] and "MEPSNet 30%" in text[1] and "22%" in text[1]
