"""companion.analysis: PSD slopes on synthetic spectra, hooks, fusion weights, t-SNE and silhouettes.

The MEPSNet stand-in below has the attribute names the analysis code relies on (``experts``,
``fusion.attention``, ``n_experts``) so these tests do not depend on the real model.
"""
import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from companion.analysis.features import capture, expert_feature_maps, summarise_map
from companion.analysis.fusion import fusion_by_distortion, fusion_weights, weights_per_expert
from companion.analysis.psd import fit_power_law, psd_by_label, radial_psd, region_psd
from companion.analysis.tsne import embed_and_score, features_by_label, silhouette, tsne_embedding
from companion.errors import CompanionError
from tests.conftest import texture


def power_law_noise(n: int, beta: float, seed: int) -> np.ndarray:
    """n×n noise with power spectrum ∝ 1/f^beta (random phase and Rayleigh amplitude), built via FFT."""
    rng = np.random.default_rng(seed)
    f = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :])
    f[0, 0] = 1.0
    field = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) * f ** (-beta / 2)
    field[0, 0] = 0.0
    return np.fft.ifft2(field).real


# ---------------------------------------------------------------------------------------------- PSD


def test_white_noise_psd_is_flat_at_its_variance():
    x = np.random.default_rng(0).normal(0.5, 0.1, (256, 256))
    freqs, power = radial_psd(x)
    assert freqs[0] == pytest.approx(1 / 256) and freqs[-1] == pytest.approx(0.5) and len(freqs) == 128
    alpha, _ = fit_power_law(freqs, power)
    assert abs(alpha) < 0.2
    assert np.median(power) == pytest.approx(0.01, rel=0.1)  # P = |F|²/(HW): height σ²
    _, hann = radial_psd(x, window="hann")
    assert np.median(hann) == pytest.approx(0.01, rel=0.1)  # normalised by Σw²


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_power_law_noise_recovers_beta(beta):
    freqs, power = radial_psd(power_law_noise(256, beta, seed=int(beta)))
    alpha, _ = fit_power_law(freqs, power)
    assert alpha == pytest.approx(beta, abs=0.25)


def test_blur_steepens_the_fall_off():
    x = power_law_noise(256, 1.5, seed=3)
    a0, _ = fit_power_law(*radial_psd(x))
    a1, _ = fit_power_law(*radial_psd(gaussian_filter(x, 1.5, mode="wrap")))
    assert a1 > a0 + 1.0


def test_rgb_goes_through_luma_and_cutout_edges_show_without_window():
    grey = texture(128, 128, seed=0, uint8=False).mean(axis=2).astype(np.float64)  # smooth stand-in photo
    rgb = np.repeat(grey[..., None], 3, axis=2)
    f, p_rgb = radial_psd(rgb)
    _, p_grey = radial_psd(grey)
    np.testing.assert_allclose(p_rgb, p_grey * (219 / 255) ** 2, rtol=1e-9)  # Y = 16/255 + 219/255 · grey
    cut = grey.copy()
    cut[40:80, 40:80] = 0.0  # Cutout: a hard-edged hole
    _, p_cut = radial_psd(cut)
    hi = f > 0.3
    assert p_cut[hi].mean() > 5 * p_grey[hi].mean()  # spurious high frequencies (Fig. 4.3)


def test_constant_image_has_zero_power_and_cannot_be_fitted():
    freqs, power = radial_psd(np.full((64, 64), 0.3))
    assert np.all(power == 0.0) and len(freqs) == 32
    with pytest.raises(CompanionError, match="constant"):
        fit_power_law(freqs, power)


def test_mask_restricts_to_a_region():
    x = np.random.default_rng(2).normal(0.5, 0.1, (64, 64))
    x[:, 32:] = 0.9  # constant right half
    mask = np.zeros_like(x, bool)
    mask[:, 32:] = True
    assert np.all(radial_psd(x, mask=mask)[1] == 0.0)
    with pytest.raises(CompanionError):
        radial_psd(x, mask=np.zeros_like(x))


