"""PCARN's parts (thesis §2.3.2): the 9-conv patch discriminator, the multi-scale discriminator (Eq. 2.6), the
adversarial and total generator losses (Eq. 2.4, 2.7) against the authors' sigmoid + BCELoss formulation, the
VGG loss (Eq. 2.5) with a randomly initialised VGG19 (no weights are ever downloaded), and one PCARN step."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from companion.engine import perceptual
from companion.engine.perceptual import CONV5_4, VGGLoss, find_vgg19_weights, pcarn_step
from companion.errors import CompanionError
from companion.models.carn import CARN
from companion.models.common import count_parameters
from companion.models.discriminators import (CODE_WEIGHTS, LAYERS, MSD_FACTORS, THESIS_WEIGHTS,
                                             MultiScaleDiscriminator, PatchDiscriminator, discriminator_loss,
                                             generator_adversarial_loss, generator_loss)

pytestmark = pytest.mark.usefixtures("one_thread")


def conv(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


# ---------------------------------------------------------------- discriminators

def test_patch_discriminator_is_fig_2_1():
    d = PatchDiscriminator()
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size[0], c.out_channels, c.stride[0]) for c in convs] == [*LAYERS, (3, 1, 1)]
    assert LAYERS == ((3, 64, 1), (4, 64, 2), (3, 128, 1), (4, 128, 2), (3, 256, 1), (4, 256, 2), (3, 512, 1),
                      (3, 512, 1))
    assert all(c.padding == (1, 1) and c.bias is not None for c in convs)
    kinds = [type(m).__name__ for m in d.body]
    # k3n64s1 + LeakyReLU without BN, then seven conv-BN-LeakyReLU, then the 512 -> 1 conv: logits, no sigmoid
    assert kinds[:2] == ["Conv2d", "LeakyReLU"] and kinds[2:-1] == ["Conv2d", "BatchNorm2d", "LeakyReLU"] * 7
    assert kinds[-1] == "Conv2d" and not any(isinstance(m, nn.Sigmoid) for m in d.modules())
    assert all(m.negative_slope == 0.01 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    c_in, by_hand = 3, 0
    for i, (k, c_out, _) in enumerate(LAYERS):
        by_hand += conv(c_in, c_out, k) + (2 * c_out if i else 0)   # BN's gamma and beta
        c_in = c_out
    by_hand += conv(512, 1, 3)
    assert count_parameters(d) == by_hand == 5_295_809
    assert count_parameters(MultiScaleDiscriminator()) == 3 * by_hand


@pytest.mark.parametrize("h, w", [(48, 48), (50, 47)])
def test_patch_discriminator_maps_patches(h, w):
    torch.manual_seed(0)
    out = PatchDiscriminator()(torch.rand(2, 3, h, w))
    assert out.shape == (2, 1, h // 8, w // 8)


def test_multi_scale_discriminator_pools_x1_x2_x4_with_independent_discriminators():
    torch.manual_seed(0)
    msd = MultiScaleDiscriminator().eval()
    assert msd.factors == MSD_FACTORS == (1, 2, 4)
    ids = {id(p) for d in msd.discriminators for p in d.parameters()}
    assert len(ids) == 3 * len(list(msd.discriminators[0].parameters()))    # nothing shared
    x = torch.rand(1, 3, 64, 64)
    maps = msd(x)
    assert [m.shape[-1] for m in maps] == [8, 4, 2]
    for d, f, m in zip(msd.discriminators, MSD_FACTORS, maps):
        assert torch.allclose(m, d.body(F.avg_pool2d(x, f)), atol=1e-6)
    probs = msd.probabilities(x)
    assert all(torch.allclose(p, torch.sigmoid(m)) for p, m in zip(probs, maps))


# ---------------------------------------------------------------- losses

def _code_gan_loss(prob, is_real):
    """The authors' GANLoss: nn.BCELoss on sigmoid outputs against an all-ones / all-zeros target."""
    return nn.BCELoss()(prob, torch.full_like(prob, 1.0 if is_real else 0.0))


