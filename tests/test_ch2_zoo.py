"""Chapter 2's zoo (companion.ch2.zoo) and its training (companion.ch2.training): the entries, their keys and
splits, a tiny build, and the committed quick-size CARN / CARN-M beating bicubic x4 on every embedded photograph;
02b's Table 2.3 models (ch2/02b/...): their keys, a tiny build that the notebook code then loads instead of
training, and the committed ones scoring on the held-out photographs what figures/results/02b_initialisation.json
says.

The committed-weights tests score whole images (all eleven, x4, the SR protocol), not crops: that is the claim
("beat bicubic on every embedded image"), and it takes about a minute for both models on a busy two-core
machine. They skip, saying why, when the entries are not in checkpoints/ or not current.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from companion import zoo
from companion.ch2 import (config, init_schemes, init_training, pcarn, pcarn_report, pcarn_scores, pcarn_stages,
                           pcarn_training, qualitative, training)
from companion.ch2 import config as ch2_config
from companion.ch2 import initialisation as ini
from companion.ch2 import training as tr
from companion.ch2 import zoo as ch2_zoo
from companion.ch2.config import HELD_OUT, INIT_PROFILES, TABLE_2_3_INITS
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
        tr.train_network(tr.SRTraining("nothing"), 0, progress=False)
    assert not set(config.FIT_IMAGES) & (set(HELD_OUT) | {tr.VAL_IMAGE})


def test_main_entry_names_the_choices_when_unknown():
    assert ch2_zoo.main_entry("carn-m-x4").name == MAIN[1]
    with pytest.raises(CompanionError, match="ch2/carn-x4-seed0"):
        ch2_zoo.main_entry("pcarn")


TINY = tr.SRTraining("carn_m", patch=8, train_images=("chelsea",), val_crop=32,
                     train=dataclasses.replace(config.QUICK_RECIPE, steps=3, milestones=(), val_every=3,
                                               checkpoint_every=2))


def test_a_tiny_build_writes_a_current_entry_that_loads_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setattr(ch2_zoo, "QUICK_X4_MODELS", {"carn-m-x4": (TINY, "tiny")})
    [entry] = [e for e in ch2_zoo.entries() if e.name == MAIN[1]]
    assert zoo.status(entry) == "missing"
    ch2_zoo.build([entry], workers=1, progress=False)
    assert zoo.status(entry) == "current"
    model, meta = zoo.load_entry(entry)
    assert meta["steps"] == 3 and [s for s, _ in meta["val"]] == [3] and meta["val_psnr"] == meta["val"][-1][1]
    assert meta["device"].startswith("cpu: ") and meta["config"] == entry.config
    assert zoo.find(ch2_zoo.SRModel("ch2/carn-m-x4", TINY, "tiny"), 0) == entry
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
    assert sum(r["mb"] for r in rows) < 11.5  # 9.0 MB before 02c's GAN stage (2.3 MB) joined
    assert sum(r["mb"] for r in rows if r["name"].startswith("ch2/02b/")) < 5.5
    assert sum(r["mb"] for r in rows if r["name"].startswith("ch2/02c/")) < 2.4  # the discriminator in float16


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


# --- 02b: Table 2.3's models ----------------------------------------------------------------------------------

INIT_NAMES = [f"ch2/02b/{init}-seed{seed}" for seed in range(3) for init in TABLE_2_3_INITS]
RESULTS_02B = zoo.REPO_ROOT / "figures" / "results" / "02b_initialisation.json"


def test_02b_declares_every_model_of_its_quick_profile():
    quick = INIT_PROFILES["quick"]
    entries = {e.name: e for e in ch2_zoo.init_entries()}
    assert list(entries) == INIT_NAMES and quick.use_zoo and quick.seeds == 3 and quick.inits == TABLE_2_3_INITS
    assert set(INIT_NAMES) <= {e.name for e in ch2_zoo.entries()}
    assert [e.name for e in zoo.select(["ch2/02b"])] == INIT_NAMES
    assert len({e.digest for e in entries.values()}) == len(INIT_NAMES)
    for name, entry in entries.items():
        init, seed = name.rsplit("/", 1)[1].rsplit("-seed", 1)
        assert entry.key["init"] == init and entry.key["seed"] == int(seed)
        assert entry.model == "carn" and entry.config["channels"] == quick.channels == 16
        assert entry.config["reading"] == "thesis" and entry.config["scales"] == [4]
        assert zoo.find(ch2_zoo.Table23Run(quick, init), int(seed)) == entry
    # the split: the held-out photographs test, coffee validates, the other seven train; nothing leaks
    images = entries[INIT_NAMES[0]].key["data"]["images"]
    assert {n for n, role in images.items() if role == "test"} == set(HELD_OUT)
    assert images[quick.val_image] == "val" and set(images) == set(EMBEDDED_IMAGES)
    assert quick.val_image not in quick.train_images and not set(HELD_OUT) & set(quick.train_images)
    # smoke never asks the zoo
    assert ini.zoo_entry(INIT_PROFILES["smoke"], "default_1.0", 0) is None


def test_02b_keys_follow_what_shapes_the_weights():
    quick = INIT_PROFILES["quick"]
    key = ch2_zoo.init_key(quick, "default_1.0", 0)
    same = dataclasses.replace(quick, train=dataclasses.replace(quick.train, val_every=7, checkpoint_every=3),
                               train_workers=1, act_batch=2, eval_crop=64)
    assert ch2_zoo.init_key(same, "default_1.0", 0) == key
    for other in (dataclasses.replace(quick, channels=32), dataclasses.replace(quick, patch=16),
                  dataclasses.replace(quick, train=dataclasses.replace(quick.train, steps=999)),
                  dataclasses.replace(quick, train_images=quick.train_images[1:])):
        assert ch2_zoo.init_key(other, "default_1.0", 0) != key
        assert zoo.find(ch2_zoo.Table23Run(other, "default_1.0"), 0) is None  # declared otherwise: stale
    assert ch2_zoo.init_key(quick, "default_1.0", 1) != key != ch2_zoo.init_key(quick, "default_0.1", 0)


def test_02b_refuses_a_validation_or_test_image_in_training():
    smoke = INIT_PROFILES["smoke"]
    init_training._VALIDATION_PAIRS.clear()
    with pytest.raises(CompanionError, match="test or validation"):
        init_training.check_split(dataclasses.replace(smoke, val_image="astronaut"))
    with pytest.raises(CompanionError, match="is a test image"):
        init_training.validation_pairs(dataclasses.replace(smoke, val_image="rocket"))


TINY_02B = dataclasses.replace(INIT_PROFILES["smoke"], seeds=1, inits=("default_1.0", "msra_normal_0.1"),
                               val_image="coffee", val_crop=32,
                               train=dataclasses.replace(INIT_PROFILES["smoke"].train, steps=4, val_every=2))


def test_a_tiny_02b_build_is_loaded_by_the_notebook_code_and_gives_what_training_gives(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setitem(ch2_config.INIT_PROFILES, "quick", TINY_02B)
    entries = ch2_zoo.init_entries()
    assert [e.name for e in entries] == ["ch2/02b/default_1.0-seed0", "ch2/02b/msra_normal_0.1-seed0"]
    assert {zoo.status(e) for e in entries} == {"missing"}
    ch2_zoo.build(entries, workers=1, progress=False)
    assert {zoo.status(e) for e in entries} == {"current"}
    model, meta = zoo.load_entry(entries[0])
    assert meta["steps"] == 4 and [s for s, _ in meta["val"]] == [2, 4] and meta["val_psnr"] == meta["val"][-1][1]
    assert meta["val_images"][0].startswith("coffee") and meta["loss_curve"] and meta["first_loss"] > 0
    assert meta["config"] == init_schemes.carn_config(TINY_02B.size, TINY_02B.scale, TINY_02B.channels) == entries[0].config
    cfg = dataclasses.replace(TINY_02B, use_zoo=True)
    import torch

    torch.set_num_threads(2)  # the evaluation-only path runs on one thread and gives the thread count back
    loaded = ini.run_table_2_3(cfg, progress=False)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    assert [r["checkpoint"] for rs in loaded.values() for r in rs] == [f"zoo:{e.name}" for e in entries]
    trained = ini.run_table_2_3(TINY_02B, progress=False, checkpoint_dir=tmp_path / "nb")
    for key in loaded:
        assert loaded[key][0]["psnr"] == pytest.approx(trained[key][0]["psnr"])
        assert loaded[key][0]["steps"] == trained[key][0]["steps"] == 4
    summary = ini.summarise(loaded)
    assert "zoo checkpoint ch2/02b/default_1.0-seed0" in ini.sources_text(summary)
    assert "1 seed trained in this run" in ini.sources_text(ini.summarise(trained))
    # a stale entry is retrained by the notebook code, the current one still loaded
    meta = json.loads(entries[1].sidecar_path.read_text())
    entries[1].sidecar_path.write_text(json.dumps({**meta, "digest": "0" * 16}))
    mixed = ini.run_table_2_3(cfg, progress=False)
    assert mixed["default_1.0"][0]["checkpoint"].startswith("zoo:")
    assert not (mixed["msra_normal_0.1"][0]["checkpoint"] or "").startswith("zoo:")


def test_the_committed_02b_models_score_what_the_committed_results_say():
    """All 18 committed Table 2.3 models, loaded strictly, scored on the three held-out photographs (whole, x4,
    the SR protocol): each row's mean ± std over seeds is the committed results file's, its note names the
    checkpoints, and the committed claims' verdicts follow from the measured numbers."""
    quick = INIT_PROFILES["quick"]
    entries = ch2_zoo.init_entries()
    states = {e.name: zoo.status(e) for e in entries}
    if set(states.values()) != {"current"}:
        pytest.skip(f"ch2/02b entries not current ({states}); build them with `python -m companion zoo build ch2/02b`")
    results = ini.run_table_2_3(quick, progress=False)
    assert all(r["checkpoint"].startswith("zoo:") for rs in results.values() for r in rs)
    summary = ini.summarise(results)
    doc = json.loads(RESULTS_02B.read_text(encoding="utf-8"))
    found = {m["key"]: m for m in doc["measurements"]}
    for key, row in summary.items():
        committed = found[f"Table 2.3/{key}/psnr"]
        assert committed["value"] == ini.pm(row["psnr"]), key
        assert all(f"ch2/02b/{key}-seed{k}" in committed["note"] for k in range(quick.seeds)), key
        assert found[f"Table 2.3/{key}/ssim"]["value"] == ini.pm(row["ssim"], 4), key
    for claim in ini.table_2_3_claims(summary):
        assert found[f"claim/{claim['claim']}"]["value"] == claim["verdict"], claim["claim"]


