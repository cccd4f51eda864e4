"""Ctrl-C (SIGINT) and SIGTERM during ``python -m companion train``: the checkpoint is saved at the current step,
one line says the step a rerun resumes from, and the rerun resumes there (issue 19, §1)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
from PIL import Image

from companion.ch7.shdd import build_shdd
from companion.cli import main
from tests.conftest import REPO, texture


@pytest.fixture(scope="module")
def shdd(tmp_path_factory):
    root = tmp_path_factory.mktemp("shdd")
    (root / "src").mkdir()
    for i in range(3):
        Image.fromarray(texture(176, 180, i)).save(root / "src" / f"im{i}.png")
    build_shdd(root / "src", root / "out", levels=("moderate",), versions=1, progress=False)
    return root / "out"


def _train_until(argv: list[str], steps_seen: int, sig: int, timeout: float = 120.0):
    """Start ``python -m companion train ...``, wait until its progress bar shows ``steps_seen`` steps, send
    ``sig``; returns (exit status, stdout, stderr)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "companion", *argv], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks: list[str] = []

    def read():
        for char in iter(lambda: proc.stderr.read(1), ""):
            chunks.append(char)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            done = [int(n) for n in re.findall(r"(\d+)/100000", "".join(chunks))]
            if done and max(done) >= steps_seen:
                break
            if proc.poll() is not None:
                pytest.fail(f"train ended before the signal: {''.join(chunks)[-2000:]}")
            time.sleep(0.05)
        else:
            pytest.fail(f"train showed no {steps_seen} steps in {timeout} s: {''.join(chunks)[-2000:]}")
        proc.send_signal(sig)
        out = proc.stdout.read()
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=5)
    return code, out, "".join(chunks)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_train_saves_the_step_and_the_rerun_resumes_there(tmp_path, shdd, sig, one_thread):
    ckpt = tmp_path / "dncnn.pt"
    common = ["--data", str(shdd), "--checkpoint", str(ckpt), "--batch-size", "2", "--patch-size", "24",
              "--device", "cpu", "--size", "quick"]
    code, _, err = _train_until(["train", "dncnn", "--steps", "100000", *common], 3, sig)
    last = err.strip().splitlines()[-1].split("\r")[-1]
    match = re.fullmatch(rf"error: interrupted \({signal.Signals(sig).name}\) at step (\d+): checkpoint saved to "
                         rf"{re.escape(str(ckpt))}; rerun the same command to resume from step (\d+)", last)
    assert match and match[1] == match[2], last
    step = int(match[1])
    assert step >= 3 and code == 128 + sig
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["step"] == step
    assert main(["train", "dncnn", "--steps", str(step + 1), *common]) == 0
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["step"] == step + 1


def test_train_help_explains_checkpointing_and_saves_by_time_by_default(capsys):
    from companion.ch7.commands import CHECKPOINT_MINUTES

    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--checkpoint-every STEPS also save the checkpoint every STEPS steps (paper: 5,000" in text
    assert f"--checkpoint-minutes MINUTES save the checkpoint every MINUTES of training (default: " \
           f"{CHECKPOINT_MINUTES:g}" in text
    assert 0 < CHECKPOINT_MINUTES <= 10


def test_checkpoint_seconds_saves_by_wall_time_and_keeps_the_result(tmp_path, monkeypatch, one_thread):
    from companion.engine import loop
    from companion.engine.settings import TrainConfig
    from tests.test_train import NoiseToy, tiny

    saved: list[int] = []
    real_save = loop.save_checkpoint
    monkeypatch.setattr(loop, "save_checkpoint", lambda *a, **k: (saved.append(k["step"]), real_save(*a, **k))[1])
    cfg = TrainConfig(steps=4, batch_size=2, lr=1e-3, checkpoint_every=0)
    common = dict(loss=loop.LOSSES["l2"], batch=loop.paired_batch("distorted", "clean"), model_name="tiny",
                  progress=False)
    by_time = tiny()
    loop.train(by_time, NoiseToy(), cfg, checkpoint_path=tmp_path / "a.pt", checkpoint_seconds=1e-9, **common)
    assert saved == [1, 2, 3, 4]  # every step is past a 1 ns interval; the end adds no second save
    saved.clear()
    at_end = tiny()
    loop.train(at_end, NoiseToy(), cfg, checkpoint_path=tmp_path / "b.pt", **common)
    assert saved == [4]
    assert all(torch.equal(a, b) for a, b in zip(by_time.state_dict().values(), at_end.state_dict().values()))
    with pytest.raises(loop.CompanionError, match="checkpoint_seconds"):
        loop.train(tiny(), NoiseToy(), cfg, checkpoint_seconds=0, **common)
