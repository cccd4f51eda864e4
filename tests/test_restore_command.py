"""``python -m companion restore`` and the engine behind it (companion.engine.inference): the fastest mode for
the hardware, restoring files (exact against :func:`restore`, tiled, never over an input), the checkpoint
sources (companion .pt, safetensors with a JSON sidecar, official, zoo) and one-line errors for bad input."""
from __future__ import annotations

import json
import struct
import sys
import types
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from companion.cli import main
from companion.data.images import load_image
from companion.engine import inference
from companion.engine.checkpoint import save_checkpoint
from companion.engine.inference import (fastest_mode, inference_mode, prepare_model, restore, restore_files)
from companion.errors import CompanionError
from companion.models import build_model
from companion.models.mepsnet import InferenceMEPSNet
from tests.conftest import rgb16_png, texture

pytestmark = pytest.mark.usefixtures("one_thread")

SIZES = {"a": (40, 56), "b": (33, 47)}  # (height, width): odd sizes on purpose


@pytest.fixture(scope="module")
def mepsnet():
    torch.manual_seed(0)
    return build_model("mepsnet", "quick").eval()


@pytest.fixture
def images(tmp_path):
    paths = []
    for i, (name, (h, w)) in enumerate(SIZES.items()):
        path = tmp_path / "in" / f"{name}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(texture(h, w, seed=i, freq=(0.2, 0.9))).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def checkpoint(tmp_path, mepsnet):
    return save_checkpoint(tmp_path / "mepsnet.pt", model=mepsnet, model_name="mepsnet", step=3)


def _expected(model, path, **kwargs) -> np.ndarray:
    image = torch.from_numpy(load_image(path)).permute(2, 0, 1)
    return restore(model, image, **kwargs).permute(1, 2, 0).numpy()


def _check_outputs(paths, model, out_dir=None, **kwargs):
    for path in paths:
        out = (out_dir or path.parent / "restored") / f"{path.stem}_restored.png"
        with Image.open(out) as im:
            assert im.mode == "RGB" and im.size == (SIZES[path.stem][1], SIZES[path.stem][0])
        got = load_image(out)
        # 8-bit PNG rounding: at most one level apart
        assert np.abs(got - _expected(model, path, **kwargs)).max() <= 1 / 255 + 1e-6


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# --- the mode ---------------------------------------------------------------------------------------------------

def _torch_reports_cpu_bf16() -> bool:
    return any(getattr(torch.cpu, probe, lambda: False)()
               for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def test_fastest_mode_on_this_cpu_follows_what_torch_reports():
    mode = fastest_mode("cpu")
    assert mode["bf16"] is _torch_reports_cpu_bf16()
    assert mode["dtype"] == (torch.bfloat16 if mode["bf16"] else torch.float32)
    assert mode["channels_last"] is True and mode["device"] == torch.device("cpu")
    assert mode["name"] in mode["label"] and "cpu" in mode["label"]


def _no_probes(monkeypatch):
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: False, raising=False)


def test_fastest_mode_is_fp32_on_an_avx2_cpu(monkeypatch):
    _no_probes(monkeypatch)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    mode = fastest_mode("cpu")
    assert (mode["name"], mode["dtype"], mode["bf16"]) == ("fp32", torch.float32, False)
    assert "AVX2" in mode["why"] and "no AVX512_BF16 or AMX" in mode["why"]
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")  # AVX512 without BF16
    assert fastest_mode("cpu")["name"] == "fp32"


@pytest.mark.parametrize("capability", ["AVX512_BF16", "AMX"])
def test_fastest_mode_is_bf16_where_the_capability_names_native_bf16(monkeypatch, capability):
    _no_probes(monkeypatch)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    mode = fastest_mode("cpu")
    assert (mode["name"], mode["dtype"], mode["bf16"]) == ("bf16", torch.bfloat16, True)
    assert capability in mode["why"]


@pytest.mark.parametrize("probe, name", [("_is_avx512_bf16_supported", "AVX512_BF16"),
                                         ("_is_amx_tile_supported", "AMX")])
