"""02c's experiment functions (companion.ch2.pcarn) and figures (companion.ch2.pcarn_figures): profiles, the
narrowed multi-scale discriminator, the two training stages with their checkpoints, scores, LPIPS detection,
the PSD comparison, Fig. 2.5's crop, the authors' weights when present, and the ledger records."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from companion.ch2 import config, pcarn, pcarn_figures, pcarn_report, pcarn_scores, pcarn_stages, pcarn_training
from companion.ch2.evaluation import find_authors_weights
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError
from companion.models.common import count_parameters
from companion.models.discriminators import MultiScaleDiscriminator
from companion.session import NotebookRun
from conftest import REPO, RecordingRun, texture

pytestmark = pytest.mark.usefixtures("one_thread")
SMOKE = config.PCARN_PROFILES["smoke"]
QUICK = config.PCARN_PROFILES["quick"]
#: A very small run: 2 L1 steps and 2 adversarial steps on 8-px LR patches, one 48-px test crop.
TINY = replace(SMOKE, patch=8, pretrain=replace(SMOKE.pretrain, steps=2), gan_steps=2, perceptual="none",
               perceptual_weight=0.0, eval_crop=48, weights=())
SHARED = (REPO / ".." / "shared" / "weights").resolve()


def _authors_present() -> bool:
    return all(find_authors_weights(n, search=[str(SHARED)]).found for n in config.AUTHORS_RELEASES)


# ---------------------------------------------------------------- profiles

def test_profiles_hold_out_the_test_images_and_full_is_the_authors_recipe():
    from companion.ch2 import config

    assert set(config.PCARN_PROFILES) == {"smoke", "quick", "full"}
    assert config.NOTEBOOKS["02c_pcarn"] is config.PCARN_PROFILES
    for cfg in config.PCARN_PROFILES.values():
        assert not set(cfg.train_images) & set(cfg.eval_images)
        assert cfg.disc_factors == (1, 2, 4) and cfg.scale == 4
    quick, full = config.PCARN_PROFILES["quick"], config.PCARN_PROFILES["full"]
    assert quick.eval_images == config.HELD_OUT and quick.required_folders() == ()
    assert full.size == "paper" and full.disc_width_divisor == 1 and full.perceptual == "vgg19"
    assert (full.adversarial_weight, full.perceptual_weight, full.content_weight) == (5e-3, 1.0, 0.0)
    assert (full.lr_g, full.lr_d, full.grad_clip, full.gan_steps) == (1e-4, 1e-4, 10.0, 200_000)
    assert full.pretrain.steps == 600_000 and full.pretrain.batch_size == 64 and full.patch == 48
    assert full.required_folders() == ("DIV2K", "benchmark/Set5", "benchmark/Set14", "benchmark/B100",
                                       "benchmark/Urban100")


def test_the_profiles_module_imports_no_pytorch():
    """companion.ch2.config holds every Chapter 2 profile; the profile discovery imports it and must stay fast."""
    code = "import sys, companion.ch2.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_gan_settings_follow_the_profile():
    g = pcarn_training.gan_settings(config.PCARN_PROFILES["quick"], seed=3)
    assert g.seed == 3 and g.perceptual_weight == 0.0 and g.content_weight == 1e-2 and g.adversarial_weight == 5e-3
    g.check()
    full = pcarn_training.gan_settings(config.PCARN_PROFILES["full"], seed=0)
    assert full.perceptual_weight == 1.0 and full.content_weight == 0.0 and full.batch_size == 32


# ---------------------------------------------------------------- models

def test_narrow_discriminator_keeps_fig_2_1s_shape_at_a_fraction_of_the_width():
    full = MultiScaleDiscriminator()
    narrow = pcarn_training.build_discriminator(config.PCARN_PROFILES["quick"])
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        a, b = full.eval()(x), narrow.eval()(x)
    assert [t.shape for t in a] == [t.shape for t in b] == [(2, 1, 12, 12), (2, 1, 6, 6), (2, 1, 3, 3)]
    convs = [m for m in narrow.discriminators[0].body if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 16, 32, 32, 64, 64, 128, 128, 1]
    assert [c.kernel_size[0] for c in convs] == [3, 4, 3, 4, 3, 4, 3, 3, 3]
    assert 12 < count_parameters(full) / count_parameters(narrow) < 17
    same = pcarn_training.build_discriminator(replace(SMOKE, disc_width_divisor=1))
    assert count_parameters(same) == count_parameters(full)
    with pytest.raises(CompanionError, match="must divide every width"):
        pcarn_training.build_discriminator(replace(SMOKE, disc_width_divisor=3))


def test_the_generator_is_single_scale_carn_m_in_the_thesis_reading():
    g = pcarn_training.build_generator(SMOKE)
    assert g.config["reading"] == "thesis" and g.config["scales"] == (4,) and g.config["channels"] == 32
    assert g(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)


def test_perceptual_loss_choices(monkeypatch, tmp_path):
    from companion.engine.perceptual import VGGLoss

    assert pcarn_training.perceptual_loss(TINY) is None
    assert isinstance(pcarn_training.perceptual_loss(replace(TINY, perceptual="random")), VGGLoss)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(CompanionError, match="VGG19 weights not found.*never downloads"):
        pcarn_training.perceptual_loss(replace(TINY, perceptual="vgg19"), data_root=tmp_path)
    with pytest.raises(CompanionError, match="choose one of none, vgg19, random"):
        pcarn_training.perceptual_loss(replace(TINY, perceptual="lpips"))


# ---------------------------------------------------------------- data and training

def test_a_test_image_among_the_training_images_is_refused():
    with pytest.raises(CompanionError, match=r"\['rocket'\] are also training images"):
        pcarn_training.training_patches(replace(TINY, train_images=("astronaut", "rocket")), seed=0)


def test_checkpoint_names_follow_the_settings(tmp_path):
    a = pcarn_training.checkpoint_path(tmp_path, TINY, "l1", 0)
    assert a.name.startswith("pcarn_m-l1-seed0-") and a.suffix == ".pt"
    assert pcarn_training.checkpoint_path(tmp_path, TINY, "l1", 1) != a
    assert pcarn_training.checkpoint_path(tmp_path, replace(TINY, gan_steps=9), "l1", 0) == a  # the GAN stage is not L1's
    g = pcarn_training.checkpoint_path(tmp_path, TINY, "gan", 0)
    assert pcarn_training.checkpoint_path(tmp_path, replace(TINY, gan_steps=9), "gan", 0) != g
    longer_l1 = replace(TINY, pretrain=replace(TINY.pretrain, steps=5))
    assert pcarn_training.checkpoint_path(tmp_path, longer_l1, "gan", 0) != g  # it starts from another generator
    with pytest.raises(CompanionError, match="stage must be"):
        pcarn_training.run_settings(TINY, "vgg", 0)
    zoo_start = pcarn_training.checkpoint_path(tmp_path, TINY, "gan", 0, {"zoo": "ch2/x-seed0", "digest": "0" * 16})
    assert zoo_start != g  # a generator from the zoo is another starting point
    assert pcarn_training.checkpoint_path(tmp_path, TINY, "l1", 0, {"zoo": "ch2/x-seed0", "digest": "0" * 16}) == a


def test_two_stages_train_checkpoint_and_rerun_only_evaluates(tmp_path):
    l1, l1_info = pcarn_training.pretrain_l1(TINY, 0, checkpoint_dir=tmp_path, progress=False)
    l1_state = {k: v.clone() for k, v in l1.state_dict().items()}
    gan, gan_info = pcarn_training.finetune_gan(TINY, l1, 0, checkpoint_dir=tmp_path, progress=False)
    assert l1_info["steps"] == 2 and len(l1_info["losses"]) == 2 and all(np.isfinite(l1_info["losses"]))
    assert gan_info["steps"] == 2 and set(gan_info["history"]) >= {"d", "g", "d_real", "d_fake"}
    assert (tmp_path / l1_info["checkpoint"]).is_file() and (tmp_path / gan_info["checkpoint"]).is_file()
    assert all(torch.equal(v, l1.state_dict()[k]) for k, v in l1_state.items())  # fine-tuning works on a copy
    assert any(not torch.equal(v, gan.state_dict()[k]) for k, v in l1_state.items())
    assert not l1.training and not gan.training
    # A rerun with the same settings loads both and trains nothing.
    l1b, info_b = pcarn_training.pretrain_l1(TINY, 0, checkpoint_dir=tmp_path, progress=False)
    ganb, gan_b = pcarn_training.finetune_gan(TINY, l1b, 0, checkpoint_dir=tmp_path, progress=False)
    assert info_b["losses"] == l1_info["losses"] and gan_b["history"] == gan_info["history"]
    assert all(torch.equal(v, ganb.state_dict()[k]) for k, v in gan.state_dict().items())


# ---------------------------------------------------------------- stage 1 from the model zoo

def test_quick_takes_stage_1_from_the_zoos_carn_m_and_its_config_matches_that_entry():
    """The quick profile builds what ch2/carn-m-x4-seed0 holds (network, photographs, patch, held-out images);
    smoke and full always train their L1 stage. A changed profile or zoo declaration fails here."""
    from companion.ch2 import training
    from companion.ch2 import zoo as ch2_zoo

    assert QUICK.train_images == config.FIT_IMAGES
    assert QUICK.l1_zoo == config.ZOO_L1 == "ch2/carn-m-x4" and SMOKE.l1_zoo == config.PCARN_PROFILES["full"].l1_zoo == ""
    assert pcarn_stages.l1_zoo_entry(SMOKE, 0) == (None, "")
    entry = ch2_zoo.main_entry("carn-m-x4", 0)
    assert pcarn_stages.zoo_mismatch(QUICK, entry, 0) == ""
    assert entry.config == pcarn_training.generator_config(QUICK) == {
        k: list(v) if isinstance(v, tuple) else v for k, v in pcarn_training.build_generator(QUICK).config.items()}
    assert "training photographs" in pcarn_stages.zoo_mismatch(replace(QUICK, train_images=config.SEEN_IMAGES), entry, 0)
    assert "network configuration" in pcarn_stages.zoo_mismatch(replace(QUICK, size="paper"), entry, 0)
    assert "seed" in pcarn_stages.zoo_mismatch(QUICK, entry, 1)
    assert "patch" in pcarn_stages.zoo_mismatch(replace(QUICK, patch=12), entry, 0)
    assert "did not hold out" in pcarn_stages.zoo_mismatch(replace(QUICK, eval_images=("coffee",)), entry, 0)


def test_quick_uses_a_current_zoo_entry_and_falls_back_to_training_without_one(tmp_path, monkeypatch):
    from companion import zoo
    from companion.ch2 import zoo as ch2_zoo
    from companion.models import build_model

    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "zoo"))
    cfg = replace(QUICK, pretrain=replace(QUICK.pretrain, steps=2), gan_steps=2, gan_batch=2, gan_checkpoint_every=0,
                  eval_images=("rocket",), eval_crop=48, weights=(), lpips=False)
    entry = ch2_zoo.main_entry("carn-m-x4", 0)

    # no zoo: stage 1 is trained with cfg.pretrain, and the result says why
    assert pcarn_stages.l1_zoo_entry(cfg, 0)[0] is None and "missing" in pcarn_stages.l1_zoo_entry(cfg, 0)[1]
    trained = pcarn.run_experiment(cfg, seed=0, checkpoint_dir=tmp_path / "a", progress=False)
    assert trained["l1"]["source"] == "trained" and trained["l1"]["steps"] == 2
    assert "ch2/carn-m-x4-seed0 is missing" in trained["l1"]["fallback"]
    assert "instead of taken from the model zoo" in pcarn_report.stage_lines(trained)[0]

    # a current entry: loaded (exactly its weights), not trained; the GAN stage starts from it
    torch.manual_seed(7)
    model = build_model(entry.model, **entry.config)
    zoo.save_entry(entry, model, {"steps": 2000, "seconds": 100.0, "val_psnr": 25.0, "val": [],
                                  "val_images": ["coffee (centre 192 px, RGB PSNR)"],
                                  "loss_curve": [[50, 0.2], [2000, 0.05]]})
    found, reason = pcarn_stages.l1_zoo_entry(cfg, 0)
    assert found.name == "ch2/carn-m-x4-seed0" and reason == ""
    l1, info = pcarn_stages.l1_stage(cfg, 0, checkpoint_dir=tmp_path / "b", progress=False)
    assert info["source"] == "zoo" and info["checkpoint"] == "zoo ch2/carn-m-x4-seed0" and info["steps"] == 2000
    assert all(torch.equal(v, l1.state_dict()[k]) for k, v in model.state_dict().items())
    assert not (tmp_path / "b").exists()  # nothing trained
    result = pcarn.run_experiment(cfg, seed=0, checkpoint_dir=tmp_path / "a", progress=False)
    assert result["l1"]["source"] == "zoo" and result["gan"]["checkpoint"] != trained["gan"]["checkpoint"]
    lines = pcarn_report.stage_lines(result)
    assert lines[0].startswith("stage 1: L1 from the model zoo, zoo ch2/carn-m-x4-seed0 (2000 steps")
    run = RecordingRun()
    pcarn_report.record_results(run, cfg, result)
    where = {key: w for key, _, w in run.records}
    l1_psnr = where[f"embedded/{config.OURS_L1}/psnr"]
    assert "L1 stage: zoo ch2/carn-m-x4-seed0" in l1_psnr["note"]
    assert "stage 1: L1 from the model zoo, 2000 steps" in l1_psnr["protocol"]
    assert "halved at 1200, 1600 (checkpoint zoo ch2/carn-m-x4-seed0)" in l1_psnr["protocol"]

    # a stale entry (trained with other settings) or another seed: trained again, with the reason
    meta = json.loads(entry.sidecar_path.read_text())
    entry.sidecar_path.write_text(json.dumps({**meta, "digest": "0" * 16}))
    assert "ch2/carn-m-x4-seed0 is stale" in pcarn_stages.l1_zoo_entry(cfg, 0)[1]
    assert pcarn_stages.l1_zoo_entry(cfg, 1) == (None, "the model zoo declares no ch2/carn-m-x4-seed1")


# ---------------------------------------------------------------- outputs, scores, PSD

def _outputs():
    """Synthetic outputs of one 96-px image: HR, a blurred copy, a noisy copy."""
    from skimage.filters import gaussian

    hr = texture(96, 96, seed=1, freq=(0.3, 1.2), uint8=False)
    rng = np.random.default_rng(0)
    blurred = gaussian(hr, sigma=1.5, channel_axis=-1).astype(np.float32)
    noisy = np.clip(hr + rng.normal(0, 0.08, hr.shape), 0, 1).astype(np.float32)
    return {"bicubic": {"img": blurred}, "noisy": {"img": noisy}, "exact": {"img": hr.copy()}, "HR": {"img": hr}}


def test_psd_comparison_puts_blur_below_hr_and_noise_above():
    psd = pcarn_scores.psd_comparison(_outputs())
    r = psd["mean_high_band"]
    assert r["exact"] == pytest.approx(0.0, abs=1e-9)
    assert r["bicubic"] < -0.5 and r["noisy"] > 0.2
    m = psd["mean_high_band_median"]
    assert m["exact"] == pytest.approx(0.0, abs=1e-9) and m["bicubic"] < -0.5 and m["noisy"] > 0.2
    freqs, power = psd["curves"]["img"]["HR"]
    assert freqs.shape == power.shape == (48,) and psd["band"] == pcarn_scores.HIGH_BAND


def test_a_checkerboard_raises_the_mean_high_band_power_but_not_the_median_ring():
    """A sub-pixel upsampler's periodic artefact puts power in a few rings (1/4 and 1/2 cycles/pixel at x4): the
    band's mean power counts it as detail, the median ring does not."""
    outputs = _outputs()
    blurred = outputs["bicubic"]["img"]
    yy, xx = np.mgrid[:96, :96]
    grid = 0.04 * (np.cos(np.pi * xx / 2) + np.cos(np.pi * yy))[..., None]
    outputs["checker"] = {"img": np.clip(blurred + grid, 0, 1).astype(np.float32)}
    psd = pcarn_scores.psd_comparison(outputs)
    mean, median = psd["mean_high_band"], psd["mean_high_band_median"]
    assert mean["checker"] > mean["bicubic"] + 0.5
    assert median["checker"] == pytest.approx(median["bicubic"], abs=0.1)


