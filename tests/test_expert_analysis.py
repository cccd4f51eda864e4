"""companion.ch7.expert_analysis: the measurements of notebook 07d, on a toy MEPSNet whose answers are known.

The toy model's expert k outputs 1 (on every channel) exactly where the input's red channel encodes label k
(red = k / 10) and 0 elsewhere, so each expert "responds only inside regions of type k". Its green and blue
channels encode the pixel's row and column, so a sampled input RGB row says which pixel it came from.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from companion.analysis import features, psd, tsne
from companion.ch7 import expert_analysis as ea
from companion.ch7.shdd import SHDD_TYPES
from companion.errors import CompanionError

H, W = 16, 32


class TypeExpert(nn.Module):
    """|activation| 1 where the red channel encodes label ``k``, 0 elsewhere (``width`` identical channels)."""

    def __init__(self, k: int, width: int = 2):
        super().__init__()
        self.k, self.width = k, width

    def forward(self, x):
        hit = (torch.round(x[:, :1] * 10) == self.k).to(x.dtype)
        return hit.repeat(1, self.width, 1, 1)


class Fusion(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels, 1), nn.Sigmoid())

    def forward(self, fd):
        return fd * self.attention(fd)


class ToyMEPS(nn.Module):
    """The attribute names of companion.models.mepsnet.MEPSNet: ``experts``, ``fusion.attention``, ``n_experts``."""

    def __init__(self, n_experts: int = 3, width: int = 2):
        super().__init__()
        self.n_experts = n_experts
        self.experts = nn.ModuleList(TypeExpert(k, width) for k in range(n_experts))
        self.fusion = Fusion(n_experts * width)
        self.tail = nn.Conv2d(n_experts * width, 3, 1)

    def forward(self, x):
        return self.tail(self.fusion(torch.cat([e(x) for e in self.experts], dim=1)))


def stripes(widths: list[int], labels: list[int]) -> dict:
    """An SHDDEval-like item: vertical stripes of the given widths and labels (red = label / 10)."""
    assert sum(widths) == W
    label = np.concatenate([np.full((H, w), k) for w, k in zip(widths, labels)], axis=1)
    yy, xx = np.mgrid[:H, :W]
    image = np.stack([label / 10, yy / H, xx / W]).astype(np.float32)
    regions, x0 = [], 0
    for w, k in zip(widths, labels):
        regions.append({"ymin": 0, "xmin": x0, "ymax": H, "xmax": x0 + w, "type": SHDD_TYPES[k], "label": k,
                        "strength": 1.0})
        x0 += w
    return {"distorted": torch.from_numpy(image), "clean": torch.from_numpy(image.copy()),
            "label": torch.from_numpy(label).long(), "record": {"regions": regions}}


def test_expert_k_responds_above_one_exactly_in_regions_of_type_k():
    # item a: shares 1/4, 1/4, 1/2 of types 0, 1, 2; item b: 1/4 each of types 0, 1, 2, 3 (no expert for 3)
    a, b = stripes([8, 8, 16], [0, 1, 2]), stripes([8, 8, 8, 8], [2, 1, 0, 3])
    out = ea.expert_responses(ToyMEPS(3), [a, b])
    assert list(out) == [SHDD_TYPES[k] for k in range(4)]  # label order
    # expert k inside type k: mean 1 there / mean = share over the image -> 1 / share; 0 inside other types
    expected = {0: [4.0, 0, 0], 1: [0, 4.0, 0], 2: [0, 0, (2.0 + 4.0) / 2], 3: [0, 0, 0]}
    for k, ratios in expected.items():
        entry = out[SHDD_TYPES[k]]
        np.testing.assert_allclose(entry["ratios"], ratios, rtol=1e-6)
        assert entry["n_images"] == (1 if k == 3 else 2)
    for k in range(3):
        ratios = out[SHDD_TYPES[k]]["ratios"]
        assert ratios[k] > 1 and all(r == 0 for j, r in enumerate(ratios) if j != k)


def test_expert_responses_is_the_mean_of_the_per_image_ratios():
    items = [stripes([4, 12, 16], [0, 1, 2]), stripes([20, 4, 8], [1, 0, 2])]
    model = ToyMEPS(3)
    out = ea.expert_responses(model, items)
    for kind in ("identity", "gaussian_noise", "gaussian_blur"):
        per_image = [features.response_by_label(features.expert_feature_maps(model, it["distorted"][None]),
                                                it["label"], SHDD_TYPES)[kind] for it in items]
        assert out[kind]["ratios"] == np.mean(per_image, axis=0).tolist()


def test_expert_maps_are_each_experts_mean_abs_picture():
    item = stripes([8, 8, 16], [0, 1, 2])
    maps = ea.expert_maps(ToyMEPS(3), item)
    assert len(maps) == 3 and all(m.shape == (H, W) for m in maps)
    for k, m in enumerate(maps):
        np.testing.assert_array_equal(m, (item["label"].numpy() == k).astype(np.float32))


def _pixel(row: np.ndarray) -> tuple[int, int]:
    return int(round(row[1] * H)), int(round(row[2] * W))


def test_tsne_samples_balanced_per_label_with_the_images_own_pixels():
    item = stripes([4, 12, 16], [0, 1, 3])  # type 3 has no expert: its feature vectors are all zero
    vectors, inputs, labels = ea.tsne_samples(ToyMEPS(3, width=2), [item], 5, np.random.default_rng(0))
    assert vectors.shape == (15, 6) and inputs.shape == (15, 3) and labels.shape == (15,)
    assert vectors.dtype == inputs.dtype == np.float32 and labels.dtype == np.int64
    assert {int(k): int(n) for k, n in zip(*np.unique(labels, return_counts=True))} == {0: 5, 1: 5, 3: 5}
    image, label_map = item["distorted"].numpy(), item["label"].numpy()
    seen = set()
    for vec, rgb, lab in zip(vectors, inputs, labels):
        y, x = _pixel(rgb)
        np.testing.assert_array_equal(rgb, image[:, y, x])  # the input columns are the image's own pixels
        assert label_map[y, x] == lab
        expected = np.repeat([float(lab == k) for k in range(3)], 2)  # expert k's 2 channels light up for k
        np.testing.assert_array_equal(vec, expected)
        seen.add((y, x))
    assert len(seen) == 15  # without replacement


def test_tsne_samples_splits_per_label_over_the_items_and_follows_the_rng():
    items = [stripes([8, 8, 16], [0, 1, 2]), stripes([16, 16], [2, 0])]
    model = ToyMEPS(3)
    v1, i1, l1 = ea.tsne_samples(model, items, 6, np.random.default_rng(7))
    # 6 per label over 2 items: 3 per present label from each item
    assert {int(k): int(n) for k, n in zip(*np.unique(l1, return_counts=True))} == {0: 6, 1: 3, 2: 6}
    v2, i2, l2 = ea.tsne_samples(model, items, 6, np.random.default_rng(7))
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(l1, l2)
    _, i3, _ = ea.tsne_samples(model, items, 6, np.random.default_rng(8))
    assert not np.array_equal(i1, i3)
    # fewer than 1 per item per label is rounded up to 1
    _, _, l4 = ea.tsne_samples(model, items, 1, np.random.default_rng(0))
    assert len(l4) == 3 + 2


def test_tsne_samples_matches_the_former_notebook_cell():
    """The numbers 07d records come from the same draws as the loop that used to live in the notebook."""
    items = [stripes([4, 12, 16], [0, 1, 2]), stripes([20, 4, 8], [1, 0, 2])]
    model, per_label = ToyMEPS(3), 7
    vectors, labels, inputs = [], [], []
    rng = np.random.default_rng(0)
    for it in items:
        fd = np.concatenate([m[0].float().numpy() for m in
                             features.expert_feature_maps(model, it["distorted"][None])], axis=0)
        stacked = np.concatenate([fd, it["distorted"].numpy()], axis=0)[None]
        v, lab = tsne.features_by_label(stacked, it["label"][None], per_label=max(1, per_label // len(items)),
                                        rng=rng)
        vectors.append(v[:, :-3]); inputs.append(v[:, -3:]); labels.append(lab)  # noqa: E702
    got = ea.tsne_samples(model, items, per_label, np.random.default_rng(0))
    for a, b in zip(got, (np.concatenate(vectors), np.concatenate(inputs), np.concatenate(labels))):
        np.testing.assert_array_equal(a, b)


def test_bad_inputs_are_named():
    with pytest.raises(CompanionError, match="no SHDD items"):
        ea.expert_responses(ToyMEPS(3), [])
    with pytest.raises(CompanionError, match="per_label"):
        ea.tsne_samples(ToyMEPS(3), [stripes([16, 16], [0, 1])], 0, np.random.default_rng(0))


def test_spectra_and_fusion_by_type_take_the_items():
    rng = np.random.default_rng(1)
    item = stripes([16, 16], [1, 2])
    item["clean"] = torch.from_numpy(rng.random((3, H, W), dtype=np.float32))
    item["distorted"] = item["clean"].clone()
    spectra = ea.spectra_by_type([item], tile=16)
    direct = psd.psd_by_label([item["clean"].permute(1, 2, 0).numpy()], [item["distorted"].permute(1, 2, 0).numpy()],
                              [item["record"]], tile=16)
    assert list(spectra) == list(direct) == ["gaussian_noise", "gaussian_blur"]
    assert "restored" not in spectra["gaussian_noise"]
    np.testing.assert_array_equal(spectra["gaussian_blur"]["clean"]["power"], direct["gaussian_blur"]["clean"]["power"])
    with_restored = ea.spectra_by_type([item], [item["clean"]], tile=16)
    np.testing.assert_array_equal(with_restored["gaussian_noise"]["restored"]["power"],
                                  with_restored["gaussian_noise"]["clean"]["power"])

    torch.manual_seed(0)
    weights = ea.fusion_by_type(ToyMEPS(3), [stripes([16, 16], [0, 1]), stripes([8, 24], [1, 2])])
    assert list(weights) == ["identity", "gaussian_noise", "gaussian_blur"]
    # the 8-px noise stripe is too narrow for a crop (fusion.MIN_CROP_SIDE = 16): skipped and counted
    assert [weights[k]["n_crops"] for k in weights] == [1, 1, 1]
    assert weights["gaussian_noise"]["n_skipped"] == 1 and weights["identity"]["n_skipped"] == 0
    for entry in weights.values():
        assert entry["mean"].shape == (3,) and np.all((entry["mean"] > 0) & (entry["mean"] < 1))


_TWICE = """
import sys
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[1]))
from companion.analysis import tsne
from companion.ch7 import expert_analysis
from companion.models import build_model
torch.manual_seed(0)
model = build_model("mepsnet", blocks=1, expert_width=8, experts=3, extract_width=8, share=True, srir=1,
                    templates=4).eval()
