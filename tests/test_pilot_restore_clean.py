"""pilots/restore_clean_photo.py: its smoke path runs a zoo model on a crop of a photograph no split uses and
writes a results file with the scores it printed."""
from __future__ import annotations

import json

import pytest

from conftest import REPO, load_script

SCRIPT = REPO / "pilots" / "restore_clean_photo.py"


def _pilot():
    return load_script(SCRIPT)


def test_the_smoke_pilot_scores_a_clean_and_a_noisy_crop(tmp_path, capsys):
    pilot = _pilot()
    if not pilot.PHOTO.is_file():
        pytest.skip(f"{pilot.PHOTO} is not in this matplotlib install")
    out = tmp_path / "clean.json"
    assert pilot.main(["--smoke", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["size"] == [64, 64] and list(result["models"]) == ["dncnn"]
    row = result["models"]["dncnn"]
    assert row["entry"] == "ch7/07b/dncnn-seed0"
    assert 10 < row["clean_psnr_vs_input"] < 80 and row["clean_largest_channel_shift_levels"] >= 0
    assert 10 < result["noisy_input_psnr"] < 30  # σ = 20/255 noise
    assert f"{row['noisy_psnr_vs_clean']:6.2f}" in capsys.readouterr().out
