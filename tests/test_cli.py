"""The command line: one-line errors that name the fix, exit status 2, nothing half-written."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from companion.cli import main
from tests.conftest import REPO


def _cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "companion", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "no_such_notebook"], "error: unknown notebook 'no_such_notebook'; choose from: 00_quickstart"),
    (["run", "--profile", "medium"], "error: unknown profile 'medium'; choose one of smoke, quick, full"),
    (["run", "--device", "tpu"], "error: unknown device 'tpu'; choose one of auto, cpu, cuda"),
])
def test_bad_run_arguments(args, message, tmp_path):
    code, out, err = _cli(*args, "--runs-dir", str(tmp_path / "runs"), "--figures-dir", str(tmp_path / "figs"))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(message)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "figs").exists()


def test_cuda_requested_without_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, _, err = _cli("run", "--device", "cuda", "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and "no CUDA GPU" in err and "--device auto" in err
    assert not (tmp_path / "runs").exists()


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got {lines}"
    return lines[0]


def _results_file(folder, measurements):
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"notebook": "07c_ablations", "profile": "quick", "seed": 0, "commit": "abc123", "device": "cpu",
           "measurements": measurements, "figures": []}
    (folder / "07c_ablations.json").write_text(json.dumps(doc))


def _m(key, value, status, row, column, entry="Table 7.3"):
    return {"key": key, "value": value, "entry": entry, "row": row, "column": column, "status": status,
            "protocol": "p", "note": ""}


def test_ledger_command_writes_the_numbers_and_the_summary(tmp_path, capsys):
    _results_file(tmp_path / "results", [
        _m("params", 2241187, "exact", "ME+PS (3 experts)", "Params"),
        _m("psnr", 30.12, "small-scale", "ME+PS (3 experts)", "PSNR")])
    out = tmp_path / "LEDGER.md"
    out.write_text("previous ledger\n")
    assert main(["ledger", "--results", str(tmp_path / "results"), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Reproduction ledger") and "1 results file(s)" in text
    assert "### Table 7.3: costs exact · PSNR/SSIM measured at small scale" in text
    assert "| ME+PS (3 experts) / Params | 2,200,000 | 2,241,187 | exact | quick · 0 · abc123 | p |" in text
    assert "| ME+PS (3 experts) / PSNR | 34.29 | 30.12 | measured at small scale | quick · 0 · abc123 | p |" in text
    assert "| exact | 2 | 0 | 0 | 0 | 0 |" in text  # the costs of Table 7.3 and its seed-000 twin ACCV Table 3
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"ledger: 83 entries from 1 results file(s) -> {out}"
    assert printed[1:6] == ["  costs       exact 2, not yet 15", "  PSNR/SSIM   measured at small scale 2, not yet 23",
                            "  perceptual  not yet 4", "  recognition not yet 5", "  figure      not yet 49"]


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "error: argument --results: {path} does not exist (see `python -m companion ledger --help`)"),
    (lambda p: p.write_text("x"), "error: argument --results: {path} is a file, not a folder "
                                  "(see `python -m companion ledger --help`)"),
    (lambda p: p.mkdir(), "error: results folder {path} holds no results files (*.json); run the notebooks first "
                          "or check the path; the ledger was left as it was"),
], ids=["missing", "a-file", "empty"])
def test_ledger_with_a_mistyped_results_folder_leaves_the_ledger_untouched(tmp_path, capsys, make, message):
    path = tmp_path / "reslts"
    make(path)
    out = tmp_path / "LEDGER.md"
    out.write_text("previous ledger\n")
    assert main(["ledger", "--results", str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert _one_line(captured.err) == message.format(path=path) and captured.out == ""
    assert out.read_text() == "previous ledger\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "temporary file left behind"


def test_ledger_with_one_good_and_one_empty_results_folder_writes_nothing(tmp_path, capsys):
    _results_file(tmp_path / "good", [_m("params", 2241187, "exact", "ME+PS (3 experts)", "Params")])
    (tmp_path / "empty").mkdir()
    out = tmp_path / "LEDGER.md"
    out.write_text("previous ledger\n")
    assert main(["ledger", "--results", str(tmp_path / "good"), "--results", str(tmp_path / "empty"),
                 "--out", str(out)]) == 2
    assert "empty holds no results files" in _one_line(capsys.readouterr().err)
    assert out.read_text() == "previous ledger\n"


def test_ledger_out_naming_a_folder_is_refused(tmp_path, capsys):
    assert main(["ledger", "--out", str(tmp_path)]) == 2
    assert _one_line(capsys.readouterr().err) == (f"error: argument --out: {tmp_path} is a folder; name a file "
                                                  "(see `python -m companion ledger --help`)")
    assert list(tmp_path.iterdir()) == []


def test_list_command(capsys, repo):
    from companion.profiles import notebook_configs

    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    notebooks = sorted(p.stem for p in (repo / "notebooks").glob("[0-9][0-9]*.ipynb"))
    assert [line.split()[0] for line in lines] == notebooks and len(notebooks) >= 6
    width = max(len(stem) for stem in notebooks) + 2  # one column: the longest name and two spaces
    for stem, line in zip(notebooks, lines):
        expected = f"{stem:<{width}}profiles: smoke, quick, full" if stem in notebook_configs() else stem
        assert line.rstrip() == expected
    assert len({line.index("profiles:") for line in lines if "profiles:" in line}) == 1  # the column lines up


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m companion") and all(c in out for c in ("run", "ledger", "list", "train"))


@pytest.fixture
def train_args(tmp_path):
    (tmp_path / "shdd").mkdir()
    return ["train", "dncnn", "--data", str(tmp_path / "shdd"), "--checkpoint", str(tmp_path / "model.pt"),
            "--device", "cpu"]


@pytest.mark.parametrize("extra, message", [
    (["--seed", "-1"], "argument --seed: seed must be between 0 and 4,294,966,295, got -1"),
    (["--steps", "0"], "argument --steps: the value must be >= 1, got 0"),
    (["--steps", "-5"], "argument --steps: the value must be >= 1, got -5"),
    (["--lr", "-1"], "argument --lr: expected a finite number > 0, got '-1'"),
    (["--lr", "nan"], "argument --lr: expected a finite number > 0, got 'nan'"),
    (["--lr", "inf"], "argument --lr: expected a finite number > 0, got 'inf'"),
    (["--max-seconds", "-1"], "argument --max-seconds: expected a finite number > 0, got '-1'"),
    (["--max-seconds", "0"], "argument --max-seconds: expected a finite number > 0, got '0'"),
    (["--batch-size", "0"], "argument --batch-size: the value must be >= 1, got 0"),
    (["--grad-clip", "nan"], "argument --grad-clip: expected a finite number > 0, got 'nan'"),
    (["--milestones", "10", "0"], "argument --milestones: the value must be >= 1, got 0"),
])
def test_bad_train_values_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, train_args, extra, message):
    assert main([*train_args, *extra]) == 2
    captured = capsys.readouterr()
    assert _one_line(captured.err) == f"error: {message} (see `python -m companion train --help`)"
    assert captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shdd"] and not any((tmp_path / "shdd").iterdir())


@pytest.mark.parametrize("seed, message", [
    ("-1", "seed must be between 0 and 4,294,966,295, got -1"),
    (str(2**64), f"seed must be between 0 and 4,294,966,295, got {2**64}"),
    ("1.5", "seed must be a whole number, got '1.5'"),
])
def test_bad_run_seed_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, seed, message):
    argv = ["run", "00", "--seed", seed, "--runs-dir", str(tmp_path / "runs"), "--figures-dir", str(tmp_path / "f")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert _one_line(captured.err) == f"error: argument --seed: {message} (see `python -m companion run --help`)"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["data", "shdd"], ["data", "flickr-distortion"]])
def test_data_out_naming_a_file_is_refused(tmp_path, capsys, command):
    target = tmp_path / "not_a_folder.txt"
    target.write_text("keep")
    assert main([*command, "--out", str(target)]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"error: argument --out: {target} is a file; name a folder (it is created if missing) "
        f"(see `python -m companion {' '.join(command)} --help`)")
    assert target.read_text() == "keep" and [p.name for p in tmp_path.iterdir()] == ["not_a_folder.txt"]


@pytest.mark.parametrize("option", ["--runs-dir", "--figures-dir"])
def test_run_folders_naming_a_file_are_refused(tmp_path, capsys, option):
    target = tmp_path / "file"
    target.write_text("keep")
    assert main(["run", "00", option, str(target)]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"error: argument {option}: {target} is a file; name a folder (it is created if missing) "
        "(see `python -m companion run --help`)")
    assert target.read_text() == "keep"


def test_list_and_argument_errors_import_nothing_heavy(tmp_path):
    """`list` and every argument error answer before nbformat, papermill, torch or numpy load (4-12 s on 2 cores)."""
    (tmp_path / "shdd").mkdir()
    (tmp_path / "file").write_text("x")
    script = f"""
