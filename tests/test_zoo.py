"""The model zoo: entries, status, safetensors + sidecar, the CLI, and the notebooks' use of it."""
import dataclasses
import json
import re

import pytest
import torch

from companion import zoo
from companion.ch7 import experiments, training, variants
from companion.ch7 import zoo as ch7_zoo
from companion.cli import main
from companion.errors import CompanionError
from companion.models import build_model
from companion.profiles import config_for

pytestmark = pytest.mark.usefixtures("one_thread")

_SMOKE = config_for("07b_mepsnet_training", "smoke")
TINY = dataclasses.replace(_SMOKE, models=("dncnn", "owan"), seeds=1, eval_levels=("moderate",),
                           train=dataclasses.replace(_SMOKE.train, steps=4, val_every=2, checkpoint_every=2))


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    """A zoo folder of its own and a Chapter 7 zoo of two tiny 07b models (smoke data, 4 steps)."""
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("COMPANION_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setattr(ch7_zoo, "GROUPS", {"07b": ("07b_mepsnet_training", TINY)})
    monkeypatch.setattr(zoo, "chapter_zoos", lambda: {"ch7": ch7_zoo})  # the other chapters' zoos stay out
    return tmp_path


def test_chapter_7_declares_the_quick_models_of_its_three_notebooks():
    entries = ch7_zoo.entries()
    names = [e.name for e in entries]
    assert len(names) == len(set(names))
    assert len([n for n in names if n.startswith(("ch7/07b/", "ch7/07c/"))]) == 15 + 12 * 3  # 07b and 07c
    assert len({e.digest for e in entries}) == len(entries)  # each trained model is held once
    assert {e.name for e in entries if e.name.startswith("ch7/07b/")} == {
        f"ch7/07b/{m}-seed{s}" for m in ("dncnn", "vdsr", "owan", "ridnet", "mepsnet") for s in range(3)}
    assert "ch7/07c/mepsnet-experts1-share0-seed2" in names
    # 07d's analysis model is trained exactly like 07b's seed-0 MEPSNet, so the zoo gives it that entry
    notebook_07d, cfg_07d = ch7_zoo.GROUPS["07d"]
    analysis = variants.VariantSpec(variants.analysis_variant(), cfg_07d, 0).zoo_entry(0)
    assert analysis.name == "ch7/07b/mepsnet-seed0" and analysis in entries
    # the one look-up (companion.zoo.find) returns an entry only when it is current
    missing = variants.VariantSpec(variants.analysis_variant(), cfg_07d, 1)  # another data seed: never trained
    assert zoo.status(missing.zoo_entry(0)) == "stale" and zoo.find(missing, 0) is None
    by_name = {e.name: e for e in entries}
    # one model per distinct network: the 07c base MEPSNet keeps Table 7.3's label
    assert by_name["ch7/07c/mepsnet-seed0"].label == "ME+PS (3 experts)"
    # digests follow what shapes the weights: seed and steps do, how often the loop validates does not
    assert by_name["ch7/07b/mepsnet-seed0"].digest != by_name["ch7/07b/mepsnet-seed1"].digest
    assert by_name["ch7/07b/mepsnet-seed0"].digest != by_name["ch7/07c/mepsnet-seed0"].digest
    cfg = ch7_zoo.GROUPS["07b"][1]
    v = variants.Variant("MEPSNet", "mepsnet")
    key = variants.variant_key(v, cfg, 0, 0)
    assert key == variants.variant_key(v, dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, val_every=7)), 0, 0)
    assert key != variants.variant_key(v, dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=7)), 0, 0)
    assert key != variants.variant_key(v, cfg, 0, 1)  # another data seed is another dataset
    # the channel permutation shapes the weights; off, it leaves the key as it was before the option existed
    assert key["permute_channels"] is True
    assert "permute_channels" not in variants.variant_key(v, dataclasses.replace(cfg, permute_channels=False), 0, 0)
    assert key["data"]["images"]["china"] == "test" and key["data"]["images"]["chelsea"] == "val"


