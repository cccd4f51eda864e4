"""06c_detection (thesis §6.3, Tables 6.2-6.3, Fig. 6.3): SSD on Flickr-Distortion's detection sets.

The detector is torchvision's SSD300 (the Atrous VGG-16 at width 1 has exactly torchvision's ``ssd300_vgg16``
parameters, and the training path gives torchvision's own SSD loss); the data is split by reference; the mAP
and the per-size AP come from torchmetrics / pycocotools and are checked on detections whose answer is known.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torchvision.models.detection import ssd300_vgg16

from companion import zoo
from companion.ch6 import conclusions, detection
from companion.ch6.config import DETECTION_QUICK, DETECTION_SMOKE, NOTEBOOKS
from companion.ch6.flickr_distortion import clean_images
from companion.engine.loop import train
from companion.errors import CompanionError
from companion.models.common import count_parameters
from companion.models.recognisers import build_recogniser
from companion.models.ssd import MAX_DETECTIONS
from tests.conftest import RecordingRun

pytestmark = pytest.mark.usefixtures("one_thread")
WIDTH = 0.0625


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The smoke profile's sets: three 300 px references (one train, one val, one test), two images each."""
    work = tmp_path_factory.mktemp("detection")
    cfg = DETECTION_SMOKE
    root, source = detection.build_data(cfg, work, 0, progress=False)
    return cfg, root, source, detection.detection_sets(root, source, 0)


# --- the detector -----------------------------------------------------------------------------------------------

def test_atrous_vgg16_ssd_at_paper_width_is_torchvisions_ssd300():
    ours = detection.distortion_ssd("atrous_vgg16", 1.0)
    theirs = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=detection.NUM_CLASSES)
    assert count_parameters(ours) == count_parameters(theirs)
    assert ours.grid_sizes == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    assert ours.anchor_generator.num_anchors_per_location() == theirs.anchor_generator.num_anchors_per_location()


def test_both_backbones_give_ssd300s_maps_and_detect_at_small_width():
    for backbone in detection.BACKBONES:
        torch.manual_seed(0)
        ssd = detection.distortion_ssd(backbone, WIDTH)
        assert ssd.grid_sizes == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
        out = ssd.eval()([torch.rand(3, 300, 300)])[0]
        assert set(out) == {"boxes", "scores", "labels"} and len(out["boxes"]) <= MAX_DETECTIONS
        assert out["labels"].min() >= 1 and out["labels"].max() <= 8
    with pytest.raises(CompanionError, match="unknown SSD backbone"):
        detection.distortion_ssd("vgg19", WIDTH)
    with pytest.raises(CompanionError, match="width"):
        detection.distortion_ssd("resnet101", 2.0)


@pytest.mark.parametrize("backbone", detection.BACKBONES)
def test_backbone_starts_from_the_06b_classifier(backbone):
    """Every backbone weight of the fine-tuned classifier lands in the detector, under its name."""
    torch.manual_seed(1)
    classifier = build_recogniser(backbone, 24, WIDTH)
    ssd = detection.distortion_ssd(backbone, WIDTH)
    state = detection.classifier_backbone_state(backbone, classifier.state_dict())
    detection.load_backbone(ssd.backbone, backbone, state)
    own = ssd.backbone.state_dict()
    assert len(state) > 20 and all(torch.equal(own[k], v) for k, v in state.items())
    if backbone == "atrous_vgg16":  # the classifier's atrous fc6 / fc7 become SSD's fc6 / fc7
        assert torch.equal(own["fc.1.weight"], classifier.state_dict()["net.fc.0.weight"])
        assert torch.equal(own["fc.3.weight"], classifier.state_dict()["net.fc.3.weight"])
    wrong = build_recogniser(backbone, 24, 2 * WIDTH)
    with pytest.raises(CompanionError, match="do not fit"):
        detection.load_backbone(ssd.backbone, backbone,
                                detection.classifier_backbone_state(backbone, wrong.state_dict()))