import json, sys
from companion.cli import build_parser, main, _cmd_list
args = build_parser().parse_args(["list"])
codes = [_cmd_list(args)]
for argv in ([], ["run", "--seed", "-1"], ["run", "--profile", "medium", "--runs-dir", {str(tmp_path / "r")!r}],
             ["run", "no_such_notebook", "--runs-dir", {str(tmp_path / "r")!r}],
             ["run", "--device", "tpu", "--runs-dir", {str(tmp_path / "r")!r}],
             ["train", "dncnn", "--data", {str(tmp_path / "shdd")!r}, "--checkpoint", "m.pt", "--steps", "0"],
             ["train", "dncnn", "--data", {str(tmp_path / "missing")!r}, "--checkpoint", "m.pt"],
             ["ledger", "--results", {str(tmp_path / "missing")!r}],
             ["data", "shdd", "--out", {str(tmp_path / "file")!r}],
             ["download"], ["nonsense"]):
    codes.append(main(argv))
heavy = ("nbformat", "papermill", "torch", "numpy", "tqdm", "tqdm.auto", "jsonschema", "matplotlib", "PIL",
         "jupyter_client", "scipy")
print(json.dumps({{"codes": codes, "loaded": [m for m in heavy if m in sys.modules]}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0] + [2] * 11
    assert report["loaded"] == []
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 11 and all(line.startswith("error: ") for line in errors)


def test_data_with_missing_source_folder(tmp_path):
    code, _, err = _cli("data", "shdd", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert code == 2 and err.startswith("error: ") and "nowhere" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_data_with_corrupt_image(tmp_path):
    import numpy as np

    from companion.data.images import save_image

    src = tmp_path / "refs"
    for name in ("a", "b"):
        save_image(src / f"{name}.png", np.full((320, 320, 3), 0.5, np.float32))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, _, err = _cli("data", "flickr-distortion", "--source", str(src), "--out", str(tmp_path / "out"))
    assert code == 2 and "broken.png" in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "out").rglob("*.png")) if (tmp_path / "out").exists() else True


def test_download_unknown_dataset_and_missing_checksum(tmp_path):
    code, _, err = _cli("download", "ImageNet", "--data", str(tmp_path))
    assert code == 2 and "ImageNet" in err and "DIV2K" in err
    code, _, err = _cli("download", "Manga109", "--data", str(tmp_path))
    assert code == 2 and "manga109" in err.lower()


def test_train_command_trains_resumes_and_refuses_a_mismatched_checkpoint(tmp_path, capsys, one_thread):
    import re

    import torch
    from PIL import Image

    from companion.ch7.shdd import build_shdd
    from companion.models import build_model, count_parameters
    from tests.conftest import texture

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(texture(176, 180, i)).save(src / f"im{i}.png")
    build_shdd(src, tmp_path / "out", levels=("moderate",), versions=1, progress=False)
    ckpt = tmp_path / "dncnn.pt"
    common = ["--data", str(tmp_path / "out"), "--checkpoint", str(ckpt), "--batch-size", "2",
              "--patch-size", "32", "--device", "cpu"]
    n_params = count_parameters(build_model("dncnn", "quick"))
    assert main(["train", "dncnn", "--size", "quick", "--steps", "2", *common]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(rf"dncnn \({n_params:,} parameters\): 2 steps in \d+ s, stopped at the step limit; "
                        rf"checkpoint {re.escape(str(ckpt))}", line), line
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["step"] == 2
    assert main(["train", "dncnn", "--size", "quick", "--steps", "3", *common]) == 0
    assert ": 3 steps in " in capsys.readouterr().out  # resumed from step 2: one more step
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["step"] == 3
    before = ckpt.read_bytes()
    assert main(["train", "dncnn", "--size", "paper", "--steps", "4", *common]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: this checkpoint is `--size quick` ({ckpt}); pass --size quick to resume it, or " \
                          "--restart to start over at this size"
    assert ckpt.read_bytes() == before  # nothing overwritten


def test_download_help_names_every_weights_file_the_catalogue_knows(capsys):
    from companion.data import folders

    assert main(["download", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    missing = [name for name in folders.WEIGHTS if name.lower() not in text.lower()]
    assert not missing, f"`download --help` does not name {missing}"
