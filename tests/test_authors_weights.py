"""The MEPSNet authors' checkpoint layout → the companion's MEPSNet (companion.ch7.authors_weights).

No test reaches the network: the reference-layout state dicts are built here from companion models by an
inverse mapping written independently of the module's (the authors' module names, the template bank under
every name that registers it as views of one tensor, biases ×255, the fusion's squeeze weight ÷255), and a
functional re-implementation of the reference's forward (0..255, MeanShift layers) checks the transform.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from companion.ch7 import authors_weights as aw
from companion.errors import CompanionError
from companion.models.mepsnet import DIV2K_MEAN, PAPER_CONFIG, MEPSNet
from tests.conftest import texture

pytestmark = pytest.mark.usefixtures("one_thread")

SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights"
OFFICIAL_BLOB = "d1dfe732951e8ddc6df72bf177dfe07bc7545935"
SMALL = dict(experts=2, srir=2, blocks=3, templates=4, extract_width=8, expert_width=6, share=True)


def randomised(config: dict, seed: int = 0) -> MEPSNet:
    """A MEPSNet with non-zero biases (He init zeroes them), the fusion's large enough to matter."""
    torch.manual_seed(seed)
    model = MEPSNet(**config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.uniform_(-0.05, 0.05)
        for i in (1, 3):
            model.fusion.attention[i].bias.uniform_(-1.0, 1.0)
    return model.eval()


def reference_layout(model: MEPSNet) -> OrderedDict:
    """The state dict the authors' ``Net`` would save holding ``model``'s function, in 0..255.

    Module order of the reference: sub_mean, add_mean, bank, head (FeatureEx), body (experts, then the
    fusion), tail (Recon); an SConv2d saves its coefficients, then its bank.
    """
    cfg, sd = model.config, {k: v.detach().clone() for k, v in model.state_dict().items()}
    bank = sd["bank.templates"]
    k = cfg["templates"]
    out = OrderedDict()
    mean = torch.tensor(DIV2K_MEAN) * 255
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):
        out[f"{name}.weight"] = torch.eye(3).view(3, 3, 1, 1)
        out[f"{name}.bias"] = sign * mean

    def conv(ref_name: str, ours: str, weight=1.0, bias=255.0):
        out[f"{ref_name}.weight"] = sd[f"{ours}.weight"] * weight
        out[f"{ref_name}.bias"] = sd[f"{ours}.bias"] * bias

    out["bank.templates"] = bank
    for ref_name, ours in (("expand_conv1", "extract.0"), ("expand_conv2", "extract.2"), ("conv", "extract.4")):
        conv(f"head.0.{ref_name}", ours)
    for e in range(cfg["experts"]):
        out[f"body.{e}.bank.templates"] = bank.view_as(bank)
        conv(f"body.{e}.head.0", f"experts.{e}.head")
        for s in range(cfg["srir"]):
            for b in range(cfg["blocks"]):
                for idx, ours in ((0, "conv1"), (2, "conv2")):
                    stem = f"body.{e}.body.{s}.body.{b}.body.{idx}"
                    alpha = sd[f"experts.{e}.body.{s}.body.{b}.{ours}.alpha"]
                    out[f"{stem}.coefficients"] = alpha.reshape(k, 1, 1, 1, 1)
                    out[f"{stem}.bank.templates"] = bank.view_as(bank)
        conv(f"body.{e}.tail.0", f"experts.{e}.tail")
    n = cfg["experts"]
    conv(f"body.{n}.squeeze", "fusion.attention.1", weight=1 / 255, bias=1.0)
    conv(f"body.{n}.excitation", "fusion.attention.3", bias=1.0)
    conv("tail.0.reconst.0", "reconstruct.0")
    conv("tail.0.reconst.2", "reconstruct.2")
    return out


def reference_forward(ref: dict, x255: torch.Tensor, cfg: dict) -> torch.Tensor:
    """The reference ``Net.forward`` written out with functional ops over its state dict (input 0..255)."""
    def conv(h, key, padding=1):
        return F.conv2d(h, ref[f"{key}.weight"], ref[f"{key}.bias"], padding=padding)

    def sconv(h, stem):
        weight = (ref[f"{stem}.bank.templates"] * ref[f"{stem}.coefficients"]).sum(0)
        return F.conv2d(h, weight, padding=1)

    h = conv(x255, "sub_mean", padding=0)
    for name in ("expand_conv1", "expand_conv2", "conv"):
        h = F.relu(conv(h, f"head.0.{name}"))
    outputs = []
    for e in range(cfg["experts"]):
        y = conv(h, f"body.{e}.head.0")
        r = y
        for s in range(cfg["srir"]):
            z = r
            for b in range(cfg["blocks"]):
                stem = f"body.{e}.body.{s}.body.{b}.body"
                z = z + sconv(F.relu(sconv(z, f"{stem}.0")), f"{stem}.2")
            r = r + z
        outputs.append(conv(y + r, f"body.{e}.tail.0"))
    fd = torch.cat(outputs, dim=1)
    n = cfg["experts"]
    gate = torch.sigmoid(conv(F.relu(conv(fd.mean((2, 3), keepdim=True), f"body.{n}.squeeze", 0)),
                              f"body.{n}.excitation", 0))
    y = conv(F.relu(conv(fd * gate, "tail.0.reconst.0")), "tail.0.reconst.2")
    return conv(y, "add_mean", padding=0)


