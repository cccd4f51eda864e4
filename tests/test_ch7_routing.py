"""The routing experiment of 07e (companion.ch7.routing): label-map coverage, whole-image single distortions, the
SHDD-type classifier, routing by image and by region, the zoo entries, and the experiment end to end on a tiny
SHDD copy."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from companion import zoo
from companion.ch7 import conclusions, routing
from companion.ch7 import zoo as ch7_zoo
from companion.ch7.config import RECOGNITION
from companion.ch7.shdd import SHDD_RANGES, SHDD_TYPES
from companion.ch7.training import shdd_root
from companion.data.images import load_label_map
from companion.errors import CompanionError
from companion.summary import VERDICTS
from conftest import RecordingRun

pytestmark = pytest.mark.usefixtures("one_thread")

SMOKE = RECOGNITION["smoke"]


@dataclasses.dataclass
class Run:
    work_dir: Path
    seed: int = 0
    device: object = "cpu"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """The smoke profile's SHDD copy (three photographs cropped to 224 px, one version), built once."""
    return shdd_root(Run(tmp_path_factory.mktemp("shdd")), SMOKE.routing_shdd, progress=False)


def _labels(*blocks):
    """A label map of vertical stripes: ``blocks`` = ((type, width), ...), 8 rows."""
    return np.concatenate([np.full((8, w), SHDD_TYPES.index(t), np.uint8) for t, w in blocks], axis=1)


def test_top1_share_counts_only_distorted_pixels():
    mostly_noise = _labels(("gaussian_noise", 20), ("gaussian_blur", 10), ("identity", 30))
    assert routing.top1_share(mostly_noise) == pytest.approx(2 / 3)
    assert routing.top1_label(mostly_noise) == "gaussian_noise"
    mixed = _labels(("f_noise", 10), ("gaussian_blur", 10), ("contrast_change", 10), ("identity", 50))
    assert routing.top1_share(mixed) == pytest.approx(1 / 3)
    assert routing.top1_label(mixed) == "gaussian_blur"  # a tie goes to the first type of SHDD_TYPES
    clean = _labels(("identity", 12))
    assert routing.top1_share(clean) is None and routing.top1_label(clean) == "identity"


def test_top1_coverage_of_an_shdd_copy(tiny_root, tmp_path):
    coverage = routing.top1_coverage(tiny_root, "moderate")
    for split in ("train", "val", "test"):
        files = sorted((tiny_root / "shdd" / "moderate" / split / "labels").glob("*.png"))
        shares = [routing.top1_share(load_label_map(f)) for f in files]
        assert coverage[split]["shares"] == [s for s in shares if s is not None]
        assert coverage[split]["images"] == len(files)
    pooled = coverage["all"]["shares"]
    assert coverage["all"]["below_half"] == pytest.approx(np.mean(np.asarray(pooled) < 0.5))
    with pytest.raises(CompanionError, match="no label maps"):
        routing.top1_coverage(tmp_path, "moderate")


def test_whole_image_distortions_are_seeded_8_bit_and_in_range(tiny_root):
    photos = routing.photographs(tiny_root, "train")
    kinds = ("identity", "contrast_change", "gaussian_noise")
    a = routing.WholeImageDistortions(photos, kinds, 2, data_seed=0, patch_size=32, crop_seed=5)
    b = routing.WholeImageDistortions(photos, kinds, 2, data_seed=0, patch_size=32, crop_seed=5)
    assert len(a) == len(photos) * len(kinds) * 2
    for x, y in zip(a.items, b.items):
        assert x["strength"] == y["strength"] and np.array_equal(x["distorted"], y["distorted"])
    for item in a.items:
        clean = a.clean[item["photo"]]
        if item["kind"] == "identity":
            assert np.array_equal(item["distorted"], clean)
            continue
        lo, hi = SHDD_RANGES[item["kind"]]
        assert lo <= item["strength"] <= hi and not np.array_equal(item["distorted"], clean)
        if item["kind"] == "contrast_change":  # SHDD's contrast change of the whole photograph, then 8 bits
            expected = 0.5 + (clean / 255.0 - 0.5) * (1 - item["strength"] / 100)
            assert np.abs(item["distorted"] / 255.0 - expected).max() <= 0.5 / 255 + 1e-6
    other = routing.WholeImageDistortions(photos, kinds, 2, data_seed=1, patch_size=32)
    assert other.items[2]["strength"] != a.items[2]["strength"]  # contrast change, version 0
    a.set_epoch(3)
    b.set_epoch(3)
    item = a[4]
    assert torch.equal(item["distorted"], b[4]["distorted"]) and item["distorted"].shape == (3, 32, 32)
    assert int(item["label"]) == SHDD_TYPES.index(a.items[4]["kind"])
    whole = routing.WholeImageDistortions(photos[:1], ("gaussian_blur",), 1, data_seed=0)
    assert whole[0]["distorted"].shape[1:] == whole.clean[0].shape[:2]
    with pytest.raises(CompanionError, match="SHDD types"):
        routing.WholeImageDistortions(photos, ("jpeg",), 1, data_seed=0)