def test_the_training_path_gives_torchvisions_own_ssd_loss():
    """SSDTrainingView + SSDLoss on padded targets = SSD's training forward on lists (VGG: no batch norm)."""
    torch.manual_seed(2)
    ssd = detection.distortion_ssd("atrous_vgg16", WIDTH)
    images = torch.rand(2, 3, 300, 300)
    targets = [{"boxes": torch.tensor([[10., 20., 120., 200.], [150., 30., 290., 100.]]),
                "labels": torch.tensor([3, 8])},
               {"boxes": torch.tensor([[40., 40., 100., 90.]]), "labels": torch.tensor([1])}]
    padded = torch.full((2, 2, 5), -1.0)
    for row, t in enumerate(targets):
        padded[row, :len(t["labels"]), 0] = t["labels"].float()
        padded[row, :len(t["labels"]), 1:] = t["boxes"]
    assert all(torch.equal(a["boxes"], b["boxes"]) and torch.equal(a["labels"], b["labels"])
               for a, b in zip(detection.unpad_targets(padded), targets))
    ssd.train()
    expected = sum(ssd(list(images), targets).values())
    ours = detection.SSDLoss(ssd)(detection.SSDTrainingView(ssd, {})(images), padded)
    assert torch.allclose(ours, expected, rtol=1e-4, atol=1e-5), (float(ours), float(expected))


# --- the data ----------------------------------------------------------------------------------------------------

def test_splits_are_by_reference_and_validation_is_classifications(data):
    cfg, root, source, sets = data
    split_of = {c.stem: c.split for c in clean_images(source, 0)}
    for set_name in detection.SETS:
        refs = {split: {sets[set_name, split].base.images[i]["reference"] for i in sets[set_name, split].indices}
                for split in ("train", "val", "test")}
        assert all(refs.values()) and not (refs["train"] & refs["val"] or refs["train"] & refs["test"]
                                           or refs["val"] & refs["test"])
        assert all(split_of[r] == split for split, stems in refs.items() for r in stems)
        assert len(sets[set_name, "train"]) == len(sets[set_name, "val"]) == len(sets[set_name, "test"]) == 2
    image, target = sets["basic", "test"][0]
    assert image.shape == (3, 300, 300) and target["boxes"].shape[1] == 4
    assert torch.equal(target["labels"], sets["basic", "test"].target(0)["labels"])


def test_flips_mirror_the_boxes_and_depend_only_on_seed_step_and_index(data):
    _, _, _, sets = data
    image, target = sets["difficult", "train"][0]
    flipped, moved = detection.flip(image, target)
    assert torch.equal(flipped.flip(-1), image)
    assert torch.equal(moved["boxes"][:, [1, 3]], target["boxes"][:, [1, 3]])
    assert torch.equal(300 - moved["boxes"][:, [2, 0]], target["boxes"][:, [0, 2]])
    flips = detection.FlippedImages(sets["difficult", "train"], seed=5)
    seen = []
    for step in range(40):
        flips.set_epoch(step)
        seen.append(torch.equal(flips[0][0], flipped))
    assert 8 < sum(seen) < 32  # about half the steps flip
    again = detection.FlippedImages(sets["difficult", "train"], seed=5)
    for step in range(10):
        again.set_epoch(step)
        assert torch.equal(again[0][0], flipped) == seen[step]
    x, padded = detection.detection_batch(flips, [0, 1], 3)
    assert x.shape == (2, 3, 300, 300) and padded.shape[-1] == 5


# --- the metrics ---------------------------------------------------------------------------------------------------

def _target(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)}


def _prediction(boxes, labels, scores=None):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels),
            "scores": torch.tensor(scores if scores is not None else [0.9] * len(labels))}


def test_map_per_threshold_follows_the_boxes_iou():
    """An exact box scores 1 at every threshold; one at IoU ≈ 0.82 scores 1 at 0.5 and 0.75 and 0 at 0.9."""
    targets = [_target([[0, 0, 100, 100], [150, 150, 250, 250]], [1, 4])]
    exact = detection.mean_average_precision([_prediction([[0, 0, 100, 100], [150, 150, 250, 250]], [1, 4])],
                                             targets)
    assert exact == pytest.approx({0.5: 1.0, 0.75: 1.0, 0.9: 1.0})
    shifted = [_prediction([[10, 0, 110, 100], [160, 150, 260, 250]], [1, 4])]  # IoU 90/110
    assert detection.mean_average_precision(shifted, targets) == pytest.approx({0.5: 1.0, 0.75: 1.0, 0.9: 0.0})
    wrong_class = [_prediction([[0, 0, 100, 100], [150, 150, 250, 250]], [2, 4])]
    assert detection.mean_average_precision(wrong_class, targets)[0.5] == pytest.approx(0.5, abs=1e-3)
    both = [shifted[0], _prediction([[0, 0, 100, 100], [150, 150, 250, 250]], [1, 4])]
    assert detection.per_image_ap(both, targets * 2) == pytest.approx([2 / 3, 1.0])


