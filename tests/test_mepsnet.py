"""MEPSNet (thesis §7.4): the paper's parameter count, the template bank, the ablation options, inference."""
import pytest
import torch

from companion.ch7.config import ABLATIONS, TRAINING
from companion.errors import CompanionError
from companion.models import MODELS, build_model, count_parameters, model_config, model_label
from companion.models.mepsnet import MEPSNet, SConv, for_inference, macs_per_pixel, receptive_field

TINY = dict(experts=3, srir=2, blocks=2, templates=4, extract_width=8, expert_width=4)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_paper_configuration_has_2_241_187_parameters():
    model = MEPSNet()
    assert count_parameters(model) == 2_241_187
    # the bank is stored once, not once per SConv
    assert sum(k.endswith("templates") for k in model.state_dict()) == 1
    assert sum(isinstance(m, SConv) for m in model.modules()) == 3 * 3 * 12 * 2


def conv(c_in, c_out, k=3, bias=True):
    return c_in * c_out * k * k + (c_out if bias else 0)


def expected_count(experts, srir, blocks, templates, e, w, share):
    extract = conv(3, e // 2) + conv(e // 2, e) + conv(e, e)
    per_block = 2 * (templates if share else conv(w, w))
    expert = conv(e, w) + srir * blocks * per_block + conv(w, w)
    fused = experts * w
    fusion = conv(fused, fused // 2, 1) + conv(fused // 2, fused, 1)
    recon = conv(fused, fused // 2) + conv(fused // 2, 3)
    bank = templates * w * w * 9 if share else 0
    return extract + experts * expert + bank + fusion + recon


@pytest.mark.parametrize("kw", [dict(experts=1, share=False), dict(experts=1), dict(experts=5),
                                dict(experts=3, blocks=4, share=False), dict(experts=3, blocks=4),
                                dict(templates=4), dict(templates=32)])
def test_ablation_parameter_counts_follow_the_architecture(kw):
    cfg = dict(experts=3, srir=3, blocks=12, templates=16, e=256, w=64, share=True)
    cfg.update(kw)
    model = MEPSNet(**kw)
    assert count_parameters(model) == expected_count(**cfg)
    # Table 7.3 measured counts (the paper prints 3.9M / 1.9M / 2.2M / 2.6M)
    if kw == dict(experts=1, share=False):
        assert count_parameters(model) == 3_755_619
    if kw == dict(experts=1):
        assert count_parameters(model) == 1_687_779


def test_template_count_changes_parameters_by_the_bank_only():
    a, b = MEPSNet(**{**TINY, "templates": 4}), MEPSNet(**{**TINY, "templates": 8})
    n_sconv = 3 * 2 * 2 * 2
    assert count_parameters(b) - count_parameters(a) == 4 * (4 * 4 * 9) + 4 * n_sconv


def test_every_expert_shares_one_bank_and_gets_gradient_from_it():
    torch.manual_seed(0)
    model = MEPSNet(**TINY)
    x = torch.rand(2, 3, 20, 24)
    out = model(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert model.bank.templates.grad is not None and model.bank.templates.grad.abs().sum() > 0
    for p in model.parameters():
        assert p.grad is not None


def test_the_bank_is_one_storage_and_a_gradient_through_any_sconv_reaches_it():
    torch.manual_seed(0)
    model = MEPSNet(**TINY)
    sconvs = [m for m in model.modules() if isinstance(m, SConv)]
    assert len(sconvs) == 3 * 2 * 2 * 2
    ptr = model.bank.templates.data_ptr()
    assert all(m.bank.templates.data_ptr() == ptr for m in sconvs)  # the same storage, not copies
    # an in-place change of the network's bank changes what every SConv synthesises
    before = [m.weight().detach().clone() for m in sconvs]
    with torch.no_grad():
        model.bank.templates[0].add_(1.0)
    assert all(not torch.equal(m.weight(), b) for m, b in zip(sconvs, before))
    # a loss through one SConv of the last expert only: the gradient lands on the shared bank and on that
    # SConv's coefficients, and on no other SConv's
    last = sconvs[-1]
    last(torch.rand(1, TINY["expert_width"], 6, 6)).square().sum().backward()
    assert model.bank.templates.grad is not None and model.bank.templates.grad.abs().sum() > 0
    assert last.alpha.grad is not None and last.alpha.grad.abs().sum() > 0
    assert all(m.alpha.grad is None for m in sconvs[:-1])


def test_fusion_weights_depend_on_the_input_and_scale_the_features():
    torch.manual_seed(3)
    model = MEPSNet(**TINY).eval()
    seen = []
    model.fusion.attention.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    dark, bright = torch.full((1, 3, 16, 16), 0.1), torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(torch.cat([dark, bright]))
    s = seen[0]
    assert s.shape == (2, 3 * TINY["expert_width"], 1, 1)
    assert (s[0] - s[1]).abs().max() > 1e-3  # one weight per channel and image, computed from the features
    assert s.std() > 1e-3  # not one constant either
    # the weights are used: fusing with every weight at 1 gives another output

    class Ones(torch.nn.Module):
        def forward(self, fd):
            return torch.ones_like(fd[:, :, :1, :1])
    model.fusion.attention = Ones()
    with torch.no_grad():
        plain = model(torch.cat([dark, bright]))
    assert (plain - ref).abs().max() > 1e-4


def test_sconv_weight_is_the_linear_combination_of_templates():
    model = MEPSNet(**TINY)
    sconv = next(m for m in model.modules() if isinstance(m, SConv))
    w = sum(a * t for a, t in zip(sconv.alpha, model.bank.templates))
    assert torch.allclose(sconv.weight(), w, atol=1e-6)


def test_coefficients_start_orthogonal_per_expert():
    model = MEPSNet(experts=1, srir=1, blocks=4, templates=16, extract_width=8, expert_width=4)
    alphas = torch.stack([m.alpha for m in model.modules() if isinstance(m, SConv)])  # 8 × 16
    assert torch.allclose(alphas @ alphas.T, torch.eye(8), atol=1e-5)


def test_eval_cache_follows_parameter_changes():
    torch.manual_seed(1)
    model = MEPSNet(**TINY).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        first = model(x)
        again = model(x)
        assert torch.equal(first, again)
        model.bank.templates.mul_(1.5)  # in place: the version counter moves, the cache must follow
        changed = model(x)
    assert not torch.allclose(first, changed)
    fresh = MEPSNet(**TINY)
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.allclose(fresh.eval()(x), changed, atol=1e-6)


def test_no_sharing_uses_plain_convs():
    model = MEPSNet(**{**TINY, "share": False})
    assert model.bank is None and not any(isinstance(m, SConv) for m in model.modules())
    assert model(torch.rand(1, 3, 9, 11)).shape == (1, 3, 9, 11)


def test_for_inference_matches_in_float32_and_is_close_in_bf16():
    torch.manual_seed(2)
    model = MEPSNet(**TINY).eval()
    x = torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        ref = model(x)
    fp32 = for_inference(model, dtype=torch.float32, channels_last=True)
    assert torch.allclose(fp32(x), ref, atol=1e-5)
    bf16 = for_inference(model, dtype=torch.bfloat16)
    out = bf16(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()
    assert any(isinstance(m, SConv) for m in model.modules())  # the original is untouched


def test_bad_input_is_refused_with_a_clear_error():
    model = MEPSNet(**TINY)
    with pytest.raises(CompanionError, match="B×3×H×W"):
        model(torch.rand(3, 16, 16))
    with pytest.raises(CompanionError, match="float"):
        model(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="experts"):
        MEPSNet(experts=0)


def test_registry_and_flop_helpers():
    entry = MODELS["mepsnet"]
    assert entry.cls is MEPSNet and entry.label == model_label("mepsnet") == "MEPSNet"
    assert entry.paper_config == MEPSNet().config
    tiny = build_model("mepsnet", "quick", **TINY)
    assert isinstance(tiny, MEPSNet) and tiny.config == {**entry.quick_config, **TINY}
    assert count_parameters(build_model("mepsnet", "paper")) == 2_241_187
    with pytest.raises(CompanionError, match="unknown model"):
        build_model("unet")
    assert macs_per_pixel() == 9_572_256  # ≈ 9.6 M MACs per pixel, as the notes measure
    assert receptive_field() == 1 + 2 * (3 + 1 + 72 + 1 + 2)
    assert macs_per_pixel(entry.quick_config) < macs_per_pixel() / 50


def test_channels_last_training_and_restore_work_with_the_5d_template_bank():
    from companion.engine.inference import restore
    from companion.engine.loop import LOSSES, paired_batch, train
    from companion.engine.settings import TrainConfig

    class Pairs:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            clean = torch.rand(3, 12, 12, generator=g)
            return {"distorted": clean + 0.05 * torch.randn(3, 12, 12, generator=g), "clean": clean}

    torch.manual_seed(0)
    model = MEPSNet(**TINY)
    bank = model.bank.templates
    start = bank.detach().clone()
    result = train(model, Pairs(), TrainConfig(steps=2, batch_size=2, lr=1e-3, channels_last=True),
                   loss=LOSSES["l2"], batch=paired_batch("distorted", "clean"), model_name="mepsnet",
                   progress=False)
    assert result.steps_done == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    assert model.bank.templates is bank and not torch.equal(bank, start)  # the bank itself was trained
    assert model.extract[0].weight.is_contiguous(memory_format=torch.channels_last)
    image = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(5))
    out = restore(model, image, tiles=(1, 2), overlap=4, channels_last=True)
    reference = restore(model, image, tiles=(1, 2), overlap=4)
    assert out.shape == (3, 20, 24) and (out - reference).abs().max() < 1e-5  # the layout changes no number
    assert (out - image).abs().max() > 1e-3


def _crop():
    from skimage import data

    return torch.from_numpy(data.astronaut()[100:164, 180:244] / 255.0).float().permute(2, 0, 1)[None]


@pytest.mark.parametrize("size", ["quick", "paper"])
def test_fresh_output_scale_follows_the_reference_init(size):
    """The reference's init (He inside the experts, PyTorch's default elsewhere) starts near the input's range;
    He with zero biases on every conv (what the thesis text reads as) starts tens of times larger."""
    from companion.models.common import he_init

    x = _crop()
    ours, he_everywhere = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        model = build_model("mepsnet", size).eval()
        with torch.no_grad():
            ours.append(float(model(x).std()))
            he_init(model)
            he_everywhere.append(float(model(x).std()))
    assert max(ours) < 0.5, ours  # the input's own std on this crop is about 0.25
    assert min(h / o for h, o in zip(he_everywhere, ours)) > 10, (ours, he_everywhere)


def test_init_statistics_per_part():
    torch.manual_seed(0)
    model = build_model("mepsnet", "paper")
    for conv in [model.extract[0], model.extract[4], model.fusion.attention[1], model.reconstruct[2]]:
        fan_in = conv.weight[0].numel()
        bound = 1 / fan_in ** 0.5  # PyTorch's default Conv2d init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
        assert conv.bias.abs().max() > 0 and conv.bias.abs().max() <= bound
    for conv in (model.experts[0].head, model.experts[2].tail):
        fan_in = conv.weight[0].numel()
        assert float(conv.weight.detach().std()) == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)  # He
        assert conv.bias.abs().max() > 0  # the default bias, not zero
    rows = torch.stack([m.alpha.detach() for m in model.experts[0].modules() if hasattr(m, "alpha")])
    assert rows.shape == (72, 16)
    assert torch.allclose(rows.T @ rows, torch.eye(16), atol=1e-5)  # orthonormal columns: one row per SConv
    assert len({tuple(r.tolist()) for r in rows}) == 72  # no two SConvs start alike (the reference: 48 distinct)


def test_sharing_removes_a_fraction_of_the_07c_quick_base_like_the_papers():
    """07c's quick ablations start from ``ablation_base``: there, as in the paper (one expert 3.76M -> 1.69M,
    -55 %), the template bank replaces many more weights than it holds; with 07b's quick MEPSNet it saved 0.2 %."""
    def removed(cfg, experts):
        kwargs = model_config("mepsnet", "quick", **dict(cfg.ablation_base), experts=experts)
        plain = count_parameters(MEPSNet(**{**kwargs, "share": False}))
        return 1 - count_parameters(MEPSNet(**{**kwargs, "share": True})) / plain

    paper = 1 - count_parameters(MEPSNet(experts=1)) / count_parameters(MEPSNet(experts=1, share=False))
    assert 0.5 < paper < 0.6
    assert removed(ABLATIONS["quick"], 1) == pytest.approx(0.49, abs=0.01)
    assert removed(ABLATIONS["quick"], 3) == pytest.approx(0.65, abs=0.01)
    assert removed(TRAINING["quick"], 1) < 0.01  # why 07c has its own base