# --- 02c: the quick adversarial stage (generator and discriminator) ------------------------------------------

GAN_NAMES = ["ch2/02c/pcarn-m-gan-seed0", "ch2/02c/pcarn-m-gan-disc-seed0"]
RESULTS_02C = zoo.REPO_ROOT / "figures" / "results" / "02c_pcarn.json"


def _origin(entry):
    return {"zoo": entry.name, "digest": entry.digest}


def test_02c_declares_its_gan_stage_as_two_entries_of_one_run():

    quick = config.PCARN_PROFILES["quick"]
    entries = {e.name: e for e in ch2_zoo.gan_entries()}
    assert list(entries) == GAN_NAMES and set(GAN_NAMES) <= {e.name for e in ch2_zoo.entries()}
    assert [e.name for e in zoo.select(["ch2/02c"])] == GAN_NAMES
    gen, disc = entries.values()
    assert quick.gan_zoo and not config.PCARN_PROFILES["smoke"].gan_zoo and not config.PCARN_PROFILES["full"].gan_zoo
    assert gen.model == "carn_m" and gen.config == pcarn_training.generator_config(quick)
    built = pcarn_training.build_discriminator(quick).config
    assert disc.config == pcarn_training.discriminator_config(quick) == {k: list(v) if isinstance(v, tuple) else v
                                                                 for k, v in built.items()}
    # one run's settings, two parts: the keys differ only in which part (and how it is stored)
    assert gen.digest != disc.digest
    assert {k: v for k, v in gen.key.items() if k not in ("part", "dtype")} == \
        {k: v for k, v in disc.key.items() if k not in ("part", "dtype")}
    assert disc.key["dtype"] == "float16" and gen.key["dtype"] == "float32"
    # it starts from the L1 entry: its name and digest are in the key, as in the notebook's checkpoint name
    l1 = ch2_zoo.main_entry("carn-m-x4", 0)
    assert gen.key["l1"] == _origin(l1) and gen.key["stage"] == "gan" and gen.key["gan"]["steps"] == quick.gan_steps
    assert [zoo.find(ch2_zoo.GANStage(quick, part), 0) for part in ch2_zoo.GAN_PARTS] == [gen, disc]
    images = gen.key["data"]["images"]
    assert {n for n, r in images.items() if r == "test"} == set(HELD_OUT)
    assert not set(HELD_OUT) & set(quick.train_images)


