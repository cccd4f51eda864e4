"""pilots/ch5_zssr_steps.py and pilots/ch7e_classifier_size.py: scripts whose outputs are results files, judged on
validation images only. Their smoke paths run every variant's code in seconds and write what they printed."""
from __future__ import annotations

import json

import pytest

from conftest import REPO, load_script

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_zssr_pilot_scores_each_variant_on_the_validation_photograph(tmp_path, capsys):
    pilot = load_script(REPO / "pilots" / "ch5_zssr_steps.py")
    out = tmp_path / "zssr.json"
    assert pilot.main(["--smoke", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["image"].startswith("coffee")  # the validation photograph, never a test one
    assert list(result["variants"]) == list(pilot.SMOKE_VARIANTS)
    printed = capsys.readouterr().out
    for name, row in result["variants"].items():
        assert row["recipe"]["steps"] == 4 and 15 < row["psnr"] < 50
        assert f"{name:32s} {row['psnr']:.2f} dB" in printed  # what it printed is what it wrote
    assert result["variants"]["4 steps, no affine mode"]["recipe"]["affine"] is False
    # a rerun reuses what the file holds instead of training again
    held = out.read_text()
    assert pilot.main(["--smoke", "--out", str(out)]) == 0 and json.loads(out.read_text())["variants"] == \
        json.loads(held)["variants"]


def test_the_committed_zssr_pilot_holds_every_variant():
    path = REPO / "pilots" / "results" / "ch5_zssr_steps.json"
    if not path.is_file():
        pytest.skip("pilots/results/ch5_zssr_steps.json not written yet (python pilots/ch5_zssr_steps.py)")
    pilot = load_script(REPO / "pilots" / "ch5_zssr_steps.py")
    result = json.loads(path.read_text())
    assert set(result["variants"]) == set(pilot.VARIANTS)
    assert all(row["psnr"] >= result["bicubic_psnr"] - 0.01 for row in result["variants"].values())


def test_the_classifier_pilot_scores_each_variant_on_validation_images(tmp_path):
    pilot = load_script(REPO / "pilots" / "ch7e_classifier_size.py")
    out = tmp_path / "classifier.json"
    assert pilot.main(["--smoke", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = result["variants"]
    assert [(r["width"], r["crop"]) for r in rows.values()] == list(pilot.SMOKE_VARIANTS)
    assert all(0 <= r["val_accuracy"] <= 1 and r["source"] == "trained here" for r in rows.values())
    assert result["recipe"]["steps"] == 4


def test_the_committed_classifier_pilot_backs_the_configured_classifier():
    """The configured width and crop are the variant with the best validation accuracy in the results file."""
    path = REPO / "pilots" / "results" / "ch7e_classifier_size.json"
    if not path.is_file():
        pytest.skip("pilots/results/ch7e_classifier_size.json not written yet (python pilots/ch7e_classifier_size.py)")
    from companion.ch7.config import RECOGNITION

    pilot = load_script(REPO / "pilots" / "ch7e_classifier_size.py")
    rows = json.loads(path.read_text())["variants"].values()
    assert {(r["width"], r["crop"]) for r in rows} == set(pilot.VARIANTS)
    best = max(rows, key=lambda r: r["val_accuracy"])
    quick = RECOGNITION["quick"]
    assert (best["width"], best["crop"]) == (quick.classifier_width, quick.classifier_patch)
