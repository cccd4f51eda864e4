"""Chapter 3's zoo (companion.ch3.zoo): the entries of 03_progressive_x8's quick profile and their keys, a tiny
build whose models the notebook's code then loads instead of training (and gets what training gives), and the
committed checkpoints: current, small, loading strictly, and scoring on the held-out photographs what the
committed results (figures/results/03_progressive_x8.json) say.

The committed-weights tests score the three held-out photographs whole at x8 (about 20 s on a busy two-core
machine); they skip, saying why, when the entries are not current in checkpoints/.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from companion import zoo
from companion.ch3 import progressive as pg
from companion.ch3 import staged
from companion.ch3 import tables
from companion.ch3 import zoo as ch3_zoo
from companion.ch3.config import SPLIT
from companion.ch3.zoo import TrainedStage
from companion.profiles import config_for
from companion.summary import mean_std

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = tuple(name for seed in range(3) for name in (
    f"ch3/03/progressive-stage1-seed{seed}", f"ch3/03/progressive-stage2-seed{seed}",
    f"ch3/03/progressive-stage3-seed{seed}", f"ch3/03/baseline-end-seed{seed}"))
RESULTS = zoo.REPO_ROOT / "figures" / "results" / "03_progressive_x8.json"


def test_chapter_3_declares_every_model_of_the_quick_profile():
    quick = config_for("03_progressive_x8", "quick")
    entries = {e.name: e for e in ch3_zoo.entries()}
    assert tuple(entries) == NAMES and quick.use_zoo and quick.seeds == 3 and quick.baseline == "end"
    assert "ch3" in zoo.chapter_zoos() and set(NAMES) <= {e.name for e in zoo.all_entries()}
    assert [e.name for e in zoo.select(["ch3/03"])] == list(NAMES)
    for name, entry in entries.items():
        assert entry.model == "progressive_carn" and entry.config["channels"] == 16
        assert entry.key["train_images"] == list(SPLIT.train) and not set(SPLIT.test) & set(SPLIT.train)
    # the one look-up: companion.zoo.find(TrainedStage(spec, kind, stage), seed) gives the entry when current
    for seed in range(quick.seeds):
        for stage in ch3_zoo.trained_stages(quick):
            entry = stage.zoo_entry(seed)
            assert entries[entry.name] == entry
            assert zoo.find(stage, seed) == (entry if zoo.status(entry) == "current" else None)
    # a stage's key holds the settings of every stage up to it; the baseline trains the stages' total steps
    stages = [entries[n].key["stages"] for n in NAMES[:3]]
    assert [len(s) for s in stages] == [1, 2, 3] and stages[2][:2] == stages[1]
    assert [s["steps"] for s in stages[2]] == list(quick.recipe.steps)
    base = entries[NAMES[3]]
    assert base.config["layout"] == "end" and base.key["stages"][0]["steps"] == quick.recipe.total_steps
    assert len({e.digest for e in entries.values()}) == 12  # 4 models × 3 seeds, all different
    with pytest.raises(ValueError, match="trained stage"):
        TrainedStage(quick, "baseline", 2)


def _key(spec, seed=0, stage=3, **recipe):
    spec = dataclasses.replace(spec, recipe=dataclasses.replace(spec.recipe, **recipe)) if recipe else spec
    return TrainedStage(spec, "progressive", stage).zoo_key(seed)


def test_the_key_follows_what_shapes_the_weights():
    quick = config_for("03_progressive_x8", "quick")
    key = _key(quick)
    assert key == _key(dataclasses.replace(quick, workers=1, ensemble=False, figure_crop=64))
    assert key != _key(quick, steps=(900, 1200, 1700))
    # a later stage's steps do not change an earlier stage's weights
    assert _key(quick, stage=1) == _key(quick, stage=1, steps=(900, 1, 1))
    assert key != _key(quick, seed=1)
    assert key != _key(quick, decay="prose")
    patch_10 = dataclasses.replace(quick, recipe=dataclasses.replace(quick.recipe, patch=10))
    assert zoo.find(TrainedStage(patch_10, "progressive", 3), 0) is None


def test_a_tiny_build_is_loaded_by_the_notebook_code_and_gives_what_training_gives(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setattr(ch3_zoo, "PROFILE", ("03_progressive_x8", "smoke"))
    entries = ch3_zoo.entries()
    assert [zoo.status(e) for e in entries] == ["missing"] * 4
    smoke = ch3_zoo.zoo_spec()
    assert pg.zoo_stage(smoke, "progressive", 0, 1) is None  # smoke never asks the zoo
    ch3_zoo.build(entries, workers=1, progress=False)
    assert [zoo.status(e) for e in entries] == ["current"] * 4
    for entry in entries:
        model, meta = zoo.load_entry(entry)
        assert meta["first_loss"] > 0 and meta["loss_curve"] and meta["device"].startswith("cpu: ")
    assert [zoo.read_sidecar(e)["steps"] for e in entries] == [*smoke.recipe.steps, smoke.recipe.total_steps]
    cfg = dataclasses.replace(smoke, use_zoo=True)
    import torch

    torch.set_num_threads(2)  # the evaluation-only path runs on one thread and gives the thread count back
    loaded = pg.run_experiment(cfg, progress=False)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    assert [s["checkpoint"] for s in loaded["progressive"][0]["stages"]] == [f"zoo:{n}" for n in
                                                                             (e.name for e in entries[:3])]
    assert loaded["baseline"][0]["checkpoint"] == f"zoo:{entries[3].name}"
    trained = pg.run_experiment(smoke, progress=False, checkpoint_dir=tmp_path / "nb")
    for a, b in zip(loaded["progressive"][0]["stages"], trained["progressive"][0]["stages"]):
        assert a["heads"]["embedded"][a["scale"]]["psnr"] == pytest.approx(b["heads"]["embedded"][b["scale"]]["psnr"])
    assert loaded["baseline"][0]["heads"]["embedded"][8]["psnr"] == \
        pytest.approx(trained["baseline"][0]["heads"]["embedded"][8]["psnr"])
    summary = tables.summarise(loaded, "embedded")
    assert tables.sources_text(summary).count("zoo checkpoint") == 2
    assert "trained in this run" in tables.weights_text(tables.summarise(trained, "embedded")["checkpoints"])
    # a stale stage is retrained by the notebook code; the current ones are still loaded
    meta = json.loads(entries[2].sidecar_path.read_text())
    entries[2].sidecar_path.write_text(json.dumps({**meta, "digest": "0" * 16}))
    mixed = pg.train_progressive(cfg, 0, checkpoint_dir=tmp_path / "nb")
    assert [s["checkpoint"].startswith("zoo:") for s in mixed["stages"]] == [True, True, False]


# --- the committed entries ------------------------------------------------------------------------------------

def _committed():
    entries = ch3_zoo.entries()
    states = {e.name: zoo.status(e) for e in entries}
    if set(states.values()) != {"current"}:
        pytest.skip(f"ch3 zoo entries not current in {zoo.zoo_dir()} ({states}); build them with "
                    "`python -m companion zoo build ch3`")
    return entries


def test_the_committed_chapter_3_entries_are_current_and_small():
    rows = zoo.list_rows(ch3_zoo.entries())
    not_current = [f"{r['name']} ({r['status']})" for r in rows if r["status"] != "current"]
    assert not not_current, "rebuild with `python -m companion zoo build ch3`: " + ", ".join(not_current)
    assert sum(r["mb"] for r in rows) < 6.0  # 12 entries of about 0.4 MB


def _committed_value(key: str):
    doc = json.loads(RESULTS.read_text(encoding="utf-8"))
    found = {m["key"]: m for m in doc["measurements"]}
    return found[key]


def test_the_committed_x8_models_score_what_the_committed_results_say():
    """Every seed's stage-3 entry and baseline, loaded strictly, scored on the three held-out photographs (whole,
    x8, Y PSNR of the SR protocol, with the self-ensemble): their mean ± std over seeds is the committed results
    file's, the notes there name these checkpoints, and the committed claims' verdicts are the ones the paired
    interval (companion.summary.check_claims) gives on these per-seed, per-image scores."""
    entries = _committed()
    quick = config_for("03_progressive_x8", "quick")
    images = staged.evaluation_images(quick, "embedded")
    assert [name for name, _, _ in images] == list(SPLIT.test)
    ours, base = [], []
    for seed in range(quick.seeds):
        stage3, baseline = entries[4 * seed + 2], entries[4 * seed + 3]
        assert stage3.name.endswith(f"stage3-seed{seed}") and baseline.name.endswith(f"end-seed{seed}")
        ours.append(pg.evaluate_heads(zoo.load_entry(stage3)[0], images, (8,), ensemble=True)[8]["per_image"])
        base.append(pg.evaluate_heads(zoo.load_entry(baseline)[0], images, (8,))[8]["per_image"])

    def grid(per_seed, column):  # seeds × images
        return [[per_image[name][column] for name in SPLIT.test] for per_image in per_seed]

    scores = {"progressive": grid(ours, "psnr"), "progressive+": grid(ours, "plus_psnr"),
              "bicubic": grid(ours, "bicubic_psnr"), "baseline": grid(base, "psnr"), "images": list(SPLIT.test)}
    for key in ("progressive", "progressive+", "bicubic", "baseline"):
        mean, std = mean_std([float(np.mean(row)) for row in scores[key]])
        committed = _committed_value(f"embedded/x8/{key}/psnr")
        committed_mean, committed_std = (float(v) for v in committed["value"].split(" ± "))
        assert committed_mean == pytest.approx(mean, abs=0.006) and committed_std == pytest.approx(std, abs=0.006), key
        if key != "bicubic":
            assert "zoo checkpoint" in committed["note"], key
    assert entries[10].name in _committed_value("embedded/x8/progressive/psnr")["note"]
    assert entries[11].name in _committed_value("embedded/x8/baseline/psnr")["note"]
    checked = tables.claims({"scores": scores, "baseline": {"layout": "end"}})
    assert [c["claim"] for c in checked] == [
        "Progressive CARN beats bicubic at x8", "Progressive CARN beats the single-stage CARN-B24U4 (one stage)",
        "Progressive CARN+ (self-ensemble) beats Progressive CARN"]
    for claim in checked:
        committed = _committed_value(f"claim/{claim['claim']}")
        assert (committed["value"], committed["note"]) == (claim["verdict"], claim["detail"]), claim["claim"]
