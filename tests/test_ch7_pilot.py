"""pilots/ch7_model_lr.py: the VDSR learning-rate pilot as a script whose output is a results file. The rule
and the score are checked directly; the smoke path runs end to end (seconds), writes its file atomically and
resumes without training again."""
from __future__ import annotations

import json

import pytest

from companion.zoo import REPO_ROOT
from conftest import load_script

pytestmark = pytest.mark.usefixtures("one_thread")


def load_pilot():
    return load_script(REPO_ROOT / "pilots" / "ch7_model_lr.py")


def test_the_rule_keeps_the_shared_rate_unless_another_is_clearly_better():
    pilot = load_pilot()
    # the scores the config docstring gave (2e-3 / 1e-3 / 5e-4): only VDSR moves
    assert pilot.choose({2e-3: 28.78, 1e-3: 27.78, 5e-4: 28.07}) == 2e-3
    assert pilot.choose({2e-3: 28.19, 1e-3: 28.64, 5e-4: 28.26}) == 1e-3
    assert pilot.choose({2e-3: 28.0, 1e-3: 28.29, 5e-4: 28.1}) == 2e-3  # 0.29 dB is not enough
    assert pilot.choose({2e-3: 28.0, 1e-3: 28.4, 5e-4: 28.6}) == 5e-4  # the best of the clearly better
    assert pilot.score([[500, 1.0], [1000, 2.0], [1500, 3.0], [2000, 4.0], [2500, 5.0]]) == 3.5
    full = pilot.pilot_spec(False)
    assert full.train.steps == 3_000 and full.train.milestones == (1_500, 2_250) and full.train.val_every == 500
    assert full.models == ("dncnn", "vdsr", "owan", "ridnet", "mepsnet") and full.model_lr == ()


def test_the_smoke_pilot_writes_its_results_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    pilot = load_pilot()
    out = tmp_path / "pilot.json"
    assert pilot.main(["--smoke", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["profile"] == "smoke" and len(document["runs"]) == 2 * 3
    assert set(document["choices"]) == {"dncnn", "vdsr"}
    for run in document["runs"]:
        assert run["steps"] == 4 and [s for s, _ in run["val"]] == [1, 2, 3, 4]
        assert run["score"] == pytest.approx(sum(v for _, v in run["val"]) / 4, abs=1e-3)
    assert document["settings"]["train"]["milestones"] == [2, 3]
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically: no temporary file left
    before = out.read_text()
    monkeypatch.setattr(pilot, "train_variant", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert pilot.main(["--smoke", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["runs"] == json.loads(before)["runs"]