def test_score_outputs_uses_the_sr_protocol_and_an_optional_lpips():
    from companion.metrics import sr_scores

    outputs = _outputs()
    scores = pcarn_scores.score_outputs(outputs, 4)
    assert "HR" not in scores and scores["exact"]["ssim"] == pytest.approx(1.0)
    assert scores["bicubic"]["psnr"] == pytest.approx(sr_scores(outputs["bicubic"]["img"], outputs["HR"]["img"], 4)["psnr"])
    assert scores["noisy"]["lpips"] is None and scores["noisy"]["protocol"]["channel"] == "y"

    def fake_lpips(a, b):  # B×3×H×W in [0, 1], as torchmetrics' LPIPS takes them
        assert a.shape == b.shape and a.ndim == 4 and a.shape[1] == 3
        return (a - b).abs().mean()

    scored = pcarn_scores.score_outputs(outputs, 4, lpips=fake_lpips)
    assert scored["exact"]["lpips"] == 0.0 < scored["noisy"]["lpips"]


def test_lpips_is_skipped_with_a_reason_and_never_downloads(monkeypatch, tmp_path):
    assert pcarn_scores.lpips_metric(enabled=False) == (None, "LPIPS is off in this profile")
    monkeypatch.setitem(sys.modules, "torchmetrics", None)
    monkeypatch.setitem(sys.modules, "torchmetrics.image", None)
    monkeypatch.setitem(sys.modules, "torchmetrics.image.lpip", None)
    metric, reason = pcarn_scores.lpips_metric()
    assert metric is None and "torchmetrics package is not installed" in reason and "\n" not in reason


