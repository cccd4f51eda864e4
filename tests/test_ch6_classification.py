"""06b_classification (thesis §6.3, Table 6.1, Fig. 6.2): classes, crops, training and selection, scores,
confusions, verdicts, the zoo entries and the conclusions, on the smoke profile's generated data."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from companion import zoo as shared_zoo
from companion.ch6 import classification, conclusions
from companion.ch6 import zoo as ch6_zoo
from companion.ch6.classification import (Crops, TrainedClassifier, class_count, class_id, class_names,
                                          confused_pairs, scores, selection_score, thesis_pairs, type_of)
from companion.ch6.flickr_distortion import FLICKR_TYPES
from companion.errors import CompanionError
from companion.profiles import config_for
from tests.conftest import RecordingRun

SMOKE = config_for("06b_classification", "smoke")


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    root = classification.build_data(SMOKE, work, seed=0, progress=False)
    return work, root, classification.load_splits(root, SMOKE, progress=False)


# ---------------------------------------------------------------- classes

def test_24_classes_are_type_times_level():
    assert class_count("type_level") == 24 and class_count("type") == 8
    row = {"class_id": FLICKR_TYPES.index("quantization"), "level": 3}
    assert class_id(row, "type_level") == 3 * 3 + 2 and class_id(row, "type") == 3
    assert list(type_of([0, 2, 3, 23], "type_level")) == [0, 0, 1, 7]
    names = class_names("type_level")
    assert names[0] == "GWN 1" and names[11] == "quantization 3" and names[23] == "f-noise 3"
    with pytest.raises(CompanionError, match="unknown labels"):
        class_count("level")


def test_the_full_profile_is_the_thesis_experiment():
    full = config_for("06b_classification", "full")
    assert full.source == "data" and full.width == 1.0 and full.imagenet and full.crop == 224
    assert full.train_crops == "centre" and full.labels == "type_level" and not full.use_zoo
    assert full.models == ("iqa_cnn_plus", "iqa_cnn_plusplus", "vgg16", "atrous_vgg16", "resnet101")
    assert [t.name for t in classification.classifiers(full, 0)] == [
        "iqa_cnn_plus-scratch", "iqa_cnn_plusplus-scratch", "vgg16-frozen", "vgg16-fine-tuned",
        "atrous_vgg16-frozen", "atrous_vgg16-fine-tuned", "resnet101-frozen", "resnet101-fine-tuned"]
    quick = config_for("06b_classification", "quick")
    assert quick.source == "bundled" and quick.use_zoo and quick.width < 1


# ---------------------------------------------------------------- data and crops

def test_the_smoke_set_has_24_images_per_reference_split_by_reference(smoke_data):
    _, _, data = smoke_data
    for split, store in data.items():
        assert len(store) == 24, split
        assert sorted(store.targets) == list(range(24))
        assert all(im.dtype == torch.uint8 for im in store.images)
    stems = {split: set(store.references) for split, store in data.items()}
    assert all(len(v) == 1 for v in stems.values()) and len(set.union(*stems.values())) == 3
    assert classification.reference_of("motorcycle_left_salt_and_pepper_2.png") == "motorcycle_left"
    assert data["val"].images[0].shape[-2:] == (SMOKE.crop, SMOKE.crop)


def test_crops_are_centred_or_drawn_from_seed_step_and_index(smoke_data):
    _, _, data = smoke_data
    store = data["train"]
    h, w = store.images[0].shape[-2:]
    centre = Crops(store, 32)
    assert centre.position(0) == ((h - 32) // 2, (w - 32) // 2)
    image, label = centre[0]
    assert image.shape == (3, 32, 32) and 0 <= float(image.min()) and float(image.max()) <= 1
    assert label == store.targets[0]
    a, b = Crops(store, 16, random_crops=True, seed=3), Crops(store, 16, random_crops=True, seed=3)
    a.set_epoch(5)
    b.set_epoch(5)
    assert a.position(2) == b.position(2) and torch.equal(a[2][0], b[2][0])
    positions = set()
    for step in range(40):
        a.set_epoch(step)
        top, left = a.position(2)
        assert 0 <= top <= h - 16 and 0 <= left <= w - 16
        positions.add((top, left))
    assert len(positions) > 10
    with pytest.raises(CompanionError, match="smaller than the 512 px crop"):
        Crops(store, 512)


# ---------------------------------------------------------------- scores and confusions

def test_scores_count_classes_types_and_confusions():
    targets = [0, 1, 2, 9, 10, 21]                  # GWN 1, 2, 3; quantization 1, 2; f-noise 1
    predicted = [0, 2, 2, 21, 10, 21]               # GWN 2 for GWN 1 (type right), f-noise for quantization 1
    logits = torch.full((6, 24), -5.0)
    logits[range(6), predicted] = 5.0
    got = scores(logits, targets, "type_level")
    assert got["accuracy"] == pytest.approx(4 / 6) and got["type_accuracy"] == pytest.approx(5 / 6)
    assert got["correct"] == [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    assert got["per_type"]["quantization"] == {"accuracy": 0.5, "type_accuracy": 0.5, "images": 2}
    q, f = FLICKR_TYPES.index("quantization"), FLICKR_TYPES.index("f_noise")
    assert got["type_confusion"][q][f] == 1 and got["confusion"][9][21] == 1 and got["confusion"][0][1] == 0
    assert np.asarray(got["confusion"]).sum() == 6


def test_confused_pairs_and_the_thesis_pairs_are_read_off_the_matrix():
    matrix = np.eye(8, dtype=int) * 5
    s, g = FLICKR_TYPES.index("salt_and_pepper"), FLICKR_TYPES.index("gaussian_noise")
    q, f, j = FLICKR_TYPES.index("quantization"), FLICKR_TYPES.index("f_noise"), FLICKR_TYPES.index("jpeg")
    matrix[s, g], matrix[j, q], matrix[q, f] = 3, 2, 1
    top = confused_pairs(matrix, top=2)
    assert [(p["true"], p["predicted"], p["count"]) for p in top] == [
        ("salt_and_pepper", "gaussian_noise", 3), ("jpeg", "quantization", 2)]
    assert top[0]["share"] == pytest.approx(3 / 8)
    pairs = {(p["true"], p["predicted"]): p for p in thesis_pairs(matrix)}
    assert pairs["quantization", "f_noise"]["count"] == 1 and pairs["quantization", "f_noise"]["rank"] == 3
    assert pairs["salt_and_pepper", "gaussian_noise"]["rank"] == 1
    assert pairs["gaussian_noise", "salt_and_pepper"] == {"true": "gaussian_noise", "predicted": "salt_and_pepper",
                                                          "count": 0, "of": 5, "rank": None}
    assert confused_pairs(np.eye(8, dtype=int)) == []


def test_selection_prefers_accuracy_then_the_lower_loss():
    assert selection_score(0.5, 0.1) > selection_score(0.5, 2.0) > selection_score(0.49, 0.0)
    assert selection_score(0.5, 1e9) > selection_score(0.5 - 1 / 90_000, 0.0)


# ---------------------------------------------------------------- training, the experiment, the zoo

def test_the_frozen_regime_changes_only_the_new_fc_and_keeps_the_best_validation_step(smoke_data, tmp_path):
    _, _, data = smoke_data
    trained = TrainedClassifier(SMOKE, "vgg16", "frozen")
    start = trained.build(0).state_dict()
    got = classification.train_classifier(trained, 0, data, "cpu", checkpoint_dir=tmp_path, progress=False)
    changed = {k for k, v in got.model.state_dict().items() if not torch.equal(v, start[k])}
    assert changed == {"net.classifier.6.weight", "net.classifier.6.bias"}
    assert got.steps == SMOKE.recipe.steps and got.kept.startswith("best at step")
    best = max(got.val, key=lambda sv: sv[1])
    assert got.kept == f"best at step {best[0]}" and len(got.val) == SMOKE.recipe.steps
    assert list(tmp_path.glob("ch6_06b_vgg16-frozen-seed0-*.pt"))  # resumable checkpoint


def test_the_zoo_key_names_what_shapes_the_weights():
    a = TrainedClassifier(SMOKE, "resnet101", "fine-tuned")
    assert a.zoo_entry(0).name == "ch6/06b/resnet101-fine-tuned-seed0"
    digests = {a.zoo_entry(0).digest, a.zoo_entry(1).digest, replace(a, regime="frozen").zoo_entry(0).digest,
               replace(a, data_seed=1).zoo_entry(0).digest,
               TrainedClassifier(replace(SMOKE, recipe=replace(SMOKE.recipe, lr=1e-4)), "resnet101",
                                 "fine-tuned").zoo_entry(0).digest,
               TrainedClassifier(replace(SMOKE, crop=48), "resnet101", "fine-tuned").zoo_entry(0).digest}
    assert len(digests) == 6
    key = a.zoo_key(0)
    assert key["init"].startswith("random") and key["data"]["labels"] == "type_level"
    with pytest.raises(CompanionError, match="trains in scratch"):
        TrainedClassifier(SMOKE, "iqa_cnn_plus", "frozen")


def test_the_experiment_scores_every_classifier_and_renders_its_conclusions(smoke_data, tmp_path):
    _, _, data = smoke_data
    results = classification.run_experiment(SMOKE, data, data_seed=0, device="cpu", checkpoint_dir=tmp_path,
                                            progress=False)
    assert list(results["runs"]) == [t.name for t in classification.classifiers(SMOKE, 0)]
    for entry in results["runs"].values():
        [seed] = entry["seeds"]
        assert seed["source"] == "trained" and len(seed["test"]["correct"]) == 24
        assert math.isfinite(entry["fps"]) and entry["fps"] > 0
    rows = classification.table_rows(results, SMOKE)
    by_model = {r["model"]: r for r in rows}
    assert by_model["iqa_cnn_plus"]["frozen"] is None and by_model["vgg16"]["frozen"] is not None
    assert by_model["vgg16"]["tuned"] == results["runs"]["vgg16-fine-tuned"]["seeds"][0]["test"]["accuracy"]
    chosen = classification.selected(results)
    best = max(r["seeds"][0]["val"]["accuracy"] for r in results["runs"].values())
    assert results["runs"][chosen]["seeds"][0]["val"]["accuracy"] == best
    checked = classification.claims(results, SMOKE)
    assert len(checked) == 3 + 1 + 6 and all(c["verdict"] in ("agrees", "disagrees", "unclear") for c in checked)
    items = classification.misclassified(results, chosen, data, SMOKE.labels, 24)
    wrong = 24 - int(sum(results["runs"][chosen]["seeds"][0]["test"]["correct"]))
    assert len(items) == wrong and all(i["true"] != i["predicted"] for i in items)

    class Run:
        measurements = []

        def record(self, key, value, **where):
            self.measurements.append(dict(key=key, value=value, **where))
            return value

    run = Run()
    classification.record_results(run, results, SMOKE)
    cells = {(m["row"], m["column"]) for m in run.measurements if m.get("entry") == "Table 6.1"}
    assert ("VGG-16", "Acc w/o finetuning") in cells and ("IQA-CNN+", "Acc w/ finetuning") in cells
    assert ("ResNet-101", "FPS") in cells and ("IQA-CNN++", "Acc w/o finetuning") not in cells
    confusions = classification.record_confusions(run, results, chosen)
    text = "\n".join(conclusions.distortion_classification(rows, classification.paper_table_6_1(), checked,
                                                            confusions, results, SMOKE))
    assert "**Table 6.1**" in text and "**Fig. 6.2's confusions**" in text and "linear classifier on random" in text
    assert f"{by_model['vgg16']['tuned']:.3f}" in text


def test_a_zoo_entry_is_what_the_notebook_would_train(smoke_data, tmp_path, monkeypatch):
    work, _, data = smoke_data
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(work))
    real = ch6_zoo.config_for
    monkeypatch.setattr(ch6_zoo, "config_for", lambda notebook, profile:
                        SMOKE if notebook == classification.NOTEBOOK else real(notebook, profile))
    built = [TrainedClassifier(SMOKE, "iqa_cnn_plusplus", "scratch"), TrainedClassifier(SMOKE, "resnet101", "frozen")]
    entries = [trained.zoo_entry(0) for trained in built]
    assert {e.name for e in entries} <= {e.name for e in ch6_zoo.entries()}
    assert [shared_zoo.status(e) for e in entries] == ["missing", "missing"]
    ch6_zoo.build(entries, workers=1, progress=False)
    test = Crops(data["test"], SMOKE.crop)
    for trained, entry in zip(built, entries):
        assert shared_zoo.status(entry) == "current"
        meta = shared_zoo.read_sidecar(entry)
        assert meta["steps"] == trained.recipe(0).steps and 0 <= meta["val_accuracy"] <= 1 and meta["init"] == "random"
        loaded = classification.obtain_classifier(trained, 0, data, "cpu", use_zoo=True, checkpoint_dir=None,
                                                  progress=False)
        here = classification.train_classifier(trained, 0, data, "cpu", checkpoint_dir=None, progress=False)
        assert loaded.source == f"zoo:{entry.name}" and loaded.kept == here.kept
        assert all(str(t.dtype) == "torch.float32" for t in loaded.model.parameters())  # stored in float16
        assert torch.allclose(classification.predict(loaded.model, test, "cpu"),
                              classification.predict(ch6_zoo.as_stored(here.model), test, "cpu"), atol=1e-5)
    entry = entries[0]
    with pytest.raises(CompanionError, match="no Chapter 6 provider"):
        ch6_zoo.build([replace(entry, name="ch6/06z/x-seed0")], workers=1, progress=False)


# ---------------------------------------------------------------- conclusions

def _rows(vgg_fps, resnet_fps):
    return [dict(model="vgg16", label="VGG-16", frozen=0.1, tuned=0.9, type_frozen=0.2, type_tuned=0.95,
                 fps=50.0, paper_fps=vgg_fps, init="random initialisation (x)"),
            dict(model="resnet101", label="ResNet-101", frozen=0.3, tuned=0.8, type_frozen=0.4, type_tuned=0.85,
                 fps=40.0, paper_fps=resnet_fps, init="random initialisation (x)")]


def test_the_speed_paragraph_compares_the_measured_order_with_the_thesis():
    paper = classification.paper_table_6_1()
    assert "The order is the thesis' own" in conclusions.classification_speed(_rows(9.0, 3.0), paper, "cpu")
    assert "differs from the thesis'" in conclusions.classification_speed(_rows(3.0, 9.0), paper, "cpu")
    assert "trained networks" in conclusions.classification_speed(_rows(None, None), paper, "cpu")
    atrous = dict(_rows(9.0, 3.0)[0], model="atrous_vgg16", label="Atrous VGG-16", paper_fps=7.0)
    text = conclusions.classification_speed([*_rows(9.0, 3.0), atrous], paper, "cpu")
    assert "much slower than the VGG family: so here" in text and "faster than VGG-16 (its FC layers are " \
        "subsampled): not here" in text
    text = conclusions.classification_speed([*_rows(9.0, 9.5), dict(atrous, paper_fps=12.0)], paper, "cpu")
    assert "VGG family: not here" in text and "subsampled): so here." in text
    text = conclusions.classification_speed([*_rows(9.0, 3.0), dict(atrous, paper_fps=9.2)], paper, "cpu")
    assert "subsampled): about the same here" in text  # within the tie margin: no order claimed


def test_the_accuracy_and_confusion_paragraphs_say_what_was_measured():
    paper = classification.paper_table_6_1()
    text = conclusions.classification_accuracy(_rows(1.0, 1.0), paper, 48, 24)
    assert "VGG-16 0.100 / 0.900" in text and "thesis 0.858 / 0.984" in text
    assert "VGG-16 is best here; in the thesis ResNet-101 is." in text
    confusions = {"label": "X", "pairs": thesis_pairs(np.eye(8, dtype=int) * 6), "top": []}
    text = conclusions.classification_confusions(confusions)
    assert text.count(": no, none of 6 images") == 3 and "none, every type is right" in text


def test_accuracy_by_type_reads_the_confusion_rows_and_is_recorded():
    matrix = np.zeros((8, 8), int)
    matrix[0, 0], matrix[0, 1] = 3, 1          # type 0: 3 of 4 right
    matrix[2, 2] = 2                           # type 2: 2 of 2 right
    other = np.zeros((8, 8), int)
    other[0, 0] = 4                            # a second seed: type 0 now 7 of 8 right
    results = {"runs": {"vgg16-fine-tuned": {"label": "VGG-16 (fine-tuned)", "seeds": [{"test": {"type_confusion": matrix}},
                                                                          {"test": {"type_confusion": other}}]}}}
    by_type = classification.accuracy_by_type(results)["vgg16-fine-tuned"]
    kinds = list(by_type)
    assert by_type[kinds[0]] == pytest.approx(7 / 8) and by_type[kinds[2]] == 1.0 and by_type[kinds[1]] is None
    run = RecordingRun()
    text = classification.record_accuracy_by_type(run, results)
    assert "VGG-16 (fine-tuned)" in text and "0.88" in text and "1.00" in text and "–" in text
    recorded = {key: value for key, value, _ in run.records}
    assert recorded[f"table6_1/vgg16-fine-tuned/accuracy_by_type/{kinds[0]}"] == 0.875
    assert f"table6_1/vgg16-fine-tuned/accuracy_by_type/{kinds[1]}" not in recorded  # no test image of that type