def test_an_entry_is_missing_then_current_then_stale(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path))
    entry = ch7_zoo.restore_entry("dncnn")
    assert zoo.status(entry) == "missing"
    with pytest.raises(CompanionError, match="zoo build ch7/07b/dncnn-seed0"):
        zoo.load_entry(entry)
    torch.manual_seed(0)
    model = build_model(entry.model, **entry.config)
    zoo.save_entry(entry, model, {"steps": 5, "seconds": 1.0, "val_psnr": 20.0, "val": [], "loss_curve": []})
    assert zoo.status(entry) == "current"
    loaded, meta = zoo.load_entry(entry)
    assert not loaded.training and meta["steps"] == 5 and meta["model"] == "dncnn" and meta["config"] == entry.config
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    # the sidecar is the one `restore --checkpoint FILE.safetensors` reads
    assert zoo.digest(json.loads(entry.sidecar_path.read_text())["key"]) == entry.digest
    meta = json.loads(entry.sidecar_path.read_text())
    entry.sidecar_path.write_text(json.dumps({**meta, "digest": "0" * 16}))
    assert zoo.status(entry) == "stale"
    entry.sidecar_path.unlink()
    assert zoo.status(entry) == "stale"  # weights without a sidecar: a killed save
    with pytest.raises(CompanionError, match="no zoo entry named ch7/nothing"):
        zoo.select(["ch7/nothing"])
    with pytest.raises(CompanionError, match="no dncnn|choose one of"):
        ch7_zoo.restore_entry("nothing")


def test_zoo_build_trains_what_is_missing_and_notebooks_load_it(tiny_zoo, capsys):
    assert main(["zoo", "list"]) == 0
    assert "2 entries: 0 current, 0 stale, 2 missing" in capsys.readouterr().out
    assert main(["zoo", "build", "ch7/07b/dncnn-seed0", "--workers", "1"]) == 0
    assert "1 entry built" in capsys.readouterr().out
    rows = {r["name"]: r for r in zoo.list_rows()}
    assert rows["ch7/07b/dncnn-seed0"]["status"] == "current" and rows["ch7/07b/owan-seed0"]["status"] == "missing"
    meta = zoo.read_sidecar(ch7_zoo.restore_entry("dncnn"))
    assert meta["steps"] == 4 and [s for s, _ in meta["val"]] == [2, 4] and meta["val_psnr"] == meta["val"][-1][1]
    assert meta["device"].startswith("cpu: ") and meta["commit"] and meta["notebook"] == "07b_mepsnet_training"
    assert main(["zoo", "build", "ch7/07b/dncnn-seed0"]) == 0  # current: nothing to do
    assert "0 entries built" in capsys.readouterr().out

    # a notebook run with the zoo's settings loads it instead of training, and gets the same weights
    @dataclasses.dataclass
    class Run:
        work_dir: object
        seed: int = 0
        device: object = "cpu"

    run = Run(tiny_zoo / "notebook")
    root = training.shdd_root(Run(tiny_zoo / "work"), TINY, progress=False)
    variant = variants.baselines(TINY)[0]
    model, trained = training.train_variant(run, variant, TINY, 0, root, progress=False)
    assert trained.source == "zoo:ch7/07b/dncnn-seed0" and trained.steps_done == 4
    assert not training.checkpoint_path(run, variant, TINY, 0).exists()  # nothing trained
    fresh, again = training.train_variant(run, variant, TINY, 0, root, progress=False, use_zoo=False)
    assert again.val == [tuple(v) for v in meta["val"]] or [round(v, 3) for _, v in again.val] == \
        [v for _, v in meta["val"]]
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)  # the zoo holds exactly what training gives
    # another data seed finds no entry
    _, other = training.train_variant(Run(tiny_zoo / "other", seed=1), variant, TINY, 0, root, progress=False)
    assert not other.source.startswith("zoo:")