def storages(state: dict) -> int:
    return len({v.untyped_storage().data_ptr() for v in state.values()})


def image(h: int = 12, w: int = 12, seed: int = 1, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g, dtype=dtype)


@pytest.fixture(scope="module")
def paper():
    with torch.random.fork_rng():
        model = randomised({**PAPER_CONFIG})
    return model, reference_layout(model)


def one_line_error(fn, *args) -> str:
    with pytest.raises(CompanionError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- the key map and the 466 → 247 de-duplication --------------------------------------------------------

def test_paper_layout_converts_and_loads_strictly(paper):
    model, ref = paper
    assert len(ref) == 466 and storages(ref) == 247           # the bank under 220 names, one storage
    bank_names = [k for k in ref if k.endswith("bank.templates")]
    assert len(bank_names) == 1 + 3 + 3 * 3 * 12 * 2
    assert set(aw.reference_key_map()) == set(ref)
    assert aw.reference_config(ref) == PAPER_CONFIG

    converted = aw.convert_reference_state_dict(ref)
    assert list(converted) == list(MEPSNet().state_dict())   # the companion's names and order
    assert len(converted) == storages(converted) == 243      # 247 less the two mean shifts' four tensors
    assert sum(v.numel() for v in converted.values()) == 2_241_187
    assert all(v.dtype == torch.float32 and v.is_contiguous() for v in converted.values())
    loaded = MEPSNet()
    loaded.load_state_dict(converted, strict=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(converted[key], value, rtol=1e-6, atol=1e-9)
    x = image()
    with torch.no_grad():
        y, want = loaded.eval()(x), model(x)
    # the biases went ×255 then ÷255 in float32 (an ulp each); 80 layers deep that stays below 1e-5 of the range
    assert (y - want).abs().max() < 1e-5 * want.abs().max()


def test_transform_reproduces_the_reference_forward_in_0_255(paper):
    """ours(x)·255 = reference(255·x) to float64 rounding; the fusion biases must not be rescaled."""
    model, ref = paper
    ref64 = {k: v.double() for k, v in ref.items()}
    ours = MEPSNet().double().eval()
    ours.load_state_dict(aw.convert_reference_state_dict(ref64, dtype=torch.float64))
    x = image(8, 8, dtype=torch.float64)
    with torch.no_grad():
        want = reference_forward(ref64, 255 * x, PAPER_CONFIG)
        got = ours(x) * 255
        scale = want.abs().max()
        assert scale > 10                                     # a real 0..255-scale output, not all zeros
        # float32 255·m (the reference's MeanShift) and float32 m (ours) round differently: 1e-7 of the range
        assert (got - want).abs().max() < 1e-7 * scale
        exact = ours.mean.view(3) * 255                       # the same mean on both sides: float64 rounding
        ref64["sub_mean.bias"], ref64["add_mean.bias"] = -exact, exact
        want = reference_forward(ref64, 255 * x, PAPER_CONFIG)
        assert (got - want).abs().max() < 1e-12 * scale

        # the outside reading "every bias ÷255" also rescales the fusion's biases: the gate then changes
        for key in ("fusion.attention.1.bias", "fusion.attention.3.bias"):
            ours.state_dict()[key].div_(255)
        assert (ours(x) * 255 - want).abs().max() > 1e-3


def test_small_config_is_read_from_the_keys():
    model = randomised(SMALL, seed=3)
    ref = reference_layout(model)
    cfg = aw.reference_config(ref)
    assert cfg == SMALL
    assert len(ref) == 4 + 1 + 6 + 2 * (1 + 4 + 2 * 2 * 3 * 2) + 4 + 4
    converted = aw.convert_reference_state_dict(ref)
    loaded = MEPSNet(**cfg)
    loaded.load_state_dict(converted, strict=True)
    x = image(10, 14)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), model(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(loaded(x) * 255, reference_forward(ref, 255 * x, cfg).float(),
                                   rtol=1e-4, atol=1e-3)
    prefixed = {f"module.{k}": v for k, v in ref.items()}    # a DataParallel save
    assert aw.convert_reference_state_dict(prefixed).keys() == converted.keys()


# --- one-line errors ----------------------------------------------------------------------------------------

@pytest.fixture
def small_ref():
    return reference_layout(randomised(SMALL, seed=4))


def test_missing_key_is_named(small_ref):
    del small_ref["body.1.body.0.body.2.body.2.coefficients"]
    message = one_line_error(aw.convert_reference_state_dict, small_ref)
    assert "missing 1 key(s): body.1.body.0.body.2.body.2.coefficients" in message


def test_wrong_shape_is_named(small_ref):
    small_ref["tail.0.reconst.0.bias"] = torch.zeros(5)
    message = one_line_error(aw.convert_reference_state_dict, small_ref)
    assert "tail.0.reconst.0.bias (5,) vs (6,)" in message


def test_unexpected_key_and_companion_names_are_named(small_ref):
    small_ref["body.2.gate.weight"] = torch.zeros(1)
    assert "unexpected 1 key(s): body.2.gate.weight" in one_line_error(aw.convert_reference_state_dict, small_ref)
    message = one_line_error(aw.convert_reference_state_dict, MEPSNet(**SMALL).state_dict())
    assert "companion key names" in message and "extract.0.weight" in message


def test_a_bank_copy_that_differs_is_refused(small_ref):
    key = "body.0.body.1.body.0.body.2.bank.templates"
    small_ref[key] = small_ref[key].clone()                  # a separate copy with the same values is fine
    aw.convert_reference_state_dict(small_ref)
    small_ref[key][0, 0, 0, 0, 0] += 1
    assert key in one_line_error(aw.convert_reference_state_dict, small_ref)


def test_a_mean_shift_in_0_1_is_refused(small_ref):
    small_ref["sub_mean.bias"] = -torch.tensor(DIV2K_MEAN)   # rgb_range 1: not the released model's
    message = one_line_error(aw.convert_reference_state_dict, small_ref)
    assert "mean shift" in message and "sub_mean.bias" in message


# --- files: the authors' save, the safe loader, the safetensors conversion ---------------------------------

class NotATensor:
    pass


def test_authors_file_loads_through_the_safe_loader(tmp_path, small_ref):
    model = randomised(SMALL, seed=4)
    path = tmp_path / "1950.pt"
    torch.save(small_ref, path)                               # the authors' solver: torch.save(net.state_dict())
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert len(raw) == len(small_ref) and storages(raw) == storages(small_ref)  # shared bank survives the file
    torch.save({"state_dict": small_ref, "step": 1950}, tmp_path / "wrapped.pt")
    torch.save(small_ref, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)  # torch < 1.6's format
    x = image()
    for target in (path, tmp_path / "wrapped.pt", tmp_path / "legacy.pt"):
        loaded = aw.load_authors_mepsnet(target)
        assert not loaded.training and loaded.config == SMALL
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-6)


def test_unsafe_or_broken_files_are_refused_without_unsafe_advice(tmp_path):
    torch.save({"weights": NotATensor()}, tmp_path / "object.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    torch.save({"step": 3}, tmp_path / "nothing.pt")
    for name, expect in (("object.pt", "safe loader"), ("garbage.pt", "safe loader"), ("nothing.pt", "no MEPSNet"),
                         ("missing.pt", "download mepsnet-official")):
        message = one_line_error(aw.load_authors_mepsnet, tmp_path / name)
        assert expect in message and "weights_only=False" not in message


def test_conversion_to_safetensors_and_official_path(tmp_path, small_ref, monkeypatch):
    from safetensors.torch import load_file

    model = randomised(SMALL, seed=4)
    torch.save(small_ref, tmp_path / "mepsnet-official.pt")
    dest = aw.official_weights_path(tmp_path)
    assert dest == tmp_path / "weights" / "mepsnet-official.safetensors"
    aw.convert_official_file(tmp_path / "mepsnet-official.pt", dest)
    assert set(load_file(str(dest))) == set(MEPSNet(**SMALL).state_dict())
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]     # written atomically, no leftovers

    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("the safetensors load read a pickle"))
    for loaded in (aw.load_authors_mepsnet(dest), aw.load_official_mepsnet(tmp_path)):
        x = image()
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-6)
    assert "python -m companion download mepsnet-official" in one_line_error(aw.load_official_mepsnet,
                                                                             tmp_path / "elsewhere")


