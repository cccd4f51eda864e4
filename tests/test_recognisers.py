"""Table 6.1's networks (thesis §6.3): IQA-CNN+ / IQA-CNN++ (companion.models.iqa_cnn_plus, iqa_cnn_plusplus) and
VGG-16 / Atrous VGG-16 / ResNet-101 with a new FC (companion.models.recognisers): their structure, their counts,
the frozen regime, and ImageNet weights read from torchvision's cache only."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from scipy.ndimage import uniform_filter

from companion.errors import CompanionError
from companion.models import MODELS, build_model, count_parameters
from companion.models import recognisers
from companion.models.iqa_cnn_plus import PATCH, local_normalise, max_min_pool, patches
from companion.models.recognisers import (AtrousVGG16, Recogniser, ResNet101, VGG16, build_recogniser, decimate_fc,
                                          imagenet_file, initialisation, initialisation_text, load_imagenet)


# ---------------------------------------------------------------- IQA-CNN+ and IQA-CNN++

def test_iqa_networks_are_in_the_registry_as_classifiers():
    for name, label in (("iqa_cnn_plus", "IQA-CNN+"), ("iqa_cnn_plusplus", "IQA-CNN++")):
        entry = MODELS[name]
        assert entry.label == label and entry.paper_config["classes"] == 24
        model = build_model(name, "paper")
        assert model(torch.rand(2, 3, 64, 96)).shape == (2, 24)


def test_iqa_parameter_counts_match_the_papers_structures():
    # with one (quality) output: IQA-CNN's conv 7×7×50, FC 100→800→800→1; IQA-CNN++'s two convs, FC 64→128→512→1
    assert count_parameters(build_model("iqa_cnn_plus", "paper", classes=1)) == \
        (49 * 50 + 50) + (100 * 800 + 800) + (800 * 800 + 800) + (800 + 1) == 724_901
    assert count_parameters(build_model("iqa_cnn_plusplus", "paper", classes=1)) == \
        (9 * 8 + 8) + (9 * 8 * 32 + 32) + (64 * 128 + 128) + (128 * 512 + 512) + (512 + 1) == 77_297
    # "nearly 90 % fewer parameters" (Kang et al. 2015)
    assert 0.85 < 1 - 77_297 / 724_901 < 0.9


def test_local_normalisation_is_eq_1_over_a_3x3_window():
    rng = np.random.default_rng(0)
    grey = rng.random((20, 17)).astype(np.float64)
    mean = uniform_filter(grey, 3, mode="mirror")
    std = np.sqrt(np.maximum(uniform_filter(grey ** 2, 3, mode="mirror") - mean ** 2, 0))
    expected = (grey - mean) / (std + 1 / 255)
    ours = local_normalise(torch.from_numpy(grey)[None, None]).numpy()[0, 0]
    assert np.allclose(ours, expected, atol=1e-9)
    assert local_normalise(torch.full((1, 1, 8, 8), 0.3)).abs().max() < 1e-4  # flat: nothing left


def test_patches_are_non_overlapping_and_row_major():
    x = torch.arange(2 * 1 * 70 * 100, dtype=torch.float32).reshape(2, 1, 70, 100)
    tiles = patches(x)
    assert tiles.shape == (2 * 2 * 3, 1, PATCH, PATCH)  # 70 // 32 = 2 rows, 100 // 32 = 3 columns each
    assert torch.equal(tiles[1], x[0, :, 0:32, 32:64]) and torch.equal(tiles[3], x[0, :, 32:64, 0:32])
    assert torch.equal(tiles[6], x[1, :, 0:32, 0:32])
    assert torch.equal(max_min_pool(torch.tensor([[[[1.0, -2.0], [5.0, 0.0]]]])), torch.tensor([[5.0, -2.0]]))


@pytest.mark.parametrize("name", ["iqa_cnn_plus", "iqa_cnn_plusplus"])
def test_an_image_scores_the_mean_of_its_patches(name):
    torch.manual_seed(0)
    model = build_model(name, "paper", classes=5).eval()
    x = torch.rand(1, 3, 64, 96)
    # local normalisation sees each patch's neighbours in the whole image: compare on the normalised patches
    whole = model.patch_logits(x)[0]
    assert whole.shape == (6, 5)
    assert torch.allclose(model(x)[0], whole.mean(0), atol=1e-6)
    with pytest.raises(CompanionError, match="at least 32×32"):
        model(torch.rand(1, 3, 31, 64))


# ---------------------------------------------------------------- VGG-16, Atrous VGG-16, ResNet-101

def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_paper_width_networks_are_torchvisions_key_for_key():
    with torch.device("meta"):
        assert _shapes(VGG16(1000)) == _shapes(torchvision.models.vgg16())
        assert _shapes(ResNet101(1000)) == _shapes(torchvision.models.resnet101())
        assert count_parameters(VGG16(1000)) == 138_357_544 and count_parameters(ResNet101(1000)) == 44_549_160


def test_atrous_vgg16_is_deeplab_largefov():
    net = AtrousVGG16(24, width=0.125)
    pools = [m for m in net.features if isinstance(m, torch.nn.MaxPool2d)]
    assert [p.stride for p in pools] == [2, 2, 2, 1, 1] and pools[3].kernel_size == 3
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.dilation for c in convs] == [(1, 1)] * 10 + [(2, 2)] * 3
    fc6, fc7 = net.fc[0], net.fc[3]
    assert fc6.kernel_size == (3, 3) and fc6.dilation == (12, 12) and fc6.out_channels == 128 == fc7.out_channels
    assert fc7.kernel_size == (1, 1)
    assert net.features(torch.rand(1, 3, 64, 80)).shape[-2:] == (8, 10)  # output stride 8
    with torch.device("meta"):
        full = AtrousVGG16(1000)
    assert full.fc[0].weight.shape == (1024, 512, 3, 3) and full.classifier.in_features == 1024


@pytest.mark.parametrize("architecture", list(recognisers.ARCHITECTURES))
def test_recognisers_take_images_in_0_1_and_give_class_scores(architecture):
    torch.manual_seed(0)
    model = Recogniser(architecture, classes=24, width=0.0625).eval()
    assert model(torch.rand(2, 3, 32, 48)).shape == (2, 24)
    with pytest.raises(CompanionError, match="B×3×H×W"):
        model(torch.rand(3, 32, 32))
    with pytest.raises(CompanionError, match="unknown recogniser"):
        Recogniser("alexnet")
    with pytest.raises(CompanionError, match="width"):
        Recogniser(architecture, width=2)


@pytest.mark.parametrize("architecture", ["vgg16", "resnet101"])
def test_the_frozen_regime_trains_the_new_fc_only_and_keeps_the_rest_in_eval_mode(architecture):
    torch.manual_seed(0)
    model = Recogniser(architecture, classes=4, width=0.0625, frozen=True)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert [id(p) for p in trainable] == [id(p) for p in model.head_parameters()]
    model.train()
    assert model.head.training and not model.net.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(model(x), model(x))  # no dropout, no batch statistics: the frozen part is deterministic
    optimiser = torch.optim.Adam(model.head_parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
    optimiser.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {f"net.{model.net.head_name}.weight", f"net.{model.net.head_name}.bias"}
    tuned = Recogniser(architecture, classes=4, width=0.0625)
    assert count_parameters(tuned) > 10 * count_parameters(model)


# ---------------------------------------------------------------- ImageNet weights: torchvision's cache only

def test_no_cache_means_random_initialisation_and_no_download(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert imagenet_file("vgg16") is None and initialisation("vgg16", 1.0) == "random"
    assert "no ImageNet weights" in initialisation_text("random", 1.0)
    assert "paper width only" in initialisation_text("random", 0.125)
    with pytest.raises(CompanionError, match="not in torchvision's cache"):
        build_recogniser("resnet101", width=0.0625, init="imagenet:resnet101-63fe2227.pth")


def test_a_cached_file_is_found_by_torchvisions_name_and_fits_only_the_paper_width(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "resnet101-cd907fc2.pth").write_bytes(b"")
    assert imagenet_file("resnet101", tmp_path).name == "resnet101-cd907fc2.pth"
    assert initialisation("resnet101", 1.0, tmp_path) == "imagenet:resnet101-cd907fc2.pth"
    assert initialisation("resnet101", 0.5, tmp_path) == "random"
    assert initialisation("vgg16", 1.0, tmp_path) == "random"


def test_decimation_takes_every_4th_unit_and_every_3rd_tap():
    weight = torch.arange(8 * 2 * 7 * 7, dtype=torch.float32).reshape(8, 2 * 49)
    bias = torch.arange(8.0)
    w6, b6 = decimate_fc(weight, bias, 7)
    assert w6.shape == (2, 2, 3, 3) and torch.equal(b6, torch.tensor([0.0, 4.0]))
    assert torch.equal(w6[1, 1], weight.reshape(8, 2, 7, 7)[4, 1, ::3, ::3])
    w7, b7 = decimate_fc(torch.arange(64.0).reshape(8, 8), bias, None)
    assert w7.shape == (2, 2, 1, 1) and w7[1, 1, 0, 0] == 4 * 8 + 4


def test_imagenet_weights_go_everywhere_but_the_new_fc(tmp_path):
    # a torchvision-shaped VGG-16 state dict (here at a small width, so the test stays light)
    torch.manual_seed(1)
    source = VGG16(1000, width=0.0625)
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(source.state_dict(), path)
    vgg = Recogniser("vgg16", classes=24, width=0.0625)
    load_imagenet(vgg, path)
    state = vgg.net.state_dict()
    assert all(torch.equal(state[k], v) for k, v in source.state_dict().items() if not k.startswith("classifier.6"))
    assert state["classifier.6.weight"].shape == (24, 256)
    atrous = Recogniser("atrous_vgg16", classes=24, width=0.0625)
    load_imagenet(atrous, path)
    w6, _ = decimate_fc(source.classifier[0].weight, source.classifier[0].bias, 7)
    assert torch.equal(atrous.net.fc[0].weight, w6)
    assert torch.equal(atrous.net.features[0].weight, source.features[0].weight)
    with pytest.raises(CompanionError, match="does not fit"):
        load_imagenet(Recogniser("vgg16", classes=24, width=0.125), path)