def test_fit_needs_enough_rings():
    freqs, power = radial_psd(np.random.default_rng(0).random((6, 6)))  # rings 1/6, 2/6, 3/6
    with pytest.raises(CompanionError, match="rings"):
        fit_power_law(freqs, power)


def test_region_psd_crops_and_refuses_tiny_regions():
    x = np.random.default_rng(0).random((64, 80))
    f, p = region_psd(x, (8, 10, 40, 58))
    f2, p2 = radial_psd(x[8:40, 10:58])
    np.testing.assert_array_equal(p, p2)
    assert len(f) == 16
    assert len(region_psd(x, {"ymin": 0, "xmin": 0, "ymax": 16, "xmax": 16})[0]) == 8
    with pytest.raises(CompanionError, match="at least 16"):
        region_psd(x, (0, 0, 15, 40))
    with pytest.raises(CompanionError, match="inside"):
        region_psd(x, (0, 0, 65, 40))


def test_psd_by_label_per_type():
    rng = np.random.default_rng(4)
    clean = np.clip(0.5 + 0.15 * power_law_noise(128, 2.0, 4) / power_law_noise(128, 2.0, 4).std(), 0, 1)
    distorted = clean.copy()
    distorted[:, :64] = gaussian_filter(clean, 2.0)[:, :64]
    distorted[:, 64:] = np.clip(clean[:, 64:] + rng.normal(0, 0.1, (128, 64)), 0, 1)
    record = {"regions": [
        {"ymin": 0, "xmin": 0, "ymax": 128, "xmax": 64, "type": "gaussian_blur", "label": 2, "strength": 2.0},
        {"ymin": 0, "xmin": 64, "ymax": 128, "xmax": 128, "type": "gaussian_noise", "label": 1, "strength": 0.01},
        {"ymin": 0, "xmin": 0, "ymax": 10, "xmax": 10, "type": "contrast_change", "label": 4, "strength": 30},
    ]}
    out = psd_by_label(clean, distorted, record, restored=clean)
    assert list(out) == ["gaussian_noise", "gaussian_blur"]  # label order; the 10-px region is skipped
    blur, noise = out["gaussian_blur"], out["gaussian_noise"]
    assert blur["n_tiles"] == 8 and blur["n_regions"] == 1 and len(blur["freqs"]) == 16
    assert blur["distorted"]["alpha"] > blur["clean"]["alpha"] + 1.0
    assert noise["distorted"]["alpha"] < noise["clean"]["alpha"] - 0.3  # a white floor flattens the tail
    assert np.all(noise["distorted"]["power"][-4:] > noise["clean"]["power"][-4:] + 0.005)  # σ² = 0.01
    np.testing.assert_allclose(noise["restored"]["power"], noise["clean"]["power"])
    with pytest.raises(CompanionError, match="tile"):
        psd_by_label(clean, distorted, record, tile=8)


# ---------------------------------------------------------------------------------- hooks and MEPSNet