def test_02c_gan_keys_follow_what_shapes_the_weights():

    quick = config.PCARN_PROFILES["quick"]
    origin = _origin(ch2_zoo.main_entry("carn-m-x4", 0))
    key = ch2_zoo.gan_key(quick, 0, origin, "generator")
    assert ch2_zoo.gan_key(dataclasses.replace(quick, gan_checkpoint_every=7, eval_crop=64, crop=32, lpips=False),
                           0, origin, "generator") == key
    for other in (dataclasses.replace(quick, gan_steps=299), dataclasses.replace(quick, lr_d=1e-4),
                  dataclasses.replace(quick, disc_width_divisor=2), dataclasses.replace(quick, patch=16),
                  dataclasses.replace(quick, content_weight=0.0)):
        assert ch2_zoo.gan_key(other, 0, origin, "generator") != key
        assert zoo.find(ch2_zoo.GANStage(other, "generator"), 0) is None
    assert ch2_zoo.gan_key(quick, 1, origin, "generator") != key
    # a rebuilt L1 entry (another digest) is another starting generator: another key
    assert ch2_zoo.gan_key(quick, 0, {**origin, "digest": "0" * 16}, "generator") != key
    with pytest.raises(CompanionError, match="part must be"):
        ch2_zoo.gan_key(quick, 0, origin, "both")


