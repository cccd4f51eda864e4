"""Torch datasets over generated SHDD and Flickr-Distortion folders."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from companion.ch6.flickr_distortion import FLICKR_TYPES
from companion.ch6.flickr_distortion import build_flickr_distortion
from companion.ch7.shdd import build_shdd
from companion.ch6.datasets import FlickrClassification, FlickrDetection
from companion.ch7.datasets import SHDDEval, SHDDTrain
from companion.data.tensors import augment
from companion.errors import CompanionError
from tests.conftest import texture


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("datasets")
    src = tmp / "src"
    src.mkdir()
    for i in range(4):  # SHDD split 2/1/1; Flickr classification 2/1/1, detection 3/1
        Image.fromarray(texture(300, 310 + 10 * i, i)).save(src / f"im{i}.png")
    build_shdd(src, tmp / "out", levels=("moderate",), versions=2, progress=False)
    build_flickr_distortion(src, tmp / "out", sets=("basic",), per_reference=2, progress=False)
    small = tmp / "small"
    small.mkdir()
    for i in range(3):
        Image.fromarray(texture(40, 48, i)).save(small / f"ref{i}.png")
    build_flickr_distortion(small, tmp / "cls", sets=("classification",), progress=False)
    return tmp


def chw_to_hwc(t):
    return t.numpy().transpose(1, 2, 0)


def as_float(path):
    return np.asarray(Image.open(path), np.float32) / 255


def test_shdd_train_crops_are_aligned(built):
    ds = SHDDTrain(built / "out", level="moderate", patch_size=48, augment=False, seed=0)
    assert len(ds) == 2 * 2  # 2 train images × 2 versions
    shdd = built / "out" / "shdd"
    positions = set()
    for i in range(len(ds)):
        item = ds[i]
        assert item["distorted"].shape == item["clean"].shape == (3, 48, 48)
        assert item["distorted"].dtype == torch.float32 and item["label"].dtype == torch.int64
        assert item["label"].shape == (48, 48)
        t, l, name = item["top"], item["left"], item["name"]
        positions.add((t, l))
        stem = name.rsplit("_", 1)[0]
        sl = (slice(t, t + 48), slice(l, l + 48))
        distorted = as_float(shdd / "moderate/train/distorted" / f"{name}.png")
        assert np.array_equal(chw_to_hwc(item["distorted"]), distorted[sl])
        assert np.array_equal(chw_to_hwc(item["clean"]), as_float(shdd / "train/clean" / f"{stem}.png")[sl])
        labels = np.asarray(Image.open(shdd / "moderate/train/labels" / f"{name}.png"))
        assert np.array_equal(item["label"].numpy(), labels[sl])
        record = json.loads((shdd / "moderate/train/records" / f"{name}.json").read_text())
        r = next(r for r in record["regions"] if r["ymin"] <= t < r["ymax"] and r["xmin"] <= l < r["xmax"])
        assert item["label"][0, 0] == r["label"]
    assert len(positions) > 1  # crops are random
    again = SHDDTrain(built / "out", level="moderate", patch_size=48, augment=False, seed=0)
    assert torch.equal(again[1]["distorted"], ds[1]["distorted"])  # seeded
    again.set_epoch(1)
    assert (again[1]["top"], again[1]["left"]) != (ds[1]["top"], ds[1]["left"])


def test_shdd_train_augmentation_is_shared_by_the_three_arrays(built):
    plain = SHDDTrain(built / "out", patch_size=40, augment=False, seed=7)
    aug = SHDDTrain(built / "out", patch_size=40, augment=True, seed=7)
    combos = [(h, v, r) for h in (False, True) for v in (False, True) for r in range(4)]
    used = set()
    for epoch in range(4):
        plain.set_epoch(epoch)
        aug.set_epoch(epoch)
        for i in range(len(plain)):
            a, b = plain[i], aug[i]
            assert (a["top"], a["left"]) == (b["top"], b["left"])  # same crop, then the flips
            arrays = [(chw_to_hwc(a["distorted"]), chw_to_hwc(b["distorted"])),
                      (chw_to_hwc(a["clean"]), chw_to_hwc(b["clean"])), (a["label"].numpy(), b["label"].numpy())]
            fits = [c for c in combos if all(np.array_equal(augment(x, *c), y) for x, y in arrays)]
            assert fits, "no single flip/rotation maps the plain patch to the augmented one for all three"
            used.add(augment(np.arange(4).reshape(2, 2), *fits[0]).tobytes())
    assert len(used) >= 4  # flips and rotations really happen


def test_shdd_train_channel_permutation_is_one_order_for_the_pair(built):
    aug = SHDDTrain(built / "out", patch_size=40, augment=True, seed=7)
    perm = SHDDTrain(built / "out", patch_size=40, augment=True, seed=7, permute_channels=True)
    orders = set()
    for epoch in range(3):
        aug.set_epoch(epoch)
        perm.set_epoch(epoch)
        for i in range(len(aug)):
            a, b = aug[i], perm[i]
            assert (a["top"], a["left"]) == (b["top"], b["left"]) and torch.equal(a["label"], b["label"])
            fits = [o for o in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
                    if torch.equal(a["distorted"][list(o)], b["distorted"])
                    and torch.equal(a["clean"][list(o)], b["clean"])]
            assert fits, "no single channel order maps the plain pair to the permuted one"
            orders.add(fits[0])
    assert len(orders) >= 3  # the order really changes


def test_shdd_eval_gives_full_images_and_records(built):
    ds = SHDDEval(built / "out" / "shdd", level="moderate", split="test")
    assert len(ds) == 2
    item = ds[0]
    h, w = item["record"]["height"], item["record"]["width"]
    assert item["distorted"].shape == item["clean"].shape == (3, h, w) and item["label"].shape == (h, w)
    for r in item["record"]["regions"]:
        assert (item["label"][r["ymin"]:r["ymax"], r["xmin"]:r["xmax"]] == r["label"]).all()


def test_flickr_classification(built):
    total = 0
    for split in ("train", "val", "test"):
        ds = FlickrClassification(built / "cls", split)
        total += len(ds)
        image, label = ds[len(ds) - 1]
        assert image.shape == (3, 40, 48) and image.dtype == torch.float32
        assert FLICKR_TYPES[label] == ds.rows[len(ds) - 1]["type"]
    assert total == 3 * 24


def test_flickr_detection(built):
    ds = FlickrDetection(built / "out", set="basic", split="train")
    assert len(ds) == 3 * 2
    for i in range(len(ds)):
        image, target = ds[i]
        assert image.shape == (3, 300, 300)
        boxes, labels = target["boxes"], target["labels"]
        assert boxes.dtype == torch.float32 and labels.dtype == torch.int64 and boxes.shape == (len(labels), 4)
        assert 1 <= len(labels) <= 4 and ((labels >= 1) & (labels <= 8)).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        for (x0, y0, x1, y1), lab in zip(boxes.int().tolist(), labels.tolist()):
            assert (target["label_map"][y0:y1, x0:x1] == lab).all()
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        assert int((target["label_map"] > 0).sum()) == int(areas.sum())  # nothing labelled outside the boxes


def test_missing_root_names_the_folder_and_the_command(tmp_path):
    with pytest.raises(CompanionError) as info:
        SHDDTrain(tmp_path)
    assert str(tmp_path / "shdd") in str(info.value) and "python -m companion data shdd" in str(info.value)
    with pytest.raises(CompanionError, match="python -m companion data flickr-distortion"):
        FlickrClassification(tmp_path, "train")
    with pytest.raises(CompanionError, match="python -m companion data flickr-distortion --level difficult"):
        FlickrDetection(tmp_path, set="difficult", split="test")
    with pytest.raises(CompanionError, match="unknown SHDD level"):
        SHDDEval(tmp_path, level="hard")


def test_shdd_train_cache_gives_the_same_items_and_reads_each_file_once(built, monkeypatch):
    plain = SHDDTrain(built / "out", patch_size=40, seed=3)
    cached = SHDDTrain(built / "out", patch_size=40, seed=3, cache=True)
    import companion.ch7.datasets as td
    reads = []
    original = td.load_image
    monkeypatch.setattr(td, "load_image", lambda p: reads.append(p) or original(p))
    for epoch in range(3):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(len(cached)):
            a, b = plain[i], cached[i]
            assert torch.equal(a["distorted"], b["distorted"]) and torch.equal(a["clean"], b["clean"])
            assert torch.equal(a["label"], b["label"])
    plain_reads = 3 * len(plain) * 2
    distinct = len({p for p in reads})
    assert len(reads) == plain_reads + distinct  # the cached dataset read each file once
