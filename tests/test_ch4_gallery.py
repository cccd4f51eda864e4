"""04a_augmentations: the gallery of Fig. 4.1, the property checks of Table 4.1 (they pass on the real
augmentations and fail on broken ones), the ledger records, the explorer's headless fallback, the conclusions."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

matplotlib.use("Agg")

from companion.ch4 import conclusions, figures, gallery  # noqa: E402
from companion.ch4.config import AUGMENTATIONS_SMOKE  # noqa: E402
from companion.data import augments  # noqa: E402
from companion.data.augments import AUGMENTATIONS, AugmentedBatch, DEFAULT_ALPHAS  # noqa: E402
from companion.session import start  # noqa: E402

SPEC = replace(AUGMENTATIONS_SMOKE, draws=24)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checks():
    return gallery.measure_properties(SPEC, progress=False)


def test_every_property_holds_on_the_real_augmentations(checks):
    failed = [(c.augmentation, c.prop, c.measured, c.expected, c.detail) for c in checks if not c.holds]
    assert not failed, failed
    names = {c.augmentation for c in checks}
    assert set(AUGMENTATIONS) | {f"moa:{p}" for p in augments.PRESETS} == names
    for name in AUGMENTATIONS:
        kinds = {c.kind for c in checks if c.augmentation == name}
        assert kinds == {"every draw", "rate"}, name
    estimated = {c.augmentation for c in checks if c.estimates_alpha}
    assert estimated == {"cutblur", "cutout", "mixup", "blend", "cutmix", "cutmixup"}


def test_the_checks_are_reproducible_and_seeded(checks):
    again = gallery.measure_properties(SPEC, progress=False)
    assert [c.measured for c in again] == [c.measured for c in checks]
    other = gallery.measure_properties(SPEC, seed=5, progress=False)
    assert [c.measured for c in other] != [c.measured for c in checks]


def _broken_cutblur(lq, hq, *, alpha, generator):
    out = augments.cutblur(lq, hq, alpha=alpha, generator=generator)
    return AugmentedBatch(0.5 * (out.lq + hq), hq * 0.99, None, "cutblur", out.box)   # new pixels, target changed


def _doubled_cutout(lq, hq, *, alpha, generator):
    return augments.cutout(lq, hq, alpha=min(0.5, 3 * alpha), generator=generator)


def _extrapolating_mixup(lq, hq, *, alpha, generator):
    partner = torch.arange(lq.shape[0]).roll(1)
    lam = 1.5                                                   # outside [0, 1]: not a convex mixture
    return AugmentedBatch(lam * lq + (1 - lam) * lq[partner], lam * hq + (1 - lam) * hq[partner], None, "mixup")


def _small_boxes(lq, hq, *, alpha, generator):
    return augments.cutmix(lq, hq, alpha=alpha - 0.1, generator=generator)


def _check(checks, name, words):
    [found] = [c for c in checks if c.augmentation == name and words in c.prop]
    return found


@pytest.mark.parametrize("name, broken, failing", [
    ("cutblur", _broken_cutblur, ["target", "composite", "every input pixel"]),
    ("cutout", _doubled_cutout, ["drop rate"]),
    ("mixup", _extrapolating_mixup, ["convex"]),
    ("cutmix", _small_boxes, ["side ratio"]),
])
def test_the_checks_fail_on_a_broken_augmentation(monkeypatch, name, broken, failing):
    monkeypatch.setitem(augments.FUNCTIONS, name, broken)
    spec = replace(SPEC, draws=40, crop=128, batch=8)
    found = gallery.measure_properties(spec, progress=False)
    for words in failing:
        check = _check(found, name, words)
        assert not check.holds, (name, words, check)


def test_moa_frequencies_fail_when_p_is_not_the_presets(monkeypatch):
    preset = augments.PRESETS["restoration"]
    wrong = augments.Augmentation(names=preset.names, ratios=preset.ratios, prob=0.2, alphas=preset.alphas)
    real_augment = gallery.augment_batch

    def augment(lq, hq, augmentation, *, generator):
        return real_augment(lq, hq, wrong if augmentation == preset else augmentation, generator=generator)
    monkeypatch.setattr(gallery, "augment_batch", augment)
    found = gallery.measure_properties(replace(SPEC, draws=150), progress=False)
    assert not _check(found, "moa:restoration", "restoration").holds
    assert _check(found, "moa:sr", "'sr'").holds


def test_box_sides_is_a_distribution_a_floor_below_alpha():
    ratios, probs = gallery.box_sides(96, 0.7)
    assert probs.sum() == pytest.approx(1.0, abs=1e-12) and (probs >= 0).all()
    mean, variance = gallery.moments(ratios, probs)
    assert 0.7 - 1 / 96 < mean < 0.7 and variance > 0
    area, _ = gallery.moments(ratios ** 2, probs)
    assert area == pytest.approx(mean ** 2 + variance)
    assert 0.47 < area < 0.49                              # the digest's "≈ 0.49", just below α² (whole pixels)
    clipped, p = gallery.box_sides(16, 0.999)
    assert p.sum() == pytest.approx(1.0) and p[-1] > 0.4   # r ≥ 1 is clipped to the whole patch


def test_beta_moments_give_back_alpha():
    for alpha in (0.4, 1.2, 3.0):
        mean_square, variance = gallery._beta_square_moments(alpha)
        assert gallery._moment_to_alpha(mean_square, 0.0)[0] == pytest.approx(alpha, rel=1e-6)
        draws = (np.random.default_rng(0).beta(alpha, alpha, 200_000) - 0.5) ** 2
        assert draws.mean() == pytest.approx(mean_square, rel=0.02) and draws.var() == pytest.approx(variance, rel=0.05)


def test_mix_fit_finds_partner_and_lambda():
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    partner = torch.tensor([3, 0, 4, 1, 2])
    out = 0.3 * x + 0.7 * x[partner]
    found, lam, residual = gallery._mix_fit(out, x)
    assert torch.equal(found, partner) and torch.allclose(lam, torch.full((5,), 0.3, dtype=torch.float64))
    assert float(residual.max()) < 1e-6


def test_gallery_applies_each_augmentation_once():
    examples = gallery.gallery(SPEC)
    assert list(examples) == ["original", *AUGMENTATIONS]
    lq, hq = gallery.example_pair(SPEC.image, SPEC.crop, SPEC.scale)
    side = hq.shape[0]
    assert np.array_equal(examples["original"].input, lq) and np.array_equal(examples["original"].target, hq)
    assert np.array_equal(examples["cutblur"].target, hq)           # CutBlur never changes the target
    assert examples["cutout"].loss_mask is not None and examples["cutout"].loss_mask.shape == (side, side)
    for name in ("cutblur", "cutmix", "cutmixup"):
        assert examples[name].box is not None
    assert not np.array_equal(examples["mixup"].input, examples["original"].input)
    again = gallery.gallery(SPEC)
    assert all(np.array_equal(again[k].input, examples[k].input) for k in examples)
    moa = gallery.apply_one(SPEC, "moa", prob=0.0)
    assert moa.applied == "none" and np.array_equal(moa.input, examples["original"].input)
    with pytest.raises(gallery.CompanionError, match="unknown augmentation"):
        gallery.apply_one(SPEC, "shakedrop")


def test_patch_batches_refuse_a_patch_that_does_not_fit():
    with pytest.raises(gallery.CompanionError, match="multiple of the scale"):
        next(gallery.patch_batches(replace(SPEC, patch=30), torch.Generator().manual_seed(0)))
    with pytest.raises(gallery.CompanionError, match="fewer than the batch"):
        next(gallery.patch_batches(replace(SPEC, patch=96, crop=96), torch.Generator().manual_seed(0)))


def test_explorer_draws_one_static_figure_without_a_frontend():
    assert not gallery.has_frontend()
    fig = gallery.explorer(SPEC, figures.explorer_figure)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 2


def test_has_frontend_reads_the_kernels_parent(monkeypatch):
    import IPython

    class ZMQInteractiveShell:   # the name ipykernel's shell has
        pass
    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell())
    monkeypatch.setattr(gallery, "_parent_command", lambda: "/usr/bin/python -m jupyter lab")
    assert gallery.has_frontend()
    for parent in ("python -m papermill in.ipynb out.ipynb", "python -m companion run 04a", "pytest --nbval-lax"):
        monkeypatch.setattr(gallery, "_parent_command", lambda parent=parent: parent)
        assert not gallery.has_frontend(), parent


def _paper_rows(entry: str) -> set[str]:
    paper = json.loads((REPO / "companion" / "paper" / "thesis.json").read_text())
    [found] = [e for e in paper["entries"] if e["id"] == entry]
    return {r["label"] for r in found["rows"]}


def test_records_sit_beside_table_4_1(checks, tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    run = start("04a_augmentations", profile="smoke", device="cpu")
    gallery.record_properties(run, checks, SPEC)
    rows = _paper_rows("Table 4.1")
    assert len(run.measurements) == len(checks)
    for m, c in zip(run.measurements, checks):
        assert m["entry"] == "Table 4.1" and m["row"] in rows
        assert m["status"] == ("exact" if c.kind == "every draw" else "small-scale")
        assert (m["column"] == "Default alpha") == c.estimates_alpha
        assert ("holds" if c.holds else "FAILS") in m["note"]
    cutout_rate = next(m for m in run.measurements if m["key"] == "table4_1/cutout/drop-rate-vs-α")
    assert cutout_rate["value"] == pytest.approx(DEFAULT_ALPHAS["cutout"], abs=0.002)


def test_fig4_1_is_saved_with_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    run = start("04a_augmentations", profile="smoke", device="cpu")
    figures.fig4_1_augmentations(run, gallery.gallery(SPEC))
    png = Image.open(tmp_path / "fig4_1_augmentations.png")
    assert json.loads(png.text["Comment"])["notebook"] == "04a_augmentations"
    assert round(png.info["dpi"][0]) >= 150
    assert run.figures[0]["entry"] == "Figure 4.1"


def test_conclusions_render_the_checks_and_name_failures(checks):
    text = "\n".join(conclusions.augmentations(checks, SPEC))
    identities = [c for c in checks if c.kind == "every draw"]
    assert f"{len(identities)} of {len(identities)} identities" in text
    ratio = _check(checks, "cutblur", "side ratio")
    assert f"{ratio.measured:.4f}" in text and "did not hold" not in text
    broken = [replace(c, holds=False, measured=0.5) if c.augmentation == "cutout" and "drop rate" in c.prop else c
              for c in checks]
    text = "\n".join(conclusions.augmentations(broken, SPEC))
    assert "These did not hold: Cutout: drop rate vs α (measured 0.5" in text and "**does not hold**" in text