def test_losses_equal_the_authors_sigmoid_bce_summed_over_scales():
    g = torch.Generator().manual_seed(0)
    real = [torch.randn(2, 1, s, s, generator=g) * 3 for s in (6, 3, 1)]
    fake = [torch.randn(2, 1, s, s, generator=g) * 3 for s in (6, 3, 1)]
    code_d = sum(_code_gan_loss(torch.sigmoid(r), True) + _code_gan_loss(torch.sigmoid(f), False)
                 for r, f in zip(real, fake))
    code_g = sum(_code_gan_loss(torch.sigmoid(f), True) for f in fake)
    assert float(discriminator_loss(real, fake)) == pytest.approx(float(code_d), rel=1e-5)
    assert float(generator_adversarial_loss(fake)) == pytest.approx(float(code_g), rel=1e-5)
    # one map (a single discriminator) is one scale
    assert float(discriminator_loss(real[0], fake[0])) == pytest.approx(
        float(_code_gan_loss(torch.sigmoid(real[0]), True) + _code_gan_loss(torch.sigmoid(fake[0]), False)), rel=1e-5)
    # a confident, correct discriminator has a small loss; logits far beyond BCELoss's clamp stay finite
    assert float(discriminator_loss(torch.full((1, 1, 2, 2), 500.0), torch.full((1, 1, 2, 2), -500.0))) == 0
    assert torch.isfinite(generator_adversarial_loss(torch.full((1, 1, 2, 2), -500.0)))
    with pytest.raises(ValueError, match="one per discriminator scale"):
        discriminator_loss(real, fake[:2])


def test_generator_loss_weights_code_and_thesis_forms():
    assert CODE_WEIGHTS == {"gan": 5e-3, "vgg": 1.0, "clip": 10.0, "lr": 1e-4}
    assert THESIS_WEIGHTS["gan"] == 1.0 and THESIS_WEIGHTS["vgg"] == pytest.approx(200.0)
    torch.manual_seed(0)
    sr, hr = torch.rand(1, 3, 8, 8, requires_grad=True), torch.rand(1, 3, 8, 8)
    logits = [torch.randn(1, 1, 2, 2)]
    total, parts = generator_loss(logits, sr, hr, F.mse_loss)
    vgg, adversarial = float(parts["vgg"].detach()), float(parts["adversarial"])
    assert vgg == pytest.approx(float(F.mse_loss(sr, hr).detach()))
    assert adversarial == pytest.approx(float(generator_adversarial_loss(logits)))
    assert float(total.detach()) == pytest.approx(5e-3 * adversarial + vgg)
    thesis, _ = generator_loss(logits, sr, hr, F.mse_loss, gan_weight=THESIS_WEIGHTS["gan"],
                               vgg_weight=THESIS_WEIGHTS["vgg"])
    assert float(thesis.detach()) * CODE_WEIGHTS["gan"] == pytest.approx(float(total.detach()))  # × 5e-3
    total.backward()
    assert sr.grad is not None and float(sr.grad.abs().sum()) > 0


# ---------------------------------------------------------------- VGG loss

@pytest.fixture(scope="module")
def random_vgg():
    torch.manual_seed(0)
    return VGGLoss(random_init=True)


def test_vgg_loss_reads_conv5_4_before_relu(random_vgg):
    feats = random_vgg.features
    assert len(feats) == CONV5_4 + 1 == 35                        # torchvision's vgg19().features[:35]
    assert isinstance(feats[-1], nn.Conv2d) and feats[-1].in_channels == feats[-1].out_channels == 512
    assert sum(isinstance(m, nn.MaxPool2d) for m in feats) == 4   # inside the fifth block
    assert sum(isinstance(m, nn.Conv2d) for m in feats) == 16     # conv5_4 is VGG19's 16th conv
    assert all(not p.requires_grad for p in random_vgg.parameters()) and not feats.training
    random_vgg.train()
    assert not random_vgg.features.training                      # the VGG never leaves eval mode