def _tiny_02c(monkeypatch, tmp_path):
    """A tiny 02c quick profile (2 adversarial steps, one 48-px test crop) and a random-weight L1 entry."""
    import torch

    from companion.models import build_model

    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    quick = config.PCARN_PROFILES["quick"]
    cfg = dataclasses.replace(quick, gan_steps=2, gan_batch=2, gan_checkpoint_every=0, eval_images=("rocket",),
                              eval_crop=48, weights=(), lpips=False)
    monkeypatch.setitem(config.PCARN_PROFILES, "quick", cfg)
    l1 = ch2_zoo.main_entry("carn-m-x4", 0)
    torch.manual_seed(7)
    zoo.save_entry(l1, build_model(l1.model, **l1.config), {"steps": 2000, "seconds": 100.0, "val_psnr": 25.0,
                                                             "val": [], "loss_curve": [[2000, 0.05]]})
    return cfg, l1


def test_a_tiny_02c_build_writes_both_entries_and_the_notebook_code_loads_them(tmp_path, monkeypatch):
    import torch
    from safetensors import safe_open

    from conftest import RecordingRun

    cfg, l1 = _tiny_02c(monkeypatch, tmp_path)
    gen_entry, disc_entry = ch2_zoo.gan_entries()
    l1_model, l1_info = pcarn_stages.l1_stage(cfg, 0, progress=False)
    assert l1_info["source"] == "zoo"
    assert pcarn_stages.gan_zoo_entries(cfg, 0, l1_info)[0] is None
    assert "ch2/02c/pcarn-m-gan-seed0 is missing" in pcarn_stages.gan_zoo_entries(cfg, 0, l1_info)[1]

    # one job (named by the generator) writes both entries
    ch2_zoo.build([gen_entry], workers=1, progress=False)
    assert zoo.status(gen_entry) == zoo.status(disc_entry) == "current"
    with safe_open(str(disc_entry.weights_path), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys() if "num_batches" not in k} == {torch.float16}
    meta = zoo.read_sidecar(gen_entry)
    assert meta["steps"] == 2 and len(meta["history"]["d"]) == 2 and meta["l1_origin"] == _origin(l1)
    assert meta["val_images"][0].startswith("coffee") and zoo.read_sidecar(disc_entry)["params"] > 0
    assert (ch2_zoo.work_folder() / "02c" / pcarn_training.checkpoint_path(".", cfg, "gan", 0, _origin(l1)).name).is_file()

    # the notebook code loads them instead of training, and they are what training gives
    pair, reason = pcarn_stages.gan_zoo_entries(cfg, 0, l1_info)
    assert reason == "" and [e.name for e in pair] == GAN_NAMES
    zgen, zinfo = pcarn_stages.gan_stage(cfg, l1_model, l1_info, 0, checkpoint_dir=tmp_path / "nb0", progress=False)
    assert zinfo["source"] == "zoo" and not (tmp_path / "nb0").exists()  # nothing trained
    assert zinfo["checkpoint"] == f"zoo {GAN_NAMES[0]} + {GAN_NAMES[1]}" and zinfo["steps"] == 2
    assert zinfo["disc_params"] == count_disc(cfg) and not zinfo["discriminator"].training
    tgen, tinfo = pcarn_training.finetune_gan(cfg, l1_model, 0, checkpoint_dir=tmp_path / "nb1", progress=False,
                                     l1_origin=l1_info["origin"])
    for a, b in zip(zgen.state_dict().values(), tgen.state_dict().values()):
        assert torch.equal(a, b)
    for (k, a), b in zip(zinfo["discriminator"].state_dict().items(), tinfo["discriminator"].state_dict().values()):
        assert a.dtype == b.dtype, k  # loaded back into float32
        assert torch.equal(a, b.half().to(b.dtype)) if a.is_floating_point() else torch.equal(a, b), k
    assert {k: [float(f"{x:.6g}") for x in v] for k, v in tinfo["history"].items()} == zinfo["history"]

    result = pcarn.run_experiment(cfg, seed=0, checkpoint_dir=tmp_path / "nb2", progress=False)
    assert result["gan"]["source"] == "zoo" and not (tmp_path / "nb2").exists()
    lines = pcarn_report.stage_lines(result)
    assert lines[1].startswith(f"stage 2: adversarial, from the model zoo, zoo {GAN_NAMES[0]} + {GAN_NAMES[1]} "
                               f"(2 steps")
    run = RecordingRun()
    pcarn_report.record_results(run, cfg, result)
    where = {key: w for key, _, w in run.records}
    gan_psnr = where[f"embedded/{config.OURS_GAN}/psnr"]
    assert f"GAN stage: zoo {GAN_NAMES[0]} + {GAN_NAMES[1]}" in gan_psnr["note"]
    assert "stage 2: 2 adversarial steps (from the model zoo), batch 2" in gan_psnr["protocol"]
    trained = pcarn_scores.super_resolve_all({"gan": tgen}, pcarn.test_pairs(cfg), cfg.scale)
    assert np.array_equal(trained["gan"]["rocket"], result["outputs"][config.OURS_GAN]["rocket"])

    # a stale discriminator: the notebook code trains the stage again and says why
    disc_meta = json.loads(disc_entry.sidecar_path.read_text())
    disc_entry.sidecar_path.write_text(json.dumps({**disc_meta, "digest": "0" * 16}))
    stale = pcarn.run_experiment(cfg, seed=0, checkpoint_dir=tmp_path / "nb3", progress=False)
    assert stale["gan"]["source"] == "trained" and "pcarn-m-gan-disc-seed0 is stale" in stale["gan"]["fallback"]
    assert (tmp_path / "nb3" / stale["gan"]["checkpoint"]).is_file()
    assert "stage 2 is trained here instead of taken from the model zoo" in pcarn_report.stage_lines(stale)[1]
    with pytest.raises(CompanionError, match="is stale; rebuild it"):
        pcarn_training.load_gan_from_zoo(cfg, gen_entry, disc_entry)
    # a stage 1 trained here (a stale L1 entry) never takes the zoo's GAN stage
    assert pcarn_stages.gan_zoo_entries(cfg, 0, {"source": "trained", "origin": None})[1].startswith("stage 1 was trained")