def test_lpips_without_its_alexnet_weights_says_where_they_go(monkeypatch, tmp_path):
    pytest.importorskip("torchmetrics", reason="torchmetrics is not installed here; the other test covers that path")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    metric, reason = pcarn_scores.lpips_metric()
    assert metric is None and "alexnet-owt-7be5be79.pth" in reason and "never downloads" in reason


def test_lpips_is_built_from_weights_already_in_the_hub_cache(monkeypatch, tmp_path):
    """With torchmetrics installed and an AlexNet file where torchvision's cache keeps it, the metric is built
    from that file (here random weights: the values mean nothing, the code path is what is tested)."""
    pytest.importorskip("torchmetrics", reason="torchmetrics is not installed here (it is optional)")
    import torchvision

    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), hub / "checkpoints" / "alexnet-owt-7be5be79.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    metric, reason = pcarn_scores.lpips_metric()
    assert metric is not None and reason == ""
    outputs = _outputs()
    scores = pcarn_scores.score_outputs(outputs, 4, lpips=metric)
    assert scores["exact"]["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert scores["noisy"]["lpips"] > 0


def test_textured_crop_finds_the_detailed_square():
    hr = np.full((128, 160, 3), 0.5, np.float32)
    hr[64:96, 96:128] = texture(32, 32, seed=2, freq=(1.0, 2.0), uint8=False)
    top, left, side = pcarn_scores.textured_crop(hr, 32)
    assert side == 32 and (top, left) == (64, 96)
    assert pcarn_scores.textured_crop(hr[:20, :20], 32)[2] == 20  # never larger than the image


def test_run_experiment_end_to_end_and_its_records(tmp_path):
    torch.set_num_threads(2)
    result = pcarn.run_experiment(TINY, seed=0, checkpoint_dir=tmp_path, progress=False)
    assert torch.get_num_threads() == 2  # cfg.cpu_threads applied during the run only
    assert result["l1"]["source"] == "trained" and result["l1"]["fallback"] == ""  # smoke never asks the zoo
    assert list(result["scores"]) == ["bicubic", config.OURS_L1, config.OURS_GAN]
    assert result["pairs"] == [("rocket", (12, 12, 3), (48, 48, 3))]
    assert set(result["psd"]["mean_high_band"]) == {"bicubic", config.OURS_L1, config.OURS_GAN}
    run = RecordingRun()
    lines = pcarn_report.record_results(run, TINY, result)
    where = {key: w for key, _, w in run.records}
    assert (where[f"embedded/{config.OURS_L1}/psnr"]["entry"], where[f"embedded/{config.OURS_L1}/psnr"]["row"]) == \
        ("Table 2.2", "CARN (L1)")
    assert where[f"embedded/{config.OURS_GAN}/ssim"]["row"] == "+MSD"
    assert "not a paper test set" in where[f"embedded/{config.OURS_GAN}/ssim"]["note"]
    assert where[f"psd_high_band/{config.OURS_GAN}"]["entry"] == "Figure 2.5"
    protocol = where[f"embedded/{config.OURS_GAN}/psnr"]["protocol"]
    assert "rocket" in protocol and "seed 0" in protocol and result["gan"]["checkpoint"] in protocol
    assert len(lines) == 2 and "PSD" in lines[1]
    assert "| bicubic |" in pcarn_report.scores_table(result["scores"]) and "rocket" in pcarn_report.psd_table(result["psd"])


def test_authors_records_go_beside_tables_2_5_and_2_7_on_a_paper_set(monkeypatch):
    scores = {m: {"psnr": 30.0, "ssim": 0.8, "lpips": 0.1, "per_image": {}, "protocol": {}}
              for m in ("bicubic", config.OURS_L1, config.OURS_GAN, "PCARN-M (L1), authors'", "PCARN-M, authors'")}
    result = {"sets": {"Set14": scores}, "seed": 0, "psd": {"band": (0.25, 0.5), "mean_high_band": {"x": 0.0},
                                                             "mean_high_band_median": {"x": 0.0}},
              "l1": {"steps": 1, "checkpoint": "a.pt"}, "gan": {"steps": 1, "checkpoint": "b.pt"}}
    cfg = replace(config.PCARN_PROFILES["full"], eval_set="Set14")
    run = RecordingRun()
    monkeypatch.setattr(pcarn_report, "protocol_line", lambda *a, **k: "protocol")
    pcarn_report.record_results(run, cfg, result)
    where = {key: w for key, _, w in run.records}
    assert where["Set14/PCARN-M, authors'/lpips"]["entry"] == "Table 2.5"
    assert where["Set14/PCARN-M, authors'/lpips"]["column"] == "Set14 LPIPS"
    assert where["Set14/PCARN-M, authors'/psnr"]["entry"] == "Table 2.7"
    assert where["Set14/PCARN-M, authors'/ssim"]["column"] == "Set14 SSIM"
    assert where["Set14/PCARN-M (L1), authors'/psnr"]["entry"] == "Figure 2.5"
    assert where[f"Set14/{config.OURS_GAN}/lpips"]["column"] == "LPIPS"
    from companion.ledger import load_paper

    tables = {e["id"]: e for e in load_paper()}
    for key, w in where.items():
        if w.get("column"):
            assert w["column"] in tables[w["entry"]]["columns"], key
        if w.get("row"):
            assert any(r["label"] == w["row"] for r in tables[w["entry"]]["rows"]), key


@pytest.mark.skipif(not _authors_present(), reason="the authors' PCARN-M files are not in ../shared/weights "
                                                   "(developers only; users fetch them with `python -m companion download`)")
def test_the_authors_gan_generator_has_more_high_frequency_power_than_their_l1_one():
    """Fig. 2.5's point on the released weights: on a held-out photograph, PCARN-M's output is closer to the HR
    image's high-frequency power than PCARN-M (L1)'s, and lower in PSNR."""
    cfg = replace(SMOKE, weights_search=(str(SHARED),), eval_crop=128, eval_images=("flower",))
    models, missing = pcarn.authors_models(cfg)
    assert not missing and set(models) == {"PCARN-M (L1), authors'", "PCARN-M, authors'"}
    outputs = pcarn_scores.super_resolve_all(models, pcarn.test_pairs(cfg), 4)
    psd = pcarn_scores.psd_comparison(outputs)["mean_high_band"]
    scores = pcarn_scores.score_outputs(outputs, 4)
    assert psd["PCARN-M (L1), authors'"] < psd["PCARN-M, authors'"] <= 0.3
    assert scores["PCARN-M, authors'"]["psnr"] < scores["PCARN-M (L1), authors'"]["psnr"]


def test_missing_authors_weights_are_reasons_not_errors(tmp_path):
    models, missing = pcarn.authors_models(replace(SMOKE, weights_search=()), data_root=tmp_path)
    assert models == {} and len(missing) == 2
    assert all("python -m companion download" in m and "\n" not in m for m in missing)


# ---------------------------------------------------------------- figures

@pytest.fixture
def figure_run(tmp_path):
    yield NotebookRun(notebook="test_pcarn", profile="smoke", seed=0, device="cpu", config=None,
                      figures_dir=tmp_path, commit="test")


def _dpi(path: Path) -> float:
    return Image.open(path).info["dpi"][0]


def test_figures_are_saved_with_provenance(figure_run, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    outputs = _outputs()
    scores = pcarn_scores.score_outputs(outputs, 4)
    pcarn_figures.fig2_5_crops(figure_run, outputs, scores, crop=32)
    pcarn_figures.pcarn_psd(figure_run, pcarn_scores.psd_comparison(outputs))
    history = {k: list(np.linspace(2.0, 1.0, 20)) for k in ("d", "g", "g_adv", "g_perc", "g_content")}
    history.update(d_real=[0.6] * 20, d_fake=[0.4] * 20)
    pcarn_figures.pcarn_training(figure_run, {"losses": list(np.linspace(0.1, 0.05, 30)), "steps": 30},
                                 {"history": history, "steps": 20}, scales=3)
    zoo_l1 = {"losses": [], "loss_curve": [[50, 0.2], [100, 0.1], [2000, 0.05]], "steps": 2000,
              "checkpoint": "zoo ch2/carn-m-x4-seed0"}
    pcarn_figures.pcarn_training(figure_run, zoo_l1, {"history": history, "steps": 20}, scales=3,
                                 name="pcarn_training_zoo")
    names = [f["name"] for f in figure_run.figures]
    assert names == ["fig2_5_crops", "fig2_5_psd", "pcarn_training", "pcarn_training_zoo"]
    assert [f["entry"] for f in figure_run.figures] == ["Figure 2.5", "Figure 2.5", "Table 2.2", "Table 2.2"]
    for name in names:
        png = tmp_path / f"{name}.png"
        assert _dpi(png) >= 149.9
        assert json.loads(Image.open(png).text["Comment"])["notebook"] == "test_pcarn"


def test_the_results_record_the_l1_recipe_that_ran():
    """Stage 1 from the zoo: the results file's config holds that entry's recipe (2,000 steps of QUICK_RECIPE, read
    from its sidecar), not the profile's 500-step fallback; a stage trained here keeps the profile's."""
    from companion import zoo
    from companion.ch2 import zoo as ch2_zoo

    entry = ch2_zoo.main_entry("carn-m-x4", 0)
    if zoo.status(entry) != "current":
        pytest.skip(f"{entry.name} is {zoo.status(entry)}")
    _, info = pcarn_training.load_l1_from_zoo(entry)
    ran = pcarn_stages.config_that_ran(QUICK, {"l1": info})
    assert QUICK.pretrain.steps == 500 and ran.pretrain.steps == 2000
    assert ran.pretrain == replace(config.QUICK_RECIPE, val_every=0, checkpoint_every=0)
    assert replace(ran, pretrain=QUICK.pretrain) == QUICK
    assert pcarn_stages.config_that_ran(QUICK, {"l1": {"source": "trained"}}) is QUICK


def test_the_discriminator_takes_a_width_divisor_and_the_quick_one_draws_the_zoos_stream():
    """models.discriminators has a width argument; build_discriminator's narrowed network under a seed holds the
    weights the old rebuilding of ``patch.body`` gave (full-width draws first), so the zoo's 02c run is
    reproducible."""
    from companion.models.discriminators import PatchDiscriminator

    narrow = PatchDiscriminator(width_divisor=4)
    assert [m.out_channels for m in narrow.body if isinstance(m, torch.nn.Conv2d)] == [16, 16, 32, 32, 64, 64, 128,
                                                                                        128, 1]
    assert narrow.config["width_divisor"] == 4 and "width_divisor" not in PatchDiscriminator().config
    with pytest.raises(ValueError, match="must divide every width"):
        PatchDiscriminator(width_divisor=5)
    torch.manual_seed(3)
    built = pcarn_training.build_discriminator(QUICK)
    torch.manual_seed(3)
    MultiScaleDiscriminator(QUICK.disc_factors)
    again = MultiScaleDiscriminator(QUICK.disc_factors, width_divisor=QUICK.disc_width_divisor)
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), again.state_dict().values()))
    assert built.config == {**MultiScaleDiscriminator().config, "width_divisor": 4}