def test_classifier_takes_any_size_and_labels_the_whole_image():
    torch.manual_seed(0)
    net = routing.SHDDTypeClassifier(width=4)
    assert net(torch.rand(2, 3, 40, 56)).shape == (2, len(SHDD_TYPES))
    assert routing.classify(net, torch.rand(3, 33, 47)) in SHDD_TYPES
    with pytest.raises(CompanionError):
        net(torch.rand(1, 1, 8, 8))


class AddConstant(nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, x):
        return x + self.value


def test_routing_by_image_and_by_region():
    restorers = {kind: AddConstant(0.1 * (i + 1)) for i, kind in enumerate(routing.ROUTED_TYPES)}
    image = torch.full((3, 20, 30), 0.2)
    assert torch.equal(routing.route_image(restorers, "identity", image), image)
    assert torch.allclose(routing.route_image(restorers, "f_noise", image), image + 0.3)
    regions = [{"ymin": 0, "xmin": 0, "ymax": 20, "xmax": 10, "type": "gaussian_noise"},
               {"ymin": 0, "xmin": 10, "ymax": 20, "xmax": 20, "type": "identity"},
               {"ymin": 0, "xmin": 20, "ymax": 20, "xmax": 30, "type": "contrast_change"}]
    out = routing.route_regions(restorers, image, regions)
    assert torch.allclose(out[:, :, :10], image[:, :, :10] + 0.1) and torch.equal(out[:, :, 10:20], image[:, :, 10:20])
    assert torch.allclose(out[:, :, 20:], image[:, :, 20:] + 0.4)


def test_routing_entries_join_the_chapter_7_zoo_without_changing_the_others():
    quick = RECOGNITION["quick"]
    entries = routing.zoo_entries(quick)
    names = [e.name for e in entries]
    assert len(names) == len(set(names)) == (len(routing.ROUTED_TYPES) + 1) * quick.seeds == 15
    assert "ch7/07e/vdsr-gaussian-blur-seed2" in names and "ch7/07e/classifier-seed0" in names
    assert len({e.digest for e in entries}) == len(entries)
    held = [e.name for e in ch7_zoo.entries()]
    assert set(names) <= set(held)
    assert len([n for n in held if not n.startswith("ch7/07e/")]) == 15 + 12 * 3  # 07b, 07c: unchanged
    spec = routing.RestorerSpec("f_noise", quick)
    key = spec.key(0)
    assert key["data"]["type"] == "f_noise" and key["data"]["images"]["china"] == "test"
    assert key != spec.key(1) and key != routing.RestorerSpec("f_noise", quick, data_seed=1).key(0)
    longer = dataclasses.replace(quick, restorer_train=dataclasses.replace(quick.restorer_train, steps=10))
    assert routing.RestorerSpec("f_noise", longer).key(0) != key
    quiet = dataclasses.replace(quick, restorer_train=dataclasses.replace(quick.restorer_train, checkpoint_every=7))
    assert routing.RestorerSpec("f_noise", quiet).key(0) == key  # how often it saves does not shape the weights


def test_the_committed_routing_models_beat_chance_on_validation():
    """The zoo's routing models, measured when they were built: each noise restorer gains over its distorted
    validation images, and each classifier labels whole validation images above chance (1 in 5)."""
    for entry in routing.zoo_entries(RECOGNITION["quick"]):
        assert zoo.status(entry) == "current", f"rebuild with `python -m companion zoo build {entry.name}`"
        meta = zoo.read_sidecar(entry)
        if "classifier" in entry.name:
            assert meta["val_accuracy"] > 1 / len(SHDD_TYPES), entry.name
        elif "gaussian-noise" in entry.name:
            assert meta["val_psnr"] > meta["val_input_psnr"] + 1.0, entry.name