def test_ap_by_region_size_bins_regions_by_size():
    """Small regions found exactly, large ones only roughly: AP 1 in the small bin, 0 in the large one at 0.9."""
    targets = [_target([[0, 0, 40, 40], [100, 100, 280, 280]], [1, 2]),
               _target([[10, 10, 50, 60], [60, 100, 250, 290]], [3, 1])]
    predictions = [_prediction([[0, 0, 40, 40], [110, 100, 290, 280]], [1, 2]),
                   _prediction([[10, 10, 50, 60], [75, 100, 265, 290]], [3, 1])]
    rows = detection.ap_by_region_size(predictions, targets, (0.1, 0.2, 0.5, 0.7), iou=0.9)
    assert [r["regions"] for r in rows] == [2, 0, 2]
    assert rows[0]["ap"] == pytest.approx(1.0) and rows[0]["recall"] == pytest.approx(1.0)
    assert np.isnan(rows[1]["ap"])
    assert rows[2]["ap"] == pytest.approx(0.0) and rows[2]["recall"] == pytest.approx(0.0)
    loose = detection.ap_by_region_size(predictions, targets, (0.1, 0.2, 0.5, 0.7), iou=0.5)
    assert loose[2]["ap"] == pytest.approx(1.0)
    empty = detection.ap_by_region_size([_prediction(np.zeros((0, 4)), [])] * 2, targets, (0.1, 0.2, 0.5, 0.7))
    assert [r["ap"] for r in empty if r["regions"]] == [0.0, 0.0]


# --- training, the zoo entry, the experiment ---------------------------------------------------------------------

def test_training_lowers_the_loss_on_the_detection_set(data):
    cfg, _, _, sets = data
    torch.manual_seed(0)
    ssd = detection.distortion_ssd("atrous_vgg16", WIDTH)
    view = detection.SSDTrainingView(ssd, {"backbone": "atrous_vgg16"})
    result = train(view, detection.FlippedImages(sets["basic", "train"], 0),
                   replace(cfg.recipe, steps=30, batch_size=2, lr=1e-3, milestones=(), val_every=0,
                           checkpoint_every=0, channels_last=False),
                   loss=detection.SSDLoss(ssd), batch=detection.detection_batch, model_name="ssd", progress=False)
    assert np.mean(result.losses[-5:]) < 0.5 * np.mean(result.losses[:5])


def test_zoo_key_names_everything_that_shapes_the_weights():
    detector = detection.TrainedDetector(DETECTION_QUICK, "atrous_vgg16", "basic", 0)
    entry = detector.zoo_entry(0)
    assert entry.name == "ch6/06c/atrous_vgg16-basic-seed0"
    assert entry.key["start"].startswith("classifier:ch6/06b/atrous_vgg16-fine-tuned-seed0@")
    longer = detection.TrainedDetector(replace(DETECTION_QUICK, recipe=replace(DETECTION_QUICK.recipe, steps=241)),
                                       "atrous_vgg16", "basic", 0)
    assert longer.zoo_entry(0).digest != entry.digest
    assert detection.TrainedDetector(DETECTION_QUICK, "atrous_vgg16", "difficult", 0).zoo_entry(0).digest != \
        entry.digest
    random_start = replace(DETECTION_QUICK, classifier_profile="")
    assert detection.TrainedDetector(random_start, "resnet101", "basic", 0).start(0) == "random"
    with pytest.raises(CompanionError, match="width"):
        detection.TrainedDetector(replace(DETECTION_QUICK, width=0.25), "resnet101", "basic", 0).classifier()