def count_disc(cfg) -> int:
    from companion.models.common import count_parameters

    return count_parameters(pcarn_training.build_discriminator(cfg))


def test_a_02c_build_needs_a_current_l1_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    gen_entry = ch2_zoo.gan_entries()[0]
    with pytest.raises(CompanionError, match="starts from ch2/carn-m-x4-seed0, which is missing"):
        ch2_zoo.build_gan_one(gen_entry, 1)


def test_the_committed_02c_gan_stage_loads_strictly_and_scores_what_the_results_say():
    """The committed generator and discriminator, loaded as the notebook loads them: the generator scores the
    committed PSNR / SSIM on the held-out photographs, and the float16-stored discriminator gives Fig. 2.3's
    committed mean probabilities on the committed crop."""

    quick = config.PCARN_PROFILES["quick"]
    gen_entry, disc_entry = ch2_zoo.gan_entries()
    states = {e.name: zoo.status(e) for e in (ch2_zoo.main_entry("carn-m-x4", 0), gen_entry, disc_entry)}
    if set(states.values()) != {"current"}:
        pytest.skip(f"02c's entries are not all current ({states}); `python -m companion zoo build ch2/02c`")
    l1_model, l1_info = pcarn_stages.l1_stage(quick, 0, progress=False)
    pair, reason = pcarn_stages.gan_zoo_entries(quick, 0, l1_info)
    assert reason == "" and pair == (gen_entry, disc_entry)
    model, info = pcarn_training.load_gan_from_zoo(quick, *pair)
    assert info["steps"] == quick.gan_steps == len(info["history"]["d"]) and info["disc_params"] == 999_699
    assert gen_entry.weights_path.stat().st_size < 0.35e6 and disc_entry.weights_path.stat().st_size < 2.1e6
    outputs = pcarn_scores.super_resolve_all({config.OURS_GAN: model}, pcarn.test_pairs(quick), quick.scale)
    scores = pcarn_scores.score_outputs(outputs, quick.scale)
    found = {m["key"]: m["value"] for m in json.loads(RESULTS_02C.read_text(encoding="utf-8"))["measurements"]}
    # The zoo promises the same bits on the same kind of CPU; these weights were scored on another CPU, whose
    # float kernels may round the last bits differently (24.378497 there, 24.378494 here): 1e-4 dB, 1e-6 SSIM.
    assert scores[config.OURS_GAN]["psnr"] == pytest.approx(found[f"embedded/{config.OURS_GAN}/psnr"], abs=1e-4)
    assert scores[config.OURS_GAN]["ssim"] == pytest.approx(found[f"embedded/{config.OURS_GAN}/ssim"], abs=1e-6)
    crops, _ = qualitative.msd_crops(outputs, quick.crop)
    maps = qualitative.msd_maps(info["discriminator"], crops)
    for label in ("HR", config.OURS_GAN):
        assert [round(v, 4) for v in maps[label]["mean"]] == found[f"msd/P(real)/{label}"], label