def test_the_experiment_end_to_end_on_a_tiny_copy(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))  # nothing in the zoo: every model trains here
    run = Run(tmp_path / "work")
    models = routing.seed_models(run, SMOKE, tiny_root, progress=False)
    assert sorted(models) == [0, 1]
    for m in models.values():
        assert set(m["restorers"]) == set(routing.ROUTED_TYPES) and isinstance(m["classifier"], nn.Module)
        assert m["meta"]["classifier"]["steps"] == SMOKE.classifier_train.steps
        assert "val_psnr" in m["meta"]["f_noise"] and "val_accuracy" in m["meta"]["classifier"]
    again, meta = routing.train_model(run, routing.RestorerSpec("f_noise", SMOKE), 0, tiny_root, progress=False)
    for a, b in zip(models[0]["restorers"]["f_noise"].state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)  # a rerun resumes the finished checkpoint: the same weights

    result = routing.compare(run, SMOKE, tiny_root, models, progress=False)
    n = len(result["names"])
    assert n >= 1 and all(len(result["psnr"][s]) == 2 and len(result["psnr"][s][0]) == n for s in routing.STRATEGIES)
    top1_scores = np.asarray(result["psnr"][routing.IMAGE_TOP1])
    same = np.asarray(result["predicted"]) == np.asarray(result["top1"])[None]
    classifier_scores = np.asarray(result["psnr"][routing.IMAGE_CLASSIFIER])
    assert np.array_equal(top1_scores[same], classifier_scores[same])  # same label, same restorer, same image
    summary = routing.summarise(result)
    assert summary[routing.INPUT]["psnr"][0] == pytest.approx(np.mean(result["input_psnr"]))
    assert summary[routing.MEPSNET]["per_seed"] == pytest.approx(np.mean(result["psnr"][routing.MEPSNET], axis=1))
    claims = routing.routing_claims(result)
    assert len(claims) == len(routing.CLAIMS) and all(c["verdict"] in VERDICTS for c in claims)
    assert "|" in routing.table_markdown(summary)
    recorder = RecordingRun()
    coverage = routing.top1_coverage(tiny_root, "moderate")
    routing.record(recorder, SMOKE, coverage, result, summary, claims, models)
    keys = {k for k, _, _ in recorder.records}
    assert "routing/top1_below_half/all" in keys and f"routing/psnr/{routing.REGION_ORACLE}" in keys
    assert all("entry" not in where for _, _, where in recorder.records)  # in no paper
    paragraphs = conclusions.routing(coverage, summary, claims, routing.agreement(result), level="moderate",
                                     restorer_steps=2, mepsnet_steps=2)
    assert len(paragraphs) == 4 and f"{summary[routing.MEPSNET]['psnr'][0]:.2f}" in paragraphs[1]


def test_routing_conclusions_follow_the_numbers():
    coverage = {"train": {"shares": [0.4, 0.9], "below_half": 0.5, "images": 2, "undistorted": 0},
                "all": {"shares": [0.4, 0.9, 0.3, 0.45], "below_half": 0.75, "images": 5, "undistorted": 1}}
    summary = {s: {"psnr": (30.0 + i, 0.1), "per_seed": [30.0 + i], "by_type": {}}
               for i, s in enumerate(routing.STRATEGIES)}
    summary[routing.INPUT] = {"psnr": (25.0, 0.0), "per_seed": [25.0], "by_type": {}}
    claims = [{"entry": routing.ENTRY, "claim": "a beats b", "verdict": "agrees", "detail": "d"}]
    text = conclusions.routing(coverage, summary, claims, {"top1": [0.5, 1.0], "identity": [0.0, 0.0]},
                               level="moderate", restorer_steps=3000, mepsnet_steps=9000)
    assert "in 3 of 4 images (75%)" in text[0] and "1 images with no distorted pixel" in text[0]
    assert text[1].startswith("**PSNR on the test images**, best first")
    assert "MEPSNet (per-pixel fusion) 33.00" in text[1]
    assert "(the distorted input: 25.00 dB)" in text[1] and "75%" in text[1]
    assert "1 agrees of 1" in text[2] and "3,000 steps" in text[3] and "9,000" in text[3]


def test_a_routing_entry_builds_into_the_zoo_and_loads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    entry = routing.ClassifierSpec(SMOKE).zoo_entry(0)
    assert zoo.status(entry) == "missing"
    routing.build_entries([entry], SMOKE, workers=1, progress=False, commit="test")
    assert zoo.status(entry) == "current"
    meta = json.loads(entry.sidecar_path.read_text())
    assert meta["steps"] == SMOKE.classifier_train.steps and meta["val_psnr"] is None
    assert 0.0 <= meta["val_accuracy"] <= 1.0 and "accuracy" in meta["val_images"][0]
    run = Run(tmp_path / "elsewhere")
    root = shdd_root(Run(tmp_path / "work"), SMOKE.routing_shdd, build=False)
    loaded, info = routing.train_model(run, routing.ClassifierSpec(SMOKE), 0, root, progress=False)
    assert info["source"] == f"zoo:{entry.name}" and not (tmp_path / "elsewhere" / "checkpoints").exists()
    fresh, _ = routing.train_model(run, routing.ClassifierSpec(SMOKE), 0, root, progress=False, use_zoo=False)
    for a, b in zip(loaded.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)  # the zoo holds exactly what training gives