# --- the released file, when a copy is at hand --------------------------------------------------------------

def _official_copy() -> Path | None:
    for name in ("1950.pt", "mepsnet-official.pt", "mepsnet_1950.pt"):
        if (SHARED_WEIGHTS / name).is_file():
            return SHARED_WEIGHTS / name
    return None


@pytest.mark.skipif(_official_copy() is None,
                    reason="the MEPSNet authors' checkpoint (sijinkim/MEPSNet_dev mepsnet/pt/1950.pt) is not in "
                           "../shared/weights/ (its README says it is not there); `python -m companion download "
                           "mepsnet-official` fetches it")
def test_released_checkpoint_converts(tmp_path):
    path = _official_copy()
    data = path.read_bytes()
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == OFFICIAL_BLOB
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert len(raw) == 466 and storages(raw) <= 247
    model = aw.load_authors_mepsnet(path)
    assert model.config == PAPER_CONFIG
    x = torch.from_numpy(texture(24, 24, seed=5, uint8=False)).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        y = model(x)
        want = reference_forward({k: v.float() for k, v in raw.items()}, 255 * x, PAPER_CONFIG) / 255
    assert torch.isfinite(y).all() and -0.2 < y.quantile(0.01) and y.quantile(0.99) < 1.2   # images, not noise
    assert (y - want).abs().max() < 1e-4