g = torch.Generator().manual_seed(1)
label = torch.zeros(48, 64, dtype=torch.int64)
label[:, 16:32], label[:, 32:48], label[:, 48:] = 1, 2, 3
items = [{"distorted": torch.rand(3, 48, 64, generator=g), "label": label} for _ in range(2)]
vectors, inputs, labels = expert_analysis.tsne_samples(model, items, 40, np.random.default_rng(0))
scores = tsne.embed_and_score(vectors, labels, seed=0)
print(repr([scores["silhouette_features"], scores["silhouette_embedding"], tsne.silhouette(inputs, labels),
            float(np.abs(scores["embedding"]).sum())]))
"""


def test_the_tsne_numbers_are_the_same_bits_run_to_run_and_for_any_thread_count(repo):
    """07d's t-SNE measurements (smoke size) twice, in fresh processes with 1 and 2 PyTorch threads: identical.

    (The embedding's silhouette is chaotic in its input: changing 5 of 25,344 feature values by one float32
    ulp moved 07d's quick score from -0.1158 to -0.1117, with the feature-space score unchanged; so the same
    bits need the same kind of CPU, docs/decisions.md.)"""
    import subprocess
    import sys

    runs = [subprocess.run([sys.executable, "-c", _TWICE, str(threads)], cwd=repo, capture_output=True, text=True,
                           timeout=300) for threads in (1, 2, 2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    numbers = [run.stdout.strip().splitlines()[-1] for run in runs]
    assert numbers[0] == numbers[1] == numbers[2], numbers