def test_fastest_mode_is_bf16_where_the_cpu_feature_probe_says_so(monkeypatch, probe, name):
    _no_probes(monkeypatch)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(torch.cpu, probe, lambda: True, raising=False)
    assert fastest_mode("cpu")["name"] == "bf16"
    assert inference.cpu_bf16_instructions() == name


def test_a_broken_probe_counts_as_no_bf16(monkeypatch):
    def broken():
        raise RuntimeError("cpuinfo unavailable")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", broken, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", broken, raising=False)
    assert fastest_mode("cpu")["name"] == "fp32"


@pytest.mark.parametrize("native", [True, False])
def test_fastest_mode_on_cuda_follows_native_bf16_support(monkeypatch, native):
    monkeypatch.setattr(inference, "_cuda_bf16", lambda dev: native)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None: "Some GPU")
    mode = fastest_mode(torch.device("cuda", 0))
    assert mode["name"] == ("bf16" if native else "fp32") and mode["channels_last"] is True
    assert mode["label"].endswith("on cuda:0") and mode["why"].startswith("Some GPU")


def test_inference_mode_forces_a_precision_and_refuses_unknown_ones():
    assert inference_mode("cpu", "fp32")["dtype"] == torch.float32
    assert inference_mode("cpu", "bf16")["dtype"] == torch.bfloat16
    assert inference_mode("cpu", "auto") == fastest_mode("cpu")
    with pytest.raises(CompanionError, match="unknown precision"):
        inference_mode("cpu", "fp16")


def test_prepare_model_uses_mepsnet_for_inference_and_autocast_for_others(mepsnet):
    runner, options = prepare_model(mepsnet, inference_mode("cpu", "bf16"))
    assert isinstance(runner, InferenceMEPSNet) and runner.dtype == torch.bfloat16 and options["bf16"] is False
    assert mepsnet.bank is not None  # the original is untouched
    dncnn = build_model("dncnn", "quick")
    runner, options = prepare_model(dncnn, inference_mode("cpu", "bf16"))
    assert runner is dncnn and options == {"bf16": True, "channels_last": True}
    runner, options = prepare_model(dncnn, inference_mode("cpu", "fp32"))
    assert options["bf16"] is False


# --- restore_files ---------------------------------------------------------------------------------------------

def test_restore_files_writes_beside_each_input_and_equals_restore(tmp_path, images, mepsnet):
    seen = []
    records = restore_files(mepsnet, images, device="cpu", mode=inference_mode("cpu", "fp32"), progress=False,
                            on_image=seen.append)
    assert seen == records and [r["input"] for r in records] == images
    assert [r["output"] for r in records] == [p.parent / "restored" / f"{p.stem}_restored.png" for p in images]
    assert all(r["seconds"] > 0 and r["mode"] == "fp32 channels-last on cpu" for r in records)
    assert [(r["height"], r["width"]) for r in records] == list(SIZES.values())
    _check_outputs(images, mepsnet)


def test_restore_files_in_bf16_stays_close_to_fp32(tmp_path, images, mepsnet):
    out = tmp_path / "bf16"
    restore_files(mepsnet, images[:1], out, device="cpu", mode=inference_mode("cpu", "bf16"), progress=False)
    got = load_image(out / "a_restored.png")
    assert np.abs(got - _expected(mepsnet, images[0])).mean() < 0.02


def test_restore_files_runs_a_model_without_for_inference_under_autocast(tmp_path, images):
    torch.manual_seed(1)
    dncnn = build_model("dncnn", "quick").eval()
    out = tmp_path / "out"
    restore_files(dncnn, images[:1], out, device="cpu", mode=inference_mode("cpu", "bf16"), progress=False)
    assert np.abs(load_image(out / "a_restored.png") - _expected(dncnn, images[0])).mean() < 0.02
    restore_files(dncnn, images[:1], out, device="cpu", mode=inference_mode("cpu", "fp32"), progress=False,
                  overwrite=True)
    _check_outputs(images[:1], dncnn, out)