class Expert(nn.Module):
    def __init__(self, c_in, width, k):
        super().__init__()
        self.conv = nn.Conv2d(c_in, width, k, padding=k // 2)

    def forward(self, x):
        return torch.relu(self.conv(x))


class Fusion(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 2, 1), nn.ReLU(),
                                       nn.Conv2d(c // 2, c, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.attention(x)


class TinyMEPS(nn.Module):
    """Same attribute names as companion.models.mepsnet.MEPSNet: experts, fusion.attention, n_experts."""

    def __init__(self, n_experts=3, width=4, fail=False):
        super().__init__()
        self.n_experts, self.fail = n_experts, fail
        self.head = nn.Conv2d(3, 8, 3, padding=1)
        self.experts = nn.ModuleList(Expert(8, width, 3 + 2 * (i % 2)) for i in range(n_experts))
        self.fusion = Fusion(n_experts * width)
        self.tail = nn.Conv2d(n_experts * width, 3, 3, padding=1)

    def forward(self, x):
        f = torch.relu(self.head(x))
        fd = torch.cat([e(f) for e in self.experts], dim=1)
        if self.fail:
            raise RuntimeError("boom")
        return x + self.tail(self.fusion(fd))


def _hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_capture_returns_detached_outputs_and_restores_mode():
    torch.manual_seed(0)
    model = TinyMEPS().train()
    x = torch.rand(2, 3, 12, 10)
    out = capture(model, {"head": model.head, "tail": model.tail}, x)
    assert out["head"].shape == (2, 8, 12, 10) and out["tail"].shape == (2, 3, 12, 10)
    assert not out["head"].requires_grad and out["head"].device.type == "cpu"
    assert model.training and _hooks(model) == 0
    with pytest.raises(CompanionError, match="never ran"):
        capture(model, {"stray": nn.Conv2d(1, 1, 1)}, x)
    assert _hooks(model) == 0


def test_capture_removes_hooks_when_forward_raises():
    model = TinyMEPS(fail=True).train()
    with pytest.raises(RuntimeError, match="boom"):
        capture(model, {"e0": model.experts[0], "head": model.head}, torch.rand(1, 3, 8, 8))
    assert _hooks(model) == 0 and model.training


def test_expert_feature_maps_and_summaries():
    torch.manual_seed(0)
    model = TinyMEPS(n_experts=3, width=4)
    maps = expert_feature_maps(model, torch.rand(2, 3, 16, 20))
    assert len(maps) == 3 and all(m.shape == (2, 4, 16, 20) for m in maps)
    s = summarise_map(maps[0][0])
    assert s.shape == (16, 20) and s.dtype == np.float32
    np.testing.assert_allclose(s, maps[0][0].abs().mean(0).numpy(), rtol=1e-6)
    with pytest.raises(CompanionError):
        expert_feature_maps(nn.Conv2d(3, 3, 1), torch.rand(1, 3, 4, 4))


def test_pca1_summary_finds_the_dominant_pattern():
    rng = np.random.default_rng(0)
    pattern = np.sin(np.linspace(0, 6, 24))[:, None] * np.ones((1, 16))
    loadings = np.array([3.0, -1.0, 0.5, 2.0])
    feature = loadings[:, None, None] * pattern[None] + 0.01 * rng.standard_normal((4, 24, 16))
    pc = summarise_map(torch.as_tensor(feature), method="pca1")
    assert abs(np.corrcoef(pc.ravel(), pattern.ravel())[0, 1]) > 0.99
    assert np.corrcoef(pc.ravel(), pattern.ravel())[0, 1] > 0  # sign: largest loading (3.0) positive
    with pytest.raises(CompanionError, match="unknown summary"):
        summarise_map(feature, method="max")


class Wrapper(nn.Module):
    """Like companion.models.mepsnet.InferenceMEPSNet: the experts live on ``self.net``."""

    def __init__(self, net):
        super().__init__()
        self.net, self.n_experts = net, net.n_experts

    def forward(self, x):
        return self.net(x)


def test_inference_wrappers_are_unwrapped():
    torch.manual_seed(0)
    net = TinyMEPS(n_experts=2, width=4)
    x = torch.rand(1, 3, 8, 8)
    assert len(expert_feature_maps(Wrapper(net), x)) == 2
    torch.testing.assert_close(fusion_weights(Wrapper(net), x), fusion_weights(net, x))


def test_fusion_weights_in_unit_interval():
    torch.manual_seed(0)
    model = TinyMEPS(n_experts=3, width=4)
    s = fusion_weights(model, torch.rand(2, 3, 16, 16))
    assert s.shape == (2, 12)
    assert torch.all((s > 0) & (s < 1))


def test_weights_per_expert_averages_chunks():
    w = torch.tensor([[0.1, 0.3, 0.5, 0.7, 0.9, 1.0], [0.0, 0.0, 1.0, 1.0, 0.2, 0.4]])
    got = weights_per_expert(w, 3)
    np.testing.assert_allclose(got.numpy(), [[0.2, 0.6, 0.95], [0.0, 1.0, 0.3]], rtol=1e-6)
    with pytest.raises(CompanionError, match="chunks"):
        weights_per_expert(w, 4)


def test_fusion_by_distortion_runs_single_type_crops():
    torch.manual_seed(0)
    model = TinyMEPS(n_experts=2, width=4)
    rng = np.random.default_rng(0)
    image = rng.random((48, 64, 3)).astype(np.float32)
    image[:, 32:] *= 0.2
    record = {"regions": [
        {"ymin": 0, "xmin": 0, "ymax": 48, "xmax": 32, "type": "gaussian_noise", "label": 1, "strength": 0.01},
        {"ymin": 0, "xmin": 32, "ymax": 24, "xmax": 64, "type": "contrast_change", "label": 4, "strength": 30},
        {"ymin": 24, "xmin": 32, "ymax": 48, "xmax": 64, "type": "contrast_change", "label": 4, "strength": 30},
        {"ymin": 0, "xmin": 0, "ymax": 8, "xmax": 8, "type": "identity", "label": 0, "strength": None},
    ]}
    out = fusion_by_distortion(model, [image], [record])
    assert list(out) == ["gaussian_noise", "contrast_change"]
    assert out["contrast_change"]["n_crops"] == 2 and out["gaussian_noise"]["n_crops"] == 1
    assert out["gaussian_noise"]["mean"].shape == (2,)
    rows = [weights_per_expert(fusion_weights(model, torch.from_numpy(image[y0:y1, 32:64].transpose(2, 0, 1)
                                                                     .copy())[None]), 2)[0].numpy()
            for y0, y1 in ((0, 24), (24, 48))]
    np.testing.assert_allclose(out["contrast_change"]["mean"], np.mean(rows, axis=0), rtol=1e-5)
    small = fusion_by_distortion(model, image, record, max_side=16)
    assert small["gaussian_noise"]["n_crops"] == 1


# ------------------------------------------------------------------------------------- t-SNE, silhouette


def test_features_by_label_balances_and_downsamples():
    rng = np.random.default_rng(0)
    labels = np.zeros((2, 16, 16), np.uint8)
    labels[0, :, 12:] = 3  # 64 pixels of label 3, 448 of label 0
    labels[1, :2, :] = 1  # 32 pixels of label 1
    feature = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16).repeat(1, 5, 1, 1)
    vec, lab = features_by_label(feature, labels, per_label=100, rng=rng)
    assert vec.shape == (96, 5) and np.bincount(lab).tolist() == [32, 32, 0, 32]
    flat = labels.reshape(-1)
    assert np.all(flat[vec[:, 0].astype(int)] == lab)  # each vector carries its own pixel's label
    vec, lab = features_by_label(feature, labels, per_label=10, rng=rng, labels=[0, 3])
    assert sorted(np.unique(lab).tolist()) == [0, 3] and len(lab) == 20
    # a stride-2 feature map: labels resampled by nearest neighbour
    small = torch.zeros(2, 3, 8, 8)
    _, lab = features_by_label(small, labels, per_label=8, rng=rng)
    assert np.bincount(lab).tolist() == [8, 8, 0, 8]


def _clusters(n_per=30, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (k, 8))
    x = np.concatenate([c + rng.normal(0, 0.5, (n_per, 8)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(k), n_per)


def test_silhouette_separated_vs_shuffled():
    x, y = _clusters()
    assert silhouette(x, y) > 0.5
    shuffled = np.random.default_rng(1).permutation(y)
    assert abs(silhouette(x, shuffled)) < 0.15
    with pytest.raises(CompanionError, match="2 distinct"):
        silhouette(x, np.zeros(len(x)))


def test_tsne_shape_determinism_and_report():
    x, y = _clusters(n_per=20)
    a = tsne_embedding(x, perplexity=10, seed=0)
    b = tsne_embedding(x, perplexity=10, seed=0)
    assert a.shape == (60, 2)
    np.testing.assert_array_equal(a, b)
    report = embed_and_score(x, y, perplexity=10, seed=0)
    assert report["silhouette_features"] > 0.5 and report["silhouette_embedding"] > 0.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        e = tsne_embedding(x[:10], perplexity=30)
    assert e.shape == (10, 2) and any("perplexity" in str(w.message) for w in caught)
