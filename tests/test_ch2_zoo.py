"""Chapter 2's zoo (companion.ch2.zoo) and its training (companion.ch2.training): the entries, their keys and
splits, a tiny build, and the committed quick-size CARN / CARN-M beating bicubic x4 on every embedded photograph.

The committed-weights tests score whole images (all eleven, x4, the SR protocol), not crops: that is the claim
("beat bicubic on every embedded image"), and it takes about a minute for both models on a busy two-core
machine. They skip, saying why, when the entries are not in checkpoints/ or not current.
"""
from __future__ import annotations

import dataclasses

import pytest

from companion import zoo
from companion.ch2 import training as tr
from companion.ch2 import zoo as ch2_zoo
from companion.ch2.config import HELD_OUT
from companion.data.images import EMBEDDED_IMAGES
from companion.errors import CompanionError

pytestmark = pytest.mark.usefixtures("one_thread")

MAIN = ("ch2/carn-x4-seed0", "ch2/carn-m-x4-seed0")


def test_chapter_2_declares_the_two_x4_models_and_the_02d_sweep():
    entries = {e.name: e for e in ch2_zoo.entries()}
    assert set(MAIN) <= set(entries)
    assert len(entries) == len(ch2_zoo.entries())  # no name twice
    carn, carn_m = entries[MAIN[0]], entries[MAIN[1]]
    assert carn.model == "carn" and carn_m.model == "carn_m"
    assert carn.config["channels"] == 32 and carn.config["scales"] == [4] and carn.config["reading"] == "thesis"
    assert carn_m.config["groups"] == 4 and carn_m.config["recursive"] is True
    assert any(name.startswith("ch2/02d/") for name in entries)
    # the split: the three held-out photographs are test, coffee validates, the rest train; nothing leaks
    images = carn.key["data"]["images"]
    assert {n for n, role in images.items() if role == "test"} == set(HELD_OUT)
    assert images[tr.VAL_IMAGE] == "val" and set(images) == set(EMBEDDED_IMAGES)
    assert carn.key["loss"] == "l1" and carn.key["train"]["grad_clip"] == 10.0


def test_the_key_follows_what_shapes_the_weights():
    spec = tr.SRTraining("carn")
    key = tr.run_key(spec, 0)
    assert key == tr.run_key(dataclasses.replace(spec, train=dataclasses.replace(spec.train, val_every=7,
                                                                                   checkpoint_every=3)), 0)
    assert key != tr.run_key(dataclasses.replace(spec, train=dataclasses.replace(spec.train, steps=7)), 0)
    assert key != tr.run_key(spec, 1)
    assert key != tr.run_key(dataclasses.replace(spec, patch=16), 0)
    assert tr.run_key(tr.SRTraining("carn_m"), 0)["config"]["groups"] == 4


def test_a_spec_that_trains_on_a_test_or_validation_image_is_refused():
    for bad in (("astronaut", "rocket"), ("astronaut", tr.VAL_IMAGE)):
        with pytest.raises(CompanionError, match="test or validation"):
            tr.SRTraining("carn", train_images=bad).check()
    with pytest.raises(CompanionError, match="unknown model"):
        tr.SRTraining("nothing").check()
    assert not set(tr.FIT_IMAGES) & (set(HELD_OUT) | {tr.VAL_IMAGE})


def test_main_entry_names_the_choices_when_unknown():
    assert ch2_zoo.main_entry("carn-m-x4").name == MAIN[1]
    with pytest.raises(CompanionError, match="ch2/carn-x4-seed0"):
        ch2_zoo.main_entry("pcarn")


TINY = tr.SRTraining("carn_m", patch=8, train_images=("chelsea",), val_crop=32,
                     train=dataclasses.replace(tr.QUICK_RECIPE, steps=3, milestones=(), val_every=3,
                                               checkpoint_every=2))


def test_a_tiny_build_writes_a_current_entry_that_loads_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setattr(ch2_zoo, "MAIN", {"carn-m-x4": (TINY, "tiny")})
    [entry] = [e for e in ch2_zoo.entries() if e.name == MAIN[1]]
    assert zoo.status(entry) == "missing"
    ch2_zoo.build([entry], workers=1, progress=False)
    assert zoo.status(entry) == "current"
    model, meta = zoo.load_entry(entry)
    assert meta["steps"] == 3 and [s for s, _ in meta["val"]] == [3] and meta["val_psnr"] == meta["val"][-1][1]
    assert meta["device"].startswith("cpu: ") and meta["config"] == entry.config
    assert ch2_zoo.find(TINY, 0) == entry
    # the work-folder checkpoint is finished: training again only loads it, and gives the same weights
    again, result = tr.train_network(TINY, 0, checkpoint_dir=ch2_zoo.work_folder(), progress=False)
    assert result.steps_done == 3
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert (a == b).all()


def test_evaluate_embedded_splits_test_from_seen_photographs():
    import torch

    torch.manual_seed(0)
    model = tr.build_network(TINY, 0)
    scores = tr.evaluate_embedded(model, 4, names=["rocket", "chelsea"], crop=48)
    split = scores["split"]
    assert split["test"]["images"] == ["rocket"] and split["seen"]["images"] == ["chelsea"]
    assert split["worst"][0] in ("rocket", "chelsea")
    lines = tr.score_lines(scores, "CARN-M")
    assert "test" in lines[1] and "mean over the 1 test photographs" in "\n".join(lines)
    with pytest.raises(CompanionError, match="unknown embedded images"):
        tr.evaluate_embedded(model, 4, names=["nothing"])


# --- the committed entries ------------------------------------------------------------------------------------

def _committed(name: str):
    entry = next(e for e in ch2_zoo.entries() if e.name == name)
    state = zoo.status(entry)
    if state != "current":
        pytest.skip(f"{name} is {state} in {zoo.zoo_dir()}; build it with `python -m companion zoo build {name}`")
    return entry


def test_the_committed_chapter_2_entries_are_current_and_small():
    """Every Chapter 2 entry ships in checkpoints/ch2 and matches today's settings (a changed recipe fails here
    until `python -m companion zoo build ch2` retrains it)."""
    rows = zoo.list_rows(ch2_zoo.entries())
    not_current = [f"{r['name']} ({r['status']})" for r in rows if r["status"] != "current"]
    assert not not_current, "rebuild with `python -m companion zoo build ch2`: " + ", ".join(not_current)
    assert sum(r["mb"] for r in rows) < 8


@pytest.mark.parametrize("name", MAIN)
def test_the_committed_x4_models_beat_bicubic_on_every_embedded_photograph(name):
    entry = _committed(name)
    model, meta = zoo.load_entry(entry)
    scores = tr.evaluate_embedded(model, 4)  # all eleven, whole, x4, Y PSNR of the SR protocol
    assert scores["images"] == len(EMBEDDED_IMAGES)
    losing = {n: round(s["psnr"] - s["bicubic_psnr"], 3) for n, s in scores["per_image"].items()
              if not s["psnr"] > s["bicubic_psnr"]}
    assert not losing, f"{name} does not beat bicubic x4 on {losing} (dB)"
    assert scores["split"]["test"]["gain"] > 0