def test_experiment_trains_loads_from_the_zoo_and_records(data, tmp_path, monkeypatch):
    """The whole experiment on the tiny sets with random starts: a trained detector saved to the zoo is found
    and loaded with the same weights; every table cell is recorded; the claims and conclusions render."""
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    cfg, _, _, sets = data
    cfg = replace(cfg, classifier_profile="", seeds=1, examples=1, fps_images=1, paper_fps_images=0,
                  recipe=replace(cfg.recipe, steps=2, val_every=1, channels_last=False))
    results = detection.run_experiment(cfg, sets, data_seed=0, device="cpu", work_dir=tmp_path, checkpoint_dir=None,
                                       progress=False)
    assert {k[:2] for k in results["models"]} == {("atrous_vgg16", "basic"), ("resnet101", "basic"),
                                                  ("atrous_vgg16", "difficult")}
    assert len(results["scores"]) == 5 and results["fps"]["atrous_vgg16"] > 0
    trained = results["models"]["atrous_vgg16", "basic", 0]
    detector = detection.TrainedDetector(cfg, "atrous_vgg16", "basic", 0)
    entry = detector.zoo_entry(0)
    zoo.save_entry(entry, trained.model, {"steps": trained.steps, "seconds": trained.seconds, "val_psnr": 0.0,
                                          "val": trained.val, "loss_curve": trained.loss_curve, "kept": trained.kept})
    assert zoo.find(detector, 0) == entry
    loaded = detection.obtain_detector(detector, 0, sets, "cpu", use_zoo=True, work_dir=tmp_path,
                                       checkpoint_dir=None, progress=False)
    assert loaded.source == f"zoo:{entry.name}" and loaded.start == "random"
    assert all(torch.equal(a, b) for a, b in zip(loaded.model.state_dict().values(),
                                                 trained.model.state_dict().values()))
    summary = detection.summarise(results, cfg)
    run = RecordingRun()
    text = detection.record_results(run, summary, cfg, sets)
    cells = {(w["entry"], w.get("row"), w.get("column")) for _, _, w in run.records}
    for row in ("Atrous VGG-16", "ResNet-101"):
        assert {("Table 6.2", row, c) for c in ("mAP@0.5", "mAP@0.75", "mAP@0.9", "FPS")} <= cells
    for row in ("basic->basic", "difficult->basic", "basic->difficult", "difficult->difficult"):
        assert {("Table 6.3", row, c) for c in ("mAP@0.5", "mAP@0.75", "mAP@0.9")} <= cells
    assert "Table 6.3" in text and "0.919" in text  # the paper's basic->basic cell beside ours
    assert "test difficult" in detection.record_region_sizes(run, summary)
    assert any(w["entry"] == "Figure 6.3" for _, _, w in run.records)
    checked = detection.claims(results, cfg)
    assert [c["entry"] for c in checked] == ["Table 6.2", "Table 6.3", "Table 6.3"]
    assert all(c["verdict"] == "unclear" for c in checked)  # two test images: too few pairs for a verdict
    examples = detection.examples(results, sets, cfg, 0)
    assert [e["set"] for e in examples] == ["basic", "difficult"] and examples[0]["image"].shape == (300, 300, 3)
    assert detection.example_indices(40, 4) == [0, 13, 26, 39] and detection.example_indices(2, 4) == [0, 1]
    paragraphs = conclusions.detection_results(summary, checked, detection.paper_table("Table 6.2"),
                                               detection.paper_table("Table 6.3"))
    assert len(paragraphs) == 4 and "Table 6.2" in paragraphs[0] and "0.873" in paragraphs[0]


# --- the conclusions read the measurements -------------------------------------------------------------------------

def _summary(vgg_fps, resnet_fps, sizes):
    t = (0.5, 0.75, 0.9)
    rows = {(b, tr, te): {x: (0.5, 0.0) for x in t} for b, tr, te in
            [("atrous_vgg16", "basic", "basic"), ("resnet101", "basic", "basic"),
             *[("atrous_vgg16", a, b) for a in detection.SETS for b in detection.SETS]]}
    return {"rows": rows, "sizes": sizes, "fps": {"atrous_vgg16": vgg_fps, "resnet101": resnet_fps},
            "paper_fps": {}, "thresholds": list(t), "transfer_backbone": "atrous_vgg16", "size_ious": [0.9],
            "labels": dict(detection.LABELS), "device": "cpu", "threads": 1, "width": 0.125,
            "start_texts": ["random initialisation"], "steps": [240], "seeds": 1}


def _bins(aps):
    edges = [(0.1, 0.2), (0.2, 0.3), (0.3, 0.5), (0.5, 0.7)]
    return {0.9: [{"low": lo, "high": hi, "regions": 5, "ap": ap, "recall": ap} for (lo, hi), ap in zip(edges, aps)]}