def test_restore_files_refuses_to_write_over_an_input(tmp_path, images, mepsnet):
    victim = tmp_path / "in" / "a_restored.png"
    victim.write_bytes(images[1].read_bytes())
    before = victim.read_bytes()
    with pytest.raises(CompanionError, match="would overwrite the input"):
        restore_files(mepsnet, [images[0], victim], tmp_path / "in", device="cpu", progress=False)
    assert victim.read_bytes() == before
    with pytest.raises(CompanionError, match="given twice"):
        restore_files(mepsnet, [images[0], images[0]], device="cpu", progress=False)
    other = tmp_path / "other" / "a.png"
    other.parent.mkdir()
    other.write_bytes(images[0].read_bytes())
    with pytest.raises(CompanionError, match="would both write"):
        restore_files(mepsnet, [images[0], other], tmp_path / "out", device="cpu", progress=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "in" / "restored").exists()


# --- the command ------------------------------------------------------------------------------------------------

def test_restore_command_matches_restore_and_leaves_inputs_alone(tmp_path, images, checkpoint, mepsnet, capsys):
    before = [p.read_bytes() for p in images]
    argv = ["restore", *map(str, images), "--checkpoint", str(checkpoint), "--precision", "fp32", "--device", "cpu"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert [p.read_bytes() for p in images] == before
    _check_outputs(images, mepsnet)
    lines = out.strip().splitlines()
    assert len(lines) == len(images) + 1
    for path, line in zip(images, lines):
        assert line.startswith(f"{path} -> {path.parent / 'restored' / (path.stem + '_restored.png')}")
        assert " s, 1×1 tiles (fp32 channels-last on cpu)" in line
    assert lines[-1].startswith("restored 2 images in ") and "s per image" in lines[-1]
    assert "MEPSNet" in lines[-1] and str(checkpoint) in lines[-1]
    # once more: refused in one line naming the file and --overwrite, nothing touched; with --overwrite, replaced
    outputs = [p.parent / "restored" / f"{p.stem}_restored.png" for p in images]
    written = [p.read_bytes() for p in outputs]
    for p in outputs:
        p.write_bytes(b"the user's own file")
    assert main(argv) == 2
    assert _one_error_line(capsys) == (f"error: {outputs[0]} exists already (and 1 more output); pass --overwrite to "
                                       "replace it, or another --out folder")
    assert all(p.read_bytes() == b"the user's own file" for p in outputs)
    assert main([*argv, "--overwrite"]) == 0
    assert [p.read_bytes() for p in outputs] == written and [p.read_bytes() for p in images] == before


def test_a_png_and_a_jpeg_of_the_same_name_do_not_replace_each_other(tmp_path, images, checkpoint, capsys):
    jpeg = images[0].with_suffix(".jpg")
    Image.open(images[0]).save(jpeg, quality=95)
    common = ["--checkpoint", str(checkpoint), "--precision", "fp32", "--device", "cpu"]
    assert main(["restore", str(images[0]), *common]) == 0
    first = (images[0].parent / "restored" / "a_restored.png").read_bytes()
    capsys.readouterr()
    assert main(["restore", str(jpeg), *common]) == 2
    err = _one_error_line(capsys)
    assert str(images[0].parent / "restored" / "a_restored.png") in err and "--overwrite" in err
    assert (images[0].parent / "restored" / "a_restored.png").read_bytes() == first


def test_restore_command_auto_uses_the_fastest_mode(tmp_path, images, checkpoint, capsys):
    assert main(["restore", str(images[0]), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o"),
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    mode = fastest_mode("cpu")
    assert f"({mode['label']})" in out and mode["why"] in out
    assert (tmp_path / "o" / "a_restored.png").is_file()


def test_restore_command_tiled_equals_tiled_restore(tmp_path, images, checkpoint, mepsnet, capsys):
    out = tmp_path / "tiled"
    assert main(["restore", *map(str, images), "--checkpoint", str(checkpoint), "--precision", "fp32",
                 "--device", "cpu", "--tiles", "2", "3", "--overlap", "5", "--out", str(out)]) == 0
    _check_outputs(images, mepsnet, out, tiles=(2, 3), overlap=5)


def _save_safetensors(path: Path, model, name: str, config: dict | None = None) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    Path(f"{path}.json").write_text(json.dumps({"model": name, "config": config or model.config}))
    return path


def test_safetensors_with_sidecar_gives_the_same_result(tmp_path, images, checkpoint, mepsnet, capsys):
    weights = _save_safetensors(tmp_path / "m.safetensors", mepsnet, "mepsnet")
    common = ["--precision", "fp32", "--device", "cpu"]
    assert main(["restore", str(images[0]), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "pt"),
                 *common]) == 0
    assert main(["restore", str(images[0]), "--checkpoint", str(weights), "--out", str(tmp_path / "st"),
                 *common]) == 0
    a, b = load_image(tmp_path / "pt" / "a_restored.png"), load_image(tmp_path / "st" / "a_restored.png")
    assert np.abs(a - b).max() <= 1 / 255 + 1e-6
    _check_outputs(images[:1], mepsnet, tmp_path / "st")


def test_safetensors_problems_are_one_line(tmp_path, images, mepsnet, capsys):
    weights = _save_safetensors(tmp_path / "m.safetensors", mepsnet, "mepsnet")
    run = ["restore", str(images[0]), "--checkpoint", str(weights), "--out", str(tmp_path / "o")]
    Path(f"{weights}.json").unlink()
    assert main(run) == 2
    assert "has no sidecar" in _one_error_line(capsys)
    Path(f"{weights}.json").write_text("{not json")
    assert main(run) == 2
    assert "not readable JSON" in _one_error_line(capsys)
    Path(f"{weights}.json").write_text(json.dumps({"model": "mepsnet", "config": {**mepsnet.config, "experts": 2}}))
    assert main(run) == 2
    assert "does not fit" in _one_error_line(capsys)
    dncnn = _save_safetensors(tmp_path / "d.safetensors", build_model("dncnn", "quick"), "dncnn")
    assert main(["restore", str(images[0]), "--checkpoint", str(dncnn), "--model", "mepsnet",
                 "--out", str(tmp_path / "o")]) == 2
    assert "it is for model 'dncnn', not 'mepsnet'" in _one_error_line(capsys)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    Path(f"{tmp_path / 'junk.safetensors'}.json").write_text(json.dumps({"model": "mepsnet", "config": {}}))
    assert main(["restore", str(images[0]), "--checkpoint", str(tmp_path / "junk.safetensors"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "cannot read" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_a_checkpoint_of_another_model_is_refused(tmp_path, images, capsys):
    ckpt = save_checkpoint(tmp_path / "dncnn.pt", model=build_model("dncnn", "quick"), model_name="dncnn", step=1)
    assert main(["restore", str(images[0]), "--checkpoint", str(ckpt), "--model", "mepsnet"]) == 2
    err = _one_error_line(capsys)
    assert "does not fit" in err and "'dncnn', not 'mepsnet'" in err
    assert not (images[0].parent / "restored").exists()


def test_a_dncnn_checkpoint_restores_with_model_dncnn(tmp_path, images, capsys):
    torch.manual_seed(2)
    dncnn = build_model("dncnn", "quick", depth=3)  # the checkpoint's config decides the size
    ckpt = save_checkpoint(tmp_path / "dncnn.pt", model=dncnn, model_name="dncnn", step=1)
    assert main(["restore", str(images[0]), "--checkpoint", str(ckpt), "--model", "dncnn", "--precision", "fp32",
                 "--device", "cpu"]) == 0
    _check_outputs(images[:1], dncnn)


@pytest.mark.parametrize("checkpoint_arg, message", [
    ("missing.pt", "does not exist"),
    ("folder", "is a folder"),
    ("junk.pt", "not a companion checkpoint"),
])
def test_bad_checkpoint_files_are_one_line(tmp_path, images, capsys, checkpoint_arg, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "junk.pt").write_bytes(b"garbage" * 10)
    assert main(["restore", str(images[0]), "--checkpoint", str(tmp_path / checkpoint_arg)]) == 2
    err = _one_error_line(capsys)
    assert message in err and "weights_only=False" not in err
    assert not (images[0].parent / "restored").exists()


def test_zoo_is_the_default_and_restores_with_the_zoo_entry(tmp_path, images, zoo, capsys):
    entry, model = zoo
    assert main(["restore", str(images[0])]) == 2  # the default model is vdsr's zoo entry, not in this zoo
    assert "zoo entry ch7/07b/vdsr-seed0 is missing" in _one_error_line(capsys)
    for argv in (["restore", str(images[0]), "--model", "mepsnet"],
                 ["restore", str(images[0]), "--checkpoint", "zoo", "--model", "mepsnet", "--overwrite"]):
        assert main([*argv, "--precision", "fp32", "--device", "cpu"]) == 0
        out = capsys.readouterr().out
        assert "zoo ch7/07b/mepsnet-seed0 (1 steps, val 20.0 dB)" in out.strip().splitlines()[-1]
        _check_outputs(images[:1], model)  # a PNG of the input's size, equal to restoring with the entry's model


def test_a_missing_zoo_entry_is_one_line_naming_zoo_build(tmp_path, images, monkeypatch, capsys):
    monkeypatch.setenv("COMPANION_ZOO", str(tmp_path / "empty"))
    for argv in (["restore", str(images[0]), "--model", "mepsnet"],
                 ["restore", str(images[0]), "--checkpoint", "zoo", "--model", "mepsnet"]):
        assert main(argv) == 2
        err = _one_error_line(capsys)
        assert "ch7/07b/mepsnet-seed0 is missing" in err
        assert "`python -m companion zoo build ch7/07b/mepsnet-seed0`" in err
        assert "--checkpoint official" in err and "FILE.pt" in err
    assert main(["restore", str(images[0]), "--checkpoint", "zoo", "--model", "dncnn"]) == 2
    err = _one_error_line(capsys)
    assert "zoo build ch7/07b/dncnn-seed0" in err and "official" not in err and "FILE.pt" in err
    assert not (images[0].parent / "restored").exists()


def test_a_stale_zoo_entry_is_one_line_naming_zoo_build(images, zoo, capsys):
    entry, _ = zoo
    meta = json.loads(entry.sidecar_path.read_text())
    entry.sidecar_path.write_text(json.dumps({**meta, "digest": "0" * 16}))
    assert main(["restore", str(images[0]), "--model", "mepsnet"]) == 2
    err = _one_error_line(capsys)
    assert "ch7/07b/mepsnet-seed0 is stale" in err and "`python -m companion zoo build ch7/07b/mepsnet-seed0`" in err
    assert "--checkpoint official" in err
    assert not (images[0].parent / "restored").exists()


def test_zoo_weights_that_do_not_load_are_one_line(images, zoo, capsys):
    entry, _ = zoo
    entry.weights_path.write_bytes(b"\x00" * 64)
    assert main(["restore", str(images[0]), "--model", "mepsnet"]) == 2
    err = _one_error_line(capsys)
    assert "cannot be loaded" in err and "zoo build ch7/07b/mepsnet-seed0" in err and "--checkpoint official" in err
    assert not (images[0].parent / "restored").exists()


@pytest.fixture
def fake_authors(monkeypatch, tmp_path, mepsnet):
    """Stands in for companion.ch7.authors_weights (its two functions); records the calls."""
    calls = {}
    module = types.ModuleType("companion.ch7.authors_weights")

    def official_weights_path(data_root=None):
        calls["data_root"] = data_root
        return Path(data_root or tmp_path / "data") / "mepsnet_official.pt"

    def load_authors_mepsnet(path):
        calls["loaded"] = Path(path)
        return mepsnet

    module.official_weights_path, module.load_authors_mepsnet = official_weights_path, load_authors_mepsnet
    monkeypatch.setitem(sys.modules, "companion.ch7.authors_weights", module)
    return calls


def test_official_without_the_download_names_the_download_command(images, fake_authors, capsys):
    assert main(["restore", str(images[0]), "--checkpoint", "official"]) == 2
    err = _one_error_line(capsys)
    assert "python -m companion download mepsnet-official" in err and "loaded" not in fake_authors
    assert not (images[0].parent / "restored").exists()


def test_official_loads_the_authors_weights(tmp_path, images, fake_authors, mepsnet, capsys):
    data = tmp_path / "mydata"
    data.mkdir()
    (data / "mepsnet_official.pt").write_bytes(b"stand-in")
    assert main(["restore", str(images[0]), "--checkpoint", "official", "--data", str(data), "--precision", "fp32",
                 "--device", "cpu"]) == 0
    assert fake_authors == {"data_root": data, "loaded": data / "mepsnet_official.pt"}
    assert "authors' weights" in capsys.readouterr().out
    _check_outputs(images[:1], mepsnet)


def test_official_is_only_for_mepsnet(images, fake_authors, capsys):
    assert main(["restore", str(images[0]), "--checkpoint", "official", "--model", "dncnn"]) == 2
    assert "--model mepsnet" in _one_error_line(capsys)


# --- bad images ------------------------------------------------------------------------------------------------

def _rgb16_png(path, h=20, w=20):
    return rgb16_png(path, h, w)


def _bad_image(folder: Path, kind: str) -> Path:
    rgb = texture(20, 20, seed=5)
    path = folder / f"bad_{kind}.png"
    if kind == "unreadable":
        path.write_bytes(b"this is not an image" * 10)
    elif kind == "truncated":
        Image.fromarray(texture(64, 64, seed=6)).save(path)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "greyscale":
        Image.fromarray(rgb[..., 0]).save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA").save(path)
    elif kind == "16-bit":
        _rgb16_png(path)
    elif kind == "small":
        Image.fromarray(texture(6, 9, seed=7)).save(path)
    elif kind == "missing":
        pass
    return path


BAD = {"unreadable": "corrupt or not an image", "truncated": "corrupt", "greyscale": "greyscale",
       "rgba": "alpha", "16-bit": "more than 8 bits", "small": "too small", "missing": "does not exist"}
TILING = ["--tiles", "2", "2", "--overlap", "4"]  # the 9×6 image is too small for 2×2 tiles with 4 px overlap


@pytest.mark.parametrize("kind", list(BAD))
def test_each_bad_image_is_one_line_and_nothing_is_written(images, checkpoint, capsys, kind):
    bad = _bad_image(images[0].parent, kind)
    assert main(["restore", str(images[0]), str(bad), "--checkpoint", str(checkpoint), *TILING]) == 2
    err = _one_error_line(capsys)
    assert str(bad) in err and BAD[kind] in err
    assert not (images[0].parent / "restored").exists()


def test_every_bad_image_is_named_in_one_line(tmp_path, images, checkpoint, capsys):
    bad = [_bad_image(images[0].parent, kind) for kind in BAD]
    out = tmp_path / "out"
    assert main(["restore", str(images[0]), *map(str, bad), str(images[1]), "--checkpoint", str(checkpoint),
                 "--out", str(out), *TILING]) == 2
    err = _one_error_line(capsys)
    assert f"{len(bad)} of {len(bad) + 2} images cannot be restored" in err
    for path, reason in zip(bad, BAD.values()):
        assert f"{path} (" in err
        assert reason in err
    assert str(images[0]) + " (" not in err
    assert not out.exists() and not (images[0].parent / "restored").exists()


def test_bad_arguments_are_one_line(tmp_path, images, capsys):
    (tmp_path / "file").write_text("x")
    for argv in (["restore"], ["restore", str(images[0]), "--tiles", "0", "1"],
                 ["restore", str(images[0]), "--overlap", "-1"], ["restore", str(images[0]), "--model", "nope"],
                 ["restore", str(images[0]), "--out", str(tmp_path / "file")],
                 ["restore", str(images[0]), "--precision", "fp16"]):
        assert main(argv) == 2
        _one_error_line(capsys)