def test_vgg_loss_zero_for_equal_images_positive_otherwise_with_gradients(random_vgg):
    torch.manual_seed(1)
    hr = torch.rand(2, 3, 32, 32)
    assert float(random_vgg(hr.clone(), hr)) == 0
    sr = (hr + 0.05 * torch.randn_like(hr)).clamp(0, 1).requires_grad_(True)
    loss = random_vgg(sr, hr)
    assert float(loss.detach()) > 0
    loss.backward()
    assert sr.grad is not None and float(sr.grad.abs().sum()) > 0
    assert all(p.grad is None for p in random_vgg.parameters())
    # the default normalises with ImageNet's mean/std; normalize=False feeds [0, 1] as the authors' code does
    raw = VGGLoss(random_init=True, normalize=False, layer=8)
    raw.features.load_state_dict(random_vgg.features[:9].state_dict())
    normed = VGGLoss(random_init=True, layer=8)
    normed.features.load_state_dict(random_vgg.features[:9].state_dict())
    x = (hr - normed.mean) / normed.std
    assert torch.allclose(normed.feature_map(hr), raw.feature_map(x), atol=1e-5)
    with pytest.raises(CompanionError, match="one shape"):
        random_vgg(hr, hr[..., :16])


def _isolate(monkeypatch, tmp_path):
    monkeypatch.delenv("COMPANION_DATA", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_missing_vgg_weights_are_one_line_naming_the_folder(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path)
    with pytest.raises(CompanionError) as err:
        VGGLoss(root=tmp_path)
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "weights") in message
    assert "vgg19-dcbb9e9d.pth" in message and "never downloads" in message
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(CompanionError, match="COMPANION_DATA"):
        find_vgg19_weights()
    with pytest.raises(CompanionError, match="not found") as err:
        VGGLoss(weights=tmp_path / "nope.pth")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_vgg_weights_load_from_the_users_file(monkeypatch, tmp_path, fmt):
    _isolate(monkeypatch, tmp_path)
    torch.manual_seed(2)
    source = VGGLoss(random_init=True, layer=2).features         # conv1_1, ReLU, conv1_2: a small file
    state = {f"features.{k}": v.clone() for k, v in source.state_dict().items()}
    state["classifier.0.bias"] = torch.zeros(4)                  # the rest of a torchvision file is ignored
    folder = tmp_path / "weights"
    folder.mkdir()
    if fmt == "pth":
        path = folder / "vgg19-dcbb9e9d.pth"
        torch.save(state, path)
    else:
        from safetensors.torch import save_file
        path = folder / "vgg19.safetensors"
        save_file(state, str(path))
    loss = VGGLoss(root=tmp_path, layer=2)
    assert loss.weights_path == path
    for k, v in source.state_dict().items():
        assert torch.equal(loss.features.state_dict()[k], v)
    torch.save({"features.0.weight": torch.zeros(1)}, folder / "bad.pth")
    with pytest.raises(CompanionError, match="do not fit torchvision's VGG19") as err:
        VGGLoss(weights=folder / "bad.pth", layer=2)
    (folder / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CompanionError, match="unreadable by the safe loaders"):
        VGGLoss(weights=folder / "junk.pth", layer=2)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- one PCARN step

def test_pcarn_step_updates_both_networks_and_clips_the_generator(monkeypatch):
    torch.manual_seed(0)
    g = CARN(channels=8, blocks=1, units=1, scales=(2,))
    msd = MultiScaleDiscriminator()
    vgg = VGGLoss(random_init=True, layer=8)
    opt_g = torch.optim.Adam(g.parameters(), CODE_WEIGHTS["lr"])
    opt_d = torch.optim.Adam(msd.parameters(), CODE_WEIGHTS["lr"])
    lr_img, hr_img = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
    g0 = [p.detach().clone() for p in g.parameters()]
    d0 = [p.detach().clone() for p in msd.parameters()]
    seen, real_clip = [], nn.utils.clip_grad_norm_
    monkeypatch.setattr(perceptual.nn.utils, "clip_grad_norm_",
                        lambda params, max_norm: seen.append(max_norm) or real_clip(params, max_norm))
    out = pcarn_step(g, msd, opt_g, opt_d, lr_img, hr_img, vgg_loss=vgg, scale=2)
    assert set(out) == {"d", "g", "g_adv", "g_vgg"} and all(torch.isfinite(torch.tensor(v)) for v in out.values())
    assert out["g"] == pytest.approx(5e-3 * out["g_adv"] + out["g_vgg"], rel=1e-5)
    assert seen == [10.0]
    assert any(not torch.equal(a, b) for a, b in zip(g0, g.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, msd.parameters()))
    assert all(p.grad is None for p in msd.parameters())