def test_conclusions_follow_the_speeds_and_the_size_bins():
    paper_2, paper_3 = detection.paper_table("Table 6.2"), detection.paper_table("Table 6.3")
    crossing = {("basic", te): _bins([0.1, 0.2, 0.8, 0.9]) for te in detection.SETS}
    crossing |= {("difficult", te): _bins([0.5, 0.6, 0.4, 0.3]) for te in detection.SETS}
    text = conclusions.detection_backbones(_summary(30.0, 10.0, crossing), [], paper_2)
    assert "at this width Atrous VGG-16 is the faster, as in the thesis" in text and "paper size" not in text
    summary = _summary(10.0, 30.0, crossing)
    summary["paper_fps"] = {"atrous_vgg16": 3.0, "resnet101": 1.0}
    text = conclusions.detection_backbones(summary, [], paper_2)
    assert "at this width ResNet-101 is the faster, unlike the thesis" in text
    assert "at paper size Atrous VGG-16 is the faster, as in the thesis" in text
    close = conclusions.detection_backbones(_summary(36.3, 36.1, crossing), [], paper_2)
    assert "at this width the two run at about the same speed" in close and "is the faster" not in close
    assert "the thesis' reading" in conclusions.detection_region_size(_summary(1, 1, crossing))
    flipped = {("basic", te): _bins([0.9, 0.8, 0.1, 0.1]) for te in detection.SETS}
    flipped |= {("difficult", te): _bins([0.1, 0.1, 0.5, 0.6]) for te in detection.SETS}
    assert "do not split" in conclusions.detection_region_size(_summary(1, 1, flipped))
    one_sided = {("basic", te): _bins([0.9] * 4) for te in detection.SETS}
    one_sided |= {("difficult", te): _bins([0.1] * 4) for te in detection.SETS}
    assert "is not seen" in conclusions.detection_region_size(_summary(1, 1, one_sided))
    transfer = conclusions.detection_transfer(_summary(1, 1, crossing), [], paper_3)
    assert "0.717" in transfer and "0.109" in transfer and "basic → difficult" in transfer


def test_profiles_share_the_06b_classifiers_width():
    for profile, cfg in NOTEBOOKS["06c_detection"].items():
        if cfg.classifier_profile:
            assert NOTEBOOKS["06b_classification"][cfg.classifier_profile].width == cfg.width, profile


def test_starting_weights_come_from_the_06b_zoo_entry(tmp_path, monkeypatch):
    """A current 06b classifier in the zoo is the detector's start, loaded without building 06b's data."""
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    detector = detection.TrainedDetector(DETECTION_SMOKE, "atrous_vgg16", "basic", 0)
    trained = detector.classifier()
    classifier = trained.build(0)
    with torch.no_grad():
        for p in classifier.parameters():
            p.add_(0.5)  # not what a fresh build gives
    zoo.save_entry(trained.zoo_entry(0), classifier, {"steps": 1, "seconds": 0.1, "val": [], "loss_curve": []})
    state = detection.starting_weights(detector, 0, "cpu", work_dir=tmp_path / "work", progress=False)
    expected = detection.classifier_backbone_state("atrous_vgg16", classifier.state_dict())
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in state)
    assert not (tmp_path / "work").exists()  # nothing was generated or trained


def test_zoo_build_writes_current_entries_the_notebook_finds(tmp_path, monkeypatch):
    from companion.ch6 import zoo as ch6_zoo

    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    tiny = replace(DETECTION_SMOKE, classifier_profile="", backbones=("atrous_vgg16",),
                   recipe=replace(DETECTION_SMOKE.recipe, channels_last=False))
    monkeypatch.setattr(ch6_zoo, "config_for", lambda notebook, profile: tiny)
    entries = ch6_zoo.detection_entries()
    assert [e.name for e in entries] == ["ch6/06c/atrous_vgg16-basic-seed0", "ch6/06c/atrous_vgg16-difficult-seed0"]
    ch6_zoo.build_detection(entries[:1], workers=1, progress=False)
    meta = zoo.read_sidecar(entries[0])
    assert zoo.status(entries[0]) == "current" and zoo.status(entries[1]) == "missing"
    assert meta["steps"] == 2 and meta["start"] == "random" and set(meta["val_map"]) == {"0.5", "0.75", "0.9"}
    detector = detection.TrainedDetector(tiny, "atrous_vgg16", "basic", 0)
    assert zoo.find(detector, 0) == entries[0]