def test_zoo_command_errors_are_one_line(tiny_zoo, capsys):
    assert main(["zoo", "build", "ch7/07z"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no zoo entry named ch7/07z" in err
    assert main(["zoo", "build", "--workers", "0"]) == 2


def test_the_committed_zoo_is_complete_current_and_small():
    """Every entry of every chapter ships in checkpoints/ and matches today's settings (a changed config fails
    here until `python -m companion zoo build` retrains it). Chapter 7's models stay within the 25 MB its issue
    allows, Chapter 4's 78 within 48 MB, Chapter 6's within 25 MB, the whole folder within the 110 MB
    benchmarks/README.md states."""
    rows = zoo.list_rows()
    not_current = [f"{r['name']} ({r['status']})" for r in rows if r["status"] != "current"]
    assert not not_current, "rebuild with `python -m companion zoo build`: " + ", ".join(not_current)
    chapter_7 = sum(p.stat().st_size for p in (zoo.zoo_dir() / "ch7").rglob("*") if p.is_file())
    assert 0 < chapter_7 <= 25e6
    chapter_4 = sum(p.stat().st_size for p in (zoo.zoo_dir() / "ch4").rglob("*") if p.is_file())
    assert 0 < chapter_4 <= 48e6
    chapter_6 = sum(p.stat().st_size for p in (zoo.zoo_dir() / "ch6").rglob("*") if p.is_file())
    assert 0 < chapter_6 <= 25e6
    assert zoo.size_bytes() <= 110e6


def test_zoo_build_help_is_its_own_and_cites_the_measured_rebuild_time(capsys, repo):
    assert main(["zoo", "build", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: python -m companion zoo build") and "--force" in text and "--recipe" not in text
    measured = re.search(r"All chapters together: (about [^.]+)\.", (repo / "benchmarks" / "README.md").read_text())
    assert measured, "benchmarks/README.md no longer gives the whole zoo's rebuild time"
    assert f"A full rebuild takes {measured.group(1)} on the 2-core reference machine (benchmarks/README.md" in text


def test_zoo_list_says_what_its_columns_and_labels_mean(capsys):
    assert main(["zoo", "list", "ch7/07c/mepsnet-templates16-seed0"]) == 0
    out = capsys.readouterr().out
    assert "\n1 entry: " in out and "entries" not in out.split("\n1 entry: ")[1].split("\n")[0]
    assert "  ch7/07c  the first 4 images of the validation split (chelsea), moderate level" in out
    assert "  ch7/07c  K = 16: blocks=2, experts=3, share=True, templates=16" in out
    assert main(["zoo", "list", "ch2/02d/g4-seed0", "ch7/07c/mepsnet-blocks6-experts1-seed0"]) == 0
    out = capsys.readouterr().out
    assert "2 entries: " in out and "  ch2/02d  coffee (centre 192 px, RGB PSNR), x4" in out
    assert "  ch2/02d  Fig. 2.8 G4 (quick size, x4): groups=4, recursive=False" in out
    assert "  ch7/07c  1 expert +PS: blocks=6, experts=1, share=True, templates=4" in out


def test_zoo_list_recipe_prints_what_builds_the_entry(capsys):
    assert main(["zoo", "list", "ch7/07b/dncnn-seed0", "--recipe"]) == 0
    [shown] = json.loads(capsys.readouterr().out)
    [entry] = zoo.select(["ch7/07b/dncnn-seed0"])
    assert shown["recipe"] == json.loads(json.dumps(entry.key)) and shown["model"] == "dncnn"
    assert shown["config"] == json.loads(json.dumps(entry.config))
    assert shown["recipe"]["train"]["steps"] == zoo.read_sidecar(entry)["steps"]
    assert shown["status"] == "current" and "chelsea" in shown["validation"]
