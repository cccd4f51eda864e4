"""04b_cutblur_psd: the HF excess, Fig. 4.3's versions, the identity and Δ tests (they tell a sharpening model from
one that leaves its input alone, and the claims follow), the RealSR resolver and the real pair, the records,
the figures and the conclusions."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

matplotlib.use("Agg")

from companion.ch4 import conclusions, figures, frequencies  # noqa: E402
from companion.ch4.config import FREQUENCY_SMOKE  # noqa: E402
from companion.ch4.runs import Trained  # noqa: E402
from companion.data.images import embedded_image, save_image  # noqa: E402
from companion.errors import CompanionError  # noqa: E402
from companion.session import start  # noqa: E402
from companion.summary import MIN_PAIRS  # noqa: E402

SPEC = FREQUENCY_SMOKE
REPO = Path(__file__).resolve().parents[1]


def _blur(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.ones(3, 1, 3, 3) / 9
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)


class Filter(nn.Module):
    """out = x + amount · (x − blur(x)): amount > 0 sharpens (adds high frequencies), < 0 smooths, 0 is the
    identity."""

    def __init__(self, amount: float):
        super().__init__()
        self.amount = amount
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x + self.amount * (x - _blur(x))


def _models(baseline: float, cutblur: float, seeds: int = 2) -> dict:
    record = Trained(steps=0, seconds=0.0, loss_curve=[], val_psnr=0.0, source="test")
    return {"baseline": [(s, Filter(baseline + 0.1 * s), record) for s in range(seeds)],
            "cutblur": [(s, Filter(cutblur + 0.01 * s), record) for s in range(seeds)]}


def test_hf_excess_is_zero_for_the_identity_and_signed_by_sharpening():
    image = np.ascontiguousarray(embedded_image("rocket")[:128, :128])
    x = torch.from_numpy(image.transpose(2, 0, 1))[None]
    sharp = Filter(1.0)(x)[0].permute(1, 2, 0).detach().numpy()
    smooth = Filter(-0.8)(x)[0].permute(1, 2, 0).detach().numpy()
    assert frequencies.hf_excess(image, image) == 0.0
    assert frequencies.hf_excess(sharp, image) > 0.1
    assert frequencies.hf_excess(smooth, image) < -0.1
    with pytest.raises(CompanionError, match="one size"):
        frequencies.hf_excess(image[:64], image)


def test_psd_versions_fit_each_image():
    versions = frequencies.psd_versions(SPEC, seed=0)
    v = versions["versions"]
    assert list(v) == ["original", "lr", "cutout", "mixup", "cutblur"]
    assert v["original"]["hf_ratio"] == 0.0 and v["lr"]["hf_ratio"] < 0       # the LR image lacks high frequencies
    assert all(np.isfinite(x["alpha"]) for x in v.values())
    top, left, bh, bw = v["cutblur"]["box"]
    inside = np.zeros(v["original"]["image"].shape[:2], dtype=bool)
    inside[top:top + bh, left:left + bw] = True
    assert np.array_equal(v["cutblur"]["image"][~inside], v["original"]["image"][~inside])   # LR into HR only
    assert np.array_equal(v["cutblur"]["image"][inside], v["lr"]["image"][inside])
    erased = v["cutout"]["mask"] < 0.5
    assert np.all(v["cutout"]["image"][erased] == 0) and np.array_equal(v["cutout"]["image"][~erased],
                                                                           v["original"]["image"][~erased])
    again = frequencies.psd_versions(SPEC, seed=0)
    assert all(np.array_equal(again["versions"][k]["power"], v[k]["power"]) for k in v)


def test_cutblurred_puts_hr_in_a_centred_box_on_the_lr_grid():
    hr = np.ascontiguousarray(embedded_image("flower")[:96, :128])
    image, lr, (top, left, bh, bw) = frequencies.cutblurred(hr, 4)
    assert all(v % 4 == 0 for v in (top, left, bh, bw))
    assert (bh, bw) == (int(0.7 * 96) // 4 * 4, int(0.7 * 128) // 4 * 4)
    inside = np.zeros(hr.shape[:2], dtype=bool)
    inside[top:top + bh, left:left + bw] = True
    assert np.array_equal(image[inside], hr[inside]) and np.array_equal(image[~inside], lr[~inside])
    with pytest.raises(CompanionError, match="multiples of 4"):
        frequencies.cutblurred(hr[:95], 4)


def test_identity_test_tells_a_sharpening_model_from_a_gentle_one():
    identity = frequencies.identity_test(SPEC, _models(baseline=1.0, cutblur=-0.05), progress=False)
    assert identity["images"] == list(SPEC.split.test) and identity["seeds"] == [0, 1]
    base, cut = identity["scores"]["baseline"], identity["scores"]["cutblur"]
    assert np.asarray(base["hf_excess"]).shape == (2, 3)
    assert np.min(base["hf_excess"]) > 0 > np.max(cut["hf_excess"])
    assert np.min(cut["identity_psnr"]) > np.max(base["identity_psnr"])
    assert set(identity["psd"]) == {"input", "lr", "baseline", "cutblur"}
    delta = frequencies.delta_test(SPEC, _models(baseline=1.0, cutblur=-0.05), progress=False)
    checked = frequencies.claims(identity, delta)
    verdicts = {c["claim"]: c["verdict"] for c in checked}
    nearer = "on an HR input the CutBlur model stays nearer the identity than the baseline (PSNR to the input)"
    assert 2 * 3 >= MIN_PAIRS
    assert verdicts[nearer] == "agrees"
    assert verdicts["on an HR input the baseline over-sharpens (HF excess above zero)"] == "agrees"
    assert verdicts["on a CutBlurred input the CutBlur model changes the HR region less than the baseline"] == "agrees"
    swapped = frequencies.identity_test(SPEC, _models(baseline=-0.3, cutblur=1.0), progress=False)
    verdicts = {c["claim"]: c["verdict"] for c in frequencies.claims(swapped, delta)}
    assert verdicts[nearer] == "disagrees"
    assert verdicts["on an HR input the baseline over-sharpens (HF excess above zero)"] == "disagrees"


def test_delta_test_measures_change_inside_and_outside_the_box():
    delta = frequencies.delta_test(SPEC, _models(baseline=1.0, cutblur=0.0, seeds=1), progress=False)
    cut, base = delta["scores"]["cutblur"], delta["scores"]["baseline"]
    assert np.max(cut["change_hr"]) == 0 and np.max(cut["change_lr"]) == 0           # the identity changes nothing
    assert np.max(cut["error_hr"]) == 0                                               # HR is already right in the box
    for name, index in zip(delta["images"], range(3)):
        assert cut["error_lr"][0][index] == pytest.approx(delta["input_error"][name]["lr"])
    assert np.min(base["change_hr"]) > 0 and np.min(base["error_hr"]) > 0
    figure = delta["figure"]
    assert figure["baseline"]["change"].shape == figure["hr"].shape[:2]


def _write_pair(folder: Path, size=(32, 40)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in frequencies.REALSR_FILES:
        save_image(folder / name, rng.random((*size, 3)).astype(np.float32))


def test_realsr_folder_looks_where_it_says_and_names_the_download(tmp_path, monkeypatch):
    monkeypatch.delenv(frequencies.REALSR_ENV_VAR, raising=False)
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setattr(frequencies, "DEVELOPER_REALSR", tmp_path / "no-developer-copy")
    with pytest.raises(CompanionError, match=r"python -m companion download RealSR"):
        frequencies.realsr_folder(SPEC)
    _write_pair(tmp_path / "root" / "RealSR" / "Canon" / "Test" / "4")
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "root"))
    assert frequencies.realsr_folder(SPEC) == tmp_path / "root" / "RealSR" / "Canon" / "Test" / "4"
    _write_pair(tmp_path / "mine")
    monkeypatch.setenv(frequencies.REALSR_ENV_VAR, str(tmp_path / "mine"))
    assert frequencies.realsr_folder(SPEC) == tmp_path / "mine"
    explicit = replace(SPEC, realsr_root=str(tmp_path / "empty"))
    with pytest.raises(CompanionError, match="empty"):                 # an explicit folder is the only one tried
        frequencies.realsr_folder(explicit)
    pair = frequencies.realsr_pair(replace(SPEC, realsr_root=str(tmp_path / "mine"), realsr_crop=0))
    assert pair["hr"].shape == (32, 40, 3) and pair["lr"].shape == (32, 40, 3)
    real, reason = frequencies.real_test_or_reason(explicit, _models(1.0, 0.0, seeds=1))
    assert real is None and "download RealSR" in reason


def test_realsr_pair_refuses_two_sizes(tmp_path):
    _write_pair(tmp_path)
    save_image(tmp_path / frequencies.REALSR_FILES[1], np.zeros((16, 20, 3), np.float32))
    with pytest.raises(CompanionError, match="same size"):
        frequencies.realsr_pair(replace(SPEC, realsr_root=str(tmp_path)))


@pytest.fixture(scope="module")
def real_pair():
    try:
        return frequencies.realsr_pair(replace(SPEC, realsr_crop=128))
    except CompanionError as error:
        pytest.skip(f"the RealSR pair is not on this machine: {error}")


def test_the_real_pair_is_registered_and_the_real_test_runs(real_pair):
    hr, lr = real_pair["hr"], real_pair["lr"]
    assert hr.shape == lr.shape == (128, 128, 3)
    spec = replace(SPEC, realsr_crop=128)
    real = frequencies.real_test(spec, _models(baseline=1.0, cutblur=-0.05), real_pair, progress=False)
    assert 20 < real["lr"]["psnr"] < 45                  # registered: near, not equal
    assert real["lr"]["hf_excess"] < 0                   # the real LR image is softer than HR
    base, cut = real["scores"]["baseline"], real["scores"]["cutblur"]
    assert np.min(base["identity_hf_excess"]) > 0 and np.min(cut["identity_psnr"]) > np.max(base["identity_psnr"])
    assert np.asarray(base["real_psnr"]).shape == (2, 1)
    identity = frequencies.identity_test(SPEC, _models(1.0, -0.05), progress=False)
    delta = frequencies.delta_test(SPEC, _models(1.0, -0.05), progress=False)
    realsr = [c for c in frequencies.claims(identity, delta, real) if "RealSR" in c["claim"]]
    assert len(realsr) == 2 and all(c["verdict"] == "unclear" for c in realsr)   # 2 seeds × 1 image < MIN_PAIRS


@pytest.fixture(scope="module")
def measured():
    models = _models(baseline=1.0, cutblur=-0.05)
    identity = frequencies.identity_test(SPEC, models, progress=False)
    delta = frequencies.delta_test(SPEC, models, progress=False)
    return frequencies.psd_versions(SPEC, seed=0), identity, delta, frequencies.claims(identity, delta)


def test_records_and_figures(measured, tmp_path, monkeypatch):
    versions, identity, delta, checked = measured
    monkeypatch.setenv("COMPANION_FIGURES_DIR", str(tmp_path))
    run = start("04b_cutblur_psd", profile="smoke", device="cpu")
    frequencies.record_versions(run, SPEC, versions)
    frequencies.record_results(run, SPEC, identity, delta, checked)
    entries = {m["entry"] for m in run.measurements}
    assert entries == {"Figure 4.3", "Figure 4.4", "Figure 4.5"}
    assert all(m["status"] == "small-scale" for m in run.measurements)
    alphas = {m["row"]: m["value"] for m in run.measurements if m["key"].endswith("/alpha")}
    assert alphas[versions["versions"]["original"]["label"]] == round(versions["versions"]["original"]["alpha"], 4)
    claims = [m for m in run.measurements if m["key"].startswith("claim/")]
    assert len(claims) == len(checked) and all(m["value"] in ("agrees", "disagrees", "unclear") for m in claims)
    for draw in (lambda: figures.fig4_3_psd(run, versions), lambda: figures.fig4_4_hr_input(run, identity),
                 lambda: figures.fig4_5_delta_maps(run, delta)):
        draw()
    assert [f["entry"] for f in run.figures] == ["Figure 4.3", "Figure 4.4", "Figure 4.5"]
    for f in run.figures:
        png = Image.open(tmp_path / f["file"])
        assert round(png.info["dpi"][0]) >= 150 and json.loads(png.text["Comment"])["profile"] == "smoke"


def test_conclusions_render_the_measurements(measured):
    versions, identity, delta, checked = measured
    paragraphs = conclusions.cutblur_psd(versions, identity, delta, checked, SPEC, None,
                                         "RealSR's pair not found (looked in /x)")
    text = "\n".join(paragraphs)
    assert f"α = {versions['versions']['original']['alpha']:.2f}" in text
    assert "*agrees*" in text and "not measured: RealSR's pair not found (looked in /x)" in text
    assert "far below the paper's scale" in text and f"{SPEC.baseline.recipe.train.steps:,} steps" in text
    base_change = np.mean(np.asarray(delta["scores"]["baseline"]["change_hr"]))
    assert f"changes the HR box by {base_change:.2f}" in text


def test_load_models_trains_the_smoke_runs(tmp_path):
    models = frequencies.load_models(SPEC, [0], work_dir=tmp_path, progress=False)
    assert set(models) == {"baseline", "cutblur"}
    [(seed, model, record)] = models["cutblur"]
    assert seed == 0 and record.steps == SPEC.cutblur.recipe.train.steps
    assert "seed 0" in frequencies.sources_text(models)
    out = frequencies.apply(model, np.zeros((16, 16, 3), np.float32))
    assert out.shape == (16, 16, 3)
